package bootstrap

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
)

// BenchmarkPlan measures a whole `join --dry-run` on a fake host: every
// renderer, every diff, no I/O beyond the temp root.
func BenchmarkPlan(b *testing.B) {
	t := &testing.T{}
	h := newFakeHost(t)
	srv := newArtifactServer(t, "r1")
	defer srv.Close()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		n := h.node(t, srv.URL, nil)
		n.Log = zap.NewNop()
		if _, err := Execute(context.Background(), n, Phases(), true, true); err != nil {
			b.Fatal(err)
		}
		var out bytes.Buffer
		PrintPlan(&out, n)
	}
}

// BenchmarkBakedVerify measures what a baked image pays at boot before the
// join: checking every installed binary against installed.json, with
// kubelet, kubeadm and crictl at their real sizes (the figure is the
// hashing rate; containerd's binaries add about 100 MB more on a real node).
func BenchmarkBakedVerify(b *testing.B) {
	t := &testing.T{}
	h := newFakeHost(t)
	srv := newArtifactServer(t, "r1")
	defer srv.Close()
	sizes := map[string]int{"kubelet": 80, "kubeadm": 70, "crictl": 40}
	total := 0
	for name, mb := range sizes {
		data := make([]byte, mb<<20)
		rand.Read(data)
		srv.files[binaryRel(name)] = data
		total += len(data)
	}
	srv.files["SHA256SUMS"] = sums(srv.files)
	n := h.node(t, srv.URL, nil)
	n.Log = zap.NewNop()
	if _, err := Execute(context.Background(), n, InstallPhases(), false, false); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(total))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec, err := readInstalled(n.FS)
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
