package containerd

import (
	"path"
	"slices"
	"strings"

	"github.com/hybridnode/hybridnode/assets"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

// DefaultBinDir is where containerd is installed (architecture.md).
const DefaultBinDir = hoststate.BinDir

// basePath is the PATH containerd runs with: it must include
// hoststate.SbinDir, where runc is installed, since systemd's default PATH
// for services may not on every distribution.
var basePath = hoststate.ToolPath

type unitData struct {
	BinDir  string
	Path    string
	SbinDir string
}

// UnitPath is containerd.service's path in the unit directory unitDir.
func UnitPath(unitDir string) string { return path.Join(unitDir, hoststate.ContainerdUnit) }

// RenderUnit renders containerd.service (upstream's unit, ExecStart from
// binDir, default DefaultBinDir). The unit's PATH is hoststate.ToolPath,
// with binDir in front when it is not one of those. Paths must not contain
// whitespace.
func RenderUnit(binDir string) []byte {
	binDir = strings.TrimSpace(binDir)
	if binDir == "" {
		binDir = DefaultBinDir
	}
	binDir = path.Clean(binDir)
	p := basePath
	if !slices.Contains(basePath, binDir) {
		p = append([]string{binDir}, basePath...)
	}
	return assets.MustRender("containerd.service.tmpl", unitData{BinDir: binDir, Path: strings.Join(p, ":"), SbinDir: hoststate.SbinDir})
}
