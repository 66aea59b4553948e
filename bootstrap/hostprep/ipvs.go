package hostprep

import (
	"bufio"
	"bytes"
	"strings"

	"github.com/hybridnode/hybridnode/assets"
)

// IPVSModules are the kernel modules kube-proxy's IPVS mode needs: IPVS
// itself, its round-robin, weighted round-robin and source-hashing
// schedulers, and connection tracking.
var IPVSModules = []string{"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack"}

// IPVSModulesFile lists IPVSModules (IPVSModulesLoad) when kube-proxy runs
// in IPVS mode.
const IPVSModulesFile = "/etc/modules-load.d/hybridnode-ipvs.conf"

// IPVSModulesLoad renders the modules-load.d(5) file of kube-proxy's IPVS
// mode: the header, a comment saying why, then IPVSModules one a line.
func IPVSModulesLoad() []byte {
	var b bytes.Buffer
	b.WriteString(assets.Header + "\n")
	b.WriteString("# kube-proxy runs in IPVS mode (kube-system/kube-proxy, or kubeProxyMode: ipvs)\n")
	b.Write(bytes.TrimPrefix(ModulesLoad(IPVSModules), []byte(assets.Header+"\n")))
	return b.Bytes()
}

// ParseProcModules returns the names of the modules /proc/modules lists
// (the first field of each line: "ip_vs 184320 6 ip_vs_rr,... Live 0x...").
// Modules built into the kernel are not there.
func ParseProcModules(data []byte) map[string]bool {
	out := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 {
			out[f[0]] = true
		}
	}
	return out
}
