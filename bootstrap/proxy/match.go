package proxy

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// This is net/http's choice of proxy (vendor/golang.org/x/net/http/httpproxy
// in the standard library, which containerd and kubelet use too) over
// explicit settings instead of the environment: the scheme's proxy; never
// for localhost or a loopback address; NO_PROXY's "*", CIDRs, IP addresses
// and domains (".example.com", "*.example.com" and "example.com" match its
// subdomains, the last also itself), each with an optional :port. The one
// difference: host names are compared as given, not converted to punycode
// first (httpproxy's idna tables would add 170 KB to the binary; noProxy
// entries are ASCII, validation sees to it). TestMatchesHTTPProxy holds it
// to httpproxy's own code.

// noProxyMatcher is a compiled NO_PROXY list.
type noProxyMatcher struct {
	all     bool
	cidrs   []netip.Prefix
	ips     []ipPort
	domains []domain
}

type ipPort struct {
	ip   netip.Addr
	port string
}

type domain struct {
	suffix    string // ".example.com"
	port      string
	matchHost bool // "example.com" itself matches too
}

func compileNoProxy(list []string) noProxyMatcher {
	var m noProxyMatcher
	for _, e := range list {
		for _, p := range strings.Split(e, ",") {
			m.add(strings.ToLower(strings.TrimSpace(p)))
		}
	}
	return m
}

func (m *noProxyMatcher) add(p string) {
	switch {
	case p == "":
		return
	case p == "*":
		m.all = true
		return
	}
	if _, n, err := net.ParseCIDR(p); err == nil {
		pre, _ := netip.ParsePrefix(n.String())
		m.cidrs = append(m.cidrs, pre)
		return
	}
	host, port, err := net.SplitHostPort(p)
	if err == nil {
		if host == "" {
			return
		}
		if host[0] == '[' && host[len(host)-1] == ']' {
			host = host[1 : len(host)-1]
		}
	} else {
		host = p
	}
	if ip := net.ParseIP(host); ip != nil {
		a, _ := netip.AddrFromSlice(ip)
		m.ips = append(m.ips, ipPort{a.Unmap(), port})
		return
	}
	if host == "" {
		return
	}
	if strings.HasPrefix(host, "*.") {
		host = host[1:]
	}
	d := domain{suffix: host, port: port}
	if !strings.HasPrefix(host, ".") {
		d.matchHost, d.suffix = true, "."+host
	}
	m.domains = append(m.domains, d)
}

// direct reports whether a request to u goes without a proxy.
func (m noProxyMatcher) direct(u *url.URL) bool {
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if host == "localhost" {
		return true
	}
	ip, ipErr := netip.ParseAddr(host)
	if ipErr == nil {
		ip = ip.Unmap()
		if ip.IsLoopback() {
			return true
		}
	}
	if m.all {
		return true
	}
	host = strings.ToLower(strings.TrimSpace(host))
	if ipErr == nil {
		for _, c := range m.cidrs {
			if c.Contains(ip) {
				return true
			}
		}
		for _, e := range m.ips {
			if e.ip == ip && (e.port == "" || e.port == port) {
				return true
			}
		}
		return false
	}
	for _, d := range m.domains {
		if (strings.HasSuffix(host, d.suffix) || d.matchHost && host == d.suffix[1:]) && (d.port == "" || d.port == port) {
			return true
		}
	}
	return false
}

// choose is the proxy of a request: the scheme's, unless NO_PROXY says direct.
func choose(r *http.Request, httpProxy, httpsProxy *url.URL, m noProxyMatcher) *url.URL {
	var p *url.URL
	switch r.URL.Scheme {
	case "https":
		p = httpsProxy
	case "http":
		p = httpProxy
	}
	if p == nil || m.direct(r.URL) {
		return nil
	}
	return p
}
