package bootstrap

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

// BenchmarkPlan measures a whole `join --dry-run` on a fake host: every
// renderer, every diff, no I/O beyond the temp root.
func BenchmarkPlan(b *testing.B) {
	h := newFakeHost(b)
	srv := newArtifactServer(b, "r1")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		n := h.node(b, srv.URL, nil)
		n.Log = zap.NewNop()
		if _, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true, DryRun: true}); err != nil {
			b.Fatal(err)
		}
		var out bytes.Buffer
		PrintPlan(&out, n)
	}
}

// BenchmarkBakedVerify measures what a baked image pays at boot before the
// join: checking every installed binary against installed.json, with
// kubelet, kubeadm and crictl at their real sizes; "stat-cache" as the
// bake leaves it (verified.json: nothing hashed), "hash" without the cache
// (the figure is the hashing rate; containerd's binaries add about 100 MB
// more on a real node).
func BenchmarkBakedVerify(b *testing.B) {
	for _, name := range []string{"stat-cache", "hash"} {
		b.Run(name, func(b *testing.B) { benchmarkBakedVerify(b, name == "hash") })
	}
}

func benchmarkBakedVerify(b *testing.B, noCache bool) {
	h := newFakeHost(b)
	srv := newArtifactServer(b, "r1")
	sizes := map[string]int{"kubelet": 80, "kubeadm": 70, "crictl": 40}
	total := 0
	for name, mb := range sizes {
		data := make([]byte, mb<<20)
		rand.Read(data)
		srv.files[binaryRel(name)] = data
		total += len(data)
	}
	srv.files["SHA256SUMS"] = sums(srv.files)
	n := h.node(b, srv.URL, nil)
	n.Log = zap.NewNop()
	if _, err := Execute(context.Background(), n, InstallPhases(), ExecuteOptions{}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(total))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if noCache {
			b.StopTimer()
			os.Remove(filepath.Join(h.root, hoststate.VerifiedPath))
			b.StartTimer()
		}
		n.verifiedPrev, n.verifiedNext = nil, nil // a new run
		rec, err := hoststate.ReadInstalled(n.FS)
		if err != nil {
			b.Fatal(err)
		}
		if err := verifyBaked(n, rec, components(n.Spec, n.Facts.Arch)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	os.RemoveAll(filepath.Join(h.root, "usr"))
}

// binaryRel is where the fake server keeps a plain binary.
func binaryRel(name string) string {
	if name == "crictl" {
		return "cri-tools/v1.37.0/bin/linux/amd64/crictl"
	}
	return "kubernetes/v1.37.1/bin/linux/amd64/" + name
}

// benchRels are the six artifacts of the e2e cache (cniPluginsVersion v1.1.1).
var benchRels = []string{
	"containerd/v2.2.0/containerd-2.2.0-linux-amd64.tar.gz",
	"runc/v1.1.5/runc.amd64",
	"kubernetes/v1.37.1/bin/linux/amd64/kubelet",
	"kubernetes/v1.37.1/bin/linux/amd64/kubeadm",
	"cri-tools/v1.37.0/bin/linux/amd64/crictl",
	"cni-plugins/v1.1.1/cni-plugins-linux-amd64-v1.1.1.tgz",
}

// benchArtifactDir is $HN_CACHE/artifacts (default
// /var/cache/hybridnode-e2e/artifacts) when it holds the six artifacts and
// SHA256SUMS; else a temp directory of generated artifacts of similar size.
func benchArtifactDir(tb testing.TB) (dir string, real bool) {
	tb.Helper()
	cache := os.Getenv("HN_CACHE")
	if cache == "" {
		cache = "/var/cache/hybridnode-e2e"
	}
	dir = filepath.Join(cache, "artifacts")
	ok := true
	for _, rel := range append([]string{"SHA256SUMS"}, benchRels...) {
		if _, err := os.Stat(filepath.Join(dir, rel)); err != nil {
			ok = false
		}
	}
	if ok {
		return dir, true
	}
	dir = tb.TempDir()
	put := func(rel string, data []byte) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	// Binaries compress to about a third; half random, half zeros is close.
	bin := func(mb int) []byte {
		b := make([]byte, mb<<20)
		rand.Read(b[:len(b)/2])
		return b
	}
	tgz := func(members map[string]int) []byte {
		pr, pw := io.Pipe()
		go func() {
			gz := gzip.NewWriter(pw)
			tw := tar.NewWriter(gz)
			names := make([]string, 0, len(members))
			for n := range members {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				data := bin(members[n])
				tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg})
				tw.Write(data)
			}
			tw.Close()
			gz.Close()
			pw.Close()
		}()
		data, _ := io.ReadAll(pr)
		return data
	}
	put(benchRels[0], tgz(map[string]int{"bin/containerd": 43, "bin/containerd-shim-runc-v2": 10, "bin/ctr": 22}))
	put(benchRels[1], bin(9))
	put(benchRels[2], bin(92))
	put(benchRels[3], bin(75))
	put(benchRels[4], bin(28))
	cni := map[string]int{"./dhcp": 7}
	for _, p := range cniPlugins {
		cni["./"+p] = 3
	}
	put(benchRels[5], tgz(cni))
	var sb strings.Builder
	for _, rel := range benchRels {
		data, _ := os.ReadFile(filepath.Join(dir, rel))
		s := sha256.Sum256(data)
		fmt.Fprintf(&sb, "%s  %s\n", hex.EncodeToString(s[:]), rel)
	}
	put("SHA256SUMS", []byte(sb.String()))
	return dir, false
}

