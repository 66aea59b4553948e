package kubelet

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/hybridnode/hybridnode/assets"
	"github.com/hybridnode/hybridnode/assets/golden"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

func hasLine(b []byte, line string) bool {
	for _, l := range strings.Split(string(b), "\n") {
		if l == line {
			return true
		}
	}
	return false
}

func parseYAML(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("rendered YAML does not parse: %v\n%s", err, b)
	}
	return m
}

func get(t *testing.T, m map[string]any, keys ...string) any {
	t.Helper()
	var cur any = m
	for i, k := range keys {
		tbl, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%s is not a map", strings.Join(keys[:i], "."))
		}
		if cur, ok = tbl[k]; !ok {
			t.Fatalf("no key %s", strings.Join(keys[:i+1], "."))
		}
	}
	return cur
}

func TestRenderUnit(t *testing.T) {
	got := RenderUnit(UnitInput{BinDir: "/usr/local/bin", EnvFile: hoststate.EnvFileDebian})
	golden.Check(t, "kubelet.service", got)
	if !bytes.Equal(RenderUnit(UnitInput{}), got) {
		t.Error("defaults differ from BinDir /usr/local/bin")
	}
	for _, line := range []string{
		assets.Header,
		"Description=kubelet: The Kubernetes Node Agent",
		"Wants=network-online.target",
		"After=network-online.target containerd.service",
		"ExecStart=/usr/local/bin/kubelet",
		"Restart=always",
		"StartLimitInterval=0",
		"RestartSec=10",
		"WantedBy=multi-user.target",
	} {
		if !hasLine(got, line) {
			t.Errorf("kubelet.service lacks %q", line)
		}
	}
	if !hasLine(RenderUnit(UnitInput{BinDir: "/opt/bin/"}), "ExecStart=/opt/bin/kubelet") {
		t.Error("BinDir not honoured")
	}
}

func TestRenderDropIn(t *testing.T) {
	for name, in := range map[string]UnitInput{
		"10-kubeadm-debian.conf": {BinDir: "/usr/local/bin", EnvFile: hoststate.EnvFileDebian},
		"10-kubeadm-rhel.conf":   {BinDir: "/usr/local/bin", EnvFile: hoststate.EnvFileRHEL},
		"10-kubeadm-noenv.conf":  {BinDir: "/opt/kube/bin"},
	} {
		t.Run(name, func(t *testing.T) {
			got := RenderDropIn(in)
			golden.Check(t, name, got)
			bin := in.BinDir
			for _, line := range []string{
				assets.Header,
				"[Service]",
				`Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"`,
				`Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"`,
				"EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env",
				"ExecStart=",
				"ExecStart=" + bin + "/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS",
			} {
				if !hasLine(got, line) {
					t.Errorf("drop-in lacks %q", line)
				}
			}
			envLine := "EnvironmentFile=-" + in.EnvFile
			if in.EnvFile != "" && !hasLine(got, envLine) {
				t.Errorf("drop-in lacks %q", envLine)
			}
			if in.EnvFile == "" && strings.Count(string(got), "EnvironmentFile=") != 1 {
				t.Errorf("drop-in without EnvFile has a user EnvironmentFile:\n%s", got)
			}
			// The reset must come right before the real ExecStart.
			if !strings.Contains(string(got), "\nExecStart=\nExecStart="+bin+"/kubelet ") {
				t.Errorf("ExecStart= is not followed by the kubelet ExecStart:\n%s", got)
			}
		})
	}
}

func baseJoin(minor int) JoinInput {
	return JoinInput{
		KubernetesMinor:   minor,
		APIServerEndpoint: "10.0.0.10:6443",
		Token:             "abcdef.0123456789abcdef",
		CACertHashes:      []string{"sha256:" + strings.Repeat("ab", 32)},
		NodeName:          "cn-hangzhou.i-bp1abcdefg",
		CRISocket:         "unix:///run/containerd/containerd.sock",
	}
}

func fullJoin(minor int) JoinInput {
	in := baseJoin(minor)
	in.Taints = []Taint{{Key: "dedicated", Value: "edge", Effect: "NoSchedule"}, {Key: "spot", Effect: "PreferNoSchedule"}}
	in.ProviderID = "cn-hangzhou.i-bp1abcdefg"
	in.Labels = []Label{{Key: "node.kubernetes.io/pool", Value: "edge"}, {Key: "topology.kubernetes.io/zone", Value: "cn-hangzhou-k"}}
	in.KubeletExtraArgs = []Arg{{Name: "max-pods", Value: "64"}}
	in.IgnorePreflightErrors = []string{"SystemVerification"}
	in.PatchesDir = "/etc/hybridnode/patches"
	in.KubeletHealthCheckTimeout = 4 * time.Minute
	in.TLSBootstrapTimeout = 5*time.Minute + 30*time.Second
	return in
}

func TestRenderJoinConfigurationGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   JoinInput
	}{
		{"join-v1beta3-minimal", baseJoin(30)},
		{"join-v1beta3-full", fullJoin(30)},
		{"join-v1beta4-minimal", baseJoin(37)},
		{"join-v1beta4-full", fullJoin(31)},
		{"join-v1beta4-unsafe", func() JoinInput {
			in := baseJoin(35)
			in.CACertHashes = nil
			in.UnsafeSkipCAVerification = true
			in.NodeName, in.CRISocket = "", ""
			in.TLSBootstrapTimeout = 2 * time.Minute
			return in
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RenderJoinConfiguration(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, tc.name, got)
			if !strings.HasPrefix(string(got), assets.Header+"\n") {
				t.Error("no header")
			}
			parseYAML(t, got)
		})
	}
}

func TestRenderJoinConfigurationV1beta3(t *testing.T) {
	out, err := RenderJoinConfiguration(fullJoin(30))
	if err != nil {
		t.Fatal(err)
	}
	m := parseYAML(t, out)
	if got := get(t, m, "apiVersion"); got != KubeadmV1beta3 {
		t.Errorf("apiVersion = %v", got)
	}
	if got := get(t, m, "kind"); got != "JoinConfiguration" {
		t.Errorf("kind = %v", got)
	}
	args, ok := get(t, m, "nodeRegistration", "kubeletExtraArgs").(map[string]any)
	if !ok {
		t.Fatalf("v1beta3 kubeletExtraArgs is not a map: %#v", get(t, m, "nodeRegistration", "kubeletExtraArgs"))
	}
	want := map[string]any{
		"provider-id": "cn-hangzhou.i-bp1abcdefg",
		"node-labels": "node.kubernetes.io/pool=edge,topology.kubernetes.io/zone=cn-hangzhou-k",
		"max-pods":    "64",
	}
	if !reflect.DeepEqual(args, want) {
		t.Errorf("kubeletExtraArgs = %v, want %v", args, want)
	}
	if _, ok := m["timeouts"]; ok {
		t.Error("v1beta3 has no timeouts")
	}
	if got := get(t, m, "patches", "directory"); got != "/etc/hybridnode/patches" {
		t.Errorf("patches.directory = %v", got)
	}

	// A repeated name keeps its last value.
	in := baseJoin(30)
	in.KubeletExtraArgs = []Arg{{"v", "2"}, {"max-pods", "64"}, {"v", "4"}}
	out, err = RenderJoinConfiguration(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := get(t, parseYAML(t, out), "nodeRegistration", "kubeletExtraArgs", "v"); got != "4" {
		t.Errorf("repeated arg: v = %v, want 4", got)
	}
}

func TestRenderJoinConfigurationV1beta4(t *testing.T) {
	out, err := RenderJoinConfiguration(fullJoin(37))
	if err != nil {
		t.Fatal(err)
	}
	m := parseYAML(t, out)
	if got := get(t, m, "apiVersion"); got != KubeadmV1beta4 {
		t.Errorf("apiVersion = %v", got)
	}
	args, ok := get(t, m, "nodeRegistration", "kubeletExtraArgs").([]any)
	if !ok || len(args) != 3 {
		t.Fatalf("v1beta4 kubeletExtraArgs is not a 3-item list: %#v", get(t, m, "nodeRegistration", "kubeletExtraArgs"))
	}
	for i, want := range []map[string]any{
		{"name": "provider-id", "value": "cn-hangzhou.i-bp1abcdefg"},
		{"name": "node-labels", "value": "node.kubernetes.io/pool=edge,topology.kubernetes.io/zone=cn-hangzhou-k"},
		{"name": "max-pods", "value": "64"},
	} {
		if !reflect.DeepEqual(args[i], want) {
			t.Errorf("kubeletExtraArgs[%d] = %v, want %v (order must be kept)", i, args[i], want)
		}
	}
	if got := get(t, m, "timeouts", "kubeletHealthCheck"); got != "4m0s" {
		t.Errorf("timeouts.kubeletHealthCheck = %v", got)
	}
	if got := get(t, m, "timeouts", "tlsBootstrap"); got != "5m30s" {
		t.Errorf("timeouts.tlsBootstrap = %v", got)
	}
	if d, err := time.ParseDuration(get(t, m, "timeouts", "tlsBootstrap").(string)); err != nil || d != 330*time.Second {
		t.Errorf("tlsBootstrap does not parse back: %v %v", d, err)
	}
	taints := get(t, m, "nodeRegistration", "taints").([]any)
	wantTaints := []any{
		map[string]any{"key": "dedicated", "value": "edge", "effect": "NoSchedule"},
		map[string]any{"key": "spot", "effect": "PreferNoSchedule"},
	}
	if !reflect.DeepEqual(taints, wantTaints) {
		t.Errorf("taints = %v, want %v", taints, wantTaints)
	}
	if got := get(t, m, "nodeRegistration", "ignorePreflightErrors"); !reflect.DeepEqual(got, []any{"SystemVerification"}) {
		t.Errorf("ignorePreflightErrors = %v", got)
	}
	bt := get(t, m, "discovery", "bootstrapToken").(map[string]any)
	if bt["token"] != "abcdef.0123456789abcdef" || bt["apiServerEndpoint"] != "10.0.0.10:6443" {
		t.Errorf("bootstrapToken = %v", bt)
	}
	if _, ok := bt["unsafeSkipCAVerification"]; ok {
		t.Error("unsafeSkipCAVerification written although false")
	}
}

func TestRenderJoinConfigurationEmptyTaints(t *testing.T) {
	for _, minor := range []int{30, 31, 37} {
		out, err := RenderJoinConfiguration(baseJoin(minor))
		if err != nil {
			t.Fatal(err)
		}
		if !hasLine(out, "  taints: []") {
			t.Errorf("1.%d: no explicit `taints: []`:\n%s", minor, out)
		}
		taints, ok := get(t, parseYAML(t, out), "nodeRegistration", "taints").([]any)
		if !ok || taints == nil || len(taints) != 0 {
			t.Errorf("1.%d: taints = %#v, want an empty, non-nil list", minor, taints)
		}
		for _, absent := range []string{"kubeletExtraArgs", "ignorePreflightErrors", "patches", "timeouts", "tlsBootstrapToken"} {
			if strings.Contains(string(out), absent) {
				t.Errorf("1.%d: minimal config mentions %s:\n%s", minor, absent, out)
			}
		}
	}
}

func TestRenderJoinConfigurationErrors(t *testing.T) {
	mod := func(f func(*JoinInput)) JoinInput {
		in := baseJoin(33)
		f(&in)
		return in
	}
	for name, in := range map[string]JoinInput{
		"minor 29":           mod(func(in *JoinInput) { in.KubernetesMinor = 29 }),
		"minor 38":           mod(func(in *JoinInput) { in.KubernetesMinor = 38 }),
		"no endpoint":        mod(func(in *JoinInput) { in.APIServerEndpoint = " " }),
		"no token":           mod(func(in *JoinInput) { in.Token = "" }),
		"no CA pinning":      mod(func(in *JoinInput) { in.CACertHashes = nil }),
		"empty CA hash":      mod(func(in *JoinInput) { in.CACertHashes = []string{""} }),
		"taint no key":       mod(func(in *JoinInput) { in.Taints = []Taint{{Effect: "NoSchedule"}} }),
		"taint bad effect":   mod(func(in *JoinInput) { in.Taints = []Taint{{Key: "a", Effect: "NoScheduel"}} }),
		"label refused":      mod(func(in *JoinInput) { in.Labels = []Label{{Key: "node-role.kubernetes.io/worker"}} }),
		"arg no name":        mod(func(in *JoinInput) { in.KubeletExtraArgs = []Arg{{Value: "x"}} }),
		"arg dashes":         mod(func(in *JoinInput) { in.KubeletExtraArgs = []Arg{{Name: "--v", Value: "2"}} }),
		"blank preflight":    mod(func(in *JoinInput) { in.IgnorePreflightErrors = []string{" "} }),
		"negative timeout":   mod(func(in *JoinInput) { in.TLSBootstrapTimeout = -time.Second }),
		"negative hc timout": mod(func(in *JoinInput) { in.KubeletHealthCheckTimeout = -time.Second }),
	} {
		if out, err := RenderJoinConfiguration(in); err == nil {
			t.Errorf("%s: want an error, got\n%s", name, out)
		}
	}
}

func TestAPIVersionFor(t *testing.T) {
	for minor, want := range map[int]string{
		29: "", 30: KubeadmV1beta3, 31: KubeadmV1beta4, 34: KubeadmV1beta4, 37: KubeadmV1beta4, 38: "", 0: "",
	} {
		if got := APIVersionFor(minor); got != want {
			t.Errorf("APIVersionFor(%d) = %q, want %q", minor, got, want)
		}
	}
}

func TestDefaultSandboxImage(t *testing.T) {
	for minor, want := range map[int]string{
		29: "",
		30: "registry.k8s.io/pause:3.9",
		31: "registry.k8s.io/pause:3.10",
		32: "registry.k8s.io/pause:3.10",
		33: "registry.k8s.io/pause:3.10",
		34: "registry.k8s.io/pause:3.10.1",
		35: "registry.k8s.io/pause:3.10.1",
		36: "registry.k8s.io/pause:3.10.2",
		37: "registry.k8s.io/pause:3.10.2",
		38: "",
	} {
		if got := DefaultSandboxImage(minor); got != want {
			t.Errorf("DefaultSandboxImage(%d) = %q, want %q", minor, got, want)
		}
	}
	for m := MinKubernetesMinor; m <= MaxKubernetesMinor; m++ {
		if DefaultSandboxImage(m) == "" || APIVersionFor(m) == "" {
			t.Errorf("1.%d is supported but has no sandbox image or API version", m)
		}
	}
}

func TestNeedsFailCgroupV1False(t *testing.T) {
	for _, tc := range []struct {
		minor int
		v1    bool
		want  bool
	}{
		{30, true, false}, {34, true, false}, {35, true, true}, {37, true, true},
		{35, false, false}, {37, false, false}, {30, false, false},
	} {
		if got := NeedsFailCgroupV1False(tc.minor, tc.v1); got != tc.want {
			t.Errorf("NeedsFailCgroupV1False(%d, %v) = %v, want %v", tc.minor, tc.v1, got, tc.want)
		}
	}
}

func TestRenderKubeletPatch(t *testing.T) {
	f := false
	for _, tc := range []struct {
		name string
		in   PatchInput
	}{
		{"patch-systemd", PatchInput{CgroupDriver: "systemd"}},
		{"patch-cgroupfs-cgroupv1", PatchInput{CgroupDriver: "cgroupfs", FailCgroupV1: &f}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RenderKubeletPatch(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, tc.name, got)
			if !strings.HasPrefix(string(got), assets.Header+"\n") {
				t.Error("no header")
			}
			m := parseYAML(t, got)
			if m["apiVersion"] != "kubelet.config.k8s.io/v1beta1" || m["kind"] != "KubeletConfiguration" {
				t.Errorf("type = %v %v", m["apiVersion"], m["kind"])
			}
			if m["cgroupDriver"] != tc.in.CgroupDriver {
				t.Errorf("cgroupDriver = %v", m["cgroupDriver"])
			}
			v, ok := m["failCgroupV1"]
			if (tc.in.FailCgroupV1 != nil) != ok || (ok && v != *tc.in.FailCgroupV1) {
				t.Errorf("failCgroupV1 = %v (present %v), want %v", v, ok, tc.in.FailCgroupV1)
			}
		})
	}
	out, err := RenderKubeletPatch(PatchInput{FailCgroupV1: &f})
	if err != nil {
		t.Fatal(err)
	}
	if m := parseYAML(t, out); m["failCgroupV1"] != false || m["cgroupDriver"] != nil {
		t.Errorf("failCgroupV1-only patch = %v", m)
	}
	if out, err := RenderKubeletPatch(PatchInput{}); out != nil || err != nil {
		t.Errorf("empty patch = %q, %v; want nil, nil", out, err)
	}
	if _, err := RenderKubeletPatch(PatchInput{CgroupDriver: "auto"}); err == nil {
		t.Error("cgroup driver auto: want an error")
	}
}

func TestKubeletPatchFileName(t *testing.T) {
	// target[suffix][+patchtype].extension, as kubeadm parses it.
	if KubeletPatchFile != "kubeletconfiguration+merge.yaml" {
		t.Errorf("KubeletPatchFile = %q", KubeletPatchFile)
	}
}
