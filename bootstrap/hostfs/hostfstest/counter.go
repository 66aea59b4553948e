// Package hostfstest holds hostfs helpers for tests.
package hostfstest

import (
	"io"
	"io/fs"
	"maps"
	"sync"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
)

var (
	_ hostfs.FS         = (*Counter)(nil)
	_ hostfs.Readlinker = (*Counter)(nil)
	_ hostfs.Hasher     = (*Counter)(nil)
)

// Counter is a hostfs.FS that passes everything to its base and counts, per host
// path, the calls that changed something (changed == true). It is meant for
// idempotency tests: a second run must leave Total() at zero.
type Counter struct {
	base   hostfs.FS
	mu     sync.Mutex
	writes map[string]int
}

// Counting wraps base in a Counter.
func Counting(base hostfs.FS) *Counter { return &Counter{base: base, writes: map[string]int{}} }

// Writes returns a copy of the per-path counts.
func (c *Counter) Writes() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.writes)
}

// Total returns the number of changing calls.
func (c *Counter) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.writes {
		n += v
	}
	return n
}

// Reset forgets the counts.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.writes)
}

// count returns a func that counts a changing call on path and passes its results through.
func (c *Counter) count(path string) func(bool, error) (bool, error) {
	return func(changed bool, err error) (bool, error) {
		if changed {
			c.mu.Lock()
			c.writes[path]++
			c.mu.Unlock()
		}
		return changed, err
	}
}

// Root implements hostfs.FS.
func (c *Counter) Root() string { return c.base.Root() }

// ReadFile implements hostfs.FS.
func (c *Counter) ReadFile(path string) ([]byte, error) { return c.base.ReadFile(path) }

// Stat implements hostfs.FS.
func (c *Counter) Stat(path string) (fs.FileInfo, error) { return c.base.Stat(path) }

// Lstat implements hostfs.FS.
func (c *Counter) Lstat(path string) (fs.FileInfo, error) { return c.base.Lstat(path) }

// ReadDir implements hostfs.FS.
func (c *Counter) ReadDir(path string) ([]fs.DirEntry, error) { return c.base.ReadDir(path) }

// Readlink implements hostfs.Readlinker.
func (c *Counter) Readlink(path string) (string, error) { return hostfs.Readlink(c.base, path) }

// SHA256 implements hostfs.Hasher.
func (c *Counter) SHA256(path string) (string, error) { return hostfs.SHA256File(c.base, path) }

// WriteFile implements hostfs.FS.
func (c *Counter) WriteFile(path string, data []byte, mode fs.FileMode) (bool, error) {
	return c.count(path)(c.base.WriteFile(path, data, mode))
}

// WriteStream implements hostfs.FS.
func (c *Counter) WriteStream(path string, r io.Reader, mode fs.FileMode, want string) (string, bool, error) {
	sum, changed, err := c.base.WriteStream(path, r, mode, want)
	c.count(path)(changed, err)
	return sum, changed, err
}

// Remove implements hostfs.FS.
func (c *Counter) Remove(path string) (bool, error) { return c.count(path)(c.base.Remove(path)) }

// Symlink implements hostfs.FS.
func (c *Counter) Symlink(target, path string) (bool, error) {
	return c.count(path)(c.base.Symlink(target, path))
}

// MkdirAll implements hostfs.FS.
func (c *Counter) MkdirAll(path string, mode fs.FileMode) (bool, error) {
	return c.count(path)(c.base.MkdirAll(path, mode))
}

// Stage implements hostfs.FS.
func (c *Counter) Stage(path string, mode fs.FileMode) (hostfs.StagedFile, error) {
	return c.base.Stage(path, mode)
}

// CommitAll implements hostfs.FS; every committed path counts as a change.
func (c *Counter) CommitAll(files []hostfs.StagedFile) error {
	err := c.base.CommitAll(files)
	if err == nil {
		for _, s := range files {
			c.count(s.Path())(true, nil)
		}
	}
	return err
}

// RemoveTemps implements hostfs.FS.
func (c *Counter) RemoveTemps(dir string, legacy ...string) ([]string, error) {
	removed, err := c.base.RemoveTemps(dir, legacy...)
	for _, p := range removed {
		c.count(p)(true, nil)
	}
	return removed, err
}
