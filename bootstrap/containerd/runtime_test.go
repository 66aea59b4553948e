package containerd

import "testing"

func TestReadRuntime(t *testing.T) {
	for _, in := range []ConfigInput{
		{Major: 1, SandboxImage: "p:1", NvidiaRuntime: "/usr/bin/nvidia-container-runtime"},
		{Major: 1, SandboxImage: "p:1", NvidiaRuntime: "/usr/bin/nvidia-container-runtime", NvidiaDefault: true},
		{Major: 2, SandboxImage: "p:1", NvidiaRuntime: "/usr/bin/nvidia-container-runtime"},
		{Major: 2, SandboxImage: "p:1", NvidiaRuntime: "/usr/bin/nvidia-container-runtime", NvidiaDefault: true},
	} {
		out, err := RenderConfig(in)
		if err != nil {
			t.Fatal(err)
		}
		plugin := map[int]string{1: "io.containerd.grpc.v1.cri", 2: "io.containerd.cri.v1.runtime"}[in.Major]
		rt, found, err := ReadRuntime(out, NvidiaRuntimeName)
		if err != nil || !found || rt != (Runtime{Plugin: plugin, BinaryName: in.NvidiaRuntime, Default: in.NvidiaDefault}) {
			t.Errorf("%+v: ReadRuntime = %+v, %v, %v", in, rt, found, err)
		}
		rt, found, err = ReadRuntime(out, "runc")
		if err != nil || !found || rt.BinaryName != "" || rt.Default == in.NvidiaDefault {
			t.Errorf("%+v: runc = %+v, %v, %v", in, rt, found, err)
		}
		out, _ = RenderConfig(ConfigInput{Major: in.Major, SandboxImage: "p:1"})
		if rt, found, err := ReadRuntime(out, NvidiaRuntimeName); err != nil || found {
			t.Errorf("major %d without the toolkit: %+v, %v, %v", in.Major, rt, found, err)
		}
	}
	// As nvidia-ctk writes it into another installation's config.
	rt, found, err := ReadRuntime([]byte(`version = 2
[plugins]
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]
      BinaryName = "/usr/local/nvidia/toolkit/nvidia-container-runtime"
`), "nvidia")
	if err != nil || !found || rt.BinaryName != "/usr/local/nvidia/toolkit/nvidia-container-runtime" || rt.Default {
		t.Errorf("nvidia-ctk's: %+v, %v, %v", rt, found, err)
	}
	if _, _, err := ReadRuntime([]byte("version = \n"), "nvidia"); err == nil {
		t.Error("not TOML: want an error")
	}
}
