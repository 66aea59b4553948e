package hoststate

import (
	"errors"
	"io/fs"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/kubeconfig"
)

// Joined reports whether the node has a usable kubelet.conf: a kubeconfig
// naming a server, whose client credentials load; why says what was seen.
func Joined(f hostfs.FS) (joined bool, why string) {
	if _, err := f.Stat(KubeletConf); errors.Is(err, fs.ErrNotExist) {
		return false, "no " + KubeletConf
	}
	cr, err := kubeconfig.Load(f, KubeletConf)
	if err != nil {
		return false, KubeletConf + " is not usable: " + err.Error()
	}
	if cr.Cert == nil && cr.Bearer == "" {
		return false, KubeletConf + " is not usable: it holds no client credentials"
	}
	return true, KubeletConf + " names a server and its client credentials load"
}
