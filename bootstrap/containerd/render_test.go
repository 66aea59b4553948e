package containerd

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/hybridnode/hybridnode/assets"
	"github.com/hybridnode/hybridnode/assets/golden"
)

func parseTOML(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := toml.Unmarshal(b, &m); err != nil {
		t.Fatalf("rendered TOML does not parse: %v\n%s", err, b)
	}
	return m
}

// lookup walks nested tables: lookup(m, "plugins", "io.containerd.grpc.v1.cri", "sandbox_image").
func lookup(t *testing.T, m map[string]any, keys ...string) any {
	t.Helper()
	var cur any = m
	for i, k := range keys {
		tbl, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%s is not a table", strings.Join(keys[:i], "."))
		}
		if cur, ok = tbl[k]; !ok {
			t.Fatalf("no key %s", strings.Join(keys[:i+1], "."))
		}
	}
	return cur
}

func TestRenderConfigGolden(t *testing.T) {
	tests := []struct {
		name string
		in   ConfigInput
	}{
		{"config-v1-systemd", ConfigInput{Major: 1, SandboxImage: "registry.k8s.io/pause:3.10.1", SystemdCgroup: true}},
		{"config-v1-cgroupfs-restrict", ConfigInput{Major: 1, SandboxImage: "registry.k8s.io/pause:3.9", RestrictOOMScoreAdj: true,
			CNIBinDir: "/usr/libexec/cni/", CNIConfDir: "/etc/cni/net.d", RegistryConfigPath: "/etc/containerd/certs.d"}},
		{"config-v2-systemd", ConfigInput{Major: 2, SandboxImage: "registry.k8s.io/pause:3.10.2", SystemdCgroup: true}},
		{"config-v2-cgroupfs-restrict", ConfigInput{Major: 2, SandboxImage: "mirror.example.com/pause:3.10.2", RestrictOOMScoreAdj: true,
			CNIBinDir: "/usr/libexec/cni", CNIConfDir: "/etc/cni/conf.d", RegistryConfigPath: "/etc/hybridnode/certs.d"}},
		{"config-v1-nvidia", ConfigInput{Major: 1, SandboxImage: "registry.k8s.io/pause:3.10.1", SystemdCgroup: true,
			NvidiaRuntime: "/usr/bin/nvidia-container-runtime"}},
		{"config-v1-nvidia-default-cgroupfs", ConfigInput{Major: 1, SandboxImage: "registry.k8s.io/pause:3.9",
			NvidiaRuntime: "/usr/local/nvidia/toolkit/nvidia-container-runtime", NvidiaDefault: true}},
		{"config-v2-nvidia", ConfigInput{Major: 2, SandboxImage: "registry.k8s.io/pause:3.10.2", SystemdCgroup: true,
			NvidiaRuntime: "/usr/bin/nvidia-container-runtime"}},
		{"config-v2-nvidia-default", ConfigInput{Major: 2, SandboxImage: "registry.k8s.io/pause:3.10.2", SystemdCgroup: true,
			NvidiaRuntime: "/usr/local/bin/nvidia-container-runtime", NvidiaDefault: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RenderConfig(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, tc.name, got)
			if !strings.HasPrefix(string(got), assets.Header+"\n") {
				t.Error("no header")
			}
			parseTOML(t, got)
		})
	}
}

func TestRenderConfigV1Keys(t *testing.T) {
	out, err := RenderConfig(ConfigInput{Major: 1, SandboxImage: "registry.k8s.io/pause:3.10.1", SystemdCgroup: true, RestrictOOMScoreAdj: true})
	if err != nil {
		t.Fatal(err)
	}
	m := parseTOML(t, out)
	cri := []string{"plugins", "io.containerd.grpc.v1.cri"}
	at := func(k ...string) any { return lookup(t, m, append(append([]string{}, cri...), k...)...) }
	checks := map[string][2]any{
		"version":                {lookup(t, m, "version"), int64(2)},
		"sandbox_image":          {at("sandbox_image"), "registry.k8s.io/pause:3.10.1"},
		"restrict_oom_score_adj": {at("restrict_oom_score_adj"), true},
		"default_runtime_name":   {at("containerd", "default_runtime_name"), "runc"},
		"runtime_type":           {at("containerd", "runtimes", "runc", "runtime_type"), "io.containerd.runc.v2"},
		"SystemdCgroup":          {at("containerd", "runtimes", "runc", "options", "SystemdCgroup"), true},
		"cni.bin_dir":            {at("cni", "bin_dir"), DefaultCNIBinDir},
		"cni.conf_dir":           {at("cni", "conf_dir"), DefaultCNIConfDir},
		"registry.config_path":   {at("registry", "config_path"), DefaultRegistryConfigPath},
	}
	for k, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %#v, want %#v", k, c[0], c[1])
		}
	}
	if bytes.Contains(out, []byte("io.containerd.cri.v1")) {
		t.Error("schema v2 output mentions containerd 2.x plugin IDs")
	}
}

