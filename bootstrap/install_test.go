package bootstrap

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hybridnode/hybridnode/bootstrap/artifact"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs/hostfstest"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

const cniRel = "cni-plugins/v1.1.1/cni-plugins-linux-amd64-v1.1.1.tgz"

// withCNI is the configuration that installs the CNI plugins too.
var withCNI = map[string]string{"HYBRIDNODE_CNI_PLUGINS_VERSION": "v1.1.1"}

// releaseServer serves the test release with the CNI tarball, minus the
// plugins in drop.
func releaseServer(t *testing.T, release string, drop ...string) *artifactServer {
	t.Helper()
	a := newArtifactServer(t, release)
	plugins := map[string]string{"./dhcp": "not installed"}
	for _, p := range cniPlugins {
		if !slices.Contains(drop, p) {
			plugins["./"+p] = p + " " + release
		}
	}
	a.files[cniRel] = tarGz(t, plugins)
	a.resum()
	return a
}

// resum lists every file again in SHA256SUMS.
func (a *artifactServer) resum() { a.files["SHA256SUMS"] = sums(a.files) }

// shortBounds shortens every bound of the install and the lock for the
// test, and makes the node's source retry fast.
func shortBounds(t *testing.T) {
	t.Helper()
	w, p, d, l, h := lockWait, lockPoll, installDeadline, installLimits, installHook
	lockWait, lockPoll, installDeadline = 3*time.Second, 5*time.Millisecond, 20*time.Second
	t.Cleanup(func() { lockWait, lockPoll, installDeadline, installLimits, installHook = w, p, d, l, h })
}

// fastSource is the node's artifact source with short timeouts.
func fastSource(n *Node) *Node {
	n.OpenSource = func(base string) (artifact.Fetcher, error) {
		return artifact.NewSource(base, artifact.WithTimeout(150*time.Millisecond),
			artifact.WithBackoff(wait.Backoff{Duration: 5 * time.Millisecond, Factor: 2, Steps: 3}))
	}
	return n
}

// tree maps every path under root (but the report, which holds times, the
// stat cache, which holds inodes and times, and the lock's note) to its
// type, mode and sha256.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, root)
		if rel == hoststate.ReportPath || rel == hoststate.VerifiedPath || rel == LockPath {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			tgt, _ := os.Readlink(p)
			m[rel] = "-> " + tgt
		case fi.IsDir():
			m[rel] = "dir " + fi.Mode().String()
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256(data)
			m[rel] = fi.Mode().String() + " " + hex.EncodeToString(s[:8])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// diffTrees describes how b differs from a.
func diffTrees(a, b map[string]string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if b[k] != a[k] {
			out = append(out, fmt.Sprintf("  %s: %q -> %q", k, a[k], b[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if _, ok := a[k]; !ok {
			out = append(out, fmt.Sprintf("  %s: new %q", k, b[k]))
		}
	}
	return strings.Join(out, "\n")
}

// noTemps fails when a temp file of hostfs (or of an older hybridnode) is under root.
func noTemps(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err == nil && (hostfs.IsTemp(de.Name()) || strings.Contains(de.Name(), ".tmp-")) {
			t.Errorf("temp file left: %s", strings.TrimPrefix(p, root))
		}
		return nil
	})
}

// copyTree copies src into dst (which must not exist), links as links:
// what a disk holds at the instant a run is killed.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // renamed away meanwhile
				return nil
			}
			return err
		}
		to := filepath.Join(dst, strings.TrimPrefix(p, src))
		fi, err := os.Lstat(p)
		if err != nil {
			return nil
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			tgt, _ := os.Readlink(p)
			return os.Symlink(tgt, to)
		case fi.IsDir():
			return os.MkdirAll(to, fi.Mode().Perm())
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil // gone meanwhile
		}
		if err := os.WriteFile(to, data, fi.Mode().Perm()); err != nil {
			return err
		}
		return os.Chmod(to, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// install runs `hybridnode install` on h from srv.
func (h *fakeHost) install(t *testing.T, ctx context.Context, srv *artifactServer, wrap func(hostfs.FS) hostfs.FS) error {
	t.Helper()
	_, err := Execute(ctx, fastSource(h.nodeEnv(t, srv.URL, withCNI, wrap)), InstallPhases(), ExecuteOptions{})
	return err
}

// referenceTree is the tree of an uninterrupted install of the releases in order.
func referenceTree(t *testing.T, releases ...*artifactServer) map[string]string {
	t.Helper()
	h := newFakeHost(t)
	for _, srv := range releases {
		if err := h.install(t, context.Background(), srv, nil); err != nil {
			t.Fatal(err)
		}
	}
	return tree(t, h.root)
}

// budgetFS is a disk that fills up: staged writes fail with ENOSPC once
// budget bytes were written in all.
type budgetFS struct {
	hostfs.FS
	budget atomic.Int64
}

func (b *budgetFS) Stage(path string, mode fs.FileMode) (hostfs.StagedFile, error) {
	s, err := b.FS.Stage(path, mode)
	if err != nil {
		return nil, err
	}
	return &budgetFile{StagedFile: s, fs: b}, nil
}

type budgetFile struct {
	hostfs.StagedFile
	fs *budgetFS
}

func (f *budgetFile) Unwrap() hostfs.StagedFile { return f.StagedFile }
func (f *budgetFile) Write(p []byte) (int, error) {
	if f.fs.budget.Add(-int64(len(p))) < 0 {
		return 0, fmt.Errorf("hostfs: write %s: %w", f.Path(), &fs.PathError{Op: "write", Path: f.Path(), Err: syscall.ENOSPC})
	}
	return f.StagedFile.Write(p)
}

// bigMember is a tarball whose bin/containerd claims 2 GiB (the archive
// ends early: nothing of it may be read).
func bigMember(t *testing.T) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "bin/ctr", Mode: 0o755, Size: 3, Typeflag: tar.TypeReg})
	tw.Write([]byte("ctr"))
	tw.WriteHeader(&tar.Header{Name: "bin/containerd", Mode: 0o755, Size: 2 << 30, Typeflag: tar.TypeReg})
	tw.Write(make([]byte, 1<<20))
	tw.Flush()
	gz.Close()
	return buf.Bytes()
}

