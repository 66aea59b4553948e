package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/hybridnode/hybridnode/bootstrap/containerd"
	"github.com/hybridnode/hybridnode/bootstrap/hostcheck"
)

// checkGPU: preflight's gpu check (the NVIDIA container toolkit, and
// gpuDefaultRuntime without it) and, once containerd's config is written,
// that the binary its nvidia runtime runs is there: without it every pod
// with runtimeClassName nvidia fails to start.
func checkGPU(_ context.Context, e *Env) Result {
	wantDefault := e.Config != nil && e.Config.Config.GPUDefaultRuntime
	base := result(hostcheck.CheckGPU(e.Facts, wantDefault, hostcheck.GPUDefaultSource(e.Config)))
	data, err := e.FS.ReadFile(containerd.ConfigPath)
	if errors.Is(err, fs.ErrNotExist) {
		return base // not written yet: the join writes it
	}
	if err != nil {
		return Result{Status: Fail, Evidence: fmt.Sprintf("reading %s: %v", containerd.ConfigPath, err), Remedy: "make it readable by root"}
	}
	rt, found, err := containerd.ReadRuntime(data, containerd.NvidiaRuntimeName)
	switch {
	case err != nil:
		return Result{Status: Fail, Evidence: fmt.Sprintf("%s: %v", containerd.ConfigPath, err),
			Remedy: "containerd does not start with it either (see the containerd check): move it away and run hybridnode join phase containerd"}
	case !found && e.Facts.NvidiaRuntime != "":
		return Result{Status: Warn, Evidence: fmt.Sprintf("%s is on the node, but %s has no runtime %s: pods with runtimeClassName %s do not start",
			e.Facts.NvidiaRuntime, containerd.ConfigPath, containerd.NvidiaRuntimeName, containerd.NvidiaRuntimeName),
			Remedy: "the toolkit came after hybridnode wrote the config: hybridnode join phase containerd writes it with the runtime and restarts containerd"}
	case !found:
		return base
	case rt.BinaryName == "":
		return Result{Status: Warn, Evidence: fmt.Sprintf("%s declares the runtime %s without options.BinaryName: it runs plain runc", containerd.ConfigPath, containerd.NvidiaRuntimeName),
			Remedy: "set BinaryName to nvidia-container-runtime's path, or move the file away and run hybridnode join phase containerd"}
	}
	fi, err := e.FS.Stat(rt.BinaryName)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		why := "is not there"
		if err == nil {
			why = "is not an executable file"
		}
		remedy := "reinstall the NVIDIA container toolkit (nvidia-container-toolkit)"
		if e.Facts.NvidiaRuntime != "" {
			remedy = fmt.Sprintf("it is at %s now: hybridnode join phase containerd writes that into the config and restarts containerd", e.Facts.NvidiaRuntime)
		}
		return Result{Status: Fail, Evidence: fmt.Sprintf("containerd's runtime %s (%s) runs %s, which %s: pods with runtimeClassName %s do not start",
			containerd.NvidiaRuntimeName, containerd.ConfigPath, rt.BinaryName, why, containerd.NvidiaRuntimeName), Remedy: remedy}
	}
	def := ""
	if rt.Default {
		def = ", the default runtime"
	}
	return Result{Status: Pass, Evidence: fmt.Sprintf("containerd's runtime %s runs %s%s", containerd.NvidiaRuntimeName, rt.BinaryName, def)}
}