func TestRenderConfigV2Keys(t *testing.T) {
	out, err := RenderConfig(ConfigInput{Major: 2, SandboxImage: "registry.k8s.io/pause:3.10.2", SystemdCgroup: false, CNIBinDir: "/opt/cni/bin/"})
	if err != nil {
		t.Fatal(err)
	}
	m := parseTOML(t, out)
	img := func(k ...string) any {
		return lookup(t, m, append([]string{"plugins", "io.containerd.cri.v1.images"}, k...)...)
	}
	rt := func(k ...string) any {
		return lookup(t, m, append([]string{"plugins", "io.containerd.cri.v1.runtime"}, k...)...)
	}
	checks := map[string][2]any{
		"version":                {lookup(t, m, "version"), int64(3)},
		"pinned_images.sandbox":  {img("pinned_images", "sandbox"), "registry.k8s.io/pause:3.10.2"},
		"registry.config_path":   {img("registry", "config_path"), DefaultRegistryConfigPath},
		"restrict_oom_score_adj": {rt("restrict_oom_score_adj"), false},
		"default_runtime_name":   {rt("containerd", "default_runtime_name"), "runc"},
		"runtime_type":           {rt("containerd", "runtimes", "runc", "runtime_type"), "io.containerd.runc.v2"},
		"SystemdCgroup":          {rt("containerd", "runtimes", "runc", "options", "SystemdCgroup"), false},
		"cni.conf_dir":           {rt("cni", "conf_dir"), DefaultCNIConfDir},
	}
	for k, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %#v, want %#v", k, c[0], c[1])
		}
	}
	if dirs, ok := rt("cni", "bin_dirs").([]any); !ok || len(dirs) != 1 || dirs[0] != "/opt/cni/bin" {
		t.Errorf("cni.bin_dirs = %#v, want [/opt/cni/bin]", rt("cni", "bin_dirs"))
	}
	for _, deprecated := range []string{"sandbox_image", "bin_dir =", "io.containerd.grpc.v1.cri"} {
		if bytes.Contains(out, []byte(deprecated)) {
			t.Errorf("schema v3 output contains %q", deprecated)
		}
	}
}

// TestRenderConfigNvidia reads the NVIDIA runtime and CDI back from both
// schemas, at the keys containerd reads them from (the CRI plugin's
// PluginConfig in 1.7, RuntimeConfig in 2.x).
func TestRenderConfigNvidia(t *testing.T) {
	for _, tc := range []struct {
		major  int
		plugin string
	}{{1, "io.containerd.grpc.v1.cri"}, {2, "io.containerd.cri.v1.runtime"}} {
		for _, def := range []bool{false, true} {
			for _, systemd := range []bool{false, true} {
				name := fmt.Sprintf("major %d default %v systemd %v", tc.major, def, systemd)
				out, err := RenderConfig(ConfigInput{Major: tc.major, SandboxImage: "p:1", SystemdCgroup: systemd,
					NvidiaRuntime: "/usr/local/nvidia/toolkit/nvidia-container-runtime", NvidiaDefault: def})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				m := parseTOML(t, out)
				at := func(k ...string) any { return lookup(t, m, append([]string{"plugins", tc.plugin}, k...)...) }
				wantDefault := "runc"
				if def {
					wantDefault = "nvidia"
				}
				checks := map[string][2]any{
					"enable_cdi":             {at("enable_cdi"), true},
					"default_runtime_name":   {at("containerd", "default_runtime_name"), wantDefault},
					"nvidia.runtime_type":    {at("containerd", "runtimes", "nvidia", "runtime_type"), "io.containerd.runc.v2"},
					"nvidia.BinaryName":      {at("containerd", "runtimes", "nvidia", "options", "BinaryName"), "/usr/local/nvidia/toolkit/nvidia-container-runtime"},
					"nvidia.SystemdCgroup":   {at("containerd", "runtimes", "nvidia", "options", "SystemdCgroup"), systemd},
					"runc.SystemdCgroup":     {at("containerd", "runtimes", "runc", "options", "SystemdCgroup"), systemd},
					"runc has no BinaryName": {at("containerd", "runtimes", "runc", "options").(map[string]any)["BinaryName"] == nil, true},
				}
				for k, c := range checks {
					if c[0] != c[1] {
						t.Errorf("%s: %s = %#v, want %#v", name, k, c[0], c[1])
					}
				}
				dirs, ok := at("cdi_spec_dirs").([]any)
				if !ok || len(dirs) != 2 || dirs[0] != "/etc/cdi" || dirs[1] != "/var/run/cdi" {
					t.Errorf("%s: cdi_spec_dirs = %#v, want [/etc/cdi /var/run/cdi]", name, at("cdi_spec_dirs"))
				}
			}
		}
	}
}

