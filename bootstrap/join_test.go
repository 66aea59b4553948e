package bootstrap

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hybridnode/hybridnode/bootstrap/command"
	"github.com/hybridnode/hybridnode/bootstrap/command/commandtest"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/containerd"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs/hostfstest"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/bootstrap/systemd/systemdtest"
)

const (
	testToken = "abcdef.0123456789abcdef"
	testHash  = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// artifactServer serves a real artifact tree on loopback and counts requests.
type artifactServer struct {
	*httptest.Server
	files    map[string][]byte
	requests atomic.Int64
	// fault, when set, may answer a request itself (it returns true).
	fault atomic.Pointer[func(w http.ResponseWriter, r *http.Request, rel string) bool]
}

// setFault makes f answer requests (nil: serve normally again).
func (a *artifactServer) setFault(f func(w http.ResponseWriter, r *http.Request, rel string) bool) {
	if f == nil {
		a.fault.Store(nil)
		return
	}
	a.fault.Store(&f)
}

func tarGz(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(files[n]))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// newArtifactServer serves what the default test spec asks for; version
// changes the content, as a new release would.
func newArtifactServer(t testing.TB, release string) *artifactServer {
	t.Helper()
	a := &artifactServer{files: map[string][]byte{
		"kubernetes/v1.37.1/bin/linux/amd64/kubelet": []byte("#!/bin/sh\necho kubelet " + release + "\n"),
		"kubernetes/v1.37.1/bin/linux/amd64/kubeadm": []byte("#!/bin/sh\necho kubeadm " + release + "\n"),
		"cri-tools/v1.37.0/bin/linux/amd64/crictl":   []byte("#!/bin/sh\necho crictl " + release + "\n"),
		"runc/v1.1.5/runc.amd64":                     []byte("#!/bin/sh\necho runc " + release + "\n"),
		"containerd/v2.2.0/containerd-2.2.0-linux-amd64.tar.gz": tarGz(t, map[string]string{
			"bin/containerd":              "containerd " + release,
			"bin/containerd-shim-runc-v2": "shim " + release,
			"bin/ctr":                     "ctr " + release,
			"bin/containerd-stress":       "not installed",
		}),
	}}
	a.files["SHA256SUMS"] = sums(a.files)
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.requests.Add(1)
		rel := strings.TrimPrefix(r.URL.Path, "/")
		if f := a.fault.Load(); f != nil && (*f)(w, r, rel) {
			return
		}
		data, ok := a.files[rel]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	t.Cleanup(a.Close)
	return a
}

func sums(files map[string][]byte) []byte {
	var names []string
	for n := range files {
		if n != "SHA256SUMS" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		s := sha256.Sum256(files[n])
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(s[:]), n)
	}
	return []byte(b.String())
}

// fakeHost is a temp root that looks like a Debian host booted with
// systemd on cgroup v1, plus recording fakes for every seam.
type fakeHost struct {
	root    string
	sd      *systemdtest.Fake
	cmd     *commandtest.Fake
	logs    *observer.ObservedLogs
	log     *zap.Logger
	waits   atomic.Int64
	joinCfg []byte // the JoinConfiguration kubeadm saw
}

func newFakeHost(t testing.TB) *fakeHost {
	t.Helper()
	return newFakeHostAt(t, t.TempDir())
}

