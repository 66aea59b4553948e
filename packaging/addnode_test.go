package packaging_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap/proxy/proxytest"
	"github.com/hybridnode/hybridnode/packaging"
)

// The environment ACK gives the script, plus the join settings.
const (
	testToken  = "abcdef.0123456789abcdef"
	testLabels = "alibabacloud.com/nodepool-id=np-1,alibabacloud.com/external=true,workload=cpu"
	testTaints = "workload=ack:NoSchedule"
)

// coreTools are the commands add-node.sh needs besides a downloader, a
// sha256 tool and uname (faked). Each case gets a PATH of symlinks to exactly
// the tools it names, so "no curl" really means no curl.
var coreTools = []string{"mktemp", "chmod", "rm", "mkdir", "cp", "mv", "sleep"}

// fakeBinary is the "release": a shell script standing in for hybridnode. It
// prints its arguments and arch, says whether the token arrived (without
// printing it) and writes its whole environment to $HN_TEST_ENV_OUT.
func fakeBinary(t *testing.T, arch string) []byte {
	envPath, err := exec.LookPath("env")
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Appendf(nil, `#!/bin/sh
echo "fake-hybridnode arch=%s args=[$*]"
echo "labels=[${ALIBABA_CLOUD_LABELS-unset}] marker=[${HN_TEST_MARKER-unset}]"
if [ "${HYBRIDNODE_TOKEN-}" = %q ]; then echo "token=arrived"; else echo "token=missing"; fi
%s -0 >"$HN_TEST_ENV_OUT"
`, arch, testToken, envPath)
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// release is a loopback HTTP server holding the binaries of one release.
type release struct {
	URL      string
	requests atomic.Int32
}

func serve(t *testing.T, files map[string][]byte) *release {
	t.Helper()
	r := &release{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		body, ok := files[req.URL.Path]
		if !ok {
			http.NotFound(w, req)
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// closedURL is a loopback URL nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

// render runs render.sh the way `make release` does.
func render(t *testing.T, template, baseURL, amd64, arm64 string) []byte {
	t.Helper()
	cmd := exec.Command("sh", "render.sh", template, baseURL, "v9.8.7-test", amd64, arm64)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("render.sh: %v: %s", err, stderr.String())
	}
	return out
}

// toolPath makes a directory of symlinks to the named commands plus a fake
// uname printing machine, and returns it for PATH.
func toolPath(t *testing.T, machine string, tools ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range tools {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Skipf("%s is not installed", name)
		}
		if err := os.Symlink(p, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	u, ok := unames[machine]
	if !ok {
		t.Fatalf("no fake uname for %q: add it to fakeMachines", machine)
	}
	if err := os.Symlink(u, filepath.Join(dir, "uname")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fakeMachines are the machines toolPath's uname can print. Their scripts
// are written once, in TestMain, before any test runs: an executable
// written while parallel tests fork (their children hold its write end
// open until they exec) fails to run with "text file busy".
var fakeMachines = []string{"x86_64", "aarch64", "riscv64"}

// unames maps a machine to its fake uname script.
var unames = map[string]string{}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hn-uname-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, machine := range fakeMachines {
		p := filepath.Join(dir, "uname-"+machine)
		script := fmt.Sprintf("#!/bin/sh\n[ \"$1\" = -m ] && echo %s\n", machine)
		if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		unames[machine] = p
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
	env            map[string]string // what the fake hybridnode saw; nil when it did not run
}

type host struct {
	dir     string // stands for /
	tmp     string // TMPDIR
	baked   string // HYBRIDNODE_BOOTSTRAP_BAKED (/usr/bin/hybridnode)
	install string // HYBRIDNODE_BOOTSTRAP_INSTALL (/usr/local/bin/hybridnode)
	envOut  string
}

func newHost(t *testing.T) host {
	d := t.TempDir()
	h := host{
		dir:     d,
		tmp:     filepath.Join(d, "tmp"),
		baked:   filepath.Join(d, "usr/bin/hybridnode"),
		install: filepath.Join(d, "usr/local/bin/hybridnode"),
		envOut:  filepath.Join(d, "env.out"),
	}
	if err := os.MkdirAll(h.tmp, 0o1777); err != nil {
		t.Fatal(err)
	}
	return h
}

// env is the environment the script runs with: ACK's variables, the join
// settings, the test's knobs and PATH.
func (h host) env(path string, extra ...string) []string {
	return append([]string{
		"PATH=" + path,
		"TMPDIR=" + h.tmp,
		"ALIBABA_CLOUD_PROVIDER_ID=cn-hangzhou.i-bp1test",
		"ALIBABA_CLOUD_NODE_NAME=cn-hangzhou.192.168.0.7",
		"ALIBABA_CLOUD_LABELS=" + testLabels,
		"ALIBABA_CLOUD_TAINTS=" + testTaints,
		"HYBRIDNODE_TOKEN=" + testToken,
		"HYBRIDNODE_API_SERVER_ENDPOINT=k8s-api.example.internal:6443",
		"HN_TEST_MARKER=with spaces, 'quotes' and $dollar",
		"HN_TEST_ENV_OUT=" + h.envOut,
		"HYBRIDNODE_BOOTSTRAP_WAIT=0",
		"HYBRIDNODE_BOOTSTRAP_BAKED=" + h.baked,
		"HYBRIDNODE_BOOTSTRAP_INSTALL=" + h.install,
	}, extra...)
}

// run runs the script with shell, as a file (with args) or piped on stdin.
func run(t *testing.T, shell, script string, piped bool, env []string, args ...string) result {
	t.Helper()
	var cmd *exec.Cmd
	if piped {
		b, err := os.ReadFile(script)
		if err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(shell)
		cmd.Stdin = bytes.NewReader(b)
	} else {
		cmd = exec.Command(shell, append([]string{script}, args...)...)
	}
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("%s %s: %v", shell, script, err)
	}
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "HN_TEST_ENV_OUT="); ok {
			if b, err := os.ReadFile(v); err == nil {
				r.env = map[string]string{}
				for _, e := range strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00") {
					k, v, _ := strings.Cut(e, "=")
					r.env[k] = v
				}
			}
		}
	}
	if strings.Contains(r.stdout+r.stderr, testToken) {
		t.Errorf("the token was printed:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	return r
}

// wantFailure checks exit code and ONE stderr line:
// "hybridnode-bootstrap: <what>, <which URL>, <what to check>".
func (r result) wantFailure(t *testing.T, code int, what, url string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "hybridnode-bootstrap: "+what) || !strings.Contains(lines[0], ", "+url+", ") {
		t.Errorf("stderr %q, want one line: hybridnode-bootstrap: %s..., %s, <what to check>", r.stderr, what, url)
	}
	if r.env != nil {
		t.Errorf("hybridnode ran after a failure:\n%s", r.stdout)
	}
}

// wantJoined checks that the fake hybridnode was exec'd with join and the
// environment exactly as given (plus what a shell adds).
func (r result) wantJoined(t *testing.T, arch string, env []string, args ...string) {
	t.Helper()
	if r.code != 0 || r.env == nil {
		t.Fatalf("exit code %d, hybridnode ran: %v\nstdout:\n%s\nstderr:\n%s", r.code, r.env != nil, r.stdout, r.stderr)
	}
	for _, want := range []string{
		fmt.Sprintf("fake-hybridnode arch=%s args=[%s]", arch, strings.Join(append([]string{"join"}, args...), " ")),
		"labels=[" + testLabels + "] marker=[with spaces, 'quotes' and $dollar]",
		"token=arrived",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.stderr != "" {
		t.Errorf("stderr not empty: %q", r.stderr)
	}
	given := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		given[k] = v
		if got, ok := r.env[k]; !ok || got != v {
			t.Errorf("hybridnode got %s=%q (set: %v), want %q", k, got, ok, v)
		}
	}
	for k := range r.env {
		if _, ok := given[k]; !ok && !slices.Contains([]string{"PWD", "OLDPWD", "SHLVL", "_"}, k) {
			t.Errorf("hybridnode got %s, which the script added to the environment", k)
		}
	}
}

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("%s holds %v after the script: the temporary directory was not removed", dir, entries)
	}
}

func shells(t *testing.T) []string {
	var out []string
	for _, s := range []string{"bash", "dash"} {
		p, err := exec.LookPath(s)
		if err != nil {
			if s == "dash" {
				t.Logf("dash is not installed (apt-get install -y dash): dash runs skipped")
				continue
			}
			t.Fatalf("%s is required", s)
		}
		out = append(out, p)
	}
	return out
}

func TestAddNodeScript(t *testing.T) {
	amd64, arm64 := fakeBinary(t, "amd64"), fakeBinary(t, "arm64")
	good := map[string][]byte{"/hybridnode-linux-amd64": amd64, "/hybridnode-linux-arm64": arm64}
	curl := append(slices.Clone(coreTools), "sha256sum", "curl")

	// setup serves files, renders the script for that server (or baseURL
	// when not empty) and writes it into the host.
	setup := func(t *testing.T, files map[string][]byte, baseURL string) (host, *release, string) {
		h := newHost(t)
		rel := serve(t, files)
		if baseURL == "" {
			baseURL = rel.URL
		}
		script := filepath.Join(h.dir, "add-node.sh")
		if err := os.WriteFile(script, render(t, "add-node.sh.in", baseURL, sum(amd64), sum(arm64)), 0o644); err != nil {
			t.Fatal(err)
		}
		return h, rel, script
	}

	for _, shell := range shells(t) {
		t.Run(filepath.Base(shell), func(t *testing.T) {
			t.Run("downloads, verifies, installs and execs join, as a file", func(t *testing.T) {
				t.Parallel()
				h, rel, script := setup(t, good, "")
				env := h.env(toolPath(t, "x86_64", curl...))
				r := run(t, shell, script, false, env, "--skip-phases", "preflight")
				r.wantJoined(t, "amd64", env, "--skip-phases", "preflight")
				if n := rel.requests.Load(); n != 1 {
					t.Errorf("%d requests, want 1", n)
				}
				fi, err := os.Stat(h.install)
				if err != nil || fi.Mode().Perm() != 0o755 {
					t.Fatalf("installed binary: %v, %v", fi, err)
				}
				if b, _ := os.ReadFile(h.install); !bytes.Equal(b, amd64) {
					t.Error("the installed binary is not the release's")
				}
				emptyDir(t, h.tmp)
			})
			t.Run("piped on stdin like curl -fsSL URL | bash", func(t *testing.T) {
				t.Parallel()
				h, _, script := setup(t, good, "")
				env := h.env(toolPath(t, "x86_64", curl...))
				run(t, shell, script, true, env).wantJoined(t, "amd64", env)
				emptyDir(t, h.tmp)
			})
			t.Run("aarch64 gets the arm64 binary", func(t *testing.T) {
				t.Parallel()
				h, _, script := setup(t, good, "")
				env := h.env(toolPath(t, "aarch64", curl...))
				run(t, shell, script, false, env).wantJoined(t, "arm64", env)
			})
			t.Run("baked binary with the release's sha256: no download", func(t *testing.T) {
				t.Parallel()
				h, rel, script := setup(t, good, "")
				writeExec(t, h.baked, amd64)
				env := h.env(toolPath(t, "x86_64", curl...))
				r := run(t, shell, script, false, env)
				r.wantJoined(t, "amd64", env)
				if n := rel.requests.Load(); n != 0 {
					t.Errorf("%d requests, want none", n)
				}
				if !strings.Contains(r.stdout, "using "+h.baked) {
					t.Errorf("stdout does not say it uses %s:\n%s", h.baked, r.stdout)
				}
				if _, err := os.Stat(h.install); err == nil {
					t.Errorf("%s written although the baked binary was used", h.install)
				}
			})
			t.Run("binary of an earlier run: no download", func(t *testing.T) {
				t.Parallel()
				h, rel, script := setup(t, good, "")
				writeExec(t, h.install, amd64)
				env := h.env(toolPath(t, "x86_64", curl...))
				run(t, shell, script, false, env).wantJoined(t, "amd64", env)
				if n := rel.requests.Load(); n != 0 {
					t.Errorf("%d requests, want none", n)
				}
			})
			t.Run("baked binary of another release: downloads", func(t *testing.T) {
				t.Parallel()
				h, rel, script := setup(t, good, "")
				writeExec(t, h.baked, []byte("#!/bin/sh\necho old release\n"))
				env := h.env(toolPath(t, "x86_64", curl...))
				r := run(t, shell, script, false, env)
				r.wantJoined(t, "amd64", env)
				if n := rel.requests.Load(); n != 1 {
					t.Errorf("%d requests, want 1", n)
				}
				if !strings.Contains(r.stdout, h.baked+" is not hybridnode") {
					t.Errorf("stdout does not say why %s was not used:\n%s", h.baked, r.stdout)
				}
			})
			t.Run("wrong checksum: exit 13", func(t *testing.T) {
				t.Parallel()
				h, rel, script := setup(t, map[string][]byte{"/hybridnode-linux-amd64": arm64}, "")
				env := h.env(toolPath(t, "x86_64", curl...))
				r := run(t, shell, script, false, env)
				r.wantFailure(t, 13, "sha256 mismatch: got "+sum(arm64)+", want "+sum(amd64), rel.URL+"/hybridnode-linux-amd64")
				emptyDir(t, h.tmp)
				if _, err := os.Stat(h.install); err == nil {
					t.Errorf("%s written although its checksum is wrong", h.install)
				}
			})
			t.Run("unreachable URL: exit 12 after 5 attempts", func(t *testing.T) {
				t.Parallel()
				base := closedURL(t)
				h, _, script := setup(t, good, base)
				env := h.env(toolPath(t, "x86_64", curl...))
				r := run(t, shell, script, false, env)
				r.wantFailure(t, 12, "download failed after 5 attempts (curl: (7) ", base+"/hybridnode-linux-amd64")
				if n := strings.Count(r.stdout, "downloading "+base+"/hybridnode-linux-amd64 with curl (attempt "); n != 5 {
					t.Errorf("%d attempts, want 5:\n%s", n, r.stdout)
				}
				emptyDir(t, h.tmp)
			})
			t.Run("missing file on the server: exit 12, attempts from the environment", func(t *testing.T) {
				t.Parallel()
				h, rel, script := setup(t, map[string][]byte{}, "")
				env := h.env(toolPath(t, "x86_64", curl...), "HYBRIDNODE_BOOTSTRAP_ATTEMPTS=2")
				r := run(t, shell, script, false, env)
				r.wantFailure(t, 12, "download failed after 2 attempts (curl: (22) ", rel.URL+"/hybridnode-linux-amd64")
				if n := rel.requests.Load(); n != 2 {
					t.Errorf("%d requests, want 2", n)
				}
			})
			t.Run("HYBRIDNODE_BINARY_URL overrides the release URL", func(t *testing.T) {
				t.Parallel()
				h, rel, script := setup(t, good, closedURL(t))
				env := h.env(toolPath(t, "x86_64", curl...), "HYBRIDNODE_BINARY_URL="+rel.URL+"/hybridnode-linux-amd64")
				run(t, shell, script, false, env).wantJoined(t, "amd64", env)
			})
			t.Run("unknown architecture: exit 10", func(t *testing.T) {
				t.Parallel()
				h, rel, script := setup(t, good, "")
				env := h.env(toolPath(t, "riscv64", curl...))
				r := run(t, shell, script, false, env)
				r.wantFailure(t, 10, "unsupported architecture 'riscv64' (uname -m)", rel.URL)
				if n := rel.requests.Load(); n != 0 {
					t.Errorf("%d requests, want none", n)
				}
			})
			t.Run("wget but no curl", func(t *testing.T) {
				t.Parallel()
				h, rel, script := setup(t, good, "")
				env := h.env(toolPath(t, "x86_64", append(slices.Clone(coreTools), "sha256sum", "wget")...))
				r := run(t, shell, script, false, env)
				r.wantJoined(t, "amd64", env)
				if !strings.Contains(r.stdout, "with wget") || rel.requests.Load() != 1 {
					t.Errorf("not downloaded with wget:\n%s", r.stdout)
				}
			})
			t.Run("wget, unreachable: exit 12", func(t *testing.T) {
				t.Parallel()
				base := closedURL(t)
				h, _, script := setup(t, good, base)
				env := h.env(toolPath(t, "x86_64", append(slices.Clone(coreTools), "sha256sum", "wget")...), "HYBRIDNODE_BOOTSTRAP_ATTEMPTS=3")
				run(t, shell, script, false, env).wantFailure(t, 12, "download failed after 3 attempts (wget exit code 4)", base+"/hybridnode-linux-amd64")
			})
			t.Run("neither curl nor wget: exit 11", func(t *testing.T) {
				t.Parallel()
				h, rel, script := setup(t, good, "")
				env := h.env(toolPath(t, "x86_64", append(slices.Clone(coreTools), "sha256sum")...))
				run(t, shell, script, false, env).wantFailure(t, 11, "neither curl nor wget found", rel.URL+"/hybridnode-linux-amd64")
			})
			t.Run("openssl when there is no sha256sum", func(t *testing.T) {
				t.Parallel()
				h, _, script := setup(t, good, "")
				env := h.env(toolPath(t, "x86_64", append(slices.Clone(coreTools), "openssl", "curl")...))
				run(t, shell, script, false, env).wantJoined(t, "amd64", env)
			})
			t.Run("neither sha256sum nor openssl: exit 14", func(t *testing.T) {
				t.Parallel()
				h, rel, script := setup(t, good, "")
				env := h.env(toolPath(t, "x86_64", append(slices.Clone(coreTools), "curl")...))
				run(t, shell, script, false, env).wantFailure(t, 14, "neither sha256sum nor openssl found", rel.URL+"/hybridnode-linux-amd64")
			})
			t.Run("no temporary directory: exit 15", func(t *testing.T) {
				t.Parallel()
				h, rel, script := setup(t, good, "")
				env := h.env(toolPath(t, "x86_64", curl...), "TMPDIR="+filepath.Join(h.dir, "missing"))
				run(t, shell, script, false, env).wantFailure(t, 15, "cannot create a private temporary directory in "+filepath.Join(h.dir, "missing"), rel.URL+"/hybridnode-linux-amd64")
			})
		})
	}
}

func writeExec(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// The template is POSIX sh and keeps every knob documented in its header.
func TestAddNodeTemplate(t *testing.T) {
	b, err := os.ReadFile("add-node.sh.in")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for code := 10; code <= 15; code++ {
		if !strings.Contains(s, fmt.Sprintf("#   %d  ", code)) || !strings.Contains(s, fmt.Sprintf("hn_fail %d ", code)) {
			t.Errorf("exit code %d is not both documented in the header and used", code)
		}
	}
	for _, v := range []string{"HYBRIDNODE_BINARY_URL", "HYBRIDNODE_BOOTSTRAP_ATTEMPTS", "HYBRIDNODE_BOOTSTRAP_WAIT", "HYBRIDNODE_BOOTSTRAP_BAKED", "HYBRIDNODE_BOOTSTRAP_INSTALL"} {
		if strings.Count(s, v) < 2 {
			t.Errorf("%s is not both documented and used", v)
		}
	}
	for _, bad := range []string{"set -x", "HYBRIDNODE_TOKEN", "printenv", "\nenv", " env ", "export "} {
		if strings.Contains(s, bad) {
			t.Errorf("the script contains %q: it must not print or touch the environment", bad)
		}
	}
	if !strings.HasSuffix(s, "\nhn_main \"$@\"\n") {
		t.Error("the last line must be hn_main \"$@\", so that a script cut short in a pipe runs nothing")
	}
	if sh, err := exec.LookPath("dash"); err == nil {
		if out, err := exec.Command(sh, "-n", "add-node.sh.in").CombinedOutput(); err != nil {
			t.Errorf("dash -n: %v: %s", err, out)
		}
	}
}

func TestRenderRefuses(t *testing.T) {
	good := strings.Repeat("a", 64)
	for _, c := range []struct{ name, url, version, amd64 string }{
		{"no scheme", "example.com/hn", "v1", good},
		{"ftp", "ftp://example.com/hn", "v1", good},
		{"quote", "https://example.com/h'n", "v1", good},
		{"space", "https://example.com/h n", "v1", good},
		{"ampersand", "https://example.com/h&n", "v1", good},
		{"bad version", "https://example.com/hn", "v1;rm", good},
		{"short sum", "https://example.com/hn", "v1", "abc"},
		{"upper-case sum", "https://example.com/hn", "v1", strings.Repeat("A", 64)},
	} {
		out, err := exec.Command("sh", "render.sh", "add-node.sh.in", c.url, c.version, c.amd64, good).CombinedOutput()
		if err == nil {
			t.Errorf("%s: rendered, want refused", c.name)
		} else if !strings.HasPrefix(string(out), "render.sh: ") || strings.Count(string(out), "\n") != 1 {
			t.Errorf("%s: output %q, want one line naming render.sh", c.name, out)
		}
	}
	out := render(t, "add-node.sh.in", "https://bucket.oss-cn-hangzhou.aliyuncs.com/hn/v1/", good, strings.Repeat("b", 64))
	if !bytes.Contains(out, []byte("\nhn_base_url='https://bucket.oss-cn-hangzhou.aliyuncs.com/hn/v1'\n")) {
		t.Error("the base URL is not in the script, without its trailing slash")
	}
	if bytes.Contains(out, []byte("@HN_")) {
		t.Error("a placeholder is left")
	}
}

func TestPackageVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3":                  "1.2.3",
		"v1.2.3-rc.1":             "1.2.3-rc.1",
		"v1.2.3-4-gabc1234":       "1.2.3+4.gabc1234",
		"v1.2.3-4-gabc1234-dirty": "1.2.3+4.gabc1234.dirty",
		"abc1234":                 "0.0.0+gitabc1234",
		"abc1234-dirty":           "0.0.0+gitabc1234.dirty",
	} {
		out, err := exec.Command("sh", "pkg-version.sh", in).Output()
		if got := strings.TrimSpace(string(out)); err != nil || got != want {
			t.Errorf("pkg-version.sh %s = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestNodePoolScriptProxy: a node-pool script whose settings hold a proxy
// downloads the binary through it, from an artifact host only the proxy
// reaches (.invalid never resolves), and never prints its user:password.
func TestNodePoolScriptProxy(t *testing.T) {
	amd64, arm64 := fakeBinary(t, "amd64"), fakeBinary(t, "arm64")
	files := map[string][]byte{"/hybridnode-linux-amd64": amd64, "/hybridnode-linux-arm64": arm64}
	handler := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, ok := files[strings.TrimPrefix(req.URL.Path, "/hn")]
		if !ok || req.URL.Host != "artifacts.invalid" {
			http.NotFound(w, req)
			return
		}
		_, _ = w.Write(body)
	})
	const base = "http://artifacts.invalid/hn"
	const user, password = "pooluser", "s3cret-pw"
	release := render(t, "add-node.sh.in", base, sum(amd64), sum(arm64))
	comment := []string{"node pool np1, bootstrap token abcdef"}
	script := func(t *testing.T, h host, proxy packaging.PoolProxy) string {
		t.Helper()
		b, err := packaging.NodePoolScript(release, comment, []byte(poolSettings), proxy)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(h.dir, "add-node.sh")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	want := base + "/hybridnode-linux-amd64"
	saw := func(t *testing.T, px *proxytest.Proxy, n int) []proxytest.Request {
		t.Helper()
		reqs := px.Requests()
		if len(reqs) != n {
			t.Fatalf("the proxy saw %d requests, want %d: %v", len(reqs), n, reqs)
		}
		for _, r := range reqs {
			if r.URL != want {
				t.Errorf("the proxy was asked for %s, want %s", r.URL, want)
			}
		}
		return reqs
	}
	noSecret := func(t *testing.T, r result) {
		t.Helper()
		for _, s := range []string{password, user + ":"} {
			if strings.Contains(r.stdout+r.stderr, s) {
				t.Errorf("the output holds the proxy's credentials (%q):\nstdout:\n%s\nstderr:\n%s", s, r.stdout, r.stderr)
			}
		}
	}
	for _, sh := range shells(t) {
		for _, dl := range []string{"curl", "wget"} {
			tools := append(slices.Clone(coreTools), "sha256sum", dl)
			t.Run(filepath.Base(sh)+"/"+dl, func(t *testing.T) {
				t.Run("through the pool's httpProxy, with credentials", func(t *testing.T) {
					t.Parallel()
					px := proxytest.New(t, handler)
					h := newHost(t)
					p := script(t, h, packaging.PoolProxy{HTTP: px.URL(user, password).String(), No: "localhost,.example.internal"})
					env := h.env(toolPath(t, "x86_64", tools...), "HYBRIDNODE_BOOTSTRAP_CONFIG_D="+filepath.Join(h.dir, "config.d"))
					r := run(t, sh, p, false, env)
					r.wantJoined(t, "amd64", env)
					reqs := saw(t, px, 1)
					if dl == "curl" && !strings.HasPrefix(reqs[0].Auth, "Basic ") {
						t.Errorf("curl sent Proxy-Authorization %q, want Basic", reqs[0].Auth)
					}
					noSecret(t, r)
					if !strings.Contains(r.stdout, "http_proxy=http://[REDACTED]@"+px.Listener.Addr().String()) {
						t.Errorf("stdout does not name the proxy, redacted:\n%s", r.stdout)
					}
				})
				t.Run("the environment's HTTP_PROXY wins, as in hybridnode", func(t *testing.T) {
					t.Parallel()
					px := proxytest.New(t, handler)
					h := newHost(t)
					p := script(t, h, packaging.PoolProxy{HTTP: closedURL(t)})
					env := h.env(toolPath(t, "x86_64", tools...), "HYBRIDNODE_BOOTSTRAP_CONFIG_D="+filepath.Join(h.dir, "config.d"), "HTTP_PROXY="+px.URL("", "").String())
					run(t, sh, p, false, env).wantJoined(t, "amd64", env)
					saw(t, px, 1)
				})
				t.Run("unreachable proxy with credentials: exit 12, no credentials printed", func(t *testing.T) {
					t.Parallel()
					h := newHost(t)
					dead := strings.Replace(closedURL(t), "http://", "http://"+user+":"+password+"@", 1)
					p := script(t, h, packaging.PoolProxy{HTTP: dead, HTTPS: dead})
					env := h.env(toolPath(t, "x86_64", tools...), "HYBRIDNODE_BOOTSTRAP_CONFIG_D="+filepath.Join(h.dir, "config.d"), "HYBRIDNODE_BOOTSTRAP_ATTEMPTS=2")
					r := run(t, sh, p, false, env)
					r.wantFailure(t, 12, "download failed after 2 attempts (", want)
					noSecret(t, r)
				})
				t.Run("no proxy settings: no proxy", func(t *testing.T) {
					t.Parallel()
					px := proxytest.New(t, handler)
					h := newHost(t)
					p := script(t, h, packaging.PoolProxy{})
					env := h.env(toolPath(t, "x86_64", tools...), "HYBRIDNODE_BOOTSTRAP_CONFIG_D="+filepath.Join(h.dir, "config.d"), "HYBRIDNODE_BOOTSTRAP_ATTEMPTS=1")
					r := run(t, sh, p, false, env)
					r.wantFailure(t, 12, "download failed after 1 attempts (", want)
					saw(t, px, 0)
					if strings.Contains(r.stdout, "proxy settings") {
						t.Errorf("stdout mentions a proxy:\n%s", r.stdout)
					}
				})
			})
		}
	}
}
