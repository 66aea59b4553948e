// Package hostprep holds pure renderers for the host preparation files
// (modules-load.d, sysctl.d) and the fstab edit that disables swap.
package hostprep

import (
	"bytes"
	"strings"

	"github.com/hybridnode/hybridnode/assets"
)

// Where the host phase writes ModulesLoad(DefaultModules) and
// Sysctl(DefaultSysctls).
const (
	ModulesFile = "/etc/modules-load.d/hybridnode.conf"
	SysctlFile  = "/etc/sysctl.d/99-hybridnode.conf"
)

// DefaultModules are the kernel modules containerd and kube-proxy need:
// overlay for the overlayfs snapshotter, br_netfilter so that bridged
// traffic traverses iptables (and the net.bridge.* sysctls exist).
var DefaultModules = []string{"overlay", "br_netfilter"}

// KV is one sysctl setting.
type KV struct {
	Key   string // dotted form, e.g. net.ipv4.ip_forward
	Value string
}

// DefaultSysctls are the settings kubeadm's preflight checks and
// kube-proxy expect.
var DefaultSysctls = []KV{
	{Key: "net.bridge.bridge-nf-call-iptables", Value: "1"},
	{Key: "net.bridge.bridge-nf-call-ip6tables", Value: "1"},
	{Key: "net.ipv4.ip_forward", Value: "1"},
}

// ModulesLoad renders a modules-load.d(5) file: the header, then one module
// per line in the given order. Blank names and repeats are dropped.
func ModulesLoad(modules []string) []byte {
	var b bytes.Buffer
	b.WriteString(assets.Header + "\n")
	seen := map[string]bool{}
	for _, m := range modules {
		m = strings.TrimSpace(m)
		if m == "" || seen[m] {
			continue
		}
		seen[m] = true
		b.WriteString(m + "\n")
	}
	return b.Bytes()
}

// Sysctl renders a sysctl.d(5) file: the header, then "key = value" per
// setting in the given order. Settings with a blank key are dropped; for a
// repeated key the last value wins, at the position of its first occurrence.
func Sysctl(settings []KV) []byte {
	var order []string
	values := map[string]string{}
	for _, kv := range settings {
		k := strings.TrimSpace(kv.Key)
		if k == "" {
			continue
		}
		if _, ok := values[k]; !ok {
			order = append(order, k)
		}
		values[k] = strings.TrimSpace(kv.Value)
	}
	var b bytes.Buffer
	b.WriteString(assets.Header + "\n")
	for _, k := range order {
		b.WriteString(k + " = " + values[k] + "\n")
	}
	return b.Bytes()
}

// SysctlPath maps a sysctl key to its file under /proc/sys:
// "net.ipv4.ip_forward" -> "/proc/sys/net/ipv4/ip_forward". As in
// sysctl(8), a key that contains a "/" is already in path form and its dots
// are kept (e.g. "net/ipv4/conf/eth0.100/forwarding").
func SysctlPath(key string) string {
	key = strings.Trim(strings.TrimSpace(key), "/")
	if !strings.Contains(key, "/") {
		key = strings.ReplaceAll(key, ".", "/")
	}
	return "/proc/sys/" + key
}

// DisableSwapInFstab comments out ("#" prepended) every active fstab entry
// whose third field (the file system type) is "swap". Every other byte,
// including comments, blank lines, whitespace, line endings and a missing
// final newline, is left as is. Running it on its own output changes
// nothing. changed reports whether an entry was commented out; when false,
// out is fstab itself.
func DisableSwapInFstab(fstab []byte) (out []byte, changed bool) {
	lines := bytes.SplitAfter(fstab, []byte("\n"))
	var b bytes.Buffer
	b.Grow(len(fstab) + 8)
	for _, line := range lines {
		if isActiveSwap(line) {
			b.WriteByte('#')
			changed = true
		}
		b.Write(line)
	}
	if !changed {
		return fstab, false
	}
	return b.Bytes(), true
}

func isActiveSwap(line []byte) bool {
	fields := strings.Fields(string(line))
	if len(fields) < 3 || strings.HasPrefix(fields[0], "#") {
		return false
	}
	return fields[2] == "swap"
}
