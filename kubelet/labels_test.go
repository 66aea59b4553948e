package kubelet

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseLabels(t *testing.T) {
	got, err := ParseLabels("alibabacloud.com/nodepool-id=np1, workload=cpu", "node.kubernetes.io/pool=edge,,kubernetes.io/os=linux")
	want := []Label{{"alibabacloud.com/nodepool-id", "np1"}, {"workload", "cpu"}, {"node.kubernetes.io/pool", "edge"}, {"kubernetes.io/os", "linux"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseLabels = %v, %v; want %v", got, err, want)
	}
	for item, want := range map[string]string{
		"workload":                        "key=value",
		"-bad=1":                          "qualified name",
		"a=b c":                           "valid label value",
		"node-role.kubernetes.io/worker=": "kubelet refuses",
		"example.k8s.io/x=1":              "kubelet refuses",
		"a=1,a=2":                         "duplicate a",
	} {
		_, err := ParseLabels(item)
		var le ListError
		if !errors.As(err, &le) || len(le) != 1 || !strings.Contains(le[0].Want, want) || !strings.Contains(item, le[0].Item) {
			t.Errorf("ParseLabels(%q) = %v, want one item refused with %q", item, err, want)
		}
	}
}

func TestParseTaints(t *testing.T) {
	got, err := ParseTaints("workload=ack:NoSchedule,spot:PreferNoSchedule", "a:NoExecute")
	want := []Taint{{"workload", "ack", "NoSchedule"}, {"spot", "", "PreferNoSchedule"}, {"a", "", "NoExecute"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseTaints = %v, %v; want %v", got, err, want)
	}
	for i, tt := range got {
		if back, _ := ParseTaints(tt.String()); !reflect.DeepEqual(back, got[i:i+1]) {
			t.Errorf("%v does not parse back from %q: %v", tt, tt.String(), back)
		}
	}
	for item, want := range map[string]string{
		"workload=ack":                "key=value:Effect",
		"workload=ack:NoRun":          "NoSchedule, PreferNoSchedule or NoExecute",
		"bad key:NoSchedule":          "qualified name",
		"a=b c:NoSchedule":            "valid taint value",
		"a:NoSchedule,a=b:NoSchedule": "once",
	} {
		_, err := ParseTaints(item)
		var le ListError
		if !errors.As(err, &le) || len(le) != 1 || !strings.Contains(le[0].Want, want) {
			t.Errorf("ParseTaints(%q) = %v, want one item refused with %q", item, err, want)
		}
	}
}

func TestSupportedMinor(t *testing.T) {
	for minor, want := range map[int]bool{29: false, 30: true, 37: true, 38: false} {
		if SupportedMinor(minor) != want {
			t.Errorf("SupportedMinor(%d) = %v", minor, !want)
		}
	}
}
