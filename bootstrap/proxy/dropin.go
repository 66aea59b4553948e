package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/hybridnode/hybridnode/assets"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

// The drop-ins are <DropInDir>/<unit>.d/<DropInName>: in /etc, the
// administrator's place, beside whatever else configures the unit.
const (
	DropInDir  = hoststate.EtcUnitDir
	DropInName = "http-proxy.conf"
)

// DropInPath is the drop-in of unit ("containerd.service").
func DropInPath(unit string) string { return path.Join(DropInDir, unit+".d", DropInName) }

// RenderDropIn renders the systemd drop-in that gives a service the
// settings (Environment= lines of Env, quoted for systemd: backslash, quote
// and the specifier character % escaped), or nil when no proxy is set.
func RenderDropIn(s Settings) []byte {
	if !s.Enabled() {
		return nil
	}
	var b bytes.Buffer
	b.WriteString(assets.Header + "\n")
	b.WriteString("# hybridnode's proxy settings (httpProxy, httpsProxy and the effective noProxy: `hybridnode config dump`).\n")
	b.WriteString("[Service]\n")
	for _, kv := range s.Env() {
		fmt.Fprintf(&b, "Environment=%s\n", quote(kv[0]+"="+kv[1]))
	}
	return b.Bytes()
}

// DropInMode is the drop-in's mode: 0600 when a proxy URL carries
// credentials (systemd reads it as root), else 0644.
func DropInMode(s Settings) fs.FileMode {
	if s.HasCredentials() {
		return 0o600
	}
	return 0o644
}

var quoter = strings.NewReplacer(`\`, `\\`, `"`, `\"`, `%`, `%%`)

func quote(s string) string { return `"` + quoter.Replace(s) + `"` }

// ParseEnvironment reads the variables the Environment= lines of a unit
// file or drop-in set, in systemd's syntax: words split by blanks, "..."
// and '...' quoting, backslash escapes, %% for %, an empty Environment=
// clearing what came before. It reads what RenderDropIn writes, and the
// usual hand-written drop-ins.
func ParseEnvironment(data []byte) map[string]string {
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	section := ""
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[':
			section = line
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section != "[Service]" || strings.TrimSpace(k) != "Environment" {
			continue
		}
		words := systemdWords(strings.TrimSpace(v))
		if len(words) == 0 {
			clear(env)
		}
		for _, w := range words {
			if name, val, ok := strings.Cut(w, "="); ok && name != "" {
				env[name] = val
			}
		}
	}
	return env
}

// systemdWords splits a value into words as systemd does for Environment=.
func systemdWords(s string) []string {
	var words []string
	var w strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == 0 && (c == ' ' || c == '\t'):
			if in {
				words, in = append(words, w.String()), false
				w.Reset()
			}
			continue
		case c == '\\' && quote != '\'' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
		case c == '%' && i+1 < len(s) && s[i+1] == '%':
			i++
			w.WriteByte('%')
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case c == quote:
			quote = 0
		default:
			w.WriteByte(c)
		}
		in = true
	}
	if in {
		words = append(words, w.String())
	}
	return words
}
