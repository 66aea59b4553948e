package hostfs

import (
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// temps lists the hostfs temp files anywhere under root.
func temps(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err == nil && IsTemp(de.Name()) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func stageWrite(t *testing.T, f FS, path, content string, mode fs.FileMode) StagedFile {
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

func TestStageCommitAll(t *testing.T) {
	root, f := newRoot(t)
	put(t, root, "usr/local/bin/old", "old\n", 0o755)
	a := stageWrite(t, f, "/usr/local/bin/old", "new old\n", 0o755)
	b := stageWrite(t, f, "/usr/local/bin/fresh", "fresh\n", 0o750)
	c := stageWrite(t, f, "/var/lib/x/record.json", "{}\n", 0o644)
	if a.Size() != 8 || a.SHA256() != hexsum([]byte("new old\n")) || a.Path() != "/usr/local/bin/old" || a.Mode() != 0o755 {
		t.Errorf("staged: size %d, sha %s, path %s, mode %v", a.Size(), a.SHA256(), a.Path(), a.Mode())
	}
	// Nothing is visible before the commit; the temp files are there, named as hybridnode's.
	if got, _ := os.ReadFile(filepath.Join(root, "usr/local/bin/old")); string(got) != "old\n" {
		t.Errorf("old = %q before the commit", got)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/local/bin/fresh")); err == nil {
		t.Error("fresh is visible before the commit")
	}
	if n := len(temps(t, root)); n != 3 {
		t.Errorf("%d temp files while staged, want 3: %v", n, temps(t, root))
	}
	if err := f.CommitAll([]StagedFile{a, b, c}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"usr/local/bin/old": "new old\n", "usr/local/bin/fresh": "fresh\n", "var/lib/x/record.json": "{}\n"} {
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", p, got, err, want)
		}
	}
	if fi, _ := os.Stat(filepath.Join(root, "usr/local/bin/fresh")); fi.Mode().Perm() != 0o750 {
		t.Errorf("fresh mode %v", fi.Mode())
	}
	if tt := temps(t, root); len(tt) != 0 {
		t.Errorf("temp files left: %v", tt)
	}
	// Committed files cannot be committed again; Discard is then a no-op.
	if err := f.CommitAll([]StagedFile{a}); err == nil {
		t.Error("a second commit of the same file succeeded")
	}
	if err := a.Discard(); err != nil {
		t.Error(err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "usr/local/bin/old")); string(got) != "new old\n" {
		t.Errorf("Discard after commit removed the file: %q", got)
	}
}

func TestStageDiscard(t *testing.T) {
	root, f := newRoot(t)
	s := stageWrite(t, f, "/usr/local/bin/tool", "x", 0o755)
	if err := s.Discard(); err != nil {
		t.Fatal(err)
	}
	if err := s.Discard(); err != nil {
		t.Fatal(err)
	}
	if tt := temps(t, root); len(tt) != 0 {
		t.Errorf("temp files left: %v", tt)
	}
	if _, err := s.Write([]byte("more")); err == nil {
		t.Error("write after discard succeeded")
	}
	if err := f.CommitAll([]StagedFile{s}); err == nil {
		t.Error("commit after discard succeeded")
	}
	// A directory in the way is refused when staging.
	if err := os.MkdirAll(filepath.Join(root, "usr/local/bin/dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Stage("/usr/local/bin/dir", 0o755); err == nil || !strings.Contains(err.Error(), "/usr/local/bin/dir") {
		t.Errorf("Stage over a directory: %v", err)
	}
}

// TestCommitAllRollsBack: when one rename fails, the files renamed before
// it are put back as they were, and no temp file is left.
func TestCommitAllRollsBack(t *testing.T) {
	root, f := newRoot(t)
	put(t, root, "usr/local/bin/a", "old a\n", 0o755)
	a := stageWrite(t, f, "/usr/local/bin/a", "new a\n", 0o755)
	n := stageWrite(t, f, "/usr/local/bin/n", "new n\n", 0o755)
	b := stageWrite(t, f, "/usr/local/bin/b", "new b\n", 0o755)
	c := stageWrite(t, f, "/usr/local/bin/c", "new c\n", 0o755)
	// A directory appears at b's path after staging: its rename fails.
	put(t, root, "usr/local/bin/b/inside", "x", 0o644)
	err := f.CommitAll([]StagedFile{a, n, b, c})
	if err == nil || !strings.Contains(err.Error(), "/usr/local/bin/b") {
		t.Fatalf("CommitAll = %v, want an error naming /usr/local/bin/b", err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "usr/local/bin/a")); string(got) != "old a\n" {
		t.Errorf("a = %q, want the old content back", got)
	}
	for _, p := range []string{"usr/local/bin/n", "usr/local/bin/c"} {
		if _, err := os.Stat(filepath.Join(root, p)); err == nil {
			t.Errorf("%s exists after a failed commit", p)
		}
	}
	if tt := temps(t, root); len(tt) != 0 {
		t.Errorf("temp files left: %v", tt)
	}
}

// TestStagedWriteError: a write error (a full disk, say) names the final path.
func TestStagedWriteError(t *testing.T) {
	_, f := newRoot(t)
	s, err := f.Stage("/usr/local/bin/tool", 0o755)
	if err != nil {
		t.Fatal(err)
	}
	s.(*osStaged).f.Close() // the next write fails
	if _, err := s.Write([]byte("x")); err == nil || !strings.Contains(err.Error(), "/usr/local/bin/tool") {
		t.Errorf("write error %v does not name the path", err)
	}
	s.Discard()
}

func TestTempNames(t *testing.T) {
	root, f := newRoot(t)
	// WriteStream's temp file, seen while the stream is still open.
	pr, pw := io.Pipe()
	done := make(chan error)
	go func() {
		_, _, err := f.WriteStream("/usr/local/bin/tool", pr, 0o755, "")
		done <- err
	}()
	pw.Write([]byte("part"))
	var names []string
	for range 100 {
		des, _ := os.ReadDir(filepath.Join(root, "usr/local/bin"))
		names = names[:0]
		for _, de := range des {
			names = append(names, de.Name())
		}
		if len(names) > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || !strings.HasPrefix(names[0], TempPrefix+"tool-") {
		t.Errorf("temp files while writing: %v, want one named %stool-*", names, TempPrefix)
	}
	// A very long name is shortened in the temp name.
	long := strings.Repeat("x", 250)
	if _, err := f.WriteFile("/etc/"+long, []byte("x"), 0o644); err != nil {
		t.Errorf("WriteFile of a 250-byte name: %v", err)
	}
}

func TestRemoveTemps(t *testing.T) {
	root, f := newRoot(t)
	for _, n := range []string{TempPrefix + "kubelet-123", TempPrefix + "old-kubelet-9", ".kubelet.tmp-4567", ".runc.tmp-ABCDEF"} {
		put(t, root, "usr/local/bin/"+n, "junk", 0o600)
	}
	os.Symlink("/nowhere", filepath.Join(root, "usr/local/bin", TempPrefix+"link-1"))
	keep := []string{"kubelet", ".other.tmp-1", "my" + TempPrefix}
	for _, n := range keep {
		put(t, root, "usr/local/bin/"+n, "mine", 0o755)
	}
	os.MkdirAll(filepath.Join(root, "usr/local/bin", TempPrefix+"dir"), 0o755)
	removed, err := f.RemoveTemps("/usr/local/bin", "kubelet", "runc")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	want := []string{"/usr/local/bin/" + TempPrefix + "kubelet-123", "/usr/local/bin/" + TempPrefix + "link-1", "/usr/local/bin/" + TempPrefix + "old-kubelet-9",
		"/usr/local/bin/.kubelet.tmp-4567", "/usr/local/bin/.runc.tmp-ABCDEF"}
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	des, _ := os.ReadDir(filepath.Join(root, "usr/local/bin"))
	var left []string
	for _, de := range des {
		left = append(left, de.Name())
	}
	wantLeft := append(slices.Clone(keep), TempPrefix+"dir")
	slices.Sort(wantLeft)
	if !slices.Equal(left, wantLeft) {
		t.Errorf("left %v, want %v", left, wantLeft)
	}
	if removed, err := f.RemoveTemps("/no/such/dir"); err != nil || len(removed) != 0 {
		t.Errorf("missing dir: %v, %v", removed, err)
	}
	// In a dry run a removal is only planned (hostfstest tests that a Counter counts it).
	put(t, root, "etc/"+TempPrefix+"x-1", "junk", 0o600)
	before := snapshot(t, root)
	rec := &Recorder{}
	d := DryRun(f, rec)
	if removed, err := d.RemoveTemps("/etc"); err != nil || len(removed) != 1 || len(rec.Changes()) != 1 || rec.Changes()[0].Op != OpRemove {
		t.Errorf("dry run: %v, %v, %v", removed, err, rec.Changes())
	}
	if !maps.Equal(before, snapshot(t, root)) {
		t.Error("the dry run removed a file")
	}
}

func TestDryRunStage(t *testing.T) {
	root, base := newRoot(t)
	put(t, root, "usr/local/bin/same", "same\x00", 0o755)
	put(t, root, "etc/app.conf", "a\n", 0o644)
	before := snapshot(t, root)
	rec := &Recorder{}
	d := DryRun(base, rec)
	bin := stageWrite(t, d, "/usr/local/bin/new", "ELF\x00\x01", 0o755)
	same := stageWrite(t, d, "/usr/local/bin/same", "same\x00", 0o755)
	text := stageWrite(t, d, "/etc/app.conf", "b\n", 0o644)
	gone := stageWrite(t, d, "/usr/local/bin/discarded", "x", 0o755)
	gone.Discard()
	if err := d.CommitAll([]StagedFile{bin, same, text}); err != nil {
		t.Fatal(err)
	}
	if err := d.CommitAll([]StagedFile{gone}); err == nil {
		t.Error("a discarded file was committed")
	}
	var got []string
	for _, c := range rec.Changes() {
		got = append(got, c.String())
	}
	want := []string{
		"write /usr/local/bin/new (0755) [binary, 5 bytes, sha256 " + hexsum([]byte("ELF\x00\x01")) + "]",
		"write /etc/app.conf (0644)\n--- /etc/app.conf\n+++ /etc/app.conf\n@@ -1 +1 @@\n-a\n+b",
	}
	if !slices.Equal(got, want) {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if sum, err := SHA256File(d, "/usr/local/bin/new"); err != nil || sum != hexsum([]byte("ELF\x00\x01")) {
		t.Errorf("planned state: %s, %v", sum, err)
	}
	if !maps.Equal(before, snapshot(t, root)) {
		t.Error("the dry run touched the host")
	}
}

func TestUnchanged(t *testing.T) {
	root, f := newRoot(t)
	put(t, root, "usr/local/bin/t", "same", 0o755)
	for _, tc := range []struct {
		name, content string
		mode          fs.FileMode
		known         string
		want          bool
	}{
		{"same", "same", 0o755, "", true},
		{"same, known sum", "same", 0o755, hexsum([]byte("same")), true},
		{"known sum says otherwise", "same", 0o755, hexsum([]byte("other")), false},
		{"same size, other content", "samf", 0o755, "", false},
		{"other size", "longer", 0o755, "", false},
		{"other mode", "same", 0o700, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := stageWrite(t, f, "/usr/local/bin/t", tc.content, tc.mode)
			defer s.Discard()
			got, err := Unchanged(f, s, tc.known)
			if err != nil || got != tc.want {
				t.Errorf("Unchanged = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	s := stageWrite(t, f, "/usr/local/bin/missing", "x", 0o755)
	defer s.Discard()
	if got, err := Unchanged(f, s, ""); got || err != nil {
		t.Errorf("missing file: %v, %v", got, err)
	}
}

func TestTryLock(t *testing.T) {
	root, f := newRoot(t)
	l, holder, err := TryLock(f, "/run/test.lock")
	if err != nil || l == nil || holder != "" {
		t.Fatalf("first TryLock = %v, %q, %v", l, holder, err)
	}
	if err := l.SetNote("pid 1: hybridnode install"); err != nil {
		t.Fatal(err)
	}
	l2, holder, err := TryLock(f, "/run/test.lock")
	if err != nil || l2 != nil || holder != "pid 1: hybridnode install" {
		t.Fatalf("second TryLock = %v, %q, %v; want the holder's note", l2, holder, err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l3, _, err := TryLock(f, "/run/test.lock")
	if err != nil || l3 == nil {
		t.Fatalf("TryLock after release = %v, %v", l3, err)
	}
	defer l3.Release()
	if data, _ := os.ReadFile(filepath.Join(root, "run/test.lock")); len(data) != 0 {
		t.Errorf("released lock still says %q", data)
	}
	// A symlink at the lock's path is refused, never followed: its target
	// (which the holder's note would overwrite) stays as it was.
	put(t, root, "etc/target", "secret\n", 0o600)
	os.Symlink("/etc/target", filepath.Join(root, "run/evil.lock"))
	l4, _, err := TryLock(f, "/run/evil.lock")
	if err == nil || l4 != nil || !strings.Contains(err.Error(), "/run/evil.lock") || !strings.Contains(err.Error(), "symlink") {
		l4.Release()
		t.Fatalf("TryLock through a symlink = %v, %v; want an error naming the link", l4, err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "etc/target")); string(got) != "secret\n" {
		t.Errorf("the link's target now holds %q", got)
	}
	// A symlink in the parents is followed, within the root.
	os.Symlink("/var/run-real", filepath.Join(root, "run/dir"))
	os.MkdirAll(filepath.Join(root, "var/run-real"), 0o755)
	l5, _, err := TryLock(f, "/run/dir/x.lock")
	if err != nil || l5 == nil {
		t.Fatalf("TryLock under a symlinked directory = %v, %v", l5, err)
	}
	l5.Release()
	if _, err := os.Stat(filepath.Join(root, "var/run-real/x.lock")); err != nil {
		t.Errorf("the lock was not taken inside the root: %v", err)
	}
}

// symlinkedDest makes /usr/local/bin/tool (or dest) a symlink to
// /etc/target, a 0600 file, and returns a check that the target is
// untouched and the link replaced by a regular file holding want.
func symlinkedDest(t *testing.T, root, dest string) func(want string, mode fs.FileMode) {
	t.Helper()
	put(t, root, "etc/target", "secret\n", 0o600)
	if err := os.MkdirAll(filepath.Join(root, filepath.Dir(dest)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/target", filepath.Join(root, dest)); err != nil {
		t.Fatal(err)
	}
	return func(want string, mode fs.FileMode) {
		t.Helper()
		target := filepath.Join(root, "etc/target")
		if got, _ := os.ReadFile(target); string(got) != "secret\n" {
			t.Errorf("/etc/target (the link's target) now holds %q", got)
		}
		if fi, err := os.Lstat(target); err != nil || fi.Mode() != 0o600 {
			t.Errorf("/etc/target's mode is now %v (%v), want -rw-------", fi.Mode(), err)
		}
		fi, err := os.Lstat(filepath.Join(root, dest))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != mode {
			t.Fatalf("%s = %v, %v; want a regular file, mode %v, in place of the link", dest, fi.Mode(), err, mode)
		}
		if got, _ := os.ReadFile(filepath.Join(root, dest)); string(got) != want {
			t.Errorf("%s holds %q, want %q", dest, got, want)
		}
		noTemps(t, filepath.Dir(filepath.Join(root, dest)))
		noTemps(t, filepath.Dir(target))
	}
}

// TestStageReplacesSymlinkAtDestination: a symlink at the path a staged
// binary is committed to is replaced, never followed: its target (a 0600
// file) keeps its content and its mode.
func TestStageReplacesSymlinkAtDestination(t *testing.T) {
	root, f := newRoot(t)
	check := symlinkedDest(t, root, "/usr/local/bin/tool")
	s := stageWrite(t, f, "/usr/local/bin/tool", "binary\n", 0o755)
	if same, err := Unchanged(f, s, ""); err != nil || same {
		t.Errorf("Unchanged over a symlink = %v, %v; want false (the commit replaces the link)", same, err)
	}
	if err := f.CommitAll([]StagedFile{s}); err != nil {
		t.Fatal(err)
	}
	check("binary\n", 0o755)
}

// TestStageSymlinkTargetSameContent: a link to a file that already holds
// the content is still replaced, and its target is not chmodded.
func TestStageSymlinkTargetSameContent(t *testing.T) {
	root, f := newRoot(t)
	check := symlinkedDest(t, root, "/usr/local/bin/tool")
	for name, write := range map[string]func() error{
		"WriteFile": func() error { _, err := f.WriteFile("/usr/local/bin/tool", []byte("secret\n"), 0o755); return err },
		"WriteStream": func() error {
			_, _, err := f.WriteStream("/usr/local/bin/tool", strings.NewReader("secret\n"), 0o755, "")
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			os.Remove(filepath.Join(root, "usr/local/bin/tool"))
			os.Symlink("/etc/target", filepath.Join(root, "usr/local/bin/tool"))
			if err := write(); err != nil {
				t.Fatal(err)
			}
			check("secret\n", 0o755)
		})
	}
}

// TestWritesReplaceSymlinkAtDestination: WriteFile and WriteStream replace
// a symlink at their path as Stage does; a symlink in the parents is
// followed (within the root); a rolled-back commit puts the link back.
func TestWritesReplaceSymlinkAtDestination(t *testing.T) {
	t.Run("WriteFile", func(t *testing.T) {
		root, f := newRoot(t)
		check := symlinkedDest(t, root, "/etc/app/conf")
		if changed, err := f.WriteFile("/etc/app/conf", []byte("new\n"), 0o644); err != nil || !changed {
			t.Fatalf("WriteFile = %v, %v", changed, err)
		}
		check("new\n", 0o644)
		if changed, err := f.WriteFile("/etc/app/conf", []byte("new\n"), 0o644); err != nil || changed {
			t.Errorf("again: WriteFile = %v, %v; want no change", changed, err)
		}
	})
	t.Run("WriteStream", func(t *testing.T) {
		root, f := newRoot(t)
		check := symlinkedDest(t, root, "/usr/local/bin/tool")
		if _, changed, err := f.WriteStream("/usr/local/bin/tool", strings.NewReader("binary\n"), 0o755, hexsum([]byte("binary\n"))); err != nil || !changed {
			t.Fatalf("WriteStream = %v, %v", changed, err)
		}
		check("binary\n", 0o755)
	})
	t.Run("symlinked parent", func(t *testing.T) {
		root, f := newRoot(t)
		if err := os.MkdirAll(filepath.Join(root, "opt/bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(root, "usr/local"), 0o755)
		if err := os.Symlink("/opt/bin", filepath.Join(root, "usr/local/bin")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteFile("/usr/local/bin/tool", []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(filepath.Join(root, "opt/bin/tool")); string(got) != "x" {
			t.Errorf("through the symlinked parent: %q", got)
		}
	})
	t.Run("rollback restores the link", func(t *testing.T) {
		root, f := newRoot(t)
		symlinkedDest(t, root, "/usr/local/bin/a")
		a := stageWrite(t, f, "/usr/local/bin/a", "new a\n", 0o755)
		b := stageWrite(t, f, "/usr/local/bin/b", "new b\n", 0o755)
		put(t, root, "usr/local/bin/b/inside", "x", 0o644) // b's rename fails
		if err := f.CommitAll([]StagedFile{a, b}); err == nil {
			t.Fatal("CommitAll succeeded")
		}
		if tgt, err := os.Readlink(filepath.Join(root, "usr/local/bin/a")); err != nil || tgt != "/etc/target" {
			t.Errorf("a after the rollback: %q, %v; want the link back", tgt, err)
		}
		if got, _ := os.ReadFile(filepath.Join(root, "etc/target")); string(got) != "secret\n" {
			t.Errorf("/etc/target now holds %q", got)
		}
		if tt := temps(t, root); len(tt) != 0 {
			t.Errorf("temp files left: %v", tt)
		}
	})
}

// TestDryRunReplacesSymlink: a dry run plans the write at the link's path,
// says it replaces the link, and its target reads as it was.
func TestDryRunReplacesSymlink(t *testing.T) {
	root, base := newRoot(t)
	symlinkedDest(t, root, "/usr/local/bin/tool")
	before := snapshot(t, root)
	rec := &Recorder{}
	d := DryRun(base, rec)
	s := stageWrite(t, d, "/usr/local/bin/tool", "bin\n", 0o755)
	if err := d.CommitAll([]StagedFile{s}); err != nil {
		t.Fatal(err)
	}
	got := rec.Changes()
	if len(got) != 1 || got[0].Path != "/usr/local/bin/tool" || !strings.Contains(got[0].Detail, "replaces the symlink to /etc/target") {
		t.Fatalf("changes: %+v", got)
	}
	if data, err := d.ReadFile("/etc/target"); err != nil || string(data) != "secret\n" {
		t.Errorf("planned /etc/target = %q, %v; want it untouched", data, err)
	}
	if data, err := d.ReadFile("/usr/local/bin/tool"); err != nil || string(data) != "bin\n" {
		t.Errorf("planned /usr/local/bin/tool = %q, %v", data, err)
	}
	if fi, err := d.Lstat("/usr/local/bin/tool"); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("planned /usr/local/bin/tool is no regular file: %v, %v", fi, err)
	}
	if !maps.Equal(before, snapshot(t, root)) {
		t.Error("the dry run touched the host")
	}
}
