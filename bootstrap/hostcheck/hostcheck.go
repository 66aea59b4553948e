// Package hostcheck holds the host checks preflight (bootstrap) and
// `hybridnode doctor` share: each reads the host through the file seam
// and the probed facts, and returns a Result both present their own way.
package hostcheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/hybridnode/hybridnode/bootstrap/doctor/report"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/hostprep"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/kubelet"
)

// Check statuses, shared by preflight findings and `hybridnode doctor`:
// the report's own.
const (
	Pass = report.Pass
	Warn = report.Warn
	Fail = report.Fail
	Skip = report.Skip
)

// Result is the outcome of one host check: preflight and doctor run the
// same functions and present them their own way.
type Result struct {
	Status   string
	Evidence string // what was seen, one line
	Remedy   string // what to do, one line; empty when passing
}

// Detail is evidence and remedy on one line (a preflight finding's detail).
func (c Result) Detail() string {
	if c.Remedy == "" {
		return c.Evidence
	}
	return c.Evidence + "; " + c.Remedy
}

// CheckRoot: hybridnode must run as root on a live host.
func CheckRoot(live bool, root string, euid int) Result {
	switch {
	case !live:
		return Result{Status: Skip, Evidence: "no live host behind --root " + root}
	case euid != 0:
		return Result{Status: Fail, Evidence: fmt.Sprintf("running as uid %d", euid), Remedy: "run as root (sudo hybridnode ...)"}
	}
	return Result{Status: Pass, Evidence: "running as root"}
}

// CheckSystemd: PID 1 must be systemd.
func CheckSystemd(f hoststate.Facts) Result {
	switch f.PID1 {
	case "":
		return Result{Status: Skip, Evidence: "PID 1 unknown (no /proc/1/comm under the root)"}
	case "systemd":
		return Result{Status: Pass, Evidence: "PID 1 is systemd"}
	}
	return Result{Status: Fail, Evidence: fmt.Sprintf("PID 1 is %q, not systemd", f.PID1),
		Remedy: "boot the host with systemd: hybridnode manages containerd and kubelet as systemd units"}
}

// CheckCgroups: the cgroup version and what it means for kubelet 1.<minor>.
func CheckCgroups(f hoststate.Facts, minor int) Result {
	switch v := f.CgroupVersion; {
	case v == 0:
		return Result{Status: Skip, Evidence: "cgroup version unknown (no /sys/fs/cgroup under the root)"}
	case kubelet.NeedsFailCgroupV1False(minor, v == 1):
		return Result{Status: Warn, Evidence: fmt.Sprintf("cgroup v1 with kubelet 1.%d: kubelet gets failCgroupV1: false and kubeadm's SystemVerification check is ignored", minor),
			Remedy: "plan a move to cgroup v2 (kernel argument systemd.unified_cgroup_hierarchy=1)"}
	case v == 1:
		return Result{Status: Pass, Evidence: fmt.Sprintf("cgroup v1 (kubelet 1.%d supports it; from 1.35 it needs failCgroupV1: false, which hybridnode sets)", minor)}
	}
	return Result{Status: Pass, Evidence: fmt.Sprintf("cgroup v%d", f.CgroupVersion)}
}

// HasTool reports whether an executable name is on hoststate.ToolPath
// under the root.
func HasTool(f hostfs.FS, name string) bool {
	for _, d := range hoststate.ToolPath {
		if fi, err := f.Stat(path.Join(d, name)); err == nil && !fi.IsDir() && fi.Mode().Perm()&0o111 != 0 {
			return true
		}
	}
	return false
}

// conntrackUntil is the first kubeadm minor whose preflight no longer
// requires conntrack on PATH.
const conntrackUntil = 32

// Tool is a host tool a node needs and hybridnode does not install, with
// the package that provides it on each OS family.
type Tool struct {
	Name string
	// By is what requires it: "<By> requires it".
	By           string
	Debian, RHEL string // package names
}

