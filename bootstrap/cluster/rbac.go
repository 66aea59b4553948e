package cluster

import (
	"context"
	"encoding/base64"
	"fmt"

	admv1 "k8s.io/api/admissionregistration/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"

	"github.com/hybridnode/hybridnode/bootstrap/tokenservice"
)

// grant is a Role (ns set) or ClusterRole with its binding; a grant with
// no rules binds an existing role (kubeadm's) of that name.
type grant struct {
	ns, name string
	rules    []rbacv1.PolicyRule
	// roleName: the role bound, when it is not the grant's own.
	roleName string
	subjects []rbacv1.Subject
}

// tokenServiceGrants: what the token service's ServiceAccount may do. It
// never reads a Secret: it creates bootstrap tokens and deletes them by
// name, and the admission policy secretsPolicy holds both to its own
// tokens (RBAC cannot narrow create or delete to a label). Its records are
// Leases in a namespace of its own. It reads Nodes (a name taken, a
// provider ID registered) and approves kubelet client CSRs.
func tokenServiceGrants(sa []rbacv1.Subject) []grant {
	return []grant{
		{ns: kubeSystem, name: TokenServiceName, subjects: sa, rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create", "delete"}}}},
		{ns: tokenservice.RecordNamespace, name: TokenServiceName, subjects: sa, rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch", "create", "update", "delete"}}}},
		{name: TokenServiceName, subjects: sa, rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{certificatesv1.GroupName}, Resources: []string{"certificatesigningrequests"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{certificatesv1.GroupName}, Resources: []string{"certificatesigningrequests/approval"}, Verbs: []string{"update"}},
			{APIGroups: []string{certificatesv1.GroupName}, Resources: []string{"signers"}, ResourceNames: []string{tokenservice.SignerKubeletClient}, Verbs: []string{"approve"}},
		}},
	}
}

// bootstrapGrants: the service's token groups get what kubeadm binds to
// its own token group (cmd/kubeadm/app/phases/bootstraptoken/node,
// phases/uploadconfig, phases/kubelet, phases/addons/proxy): create CSRs,
// read Nodes, kubeadm-config, kubelet-config and kube-proxy's ConfigMap.
// Not kubeadm:node-autoapprove-bootstrap: their CSRs are the approver's.
func bootstrapGrants() []grant {
	groups := []rbacv1.Subject{
		{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: tokenservice.IdentityGroup},
		{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: tokenservice.PoolGroup},
	}
	return []grant{
		{name: "hybridnode:bootstrappers:node-bootstrapper", roleName: "system:node-bootstrapper", subjects: groups},
		{name: "hybridnode:bootstrappers:get-nodes", roleName: "kubeadm:get-nodes", subjects: groups},
		{ns: kubeSystem, name: "hybridnode:bootstrappers:kubeadm-config", roleName: "kubeadm:nodes-kubeadm-config", subjects: groups},
		{ns: kubeSystem, name: "hybridnode:bootstrappers:kubelet-config", roleName: "kubeadm:kubelet-config", subjects: groups},
		{ns: kubeSystem, name: "hybridnode:bootstrappers:kube-proxy", roleName: "kube-proxy", subjects: groups},
	}
}

// rbacObjects: the grant's role (unless it binds an existing one) and
// binding, as setup wants them.
func (r *runner) rbacObjects(ctx context.Context, g grant) ([]*desired, error) {
	rb := r.c.Rbac
	var out []*desired
	roleName := g.roleName
	if roleName == "" {
		roleName = g.name
	}
	showRules := func(rules []rbacv1.PolicyRule) []byte { return showYAML(map[string]any{"rules": rules}) }
	showBinding := func(ref rbacv1.RoleRef, s []rbacv1.Subject) []byte {
		return showYAML(map[string]any{"roleRef": ref, "subjects": s})
	}
	if g.ns != "" {
		if g.rules != nil {
			cur, err := current(ctx, rb.Roles(g.ns), "Role", g.ns, g.name)
			if err != nil {
				return nil, err
			}
			out = append(out, desire(rb.Roles(g.ns), "Role", g.ns, g.name, cur,
				func(w *rbacv1.Role) { w.Rules = g.rules },
				func(cur, _ *rbacv1.Role) bool { return equality.Semantic.DeepEqual(cur.Rules, g.rules) },
				func(v *rbacv1.Role) []byte { return showRules(v.Rules) }, nil))
		}
		ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: roleName}
		cur, err := current(ctx, rb.RoleBindings(g.ns), "RoleBinding", g.ns, g.name)
		if err != nil {
			return nil, err
		}
		out = append(out, desire(rb.RoleBindings(g.ns), "RoleBinding", g.ns, g.name, cur,
			func(w *rbacv1.RoleBinding) { w.RoleRef, w.Subjects = ref, g.subjects },
			func(cur, _ *rbacv1.RoleBinding) bool {
				return cur.RoleRef == ref && equality.Semantic.DeepEqual(cur.Subjects, g.subjects)
			},
			func(b *rbacv1.RoleBinding) []byte { return showBinding(b.RoleRef, b.Subjects) },
			func(cur *rbacv1.RoleBinding) bool { return cur.RoleRef != ref }))
		return out, nil
	}
	if g.rules != nil {
		cur, err := current(ctx, rb.ClusterRoles(), "ClusterRole", "", g.name)
		if err != nil {
			return nil, err
		}
		out = append(out, desire(rb.ClusterRoles(), "ClusterRole", "", g.name, cur,
			func(w *rbacv1.ClusterRole) { w.Rules = g.rules },
			func(cur, _ *rbacv1.ClusterRole) bool { return equality.Semantic.DeepEqual(cur.Rules, g.rules) },
			func(v *rbacv1.ClusterRole) []byte { return showRules(v.Rules) }, nil))
	}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: roleName}
	cur, err := current(ctx, rb.ClusterRoleBindings(), "ClusterRoleBinding", "", g.name)
	if err != nil {
		return nil, err
	}
	out = append(out, desire(rb.ClusterRoleBindings(), "ClusterRoleBinding", "", g.name, cur,
		func(w *rbacv1.ClusterRoleBinding) { w.RoleRef, w.Subjects = ref, g.subjects },
		func(cur, _ *rbacv1.ClusterRoleBinding) bool {
			return cur.RoleRef == ref && equality.Semantic.DeepEqual(cur.Subjects, g.subjects)
		},
		func(b *rbacv1.ClusterRoleBinding) []byte { return showBinding(b.RoleRef, b.Subjects) },
		func(cur *rbacv1.ClusterRoleBinding) bool { return cur.RoleRef != ref }))
	return out, nil
}

