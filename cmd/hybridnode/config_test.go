package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

// snapshot records every entry under root: its type, mode, and the sha256
// of a file's content or a symlink's target.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		var sum string
		switch {
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256(data)
			sum = hex.EncodeToString(s[:])
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			sum = "-> " + target
		}
		out[rel] = fmt.Sprintf("%v %s", fi.Mode(), sum)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writeRoot(t *testing.T, root string, files map[string]string, modes map[string]os.FileMode) {
	t.Helper()
	for p, data := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := modes[p]
		if mode == 0 {
			mode = 0o600
		}
		if err := os.WriteFile(full, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(full, mode) // past the umask
	}
}

// TestJoinWithBadInputReportsAllAndTouchesNothing runs the real join path
// under --root with a bad environment and bad config files: exit code 2,
// every problem at once (a value that does not parse hides none of the
// others), no token in the output, and not one byte under the root changed.
func TestJoinWithBadInputReportsAllAndTouchesNothing(t *testing.T) {
	root := t.TempDir()
	writeRoot(t, root, map[string]string{
		"etc/os-release":                            "ID=debian\nVERSION_ID=\"12\"\n",
		"etc/hostname":                              "node-1\n",
		"etc/hybridnode/config.yaml":                "nodeName: a\nnodeName: b\ntoken: " + token + "\n",
		"etc/hybridnode/config.d/50-node-pool.yaml": "kubeletExtraArgs:\n  max-pods: \"1\"\n  max-pods: \"2\"\nsandboxImage: \"pause\\e[2J\"\n",
		"etc/hybridnode/config.d/60-broken.yaml":    "token: " + token + "\n\tnodeName: x\n",
		"etc/fstab":                                 "/swapfile none swap sw 0 0\n",
		"var/lib/hybridnode/installed.json":         "{}\n",
	}, map[string]os.FileMode{"etc/hybridnode/config.yaml": 0o644, "etc/os-release": 0o644})
	os.Symlink("/etc/hostname", filepath.Join(root, "etc/hostname.link"))
	before := snapshot(t, root)

	env := map[string]string{}
	for k, v := range ackEnv {
		env[k] = v
	}
	env["HYBRIDNODE_TOKEN"] = ""
	env["HYBRIDNODE_JOIN_ATTEMPTS"] = "x"
	env["HYBRIDNODE_JOIN_TIMEOUT"] = "soon"
	env["ALIBABA_CLOUD_LABELS"] = "workload"
	env["HYBRIDNODE_API_SERVER_ENDPOINT"] = "bad_host:6443"
	env["HYBRIDNODE_REGISTRY_MIRRORS"] = "docker.io=ftp://m.example"
	out, code := run(t, env, "join", "--root", root)
	if code != bootstrap.ExitInvalid {
		t.Fatalf("exit %d, want %d:\n%s", code, bootstrap.ExitInvalid, out)
	}
	cfg := filepath.Join(root, "etc/hybridnode/config.yaml")
	dropIns := filepath.Join(root, "etc/hybridnode/config.d")
	for _, want := range []string{
		"9 problem(s)",
		`HYBRIDNODE_JOIN_ATTEMPTS: got "x", want a whole number`,
		`HYBRIDNODE_JOIN_TIMEOUT: got "soon", want a duration`,
		`ALIBABA_CLOUD_LABELS: got "workload", want key=value`,
		`HYBRIDNODE_API_SERVER_ENDPOINT: got "bad_host:6443", want host:port with a host that is an IP address or a DNS name`,
		`HYBRIDNODE_REGISTRY_MIRRORS: got "docker.io=ftp://m.example", want mirror URLs starting with http:// or https://`,
		"nodeName (" + cfg + "): want each key once in the file (line 2 repeats it)",
		"kubeletExtraArgs (" + filepath.Join(dropIns, "50-node-pool.yaml") + "): want each key of the map once",
		filepath.Join(dropIns, "60-broken.yaml") + ": want valid YAML: line 2: found a tab character",
		"sandboxImage (" + filepath.Join(dropIns, "50-node-pool.yaml") + `): got "pause\x1b[2J", want no control characters`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, token) || strings.Contains(out, "0123456789abcdef") {
		t.Errorf("the output shows the token:\n%s", out)
	}
	after := snapshot(t, root)
	for p, b := range before {
		if after[p] != b {
			t.Errorf("%s changed: %s -> %s", p, b, after[p])
		}
	}
	for p, a := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s appeared: %s", p, a)
		}
	}
}

