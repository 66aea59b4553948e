package packaging_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/packaging"
)

// poolSettings is a drop-in as hybridnode cluster setup writes it: the token
// among odd but valid YAML (quotes, $, backslashes, leading spaces).
const poolSettings = `apiServerEndpoint: 10.0.0.10:6443
caCertHashes:
- sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
kubernetesVersion: v1.37.1
artifactURL: "https://hn.oss-cn-hangzhou-internal.aliyuncs.com/k8s?x=$HOME&y='q'"
registryMirrors:
  registry.k8s.io:
  - http://mirror.internal\with\backslashes
token: ` + testToken + `
`

func TestNodePoolScript(t *testing.T) {
	amd64, arm64 := fakeBinary(t, "amd64"), fakeBinary(t, "arm64")
	srv := serve(t, map[string][]byte{"/hybridnode-linux-amd64": amd64, "/hybridnode-linux-arm64": arm64})
	release := render(t, "add-node.sh.in", srv.URL, sum(amd64), sum(arm64))
	comment := []string{"node pool np1, bootstrap token abcdef", "THIS SCRIPT CARRIES A BOOTSTRAP TOKEN: keep it private"}
	script, err := packaging.NodePoolScript(release, comment, []byte(poolSettings), packaging.PoolProxy{})
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := packaging.NodePoolScript(release, comment, []byte(poolSettings), packaging.PoolProxy{}); string(again) != string(script) {
		t.Error("the same inputs rendered two different scripts")
	}
	// Only the block changed: every line of the release outside it is still there, in order.
	outside := func(b []byte) []string {
		var out []string
		in := false
		for _, l := range strings.Split(string(b), "\n") {
			switch {
			case l == "# >>> hybridnode node-pool settings":
				in = true
			case l == "# <<< hybridnode node-pool settings":
				in = false
			case !in:
				out = append(out, l)
			}
		}
		return out
	}
	if !slices.Equal(outside(release), outside(script)) {
		t.Error("NodePoolScript changed lines outside the node-pool block")
	}
	for _, c := range comment {
		if !strings.Contains(string(script), "\n# "+c+"\n") {
			t.Errorf("the script lacks the comment line %q", c)
		}
	}
	curl := append(slices.Clone(coreTools), "sha256sum", "curl")
	for _, sh := range shells(t) {
		for _, piped := range []bool{false, true} {
			t.Run(filepath.Base(sh)+map[bool]string{false: "/file", true: "/piped"}[piped], func(t *testing.T) {
				h := newHost(t)
				p := filepath.Join(h.dir, "add-node.sh")
				if err := os.WriteFile(p, script, 0o600); err != nil {
					t.Fatal(err)
				}
				cfgd := filepath.Join(h.dir, "etc/hybridnode/config.d")
				env := h.env(toolPath(t, "x86_64", curl...), "HYBRIDNODE_BOOTSTRAP_CONFIG_D="+cfgd)
				r := run(t, sh, p, piped, env)
				r.wantJoined(t, "amd64", env)
				got, err := os.ReadFile(filepath.Join(cfgd, "50-node-pool.yaml"))
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != poolSettings {
					t.Errorf("50-node-pool.yaml:\n%s\nwant:\n%s", got, poolSettings)
				}
				for _, f := range []string{cfgd, filepath.Join(cfgd, "50-node-pool.yaml")} {
					st, err := os.Stat(f)
					if err != nil {
						t.Fatal(err)
					}
					if st.Mode().Perm()&0o077 != 0 {
						t.Errorf("%s has mode %v: the settings hold the token", f, st.Mode().Perm())
					}
				}
				entries, _ := os.ReadDir(cfgd)
				if len(entries) != 1 {
					t.Errorf("config.d holds %v, want only 50-node-pool.yaml (no temporary file)", entries)
				}
				if !strings.Contains(r.stdout, "wrote the node-pool settings (node pool np1, bootstrap token abcdef)") {
					t.Errorf("stdout does not say it wrote the settings:\n%s", r.stdout)
				}
				emptyDir(t, h.tmp)
			})
		}
	}

	t.Run("unwritable", func(t *testing.T) {
		h := newHost(t)
		p := filepath.Join(h.dir, "add-node.sh")
		if err := os.WriteFile(p, script, 0o600); err != nil {
			t.Fatal(err)
		}
		blocker := filepath.Join(h.dir, "etc-is-a-file")
		if err := os.WriteFile(blocker, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		cfgd := filepath.Join(blocker, "config.d")
		r := run(t, "bash", p, false, h.env(toolPath(t, "x86_64", curl...), "HYBRIDNODE_BOOTSTRAP_CONFIG_D="+cfgd))
		r.wantFailure(t, 16, "cannot write the node-pool settings to "+cfgd+"/50-node-pool.yaml", srv.URL)
	})

	t.Run("release script writes no settings", func(t *testing.T) {
		h := newHost(t)
		p := filepath.Join(h.dir, "add-node.sh")
		if err := os.WriteFile(p, release, 0o600); err != nil {
			t.Fatal(err)
		}
		cfgd := filepath.Join(h.dir, "etc/hybridnode/config.d")
		env := h.env(toolPath(t, "x86_64", curl...), "HYBRIDNODE_BOOTSTRAP_CONFIG_D="+cfgd)
		run(t, "bash", p, false, env).wantJoined(t, "amd64", env)
		if _, err := os.Stat(cfgd); !os.IsNotExist(err) {
			t.Errorf("the release's script made %s (%v)", cfgd, err)
		}
	})
}

func TestNodePoolScriptRefuses(t *testing.T) {
	release := render(t, "add-node.sh.in", "https://example.invalid/r", strings.Repeat("a", 64), strings.Repeat("b", 64))
	good := []string{"node pool np1"}
	cases := []struct {
		name    string
		release []byte
		comment []string
		config  string
		want    string
	}{
		{"no block", []byte("#!/bin/sh\necho old\n"), good, "a: b\n", "no node-pool block"},
		{"two blocks", append(append([]byte{}, release...), release...), good, "a: b\n", "more than one"},
		{"no summary", release, nil, "a: b\n", "first comment line"},
		{"quote in summary", release, []string{"it's"}, "a: b\n", "single quote"},
		{"newline in comment", release, []string{"ok", "two\nlines"}, "a: b\n", "comment line 2"},
		{"escape in settings", release, good, "a: \x1b[2Jb\n", "settings line 1"},
		{"end marker in settings", release, good, "a: b\nHN_NODE_POOL_EOF\n", "end marker"},
		{"no final newline", release, good, "a: b", "end with a newline"},
		{"invalid UTF-8", release, good, "a: \xff\n", "UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := packaging.NodePoolScript(c.release, c.comment, []byte(c.config), packaging.PoolProxy{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one saying %q", err, c.want)
			}
		})
	}
}

