package packaging_test

import (
	"os"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap/config"
)

// loadFile resolves the file alone (no join fields required). The error
// is nil when it was read and parsed: validation's problems (the token
// and tokenFile both set, say) are not the file's form.
func loadFile(t *testing.T, data string) (*config.Loaded, error) {
	t.Helper()
	l, _, err := config.Resolve(config.ResolveOptions{
		File:      "/etc/hybridnode/config.yaml",
		ReadFile:  func(string) ([]byte, error) { return []byte(data), nil },
		LookupEnv: func(string) (string, bool) { return "", false },
	})
	if l.Parsed() {
		err = nil
	}
	return l, err
}

// The default /etc/hybridnode/config.yaml: every key of bootstrap/config,
// each commented out once under a one-line explanation; as shipped it sets
// nothing, and with every key uncommented it still parses.
func TestDefaultConfig(t *testing.T) {
	b, err := os.ReadFile("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")

	l, err := loadFile(t, string(b))
	if err != nil {
		t.Fatalf("the shipped file does not load: %v", err)
	}
	for key, src := range l.Sources {
		if src.Kind != "default" && src.Kind != "derived" {
			t.Errorf("the shipped file sets %s; every key must be commented out", key)
		}
	}

	var uncommented []string
	groups := map[string]bool{}
	for _, f := range config.Fields {
		n := 0
		prefix := "#" + f.Key + ":"
		// A nested key (tokenService.url) is "#  url:" under "#tokenService:".
		if g, sub, ok := strings.Cut(f.Key, "."); ok {
			prefix = "#  " + sub + ":"
			if !groups[g] {
				groups[g] = true
				if !strings.Contains(string(b), "\n#"+g+":\n") {
					t.Errorf("#%s: no #%s: line to nest it under", f.Key, g)
				}
				uncommented = append(uncommented, g+":")
			}
		}
		for i, line := range lines {
			if !strings.HasPrefix(line, prefix) {
				continue
			}
			n++
			uncommented = append(uncommented, strings.TrimPrefix(line, "#"))
			if i == 0 || !strings.HasPrefix(lines[i-1], "# ") || len(lines[i-1]) < 12 {
				t.Errorf("#%s: has no one-line explanation above it", f.Key)
			}
			for _, env := range f.Env {
				if !strings.Contains(lines[i-1], env) {
					t.Errorf("#%s: its explanation does not name %s", f.Key, env)
				}
			}
		}
		if n != 1 {
			t.Errorf("#%s: appears %d times, want once", f.Key, n)
		}
	}
	for _, line := range lines {
		if line != "" && !strings.HasPrefix(line, "#") {
			t.Errorf("line not commented out: %q", line)
		}
	}

	l, err = loadFile(t, strings.Join(uncommented, "\n")+"\n")
	if err != nil {
		t.Fatalf("with every key uncommented: %v", err)
	}
	for _, f := range config.Fields {
		if l.Sources[f.Key].Kind != "file" {
			t.Errorf("%s: not read from the uncommented file", f.Key)
		}
	}
}
