package bootstrap

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/hybridnode/hybridnode/bootstrap/command"
	"github.com/hybridnode/hybridnode/bootstrap/doctor/apitest"
	"github.com/hybridnode/hybridnode/bootstrap/hostcheck"
	"github.com/hybridnode/hybridnode/bootstrap/hostprep"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/bootstrap/identity"
)

// shortKubeProxyRead shortens the read's bounds for a test.
func shortKubeProxyRead(t *testing.T) {
	saved := kubeProxyRead
	kubeProxyRead.request, kubeProxyRead.wait, kubeProxyRead.total = 300*time.Millisecond, 10*time.Millisecond, 2*time.Second
	t.Cleanup(func() { kubeProxyRead = saved })
}

// kubeProxyAPI is the loopback fake API server with the test token and
// kube-system/kube-proxy in that mode (none when mode is "-").
func kubeProxyAPI(t *testing.T, mode string) *apitest.Server {
	srv := apitest.New(t, apitest.Options{})
	srv.AddToken(testToken)
	if mode != "-" {
		srv.SetKubeProxy(apitest.KubeProxyConfig(mode))
	}
	return srv
}

// kubeProxyEnv points the node at srv, pinned, with kubeProxyMode auto.
func kubeProxyEnv(srv *apitest.Server, more ...string) map[string]string {
	env := map[string]string{
		"HYBRIDNODE_API_SERVER_ENDPOINT": srv.Endpoint,
		"HYBRIDNODE_CA_CERT_HASHES":      srv.Pin,
		"HYBRIDNODE_KUBE_PROXY_MODE":     "auto",
	}
	for i := 0; i+1 < len(more); i += 2 {
		env[more[i]] = more[i+1]
	}
	return env
}