// newFakeHostAt is newFakeHost on an existing root directory, empty or
// the disk of an earlier run (its host files are kept).
func newFakeHostAt(t testing.TB, root string) *fakeHost {
	t.Helper()
	h := &fakeHost{root: root, sd: systemdtest.New(), cmd: &commandtest.Fake{}}
	core, logs := observer.New(zap.DebugLevel)
	h.log, h.logs = zap.New(core), logs
	for p, content := range map[string]string{
		"/etc/os-release":   "ID=debian\nVERSION_ID=12\n",
		"/etc/hostname":     "node-a\n",
		"/etc/fstab":        "UUID=1 / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n",
		"/proc/1/comm":      "systemd\n",
		"/proc/net/tcp":     "  sl  local_address rem_address   st\n   0: 0100007F:0CEA 00000000:0000 0A\n",
		"/proc/swaps":       "Filename Type Size Used Priority\n/swapfile file 1024 0 -2\n",
		"/proc/filesystems": "nodev\tcgroup\nnodev\toverlay\n",
		"/proc/sys/net/bridge/bridge-nf-call-iptables":  "0\n",
		"/proc/sys/net/bridge/bridge-nf-call-ip6tables": "1\n",
		"/proc/sys/net/ipv4/ip_forward":                 "0\n",
		"/sys/fs/cgroup/cpu/.keep":                      "",
	} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			continue // a disk an earlier (killed) run worked on
		}
		h.write(t, p, content)
	}
	h.cmd.On("kubeadm", func(c command.Cmd) (command.Result, error) { return h.kubeadm(t, c) })
	t.Cleanup(func() { h.scanForToken(t) })
	return h
}

// scanForToken fails the test when the token's secret is in any log entry
// (message or field), in any command's arguments or environment, or in any
// file under the root but the 0600 files meant to hold it: every test on a
// fake host is a secret scan.
func (h *fakeHost) scanForToken(t testing.TB) {
	secret := testToken[strings.Index(testToken, ".")+1:]
	for _, e := range h.logs.All() {
		line := e.Message
		for _, f := range e.Context {
			line += fmt.Sprintf(" %s=%s %v", f.Key, f.String, f.Interface)
		}
		if strings.Contains(line, secret) {
			t.Errorf("token in a log entry: %q", e.Message)
		}
	}
	for _, c := range h.cmd.History() {
		if strings.Contains(strings.Join(append(append([]string{c.Name}, c.Args...), c.Env...), " "), secret) {
			t.Errorf("token on a command line or in its environment: %s", c.Name)
		}
	}
	filepath.WalkDir(h.root, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() || p == filepath.Join(h.root, joinConfigPath) {
			return nil
		}
		if data, err := os.ReadFile(p); err == nil && strings.Contains(string(data), secret) {
			t.Errorf("token in %s", strings.TrimPrefix(p, h.root))
		}
		return nil
	})
}

// kubeadm is the fake kubeadm: join reads its --config and writes
// kubelet.conf, as the real one does.
func (h *fakeHost) kubeadm(t testing.TB, c command.Cmd) (command.Result, error) {
	if c.Args[0] == "join" {
		data, err := os.ReadFile(filepath.Join(h.root, c.Args[2]))
		if err != nil {
			return command.Result{ExitCode: 1}, err
		}
		h.joinCfg = data
		h.write(t, "/var/lib/kubelet/pki/kubelet-client-current.pem", clientPEM(t, "system:node:cn-hangzhou.10.10.24.7"))
		h.write(t, "/etc/kubernetes/kubelet.conf", "clusters:\n- cluster:\n    server: https://10.0.0.10:6443\nusers:\n- user:\n    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem\n")
	}
	return command.Result{Stdout: []byte("This node has joined the cluster\n")}, nil
}

// noSecret fails when secret is on a command line or in a command's
// environment, in a log entry, or in the report.
func (h *fakeHost) noSecret(t testing.TB, secret string) {
	t.Helper()
	for _, c := range h.cmd.History() {
		if strings.Contains(strings.Join(append(append([]string{c.Name}, c.Args...), c.Env...), " "), secret) {
			t.Errorf("the token on a command line: %s", c)
		}
	}
	for _, entry := range h.logs.All() {
		if strings.Contains(fmt.Sprint(entry.Message, entry.ContextMap()), secret) {
			t.Errorf("the token in a log entry: %s", entry.Message)
		}
	}
	if rep, err := os.ReadFile(filepath.Join(h.root, hoststate.ReportPath)); err == nil && strings.Contains(string(rep), secret) {
		t.Error("the token in the report")
	}
}

// clientPEM is a self-signed client certificate and its key in one PEM,
// as kubelet keeps them in kubelet-client-current.pem.
func clientPEM(t testing.TB, cn string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})) + string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}

