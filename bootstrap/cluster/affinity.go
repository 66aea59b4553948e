package cluster

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// exclusions are the two required expressions that keep the on-premises
// CNI off cloud and virtual nodes.
func exclusions() []corev1.NodeSelectorRequirement {
	return []corev1.NodeSelectorRequirement{
		{Key: ExternalLabel, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"true"}},
		{Key: TypeLabel, Operator: corev1.NodeSelectorOpNotIn, Values: []string{VirtualKubelet}},
	}
}

func describe(r corev1.NodeSelectorRequirement) string {
	return fmt.Sprintf("%s %s [%s]", r.Key, r.Operator, strings.Join(r.Values, ","))
}

// excludes: the term keeps nodes labelled want.Key=want.Values[0] out: an
// expression on that key with NotIn listing the value, or DoesNotExist.
func excludes(t corev1.NodeSelectorTerm, want corev1.NodeSelectorRequirement) bool {
	for _, e := range t.MatchExpressions {
		if e.Key != want.Key {
			continue
		}
		switch e.Operator {
		case corev1.NodeSelectorOpDoesNotExist:
			return true
		case corev1.NodeSelectorOpNotIn:
			if slices.Contains(e.Values, want.Values[0]) {
				return true
			}
		}
	}
	return false
}

func requiredTerms(spec *corev1.PodSpec) []corev1.NodeSelectorTerm {
	a := spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil
	}
	return a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
}

// missingExclusions says what the pod spec's required node affinity lacks;
// empty when every term excludes cloud and virtual nodes.
func missingExclusions(spec *corev1.PodSpec) []string {
	terms := requiredTerms(spec)
	if len(terms) == 0 {
		return []string{"no required nodeAffinity terms (needs " + describe(exclusions()[0]) + " and " + describe(exclusions()[1]) + ")"}
	}
	var out []string
	for i, t := range terms {
		var lack []string
		for _, want := range exclusions() {
			if !excludes(t, want) {
				lack = append(lack, describe(want))
			}
		}
		if len(lack) > 0 {
			out = append(out, fmt.Sprintf("term %d of %d lacks %s", i+1, len(terms), strings.Join(lack, " and ")))
		}
	}
	return out
}

// mergeExclusions returns a copy of spec's affinity in which every required
// nodeSelectorTerm (terms are ORed, their expressions ANDed) excludes cloud
// and virtual nodes, or one new term when there is none; everything else
// is kept. changed is the number of terms that got an expression.
func mergeExclusions(spec *corev1.PodSpec) (a *corev1.Affinity, changed int, created bool) {
	a, req := affinityCopy(spec)
	if len(req.NodeSelectorTerms) == 0 {
		req.NodeSelectorTerms = []corev1.NodeSelectorTerm{{MatchExpressions: exclusions()}}
		return a, 1, true
	}
	for i := range req.NodeSelectorTerms {
		t := &req.NodeSelectorTerms[i]
		added := false
		for _, want := range exclusions() {
			if !excludes(*t, want) {
				t.MatchExpressions = append(t.MatchExpressions, want)
				added = true
			}
		}
		if added {
			changed++
		}
	}
	return a, changed, false
}

// selectsExternal: the pod spec runs only on nodes labelled
// alibabacloud.com/external=true (nodeSelector, or every required term has
// alibabacloud.com/external In [true]).
func selectsExternal(spec *corev1.PodSpec) bool {
	if spec.NodeSelector[ExternalLabel] == "true" {
		return true
	}
	terms := requiredTerms(spec)
	if len(terms) == 0 {
		return false
	}
	for _, t := range terms {
		ok := false
		for _, e := range t.MatchExpressions {
			if e.Key == ExternalLabel && e.Operator == corev1.NodeSelectorOpIn && len(e.Values) > 0 && !slices.ContainsFunc(e.Values, func(v string) bool { return v != "true" }) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// In overlay mode (the Terway page's scenario 1) the cloud nodes run the
// on-premises CNI: only virtual nodes are kept out, and the expression
// alibabacloud.com/external NotIn [true] (what setup adds in the BGP and
// host-network modes) must not be there.

// externalExclusion: e is exactly the expression setup adds to keep the
// CNI off cloud nodes.
func externalExclusion(e corev1.NodeSelectorRequirement) bool {
	return e.Key == ExternalLabel && e.Operator == corev1.NodeSelectorOpNotIn && len(e.Values) == 1 && e.Values[0] == "true"
}

// excludedFromCloud says which required terms keep the pods off cloud nodes
// (any exclusion of alibabacloud.com/external=true); empty when none does.
func excludedFromCloud(spec *corev1.PodSpec) []string {
	terms := requiredTerms(spec)
	var out []string
	for i, t := range terms {
		if excludes(t, exclusions()[0]) {
			out = append(out, fmt.Sprintf("term %d of %d excludes %s=true", i+1, len(terms), ExternalLabel))
		}
	}
	return out
}

// overlayAffinity returns a copy of spec's affinity for overlay mode: every
// required term keeps virtual nodes out (added where missing, or one new
// term when there is none) and loses setup's external exclusion. added and
// removed count the terms changed each way.
func overlayAffinity(spec *corev1.PodSpec) (a *corev1.Affinity, added, removed int) {
	a, req := affinityCopy(spec)
	virtual := exclusions()[1]
	if len(req.NodeSelectorTerms) == 0 {
		req.NodeSelectorTerms = []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{virtual}}}
		return a, 1, 0
	}
	for i := range req.NodeSelectorTerms {
		t := &req.NodeSelectorTerms[i]
		n := len(t.MatchExpressions)
		t.MatchExpressions = slices.DeleteFunc(t.MatchExpressions, externalExclusion)
		if len(t.MatchExpressions) != n {
			removed++
		}
		if !excludes(*t, virtual) {
			t.MatchExpressions = append(t.MatchExpressions, virtual)
			added++
		}
	}
	return a, added, removed
}

// affinityCopy is a copy of spec's affinity with a required node selector
// (empty when it had none), and that selector.
func affinityCopy(spec *corev1.PodSpec) (*corev1.Affinity, *corev1.NodeSelector) {
	a := &corev1.Affinity{}
	if spec.Affinity != nil {
		a = spec.Affinity.DeepCopy()
	}
	if a.NodeAffinity == nil {
		a.NodeAffinity = &corev1.NodeAffinity{}
	}
	if a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{}
	}
	return a, a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
}
