package bootstrap

import (
	"path"
	"sort"
	"strings"

	"github.com/hybridnode/hybridnode/bootstrap/containerd"
	"github.com/hybridnode/hybridnode/bootstrap/hostprep"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/bootstrap/proxy"
	"github.com/hybridnode/hybridnode/kubelet"
)

// fileKind is what a row of hostFiles is, and so what reset does with it.
type fileKind int

const (
	// generated: rendered by hybridnode, its first line assets.Header;
	// reset removes it while it still starts so (anything else there is
	// the user's).
	generated fileKind = iota
	// installed: a binary from an artifact; reset removes it while its
	// sha256 is the one installed.json records.
	installed
	// record: hybridnode's own state; reset removes it.
	record
	// edited: the host's own file, edited in place; reset keeps it.
	edited
	// lock: the node lock; reset holds it, and keeps it.
	lock
	// downloads: a tree of downloads; reset --purge removes it.
	downloads
	// enablement: the symlinks of `systemctl enable`; reset disables the
	// unit (systemd removes them).
	enablement
)

// unitDirs in a row's path stands for each of Facts.UnitDirs.
const unitDirs = "{unitdir}"

// hostFile is one row of hostFiles: a file, or a family of files, that
// hybridnode writes on a host.
type hostFile struct {
	// path is the file's host path; unitDirs in it stands for each unit
	// directory, and a * in an element for any name found there.
	path string
	kind fileKind
	// dir, when set, is a directory of path's that reset removes once
	// nothing is left in it (for downloads: under --purge only).
	dir string
}

// hostFiles is the one table of what hybridnode writes on a host, each
// path declared beside the code that writes it: every file a join, an
// install or a reset writes is a row here (TestEveryWrittenFileIsInTheTable),
// and reset and the temp-file sweep take their lists from it, so that a
// new file is removed by reset without a word in reset.
var hostFiles = append([]hostFile{
	// The host phase (host.go).
	{path: hostprep.ModulesFile, kind: generated},
	{path: hostprep.SysctlFile, kind: generated},
	{path: hoststate.Fstab, kind: edited}, // swap lines commented out
	// The containerd phase (services.go); config.toml has the nvidia
	// runtime and CDI on a GPU node.
	{path: containerd.ConfigPath, kind: generated},
	{path: crictlConfig, kind: generated},
	// The join phase (join.go): the kubelet patch (on cgroup v1 with
	// kubelet 1.35 and later, or with a cgroup driver to set), and the
	// JoinConfiguration (0600: it holds the token), removed after the join.
	{path: kubeletPatch, kind: generated, dir: patchesDir},
	{path: joinConfigPath, kind: record},
	// The node-pool script's settings (packaging/add-node.sh.in): their
	// token line removed once the node has joined (pooltoken.go).
	{path: nodePoolDropIn, kind: edited},
	// The kube-proxy phase (kubeproxy.go), in IPVS mode.
	{path: hostprep.IPVSModulesFile, kind: generated},
	// The containerd phase: one hosts.toml per registry mirror.
	{path: path.Join(containerd.CertsDir, containerd.HostsPath("*")), kind: generated, dir: containerd.CertsDir},
	// The containerd and kubelet phases (services.go): the units, and
	// their proxy drop-ins and environment files when a proxy is set
	// (proxy.go).
	{path: containerd.UnitPath(unitDirs), kind: generated},
	{path: kubelet.UnitPath(unitDirs), kind: generated},
	{path: kubelet.DropInPath(unitDirs), kind: generated, dir: kubelet.DropInDir(unitDirs)},
	{path: proxy.DropInPath(hoststate.ContainerdUnit), kind: generated, dir: path.Dir(proxy.DropInPath(hoststate.ContainerdUnit))},
	{path: proxy.DropInPath(hoststate.KubeletUnit), kind: generated, dir: path.Dir(proxy.DropInPath(hoststate.KubeletUnit))},
	{path: proxy.EnvFilePath(hoststate.ContainerdUnit), kind: generated, dir: proxy.EnvFileDir},
	{path: proxy.EnvFilePath(hoststate.KubeletUnit), kind: generated, dir: proxy.EnvFileDir},
	// Enabling the units, by symlink under a root with no live systemd.
	{path: path.Join(hoststate.EtcUnitDir, "*.wants", hoststate.ContainerdUnit), kind: enablement},
	{path: path.Join(hoststate.EtcUnitDir, "*.requires", hoststate.ContainerdUnit), kind: enablement},
	{path: path.Join(hoststate.EtcUnitDir, "*.wants", hoststate.KubeletUnit), kind: enablement},
	{path: path.Join(hoststate.EtcUnitDir, "*.requires", hoststate.KubeletUnit), kind: enablement},
	// The records (install.go, report.go), and the lock (lock.go).
	{path: hoststate.InstalledPath, kind: record},
	{path: hoststate.ReportPath, kind: record},
	// What the join read of the cluster, with a proxy set (proxy.go).
	{path: hoststate.ClusterPath, kind: record},
	// The stat cache of the installed files (install.go).
	{path: hoststate.VerifiedPath, kind: record},
	{path: LockPath, kind: lock},
	// What versions before the one-pass install kept.
	{path: hoststate.StagingDir, kind: downloads, dir: hoststate.StateDir},
}, installedFiles()...)

