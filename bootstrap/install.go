package bootstrap

import (
	"context"
	"fmt"
	"maps"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/hybridnode/hybridnode/bootstrap/artifact"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

// parallelDownloads bounds the artifacts fetched at once: all of them
// today (six), each in one pass from the network to its staged files.
const parallelDownloads = 8

// Bounds of the install phase; tests shorten them.
var (
	// installDeadline, when set (tests), replaces the downloadTimeout
	// setting: the bound of the phase's downloads, SHA256SUMS included, on
	// top of each request's stall timeout and attempt count.
	installDeadline time.Duration
	// installLimits bound what one artifact may write (archive members,
	// their total and count, the download itself).
	installLimits = artifact.DefaultLimits
	// installHook, when set (tests), is called at each step of an install
	// ("sums", "staged <component>", "commit", "committed"); an error
	// aborts the install there as any failure would.
	installHook func(step string) error
)

func hook(step string) error {
	if installHook == nil {
		return nil
	}
	return installHook(step)
}

// cniPlugins are the plugins taken from the CNI tarball (present in every
// release since v1.1.0).
var cniPlugins = []string{"bandwidth", "bridge", "firewall", "host-device", "host-local", "ipvlan", "loopback", "macvlan", "portmap", "ptp", "sbr", "static", "tuning", "vlan", "vrf"}

// component is one thing to install.
type component struct {
	name, version, rel string
	// members maps archive members to host paths (tarballs); empty for a
	// plain binary installed at dest.
	members map[string]string
	dest    string
	service string // unit to restart when it changes
}

// installs is what each component of artifact.Artifacts installs on the
// host, and the unit to restart when it changes.
var installs = map[string]component{
	"containerd": {service: "containerd", members: map[string]string{
		"bin/containerd":              path.Join(hoststate.BinDir, "containerd"),
		"bin/containerd-shim-runc-v2": path.Join(hoststate.BinDir, "containerd-shim-runc-v2"),
		"bin/ctr":                     path.Join(hoststate.BinDir, "ctr"),
	}},
	"runc":        {dest: path.Join(hoststate.SbinDir, "runc")},
	"kubelet":     {dest: path.Join(hoststate.BinDir, "kubelet"), service: "kubelet"},
	"kubeadm":     {dest: path.Join(hoststate.BinDir, "kubeadm")},
	"crictl":      {dest: path.Join(hoststate.BinDir, "crictl")},
	"cni-plugins": {members: cniMembers()},
}

func cniMembers() map[string]string {
	m := map[string]string{}
	for _, p := range cniPlugins {
		m["./"+p] = path.Join(hoststate.CNIBinDir, p)
	}
	return m
}

func components(s *config.Spec, arch string) []component {
	var cs []component
	for _, a := range artifact.Artifacts(s, arch) {
		c, ok := installs[a.Component]
		if !ok {
			panic("no host layout for the component " + a.Component)
		}
		c.name, c.version, c.rel = a.Component, a.Version, a.Rel
		cs = append(cs, c)
	}
	return cs
}

// files lists the host paths a component installs.
func (c component) files() []string {
	if len(c.members) == 0 {
		return []string{c.dest}
	}
	var out []string
	for _, d := range c.members {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// target is where c's artifact goes.
func (c component) target() artifact.Target {
	return artifact.Target{Rel: c.rel, Dest: c.dest, Members: c.members, Mode: 0o755}
}

// runInstall installs every component not already installed as the record
// says, all or nothing: each artifact is streamed once, all at once, from
// the source through sha256 (and gzip and tar) into temp files beside
// their destinations; only when every one matched SHA256SUMS and had every
// expected member are they renamed into place, together with the new
// installed.json. A failure before that leaves the old binaries and the
// old record; the temp files are removed (and those of a killed run by
// the next one, see removeTemps).
func runInstall(ctx context.Context, n *Node) error {
	rec, err := hoststate.ReadInstalled(n.FS)
	if err != nil {
		return err
	}
	if rec == nil {
		rec = &hoststate.Installed{}
	}
	comps := components(n.Spec, n.Facts.Arch)
	if n.Spec.ArtifactURL == "" {
		return verifyBaked(n, rec, comps)
	}

	if n.DryRun {
		// No network in a plan: judge by the record alone.
		fresh, _ := n.checkInstalled(rec, comps, nil)
		for i, c := range comps {
			if !fresh[i] {
				n.Recorder.Add(hostfs.Change{Op: hostfs.OpDownload, Path: strings.TrimSuffix(n.Spec.ArtifactURL, "/") + "/" + c.rel,
					Detail: "verify against SHA256SUMS, install " + strings.Join(c.files(), " ")})
			}
		}
		return nil
	}
	remote, err := n.OpenSource(n.Spec.ArtifactURL)
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(n.Spec.ArtifactURL, "/")
	deadline := time.Duration(n.Spec.DownloadTimeout)
	if installDeadline > 0 {
		deadline = installDeadline
	}
	dctx, cancel := context.WithTimeoutCause(ctx, deadline,
		fmt.Errorf("the downloads did not finish within downloadTimeout (%s; HYBRIDNODE_DOWNLOAD_TIMEOUT): %w", deadline, context.DeadlineExceeded))
	defer cancel()
	sums, err := artifact.LoadSums(dctx, remote)
	if err != nil {
		return err
	}
	for _, c := range comps {
		if _, ok := sums[c.rel]; !ok {
			return fmt.Errorf("%s %s: %s is not listed in %s/SHA256SUMS: %w", c.name, c.version, c.rel, base, artifact.ErrNotListed)
		}
	}
	// A component installed from the same artifact (same sha256 in
	// SHA256SUMS) and intact on disk needs no download at all.
	fresh, known := n.checkInstalled(rec, comps, sums)
	var todo []component
	for i, c := range comps {
		if fresh[i] {
			n.Log.Info("already installed", zap.String("component", c.name), zap.String("version", c.version))
			continue
		}
		todo = append(todo, c)
	}
	if err := hook("sums"); err != nil {
		return err
	}
	if len(todo) == 0 {
		n.saveVerified(comps)
		return n.writeInstalled(rec, comps)
	}

	staged := make([]*artifact.Staged, len(todo))
	discard := func() {
		for _, st := range staged {
			st.Discard()
		}
	}
	g, gctx := errgroup.WithContext(dctx)
	g.SetLimit(parallelDownloads)
	for i, c := range todo {
		g.Go(func() error {
			st, err := artifact.Stage(gctx, remote, sums, n.FS, c.target(), installLimits)
			staged[i] = st
			if err != nil {
				return fmt.Errorf("%s %s: %w", c.name, c.version, err)
			}
			return hook("staged " + c.name)
		})
	}
	if err := g.Wait(); err != nil {
		discard()
		return err
	}

	// Everything is verified. Commit what changes, and the record with it.
	next := &hoststate.Installed{Artifacts: maps.Clone(rec.Artifacts)}
	if next.Artifacts == nil {
		next.Artifacts = map[string]hoststate.InstalledArtifact{}
	}
	var commit []hostfs.StagedFile
	changed := make([][]string, len(todo))
	for i, c := range todo {
		files, err := staged[i].DropUnchanged(n.FS, known)
		if err != nil {
			discard()
			return err
		}
		for _, f := range files {
			changed[i] = append(changed[i], f.Path())
		}
		commit = append(commit, files...)
		next.Artifacts[c.name] = hoststate.InstalledArtifact{Version: c.version, Source: c.rel, SHA256: staged[i].SHA256, Files: staged[i].Sums()}
	}
	if len(commit) == 0 { // the same files from other artifacts: only the record changes
		n.Log.Info("already installed", zap.String("components", names(todo)))
		n.committedStats(staged)
		n.saveVerified(comps)
		return n.writeInstalled(next, comps)
	}
	data, err := recordData(next, comps)
	if err != nil {
		discard()
		return err
	}
	recFile, err := n.FS.Stage(hoststate.InstalledPath, 0o644)
	if err == nil {
		_, err = recFile.Write(data)
	}
	if err != nil {
		if recFile != nil {
			recFile.Discard()
		}
		discard()
		return err
	}
	commit = append(commit, recFile)
	if err := hook("commit"); err != nil {
		recFile.Discard()
		discard()
		return err
	}
	if err := n.FS.CommitAll(commit); err != nil {
		discard()
		return fmt.Errorf("installing %s: %w", names(todo), err)
	}
	n.installed = next
	n.committedStats(staged)
	n.saveVerified(comps)
	for i, c := range todo {
		if len(changed[i]) == 0 {
			n.Log.Info("already installed", zap.String("component", c.name), zap.String("version", c.version))
			continue
		}
		n.Log.Info("installed", zap.String("component", c.name), zap.String("version", c.version), zap.Strings("files", changed[i]))
		if c.service != "" {
			n.markChanged(c.service)
		}
	}
	return hook("committed")
}

func names(cs []component) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.name+" "+c.version)
	}
	return strings.Join(out, ", ")
}