// policy is a ValidatingAdmissionPolicy and its binding.
type policy struct {
	name    string
	spec    admv1.ValidatingAdmissionPolicySpec
	binding admv1.ValidatingAdmissionPolicyBindingSpec
}

// The CEL of the policies (Kubernetes' CEL: a Secret's data values are
// bytes; a missing key is tested with `in` before it is read).
const (
	tokenServiceUser = "system:serviceaccount:" + kubeSystem + ":" + TokenServiceName
	// ownToken: obj is one of the service's bootstrap tokens.
	ownTokenCEL = `%[1]s.type == '` + string(bootstrapapi.SecretTypeBootstrapToken) + `' && %[1]s.metadata.name.startsWith('` + bootstrapapi.BootstrapTokenSecretPrefix + `') && ` +
		`has(%[1]s.metadata.labels) && '` + tokenservice.CredentialLabel + `' in %[1]s.metadata.labels && %[1]s.metadata.labels['` + tokenservice.CredentialLabel + `'] == '` + tokenservice.CredentialIdentity + `'`
)

// identityGroupCEL: the identity group as a Secret's data value reads in
// CEL: the API server hands a Secret's data to CEL as the base64 text of
// its JSON form (seen on v1.37), or as bytes where the schema's byte format
// is honoured; string() of either is one of these two.
var identityGroupCEL = "['" + tokenservice.IdentityGroup + "', '" + base64.StdEncoding.EncodeToString([]byte(tokenservice.IdentityGroup)) + "']"

