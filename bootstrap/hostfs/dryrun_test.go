package hostfs

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// snapshot maps every path under root to its content or link target.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := de.Info()
		switch {
		case de.Type()&fs.ModeSymlink != 0:
			tgt, _ := os.Readlink(p)
			m[p] = "-> " + tgt
		case de.IsDir():
			m[p] = "dir " + fi.Mode().String()
		default:
			b, _ := os.ReadFile(p)
			m[p] = fi.Mode().String() + " " + string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDryRun(t *testing.T) {
	root, base := newRoot(t)
	put(t, root, "etc/app.conf", "a\nb\nc\n", 0o644)
	put(t, root, "etc/secret", "token-old", 0o600)
	put(t, root, "etc/gone", "x", 0o644)
	put(t, root, "usr/bin/tool", "same\x00", 0o755)
	before := snapshot(t, root)

	rec := &Recorder{}
	d := DryRun(base, rec)
	big := strings.Repeat("line\n", maxDiff/5+10)
	bin := []byte("ELF\x00\x01\x02")

	for _, tc := range []struct {
		name        string
		do          func() (bool, error)
		wantChanged bool
		wantErr     error
		op          string // "" = no Change recorded
		diffHas     []string
		diffHasNot  []string
	}{
		{name: "unchanged write", do: func() (bool, error) { return d.WriteFile("/etc/app.conf", []byte("a\nb\nc\n"), 0o644) }},
		{name: "text edit", do: func() (bool, error) { return d.WriteFile("/etc/app.conf", []byte("a\nB\nc\n"), 0o644) },
			wantChanged: true, op: OpWrite, diffHas: []string{"--- /etc/app.conf", "+++ /etc/app.conf", "-b\n", "+B\n", " a\n"}},
		{name: "planned state is the new baseline", do: func() (bool, error) { return d.WriteFile("/etc/app.conf", []byte("a\nB\nc\n"), 0o644) }},
		{name: "new file", do: func() (bool, error) { return d.WriteFile("/etc/new/dir/x.conf", []byte("hello\n"), 0o644) },
			wantChanged: true, op: OpWrite, diffHas: []string{"--- /dev/null", "+hello"}},
		{name: "mode only", do: func() (bool, error) { return d.WriteFile("/etc/gone", []byte("x"), 0o640) },
			wantChanged: true, op: OpWrite, diffHas: []string{"mode 0644 -> 0640"}},
		{name: "secret hidden", do: func() (bool, error) { return d.WriteFile("/etc/secret", []byte("token-new"), 0o600) },
			wantChanged: true, op: OpWrite, diffHas: []string{"content hidden (mode 0600)"}, diffHasNot: []string{"token"}},
		{name: "secret made public is still hidden", do: func() (bool, error) { return d.WriteFile("/etc/secret", []byte("token-pub"), 0o644) },
			wantChanged: true, op: OpWrite, diffHas: []string{"content hidden"}, diffHasNot: []string{"token"}},
		{name: "binary summary", do: func() (bool, error) { return d.WriteFile("/usr/bin/new", bin, 0o755) },
			wantChanged: true, op: OpWrite, diffHas: []string{"binary, 6 bytes, sha256 " + hexsum(bin)}},
		{name: "large text summary", do: func() (bool, error) { return d.WriteFile("/etc/big", []byte(big), 0o644) },
			wantChanged: true, op: OpWrite, diffHas: []string{"binary, " + strconv.Itoa(len(big)) + " bytes"}, diffHasNot: []string{"line"}},
		{name: "stream unchanged", do: func() (bool, error) {
			_, c, err := d.WriteStream("/usr/bin/tool", strings.NewReader("same\x00"), 0o755, hexsum([]byte("same\x00")))
			return c, err
		}},
		{name: "stream large", do: func() (bool, error) {
			_, c, err := d.WriteStream("/usr/bin/huge", strings.NewReader(big+big), 0o755, "")
			return c, err
		}, wantChanged: true, op: OpWrite, diffHas: []string{"binary, " + strconv.Itoa(2*len(big)) + " bytes, sha256 " + hexsum([]byte(big+big))}},
		{name: "stream checksum mismatch", do: func() (bool, error) {
			_, c, err := d.WriteStream("/usr/bin/tool", strings.NewReader("evil"), 0o755, hexsum([]byte("same\x00")))
			return c, err
		}, wantErr: ErrChecksum},
		{name: "remove", do: func() (bool, error) { return d.Remove("/etc/gone") }, wantChanged: true, op: OpRemove},
		{name: "remove again", do: func() (bool, error) { return d.Remove("/etc/gone") }},
		{name: "remove missing", do: func() (bool, error) { return d.Remove("/etc/never") }},
		{name: "symlink", do: func() (bool, error) { return d.Symlink("/usr/bin/tool", "/usr/local/bin/tool") }, wantChanged: true, op: OpSymlink},
		{name: "symlink again", do: func() (bool, error) { return d.Symlink("/usr/bin/tool", "/usr/local/bin/tool") }},
		{name: "mkdir", do: func() (bool, error) { return d.MkdirAll("/opt/cni/bin", 0o755) }, wantChanged: true, op: OpMkdir},
		{name: "mkdir again", do: func() (bool, error) { return d.MkdirAll("/opt/cni/bin", 0o755) }},
		{name: "mkdir of planned parent", do: func() (bool, error) { return d.MkdirAll("/etc/new", 0o755) }},
		{name: "relative path", do: func() (bool, error) { return d.WriteFile("etc/x", nil, 0o644) }, wantErr: errors.New("any")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(rec.Changes())
			changed, err := tc.do()
			if tc.wantErr != nil {
				if err == nil || (errors.Is(tc.wantErr, ErrChecksum) && !errors.Is(err, ErrChecksum)) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if changed != tc.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tc.wantChanged)
			}
			added := rec.Changes()[n:]
			if tc.op == "" {
				if len(added) != 0 {
					t.Fatalf("recorded %v, want nothing", added)
				}
				return
			}
			if len(added) != 1 || added[0].Op != tc.op {
				t.Fatalf("recorded %v, want one %q change", added, tc.op)
			}
			for _, s := range tc.diffHas {
				if !strings.Contains(added[0].Diff, s) {
					t.Errorf("diff %q lacks %q", added[0].Diff, s)
				}
			}
			for _, s := range tc.diffHasNot {
				if strings.Contains(added[0].String(), s) {
					t.Errorf("change %q must not contain %q", added[0].String(), s)
				}
			}
		})
	}

	if after := snapshot(t, root); !maps.Equal(before, after) {
		t.Errorf("dry run touched the host:\nbefore %v\nafter  %v", before, after)
	}

	// The dry-run view shows the planned state.
	for _, tc := range []struct {
		name string
		path string
		want string // content; "" = must not exist
	}{
		{"edited", "/etc/app.conf", "a\nB\nc\n"},
		{"created", "/etc/new/dir/x.conf", "hello\n"},
		{"removed", "/etc/gone", ""},
		{"through a planned link", "/usr/local/bin/tool", "same\x00"},
		{"untouched", "/usr/bin/tool", "same\x00"},
	} {
		t.Run("view/"+tc.name, func(t *testing.T) {
			got, err := d.ReadFile(tc.path)
			if tc.want == "" {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("ReadFile = %q, %v; want not exist", got, err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Errorf("ReadFile = %q, %v; want %q", got, err, tc.want)
			}
			if sum, err := SHA256File(d, tc.path); err != nil || sum != hexsum([]byte(tc.want)) {
				t.Errorf("SHA256File = %s, %v", sum, err)
			}
		})
	}
	if fi, err := d.Stat("/etc/new/dir"); err != nil || !fi.IsDir() {
		t.Errorf("planned parent dir: %v, %v", fi, err)
	}
	if fi, err := d.Stat("/etc/secret"); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("planned mode: %v, %v", fi, err)
	}
	if fi, err := d.Lstat("/usr/local/bin/tool"); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("planned link Lstat: %v, %v", fi, err)
	}
	if tgt, err := Readlink(d, "/usr/local/bin/tool"); err != nil || tgt != "/usr/bin/tool" {
		t.Errorf("planned link target: %q, %v", tgt, err)
	}
	if sum, err := SHA256File(d, "/usr/bin/huge"); err != nil || sum != hexsum([]byte(big+big)) {
		t.Errorf("planned stream sha: %s, %v", sum, err)
	}
	des, err := d.ReadDir("/etc")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	if want := []string{"app.conf", "big", "new", "secret"}; !slices.Equal(names, want) {
		t.Errorf("ReadDir(/etc) = %v, want %v", names, want)
	}
}

