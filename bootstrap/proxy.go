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
		return n.writeAll([]hostFile{{p, data, proxy.DropInMode(s)}})
	}
	return n.removeGenerated(p)
}

// proxyDropIns are the proxy drop-ins of containerd and kubelet, for reset.
func proxyDropIns() []string {
	return []string{proxy.DropInPath(containerdUnit), proxy.DropInPath(kubeletUnit)}
}
