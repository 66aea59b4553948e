package doctor

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap/doctor/apitest"
	"github.com/hybridnode/hybridnode/bootstrap/hostprep"
)

// ipvsLoaded lists every IPVS module in /proc/modules but skip.
func ipvsLoaded(t *testing.T, h *harness, skip ...string) {
	var b strings.Builder
	for _, m := range hostprep.IPVSModules {
		if !slices.Contains(skip, m) {
			b.WriteString(m + " 12288 0 - Live 0x0000000000000000\n")
		}
	}
	h.write(t, "/proc/modules", b.String())
}

func ipvsCluster(t *testing.T, h *harness) {
	h.api.SetKubeProxy(apitest.KubeProxyConfig("ipvs"))
	ipvsLoaded(t, h)
	h.write(t, hostprep.IPVSModulesFile, string(hostprep.IPVSModulesLoad()))
}

func kubeProxyCases() []checkCase {
	return []checkCase{
		{check: "kube-proxy", name: "no kube-proxy", status: Pass, want: []string{"no ConfigMap kube-system/kube-proxy: a cluster without kube-proxy"}},
		{check: "kube-proxy", name: "iptables", setup: func(_ *testing.T, h *harness) { h.api.SetKubeProxy(apitest.KubeProxyConfig("iptables")) },
			status: Pass, want: []string{"kube-proxy mode iptables (ConfigMap kube-system/kube-proxy)"}},
		{check: "kube-proxy", name: "default mode", setup: func(_ *testing.T, h *harness) { h.api.SetKubeProxy(apitest.KubeProxyConfig("")) },
			status: Pass, want: []string{"kube-proxy's default (iptables)"}},
		{check: "kube-proxy", name: "ipvs ready", setup: ipvsCluster, status: Pass,
			want: []string{"kube-proxy mode ipvs (ConfigMap kube-system/kube-proxy)", "ip_vs, ip_vs_rr, ip_vs_wrr, ip_vs_sh, nf_conntrack loaded and listed in " + hostprep.IPVSModulesFile}},
		{check: "kube-proxy", name: "ipvs joined, with the node's credentials", setup: func(t *testing.T, h *harness) { ipvsCluster(t, h); h.joined(t) }, status: Pass},
		{check: "kube-proxy", name: "ipvs before the join, modules missing", setup: func(t *testing.T, h *harness) {
			h.api.SetKubeProxy(apitest.KubeProxyConfig("ipvs"))
			ipvsLoaded(t, h, "ip_vs_sh", "ip_vs_wrr")
		}, status: Warn, want: []string{"not loaded: ip_vs_wrr, ip_vs_sh", "modprobe ip_vs_wrr ip_vs_sh", "join phase kube-proxy"}},
		{check: "kube-proxy", name: "ipvs joined, modules missing", setup: func(t *testing.T, h *harness) {
			ipvsCluster(t, h)
			ipvsLoaded(t, h, "nf_conntrack")
			h.joined(t)
		}, status: Fail, want: []string{"not loaded: nf_conntrack", "cannot start without them", "in a container the host must load them"}},
		{check: "kube-proxy", name: "ipvs built in", setup: func(t *testing.T, h *harness) {
			ipvsCluster(t, h)
			ipvsLoaded(t, h, "nf_conntrack")
			h.write(t, "/sys/module/nf_conntrack/parameters/hashsize", "65536\n")
			h.joined(t)
		}, status: Pass},
		{check: "kube-proxy", name: "ipvs not listed", setup: func(t *testing.T, h *harness) {
			h.api.SetKubeProxy(apitest.KubeProxyConfig("ipvs"))
			ipvsLoaded(t, h)
		}, status: Warn, want: []string{"not listed in " + hostprep.IPVSModulesFile, "a reboot loses them"}},
		{check: "kube-proxy", name: "forced, API server down", setup: func(t *testing.T, h *harness) {
			h.vars["HYBRIDNODE_KUBE_PROXY_MODE"] = "ipvs"
			h.vars["HYBRIDNODE_API_SERVER_ENDPOINT"] = closedPort(t)
			ipvsLoaded(t, h, "ip_vs")
		}, status: Warn, want: []string{"kube-proxy mode ipvs (HYBRIDNODE_KUBE_PROXY_MODE)", "not loaded: ip_vs"}},
		{check: "kube-proxy", name: "not readable", setup: func(_ *testing.T, h *harness) {
			h.api.SetKubeProxy(apitest.KubeProxyConfig("ipvs"))
			h.api.DenyKubeProxy = true
		}, status: Skip, want: []string{"not readable with the bootstrap token (HTTP 403)", "HYBRIDNODE_KUBE_PROXY_MODE=ipvs"}},
		{check: "kube-proxy", name: "not readable, the join's file says ipvs", setup: func(t *testing.T, h *harness) {
			ipvsCluster(t, h)
			h.api.DenyKubeProxy = true
		}, status: Pass, want: []string{"the join found IPVS mode: " + hostprep.IPVSModulesFile + " is there"}},
		{check: "kube-proxy", name: "API server down", setup: func(t *testing.T, h *harness) { h.vars["HYBRIDNODE_API_SERVER_ENDPOINT"] = closedPort(t) },
			status: Skip, want: []string{"kube-proxy mode unknown: " + notReachedSkip}},

		{check: "tools", name: "ipvs without ipset", setup: ipvsCluster, status: Fail,
			want: []string{"ipset is not on PATH", "kube-proxy's IPVS mode requires it", "apt-get install -y ipset"}},
		{check: "tools", name: "ipvs with ipset", setup: func(t *testing.T, h *harness) {
			ipvsCluster(t, h)
			h.write(t, "/usr/sbin/ipset", "#!/bin/sh\n")
			if err := chmodX(h.root, "/usr/sbin/ipset"); err != nil {
				t.Fatal(err)
			}
		}, status: Pass, want: []string{"ipset is on PATH"}},
	}
}

// TestKubeProxyReadOnce: the tools and kube-proxy checks share one read of
// the ConfigMap, made with the bootstrap token from the pinned server.
func TestKubeProxyReadOnce(t *testing.T) {
	h := newHarness(t)
	ipvsCluster(t, h)
	Run(context.Background(), h.build(t), Checks())
	n := 0
	for _, r := range h.api.Requests() {
		if strings.Contains(r, apitest.KubeProxyPath) {
			n++
			if r != "GET "+apitest.KubeProxyPath+" as bootstrap:abcdef" {
				t.Errorf("request %s", r)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d reads of kube-system/kube-proxy: %v", n, h.api.Requests())
	}
}

func chmodX(root, p string) error { return os.Chmod(filepath.Join(root, p), 0o755) }