// IPSetTool: kube-proxy's IPVS mode works with ipset sets.
var IPSetTool = Tool{Name: "ipset", By: "kube-proxy's IPVS mode", Debian: "ipset", RHEL: "ipset"}

// CheckTools: the host tools kubeadm 1.<minor>'s own preflight requires
// and hybridnode does not install (conntrack before 1.32), and the extra
// ones the cluster needs (ipset for kube-proxy's IPVS mode). A missing one
// fails, naming it and the package of the host's family.
func CheckTools(f hostfs.FS, facts hoststate.Facts, minor int, extra ...Tool) Result {
	var need []Tool
	if minor < conntrackUntil {
		need = append(need, Tool{Name: "conntrack", By: fmt.Sprintf("kubeadm 1.%d's preflight", minor), Debian: "conntrack", RHEL: "conntrack-tools"})
	}
	need = append(need, extra...)
	if len(need) == 0 {
		return Result{Status: Pass, Evidence: fmt.Sprintf("kubeadm 1.%d needs no host tool beyond the base system", minor)}
	}
	var have, missing []string
	var debian, rhel []string
	for _, t := range need {
		if HasTool(f, t.Name) {
			have = append(have, fmt.Sprintf("%s is on PATH (%s requires it)", t.Name, t.By))
			continue
		}
		missing = append(missing, fmt.Sprintf("%s is not on PATH (%s), and %s requires it", t.Name, strings.Join(hoststate.ToolPath, ":"), t.By))
		debian, rhel = append(debian, t.Debian), append(rhel, t.RHEL)
	}
	if len(missing) == 0 {
		return Result{Status: Pass, Evidence: strings.Join(have, "; ")}
	}
	it := "it"
	if len(missing) > 1 {
		it = "them"
	}
	apt, dnf := "apt-get install -y "+strings.Join(debian, " "), "dnf install -y "+strings.Join(rhel, " ")
	remedy := "install " + it + ": " + apt + " (Debian, Ubuntu); " + dnf + " (Alibaba Cloud Linux, RHEL, CentOS)"
	if facts.OSFamily == "rhel" {
		remedy = "install " + it + ": " + dnf + " (yum on CentOS 7)"
	} else if facts.OSFamily == "debian" {
		remedy = "install " + it + ": " + apt
	}
	return Result{Status: Fail, Evidence: strings.Join(missing, "; "), Remedy: remedy}
}

// CheckPortFree: nothing may listen on port before kubelet does.
func CheckPortFree(f hostfs.FS, port int) Result {
	listening, known := PortListening(f, port)
	switch {
	case !known:
		return Result{Status: Skip, Evidence: "no /proc/net/tcp under the root"}
	case listening:
		return Result{Status: Fail, Evidence: fmt.Sprintf("something already listens on port %d (kubelet's port)", port),
			Remedy: "stop it, or run `hybridnode reset` if it is an old kubelet"}
	}
	return Result{Status: Pass, Evidence: fmt.Sprintf("port %d is free", port)}
}

// CheckSwap: swap must be off (kubelet refuses to start with swap by default).
func CheckSwap(f hostfs.FS) Result {
	devices, known := SwapDevices(f)
	switch {
	case !known:
		return Result{Status: Skip, Evidence: "no /proc/swaps under the root"}
	case len(devices) > 0:
		return Result{Status: Fail, Evidence: "swap is on: " + strings.Join(devices, ", "),
			Remedy: "swapoff -a and comment out the swap lines in " + hoststate.Fstab + " (the host phase of `hybridnode join` does both)"}
	}
	return Result{Status: Pass, Evidence: "swap is off"}
}

