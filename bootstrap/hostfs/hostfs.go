// Package hostfs is the one seam for host file access. Every path handed to
// it is an absolute host path ("/etc/x"); implementations join it under a
// root, resolving symlinks as if the root were "/", never escaping it.
//
// A write never follows a symlink at the path it writes (the destination):
// WriteFile, WriteStream and Stage/CommitAll replace the link itself, by
// the same atomic rename that replaces a file, and leave its target as it
// was; symlinks in the path's parent directories are followed (within the
// root). Why replace rather than refuse: every path hybridnode writes is
// its own (bootstrap.hostFiles), so a link there, left by another installer
// (/usr/local/bin/runc -> /usr/bin/runc) or planted, names a file hybridnode
// never meant to write; replacing the link writes only where the caller
// asked, keeps the join working on such hosts, and reset removes what it
// wrote. Following it would let whoever made the link choose which file
// hybridnode overwrites and chmods (0755 for a binary) as root.
package hostfs

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// FS is host file access under a root.
type FS interface {
	// Root is the directory host paths are joined under ("/" for the live host).
	Root() string
	// ReadFile returns the content of path; a missing file satisfies errors.Is(err, fs.ErrNotExist).
	ReadFile(path string) ([]byte, error)
	// Stat follows symlinks (within the root).
	Stat(path string) (fs.FileInfo, error)
	// Lstat does not follow a final symlink.
	Lstat(path string) (fs.FileInfo, error)
	// ReadDir lists a directory, sorted by name.
	ReadDir(path string) ([]fs.DirEntry, error)
	// WriteFile writes atomically (temp file in the same directory, named
	// TempPrefix..., fsync, chmod, rename, fsync dir), creating parent dirs
	// 0755, only when content or mode differ from what is there. A symlink
	// at path is replaced, never followed (see the package comment).
	// changed reports whether anything was written.
	WriteFile(path string, data []byte, mode fs.FileMode) (changed bool, err error)
	// WriteStream streams r to a temp file in the target directory while
	// hashing it. If wantSHA256 != "" and the hash differs it removes the temp
	// file, leaves any existing file untouched and returns an error wrapping
	// ErrChecksum. If the existing file already has the same sha256 and mode,
	// nothing is written. A symlink at path is replaced, never followed. It
	// returns the hex sha256 of r.
	WriteStream(path string, r io.Reader, mode fs.FileMode, wantSHA256 string) (sha string, changed bool, err error)
	// Remove removes a file, symlink or empty directory; missing is not an error.
	Remove(path string) (changed bool, err error)
	// Symlink makes path a symlink to target (stored verbatim), creating parent
	// dirs 0755; a differing link or file is replaced atomically.
	Symlink(target, path string) (changed bool, err error)
	// MkdirAll creates path and its parents; path ends up with mode.
	MkdirAll(path string, mode fs.FileMode) (changed bool, err error)

	// Stage creates a file that will replace path: a temp file in path's
	// directory (created 0755 as needed) named TempName(path), hashed as it
	// is written. Nothing is visible at path until CommitAll. A symlink at
	// path is replaced by the commit, never followed.
	Stage(path string, mode fs.FileMode) (StagedFile, error)
	// CommitAll renames staged files (of this FS) into place, in order,
	// then fsyncs their directories. It is all or nothing: when a rename
	// fails the files already renamed are put back as they were (the old
	// file is kept under a temp name until the end), every staged file is
	// discarded and the error names the path. It does not compare contents:
	// leave unchanged files out (see Unchanged).
	CommitAll(files []StagedFile) error
	// RemoveTemps removes, in dir (not below it), the regular files and
	// symlinks whose names start with TempPrefix, and those named
	// ".<name>.tmp-*" for a name in legacy (hybridnode before TempPrefix).
	// A missing dir is not an error. It returns the host paths removed.
	RemoveTemps(dir string, legacy ...string) ([]string, error)
}

// StagedFile is a file written beside its final path and renamed into
// place by CommitAll. It is not safe for concurrent use.
type StagedFile interface {
	io.Writer
	// Path is the final host path.
	Path() string
	// Mode is the mode the file gets.
	Mode() fs.FileMode
	// Size and SHA256 describe what was written so far.
	Size() int64
	SHA256() string
	// Close makes the content final (fsync, chmod, close); CommitAll calls
	// it too. Idempotent.
	Close() error
	// Discard removes the temp file; idempotent, and a no-op once committed.
	Discard() error
}

