// Package kubelet holds pure renderers for kubelet.service, its kubeadm
// drop-in (DropInName), kubeadm's JoinConfiguration (v1beta3/v1beta4)
// and the kubelet configuration patch, plus the per-Kubernetes-minor
// facts they depend on.
package kubelet

import (
	"path"
	"strings"

	"github.com/hybridnode/hybridnode/assets"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

const (
	// DefaultBinDir is UnitInput's default BinDir.
	DefaultBinDir = hoststate.BinDir
	// DropInName is the drop-in's file name, in <unitdir>/kubelet.service.d/.
	DropInName = "10-kubeadm.conf"
)

// UnitPath is kubelet.service's path in the unit directory unitDir.
func UnitPath(unitDir string) string { return path.Join(unitDir, hoststate.KubeletUnit) }

// DropInDir is the directory of kubelet.service's drop-ins in unitDir.
func DropInDir(unitDir string) string { return path.Join(unitDir, hoststate.KubeletUnit+".d") }

// DropInPath is RenderDropIn's path in unitDir.
func DropInPath(unitDir string) string { return path.Join(DropInDir(unitDir), DropInName) }

// UnitInput is what RenderUnit and RenderDropIn need.
type UnitInput struct {
	// BinDir holds the kubelet binary; default DefaultBinDir.
	BinDir string
	// EnvFile is the optional environment file for KUBELET_EXTRA_ARGS:
	// hoststate.EnvFileDebian or EnvFileRHEL. Empty: no such line in the
	// drop-in.
	EnvFile string
}

type unitData struct {
	BinDir  string
	EnvFile string
	// kubeadm's files the drop-in points kubelet at.
	BootstrapKubeconfig, Kubeconfig, Config, KubeadmFlags string
}

func (in UnitInput) data() unitData {
	d := unitData{BinDir: strings.TrimSpace(in.BinDir), EnvFile: strings.TrimSpace(in.EnvFile),
		BootstrapKubeconfig: hoststate.BootstrapKubeletConf, Kubeconfig: hoststate.KubeletConf,
		Config: hoststate.KubeletConfig, KubeadmFlags: hoststate.KubeadmFlagsEnv}
	if d.BinDir == "" {
		d.BinDir = DefaultBinDir
	}
	d.BinDir = path.Clean(d.BinDir)
	if d.EnvFile != "" {
		d.EnvFile = path.Clean(d.EnvFile)
	}
	return d
}

// RenderUnit renders kubelet.service as the upstream kubeadm packages ship
// it (kubernetes/release), with ExecStart under in.BinDir and ordered after
// containerd.service. kubeadm's drop-in replaces ExecStart.
func RenderUnit(in UnitInput) []byte {
	return assets.MustRender("kubelet.service.tmpl", in.data())
}

// RenderDropIn renders kubelet.service.d/DropInName in the upstream
// shape: kubeconfig and config flags, kubeadm's runtime flags file
// hoststate.KubeadmFlagsEnv (KUBELET_KUBEADM_ARGS), the user's
// environment file (KUBELET_EXTRA_ARGS), and ExecStart under in.BinDir.
func RenderDropIn(in UnitInput) []byte {
	return assets.MustRender("10-kubeadm.conf.tmpl", in.data())
}