// TestRenderConfigWithoutNvidia: a node without the toolkit gets neither
// the runtime nor any CDI key (containerd's own default stays).
func TestRenderConfigWithoutNvidia(t *testing.T) {
	for _, major := range []int{1, 2} {
		out, err := RenderConfig(ConfigInput{Major: major, SandboxImage: "p:1"})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"nvidia", "cdi", "BinaryName"} {
			if bytes.Contains(out, []byte(s)) {
				t.Errorf("major %d without NvidiaRuntime mentions %q:\n%s", major, s, out)
			}
		}
	}
}

func TestRenderConfigErrors(t *testing.T) {
	for name, in := range map[string]ConfigInput{
		"major 0":                    {Major: 0, SandboxImage: "p:1"},
		"major 3":                    {Major: 3, SandboxImage: "p:1"},
		"no sandbox image":           {Major: 2},
		"sandbox whitespace":         {Major: 1, SandboxImage: "pause 3.9"},
		"relative cni bin":           {Major: 2, SandboxImage: "p:1", CNIBinDir: "opt/cni/bin"},
		"relative certs.d":           {Major: 1, SandboxImage: "p:1", RegistryConfigPath: "certs.d"},
		"relative cni config":        {Major: 1, SandboxImage: "p:1", CNIConfDir: "./net.d"},
		"nvidia default, no runtime": {Major: 2, SandboxImage: "p:1", NvidiaDefault: true},
		"relative nvidia runtime":    {Major: 1, SandboxImage: "p:1", NvidiaRuntime: "bin/nvidia-container-runtime"},
	} {
		if out, err := RenderConfig(in); err == nil {
			t.Errorf("%s: want an error, got\n%s", name, out)
		}
	}
}

func TestRenderConfigQuoting(t *testing.T) {
	out, err := RenderConfig(ConfigInput{Major: 2, SandboxImage: `reg.example/pause:"x"\y`})
	if err != nil {
		t.Fatal(err)
	}
	m := parseTOML(t, out)
	if got := lookup(t, m, "plugins", "io.containerd.cri.v1.images", "pinned_images", "sandbox"); got != `reg.example/pause:"x"\y` {
		t.Errorf("sandbox = %q", got)
	}
}

