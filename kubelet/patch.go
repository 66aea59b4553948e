package kubelet

import (
	"fmt"

	"sigs.k8s.io/yaml"

	"github.com/hybridnode/hybridnode/assets"
)

// KubeletPatchFile is the kubelet configuration patch's file name in the
// JoinConfiguration's patches directory. kubeadm names patch files
// "target[suffix][+patchtype].extension" (Patches.Directory doc in
// v1beta3/v1beta4, cmd/kubeadm/app/util/patches): target
// "kubeletconfiguration", patch type "merge" (the default is "strategic"),
// extension "yaml". kubeadm join applies it to the KubeletConfiguration it
// writes to /var/lib/kubelet/config.yaml.
const KubeletPatchFile = "kubeletconfiguration+merge.yaml"

// PatchInput is what RenderKubeletPatch needs. Zero values leave the
// cluster's KubeletConfiguration (the kubelet-config ConfigMap) as is.
type PatchInput struct {
	// CgroupDriver is "systemd" or "cgroupfs"; it must match containerd's
	// SystemdCgroup. Empty: not patched.
	CgroupDriver string
	// FailCgroupV1, when set, is written as failCgroupV1 (see
	// NeedsFailCgroupV1False).
	FailCgroupV1 *bool
}

type kubeletConfigPatch struct {
	APIVersion   string `json:"apiVersion"`
	Kind         string `json:"kind"`
	CgroupDriver string `json:"cgroupDriver,omitempty"`
	FailCgroupV1 *bool  `json:"failCgroupV1,omitempty"`
}

// RenderKubeletPatch renders a JSON merge patch, in YAML, for kubeadm's
// kubeletconfiguration target (apiVersion kubelet.config.k8s.io/v1beta1,
// kind KubeletConfiguration). It returns nil, nil when there is nothing to
// patch.
func RenderKubeletPatch(in PatchInput) ([]byte, error) {
	switch in.CgroupDriver {
	case "", "systemd", "cgroupfs":
	default:
		return nil, fmt.Errorf("kubelet patch: cgroup driver %q is not systemd or cgroupfs", in.CgroupDriver)
	}
	if in.CgroupDriver == "" && in.FailCgroupV1 == nil {
		return nil, nil
	}
	body, err := yaml.Marshal(kubeletConfigPatch{
		APIVersion:   "kubelet.config.k8s.io/v1beta1",
		Kind:         "KubeletConfiguration",
		CgroupDriver: in.CgroupDriver,
		FailCgroupV1: in.FailCgroupV1,
	})
	if err != nil {
		return nil, fmt.Errorf("kubelet patch: %w", err)
	}
	return append([]byte(assets.Header+"\n"), body...), nil
}
