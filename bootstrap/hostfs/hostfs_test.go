package hostfs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func hexsum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// newRoot returns a fresh root directory and the FS over it.
func newRoot(t *testing.T) (string, FS) {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, f
}

func put(t *testing.T, root, path, content string, mode fs.FileMode) {
	t.Helper()
	p := filepath.Join(root, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// noTemps fails when a temp file is left in dir.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if strings.Contains(de.Name(), ".tmp-") || IsTemp(de.Name()) {
			t.Errorf("temp file left behind: %s", filepath.Join(dir, de.Name()))
		}
	}
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	real, _ := filepath.EvalSymlinks(dir)
	for _, tc := range []struct {
		name, root, wantRoot string
		wantErr              bool
	}{
		{name: "relative", root: "some/dir", wantErr: true},
		{name: "missing", root: filepath.Join(dir, "missing"), wantErr: true},
		{name: "file", root: file, wantErr: true},
		{name: "dir", root: dir, wantRoot: real},
		{name: "symlinked dir is resolved", root: link, wantRoot: real},
		{name: "live host", root: "/", wantRoot: "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := New(tc.root)
			if (err != nil) != tc.wantErr {
				t.Fatalf("New(%q) err = %v, wantErr %v", tc.root, err, tc.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tc.root) {
					t.Errorf("error %q does not name %s", err, tc.root)
				}
				return
			}
			if f.Root() != tc.wantRoot {
				t.Errorf("Root() = %q, want %q", f.Root(), tc.wantRoot)
			}
		})
	}
}

func TestRelativePathsRejected(t *testing.T) {
	root, f := newRoot(t)
	ops := map[string]func(string) error{
		"ReadFile":    func(p string) error { _, err := f.ReadFile(p); return err },
		"Stat":        func(p string) error { _, err := f.Stat(p); return err },
		"Lstat":       func(p string) error { _, err := f.Lstat(p); return err },
		"ReadDir":     func(p string) error { _, err := f.ReadDir(p); return err },
		"WriteFile":   func(p string) error { _, err := f.WriteFile(p, []byte("x"), 0o644); return err },
		"WriteStream": func(p string) error { _, _, err := f.WriteStream(p, strings.NewReader("x"), 0o644, ""); return err },
		"Remove":      func(p string) error { _, err := f.Remove(p); return err },
		"Symlink":     func(p string) error { _, err := f.Symlink("/x", p); return err },
		"MkdirAll":    func(p string) error { _, err := f.MkdirAll(p, 0o755); return err },
	}
	for name, op := range ops {
		for _, p := range []string{"etc/x", "", "./x"} {
			t.Run(name+"/"+p, func(t *testing.T) {
				if err := op(p); err == nil || !strings.Contains(err.Error(), "not an absolute host path") {
					t.Errorf("%s(%q) err = %v, want rejection", name, p, err)
				}
			})
		}
	}
	if des, _ := os.ReadDir(root); len(des) != 0 {
		t.Errorf("rejected calls created %d entries in the root", len(des))
	}
}

func TestConfinement(t *testing.T) {
	root, f := newRoot(t)
	outside, _ := filepath.EvalSymlinks(t.TempDir())
	for link, target := range map[string]string{
		"etc/abs":     "/target",
		"etc/up":      "../../../../../..",
		"etc/outside": outside,
	} {
		if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ name, path, wantReal string }{
		{"absolute symlink is relative to the root", "/etc/abs/x", "target/x"},
		{"relative symlink escape is clamped", "/etc/up/y", "y"},
		{"symlink to an outside path stays inside", "/etc/outside/z", filepath.Join(outside, "z")},
		{"dot-dot is clamped", "/../../../w", "w"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.WriteFile(tc.path, []byte(tc.name), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(root, tc.wantReal))
			if err != nil || string(got) != tc.name {
				t.Fatalf("want %q at %s under the root, got %q, %v", tc.name, tc.wantReal, got, err)
			}
			back, err := f.ReadFile(tc.path)
			if err != nil || string(back) != tc.name {
				t.Errorf("ReadFile(%s) = %q, %v", tc.path, back, err)
			}
		})
	}
	if des, _ := os.ReadDir(outside); len(des) != 0 {
		t.Errorf("a write escaped the root into %s", outside)
	}
	// Lstat and Remove act on the link itself, Stat on its target.
	fi, err := f.Lstat("/etc/abs")
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat(/etc/abs) = %v, %v; want a symlink", fi, err)
	}
	if fi, err := f.Stat("/etc/abs"); err != nil || !fi.IsDir() {
		t.Errorf("Stat(/etc/abs) = %v, %v; want the target dir", fi, err)
	}
	if tgt, err := Readlink(f, "/etc/abs"); err != nil || tgt != "/target" {
		t.Errorf("Readlink(/etc/abs) = %q, %v", tgt, err)
	}
}

