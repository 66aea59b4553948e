package cluster

import (
	"slices"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap/artifact"
	"github.com/hybridnode/hybridnode/bootstrap/config"
)

// TestArtifactLayoutAgrees: the artifacts check looks for kubelet and
// kubeadm where a node's install phase fetches them (artifact.Paths).
func TestArtifactLayoutAgrees(t *testing.T) {
	spec := &config.Spec{Config: config.Defaults()}
	spec.KubernetesVersion, spec.CrictlVersion = "v1.36.4", "v1.36.0"
	for _, arch := range []string{"amd64", "arm64"} {
		paths := artifact.Paths(spec, arch)
		for _, bin := range []string{"kubelet", "kubeadm"} {
			if p := artifact.KubernetesBinary("v1.36.4", arch, bin); !slices.Contains(paths, p) {
				t.Errorf("%s not among the install phase's artifacts %v", p, paths)
			}
		}
	}
}