// TempPrefix starts the name of every temp file hostfs creates, so that
// one left by a killed run is recognisable (RemoveTemps).
const TempPrefix = ".hybridnode-tmp-"

// IsTemp reports whether a file name is one of hostfs's temp files.
func IsTemp(name string) bool { return strings.HasPrefix(name, TempPrefix) }

// tempPattern is the os.CreateTemp pattern of a temp file for base.
func tempPattern(base string) string {
	if len(base) > 64 { // stay far below NAME_MAX
		base = base[:64]
	}
	return TempPrefix + base + "-*"
}

// Unchanged reports whether the file at s.Path() already has s's content
// and mode, so that committing s would change nothing. known, when not
// empty, is that file's sha256 as already computed; else a file of the
// same size and mode is hashed. A symlink at s.Path() is never unchanged:
// the commit replaces it.
func Unchanged(f FS, s StagedFile, known string) (bool, error) {
	fi, err := f.Lstat(s.Path())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case !fi.Mode().IsRegular() || fi.Size() != s.Size() || fi.Mode()&modeMask != s.Mode()&modeMask:
		return false, nil
	}
	if known == "" {
		if known, err = SHA256File(f, s.Path()); err != nil {
			return false, err
		}
	}
	return strings.EqualFold(known, s.SHA256()), nil
}

// Readlinker is implemented by the FS implementations of this package; use Readlink.
type Readlinker interface {
	Readlink(path string) (string, error)
}

// Hasher is implemented by the FS implementations of this package to hash a
// file without loading it into memory; use SHA256File.
type Hasher interface {
	SHA256(path string) (string, error)
}

// ErrChecksum is wrapped by every sha256 mismatch.
var ErrChecksum = errors.New("checksum mismatch")

// modeMask is the part of a mode WriteFile and friends compare and set.
const modeMask = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// SHA256File returns the hex sha256 of the file at path.
func SHA256File(f FS, path string) (string, error) {
	if h, ok := f.(Hasher); ok {
		return h.SHA256(path)
	}
	data, err := f.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// Readlink returns the target of the symlink at path.
func Readlink(f FS, path string) (string, error) {
	if r, ok := f.(Readlinker); ok {
		return r.Readlink(path)
	}
	return "", fmt.Errorf("hostfs: readlink %s: not supported by %T", path, f)
}

// cleanPath rejects relative paths and cleans absolute ones.
func cleanPath(path string) (string, error) {
	if !strings.HasPrefix(path, "/") {
		return "", fmt.Errorf("hostfs: %q is not an absolute host path", path)
	}
	return filepath.Clean(path), nil
}

func checksumError(path, want, got string) error {
	return fmt.Errorf("hostfs: write %s: %w: want sha256 %s, got %s", path, ErrChecksum, want, got)
}

type osFS struct{ root string }

// New returns the real implementation rooted at root, an existing absolute
// directory ("/" means the live host). The root itself is resolved with
// filepath.EvalSymlinks.
func New(root string) (FS, error) {
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("hostfs: root %q is not an absolute path", root)
	}
	r, err := filepath.EvalSymlinks(filepath.Clean(root))
	if err != nil {
		return nil, fmt.Errorf("hostfs: root %s: %w", root, err)
	}
	fi, err := os.Stat(r)
	if err != nil {
		return nil, fmt.Errorf("hostfs: root %s: %w", root, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("hostfs: root %s is not a directory", root)
	}
	return &osFS{root: r}, nil
}

func (f *osFS) Root() string { return f.root }

// fail names the host path (and a non-"/" root) and keeps the cause for errors.Is.
func (f *osFS) fail(op, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if f.root != "/" {
		return fmt.Errorf("hostfs: %s %s (root %s): %w", op, path, f.root, err)
	}
	return fmt.Errorf("hostfs: %s %s: %w", op, path, err)
}

// resolve maps a host path to a real path, following every symlink within the root.
func (f *osFS) resolve(path string) (string, error) {
	p, err := cleanPath(path)
	if err != nil {
		return "", err
	}
	return securejoin.SecureJoin(f.root, p)
}

// resolveParent follows symlinks in the parent only, keeping the last element.
func (f *osFS) resolveParent(path string) (string, error) {
	p, err := cleanPath(path)
	if err != nil {
		return "", err
	}
	if p == "/" {
		return f.root, nil
	}
	dir, err := securejoin.SecureJoin(f.root, filepath.Dir(p))
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.Base(p)), nil
}

