package bootstrap

import (
	"fmt"
	"path"
	"strings"

	"github.com/hybridnode/hybridnode/bootstrap/containerd"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/kubelet"
)

// nvidiaRuntimeBinary is the NVIDIA container toolkit's runtime: where it
// is, the node is a GPU node.
const nvidiaRuntimeBinary = "nvidia-container-runtime"

// nvidiaRuntimeDirs are where nvidia-container-runtime is looked for under
// the root: the PATH hybridnode runs its tools with (the toolkit's
// packages install it in /usr/bin), then the directory the GPU Operator's
// toolkit container installs it in.
var nvidiaRuntimeDirs = append(append([]string{}, toolPath...), "/usr/local/nvidia/toolkit")

// GPULabel is the label of a node with the NVIDIA container toolkit, for
// the nodeSelector of the RuntimeClass "nvidia".
var GPULabel = kubelet.Label{Key: "nvidia.com/gpu.present", Value: "true"}

// probeNvidiaRuntime returns the host path of the first executable
// nvidia-container-runtime in nvidiaRuntimeDirs, or "".
func probeNvidiaRuntime(f hostfs.FS) string {
	for _, d := range nvidiaRuntimeDirs {
		p := path.Join(d, nvidiaRuntimeBinary)
		if fi, err := f.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// CheckGPU: what the NVIDIA container toolkit's presence means for this
// node.
func CheckGPU(facts Facts) HostCheck {
	if facts.NvidiaRuntime == "" {
		return HostCheck{Status: StatusSkip, Evidence: fmt.Sprintf("no NVIDIA container toolkit (%s is in none of %s): not a GPU node", nvidiaRuntimeBinary, strings.Join(nvidiaRuntimeDirs, ":"))}
	}
	return HostCheck{Status: StatusPass, Evidence: fmt.Sprintf("%s: containerd gets the runtime %s and CDI, the Node the label %s", facts.NvidiaRuntime, containerd.NvidiaRuntimeName, GPULabel)}
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
