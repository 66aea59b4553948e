package bootstrap

import (
	"fmt"
	"strings"

	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/containerd"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/kubelet"
)

// ContainerdConfig is containerd's config.toml, which hybridnode writes.
const ContainerdConfig = containerdConfig

// GPULabel is the label of a node with the NVIDIA container toolkit, for
// the nodeSelector of the RuntimeClass "nvidia".
var GPULabel = kubelet.Label{Key: "nvidia.com/gpu.present", Value: "true"}

// CheckGPU: what the NVIDIA container toolkit's presence means for this
// node, and a failure when the configuration wants its runtime as the
// default (gpuDefaultRuntime, its source named by where) but the toolkit
// is not there.
func CheckGPU(facts hoststate.Facts, wantDefault bool, where string) HostCheck {
	if facts.NvidiaRuntime == "" {
		if wantDefault {
			return HostCheck{Status: StatusFail,
				Evidence: fmt.Sprintf("%s is true, but the NVIDIA container toolkit is not on this node: no executable %s in %s", where, hoststate.NvidiaRuntimeBinary, strings.Join(hoststate.NvidiaRuntimeDirs, ":")),
				Remedy:   "install the NVIDIA driver and container toolkit (package nvidia-container-toolkit) first, or set gpuDefaultRuntime to false"}
		}
		return HostCheck{Status: StatusSkip, Evidence: fmt.Sprintf("no NVIDIA container toolkit (%s is in none of %s): not a GPU node", hoststate.NvidiaRuntimeBinary, strings.Join(hoststate.NvidiaRuntimeDirs, ":"))}
	}
	runtime := "runtime " + containerd.NvidiaRuntimeName
	if wantDefault {
		runtime = "default runtime " + containerd.NvidiaRuntimeName
	}
	return HostCheck{Status: StatusPass, Evidence: fmt.Sprintf("%s: containerd gets the %s and CDI, the Node the label %s", facts.NvidiaRuntime, runtime, GPULabel)}
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

// checkGPU is CheckGPU for this node's facts and configuration.
func (n *Node) checkGPU() HostCheck {
	return CheckGPU(n.Facts, n.Spec.GPUDefaultRuntime, GPUDefaultSource(n.Loaded))
}

// nodeLabels are the labels the kubelet registers the Node with: the
// configured ones (ACK's), and on a GPU node GPULabel, unless the
// configuration already sets that key (its value wins).
func (n *Node) nodeLabels() []kubelet.Label {
	labels := n.Spec.Labels
	if n.Facts.NvidiaRuntime == "" {
		return labels
	}
	for _, l := range labels {
		if l.Key == GPULabel.Key {
			return labels
		}
	}
	return append(append([]kubelet.Label{}, labels...), GPULabel)
}
