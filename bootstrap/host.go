package bootstrap

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"go.uber.org/zap"

	"github.com/hybridnode/hybridnode/bootstrap/command"
	"github.com/hybridnode/hybridnode/bootstrap/hostprep"
)

const (
	modulesFile = "/etc/modules-load.d/hybridnode.conf"
	sysctlFile  = "/etc/sysctl.d/99-hybridnode.conf"
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
	if _, err := n.FS.WriteFile(modulesFile, hostprep.ModulesLoad(hostprep.DefaultModules), 0o644); err != nil {
		return err
	}
	if !n.Live {
		return nil
	}
	for _, m := range hostprep.DefaultModules {
		if moduleLoaded(n, m) {
			continue
		}
		if _, err := n.Cmd.Run(ctx, command.Cmd{Name: "modprobe", Args: []string{m}}); err != nil {
			return fmt.Errorf("loading %s: %w", m, err)
		}
		n.Log.Info("loaded kernel module", zap.String("module", m))
	}
	return nil
}

// moduleLoaded looks for the module itself, or for what it provides when it
// is built into the kernel (a built-in br_netfilter has no /sys/module
// entry, but has its sysctls).
func moduleLoaded(n *Node, m string) bool {
	if _, err := n.FS.Stat("/sys/module/" + m); err == nil {
		return true
	}
	switch m {
	case "br_netfilter":
		_, err := n.FS.Stat("/proc/sys/net/bridge/bridge-nf-call-iptables")
		return err == nil
	case "overlay":
		data, err := n.FS.ReadFile("/proc/filesystems")
		return err == nil && bytes.Contains(data, []byte("\toverlay\n"))
	}
	return false
}

func ensureSysctls(ctx context.Context, n *Node) error {
	if _, err := n.FS.WriteFile(sysctlFile, hostprep.Sysctl(hostprep.DefaultSysctls), 0o644); err != nil {
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
	if _, err := n.Cmd.Run(ctx, command.Cmd{Name: "sysctl", Args: []string{"-p", sysctlFile}}); err != nil {
		return fmt.Errorf("applying %s (%s): %w", sysctlFile, strings.Join(stale, ", "), err)
	}
	n.Log.Info("applied sysctls", zap.Strings("keys", stale))
	return nil
}

func ensureSwapOff(ctx context.Context, n *Node) error {
	fstab, err := n.FS.ReadFile("/etc/fstab")
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		if out, changed := hostprep.DisableSwapInFstab(fstab); changed {
			mode := fs.FileMode(0o644)
			if fi, err := n.FS.Stat("/etc/fstab"); err == nil {
				mode = fi.Mode().Perm()
			}
			if _, err := n.FS.WriteFile("/etc/fstab", out, mode); err != nil {
				return err
			}
		}
	}
	if !n.Live || !swapActive(n) {
		return nil
	}
	if _, err := n.Cmd.Run(ctx, command.Cmd{Name: "swapoff", Args: []string{"-a"}}); err != nil {
		return err
	}
	n.Log.Info("turned swap off")
	return nil
}

// swapActive reads /proc/swaps: a header line, then one line per device.
func swapActive(n *Node) bool {
	data, err := n.FS.ReadFile("/proc/swaps")
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	lines := 0
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			lines++
		}
	}
	return lines > 1
}
