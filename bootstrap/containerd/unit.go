package containerd

import (
	"path"
	"slices"
	"strings"

	"github.com/hybridnode/hybridnode/assets"
)

// DefaultBinDir is where containerd is installed (architecture.md).
const DefaultBinDir = "/usr/local/bin"

// basePath is the PATH containerd runs with: it must include
// /usr/local/sbin, where runc is installed, since systemd's default PATH for
// services may not on every distribution.
var basePath = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

type unitData struct {
	BinDir string
	Path   string
}

// RenderUnit renders containerd.service (upstream's unit, ExecStart from
// binDir, default /usr/local/bin). The unit's PATH is
// /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, with binDir
// in front when it is not one of those. Paths must not contain whitespace.
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
	return assets.MustRender("containerd.service.tmpl", unitData{BinDir: binDir, Path: strings.Join(p, ":")})
}
