package main

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap"
)

// TestGPUPlan: the flag --gpu-default-runtime, on a root with the NVIDIA
// toolkit's runtime, plans containerd's config with nvidia as the default
// and the Node's label; on a root without it, the plan's preflight says
// FAIL naming the flag.
func TestGPUPlan(t *testing.T) {
	env := maps.Clone(ackEnv)
	env["HYBRIDNODE_ARTIFACT_URL"] = "https://oss.example.com/hn"

	root := t.TempDir()
	stub := filepath.Join(root, "usr/local/bin/nvidia-container-runtime")
	if err := os.MkdirAll(filepath.Dir(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stub, []byte("#!/bin/sh\nexec /usr/local/sbin/runc \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, code := run(t, env, "plan", "--root", root, "--gpu-default-runtime")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"[PASS] gpu", "/usr/local/bin/nvidia-container-runtime: containerd gets the default runtime nvidia and CDI",
		`+    default_runtime_name = "nvidia"`, `+        BinaryName = "/usr/local/bin/nvidia-container-runtime"`, "+  enable_cdi = true",
		"value: alibabacloud.com/nodepool-id=np1,alibabacloud.com/external=true,workload=cpu,nvidia.com/gpu.present=true",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}

	// The containerd phase cannot plan a config without the runtime: exit 6.
	out, code = run(t, env, "plan", "--root", t.TempDir(), "--gpu-default-runtime")
	if code != bootstrap.ExitService || !strings.Contains(out, "[FAIL] gpu         gpuDefaultRuntime (--gpu-default-runtime) is true, but the NVIDIA container toolkit is not on this node") {
		t.Errorf("exit %d, want %d and the gpu finding FAIL:\n%s", code, bootstrap.ExitService, out)
	}

	out, code = run(t, env, "config", "dump", "--root", t.TempDir(), "--gpu-default-runtime")
	if code != 0 || !strings.Contains(out, "gpuDefaultRuntime: true  # flag --gpu-default-runtime") {
		t.Errorf("config dump: exit %d:\n%s", code, out)
	}
}
