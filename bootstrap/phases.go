package bootstrap

import "github.com/hybridnode/hybridnode/bootstrap/hoststate"

// Phases is the one ordered list of phases. `join` runs them all; `install`
// (baking an image) runs all but join. Each is runnable and skippable by name.
func Phases() []Phase {
	return []Phase{
		{Name: "preflight", Short: "check the host: root, systemd, cgroups, port 10250, artifact source", Class: ClassPreflight, Run: runPreflight},
		{Name: "host", Short: "load kernel modules, set sysctls, turn swap off", Class: ClassHost, Run: runHost},
		{Name: "install", Short: "install containerd, runc, kubelet, kubeadm, crictl (and CNI plugins) from a verified source", Class: ClassArtifact, Run: runInstall},
		{Name: "containerd", Short: "write containerd's config, mirrors and unit; start it; wait for its CRI", Class: ClassService, Run: runContainerd},
		{Name: "images", Short: "pull the sandbox image and the images to pre-pull into containerd through its CRI (join: in the background, while the node joins)", Class: ClassService, Run: runImages},
		{Name: "kubelet", Short: "write kubelet.service and its kubeadm drop-in; enable it", Class: ClassService, Run: runKubelet},
		{Name: "kube-proxy", Short: "prepare for the cluster's kube-proxy mode (kube-system/kube-proxy, or kubeProxyMode): in IPVS mode, load and list the IPVS modules", Class: ClassHost, Run: runKubeProxy},
		{Name: "join", Short: "render the JoinConfiguration and run kubeadm join", Class: ClassJoin, Run: runJoin},
		{Name: "report", Short: "write " + hoststate.ReportPath, Class: ClassInternal, Always: true, Run: runReport},
	}
}

// InstallPhases is the phase list of `hybridnode install`: everything but join.
func InstallPhases() []Phase {
	var out []Phase
	for _, p := range Phases() {
		if p.Name != "join" {
			out = append(out, p)
		}
	}
	return out
}