// BenchmarkInstallCold measures the install phase into an empty root from
// a loopback HTTP server: the six e2e artifacts (about 250 MB) when the e2e
// cache is there, else generated ones of the same sizes.
func BenchmarkInstallCold(b *testing.B) {
	dir, real := benchArtifactDir(b)
	b.Logf("artifacts from %s (real: %v)", dir, real)
	benchInstall(b, dir, http.FileServer(http.Dir(dir)))
}

// BenchmarkInstallLink100 is BenchmarkInstallCold over a 100 MB/s link
// (shared by all connections): the transfer alone takes total/100 MB/s,
// which the figure should be close to (the CPU work hidden under it).
func BenchmarkInstallLink100(b *testing.B) {
	dir, _ := benchArtifactDir(b)
	l := &rateLimit{perSecond: 100e6}
	files := http.FileServer(http.Dir(dir))
	total, took := benchInstall(b, dir, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		files.ServeHTTP(limitedWriter{w, l}, r)
	}))
	transfer := float64(total) / l.perSecond * float64(time.Second)
	b.ReportMetric(float64(took)/float64(b.N)/transfer, "x-transfer")
}

// benchInstall runs the install phase b.N times into empty roots from a
// server of h; it returns the bytes of one install's artifacts and the
// time the installs took.
func benchInstall(b *testing.B, dir string, h http.Handler) (int64, time.Duration) {
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	var total int64
	for _, rel := range benchRels {
		fi, _ := os.Stat(filepath.Join(dir, rel))
		total += fi.Size()
	}
	b.SetBytes(total)
	var took time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h := newFakeHost(b)
		n := h.nodeEnv(b, srv.URL, map[string]string{"HYBRIDNODE_CNI_PLUGINS_VERSION": "v1.1.1"}, nil)
		n.Log = zap.NewNop()
		b.StartTimer()
		start := time.Now()
		if err := runInstall(context.Background(), n); err != nil {
			b.Fatal(err)
		}
		took += time.Since(start)
		b.StopTimer()
		if err := os.RemoveAll(h.root); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	return total, took
}

// rateLimit is a link of perSecond bytes a second shared by every writer.
type rateLimit struct {
	mu        sync.Mutex
	next      time.Time
	perSecond float64
}

func (l *rateLimit) wait(n int) {
	l.mu.Lock()
	now := time.Now()
	// Time the link was idle is not lost beyond a 20 ms burst.
	if burst := now.Add(-20 * time.Millisecond); l.next.Before(burst) {
		l.next = burst
	}
	l.next = l.next.Add(time.Duration(float64(n) / l.perSecond * float64(time.Second)))
	d := l.next.Sub(now)
	l.mu.Unlock()
	time.Sleep(d)
}

// limitedWriter sends through the link in 128 KiB packets.
type limitedWriter struct {
	http.ResponseWriter
	l *rateLimit
}

func (w limitedWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), 128<<10)
		w.l.wait(n)
		m, err := w.ResponseWriter.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}
