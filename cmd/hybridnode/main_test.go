package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap"
	"github.com/hybridnode/hybridnode/bootstrap/config"
)

const token = "abcdef.0123456789abcdef"

var ackEnv = map[string]string{
	"ALIBABA_CLOUD_PROVIDER_ID":      "cn-hangzhou.i-bp1abc",
	"ALIBABA_CLOUD_NODE_NAME":        "cn-hangzhou.10.10.24.7",
	"ALIBABA_CLOUD_LABELS":           "alibabacloud.com/nodepool-id=np1,alibabacloud.com/external=true,workload=cpu",
	"ALIBABA_CLOUD_TAINTS":           "workload=ack:NoSchedule",
	"HYBRIDNODE_API_SERVER_ENDPOINT": "10.0.0.10:6443",
	"HYBRIDNODE_TOKEN":               token,
	"HYBRIDNODE_CA_CERT_HASHES":      "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
}

// run executes hybridnode in-process with env set, returning its output
// and exit code.
func run(t *testing.T, env map[string]string, args ...string) (string, int) {
	t.Helper()
	hermeticProxy(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	a := &app{}
	cmd := newRootCommand(a)
	var out bytes.Buffer
	a.out = &out
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(context.Background())
	if err != nil {
		fmt.Fprintln(&out, err)
	}
	return out.String(), bootstrap.ExitCode(err)
}

func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && p != root {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func TestInvalidInputTouchesNothing(t *testing.T) {
	root := t.TempDir()
	env := map[string]string{}
	for k, v := range ackEnv {
		env[k] = v
	}
	env["ALIBABA_CLOUD_LABELS"] = "workload"
	env["ALIBABA_CLOUD_TAINTS"] = "workload=ack:Never"
	out, code := run(t, env, "join", "--root", root)
	if code != bootstrap.ExitInvalid {
		t.Fatalf("exit %d, want %d:\n%s", code, bootstrap.ExitInvalid, out)
	}
	for _, want := range []string{"2 problem(s)", "ALIBABA_CLOUD_LABELS: got \"workload\", want key=value", "ALIBABA_CLOUD_TAINTS"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if files := tree(t, root); len(files) != 0 {
		t.Errorf("root changed: %v", files)
	}
}

// TestInvalidPrepullTouchesNothing: an image to pre-pull that is no image
// reference stops install and join before anything is touched.
func TestInvalidPrepullTouchesNothing(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"install", "--prepull", "registry.example.com/terway:v1.2,Registry.example.com/CNI:v1"}, nil, `--prepull: got "Registry.example.com/CNI:v1", want comma separated image references`},
		{[]string{"join"}, map[string]string{"HYBRIDNODE_PREPULL_IMAGES": "registry.example.com/terway v1.2"}, "HYBRIDNODE_PREPULL_IMAGES: got \"registry.example.com/terway v1.2\", want comma separated image references"},
	} {
		env := maps.Clone(ackEnv)
		maps.Copy(env, tc.env)
		root := t.TempDir()
		out, code := run(t, env, append(tc.args, "--root", root)...)
		if code != bootstrap.ExitInvalid || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, want %d and %q:\n%s", tc.args[0], code, bootstrap.ExitInvalid, tc.want, out)
		}
		if files := tree(t, root); len(files) != 0 {
			t.Errorf("%s: root changed: %v", tc.args[0], files)
		}
	}
}