// checkInstalled tells, per component, whether the record says it was
// installed from this artifact (the sha256 in sums, when sums is given) and
// every file it installed still has its recorded sha256. A file whose stat
// is what the stat cache (hoststate.Verified) has for it with the recorded
// sha256 is not hashed again; the others are hashed in parallel (one per
// core). The sha256s known are returned too, so that nothing is hashed
// twice, and kept for the cache (saveVerified).
func (n *Node) checkInstalled(rec *hoststate.Installed, comps []component, sums artifact.Sums) ([]bool, map[string]string) {
	fresh := make([]bool, len(comps))
	type job struct {
		comp int
		path string
		want string
	}
	var jobs []job
	for i, c := range comps {
		a, ok := rec.Artifacts[c.name]
		if !ok || a.Version != c.version || a.Source != c.rel || (sums != nil && a.SHA256 != sums[c.rel]) {
			continue
		}
		fresh[i] = true
		for _, f := range c.files() {
			jobs = append(jobs, job{i, f, a.Files[f]})
		}
	}
	cache := n.verifiedCache()
	got := make([]string, len(jobs))
	stats := make([]hoststate.FileStat, len(jobs))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for j, jb := range jobs {
		fi, err := n.FS.Stat(jb.path)
		if err != nil {
			continue // missing: "" matches nothing
		}
		if c, ok := cache[jb.path]; ok && jb.want != "" && c.SHA256 == jb.want && c.Matches(fi) {
			got[j], stats[j] = c.SHA256, c
			continue
		}
		g.Go(func() error {
			// The stat from before the hash: a change during it moves the
			// ctime, and the entry then matches nothing.
			got[j], _ = hostfs.SHA256File(n.FS, jb.path) // unreadable: "" matches nothing
			stats[j], _ = hoststate.StatOf(fi, got[j])
			return nil
		})
	}
	g.Wait()
	known := map[string]string{}
	for j, jb := range jobs {
		if got[j] != "" {
			known[jb.path] = got[j]
			if stats[j].SHA256 != "" {
				n.noteVerified(jb.path, stats[j])
			}
		}
		if got[j] == "" || got[j] != jb.want {
			fresh[jb.comp] = false
		}
	}
	return fresh, known
}

