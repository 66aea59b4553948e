package bootstrap

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/hybridnode/hybridnode/bootstrap/command"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/containerd"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/bootstrap/systemd"
)

// Env is the host behind a root directory: "/" is the live host; any other
// root is a directory with nothing running behind it.
type Env struct {
	FS    hostfs.FS
	Live  bool
	Facts hoststate.Facts
}

// NewEnv opens the root and probes its facts.
func NewEnv(root string) (Env, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return Env{}, err
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		abs = resolved
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return Env{}, fmt.Errorf("%s is not a directory", root)
	}
	f, err := hostfs.New(abs)
	if err != nil {
		return Env{}, err
	}
	return Env{FS: f, Live: abs == "/", Facts: hoststate.Probe(f)}, nil
}

// Hostname is the live host's name, or the root's /etc/hostname.
func (e Env) Hostname() string {
	if e.Live {
		h, _ := os.Hostname()
		return h
	}
	data, _ := e.FS.ReadFile("/etc/hostname")
	return strings.TrimSpace(string(data))
}

// Node assembles a node with the real seams; Connect attaches systemd.
func (e Env) Node(l *config.Loaded, s *config.Spec, log *zap.Logger) *Node {
	return &Node{
		Spec: s, Loaded: l, Facts: e.Facts, FS: e.FS, Live: e.Live, Log: log,
		Cmd:            command.Exec{},
		OpenSource:     proxiedSource(s),
		WaitContainerd: containerd.WaitReady,
		Recorder:       &hostfs.Recorder{},
	}
}

// Connect attaches the systemd seam: D-Bus on a live host, symlinks under
// any other root.
func (n *Node) Connect(ctx context.Context) error {
	if n.Systemd != nil {
		return nil // already attached (tests attach fakes)
	}
	if !n.Live {
		n.Systemd = systemd.NewOffline(n.FS, n.Facts.UnitDirs())
		return nil
	}
	m, err := systemd.NewDBus(ctx)
	if err != nil {
		return &PhaseError{Phase: "preflight", Class: ClassPreflight, Err: fmt.Errorf("connecting to systemd (is PID 1 systemd?): %w", err)}
	}
	n.Systemd = m
	return nil
}

// EnableDryRun swaps every seam for one that records instead of acting.
// Systemd states are still read from the live host when it answers.
func (n *Node) EnableDryRun() {
	n.DryRun = true
	base := n.Systemd
	if base == nil {
		base = systemd.NewOffline(n.FS, n.Facts.UnitDirs())
		if n.Live {
			if m, err := systemd.NewDBus(context.Background()); err == nil {
				base = m
			}
		}
	}
	n.FS = hostfs.DryRun(n.FS, n.Recorder)
	n.Systemd = systemd.DryRun(base, n.Recorder)
	n.Cmd = command.DryRun(n.Recorder)
}

// Close releases the systemd connection.
func (n *Node) Close() {
	if n.Systemd != nil {
		n.Systemd.Close()
	}
}

// PrintPlan writes what a dry run found and would change.
func PrintPlan(w io.Writer, n *Node) {
	fmt.Fprintf(w, "\n=== hybridnode plan for node %q (root %s) ===\n", n.Spec.NodeName, n.FS.Root())
	fmt.Fprintln(w, "\nPreflight:")
	for _, f := range n.findings {
		fmt.Fprintf(w, "  [%s] %-11s %s\n", strings.ToUpper(f.Status), f.Check, f.Detail)
	}
	changes := n.Recorder.Changes()
	ops := map[string][]hostfs.Change{}
	for _, c := range changes {
		ops[c.Op] = append(ops[c.Op], c)
	}
	section := func(title string, op ...string) {
		var list []hostfs.Change
		for _, o := range op {
			list = append(list, ops[o]...)
		}
		fmt.Fprintf(w, "\n%s (%d):\n", title, len(list))
		if len(list) == 0 {
			fmt.Fprintln(w, "  none")
		}
		for _, c := range list {
			fmt.Fprintln(w, indent(c.String()))
		}
	}
	section("Downloads", "download")
	section("Files", "write", "remove", "symlink", "mkdir")
	section("Services", "systemd")
	section("Commands", "command")
	section("Image pulls", "pull")
	if cfg, err := RenderedJoinConfig(n); err == nil {
		fmt.Fprintf(w, "\nJoinConfiguration for kubeadm (%s, 0600, token redacted):\n%s", joinConfigPath, indent(string(cfg))+"\n")
	}
	if n.usesIdentity() {
		ts := n.Spec.TokenService
		fmt.Fprintf(w, "\nBootstrap token: from the token service %s (pin %s), for this instance's ECS identity signed for audience %s:<unix seconds>;\n"+
			"  asked right before kubeadm join, into %s only; nothing was asked now.\n", ts.URL, ts.Pin, ts.Audience, joinConfigPath)
	}
	fmt.Fprintf(w, "\n%d change(s); nothing was touched.\n", len(changes))
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}
