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

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]Version{
		"v1.37.1":           {Major: 1, Minor: 37, Patch: 1},
		"1.30.0":            {Major: 1, Minor: 30},
		"v2.2.0":            {Major: 2, Minor: 2},
		"v1.36.0-rc.1":      {Major: 1, Minor: 36, PreRelease: "rc.1"},
		"v1.35.2+build.7":   {Major: 1, Minor: 35, Patch: 2, Build: "build.7"},
		"v1.34.1-alpha+abc": {Major: 1, Minor: 34, Patch: 1, PreRelease: "alpha", Build: "abc"},
	} {
		got, err := ParseVersion(in)
		if err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if s := got.String(); s != "v"+strings.TrimPrefix(in, "v") {
			t.Errorf("ParseVersion(%q).String() = %q", in, s)
		}
	}
	for _, in := range []string{"", "v1.37", "1.37.x", "latest", "v1.37.1 x", "1.37.1.4"} {
		if v, err := ParseVersion(in); err == nil {
			t.Errorf("ParseVersion(%q) = %+v, want an error", in, v)
		}
	}
	for in, want := range map[string]bool{"v1.30.0": true, "v1.37.9": true, "v1.29.9": false, "v1.38.0": false, "v2.35.0": false} {
		v, _ := ParseVersion(in)
		if v.Supported() != want {
			t.Errorf("ParseVersion(%q).Supported() = %v", in, !want)
		}
	}
}