// manyMembers is a tarball of the real members and 5000 empty ones.
func manyMembers(t *testing.T) []byte {
	files := map[string]string{"bin/containerd": "c", "bin/containerd-shim-runc-v2": "s", "bin/ctr": "x"}
	for i := range 5000 {
		files[fmt.Sprintf("junk/%04d", i)] = ""
	}
	return tarGz(t, files)
}

// TestInstallFaults: every fault while upgrading r1 to r2 fails the
// install with the artifact exit code and leaves the node exactly as r1
// left it (binaries, installed.json, no partial or temp file anywhere).
func TestInstallFaults(t *testing.T) {
	shortBounds(t)
	const kubeletRel = "kubernetes/v1.37.1/bin/linux/amd64/kubelet"
	const containerdRel = "containerd/v2.2.0/containerd-2.2.0-linux-amd64.tar.gz"
	for _, tc := range []struct {
		name     string
		setup    func(t *testing.T, srv *artifactServer) // on the r2 server
		wrap     func(hostfs.FS) hostfs.FS
		deadline time.Duration
		wantIs   error
		errHas   []string
	}{
		{name: "corrupt binary", setup: func(t *testing.T, srv *artifactServer) {
			srv.files["kubernetes/v1.37.1/bin/linux/amd64/kubeadm"] = []byte("tampered")
		}, wantIs: hostfs.ErrChecksum, errHas: []string{"kubeadm v1.37.1", "/kubernetes/v1.37.1/bin/linux/amd64/kubeadm"}},
		{name: "corrupt tarball", setup: func(t *testing.T, srv *artifactServer) {
			srv.files[containerdRel] = []byte("<html>503 from a proxy</html>")
		}, wantIs: hostfs.ErrChecksum, errHas: []string{"containerd v2.2.0", containerdRel}},
		{name: "truncated on every attempt", setup: func(t *testing.T, srv *artifactServer) {
			data := srv.files[kubeletRel]
			srv.setFault(func(w http.ResponseWriter, r *http.Request, rel string) bool {
				if rel != kubeletRel {
					return false
				}
				w.Header().Set("Content-Length", fmt.Sprint(len(data)))
				w.Write(data[:len(data)/2])
				w.(http.Flusher).Flush()
				conn, _, _ := w.(http.Hijacker).Hijack()
				conn.Close()
				return true
			})
		}, errHas: []string{"kubelet v1.37.1", "after 3 attempts", "/" + kubeletRel}},
		{name: "not listed", setup: func(t *testing.T, srv *artifactServer) {
			delete(srv.files, "cri-tools/v1.37.0/bin/linux/amd64/crictl")
			srv.resum()
		}, wantIs: artifact.ErrNotListed, errHas: []string{"crictl v1.37.0", "SHA256SUMS"}},
		{name: "404", setup: func(t *testing.T, srv *artifactServer) {
			srv.setFault(func(w http.ResponseWriter, r *http.Request, rel string) bool {
				if rel == "runc/v1.1.5/runc.amd64" {
					http.NotFound(w, r)
					return true
				}
				return false
			})
		}, wantIs: fs.ErrNotExist, errHas: []string{"runc v1.1.5", "404"}},
		{name: "headers then silence", setup: func(t *testing.T, srv *artifactServer) {
			srv.setFault(func(w http.ResponseWriter, r *http.Request, rel string) bool {
				if rel != kubeletRel {
					return false
				}
				w.Header().Set("Content-Length", "100000")
				w.Write([]byte("#!/bin/sh\n"))
				w.(http.Flusher).Flush()
				<-r.Context().Done()
				return true
			})
		}, errHas: []string{"kubelet v1.37.1", "stall timeout", "after 3 attempts", "/" + kubeletRel}},
		{name: "no answer at all", setup: func(t *testing.T, srv *artifactServer) {
			srv.setFault(func(w http.ResponseWriter, r *http.Request, rel string) bool {
				if rel != containerdRel {
					return false
				}
				<-r.Context().Done()
				return true
			})
		}, errHas: []string{"containerd v2.2.0", "stall timeout", "after 3 attempts", "/" + containerdRel}},
		{name: "install deadline", deadline: 400 * time.Millisecond, setup: func(t *testing.T, srv *artifactServer) {
			srv.setFault(func(w http.ResponseWriter, r *http.Request, rel string) bool {
				if rel != kubeletRel {
					return false
				}
				w.Header().Set("Content-Length", "100000000")
				for { // a trickle: never a stall, never done
					if _, err := w.Write(make([]byte, 64)); err != nil {
						return true
					}
					w.(http.Flusher).Flush()
					select {
					case <-r.Context().Done():
						return true
					case <-time.After(20 * time.Millisecond):
					}
				}
			})
		}, wantIs: context.DeadlineExceeded, errHas: []string{"kubelet v1.37.1", "within downloadTimeout (400ms"}},
		{name: "member over its bound", setup: func(t *testing.T, srv *artifactServer) {
			srv.files[containerdRel] = bigMember(t)
			srv.resum()
		}, wantIs: artifact.ErrTooLarge, errHas: []string{"containerd v2.2.0", "bin/containerd is 2147483648 bytes", "512 MiB bound per file", containerdRel}},
		{name: "member-count bomb", setup: func(t *testing.T, srv *artifactServer) {
			srv.files[containerdRel] = manyMembers(t)
			srv.resum()
		}, wantIs: artifact.ErrTooLarge, errHas: []string{"containerd v2.2.0", "4096 entries bound", containerdRel}},
		{name: "CNI tarball lacks a plugin", setup: func(t *testing.T, srv *artifactServer) {
			*srv = *releaseServer(t, "r2", "vrf")
		}, wantIs: fs.ErrNotExist, errHas: []string{"cni-plugins v1.1.1", "members not in the archive: vrf", cniRel}},
		{name: "disk full", wrap: func(f hostfs.FS) hostfs.FS {
			b := &budgetFS{FS: f}
			b.budget.Store(150)
			return b
		}, wantIs: syscall.ENOSPC, errHas: []string{"no space left on device"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.deadline > 0 {
				installDeadline = tc.deadline
				defer func() { installDeadline = 20 * time.Second }() // the setting's own bounds are checked in config
			}
			h := newFakeHost(t)
			if err := h.install(t, context.Background(), releaseServer(t, "r1"), nil); err != nil {
				t.Fatal(err)
			}
			before := tree(t, h.root)
			srv := releaseServer(t, "r2")
			if tc.setup != nil {
				tc.setup(t, srv)
			}
			start := time.Now()
			err := h.install(t, context.Background(), srv, tc.wrap)
			if ExitCode(err) != ExitArtifact {
				t.Fatalf("exit %d, want %d: %v", ExitCode(err), ExitArtifact, err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("failing took %v", d)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tc.wantIs)
			}
			for _, s := range tc.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if d := diffTrees(before, tree(t, h.root)); d != "" {
				t.Errorf("the failed install changed the node:\n%s", d)
			}
			noTemps(t, h.root)
			if h.sd.Restarts(hoststate.ContainerdUnit) != 0 {
				t.Errorf("containerd restarted after a failed install: %v", h.sd.History())
			}
			// And the next run, with the fault gone, installs r2 in full.
			if err := h.install(t, context.Background(), releaseServer(t, "r2"), nil); err != nil {
				t.Fatal(err)
			}
			if got := h.read(t, "/opt/cni/bin/vrf"); got != "vrf r2" {
				t.Errorf("vrf = %q after the retry", got)
			}
		})
	}
}

