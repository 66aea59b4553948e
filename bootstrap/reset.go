package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"go.uber.org/zap"

	"github.com/hybridnode/hybridnode/assets"
	"github.com/hybridnode/hybridnode/bootstrap/command"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

// ResetOptions: what `hybridnode reset` removes besides its own files.
type ResetOptions struct {
	// Purge also removes StagingDir, the verified downloads that versions
	// before the one-pass install kept.
	Purge bool
}

// kubeadmPaths are where a kubeadm binary is looked for before `kubeadm reset`.
var kubeadmPaths = []string{installs["kubeadm"].dest, "/usr/bin/kubeadm"}

// Reset undoes what join did, so that join works again: `kubeadm reset`
// (while containerd still runs, so that it can remove the pods), kubelet
// and containerd stopped and disabled, then, by the rows of hostFiles,
// every file hybridnode generated (it starts with assets.Header) or
// installed (recorded in installed.json, and only while its sha256 is
// still the recorded one), and its records (the JoinConfiguration,
// installed.json and report.json), then the directories of theirs left
// empty. /etc/hybridnode/config.yaml is never touched; downloads are kept
// unless o.Purge. The seams must be attached (Connect or EnableDryRun). Every step
// runs; the errors are joined. Unless dry-run it holds the node's lock
// (LockPath), waiting for a running join or install to finish first.
func Reset(ctx context.Context, n *Node, o ResetOptions) error {
	if !n.DryRun {
		release, err := n.lockNode(ctx, "reset")
		if err != nil {
			return err
		}
		defer release()
	}
	var errs []error
	fail := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	fail(resetKubeadm(ctx, n))
	for _, unit := range []string{hoststate.KubeletUnit, hoststate.ContainerdUnit} {
		fail(resetUnit(ctx, n, unit))
	}

	unitsRemoved := false
	for _, p := range n.hostPaths(generated) {
		removed, err := n.removeGenerated(p)
		fail(err)
		if removed && (path.Ext(p) == ".service" || strings.HasSuffix(path.Dir(p), ".service.d")) {
			unitsRemoved = true
		}
	}
	fail(n.removeInstalled())
	for _, p := range n.hostPaths(record) {
		_, err := n.remove(p)
		fail(err)
	}
	for _, p := range n.hostPaths(downloads) {
		if !o.Purge {
			if _, err := n.FS.Stat(p); err == nil {
				n.Log.Info("kept the downloaded artifacts (--purge removes them)", zap.String("path", p))
			}
		} else if err := n.removeTree(p); err != nil {
			fail(err)
		} else {
			n.Log.Info(n.verb("removed", "would remove")+" the downloaded artifacts", zap.String("path", p))
		}
	}
	// Directories left empty by the above.
	for _, f := range hostFiles {
		if f.dir == "" || (f.kind == downloads && !o.Purge) {
			continue
		}
		for _, d := range n.unitDirPaths(f.dir) {
			fail(n.removeEmptyDirs(d))
		}
	}
	if unitsRemoved && n.Systemd.Live() {
		fail(n.Systemd.DaemonReload(ctx))
	}
	if joined, _ := hoststate.Joined(n.FS); joined && len(errs) == 0 {
		n.Log.Warn("kubelet.conf is still there: `hybridnode join` will take the node as joined", zap.String("path", hoststate.KubeletConf))
	}
	return errors.Join(errs...)
}

func resetKubeadm(ctx context.Context, n *Node) error {
	found := ""
	for _, p := range kubeadmPaths {
		if _, err := n.FS.Stat(p); err == nil {
			found = p
			break
		}
	}
	switch {
	case found == "":
		n.Log.Warn("kubeadm reset skipped: no kubeadm installed", zap.Strings("looked in", kubeadmPaths))
		return nil
	case !n.Live:
		n.Log.Info("kubeadm reset skipped: no live host behind the root", zap.String("root", n.FS.Root()))
		return nil
	}
	out := &lineWriter{log: n.Log.With(zap.String("output", "kubeadm"))}
	defer out.Close()
	n.Log.Info(n.verb("ran", "would run") + " kubeadm reset")
	if _, err := n.Cmd.Run(ctx, command.Cmd{Name: "kubeadm", Args: []string{"reset", "-f", "--cri-socket", hoststate.CRISocket}, Stdout: out, Stderr: out}); err != nil {
		return fmt.Errorf("kubeadm reset: %w", err)
	}
	return nil
}

