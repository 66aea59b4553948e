package kubeapi

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap/doctor/apitest"
	"github.com/hybridnode/hybridnode/bootstrap/kubeconfig"
)

func TestParseKubeProxyMode(t *testing.T) {
	for _, tc := range []struct {
		conf, want, err string
	}{
		{apitest.KubeProxyConfig("ipvs"), "ipvs", ""},
		{apitest.KubeProxyConfig("iptables"), "iptables", ""},
		{apitest.KubeProxyConfig("nftables"), "nftables", ""},
		{apitest.KubeProxyConfig(""), "", ""},
		{apitest.KubeProxyConfig(" IPVS "), "ipvs", ""},
		{"kind: KubeProxyConfiguration\n", "", ""},
		{`{"kind":"KubeProxyConfiguration","mode":"ipvs"}`, "ipvs", ""},
		{"kind: KubeletConfiguration\nmode: ipvs\n", "", "not KubeProxyConfiguration"},
		{"mode: [ipvs]\n", "", "not a KubeProxyConfiguration"},
		{"", "", "empty"},
	} {
		got, err := ParseKubeProxyMode(tc.conf)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.conf, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.conf, got, err, tc.want)
		}
	}
}

// TestReadKubeProxy: with a bootstrap token over the pinned CA, as a join
// reads it: the mode when it is there, the status when it is not or may
// not be read; the token only in the Authorization header.
func TestReadKubeProxy(t *testing.T) {
	srv, c, cr := bootstrapClient(t)
	read := func() (KubeProxy, error) { return c.ReadKubeProxy(context.Background(), cr) }

	if kp, err := read(); err != nil || kp.Status != http.StatusNotFound {
		t.Errorf("no ConfigMap: %+v %v", kp, err)
	}
	srv.SetKubeProxy(apitest.KubeProxyConfig("ipvs"))
	if kp, err := read(); err != nil || kp != (KubeProxy{Status: http.StatusOK, Mode: "ipvs"}) {
		t.Errorf("ipvs: %+v %v", kp, err)
	}
	srv.DenyKubeProxy = true
	if kp, err := read(); err != nil || kp.Status != http.StatusForbidden {
		t.Errorf("denied: %+v %v", kp, err)
	}
	srv.DenyKubeProxy = false
	srv.SetKubeProxy("kind: KubeletConfiguration\n")
	if _, err := read(); err == nil || !strings.Contains(err.Error(), "kube-system/kube-proxy config.conf") {
		t.Errorf("not a KubeProxyConfiguration: %v", err)
	}
	// Anonymously (no token) it is forbidden; with a deleted token refused.
	if kp, err := c.ReadKubeProxy(context.Background(), &kubeconfig.Credentials{Server: cr.Server, CA: cr.CA}); err != nil || kp.Status != http.StatusForbidden {
		t.Errorf("anonymous: %+v %v", kp, err)
	}
	srv.DeleteToken(token)
	if kp, err := read(); err != nil || kp.Status != http.StatusUnauthorized {
		t.Errorf("deleted token: %+v %v", kp, err)
	}
	want := "GET " + KubeProxyPath + " as bootstrap:abcdef"
	if got := srv.Requests(); !slices.Contains(got, want) {
		t.Errorf("requests %v lack %q", got, want)
	}
	for _, r := range srv.Requests() {
		if strings.Contains(r, "in the URL") {
			t.Errorf("a token in a URL: %s", r)
		}
	}
}
