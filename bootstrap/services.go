package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/hybridnode/hybridnode/assets"
	"github.com/hybridnode/hybridnode/bootstrap/containerd"
	"github.com/hybridnode/hybridnode/bootstrap/hostcheck"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/kubelet"
)

const (
	crictlConfig      = "/etc/crictl.yaml"
	containerdTimeout = 2 * time.Minute
)

// writeAll writes files through the seam and reports whether any changed.
func (n *Node) writeAll(files []rendered) (bool, error) {
	changed := false
	for _, f := range files {
		c, err := n.FS.WriteFile(f.path, f.data, f.mode)
		if err != nil {
			return false, err
		}
		if c {
			n.Log.Info(n.verb("wrote", "would write"), zap.String("path", f.path))
		}
		changed = changed || c
	}
	return changed, nil
}

var crictlYAML = []byte(assets.Header + "\nruntime-endpoint: " + hoststate.CRISocket + "\nimage-endpoint: " + hoststate.CRISocket + "\ntimeout: 10\n")

// rendered is a file to write: its path, content and mode.
type rendered struct {
	path string
	data []byte
	mode fs.FileMode
}

// renderContainerdConfig renders the node's config.toml.
func (n *Node) renderContainerdConfig() ([]byte, error) {
	return containerd.RenderConfig(containerd.ConfigInput{
		Major:               n.Spec.ContainerdMajor,
		SandboxImage:        n.Spec.SandboxImage,
		SystemdCgroup:       n.CgroupDriver() == "systemd",
		RestrictOOMScoreAdj: n.Spec.RestrictOOMScoreAdj,
		CNIBinDir:           hoststate.CNIBinDir,
		CNIConfDir:          hoststate.CNIConfDir,
		RegistryConfigPath:  containerd.CertsDir,
		NvidiaRuntime:       n.Facts.NvidiaRuntime,
		NvidiaDefault:       n.Spec.GPUDefaultRuntime,
	})
}

func runContainerd(ctx context.Context, n *Node) error {
	if c := n.checkGPU(); c.Status == hostcheck.Fail { // preflight skipped
		return errors.New(c.Detail())
	}
	cfg, err := n.renderContainerdConfig()
	if err != nil {
		return err
	}
	if err := n.keepEditedContainerdConfig(cfg); err != nil { // preflight skipped
		return err
	}
	// crictl talks to this containerd without guessing endpoints.
	files := []rendered{{containerd.ConfigPath, cfg, 0o644}, {crictlConfig, crictlYAML, 0o644}}
	regs := make([]string, 0, len(n.Spec.RegistryMirrors))
	for r := range n.Spec.RegistryMirrors {
		regs = append(regs, r)
	}
	sort.Strings(regs)
	for _, r := range regs {
		hosts, err := containerd.RenderHosts(containerd.Mirror{Registry: r, Endpoints: n.Spec.RegistryMirrors[r]})
		if err != nil {
			return err
		}
		files = append(files, rendered{path.Join(containerd.CertsDir, containerd.HostsPath(r)), hosts, 0o644})
	}
	configChanged, err := n.writeAll(files)
	if err != nil {
		return err
	}
	unitChanged, err := n.writeAll([]rendered{{containerd.UnitPath(n.Facts.UnitDir), containerd.RenderUnit(hoststate.BinDir), 0o644}})
	if err != nil {
		return err
	}
	if proxyChanged, err := n.syncProxyDropIn(ctx, hoststate.ContainerdUnit); err != nil {
		return err
	} else if proxyChanged {
		unitChanged = true
	}
	if err := n.ensureService(ctx, hoststate.ContainerdUnit, serviceChange{
		unitFile: unitChanged,
		restart:  configChanged || unitChanged || n.changed["containerd"],
		start:    true,
	}); err != nil {
		return err
	}
	if !n.Systemd.Live() || n.DryRun {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, containerdTimeout)
	defer cancel()
	info, err := n.WaitContainerd(wctx, hoststate.ContainerdSocket)
	if err != nil {
		return fmt.Errorf("containerd did not become ready: %w", err)
	}
	n.Report.milestone("containerdReady", n.now())
	n.Log.Info("containerd ready", zap.String("version", info.Version))
	return nil
}

func runKubelet(ctx context.Context, n *Node) error {
	in := kubelet.UnitInput{BinDir: hoststate.BinDir, EnvFile: n.Facts.KubeletEnv}
	unitChanged, err := n.writeAll([]rendered{
		{kubelet.UnitPath(n.Facts.UnitDir), kubelet.RenderUnit(in), 0o644},
		{kubelet.DropInPath(n.Facts.UnitDir), kubelet.RenderDropIn(in), 0o644},
	})
	if err != nil {
		return err
	}
	if proxyChanged, err := n.syncProxyDropIn(ctx, hoststate.KubeletUnit); err != nil {
		return err
	} else if proxyChanged {
		unitChanged = true
	}
	// kubelet is enabled, not started: kubeadm join starts it once its
	// configuration exists.
	return n.ensureService(ctx, hoststate.KubeletUnit, serviceChange{unitFile: unitChanged, restart: unitChanged || n.changed["kubelet"]})
}

// serviceChange is what ensureService is told about a unit.
type serviceChange struct {
	unitFile bool // a unit file (or drop-in) changed: reload systemd first
	restart  bool // its binary, unit or config changed: restart it if running
	start    bool // start it if it is not running
}

// ensureService reloads systemd when a unit file changed, enables the unit,
// restarts it if it runs and something changed, and, when c.start is set,
// starts it if inactive. An unchanged running service is left alone.
func (n *Node) ensureService(ctx context.Context, unit string, c serviceChange) error {
	if c.unitFile {
		if err := n.Systemd.DaemonReload(ctx); err != nil {
			return fmt.Errorf("systemd daemon-reload: %w", err)
		}
	}
	if _, err := n.Systemd.Enable(ctx, unit); err != nil {
		return fmt.Errorf("enabling %s: %w", unit, err)
	}
	state, err := n.Systemd.ActiveState(ctx, unit)
	if err != nil {
		return fmt.Errorf("state of %s: %w", unit, err)
	}
	switch {
	case !n.Systemd.Live():
		return nil
	case state == "active" && c.restart:
		n.Log.Info("restarting", zap.String("unit", unit), zap.String("why", "binary, unit or config changed"))
		err = n.Systemd.Restart(ctx, unit)
	case state == "active":
		return nil
	case c.start:
		n.Log.Info("starting", zap.String("unit", unit))
		err = n.Systemd.Start(ctx, unit)
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", unit, err)
	}
	return nil
}
