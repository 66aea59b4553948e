package cluster

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/hybridnode/hybridnode/bootstrap/cluster/clustertest"
	"github.com/hybridnode/hybridnode/bootstrap/tokenservice"
)

// TestSetupPoolApprover: --credentials token --token-service-image runs the
// token service as the pool tokens' approver and makes the pool's token in
// the pool group, which kube-controller-manager does not auto-approve; a
// valid token of kubeadm's group is replaced, not reused; the next setup and
// rotate keep the pool group while the approver's Deployment exists.
func TestSetupPoolApprover(t *testing.T) {
	f := newFixture(t, clustertest.Healthy(t))
	before := poolTokens(t, f.c)
	if len(before) != 1 || before[0].group == tokenservice.PoolGroup {
		t.Fatalf("fixture: %+v", before)
	}
	o := f.setupOptions()
	o.VPCCIDR = "172.16.0.0/12"
	o.Identity = IdentityOptions{Image: "registry.example.com/hybridnode/hybridnode-cluster:v1.2.3"}
	out, warn, err := f.run(t, false, o)
	if err != nil || warn != "" {
		t.Fatalf("setup: %v %s\n%s", err, warn, out)
	}
	for _, w := range []string{"created ServiceAccount kube-system/hybridnode-token-service", "created ClusterRole hybridnode-token-service",
		"created ClusterRoleBinding hybridnode:bootstrappers:node-bootstrapper", "created Deployment kube-system/hybridnode-token-service",
		"created bootstrap token"} {
		if !strings.Contains(out, w) {
			t.Errorf("setup output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "hybridnode-system") || strings.Contains(out, "ValidatingAdmissionPolicy") {
		t.Errorf("the approver alone needs no records nor Secret policy:\n%s", out)
	}
	toks := poolTokens(t, f.c)
	if len(toks) != 2 || toks[0].group != tokenservice.PoolGroup {
		t.Fatalf("tokens after setup: %d, newest in group %q", len(toks), toks[0].group)
	}
	d := f.c.Get(t, deployments, "kube-system", TokenServiceName).(*appsv1.Deployment)
	c := d.Spec.Template.Spec.Containers[0]
	if args := strings.Join(c.Args, " "); args != "token-service --approve-only --vpc-cidr 172.16.0.0/12" || c.Image != o.Identity.Image || d.Spec.Template.Spec.HostNetwork {
		t.Errorf("Deployment: %s %s", c.Image, args)
	}
	cr := f.c.Get(t, clusterRoles, "", TokenServiceName).(*rbacv1.ClusterRole)
	for _, r := range cr.Rules {
		if slices.Contains(r.Resources, "secrets") {
			t.Errorf("the approver may touch Secrets: %+v", r)
		}
	}

	// Again: no changes. rotate: a new token, still of the pool group.
	f.c.Fake.ClearActions()
	if out, _, err := f.run(t, false, o); err != nil || out != "no changes\n" {
		t.Errorf("second setup: %v\n%s", err, out)
	}
	ro := f.setupOptions()
	if out, _, err := f.run(t, true, ro); err != nil {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	if toks := poolTokens(t, f.c); toks[0].group != tokenservice.PoolGroup {
		t.Errorf("rotate made a token of group %q", toks[0].group)
	}
	// A bad image is refused before anything changes.
	bad := f.setupOptions()
	bad.Identity = IdentityOptions{Image: "has space"}
	f.c.Fake.ClearActions()
	if _, _, err := f.run(t, false, bad); err == nil || !strings.Contains(err.Error(), "--token-service-image") || len(f.c.Mutations()) != 0 {
		t.Errorf("a bad image: %v, %d changes", err, len(f.c.Mutations()))
	}
}
