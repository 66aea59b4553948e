package bootstrap

import (
	"context"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/assets/golden"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

// TestJoinWholeNodeTree: a join on the fake host leaves exactly the golden
// tree testdata/whole-node/ (every file's content, every path's mode, the
// symlinks systemd's enable makes), so a file written, lost or changed by
// any phase shows here. Left out: the report (timestamps), the stat cache
// (inodes and times: TestStatCache), the lock, and
// kubelet's client certificate (a new key each run).
func TestJoinWholeNodeTree(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	if _, err := Execute(context.Background(), h.node(t, srv.URL, nil), Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
	golden.CheckTree(t, "whole-node", h.root, func(rel string) bool {
		return rel == hoststate.ReportPath || rel == hoststate.VerifiedPath || rel == LockPath || strings.HasPrefix(rel, "/var/lib/kubelet/pki")
	})
}
