package bootstrap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap/containerd"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs/hostfstest"
	"github.com/hybridnode/hybridnode/bootstrap/hostprep"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/bootstrap/proxy"
	"github.com/hybridnode/hybridnode/bootstrap/systemd"
	"github.com/hybridnode/hybridnode/kubelet"
)

// othersFiles are what other programs write on the fake host during a
// join: kubeadm's kubelet.conf and kubelet's client certificate (the fake
// kubeadm writes them, as the real kubeadm and kubelet do).
var othersFiles = []string{hoststate.KubeletConf, "/var/lib/kubelet/pki/*"}

// snapshot maps every file and symlink under root to its mode and content
// (or target).
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		v := fi.Mode().String()
		if fi.Mode()&fs.ModeSymlink != 0 {
			tgt, _ := os.Readlink(p)
			v += " -> " + tgt
		} else {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			v += " " + hex.EncodeToString(sum[:])
		}
		m["/"+filepath.ToSlash(strings.TrimPrefix(p, root+string(filepath.Separator)))] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEveryWrittenFileIsInTheTable: every file a join writes (through the
// file seam, or found new or changed under the root afterwards) is a row of
// hostFiles, or another program's (othersFiles): on Debian and RHEL, with a
// proxy, in IPVS mode, on a GPU node, with the CNI plugins, and with the
// offline systemd that enables units by symlink. A file written and not in
// the table would be left behind by reset; reset, which takes its lists
// from the table, then removes every one that is hybridnode's.
func TestEveryWrittenFileIsInTheTable(t *testing.T) {
	shortBounds(t)
	srv := releaseServer(t, "r1")
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T, h *fakeHost)
		env     map[string]string
		offline bool     // systemd.NewOffline instead of the fake
		want    []string // among what is written (patterns): the case is what it says
	}{
		{name: "debian", want: []string{kubelet.DropInPath(hoststate.DebianUnitDir), joinConfigPath, kubeletPatch, hoststate.Fstab, LockPath,
			path.Join(containerd.CertsDir, "registry.k8s.io/hosts.toml"), hoststate.KubeletConf}},
		{name: "rhel", setup: func(t *testing.T, h *fakeHost) { h.write(t, "/etc/os-release", "ID=\"alinux\"\nVERSION_ID=\"3\"\n") },
			want: []string{kubelet.DropInPath(hoststate.RHELUnitDir), containerd.UnitPath(hoststate.RHELUnitDir)}},
		{name: "proxy", env: map[string]string{"HYBRIDNODE_HTTPS_PROXY": "http://10.0.0.6:3128"},
			want: []string{proxy.DropInPath(hoststate.ContainerdUnit), proxy.DropInPath(hoststate.KubeletUnit),
				proxy.EnvFilePath(hoststate.ContainerdUnit), proxy.EnvFilePath(hoststate.KubeletUnit)}},
		{name: "ipvs", setup: func(t *testing.T, h *fakeHost) { h.tool(t, "ipset") }, env: map[string]string{"HYBRIDNODE_KUBE_PROXY_MODE": "ipvs"},
			want: []string{hostprep.IPVSModulesFile}},
		{name: "gpu", setup: func(t *testing.T, h *fakeHost) {
			writeExec(t, h.root, "/usr/bin/nvidia-container-runtime", stubRuntime, 0o755)
		}, env: map[string]string{"HYBRIDNODE_GPU_DEFAULT_RUNTIME": "true"}, want: []string{containerd.ConfigPath}},
		{name: "cni-plugins", env: withCNI, want: []string{path.Join(hoststate.CNIBinDir, "bridge")}},
		{name: "offline-systemd", offline: true, want: []string{path.Join(hoststate.EtcUnitDir, "*.wants", hoststate.KubeletUnit)}},
		{name: "node-pool", setup: func(t *testing.T, h *fakeHost) { h.writePoolSettings(t, srv.URL) }, want: []string{nodePoolDropIn}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost(t)
			if tc.setup != nil {
				tc.setup(t, h)
			}
			before := snapshot(t, h.root)
			var counter *hostfstest.Counter
			n := fastSource(h.nodeEnv(t, srv.URL, tc.env, func(f hostfs.FS) hostfs.FS { counter = hostfstest.Counting(f); return counter }))
			if tc.offline {
				n.Systemd = systemd.NewOffline(n.FS, n.Facts.UnitDirs())
			}
			if _, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true}); err != nil {
				t.Fatal(err)
			}
			written := map[string]bool{}
			for p := range counter.Writes() {
				written[p] = true
			}
			for p, v := range snapshot(t, h.root) {
				if before[p] != v {
					written[p] = true
				}
			}
			var paths []string
			for p := range written {
				paths = append(paths, p)
			}
			sort.Strings(paths)
			for _, p := range paths {
				if _, ok := n.hostFileOf(p); ok || othersFile(p) {
					continue
				}
				t.Errorf("%s was written, but is not in hostFiles (nor another program's: othersFiles)", p)
			}
			for _, w := range tc.want {
				if !slices.ContainsFunc(paths, func(p string) bool { ok, _ := path.Match(w, p); return ok }) {
					t.Errorf("nothing written matches %s: %v", w, paths)
				}
			}
			if tc.name == "gpu" && !strings.Contains(h.read(t, containerd.ConfigPath), hoststate.NvidiaRuntimeBinary) {
				t.Errorf("not a GPU node: %s has no %s", containerd.ConfigPath, hoststate.NvidiaRuntimeBinary)
			}

			// And reset, from the same table, leaves none of what hybridnode
			// generated, installed or recorded.
			rn := h.nodeEnv(t, srv.URL, tc.env, nil)
			if tc.offline {
				rn.Systemd = systemd.NewOffline(rn.FS, rn.Facts.UnitDirs())
			}
			if err := Reset(context.Background(), rn, ResetOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, p := range paths {
				if f, ok := n.hostFileOf(p); ok && (f.kind == generated || f.kind == installed || f.kind == record) && h.exists(p) {
					t.Errorf("%s left after reset", p)
				}
			}
		})
	}
}

func othersFile(p string) bool {
	for _, o := range othersFiles {
		if ok, _ := path.Match(o, p); ok {
			return true
		}
	}
	return false
}
