package config

import "testing"

// TestKubeProxyMode: auto by default; each mode is taken from the file, the
// environment and the flag, the later source winning, each naming its source.
func TestKubeProxyMode(t *testing.T) {
	for _, tc := range []struct {
		name       string
		env        string
		file       string
		flag       string
		want, from string
	}{
		{name: "default", want: KubeProxyAuto, from: "kubeProxyMode"},
		{name: "file", file: "kubeProxyMode: ipvs\n", want: KubeProxyIPVS, from: "kubeProxyMode (/etc/hybridnode/config.yaml)"},
		{name: "env over file", file: "kubeProxyMode: ipvs\n", env: "nftables", want: KubeProxyNFTables, from: "HYBRIDNODE_KUBE_PROXY_MODE"},
		{name: "flag over env", env: "ipvs", flag: "iptables", want: KubeProxyIPTables, from: "--kube-proxy-mode"},
		{name: "auto forced back", env: "ipvs", flag: "auto", want: KubeProxyAuto, from: "--kube-proxy-mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := ackEnv()
			if tc.env != "" {
				env["HYBRIDNODE_KUBE_PROXY_MODE"] = tc.env
			}
			var flags map[string]string
			if tc.flag != "" {
				flags = map[string]string{"kubeProxyMode": tc.flag}
			}
			l, err := load(t, env, tc.file, flags)
			if err != nil {
				t.Fatal(err)
			}
			s, err := validate(l, ResolveOptions{Join: true})
			if err != nil {
				t.Fatal(err)
			}
			if s.KubeProxyMode != tc.want {
				t.Errorf("kubeProxyMode = %q, want %q", s.KubeProxyMode, tc.want)
			}
			if got := l.Where("kubeProxyMode"); got != tc.from {
				t.Errorf("source %q, want %q", got, tc.from)
			}
		})
	}
}