// tool puts an executable named name on the root's PATH.
func (h *fakeHost) tool(t *testing.T, name string) {
	t.Helper()
	p := filepath.Join(h.root, "usr/sbin", name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func modprobes(h *fakeHost) []string {
	var out []string
	for _, c := range h.cmd.History() {
		if c.Name == "modprobe" {
			out = append(out, c.String())
		}
	}
	return out
}

// logged reports whether a log entry at level has msg in its message and
// every want in its message or fields.
func (h *fakeHost) logged(level zapcore.Level, msg string, want ...string) bool {
	for _, e := range h.logs.All() {
		if e.Level != level || !strings.Contains(e.Message, msg) {
			continue
		}
		line := e.Message
		for k, v := range e.ContextMap() {
			line += fmt.Sprintf(" %s=%v", k, v)
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestKubeProxyIPVS: a cluster whose kube-proxy runs in IPVS mode. Before
// the join the node reads kube-system/kube-proxy with the bootstrap token
// (in the Authorization header, from the server whose CA matched the pin),
// loads the IPVS modules that are not loaded yet and lists all of them in
// their modules-load.d file; preflight required ipset. A second run (after
// a reset) runs modprobe only for what is still missing.
func TestKubeProxyIPVS(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	api := kubeProxyAPI(t, "ipvs")
	h := newFakeHost(t)
	h.tool(t, "ipset")
	// ip_vs is loaded, nf_conntrack is built in.
	h.write(t, "/proc/modules", "ip_vs 233472 0 - Live 0x0000000000000000\nbr_netfilter 32768 0 - Live 0x0000000000000000\n")
	h.write(t, "/sys/module/nf_conntrack/parameters/hashsize", "65536\n")
	n := h.nodeEnv(t, srv.URL, kubeProxyEnv(api), nil)
	if _, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatalf("join: exit %d: %v", ExitCode(err), err)
	}
	if got := h.read(t, hostprep.IPVSModulesFile); got != string(hostprep.IPVSModulesLoad()) {
		t.Errorf("%s:\n%s", hostprep.IPVSModulesFile, got)
	}
	want := []string{"modprobe ip_vs_rr", "modprobe ip_vs_wrr", "modprobe ip_vs_sh"}
	if got := modprobes(h); !slices.Equal(got, want) {
		t.Errorf("modprobe runs %v, want %v", got, want)
	}
	// Before kubeadm join, in the kube-proxy phase.
	lines := h.cmd.Lines()
	if i, j := slices.Index(lines, "modprobe ip_vs_sh"), slices.Index(lines, "kubeadm join --config /etc/hybridnode/kubeadm-join.yaml"); i < 0 || j < i {
		t.Errorf("commands: %v", lines)
	}
	if !slices.Contains(api.Requests(), "GET "+apitest.KubeProxyPath+" as bootstrap:abcdef") {
		t.Errorf("the ConfigMap was not read with the bootstrap token: %v", api.Requests())
	}
	var tools *hoststate.Finding
	for i, f := range n.findings {
		if f.Check == "tools" {
			tools = &n.findings[i]
		}
	}
	if tools == nil || tools.Status != hostcheck.Pass || !strings.Contains(tools.Detail, "ipset is on PATH (kube-proxy's IPVS mode requires it)") {
		t.Errorf("preflight tools: %+v", tools)
	}
	if !h.logged(zapcore.InfoLevel, "kube-proxy runs in IPVS mode", "from=ConfigMap kube-system/kube-proxy") {
		t.Error("no log of the mode and where it came from")
	}
	h.noSecret(t, testToken)
}

// TestKubeProxyIPVSNeedsIPSet: in IPVS mode a host without ipset stops in
// preflight (exit 3), naming it and the package, before anything is touched.
func TestKubeProxyIPVSNeedsIPSet(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	api := kubeProxyAPI(t, "ipvs")
	for _, tc := range []struct{ osRelease, remedy string }{
		{"ID=debian\nVERSION_ID=12\n", "apt-get install -y ipset"},
		{"ID=\"alinux\"\nVERSION_ID=\"3\"\n", "dnf install -y ipset"},
	} {
		t.Run(tc.remedy, func(t *testing.T) {
			h := newFakeHost(t)
			h.write(t, "/etc/os-release", tc.osRelease)
			before := tree(t, h.root)
			_, err := Execute(context.Background(), h.nodeEnv(t, srv.URL, kubeProxyEnv(api), nil), Phases(), ExecuteOptions{Join: true})
			if ExitCode(err) != ExitPreflight {
				t.Fatalf("exit %d, want %d: %v", ExitCode(err), ExitPreflight, err)
			}
			for _, s := range []string{"ipset is not on PATH", "kube-proxy's IPVS mode requires it", tc.remedy} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error lacks %q: %v", s, err)
				}
			}
			after := tree(t, h.root)
			delete(after, "/run") // the lock's directory: every run takes the lock first
			for p := hoststate.ReportPath; p != "/"; p = filepath.Dir(p) {
				delete(after, p) // the report of the failed run, and its directories
			}
			if d := diffTrees(before, after); d != "" {
				t.Errorf("a failed preflight changed the node:\n%s", d)
			}
			if len(h.cmd.History()) != 0 {
				t.Errorf("commands ran: %v", h.cmd.Lines())
			}
		})
	}
}

// TestKubeProxyModprobeFails: where modules cannot be loaded (a container),
// each attempt and its error are a warning, the file is still written and
// the join goes on.
func TestKubeProxyModprobeFails(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	api := kubeProxyAPI(t, "ipvs")
	h := newFakeHost(t)
	h.tool(t, "ipset")
	h.cmd.On("modprobe", func(c command.Cmd) (command.Result, error) {
		return command.Result{ExitCode: 1, Stderr: []byte("modprobe: FATAL: Module " + c.Args[0] + " not found in directory /lib/modules/6.1.0\n")}, nil
	})
	if _, err := Execute(context.Background(), h.nodeEnv(t, srv.URL, kubeProxyEnv(api), nil), Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatalf("join: exit %d: %v", ExitCode(err), err)
	}
	if got := modprobes(h); len(got) != len(hostprep.IPVSModules) {
		t.Errorf("modprobe runs %v", got)
	}
	for _, m := range hostprep.IPVSModules {
		if !h.logged(zapcore.WarnLevel, "kernel module not loaded", "module="+m, "Module "+m+" not found") {
			t.Errorf("no warning for %s with modprobe's error", m)
		}
		if !h.logged(zapcore.InfoLevel, "loading kernel module", "command=modprobe "+m) {
			t.Errorf("no log of the attempt to load %s", m)
		}
	}
	if got := h.read(t, hostprep.IPVSModulesFile); got != string(hostprep.IPVSModulesLoad()) {
		t.Errorf("%s:\n%s", hostprep.IPVSModulesFile, got)
	}
	if !h.exists(hoststate.KubeletConf) {
		t.Error("the join did not go on")
	}
}

// TestKubeProxyNotIPVS: other modes, no ConfigMap (no kube-proxy, as with
// Cilium's replacement) or one the token may not read: nothing is loaded or
// written, only logged. A known mode other than IPVS removes the file an
// earlier IPVS join generated; an unknown one leaves it.
func TestKubeProxyNotIPVS(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	for _, tc := range []struct {
		name     string
		setup    func(*apitest.Server)
		msg, log string
		kept     bool
	}{
		{"iptables", func(s *apitest.Server) { s.SetKubeProxy(apitest.KubeProxyConfig("iptables")) }, "not in IPVS mode", "mode=iptables", false},
		{"nftables", func(s *apitest.Server) { s.SetKubeProxy(apitest.KubeProxyConfig("nftables")) }, "not in IPVS mode", "mode=nftables", false},
		{"default mode", func(s *apitest.Server) { s.SetKubeProxy(apitest.KubeProxyConfig("")) }, "not in IPVS mode", "mode=kube-proxy's default (iptables)", false},
		{"no kube-proxy", func(*apitest.Server) {}, "not in IPVS mode", "from=no ConfigMap kube-system/kube-proxy", false},
		{"forbidden", func(s *apitest.Server) { s.SetKubeProxy(apitest.KubeProxyConfig("ipvs")); s.DenyKubeProxy = true }, "kube-proxy mode unknown", "HTTP 403", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := kubeProxyAPI(t, "-")
			tc.setup(api)
			h := newFakeHost(t)
			h.write(t, hostprep.IPVSModulesFile, string(hostprep.IPVSModulesLoad())) // an earlier join's
			if _, err := Execute(context.Background(), h.nodeEnv(t, srv.URL, kubeProxyEnv(api), nil), Phases(), ExecuteOptions{Join: true}); err != nil {
				t.Fatalf("join: exit %d: %v", ExitCode(err), err)
			}
			if got := modprobes(h); len(got) != 0 {
				t.Errorf("modprobe ran: %v", got)
			}
			if h.exists(hostprep.IPVSModulesFile) != tc.kept {
				t.Errorf("%s there: %v, want %v", hostprep.IPVSModulesFile, h.exists(hostprep.IPVSModulesFile), tc.kept)
			}
			if !h.logged(zapcore.InfoLevel, tc.msg, tc.log) {
				t.Errorf("no info %q with %q", tc.msg, tc.log)
			}
			if !slices.Contains(api.Requests(), "GET "+apitest.KubeProxyPath+" as bootstrap:abcdef") {
				t.Errorf("requests: %v", api.Requests())
			}
		})
	}
}

// TestKubeProxyReadIsBounded: an API server that does not answer, answers
// slowly or is refused holds the join for at most the read's bounds; 503s
// are retried. The join goes on in each case.
func TestKubeProxyReadIsBounded(t *testing.T) {
	shortKubeProxyRead(t)
	srv := newArtifactServer(t, "r1")
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	for _, tc := range []struct {
		name     string
		setup    func(*apitest.Server, map[string]string)
		ipvs     bool
		warn     string
		requests int // reads of the ConfigMap
	}{
		{"two 503s, then the answer", func(s *apitest.Server, _ map[string]string) { s.FailKubeProxy = 2 }, true, "", 3},
		{"always 503", func(s *apitest.Server, _ map[string]string) { s.FailKubeProxy = 100 }, false, "HTTP 503", 3},
		{"too slow", func(s *apitest.Server, _ map[string]string) { s.KubeProxyDelay = time.Minute }, false, "deadline exceeded", 3},
		{"refused", func(_ *apitest.Server, env map[string]string) { env["HYBRIDNODE_API_SERVER_ENDPOINT"] = closed }, false, "connection refused", 0},
		{"CA not the pinned one", func(_ *apitest.Server, env map[string]string) { env["HYBRIDNODE_CA_CERT_HASHES"] = testHash }, false, "matches none of caCertHashes", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := kubeProxyAPI(t, "ipvs")
			env := kubeProxyEnv(api)
			tc.setup(api, env)
			h := newFakeHost(t)
			h.tool(t, "ipset")
			start := time.Now()
			if _, err := Execute(context.Background(), h.nodeEnv(t, srv.URL, env, nil), Phases(), ExecuteOptions{Join: true}); err != nil {
				t.Fatalf("join: exit %d: %v", ExitCode(err), err)
			}
			if d := time.Since(start); d > kubeProxyRead.total+2*time.Second {
				t.Errorf("the join took %s", d)
			}
			if h.exists(hostprep.IPVSModulesFile) != tc.ipvs {
				t.Errorf("%s there: %v, want %v", hostprep.IPVSModulesFile, h.exists(hostprep.IPVSModulesFile), tc.ipvs)
			}
			if tc.warn != "" && !h.logged(zapcore.WarnLevel, "reading the cluster's kube-proxy mode", tc.warn) {
				t.Errorf("no warning with %q", tc.warn)
			}
			reads := 0
			for _, r := range api.Requests() {
				if strings.Contains(r, apitest.KubeProxyPath) {
					reads++
				}
			}
			if reads != tc.requests {
				t.Errorf("%d reads of the ConfigMap, want %d: %v", reads, tc.requests, api.Requests())
			}
			if !h.exists(hoststate.KubeletConf) {
				t.Error("the join did not go on")
			}
		})
	}
}

