package cluster

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	admv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/hybridnode/hybridnode/bootstrap/cluster/clustertest"
	"github.com/hybridnode/hybridnode/bootstrap/doctor/report"
	"github.com/hybridnode/hybridnode/bootstrap/tokenservice"
)

var (
	deployments         = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	services            = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	roles               = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}
	clusterRoles        = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}
	roleBindings        = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}
	clusterRoleBindings = schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"}
	serviceAccounts     = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	vaps                = admv1.SchemeGroupVersion.WithResource("validatingadmissionpolicies")
	vapBindings         = admv1.SchemeGroupVersion.WithResource("validatingadmissionpolicybindings")
)

// identitySignerPEM is a certificate to pass as --identity-ca: RSA, as
// instance identity signers are (made once: RSA keys are slow to make).
var identitySignerPEM = sync.OnceValues(func() ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x1d), Subject: pkix.Name{CommonName: "identity-signer.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), err
})

// identityCA writes a certificate to pass as --identity-ca.
func identityCA(t *testing.T, dir string) string {
	t.Helper()
	certPEM, err := identitySignerPEM()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "identity-ca.pem")
	writeFile(t, p, certPEM, 0o644)
	return p
}

func (f *fixture) identityOptions(t *testing.T) SetupOptions {
	o := f.setupOptions()
	o.Command = "hybridnode-cluster setup --credentials identity"
	o.Identity = IdentityOptions{Credentials: CredentialsIdentity, IdentityCA: identityCA(t, f.dir), Accounts: []string{"1234567890123456"},
		Regions: []string{"cn-hangzhou"}, Image: "registry.example.com/hybridnode/hybridnode-cluster:v1.2.3",
		Addresses: []string{"10.0.0.21", "token.hybrid.example"}}
	o.VPCCIDR = "172.16.0.0/12"
	return o
}

