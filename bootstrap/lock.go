package bootstrap

import (
	"context"
	"fmt"
	"os"
	"path"
	"time"

	"go.uber.org/zap"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
)

// LockPath is the node's lock: every command that changes the host (join,
// install, reset) holds an flock on it for its whole run, so that two runs
// never interleave. It lives in /run (a tmpfs on a booted host) and outside
// hoststate.StateDir, which reset removes. The file says who holds it.
const LockPath = "/run/hybridnode.lock"

// Bounds of the wait for the lock; tests shorten them.
var (
	// lockWait is how long a second run waits for the first to finish.
	lockWait = 2 * time.Minute
	// lockPoll is how often it tries again.
	lockPoll = 100 * time.Millisecond
)

// lockNode takes the node's lock for command, waiting up to lockWait for a
// run that holds it. On success it has also removed the temp files an
// interrupted run left behind. The returned func releases the lock.
func (n *Node) lockNode(ctx context.Context, command string) (func(), error) {
	deadline := time.Now().Add(lockWait)
	logged := false
	for {
		l, holder, err := hostfs.TryLock(n.FS, LockPath)
		if err != nil {
			return nil, &PhaseError{Class: ClassPreflight, Err: fmt.Errorf("taking the node lock: %w", err)}
		}
		if l != nil {
			l.SetNote(fmt.Sprintf("pid %d: hybridnode %s, since %s", os.Getpid(), command, time.Now().UTC().Format(time.RFC3339)))
			n.removeTemps()
			return func() { l.Release() }, nil
		}
		if holder == "" {
			holder = "a hybridnode run that has not said who it is yet"
		}
		if !time.Now().Before(deadline) {
			return nil, &PhaseError{Class: ClassPreflight, Err: fmt.Errorf("another hybridnode run holds %s (%s); waited %s for it to finish: let it finish, or stop it, then run `hybridnode %s` again", LockPath, holder, lockWait, command)}
		}
		if !logged {
			n.Log.Info("waiting for another hybridnode run to finish", zap.String("lock", LockPath), zap.String("holder", holder), zap.Duration("up to", lockWait))
			logged = true
		}
		t := time.NewTimer(lockPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("waiting for %s (%s): %w", LockPath, holder, ctx.Err())
		case <-t.C:
		}
	}
}

// command names the run for the lock file.
func (n *Node) command(fallback string) string {
	if n.Report != nil && n.Report.Command != "" {
		return n.Report.Command
	}
	return fallback
}

// tempDirs maps each directory hybridnode writes in to the names of the
// files it writes there (whose temp files older versions named
// ".<name>.tmp-*").
func (n *Node) tempDirs() map[string][]string {
	var files []string
	for _, f := range hostFiles {
		if f.kind != lock && f.kind != downloads { // neither is written through a temp file
			files = append(files, n.expand(f.path)...)
		}
	}
	dirs := map[string][]string{}
	for _, f := range files {
		d := path.Dir(f)
		dirs[d] = append(dirs[d], path.Base(f))
	}
	return dirs
}

// removeTemps removes what runs killed mid-write left: hybridnode's own
// temp files (hostfs.TempPrefix, or an older version's ".<name>.tmp-*" for
// a file it writes) in the directories it writes in. Only a run holding
// the lock may do this: nobody else is writing them.
func (n *Node) removeTemps() {
	for dir, names := range n.tempDirs() {
		removed, err := n.FS.RemoveTemps(dir, names...)
		for _, p := range removed {
			n.Log.Info("removed a temp file left by an interrupted run", zap.String("path", p))
		}
		if err != nil {
			n.Log.Warn("could not remove a temp file left by an interrupted run", zap.Error(err))
		}
	}
}
