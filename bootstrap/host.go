package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"go.uber.org/zap"

	"github.com/hybridnode/hybridnode/bootstrap/command"
	"github.com/hybridnode/hybridnode/bootstrap/hostcheck"
	"github.com/hybridnode/hybridnode/bootstrap/hostprep"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

func runHost(ctx context.Context, n *Node) error {
	if err := ensureModules(ctx, n); err != nil {
		return fmt.Errorf("kernel modules: %w", err)
	}
	if err := ensureSysctls(ctx, n); err != nil {
		return fmt.Errorf("sysctls: %w", err)
	}
	if err := ensureSwapOff(ctx, n); err != nil {
		return fmt.Errorf("swap: %w", err)
	}
	return nil
}

func ensureModules(ctx context.Context, n *Node) error {
	if _, err := n.writeAll([]rendered{{hostprep.ModulesFile, hostprep.ModulesLoad(hostprep.DefaultModules), 0o644}}); err != nil {
		return err
	}
	if !n.Live {
		return nil
	}
	for _, m := range hostprep.DefaultModules {
		if hostcheck.ModuleLoaded(n.FS, m) {
			continue
		}
		if _, err := n.Cmd.Run(ctx, command.Cmd{Name: "modprobe", Args: []string{m}}); err != nil {
			return fmt.Errorf("loading %s: %w", m, err)
		}
		n.Log.Info("loaded kernel module", zap.String("module", m))
	}
	return nil
}

func ensureSysctls(ctx context.Context, n *Node) error {
	if _, err := n.writeAll([]rendered{{hostprep.SysctlFile, hostprep.Sysctl(hostprep.DefaultSysctls), 0o644}}); err != nil {
		return err
	}
	if !n.Live {
		return nil
	}
	var stale []string
	for _, kv := range hostprep.DefaultSysctls {
		cur, err := n.FS.ReadFile(hostprep.SysctlPath(kv.Key))
		if err != nil || strings.TrimSpace(string(cur)) != kv.Value {
			stale = append(stale, kv.Key)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	// Apply only what differs, so that a second run runs nothing.
	if _, err := n.Cmd.Run(ctx, command.Cmd{Name: "sysctl", Args: []string{"-p", hostprep.SysctlFile}}); err != nil {
		return fmt.Errorf("applying %s (%s): %w", hostprep.SysctlFile, strings.Join(stale, ", "), err)
	}
	n.Log.Info("applied sysctls", zap.Strings("keys", stale))
	return nil
}

func ensureSwapOff(ctx context.Context, n *Node) error {
	fstab, err := n.FS.ReadFile(hoststate.Fstab)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		if out, changed := hostprep.DisableSwapInFstab(fstab); changed {
			mode := fs.FileMode(0o644)
			if fi, err := n.FS.Stat(hoststate.Fstab); err == nil {
				mode = fi.Mode().Perm()
			}
			if _, err := n.FS.WriteFile(hoststate.Fstab, out, mode); err != nil {
				return err
			}
		}
	}
	if devices, _ := hostcheck.SwapDevices(n.FS); !n.Live || len(devices) == 0 {
		return nil
	}
	if _, err := n.Cmd.Run(ctx, command.Cmd{Name: "swapoff", Args: []string{"-a"}}); err != nil {
		return err
	}
	n.Log.Info("turned swap off")
	return nil
}
