package packaging

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The markers around the node-pool block of add-node.sh.in. A release's
// script holds the empty block; NodePoolScript replaces it.
const (
	poolBegin = "# >>> hybridnode node-pool settings"
	poolEnd   = "# <<< hybridnode node-pool settings"
	// poolEOF ends the here-document that carries the settings.
	poolEOF = "HN_NODE_POOL_EOF"
)

// PoolProxy is a node pool's httpProxy, httpsProxy and noProxy (its entries
// joined by commas), as its drop-in sets them: the script's own download
// of the binary uses them too. A proxy URL may hold user:password: the
// script never prints it.
type PoolProxy struct {
	HTTP, HTTPS, No string
}

func (p PoolProxy) empty() bool { return p == PoolProxy{} }

// check refuses what would break the single-quoted assignments the values
// are rendered into, naming the field: control characters, invalid UTF-8
// and single quotes.
func (p PoolProxy) check() error {
	for _, f := range []struct{ key, v string }{{"httpProxy", p.HTTP}, {"httpsProxy", p.HTTPS}, {"noProxy", p.No}} {
		if err := plainLine(f.v); err != nil {
			return fmt.Errorf("node-pool script: %s: %w", f.key, err)
		}
		if strings.ContainsAny(f.v, "'") {
			return fmt.Errorf("node-pool script: %s holds a single quote (percent-encode it in a URL as %%27)", f.key)
		}
	}
	return nil
}

// NodePoolScript returns the release's rendered add-node.sh with its
// node-pool block replaced: comment lines (the first one also becomes the
// summary the script prints, so it must not be secret), and a function that
// prints config, the node's drop-in YAML, through a here-document read by
// shell builtins only, so the settings reach no command line. The script
// writes them to /etc/hybridnode/config.d/50-node-pool.yaml (0600) before
// anything else. proxy, when not empty, is rendered as the script's
// hn_pool_*_proxy assignments, which its download of the binary uses.
func NodePoolScript(release []byte, comment []string, config []byte, proxy PoolProxy) ([]byte, error) {
	before, rest, ok := bytes.Cut(release, []byte("\n"+poolBegin+"\n"))
	if !ok {
		return nil, errors.New("the release's add-node.sh has no node-pool block (" + poolBegin + "): it is older than hybridnode cluster, or not add-node.sh")
	}
	_, after, ok := bytes.Cut(rest, []byte("\n"+poolEnd+"\n"))
	if !ok {
		return nil, errors.New("the release's add-node.sh has no end of its node-pool block (" + poolEnd + ")")
	}
	if bytes.Contains(after, []byte(poolBegin)) {
		return nil, errors.New("the release's add-node.sh has more than one node-pool block")
	}
	if err := proxy.check(); err != nil {
		return nil, err
	}
	if !proxy.empty() && !bytes.Contains(after, []byte("$hn_pool_https_proxy")) {
		return nil, errors.New("the release's add-node.sh predates proxy settings for its own download (httpProxy, httpsProxy, noProxy): use a newer release")
	}
	if len(comment) == 0 || strings.TrimSpace(comment[0]) == "" {
		return nil, errors.New("node-pool script: want a first comment line (the summary)")
	}
	for i, c := range comment {
		if err := plainLine(c); err != nil {
			return nil, fmt.Errorf("node-pool script: comment line %d: %w", i+1, err)
		}
	}
	if strings.Contains(comment[0], "'") {
		return nil, fmt.Errorf("node-pool script: the summary must not hold a single quote: %q", comment[0])
	}
	if len(config) == 0 || config[len(config)-1] != '\n' {
		return nil, errors.New("node-pool script: the settings must be non-empty and end with a newline")
	}
	for i, l := range strings.Split(strings.TrimSuffix(string(config), "\n"), "\n") {
		if err := plainLine(l); err != nil {
			return nil, fmt.Errorf("node-pool script: settings line %d: %w", i+1, err)
		}
		if strings.TrimSpace(l) == poolEOF {
			return nil, fmt.Errorf("node-pool script: settings line %d is the here-document's end marker", i+1)
		}
	}

	var b bytes.Buffer
	b.Write(before)
	b.WriteString("\n" + poolBegin + "\n")
	for _, c := range comment {
		b.WriteString(strings.TrimRight("# "+c, " ") + "\n")
	}
	fmt.Fprintf(&b, "hn_pool='%s'\n", comment[0])
	for _, v := range []struct{ name, v string }{{"hn_pool_http_proxy", proxy.HTTP}, {"hn_pool_https_proxy", proxy.HTTPS}, {"hn_pool_no_proxy", proxy.No}} {
		if v.v != "" {
			fmt.Fprintf(&b, "%s='%s'\n", v.name, v.v)
		}
	}
	b.WriteString("hn_pool_settings() {\n")
	b.WriteString("\twhile IFS= read -r hn_line; do printf '%s\\n' \"$hn_line\"; done <<'" + poolEOF + "'\n")
	b.Write(config)
	b.WriteString(poolEOF + "\n}\n")
	b.WriteString(poolEnd + "\n")
	b.Write(after)
	return b.Bytes(), nil
}

// plainLine refuses what could end a comment or a here-document early, or
// hide text on a terminal: control characters and invalid UTF-8.
func plainLine(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("holds the control character %U", r)
		}
	}
	return nil
}
