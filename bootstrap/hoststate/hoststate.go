// Package hoststate is what a node's host holds, for every package that
// reads or writes it: hybridnode's records (installed.json, report.json,
// cluster.json)
// and where they are, whether the node is joined, the facts probed from
// the host (architecture, OS family and what follows from it, cgroups, the
// NVIDIA toolkit), and the well-known paths of the other programs
// hybridnode works with (kubeadm's kubelet.conf, the CNI configuration,
// containerd's CRI socket, systemd's unit directories). It imports no
// hybridnode package but hostfs and kubeconfig, so that the renderers, the
// checks, doctor and the phases all can.
package hoststate

// hybridnode's records.
const (
	// StateDir holds them; reset removes what is in it (--purge, the
	// directory too).
	StateDir = "/var/lib/hybridnode"
	// InstalledPath is the install record (Installed).
	InstalledPath = StateDir + "/installed.json"
	// ReportPath is the last run's report (Report).
	ReportPath = StateDir + "/report.json"
	// ClusterPath is what the join learnt of the cluster (Cluster).
	ClusterPath = StateDir + "/cluster.json"
	// VerifiedPath is the stat cache of the installed files (Verified).
	VerifiedPath = StateDir + "/verified.json"
	// StagingDir is where versions before the one-pass install kept a
	// verified copy of every download (about 240 MB). Nothing uses it any
	// more; `reset --purge` removes it when it is there.
	StagingDir = StateDir + "/artifacts"
)

// Where hybridnode installs binaries, and the PATH it looks for host tools
// in (the PATH it runs kubeadm with, and containerd's unit runs with).
const (
	BinDir    = "/usr/local/bin"
	SbinDir   = "/usr/local/sbin" // runc
	CNIBinDir = "/opt/cni/bin"
)

// ToolPath is that PATH, in order.
var ToolPath = []string{SbinDir, BinDir, "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// The paths of other owners.
const (
	// KubeletConf is kubeadm's kubeconfig of a joined kubelet.
	KubeletConf = "/etc/kubernetes/kubelet.conf"
	// BootstrapKubeletConf is kubeadm's kubeconfig of kubelet's TLS
	// bootstrap.
	BootstrapKubeletConf = "/etc/kubernetes/bootstrap-kubelet.conf"
	// KubeadmCACert is the cluster CA kubeadm join writes.
	KubeadmCACert = "/etc/kubernetes/pki/ca.crt"
	// KubeletConfig is kubeadm's kubelet configuration on a joined node.
	KubeletConfig = "/var/lib/kubelet/config.yaml"
	// KubeadmFlagsEnv is where kubeadm join writes the kubelet's flags.
	KubeadmFlagsEnv = "/var/lib/kubelet/kubeadm-flags.env"
	// CNIConfDir is where the CNI (Terway, or the cluster's own) writes
	// its configuration.
	CNIConfDir = "/etc/cni/net.d"
	// ContainerdSocket is containerd's address; CRISocket, the CRI
	// endpoint kubelet, kubeadm and crictl are given.
	ContainerdSocket = "/run/containerd/containerd.sock"
	CRISocket        = "unix://" + ContainerdSocket
	// Fstab is the host's; the host phase comments its swap lines out.
	Fstab = "/etc/fstab"
)

// The systemd units hybridnode writes and manages.
const (
	ContainerdUnit = "containerd.service"
	KubeletUnit    = "kubelet.service"
)

// systemd's unit directories: EtcUnitDir is the administrator's (and
// where enablement symlinks live); packages install units in DebianUnitDir
// or RHELUnitDir, by OS family (Facts.UnitDir).
const (
	EtcUnitDir    = "/etc/systemd/system"
	DebianUnitDir = "/lib/systemd/system"
	RHELUnitDir   = "/usr/lib/systemd/system"
)

// Where the upstream deb and rpm packages point kubelet's drop-in's user
// EnvironmentFile (KUBELET_EXTRA_ARGS), by OS family (Facts.KubeletEnv).
const (
	EnvFileDebian = "/etc/default/kubelet"
	EnvFileRHEL   = "/etc/sysconfig/kubelet"
)