func TestUnknownPhaseIsAnError(t *testing.T) {
	out, code := run(t, ackEnv, "join", "--root", t.TempDir(), "--skip-phases", "containerd,kubelett")
	if code != bootstrap.ExitInvalid || !strings.Contains(out, "unknown phase kubelett") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestConfigDumpRedactsToken(t *testing.T) {
	out, code := run(t, ackEnv, "config", "dump", "--root", t.TempDir())
	if code != 0 || strings.Contains(out, token) || !strings.Contains(out, "token: '[REDACTED]'  # env HYBRIDNODE_TOKEN") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if !strings.Contains(out, "nodeName: cn-hangzhou.10.10.24.7  # env ALIBABA_CLOUD_NODE_NAME") {
		t.Errorf("dump lacks the node name's source:\n%s", out)
	}
}

func TestConfigCheck(t *testing.T) {
	if out, code := run(t, ackEnv, "config", "check", "--root", t.TempDir()); code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("exit %d: %s", code, out)
	}
	env := map[string]string{"HYBRIDNODE_TOKEN": ""}
	for k, v := range ackEnv {
		if k != "HYBRIDNODE_TOKEN" {
			env[k] = v
		}
	}
	if out, code := run(t, env, "config", "check", "--root", t.TempDir()); code != bootstrap.ExitInvalid || !strings.Contains(out, "token: want a bootstrap token") {
		t.Fatalf("missing token: exit %d: %s", code, out)
	}
	if out, code := run(t, env, "config", "check", "--install", "--root", t.TempDir()); code != 0 {
		t.Fatalf("install check without a token: exit %d: %s", code, out)
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	out, code := run(t, ackEnv, "config", "dump", "--root", t.TempDir(), "--node-name", "flag-node")
	if code != 0 || !strings.Contains(out, "nodeName: flag-node  # flag --node-name") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// TestTypedFlags: an int, a duration and bools parse as such; a bad value
// names the flag and what it expects, and is invalid input (exit 2).
func TestTypedFlags(t *testing.T) {
	out, code := run(t, ackEnv, "config", "dump", "--root", t.TempDir(),
		"--join-attempts", "4", "--join-timeout", "90s", "--restrict-oom-score-adj", "--unsafe-skip-ca-verification=false")
	for _, want := range []string{
		"joinAttempts: 4  # flag --join-attempts",
		"joinTimeout: 1m30s  # flag --join-timeout",
		"restrictOOMScoreAdj: true  # flag --restrict-oom-score-adj",
		"unsafeSkipCAVerification: false  # flag --unsafe-skip-ca-verification",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
	for _, tc := range []struct{ flag, value, want string }{
		{"--join-attempts", "three", `--join-attempts: got "three", want a whole number`},
		{"--join-timeout", "300", `--join-timeout: got "300", want a duration such as 5m or 90s`},
		{"--restrict-oom-score-adj", "maybe", `--restrict-oom-score-adj: got "maybe", want true or false`},
	} {
		out, code := run(t, ackEnv, "join", "--root", t.TempDir(), tc.flag+"="+tc.value)
		if code != bootstrap.ExitInvalid || !strings.Contains(out, tc.want) {
			t.Errorf("%s=%s: exit %d, want %d and %q:\n%s", tc.flag, tc.value, code, bootstrap.ExitInvalid, tc.want, out)
		}
	}
	// bad flags and a bad variable: all of them at once
	env := map[string]string{"ALIBABA_CLOUD_TAINTS": "workload=ack:Never"}
	for k, v := range ackEnv {
		if k != "ALIBABA_CLOUD_TAINTS" {
			env[k] = v
		}
	}
	out, code = run(t, env, "join", "--root", t.TempDir(), "--join-attempts=three", "--join-timeout=300")
	for _, want := range []string{"--join-attempts", "--join-timeout", "ALIBABA_CLOUD_TAINTS", "3 problem(s)"} {
		if code != bootstrap.ExitInvalid || !strings.Contains(out, want) {
			t.Errorf("exit %d, lacks %q:\n%s", code, want, out)
		}
	}
}

func TestPlanTouchesNothing(t *testing.T) {
	root := t.TempDir()
	env := map[string]string{"HYBRIDNODE_ARTIFACT_URL": "https://oss.example.com/hn"}
	for k, v := range ackEnv {
		env[k] = v
	}
	out, code := run(t, env, "plan", "--root", root)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"Downloads (5)", "write /etc/containerd/config.toml", "kubelet.service: enable", "token: '[REDACTED]'", "name: cn-hangzhou.10.10.24.7"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q", want)
		}
	}
	if strings.Contains(out, token) {
		t.Error("plan shows the token")
	}
	if files := tree(t, root); len(files) != 0 {
		t.Errorf("plan changed the root: %v", files)
	}
}

// bundle writes an offline bundle in the documented layout.
func bundle(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var tgz bytes.Buffer
	gz := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(gz)
	for _, m := range []string{"bin/containerd", "bin/containerd-shim-runc-v2", "bin/ctr"} {
		tw.WriteHeader(&tar.Header{Name: m, Mode: 0o755, Size: int64(len(m)), Typeflag: tar.TypeReg})
		tw.Write([]byte(m))
	}
	tw.Close()
	gz.Close()
	files := map[string][]byte{
		"kubernetes/v1.36.4/bin/linux/amd64/kubelet":              []byte("kubelet"),
		"kubernetes/v1.36.4/bin/linux/amd64/kubeadm":              []byte("kubeadm"),
		"cri-tools/v1.36.0/bin/linux/amd64/crictl":                []byte("crictl"),
		"runc/v1.3.3/runc.amd64":                                  []byte("runc"),
		"containerd/v1.7.30/containerd-1.7.30-linux-amd64.tar.gz": tgz.Bytes(),
	}
	var sums strings.Builder
	for p, data := range files {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, data, 0o644)
		s := sha256.Sum256(data)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(s[:]), p)
	}
	os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums.String()), 0o644)
	return dir
}

