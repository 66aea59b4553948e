package bootstrap

import (
	"github.com/hybridnode/hybridnode/bootstrap/artifact"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/proxy"
)

// proxiedSource opens artifact sources through the node's proxy settings
// (and nothing of the process environment).
func proxiedSource(s *config.Spec) func(base string) (artifact.Fetcher, error) {
	return func(base string) (artifact.Fetcher, error) {
		return artifact.NewSource(base, artifact.WithProxy(proxy.Func(proxy.FromConfig(s.Config))))
	}
}

// syncProxyDropIn makes unit's proxy drop-in (proxy.DropInPath) say the
// node's proxy settings: written when a proxy is set, and the one
// hybridnode wrote removed when none is (a drop-in of anyone else stays).
// It reports whether anything changed: then systemd reloads and the
// service restarts, as for a change of its unit.
func (n *Node) syncProxyDropIn(unit string) (bool, error) {
	s := proxy.FromConfig(n.Spec.Config)
	p := proxy.DropInPath(unit)
	if data := proxy.RenderDropIn(s); data != nil {
		return n.writeAll([]rendered{{p, data, proxy.DropInMode(s)}})
	}
	return n.removeGenerated(p)
}

// proxyEnv is what kubeadm join gets over the process's environment: the
// node's effective proxy settings (its NO_PROXY has the API server), so
// that a proxy from the shell without the API server in its NO_PROXY is
// not taken for discovery and the TLS bootstrap. Nil without a proxy (the
// configuration then found none in the environment either).
func (n *Node) proxyEnv() []string {
	var out []string
	for _, kv := range proxy.FromConfig(n.Spec.Config).Env() {
		out = append(out, kv[0]+"="+kv[1])
	}
	return out
}
