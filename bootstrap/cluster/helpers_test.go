package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/hybridnode/hybridnode/bootstrap/cluster/clustertest"
	"github.com/hybridnode/hybridnode/bootstrap/doctor/report"
)

func client(c *clustertest.Cluster) *Client {
	return &Client{Core: c.Core(), Apps: c.Apps(), Rbac: c.Rbac(), Discovery: c.Discovery(), Admission: c.Admission(), Coordination: c.Coordination(), Certificates: c.Certificates(), Dynamic: c.Dynamic(), Host: clustertest.Endpoint}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
}

// releaseTemplate is the real add-node.sh template: NodePoolScript needs its
// node-pool block, and the rendered script's settings function is run below.
func releaseTemplate(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("../../packaging/add-node.sh.in")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// releaseDir is a release as `make release` leaves it: add-node.sh and
// SHA256SUMS (and the binaries, here only listed).
func releaseDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	script := releaseTemplate(t)
	writeFile(t, filepath.Join(dir, "add-node.sh"), script, 0o644)
	sums := sha(script) + "  add-node.sh\n" + strings.Repeat("1", 64) + "  hybridnode-linux-amd64\n"
	writeFile(t, filepath.Join(dir, "SHA256SUMS"), []byte(sums), 0o644)
	return dir
}

// artifactDir is an artifact source listing kubelet and kubeadm of version
// for the given architectures.
func artifactDir(t *testing.T, version string, arches ...string) string {
	t.Helper()
	dir := t.TempDir()
	var sums strings.Builder
	for _, arch := range arches {
		for _, bin := range []string{"kubelet", "kubeadm"} {
			sums.WriteString(strings.Repeat("2", 64) + "  kubernetes/" + version + "/bin/linux/" + arch + "/" + bin + "\n")
		}
	}
	sums.WriteString(strings.Repeat("3", 64) + "  runc/v1.3.3/runc.amd64\n")
	writeFile(t, filepath.Join(dir, "SHA256SUMS"), []byte(sums.String()), 0o644)
	return dir
}

// fixture is a cluster with a release, an artifact source and a working
// directory for the script.
type fixture struct {
	c         *clustertest.Cluster
	release   string
	artifacts string
	dir       string
	// seen are every token secret the cluster ever held, for the leak scan.
	seen map[string]bool
}

func newFixture(t *testing.T, c *clustertest.Cluster) *fixture {
	f := &fixture{c: c, release: releaseDir(t), artifacts: artifactDir(t, clustertest.Version, "amd64", "arm64"), dir: t.TempDir(), seen: map[string]bool{}}
	f.remember(t)
	return f
}

func (f *fixture) remember(t *testing.T) {
	for _, s := range f.c.Secrets(t) {
		f.seen[s] = true
	}
}

func (f *fixture) script() string { return filepath.Join(f.dir, "add-node-default.sh") }

func (f *fixture) setupOptions() SetupOptions {
	return SetupOptions{
		Options:      Options{ArtifactURL: "https://hn.oss-cn-hangzhou-internal.aliyuncs.com/k8s"},
		Release:      f.release,
		ScriptOut:    f.script(),
		TokenTTL:     DefaultTokenTTL,
		Grace:        DefaultGrace,
		Command:      "hybridnode-cluster setup --release " + f.release,
		PollInterval: time.Millisecond,
		PollTimeout:  2 * time.Second,
	}
}

// noLeak fails when any token secret or the ENI secret is in s.
func (f *fixture) noLeak(t *testing.T, what, s string) {
	t.Helper()
	f.remember(t)
	for sec := range f.seen {
		if strings.Contains(s, sec) {
			t.Errorf("%s shows a secret (%s…):\n%s", what, sec[:3], s)
		}
	}
}

// setup runs setup (or rotate) and scans everything it printed or returned.
func (f *fixture) run(t *testing.T, rotate bool, o SetupOptions) (out, warn string, err error) {
	t.Helper()
	var ob, eb bytes.Buffer
	o.Out, o.Err = &ob, &eb
	if rotate {
		err = Rotate(context.Background(), client(f.c), o)
	} else {
		err = Setup(context.Background(), client(f.c), o)
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	f.noLeak(t, "output", ob.String()+eb.String()+msg)
	return ob.String(), eb.String(), err
}

func (f *fixture) check(t *testing.T, o Options) *CheckReport {
	t.Helper()
	r, err := Check(context.Background(), client(f.c), o)
	if err != nil {
		t.Fatal(err)
	}
	var text, js bytes.Buffer
	r.WriteText(&text)
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	f.noLeak(t, "check report", text.String()+js.String())
	return r
}

func (f *fixture) checkOptions() Options {
	return Options{VPCCIDR: "172.16.0.0/12", ArtifactURL: f.artifacts}
}

func result(r *CheckReport, name string) report.Result {
	for _, c := range r.Checks {
		if c.Name == name {
			return c.Result
		}
	}
	return report.Result{Status: "missing"}
}

func textOf(r *CheckReport) string {
	var b bytes.Buffer
	r.WriteText(&b)
	return b.String()
}

func wantInput(t *testing.T, err error, field string) *InputError {
	t.Helper()
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("want an InputError naming %s, got %v", field, err)
	}
	if !strings.Contains(ie.Error(), field) {
		t.Fatalf("the error does not name %s:\n%v", field, ie)
	}
	return ie
}

func secret(t *testing.T, c *clustertest.Cluster, name string) *corev1.Secret {
	t.Helper()
	return c.Get(t, clustertest.Secrets, "kube-system", name).(*corev1.Secret)
}

func configMap(t *testing.T, c *clustertest.Cluster, ns, name string) *corev1.ConfigMap {
	t.Helper()
	return c.Get(t, clustertest.ConfigMaps, ns, name).(*corev1.ConfigMap)
}

// poolTokens are the stored tokens of pool "default", newest first.
func poolTokens(t *testing.T, c *clustertest.Cluster) []token {
	t.Helper()
	toks, err := bootstrapTokens(context.Background(), client(c), "default")
	if err != nil {
		t.Fatal(err)
	}
	return toks
}