// TestInstallIntoImageRoot bakes an image root from an offline bundle
// (RHEL paths, containerd 1.7): files under the root, units enabled by
// symlink, nothing started; a second run writes nothing new.
func TestInstallIntoImageRoot(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/os-release"), []byte("ID=\"alinux\"\nID_LIKE=\"rhel fedora centos anolis\"\n"), 0o644)
	env := map[string]string{
		"HYBRIDNODE_ARTIFACT_URL":       bundle(t),
		"HYBRIDNODE_KUBERNETES_VERSION": "v1.36.4",
		"HYBRIDNODE_CONTAINERD_VERSION": "v1.7.30",
	}
	out, code := run(t, env, "install", "--root", root)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for p, want := range map[string]string{
		"usr/local/bin/kubelet":                                    "kubelet",
		"usr/local/bin/containerd":                                 "bin/containerd",
		"usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf": "EnvironmentFile=-/etc/sysconfig/kubelet",
		"etc/containerd/config.toml":                               `sandbox_image = "registry.k8s.io/pause:3.10.2"`,
	} {
		data, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || !strings.Contains(string(data), want) {
			t.Errorf("%s: %v, lacks %q", p, err, want)
		}
	}
	for _, unit := range []string{"containerd.service", "kubelet.service"} {
		target, err := os.Readlink(filepath.Join(root, "etc/systemd/system/multi-user.target.wants", unit))
		if err != nil || target != "/usr/lib/systemd/system/"+unit {
			t.Errorf("%s not enabled: %q, %v", unit, target, err)
		}
	}
	before := tree(t, root)
	out, code = run(t, env, "install", "--root", root)
	if code != 0 {
		t.Fatalf("second install: exit %d:\n%s", code, out)
	}
	if after := tree(t, root); strings.Join(after, ",") != strings.Join(before, ",") || strings.Contains(out, "wrote") || strings.Contains(out, "installed\t") {
		t.Errorf("second install changed things:\n%s", out)
	}
}

func TestVersion(t *testing.T) {
	if out, code := run(t, nil, "version"); code != 0 || !strings.HasPrefix(out, "hybridnode dev") {
		t.Fatalf("exit %d: %q", code, out)
	}
}

