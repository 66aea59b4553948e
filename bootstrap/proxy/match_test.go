package proxy

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/http/httpproxy"
)

// TestMatchesHTTPProxy holds Func to golang.org/x/net's httpproxy, the code
// net/http (and so containerd and kubelet) uses, on every pair of NO_PROXY
// list and request URL below (ASCII hosts: the one documented difference
// is punycode).
func TestMatchesHTTPProxy(t *testing.T) {
	lists := []string{
		"",
		"*",
		"example.com",
		".example.com",
		"*.example.com",
		"example.com:8080",
		".example.com:443",
		"10.0.0.0/8,fd00::/8",
		"10.1.2.3,10.1.2.4:8443",
		"[fd00::1]:6443,fd00::2",
		"::ffff:10.9.9.9",
		"EXAMPLE.org, foo.bar.net ,",
		"*foo.com,*,never.reached",
		":80,[]:1,.",
		"localhost,127.0.0.1,::1,100.100.100.200",
	}
	targets := []string{
		"http://example.com/", "https://example.com/", "http://example.com:8080/", "https://www.example.com/",
		"http://www.example.com:443/", "https://deep.sub.example.com:443/x", "http://notexample.com/", "http://example.com.evil/",
		"http://10.1.2.3/", "https://10.1.2.4:8443/", "https://10.1.2.4/", "http://11.0.0.1/", "http://[fd00::1]:6443/",
		"http://[fd00::1]/", "http://[fd00::2]:99/", "http://[fe80::1]/", "http://10.9.9.9/", "http://Example.Org/",
		"http://foo.bar.net/", "http://x.foo.bar.net/", "http://barfoo.com/", "http://localhost:8080/", "http://LOCALHOST/",
		"http://127.0.0.2/", "http://[::1]:1/", "http://100.100.100.200/latest/", "ftp://example.com/", "https://xfoo.com/",
	}
	const hp, hsp = "http://plain.example:3128", "http://u:pw@secure.example:3129"
	for _, list := range lists {
		for _, proxies := range [][2]string{{hp, hsp}, {hp, ""}, {"", hsp}} {
			ours := Func(Settings{HTTPProxy: proxies[0], HTTPSProxy: proxies[1], NoProxy: strings.Split(list, ",")})
			theirs := (&httpproxy.Config{HTTPProxy: proxies[0], HTTPSProxy: proxies[1], NoProxy: list}).ProxyFunc()
			for _, target := range targets {
				u := mustURL(t, target)
				a, errA := ours(&http.Request{URL: u})
				b, errB := theirs(u)
				if str(a) != str(b) || (errA == nil) != (errB == nil) {
					t.Errorf("NO_PROXY %q, proxies %q, %s: ours %s (%v), httpproxy's %s (%v)", list, proxies, target, str(a), errA, str(b), errB)
				}
			}
		}
	}
}

func str(u *url.URL) string {
	if u == nil {
		return "direct"
	}
	return u.String()
}
