package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/cluster"
	"github.com/hybridnode/hybridnode/bootstrap/cluster/clustertest"
)

// outputs collects what every command in these tests printed, with the
// secrets its cluster held, for TestMain's final scan.
var (
	outputsMu sync.Mutex
	outputs   []captured
	// envs counts newEnv's calls: the tests that run commands.
	envs atomic.Int64
)

type captured struct {
	args    []string
	text    string
	secrets []string
}

func TestMain(m *testing.M) {
	code := m.Run()
	// Every output of every command test, against every secret any of
	// their clusters held (a token deleted by rotate included).
	all := map[string]bool{}
	for _, c := range outputs {
		for _, s := range c.secrets {
			all[s] = true
		}
	}
	for _, c := range outputs {
		for s := range all {
			if strings.Contains(c.text, s) {
				os.Stderr.WriteString("secret " + s[:3] + "… printed by hybridnode-cluster " + strings.Join(c.args, " ") + "\n")
				code = 1
			}
		}
	}
	// A test that ran commands left nothing to scan: the scan above would
	// pass without looking. Whether any such test ran, not the -run
	// pattern, decides: -run '^$' (make bench), -run '^Fuzz' (no fuzz
	// target here) or a filter that selects only tests without commands
	// scan nothing, rightly.
	if envs.Load() > 0 && len(outputs) == 0 {
		os.Stderr.WriteString("tests ran commands, but no command output was scanned\n")
		code = 1
	}
	os.Exit(code)
}

type env struct {
	c       *clustertest.Cluster
	release string
	dir     string
	// clientErr replaces the client (a kubeconfig that does not load).
	clientErr error
}

func newEnv(t *testing.T, c *clustertest.Cluster) *env {
	t.Helper()
	envs.Add(1)
	e := &env{c: c, release: t.TempDir(), dir: t.TempDir()}
	script, err := os.ReadFile("../../packaging/add-node.sh.in")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(script)
	write(t, filepath.Join(e.release, "add-node.sh"), script)
	write(t, filepath.Join(e.release, "SHA256SUMS"), []byte(hex.EncodeToString(sum[:])+"  add-node.sh\n"))
	return e
}

func write(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// run runs one command line against the fake cluster and scans its output
// (stdout and stderr) for every secret the cluster holds, before and after.
func (e *env) run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	secrets := e.c.Secrets(t)
	var out, errOut bytes.Buffer
	a := newApp(&out, &errOut)
	a.newClient = func(kubeconfig, kubeContext string) (*cluster.Client, error) {
		if e.clientErr != nil {
			return nil, e.clientErr
		}
		return &cluster.Client{Core: e.c.Core(), Apps: e.c.Apps(), Rbac: e.c.Rbac(), Discovery: e.c.Discovery(), Admission: e.c.Admission(), Coordination: e.c.Coordination(), Certificates: e.c.Certificates(), Dynamic: e.c.Dynamic(), Host: clustertest.Endpoint}, nil
	}
	code = run(context.Background(), a, args)
	secrets = append(secrets, e.c.Secrets(t)...)
	text := out.String() + errOut.String()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("hybridnode-cluster %s printed a secret (%s…):\n%s", strings.Join(args, " "), s[:3], text)
		}
	}
	outputsMu.Lock()
	outputs = append(outputs, captured{args: args, text: text, secrets: secrets})
	outputsMu.Unlock()
	return out.String(), errOut.String(), code
}

func (e *env) setupArgs(extra ...string) []string {
	return append([]string{"setup", "--release", e.release, "--artifact-url", "https://hn.oss-cn-hangzhou-internal.aliyuncs.com/k8s",
		"--script-out", filepath.Join(e.dir, "pool.sh"), "--script-url", "https://hn.oss-cn-hangzhou-internal.aliyuncs.com/pools/pool.sh"}, extra...)
}

