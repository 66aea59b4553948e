package bootstrap

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
)

// What hybridnode and kubeadm leave on a host, for doctor, status and reset.
const (
	InstalledPath = installedPath
	ReportPath    = reportPath
	StagingDir    = stagingDir
	// KubeletConf is kubeadm's kubeconfig of a joined kubelet.
	KubeletConf    = "/etc/kubernetes/kubelet.conf"
	ContainerdUnit = containerdUnit
	KubeletUnit    = kubeletUnit
	CRISocket      = criSocket
	CNIConfDir     = "/etc/cni/net.d"
)

// ReadInstalled reads installed.json; nil when there is none.
func ReadInstalled(f hostfs.FS) (*Installed, error) { return readInstalled(f) }

// ReadReport reads the last run's report.json; nil when there is none.
func ReadReport(f hostfs.FS) (*Report, error) { return readJSON[Report](f, reportPath) }

// readJSON reads one of hybridnode's records; nil when there is none.
func readJSON[T any](f hostfs.FS, path string) (*T, error) {
	data, err := f.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return &v, nil
}

// ArtifactPaths lists the artifacts, relative to the source's base, that
// the spec installs on arch (each must be listed in SHA256SUMS).
func ArtifactPaths(s *config.Spec, arch string) []string {
	var out []string
	for _, c := range components(s, arch) {
		out = append(out, c.rel)
	}
	return out
}

// UnitDirs are the directories a unit file is looked for in, in order.
func (f Facts) UnitDirs() []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range []string{"/etc/systemd/system", f.UnitDir, "/lib/systemd/system", "/usr/lib/systemd/system"} {
		if d != "" && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// UnitFile is the host path of unit's file, or "" when there is none.
func UnitFile(f hostfs.FS, facts Facts, unit string) string {
	for _, d := range facts.UnitDirs() {
		p := path.Join(d, unit)
		if _, err := f.Stat(p); err == nil {
			return p
		}
	}
	return ""
}
