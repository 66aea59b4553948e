package config

import (
	"bytes"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/version"
	"sigs.k8s.io/yaml"

	"github.com/hybridnode/hybridnode/kubelet"
)

// Derive fills the defaults that depend on other fields: crictlVersion from
// the Kubernetes minor, sandboxImage from what that kubeadm expects, and
// nodeName from the hostname. Derived fields are marked as such.
func (l *Loaded) Derive(hostname string, sandboxImage func(minor int) string) {
	c := &l.Config
	v, err := version.ParseSemantic(strings.TrimPrefix(c.KubernetesVersion, "v"))
	if err == nil {
		minor := int(v.Minor())
		if c.CrictlVersion == "" {
			c.CrictlVersion = fmt.Sprintf("v1.%d.0", minor)
			l.Sources["crictlVersion"] = Source{Kind: "derived", Name: "from kubernetesVersion"}
		}
		if c.SandboxImage == "" && sandboxImage != nil && kubelet.SupportedMinor(minor) {
			c.SandboxImage = sandboxImage(minor)
			l.Sources["sandboxImage"] = Source{Kind: "derived", Name: "from kubernetesVersion"}
		}
	}
	if c.NodeName == "" && hostname != "" {
		c.NodeName = strings.ToLower(hostname)
		l.Sources["nodeName"] = Source{Kind: "derived", Name: "from the hostname"}
	}
}

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
	for _, f := range Fields {
		out, err := yaml.Marshal(map[string]any{f.Key: l.Config.Get(f.Key)})
		if err != nil {
			out = []byte(fmt.Sprintf("%s: %q\n", f.Key, l.Config.FormatString(f.Key)))
		}
		first, rest, _ := strings.Cut(string(out), "\n")
		fmt.Fprintf(&b, "%s  # %s\n%s", first, l.Sources[f.Key], rest)
	}
	return b.Bytes()
}
