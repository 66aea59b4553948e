package config

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/kubelet"
)

const (
	goodToken = "abcdef.0123456789abcdef"
	goodHash  = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// ackEnv is what ACK passes, plus the join fields.
func ackEnv() map[string]string {
	return map[string]string{
		"ALIBABA_CLOUD_PROVIDER_ID":      "cn-hangzhou.i-bp1abc",
		"ALIBABA_CLOUD_NODE_NAME":        "cn-hangzhou.10.10.24.7",
		"ALIBABA_CLOUD_LABELS":           "alibabacloud.com/nodepool-id=np1,alibabacloud.com/external=true,workload=cpu",
		"ALIBABA_CLOUD_TAINTS":           "workload=ack:NoSchedule",
		"HYBRIDNODE_API_SERVER_ENDPOINT": "10.0.0.10:6443",
		"HYBRIDNODE_TOKEN":               goodToken,
		"HYBRIDNODE_CA_CERT_HASHES":      goodHash,
	}
}

func load(t *testing.T, env map[string]string, file string, flags map[string]string) (*Loaded, error) {
	t.Helper()
	return loadSources(ResolveOptions{
		DefaultFile: "/etc/hybridnode/config.yaml",
		ReadFile: func(p string) ([]byte, error) {
			if file == "" || p != "/etc/hybridnode/config.yaml" {
				return nil, fs.ErrNotExist
			}
			return []byte(file), nil
		},
		ReadDir:   func(string) ([]fs.DirEntry, error) { return nil, fs.ErrNotExist },
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Flags:     flags,
	})
}

func TestLoadPrecedence(t *testing.T) {
	env := ackEnv()
	env["HYBRIDNODE_KUBERNETES_VERSION"] = "v1.36.4"
	file := "kubernetesVersion: v1.35.8\nartifactURL: http://oss.example/hn\nnodeName: from-file\nrunc" + "Version: v1.2.0\n"
	l, err := load(t, env, file, map[string]string{"runcVersion": "v1.3.0"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ key, want, source string }{
		{"kubernetesVersion", "v1.36.4", "env HYBRIDNODE_KUBERNETES_VERSION"},
		{"artifactURL", "http://oss.example/hn", "file /etc/hybridnode/config.yaml"},
		{"nodeName", "cn-hangzhou.10.10.24.7", "env ALIBABA_CLOUD_NODE_NAME"},
		{"runcVersion", "v1.3.0", "flag --runc-version"},
		{"containerdVersion", "v2.2.0", "default"},
	}
	for _, c := range cases {
		if got := l.Config.FormatString(c.key); got != c.want {
			t.Errorf("%s = %q, want %q", c.key, got, c.want)
		}
		if got := l.Sources[c.key].String(); got != c.source {
			t.Errorf("%s source = %q, want %q", c.key, got, c.source)
		}
	}
}

func TestLoadOldProviderIDSpelling(t *testing.T) {
	env := ackEnv()
	delete(env, "ALIBABA_CLOUD_PROVIDER_ID")
	env["ALIBABA_CLOUD_PROVIDE_ID"] = "cn-beijing.i-old"
	l, err := load(t, env, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Config.ProviderID != "cn-beijing.i-old" || l.Where("providerID") != "ALIBABA_CLOUD_PROVIDE_ID" {
		t.Fatalf("got %q from %s", l.Config.ProviderID, l.Where("providerID"))
	}
	env["ALIBABA_CLOUD_PROVIDER_ID"] = "cn-beijing.i-new"
	if _, err := load(t, env, "", nil); err == nil || !strings.Contains(err.Error(), "ALIBABA_CLOUD_PROVIDE_ID") {
		t.Fatalf("conflicting spellings: got %v", err)
	}
}

func TestLoadFileProblems(t *testing.T) {
	_, err := load(t, nil, "kubernetesVersion: [1]\nbogusKey: 1\njoinAttempts: three\n", nil)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"bogusKey", "kubernetesVersion (/etc/hybridnode/config.yaml)", "joinAttempts", "a whole number"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if len(e.Problems) != 3 {
		t.Errorf("want 3 problems, got %d: %v", len(e.Problems), msg)
	}
}

func TestLoadExplicitFileMissing(t *testing.T) {
	_, err := loadSources(ResolveOptions{File: "/nonexistent/hn.yaml", LookupEnv: func(string) (string, bool) { return "", false }})
	if err == nil || !strings.Contains(err.Error(), "--config") {
		t.Fatalf("got %v", err)
	}
}

func TestSetStringFormats(t *testing.T) {
	var c Config
	if err := c.SetString("registryMirrors", "registry.k8s.io=http://a:5000,http://b:5000; docker.io=https://m"); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"registry.k8s.io": {"http://a:5000", "http://b:5000"}, "docker.io": {"https://m"}}
	if !reflect.DeepEqual(c.RegistryMirrors, want) {
		t.Fatalf("mirrors = %v", c.RegistryMirrors)
	}
	if got := c.FormatString("registryMirrors"); got != "docker.io=https://m;registry.k8s.io=http://a:5000,http://b:5000" {
		t.Fatalf("format = %q", got)
	}
	if err := c.SetString("kubeletExtraArgs", "max-pods=50, v=2"); err != nil || c.KubeletExtraArgs["max-pods"] != "50" || c.KubeletExtraArgs["v"] != "2" {
		t.Fatalf("extra args = %v (%v)", c.KubeletExtraArgs, err)
	}
	for key, bad := range map[string]string{"kubeletExtraArgs": "novalue", "registryMirrors": "noequals", "restrictOOMScoreAdj": "maybe", "joinAttempts": "x", "joinTimeout": "soon"} {
		if err := c.SetString(key, bad); err == nil {
			t.Errorf("%s=%q: want an error", key, bad)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret(goodToken)
	for _, out := range []string{s.String(), s.GoString(), mustJSON(t, s), string((&Loaded{Config: Config{Token: s}, Sources: map[string]Source{}}).Dump())} {
		if strings.Contains(out, goodToken) {
			t.Fatalf("token leaked: %s", out)
		}
	}
	if s.Reveal() != goodToken {
		t.Fatal("Reveal lost the value")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := Secret(v.(Secret)).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDumpNamesSources(t *testing.T) {
	l, err := load(t, ackEnv(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	l.derive("ignored")
	out := string(l.Dump())
	for _, want := range []string{
		"nodeLabels:  # env ALIBABA_CLOUD_LABELS\n- alibabacloud.com/nodepool-id=np1\n- alibabacloud.com/external=true\n- workload=cpu\n",
		"token: '[REDACTED]'  # env HYBRIDNODE_TOKEN",
		"crictlVersion: v1.37.0  # derived from kubernetesVersion",
		"sandboxImage: registry.k8s.io/pause:3.10.2  # derived from kubernetesVersion",
		"containerdVersion: v2.2.0  # default",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dump lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, goodToken) {
		t.Fatal("dump leaks the token")
	}
}

func TestDeriveNodeNameFromHostname(t *testing.T) {
	env := ackEnv()
	delete(env, "ALIBABA_CLOUD_NODE_NAME")
	l, _ := load(t, env, "", nil)
	l.derive("Node-7")
	if l.Config.NodeName != "node-7" || l.Sources["nodeName"].Kind != "derived" {
		t.Fatalf("nodeName = %q (%v)", l.Config.NodeName, l.Sources["nodeName"])
	}
}

func TestValidateGood(t *testing.T) {
	l, err := load(t, ackEnv(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := validate(l, ResolveOptions{Join: true})
	if err != nil {
		t.Fatal(err)
	}
	wantLabels := []kubelet.Label{{Key: "alibabacloud.com/nodepool-id", Value: "np1"}, {Key: "alibabacloud.com/external", Value: "true"}, {Key: "workload", Value: "cpu"}}
	if !reflect.DeepEqual(s.Labels, wantLabels) {
		t.Errorf("labels = %v", s.Labels)
	}
	if !reflect.DeepEqual(s.Taints, []kubelet.Taint{{Key: "workload", Value: "ack", Effect: "NoSchedule"}}) {
		t.Errorf("taints = %v", s.Taints)
	}
	if s.KubernetesMinor != 37 || s.ContainerdMajor != 2 || s.Token.Reveal() != goodToken {
		t.Errorf("spec = minor %d, containerd %d", s.KubernetesMinor, s.ContainerdMajor)
	}
}

func TestValidateTokenFile(t *testing.T) {
	env := ackEnv()
	delete(env, "HYBRIDNODE_TOKEN")
	env["HYBRIDNODE_TOKEN_FILE"] = "/run/tok"
	l, _ := load(t, env, "", nil)
	s, err := validate(l, ResolveOptions{Join: true, ReadFile: func(p string) ([]byte, error) {
		if p != "/run/tok" {
			return nil, fs.ErrNotExist
		}
		return []byte(goodToken + "\n"), nil
	}})
	if err != nil || s.Token.Reveal() != goodToken {
		t.Fatalf("token %v, err %v", s, err)
	}
}

// TestValidateProblems sets one variable at a time to a bad value and checks
// that the error names that variable and says what is expected.
func TestValidateProblems(t *testing.T) {
	cases := []struct {
		name, env, value string
		want             string // substring of the message
	}{
		{"label without value", "ALIBABA_CLOUD_LABELS", "workload", "key=value"},
		{"label bad key", "ALIBABA_CLOUD_LABELS", "-bad=1", "qualified name"},
		{"label bad value", "ALIBABA_CLOUD_LABELS", "a=b c", "valid label value"},
		{"label refused by kubelet", "ALIBABA_CLOUD_LABELS", "node-role.kubernetes.io/worker=", "kubelet refuses"},
		{"label k8s.io refused", "ALIBABA_CLOUD_LABELS", "example.k8s.io/x=1", "kubelet refuses"},
		{"label duplicate", "ALIBABA_CLOUD_LABELS", "a=1,a=2", "duplicate a"},
		{"taint no effect", "ALIBABA_CLOUD_TAINTS", "workload=ack", "key=value:Effect"},
		{"taint bad effect", "ALIBABA_CLOUD_TAINTS", "workload=ack:NoRun", "NoSchedule, PreferNoSchedule or NoExecute"},
		{"taint bad key", "ALIBABA_CLOUD_TAINTS", "bad key:NoSchedule", "qualified name"},
		{"taint duplicate", "ALIBABA_CLOUD_TAINTS", "a:NoSchedule,a=b:NoSchedule", "once"},
		{"provider id", "ALIBABA_CLOUD_PROVIDER_ID", "i-bp1abc", "<region>.<instance-id>"},
		{"node name uppercase", "ALIBABA_CLOUD_NODE_NAME", "CN-Hangzhou.10.0.0.1", "RFC 1123"},
		{"endpoint no port", "HYBRIDNODE_API_SERVER_ENDPOINT", "10.0.0.10", "host:port"},
		{"endpoint bad port", "HYBRIDNODE_API_SERVER_ENDPOINT", "10.0.0.10:99999", "port from 1 to 65535"},
		{"token format", "HYBRIDNODE_TOKEN", "abcdef.short", "[a-z0-9]{6}.[a-z0-9]{16}"},
		{"ca hash", "HYBRIDNODE_CA_CERT_HASHES", "sha256:xyz", "64 lowercase hex"},
		{"kubernetes too old", "HYBRIDNODE_KUBERNETES_VERSION", "v1.29.3", "v1.30.x to v1.37.x"},
		{"kubernetes garbage", "HYBRIDNODE_KUBERNETES_VERSION", "latest", "v1.30.x to v1.37.x"},
		{"containerd 1.6", "HYBRIDNODE_CONTAINERD_VERSION", "1.6.20", "1.7.x or 2.x"},
		{"cgroup driver", "HYBRIDNODE_CGROUP_DRIVER", "cgroupv2", "auto, systemd or cgroupfs"},
		{"kube-proxy mode", "HYBRIDNODE_KUBE_PROXY_MODE", "IPVS", `got "IPVS", want auto, ipvs, iptables or nftables`},
		{"artifact url", "HYBRIDNODE_ARTIFACT_URL", "ftp://x/y", "http(s)://"},
		{"mirror url", "HYBRIDNODE_REGISTRY_MIRRORS", "registry.k8s.io=mirror:5000", "http:// or https://"},
		{"runc version", "HYBRIDNODE_RUNC_VERSION", "one", "release version"},
		{"join attempts", "HYBRIDNODE_JOIN_ATTEMPTS", "0", "1 to 10"},
		{"join timeout", "HYBRIDNODE_JOIN_TIMEOUT", "5s", "at least 30s"},
		{"extra arg dashes", "HYBRIDNODE_KUBELET_EXTRA_ARGS", "--max-pods=3", "without leading dashes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := ackEnv()
			env[c.env] = c.value
			l, err := load(t, env, "", nil)
			if err == nil {
				_, err = validate(l, ResolveOptions{Join: true})
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("want *Error, got %v", err)
			}
			if len(e.Problems) != 1 {
				t.Fatalf("want exactly one problem, got %v", err)
			}
			msg := e.Problems[0].String()
			if !strings.HasPrefix(msg, c.env+":") || !strings.Contains(msg, c.want) {
				t.Fatalf("message %q: want it to start with %s: and contain %q", msg, c.env, c.want)
			}
			if strings.Contains(err.Error(), goodToken) {
				t.Fatal("error leaks the token")
			}
		})
	}
}

func TestValidateAllProblemsAtOnce(t *testing.T) {
	env := map[string]string{
		"ALIBABA_CLOUD_LABELS":      "a",
		"ALIBABA_CLOUD_TAINTS":      "b",
		"ALIBABA_CLOUD_NODE_NAME":   "UPPER",
		"ALIBABA_CLOUD_PROVIDER_ID": "x",
	}
	l, err := load(t, env, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = validate(l, ResolveOptions{Join: true})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatal(err)
	}
	// labels, taints, node name, provider id, endpoint, token, CA pin
	if len(e.Problems) != 7 {
		t.Fatalf("want 7 problems, got %d:\n%v", len(e.Problems), err)
	}
}

func TestValidateInstallNeedsNoJoinFields(t *testing.T) {
	l, _ := load(t, map[string]string{}, "", nil)
	if _, err := validate(l, ResolveOptions{}); err != nil {
		t.Fatalf("install with defaults: %v", err)
	}
}

func TestValidateTokenNeverEchoed(t *testing.T) {
	env := ackEnv()
	env["HYBRIDNODE_TOKEN"] = "abcdef.0123456789abcdeX" // a real token with a typo
	l, _ := load(t, env, "", nil)
	_, err := validate(l, ResolveOptions{Join: true})
	if err == nil || strings.Contains(err.Error(), "0123456789abcde") {
		t.Fatalf("want an error that hides the value, got %v", err)
	}
}

func TestValidateUnsafeSkipCA(t *testing.T) {
	env := ackEnv()
	delete(env, "HYBRIDNODE_CA_CERT_HASHES")
	env["HYBRIDNODE_UNSAFE_SKIP_CA_VERIFICATION"] = "true"
	l, _ := load(t, env, "", nil)
	if _, err := validate(l, ResolveOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
}

// TestDumpNestsTokenService: the tokenService fields print as the nested
// map the file takes, each with its source, and the dump loads back.
func TestDumpNestsTokenService(t *testing.T) {
	env := ackEnv()
	delete(env, "HYBRIDNODE_TOKEN")
	env["HYBRIDNODE_CREDENTIAL_SOURCE"] = "instance-identity"
	env["HYBRIDNODE_TOKEN_SERVICE_PIN"] = goodHash
	l, err := load(t, env, "tokenService:\n  url: https://ts.example:9443\n  audience: prod\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	out := string(l.Dump())
	want := "tokenService:\n  url: https://ts.example:9443  # file /etc/hybridnode/config.yaml\n  pin: " + goodHash + "  # env HYBRIDNODE_TOKEN_SERVICE_PIN\n  audience: prod  # file /etc/hybridnode/config.yaml\n"
	if !strings.Contains(out, want) || !strings.Contains(out, "credentialSource: instance-identity  # env HYBRIDNODE_CREDENTIAL_SOURCE\n") {
		t.Fatalf("dump lacks\n%s\nin:\n%s", want, out)
	}
	back, err := load(t, nil, out, nil)
	if err != nil {
		t.Fatalf("the dump does not load back: %v", err)
	}
	if back.Config.TokenService != l.Config.TokenService || back.Config.CredentialSource != "instance-identity" {
		t.Errorf("loaded back %+v, want %+v", back.Config.TokenService, l.Config.TokenService)
	}
	if _, err := validate(l, ResolveOptions{Join: true}); err != nil {
		t.Errorf("a complete instance-identity setup: %v", err)
	}
}
