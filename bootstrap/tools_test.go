package bootstrap

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPreflightConntrackBefore132: kubeadm before 1.32 requires conntrack
// on PATH. Without it, a 1.31 join stops in preflight (exit 3) naming the
// tool and the package of the host's family, before anything is touched;
// with it, or with 1.32 and later, the check passes.
func TestPreflightConntrackBefore132(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	for _, tc := range []struct {
		name, version string
		conntrack     bool
		wantExit      int
		want          string
	}{
		{"1.31 without conntrack", "v1.31.4", false, ExitPreflight, "conntrack is not on PATH"},
		{"1.31 with conntrack", "v1.31.4", true, ExitOK, ""},
		{"1.37 without conntrack", "v1.37.1", false, ExitOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost(t)
			if tc.conntrack {
				p := filepath.Join(h.root, "usr/sbin/conntrack")
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			before := tree(t, h.root)
			n := h.nodeEnv(t, srv.URL, map[string]string{"HYBRIDNODE_KUBERNETES_VERSION": tc.version}, nil)
			_, err := Execute(context.Background(), n, Phases()[:1], ExecuteOptions{Join: true})
			if ExitCode(err) != tc.wantExit {
				t.Fatalf("exit %d, want %d: %v", ExitCode(err), tc.wantExit, err)
			}
			if tc.want == "" {
				return
			}
			for _, s := range []string{tc.want, "kubeadm 1.31", "apt-get install -y conntrack"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error lacks %q: %v", s, err)
				}
			}
			after := tree(t, h.root)
			delete(after, "/run") // the lock's directory: every run takes the lock first
			if d := diffTrees(before, after); d != "" {
				t.Errorf("a failed preflight changed the node:\n%s", d)
			}
		})
	}
}
