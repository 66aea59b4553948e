package bootstrap

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
	nodev1 "k8s.io/api/node/v1"
	"sigs.k8s.io/yaml"

	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/containerd"
	"github.com/hybridnode/hybridnode/bootstrap/hostcheck"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

// stubRuntime is what stands in for the NVIDIA toolkit's runtime in the
// tests (and, the same way, in the e2e): a script that runs runc.
const stubRuntime = "#!/bin/sh\nexec /usr/local/sbin/runc \"$@\"\n"

func writeExec(t *testing.T, root, p, content string, mode os.FileMode) {
	t.Helper()
	full := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func TestProbeNvidiaRuntime(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, root string)
		want  string
	}{
		{"none", func(*testing.T, string) {}, ""},
		{"package, /usr/bin", func(t *testing.T, root string) {
			writeExec(t, root, "/usr/bin/nvidia-container-runtime", stubRuntime, 0o755)
		}, "/usr/bin/nvidia-container-runtime"},
		{"GPU Operator's toolkit dir", func(t *testing.T, root string) {
			writeExec(t, root, "/usr/local/nvidia/toolkit/nvidia-container-runtime", stubRuntime, 0o755)
		}, "/usr/local/nvidia/toolkit/nvidia-container-runtime"},
		{"PATH order: /usr/local/bin before /usr/bin and the toolkit dir", func(t *testing.T, root string) {
			writeExec(t, root, "/usr/bin/nvidia-container-runtime", stubRuntime, 0o755)
			writeExec(t, root, "/usr/local/nvidia/toolkit/nvidia-container-runtime", stubRuntime, 0o755)
			writeExec(t, root, "/usr/local/bin/nvidia-container-runtime", stubRuntime, 0o755)
		}, "/usr/local/bin/nvidia-container-runtime"},
		{"not executable: skipped", func(t *testing.T, root string) {
			writeExec(t, root, "/usr/local/bin/nvidia-container-runtime", stubRuntime, 0o644)
			writeExec(t, root, "/usr/bin/nvidia-container-runtime", stubRuntime, 0o755)
		}, "/usr/bin/nvidia-container-runtime"},
		{"a directory of that name: not it", func(t *testing.T, root string) {
			if err := os.MkdirAll(filepath.Join(root, "/usr/bin/nvidia-container-runtime"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"symlink within the root", func(t *testing.T, root string) {
			writeExec(t, root, "/opt/nvidia/bin/nvidia-container-runtime", stubRuntime, 0o755)
			if err := os.MkdirAll(filepath.Join(root, "/usr/bin"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("/opt/nvidia/bin/nvidia-container-runtime", filepath.Join(root, "/usr/bin/nvidia-container-runtime")); err != nil {
				t.Fatal(err)
			}
		}, "/usr/bin/nvidia-container-runtime"},
		{"merged /usr: /bin is a symlink to usr/bin", func(t *testing.T, root string) {
			writeExec(t, root, "/usr/bin/nvidia-container-runtime", stubRuntime, 0o755)
			if err := os.Symlink("usr/bin", filepath.Join(root, "bin")); err != nil {
				t.Fatal(err)
			}
		}, "/usr/bin/nvidia-container-runtime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tc.setup(t, root)
			f, err := hostfs.New(root)
			if err != nil {
				t.Fatal(err)
			}
			if got := hoststate.Probe(f).NvidiaRuntime; got != tc.want {
				t.Errorf("NvidiaRuntime = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestGPULabelIsKubeletsToSet(t *testing.T) {
	if want := hostcheck.GPULabel.Problem(); want != "" {
		t.Errorf("%s: kubelet would refuse it: want %s", hostcheck.GPULabel, want)
	}
	if hostcheck.GPULabel.String() != "nvidia.com/gpu.present=true" {
		t.Errorf("GPULabel = %s", hostcheck.GPULabel)
	}
}

// containerdRuntime reads containerd's rendered config (schema v3) back:
// the default runtime, the nvidia runtime's binary and enable_cdi.
func containerdRuntime(t *testing.T, h *fakeHost) (def, binary string, cdi bool) {
	t.Helper()
	var cfg struct {
		Plugins map[string]struct {
			EnableCDI  bool `toml:"enable_cdi"`
			Containerd struct {
				Default  string `toml:"default_runtime_name"`
				Runtimes map[string]struct {
					Options map[string]any `toml:"options"`
				} `toml:"runtimes"`
			} `toml:"containerd"`
		} `toml:"plugins"`
	}
	if err := toml.Unmarshal([]byte(h.read(t, containerd.ConfigPath)), &cfg); err != nil {
		t.Fatal(err)
	}
	rt := cfg.Plugins["io.containerd.cri.v1.runtime"]
	b, _ := rt.Containerd.Runtimes["nvidia"].Options["BinaryName"].(string)
	return rt.Containerd.Default, b, rt.EnableCDI
}

// nodeLabelsArg is the kubelet's node-labels in the JoinConfiguration
// kubeadm was given.
func nodeLabelsArg(t *testing.T, h *fakeHost) string {
	t.Helper()
	lines := strings.Split(string(h.joinCfg), "\n")
	for i, l := range lines {
		if strings.TrimPrefix(strings.TrimSpace(l), "- ") == "name: node-labels" && i+1 < len(lines) {
			return strings.TrimPrefix(strings.TrimSpace(lines[i+1]), "value: ")
		}
	}
	t.Fatalf("no node-labels in the JoinConfiguration:\n%s", h.joinCfg)
	return ""
}

// TestJoinGPUNode: with nvidia-container-runtime on the node, containerd
// gets the nvidia runtime running it and CDI, runc stays the default, and
// the Node registers with ACK's labels and nvidia.com/gpu.present=true.
func TestJoinGPUNode(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	writeExec(t, h.root, "/usr/local/bin/nvidia-container-runtime", stubRuntime, 0o755)
	n := h.node(t, srv.URL, nil)
	if n.Facts.NvidiaRuntime != "/usr/local/bin/nvidia-container-runtime" {
		t.Fatalf("NvidiaRuntime = %q", n.Facts.NvidiaRuntime)
	}
	if _, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
	def, bin, cdi := containerdRuntime(t, h)
	if def != "runc" || bin != "/usr/local/bin/nvidia-container-runtime" || !cdi {
		t.Errorf("containerd: default %q, nvidia binary %q, enable_cdi %v\n%s", def, bin, cdi, h.read(t, containerd.ConfigPath))
	}
	if got, want := nodeLabelsArg(t, h), "alibabacloud.com/nodepool-id=np1,alibabacloud.com/external=true,workload=cpu,nvidia.com/gpu.present=true"; got != want {
		t.Errorf("node-labels = %q, want %q", got, want)
	}
	if f := findingOf(n, "gpu"); f.Status != hostcheck.Pass || !strings.Contains(f.Detail, "/usr/local/bin/nvidia-container-runtime") {
		t.Errorf("preflight gpu finding: %+v", f)
	}
}

// TestJoinWithoutGPU: no toolkit, no nvidia runtime, no CDI key, no label.
func TestJoinWithoutGPU(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	writeExec(t, h.root, "/usr/local/bin/nvidia-container-runtime", stubRuntime, 0o644) // not executable
	n := h.node(t, srv.URL, nil)
	if _, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
	if cfg := h.read(t, containerd.ConfigPath); strings.Contains(cfg, "nvidia") || strings.Contains(cfg, "cdi") {
		t.Errorf("containerd config of a node without the toolkit:\n%s", cfg)
	}
	if got, want := nodeLabelsArg(t, h), "alibabacloud.com/nodepool-id=np1,alibabacloud.com/external=true,workload=cpu"; got != want {
		t.Errorf("node-labels = %q, want %q", got, want)
	}
	if f := findingOf(n, "gpu"); f.Status != hostcheck.Skip {
		t.Errorf("preflight gpu finding: %+v", f)
	}
}

// TestGPULabelSetByACK: a value of nvidia.com/gpu.present from the
// configuration is kept, and the key is not given twice.
func TestGPULabelSetByACK(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	writeExec(t, h.root, "/usr/bin/nvidia-container-runtime", stubRuntime, 0o755)
	n := h.nodeEnv(t, srv.URL, map[string]string{"ALIBABA_CLOUD_LABELS": "nvidia.com/gpu.present=false,workload=gpu"}, nil)
	if _, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
	if got, want := nodeLabelsArg(t, h), "nvidia.com/gpu.present=false,workload=gpu"; got != want {
		t.Errorf("node-labels = %q, want %q", got, want)
	}
}

func findingOf(n *Node, check string) hoststate.Finding {
	for _, f := range n.findings {
		if f.Check == check {
			return f
		}
	}
	return hoststate.Finding{}
}

// TestGPUDefaultRuntime: gpuDefaultRuntime on a node with the toolkit
// makes nvidia containerd's default runtime.
func TestGPUDefaultRuntime(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	writeExec(t, h.root, "/usr/bin/nvidia-container-runtime", stubRuntime, 0o755)
	n := h.nodeEnv(t, srv.URL, map[string]string{"HYBRIDNODE_GPU_DEFAULT_RUNTIME": "true"}, nil)
	if _, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
	if def, bin, cdi := containerdRuntime(t, h); def != "nvidia" || bin != "/usr/bin/nvidia-container-runtime" || !cdi {
		t.Errorf("containerd: default %q, nvidia binary %q, enable_cdi %v", def, bin, cdi)
	}
	if f := findingOf(n, "gpu"); f.Status != hostcheck.Pass || !strings.Contains(f.Detail, "default runtime nvidia") {
		t.Errorf("preflight gpu finding: %+v", f)
	}
}

// TestGPUDefaultWithoutToolkit: gpuDefaultRuntime without the toolkit
// fails preflight (exit 3) naming the field, its source and what is
// missing, and nothing on the host is written but the report; with
// preflight skipped, the containerd phase refuses the same way before
// writing containerd's config.
func TestGPUDefaultWithoutToolkit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		skip  []string
		phase string
		code  int
	}{
		{"preflight", nil, "preflight", ExitPreflight},
		{"preflight skipped", []string{"preflight", "host"}, "containerd", ExitService},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newArtifactServer(t, "r1")
			h := newFakeHost(t)
			before := tree(t, h.root)
			n := h.nodeEnv(t, srv.URL, map[string]string{"HYBRIDNODE_GPU_DEFAULT_RUNTIME": "true"}, nil)
			phases, err := Select(Phases(), nil, tc.skip)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Execute(context.Background(), n, phases, ExecuteOptions{Join: true})
			var pe *PhaseError
			if !errors.As(err, &pe) || pe.Phase != tc.phase || ExitCode(err) != tc.code {
				t.Fatalf("err = %v (exit %d), want phase %s, exit %d", err, ExitCode(err), tc.phase, tc.code)
			}
			for _, want := range []string{"gpuDefaultRuntime (HYBRIDNODE_GPU_DEFAULT_RUNTIME) is true", "no executable nvidia-container-runtime in /usr/local/sbin:",
				":/usr/local/nvidia/toolkit", "install the NVIDIA driver and container toolkit", "or set gpuDefaultRuntime to false"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q: %v", want, err)
				}
			}
			after := tree(t, h.root)
			for _, d := range []string{"/run", "/var", "/var/lib", "/var/lib/hybridnode"} {
				delete(after, d) // the lock's and the report's directories
			}
			if tc.skip == nil {
				if !maps.Equal(before, after) {
					t.Errorf("preflight failed, yet the host changed:\nbefore %v\nafter  %v", before, after)
				}
			} else if _, ok := after[containerd.ConfigPath]; ok {
				t.Errorf("%s written", containerd.ConfigPath)
			}
		})
	}
}

// TestGPUDefaultNamesItsSource: the failure names the field and where it
// was set: variable, flag or file.
func TestGPUDefaultNamesItsSource(t *testing.T) {
	for _, tc := range []struct {
		opts config.ResolveOptions
		want string
	}{
		{config.ResolveOptions{LookupEnv: func(k string) (string, bool) { return "true", k == "HYBRIDNODE_GPU_DEFAULT_RUNTIME" }},
			"gpuDefaultRuntime (HYBRIDNODE_GPU_DEFAULT_RUNTIME) is true"},
		{config.ResolveOptions{Flags: map[string]string{"gpuDefaultRuntime": "true"}}, "gpuDefaultRuntime (--gpu-default-runtime) is true"},
		{config.ResolveOptions{File: "/etc/hybridnode/config.yaml", ReadFile: func(string) ([]byte, error) { return []byte("gpuDefaultRuntime: true\n"), nil }},
			"gpuDefaultRuntime (/etc/hybridnode/config.yaml) is true"},
	} {
		if tc.opts.LookupEnv == nil {
			tc.opts.LookupEnv = func(string) (string, bool) { return "", false }
		}
		if tc.opts.ReadFile == nil {
			tc.opts.ReadFile = func(string) ([]byte, error) { return nil, os.ErrNotExist }
		}
		l, s, err := config.Resolve(tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		n := &Node{Loaded: l, Spec: s}
		if c := n.checkGPU(); c.Status != hostcheck.Fail || !strings.HasPrefix(c.Evidence, tc.want) {
			t.Errorf("%+v: want FAIL starting %q", c, tc.want)
		}
	}
}

// TestREADMERuntimeClass: the README's RuntimeClass is a valid
// node.k8s.io/v1 RuntimeClass whose handler is containerd's runtime name
// and whose nodeSelector is the label GPU nodes get.
func TestREADMERuntimeClass(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```yaml\napiVersion: node.k8s.io/v1\nkind: RuntimeClass\n")
	if !ok {
		t.Fatal("no RuntimeClass in the README")
	}
	body, _, _ := strings.Cut(rest, "```")
	var rc nodev1.RuntimeClass
	if err := yaml.UnmarshalStrict([]byte("apiVersion: node.k8s.io/v1\nkind: RuntimeClass\n"+body), &rc); err != nil {
		t.Fatal(err)
	}
	if rc.Name != containerd.NvidiaRuntimeName || rc.Handler != containerd.NvidiaRuntimeName || rc.Scheduling == nil ||
		len(rc.Scheduling.NodeSelector) != 1 || rc.Scheduling.NodeSelector[hostcheck.GPULabel.Key] != hostcheck.GPULabel.Value {
		t.Errorf("README's RuntimeClass: %+v", rc)
	}
}
