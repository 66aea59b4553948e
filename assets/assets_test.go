package assets

import (
	"flag"
	"strings"
	"testing"
	"text/template"

	"github.com/pelletier/go-toml/v2"
)

// update is accepted so that `go test ./... -update` works across the
// module; this package has no golden files.
var update = flag.Bool("update", false, "rewrite testdata/*.golden files (no golden files here)")

// templateNames lists the embedded template names, sorted.
func templateNames() ([]string, error) {
	entries, err := FS.ReadDir("templates")
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

func TestTemplatesParse(t *testing.T) {
	_ = *update
	names, err := templateNames()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"10-kubeadm.conf.tmpl",
		"containerd-config-v2.toml.tmpl",
		"containerd-config-v3.toml.tmpl",
		"containerd.service.tmpl",
		"hosts.toml.tmpl",
		"kubelet.service.tmpl",
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("templateNames() = %v, want %v", names, want)
	}
	for _, n := range names {
		b, err := FS.ReadFile("templates/" + n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := template.New(n).Funcs(Funcs()).Parse(string(b)); err != nil {
			t.Errorf("%s: %v", n, err)
		}
		if !strings.HasPrefix(string(b), "{{ header }}\n") {
			t.Errorf("%s does not start with the header", n)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	if _, err := Render("no-such.tmpl", nil); err == nil {
		t.Fatal("Render of an unknown template: want an error")
	}
	// missingkey=error only applies to maps; a missing struct field fails too.
	if _, err := Render("kubelet.service.tmpl", struct{}{}); err == nil {
		t.Fatal("Render with data lacking BinDir: want an error")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("MustRender of an unknown template: want a panic")
		}
	}()
	MustRender("no-such.tmpl", nil)
}

func TestTOMLStringRoundTrip(t *testing.T) {
	for _, s := range []string{
		"",
		"registry.k8s.io/pause:3.10.2",
		`C:\path\with "quotes"`,
		"tab\tnewline\ncr\rbell\a nul\x00 del\x7f",
		"unicode: é 日本 🚀",
		"'single' and \\u0041 literal",
	} {
		doc := "k = " + TOMLString(s) + "\nl = " + TOMLStringList([]string{s, "x"}) + "\n"
		var got struct {
			K string   `toml:"k"`
			L []string `toml:"l"`
		}
		if err := toml.Unmarshal([]byte(doc), &got); err != nil {
			t.Errorf("%q: %v\n%s", s, err, doc)
			continue
		}
		if got.K != s || len(got.L) != 2 || got.L[0] != s || got.L[1] != "x" {
			t.Errorf("round trip of %q: got %q %q", s, got.K, got.L)
		}
	}
	if got := TOMLStringList(nil); got != "[]" {
		t.Errorf("TOMLStringList(nil) = %q", got)
	}
}
