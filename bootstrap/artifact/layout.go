package artifact

import (
	"fmt"
	"path"
	"strings"

	"github.com/hybridnode/hybridnode/bootstrap/config"
)

// KubernetesBinary is where a source keeps kubelet or kubeadm of a
// Kubernetes version for linux/arch: kubernetes/<version>/bin/linux/<arch>/<name>.
func KubernetesBinary(version, arch, name string) string {
	return path.Join("kubernetes", version, "bin/linux", arch, name)
}

// Artifact is one component's artifact in a source.
type Artifact struct {
	Component, Version string
	// Rel is the artifact's path relative to the source's base; the
	// source's SHA256SUMS must list it.
	Rel string
}

// Artifacts lists, in install order, the artifacts of what s installs on
// linux/arch: containerd, runc, kubelet, kubeadm, crictl, and the CNI
// plugins when cniPluginsVersion is set.
func Artifacts(s *config.Spec, arch string) []Artifact {
	ctrd := strings.TrimPrefix(s.ContainerdVersion, "v")
	out := []Artifact{
		{"containerd", s.ContainerdVersion, path.Join("containerd", s.ContainerdVersion, fmt.Sprintf("containerd-%s-linux-%s.tar.gz", ctrd, arch))},
		{"runc", s.RuncVersion, path.Join("runc", s.RuncVersion, "runc."+arch)},
		{"kubelet", s.KubernetesVersion, KubernetesBinary(s.KubernetesVersion, arch, "kubelet")},
		{"kubeadm", s.KubernetesVersion, KubernetesBinary(s.KubernetesVersion, arch, "kubeadm")},
		{"crictl", s.CrictlVersion, path.Join("cri-tools", s.CrictlVersion, "bin/linux", arch, "crictl")},
	}
	if v := s.CNIPluginsVersion; v != "" {
		out = append(out, Artifact{"cni-plugins", v, path.Join("cni-plugins", v, fmt.Sprintf("cni-plugins-linux-%s-%s.tgz", arch, v))})
	}
	return out
}

// Paths lists the Rel of each of Artifacts(s, arch).
func Paths(s *config.Spec, arch string) []string {
	var out []string
	for _, a := range Artifacts(s, arch) {
		out = append(out, a.Rel)
	}
	return out
}