// TestTokenFileUnderRoot: tokenFile names a path on the node, so under
// --root it is read from the root.
func TestTokenFileUnderRoot(t *testing.T) {
	root := t.TempDir()
	writeRoot(t, root, map[string]string{"etc/hybridnode/token": token + "\n"}, nil)
	env := map[string]string{"HYBRIDNODE_TOKEN": "", "HYBRIDNODE_TOKEN_FILE": "/etc/hybridnode/token"}
	for k, v := range ackEnv {
		if _, ok := env[k]; !ok {
			env[k] = v
		}
	}
	if out, code := run(t, env, "config", "check", "--root", root); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	env["HYBRIDNODE_TOKEN_FILE"] = "/etc/hybridnode/no-token"
	out, code := run(t, env, "config", "check", "--root", root)
	if code != bootstrap.ExitInvalid || !strings.Contains(out, "read as "+filepath.Join(root, "etc/hybridnode/no-token")+" under --root") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestConfigDumpWarnsOfAReadableToken(t *testing.T) {
	root := t.TempDir()
	writeRoot(t, root, map[string]string{"etc/hybridnode/config.yaml": "token: " + token + "\n"}, map[string]os.FileMode{"etc/hybridnode/config.yaml": 0o644})
	env := map[string]string{"HYBRIDNODE_TOKEN": ""}
	out, code := run(t, env, "config", "dump", "--root", root)
	if code != 0 || !strings.Contains(out, "# warning: "+filepath.Join(root, "etc/hybridnode/config.yaml")+" holds the bootstrap token (token) but is readable by group or others (mode 0644)") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if strings.Contains(out, token) {
		t.Fatalf("the dump shows the token:\n%s", out)
	}
}

// TestBakedImageVersions: on a baked image (no artifactURL) config dump
// marks the versions taken from installed.json, and a join asking for
// another Kubernetes version is invalid input naming both, before anything
// is touched.
func TestBakedImageVersions(t *testing.T) {
	root := t.TempDir()
	writeRoot(t, root, map[string]string{
		"var/lib/hybridnode/installed.json": `{"versions":{"kubernetes":"v1.36.2","containerd":"v2.1.4","runc":"v1.3.3","crictl":"v1.36.0"}}` + "\n",
	}, nil)
	out, code := run(t, ackEnv, "config", "dump", "--root", root)
	for _, want := range []string{
		"kubernetesVersion: v1.36.2  # installed " + hoststate.InstalledPath + "\n",
		"containerdVersion: v2.1.4  # installed " + hoststate.InstalledPath + "\n",
		"crictlVersion: v1.36.0  # installed " + hoststate.InstalledPath + "\n",
		"sandboxImage: registry.k8s.io/pause:3.10.2  # derived from kubernetesVersion\n",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("dump: exit %d, lacks %q:\n%s", code, want, out)
		}
	}

	before := snapshot(t, root)
	env := map[string]string{"HYBRIDNODE_KUBERNETES_VERSION": "v1.35.0"}
	for k, v := range ackEnv {
		env[k] = v
	}
	out, code = run(t, env, "join", "--root", root)
	if want := `HYBRIDNODE_KUBERNETES_VERSION: got "v1.35.0", want the installed kubernetes (v1.36.2), or an artifactURL to install v1.35.0 from`; code != bootstrap.ExitInvalid || !strings.Contains(out, want) {
		t.Fatalf("join: exit %d, want %d and %q:\n%s", code, bootstrap.ExitInvalid, want, out)
	}
	if after := snapshot(t, root); !maps.Equal(before, after) {
		t.Error("an invalid join changed the root")
	}
}