func (h *fakeHost) write(t testing.TB, p, content string) {
	t.Helper()
	full := filepath.Join(h.root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (h *fakeHost) read(t testing.TB, p string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(h.root, p))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// testSpecEnv resolves a test configuration, with extra variables added or
// replaced, and the install record of the host f as the CLI reads it.
func testSpecEnv(t testing.TB, f hostfs.FS, artifactURL string, extra map[string]string) (*config.Loaded, *config.Spec) {
	t.Helper()
	env := map[string]string{
		"ALIBABA_CLOUD_PROVIDER_ID":      "cn-hangzhou.i-bp1abc",
		"ALIBABA_CLOUD_NODE_NAME":        "cn-hangzhou.10.10.24.7",
		"ALIBABA_CLOUD_LABELS":           "alibabacloud.com/nodepool-id=np1,alibabacloud.com/external=true,workload=cpu",
		"ALIBABA_CLOUD_TAINTS":           "workload=ack:NoSchedule",
		"HYBRIDNODE_API_SERVER_ENDPOINT": "10.0.0.10:6443",
		"HYBRIDNODE_TOKEN":               testToken,
		"HYBRIDNODE_CA_CERT_HASHES":      testHash,
		"HYBRIDNODE_ARTIFACT_URL":        artifactURL,
		"HYBRIDNODE_RUNC_VERSION":        "v1.1.5",
		"HYBRIDNODE_REGISTRY_MIRRORS":    "registry.k8s.io=http://127.0.0.1:5000",
		// No test reaches 10.0.0.10: the tests of the kube-proxy phase set
		// auto and the loopback fake API server (kubeproxy_test.go).
		"HYBRIDNODE_KUBE_PROXY_MODE": "iptables",
	}
	for k, v := range extra {
		env[k] = v
	}
	l, s, err := config.Resolve(config.ResolveOptions{
		ReadFile:      func(string) ([]byte, error) { return nil, os.ErrNotExist },
		LookupEnv:     func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Hostname:      "node-a",
		Installed:     hoststate.InstalledVersions(f),
		InstalledFrom: hoststate.InstalledPath,
		Join:          true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return l, s
}

// node assembles a live node over the fake host; fs may wrap the real
// root FS (a write counter).
func (h *fakeHost) node(t testing.TB, artifactURL string, wrap func(hostfs.FS) hostfs.FS) *Node {
	t.Helper()
	return h.nodeEnv(t, artifactURL, nil, wrap)
}

// nodeEnv is node with more (or other) configuration variables.
func (h *fakeHost) nodeEnv(t testing.TB, artifactURL string, extra map[string]string, wrap func(hostfs.FS) hostfs.FS) *Node {
	t.Helper()
	env, err := NewEnv(h.root)
	if err != nil {
		t.Fatal(err)
	}
	l, s := testSpecEnv(t, env.FS, artifactURL, extra)
	return h.assemble(t, env, l, s, wrap)
}

// assemble is the live node of a resolved configuration over the fake
// host, with its fakes; fs may wrap the real root FS.
func (h *fakeHost) assemble(t testing.TB, env Env, l *config.Loaded, s *config.Spec, wrap func(hostfs.FS) hostfs.FS) *Node {
	t.Helper()
	n := env.Node(l, s, h.log)
	n.Live = true // the fakes stand in for a running host
	if wrap != nil {
		n.FS = wrap(n.FS)
	}
	n.Systemd, n.Cmd = h.sd, h.cmd
	n.WaitContainerd = func(ctx context.Context, socket string) (containerd.Info, error) {
		h.waits.Add(1)
		return containerd.Info{Version: "v2.2.0"}, nil
	}
	n.Report = NewReport("test", "join", n.now(), s.Token.Reveal())
	return n
}

func init() { geteuid = func() int { return 0 } }

func TestJoinWholeNode(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	ran, err := Execute(context.Background(), h.node(t, srv.URL, nil), Phases(), ExecuteOptions{Join: true})
	if err != nil || !ran {
		t.Fatalf("join: ran=%v err=%v", ran, err)
	}

	// Binaries, from the server, executable.
	for p, want := range map[string]string{
		"/usr/local/bin/kubelet":                 "echo kubelet r1",
		"/usr/local/bin/kubeadm":                 "echo kubeadm r1",
		"/usr/local/bin/crictl":                  "echo crictl r1",
		"/usr/local/sbin/runc":                   "echo runc r1",
		"/usr/local/bin/containerd":              "containerd r1",
		"/usr/local/bin/containerd-shim-runc-v2": "shim r1",
		"/usr/local/bin/ctr":                     "ctr r1",
	} {
		if got := h.read(t, p); !strings.Contains(got, want) {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
		if fi, _ := os.Stat(filepath.Join(h.root, p)); fi.Mode().Perm() != 0o755 {
			t.Errorf("%s mode %v", p, fi.Mode())
		}
	}
	if _, err := os.Stat(filepath.Join(h.root, "/usr/local/bin/containerd-stress")); err == nil {
		t.Error("an unlisted tarball member was installed")
	}
	// Host preparation.
	for p, want := range map[string]string{
		"/etc/modules-load.d/hybridnode.conf":                     "br_netfilter",
		"/etc/sysctl.d/99-hybridnode.conf":                        "net.ipv4.ip_forward = 1",
		"/etc/fstab":                                              "#/swapfile none swap sw 0 0",
		"/etc/containerd/config.toml":                             "SystemdCgroup = true",
		"/etc/containerd/certs.d/registry.k8s.io/hosts.toml":      "http://127.0.0.1:5000",
		"/lib/systemd/system/containerd.service":                  "ExecStart=/usr/local/bin/containerd",
		"/lib/systemd/system/kubelet.service":                     "ExecStart=/usr/local/bin/kubelet",
		"/lib/systemd/system/kubelet.service.d/10-kubeadm.conf":   "EnvironmentFile=-/etc/default/kubelet",
		"/etc/hybridnode/patches/kubeletconfiguration+merge.yaml": "failCgroupV1: false",
		"/etc/crictl.yaml":                                        "runtime-endpoint: unix:///run/containerd/containerd.sock",
		"/var/lib/hybridnode/installed.json":                      `"kubernetes": "v1.37.1"`,
	} {
		if got := h.read(t, p); !strings.Contains(got, want) {
			t.Errorf("%s lacks %q:\n%s", p, want, got)
		}
	}
	if !strings.Contains(h.read(t, "/etc/containerd/config.toml"), "registry.k8s.io/pause:3.10.2") {
		t.Error("containerd config lacks kubeadm 1.37's sandbox image")
	}

	// Commands: modules were present, two sysctls were stale, swap was on;
	// one kubeadm join with --config and no token anywhere in argv or env.
	// Beside them (in the background, so in no fixed place) crictl finds
	// the sandbox image present.
	var lines, crictl []string
	for _, c := range h.cmd.History() {
		if c.Name == crictlPath {
			crictl = append(crictl, c.String())
			continue
		}
		lines = append(lines, c.String())
	}
	if want := []string{crictlPath + " inspecti registry.k8s.io/pause:3.10.2"}; !slices.Equal(crictl, want) {
		t.Errorf("crictl calls %q, want %q", crictl, want)
	}
	want := []string{"sysctl -p /etc/sysctl.d/99-hybridnode.conf", "swapoff -a", "kubeadm join --config /etc/hybridnode/kubeadm-join.yaml"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("commands:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	// What kubeadm was given: the node's identity, the token, the cgroup v1 allowance.
	for _, want := range []string{"name: cn-hangzhou.10.10.24.7", "token: " + testToken, "value: cn-hangzhou.i-bp1abc",
		"value: alibabacloud.com/nodepool-id=np1,alibabacloud.com/external=true,workload=cpu", "key: workload", "effect: NoSchedule",
		"- SystemVerification", "directory: /etc/hybridnode/patches", "kubeadm.k8s.io/v1beta4"} {
		if !bytes.Contains(h.joinCfg, []byte(want)) {
			t.Errorf("JoinConfiguration lacks %q:\n%s", want, h.joinCfg)
		}
	}
	// The token-bearing file is gone after the join.
	if _, err := os.Stat(filepath.Join(h.root, joinConfigPath)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left behind: %v", joinConfigPath, err)
	}

	// Services: containerd enabled and started once; kubelet enabled, not started.
	if h.sd.Starts(hoststate.ContainerdUnit) != 1 || h.sd.Restarts(hoststate.ContainerdUnit) != 0 || !h.sd.Enabled(hoststate.ContainerdUnit) {
		t.Errorf("containerd: %v", h.sd.History())
	}
	if h.sd.Starts(hoststate.KubeletUnit) != 0 || !h.sd.Enabled(hoststate.KubeletUnit) {
		t.Errorf("kubelet: %v", h.sd.History())
	}
	if h.waits.Load() != 1 {
		t.Errorf("waited for containerd %d times", h.waits.Load())
	}

	// The report: result, phases, and no token.
	raw := h.read(t, hoststate.ReportPath)
	var rep Report
	if err := json.Unmarshal([]byte(raw), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Result != "succeeded" || rep.ExitCode != 0 || len(rep.Phases) != 8 || rep.Versions["kubernetes"] != "v1.37.1" {
		t.Errorf("report: %s", raw)
	}
	h.noSecret(t, testToken)

	// A second run on the joined node: no write, no restart, no command, no download.
	before := srv.requests.Load()
	calls := len(h.cmd.History())
	sdCalls := len(h.sd.History())
	var counter *hostfstest.Counter
	n2 := h.node(t, srv.URL, func(f hostfs.FS) hostfs.FS { counter = hostfstest.Counting(f); return counter })
	ran, err = Execute(context.Background(), n2, Phases(), ExecuteOptions{Join: true})
	if err != nil || ran {
		t.Fatalf("second join: ran=%v err=%v", ran, err)
	}
	if counter.Total() != 0 || srv.requests.Load() != before || len(h.cmd.History()) != calls || len(h.sd.History()) != sdCalls {
		t.Errorf("second run changed things: writes %v, requests %d, commands %d, systemd %v",
			counter.Writes(), srv.requests.Load()-before, len(h.cmd.History())-calls, h.sd.History()[sdCalls:])
	}
}

// TestInstallTwice: `install` again on an unchanged node downloads
// nothing but SHA256SUMS, rewrites nothing but its report, and restarts nothing; a new
// release restarts containerd exactly once.
func TestInstallTwice(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	if _, err := Execute(context.Background(), h.node(t, srv.URL, nil), InstallPhases(), ExecuteOptions{}); err != nil {
		t.Fatal(err)
	}
	before := srv.requests.Load()
	var counter *hostfstest.Counter
	n := h.node(t, srv.URL, func(f hostfs.FS) hostfs.FS { counter = hostfstest.Counting(f); return counter })
	if _, err := Execute(context.Background(), n, InstallPhases(), ExecuteOptions{}); err != nil {
		t.Fatal(err)
	}
	writes := counter.Writes()
	delete(writes, hoststate.ReportPath)
	if len(writes) != 0 || srv.requests.Load() != before+1 {
		t.Errorf("second install: writes %v, %d requests (want only SHA256SUMS)", writes, srv.requests.Load()-before)
	}
	if h.sd.Restarts(hoststate.ContainerdUnit) != 0 || h.sd.Starts(hoststate.ContainerdUnit) != 1 {
		t.Errorf("systemd: %v", h.sd.History())
	}

	// A new containerd release at the same version path: containerd restarts.
	srv2 := newArtifactServer(t, "r2")
	if _, err := Execute(context.Background(), h.node(t, srv2.URL, nil), InstallPhases(), ExecuteOptions{}); err != nil {
		t.Fatal(err)
	}
	if h.sd.Restarts(hoststate.ContainerdUnit) != 1 {
		t.Errorf("containerd restarts = %d, want 1: %v", h.sd.Restarts(hoststate.ContainerdUnit), h.sd.History())
	}
	if got := h.read(t, "/usr/local/bin/containerd"); got != "containerd r2" {
		t.Errorf("containerd = %q", got)
	}
}

// TestWrongChecksum: a tampered artifact fails with the artifact exit code,
// installs nothing, and leaves earlier binaries untouched.
func TestWrongChecksum(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	srv.files["kubernetes/v1.37.1/bin/linux/amd64/kubeadm"] = []byte("tampered")
	h := newFakeHost(t)
	h.write(t, "/usr/local/bin/kubelet", "old kubelet")
	_, err := Execute(context.Background(), h.node(t, srv.URL, nil), Phases(), ExecuteOptions{Join: true})
	if ExitCode(err) != ExitArtifact || !errors.Is(err, hostfs.ErrChecksum) {
		t.Fatalf("want a checksum failure with exit %d, got %d: %v", ExitArtifact, ExitCode(err), err)
	}
	if got := h.read(t, "/usr/local/bin/kubelet"); got != "old kubelet" {
		t.Errorf("kubelet was replaced: %q", got)
	}
	for _, p := range []string{"/usr/local/bin/kubeadm", "/usr/local/bin/containerd", "/usr/local/sbin/runc", "/usr/local/bin/crictl"} {
		if _, err := os.Stat(filepath.Join(h.root, p)); err == nil {
			t.Errorf("%s installed despite the failure", p)
		}
	}
	var rep Report
	json.Unmarshal([]byte(h.read(t, hoststate.ReportPath)), &rep)
	if rep.Result != "failed" || rep.ExitCode != ExitArtifact || !strings.Contains(rep.Error, "checksum") {
		t.Errorf("report: result %s, exit %d, error %q", rep.Result, rep.ExitCode, rep.Error)
	}
	if h.sd.Starts(hoststate.ContainerdUnit) != 0 {
		t.Error("containerd started after a failed install")
	}
}

// TestJoinRetriesWithReset: a failing kubeadm join is reset and retried,
// and the final failure carries the join exit code.
func TestJoinFailureRetriesAndResets(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	h.cmd.On("kubeadm", func(c command.Cmd) (command.Result, error) {
		if c.Args[0] == "join" {
			return command.Result{ExitCode: 1, Stderr: []byte("error execution phase preflight")}, nil
		}
		return command.Result{}, nil
	})
	n := h.node(t, srv.URL, nil)
	n.Spec.JoinAttempts = 2
	n.RetryBackoff = time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := Execute(ctx, n, Phases(), ExecuteOptions{Join: true})
	if ExitCode(err) != ExitJoin {
		t.Fatalf("exit %d: %v", ExitCode(err), err)
	}
	var kubeadm []string
	for _, l := range h.cmd.Lines() {
		if strings.HasPrefix(l, "kubeadm") {
			kubeadm = append(kubeadm, l)
		}
	}
	if _, err := os.Stat(filepath.Join(h.root, joinConfigPath)); !os.IsNotExist(err) {
		t.Errorf("the token file is left after the failed join: %v", err)
	}
	// join, reset, join, and a last reset so that the next run starts clean.
	want := "kubeadm join --config /etc/hybridnode/kubeadm-join.yaml|kubeadm reset -f --cri-socket unix:///run/containerd/containerd.sock|kubeadm join --config /etc/hybridnode/kubeadm-join.yaml|kubeadm reset -f --cri-socket unix:///run/containerd/containerd.sock"
	if strings.Join(kubeadm, "|") != want {
		t.Errorf("kubeadm calls:\n%s", strings.Join(kubeadm, "\n"))
	}
}

// TestDryRunTouchesNothing: a plan on the fake host writes nothing, runs
// nothing, downloads nothing, and lists what it would do.
func TestDryRunTouchesNothing(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	var counter *hostfstest.Counter
	n := h.node(t, srv.URL, func(f hostfs.FS) hostfs.FS { counter = hostfstest.Counting(f); return counter })
	h.sd.SetLive(true)
	if _, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true, DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if counter.Total() != 0 || srv.requests.Load() != 0 || len(h.cmd.History()) != 0 || h.sd.Starts(hoststate.ContainerdUnit) != 0 {
		t.Fatalf("dry run acted: writes %v, requests %d, commands %v, systemd %v", counter.Writes(), srv.requests.Load(), h.cmd.Lines(), h.sd.History())
	}
	var out bytes.Buffer
	PrintPlan(&out, n)
	plan := out.String()
	for _, want := range []string{
		"download " + srv.URL + "/kubernetes/v1.37.1/bin/linux/amd64/kubelet",
		"write /etc/containerd/config.toml (0644)",
		"SystemdCgroup = true",
		"write /etc/hybridnode/kubeadm-join.yaml (0600)",
		"kubeadm join --config /etc/hybridnode/kubeadm-join.yaml",
		"[WARN] cgroups",
	} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q", want)
		}
	}
	if strings.Contains(plan, testToken) {
		t.Error("plan shows the token")
	}
	if t.Failed() {
		t.Log(plan)
	}
}

// blockingJoin is a kubeadm that hangs (as one waiting on a dead kubelet
// does) while systemd keeps restarting kubelet.
type blockingJoin struct {
	*commandtest.Fake
	sd *systemdtest.Fake
}

func (b blockingJoin) Run(ctx context.Context, c command.Cmd) (command.Result, error) {
	if c.Name == "kubeadm" && c.Args[0] == "join" {
		b.Fake.Run(ctx, c)
		for i := uint32(1); ; i++ {
			b.sd.SetNRestarts(hoststate.KubeletUnit, i)
			select {
			case <-ctx.Done():
				return command.Result{ExitCode: -1}, ctx.Err()
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	if c.Name == "journalctl" {
		b.Fake.Run(ctx, c)
		return command.Result{Stdout: []byte("E1122 kubelet: failed to load kubelet config file\n")}, nil
	}
	return b.Fake.Run(ctx, c)
}

// TestJoinStopsOnKubeletCrashLoop: a crash-looping kubelet ends the join
// at once, without retries, with kubelet's last log lines in the error.
func TestJoinStopsOnKubeletCrashLoop(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	n := h.node(t, srv.URL, nil)
	n.Cmd = blockingJoin{h.cmd, h.sd}
	n.KubeletPoll = time.Millisecond
	_, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true})
	if ExitCode(err) != ExitJoin || !strings.Contains(err.Error(), "failed to load kubelet config file") || !strings.Contains(err.Error(), "kubelet restarted") {
		t.Fatalf("exit %d: %v", ExitCode(err), err)
	}
	joins := 0
	for _, l := range h.cmd.Lines() {
		if strings.HasPrefix(l, "kubeadm join") {
			joins++
		}
	}
	if joins != 1 {
		t.Errorf("kubeadm join ran %d times; a crash loop is not retried", joins)
	}
}

// TestHalfJoinedNode: a kubelet.conf whose credentials are gone is not a
// joined node; join stops in preflight and says how to recover.
func TestHalfJoinedNode(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	h.write(t, hoststate.KubeletConf, "clusters:\n- cluster:\n    server: https://10.0.0.10:6443\nusers:\n- user:\n    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n")
	_, err := Execute(context.Background(), h.node(t, srv.URL, nil), Phases(), ExecuteOptions{Join: true})
	if ExitCode(err) != ExitPreflight || !strings.Contains(err.Error(), "hybridnode reset --force") {
		t.Fatalf("exit %d: %v", ExitCode(err), err)
	}
	if len(h.cmd.History()) != 0 || srv.requests.Load() != 0 {
		t.Errorf("acted after a failed preflight: %v, %d requests", h.cmd.Lines(), srv.requests.Load())
	}
}

func TestLineWriterScrubsTokenAndColour(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	n := &Node{Log: zap.New(core), Spec: &config.Spec{Token: testToken}}
	w := n.lineLogger("kubeadm")
	w.Write([]byte("\x1b[0;37mKERNEL_VERSION\x1b[0m: \x1b[0;32m6.18\x1b[0m\ntoken " + testToken + " in"))
	w.Write([]byte(" two writes\n\nlast line"))
	w.Close()
	var got []string
	for _, e := range logs.All() {
		got = append(got, e.Message)
	}
	want := []string{"KERNEL_VERSION: 6.18", "token [REDACTED] in two writes", "last line"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("lines %q, want %q", got, want)
	}
}

func kubeadmCalls(h *fakeHost) string {
	var out []string
	for _, l := range h.cmd.Lines() {
		if strings.HasPrefix(l, "kubeadm") {
			out = append(out, strings.Fields(l)[1])
		}
	}
	return strings.Join(out, ",")
}

// TestJoinNameTakenIsNotRetried: kubeadm refusing because a Ready Node has
// this name cannot succeed seconds later; say what to do instead.
func TestJoinNameTakenIsNotRetried(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	h.cmd.On("kubeadm", func(c command.Cmd) (command.Result, error) {
		if c.Args[0] == "join" {
			return command.Result{ExitCode: 1, Stderr: []byte(`a Node with name "cn-hangzhou.10.10.24.7" and status "Ready" already exists in the cluster. You must delete the existing Node or change the name of this new joining Node`)}, nil
		}
		return command.Result{}, nil
	})
	n := h.node(t, srv.URL, nil)
	n.RetryBackoff = time.Millisecond
	_, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true})
	if ExitCode(err) != ExitJoin || !strings.Contains(err.Error(), "kubectl delete node cn-hangzhou.10.10.24.7") {
		t.Fatalf("exit %d: %v", ExitCode(err), err)
	}
	if got := kubeadmCalls(h); got != "join,reset" {
		t.Errorf("kubeadm calls %s, want join,reset", got)
	}
}

// TestJoinResetsLeftovers: files an interrupted join left behind are reset
// before joining, so that kubeadm's preflight does not refuse them.
func TestJoinResetsLeftovers(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	h.write(t, "/etc/kubernetes/pki/ca.crt", "old")
	if _, err := Execute(context.Background(), h.node(t, srv.URL, nil), Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
	if got := kubeadmCalls(h); got != "reset,join" {
		t.Errorf("kubeadm calls %s, want reset,join", got)
	}
}

// TestJoinedNodeDropsLeftoverTokenFile: a run killed after kubelet's TLS
// bootstrap leaves the token file; the next run, finding the node joined,
// removes it and runs no kubeadm.
func TestJoinedNodeDropsLeftoverTokenFile(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	if _, err := Execute(context.Background(), h.node(t, srv.URL, nil), Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
	h.write(t, joinConfigPath, "token: "+testToken+"\n")
	calls := len(h.cmd.History())
	if _, err := Execute(context.Background(), h.node(t, srv.URL, nil), Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(h.root, joinConfigPath)); !os.IsNotExist(err) {
		t.Errorf("the leftover token file is still there: %v", err)
	}
	for _, l := range h.cmd.Lines()[calls:] {
		if strings.HasPrefix(l, "kubeadm") {
			t.Errorf("ran %q on a joined node", l)
		}
	}
}

// TestJoinedNodeWritesMissingReport: a run killed after kubelet's TLS
// bootstrap but before its report leaves a joined node without
// report.json; the next run writes one (succeeded, the installed versions)
// and runs no kubeadm; the run after that writes nothing.
func TestJoinedNodeWritesMissingReport(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	if _, err := Execute(context.Background(), h.node(t, srv.URL, nil), Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
	rp := filepath.Join(h.root, hoststate.ReportPath)
	if err := os.Remove(rp); err != nil {
		t.Fatal(err)
	}
	calls := len(h.cmd.History())
	if _, err := Execute(context.Background(), h.node(t, srv.URL, nil), Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
	for _, l := range h.cmd.Lines()[calls:] {
		if strings.HasPrefix(l, "kubeadm") {
			t.Errorf("ran %q on a joined node", l)
		}
	}
	data, err := os.ReadFile(rp)
	if err != nil {
		t.Fatalf("no report after the re-run: %v", err)
	}
	var r hoststate.Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if r.Result != "succeeded" || r.Versions["kubernetes"] == "" || len(r.Phases) != 1 || r.Phases[0].Status != "already joined" {
		t.Errorf("report after the re-run: result %q, versions %v, phases %+v", r.Result, r.Versions, r.Phases)
	}
	before, _ := os.Stat(rp)
	if _, err := Execute(context.Background(), h.node(t, srv.URL, nil), Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(rp); !after.ModTime().Equal(before.ModTime()) {
		t.Error("a warm re-run rewrote report.json")
	}
}
