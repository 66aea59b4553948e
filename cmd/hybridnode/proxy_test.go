package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap"
	"github.com/hybridnode/hybridnode/bootstrap/config"
)

// hermeticProxy unsets every proxy variable of the test process's
// environment (an empty one counts as unset): the proxy fields read the
// common HTTP_PROXY and friends.
func hermeticProxy(t *testing.T) {
	t.Helper()
	for _, key := range []string{"httpProxy", "httpsProxy", "noProxy"} {
		f, _ := config.FieldByKey(key)
		for _, name := range f.Env {
			t.Setenv(name, "")
		}
	}
}

const proxyPassword = "s3cret-proxy-pw"

// TestProxyFlags: the proxy fields' flags and variables reach the
// configuration (install's too), the dump redacts the password, a bad
// value stops the command naming the flag.
func TestProxyFlags(t *testing.T) {
	out, code := run(t, map[string]string{"HTTPS_PROXY": "http://10.0.0.6:3128"}, "config", "dump",
		"--http-proxy", "http://hn:"+proxyPassword+"@10.0.0.5:3128", "--no-proxy", ".corp.example,10.0.0.0/8")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"httpProxy: http://[REDACTED]@10.0.0.5:3128  # flag --http-proxy\n",
		"httpsProxy: http://10.0.0.6:3128  # env HTTPS_PROXY\n",
		"noProxy:  # flag --no-proxy\n- .corp.example\n- 10.0.0.0/8\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dump lacks %q:\n%s", want, out)
		}
	}
	out, code = run(t, nil, "config", "check", "--install", "--https-proxy", "ftp://hn:"+proxyPassword+"@10.0.0.5:21")
	if code != bootstrap.ExitInvalid || !strings.Contains(out, `--https-proxy: got "ftp://[REDACTED]@10.0.0.5:21", want an http:// or https:// proxy URL`) {
		t.Errorf("exit %d:\n%s", code, out)
	}
	for _, cmd := range []string{"install", "join", "doctor"} {
		help, _ := run(t, nil, cmd, "--help")
		for _, flag := range []string{"--http-proxy", "--https-proxy", "--no-proxy"} {
			if !strings.Contains(help, flag) {
				t.Errorf("%s --help lacks %s", cmd, flag)
			}
		}
	}
	if strings.Contains(out, proxyPassword) {
		t.Errorf("the output shows the proxy's password:\n%s", out)
	}
}

// TestInstallWithProxyIntoImageRoot: a baked image gets containerd's and
// kubelet's proxy drop-ins, which name their environment files (0600: the
// password), and the output never shows the password.
func TestInstallWithProxyIntoImageRoot(t *testing.T) {
	root := t.TempDir()
	env := map[string]string{
		"HYBRIDNODE_ARTIFACT_URL":       bundle(t),
		"HYBRIDNODE_KUBERNETES_VERSION": "v1.36.4",
		"HYBRIDNODE_CONTAINERD_VERSION": "v1.7.30",
		"HTTP_PROXY":                    "http://hn:" + proxyPassword + "@10.0.0.5:3128",
		"NO_PROXY":                      ".corp.example",
	}
	out, code := run(t, env, "install", "--root", root, "-v")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, unit := range []string{"containerd", "kubelet"} {
		p := filepath.Join(root, "etc/systemd/system", unit+".service.d", "http-proxy.conf")
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(p)
		if fi.Mode().Perm() != 0o644 || !strings.Contains(string(data), "\nEnvironmentFile=/etc/hybridnode/proxy/"+unit+".env\n") || strings.Contains(string(data), proxyPassword) {
			t.Errorf("%s (%#o):\n%s", p, fi.Mode().Perm(), data)
		}
		p = filepath.Join(root, "etc/hybridnode/proxy", unit+".env")
		if data, err = os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
		fi, _ = os.Stat(p)
		if fi.Mode().Perm() != 0o600 || !strings.Contains(string(data), "\nHTTP_PROXY=\"http://hn:"+proxyPassword+"@10.0.0.5:3128\"\n") ||
			!strings.Contains(string(data), "\nno_proxy=\".corp.example,100.100.100.200,localhost,127.0.0.1,::1\"\n") {
			t.Errorf("%s (%#o):\n%s", p, fi.Mode().Perm(), data)
		}
	}
	if strings.Contains(out, proxyPassword) {
		t.Errorf("the output shows the proxy's password:\n%s", out)
	}
}