// resetUnit stops and disables unit when its file is there.
func resetUnit(ctx context.Context, n *Node, unit string) error {
	if hoststate.UnitFile(n.FS, n.Facts, unit) == "" {
		return nil
	}
	if n.Systemd.Live() {
		state, err := n.Systemd.ActiveState(ctx, unit)
		if err != nil {
			return err
		}
		if state != "inactive" && state != "failed" {
			n.Log.Info(n.verb("stopped", "would stop"), zap.String("unit", unit), zap.String("was", state))
			if err := n.Systemd.Stop(ctx, unit); err != nil {
				return fmt.Errorf("stopping %s: %w", unit, err)
			}
		}
	}
	changed, err := n.Systemd.Disable(ctx, unit)
	if err != nil {
		return fmt.Errorf("disabling %s: %w", unit, err)
	}
	if changed {
		n.Log.Info(n.verb("disabled", "would disable"), zap.String("unit", unit))
	}
	return nil
}

// removeGenerated removes p when hybridnode generated it (its first line
// is assets.Header); anything else there is the user's and stays.
func (n *Node) removeGenerated(p string) (bool, error) {
	fi, err := n.FS.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !fi.Mode().IsRegular() {
		return false, nil
	}
	data, err := n.FS.ReadFile(p)
	if err != nil {
		return false, err
	}
	if !bytes.HasPrefix(data, []byte(assets.Header+"\n")) {
		n.Log.Warn("kept: not generated by hybridnode", zap.String("path", p))
		return false, nil
	}
	return n.remove(p)
}

// removeInstalled removes the binaries installed.json records, each only
// while it still has the recorded sha256.
func (n *Node) removeInstalled() error {
	rec, err := hoststate.ReadInstalled(n.FS)
	if err != nil || rec == nil {
		return err
	}
	names := make([]string, 0, len(rec.Artifacts))
	for name := range rec.Artifacts {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		files := rec.Artifacts[name].Files
		paths := make([]string, 0, len(files))
		for p := range files {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		for _, p := range paths {
			sum, err := hostfs.SHA256File(n.FS, p)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				continue
			case err != nil:
				errs = append(errs, err)
				continue
			case sum != files[p]:
				n.Log.Warn("kept: changed since hybridnode installed it", zap.String("path", p), zap.String("component", name))
				continue
			}
			if _, err := n.remove(p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (n *Node) remove(p string) (bool, error) {
	changed, err := n.FS.Remove(p)
	if changed {
		n.Log.Info(n.verb("removed", "would remove"), zap.String("path", p))
	}
	return changed, err
}

// removeTree removes dir and everything under it (symlinks are removed,
// never followed).
func (n *Node) removeTree(dir string) error {
	fi, err := n.FS.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		des, err := n.FS.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, de := range des {
			if err := n.removeTree(path.Join(dir, de.Name())); err != nil {
				return err
			}
		}
	}
	_, err = n.FS.Remove(dir)
	return err
}

// removeEmptyDirs removes dir's empty subdirectories, then dir if empty.
func (n *Node) removeEmptyDirs(dir string) error {
	des, err := n.FS.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	left := len(des)
	for _, de := range des {
		if !de.IsDir() {
			continue
		}
		sub := path.Join(dir, de.Name())
		if err := n.removeEmptyDirs(sub); err != nil {
			return err
		}
		if _, err := n.FS.Stat(sub); errors.Is(err, fs.ErrNotExist) {
			left--
		}
	}
	if left > 0 {
		return nil
	}
	_, err = n.remove(dir)
	return err
}