// TestFlagsPerCommand: each command lists the flags that apply to it, and
// only those.
func TestFlagsPerCommand(t *testing.T) {
	var all, install []string
	for _, f := range config.Fields {
		if f.Flag == "" {
			continue
		}
		all = append(all, "--"+f.Flag)
		if f.Install {
			install = append(install, "--"+f.Flag)
		}
	}
	runFlags := []string{"--config", "--skip-phases"}
	for _, tc := range []struct {
		args    []string
		want    []string
		notWant []string
	}{
		{[]string{"join"}, append(slices.Clone(all), runFlags...), nil},
		{[]string{"join", "phase", "install"}, append(slices.Clone(all), runFlags...), nil},
		{[]string{"plan"}, append(slices.Clone(all), runFlags...), nil},
		{[]string{"install"}, append(slices.Clone(install), runFlags...), []string{"--node-name", "--join-attempts", "--api-server-endpoint", "--node-labels"}},
		{[]string{"install", "phase", "containerd"}, []string{"--restrict-oom-score-adj", "--registry-mirrors"}, []string{"--join-timeout"}},
		{[]string{"config", "dump"}, append(slices.Clone(all), "--config"), []string{"--skip-phases"}},
		{[]string{"doctor"}, append(slices.Clone(all), "--config"), []string{"--skip-phases"}},
		{[]string{"reset"}, []string{"--root", "--force"}, append(slices.Clone(all), runFlags...)},
		{[]string{"status"}, []string{"--root"}, append(slices.Clone(all), runFlags...)},
		{[]string{"version"}, nil, append(slices.Clone(all), runFlags...)},
	} {
		out, code := run(t, nil, append(tc.args, "--help")...)
		if code != 0 {
			t.Fatalf("%v --help: exit %d:\n%s", tc.args, code, out)
		}
		listed := map[string]bool{}
		for _, w := range strings.Fields(out) {
			listed[strings.TrimSuffix(w, ",")] = true
		}
		for _, f := range tc.want {
			if !listed[f] {
				t.Errorf("%v --help lacks %s", tc.args, f)
			}
		}
		for _, f := range tc.notWant {
			if listed[f] {
				t.Errorf("%v --help lists %s", tc.args, f)
			}
		}
	}
	if len(install) == 0 || len(install) == len(all) {
		t.Errorf("install takes %d of %d field flags", len(install), len(all))
	}
}

// TestConfigCheckInstanceIdentity: the token service's settings are
// checked before anything else, a token given as well is named with the
// credential source, and the dump shows the nested settings.
func TestConfigCheckInstanceIdentity(t *testing.T) {
	env := map[string]string{}
	for k, v := range ackEnv {
		env[k] = v
	}
	env["HYBRIDNODE_CREDENTIAL_SOURCE"] = "instance-identity"
	out, code := run(t, env, "config", "check", "--root", t.TempDir())
	if code != bootstrap.ExitInvalid || !strings.Contains(out, "HYBRIDNODE_TOKEN: want unset: credentialSource is instance-identity (set by HYBRIDNODE_CREDENTIAL_SOURCE)") ||
		!strings.Contains(out, "tokenService.url: want the token service's https:// URL in tokenService.url or HYBRIDNODE_TOKEN_SERVICE_URL") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	env["HYBRIDNODE_TOKEN"] = ""
	env["HYBRIDNODE_TOKEN_SERVICE_URL"] = "https://10.0.0.10:9443"
	env["HYBRIDNODE_TOKEN_SERVICE_PIN"] = "sha256:" + strings.Repeat("ab", 32)
	env["HYBRIDNODE_TOKEN_SERVICE_AUDIENCE"] = "prod"
	if out, code := run(t, env, "config", "check", "--root", t.TempDir()); code != 0 {
		t.Fatalf("a complete setup: exit %d:\n%s", code, out)
	}
	out, code = run(t, env, "config", "dump", "--root", t.TempDir())
	if code != 0 || !strings.Contains(out, "tokenService:\n  url: https://10.0.0.10:9443  # env HYBRIDNODE_TOKEN_SERVICE_URL\n") {
		t.Fatalf("dump: exit %d:\n%s", code, out)
	}
}
