package bootstrap

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/hybridnode/hybridnode/bootstrap/artifact"
	"github.com/hybridnode/hybridnode/bootstrap/command"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/containerd"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/bootstrap/identity"
	"github.com/hybridnode/hybridnode/bootstrap/systemd"
)

// Node is what the phases see: the validated configuration, the host facts
// and the seams. Nothing in a phase reaches the host except through these.
type Node struct {
	Spec    *config.Spec
	Loaded  *config.Loaded
	Facts   hoststate.Facts
	FS      hostfs.FS
	Systemd systemd.Manager
	Cmd     command.Runner
	// OpenSource opens the artifact source named by artifactURL.
	OpenSource func(base string) (artifact.Fetcher, error)
	// WaitContainerd waits until containerd's CRI answers on the socket.
	WaitContainerd func(ctx context.Context, socket string) (containerd.Info, error)
	Log            *zap.Logger
	// DryRun: seams record instead of acting; preflight does not stop.
	DryRun bool
	// Live: the root is "/" and a running host is behind it.
	Live     bool
	Recorder *hostfs.Recorder
	Report   *Report
	Now      func() time.Time
	// RetryBackoff is the wait before the second join attempt (doubling).
	RetryBackoff time.Duration
	// KubeletPoll is how often a join checks kubelet for a crash loop.
	KubeletPoll time.Duration

	// State handed from phase to phase.
	joining   bool // the join phase is selected
	baking    bool // the run is `install` (or one of its phases): ExecuteOptions.Bake
	findings  []hoststate.Finding
	installed *hoststate.Installed
	// verifiedPrev is the stat cache of the installed files as found,
	// verifiedNext what this run knows of them (install.go).
	verifiedPrev, verifiedNext map[string]hoststate.FileStat
	changed                    map[string]bool // component -> its binary, unit or config changed
	issued                     *identity.Token // the token service's token, reused while valid
	kubeProxy                  *kubeProxyState // the kube-proxy mode, once resolved

	// docProviderID is the identity document's provider ID, when none
	// was resolved (see providerID).
	docProviderID string

	// pulls are a join's image pulls, running beside the later phases
	// until the runner joins them (awaitPulls).
	pulls *backgroundPulls
}

func (n *Node) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

// verb picks a log message's verb: what was done, or in a dry run what
// would be done.
func (n *Node) verb(done, planned string) string {
	if n.DryRun {
		return planned
	}
	return done
}

func (n *Node) markChanged(component string) {
	if n.changed == nil {
		n.changed = map[string]bool{}
	}
	n.changed[component] = true
}

// CgroupDriver resolves "auto": systemd when PID 1 is systemd.
func (n *Node) CgroupDriver() string {
	if d := n.Spec.CgroupDriver; d != "auto" {
		return d
	}
	if n.Facts.PID1 == "systemd" || n.Facts.PID1 == "" {
		return "systemd"
	}
	return "cgroupfs"
}