func TestDryRunRemoveNonEmptyDir(t *testing.T) {
	root, base := newRoot(t)
	put(t, root, "etc/d/f", "x", 0o644)
	d := DryRun(base, &Recorder{})
	if _, err := d.Remove("/etc/d"); err == nil {
		t.Fatal("removing a non-empty dir succeeded")
	}
	if _, err := d.Remove("/etc/d/f"); err != nil {
		t.Fatal(err)
	}
	if changed, err := d.Remove("/etc/d"); err != nil || !changed {
		t.Fatalf("removing the emptied dir: %v, %v", changed, err)
	}
}

func TestChangeString(t *testing.T) {
	for _, tc := range []struct {
		c    Change
		want string
	}{
		{Change{Op: OpWrite, Path: "/etc/x", Mode: 0o600, Diff: "content hidden (mode 0600)"}, "write /etc/x (0600) [content hidden (mode 0600)]"},
		{Change{Op: OpSymlink, Path: "/a", Detail: "-> /b"}, "symlink /a: -> /b"},
		{Change{Op: OpWrite, Path: "/etc/y", Mode: 0o644, Diff: "--- a\n+++ b\n"}, "write /etc/y (0644)\n--- a\n+++ b"},
		{Change{Op: OpCommand, Path: "kubeadm", Detail: "kubeadm join"}, "command kubeadm: kubeadm join"},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestRecorderConcurrent(t *testing.T) {
	rec := &Recorder{}
	done := make(chan struct{})
	for i := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for j := range 100 {
				rec.Add(Change{Op: OpCommand, Path: strconv.Itoa(i*100 + j)})
			}
		}()
	}
	for range 8 {
		<-done
	}
	if n := len(rec.Changes()); n != 800 {
		t.Errorf("%d changes, want 800", n)
	}
	var nilRec *Recorder
	nilRec.Add(Change{})
	if nilRec.Changes() != nil {
		t.Error("nil recorder returned changes")
	}
}
