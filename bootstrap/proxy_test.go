package bootstrap

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hybridnode/hybridnode/bootstrap/artifact"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/doctor/apitest"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs/hostfstest"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/bootstrap/proxy"
	"github.com/hybridnode/hybridnode/bootstrap/proxy/proxytest"
)

// TestNodeDownloadsThroughTheConfiguredProxy: the node's artifact source
// (Env.Node's OpenSource) goes through httpProxy, and only when it is set.
func TestNodeDownloadsThroughTheConfiguredProxy(t *testing.T) {
	p := proxytest.New(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("0000000000000000000000000000000000000000000000000000000000000000  x\n"))
	}))
	env, err := NewEnv(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	spec := &config.Spec{Config: config.Config{HTTPProxy: config.ProxyURL(p.URL("", "").String())}}
	n := env.Node(&config.Loaded{}, spec, zap.NewNop())
	src, err := n.OpenSource("http://artifacts.invalid/base")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := artifact.LoadSums(context.Background(), src); err != nil {
		t.Fatalf("through httpProxy: %v", err)
	}
	if reqs := p.Requests(); len(reqs) != 1 || reqs[0].URL != "http://artifacts.invalid/base/SHA256SUMS" {
		t.Errorf("the proxy saw %+v", reqs)
	}
}

// TestProxyDropIns: containerd's and kubelet's drop-ins and environment
// files follow the settings run by run (written, left alone, rewritten,
// removed), each change with a daemon-reload and a restart of the running
// services, and nothing at all when nothing changed; no drop-in holds a
// proxy URL (systemd shows Environment= to every user): the password is in
// the two 0600 environment files only.
func TestProxyDropIns(t *testing.T) {
	shortBounds(t)
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	const pw = "s3cret-pw"
	withCreds := map[string]string{"HYBRIDNODE_HTTP_PROXY": "http://hn:" + pw + "@10.0.0.5:3128", "HTTPS_PROXY": "http://hn:" + pw + "@10.0.0.5:3128", "NO_PROXY": ".corp.example"}
	noCreds := map[string]string{"HYBRIDNODE_HTTPS_PROXY": "http://10.0.0.6:3128"}
	run := func(env map[string]string) (*Node, *hostfstest.Counter, []string) {
		t.Helper()
		var counter *hostfstest.Counter
		n := fastSource(h.nodeEnv(t, srv.URL, env, func(f hostfs.FS) hostfs.FS { counter = hostfstest.Counting(f); return counter }))
		before := len(h.sd.History())
		if _, err := Execute(context.Background(), n, InstallPhases(), ExecuteOptions{}); err != nil {
			t.Fatal(err)
		}
		return n, counter, h.sd.History()[before:]
	}
	check := func(step string, n *Node) {
		t.Helper()
		s := proxy.FromConfig(n.Spec.Config)
		for _, unit := range []string{hoststate.ContainerdUnit, hoststate.KubeletUnit} {
			for _, f := range []rendered{
				{proxy.DropInPath(unit), proxy.RenderDropIn(unit, s), 0o644},
				{proxy.EnvFilePath(unit), proxy.RenderEnvFile(s), 0o600},
			} {
				fi, err := os.Stat(filepath.Join(h.root, f.path))
				if err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				if got := h.read(t, f.path); got != string(f.data) || fi.Mode().Perm() != f.mode {
					t.Errorf("%s: %s (%#o):\n%s\nwant (%#o):\n%s", step, f.path, fi.Mode().Perm(), got, f.mode, f.data)
				}
			}
			drop := h.read(t, proxy.DropInPath(unit))
			for _, kv := range s.Env() {
				if strings.Contains(drop, kv[1]) {
					t.Errorf("%s: %s holds %s's value", step, proxy.DropInPath(unit), kv[0])
				}
			}
			if env := proxy.ParseEnvironment([]byte(drop)); len(env) != 0 {
				t.Errorf("%s: %s sets %q", step, proxy.DropInPath(unit), env)
			}
		}
		// Where the password is: the environment files only.
		filepath.WalkDir(h.root, func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return nil
			}
			rel := "/" + filepath.ToSlash(strings.TrimPrefix(p, h.root+string(filepath.Separator)))
			if data, _ := os.ReadFile(p); strings.Contains(string(data), pw) && !slices.Contains(proxyEnvFiles(), rel) {
				t.Errorf("%s: the proxy's password is in %s", step, rel)
			}
			return nil
		})
	}
	reloadsAndRestarts := func(step string, calls []string, want bool) {
		t.Helper()
		got := slices.Contains(calls, "daemon-reload") && slices.Contains(calls, "restart "+hoststate.ContainerdUnit) && slices.Contains(calls, "restart "+hoststate.KubeletUnit)
		if !want {
			got = slices.ContainsFunc(calls, func(c string) bool { return c == "daemon-reload" || strings.HasPrefix(c, "restart ") })
		}
		if got != want {
			t.Errorf("%s: systemd calls %q: want a reload and restarts %v", step, calls, want)
		}
	}

	n, _, _ := run(withCreds)
	check("with credentials", n)
	if got := h.read(t, proxy.EnvFilePath(hoststate.KubeletUnit)); !strings.Contains(got, `NO_PROXY=".corp.example,10.0.0.10,100.100.100.200,localhost,127.0.0.1,::1,10.10.24.7"`) {
		t.Errorf("the effective NO_PROXY (the API server, the node's address):\n%s", got)
	}
	h.sd.SetState(hoststate.KubeletUnit, "active") // as after the join, so that restarts show

	_, counter, calls := run(withCreds)
	for _, p := range append(proxyDropIns(), proxyEnvFiles()...) {
		if counter.Writes()[p] != 0 {
			t.Errorf("unchanged: %s written again", p)
		}
	}
	reloadsAndRestarts("unchanged", calls, false)

	n, _, calls = run(noCreds)
	check("changed, without credentials", n)
	reloadsAndRestarts("changed", calls, true)

	_, _, calls = run(nil)
	for _, p := range append(proxyDropIns(), proxyEnvFiles()...) {
		if h.exists(p) {
			t.Errorf("no proxy: %s is still there", p)
		}
	}
	reloadsAndRestarts("no proxy", calls, true)
	_, counter, calls = run(nil)
	reloadsAndRestarts("no proxy again", calls, false)
	if counter.Total() > 1 { // the report
		t.Errorf("no proxy again: writes %v", counter.Writes())
	}

	// Someone else's drop-in of that name stays.
	h.write(t, proxy.DropInPath(hoststate.ContainerdUnit), "[Service]\nEnvironment=HTTP_PROXY=http://theirs:3128\n")
	run(nil)
	if !h.exists(proxy.DropInPath(hoststate.ContainerdUnit)) {
		t.Error("a drop-in hybridnode did not write was removed")
	}
	for _, e := range h.logs.All() {
		if strings.Contains(fmt.Sprint(e.Message, e.ContextMap()), pw) {
			t.Errorf("the proxy's password in a log entry: %s", e.Message)
		}
	}
}