func TestRenderHostsGolden(t *testing.T) {
	tests := []struct {
		name string
		m    Mirror
	}{
		{"hosts-docker.io", Mirror{Registry: "docker.io", Endpoints: []string{"https://mirror.example.com", "http://10.0.0.5:5000", "https://mirror.example.com"}}},
		{"hosts-registry.k8s.io", Mirror{Registry: "registry.k8s.io", Endpoints: []string{"https://k8s-mirror.example.com"}}},
		{"hosts-port", Mirror{Registry: "registry.local:5000", Endpoints: []string{"http://registry.local:5000"}}},
		{"hosts-default", Mirror{Registry: "_default", Endpoints: []string{"https://cache.example.com"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RenderHosts(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, tc.name, got)
			if !strings.HasPrefix(string(got), assets.Header+"\n") {
				t.Error("no header")
			}
			parseTOML(t, got)
		})
	}
}

func TestRenderHostsContent(t *testing.T) {
	out, err := RenderHosts(Mirror{Registry: "docker.io", Endpoints: []string{"https://b.example.com", "http://a.example.com:5000", "https://b.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	m := parseTOML(t, out)
	if got := lookup(t, m, "server"); got != "https://registry-1.docker.io" {
		t.Errorf("server = %v", got)
	}
	hosts := lookup(t, m, "host").(map[string]any)
	if len(hosts) != 2 {
		t.Errorf("hosts = %v, want 2", hosts)
	}
	for _, h := range []string{"https://b.example.com", "http://a.example.com:5000"} {
		caps := lookup(t, m, "host", h, "capabilities").([]any)
		if len(caps) != 2 || caps[0] != "pull" || caps[1] != "resolve" {
			t.Errorf("%s capabilities = %v", h, caps)
		}
	}
	// Order matters: containerd tries hosts in file order.
	if i, j := bytes.Index(out, []byte("b.example.com")), bytes.Index(out, []byte("a.example.com")); i < 0 || j < 0 || i > j {
		t.Errorf("endpoints out of order:\n%s", out)
	}

	out, err = RenderHosts(Mirror{Registry: "quay.io", Endpoints: []string{"https://q.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := lookup(t, parseTOML(t, out), "server"); got != "https://quay.io" {
		t.Errorf("server = %v", got)
	}
	out, err = RenderHosts(Mirror{Registry: "_default", Endpoints: []string{"https://q.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := parseTOML(t, out)["server"]; ok {
		t.Errorf("_default has a server:\n%s", out)
	}
}

func TestRenderHostsErrors(t *testing.T) {
	for name, m := range map[string]Mirror{
		"no registry":        {Endpoints: []string{"https://m.example.com"}},
		"registry URL":       {Registry: "https://docker.io", Endpoints: []string{"https://m.example.com"}},
		"registry path":      {Registry: "docker.io/library", Endpoints: []string{"https://m.example.com"}},
		"registry traversal": {Registry: "..", Endpoints: []string{"https://m.example.com"}},
		"no endpoints":       {Registry: "docker.io"},
		"blank endpoint":     {Registry: "docker.io", Endpoints: []string{" "}},
		"no scheme":          {Registry: "docker.io", Endpoints: []string{"m.example.com"}},
		"ftp":                {Registry: "docker.io", Endpoints: []string{"ftp://m.example.com"}},
		"no host":            {Registry: "docker.io", Endpoints: []string{"https://"}},
		"query":              {Registry: "docker.io", Endpoints: []string{"https://m.example.com/?x=1"}},
		"quote":              {Registry: "docker.io", Endpoints: []string{`https://m.example.com/"`}},
	} {
		if out, err := RenderHosts(m); err == nil {
			t.Errorf("%s: want an error, got\n%s", name, out)
		}
	}
}

func TestHostsPath(t *testing.T) {
	for reg, want := range map[string]string{
		"docker.io":           "docker.io/hosts.toml",
		"registry.local:5000": "registry.local:5000/hosts.toml",
		"_default":            "_default/hosts.toml",
	} {
		if got := HostsPath(reg); got != want {
			t.Errorf("HostsPath(%q) = %q, want %q", reg, got, want)
		}
	}
}

func TestRenderUnitGolden(t *testing.T) {
	got := RenderUnit("/usr/local/bin")
	golden.Check(t, "containerd.service", got)
	if !bytes.Equal(RenderUnit(""), got) {
		t.Error("RenderUnit(\"\") differs from RenderUnit(\"/usr/local/bin\")")
	}
	for _, line := range []string{
		assets.Header,
		"After=network.target local-fs.target dbus.service",
		"ExecStartPre=-/sbin/modprobe overlay",
		"ExecStart=/usr/local/bin/containerd",
		`Environment="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"`,
		"Type=notify", "Delegate=yes", "KillMode=process", "Restart=always", "RestartSec=5",
		"LimitNPROC=infinity", "LimitCORE=infinity", "TasksMax=infinity", "OOMScoreAdjust=-999",
		"WantedBy=multi-user.target",
	} {
		if !hasLine(got, line) {
			t.Errorf("containerd.service lacks line %q", line)
		}
	}
}

func TestRenderUnitOtherBinDir(t *testing.T) {
	got := RenderUnit("/opt/hybridnode/bin/")
	golden.Check(t, "containerd-optbin.service", got)
	for _, line := range []string{
		"ExecStart=/opt/hybridnode/bin/containerd",
		`Environment="PATH=/opt/hybridnode/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"`,
	} {
		if !hasLine(got, line) {
			t.Errorf("lacks line %q:\n%s", line, got)
		}
	}
}

func hasLine(b []byte, line string) bool {
	for _, l := range strings.Split(string(b), "\n") {
		if l == line {
			return true
		}
	}
	return false
}
