package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/hybridnode/hybridnode/assets"
	"github.com/hybridnode/hybridnode/bootstrap/config"
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

// EnvFileDir holds the environment files the drop-ins name: one per unit,
// so that each unit's phase writes and removes its own.
const EnvFileDir = config.Dir + "/proxy"

// EnvFilePath is the environment file of unit ("containerd.service"):
// EnvFileDir/containerd.env.
func EnvFilePath(unit string) string {
	return path.Join(EnvFileDir, strings.TrimSuffix(unit, ".service")+".env")
}

// The modes: the environment file holds the proxy URLs, a password and
// all, so only root reads it (systemd reads it as root when it starts the
// service); the drop-in holds only the file's name.
const (
	EnvFileMode fs.FileMode = 0o600
	DropInMode  fs.FileMode = 0o644
)

// RenderDropIn renders the systemd drop-in that gives unit the settings,
// or nil when no proxy is set. It names unit's environment file
// (EnvironmentFile=, RenderEnvFile) and sets nothing itself: systemd shows
// a unit's Environment= settings to every local user (systemctl show, over
// D-Bus; systemd.exec(5)), which would show a proxy's password, but of an
// EnvironmentFile= only its name. Without the "-" prefix: a missing file
// fails the service's start rather than running it without its proxy.
func RenderDropIn(unit string, s Settings) []byte {
	if !s.Enabled() {
		return nil
	}
	var b bytes.Buffer
	b.WriteString(assets.Header + "\n")
	b.WriteString("# hybridnode's proxy settings (httpProxy, httpsProxy and the effective noProxy: `hybridnode config dump`),\n")
	b.WriteString("# in a file only root reads: systemd shows Environment= lines to every user.\n")
	b.WriteString("[Service]\n")
	fmt.Fprintf(&b, "EnvironmentFile=%s\n", EnvFilePath(unit))
	return b.Bytes()
}

// RenderEnvFile renders the environment file of the settings (Env, one
// NAME="value" a line, in the syntax of systemd's EnvironmentFile= and of
// a POSIX shell: backslash, double quote, dollar and backquote escaped; no
// specifiers there), or nil when no proxy is set.
func RenderEnvFile(s Settings) []byte {
	if !s.Enabled() {
		return nil
	}
	var b bytes.Buffer
	b.WriteString(assets.Header + "\n")
	b.WriteString("# hybridnode's proxy settings for containerd and kubelet (EnvironmentFile= of their http-proxy.conf drop-ins).\n")
	for _, kv := range s.Env() {
		fmt.Fprintf(&b, "%s=\"%s\"\n", kv[0], envQuoter.Replace(kv[1]))
	}
	return b.Bytes()
}

var envQuoter = strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, "`", "\\`")

// ParseEnvironment reads the variables the Environment= lines of a unit
// file or drop-in set, in systemd's syntax: words split by blanks, "..."
// and '...' quoting, backslash escapes, %% for %, an empty Environment=
// clearing what came before. It reads the usual hand-written drop-ins (and
// those of hybridnode before its environment files).
func ParseEnvironment(data []byte) map[string]string {
	env := map[string]string{}
	for _, v := range serviceValues(data, "Environment") {
		words := systemdWords(v)
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

// serviceValues are the values of key's lines in the [Service] section of
// a unit file or drop-in, in order, trimmed (comments and other sections
// skipped).
func serviceValues(data []byte, key string) []string {
	var out []string
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
		if ok && section == "[Service]" && strings.TrimSpace(k) == key {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
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

// EnvironmentFiles applies the EnvironmentFile= lines of a unit file or
// drop-in (of its [Service] section) to files, the list the files before
// it made, in systemd's order: each line adds its path as written ("-"
// prefixed when the file is optional), an empty one clears the list.
func EnvironmentFiles(data []byte, files []string) []string {
	for _, v := range serviceValues(data, "EnvironmentFile") {
		if v == "" {
			files = nil
		} else {
			files = append(files, v)
		}
	}
	return files
}

// ParseEnvFile reads an environment file as systemd's EnvironmentFile=
// does: NAME=value assignments, one a line; blank lines, lines starting
// with # or ; and lines without = skipped; a value "..." (a backslash
// keeps a following " \ ` or $, joins a following line, and is kept before
// anything else), '...' (verbatim) or unquoted (a backslash keeps the next
// character, or joins the next line; blanks around it trimmed). It reads
// what RenderEnvFile writes, and the usual hand-written files.
func ParseEnvFile(data []byte) map[string]string {
	env := map[string]string{}
	s := string(data)
	i := 0
	for i < len(s) {
		// The start of a line: blanks, a comment, or a name.
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
			i++
		}
		if i >= len(s) {
			break
		}
		if s[i] == '#' || s[i] == ';' {
			i = lineEnd(s, i)
			continue
		}
		eq := strings.IndexAny(s[i:], "=\n")
		if eq < 0 || s[i+eq] == '\n' {
			i = lineEnd(s, i)
			continue
		}
		name := strings.TrimSpace(s[i : i+eq])
		i += eq + 1
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		var v strings.Builder
		trim := 0 // length of the value before its unquoted trailing blanks
		for i < len(s) && s[i] != '\n' {
			switch c := s[i]; {
			case c == '\'':
				end := strings.IndexByte(s[i+1:], '\'')
				if end < 0 {
					end = len(s) - i - 1
				}
				v.WriteString(s[i+1 : i+1+end])
				i += end + 2
				trim = v.Len()
			case c == '"':
				i++
				for i < len(s) && s[i] != '"' {
					if s[i] == '\\' && i+1 < len(s) {
						switch s[i+1] {
						case '"', '\\', '`', '$':
							v.WriteByte(s[i+1])
							i += 2
							continue
						case '\n':
							i += 2
							continue
						}
					}
					v.WriteByte(s[i])
					i++
				}
				i++
				trim = v.Len()
			case c == '\\' && i+1 < len(s):
				if s[i+1] != '\n' {
					v.WriteByte(s[i+1])
					trim = v.Len()
				}
				i += 2
			default:
				v.WriteByte(c)
				if c != ' ' && c != '\t' && c != '\r' {
					trim = v.Len()
				}
				i++
			}
		}
		if name != "" {
			env[name] = v.String()[:trim]
		}
	}
	return env
}

// lineEnd is the index just past the end of the line at i.
func lineEnd(s string, i int) int {
	if n := strings.IndexByte(s[i:], '\n'); n >= 0 {
		return i + n + 1
	}
	return len(s)
}
