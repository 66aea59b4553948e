package config

import "strings"

// The values of kubeProxyMode: auto reads the cluster's kube-proxy
// configuration before the join; the others force that mode (a baked image,
// an air-gapped node, a cluster whose ConfigMap the token may not read).
const (
	KubeProxyAuto     = "auto"
	KubeProxyIPVS     = "ipvs"
	KubeProxyIPTables = "iptables"
	KubeProxyNFTables = "nftables"
)

// KubeProxyModes lists kubeProxyMode's allowed values, auto first.
var KubeProxyModes = []string{KubeProxyAuto, KubeProxyIPVS, KubeProxyIPTables, KubeProxyNFTables}

func validateKubeProxyMode(c Config, bad func(key, got, want string)) {
	for _, m := range KubeProxyModes {
		if c.KubeProxyMode == m {
			return
		}
	}
	bad("kubeProxyMode", c.KubeProxyMode, strings.Join(KubeProxyModes[:len(KubeProxyModes)-1], ", ")+" or "+KubeProxyModes[len(KubeProxyModes)-1]+
		" (auto: as the cluster's kube-system/kube-proxy ConfigMap says)")
}
