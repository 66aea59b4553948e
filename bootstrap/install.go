package bootstrap

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/hybridnode/hybridnode/bootstrap/artifact"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/kubelet"
)

const (
	installedPath = "/var/lib/hybridnode/installed.json"
	// stagingDir keeps verified downloads; nothing reaches its final place
	// until every artifact has been fetched and verified.
	stagingDir = "/var/lib/hybridnode/artifacts"
	binDir     = "/usr/local/bin"
	sbinDir    = "/usr/local/sbin"
	cniBinDir  = "/opt/cni/bin"
	// parallelDownloads bounds the artifacts fetched at once.
	parallelDownloads = 3
)

// cniPlugins are the plugins taken from the CNI tarball (present in every
// release since v1.1.0).
var cniPlugins = []string{"bandwidth", "bridge", "firewall", "host-device", "host-local", "ipvlan", "loopback", "macvlan", "portmap", "ptp", "sbr", "static", "tuning", "vlan", "vrf"}

// Installed is the record of what hybridnode installed, so that no later
// run has to spawn `kubelet --version` to learn it.
type Installed struct {
	Versions  map[string]string            `json:"versions"`
	Artifacts map[string]InstalledArtifact `json:"artifacts"`
}

// InstalledArtifact is one installed component.
type InstalledArtifact struct {
	Version string            `json:"version"`
	Source  string            `json:"source"` // path relative to the artifact base
	SHA256  string            `json:"sha256"` // of the artifact as downloaded
	Files   map[string]string `json:"files"`  // installed path -> sha256
}

// component is one thing to install.
type component struct {
	name, version, rel string
	// members maps archive members to host paths (tarballs); empty for a
	// plain binary installed at dest.
	members map[string]string
	dest    string
	service string // unit to restart when it changes
}

