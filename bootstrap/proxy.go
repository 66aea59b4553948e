package bootstrap

import (
	"context"

	"go.uber.org/zap"

	"github.com/hybridnode/hybridnode/bootstrap/artifact"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/bootstrap/proxy"
)

// proxiedSource opens artifact sources through the node's proxy settings
// (and nothing of the process environment).
func proxiedSource(s *config.Spec) func(base string) (artifact.Fetcher, error) {
	return func(base string) (artifact.Fetcher, error) {
		return artifact.NewSource(base, artifact.WithProxy(proxy.Func(proxy.FromConfig(s.Config))))
	}
}

// proxySettings are the node's effective proxy settings: the
// configuration's, with the cluster's subnets in NO_PROXY when they are
// known: read by this run (kubeProxyMode, which a join with a proxy asks
// kube-system/kubeadm-config) or recorded by an earlier join
// (hoststate.ClusterPath), so that a later run of one phase writes the
// same drop-ins. fresh is the record to write: what this run read.
func (n *Node) proxySettings(ctx context.Context) (s proxy.Settings, fresh *hoststate.Cluster, err error) {
	c := n.Spec.Config
	if s = proxy.FromConfig(c); !s.Enabled() {
		return s, nil, nil
	}
	st, err := n.kubeProxyMode(ctx, false)
	if err != nil {
		return s, nil, err
	}
	rec := st.subnets
	if rec == nil {
		if rec, err = hoststate.ReadCluster(n.FS); err != nil {
			n.Log.Warn("the cluster's subnets are not in NO_PROXY: their record does not read", zap.Error(err))
		}
	}
	return proxy.New(c, proxy.KnownFrom(c).WithCluster(rec)), st.subnets, nil
}

// syncProxyDropIn makes unit's proxy drop-in (proxy.DropInPath) and its
// environment file (proxy.EnvFilePath, 0600: the settings, a proxy's
// password and all, which the drop-in only names) say the node's proxy
// settings: written when a proxy is set, the file first; the ones
// hybridnode wrote removed when none is, the drop-in first (a file of
// anyone else stays). The cluster's subnets this run read are recorded
// first (hoststate.ClusterPath). It reports whether anything changed: then
// systemd reloads and the service restarts, as for a change of its unit.
func (n *Node) syncProxyDropIn(ctx context.Context, unit string) (bool, error) {
	s, fresh, err := n.proxySettings(ctx)
	if err != nil {
		return false, err
	}
	if fresh != nil {
		data, err := fresh.Encode()
		if err != nil {
			return false, err
		}
		if _, err := n.writeAll([]rendered{{hoststate.ClusterPath, data, 0o644}}); err != nil {
			return false, err
		}
	}
	drop, env := proxy.DropInPath(unit), proxy.EnvFilePath(unit)
	if s.Enabled() {
		return n.writeAll([]rendered{
			{env, proxy.RenderEnvFile(s), proxy.EnvFileMode},
			{drop, proxy.RenderDropIn(unit, s), proxy.DropInMode},
		})
	}
	changed := false
	for _, p := range []string{drop, env} {
		c, err := n.removeGenerated(p)
		if err != nil {
			return changed, err
		}
		changed = changed || c
	}
	return changed, nil
}

// proxyEnv is what kubeadm join gets over the process's environment: the
// node's effective proxy settings (its NO_PROXY has the API server), so
// that a proxy from the shell without the API server in its NO_PROXY is
// not taken for discovery and the TLS bootstrap. Nil without a proxy (the
// configuration then found none in the environment either).
func (n *Node) proxyEnv(ctx context.Context) ([]string, error) {
	s, _, err := n.proxySettings(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, kv := range s.Env() {
		out = append(out, kv[0]+"="+kv[1])
	}
	return out, nil
}
