package kubelet

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Label is one Node label, which the kubelet registers from --node-labels.
type Label struct{ Key, Value string }

// String is the label as --node-labels writes it: key=value.
func (l Label) String() string { return l.Key + "=" + l.Value }

// Problem says what the label should have been, or "" when the kubelet
// accepts it: a qualified-name key, a valid label value, and no key under
// kubernetes.io or k8s.io that the kubelet refuses.
func (l Label) Problem() string {
	if msgs := validation.IsQualifiedName(l.Key); len(msgs) > 0 {
		return "a label key that is a qualified name: " + strings.Join(msgs, "; ")
	}
	if msgs := validation.IsValidLabelValue(l.Value); len(msgs) > 0 {
		return "a valid label value: " + strings.Join(msgs, "; ")
	}
	if refusedByKubelet(l.Key) {
		return "no label under kubernetes.io or k8s.io that kubelet refuses in --node-labels (allowed there: kubelet.kubernetes.io/*, node.kubernetes.io/* and the well-known topology, os, arch and instance-type labels)"
	}
	return ""
}

// Taint is one Node taint, registered at join. The json tags are those of
// core/v1 Taint, so the type also reads a Node's taints from the API.
type Taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

// String is the taint as ACK writes it: key=value:Effect, or key:Effect.
func (t Taint) String() string {
	if t.Value == "" {
		return t.Key + ":" + t.Effect
	}
	return t.Key + "=" + t.Value + ":" + t.Effect
}

// Problem says what the taint should have been, or "" when it is valid: one
// of the three effects, a qualified-name key and a valid label value.
func (t Taint) Problem() string {
	switch t.Effect {
	case "NoSchedule", "PreferNoSchedule", "NoExecute":
	default:
		return "an effect of NoSchedule, PreferNoSchedule or NoExecute"
	}
	if msgs := validation.IsQualifiedName(t.Key); len(msgs) > 0 {
		return "a taint key that is a qualified name: " + strings.Join(msgs, "; ")
	}
	if msgs := validation.IsValidLabelValue(t.Value); len(msgs) > 0 {
		return "a valid taint value: " + strings.Join(msgs, "; ")
	}
	return ""
}

// ItemError is one refused item of a list: the item as written and what
// was expected instead.
type ItemError struct{ Item, Want string }

func (e ItemError) Error() string { return fmt.Sprintf("want %s, got %q", e.Want, e.Item) }

// ListError holds every refused item of a list, in order.
type ListError []ItemError

func (e ListError) Error() string {
	parts := make([]string, len(e))
	for i, it := range e {
		parts[i] = it.Error()
	}
	return strings.Join(parts, "; ")
}

func (e ListError) err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// ParseLabels parses comma separated key=value labels (ACK's
// ALIBABA_CLOUD_LABELS, the kubelet's --node-labels); several lists, such
// as the items of a YAML list, are read as one. Each key may come once.
// It returns the labels it accepted and, when it refused any item, a
// ListError naming each.
func ParseLabels(lists ...string) ([]Label, error) {
	var out []Label
	var errs ListError
	seen := map[string]bool{}
	for _, item := range SplitItems(lists...) {
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			errs = append(errs, ItemError{item, "key=value"})
			continue
		}
		l := Label{Key: k, Value: v}
		if want := l.Problem(); want != "" {
			errs = append(errs, ItemError{item, want})
			continue
		}
		if seen[k] {
			errs = append(errs, ItemError{item, "each label key once (duplicate " + k + ")"})
			continue
		}
		seen[k] = true
		out = append(out, l)
	}
	return out, errs.err()
}

// ParseTaints parses comma separated key=value:Effect or key:Effect taints
// (ACK's ALIBABA_CLOUD_TAINTS) as ParseLabels parses labels. Each key and
// effect may come once.
func ParseTaints(lists ...string) ([]Taint, error) {
	var out []Taint
	var errs ListError
	seen := map[string]bool{}
	for _, item := range SplitItems(lists...) {
		kv, effect, ok := strings.Cut(item, ":")
		if !ok {
			errs = append(errs, ItemError{item, "key=value:Effect or key:Effect"})
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		t := Taint{Key: k, Value: v, Effect: effect}
		if want := t.Problem(); want != "" {
			errs = append(errs, ItemError{item, want})
			continue
		}
		if seen[k+":"+effect] {
			errs = append(errs, ItemError{item, "each key and effect once"})
			continue
		}
		seen[k+":"+effect] = true
		out = append(out, t)
	}
	return out, errs.err()
}

// SplitItems returns the items of comma separated lists, each trimmed,
// empty ones left out: what ParseLabels and ParseTaints read.
func SplitItems(lists ...string) []string {
	var out []string
	for _, list := range lists {
		for _, item := range strings.Split(list, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
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