// installedFiles are the rows of every file a component installs
// (installs), whatever the versions.
func installedFiles() []hostFile {
	var paths []string
	for _, c := range installs {
		paths = append(paths, c.files()...)
	}
	sort.Strings(paths)
	out := make([]hostFile, len(paths))
	for i, p := range paths {
		out[i] = hostFile{path: p, kind: installed}
	}
	return out
}

// expand is p on this host: one path per unit directory when p has
// unitDirs, each element with a * matched against what is there.
func (n *Node) expand(p string) []string {
	var out []string
	for _, q := range n.unitDirPaths(p) {
		out = append(out, n.glob(q)...)
	}
	return out
}

func (n *Node) unitDirPaths(p string) []string {
	if !strings.Contains(p, unitDirs) {
		return []string{p}
	}
	var out []string
	for _, d := range n.Facts.UnitDirs() {
		out = append(out, strings.ReplaceAll(p, unitDirs, d))
	}
	return out
}

// glob expands the elements of p that have a * (path.Match) into the
// names ReadDir finds there, directories only but for the last; p itself
// when it has none, whether it is there or not.
func (n *Node) glob(p string) []string {
	var out []string
	var walk func(dir string, rest []string)
	walk = func(dir string, rest []string) {
		if len(rest) == 0 {
			out = append(out, dir)
			return
		}
		if !strings.Contains(rest[0], "*") {
			walk(path.Join(dir, rest[0]), rest[1:])
			return
		}
		des, err := n.FS.ReadDir(dir)
		if err != nil {
			return
		}
		for _, de := range des {
			if ok, _ := path.Match(rest[0], de.Name()); ok && (len(rest) == 1 || de.IsDir()) {
				walk(path.Join(dir, de.Name()), rest[1:])
			}
		}
	}
	walk("/", strings.Split(strings.TrimPrefix(p, "/"), "/"))
	return out
}

// hostPaths are the paths on this host of the rows of kind, in the
// table's order.
func (n *Node) hostPaths(kind fileKind) []string {
	var out []string
	for _, f := range hostFiles {
		if f.kind == kind {
			out = append(out, n.expand(f.path)...)
		}
	}
	return out
}

// hostFileOf is the row p is one of, if any.
func (n *Node) hostFileOf(p string) (hostFile, bool) {
	for _, f := range hostFiles {
		for _, q := range n.unitDirPaths(f.path) {
			if ok, _ := path.Match(q, p); ok {
				return f, true
			}
		}
	}
	return hostFile{}, false
}
