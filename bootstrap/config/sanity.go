package config

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hybridnode/hybridnode/kubelet"
)

// How much of the input a problem quotes.
const (
	maxGot   = 256  // bytes of Got
	maxQuote = 128  // bytes of a value quoted inside Field or Want
	maxWant  = 1024 // bytes of Want
	// minSecretLen: shorter secret texts are not searched for in problems
	// (they would match ordinary words); the secret's own field never
	// echoes its value anyway.
	minSecretLen = 6
)

// isControl reports the characters refused in every value: C0 and C1
// controls and DEL (newline, tab, escape...), the Unicode line and
// paragraph separators, the bidirectional overrides and isolates, and the
// byte order mark.
func isControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' ||
		r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069' || r == '\ufeff'
}

// printable escapes control characters and invalid UTF-8 as Go escapes.
func printable(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || isControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case isControl(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// shorten cuts s to at most max bytes (on a rune boundary), marking the cut.
func shorten(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const mark = "…"
	cut := max - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// fieldName is a key from the input fit for a Problem's Field.
func fieldName(key string) string { return printable(shorten(key, maxQuote)) }

// tokenShapeRE is a bootstrap token's form: such a text is removed from
// every problem even when it was not given as the token (a token pasted
// under the wrong key).
var tokenShapeRE = regexp.MustCompile(`\b[a-z0-9]{6}\.[a-z0-9]{16}\b`)

// finish makes the problems safe to print: every secret text and anything
// shaped like a bootstrap token removed, Got and Want bounded, no control
// characters in Field or Want. It is idempotent.
func (e *Error) finish(secrets []string) {
	// Longest first: a shorter secret inside a longer one goes with it.
	secrets = append([]string(nil), secrets...)
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for i := range e.Problems {
		p := &e.Problems[i]
		for _, s := range secrets {
			if len(s) < minSecretLen {
				continue
			}
			p.Got = strings.ReplaceAll(p.Got, s, redacted)
			p.Want = strings.ReplaceAll(p.Want, s, redacted)
			p.Field = redactField(p.Field, s)
		}
		p.Got = tokenShapeRE.ReplaceAllString(p.Got, redacted)
		p.Want = tokenShapeRE.ReplaceAllString(p.Want, redacted)
		for _, s := range tokenShapeRE.FindAllString(p.Field, -1) {
			p.Field = redactField(p.Field, s)
		}
		p.Got = shorten(p.Got, maxGot)
		p.Want = printable(shorten(p.Want, maxWant))
		p.Field = printable(shorten(p.Field, maxWant))
	}
}

// redactField removes a secret from a Field that names something of the
// input (an unknown key), keeping the names hybridnode gives (a config key,
// a variable, a flag, a file).
func redactField(field, secret string) string {
	head, tail, paren := strings.Cut(field, " (")
	if knownName(head) || strings.HasPrefix(head, "/") || !strings.Contains(head, secret) {
		return field
	}
	head = strings.ReplaceAll(head, secret, redacted)
	if paren {
		return head + " (" + tail
	}
	return head
}

func knownName(s string) bool {
	if s == "--config" {
		return true
	}
	for _, f := range Fields {
		if s == f.Key || f.Flag != "" && s == "--"+f.Flag {
			return true
		}
		for _, e := range f.Env {
			if s == e {
				return true
			}
		}
	}
	return false
}

// badText says what is wrong with one string of the input, or "".
func badText(s string) string {
	switch {
	case len(s) > MaxValueLen:
		return fmt.Sprintf("at most %d bytes per value (this one has %d)", MaxValueLen, len(s))
	case !utf8.ValidString(s):
		return "valid UTF-8 text"
	}
	for _, r := range s {
		if isControl(r) {
			return "no control characters (newline, tab, escape...): got " + strconv.QuoteRune(r)
		}
	}
	return ""
}

// sanity checks a field's value against the limits: every string (value,
// list item, map key and value) by badText, every list and map at most
// MaxEntries long. It returns the first problem's offending text and what
// was wanted; want is "" when the value is sane.
func sanity(key string, v any) (got, want string) {
	many := func(n int) string {
		if n > MaxEntries {
			return fmt.Sprintf("at most %d entries (it has %d)", MaxEntries, n)
		}
		return ""
	}
	switch x := v.(type) {
	case string:
		return x, badText(x)
	case Secret:
		if w := badText(x.Reveal()); w != "" {
			return "", w + " (value not shown)"
		}
	case ProxyURL:
		return x.String(), badText(x.Reveal())
	case []string:
		if key == "nodeLabels" || key == "nodeTaints" {
			x = kubelet.SplitItems(x...)
		}
		if w := many(len(x)); w != "" {
			return "", w
		}
		for _, s := range x {
			if w := badText(s); w != "" {
				return s, w
			}
		}
	case map[string]string:
		if w := many(len(x)); w != "" {
			return "", w
		}
		for _, k := range sortedKeys(x) {
			if w := badText(k); w != "" {
				return k, "a name with " + w
			}
			if w := badText(x[k]); w != "" {
				return k + "=" + x[k], w
			}
		}
	case map[string][]string:
		if w := many(len(x)); w != "" {
			return "", w
		}
		for _, k := range sortedKeys(x) {
			if w := badText(k); w != "" {
				return k, "a registry with " + w
			}
			if w := many(len(x[k])); w != "" {
				return k, fmt.Sprintf("at most %d mirrors per registry (it has %d)", MaxEntries, len(x[k]))
			}
			for _, u := range x[k] {
				if w := badText(u); w != "" {
					return k + "=" + u, w
				}
			}
		}
	}
	return "", ""
}
