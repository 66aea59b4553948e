// Package proxy is the node's HTTP(S) proxy settings as every user of them
// sees them: the effective NO_PROXY (one pure function, NoProxy), the Proxy
// func of hybridnode's own HTTP clients (built from the settings alone,
// never from the process environment, by net/http's own rules: the ones
// containerd and kubelet follow), and the systemd drop-in
// that gives containerd and kubelet the same settings (a pure renderer).
package proxy

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

// MetadataAddress is the ECS instance metadata service: never reached
// through a proxy.
const MetadataAddress = "100.100.100.200"

// Always are in every effective NO_PROXY, after the user's entries and the
// cluster's: the metadata service and the loopback names and addresses.
var Always = []string{MetadataAddress, "localhost", "127.0.0.1", "::1"}

// Settings are the effective proxy settings: the proxies (URLs with their
// user information, for the clients and the drop-ins; print them only
// through config.RedactURL) and the effective NO_PROXY.
type Settings struct {
	HTTPProxy  string
	HTTPSProxy string
	NoProxy    []string
}

// Enabled: a proxy is set. NO_PROXY alone changes nothing.
func (s Settings) Enabled() bool { return s.HTTPProxy != "" || s.HTTPSProxy != "" }

// Known is what is known of the cluster and the node when the settings are
// made; any of it may be empty.
type Known struct {
	// APIServerHost is the API server's host (of apiServerEndpoint).
	APIServerHost string
	// ServiceCIDRs and PodCIDRs are the cluster's subnets: what a join
	// with a proxy read of kube-system/kubeadm-config with the bootstrap
	// token (and recorded in hoststate.ClusterPath); unknown with the
	// token service, whose token comes after containerd has started.
	ServiceCIDRs []string
	PodCIDRs     []string
	// NodeAddresses are the node's own addresses.
	NodeAddresses []string
}

// NoProxy is the effective NO_PROXY: the user's entries first (as given,
// each comma separated item on its own), then the API server host, the
// service and pod CIDRs, Always, and the node's addresses; each entry once
// (the first of those that differ only in case, or name the same IP
// address or prefix).
func NoProxy(user []string, k Known) []string {
	var all []string
	for _, u := range user {
		all = append(all, strings.Split(u, ",")...)
	}
	all = append(all, k.APIServerHost)
	all = append(all, k.ServiceCIDRs...)
	all = append(all, k.PodCIDRs...)
	all = append(all, Always...)
	all = append(all, k.NodeAddresses...)
	seen := map[string]bool{}
	out := []string{}
	for _, e := range all {
		e = strings.TrimSpace(e)
		key := canonical(e)
		if e == "" || seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, e)
	}
	return out
}

// canonical is the form entries are deduplicated by: an IP address or
// prefix in its standard form, anything else in lower case.
func canonical(e string) string {
	if a, err := netip.ParseAddr(strings.Trim(e, "[]")); err == nil {
		return a.String()
	}
	if p, err := netip.ParsePrefix(e); err == nil {
		return p.Masked().String()
	}
	return strings.ToLower(e)
}

// KnownFrom is what the configuration says of the cluster and the node:
// the API server's host, and the node's address from kubelet's node-ip
// (kubeletExtraArgs) and from a node name of the form <region>.<IPv4>
// (ACK's, and the instance metadata's).
func KnownFrom(c config.Config) Known {
	var k Known
	if host, _, err := net.SplitHostPort(c.APIServerEndpoint); err == nil {
		k.APIServerHost = host
	}
	for _, ip := range strings.Split(c.KubeletExtraArgs["node-ip"], ",") {
		if a, err := netip.ParseAddr(strings.TrimSpace(ip)); err == nil {
			k.NodeAddresses = append(k.NodeAddresses, a.String())
		}
	}
	if a, ok := nodeNameAddress(c.NodeName); ok {
		k.NodeAddresses = append(k.NodeAddresses, a)
	}
	return k
}

