package proxy

import (
	"bytes"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/assets/golden"
	"github.com/hybridnode/hybridnode/bootstrap/config"
)

func TestNoProxy(t *testing.T) {
	cases := []struct {
		name string
		user []string
		k    Known
		want []string
	}{
		{"nothing known", nil, Known{}, []string{"100.100.100.200", "localhost", "127.0.0.1", "::1"}},
		{"all known, user's entries first",
			[]string{".corp.example", "10.0.0.0/8"},
			Known{APIServerHost: "k8s-api.corp.example", ServiceCIDRs: []string{"10.96.0.0/12"}, PodCIDRs: []string{"10.100.0.0/16", "fd00:10::/56"}, NodeAddresses: []string{"192.168.0.7"}},
			[]string{".corp.example", "10.0.0.0/8", "k8s-api.corp.example", "10.96.0.0/12", "10.100.0.0/16", "fd00:10::/56", "100.100.100.200", "localhost", "127.0.0.1", "::1", "192.168.0.7"}},
		{"comma separated items and blanks",
			[]string{" .a.example , b.example", "", " "},
			Known{APIServerHost: "10.0.0.10"},
			[]string{".a.example", "b.example", "10.0.0.10", "100.100.100.200", "localhost", "127.0.0.1", "::1"}},
		{"each once: case, IPv6 forms, prefixes, the user's spelling kept",
			[]string{"LocalHost", "[::1]", "10.0.0.10", "10.96.0.1/12"},
			Known{APIServerHost: "10.0.0.10", ServiceCIDRs: []string{"10.96.0.0/12"}, NodeAddresses: []string{"10.0.0.10", "fd00::0:7", "fd00::7"}},
			[]string{"LocalHost", "[::1]", "10.0.0.10", "10.96.0.1/12", "100.100.100.200", "127.0.0.1", "fd00::0:7"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := NoProxy(c.user, c.k); !reflect.DeepEqual(got, c.want) {
				t.Errorf("NoProxy =\n  %q\nwant\n  %q", got, c.want)
			}
		})
	}
}

