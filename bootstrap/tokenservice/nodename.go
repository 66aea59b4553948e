package tokenservice

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"text/template"

	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultNodeNameTemplate is ACK's naming of a node pool's nodes,
// "<region-id>.<private-ipv4>" (ALIBABA_CLOUD_NODE_NAME, for example
// cn-hangzhou.10.10.24.7): the name a node may take is derived from its
// signed identity document with this template, never chosen by the node.
const DefaultNodeNameTemplate = "{{.RegionID}}.{{.PrivateIPv4}}"

// nameFields are what a template may use: the document's values.
type nameFields struct {
	RegionID, ZoneID, InstanceID, AccountID, PrivateIPv4 string
}

// fieldPatterns are the forms a pool token's node name may take for each
// field (pool tokens prove no instance: only the shape of the name is
// checked). PrivateIPv4 is checked again as an address (in the VPC CIDR).
var fieldPatterns = map[string]string{
	"RegionID":    `[a-z0-9]+(?:-[a-z0-9]+)*`,
	"ZoneID":      `[a-z0-9]+(?:-[a-z0-9]+)*`,
	"InstanceID":  `i-[a-z0-9]+`,
	"AccountID":   `[0-9]+`,
	"PrivateIPv4": `(?P<ip>[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})`,
}

// NodeNamer derives the Node name an instance may register as, and says
// whether a name fits the pool's pattern.
type NodeNamer struct {
	text    string
	tmpl    *template.Template
	pattern *regexp.Regexp
	vpc     []netip.Prefix
}

// NewNodeNamer parses a template (text/template over RegionID, ZoneID,
// InstanceID, AccountID and PrivateIPv4; "" is DefaultNodeNameTemplate)
// and the VPC CIDRs a name's address must fall in (none: any).
func NewNodeNamer(text string, vpcCIDRs []string) (*NodeNamer, error) {
	if text == "" {
		text = DefaultNodeNameTemplate
	}
	tmpl, err := template.New("node-name").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("node name template %q: %v", text, err)
	}
	n := &NodeNamer{text: text, tmpl: tmpl}
	// The pattern: the template run with a marker per field, quoted, and
	// each marker replaced by its field's form.
	marks := nameFields{}
	markOf := map[string]string{}
	for _, f := range []struct {
		name string
		p    *string
	}{{"RegionID", &marks.RegionID}, {"ZoneID", &marks.ZoneID}, {"InstanceID", &marks.InstanceID},
		{"AccountID", &marks.AccountID}, {"PrivateIPv4", &marks.PrivateIPv4}} {
		m := "\x00" + f.name + "\x00"
		*f.p = m
		markOf[m] = f.name
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, marks); err != nil {
		return nil, fmt.Errorf("node name template %q: %v", text, err)
	}
	expr := regexp.QuoteMeta(b.String())
	ipSeen := false
	for m, name := range markOf {
		p := fieldPatterns[name]
		if name == "PrivateIPv4" {
			if ipSeen = strings.Contains(expr, regexp.QuoteMeta(m)); ipSeen {
				// One named group only: the first use.
				expr = strings.Replace(expr, regexp.QuoteMeta(m), p, 1)
				p = `[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}`
			}
		}
		expr = strings.ReplaceAll(expr, regexp.QuoteMeta(m), p)
	}
	if n.pattern, err = regexp.Compile("^" + expr + "$"); err != nil {
		return nil, fmt.Errorf("node name template %q: %v", text, err)
	}
	for _, c := range vpcCIDRs {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("VPC CIDR %q: %v", c, err)
		}
		n.vpc = append(n.vpc, p.Masked())
	}
	return n, nil
}

// Template is the template's text.
func (n *NodeNamer) Template() string { return n.text }

// Name is the Node name of the instance d: the template over its signed
// values, which must be a valid Node name.
func (n *NodeNamer) Name(d Document) (string, error) {
	var b bytes.Buffer
	if err := n.tmpl.Execute(&b, nameFields{RegionID: d.RegionID, ZoneID: d.ZoneID, InstanceID: d.InstanceID,
		AccountID: d.AccountID, PrivateIPv4: d.PrivateIP}); err != nil {
		return "", fmt.Errorf("the node name template %q: %v", n.text, err)
	}
	name := b.String()
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return "", fmt.Errorf("the node name %q derived from the signed document with %q is not a valid Node name: %s", name, n.text, strings.Join(msgs, "; "))
	}
	return name, nil
}

// Fits says why a node name does not fit the pool's pattern ("" when it
// does): the template's shape, with its address in the VPC CIDRs.
func (n *NodeNamer) Fits(name string) string {
	m := n.pattern.FindStringSubmatch(name)
	if m == nil {
		return fmt.Sprintf("it does not have the form of the node name template %q", n.text)
	}
	if i := n.pattern.SubexpIndex("ip"); i > 0 && len(n.vpc) > 0 {
		ip, err := netip.ParseAddr(m[i])
		if err != nil {
			return fmt.Sprintf("its address %q is not an IPv4 address", m[i])
		}
		for _, p := range n.vpc {
			if p.Contains(ip) {
				return ""
			}
		}
		return fmt.Sprintf("its address %s is outside the VPC CIDR %s", ip, prefixes(n.vpc))
	}
	return ""
}

func prefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}