// nodeNameAddress reads the IPv4 address of a node name <region>.<IPv4>
// (cn-hangzhou.10.0.1.5) or of a node name that is an address.
func nodeNameAddress(name string) (string, bool) {
	if a, err := netip.ParseAddr(name); err == nil {
		return a.String(), true
	}
	_, rest, ok := strings.Cut(name, ".")
	if !ok {
		return "", false
	}
	a, err := netip.ParseAddr(rest)
	if err != nil || !a.Is4() {
		return "", false
	}
	return a.String(), true
}

// WithCluster is k with the cluster's subnets of rec (a join's record,
// hoststate.ClusterPath; nil: none known).
func (k Known) WithCluster(rec *hoststate.Cluster) Known {
	if rec != nil {
		k.ServiceCIDRs, k.PodCIDRs = rec.ServiceSubnets, rec.PodSubnets
	}
	return k
}

// FromConfig are the effective settings of a configuration: its proxies,
// and its noProxy with what the configuration knows (KnownFrom).
func FromConfig(c config.Config) Settings {
	return New(c, KnownFrom(c))
}

// New are the effective settings of a configuration with what is known
// besides it.
func New(c config.Config, k Known) Settings {
	s := Settings{HTTPProxy: c.HTTPProxy.Reveal(), HTTPSProxy: c.HTTPSProxy.Reveal()}
	if s.Enabled() {
		s.NoProxy = NoProxy(c.NoProxy, k)
	}
	return s
}

// Func is the Proxy func of an http.Transport for the settings: nil (no
// proxy at all) when none is set; otherwise net/http's own rules (the
// scheme's proxy, NO_PROXY's hosts, domains and CIDRs, loopback always
// direct: match.go), from these settings only, never from the environment.
func Func(s Settings) func(*http.Request) (*url.URL, error) {
	if !s.Enabled() {
		return nil
	}
	var proxies [2]*url.URL
	for i, p := range []struct{ key, url string }{{"httpProxy", s.HTTPProxy}, {"httpsProxy", s.HTTPSProxy}} {
		if p.url == "" {
			continue
		}
		u, err := url.Parse(p.url)
		if err != nil || u.Scheme == "" || u.Host == "" {
			// Validation refuses it before: fail every request rather than
			// go direct, without quoting the URL (password and all).
			err := fmt.Errorf("proxy: %s is not a valid proxy URL (hybridnode config check says why)", p.key)
			return func(*http.Request) (*url.URL, error) { return nil, err }
		}
		proxies[i] = u
	}
	m := compileNoProxy(s.NoProxy)
	return func(r *http.Request) (*url.URL, error) { return choose(r, proxies[0], proxies[1], m), nil }
}

// Env is the environment of the settings, as the drop-ins set it and the
// services read it: HTTP_PROXY, HTTPS_PROXY and NO_PROXY, each in upper
// and lower case (programs read one or the other), in that order; the
// variables of unset proxies are left out, and NO_PROXY too without any
// proxy.
func (s Settings) Env() [][2]string {
	var out [][2]string
	add := func(name, v string) {
		if v != "" {
			out = append(out, [2]string{name, v}, [2]string{strings.ToLower(name), v})
		}
	}
	if !s.Enabled() {
		return nil
	}
	add("HTTP_PROXY", s.HTTPProxy)
	add("HTTPS_PROXY", s.HTTPSProxy)
	add("NO_PROXY", strings.Join(s.NoProxy, ","))
	return out
}

// EnvNames are the variables Env may set.
var EnvNames = []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"}

// HasCredentials: a proxy URL carries user information.
func (s Settings) HasCredentials() bool {
	for _, p := range []string{s.HTTPProxy, s.HTTPSProxy} {
		if u, err := url.Parse(p); err == nil && u.User != nil || err != nil && strings.Contains(p, "@") {
			return true
		}
	}
	return false
}