func (f *osFS) ReadFile(path string) ([]byte, error) {
	p, err := f.resolve(path)
	if err == nil {
		var data []byte
		if data, err = os.ReadFile(p); err == nil {
			return data, nil
		}
	}
	return nil, f.fail("read", path, err)
}

func (f *osFS) Stat(path string) (fs.FileInfo, error) {
	p, err := f.resolve(path)
	if err == nil {
		var fi fs.FileInfo
		if fi, err = os.Stat(p); err == nil {
			return fi, nil
		}
	}
	return nil, f.fail("stat", path, err)
}

func (f *osFS) Lstat(path string) (fs.FileInfo, error) {
	p, err := f.resolveParent(path)
	if err == nil {
		var fi fs.FileInfo
		if fi, err = os.Lstat(p); err == nil {
			return fi, nil
		}
	}
	return nil, f.fail("lstat", path, err)
}

func (f *osFS) ReadDir(path string) ([]fs.DirEntry, error) {
	p, err := f.resolve(path)
	if err == nil {
		var des []fs.DirEntry
		if des, err = os.ReadDir(p); err == nil {
			return des, nil
		}
	}
	return nil, f.fail("readdir", path, err)
}

func (f *osFS) Readlink(path string) (string, error) {
	p, err := f.resolveParent(path)
	if err == nil {
		var t string
		if t, err = os.Readlink(p); err == nil {
			return t, nil
		}
	}
	return "", f.fail("readlink", path, err)
}

func (f *osFS) SHA256(path string) (string, error) {
	p, err := f.resolve(path)
	if err == nil {
		var sum string
		if sum, err = fileSHA256(p); err == nil {
			return sum, nil
		}
	}
	return "", f.fail("hash", path, err)
}

func fileSHA256(p string) (string, error) {
	fh, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// resolveDest maps the host path of a write's destination to a real path:
// the parents resolved within the root, the last element kept, so that a
// symlink there is what the rename replaces, never what it points to.
func (f *osFS) resolveDest(path string) (string, error) { return f.resolveParent(path) }

// checkDest fails when something the rename of a write must not replace is
// at the real destination p: a directory, a device, a socket, a FIFO. A
// regular file, a symlink (replaced, never followed) or nothing is fine.
func checkDest(p string) error {
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.Mode().IsRegular() || fi.Mode()&fs.ModeSymlink != 0:
		return nil
	}
	return fmt.Errorf("exists and is not a regular file (%s)", fi.Mode().Type())
}

// openDest opens the regular file at the real destination p, for reading
// and chmodding it without following a symlink there (O_NOFOLLOW, also
// against one swapped in after checkDest). It returns nil when there is
// none, or a symlink: the write then renames its file over the path.
func openDest(p string) (*os.File, fs.FileInfo, error) {
	if err := checkDest(p); err != nil {
		return nil, nil, err
	}
	fh, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ELOOP):
		return nil, nil, nil
	case err != nil:
		return nil, nil, err
	}
	fi, err := fh.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("exists and is not a regular file (%s)", fi.Mode().Type())
	}
	if err != nil {
		fh.Close()
		return nil, nil, err
	}
	return fh, fi, nil
}

func (f *osFS) WriteFile(path string, data []byte, mode fs.FileMode) (bool, error) {
	changed, err := f.writeFile(path, data, mode)
	if err != nil {
		return false, f.fail("write", path, err)
	}
	return changed, nil
}

func (f *osFS) writeFile(path string, data []byte, mode fs.FileMode) (bool, error) {
	p, err := f.resolveDest(path)
	if err != nil {
		return false, err
	}
	fh, fi, err := openDest(p)
	if err != nil {
		return false, err
	}
	if fh != nil {
		defer fh.Close()
	}
	if fi != nil && fi.Size() == int64(len(data)) {
		old, err := io.ReadAll(fh)
		if err != nil {
			return false, err
		}
		if bytes.Equal(old, data) {
			if fi.Mode()&modeMask == mode&modeMask {
				return false, nil
			}
			return true, fh.Chmod(mode & modeMask)
		}
	}
	tmp, _, err := writeTemp(p, bytes.NewReader(data), mode)
	if err != nil {
		return false, err
	}
	return true, commit(tmp, p)
}

