package hostfs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pmezard/go-difflib/difflib"
)

// maxDiff is the largest content shown as a diff (and retained in dry-run).
const maxDiff = 256 << 10

type kind uint8

const (
	kFile kind = iota + 1
	kDir
	kLink
	kGone
)

// node is the planned state of one path.
type node struct {
	kind   kind
	data   []byte // file content, never nil when retained; nil when larger than maxDiff (only hashed)
	size   int64
	sum    string
	mode   fs.FileMode
	target string
}

type dryFS struct {
	base  FS
	rec   *Recorder
	mu    sync.Mutex
	nodes map[string]*node
}

// DryRun returns an FS whose reads pass through to base and whose writes are
// not performed but recorded in rec as Changes (none when nothing would
// change). Later reads see the planned state, so later phases see their own
// writes. WriteStream still consumes and hashes r.
func DryRun(base FS, rec *Recorder) FS {
	return &dryFS{base: base, rec: rec, nodes: map[string]*node{}}
}

func (d *dryFS) Root() string { return d.base.Root() }

func notExist(op, path string) error {
	return fmt.Errorf("hostfs: %s %s (dry-run): %w", op, path, fs.ErrNotExist)
}

// follow resolves planned symlinks at the end of p; it returns the path
// reached and its node (nil when the base decides).
func (d *dryFS) follow(p string) (string, *node) {
	for range 40 {
		n := d.nodes[p]
		if n == nil || n.kind != kLink {
			return p, n
		}
		t := n.target
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(p), t)
		}
		p = filepath.Clean(t)
	}
	return p, &node{kind: kGone}
}

func (d *dryFS) ReadFile(path string) ([]byte, error) {
	p, err := cleanPath(path)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	p, n := d.follow(p)
	switch {
	case n == nil:
		return d.base.ReadFile(p)
	case n.kind == kGone:
		return nil, notExist("read", path)
	case n.kind == kDir:
		return nil, fmt.Errorf("hostfs: read %s (dry-run): is a directory", path)
	case n.data == nil:
		return nil, fmt.Errorf("hostfs: read %s (dry-run): planned content (%d bytes) is not retained", path, n.size)
	}
	return bytes.Clone(n.data), nil
}

func (d *dryFS) Stat(path string) (fs.FileInfo, error) {
	p, err := cleanPath(path)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stat(path, p)
}

func (d *dryFS) stat(path, p string) (fs.FileInfo, error) {
	q, n := d.follow(p)
	switch {
	case n == nil:
		return d.base.Stat(q)
	case n.kind == kGone:
		return nil, notExist("stat", path)
	}
	return info{filepath.Base(p), n}, nil
}

func (d *dryFS) Lstat(path string) (fs.FileInfo, error) {
	p, err := cleanPath(path)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lstat(path, p)
}

func (d *dryFS) lstat(path, p string) (fs.FileInfo, error) {
	switch n := d.nodes[p]; {
	case n == nil:
		return d.base.Lstat(p)
	case n.kind == kGone:
		return nil, notExist("lstat", path)
	default:
		return info{filepath.Base(p), n}, nil
	}
}

func (d *dryFS) ReadDir(path string) ([]fs.DirEntry, error) {
	p, err := cleanPath(path)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.readDir(path, p)
}