func components(s *config.Spec, arch string) []component {
	k8s := func(name string) component {
		return component{name: name, version: s.KubernetesVersion, rel: path.Join("kubernetes", s.KubernetesVersion, "bin/linux", arch, name), dest: path.Join(binDir, name)}
	}
	kl := k8s("kubelet")
	kl.service = "kubelet"
	ctrd := strings.TrimPrefix(s.ContainerdVersion, "v")
	cs := []component{
		{name: "containerd", version: s.ContainerdVersion, service: "containerd",
			rel: path.Join("containerd", s.ContainerdVersion, fmt.Sprintf("containerd-%s-linux-%s.tar.gz", ctrd, arch)),
			members: map[string]string{
				"bin/containerd":              path.Join(binDir, "containerd"),
				"bin/containerd-shim-runc-v2": path.Join(binDir, "containerd-shim-runc-v2"),
				"bin/ctr":                     path.Join(binDir, "ctr"),
			}},
		{name: "runc", version: s.RuncVersion, rel: path.Join("runc", s.RuncVersion, "runc."+arch), dest: path.Join(sbinDir, "runc")},
		kl,
		k8s("kubeadm"),
		{name: "crictl", version: s.CrictlVersion, rel: path.Join("cri-tools", s.CrictlVersion, "bin/linux", arch, "crictl"), dest: path.Join(binDir, "crictl")},
	}
	if v := s.CNIPluginsVersion; v != "" {
		m := map[string]string{}
		for _, p := range cniPlugins {
			m["./"+p] = path.Join(cniBinDir, p)
		}
		cs = append(cs, component{name: "cni-plugins", version: v, rel: path.Join("cni-plugins", v, fmt.Sprintf("cni-plugins-linux-%s-%s.tgz", arch, v)), members: m})
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

func readInstalled(f hostfs.FS) (*Installed, error) { return readJSON[Installed](f, installedPath) }

// AdoptInstalled makes a node without an artifact source (a baked image)
// use the versions recorded at bake time, unless the user asked for others:
// then it is an input error, since there is nothing to install them from.
func AdoptInstalled(n *Node) error {
	if n.Spec.ArtifactURL != "" {
		return nil
	}
	rec, err := readInstalled(n.FS)
	if err != nil || rec == nil {
		return err // preflight reports the missing record
	}
	var errs config.Error
	adopt := func(key, component string, set func(string)) {
		v := rec.Versions[component]
		if v == "" {
			return
		}
		cur := n.Spec.Config.FormatString(key)
		if n.Loaded.Sources[key].Kind == "default" || n.Loaded.Sources[key].Kind == "derived" {
			set(v)
			return
		}
		if cur != v {
			errs.Problems = append(errs.Problems, config.Problem{Field: n.Loaded.Where(key), Got: cur,
				Want: fmt.Sprintf("the installed %s (%s), or an artifactURL to install %s from", component, v, cur)})
		}
	}
	adopt("kubernetesVersion", "kubernetes", func(v string) {
		n.Spec.KubernetesVersion = v
		fmt.Sscanf(v, "v1.%d", &n.Spec.KubernetesMinor)
		if n.Loaded.Sources["sandboxImage"].Kind == "derived" {
			n.Spec.SandboxImage = kubelet.DefaultSandboxImage(n.Spec.KubernetesMinor)
		}
	})
	adopt("containerdVersion", "containerd", func(v string) {
		n.Spec.ContainerdVersion = v
		fmt.Sscanf(v, "v%d", &n.Spec.ContainerdMajor)
	})
	adopt("runcVersion", "runc", func(v string) { n.Spec.RuncVersion = v })
	adopt("crictlVersion", "crictl", func(v string) { n.Spec.CrictlVersion = v })
	if len(errs.Problems) > 0 {
		return &errs
	}
	return nil
}

func runInstall(ctx context.Context, n *Node) error {
	rec, err := readInstalled(n.FS)
	if err != nil {
		return err
	}
	if rec == nil {
		rec = &Installed{}
	}
	comps := components(n.Spec, n.Facts.Arch)
	if n.Spec.ArtifactURL == "" {
		return verifyBaked(n, rec, comps)
	}

	if n.DryRun {
		// No network in a plan: judge by the record alone.
		for _, c := range comps {
			if !n.upToDate(rec, c, "") {
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
	sums, err := artifact.LoadSums(ctx, remote)
	if err != nil {
		return err
	}
	// A component installed from the same artifact (same sha256 in
	// SHA256SUMS) and intact on disk needs no download at all.
	var todo []component
	for _, c := range comps {
		if _, ok := sums[c.rel]; !ok {
			return fmt.Errorf("%s %s: %s is not listed in %s/SHA256SUMS", c.name, c.version, c.rel, strings.TrimSuffix(n.Spec.ArtifactURL, "/"))
		}
		if n.upToDate(rec, c, sums[c.rel]) {
			n.Log.Info("already installed", zap.String("component", c.name), zap.String("version", c.version))
			continue
		}
		todo = append(todo, c)
	}
	if len(todo) == 0 {
		return n.writeInstalled(rec, comps)
	}
	// Stage and verify everything first, a few downloads at a time: a bad
	// checksum leaves every installed binary as it was.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallelDownloads)
	for _, c := range todo {
		g.Go(func() error {
			if _, err := artifact.InstallFile(gctx, remote, sums, n.FS, c.rel, path.Join(stagingDir, c.rel), 0o644); err != nil {
				return fmt.Errorf("downloading %s %s: %w", c.name, c.version, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	local, err := artifact.NewSource(filepath.Join(n.FS.Root(), stagingDir))
	if err != nil {
		return err
	}
	for _, c := range todo {
		var changed []string
		if len(c.members) == 0 {
			ch, err := artifact.InstallFile(ctx, local, sums, n.FS, c.rel, c.dest, 0o755)
			if err != nil {
				return fmt.Errorf("installing %s %s: %w", c.name, c.version, err)
			}
			if ch {
				changed = []string{c.dest}
			}
		} else if changed, err = artifact.InstallTarball(ctx, local, sums, n.FS, c.rel, c.members, 0o755); err != nil {
			return fmt.Errorf("installing %s %s: %w", c.name, c.version, err)
		}
		files := map[string]string{}
		if len(c.members) == 0 {
			files[c.dest] = sums[c.rel] // just verified against it
		}
		for _, f := range c.files() {
			if files[f] == "" {
				if files[f], err = hostfs.SHA256File(n.FS, f); err != nil {
					return err
				}
			}
		}
		if rec.Artifacts == nil {
			rec.Artifacts = map[string]InstalledArtifact{}
		}
		rec.Artifacts[c.name] = InstalledArtifact{Version: c.version, Source: c.rel, SHA256: sums[c.rel], Files: files}
		if len(changed) > 0 {
			n.Log.Info("installed", zap.String("component", c.name), zap.String("version", c.version), zap.Strings("files", changed))
			if c.service != "" {
				n.markChanged(c.service)
			}
		} else {
			n.Log.Info("already installed", zap.String("component", c.name), zap.String("version", c.version))
		}
	}
	return n.writeInstalled(rec, comps)
}

// upToDate: the record says this artifact was installed (with that sha256,
// when sum is given), and every file it installed still has its recorded sha256.
func (n *Node) upToDate(rec *Installed, c component, sum string) bool {
	a, ok := rec.Artifacts[c.name]
	if !ok || a.Version != c.version || a.Source != c.rel || (sum != "" && a.SHA256 != sum) {
		return false
	}
	for _, f := range c.files() {
		sum, err := hostfs.SHA256File(n.FS, f)
		if err != nil || sum != a.Files[f] {
			return false
		}
	}
	return true
}

// verifyBaked checks, without a source, that everything recorded at bake
// time is present and unmodified.
func verifyBaked(n *Node, rec *Installed, comps []component) error {
	var bad []string
	for _, c := range comps {
		if !n.upToDate(rec, c, "") {
			bad = append(bad, fmt.Sprintf("%s %s", c.name, c.version))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("no artifactURL is set and these are not installed as recorded in %s: %s; set HYBRIDNODE_ARTIFACT_URL or re-bake with `hybridnode install`", installedPath, strings.Join(bad, ", "))
	}
	n.Log.Info("using installed binaries", zap.String("record", installedPath))
	return nil
}

func (n *Node) writeInstalled(rec *Installed, comps []component) error {
	rec.Versions = map[string]string{}
	keep := map[string]InstalledArtifact{}
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
	n.installed = rec
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	_, err = n.FS.WriteFile(installedPath, append(data, '\n'), 0o644)
	return err
}
