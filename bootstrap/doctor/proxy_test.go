package doctor

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/assets"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/bootstrap/proxy"
	"github.com/hybridnode/hybridnode/bootstrap/proxy/proxytest"
)

// proxyPassword is the password of the test proxy: in no result.
const proxyPassword = "s3cret-proxy-pw"

// useProxy configures hybridnode with a proxy that has credentials.
func useProxy(_ *testing.T, h *harness) {
	h.vars["HYBRIDNODE_HTTP_PROXY"] = "http://hn:" + proxyPassword + "@10.0.0.5:3128"
	h.vars["HTTPS_PROXY"] = "http://hn:" + proxyPassword + "@10.0.0.5:3128"
	h.vars["NO_PROXY"] = ".corp.example"
}

// agree gives containerd and kubelet what hybridnode writes: its drop-ins
// and environment files, loaded by systemd.
func agree(t *testing.T, e *Env) {
	t.Helper()
	for _, unit := range []string{hoststate.ContainerdUnit, hoststate.KubeletUnit} {
		writeProxy(t, e, unit, e.proxySettings())
	}
	loadAll(t, e)
}

// writeProxy writes unit's drop-in and environment file of s, as
// hybridnode does.
func writeProxy(t *testing.T, e *Env, unit string, s proxy.Settings) {
	t.Helper()
	writeFile(t, e, proxy.EnvFilePath(unit), proxy.RenderEnvFile(s), proxy.EnvFileMode)
	writeFile(t, e, proxy.DropInPath(unit), proxy.RenderDropIn(unit, s), proxy.DropInMode)
}

func writeFile(t *testing.T, e *Env, p string, data []byte, mode os.FileMode) {
	t.Helper()
	if _, err := e.FS.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
}

// loadAll makes what systemd has loaded (Environment=, EnvironmentFile=)
// what the units' files say.
func loadAll(t *testing.T, e *Env) {
	t.Helper()
	for _, unit := range []string{hoststate.ContainerdUnit, hoststate.KubeletUnit} {
		u := readUnitProxy(context.Background(), e, unit, nil, nil)
		var env []string
		for _, name := range proxy.EnvNames {
			if v, ok := u.inline[name]; ok {
				env = append(env, name+"="+v)
			}
		}
		sd := e.Systemd.(interface {
			SetEnvironment(string, ...string)
			SetEnvironmentFiles(string, ...string)
		})
		sd.SetEnvironment(unit, env...)
		sd.SetEnvironmentFiles(unit, u.envFiles...)
	}
}

// oldDropIn is a drop-in as hybridnode wrote them before its environment
// files: the settings in Environment= lines.
func oldDropIn(s proxy.Settings) []byte {
	b := assets.Header + "\n[Service]\n"
	for _, kv := range s.Env() {
		b += "Environment=\"" + kv[0] + "=" + kv[1] + "\"\n"
	}
	return []byte(b)
}

// clusterRecord is a cluster.json as a join with a proxy writes it.
const clusterRecord = `{"source": "ConfigMap kube-system/kubeadm-config", "serviceSubnets": ["10.96.0.0/12"], "podSubnets": ["10.244.0.0/16"]}`

const foreignDropIn = "/etc/systemd/system/containerd.service.d/override.conf"

