package bootstrap

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap/hostcheck"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
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

// TestCheckToolsIPSet: an extra tool (ipset, for kube-proxy's IPVS mode)
// is required beside kubeadm's own, each missing one named with the
// package of the host's family.
func TestCheckToolsIPSet(t *testing.T) {
	for _, tc := range []struct {
		name      string
		family    string
		minor     int
		tools     []string
		status    string
		evidence  []string
		remedy    string
		notRemedy string
	}{
		{"debian without ipset", "debian", 37, nil, hostcheck.Fail,
			[]string{"ipset is not on PATH", "kube-proxy's IPVS mode requires it"}, "install it: apt-get install -y ipset", "dnf"},
		{"rhel without ipset", "rhel", 37, nil, hostcheck.Fail,
			[]string{"ipset is not on PATH"}, "install it: dnf install -y ipset (yum on CentOS 7)", "apt-get"},
		{"unknown family", "", 37, nil, hostcheck.Fail,
			[]string{"ipset is not on PATH"}, "apt-get install -y ipset (Debian, Ubuntu); dnf install -y ipset (Alibaba Cloud Linux", ""},
		{"1.31 without both", "rhel", 31, nil, hostcheck.Fail,
			[]string{"conntrack is not on PATH", "kubeadm 1.31's preflight requires it", "ipset is not on PATH"}, "install them: dnf install -y conntrack-tools ipset", ""},
		{"1.31 with conntrack only", "debian", 31, []string{"conntrack"}, hostcheck.Fail,
			[]string{"ipset is not on PATH"}, "install it: apt-get install -y ipset", "conntrack"},
		{"with ipset", "debian", 37, []string{"ipset"}, hostcheck.Pass,
			[]string{"ipset is on PATH (kube-proxy's IPVS mode requires it)"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost(t)
			for _, tool := range tc.tools {
				p := filepath.Join(h.root, "usr/sbin", tool)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			env, err := NewEnv(h.root)
			if err != nil {
				t.Fatal(err)
			}
			c := hostcheck.CheckTools(env.FS, hoststate.Facts{OSFamily: tc.family}, tc.minor, hostcheck.IPSetTool)
			if c.Status != tc.status {
				t.Fatalf("status %s, want %s: %+v", c.Status, tc.status, c)
			}
			for _, s := range tc.evidence {
				if !strings.Contains(c.Evidence, s) {
					t.Errorf("evidence %q lacks %q", c.Evidence, s)
				}
			}
			if !strings.Contains(c.Remedy, tc.remedy) || (tc.notRemedy != "" && strings.Contains(c.Remedy, tc.notRemedy)) {
				t.Errorf("remedy %q: want %q, not %q", c.Remedy, tc.remedy, tc.notRemedy)
			}
		})
	}
	// Without the extra tool nothing changes.
	if c := hostcheck.CheckTools(newEnvFS(t), hoststate.Facts{}, 37); c.Status != hostcheck.Pass || strings.Contains(c.Evidence, "ipset") {
		t.Errorf("no extra tool: %+v", c)
	}
}

func newEnvFS(t *testing.T) hostfs.FS {
	t.Helper()
	env, err := NewEnv(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return env.FS
}
