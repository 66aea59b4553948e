package hostfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// Lock is an exclusive flock(2) on a file under an FS's root. The kernel
// drops it when the process dies, however it dies; the file itself stays
// and only says who held it last.
type Lock struct {
	f    *os.File
	path string
}

// TryLock opens the host path under f's root (creating it 0644 and its
// parents 0755) and takes an exclusive lock on it without waiting. When
// someone else holds it (another process, or another TryLock in this one)
// it returns a nil Lock and the holder's note (see SetNote; "" when the
// holder wrote none). Dry-run FSes lock the real file under their root.
//
// A symlink at path is refused, never followed: the holder truncates and
// writes the file (SetNote), so following a link would let whoever made it
// choose a file to overwrite. Unlike a write's destination it is not
// replaced either: a lock file is one inode that every run must open, and
// removing a link in the way would race with another run doing the same.
// Symlinks in path's parents are followed within the root.
func TryLock(f FS, path string) (*Lock, string, error) {
	p, err := cleanPath(path)
	if err != nil {
		return nil, "", err
	}
	dir, err := securejoin.SecureJoin(f.Root(), filepath.Dir(p))
	if err != nil {
		return nil, "", fmt.Errorf("hostfs: lock %s: %w", path, err)
	}
	real := filepath.Join(dir, filepath.Base(p))
	if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
		return nil, "", fmt.Errorf("hostfs: lock %s: %w", path, err)
	}
	for range 10 { // the file may be replaced under us (see below)
		fh, err := os.OpenFile(real, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o644)
		if errors.Is(err, syscall.ELOOP) {
			return nil, "", fmt.Errorf("hostfs: lock %s: it is a symlink, which hybridnode does not follow: remove it (rm %s) and run again", path, path)
		}
		if err != nil {
			return nil, "", fmt.Errorf("hostfs: lock %s: %w", path, err)
		}
		if fi, err := fh.Stat(); err != nil || !fi.Mode().IsRegular() {
			fh.Close()
			return nil, "", fmt.Errorf("hostfs: lock %s: not a regular file", path)
		}
		err = unix.Flock(int(fh.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if errors.Is(err, unix.EWOULDBLOCK) {
			note, _ := io.ReadAll(io.LimitReader(fh, 4<<10))
			fh.Close()
			return nil, strings.TrimSpace(string(note)), nil
		}
		if err != nil {
			fh.Close()
			return nil, "", fmt.Errorf("hostfs: lock %s: %w", path, err)
		}
		// A lock on a file that was removed (or replaced) after we opened
		// it excludes nobody: try again on the file now at the path.
		held, err1 := fh.Stat()
		now, err2 := os.Lstat(real)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return &Lock{f: fh, path: path}, "", nil
		}
		fh.Close()
	}
	return nil, "", fmt.Errorf("hostfs: lock %s: the file keeps being replaced", path)
}

// SetNote replaces the lock file's content with note (who holds it), for
// a waiting run to show.
func (l *Lock) SetNote(note string) error {
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("hostfs: lock %s: %w", l.path, err)
	}
	if _, err := l.f.WriteAt([]byte(note+"\n"), 0); err != nil {
		return fmt.Errorf("hostfs: lock %s: %w", l.path, err)
	}
	return nil
}

// Release empties the note and drops the lock. Idempotent.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	if err != nil {
		return fmt.Errorf("hostfs: unlock %s: %w", l.path, err)
	}
	return nil
}
