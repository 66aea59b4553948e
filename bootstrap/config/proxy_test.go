package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// proxyPassword is the password of the proxy URLs below: never to be
// printed. shortPassword is below minSecretLen (so only the redaction at
// the source keeps it out).
const (
	proxyPassword = "hunter2-Proxy"
	shortPassword = "pw"
)

func TestProxyFieldsPrecedence(t *testing.T) {
	file := "httpProxy: http://file.example:3128\nhttpsProxy: http://file.example:3128\nnoProxy: [.file.example]\n"
	cases := []struct {
		name   string
		env    map[string]string
		flags  map[string]string
		want   string // httpProxy
		source string
	}{
		{"file", nil, nil, "http://file.example:3128", "file /etc/hybridnode/config.yaml"},
		{"lowercase variable", env("http_proxy", "http://lower.example:3128"), nil, "http://lower.example:3128", "env http_proxy"},
		{"uppercase over lowercase", env("http_proxy", "http://lower.example:3128", "HTTP_PROXY", "http://upper.example:3128"), nil, "http://upper.example:3128", "env HTTP_PROXY"},
		{"hybridnode's own over both", env("http_proxy", "http://lower.example:3128", "HTTP_PROXY", "http://upper.example:3128", "HYBRIDNODE_HTTP_PROXY", "http://own.example:3128"), nil, "http://own.example:3128", "env HYBRIDNODE_HTTP_PROXY"},
		{"flag over all", env("HTTP_PROXY", "http://upper.example:3128", "HYBRIDNODE_HTTP_PROXY", "http://own.example:3128"), map[string]string{"httpProxy": "http://flag.example:3128"}, "http://flag.example:3128", "flag --http-proxy"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := ackEnv()
			for k, v := range c.env {
				e[k] = v
			}
			l, err := load(t, e, file, c.flags)
			if err != nil {
				t.Fatal(err)
			}
			if got := l.Config.HTTPProxy.Reveal(); got != c.want {
				t.Errorf("httpProxy = %q, want %q", got, c.want)
			}
			if got := l.Sources["httpProxy"].String(); got != c.source {
				t.Errorf("httpProxy source = %q, want %q", got, c.source)
			}
			if _, err := validate(l, ResolveOptions{Join: true}); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Every form of every field.
	e := ackEnv()
	e["HTTPS_PROXY"] = "https://secure.example:3129"
	e["no_proxy"] = ".corp.example, 10.0.0.0/8"
	l, err := load(t, e, "", map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Config.HTTPSProxy != "https://secure.example:3129" || l.Where("httpsProxy") != "HTTPS_PROXY" {
		t.Errorf("httpsProxy = %q from %s", l.Config.HTTPSProxy.Reveal(), l.Where("httpsProxy"))
	}
	if got := strings.Join(l.Config.NoProxy, "|"); got != ".corp.example|10.0.0.0/8" || l.Where("noProxy") != "no_proxy" {
		t.Errorf("noProxy = %q from %s", got, l.Where("noProxy"))
	}
	for _, key := range []string{"httpProxy", "httpsProxy", "noProxy"} {
		if f, _ := FieldByKey(key); !f.Install || f.Flag == "" {
			t.Errorf("%s: Install %v, flag %q: install and join both take it, from a flag too", key, f.Install, f.Flag)
		}
	}
}

// TestProxyFallbacksThatDifferWarn: HTTP_PROXY and http_proxy set apart is
// a warning naming both (and no value), never a problem; hybridnode's own
// variable overriding them is no warning at all.
func TestProxyFallbacksThatDifferWarn(t *testing.T) {
	e := ackEnv()
	e["HTTP_PROXY"] = "http://u:" + proxyPassword + "@upper.example:3128"
	e["http_proxy"] = "http://lower.example:3128"
	l, err := load(t, e, "", nil)
	if err != nil {
		t.Fatalf("differing HTTP_PROXY and http_proxy: %v", err)
	}
	if len(l.Warnings) != 1 || !strings.Contains(l.Warnings[0], "HTTP_PROXY and http_proxy") || !strings.Contains(l.Warnings[0], "HYBRIDNODE_HTTP_PROXY") {
		t.Errorf("warnings = %q", l.Warnings)
	}
	if strings.Contains(strings.Join(l.Warnings, " "), proxyPassword) || strings.Contains(strings.Join(l.Warnings, " "), "example") {
		t.Errorf("the warning quotes a value: %q", l.Warnings)
	}
	e["HYBRIDNODE_HTTP_PROXY"] = "http://own.example:3128"
	l, err = load(t, e, "", nil)
	if err != nil || len(l.Warnings) != 0 || l.Config.HTTPProxy != "http://own.example:3128" {
		t.Errorf("own variable: %q %q %v", l.Config.HTTPProxy.Reveal(), l.Warnings, err)
	}
}

var malformedProxyCases = []malformed{
	{"proxy with another scheme", input{env: env("HTTP_PROXY", "socks5://proxy.example:1080")}, []want{{"HTTP_PROXY", "", "an http:// or https:// proxy URL with a host, such as http://proxy.example.internal:3128 or http://user:password@10.0.0.5:3128 (no http:// or https:// scheme)"}}},
	{"proxy without a scheme", input{env: env("HYBRIDNODE_HTTPS_PROXY", "u:"+proxyPassword+"@proxy.example:3128")}, []want{{"HYBRIDNODE_HTTPS_PROXY", "", `got "[REDACTED]@proxy.example:3128", want an http:// or https:// proxy URL`}}},
	{"proxy without a host", input{env: env("https_proxy", "http://")}, []want{{"https_proxy", "", "(no host)"}}},
	{"proxy with a bad port", input{env: env("HYBRIDNODE_HTTP_PROXY", "http://u:"+shortPassword+"@proxy.example:0")}, []want{{"HYBRIDNODE_HTTP_PROXY", "", `got "http://[REDACTED]@proxy.example:0"`}, {"HYBRIDNODE_HTTP_PROXY", "", "a port from 1 to 65535"}}},
	{"proxy with a path", input{env: env("HTTP_PROXY", "http://proxy.example:3128/squid")}, []want{{"HTTP_PROXY", "", "(no path)"}}},
	{"proxy with a query", input{flags: map[string]string{"httpsProxy": "http://proxy.example:3128?x=1"}}, []want{{"--https-proxy", "", "(no query or fragment)"}}},
	{"proxy with a newline", input{env: env("HYBRIDNODE_HTTP_PROXY", "http://u:"+shortPassword+"@proxy\n.example")}, []want{{"HYBRIDNODE_HTTP_PROXY", "", "no control characters"}}},
	{"proxy a list in a file", input{files: file(mainFile, "httpProxy: [\"http://u:"+shortPassword+"@proxy.example:3128\"]\n")}, []want{{"httpProxy", mainFile, `got "[\"http://[REDACTED]@proxy.example:3128\"]", want a string: got a list`}}},
	{"proxy password pasted elsewhere", input{env: env("HTTP_PROXY", "http://u:"+proxyPassword+"@proxy.example:3128", "HYBRIDNODE_SANDBOX_IMAGE", proxyPassword)}, []want{{"HYBRIDNODE_SANDBOX_IMAGE", "", `got "[REDACTED]"`}}},
	{"no proxy a URL", input{env: env("NO_PROXY", "10.0.0.10,https://registry.example")}, []want{{"NO_PROXY", "", `got "https://registry.example", want comma separated host names, .domains, IP addresses or CIDRs, each with an optional :port, such as .example.internal,10.0.0.0/8 (a host, not a URL)`}}},
	{"no proxy a bad CIDR", input{env: env("HYBRIDNODE_NO_PROXY", "10.0.0.0/33")}, []want{{"HYBRIDNODE_NO_PROXY", "", "(a CIDR such as 10.0.0.0/8)"}}},
	{"no proxy a bad name", input{flags: map[string]string{"noProxy": "bad_host!"}}, []want{{"--no-proxy", "", "RFC 1123"}}},
	{"no proxy a bad port", input{env: env("no_proxy", "registry.example:99999")}, []want{{"no_proxy", "", "a port from 1 to 65535"}}},
	{"no proxy a lone dot", input{files: file(dropIn, "noProxy: [\".\"]\n")}, []want{{"noProxy", dropIn, "a host name after the dot"}}},
	{"no proxy a string in a file", input{files: file(mainFile, "noProxy: .corp.example,10.0.0.0/8\n")}, []want{{"noProxy", mainFile, "a list of strings: got a string"}}},
	{"no proxy item with commas in a file", input{files: file(mainFile, "noProxy: [\".corp.example,http://x\"]\n")}, []want{{"noProxy", mainFile, `got "http://x"`}}},
}

func TestMalformedProxySettings(t *testing.T) {
	for _, c := range malformedProxyCases {
		t.Run(c.name, func(t *testing.T) {
			_, loadErr, err := c.in.run(t)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("want *Error, got %v", err)
			}
			for _, w := range c.want {
				found := false
				for _, p := range e.Problems {
					found = found || strings.Contains(p.Field, w.field) && strings.Contains(p.Field, w.file) && strings.Contains(p.String(), w.msg)
				}
				if !found {
					t.Errorf("no problem naming %q %q with %q in:\n%v", w.field, w.file, w.msg, err)
				}
			}
			for _, msg := range []string{err.Error(), fmt.Sprint(loadErr)} {
				for _, s := range []string{proxyPassword, ":" + shortPassword + "@"} {
					if strings.Contains(msg, s) {
						t.Errorf("the error quotes the proxy password %q:\n%s", s, msg)
					}
				}
			}
		})
	}
}

func TestGoodProxySettings(t *testing.T) {
	for name, in := range map[string]input{
		"credentials, percent-encoded": {env: env("HTTP_PROXY", "http://user:p%40ss%2Fw0rd@proxy.example:3128", "HTTPS_PROXY", "http://user:p%40ss%2Fw0rd@proxy.example:3128/")},
		"https proxy on IPv6":          {env: env("HYBRIDNODE_HTTPS_PROXY", "https://[fd00::1]:3129")},
		"upper case host":              {env: env("HYBRIDNODE_HTTP_PROXY", "http://Proxy.Example.internal")},
		"every no proxy form":          {env: env("NO_PROXY", ".example.com,*.svc,10.0.0.0/8,fd00::/8,[fd00::1]:6443,fd00::2,host:8080,localhost,Upper.Example,*,192.168.0.1")},
		"no proxy in a file":           {files: file(mainFile, "httpProxy: http://10.0.0.5:3128\nnoProxy:\n- .corp.example\n- 10.0.0.0/8,172.16.0.0/12\n")},
	} {
		if _, loadErr, err := in.run(t); loadErr != nil || err != nil {
			t.Errorf("%s: load %v, validate %v", name, loadErr, err)
		}
	}
}

// TestProxyCredentialsNeverPrint: String, GoString, %v of the whole
// Config, JSON, FormatString and config dump all redact the user
// information; Reveal keeps it.
func TestProxyCredentialsNeverPrint(t *testing.T) {
	u := "http://proxyuser:" + proxyPassword + "@proxy.example:3128"
	p := ProxyURL(u)
	j, err := p.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	c := Config{HTTPProxy: p, HTTPSProxy: p}
	l := &Loaded{Config: c, Sources: map[string]Source{}}
	outs := map[string]string{
		"String": p.String(), "GoString": p.GoString(), "%v": fmt.Sprintf("%v %+v %#v", c, c, c), "JSON": string(j),
		"FormatString": c.FormatString("httpProxy"), "Dump": string(l.Dump()),
	}
	for what, out := range outs {
		if strings.Contains(out, proxyPassword) || strings.Contains(out, "proxyuser") {
			t.Errorf("%s leaks the user information: %s", what, out)
		}
	}
	if want := "http://[REDACTED]@proxy.example:3128"; p.String() != want {
		t.Errorf("String() = %q, want %q", p.String(), want)
	}
	if !strings.Contains(outs["Dump"], "httpProxy: http://[REDACTED]@proxy.example:3128") {
		t.Errorf("dump:\n%s", outs["Dump"])
	}
	if p.Reveal() != u {
		t.Error("Reveal lost the value")
	}
	for in, want := range map[string]string{
		"http://proxy.example:3128":       "http://proxy.example:3128",
		"http://u:p/ss@word@proxy:1":      "http://[REDACTED]@proxy:1",
		"user:pass@proxy":                 "[REDACTED]@proxy",
		"http://a@b":                      "http://[REDACTED]@b",
		"":                                "",
		"https://[fd00::1]:3129":          "https://[fd00::1]:3129",
		"http://user:p%40ss@10.0.0.5:312": "http://[REDACTED]@10.0.0.5:312",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