// TestInstallFullTmpfs is the disk-full case on a real, small tmpfs (root
// only; skipped elsewhere).
func TestInstallFullTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	shortBounds(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	h := newFakeHostAt(t, dir)
	if err := h.install(t, context.Background(), releaseServer(t, "r1"), nil); err != nil {
		t.Fatal(err)
	}
	before := tree(t, h.root)
	srv := releaseServer(t, "r2")
	srv.files["kubernetes/v1.37.1/bin/linux/amd64/kubeadm"] = bytes.Repeat([]byte("kubeadm\x00"), 256<<10) // 2 MiB
	srv.resum()
	err := h.install(t, context.Background(), srv, nil)
	if ExitCode(err) != ExitArtifact || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("exit %d: %v; want %d with ENOSPC", ExitCode(err), err, ExitArtifact)
	}
	if d := diffTrees(before, tree(t, h.root)); d != "" {
		t.Errorf("the failed install changed the node:\n%s", d)
	}
	noTemps(t, h.root)
}

var errKilled = errors.New("killed")

// TestInstallKilled: a run killed at any point (between phases, at each
// step of the install, mid-download, mid-commit) leaves a disk that the
// next run converges from: the same tree as an uninterrupted run, no temp
// file. The kill is a copy of the root taken at that instant, temp files
// and all, which the next run then works on.
func TestInstallKilled(t *testing.T) {
	shortBounds(t)
	r1, r2 := releaseServer(t, "r1"), releaseServer(t, "r2")
	type kill struct {
		name  string
		phase int    // run only the first phase phases, then stop
		step  string // installHook step
		bytes bool   // mid-download of kubelet
		at    int    // mid-commit: after this many renames
	}
	var kills []kill
	for i := 1; i < len(InstallPhases()); i++ {
		kills = append(kills, kill{name: "after phase " + InstallPhases()[i-1].Name, phase: i})
	}
	kills = append(kills, kill{name: "after SHA256SUMS", step: "sums"})
	for _, c := range []string{"containerd", "runc", "kubelet", "kubeadm", "crictl", "cni-plugins"} {
		kills = append(kills, kill{name: "after staging " + c, step: "staged " + c})
	}
	kills = append(kills, kill{name: "before the commit", step: "commit"}, kill{name: "after the commit", step: "committed"},
		kill{name: "mid-download", bytes: true})
	for _, at := range []int{1, 4, 12, 22} {
		kills = append(kills, kill{name: fmt.Sprintf("mid-commit after %d renames", at), at: at})
	}
	for _, from := range []string{"empty", "r1"} {
		var want map[string]string
		if from == "empty" {
			want = referenceTree(t, r2)
		} else {
			want = referenceTree(t, r1, r2)
		}
		for _, k := range kills {
			if k.phase > 0 && from == "r1" {
				continue
			}
			t.Run(from+"/"+k.name, func(t *testing.T) {
				h := newFakeHost(t)
				if from == "r1" {
					if err := h.install(t, context.Background(), r1, nil); err != nil {
						t.Fatal(err)
					}
				}
				after := newFakeHost(t) // the disk the next run finds
				os.RemoveAll(after.root)
				var once sync.Once
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				snap := func() { once.Do(func() { copyTree(t, h.root, after.root); cancel() }) }
				var wrap func(hostfs.FS) hostfs.FS
				var err error
				switch {
				case k.phase > 0:
					_, err = Execute(ctx, fastSource(h.nodeEnv(t, r2.URL, withCNI, nil)), InstallPhases()[:k.phase], ExecuteOptions{})
					snap()
				case k.step != "":
					installHook = func(step string) error {
						if step == k.step {
							snap()
							return errKilled
						}
						return nil
					}
					defer func() { installHook = nil }()
				case k.bytes:
					data := r2.files["kubernetes/v1.37.1/bin/linux/amd64/kubelet"]
					srv := releaseServer(t, "r2")
					srv.setFault(func(w http.ResponseWriter, r *http.Request, rel string) bool {
						if rel != "kubernetes/v1.37.1/bin/linux/amd64/kubelet" {
							return false
						}
						w.Header().Set("Content-Length", fmt.Sprint(len(data)))
						w.Write(data[:len(data)/2])
						w.(http.Flusher).Flush()
						time.Sleep(20 * time.Millisecond) // let the other downloads get going
						snap()
						<-r.Context().Done()
						return true
					})
					err = h.install(t, ctx, srv, nil)
				default:
					wrap = func(f hostfs.FS) hostfs.FS { return &partialCommit{FS: f, at: k.at, snap: snap} }
				}
				if k.phase == 0 && !k.bytes {
					err = h.install(t, ctx, r2, wrap)
				}
				if k.phase == 0 && err == nil {
					t.Fatal("the killed run succeeded")
				}
				snap() // in case the kill point was never reached
				installHook = nil
				if strings.HasPrefix(k.step, "staged") || k.step == "commit" || k.bytes || (k.at > 0 && k.at < 22) {
					left := 0
					filepath.WalkDir(after.root, func(p string, de fs.DirEntry, err error) error {
						if err == nil && hostfs.IsTemp(de.Name()) {
							left++
						}
						return nil
					})
					if left == 0 {
						t.Error("the kill left no temp file behind: nothing for the next run to clean")
					}
				}
				h2 := newFakeHostAt(t, after.root)
				if err := h2.install(t, context.Background(), r2, nil); err != nil {
					t.Fatalf("the run after the kill: %v", err)
				}
				if d := diffTrees(want, tree(t, h2.root)); d != "" {
					t.Errorf("the run after the kill did not converge:\n%s", d)
				}
				noTemps(t, h2.root)
			})
		}
	}
}