func TestReadErrors(t *testing.T) {
	_, f := newRoot(t)
	for name, op := range map[string]func() error{
		"ReadFile": func() error { _, err := f.ReadFile("/etc/missing"); return err },
		"Stat":     func() error { _, err := f.Stat("/etc/missing"); return err },
		"Lstat":    func() error { _, err := f.Lstat("/etc/missing"); return err },
		"ReadDir":  func() error { _, err := f.ReadDir("/etc/missing"); return err },
		"SHA256":   func() error { _, err := SHA256File(f, "/etc/missing"); return err },
		"Readlink": func() error { _, err := Readlink(f, "/etc/missing"); return err },
	} {
		t.Run(name, func(t *testing.T) {
			err := op()
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("err = %v, want fs.ErrNotExist", err)
			}
			if err != nil && !strings.Contains(err.Error(), "/etc/missing") {
				t.Errorf("error %q does not name the path", err)
			}
		})
	}
}

func TestWriteFile(t *testing.T) {
	for _, tc := range []struct {
		name        string
		before      *string // existing content at /etc/app/conf
		beforeMode  fs.FileMode
		beforeDir   bool
		data        string
		mode        fs.FileMode
		wantChanged bool
		wantErr     bool
		wantRewrite bool // a new inode is expected
	}{
		{name: "create with parents", data: "a\n", mode: 0o644, wantChanged: true},
		{name: "same content and mode", before: ptr("a\n"), beforeMode: 0o644, data: "a\n", mode: 0o644},
		{name: "content differs", before: ptr("a\n"), beforeMode: 0o644, data: "b\n", mode: 0o644, wantChanged: true, wantRewrite: true},
		{name: "same size, other content", before: ptr("a\n"), beforeMode: 0o644, data: "c\n", mode: 0o644, wantChanged: true, wantRewrite: true},
		{name: "mode differs only", before: ptr("a\n"), beforeMode: 0o644, data: "a\n", mode: 0o600, wantChanged: true},
		{name: "empty content", before: ptr("a\n"), beforeMode: 0o644, data: "", mode: 0o644, wantChanged: true, wantRewrite: true},
		{name: "directory in the way", beforeDir: true, data: "a", mode: 0o644, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, f := newRoot(t)
			real := filepath.Join(root, "etc/app/conf")
			if tc.before != nil {
				put(t, root, "etc/app/conf", *tc.before, tc.beforeMode)
			}
			if tc.beforeDir {
				if err := os.MkdirAll(real, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := os.Stat(real)
			changed, err := f.WriteFile("/etc/app/conf", []byte(tc.data), tc.mode)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "/etc/app/conf") {
					t.Errorf("error %q does not name the path", err)
				}
				return
			}
			if changed != tc.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tc.wantChanged)
			}
			got, err := os.ReadFile(real)
			if err != nil || string(got) != tc.data {
				t.Fatalf("content = %q, %v; want %q", got, err, tc.data)
			}
			after, _ := os.Stat(real)
			if after.Mode().Perm() != tc.mode {
				t.Errorf("mode = %v, want %v", after.Mode().Perm(), tc.mode)
			}
			if before != nil && os.SameFile(before, after) == tc.wantRewrite {
				t.Errorf("rewritten = %v, want %v", !os.SameFile(before, after), tc.wantRewrite)
			}
			if fi, _ := os.Stat(filepath.Dir(real)); fi.Mode().Perm() != 0o755 {
				t.Errorf("parent mode = %v, want 0755", fi.Mode().Perm())
			}
			noTemps(t, filepath.Dir(real))
		})
	}
}

