// Package golden compares rendered files with testdata/<name>.golden in the
// calling test's package; `go test ./... -update` rewrites them.
package golden

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/pmezard/go-difflib/difflib"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden files")

// Check fails t when got differs from testdata/<name>.golden, showing a
// unified diff; with -update it writes got there instead.
func Check(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
			A: difflib.SplitLines(string(want)), B: difflib.SplitLines(string(got)),
			FromFile: path, ToFile: "got", Context: 3,
		})
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", name, diff)
	}
}

// CheckTree fails t when the tree under root differs from the golden tree:
// every regular file's content against testdata/<name>/<path>, and every
// path's kind and mode (symlinks by target) against the manifest
// testdata/<name>.golden. skip leaves out paths that differ from run to
// run (a random key, a timestamped report). With -update it writes both.
func CheckTree(t testing.TB, name, root string, skip func(rel string) bool) {
	t.Helper()
	dir := filepath.Join("testdata", name)
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	var manifest bytes.Buffer
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, de os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		if skip != nil && skip("/"+filepath.ToSlash(rel)) {
			if de.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			tgt, _ := os.Readlink(p)
			fmt.Fprintf(&manifest, "%s -> %s\n", rel, tgt)
		case fi.IsDir():
			fmt.Fprintf(&manifest, "%s/ %v\n", rel, fi.Mode().Perm())
		default:
			fmt.Fprintf(&manifest, "%s %v\n", rel, fi.Mode().Perm())
			got, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			seen[rel] = true
			gp := filepath.Join(dir, rel)
			if *update {
				if err := os.MkdirAll(filepath.Dir(gp), 0o755); err != nil {
					return err
				}
				return os.WriteFile(gp, got, 0o644)
			}
			want, err := os.ReadFile(gp)
			if err != nil {
				t.Errorf("%s: not in the golden tree %s (go test -update rewrites it)", rel, dir)
				return nil
			}
			if !bytes.Equal(got, want) {
				diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
					A: difflib.SplitLines(string(want)), B: difflib.SplitLines(string(got)),
					FromFile: gp, ToFile: rel, Context: 3,
				})
				t.Errorf("%s differs from the golden tree (go test -update rewrites it):\n%s", rel, diff)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !*update {
		filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
			if err == nil && !de.IsDir() {
				if rel, _ := filepath.Rel(dir, p); !seen[rel] {
					t.Errorf("%s: in the golden tree, not on the node", rel)
				}
			}
			return nil
		})
	}
	Check(t, name, manifest.Bytes())
}
