package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// hugeFile claims a size over the limit and fails the test when read.
type hugeFile struct{ t *testing.T }

func (h hugeFile) Stat() (fs.FileInfo, error) { return hugeInfo{}, nil }
func (h hugeFile) Read([]byte) (int, error) {
	h.t.Error("an oversized config file was read")
	return 0, errors.New("read")
}
func (h hugeFile) Close() error { return nil }

type hugeInfo struct{}

func (hugeInfo) Name() string       { return "config.yaml" }
func (hugeInfo) Size() int64        { return 8 << 30 }
func (hugeInfo) Mode() fs.FileMode  { return 0o600 }
func (hugeInfo) ModTime() time.Time { return time.Time{} }
func (hugeInfo) IsDir() bool        { return false }
func (hugeInfo) Sys() any           { return nil }

func noEnv(string) (string, bool) { return "", false }

func TestOversizedConfigFileIsRefusedUnread(t *testing.T) {
	_, err := loadSources(ResolveOptions{
		File:      "/srv/huge.yaml",
		Open:      func(string) (fs.File, error) { return hugeFile{t}, nil },
		ReadDir:   func(string) ([]fs.DirEntry, error) { return nil, fs.ErrNotExist },
		LookupEnv: noEnv,
	})
	if err == nil || !strings.Contains(err.Error(), `--config: got "/srv/huge.yaml", want a config file of at most 1048576 bytes (1 MiB); it has 8589934592 bytes`) {
		t.Fatalf("got %v", err)
	}
	// With ReadFile only the size is known after reading; still refused.
	_, err = loadSources(ResolveOptions{
		File:      "/srv/huge.yaml",
		ReadFile:  func(string) ([]byte, error) { return make([]byte, MaxFileSize+1), nil },
		LookupEnv: noEnv,
		ReadDir:   func(string) ([]fs.DirEntry, error) { return nil, fs.ErrNotExist },
	})
	if err == nil || !strings.Contains(err.Error(), "at most 1048576 bytes") {
		t.Fatalf("ReadFile: got %v", err)
	}
}

func TestTooManyDropIns(t *testing.T) {
	tree := fstest.MapFS{}
	for i := 0; i < MaxDropIns+1; i++ {
		tree[fmt.Sprintf("etc/hybridnode/config.d/%03d.yaml", i)] = &fstest.MapFile{Data: []byte("nodeName: n\n")}
	}
	_, err := loadTree(t, tree, nil, "")
	if err == nil || !strings.Contains(err.Error(), "/etc/hybridnode/config.d: want at most 256 *.yaml drop-ins (it has 257") {
		t.Fatalf("got %v", err)
	}
}

func TestNonRegularConfigFileIsRefused(t *testing.T) {
	in := input{files: file(mainFile, "")}
	in.modes = map[string]fs.FileMode{mainFile: fs.ModeNamedPipe | 0o600}
	_, loadErr, _ := in.run(t)
	if loadErr == nil || !strings.Contains(loadErr.Error(), mainFile+": want a regular YAML config file") {
		t.Fatalf("got %v", loadErr)
	}
}

func TestWarningsForATokenOthersCanRead(t *testing.T) {
	cases := []struct {
		name  string
		in    input
		warns []string // substrings, one warning each; none: no warning
	}{
		{"config.yaml 0644 with the token", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(mainFile, "token: "+goodToken+"\n"), modes: map[string]fs.FileMode{mainFile: 0o644}},
			[]string{mainFile + " holds the bootstrap token (token) but is readable by group or others (mode 0644): chmod 600 " + mainFile}},
		{"drop-in 0640 with the token", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(dropIn, "token: "+goodToken+"\n"), modes: map[string]fs.FileMode{dropIn: 0o640}},
			[]string{dropIn + " holds the bootstrap token", "(mode 0640)"}},
		{"config.yaml 0666 with a mistyped token", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(mainFile, "token: [x]\n"), modes: map[string]fs.FileMode{mainFile: 0o666}},
			[]string{"(mode 0666)"}},
		{"config.yaml 0600 with the token", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(mainFile, "token: "+goodToken+"\n")}, nil},
		{"config.yaml 0644 without the token", input{files: file(mainFile, "nodeName: n\ntoken: \"\"\n"), modes: map[string]fs.FileMode{mainFile: 0o644}}, nil},
		{"token file 0644", input{env: env("HYBRIDNODE_TOKEN", "", "HYBRIDNODE_TOKEN_FILE", "/run/token"), files: file("/run/token", goodToken), modes: map[string]fs.FileMode{"/run/token": 0o644}},
			[]string{"the token file /run/token is readable by group or others (mode 0644): chmod 600 /run/token"}},
		{"token file 0400", input{env: env("HYBRIDNODE_TOKEN", "", "HYBRIDNODE_TOKEN_FILE", "/run/token"), files: file("/run/token", goodToken), modes: map[string]fs.FileMode{"/run/token": 0o400}}, nil},
	}
	for _, c := range cases {
		l, _, _ := c.in.run(t)
		if len(c.warns) == 0 && len(l.Warnings) > 0 {
			t.Errorf("%s: unexpected warnings %q", c.name, l.Warnings)
		}
		if len(c.warns) > 0 && len(l.Warnings) != 1 {
			t.Errorf("%s: want one warning, got %q", c.name, l.Warnings)
			continue
		}
		for _, w := range c.warns {
			if !strings.Contains(l.Warnings[0], w) {
				t.Errorf("%s: warning %q lacks %q", c.name, l.Warnings[0], w)
			}
		}
		for _, w := range l.Warnings {
			if strings.Contains(w, goodToken) {
				t.Errorf("%s: the warning quotes the token", c.name)
			}
		}
	}
	// config dump shows them.
	l, _, _ := cases[0].in.run(t)
	if d := string(l.Dump()); !strings.Contains(d, "# warning: "+mainFile+" holds the bootstrap token") {
		t.Errorf("dump lacks the warning:\n%s", d)
	}
}

func TestTokenFileIsReadUnderTheRoot(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "run"), 0o755)
	os.WriteFile(filepath.Join(root, "secret"), []byte(goodToken+"\n"), 0o600)
	// An absolute symlink inside the image root points into the root, not the host.
	os.Symlink("/secret", filepath.Join(root, "run", "token"))
	env := ackEnv()
	delete(env, "HYBRIDNODE_TOKEN")
	env["HYBRIDNODE_TOKEN_FILE"] = "/run/token"
	l, err := load(t, env, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := validate(l, ResolveOptions{Join: true, Root: root})
	if err != nil || s.Token.Reveal() != goodToken {
		t.Fatalf("under --root: %v", err)
	}
	// Missing under the root: the problem says where it looked.
	env["HYBRIDNODE_TOKEN_FILE"] = "/run/hybridnode-no-such-token"
	l, _ = load(t, env, "", nil)
	_, err = validate(l, ResolveOptions{Join: true, Root: root})
	if err == nil || !strings.Contains(err.Error(), "read as "+filepath.Join(root, "run/hybridnode-no-such-token")+" under --root") {
		t.Fatalf("missing under --root: %v", err)
	}
}