// TestKubeProxyModeForced: kubeProxyMode ipvs prepares the node without
// asking the cluster (an air-gapped node, a token without the RBAC), also
// when baking an image; iptables forces nothing, even on an IPVS cluster;
// auto at a bake asks nothing (the join does).
func TestKubeProxyModeForced(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	for _, tc := range []struct {
		name, mode string
		join, ipvs bool
	}{
		{"ipvs at join", "ipvs", true, true},
		{"ipvs at a bake", "ipvs", false, true},
		{"iptables on an IPVS cluster", "iptables", true, false},
		{"auto at a bake", "auto", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := kubeProxyAPI(t, "ipvs")
			h := newFakeHost(t)
			h.tool(t, "ipset")
			n := h.nodeEnv(t, srv.URL, kubeProxyEnv(api, "HYBRIDNODE_KUBE_PROXY_MODE", tc.mode), nil)
			phases, o := Phases(), ExecuteOptions{Join: true}
			if !tc.join {
				phases, o = InstallPhases(), ExecuteOptions{Bake: true}
			}
			if _, err := Execute(context.Background(), n, phases, o); err != nil {
				t.Fatalf("exit %d: %v", ExitCode(err), err)
			}
			if h.exists(hostprep.IPVSModulesFile) != tc.ipvs || (len(modprobes(h)) == len(hostprep.IPVSModules)) != tc.ipvs {
				t.Errorf("file %v, modprobe %v; want IPVS prepared: %v", h.exists(hostprep.IPVSModulesFile), modprobes(h), tc.ipvs)
			}
			if tc.ipvs && !h.logged(zapcore.InfoLevel, "kube-proxy runs in IPVS mode", "from=HYBRIDNODE_KUBE_PROXY_MODE") {
				t.Error("no log naming the variable that forced the mode")
			}
			for _, r := range api.Requests() {
				if strings.Contains(r, "kube-proxy") {
					t.Errorf("the cluster was asked: %s", r)
				}
			}
		})
	}
	// Forced ipvs requires ipset in preflight too.
	h := newFakeHost(t)
	_, err := Execute(context.Background(), h.nodeEnv(t, srv.URL, map[string]string{"HYBRIDNODE_KUBE_PROXY_MODE": "ipvs"}, nil), InstallPhases(), ExecuteOptions{Bake: true})
	if ExitCode(err) != ExitPreflight || !strings.Contains(err.Error(), "ipset is not on PATH") {
		t.Errorf("forced ipvs without ipset: exit %d: %v", ExitCode(err), err)
	}
}

