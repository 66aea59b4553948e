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
	// A symlink at the lock's path is resolved inside the root.
	os.Symlink("/etc/hn-test.lock", filepath.Join(root, "run/evil.lock"))
	l4, _, err := TryLock(f, "/run/evil.lock")
	if err != nil || l4 == nil {
		t.Fatalf("TryLock through a symlink = %v, %v", l4, err)
	}
	l4.Release()
	if _, err := os.Stat(filepath.Join(root, "etc/hn-test.lock")); err != nil {
		t.Errorf("the lock was not taken inside the root: %v", err)
	}
	if _, err := os.Stat("/etc/hn-test.lock"); err == nil {
		t.Error("the lock escaped the root")
	}
}
