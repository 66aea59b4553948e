package hostfs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// writebackChunk is how much a staged file buffers before the kernel is
// asked to start writing it out, so that the fsync in Close finds little
// left to do and the disk works while the download goes on.
const writebackChunk = 8 << 20

type stageState uint8

const (
	stageOpen stageState = iota
	stageClosed
	stageCommitted
	stageDiscarded
)

// osStaged is a temp file beside its final path.
type osStaged struct {
	fs      *osFS
	path    string // host path
	real    string // final path, parents resolved (a symlink there is replaced)
	tmp     string // real path of the temp file
	mode    fs.FileMode
	f       *os.File
	h       hash.Hash
	n       int64
	flushed int64 // bytes handed to writeback
	state   stageState
	err     error // of Close
}

func (f *osFS) Stage(path string, mode fs.FileMode) (StagedFile, error) {
	s, err := f.stage(path, mode)
	if err != nil {
		return nil, f.fail("stage", path, err)
	}
	return s, nil
}

func (f *osFS) stage(path string, mode fs.FileMode) (*osStaged, error) {
	p, err := f.resolveDest(path)
	if err != nil {
		return nil, err
	}
	if err := checkDest(p); err != nil {
		return nil, err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	t, err := os.CreateTemp(dir, tempPattern(filepath.Base(p)))
	if err != nil {
		return nil, err
	}
	return &osStaged{fs: f, path: path, real: p, tmp: t.Name(), mode: mode & modeMask, f: t, h: sha256.New()}, nil
}

func (s *osStaged) Path() string      { return s.path }
func (s *osStaged) Mode() fs.FileMode { return s.mode }
func (s *osStaged) Size() int64       { return s.n }
func (s *osStaged) SHA256() string    { return hex.EncodeToString(s.h.Sum(nil)) }

func (s *osStaged) Write(p []byte) (int, error) {
	if s.state != stageOpen {
		return 0, s.fs.fail("write", s.path, errors.New("staged file is closed"))
	}
	n, err := s.f.Write(p)
	s.h.Write(p[:n])
	s.n += int64(n)
	if s.n-s.flushed >= writebackChunk {
		startWriteback(s.f, s.flushed, s.n-s.flushed)
		s.flushed = s.n
	}
	if err != nil {
		return n, s.fs.fail("write", s.path, err)
	}
	return n, nil
}

func (s *osStaged) Close() error {
	if s.state != stageOpen {
		return s.err
	}
	s.state = stageClosed
	err := s.f.Sync()
	if err == nil {
		err = s.f.Chmod(s.mode)
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.err = s.fs.fail("write", s.path, err)
	}
	return s.err
}

func (s *osStaged) Discard() error {
	switch s.state {
	case stageCommitted, stageDiscarded:
		return nil
	case stageOpen:
		s.f.Close()
	}
	s.state = stageDiscarded
	if err := os.Remove(s.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s.fs.fail("discard", s.path, err)
	}
	return nil
}

// unwrapStaged follows Unwrap() StagedFile (test wrappers) down to the
// implementation.
func unwrapStaged(s StagedFile) StagedFile {
	for {
		u, ok := s.(interface{ Unwrap() StagedFile })
		if !ok {
			return s
		}
		s = u.Unwrap()
	}
}

func discardAll(files []StagedFile) {
	for _, s := range files {
		s.Discard()
	}
}

func (f *osFS) CommitAll(files []StagedFile) error {
	staged := make([]*osStaged, len(files))
	for i, sf := range files {
		s, ok := unwrapStaged(sf).(*osStaged)
		if !ok || s.fs.root != f.root {
			discardAll(files)
			return fmt.Errorf("hostfs: commit %s: staged by another FS (%T)", sf.Path(), sf)
		}
		if s.state == stageCommitted || s.state == stageDiscarded {
			discardAll(files)
			return f.fail("commit", s.path, errors.New("already committed or discarded"))
		}
		staged[i] = s
	}
	for _, s := range staged {
		if err := s.Close(); err != nil {
			discardAll(files)
			return err
		}
	}
	type done struct {
		s      *osStaged
		backup string // the replaced file, hard-linked; "" when there was none
	}
	var committed []done
	rollback := func() {
		for i := len(committed) - 1; i >= 0; i-- {
			c := committed[i]
			if c.backup != "" {
				os.Rename(c.backup, c.s.real)
			} else {
				os.Remove(c.s.real)
			}
			c.s.state = stageDiscarded
		}
	}
	dirs := map[string]bool{}
	for _, s := range staged {
		d := done{s: s}
		if fi, err := os.Lstat(s.real); err == nil && (fi.Mode().IsRegular() || fi.Mode()&fs.ModeSymlink != 0) {
			// Keep the old file (or symlink: link(2) does not follow it)
			// reachable until every rename is done; a failed link only
			// costs the rollback of this one file.
			b := filepath.Join(filepath.Dir(s.real), TempPrefix+"old-"+strings.TrimPrefix(filepath.Base(s.tmp), TempPrefix))
			if os.Link(s.real, b) == nil {
				d.backup = b
			}
		}
		if err := os.Rename(s.tmp, s.real); err != nil {
			if d.backup != "" {
				os.Remove(d.backup)
			}
			rollback()
			discardAll(files)
			return f.fail("commit", s.path, err)
		}
		s.state = stageCommitted
		committed = append(committed, d)
		dirs[filepath.Dir(s.real)] = true
	}
	var errs []error
	for d := range dirs {
		if err := syncDir(d); err != nil {
			errs = append(errs, fmt.Errorf("hostfs: fsync %s: %w", d, err))
		}
	}
	for _, c := range committed {
		if c.backup != "" {
			os.Remove(c.backup)
		}
	}
	return errors.Join(errs...)
}

func (f *osFS) RemoveTemps(dir string, legacy ...string) ([]string, error) {
	p, err := f.resolve(dir)
	if err != nil {
		return nil, f.fail("clean", dir, err)
	}
	des, err := os.ReadDir(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, f.fail("clean", dir, err)
	}
	var removed []string
	var errs []error
	for _, de := range des {
		if !isTempName(de.Name(), legacy) || de.IsDir() {
			continue
		}
		if err := os.Remove(filepath.Join(p, de.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, f.fail("remove", filepath.Join(dir, de.Name()), err))
			continue
		}
		removed = append(removed, filepath.Join(dir, de.Name()))
	}
	return removed, errors.Join(errs...)
}

// isTempName: TempPrefix, or the ".<name>.tmp-" of older hybridnode
// versions for a name in legacy.
func isTempName(name string, legacy []string) bool {
	if IsTemp(name) {
		return true
	}
	for _, l := range legacy {
		if l != "" && strings.HasPrefix(name, "."+l+".tmp-") {
			return true
		}
	}
	return false
}

// dryStaged hashes what it is given and keeps what a diff needs.
type dryStaged struct {
	d     *dryFS
	path  string
	mode  fs.FileMode
	h     hash.Hash
	keep  capBuffer
	n     int64
	state stageState
}

func (d *dryFS) Stage(path string, mode fs.FileMode) (StagedFile, error) {
	p, err := cleanPath(path)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if fi, err := d.lstat(path, p); err == nil && !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0 {
		return nil, fmt.Errorf("hostfs: stage %s (dry-run): exists and is not a regular file", path)
	}
	return &dryStaged{d: d, path: path, mode: mode & modeMask, h: sha256.New(), keep: capBuffer{max: maxDiff}}, nil
}

func (s *dryStaged) Path() string      { return s.path }
func (s *dryStaged) Mode() fs.FileMode { return s.mode }
func (s *dryStaged) Size() int64       { return s.n }
func (s *dryStaged) SHA256() string    { return hex.EncodeToString(s.h.Sum(nil)) }
func (s *dryStaged) Write(p []byte) (int, error) {
	if s.state != stageOpen {
		return 0, fmt.Errorf("hostfs: write %s (dry-run): staged file is closed", s.path)
	}
	s.h.Write(p)
	s.keep.Write(p)
	s.n += int64(len(p))
	return len(p), nil
}
func (s *dryStaged) Close() error {
	if s.state == stageOpen {
		s.state = stageClosed
	}
	return nil
}
func (s *dryStaged) Discard() error {
	if s.state != stageCommitted {
		s.state = stageDiscarded
	}
	return nil
}

// CommitAll records a write for every staged file whose content or mode
// differs from the planned state (binaries as a one-line summary).
func (d *dryFS) CommitAll(files []StagedFile) error {
	staged := make([]*dryStaged, len(files))
	for i, sf := range files {
		s, ok := unwrapStaged(sf).(*dryStaged)
		if !ok || s.d != d || s.state == stageCommitted || s.state == stageDiscarded {
			discardAll(files)
			return fmt.Errorf("hostfs: commit %s (dry-run): not an open file staged by this FS (%T)", sf.Path(), sf)
		}
		staged[i] = s
	}
	for _, s := range staged {
		var data []byte
		if s.n <= maxDiff {
			data = append([]byte{}, s.keep.b...)
		}
		if _, err := d.plan(s.path, data, s.n, s.SHA256(), s.mode); err != nil {
			discardAll(files)
			return err
		}
		s.state = stageCommitted
	}
	return nil
}

func (d *dryFS) RemoveTemps(dir string, legacy ...string) ([]string, error) {
	des, err := d.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, de := range des {
		if !isTempName(de.Name(), legacy) || de.IsDir() {
			continue
		}
		p := filepath.Join(dir, de.Name())
		if _, err := d.Remove(p); err != nil {
			return removed, err
		}
		removed = append(removed, p)
	}
	return removed, nil
}