func ptr(s string) *string { return &s }

func TestWriteStream(t *testing.T) {
	const path = "/usr/local/bin/tool"
	newData, oldData := []byte("new binary\x00"), []byte("old binary\x00")
	for _, tc := range []struct {
		name        string
		before      []byte
		beforeMode  fs.FileMode
		mode        fs.FileMode
		want        string
		wantChanged bool
		wantSumErr  bool
		wantContent []byte
	}{
		{name: "create unchecked", mode: 0o755, wantChanged: true, wantContent: newData},
		{name: "create checked", mode: 0o755, want: hexsum(newData), wantChanged: true, wantContent: newData},
		{name: "uppercase want", mode: 0o755, want: strings.ToUpper(hexsum(newData)), wantChanged: true, wantContent: newData},
		{name: "wrong checksum, nothing there", mode: 0o755, want: hexsum(oldData), wantSumErr: true},
		{name: "wrong checksum keeps old file", before: oldData, beforeMode: 0o755, mode: 0o755, want: hexsum(oldData), wantSumErr: true, wantContent: oldData},
		{name: "same sha and mode", before: newData, beforeMode: 0o755, mode: 0o755, want: hexsum(newData), wantContent: newData},
		{name: "same sha, mode differs", before: newData, beforeMode: 0o644, mode: 0o755, wantChanged: true, wantContent: newData},
		{name: "replace", before: oldData, beforeMode: 0o755, mode: 0o755, want: hexsum(newData), wantChanged: true, wantContent: newData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, f := newRoot(t)
			real := filepath.Join(root, path)
			if tc.before != nil {
				put(t, root, path, string(tc.before), tc.beforeMode)
			}
			sum, changed, err := f.WriteStream(path, bytes.NewReader(newData), tc.mode, tc.want)
			if sum != hexsum(newData) {
				t.Errorf("sha = %s, want %s", sum, hexsum(newData))
			}
			if tc.wantSumErr {
				if !errors.Is(err, ErrChecksum) {
					t.Fatalf("err = %v, want ErrChecksum", err)
				}
				for _, s := range []string{path, tc.want, hexsum(newData)} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not name %s", err, s)
					}
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if changed != tc.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tc.wantChanged)
			}
			got, err := os.ReadFile(real)
			if tc.wantContent == nil {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("file exists after a failed write: %q, %v", got, err)
				}
			} else if !bytes.Equal(got, tc.wantContent) {
				t.Errorf("content = %q, want %q", got, tc.wantContent)
			} else if fi, _ := os.Stat(real); tc.wantChanged && fi.Mode().Perm() != tc.mode {
				t.Errorf("mode = %v, want %v", fi.Mode().Perm(), tc.mode)
			}
			noTemps(t, filepath.Dir(real))
		})
	}
}

func TestRemove(t *testing.T) {
	for _, tc := range []struct {
		name        string
		setup       func(t *testing.T, root string)
		path        string
		wantChanged bool
		wantErr     bool
		wantKept    string // must still exist afterwards
	}{
		{name: "missing", path: "/etc/none"},
		{name: "missing parent", path: "/no/such/dir/file"},
		{name: "file", setup: func(t *testing.T, r string) { put(t, r, "etc/f", "x", 0o644) }, path: "/etc/f", wantChanged: true},
		{name: "symlink, not its target", setup: func(t *testing.T, r string) {
			put(t, r, "etc/target", "x", 0o644)
			if err := os.Symlink("/etc/target", filepath.Join(r, "etc/link")); err != nil {
				t.Fatal(err)
			}
		}, path: "/etc/link", wantChanged: true, wantKept: "etc/target"},
		{name: "non-empty dir", setup: func(t *testing.T, r string) { put(t, r, "etc/d/f", "x", 0o644) }, path: "/etc/d", wantErr: true, wantKept: "etc/d/f"},
		{name: "root", path: "/", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, f := newRoot(t)
			if tc.setup != nil {
				tc.setup(t, root)
			}
			changed, err := f.Remove(tc.path)
			if (err != nil) != tc.wantErr || changed != tc.wantChanged {
				t.Fatalf("Remove(%s) = %v, %v; want %v, err %v", tc.path, changed, err, tc.wantChanged, tc.wantErr)
			}
			if !tc.wantErr {
				if _, err := os.Lstat(filepath.Join(root, tc.path)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s still exists", tc.path)
				}
			}
			if tc.wantKept != "" {
				if _, err := os.Stat(filepath.Join(root, tc.wantKept)); err != nil {
					t.Errorf("%s was removed: %v", tc.wantKept, err)
				}
			}
		})
	}
}