func proxyCases() []checkCase {
	joinedWithProxy := func(t *testing.T, h *harness) { useProxy(t, h); h.joined(t) }
	return []checkCase{
		{check: "proxy", name: "none anywhere", status: Skip, want: []string{"no proxy: none configured for hybridnode"}},
		{check: "proxy", name: "agree", setup: joinedWithProxy, adjust: agree, status: Pass,
			want: []string{"hybridnode: http via http://[REDACTED]@10.0.0.5:3128, https via http://[REDACTED]@10.0.0.5:3128, NO_PROXY of 6 entries; containerd and kubelet agree", "NO_PROXY=.corp.example,127.0.0.1,100.100.100.200,localhost,::1,10.0.1.5"}},
		// The cluster's subnets the join recorded are in NO_PROXY: drop-ins
		// with them agree, drop-ins without them do not.
		{check: "proxy", name: "agree, with the cluster's subnets", setup: func(t *testing.T, h *harness) {
			joinedWithProxy(t, h)
			h.write(t, hoststate.ClusterPath, clusterRecord)
		}, adjust: agree, status: Pass,
			want: []string{"containerd and kubelet agree", "NO_PROXY=.corp.example,127.0.0.1,10.96.0.0/12,10.244.0.0/16,100.100.100.200,localhost,::1,10.0.1.5"}},
		{check: "proxy", name: "drop-ins without the recorded subnets", setup: joinedWithProxy, adjust: func(t *testing.T, e *Env) {
			agree(t, e)
			if _, err := e.FS.WriteFile(hoststate.ClusterPath, []byte(clusterRecord), 0o644); err != nil {
				t.Fatal(err)
			}
		}, status: Fail, want: []string{"containerd and kubelet do not agree", "(" + proxy.EnvFilePath(hoststate.KubeletUnit) + "); hybridnode: .corp.example,127.0.0.1,10.96.0.0/12,10.244.0.0/16,"}},
		{check: "proxy", name: "services not installed yet", setup: func(t *testing.T, h *harness) {
			useProxy(t, h)
			h.remove(t, "/lib/systemd/system/containerd.service")
			h.remove(t, "/lib/systemd/system/kubelet.service")
		}, status: Pass, want: []string{"containerd and kubelet not installed yet (the join gives them the same)"}},
		{check: "proxy", name: "joined, no drop-ins", setup: joinedWithProxy, status: Fail, want: []string{
			"containerd and kubelet do not agree",
			"containerd: no proxy in its unit files; hybridnode: HTTP_PROXY=http://[REDACTED]@10.0.0.5:3128 http_proxy=http://[REDACTED]@10.0.0.5:3128",
			"NO_PROXY=.corp.example," /* the user's entry first */, "hybridnode join phase containerd"}},
		{check: "proxy", name: "not joined, no drop-ins", setup: useProxy, status: Warn, want: []string{"containerd and kubelet do not agree", "nothing before the join"}},
		{check: "proxy", name: "a stale drop-in", setup: joinedWithProxy, adjust: func(t *testing.T, e *Env) {
			agree(t, e)
			old := e.proxySettings()
			old.HTTPSProxy = "http://10.0.0.9:3128"
			writeProxy(t, e, hoststate.KubeletUnit, old)
			loadAll(t, e)
		}, status: Fail, want: []string{"kubelet does not agree", "kubelet HTTPS_PROXY, https_proxy: http://10.0.0.9:3128 (" + proxy.EnvFilePath(hoststate.KubeletUnit) + "); hybridnode: http://[REDACTED]@10.0.0.5:3128"}},
		// A node hybridnode joined before its environment files: the
		// services agree, but the drop-ins are not what it writes now.
		{check: "proxy", name: "drop-ins of an older hybridnode", setup: joinedWithProxy, adjust: func(t *testing.T, e *Env) {
			for _, unit := range []string{hoststate.ContainerdUnit, hoststate.KubeletUnit} {
				writeFile(t, e, proxy.DropInPath(unit), oldDropIn(e.proxySettings()), 0o600)
			}
			loadAll(t, e)
		}, status: Warn, want: []string{"the services agree, but hybridnode's drop-ins are not what it writes now", "hybridnode join phase containerd"}},
		{check: "proxy", name: "an environment file missing", setup: joinedWithProxy, adjust: func(t *testing.T, e *Env) {
			agree(t, e)
			if _, err := e.FS.Remove(proxy.EnvFilePath(hoststate.KubeletUnit)); err != nil {
				t.Fatal(err)
			}
		}, status: Fail, want: []string{"kubelet does not agree", "kubelet: its EnvironmentFile " + proxy.EnvFilePath(hoststate.KubeletUnit) + " is missing: systemd will not start it"}},
		// Another drop-in's environment file, read after hybridnode's, wins.
		{check: "proxy", name: "another drop-in disagrees", setup: joinedWithProxy, adjust: func(t *testing.T, e *Env) {
			agree(t, e)
			writeFile(t, e, foreignDropIn, []byte("[Service]\nEnvironmentFile=/etc/default/containerd-proxy\n"), 0o644)
			writeFile(t, e, "/etc/default/containerd-proxy", []byte("HTTP_PROXY=http://other:3128\n"), 0o600)
			loadAll(t, e)
		}, status: Fail, want: []string{"containerd does not agree", "containerd HTTP_PROXY: http://other:3128 (/etc/default/containerd-proxy)", "another drop-in sets the proxy"}},
		// Another drop-in's Environment= does not count: systemd applies
		// the environment files (hybridnode's) after it.
		{check: "proxy", name: "another drop-in's Environment= is overridden", setup: joinedWithProxy, adjust: func(t *testing.T, e *Env) {
			agree(t, e)
			writeFile(t, e, foreignDropIn, []byte("[Service]\nEnvironment=\"HTTP_PROXY=http://other:3128\"\n"), 0o644)
			loadAll(t, e)
		}, status: Pass, want: []string{"containerd and kubelet agree"}},
		{check: "proxy", name: "a proxy for containerd only", setup: func(t *testing.T, h *harness) {
			h.joined(t)
			h.write(t, foreignDropIn, "[Service]\nEnvironment=HTTPS_PROXY=http://u:"+proxyPassword+"@other:3128\n")
		}, adjust: func(t *testing.T, e *Env) { loadAll(t, e) }, status: Warn,
			want: []string{"hybridnode: no proxy configured; containerd does not agree", "containerd HTTPS_PROXY: http://[REDACTED]@other:3128 (" + foreignDropIn + "); hybridnode: unset", "if hybridnode's downloads need it too"}},
		{check: "proxy", name: "our drop-ins left, no proxy configured", setup: func(t *testing.T, h *harness) {
			h.joined(t)
		}, adjust: func(t *testing.T, e *Env) {
			for _, unit := range []string{hoststate.ContainerdUnit, hoststate.KubeletUnit} {
				writeProxy(t, e, unit, proxy.Settings{HTTPProxy: "http://10.0.0.5:3128"})
			}
			loadAll(t, e)
		}, status: Fail, want: []string{"hybridnode: no proxy configured; containerd and kubelet do not agree",
			"kubelet HTTP_PROXY, http_proxy: http://10.0.0.5:3128 (" + proxy.EnvFilePath(hoststate.KubeletUnit) + "); hybridnode: unset",
			"if the join had one from its environment, put httpProxy", "without a proxy they remove hybridnode's drop-ins"}},
		{check: "proxy", name: "daemon-reload pending", setup: joinedWithProxy, adjust: func(t *testing.T, e *Env) {
			agree(t, e)
			e.Systemd.(interface{ SetEnvironmentFiles(string, ...string) }).SetEnvironmentFiles(hoststate.ContainerdUnit)
		}, status: Warn, want: []string{"systemd has not loaded", "containerd: systemd has loaded EnvironmentFile= none, its unit files say " + proxy.EnvFilePath(hoststate.ContainerdUnit), "systemctl daemon-reload"}},
		{check: "proxy", name: "daemon-reload pending after an older hybridnode", setup: joinedWithProxy, adjust: func(t *testing.T, e *Env) {
			for _, unit := range []string{hoststate.ContainerdUnit, hoststate.KubeletUnit} {
				writeFile(t, e, proxy.DropInPath(unit), oldDropIn(e.proxySettings()), 0o600)
			}
			loadAll(t, e)
			agree := e.proxySettings()
			writeProxy(t, e, hoststate.ContainerdUnit, agree)
		}, status: Warn, want: []string{"systemd has not loaded", "containerd: systemd has loaded HTTP_PROXY=http://[REDACTED]@10.0.0.5:3128", "its unit files say no proxy"}},
		{check: "proxy", name: "kubelet's server through the proxy", setup: func(t *testing.T, h *harness) {
			joinedWithProxy(t, h)
			h.write(t, hoststate.KubeletConf, strings.Replace(h.read(t, hoststate.KubeletConf), "server: https://"+h.api.Endpoint, "server: https://k8s-lb.example:6443", 1))
		}, adjust: agree, status: Fail, want: []string{"kubelet's API server is reached through the proxy",
			"kubelet's API server k8s-lb.example:6443 (/etc/kubernetes/kubelet.conf) is not in NO_PROXY: kubelet would reach it through http://[REDACTED]@10.0.0.5:3128", "add the API server's host to noProxy"}},
		// doctor's own requests take hybridnode's proxy settings: the
		// artifact source only the proxy reaches (the harness fails any
		// dial but to loopback), the API server direct (NO_PROXY).
		{check: "artifacts", name: "through the proxy", setup: func(t *testing.T, h *harness) {
			p := proxytest.New(t, h.artifacts.Config.Handler)
			h.vars["HYBRIDNODE_ARTIFACT_URL"] = "http://artifacts.invalid"
			h.vars["HYBRIDNODE_HTTP_PROXY"] = p.URL("", "").String()
		}, status: Pass, want: []string{"SHA256SUMS at http://artifacts.invalid lists all"}},
		{check: "api-server", name: "direct with a proxy set", setup: useProxy, status: Pass, want: []string{"GET /version"}},
	}
}

func (h *harness) remove(t *testing.T, p string) {
	t.Helper()
	if err := os.Remove(filepath.Join(h.root, p)); err != nil {
		t.Fatal(err)
	}
}

// TestProxyNeverShowsThePassword: no proxy result quotes the password.
func TestProxyNeverShowsThePassword(t *testing.T) {
	for _, c := range proxyCases() {
		if _, text := runCase(t, c); strings.Contains(text, proxyPassword) {
			t.Errorf("%s: the proxy's password is in the result:\n%s", c.name, text)
		}
	}
}

// TestDoctorHTTPClientProxy: the client's Proxy follows hybridnode's
// settings only.
func TestDoctorHTTPClientProxy(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://from-env.invalid:1")
	h := newHarness(t)
	e := h.build(t)
	if e.httpClient(nil).Transport.(*http.Transport).Proxy != nil {
		t.Error("no proxy configured: the client has a Proxy func (the environment's?)")
	}
}