func TestCheckExitCodes(t *testing.T) {
	e := newEnv(t, clustertest.Healthy(t))
	out, _, code := e.run(t, "check", "--vpc-cidr", "172.16.0.0/12")
	if code != 0 || !strings.HasPrefix(out, "hybridnode cluster check: API server 10.0.0.10:6443, node pool default\n") || !strings.Contains(out, "SKIP  artifacts") {
		t.Fatalf("healthy: exit %d\n%s", code, out)
	}
	// The first row: the network mode, detected.
	if first := strings.SplitN(out, "\n", 3)[1]; !strings.HasPrefix(first, "PASS  network-mode     calico (manifest), mode bgp: ") {
		t.Errorf("first row: %q", first)
	}

	// Warnings only: still 0.
	e.c.AddToken(t, "kkkkkk", "kkkkkkkkkkkkkkk9", "", time.Time{}, true) // never expires
	if out, _, code := e.run(t, "check"); code != 0 || !strings.Contains(out, "WARN  token-expiry") {
		t.Errorf("warnings: exit %d\n%s", code, out)
	}

	e = newEnv(t, clustertest.Broken(t))
	out, stderr, code := e.run(t, "check")
	if code != exitCheckFailed || !strings.Contains(out, "FAIL  onprem-cni") ||
		!strings.Contains(stderr, "hybridnode-cluster: check: 3 check(s) failed: onprem-cni, add-node-script, node-pool-token\n") {
		t.Errorf("broken: exit %d\n%s%s", code, out, stderr)
	}
	out, _, code = e.run(t, "check", "-o", "json", "--node-pool", "gpu")
	var r cluster.CheckReport
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != exitCheckFailed || r.Result != "failed" || r.NodePool != "gpu" || len(r.Checks) != len(cluster.CheckNames()) {
		t.Errorf("json: exit %d, %v\n%s", code, err, out)
	}
}

func TestExitCodes(t *testing.T) {
	e := newEnv(t, clustertest.Healthy(t))
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"check", "-o", "yaml"}, exitUsage, "-o/--output"},
		{[]string{"check", "--no-such-flag"}, exitUsage, "unknown flag: --no-such-flag"},
		{[]string{"check", "extra"}, exitUsage, "no arguments"},
		{[]string{"bogus"}, exitUsage, "a command (check, setup, rotate, token-service, identity, version)"},
		{[]string{"check", "--node-pool", "not a label"}, exitUsage, "--node-pool"},
		{[]string{"check", "--vpc-cidr", "10.0.0.0"}, exitUsage, "--vpc-cidr"},
		{[]string{"check", "--network-mode", "vxlan"}, exitUsage, "--network-mode"},
		{[]string{"setup", "--network-mode", "ipip", "--artifact-url", "https://x"}, exitUsage, "--network-mode"},
		{[]string{"check", "--network-mode", "host"}, exitOK, "PASS  network-mode     mode host from --network-mode"},
		{[]string{"setup", "--token-ttl", "soon"}, exitUsage, "--token-ttl"},
		{[]string{"setup", "--artifact-url", "https://x"}, exitUsage, "--release"},
		{[]string{"rotate", "--release", "/nonexistent/release", "--artifact-url", "https://x"}, exitUsage, "--release"},
		{[]string{"version"}, exitOK, "hybridnode-cluster dev (commit unknown"},
	} {
		out, stderr, code := e.run(t, tc.args...)
		if code != tc.code || !strings.Contains(out+stderr, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s%s", tc.args, code, tc.code, tc.want, out, stderr)
		}
		if code == exitUsage && strings.Count(stderr, "\n") < 1 {
			t.Errorf("%v: no error line", tc.args)
		}
	}
	if n := len(e.c.Mutations()); n != 0 {
		t.Errorf("%d changes", n)
	}

	// The API server down: 1. A kubeconfig that does not load: 2.
	e.c.VersionErr = errors.New("connection refused")
	if _, stderr, code := e.run(t, "check"); code != exitError || !strings.Contains(stderr, "does not answer") {
		t.Errorf("API down: exit %d: %s", code, stderr)
	}
	e.clientErr = &cluster.InputError{Err: errors.New("no kubeconfig")}
	if _, _, code := e.run(t, "check"); code != exitUsage {
		t.Errorf("bad kubeconfig: exit %d", code)
	}
	e.clientErr = errors.New("boom")
	if _, _, code := e.run(t, "check"); code != exitError {
		t.Errorf("client error: exit %d", code)
	}
}