func TestSymlink(t *testing.T) {
	const path = "/etc/systemd/system/multi-user.target.wants/kubelet.service"
	const target = "/lib/systemd/system/kubelet.service"
	for _, tc := range []struct {
		name        string
		setup       func(t *testing.T, real string)
		wantChanged bool
		wantErr     bool
	}{
		{name: "create with parents", wantChanged: true},
		{name: "same link", setup: func(t *testing.T, real string) { link(t, target, real) }},
		{name: "differing link", setup: func(t *testing.T, real string) { link(t, "/elsewhere", real) }, wantChanged: true},
		{name: "regular file replaced", setup: func(t *testing.T, real string) {
			if err := os.WriteFile(real, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, wantChanged: true},
		{name: "directory in the way", setup: func(t *testing.T, real string) {
			if err := os.Mkdir(real, 0o755); err != nil {
				t.Fatal(err)
			}
		}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, f := newRoot(t)
			real := filepath.Join(root, path)
			if tc.setup != nil {
				if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
					t.Fatal(err)
				}
				tc.setup(t, real)
			}
			changed, err := f.Symlink(target, path)
			if (err != nil) != tc.wantErr || changed != tc.wantChanged {
				t.Fatalf("Symlink = %v, %v; want %v, err %v", changed, err, tc.wantChanged, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if got, err := os.Readlink(real); err != nil || got != target {
				t.Errorf("link = %q, %v; want %q", got, err, target)
			}
			noTemps(t, filepath.Dir(real))
		})
	}
}

func link(t *testing.T, target, real string) {
	t.Helper()
	if err := os.Symlink(target, real); err != nil {
		t.Fatal(err)
	}
}

func TestMkdirAll(t *testing.T) {
	for _, tc := range []struct {
		name        string
		setup       func(t *testing.T, root string)
		mode        fs.FileMode
		wantChanged bool
		wantErr     bool
	}{
		{name: "create", mode: 0o700, wantChanged: true},
		{name: "exists", setup: func(t *testing.T, r string) {
			if err := os.MkdirAll(filepath.Join(r, "opt/cni/bin"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, mode: 0o755},
		{name: "file in the way", setup: func(t *testing.T, r string) { put(t, r, "opt/cni/bin", "x", 0o644) }, mode: 0o755, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, f := newRoot(t)
			if tc.setup != nil {
				tc.setup(t, root)
			}
			changed, err := f.MkdirAll("/opt/cni/bin", tc.mode)
			if (err != nil) != tc.wantErr || changed != tc.wantChanged {
				t.Fatalf("MkdirAll = %v, %v; want %v, err %v", changed, err, tc.wantChanged, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if fi, err := os.Stat(filepath.Join(root, "opt/cni/bin")); err != nil || !fi.IsDir() || fi.Mode().Perm() != tc.mode {
				t.Errorf("dir = %v, %v; want mode %v", fi, err, tc.mode)
			}
		})
	}
}

func TestSHA256File(t *testing.T) {
	root, f := newRoot(t)
	for _, content := range []string{"", "hello\n", strings.Repeat("x", 1<<20)} {
		put(t, root, "etc/f", content, 0o644)
		got, err := SHA256File(f, "/etc/f")
		if err != nil || got != hexsum([]byte(content)) {
			t.Errorf("SHA256File(%d bytes) = %s, %v; want %s", len(content), got, err, hexsum([]byte(content)))
		}
	}
}