// TestKubeProxyWithInstanceIdentity: the token exists only after the
// exchange, so the kube-proxy phase exchanges the identity right before the
// join (one exchange serves both) and reads the ConfigMap with that token;
// ipset, learnt missing after preflight, is a warning.
func TestKubeProxyWithInstanceIdentity(t *testing.T) {
	const issued = "issued.abcdef0123456789"
	srv := newArtifactServer(t, "r1")
	f := newIdentityFakes(t, issued, "second.abcdef0123456789")
	api := apitest.New(t, apitest.Options{})
	api.AddToken(issued)
	api.SetKubeProxy(apitest.KubeProxyConfig("ipvs"))
	env := f.env()
	for k, v := range kubeProxyEnv(api) {
		env[k] = v
	}
	h := newFakeHost(t)
	if _, err := Execute(context.Background(), h.nodeEnv(t, srv.URL, env, nil), Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatalf("join: exit %d: %v", ExitCode(err), err)
	}
	if f.exchanges.Load() != 1 {
		t.Errorf("%d exchanges, want 1", f.exchanges.Load())
	}
	if !slices.Contains(api.Requests(), "GET "+apitest.KubeProxyPath+" as bootstrap:issued") {
		t.Errorf("requests: %v", api.Requests())
	}
	if !strings.Contains(string(h.joinCfg), "token: "+issued) || !h.exists(hostprep.IPVSModulesFile) {
		t.Errorf("join config or modules file wrong: %s", h.joinCfg)
	}
	if !h.logged(zapcore.WarnLevel, "kube-proxy runs in IPVS mode", "ipset is not on PATH") {
		t.Error("no warning for the missing ipset")
	}
	h.noSecret(t, issued)
}