func TestKnownFrom(t *testing.T) {
	cases := []struct {
		name string
		c    config.Config
		want Known
	}{
		{"ACK's node name and an IPv6 endpoint", config.Config{APIServerEndpoint: "[fd00::10]:6443", NodeName: "cn-hangzhou.10.0.1.5"},
			Known{APIServerHost: "fd00::10", NodeAddresses: []string{"10.0.1.5"}}},
		{"kubelet's node-ip first", config.Config{APIServerEndpoint: "k8s-api.example:6443", NodeName: "cn-hangzhou.10.0.1.5", KubeletExtraArgs: map[string]string{"node-ip": "10.0.1.6, fd00::6"}},
			Known{APIServerHost: "k8s-api.example", NodeAddresses: []string{"10.0.1.6", "fd00::6", "10.0.1.5"}}},
		{"a node name that is an address", config.Config{NodeName: "192.168.3.4"}, Known{NodeAddresses: []string{"192.168.3.4"}}},
		{"a host name, no endpoint", config.Config{NodeName: "worker-1.example"}, Known{}},
		{"a region and a name that is not an address", config.Config{NodeName: "cn-hangzhou.node-1"}, Known{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := KnownFrom(c.c); !reflect.DeepEqual(got, c.want) {
				t.Errorf("KnownFrom = %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestFromConfig(t *testing.T) {
	c := config.Config{APIServerEndpoint: "10.0.0.10:6443", NodeName: "cn-hangzhou.10.0.1.5", NoProxy: []string{".corp.example"}}
	if s := FromConfig(c); s.Enabled() || s.NoProxy != nil || Func(s) != nil || RenderDropIn("kubelet.service", s) != nil || RenderEnvFile(s) != nil || s.Env() != nil {
		t.Fatalf("no proxy: got %+v", s)
	}
	c.HTTPSProxy = "http://u:pw@proxy.corp.example:3128"
	s := FromConfig(c)
	want := Settings{HTTPSProxy: "http://u:pw@proxy.corp.example:3128",
		NoProxy: []string{".corp.example", "10.0.0.10", "100.100.100.200", "localhost", "127.0.0.1", "::1", "10.0.1.5"}}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("FromConfig = %+v, want %+v", s, want)
	}
	if !s.HasCredentials() {
		t.Errorf("credentials: %v", s.HasCredentials())
	}
	s.HTTPSProxy = "http://proxy:3128"
	if s.HasCredentials() {
		t.Errorf("no credentials: %v", s.HasCredentials())
	}
}

// TestFunc: the Proxy func follows the settings and net/http's rules, and
// nothing of the process environment.
func TestFunc(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://from-env.example:1")
	t.Setenv("HTTPS_PROXY", "http://from-env.example:1")
	t.Setenv("NO_PROXY", "")
	s := Settings{HTTPProxy: "http://plain.example:3128", HTTPSProxy: "http://u:pw@secure.example:3129",
		NoProxy: NoProxy([]string{".corp.example", "10.0.0.0/8"}, Known{APIServerHost: "k8s-api.example"})}
	f := Func(s)
	for target, want := range map[string]string{
		"http://oss.example/k8s/SHA256SUMS":    "http://plain.example:3128",
		"https://oss.example/k8s/SHA256SUMS":   "http://u:pw@secure.example:3129",
		"https://k8s-api.example:6443/version": "",
		"https://registry.corp.example/v2/":    "",
		"http://10.1.2.3:5000/v2/":             "",
		"http://100.100.100.200/latest/":       "",
		"http://localhost:8080/":               "",
		"http://127.0.0.1:8080/":               "",
		"http://[::1]:8080/":                   "",
		"https://11.0.0.1/":                    "http://u:pw@secure.example:3129",
	} {
		u, err := f(&http.Request{URL: mustURL(t, target)})
		got := ""
		if u != nil {
			got = u.String()
		}
		if err != nil || got != want {
			t.Errorf("%s: proxy %q (%v), want %q", target, got, err, want)
		}
	}
	if Func(Settings{NoProxy: []string{"x"}}) != nil {
		t.Error("no proxy set: want a nil Proxy func (direct)")
	}
	// An invalid proxy URL (refused by validation before) is an error that
	// does not quote it.
	_, err := Func(Settings{HTTPProxy: "http://u:s3cret@bad host"})(&http.Request{URL: mustURL(t, "http://oss.example/")})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("invalid proxy URL: %v", err)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestRenderDropIn: the drop-ins name their unit's environment file and
// hold nothing of the settings (systemd shows Environment= to every user);
// the environment file holds them, and reads back (as systemd reads it) as
// Env.
func TestRenderDropIn(t *testing.T) {
	known := Known{APIServerHost: "10.0.0.10", NodeAddresses: []string{"10.0.1.5"}}
	settings := map[string]Settings{}
	for name, c := range map[string]config.Config{
		"proxy-both":       {HTTPProxy: "http://proxy.corp.example:3128", HTTPSProxy: "http://proxy.corp.example:3128", NoProxy: []string{".corp.example", "10.0.0.0/8"}},
		"proxy-https-only": {HTTPSProxy: "https://proxy.corp.example:3129"},
		// A percent-encoded password (systemd would expand % specifiers in
		// a unit file, not in an environment file), and characters a shell
		// or systemd would take for quoting or expansion.
		"proxy-credentials": {HTTPProxy: `http://hn:p%40ss%25w0rd@10.0.0.5:3128`, HTTPSProxy: "http://hn:a\\b\"c$d`e'f@10.0.0.5:3128"},
	} {
		s := New(c, known)
		settings[name] = s
		t.Run(name, func(t *testing.T) {
			got := RenderEnvFile(s)
			golden.Check(t, name+".env", got)
			want := map[string]string{}
			for _, kv := range s.Env() {
				want[kv[0]] = kv[1]
			}
			if env := ParseEnvFile(got); !reflect.DeepEqual(env, want) {
				t.Errorf("read back:\n  %q\nwant\n  %q", env, want)
			}
		})
	}
	for _, unit := range []string{"containerd.service", "kubelet.service"} {
		got := RenderDropIn(unit, settings["proxy-credentials"])
		golden.Check(t, "http-proxy-"+strings.TrimSuffix(unit, ".service")+".conf", got)
		if files := EnvironmentFiles(got, nil); !reflect.DeepEqual(files, []string{EnvFilePath(unit)}) {
			t.Errorf("%s: EnvironmentFile= %q, want %s", unit, files, EnvFilePath(unit))
		}
		for name, s := range settings {
			if d := RenderDropIn(unit, s); !bytes.Equal(d, got) {
				t.Errorf("%s: the drop-in of %s differs:\n%s", unit, name, d)
			}
			for _, v := range s.Env() {
				if strings.Contains(string(got), v[1]) {
					t.Errorf("%s: the drop-in holds %s's value", unit, v[0])
				}
			}
		}
		if env := ParseEnvironment(got); len(env) != 0 {
			t.Errorf("%s: the drop-in sets %q", unit, env)
		}
	}
}

func TestDropInPath(t *testing.T) {
	if got := DropInPath("containerd.service"); got != "/etc/systemd/system/containerd.service.d/http-proxy.conf" {
		t.Errorf("DropInPath = %s", got)
	}
	if got := EnvFilePath("kubelet.service"); got != "/etc/hybridnode/proxy/kubelet.env" {
		t.Errorf("EnvFilePath = %s", got)
	}
	if EnvFileMode != 0o600 || DropInMode != 0o644 {
		t.Errorf("modes: environment file %#o, drop-in %#o", EnvFileMode, DropInMode)
	}
}

func TestEnvironmentFiles(t *testing.T) {
	unit := `[Unit]
EnvironmentFile=/not/read
[Service]
EnvironmentFile=-/etc/default/kubelet
EnvironmentFile = /etc/a.env
[Service]
EnvironmentFile=
EnvironmentFile=/etc/b.env
`
	if got := EnvironmentFiles([]byte(unit), []string{"/before.env"}); !reflect.DeepEqual(got, []string{"/etc/b.env"}) {
		t.Errorf("with a reset: %q", got)
	}
	unit = strings.Replace(unit, "EnvironmentFile=\n", "", 1)
	if got := EnvironmentFiles([]byte(unit), []string{"/before.env"}); !reflect.DeepEqual(got, []string{"/before.env", "-/etc/default/kubelet", "/etc/a.env", "/etc/b.env"}) {
		t.Errorf("EnvironmentFiles = %q", got)
	}
}

func TestParseEnvFile(t *testing.T) {
	file := "# a comment\n; another\n\n" +
		"PLAIN=a b  \n" +
		"  SPACED = x\n" +
		"DQ=\"q \\\" \\\\ \\$ \\` \\n kept\"\n" +
		"SQ='a \\ \"b\" $c'\n" +
		"ESC=a\\ b\\\\\n" +
		"JOINED=a\\\nb\n" +
		"MULTI=\"line1\nline2\"\n" +
		"PCT=100%\n" +
		"EMPTY=\n" +
		"no assignment here\n" +
		"LAST=end"
	want := map[string]string{
		"PLAIN": "a b", "SPACED": "x", "DQ": `q " \ $ ` + "`" + ` \n kept`, "SQ": `a \ "b" $c`,
		"ESC": `a b\`, "JOINED": "ab", "MULTI": "line1\nline2", "PCT": "100%", "EMPTY": "", "LAST": "end",
	}
	if got := ParseEnvFile([]byte(file)); !reflect.DeepEqual(got, want) {
		t.Errorf("ParseEnvFile =\n  %q\nwant\n  %q", got, want)
	}
}

func TestParseEnvironment(t *testing.T) {
	unit := `# a hand-written drop-in
[Unit]
Environment=NOT=read
[Service]
Environment=HTTP_PROXY=http://a:1 "NO_PROXY=x, y" 'https_proxy=http://b:2' PCT=100%%
Environment="QUOTE=a\"b" BACK=c\\d
; a comment
[Service]
Environment=
Environment=AFTER=reset HTTP_PROXY=http://c:3
`
	want := map[string]string{"AFTER": "reset", "HTTP_PROXY": "http://c:3"}
	if got := ParseEnvironment([]byte(unit)); !reflect.DeepEqual(got, want) {
		t.Errorf("with a reset: %q, want %q", got, want)
	}
	unit = strings.Replace(unit, "Environment=\n", "", 1)
	want = map[string]string{"HTTP_PROXY": "http://c:3", "NO_PROXY": "x, y", "https_proxy": "http://b:2", "PCT": "100%", "QUOTE": `a"b`, "BACK": `c\d`, "AFTER": "reset"}
	if got := ParseEnvironment([]byte(unit)); !reflect.DeepEqual(got, want) {
		t.Errorf("ParseEnvironment =\n  %q\nwant\n  %q", got, want)
	}
}
