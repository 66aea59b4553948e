package hostcheck

import (
	"fmt"
	"strings"

	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/containerd"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/kubelet"
)

// GPULabel is the label of a node with the NVIDIA container toolkit, for
// the nodeSelector of the RuntimeClass "nvidia".
var GPULabel = kubelet.Label{Key: "nvidia.com/gpu.present", Value: "true"}

// CheckGPU: what the NVIDIA container toolkit's presence means for this
// node, and a failure when the configuration wants its runtime as the
// default (gpuDefaultRuntime, its source named by where) but the toolkit
// is not there.
func CheckGPU(facts hoststate.Facts, wantDefault bool, where string) Result {
	if facts.NvidiaRuntime == "" {
		if wantDefault {
			return Result{Status: Fail,
				Evidence: fmt.Sprintf("%s is true, but the NVIDIA container toolkit is not on this node: no executable %s in %s", where, hoststate.NvidiaRuntimeBinary, strings.Join(hoststate.NvidiaRuntimeDirs, ":")),
				Remedy:   "install the NVIDIA driver and container toolkit (package nvidia-container-toolkit) first, or set gpuDefaultRuntime to false"}
		}
		return Result{Status: Skip, Evidence: fmt.Sprintf("no NVIDIA container toolkit (%s is in none of %s): not a GPU node", hoststate.NvidiaRuntimeBinary, strings.Join(hoststate.NvidiaRuntimeDirs, ":"))}
	}
	runtime := "runtime " + containerd.NvidiaRuntimeName
	if wantDefault {
		runtime = "default runtime " + containerd.NvidiaRuntimeName
	}
	return Result{Status: Pass, Evidence: fmt.Sprintf("%s: containerd gets the %s and CDI, the Node the label %s", facts.NvidiaRuntime, runtime, GPULabel)}
}

// gpuDefaultKey is the configuration field of the NVIDIA default runtime.
const gpuDefaultKey = "gpuDefaultRuntime"

// GPUDefaultSource names gpuDefaultRuntime and where its value came from,
// for messages: "gpuDefaultRuntime (HYBRIDNODE_GPU_DEFAULT_RUNTIME)".
func GPUDefaultSource(l *config.Loaded) string {
	if l == nil {
		return gpuDefaultKey
	}
	w := l.Where(gpuDefaultKey)
	if strings.HasPrefix(w, gpuDefaultKey) { // the key itself, or the key (file)
		return w
	}
	return gpuDefaultKey + " (" + w + ")" // the variable or flag
}