// TestProxyDropInsPlanAndReset: a plan shows the drop-ins (the name of
// their environment file) and the environment files without their content
// (0600: the password), and reset removes them and their directories.
func TestProxyDropInsPlanAndReset(t *testing.T) {
	shortBounds(t)
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	const pw = "s3cret-pw"
	env := map[string]string{"HTTP_PROXY": "http://hn:" + pw + "@10.0.0.5:3128"}
	n := fastSource(h.nodeEnv(t, srv.URL, env, nil))
	if _, err := Execute(context.Background(), n, InstallPhases(), ExecuteOptions{DryRun: true}); err != nil {
		t.Fatal(err)
	}
	var plan bytes.Buffer
	PrintPlan(&plan, n)
	for _, p := range proxyEnvFiles() {
		if !strings.Contains(plan.String(), "write "+p+" (0600) [content hidden (mode 0600)]") {
			t.Errorf("the plan lacks the hidden write of %s:\n%s", p, plan.String())
		}
	}
	for _, unit := range []string{hoststate.ContainerdUnit, hoststate.KubeletUnit} {
		if !strings.Contains(plan.String(), "write "+proxy.DropInPath(unit)+" (0644)\n") || !strings.Contains(plan.String(), "+EnvironmentFile="+proxy.EnvFilePath(unit)+"\n") {
			t.Errorf("the plan lacks the drop-in of %s naming %s:\n%s", unit, proxy.EnvFilePath(unit), plan.String())
		}
	}
	if strings.Contains(plan.String(), pw) {
		t.Errorf("the plan shows the proxy's password:\n%s", plan.String())
	}

	if _, err := Execute(context.Background(), fastSource(h.nodeEnv(t, srv.URL, env, nil)), InstallPhases(), ExecuteOptions{}); err != nil {
		t.Fatal(err)
	}
	h.write(t, "/etc/systemd/system/kubelet.service.d/90-local.conf", "[Service]\n")
	if err := Reset(context.Background(), h.nodeEnv(t, srv.URL, env, nil), ResetOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range append([]string{path.Dir(proxy.DropInPath(hoststate.ContainerdUnit)), proxy.EnvFileDir}, append(proxyDropIns(), proxyEnvFiles()...)...) {
		if h.exists(p) {
			t.Errorf("%s left after reset", p)
		}
	}
	if !h.exists("/etc/systemd/system/kubelet.service.d/90-local.conf") {
		t.Error("reset removed someone else's drop-in")
	}
	if hist := h.sd.History(); hist[len(hist)-1] != "daemon-reload" {
		t.Errorf("no daemon-reload after removing the drop-ins: %v", hist)
	}
}

// TestKubeadmJoinGetsTheProxySettings: kubeadm join runs with the effective
// settings over the process's environment; without a proxy, with nothing.
func TestKubeadmJoinGetsTheProxySettings(t *testing.T) {
	for name, c := range map[string]struct {
		env  map[string]string
		want []string
	}{
		"proxy": {map[string]string{"HTTPS_PROXY": "http://10.0.0.5:3128", "no_proxy": ".corp.example"}, []string{
			"HTTPS_PROXY=http://10.0.0.5:3128", "https_proxy=http://10.0.0.5:3128",
			"NO_PROXY=.corp.example,10.0.0.10,100.100.100.200,localhost,127.0.0.1,::1,10.10.24.7",
			"no_proxy=.corp.example,10.0.0.10,100.100.100.200,localhost,127.0.0.1,::1,10.10.24.7"}},
		"none": {nil, nil},
	} {
		t.Run(name, func(t *testing.T) {
			srv := newArtifactServer(t, "r1")
			h := newFakeHost(t)
			if _, err := Execute(context.Background(), h.nodeEnv(t, srv.URL, c.env, nil), Phases(), ExecuteOptions{Join: true}); err != nil {
				t.Fatal(err)
			}
			var joins int
			for _, cmd := range h.cmd.History() {
				if cmd.Name == "kubeadm" && cmd.Args[0] == "join" {
					joins++
					if !slices.Equal(cmd.Env, c.want) {
						t.Errorf("kubeadm join's environment %q, want %q", cmd.Env, c.want)
					}
				}
			}
			if joins != 1 {
				t.Errorf("%d kubeadm joins", joins)
			}
		})
	}
}

// proxyDropIns are the proxy drop-ins of containerd and kubelet.
func proxyDropIns() []string {
	return []string{proxy.DropInPath(hoststate.ContainerdUnit), proxy.DropInPath(hoststate.KubeletUnit)}
}

// proxyEnvFiles are the environment files the drop-ins name.
func proxyEnvFiles() []string {
	return []string{proxy.EnvFilePath(hoststate.ContainerdUnit), proxy.EnvFilePath(hoststate.KubeletUnit)}
}

// TestNoProxyHasTheClusterSubnets: with a proxy set, the join reads the
// cluster's service and pod subnets (kube-system/kubeadm-config, with the
// bootstrap token) into the NO_PROXY of containerd's and kubelet's drop-ins
// and of kubeadm join, and records them (cluster.json), so that a later
// run of the containerd and kubelet phases alone writes the same drop-ins;
// without a proxy nothing is read; a refused read leaves them out and the
// join goes on; a forced kubeProxyMode still reads them.
func TestNoProxyHasTheClusterSubnets(t *testing.T) {
	shortKubeProxyRead(t)
	srv := newArtifactServer(t, "r1")
	const proxyURL = "http://10.0.0.5:3128"
	wantNoProxy := func(api string, subnets bool) string {
		s := ".corp.example," + api
		if subnets {
			s += ",10.96.0.0/12,fd00:10:96::/112,10.244.0.0/16"
		}
		// (The API server is 127.0.0.1: once, where it comes first.)
		return "NO_PROXY=" + s + ",100.100.100.200,localhost,::1,10.10.24.7"
	}
	for _, tc := range []struct {
		name    string
		setup   func(*apitest.Server)
		env     []string
		proxy   bool
		subnets bool
	}{
		{"proxy", func(*apitest.Server) {}, nil, true, true},
		{"forced kube-proxy mode", func(*apitest.Server) {}, []string{"HYBRIDNODE_KUBE_PROXY_MODE", "iptables"}, true, true},
		{"refused", func(s *apitest.Server) { s.DenyKubeadmConfig = true }, nil, true, false},
		{"no proxy", func(*apitest.Server) {}, nil, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := kubeProxyAPI(t, "iptables")
			api.SetNetworking("10.244.0.0/16", "10.96.0.0/12,fd00:10:96::/112")
			tc.setup(api)
			more := append([]string{"NO_PROXY", ".corp.example"}, tc.env...)
			if tc.proxy {
				more = append(more, "HTTPS_PROXY", proxyURL)
			}
			env := kubeProxyEnv(api, more...)
			h := newFakeHost(t)
			if _, err := Execute(context.Background(), h.nodeEnv(t, srv.URL, env, nil), Phases(), ExecuteOptions{Join: true}); err != nil {
				t.Fatalf("join: exit %d: %v", ExitCode(err), err)
			}
			host, _, _ := strings.Cut(api.Endpoint, ":")
			want := wantNoProxy(host, tc.subnets)
			reads := 0
			for _, r := range api.Requests() {
				if strings.Contains(r, "kubeadm-config") {
					reads++
				}
			}
			if tc.proxy != (reads == 1) {
				t.Errorf("%d reads of kubeadm-config with proxy %v: %v", reads, tc.proxy, api.Requests())
			}
			if !tc.proxy {
				if h.exists(hoststate.ClusterPath) || h.exists(proxy.DropInPath(hoststate.KubeletUnit)) {
					t.Error("no proxy: a record or a drop-in written")
				}
				return
			}
			for _, p := range proxyEnvFiles() {
				if got := proxy.ParseEnvFile([]byte(h.read(t, p)))["NO_PROXY"]; "NO_PROXY="+got != want {
					t.Errorf("%s: NO_PROXY=%s\nwant %s", p, got, want)
				}
			}
			for _, cmd := range h.cmd.History() {
				if cmd.Name == "kubeadm" && cmd.Args[0] == "join" && !slices.Contains(cmd.Env, want) {
					t.Errorf("kubeadm join's environment %q lacks %q", cmd.Env, want)
				}
			}
			if got := h.exists(hoststate.ClusterPath); got != tc.subnets {
				t.Fatalf("%s there: %v, want %v", hoststate.ClusterPath, got, tc.subnets)
			}
			if tc.subnets {
				if got := h.read(t, hoststate.ClusterPath); !strings.Contains(got, `"source": "ConfigMap kube-system/kubeadm-config"`) || !strings.Contains(got, `"10.244.0.0/16"`) {
					t.Errorf("%s:\n%s", hoststate.ClusterPath, got)
				}
			} else if !h.logged(zapcore.InfoLevel, "the cluster's subnets are not in NO_PROXY", "HTTP 403") {
				t.Error("no log of why the subnets are not in NO_PROXY")
			}
			// The containerd and kubelet phases again, not joining: the
			// same drop-ins from the record, nothing written, no API call.
			before := len(api.Requests())
			var counter *hostfstest.Counter
			n := fastSource(h.nodeEnv(t, srv.URL, env, func(f hostfs.FS) hostfs.FS { counter = hostfstest.Counting(f); return counter }))
			only, err := Select(Phases(), []string{"containerd", "kubelet"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Execute(context.Background(), n, only, ExecuteOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, p := range append(append(proxyDropIns(), proxyEnvFiles()...), hoststate.ClusterPath) {
				if counter.Writes()[p] != 0 {
					t.Errorf("phases again: %s rewritten", p)
				}
			}
			if got := api.Requests()[before:]; len(got) != 0 {
				t.Errorf("phases again asked the API server: %v", got)
			}
		})
	}
}