func TestSetupIdentity(t *testing.T) {
	f := newFixture(t, clustertest.Healthy(t))
	o := f.identityOptions(t)
	poolBefore := poolTokens(t, f.c)

	// A dry run: every object as a diff, nothing stored, no key shown.
	o.DryRun = true
	out, _, err := f.run(t, false, o)
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	for _, w := range []string{"would create ConfigMap kube-system/hybridnode-token-service (the cluster's audience hybridnode-",
		"would create Secret kube-system/hybridnode-token-service-tls (a self-signed certificate, pin sha256:",
		"would create ServiceAccount kube-system/hybridnode-token-service", "would create Role kube-system/hybridnode-token-service",
		"would create RoleBinding kube-system/hybridnode-token-service", "would create ClusterRole hybridnode-token-service",
		"would create ClusterRoleBinding hybridnode-token-service", "would create Deployment kube-system/hybridnode-token-service",
		"would create Namespace hybridnode-system", "would create Role hybridnode-system/hybridnode-token-service",
		"would create ClusterRoleBinding hybridnode:bootstrappers:node-bootstrapper", "would create RoleBinding kube-system/hybridnode:bootstrappers:kubeadm-config",
		"would create ValidatingAdmissionPolicy hybridnode-token-service-secrets", "would create ValidatingAdmissionPolicyBinding hybridnode-node-provider-id",
		"would write " + f.script(), "+credentialSource: instance-identity", "tls.key: '[REDACTED]'", "dry run: 21 change(s) shown, nothing changed"} {
		if !strings.Contains(out, w) {
			t.Errorf("dry run lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "PRIVATE KEY") {
		t.Errorf("the dry run shows the key:\n%s", out)
	}
	for _, a := range f.c.Mutations() {
		if !clustertest.IsDryRun(a) {
			t.Errorf("dry run sent %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
	if _, err := os.Stat(f.script()); err == nil {
		t.Fatal("the dry run wrote the script")
	}

	o.DryRun = false
	out, warn, err := f.run(t, false, o)
	if err != nil || warn != "" {
		t.Fatalf("setup: %v %s\n%s", err, warn, out)
	}
	if n := strings.Count(out, "\n"); n != 21 {
		t.Errorf("%d change lines, want 21:\n%s", n, out)
	}
	if strings.Contains(out, "bootstrap token") {
		t.Errorf("setup with identity made a pool token:\n%s", out)
	}
	if got := poolTokens(t, f.c); len(got) != len(poolBefore) {
		t.Errorf("%d pool tokens, want the %d there were", len(got), len(poolBefore))
	}

	cm := configMap(t, f.c, "kube-system", TokenServiceName)
	sec := secret(t, f.c, tlsSecretName())
	if !strings.Contains(out, "pin "+cm.Data["pin"]) {
		t.Errorf("the output does not give the pin %s", cm.Data["pin"])
	}
	b, _ := pem.Decode(sec.Data["tls.crt"])
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pin := report.Pin(cert)
	if cert.VerifyHostname("10.0.0.21") != nil || cert.VerifyHostname("token.hybrid.example") != nil || cert.VerifyHostname("hybridnode-token-service.kube-system.svc") != nil {
		t.Errorf("the certificate names %v %v", cert.DNSNames, cert.IPAddresses)
	}
	if sec.Type != corev1.SecretTypeTLS || cm.Data["pin"] != pin || cm.Data["url"] != "https://10.0.0.21:9443" || !tokenservice.AudienceRE.MatchString(cm.Data["audience"]) {
		t.Errorf("ConfigMap %v, Secret type %s, pin %s", cm.Data, sec.Type, pin)
	}
	if certs, err := tokenservice.LoadSigners([]byte(cm.Data["identity-ca.pem"])); err != nil || len(certs) != 1 || certs[0].Subject.CommonName != "identity-signer.example" {
		t.Errorf("identity CA in the ConfigMap: %d %v", len(certs), err)
	}
	if dep := f.c.Get(t, deployments, "kube-system", TokenServiceName).(*appsv1.Deployment); !strings.Contains(strings.Join(dep.Spec.Template.Spec.Containers[0].Args, " "), "--vpc-cidr 172.16.0.0/12") {
		t.Errorf("the token service is not given the VPC CIDR: %v", dep.Spec.Template.Spec.Containers[0].Args)
	}

	// The script: the service's URL, pin and audience, no token.
	script, err := os.ReadFile(f.script())
	if err != nil {
		t.Fatal(err)
	}
	drop := dropInOf(t, script)
	var settings map[string]any
	if err := yaml.Unmarshal([]byte(drop), &settings); err != nil {
		t.Fatal(err)
	}
	ts, _ := settings["tokenService"].(map[string]any)
	if settings["credentialSource"] != "instance-identity" || ts["url"] != "https://10.0.0.21:9443" || ts["pin"] != pin || ts["audience"] != cm.Data["audience"] {
		t.Errorf("settings:\n%s", drop)
	}
	if _, ok := settings["token"]; ok || regexp.MustCompile(`[a-z0-9]{6}\.[a-z0-9]{16}`).Match(script) {
		t.Errorf("the script carries a token:\n%s", drop)
	}
	if !strings.Contains(string(script), "# node pool default of cluster 10.0.0.10:6443: credentials instance-identity, token service https://10.0.0.21:9443\n") ||
		!strings.Contains(string(script), "carries no secret") {
		t.Errorf("the script's comment:\n%s", script)
	}
	if strings.Contains(string(script), "PRIVATE KEY") {
		t.Error("the script holds the service's key")
	}

	// The Deployment: two replicas on on-premises nodes' networks.
	d := f.c.Get(t, deployments, "kube-system", TokenServiceName).(*appsv1.Deployment)
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	if *d.Spec.Replicas != 2 || !pod.HostNetwork || pod.ServiceAccountName != TokenServiceName || c.Image != o.Identity.Image || c.Ports[0].HostPort != 9443 {
		t.Errorf("Deployment: replicas %d, hostNetwork %v, image %s", *d.Spec.Replicas, pod.HostNetwork, c.Image)
	}
	args := strings.Join(c.Args, " ")
	for _, w := range []string{"token-service --listen :9443", "--audience " + cm.Data["audience"], "--accounts 1234567890123456", "--regions cn-hangzhou",
		"--identity-ca /etc/hybridnode-token-service/ca/identity-ca.pem", "--tls-cert /etc/hybridnode-token-service/tls/tls.crt"} {
		if !strings.Contains(args, w) {
			t.Errorf("args %q lack %q", args, w)
		}
	}
	terms := pod.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for _, ex := range exclusions() {
		if len(terms) != 1 || !excludes(terms[0], ex) {
			t.Errorf("the Pods may run on %s nodes: %v", describe(ex), terms)
		}
	}
	if *c.SecurityContext.RunAsNonRoot != true || *c.SecurityContext.ReadOnlyRootFilesystem != true {
		t.Error("the container runs as root or writable")
	}

	// RBAC: no more than the service uses. No read of any Secret.
	role := f.c.Get(t, roles, "kube-system", TokenServiceName).(*rbacv1.Role)
	if len(role.Rules) != 1 || !slices.Equal(role.Rules[0].Resources, []string{"secrets"}) || !slices.Equal(role.Rules[0].Verbs, []string{"create", "delete"}) {
		t.Errorf("Role rules %+v", role.Rules)
	}
	rec := f.c.Get(t, roles, tokenservice.RecordNamespace, TokenServiceName).(*rbacv1.Role)
	if len(rec.Rules) != 1 || !slices.Equal(rec.Rules[0].Resources, []string{"leases"}) {
		t.Errorf("records Role rules %+v", rec.Rules)
	}
	cr := f.c.Get(t, clusterRoles, "", TokenServiceName).(*rbacv1.ClusterRole)
	var crWhat []string
	for _, r := range cr.Rules {
		if slices.Contains(r.Resources, "secrets") || slices.Contains(r.Verbs, "*") {
			t.Errorf("ClusterRole rule %+v", r)
		}
		crWhat = append(crWhat, strings.Join(r.Resources, ",")+":"+strings.Join(r.Verbs, ","))
	}
	if got := strings.Join(crWhat, " "); got != "nodes:get,list,watch certificatesigningrequests:get,list,watch certificatesigningrequests/approval:update signers:approve" {
		t.Errorf("ClusterRole rules %s", got)
	}
	rbd := f.c.Get(t, roleBindings, "kube-system", TokenServiceName).(*rbacv1.RoleBinding)
	crb := f.c.Get(t, clusterRoleBindings, "", TokenServiceName).(*rbacv1.ClusterRoleBinding)
	for _, s := range [][]rbacv1.Subject{rbd.Subjects, crb.Subjects} {
		if len(s) != 1 || s[0].Name != TokenServiceName || s[0].Namespace != "kube-system" || s[0].Kind != "ServiceAccount" {
			t.Errorf("subjects %+v", s)
		}
	}
	// The service's token groups: kubeadm's bootstrap roles, never the
	// auto-approval of kubelet client CSRs.
	for _, b := range []struct{ ns, name, role string }{{"", "hybridnode:bootstrappers:node-bootstrapper", "system:node-bootstrapper"},
		{"", "hybridnode:bootstrappers:get-nodes", "kubeadm:get-nodes"}, {"kube-system", "hybridnode:bootstrappers:kubeadm-config", "kubeadm:nodes-kubeadm-config"},
		{"kube-system", "hybridnode:bootstrappers:kubelet-config", "kubeadm:kubelet-config"}, {"kube-system", "hybridnode:bootstrappers:kube-proxy", "kube-proxy"}} {
		var ref rbacv1.RoleRef
		var subj []rbacv1.Subject
		if b.ns == "" {
			o := f.c.Get(t, clusterRoleBindings, "", b.name).(*rbacv1.ClusterRoleBinding)
			ref, subj = o.RoleRef, o.Subjects
		} else {
			o := f.c.Get(t, roleBindings, b.ns, b.name).(*rbacv1.RoleBinding)
			ref, subj = o.RoleRef, o.Subjects
		}
		if ref.Name != b.role || len(subj) != 2 || subj[0].Name != tokenservice.IdentityGroup || subj[1].Name != tokenservice.PoolGroup {
			t.Errorf("%s: %+v %+v", b.name, ref, subj)
		}
	}
	all, err := f.c.Tracker.List(clusterRoleBindings, clusterRoleBindings.GroupVersion().WithKind("ClusterRoleBinding"), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range all.(*rbacv1.ClusterRoleBindingList).Items {
		if strings.Contains(o.RoleRef.Name, "nodeclient") {
			t.Errorf("%s binds %s", o.Name, o.RoleRef.Name)
		}
	}
	for _, name := range []string{"hybridnode-token-service-secrets", "hybridnode-node-provider-id"} {
		p := f.c.Get(t, vaps, "", name).(*admv1.ValidatingAdmissionPolicy)
		b := f.c.Get(t, vapBindings, "", name).(*admv1.ValidatingAdmissionPolicyBinding)
		if len(p.Spec.Validations) == 0 || b.Spec.PolicyName != name || !slices.Equal(b.Spec.ValidationActions, []admv1.ValidationAction{admv1.Deny}) {
			t.Errorf("policy %s: %+v %+v", name, p.Spec, b.Spec)
		}
	}
	f.c.Get(t, serviceAccounts, "kube-system", TokenServiceName)

	// A second run changes nothing: the audience and certificate are kept.
	f.c.Fake.ClearActions()
	if out, _, err := f.run(t, false, o); err != nil || out != "no changes\n" || len(f.c.Mutations()) != 0 {
		t.Errorf("second setup: %v, %d changes\n%s", err, len(f.c.Mutations()), out)
	}

	// check: the service is there but not ready, then ready.
	r := f.check(t, f.checkOptions())
	if got := result(r, "token-service"); got.Status != report.Fail || !strings.Contains(got.Evidence, "0 of 2 replicas ready") {
		t.Errorf("token-service: %s %s", got.Status, got.Evidence)
	}
	d.Status.ReadyReplicas = 2
	if err := f.c.Tracker.Update(deployments, d, "kube-system"); err != nil {
		t.Fatal(err)
	}
	r = f.check(t, f.checkOptions())
	if got := result(r, "token-service"); got.Status != report.Pass || !strings.Contains(got.Evidence, pin) {
		t.Errorf("token-service: %s %s", got.Status, got.Evidence)
	}
	// A binding that auto-approves every bootstrap token's kubelet client
	// CSRs would go around the approver: check fails naming it.
	wide := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "all-bootstrappers-autoapprove"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:certificates.k8s.io:certificatesigningrequests:nodeclient"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:bootstrappers"}}}
	f.c.Add(t, wide)
	r = f.check(t, f.checkOptions())
	if got := result(r, "token-service"); got.Status != report.Fail || !strings.Contains(got.Evidence, "all-bootstrappers-autoapprove") {
		t.Errorf("token-service with an auto-approval of system:bootstrappers: %s %s", got.Status, got.Evidence)
	}
	if err := f.c.Tracker.Delete(clusterRoleBindings, "", wide.Name); err != nil {
		t.Fatal(err)
	}

	// Another address: a new certificate, so a new pin in the script, and
	// the Pods restart (their template changes).
	o.Identity.Addresses = []string{"10.0.0.22"}
	out, _, err = f.run(t, false, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"updated Secret kube-system/hybridnode-token-service-tls (a new certificate, pin sha256:", "its certificate does not name 10.0.0.22",
		"updated ConfigMap kube-system/hybridnode-token-service", "updated Deployment kube-system/hybridnode-token-service", "wrote " + f.script()} {
		if !strings.Contains(out, w) {
			t.Errorf("after a new address, the output lacks %q:\n%s", w, out)
		}
	}
	cm2 := configMap(t, f.c, "kube-system", TokenServiceName)
	if cm2.Data["pin"] == pin || cm2.Data["audience"] != cm.Data["audience"] || cm2.Data["url"] != "https://10.0.0.22:9443" {
		t.Errorf("after a new address: %v", cm2.Data)
	}
	// The script's pin no longer matches a stale certificate: check says so.
	sec2 := secret(t, f.c, tlsSecretName())
	sec2.Data = sec.Data
	if err := f.c.Tracker.Update(clustertest.Secrets, sec2, "kube-system"); err != nil {
		t.Fatal(err)
	}
	if got := result(f.check(t, f.checkOptions()), "token-service"); got.Status != report.Fail || !strings.Contains(got.Evidence, "nodes refuse the service") {
		t.Errorf("stale certificate: %s %s", got.Status, got.Evidence)
	}
	f.noLeak(t, "key", string(sec.Data["tls.key"]))
}

func TestSetupIdentityService(t *testing.T) {
	f := newFixture(t, clustertest.Healthy(t))
	o := f.identityOptions(t)
	o.Identity.Expose = ExposeService
	o.Identity.Port = 8443
	out, _, err := f.run(t, false, o)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	svc := f.c.Get(t, services, "kube-system", TokenServiceName).(*corev1.Service)
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || svc.Spec.Ports[0].Port != 8443 || svc.Spec.Selector["app.kubernetes.io/name"] != TokenServiceName {
		t.Errorf("Service %+v", svc.Spec)
	}
	d := f.c.Get(t, deployments, "kube-system", TokenServiceName).(*appsv1.Deployment)
	if d.Spec.Template.Spec.HostNetwork || d.Spec.Template.Spec.Containers[0].Ports[0].HostPort != 0 {
		t.Error("the Deployment uses the host network with a Service")
	}
	if out, _, err := f.run(t, false, o); err != nil || out != "no changes\n" {
		t.Errorf("second run: %v\n%s", err, out)
	}
}

// TestSetupIdentityWithoutPoolToken: a cluster with no pool token; check
// then skips node-pool-token for the token service.
func TestSetupIdentityWithoutPoolToken(t *testing.T) {
	f := newFixture(t, clustertest.Broken(t))
	o := f.identityOptions(t)
	o.ScriptURL = scriptURL
	if out, _, err := f.run(t, false, o); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if n := len(poolTokens(t, f.c)); n != 0 {
		t.Errorf("%d pool tokens", n)
	}
	r := f.check(t, f.checkOptions())
	if got := result(r, "node-pool-token"); got.Status != report.Skip || !strings.Contains(got.Evidence, "token service") {
		t.Errorf("node-pool-token: %s %s", got.Status, got.Evidence)
	}
	if got := result(r, "cluster-info"); got.Status != report.Skip {
		t.Errorf("cluster-info: %s %s", got.Status, got.Evidence)
	}
}

func TestSetupIdentityRefusesBadInput(t *testing.T) {
	f := newFixture(t, clustertest.Healthy(t))
	o := f.setupOptions()
	o.Identity = IdentityOptions{Credentials: CredentialsIdentity}
	_, _, err := f.run(t, false, o)
	ie := wantInput(t, err, "--accounts")
	if strings.Contains(ie.Error(), "--identity-ca") {
		t.Errorf("--identity-ca is required:\n%v", ie)
	}
	for _, w := range []string{"--token-service-image", "--token-service-address"} {
		if !strings.Contains(ie.Error(), w) {
			t.Errorf("lacks %s:\n%v", w, ie)
		}
	}
	bad := filepath.Join(f.dir, "bad.pem")
	writeFile(t, bad, []byte("not a certificate"), 0o644)
	o.Identity = IdentityOptions{Credentials: CredentialsIdentity, IdentityCA: bad, Accounts: []string{"12x"}, Image: "a b",
		Addresses: []string{"not_a_host"}, Expose: "nodeport", Regions: []string{"CN HZ"}}
	_, _, err = f.run(t, false, o)
	ie = wantInput(t, err, "--identity-ca")
	for _, w := range []string{"--accounts: got \"12x\"", "--token-service-image: got", "--token-service-address: got \"not_a_host\"", "--token-service-expose: got \"nodeport\"", "--regions"} {
		if !strings.Contains(ie.Error(), w) {
			t.Errorf("lacks %s:\n%v", w, ie)
		}
	}
	o.Identity = IdentityOptions{Credentials: "magic"}
	wantInput(t, func() error { _, _, err := f.run(t, false, o); return err }(), "--credentials")
	o.Identity = f.identityOptions(t).Identity
	wantInput(t, func() error { _, _, err := f.run(t, true, o); return err }(), "--credentials")
	if n := len(f.c.Mutations()); n != 0 {
		t.Errorf("%d changes on bad input", n)
	}
}

// TestSetupIdentityDefaultCert: without --identity-ca the ConfigMap holds
// the built-in certificate, Alibaba Cloud's, which the service is given.
func TestSetupIdentityDefaultCert(t *testing.T) {
	f := newFixture(t, clustertest.Healthy(t))
	o := f.identityOptions(t)
	o.Identity.IdentityCA = ""
	if out, _, err := f.run(t, false, o); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cm := configMap(t, f.c, "kube-system", TokenServiceName)
	if cm.Data["identity-ca.pem"] != string(tokenservice.DefaultIdentityCertPEM) {
		t.Errorf("identity-ca.pem is not the built-in certificate:\n%s", cm.Data["identity-ca.pem"])
	}
}

// TestSetupIdentityReplacesABindingsRoleRef: bindings whose roleRef points
// elsewhere are brought back (roleRef cannot be updated: setup deletes and
// creates them), and the next run changes nothing.
func TestSetupIdentityReplacesABindingsRoleRef(t *testing.T) {
	f := newFixture(t, clustertest.Healthy(t))
	o := f.identityOptions(t)
	if out, _, err := f.run(t, false, o); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, gvr := range []schema.GroupVersionResource{roleBindings, clusterRoleBindings} {
		ns := "kube-system"
		if gvr == clusterRoleBindings {
			ns = ""
		}
		obj := f.c.Get(t, gvr, ns, TokenServiceName)
		switch b := obj.(type) {
		case *rbacv1.RoleBinding:
			b.RoleRef.Name = "someone-else"
		case *rbacv1.ClusterRoleBinding:
			b.RoleRef.Name = "someone-else"
		}
		if err := f.c.Tracker.Update(gvr, obj, ns); err != nil {
			t.Fatal(err)
		}
	}
	out, _, err := f.run(t, false, o)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, w := range []string{"updated RoleBinding kube-system/hybridnode-token-service", "updated ClusterRoleBinding hybridnode-token-service"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if b := f.c.Get(t, roleBindings, "kube-system", TokenServiceName).(*rbacv1.RoleBinding); b.RoleRef.Name != TokenServiceName {
		t.Errorf("RoleBinding roleRef %+v", b.RoleRef)
	}
	if b := f.c.Get(t, clusterRoleBindings, "", TokenServiceName).(*rbacv1.ClusterRoleBinding); b.RoleRef.Name != TokenServiceName {
		t.Errorf("ClusterRoleBinding roleRef %+v", b.RoleRef)
	}
	if out, _, err := f.run(t, false, o); err != nil || out != "no changes\n" {
		t.Errorf("third run: %v\n%s", err, out)
	}
}

// TestSetupIdentityManifests: setup --credentials identity --dry-run -o
// yaml prints every object of the token service as one YAML stream, with
// kinds, ready to apply, and changes nothing; without --dry-run, or for a
// pool token, it is refused.
func TestSetupIdentityManifests(t *testing.T) {
	f := newFixture(t, clustertest.Healthy(t))
	o := f.identityOptions(t)
	o.DryRun, o.Manifests = true, true
	out, _, err := f.run(t, false, o)
	if err != nil {
		t.Fatalf("-o yaml: %v\n%s", err, out)
	}
	if n := len(f.c.Mutations()); n != 0 {
		t.Errorf("-o yaml sent %d changes", n)
	}
	if _, err := os.Stat(f.script()); err == nil {
		t.Error("-o yaml wrote the script")
	}
	docs := strings.Split(strings.TrimPrefix(out, "---\n"), "\n---\n")
	var kinds []string
	for _, d := range docs {
		var obj struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name              string `json:"name"`
				ResourceVersion   string `json:"resourceVersion"`
				CreationTimestamp any    `json:"creationTimestamp"`
			} `json:"metadata"`
			Status any `json:"status"`
		}
		if err := yaml.UnmarshalStrict([]byte(d), &obj); err != nil && !strings.Contains(err.Error(), "unknown field") {
			t.Fatalf("document does not parse: %v\n%s", err, d)
		}
		if obj.APIVersion == "" || obj.Kind == "" || obj.Metadata.Name == "" || obj.Metadata.ResourceVersion != "" || obj.Status != nil || obj.Metadata.CreationTimestamp != nil {
			t.Errorf("document: %+v", obj)
		}
		kinds = append(kinds, obj.Kind+"/"+obj.Metadata.Name)
	}
	for _, w := range []string{"Namespace/hybridnode-system", "ConfigMap/hybridnode-token-service", "Secret/hybridnode-token-service-tls",
		"ServiceAccount/hybridnode-token-service", "Deployment/hybridnode-token-service", "ValidatingAdmissionPolicy/hybridnode-token-service-secrets",
		"ValidatingAdmissionPolicyBinding/hybridnode-node-provider-id", "ClusterRoleBinding/hybridnode:bootstrappers:node-bootstrapper"} {
		if !slices.Contains(kinds, w) {
			t.Errorf("the stream lacks %s: %v", w, kinds)
		}
	}
	if len(docs) != 20 {
		t.Errorf("%d objects, want 20 (every object setup applies but the script): %v", len(docs), kinds)
	}
	// Without --dry-run, or with a pool token: refused.
	for _, mod := range []func(*SetupOptions){func(o *SetupOptions) { o.DryRun = false }, func(o *SetupOptions) { o.Identity = IdentityOptions{} }} {
		o := f.identityOptions(t)
		o.DryRun, o.Manifests = true, true
		mod(&o)
		var ie *InputError
		if _, _, err := f.run(t, false, o); !errors.As(err, &ie) || !strings.Contains(err.Error(), "-o/--output") {
			t.Errorf("refused: %v", err)
		}
	}
}
