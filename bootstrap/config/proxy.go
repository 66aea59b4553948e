package config

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
)

// ProxyURL is a proxy's URL as given (httpProxy, httpsProxy). Its user
// information (http://user:password@proxy:3128) is a secret: String,
// GoString, JSON and YAML show it as [REDACTED]; Reveal returns the URL.
type ProxyURL string

func (p ProxyURL) String() string   { return RedactURL(string(p)) }
func (p ProxyURL) GoString() string { return p.String() }

// MarshalJSON keeps the user information out of dumps, reports and logs.
func (p ProxyURL) MarshalJSON() ([]byte, error) { return json.Marshal(p.String()) }

// Reveal returns the URL with its user information, for the one place
// that needs it (the proxy settings handed to HTTP clients and units).
func (p ProxyURL) Reveal() string { return string(p) }

// RedactURL replaces the user information of a URL (everything between
// "scheme://", or the start, and the last "@") with [REDACTED]. It works on
// text that is not a valid URL too: it never fails open.
func RedactURL(s string) string {
	start, at, ok := userinfoBounds(s)
	if !ok {
		return s
	}
	return s[:start] + redacted + s[at:]
}

func userinfoBounds(s string) (start, at int, ok bool) {
	at = strings.LastIndex(s, "@")
	if at < 0 {
		return 0, 0, false
	}
	if i := strings.Index(s, "://"); i >= 0 && i < at {
		start = i + 3
	}
	return start, at, true
}

// isProxyKey: the field holds a ProxyURL.
func isProxyKey(key string) bool {
	_, ok := value(&Config{}, key).Interface().(ProxyURL)
	return ok
}

// noteProxySecrets adds the user information in each text given for a
// proxy field (whole, its password, each also percent-decoded) to the
// texts removed from every problem.
func (l *Loaded) noteProxySecrets(key string, texts ...string) {
	if !isProxyKey(key) {
		return
	}
	for _, t := range texts {
		start, at, ok := userinfoBounds(strings.TrimSpace(t))
		if !ok {
			continue
		}
		ui := strings.TrimSpace(t)[start:at]
		parts := []string{ui}
		if _, pw, ok := strings.Cut(ui, ":"); ok {
			parts = append(parts, pw)
		}
		for _, p := range parts {
			l.secrets = append(l.secrets, p)
			if d, err := url.PathUnescape(p); err == nil && d != p {
				l.secrets = append(l.secrets, d)
			}
		}
	}
}

// urlishRE: the runs of a JSON text that may be a URL (no quotes,
// separators or brackets).
var urlishRE = regexp.MustCompile(`[^\s"',\[\]{}]+`)

// redactProxyText redacts every URL's user information in a proxy field's
// raw text (a mistyped file value); other fields' texts are unchanged.
func redactProxyText(key, text string) string {
	if !isProxyKey(key) {
		return text
	}
	return urlishRE.ReplaceAllStringFunc(text, RedactURL)
}

// fallbackDiffers warns when two of a field's fallback variables
// (HTTP_PROXY, http_proxy) are set differently: used is taken. A value of
// the field's own variable (HYBRIDNODE_HTTP_PROXY) overrides the others
// without a word. No value is quoted (they may hold a password).
func (l *Loaded) fallbackDiffers(f Field, used, other string) {
	if used == f.Env[0] {
		return
	}
	l.warn(fmt.Sprintf("%s and %s are both set, differently: %s is used for %s (set %s to choose)", used, other, used, f.Key, f.Env[0]))
}

// validateProxies checks httpProxy, httpsProxy and noProxy.
func validateProxies(l *Loaded, bad func(key, got, want string)) {
	c := l.Config
	for _, key := range []string{"httpProxy", "httpsProxy"} {
		p := value(&c, key).Interface().(ProxyURL)
		if p == "" {
			continue
		}
		if msg := proxyURLProblem(p.Reveal()); msg != "" {
			bad(key, p.String(), "an http:// or https:// proxy URL with a host, such as http://proxy.example.internal:3128 or http://user:password@10.0.0.5:3128 ("+msg+")")
		}
	}
	for _, entry := range c.NoProxy {
		for _, item := range splitList(entry, ",") {
			if msg := noProxyProblem(item); msg != "" {
				bad("noProxy", item, "comma separated host names, .domains, IP addresses or CIDRs, each with an optional :port, such as .example.internal,10.0.0.0/8 ("+msg+")")
			}
		}
	}
}

// proxyURLProblem says what is wrong with a proxy URL, or "".
func proxyURLProblem(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "not a URL"
	case u.Scheme != "http" && u.Scheme != "https", u.Opaque != "":
		return "no http:// or https:// scheme"
	case urlHostProblem(u) != "":
		return urlHostProblem(u)
	case u.Path != "" && u.Path != "/":
		return "no path"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "no query or fragment"
	}
	return ""
}

// noProxyProblem says what is wrong with one NO_PROXY entry, in the forms
// Go's net/http (and so containerd and kubelet) understands, or "".
func noProxyProblem(e string) string {
	if e == "*" {
		return ""
	}
	if strings.Contains(e, "://") {
		return "a host, not a URL"
	}
	if strings.Contains(e, "/") {
		if _, err := netip.ParsePrefix(e); err != nil {
			return "a CIDR such as 10.0.0.0/8"
		}
		return ""
	}
	host := e
	if h, port, err := net.SplitHostPort(e); err == nil {
		if !validPort(port) {
			return "a port from 1 to 65535"
		}
		host = h
	} else if strings.HasPrefix(e, "[") {
		host = strings.TrimSuffix(strings.TrimPrefix(e, "["), "]")
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	name := strings.TrimPrefix(strings.TrimPrefix(host, "*."), ".")
	if name == "" {
		return "a host name after the dot"
	}
	return hostProblem(name, true)
}