func TestSetupCommand(t *testing.T) {
	e := newEnv(t, clustertest.Broken(t))
	script := filepath.Join(e.dir, "pool.sh")

	// Dry run first: diffs, nothing changed.
	out, _, code := e.run(t, e.setupArgs("--dry-run")...)
	if code != 0 || !strings.Contains(out, "would update DaemonSet kube-system/calico-node") || !strings.Contains(out, "+token: ") ||
		!strings.Contains(out, ".[REDACTED]") || !strings.Contains(out, "dry run: 4 change(s) shown, nothing changed") {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	for _, a := range e.c.Mutations() {
		if !clustertest.IsDryRun(a) {
			t.Errorf("dry run sent %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
	if _, err := os.Stat(script); err == nil {
		t.Fatal("the dry run wrote the script")
	}

	out, stderr, code := e.run(t, e.setupArgs()...)
	if code != 0 || strings.Count(out, "\n") != 4 || stderr != "" {
		t.Fatalf("setup: exit %d\n%s%s", code, out, stderr)
	}
	data, err := os.ReadFile(script)
	if err != nil || !bytes.Contains(data, []byte("# made by: hybridnode-cluster setup --release "+e.release+" --artifact-url https://hn.oss-cn-hangzhou-internal.aliyuncs.com/k8s --script-out ")) {
		t.Fatalf("script: %v", err)
	}
	if out, _, code := e.run(t, "check"); code != 0 {
		t.Errorf("check after setup: exit %d\n%s", code, out)
	}
	e.c.Fake.ClearActions()
	if out, _, code := e.run(t, e.setupArgs()...); code != 0 || out != "no changes\n" || len(e.c.Mutations()) != 0 {
		t.Errorf("second setup: exit %d, %d changes\n%s", code, len(e.c.Mutations()), out)
	}

	// --token-ttl 0 on rotate: refused, exit 2, nothing changed.
	e.c.Fake.ClearActions()
	rot := append([]string{"rotate"}, e.setupArgs("--token-ttl", "0", "--grace", "0")[1:]...)
	out, stderr, code = e.run(t, rot...)
	if code != 2 || !strings.Contains(stderr, "--token-ttl") || len(e.c.Mutations()) != 0 {
		t.Errorf("rotate --token-ttl 0: exit %d, %d changes\n%s%s", code, len(e.c.Mutations()), out, stderr)
	}
}

func TestSetupRefusesNodeConfigKeys(t *testing.T) {
	e := newEnv(t, clustertest.Broken(t))
	nc := filepath.Join(e.dir, "pool.yaml")
	write(t, nc, []byte("token: abcdef.0123456789abcdef\nnodeTaints: [a:NoSchedule]\nregistryMirros: {}\n"))
	_, stderr, code := e.run(t, e.setupArgs("--node-config", nc)...)
	if code != exitUsage {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, w := range []string{"token (--node-config " + nc + ")", "--token-ttl", "nodeTaints (--node-config", "ALIBABA_CLOUD_TAINTS", "registryMirros (--node-config", "3 problems"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if len(e.c.Mutations()) != 0 {
		t.Error("changes before the input was valid")
	}
	if entries, _ := os.ReadDir(e.dir); len(entries) != 1 {
		t.Errorf("files: %v", entries)
	}
}

func TestCommandLineQuoting(t *testing.T) {
	got := commandLine([]string{"setup", "--script-url", "https://b.example.com/p.sh?Expires=1&Signature=x", "--node-config", "my pool.yaml", "it's"})
	want := `hybridnode-cluster setup --script-url 'https://b.example.com/p.sh?Expires=1&Signature=x' --node-config 'my pool.yaml' 'it'\''s'`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
