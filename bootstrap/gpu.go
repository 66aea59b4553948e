package bootstrap

import (
	"github.com/hybridnode/hybridnode/bootstrap/hostcheck"
	"github.com/hybridnode/hybridnode/kubelet"
)

// checkGPU is CheckGPU for this node's facts and configuration.
func (n *Node) checkGPU() hostcheck.Result {
	return hostcheck.CheckGPU(n.Facts, n.Spec.GPUDefaultRuntime, hostcheck.GPUDefaultSource(n.Loaded))
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
		if l.Key == hostcheck.GPULabel.Key {
			return labels
		}
	}
	return append(append([]kubelet.Label{}, labels...), hostcheck.GPULabel)
}