func (d *dryFS) readDir(path, p string) ([]fs.DirEntry, error) {
	p, n := d.follow(p)
	if n != nil && n.kind == kGone {
		return nil, notExist("readdir", path)
	}
	if n != nil && n.kind != kDir {
		return nil, fmt.Errorf("hostfs: readdir %s (dry-run): not a directory", path)
	}
	entries := map[string]fs.DirEntry{}
	des, err := d.base.ReadDir(p)
	if err != nil && (n == nil || !errors.Is(err, fs.ErrNotExist)) {
		return nil, err
	}
	for _, de := range des {
		entries[de.Name()] = de
	}
	for q, c := range d.nodes {
		if q == p || filepath.Dir(q) != p {
			continue
		}
		if c.kind == kGone {
			delete(entries, filepath.Base(q))
		} else {
			entries[filepath.Base(q)] = fs.FileInfoToDirEntry(info{filepath.Base(q), c})
		}
	}
	out := make([]fs.DirEntry, 0, len(entries))
	for _, de := range entries {
		out = append(out, de)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (d *dryFS) Readlink(path string) (string, error) {
	p, err := cleanPath(path)
	if err != nil {
		return "", err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.readlink(path, p)
}

func (d *dryFS) readlink(path, p string) (string, error) {
	switch n := d.nodes[p]; {
	case n == nil:
		return Readlink(d.base, p)
	case n.kind == kGone:
		return "", notExist("readlink", path)
	case n.kind != kLink:
		return "", fmt.Errorf("hostfs: readlink %s (dry-run): not a symlink", path)
	default:
		return n.target, nil
	}
}

func (d *dryFS) SHA256(path string) (string, error) {
	p, err := cleanPath(path)
	if err != nil {
		return "", err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sha(path, p)
}

func (d *dryFS) sha(path, p string) (string, error) {
	q, n := d.follow(p)
	switch {
	case n == nil:
		return SHA256File(d.base, q)
	case n.kind == kFile:
		return n.sum, nil
	case n.kind == kGone:
		return "", notExist("hash", path)
	default:
		return "", fmt.Errorf("hostfs: hash %s (dry-run): not a regular file", path)
	}
}

// current describes the file at p itself (a symlink there is not
// followed: a write replaces it): whether a regular file exists, its mode
// and sha256, and its content when it is at most maxDiff bytes; link is
// the target of a symlink there.
func (d *dryFS) current(path, p string) (exists bool, mode fs.FileMode, sum string, data []byte, link string, err error) {
	fi, err := d.lstat(path, p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, 0, "", nil, "", nil
	case err != nil:
		return false, 0, "", nil, "", err
	case fi.Mode()&fs.ModeSymlink != 0:
		link, err = d.readlink(path, p)
		return false, 0, "", nil, link, err
	case !fi.Mode().IsRegular():
		return false, 0, "", nil, "", fmt.Errorf("hostfs: write %s (dry-run): exists and is not a regular file", path)
	}
	if n := d.nodes[p]; n != nil {
		return true, n.mode, n.sum, n.data, "", nil
	}
	if fi.Size() <= maxDiff {
		if data, err = d.base.ReadFile(p); err != nil {
			return false, 0, "", nil, "", err
		}
		s := sha256.Sum256(data)
		return true, fi.Mode(), hex.EncodeToString(s[:]), data, "", nil
	}
	sum, err = SHA256File(d.base, p)
	return err == nil, fi.Mode(), sum, nil, "", err
}

func (d *dryFS) WriteFile(path string, data []byte, mode fs.FileMode) (bool, error) {
	s := sha256.Sum256(data)
	return d.plan(path, append([]byte{}, data...), int64(len(data)), hex.EncodeToString(s[:]), mode)
}

func (d *dryFS) WriteStream(path string, r io.Reader, mode fs.FileMode, want string) (string, bool, error) {
	if _, err := cleanPath(path); err != nil {
		return "", false, err
	}
	h := sha256.New()
	keep := &capBuffer{max: maxDiff}
	n, err := io.Copy(io.MultiWriter(h, keep), r)
	if err != nil {
		return "", false, fmt.Errorf("hostfs: write %s (dry-run): %w", path, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if want != "" && !strings.EqualFold(sum, want) {
		return sum, false, checksumError(path, want, sum)
	}
	var data []byte
	if n <= maxDiff {
		data = append([]byte{}, keep.b...)
	}
	changed, err := d.plan(path, data, n, sum, mode)
	return sum, changed, err
}

// plan records a planned write of content (data, nil when not retained).
func (d *dryFS) plan(path string, data []byte, size int64, sum string, mode fs.FileMode) (bool, error) {
	p, err := cleanPath(path)
	if err != nil {
		return false, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	exists, oldMode, oldSum, old, link, err := d.current(path, p)
	if err != nil {
		return false, err
	}
	if exists && oldSum == sum && oldMode&modeMask == mode&modeMask {
		return false, nil
	}
	var diff string
	switch {
	case private(mode) || exists && private(oldMode):
		diff = fmt.Sprintf("content hidden (mode %#o)", mode.Perm())
	case exists && oldSum == sum:
		diff = fmt.Sprintf("mode %#o -> %#o", oldMode&modeMask, mode&modeMask)
	case isText(data) && (!exists || isText(old)):
		diff = unified(path, old, exists, data)
	default:
		diff = fmt.Sprintf("binary, %d bytes, sha256 %s", size, sum)
	}
	c := Change{Op: OpWrite, Path: path, Mode: mode, Diff: diff}
	if link != "" {
		c.Detail = "replaces the symlink to " + link + " (its target is left as it is)"
	}
	d.rec.Add(c)
	d.nodes[p] = &node{kind: kFile, data: data, size: size, sum: sum, mode: mode & modeMask}
	d.markParents(p)
	return true, nil
}

func private(m fs.FileMode) bool { return m.Perm()&0o077 == 0 }

func isText(b []byte) bool {
	return b != nil && len(b) <= maxDiff && utf8.Valid(b) && bytes.IndexByte(b, 0) < 0
}

func unified(path string, old []byte, exists bool, data []byte) string {
	from := path
	if !exists {
		from = "/dev/null"
	}
	s, err := UnifiedDiff(from, path, old, data)
	if err != nil {
		return fmt.Sprintf("%d bytes (diff failed: %v)", len(data), err)
	}
	return s
}

// UnifiedDiff is the unified diff (3 lines of context) from a to b, the
// one format of every diff hybridnode prints (dry runs, cluster setup).
func UnifiedDiff(from, to string, a, b []byte) (string, error) {
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{A: splitLines(a), B: splitLines(b), FromFile: from, ToFile: to, Context: 3})
}

// splitLines splits text into lines that each end in a newline, without
// the empty last line difflib.SplitLines adds (it shows as a stray context line).
func splitLines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	} else {
		lines[len(lines)-1] += "\n"
	}
	return lines
}

// markParents plans the directories WriteFile and friends would create.
func (d *dryFS) markParents(p string) {
	for dir := filepath.Dir(p); dir != "/"; dir = filepath.Dir(dir) {
		if n := d.nodes[dir]; n != nil {
			if n.kind != kGone {
				return
			}
		} else if _, err := d.base.Stat(dir); err == nil {
			return
		}
		d.nodes[dir] = &node{kind: kDir, mode: 0o755}
	}
}

func (d *dryFS) Remove(path string) (bool, error) {
	p, err := cleanPath(path)
	if err != nil {
		return false, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fi, err := d.lstat(path, p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fi.IsDir() {
		des, err := d.readDir(path, p)
		if err != nil {
			return false, err
		}
		if len(des) > 0 {
			return false, fmt.Errorf("hostfs: remove %s (dry-run): directory not empty", path)
		}
	}
	d.rec.Add(Change{Op: OpRemove, Path: path})
	d.nodes[p] = &node{kind: kGone}
	return true, nil
}

func (d *dryFS) Symlink(target, path string) (bool, error) {
	p, err := cleanPath(path)
	if err != nil {
		return false, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fi, err := d.lstat(path, p)
	switch {
	case err == nil && fi.Mode()&fs.ModeSymlink != 0:
		if cur, err := d.readlink(path, p); err == nil && cur == target {
			return false, nil
		}
	case err == nil && fi.IsDir():
		return false, fmt.Errorf("hostfs: symlink %s (dry-run): exists and is a directory", path)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return false, err
	}
	d.rec.Add(Change{Op: OpSymlink, Path: path, Detail: "-> " + target})
	d.nodes[p] = &node{kind: kLink, target: target, size: int64(len(target)), mode: 0o777}
	d.markParents(p)
	return true, nil
}

func (d *dryFS) MkdirAll(path string, mode fs.FileMode) (bool, error) {
	p, err := cleanPath(path)
	if err != nil {
		return false, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fi, err := d.stat(path, p)
	switch {
	case err == nil && fi.IsDir():
		return false, nil
	case err == nil:
		return false, fmt.Errorf("hostfs: mkdir %s (dry-run): exists and is not a directory", path)
	case !errors.Is(err, fs.ErrNotExist):
		return false, err
	}
	d.rec.Add(Change{Op: OpMkdir, Path: path, Mode: mode})
	q, _ := d.follow(p)
	d.nodes[q] = &node{kind: kDir, mode: mode & modeMask}
	d.markParents(q)
	return true, nil
}

// info is the fs.FileInfo of a planned node.
type info struct {
	name string
	n    *node
}

func (i info) Name() string       { return i.name }
func (i info) Size() int64        { return i.n.size }
func (i info) ModTime() time.Time { return time.Time{} }
func (i info) IsDir() bool        { return i.n.kind == kDir }
func (i info) Sys() any           { return nil }
func (i info) Mode() fs.FileMode {
	switch i.n.kind {
	case kDir:
		return fs.ModeDir | i.n.mode
	case kLink:
		return fs.ModeSymlink | 0o777
	}
	return i.n.mode
}

// capBuffer keeps the first max+1 bytes written to it and discards the rest.
type capBuffer struct {
	b   []byte
	max int
}

func (c *capBuffer) Write(p []byte) (int, error) {
	if room := c.max + 1 - len(c.b); room > 0 {
		c.b = append(c.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
