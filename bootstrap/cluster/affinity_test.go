package cluster

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func term(exprs ...corev1.NodeSelectorRequirement) corev1.NodeSelectorTerm {
	return corev1.NodeSelectorTerm{MatchExpressions: exprs}
}

func req(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorRequirement {
	return corev1.NodeSelectorRequirement{Key: key, Operator: op, Values: values}
}

func withTerms(terms ...corev1.NodeSelectorTerm) *corev1.PodSpec {
	return &corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution:  &corev1.NodeSelector{NodeSelectorTerms: terms},
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 1, Preference: term(req("zone", corev1.NodeSelectorOpIn, "a"))}},
	}}}
}

func termsOf(a *corev1.Affinity) string {
	var out []string
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		var e []string
		for _, x := range t.MatchExpressions {
			e = append(e, describe(x))
		}
		out = append(out, strings.Join(e, " & "))
	}
	return strings.Join(out, " | ")
}

func TestMergeExclusions(t *testing.T) {
	const ext, virt = "alibabacloud.com/external NotIn [true]", "type NotIn [virtual-kubelet]"
	for _, tc := range []struct {
		name    string
		spec    *corev1.PodSpec
		want    string
		changed int
		created bool
	}{
		{"no affinity", &corev1.PodSpec{}, ext + " & " + virt, 1, true},
		{"no required terms", withTerms(), ext + " & " + virt, 1, true},
		{"one term, kept", withTerms(term(req("kubernetes.io/os", corev1.NodeSelectorOpIn, "linux"))), "kubernetes.io/os In [linux] & " + ext + " & " + virt, 1, false},
		{"every term", withTerms(term(req("a", corev1.NodeSelectorOpExists)), term(req("b", corev1.NodeSelectorOpExists))),
			"a Exists [] & " + ext + " & " + virt + " | b Exists [] & " + ext + " & " + virt, 2, false},
		{"only what a term lacks", withTerms(term(req(ExternalLabel, corev1.NodeSelectorOpNotIn, "maybe", "true")), term(req(TypeLabel, corev1.NodeSelectorOpDoesNotExist))),
			"alibabacloud.com/external NotIn [maybe,true] & " + virt + " | type DoesNotExist [] & " + ext, 2, false},
		{"a NotIn without the value is not enough", withTerms(term(req(ExternalLabel, corev1.NodeSelectorOpNotIn, "false"), req(TypeLabel, corev1.NodeSelectorOpNotIn, VirtualKubelet))),
			"alibabacloud.com/external NotIn [false] & " + virt + " & " + ext, 1, false},
		{"already there", withTerms(term(req(ExternalLabel, corev1.NodeSelectorOpNotIn, "true"), req(TypeLabel, corev1.NodeSelectorOpNotIn, VirtualKubelet))),
			ext + " & " + virt, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.spec.DeepCopy()
			a, changed, created := mergeExclusions(tc.spec)
			if got := termsOf(a); got != tc.want || changed != tc.changed || created != tc.created {
				t.Errorf("got %q (changed %d, created %v)\nwant %q (changed %d, created %v)", got, changed, created, tc.want, tc.changed, tc.created)
			}
			if tc.spec.Affinity != nil && !equalJSON(t, tc.spec, before) {
				t.Error("the input was modified")
			}
			if tc.spec.Affinity != nil && len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != len(before.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) {
				t.Error("preferred terms lost")
			}
			merged := &corev1.PodSpec{Affinity: a}
			if m := missingExclusions(merged); len(m) != 0 {
				t.Errorf("still missing after the merge: %v", m)
			}
			again, n, _ := mergeExclusions(merged)
			if n != 0 || termsOf(again) != termsOf(a) {
				t.Errorf("a second merge changed %d terms", n)
			}
			if m := missingExclusions(tc.spec); (len(m) == 0) != (tc.changed == 0) {
				t.Errorf("missingExclusions(before) = %v with %d terms to change", m, tc.changed)
			}
		})
	}
}

func TestSelectsExternal(t *testing.T) {
	in := func(values ...string) *corev1.PodSpec {
		return withTerms(term(req(ExternalLabel, corev1.NodeSelectorOpIn, values...)))
	}
	for _, tc := range []struct {
		name string
		spec *corev1.PodSpec
		want bool
	}{
		{"nodeSelector", &corev1.PodSpec{NodeSelector: map[string]string{ExternalLabel: "true"}}, true},
		{"nodeSelector false", &corev1.PodSpec{NodeSelector: map[string]string{ExternalLabel: "false"}}, false},
		{"nothing", &corev1.PodSpec{}, false},
		{"In [true]", in("true"), true},
		{"In [true,false]", in("true", "false"), false},
		{"one term of two", withTerms(term(req(ExternalLabel, corev1.NodeSelectorOpIn, "true")), term(req("x", corev1.NodeSelectorOpExists))), false},
	} {
		if got := selectsExternal(tc.spec); got != tc.want {
			t.Errorf("%s: %v", tc.name, got)
		}
	}
}