// TestKubeProxyPlan: a plan reads the mode (a read, no change) and shows
// the file and the modprobe runs; nothing is touched.
func TestKubeProxyPlan(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	api := kubeProxyAPI(t, "ipvs")
	h := newFakeHost(t)
	h.tool(t, "ipset")
	n := h.nodeEnv(t, srv.URL, kubeProxyEnv(api), nil)
	h.sd.SetLive(true)
	before := tree(t, h.root)
	if _, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true, DryRun: true}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	PrintPlan(&out, n)
	for _, want := range []string{"write " + hostprep.IPVSModulesFile, "modprobe ip_vs_sh", "+ip_vs_wrr"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, out.String())
		}
	}
	if d := diffTrees(before, tree(t, h.root)); d != "" {
		t.Errorf("the plan changed the node:\n%s", d)
	}
}

// TestResetRemovesIPVSModulesFile: reset removes the generated file (and
// keeps one that is not hybridnode's).
func TestResetRemovesIPVSModulesFile(t *testing.T) {
	for _, tc := range []struct {
		content string
		kept    bool
	}{{string(hostprep.IPVSModulesLoad()), false}, {"ip_vs\n", true}} {
		h := newFakeHost(t)
		h.write(t, hostprep.IPVSModulesFile, tc.content)
		n := h.node(t, "", nil)
		if err := Reset(context.Background(), n, ResetOptions{}); err != nil {
			t.Fatal(err)
		}
		if h.exists(hostprep.IPVSModulesFile) != tc.kept {
			t.Errorf("%q: there after reset %v, want %v", tc.content, h.exists(hostprep.IPVSModulesFile), tc.kept)
		}
	}
}

// TestKubeProxyWithInstanceIdentityRefused: an exchange refused in the
// kube-proxy phase ends the run with the identity's own exit code, once:
// kubeadm never runs and the join asks the service no second time.
func TestKubeProxyWithInstanceIdentityRefused(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	f := newIdentityFakes(t, "never1.abcdef0123456789")
	f.refuse = identity.ReasonAccount
	api := kubeProxyAPI(t, "ipvs")
	env := f.env()
	for k, v := range kubeProxyEnv(api) {
		env[k] = v
	}
	h := newFakeHost(t)
	_, err := Execute(context.Background(), h.nodeEnv(t, srv.URL, env, nil), Phases(), ExecuteOptions{Join: true})
	if ExitCode(err) != ExitNotAllowed || !strings.Contains(err.Error(), "phase kube-proxy") {
		t.Fatalf("exit %d, want %d: %v", ExitCode(err), ExitNotAllowed, err)
	}
	if f.exchanges.Load() != 1 || kubeadmCalls(h) != "" {
		t.Errorf("%d exchanges, kubeadm %q", f.exchanges.Load(), kubeadmCalls(h))
	}
}
