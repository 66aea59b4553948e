package artifact

import "path"

// KubernetesBinary is where a source keeps kubelet or kubeadm of a
// Kubernetes version for linux/arch: kubernetes/<version>/bin/linux/<arch>/<name>.
func KubernetesBinary(version, arch, name string) string {
	return path.Join("kubernetes", version, "bin/linux", arch, name)
}