func (f *osFS) WriteStream(path string, r io.Reader, mode fs.FileMode, want string) (string, bool, error) {
	sum, changed, err := f.writeStream(path, r, mode, want)
	if err != nil && !errors.Is(err, ErrChecksum) {
		err = f.fail("write", path, err)
	}
	return sum, changed, err
}

func (f *osFS) writeStream(path string, r io.Reader, mode fs.FileMode, want string) (string, bool, error) {
	p, err := f.resolveDest(path)
	if err != nil {
		return "", false, err
	}
	fh, fi, err := openDest(p)
	if err != nil {
		return "", false, err
	}
	if fh != nil {
		defer fh.Close()
	}
	tmp, sum, err := writeTemp(p, r, mode)
	if err != nil {
		return "", false, err
	}
	if want != "" && !strings.EqualFold(sum, want) {
		os.Remove(tmp)
		return sum, false, checksumError(path, want, sum)
	}
	if fi != nil {
		h := sha256.New()
		if _, err := io.Copy(h, fh); err == nil && hex.EncodeToString(h.Sum(nil)) == sum {
			os.Remove(tmp)
			if fi.Mode()&modeMask == mode&modeMask {
				return sum, false, nil
			}
			return sum, true, fh.Chmod(mode & modeMask)
		}
	}
	return sum, true, commit(tmp, p)
}

// writeTemp streams r into a new temp file beside p (creating p's parents
// 0755), fsyncs and chmods it, and returns its name and hex sha256.
func writeTemp(p string, r io.Reader, mode fs.FileMode) (string, string, error) {
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	t, err := os.CreateTemp(dir, tempPattern(filepath.Base(p)))
	if err != nil {
		return "", "", err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(t, h), r)
	if err == nil {
		err = t.Sync()
	}
	if err == nil {
		err = t.Chmod(mode & modeMask)
	}
	if cerr := t.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(t.Name())
		return "", "", err
	}
	return t.Name(), hex.EncodeToString(h.Sum(nil)), nil
}

// commit renames tmp over p and fsyncs the directory.
func commit(tmp, p string) error {
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(p))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (f *osFS) Remove(path string) (bool, error) {
	p, err := f.resolveParent(path)
	if err == nil && p == f.root {
		err = errors.New("refusing to remove the root")
	}
	if err == nil {
		err = os.Remove(p)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
	}
	if err != nil {
		return false, f.fail("remove", path, err)
	}
	return true, nil
}

func (f *osFS) Symlink(target, path string) (bool, error) {
	changed, err := f.symlink(target, path)
	if err != nil {
		return false, f.fail("symlink", path, err)
	}
	return changed, nil
}

func (f *osFS) symlink(target, path string) (bool, error) {
	p, err := f.resolveParent(path)
	if err != nil {
		return false, err
	}
	if fi, err := os.Lstat(p); err == nil {
		if fi.Mode()&fs.ModeSymlink != 0 {
			if cur, err := os.Readlink(p); err == nil && cur == target {
				return false, nil
			}
		} else if fi.IsDir() {
			return false, errors.New("exists and is a directory")
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	tmp := filepath.Join(dir, strings.TrimSuffix(tempPattern(filepath.Base(p)), "*")+rand.Text())
	if err := os.Symlink(target, tmp); err != nil {
		return false, err
	}
	return true, commit(tmp, p)
}

func (f *osFS) MkdirAll(path string, mode fs.FileMode) (bool, error) {
	p, err := f.resolve(path)
	if err == nil {
		var fi fs.FileInfo
		fi, err = os.Stat(p)
		switch {
		case err == nil && fi.IsDir():
			return false, nil
		case err == nil:
			err = errors.New("exists and is not a directory")
		case errors.Is(err, fs.ErrNotExist):
			if err = os.MkdirAll(p, mode); err == nil {
				err = os.Chmod(p, mode&modeMask)
			}
		}
	}
	if err != nil {
		return false, f.fail("mkdir", path, err)
	}
	return true, nil
}
