package config

import (
	"errors"
	"io/fs"
	"path"
	"strings"
	"testing"
	"testing/fstest"
)

// loadTree loads with the main file and config.d drop-ins from an in-memory
// tree rooted at /.
func loadTree(t *testing.T, tree fstest.MapFS, env map[string]string, explicit string) (*Loaded, error) {
	t.Helper()
	rel := func(p string) string { return strings.TrimPrefix(path.Clean(p), "/") }
	return loadSources(ResolveOptions{
		File:        explicit,
		DefaultFile: "/etc/hybridnode/config.yaml",
		ReadFile:    func(p string) ([]byte, error) { return fs.ReadFile(tree, rel(p)) },
		ReadDir:     func(p string) ([]fs.DirEntry, error) { return fs.ReadDir(tree, rel(p)) },
		LookupEnv:   func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
}

func TestDropInsOverrideTheMainFileInNameOrder(t *testing.T) {
	tree := fstest.MapFS{
		"etc/hybridnode/config.yaml":                 {Data: []byte("kubernetesVersion: v1.35.8\nrunc" + "Version: v1.2.0\nsandboxImage: baked/pause:1\n")},
		"etc/hybridnode/config.d/50-node-pool.yaml":  {Data: []byte("kubernetesVersion: v1.37.1\napiServerEndpoint: 10.0.0.10:6443\ntoken: " + goodToken + "\n")},
		"etc/hybridnode/config.d/90-local.yaml":      {Data: []byte("runc" + "Version: v1.3.3\n")},
		"etc/hybridnode/config.d/README":             {Data: []byte("not yaml: [")},
		"etc/hybridnode/config.d/.50-x.yaml.new.123": {Data: []byte("not yaml: [")},
		"etc/hybridnode/config.d/sub.yaml/x":         {Data: []byte("")},
	}
	l, err := loadTree(t, tree, map[string]string{"HYBRIDNODE_RUNC_VERSION": "v1.4.0"}, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/etc/hybridnode/config.yaml", "/etc/hybridnode/config.d/50-node-pool.yaml", "/etc/hybridnode/config.d/90-local.yaml"}
	if strings.Join(l.Files, " ") != strings.Join(want, " ") {
		t.Errorf("files read %v, want %v", l.Files, want)
	}
	for _, c := range []struct{ key, want, source string }{
		{"kubernetesVersion", "v1.37.1", "file /etc/hybridnode/config.d/50-node-pool.yaml"},
		{"sandboxImage", "baked/pause:1", "file /etc/hybridnode/config.yaml"},
		{"apiServerEndpoint", "10.0.0.10:6443", "file /etc/hybridnode/config.d/50-node-pool.yaml"},
		{"runcVersion", "v1.4.0", "env HYBRIDNODE_RUNC_VERSION"},
	} {
		if got := l.Config.FormatString(c.key); got != c.want {
			t.Errorf("%s = %q, want %q", c.key, got, c.want)
		}
		if got := l.Sources[c.key].String(); got != c.source {
			t.Errorf("%s source = %q, want %q", c.key, got, c.source)
		}
	}
	if l.Config.Token.Reveal() != goodToken {
		t.Error("the drop-in's token was not loaded")
	}
	dump := string(l.Dump())
	if !strings.Contains(dump, "# config file: /etc/hybridnode/config.d/50-node-pool.yaml\n") ||
		!strings.Contains(dump, "kubernetesVersion: v1.37.1  # file /etc/hybridnode/config.d/50-node-pool.yaml\n") {
		t.Errorf("config dump does not name the drop-in:\n%s", dump)
	}
	if strings.Contains(dump, goodToken) {
		t.Error("config dump shows the token")
	}

	// Without the drop-ins the main file's values stand: the lower layer is really read.
	delete(tree, "etc/hybridnode/config.d/50-node-pool.yaml")
	l, err = loadTree(t, tree, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Config.KubernetesVersion; got != "v1.35.8" {
		t.Errorf("kubernetesVersion without the drop-in = %q, want the main file's v1.35.8", got)
	}
}

func TestDropInsWithAnExplicitConfigAndWithout(t *testing.T) {
	tree := fstest.MapFS{
		"srv/other.yaml": {Data: []byte("kubernetesVersion: v1.36.4\n")},
		"etc/hybridnode/config.d/50-node-pool.yaml": {Data: []byte("artifactURL: http://oss.example/k8s\n")},
	}
	l, err := loadTree(t, tree, nil, "/srv/other.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if l.Config.KubernetesVersion != "v1.36.4" || l.Config.ArtifactURL != "http://oss.example/k8s" {
		t.Errorf("--config with drop-ins: kubernetesVersion %q, artifactURL %q", l.Config.KubernetesVersion, l.Config.ArtifactURL)
	}
	// No config.yaml at all: the drop-in alone (a stock instance after the node-pool script).
	l, err = loadTree(t, fstest.MapFS{"etc/hybridnode/config.d/50-node-pool.yaml": tree["etc/hybridnode/config.d/50-node-pool.yaml"]}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if l.Config.ArtifactURL != "http://oss.example/k8s" || len(l.Files) != 1 {
		t.Errorf("drop-in only: artifactURL %q, files %v", l.Config.ArtifactURL, l.Files)
	}
}

func TestDropInProblemsNameTheFileAndNeverTheToken(t *testing.T) {
	tree := fstest.MapFS{
		"etc/hybridnode/config.d/50-node-pool.yaml": {Data: []byte("token: [" + goodToken + "]\nbogusKey: 1\n")},
		"etc/hybridnode/config.d/60-num.yaml":       {Data: []byte("token: 123456.0123456789\n")},
	}
	_, err := loadTree(t, tree, nil, "")
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *Error", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"token (/etc/hybridnode/config.d/50-node-pool.yaml): want a string",
		"bogusKey (/etc/hybridnode/config.d/50-node-pool.yaml): want a known key",
		"token (/etc/hybridnode/config.d/60-num.yaml): want a string",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	for _, secret := range []string{goodToken, "0123456789abcdef", "123456.0123456789"} {
		if strings.Contains(msg, secret) {
			t.Errorf("the error echoes the token value %q:\n%s", secret, msg)
		}
	}
}
