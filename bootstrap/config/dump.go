package config

import (
	"bytes"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// Dump renders the configuration as YAML, every field followed by a comment
// naming its source. Secrets show as [REDACTED].
func (l *Loaded) Dump() []byte {
	var b bytes.Buffer
	b.WriteString("# hybridnode configuration: each field with where it came from\n")
	for _, f := range l.Files {
		fmt.Fprintf(&b, "# config file: %s\n", printable(f))
	}
	for _, w := range l.Warnings {
		fmt.Fprintf(&b, "# warning: %s\n", printable(w))
	}
	open := "" // the nested map being written (tokenService)
	for _, f := range Fields {
		name, pad := f.Key, ""
		if g := group(f.Key); g != "" {
			if g != open {
				fmt.Fprintf(&b, "%s:\n", g)
			}
			name, pad = strings.TrimPrefix(f.Key, g+"."), "  "
		}
		open = group(f.Key)
		out, err := yaml.Marshal(map[string]any{name: l.Config.Get(f.Key)})
		if err != nil {
			out = []byte(fmt.Sprintf("%s: %q\n", name, l.Config.FormatString(f.Key)))
		}
		first, rest, _ := strings.Cut(string(out), "\n")
		fmt.Fprintf(&b, "%s%s  # %s\n%s", pad, first, l.Sources[f.Key], indentLines(rest, pad))
	}
	return b.Bytes()
}

// indentLines puts pad before every line of s (which ends in a newline or
// is empty).
func indentLines(s, pad string) string {
	if pad == "" || s == "" {
		return s
	}
	lines := strings.SplitAfter(s, "\n")
	for i, line := range lines {
		if line != "" {
			lines[i] = pad + line
		}
	}
	return strings.Join(lines, "")
}
