package bootstrap

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"runtime"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hybridnode/hybridnode/bootstrap/artifact"
	"github.com/hybridnode/hybridnode/bootstrap/command"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/containerd"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/identity"
	"github.com/hybridnode/hybridnode/bootstrap/kubeconfig"
	"github.com/hybridnode/hybridnode/bootstrap/systemd"
	"github.com/hybridnode/hybridnode/kubelet"
)

// Node is what the phases see: the validated configuration, the host facts
// and the seams. Nothing in a phase reaches the host except through these.
type Node struct {
	Spec    *config.Spec
	Loaded  *config.Loaded
	Facts   Facts
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
	findings  []Finding
	installed *Installed
	changed   map[string]bool // component -> its binary, unit or config changed
	issued    *identity.Token // the token service's token, reused while valid
	kubeProxy *kubeProxyState // the kube-proxy mode, once resolved

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

// Facts are what hybridnode learns about the host, read through the file
// seam so that a test root can fake them. Zero values mean unknown.
type Facts struct {
	Arch          string // amd64, arm64
	OSFamily      string // debian, rhel, or "" (unknown: Debian paths)
	UnitDir       string // /lib/systemd/system or /usr/lib/systemd/system
	KubeletEnv    string // /etc/default/kubelet or /etc/sysconfig/kubelet
	PID1          string // command name of PID 1
	CgroupVersion int    // 1 or 2; 0 unknown
	// NvidiaRuntime is the host path of the NVIDIA container toolkit's
	// nvidia-container-runtime; "" when it is not on the node.
	NvidiaRuntime string
}

// ProbeFacts reads the host facts under the root.
func ProbeFacts(f hostfs.FS) Facts {
	facts := Facts{Arch: runtime.GOARCH, UnitDir: "/lib/systemd/system", KubeletEnv: kubelet.EnvFileDebian}
	if data, err := f.ReadFile("/etc/os-release"); err == nil {
		facts.OSFamily = osFamily(data)
	}
	if facts.OSFamily == "rhel" {
		facts.UnitDir, facts.KubeletEnv = "/usr/lib/systemd/system", kubelet.EnvFileRHEL
	}
	if data, err := f.ReadFile("/proc/1/comm"); err == nil {
		facts.PID1 = strings.TrimSpace(string(data))
	}
	if _, err := f.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		facts.CgroupVersion = 2
	} else if _, err := f.Stat("/sys/fs/cgroup"); err == nil {
		facts.CgroupVersion = 1
	}
	facts.NvidiaRuntime = probeNvidiaRuntime(f)
	return facts
}

// osFamily reads ID and ID_LIKE from os-release.
func osFamily(osRelease []byte) string {
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(osRelease))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			vals[k] = strings.Trim(v, `"'`)
		}
	}
	words := strings.Fields(vals["ID"] + " " + vals["ID_LIKE"])
	for _, w := range words {
		switch w {
		case "debian", "ubuntu":
			return "debian"
		case "rhel", "centos", "fedora", "alinux", "anolis", "rocky", "almalinux":
			return "rhel"
		}
	}
	return ""
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

// AlreadyJoined reports whether the node has a usable kubelet.conf: a
// kubeconfig naming a server, whose client credentials load.
func AlreadyJoined(f hostfs.FS) (bool, string) {
	if _, err := f.Stat(KubeletConf); errors.Is(err, fs.ErrNotExist) {
		return false, "no " + KubeletConf
	}
	cr, err := kubeconfig.Load(f, KubeletConf)
	if err != nil {
		return false, KubeletConf + " is not usable: " + err.Error()
	}
	if cr.Cert == nil && cr.Bearer == "" {
		return false, KubeletConf + " is not usable: it holds no client credentials"
	}
	return true, KubeletConf + " names a server and its client credentials load"
}
