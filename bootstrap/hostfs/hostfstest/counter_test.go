package hostfstest

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
)

// newRoot returns a fresh root directory and the hostfs.FS over it.
func newRoot(t *testing.T) (string, hostfs.FS) {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := hostfs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, f
}

func stageWrite(t *testing.T, f hostfs.FS, path, content string, mode fs.FileMode) hostfs.StagedFile {
	t.Helper()
	s, err := f.Stage(path, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(s, content); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCounter(t *testing.T) {
	_, base := newRoot(t)
	c := Counting(base)
	run := func() {
		c.WriteFile("/etc/a", []byte("a"), 0o644)
		c.WriteStream("/usr/bin/b", strings.NewReader("b"), 0o755, "")
		c.Symlink("/usr/bin/b", "/usr/bin/c")
		c.MkdirAll("/var/lib/x", 0o755)
		c.Remove("/etc/none")
	}
	run()
	want := map[string]int{"/etc/a": 1, "/usr/bin/b": 1, "/usr/bin/c": 1, "/var/lib/x": 1}
	got := c.Writes()
	if len(got) != len(want) || c.Total() != 4 {
		t.Fatalf("first run writes = %v, total %d; want %v", got, c.Total(), want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("writes[%s] = %d, want %d", k, got[k], v)
		}
	}
	c.Reset()
	run()
	if c.Total() != 0 {
		t.Errorf("second run: %d writes (%v), want 0", c.Total(), c.Writes())
	}
	c.WriteFile("/etc/a", []byte("changed"), 0o644)
	if c.Writes()["/etc/a"] != 1 {
		t.Errorf("a real change was not counted: %v", c.Writes())
	}
}

func TestCounterCommit(t *testing.T) {
	_, base := newRoot(t)
	c := Counting(base)
	a := stageWrite(t, c, "/usr/local/bin/a", "a", 0o755)
	b := stageWrite(t, c, "/usr/local/bin/b", "b", 0o755)
	if c.Total() != 0 {
		t.Errorf("staging counted: %v", c.Writes())
	}
	if err := c.CommitAll([]hostfs.StagedFile{a, b}); err != nil {
		t.Fatal(err)
	}
	if w := c.Writes(); w["/usr/local/bin/a"] != 1 || w["/usr/local/bin/b"] != 1 || c.Total() != 2 {
		t.Errorf("writes %v", w)
	}
}

func TestCounterRemoveTemps(t *testing.T) {
	root, f := newRoot(t)
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", hostfs.TempPrefix+"x-1"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Through a Counter each removal counts.
	c := Counting(f)
	if removed, err := c.RemoveTemps("/etc"); err != nil || len(removed) != 1 || c.Total() != 1 {
		t.Errorf("counter: %v, %v, %d", removed, err, c.Total())
	}
}