func TestNodePoolScriptProxyRefuses(t *testing.T) {
	good := strings.Repeat("a", 64)
	release := render(t, "add-node.sh.in", "https://example.com/hn", good, good)
	comment := []string{"node pool np1"}
	for _, c := range []struct {
		name, want string
		proxy      packaging.PoolProxy
	}{
		{"quote", "httpProxy holds a single quote", packaging.PoolProxy{HTTP: "http://u:p'w@proxy:3128"}},
		{"newline", "httpsProxy: holds the control character", packaging.PoolProxy{HTTPS: "http://proxy:3128\nrm -rf /"}},
		{"noProxy", "noProxy holds a single quote", packaging.PoolProxy{No: "a'b"}},
	} {
		_, err := packaging.NodePoolScript(release, comment, []byte(poolSettings), c.proxy)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error holding %q", c.name, err, c.want)
		}
	}
	old := []byte(strings.ReplaceAll(string(release), "$hn_pool_https_proxy", "$x"))
	if _, err := packaging.NodePoolScript(old, comment, []byte(poolSettings), packaging.PoolProxy{HTTP: "http://proxy:3128"}); err == nil || !strings.Contains(err.Error(), "predates") {
		t.Errorf("a release without proxy support: %v, want refused", err)
	}
	b, err := packaging.NodePoolScript(release, comment, []byte(poolSettings), packaging.PoolProxy{HTTP: "http://u:p@proxy:3128", No: ".internal"})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"\nhn_pool_http_proxy='http://u:p@proxy:3128'\n", "\nhn_pool_no_proxy='.internal'\n"} {
		if !strings.Contains(string(b), l) {
			t.Errorf("the script lacks %q", l)
		}
	}
	if strings.Count(string(b), "hn_pool_https_proxy='") != 1 { // the template's default only
		t.Error("an empty httpsProxy was rendered")
	}
}
