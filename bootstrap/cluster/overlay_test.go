package cluster

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/hybridnode/hybridnode/bootstrap/cluster/clustertest"
	"github.com/hybridnode/hybridnode/bootstrap/doctor/report"
)

// TestOverlayMode: with Flannel VXLAN on premises (the Terway page's
// scenario 1) the cloud nodes run the same CNI. check fails a Flannel that
// an earlier setup kept off the cloud nodes, and skips the Terway checks;
// setup removes the external exclusion it added, keeps virtual nodes out,
// and a second run changes nothing; check then passes.
func TestOverlayMode(t *testing.T) {
	c := clustertest.Healthy(t)
	ds := flannelDS(nil)
	ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: append([]corev1.NodeSelectorRequirement{
			{Key: "kubernetes.io/os", Operator: corev1.NodeSelectorOpIn, Values: []string{"linux"}}}, exclusions()...)}}}}}
	c.Add(t, flannelConfig("kube-flannel", `{"Type": "vxlan"}`), &ds)
	if err := c.Tracker.Delete(clustertest.DaemonSets, "kube-system", "calico-node"); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, c)
	co := f.checkOptions()
	co.OnpremCNI = "kube-flannel/kube-flannel-ds"
	r := f.check(t, co)
	if got := result(r, "network-mode"); got.Status != report.Pass || !strings.Contains(got.Evidence, "mode overlay") {
		t.Fatalf("network-mode: %s %s", got.Status, got.Evidence)
	}
	if got := result(r, "onprem-cni"); got.Status != report.Fail || !strings.Contains(got.Evidence, "keeps off the cloud nodes") {
		t.Errorf("onprem-cni with the external exclusion in overlay mode: %s %s", got.Status, got.Evidence)
	}
	for _, name := range []string{"cloud-cni", "eni-config"} {
		if got := result(r, name); got.Status != report.Skip || !strings.Contains(got.Evidence, "Terway is not used") {
			t.Errorf("%s in overlay mode: %s %s", name, got.Status, got.Evidence)
		}
	}

	so := f.setupOptions()
	so.OnpremCNI = co.OnpremCNI
	out, _, err := f.run(t, false, so)
	if err != nil {
		t.Fatalf("setup: %v\n%s", err, out)
	}
	if !strings.Contains(out, "updated DaemonSet kube-flannel/kube-flannel-ds: nodeAffinity -= alibabacloud.com/external NotIn [true] (1 term(s)): overlay mode") {
		t.Errorf("setup output:\n%s", out)
	}
	got := f.c.Get(t, clustertest.DaemonSets, "kube-flannel", "kube-flannel-ds").(*appsv1.DaemonSet)
	terms := requiredTerms(&got.Spec.Template.Spec)
	if len(terms) != 1 || excludes(terms[0], exclusions()[0]) || !excludes(terms[0], exclusions()[1]) || len(terms[0].MatchExpressions) != 2 {
		t.Errorf("Flannel's terms after setup: %+v", terms)
	}
	f.c.Fake.ClearActions()
	if out, _, err := f.run(t, false, so); err != nil || strings.Contains(out, "DaemonSet") {
		t.Errorf("second setup: %v\n%s", err, out)
	}
	if got := result(f.check(t, co), "onprem-cni"); got.Status != report.Pass || !strings.Contains(got.Evidence, "may run on the cloud nodes") {
		t.Errorf("onprem-cni after setup: %s %s", got.Status, got.Evidence)
	}
}

// TestOverlayOverride: --network-mode overlay on a cluster detected as BGP
// (the calico-node stand-in) skips the Terway checks and keeps setup from
// adding the external exclusion.
func TestOverlayOverride(t *testing.T) {
	f := newFixture(t, clustertest.Broken(t))
	co := f.checkOptions()
	co.NetworkMode = ModeOverlay
	r := f.check(t, co)
	if got := result(r, "cloud-cni"); got.Status != report.Skip {
		t.Errorf("cloud-cni with --network-mode overlay: %s %s", got.Status, got.Evidence)
	}
	so := f.setupOptions()
	so.NetworkMode = ModeOverlay
	out, _, err := f.run(t, false, so)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "+= alibabacloud.com/external") || strings.Contains(out, "nodeAffinity += alibabacloud.com/external NotIn [true] and") {
		t.Errorf("setup added the external exclusion in overlay mode:\n%s", out)
	}
	ds := f.c.Get(t, clustertest.DaemonSets, "kube-system", "calico-node").(*appsv1.DaemonSet)
	if off := excludedFromCloud(&ds.Spec.Template.Spec); len(off) != 0 {
		t.Errorf("calico-node excluded from cloud nodes in overlay mode: %v", off)
	}
}