// CheckModules: overlay and br_netfilter must be loaded (or built in).
func CheckModules(f hostfs.FS) Result {
	if !exists(f, "/sys/module") && !exists(f, "/proc/filesystems") {
		return Result{Status: Skip, Evidence: "no /sys/module or /proc/filesystems under the root"}
	}
	var missing []string
	for _, m := range hostprep.DefaultModules {
		if !ModuleLoaded(f, m) {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		return Result{Status: Fail, Evidence: "not loaded: " + strings.Join(missing, ", "),
			Remedy: "modprobe " + strings.Join(missing, " ") + " and list them in " + hostprep.ModulesFile + " (the host phase of `hybridnode join` does both)"}
	}
	return Result{Status: Pass, Evidence: strings.Join(hostprep.DefaultModules, ", ") + " loaded"}
}

// CheckSysctls: the bridge-nf-call and ip_forward sysctls must be 1.
func CheckSysctls(f hostfs.FS) Result {
	if !exists(f, "/proc/sys") {
		return Result{Status: Skip, Evidence: "no /proc/sys under the root"}
	}
	var bad, good []string
	for _, kv := range hostprep.DefaultSysctls {
		cur, err := f.ReadFile(hostprep.SysctlPath(kv.Key))
		switch {
		case err != nil:
			bad = append(bad, kv.Key+" missing")
		case strings.TrimSpace(string(cur)) != kv.Value:
			bad = append(bad, fmt.Sprintf("%s = %s", kv.Key, strings.TrimSpace(string(cur))))
		default:
			good = append(good, kv.Key+" = "+kv.Value)
		}
	}
	if len(bad) > 0 {
		return Result{Status: Fail, Evidence: strings.Join(bad, ", "),
			Remedy: "sysctl -p " + hostprep.SysctlFile + " after loading br_netfilter (the host phase of `hybridnode join` writes and applies it)"}
	}
	return Result{Status: Pass, Evidence: strings.Join(good, ", ")}
}

func exists(f hostfs.FS, p string) bool {
	_, err := f.Stat(p)
	return err == nil
}

// PortListening reads /proc/net/tcp and tcp6 for a LISTEN socket on port.
func PortListening(f hostfs.FS, port int) (listening, known bool) {
	want := fmt.Sprintf(":%04X", port)
	for _, p := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := f.ReadFile(p)
		if err != nil {
			continue
		}
		known = true
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			// sl local_address rem_address st ...; st 0A is LISTEN
			if len(fl) > 3 && strings.HasSuffix(fl[1], want) && fl[3] == "0A" {
				return true, true
			}
		}
	}
	return false, known
}

// ModuleLoaded looks for the module itself, or for what it provides when it
// is built into the kernel (a built-in br_netfilter has no /sys/module
// entry, but has its sysctls).
func ModuleLoaded(f hostfs.FS, m string) bool {
	if exists(f, "/sys/module/"+m) {
		return true
	}
	switch m {
	case "br_netfilter":
		return exists(f, "/proc/sys/net/bridge/bridge-nf-call-iptables")
	case "overlay":
		data, err := f.ReadFile("/proc/filesystems")
		return err == nil && bytes.Contains(data, []byte("\toverlay\n"))
	}
	return false
}

// SwapDevices reads /proc/swaps (a header line, then one line per device);
// known is false when there is no /proc/swaps.
func SwapDevices(f hostfs.FS) (devices []string, known bool) {
	data, err := f.ReadFile("/proc/swaps")
	if err != nil {
		return nil, !errors.Is(err, fs.ErrNotExist)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for first := true; sc.Scan(); first = false {
		fl := strings.Fields(sc.Text())
		if first || len(fl) == 0 {
			continue
		}
		devices = append(devices, fl[0])
	}
	return devices, true
}

// IPVSModulesMissing lists the IPVS modules neither /proc/modules lists nor
// /sys/module has (built in); known is false when neither can be read.
func IPVSModulesMissing(f hostfs.FS) (missing []string, known bool) {
	data, err := f.ReadFile("/proc/modules")
	loaded := hostprep.ParseProcModules(data)
	known = err == nil || exists(f, "/sys/module")
	for _, m := range hostprep.IPVSModules {
		if !loaded[m] && !exists(f, "/sys/module/"+m) {
			missing = append(missing, m)
		}
	}
	return missing, known
}
