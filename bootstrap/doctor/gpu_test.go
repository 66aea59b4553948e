package doctor

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap/containerd"
)

const nvidiaRuntime = "/usr/bin/nvidia-container-runtime"

// toolkit puts a stand-in nvidia-container-runtime on the node.
func toolkit(t *testing.T, h *harness, p string) {
	t.Helper()
	h.write(t, p, "#!/bin/sh\nexec /usr/local/sbin/runc \"$@\"\n")
	if err := os.Chmod(filepath.Join(h.root, p), 0o755); err != nil {
		t.Fatal(err)
	}
}

// containerdConfig writes containerd's config as hybridnode renders it.
func containerdConfig(t *testing.T, h *harness, in containerd.ConfigInput) {
	t.Helper()
	in.Major, in.SandboxImage = 2, "registry.k8s.io/pause:3.10.2"
	out, err := containerd.RenderConfig(in)
	if err != nil {
		t.Fatal(err)
	}
	h.write(t, "/etc/containerd/config.toml", string(out))
}

func gpuCases() []checkCase {
	return []checkCase{
		{check: "gpu", name: "no toolkit", status: Skip, want: []string{"not a GPU node"}},
		{check: "gpu", name: "no toolkit, its config", setup: func(t *testing.T, h *harness) { containerdConfig(t, h, containerd.ConfigInput{}) }, status: Skip},
		{check: "gpu", name: "the toolkit, before the join", setup: func(t *testing.T, h *harness) { toolkit(t, h, nvidiaRuntime) }, status: Pass,
			want: []string{nvidiaRuntime + ": containerd gets the runtime nvidia and CDI, the Node the label nvidia.com/gpu.present=true"}},
		{check: "gpu", name: "gpuDefaultRuntime without the toolkit", setup: func(_ *testing.T, h *harness) { h.vars["HYBRIDNODE_GPU_DEFAULT_RUNTIME"] = "true" }, status: Fail,
			want: []string{"gpuDefaultRuntime (HYBRIDNODE_GPU_DEFAULT_RUNTIME) is true, but the NVIDIA container toolkit is not on this node", "nvidia-container-toolkit"}},
		{check: "gpu", name: "the runtime's binary is there", setup: func(t *testing.T, h *harness) {
			toolkit(t, h, nvidiaRuntime)
			containerdConfig(t, h, containerd.ConfigInput{NvidiaRuntime: nvidiaRuntime, NvidiaDefault: true})
		}, status: Pass, want: []string{"containerd's runtime nvidia runs " + nvidiaRuntime + ", the default runtime"}},
		{check: "gpu", name: "the runtime's binary is gone", setup: func(t *testing.T, h *harness) {
			containerdConfig(t, h, containerd.ConfigInput{NvidiaRuntime: nvidiaRuntime})
		}, status: Fail, want: []string{"runs " + nvidiaRuntime + ", which is not there", "reinstall the NVIDIA container toolkit"}},
		{check: "gpu", name: "the runtime's binary moved", setup: func(t *testing.T, h *harness) {
			toolkit(t, h, "/usr/local/nvidia/toolkit/nvidia-container-runtime")
			containerdConfig(t, h, containerd.ConfigInput{NvidiaRuntime: nvidiaRuntime})
		}, status: Fail, want: []string{"which is not there", "it is at /usr/local/nvidia/toolkit/nvidia-container-runtime now: hybridnode join phase containerd"}},
		{check: "gpu", name: "the runtime's binary not executable", setup: func(t *testing.T, h *harness) {
			h.write(t, nvidiaRuntime, "#!/bin/sh\n")
			containerdConfig(t, h, containerd.ConfigInput{NvidiaRuntime: nvidiaRuntime})
		}, status: Fail, want: []string{"is not an executable file"}},
		{check: "gpu", name: "the toolkit came after the config", setup: func(t *testing.T, h *harness) {
			containerdConfig(t, h, containerd.ConfigInput{})
			toolkit(t, h, nvidiaRuntime)
		}, status: Warn, want: []string{"has no runtime nvidia", "hybridnode join phase containerd"}},
		{check: "gpu", name: "config not TOML", setup: func(t *testing.T, h *harness) {
			toolkit(t, h, nvidiaRuntime)
			h.write(t, "/etc/containerd/config.toml", "version = \n")
		}, status: Fail, want: []string{"/etc/containerd/config.toml: containerd config:"}},
	}
}