// admissionPolicies: what RBAC cannot say.
//   - hybridnode-token-service-secrets: the service's account may create
//     only bootstrap tokens carrying its label and its own group (so never
//     a service-account token Secret, the step from Secret-create to
//     cluster-admin), may delete only those, and updates none. Failure
//     policy Fail: an unevaluated write is refused.
//   - hybridnode-node-provider-id: a Node created or updated by
//     system:node:<X> must carry the provider ID the service recorded for
//     the instance that may become X (its records are the parameters; a
//     name with no record is not concerned). Failure policy Ignore: a
//     policy error must not stop every kubelet in the cluster from
//     updating its Node; the approver's check is the one that binds.
func admissionPolicies() []policy {
	fail, ignore := admv1.Fail, admv1.Ignore
	rule := func(group, resource string, ops ...admv1.OperationType) []admv1.NamedRuleWithOperations {
		return []admv1.NamedRuleWithOperations{{RuleWithOperations: admv1.RuleWithOperations{Operations: ops,
			Rule: admv1.Rule{APIGroups: []string{group}, APIVersions: []string{"v1"}, Resources: []string{resource}}}}}
	}
	deny := []admv1.ValidationAction{admv1.Deny}
	secrets := policy{name: TokenServiceName + "-secrets",
		spec: admv1.ValidatingAdmissionPolicySpec{
			FailurePolicy:    &fail,
			MatchConstraints: &admv1.MatchResources{ResourceRules: rule("", "secrets", admv1.Create, admv1.Update, admv1.Delete)},
			MatchConditions:  []admv1.MatchCondition{{Name: "token-service", Expression: "request.userInfo.username == '" + tokenServiceUser + "'"}},
			Validations: []admv1.Validation{
				{Expression: "request.operation != 'UPDATE'", Message: "the token service never updates a Secret"},
				{Expression: "request.operation != 'CREATE' || (" + fmt.Sprintf(ownTokenCEL, "object") + " && has(object.data) && '" +
					bootstrapapi.BootstrapTokenExtraGroupsKey + "' in object.data && string(object.data['" + bootstrapapi.BootstrapTokenExtraGroupsKey + "']) in " + identityGroupCEL + ")",
					Message: "the token service creates only bootstrap tokens labelled " + tokenservice.CredentialLabel + "=" + tokenservice.CredentialIdentity + " in group " + tokenservice.IdentityGroup},
				{Expression: "request.operation != 'DELETE' || (" + fmt.Sprintf(ownTokenCEL, "oldObject") + ")",
					Message: "the token service deletes only its own bootstrap tokens"},
			},
		},
		binding: admv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: TokenServiceName + "-secrets", ValidationActions: deny},
	}
	ann := func(k string) string { return "params.metadata.annotations['" + k + "']" }
	nodes := policy{name: "hybridnode-node-provider-id",
		spec: admv1.ValidatingAdmissionPolicySpec{
			FailurePolicy:    &ignore,
			ParamKind:        &admv1.ParamKind{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
			MatchConstraints: &admv1.MatchResources{ResourceRules: rule("", "nodes", admv1.Create, admv1.Update)},
			MatchConditions:  []admv1.MatchCondition{{Name: "a-node", Expression: "request.userInfo.username.startsWith('system:node:')"}},
			Validations: []admv1.Validation{{
				Expression: "!has(params.metadata.annotations) || !('" + tokenservice.NodeNameAnnotation + "' in params.metadata.annotations) || " +
					ann(tokenservice.NodeNameAnnotation) + " != object.metadata.name || " +
					"(has(object.spec.providerID) && object.spec.providerID == " + ann(tokenservice.ProviderIDAnnotation) + ")",
				MessageExpression: "'Node ' + object.metadata.name + ' may only register with provider ID ' + " + ann(tokenservice.ProviderIDAnnotation) +
					" + ', the one the token service recorded for it'",
			}},
		},
		binding: admv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: "hybridnode-node-provider-id", ValidationActions: deny,
			ParamRef: &admv1.ParamRef{Namespace: tokenservice.RecordNamespace, ParameterNotFoundAction: ptrTo(admv1.AllowAction),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{tokenservice.RecordLabel: tokenservice.CredentialIdentity}}}},
	}
	return []policy{secrets, nodes}
}

func ptrTo[T any](v T) *T { return &v }

// admissionObjects: the policy and its binding, as setup wants them.
func (r *runner) admissionObjects(ctx context.Context, p policy) ([]*desired, error) {
	adm := r.c.Admission
	hash := specHash(p.spec)
	cur, err := current(ctx, adm.ValidatingAdmissionPolicies(), "ValidatingAdmissionPolicy", "", p.name)
	if err != nil {
		return nil, err
	}
	pol := desire(adm.ValidatingAdmissionPolicies(), "ValidatingAdmissionPolicy", "", p.name, cur,
		func(w *admv1.ValidatingAdmissionPolicy) {
			setAnnotation(w, specHashAnnotation, hash)
			w.Spec = p.spec
		},
		func(cur, _ *admv1.ValidatingAdmissionPolicy) bool { return cur.Annotations[specHashAnnotation] == hash },
		func(v *admv1.ValidatingAdmissionPolicy) []byte { return showYAML(map[string]any{"spec": v.Spec}) }, nil)
	bhash := specHash(p.binding)
	curb, err := current(ctx, adm.ValidatingAdmissionPolicyBindings(), "ValidatingAdmissionPolicyBinding", "", p.name)
	if err != nil {
		return nil, err
	}
	bind := desire(adm.ValidatingAdmissionPolicyBindings(), "ValidatingAdmissionPolicyBinding", "", p.name, curb,
		func(w *admv1.ValidatingAdmissionPolicyBinding) {
			setAnnotation(w, specHashAnnotation, bhash)
			w.Spec = p.binding
		},
		func(cur, _ *admv1.ValidatingAdmissionPolicyBinding) bool {
			return cur.Annotations[specHashAnnotation] == bhash
		},
		func(v *admv1.ValidatingAdmissionPolicyBinding) []byte {
			return showYAML(map[string]any{"spec": v.Spec})
		}, nil)
	return []*desired{pol, bind}, nil
}
