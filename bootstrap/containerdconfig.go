package bootstrap

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"

	"github.com/hybridnode/hybridnode/bootstrap/containerd"
	"github.com/hybridnode/hybridnode/bootstrap/hostcheck"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
)

// CheckContainerdConfig: may hybridnode write want over containerd's
// config.toml? Yes when there is none, when it already is want, or when it
// is hybridnode's own, unchanged since hybridnode wrote it
// (containerd.Changed). A config someone else wrote or edited since
// (`nvidia-ctk runtime configure`, say) is never overwritten: what was set
// there would be lost without a word.
func CheckContainerdConfig(f hostfs.FS, want []byte) hostcheck.Result {
	cur, err := f.ReadFile(containerd.ConfigPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return hostcheck.Result{Status: hostcheck.Pass, Evidence: "no " + containerd.ConfigPath + " yet: hybridnode writes it"}
	case err != nil:
		return hostcheck.Result{Status: hostcheck.Fail, Evidence: fmt.Sprintf("reading %s: %v", containerd.ConfigPath, err), Remedy: "make it readable, or move it away"}
	case bytes.Equal(cur, want):
		return hostcheck.Result{Status: hostcheck.Pass, Evidence: containerd.ConfigPath + " is already what hybridnode writes"}
	}
	if changed, why := containerd.Changed(cur); changed {
		return hostcheck.Result{Status: hostcheck.Fail,
			Evidence: fmt.Sprintf("%s %s; hybridnode does not overwrite it, so that nothing set there is lost", containerd.ConfigPath, why),
			Remedy: fmt.Sprintf("`hybridnode plan` shows how it differs from what hybridnode writes; to let hybridnode write it, move it away (mv %s %s.orig) and run hybridnode again "+
				"(nvidia-ctk runtime configure is not needed: on a node with the NVIDIA container toolkit, hybridnode's config has the nvidia runtime and CDI)", containerd.ConfigPath, containerd.ConfigPath)}
	}
	return hostcheck.Result{Status: hostcheck.Pass, Evidence: containerd.ConfigPath + " is hybridnode's, unchanged since it wrote it: hybridnode rewrites it"}
}

// checkContainerdConfig is CheckContainerdConfig for the config this node
// renders; a config that cannot be rendered is skipped here (the error is
// the containerd phase's, or the gpu finding's).
func (n *Node) checkContainerdConfig() hostcheck.Result {
	want, err := n.renderContainerdConfig()
	if err != nil {
		return hostcheck.Result{Status: hostcheck.Skip, Evidence: "containerd's config cannot be rendered: " + err.Error()}
	}
	return CheckContainerdConfig(n.FS, want)
}

// keepEditedContainerdConfig refuses to write want over a config.toml that
// someone else wrote or edited. A dry run does not refuse: its plan shows
// the difference (and its preflight, the failure).
func (n *Node) keepEditedContainerdConfig(want []byte) error {
	if c := CheckContainerdConfig(n.FS, want); c.Status == hostcheck.Fail && !n.DryRun {
		return errors.New(c.Detail())
	}
	return nil
}