// partialCommit renames only the first `at` files, then the disk is
// copied (the kill), then the commit fails.
type partialCommit struct {
	hostfs.FS
	at   int
	snap func()
}

func (p *partialCommit) CommitAll(files []hostfs.StagedFile) error {
	if len(files) <= p.at {
		return p.FS.CommitAll(files)
	}
	if err := p.FS.CommitAll(files[:p.at]); err != nil {
		return err
	}
	p.snap()
	for _, f := range files[p.at:] {
		f.Discard()
	}
	return errKilled
}

// TestInstallConcurrent: two installs at once on one root: the second
// waits for the first, then finds everything installed and downloads
// nothing but SHA256SUMS; the end state is one run's.
func TestInstallConcurrent(t *testing.T) {
	shortBounds(t)
	srv := releaseServer(t, "r1")
	want := referenceTree(t, srv)
	srv.requests.Store(0)
	h := newFakeHost(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv.setFault(func(w http.ResponseWriter, r *http.Request, rel string) bool {
		if rel == "kubernetes/v1.37.1/bin/linux/amd64/kubelet" {
			once.Do(func() { close(entered) })
			<-release
		}
		return false
	})
	errs := make(chan error, 2)
	go func() { errs <- h.install(t, context.Background(), srv, nil) }()
	<-entered // the first run holds the lock, mid-download
	go func() { errs <- h.install(t, context.Background(), srv, nil) }()
	waiting := func() bool {
		return h.logs.FilterMessage("waiting for another hybridnode run to finish").Len() > 0
	}
	for deadline := time.Now().Add(2 * time.Second); !waiting() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if !waiting() {
		t.Error("the second run did not wait for the lock")
	}
	close(release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.requests.Load(); n != 8 {
		t.Errorf("%d requests, want 8: SHA256SUMS and six artifacts, then SHA256SUMS", n)
	}
	if d := diffTrees(want, tree(t, h.root)); d != "" {
		t.Errorf("two runs at once differ from one run:\n%s", d)
	}
	noTemps(t, h.root)
}

// TestLockTimeout: a run that cannot get the lock in time exits with the
// holder named, having touched nothing; reset waits for the lock too.
func TestLockTimeout(t *testing.T) {
	shortBounds(t)
	lockWait = 200 * time.Millisecond
	srv := releaseServer(t, "r1")
	h := newFakeHost(t)
	if err := h.install(t, context.Background(), srv, nil); err != nil {
		t.Fatal(err)
	}
	before := tree(t, h.root)
	f, err := hostfs.New(h.root)
	if err != nil {
		t.Fatal(err)
	}
	held, _, err := hostfs.TryLock(f, LockPath)
	if err != nil || held == nil {
		t.Fatalf("TryLock: %v", err)
	}
	defer held.Release()
	held.SetNote("pid 4242: hybridnode join, since 2026-01-01T00:00:00Z")
	for name, run := range map[string]func() error{
		"install": func() error { return h.install(t, context.Background(), srv, nil) },
		"reset":   func() error { return Reset(context.Background(), h.node(t, srv.URL, nil), ResetOptions{Purge: true}) },
	} {
		start := time.Now()
		err := run()
		if ExitCode(err) != ExitPreflight || !strings.Contains(fmt.Sprint(err), "pid 4242: hybridnode join") || !strings.Contains(fmt.Sprint(err), LockPath) {
			t.Errorf("%s: exit %d: %v; want %d naming the holder", name, ExitCode(err), err, ExitPreflight)
		}
		if d := time.Since(start); d < lockWait || d > lockWait+time.Second {
			t.Errorf("%s waited %v, want about %v", name, d, lockWait)
		}
	}
	if d := diffTrees(before, tree(t, h.root)); d != "" {
		t.Errorf("a run without the lock changed the node:\n%s", d)
	}
	// A plan needs no lock.
	if _, err := Execute(context.Background(), h.node(t, srv.URL, nil), Phases(), ExecuteOptions{Join: true, DryRun: true}); err != nil {
		t.Errorf("dry run: %v", err)
	}
	held.Release()
	if err := h.install(t, context.Background(), srv, nil); err != nil {
		t.Errorf("after the holder left: %v", err)
	}
}

// TestInstallRemovesTemps: the temp files killed runs left (hybridnode's
// own, by name, in the directories it writes) are removed by the next run;
// nothing else is.
func TestInstallRemovesTemps(t *testing.T) {
	shortBounds(t)
	h := newFakeHost(t)
	junk := []string{
		"/usr/local/bin/" + hostfs.TempPrefix + "kubelet-123",
		"/usr/local/bin/" + hostfs.TempPrefix + "old-containerd-9",
		"/usr/local/sbin/.runc.tmp-2345",             // an older hybridnode's
		"/var/lib/hybridnode/.installed.json.tmp-77", // idem
		"/opt/cni/bin/.bridge.tmp-1",
		"/etc/" + hostfs.TempPrefix + "fstab-5",
		"/etc/containerd/" + hostfs.TempPrefix + "config.toml-5",
		"/lib/systemd/system/" + hostfs.TempPrefix + "kubelet.service-1",
	}
	mine := []string{"/usr/local/bin/.other.tmp-1", "/usr/local/bin/mytool", "/etc/.fstab.swp", "/srv/" + hostfs.TempPrefix + "x-1"}
	for _, p := range append(slices.Clone(junk), mine...) {
		h.write(t, p, "junk")
	}
	if err := h.install(t, context.Background(), releaseServer(t, "r1"), nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range junk {
		if h.exists(p) {
			t.Errorf("%s left", p)
		}
	}
	for _, p := range mine {
		if !h.exists(p) {
			t.Errorf("%s removed", p)
		}
	}
	if n := h.logs.FilterMessage("removed a temp file left by an interrupted run").Len(); n != len(junk) {
		t.Errorf("%d removals logged, want %d", n, len(junk))
	}
}

// hashCounter counts the files hashed through the FS.
type hashCounter struct {
	hostfs.FS
	n atomic.Int64
}

func (c *hashCounter) SHA256(path string) (string, error) {
	c.n.Add(1)
	return hostfs.SHA256File(c.FS, path)
}

// hashCounting is a wrap for h.install whose FS counts the files hashed;
// hashes is the count of the last run so wrapped.
func hashCounting() (wrap func(hostfs.FS) hostfs.FS, hashes func() int64) {
	var hc *hashCounter
	return func(f hostfs.FS) hostfs.FS { hc = &hashCounter{FS: f}; return hc }, func() int64 { return hc.n.Load() }
}

// TestInstallOneCopyOneHash: a cold install keeps no second copy of the
// artifacts (no staging directory, nothing in $TMPDIR), hashes nothing
// twice (the record's sha256s are those computed while streaming), a
// second run hashes nothing (the stat cache), and one without the cache
// hashes each installed file once.
func TestInstallOneCopyOneHash(t *testing.T) {
	shortBounds(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	srv := releaseServer(t, "r1")
	h := newFakeHost(t)
	wrap, hashes := hashCounting()
	if err := h.install(t, context.Background(), srv, wrap); err != nil {
		t.Fatal(err)
	}
	if hashes() != 0 {
		t.Errorf("a cold install hashed %d files; everything it needs was hashed while streaming", hashes())
	}
	if h.exists(hoststate.StagingDir) {
		t.Errorf("%s was created", hoststate.StagingDir)
	}
	if des, _ := os.ReadDir(tmp); len(des) != 0 {
		t.Errorf("files in $TMPDIR: %v", des)
	}
	rec, err := hoststate.ReadInstalled(hostfsAt(t, h.root))
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, a := range rec.Artifacts {
		for p, sum := range a.Files {
			files++
			data, _ := os.ReadFile(filepath.Join(h.root, p))
			if s := sha256.Sum256(data); hex.EncodeToString(s[:]) != sum {
				t.Errorf("%s: recorded %s", p, sum)
			}
		}
	}
	if files != 22 {
		t.Errorf("%d files recorded, want 22", files)
	}
	// A warm run trusts the stat cache: nothing hashed.
	if err := h.install(t, context.Background(), srv, wrap); err != nil {
		t.Fatal(err)
	}
	if hashes() != 0 {
		t.Errorf("the second run hashed %d files, want none (the stat cache)", hashes())
	}
	// Without the cache, each file once.
	if err := os.Remove(filepath.Join(h.root, hoststate.VerifiedPath)); err != nil {
		t.Fatal(err)
	}
	if err := h.install(t, context.Background(), srv, wrap); err != nil {
		t.Fatal(err)
	}
	if hashes() != int64(files) {
		t.Errorf("the run without the stat cache hashed %d files, want %d (each once)", hashes(), files)
	}
}

// TestStatCache: a file changed behind hybridnode's back is hashed again
// and reinstalled, even with its size and mtime put back (its ctime moved);
// a cache entry whose sha256 is not the record's counts for nothing; a
// cache that does not parse is no cache.
func TestStatCache(t *testing.T) {
	shortBounds(t)
	srv := releaseServer(t, "r1")
	h := newFakeHost(t)
	wrap, hashes := hashCounting()
	if err := h.install(t, context.Background(), srv, wrap); err != nil {
		t.Fatal(err)
	}
	kubelet := filepath.Join(h.root, "/usr/local/bin/kubelet")
	orig, _ := os.ReadFile(kubelet)
	fi, _ := os.Stat(kubelet)
	tampered := bytes.Clone(orig)
	tampered[0] ^= 0xff
	if err := os.WriteFile(kubelet, tampered, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(kubelet, fi.ModTime(), fi.ModTime())
	if err := h.install(t, context.Background(), srv, wrap); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(kubelet); !bytes.Equal(got, orig) {
		t.Error("a kubelet changed with its size and mtime kept was not reinstalled")
	}
	if hashes() != 1 {
		t.Errorf("hashed %d files, want 1 (the changed one)", hashes())
	}
	// An entry that matches the stat but not the record: hashed.
	v, err := hoststate.ReadVerified(hostfsAt(t, h.root))
	if err != nil || v == nil {
		t.Fatal(v, err)
	}
	e := v.Files["/usr/local/bin/kubelet"]
	e.SHA256 = strings.Repeat("0", 64)
	v.Files["/usr/local/bin/kubelet"] = e
	data, _ := v.Encode()
	h.write(t, hoststate.VerifiedPath, string(data))
	if err := h.install(t, context.Background(), srv, wrap); err != nil {
		t.Fatal(err)
	}
	if hashes() != 1 {
		t.Errorf("an entry not the record's: hashed %d files, want 1", hashes())
	}
	// A cache that does not parse: everything hashed, a warning, rewritten.
	h.write(t, hoststate.VerifiedPath, "{")
	if err := h.install(t, context.Background(), srv, wrap); err != nil {
		t.Fatal(err)
	}
	if hashes() != 22 {
		t.Errorf("a broken cache: hashed %d files, want 22", hashes())
	}
	if v, err := hoststate.ReadVerified(hostfsAt(t, h.root)); err != nil || len(v.Files) != 22 {
		t.Errorf("the cache after a broken one: %v %v", v, err)
	}
}

func hostfsAt(t *testing.T, root string) hostfs.FS {
	t.Helper()
	f, err := hostfs.New(root)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestInstallUnchangedFilesStay: a release whose containerd tarball holds
// the same ctr as before replaces only what changed, and restarts
// containerd once.
func TestInstallUnchangedFilesStay(t *testing.T) {
	shortBounds(t)
	h := newFakeHost(t)
	if err := h.install(t, context.Background(), releaseServer(t, "r1"), nil); err != nil {
		t.Fatal(err)
	}
	ctr, _ := os.Stat(filepath.Join(h.root, "/usr/local/bin/ctr"))
	srv := releaseServer(t, "r1")
	srv.files["containerd/v2.2.0/containerd-2.2.0-linux-amd64.tar.gz"] = tarGz(t, map[string]string{
		"bin/containerd": "containerd r1b", "bin/containerd-shim-runc-v2": "shim r1", "bin/ctr": "ctr r1"})
	srv.resum()
	var counter *hostfstest.Counter
	if err := h.install(t, context.Background(), srv, func(f hostfs.FS) hostfs.FS { counter = hostfstest.Counting(f); return counter }); err != nil {
		t.Fatal(err)
	}
	w := counter.Writes()
	delete(w, hoststate.ReportPath)
	if want := map[string]int{"/usr/local/bin/containerd": 1, hoststate.InstalledPath: 1, hoststate.VerifiedPath: 1}; !maps.Equal(w, want) {
		t.Errorf("writes %v, want %v", w, want)
	}
	if after, _ := os.Stat(filepath.Join(h.root, "/usr/local/bin/ctr")); !os.SameFile(ctr, after) {
		t.Error("an unchanged ctr was rewritten")
	}
	if h.sd.Restarts(hoststate.ContainerdUnit) != 1 {
		t.Errorf("containerd restarts %d, want 1", h.sd.Restarts(hoststate.ContainerdUnit))
	}
}

// TestDryRunStaysOffline: a plan with the lock held by another run still
// works, downloads nothing and lists the downloads.
func TestDryRunStaysOffline(t *testing.T) {
	shortBounds(t)
	srv := releaseServer(t, "r1")
	h := newFakeHost(t)
	l, _, _ := hostfs.TryLock(hostfsAt(t, h.root), LockPath)
	defer l.Release()
	n := h.nodeEnv(t, srv.URL, withCNI, nil)
	if _, err := Execute(context.Background(), n, InstallPhases(), ExecuteOptions{DryRun: true}); err != nil {
		t.Fatal(err)
	}
	var downloads int
	for _, c := range n.Recorder.Changes() {
		if c.Op == hostfs.OpDownload {
			downloads++
		}
	}
	if downloads != 6 || srv.requests.Load() != 0 {
		t.Errorf("%d downloads planned, %d requests made; want 6 and 0", downloads, srv.requests.Load())
	}
}
