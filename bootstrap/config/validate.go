package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/version"
)

// Supported Kubernetes minors.
const (
	MinMinor = 30
	MaxMinor = 37
)

// Label is one node label.
type Label struct{ Key, Value string }

// Taint is one node taint.
type Taint struct{ Key, Value, Effect string }

func (t Taint) String() string {
	if t.Value == "" {
		return t.Key + ":" + t.Effect
	}
	return t.Key + "=" + t.Value + ":" + t.Effect
}

// Spec is a validated configuration in typed form.
type Spec struct {
	Config
	KubernetesMinor int
	ContainerdMajor int
	Token           Secret // from token or tokenFile
	Labels          []Label
	Taints          []Taint
}

// ValidateOptions say what the command needs.
type ValidateOptions struct {
	// Join requires the join fields (endpoint, token, CA pin).
	Join bool
	// ReadFile reads tokenFile; default os.ReadFile.
	ReadFile func(string) ([]byte, error)
}

var (
	tokenRE      = regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`)
	caHashRE     = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	providerIDRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*\.[A-Za-z0-9][A-Za-z0-9-]*$`)
	componentRE  = regexp.MustCompile(`^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)
	effects      = map[string]bool{"NoSchedule": true, "PreferNoSchedule": true, "NoExecute": true}
)

// Validate checks every field and returns all problems at once as *Error.
// It reads tokenFile but touches nothing on the host.
func Validate(l *Loaded, o ValidateOptions) (*Spec, error) {
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	c := l.Config
	s := &Spec{Config: c}
	var errs Error
	bad := func(key, got, want string) { errs.add(l.Where(key), got, want) }

	if v, err := version.ParseSemantic(strings.TrimPrefix(c.KubernetesVersion, "v")); err != nil || v.Major() != 1 || v.Minor() < MinMinor || v.Minor() > MaxMinor {
		bad("kubernetesVersion", c.KubernetesVersion, fmt.Sprintf("a release v1.%d.x to v1.%d.x such as v1.37.1", MinMinor, MaxMinor))
	} else {
		s.KubernetesVersion = "v" + v.String()
		s.KubernetesMinor = int(v.Minor())
	}
	if v, err := version.ParseSemantic(strings.TrimPrefix(c.ContainerdVersion, "v")); err != nil || !(v.Major() == 2 || v.Major() == 1 && v.Minor() == 7) {
		bad("containerdVersion", c.ContainerdVersion, "a containerd release 1.7.x or 2.x such as v2.2.0")
	} else {
		s.ContainerdVersion = "v" + v.String()
		s.ContainerdMajor = int(v.Major())
	}
	for _, key := range []string{"runcVersion", "crictlVersion", "cniPluginsVersion"} {
		v := value(&s.Config, key)
		if v.String() == "" {
			continue
		}
		if !componentRE.MatchString(v.String()) {
			bad(key, v.String(), "a release version such as v1.2.3")
			continue
		}
		if !strings.HasPrefix(v.String(), "v") {
			v.SetString("v" + v.String())
		}
	}
	switch c.CgroupDriver {
	case "auto", "systemd", "cgroupfs":
	default:
		bad("cgroupDriver", c.CgroupDriver, "auto, systemd or cgroupfs")
	}
	if c.ArtifactURL != "" {
		if u, err := url.Parse(c.ArtifactURL); err != nil {
			bad("artifactURL", c.ArtifactURL, "an http(s):// or file:// URL or an absolute directory")
		} else if !(u.Scheme == "http" || u.Scheme == "https") || u.Host == "" {
			if !(u.Scheme == "file" || u.Scheme == "" && strings.HasPrefix(c.ArtifactURL, "/")) {
				bad("artifactURL", c.ArtifactURL, "an http(s):// or file:// URL or an absolute directory")
			}
		}
	}
	for reg, urls := range c.RegistryMirrors {
		if errs := validation.IsDNS1123Subdomain(strings.Split(reg, ":")[0]); len(errs) > 0 {
			bad("registryMirrors", reg, "a registry host such as registry.k8s.io")
		}
		for _, m := range urls {
			if u, err := url.Parse(m); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("registryMirrors", reg+"="+m, "mirror URLs starting with http:// or https://")
			}
		}
	}
	for k := range c.KubeletExtraArgs {
		if strings.HasPrefix(k, "-") || k == "" {
			bad("kubeletExtraArgs", k, "flag names without leading dashes, such as max-pods")
		}
	}
	if c.JoinAttempts < 1 || c.JoinAttempts > 10 {
		bad("joinAttempts", strconv.Itoa(c.JoinAttempts), "a number from 1 to 10")
	}
	if c.JoinTimeout < Duration(30e9) {
		bad("joinTimeout", c.FormatString("joinTimeout"), "at least 30s")
	}

	// The node's identity, as ACK passes it.
	if c.NodeName != "" {
		if msgs := validation.IsDNS1123Subdomain(c.NodeName); len(msgs) > 0 {
			bad("nodeName", c.NodeName, "a lowercase RFC 1123 subdomain such as cn-hangzhou.10.10.24.7 ("+msgs[0]+")")
		}
	}
	if c.ProviderID != "" && !providerIDRE.MatchString(c.ProviderID) {
		bad("providerID", c.ProviderID, "<region>.<instance-id> such as cn-hangzhou.i-bp1abc")
	}
	if c.MetadataEndpoint != "" {
		if u, err := url.Parse(c.MetadataEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("metadataEndpoint", c.MetadataEndpoint, "an http(s):// URL such as http://100.100.100.200")
		}
	}
	if c.VPCCIDR != "" {
		if _, err := netip.ParsePrefix(c.VPCCIDR); err != nil {
			bad("vpcCIDR", c.VPCCIDR, "a CIDR such as 10.0.0.0/8")
		}
	}
	s.Labels = parseLabels(c.NodeLabels, func(got, want string) { bad("nodeLabels", got, want) })
	s.Taints = parseTaints(c.NodeTaints, func(got, want string) { bad("nodeTaints", got, want) })

	// The join fields.
	if c.APIServerEndpoint != "" || o.Join {
		if host, port, err := net.SplitHostPort(c.APIServerEndpoint); err != nil || host == "" {
			bad("apiServerEndpoint", c.APIServerEndpoint, "host:port such as 10.0.0.10:6443")
		} else if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			bad("apiServerEndpoint", c.APIServerEndpoint, "a port from 1 to 65535")
		}
	}
	switch {
	case c.Token != "" && c.TokenFile != "":
		bad("tokenFile", c.TokenFile, "either token or tokenFile, not both (token is set by "+l.Where("token")+")")
	case c.TokenFile != "":
		data, err := o.ReadFile(c.TokenFile)
		if err != nil {
			bad("tokenFile", c.TokenFile, "a readable file holding the bootstrap token: "+err.Error())
		} else {
			s.Token = Secret(strings.TrimSpace(string(data)))
		}
	default:
		s.Token = c.Token
	}
	if s.Token != "" && !tokenRE.MatchString(s.Token.Reveal()) {
		key := "token"
		if c.TokenFile != "" {
			key = "tokenFile"
		}
		// The value is never echoed: it may be a real token with a typo.
		bad(key, "", "a bootstrap token of the form [a-z0-9]{6}.[a-z0-9]{16} (value not shown)")
	}
	if o.Join && s.Token == "" {
		bad("token", "", "a bootstrap token in HYBRIDNODE_TOKEN, HYBRIDNODE_TOKEN_FILE or the config file (kubeadm token create --ttl 2h)")
	}
	for _, h := range c.CACertHashes {
		if !caHashRE.MatchString(h) {
			bad("caCertHashes", h, "sha256:<64 lowercase hex digits>")
		}
	}
	if o.Join && len(c.CACertHashes) == 0 && !c.UnsafeSkipCAVerification {
		bad("caCertHashes", "", "at least one sha256:<hex> CA pin, or unsafeSkipCAVerification: true to join without one")
	}

	if len(errs.Problems) > 0 {
		return nil, &errs
	}
	return s, nil
}

// parseLabels parses ACK's "k=v,k=v" labels with Kubernetes' own rules.
func parseLabels(items []string, bad func(got, want string)) []Label {
	var out []Label
	seen := map[string]bool{}
	for _, item := range splitItems(items) {
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			bad(item, "key=value")
			continue
		}
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			bad(item, "a label key that is a qualified name: "+strings.Join(msgs, "; "))
			continue
		}
		if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
			bad(item, "a valid label value: "+strings.Join(msgs, "; "))
			continue
		}
		if refusedByKubelet(k) {
			bad(item, "no label under kubernetes.io or k8s.io that kubelet refuses in --node-labels (allowed there: kubelet.kubernetes.io/*, node.kubernetes.io/* and the well-known topology, os, arch and instance-type labels)")
			continue
		}
		if seen[k] {
			bad(item, "each label key once (duplicate "+k+")")
			continue
		}
		seen[k] = true
		out = append(out, Label{Key: k, Value: v})
	}
	return out
}

// parseTaints parses "key=value:Effect" or "key:Effect" items.
func parseTaints(items []string, bad func(got, want string)) []Taint {
	var out []Taint
	seen := map[string]bool{}
	for _, item := range splitItems(items) {
		kv, effect, ok := strings.Cut(item, ":")
		if !ok {
			bad(item, "key=value:Effect or key:Effect")
			continue
		}
		if !effects[effect] {
			bad(item, "an effect of NoSchedule, PreferNoSchedule or NoExecute")
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			bad(item, "a taint key that is a qualified name: "+strings.Join(msgs, "; "))
			continue
		}
		if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
			bad(item, "a valid taint value: "+strings.Join(msgs, "; "))
			continue
		}
		if seen[k+":"+effect] {
			bad(item, "each key and effect once")
			continue
		}
		seen[k+":"+effect] = true
		out = append(out, Taint{Key: k, Value: v, Effect: effect})
	}
	return out
}

// splitItems accepts both a YAML list and ACK's comma separated string
// (which arrives as a one-element list from the environment).
func splitItems(items []string) []string {
	var out []string
	for _, it := range items {
		out = append(out, splitList(it, ",")...)
	}
	return out
}

// Labels under these exact keys or namespaces are allowed in --node-labels
// although they are under kubernetes.io; kubelet refuses every other
// kubernetes.io or k8s.io label. The list is kubelet's own
// (k8s.io/kubelet/pkg/apis, IsKubeletLabel); importing it would pull
// k8s.io/api/core/v1 into the binary.
var kubeletLabels = map[string]bool{
	"kubernetes.io/hostname":                   true,
	"topology.kubernetes.io/zone":              true,
	"topology.kubernetes.io/region":            true,
	"failure-domain.beta.kubernetes.io/zone":   true,
	"failure-domain.beta.kubernetes.io/region": true,
	"beta.kubernetes.io/instance-type":         true,
	"node.kubernetes.io/instance-type":         true,
	"kubernetes.io/os":                         true,
	"kubernetes.io/arch":                       true,
	"beta.kubernetes.io/os":                    true,
	"beta.kubernetes.io/arch":                  true,
}

var kubeletLabelNamespaces = []string{"kubelet.kubernetes.io", "node.kubernetes.io"}

func refusedByKubelet(key string) bool {
	ns, _, ok := strings.Cut(key, "/")
	if !ok {
		return false
	}
	restricted := ns == "kubernetes.io" || strings.HasSuffix(ns, ".kubernetes.io") || ns == "k8s.io" || strings.HasSuffix(ns, ".k8s.io")
	if !restricted || kubeletLabels[key] {
		return false
	}
	for _, allowed := range kubeletLabelNamespaces {
		if ns == allowed || strings.HasSuffix(ns, "."+allowed) {
			return false
		}
	}
	return true
}
