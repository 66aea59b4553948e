// Package kubelet holds pure renderers for kubelet.service, its kubeadm
// drop-in 10-kubeadm.conf, kubeadm's JoinConfiguration (v1beta3/v1beta4)
// and the kubelet configuration patch, plus the per-Kubernetes-minor
// facts they depend on.
package kubelet

import (
	"path"
	"strings"

	"github.com/hybridnode/hybridnode/assets"
)

// Defaults and well-known paths for UnitInput.
const (
	DefaultBinDir = "/usr/local/bin"
	// EnvFileDebian and EnvFileRHEL are where the upstream deb and rpm
	// packages point the drop-in's user EnvironmentFile (KUBELET_EXTRA_ARGS).
	EnvFileDebian = "/etc/default/kubelet"
	EnvFileRHEL   = "/etc/sysconfig/kubelet"
	// DropInName is the drop-in's file name, in <unitdir>/kubelet.service.d/.
	DropInName = "10-kubeadm.conf"
)

// UnitInput is what RenderUnit and RenderDropIn need.
type UnitInput struct {
	// BinDir holds the kubelet binary; default /usr/local/bin.
	BinDir string
	// EnvFile is the optional environment file for KUBELET_EXTRA_ARGS:
	// EnvFileDebian or EnvFileRHEL. Empty: no such line in the drop-in.
	EnvFile string
}

type unitData struct {
	BinDir  string
	EnvFile string
}

func (in UnitInput) data() unitData {
	d := unitData{BinDir: strings.TrimSpace(in.BinDir), EnvFile: strings.TrimSpace(in.EnvFile)}
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

// RenderDropIn renders kubelet.service.d/10-kubeadm.conf in the upstream
// shape: kubeconfig and config flags, kubeadm's runtime flags file
// /var/lib/kubelet/kubeadm-flags.env (KUBELET_KUBEADM_ARGS), the user's
// environment file (KUBELET_EXTRA_ARGS), and ExecStart under in.BinDir.
func RenderDropIn(in UnitInput) []byte {
	return assets.MustRender("10-kubeadm.conf.tmpl", in.data())
}