// verifiedCache is the stat cache as this run found it (an unreadable one
// is no cache: every file is hashed), read once.
func (n *Node) verifiedCache() map[string]hoststate.FileStat {
	if n.verifiedPrev == nil {
		n.verifiedPrev = map[string]hoststate.FileStat{}
		if v, err := hoststate.ReadVerified(n.FS); err != nil {
			n.Log.Warn("the stat cache of the installed files does not read: every file is hashed", zap.String("path", hoststate.VerifiedPath), zap.Error(err))
		} else if v != nil && v.Files != nil {
			n.verifiedPrev = v.Files
		}
	}
	return n.verifiedPrev
}

// noteVerified is what this run knows of one installed file, for the next
// stat cache (saveVerified).
func (n *Node) noteVerified(p string, st hoststate.FileStat) {
	if n.verifiedNext == nil {
		n.verifiedNext = map[string]hoststate.FileStat{}
	}
	n.verifiedNext[p] = st
}

// committedStats puts the files of the staged artifacts, just installed (or
// found identical), into the stat cache, each with the sha256 it was
// written with (staged before the rename, stat'd after it: a rename moves
// the ctime).
func (n *Node) committedStats(staged []*artifact.Staged) {
	for _, st := range staged {
		for p, sha := range st.Sums() {
			if fi, err := n.FS.Stat(p); err == nil {
				if entry, ok := hoststate.StatOf(fi, sha); ok {
					n.noteVerified(p, entry)
				}
			}
		}
	}
}

// saveVerified writes the stat cache of comps' files, from what this run
// hashed, found cached or installed (not in a plan; not at all when it is
// unchanged, as on a warm re-run). A failure to write it is a warning: the
// next run hashes what it cannot trust.
func (n *Node) saveVerified(comps []component) {
	if n.DryRun {
		return
	}
	v := &hoststate.Verified{Files: map[string]hoststate.FileStat{}}
	for _, c := range comps {
		for _, f := range c.files() {
			if st, ok := n.verifiedNext[f]; ok {
				v.Files[f] = st
			}
		}
	}
	data, err := v.Encode()
	if err == nil {
		_, err = n.FS.WriteFile(hoststate.VerifiedPath, data, 0o644)
	}
	if err != nil {
		n.Log.Warn("writing the stat cache of the installed files", zap.String("path", hoststate.VerifiedPath), zap.Error(err))
	}
}

// verifyBaked checks, without a source, that everything recorded at bake
// time is present and unmodified.
func verifyBaked(n *Node, rec *hoststate.Installed, comps []component) error {
	fresh, _ := n.checkInstalled(rec, comps, nil)
	var bad []string
	for i, c := range comps {
		if !fresh[i] {
			bad = append(bad, fmt.Sprintf("%s %s", c.name, c.version))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("no artifactURL is set and these are not installed as recorded in %s: %s; set HYBRIDNODE_ARTIFACT_URL or re-bake with `hybridnode install`", hoststate.InstalledPath, strings.Join(bad, ", "))
	}
	n.saveVerified(comps)
	n.Log.Info("using installed binaries", zap.String("record", hoststate.InstalledPath))
	return nil
}

// recordData renders the record of comps: their versions, and the
// artifacts of rec that are among them.
func recordData(rec *hoststate.Installed, comps []component) ([]byte, error) {
	rec.Versions = map[string]string{}
	keep := map[string]hoststate.InstalledArtifact{}
	for _, c := range comps {
		key := c.name
		if c.name == "kubelet" || c.name == "kubeadm" {
			key = "kubernetes"
		}
		rec.Versions[key] = c.version
		if a, ok := rec.Artifacts[c.name]; ok {
			keep[c.name] = a
		}
	}
	rec.Artifacts = keep
	return rec.Encode()
}

// writeInstalled writes the record of comps (atomically; not at all when
// it is unchanged).
func (n *Node) writeInstalled(rec *hoststate.Installed, comps []component) error {
	if _, err := recordData(rec, comps); err != nil {
		return err
	}
	n.installed = rec
	_, err := hoststate.WriteInstalled(n.FS, rec)
	return err
}
