package kubeapi

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestParseNetworking(t *testing.T) {
	for _, tc := range []struct {
		conf, svc, pod, err string
	}{
		{"kind: ClusterConfiguration\nnetworking:\n  serviceSubnet: 10.96.0.0/12\n  podSubnet: 192.168.0.0/16\n", "10.96.0.0/12", "192.168.0.0/16", ""},
		// Dual-stack, spaces, a prefix with host bits: standard forms.
		{"networking:\n  serviceSubnet: 10.96.0.1/12, fd00:10:96::/112\n  podSubnet: 10.244.0.0/16,fd00:10:244::/56\n", "10.96.0.0/12 fd00:10:96::/112", "10.244.0.0/16 fd00:10:244::/56", ""},
		// kubeadm's defaults leave podSubnet out.
		{"apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nnetworking:\n  serviceSubnet: 10.96.0.0/12\n", "10.96.0.0/12", "", ""},
		{"kind: ClusterConfiguration\n", "", "", ""},
		{"kind: InitConfiguration\nnetworking:\n  podSubnet: 10.0.0.0/8\n", "", "", "not ClusterConfiguration"},
		{"networking:\n  podSubnet: 10.0.0.0\n", "", "", `networking.podSubnet "10.0.0.0" is not a CIDR`},
		{"networking: [1]\n", "", "", "not a ClusterConfiguration"},
		{" \n", "", "", "empty"},
	} {
		svc, pod, err := ParseNetworking(tc.conf)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.conf, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(svc, " ") != tc.svc || strings.Join(pod, " ") != tc.pod {
			t.Errorf("%q: got %q %q %v; want %q %q", tc.conf, svc, pod, err, tc.svc, tc.pod)
		}
	}
}

// TestReadNetworking: with a bootstrap token over the pinned CA, as a join
// reads it before kubeadm join does.
func TestReadNetworking(t *testing.T) {
	srv, c, cr := bootstrapClient(t)
	read := func() (Networking, error) { return c.ReadNetworking(context.Background(), cr) }
	if nw, err := read(); err != nil || nw.Status != http.StatusNotFound {
		t.Errorf("no ConfigMap: %+v %v", nw, err)
	}
	srv.SetNetworking("10.244.0.0/16", "10.96.0.0/12")
	if nw, err := read(); err != nil || nw.Status != http.StatusOK || !slices.Equal(nw.ServiceSubnets, []string{"10.96.0.0/12"}) || !slices.Equal(nw.PodSubnets, []string{"10.244.0.0/16"}) {
		t.Errorf("subnets: %+v %v", nw, err)
	}
	srv.DenyKubeadmConfig = true
	if nw, err := read(); err != nil || nw.Status != http.StatusForbidden {
		t.Errorf("denied: %+v %v", nw, err)
	}
	srv.DenyKubeadmConfig = false
	srv.SetNetworking("10.244.0.0", "10.96.0.0/12")
	if _, err := read(); err == nil || !strings.Contains(err.Error(), "kube-system/kubeadm-config ClusterConfiguration: networking.podSubnet") {
		t.Errorf("a bad subnet: %v", err)
	}
	if want := "GET " + KubeadmConfigPath + " as bootstrap:abcdef"; !slices.Contains(srv.Requests(), want) {
		t.Errorf("requests %v lack %q", srv.Requests(), want)
	}
}
