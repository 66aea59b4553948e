package tokenservice

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var csrSerial atomic.Int64

// csrOpts shape a kubelet client CSR as kubelet's TLS bootstrap makes it
// (k8s.io/client-go/util/certificate/csr: O=system:nodes,
// CN=system:node:<name>, usages digital signature and client auth).
type csrOpts struct {
	org    []string
	dns    []string
	usages []certificatesv1.KeyUsage
	signer string
	groups []string
}

// csr is a CSR for node name from the bootstrap token id, of group
// (IdentityGroup or PoolGroup), created in the fake API server.
func (e *env) csr(t *testing.T, id, name, group string, o csrOpts) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if o.org == nil {
		o.org = []string{"system:nodes"}
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: "system:node:" + name, Organization: o.org}, DNSNames: o.dns}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	if o.usages == nil {
		o.usages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}
	}
	if o.signer == "" {
		o.signer = SignerKubeletClient
	}
	if o.groups == nil {
		o.groups = []string{"system:bootstrappers", group, "system:authenticated"}
	}
	c := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("csr-%d", csrSerial.Add(1))},
		Spec: certificatesv1.CertificateSigningRequestSpec{Request: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: o.signer, Usages: o.usages, Username: "system:bootstrap:" + id, Groups: o.groups},
	}
	made, err := e.client.CertificatesV1().CertificateSigningRequests().Create(t.Context(), c, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return made
}

// decision is the CSR's condition after the approver looked at it:
// Approved, Denied or "" (untouched), and its reason.
func (e *env) decision(t *testing.T, name string) (string, string) {
	t.Helper()
	c, err := e.client.CertificatesV1().CertificateSigningRequests().Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Status.Conditions) > 1 {
		t.Errorf("CSR %s has %d conditions: %+v", name, len(c.Status.Conditions), c.Status.Conditions)
	}
	for _, cond := range c.Status.Conditions {
		return string(cond.Type), cond.Reason
	}
	return "", ""
}

// issued exchanges in's identity and returns its token ID.
func (e *env) issued(t *testing.T, in instance) string {
	t.Helper()
	a := e.exchange(in.request(t, e.ca, time.Now()))
	if a.status != http.StatusOK {
		t.Fatalf("exchange for %s: %d %s", in.id, a.status, a.body)
	}
	return strings.SplitN(a.token.Token, ".", 2)[0]
}

func (e *env) approve(t *testing.T, c *certificatesv1.CertificateSigningRequest) {
	t.Helper()
	if err := e.svc.Approve(t.Context(), c); err != nil {
		t.Fatalf("Approve %s: %v", c.Name, err)
	}
}

func (e *env) node(t *testing.T, name, providerID string) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{ProviderID: providerID}}
	if _, err := e.client.CoreV1().Nodes().Create(t.Context(), n, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestApproverIdentity: a token from an exchange gets one kubelet client
// certificate, for the name derived from its signed document, and nothing
// else: each attack of the security review is denied with its reason.
func TestApproverIdentity(t *testing.T) {
	e := newEnv(t, nil)
	a, b := defaultInstance("i-alpha"), defaultInstance("i-beta")
	idA, idB := e.issued(t, a), e.issued(t, b)
	e.node(t, "onprem-worker-1", "")

	cases := []struct {
		name, id, node string
		o              csrOpts
		want, reason   string
	}{
		{"another node's name (an on-premises node)", idA, "onprem-worker-1", csrOpts{}, "Denied", "NodeNameNotBound"},
		{"another instance's name", idB, a.nodeName(), csrOpts{}, "Denied", "NodeNameNotBound"},
		{"a control-plane name", idA, "master-1", csrOpts{}, "Denied", "NodeNameNotBound"},
		{"a token the service never issued", "zzzzzz", a.nodeName(), csrOpts{}, "Denied", "UnknownToken"},
		{"a serving certificate's SAN", idA, a.nodeName(), csrOpts{dns: []string{"evil.example"}}, "Denied", "NotAKubeletClientCSR"},
		{"another organization", idA, a.nodeName(), csrOpts{org: []string{"system:masters"}}, "Denied", "NotAKubeletClientCSR"},
		{"server auth", idA, a.nodeName(), csrOpts{usages: []certificatesv1.KeyUsage{certificatesv1.UsageServerAuth, certificatesv1.UsageClientAuth}}, "Denied", "NotAKubeletClientCSR"},
		{"its own name", idA, a.nodeName(), csrOpts{}, "Approved", "HybridnodeApproved"},
		{"its own name again (one approval per token)", idA, a.nodeName(), csrOpts{}, "Denied", "TokenAlreadyUsed"},
		{"kubeadm's group: not the service's", idB, b.nodeName(), csrOpts{groups: []string{"system:bootstrappers:kubeadm:default-node-token"}}, "", ""},
		{"another signer: not the service's", idB, b.nodeName(), csrOpts{signer: "kubernetes.io/kube-apiserver-client"}, "", ""},
	}
	for _, c := range cases {
		csr := e.csr(t, c.id, c.node, IdentityGroup, c.o)
		e.approve(t, csr)
		if got, reason := e.decision(t, csr.Name); got != c.want || reason != c.reason {
			t.Errorf("%s: %q %q, want %q %q", c.name, got, reason, c.want, c.reason)
		}
	}
	rec := e.records()
	var alpha string
	for _, r := range rec {
		if r.Annotations[InstanceAnnotation] == a.id {
			alpha = r.Annotations[CSRAnnotation]
		}
	}
	if alpha == "" {
		t.Errorf("the record of %s does not name its approved CSR", a.id)
	}
	// Denials are logged with their reason, on the CSR and in the log.
	for _, w := range []string{`"msg":"CSR denied"`, `"reason":"NodeNameNotBound"`, "may only become node \\\"" + a.nodeName(), `"msg":"CSR approved"`} {
		if !strings.Contains(e.logs.String(), w) {
			t.Errorf("the log lacks %s", w)
		}
	}
	m := e.svc.cfg.Metrics.csrs
	if got := testutil.ToFloat64(m.WithLabelValues("approved", "HybridnodeApproved")); got != 1 {
		t.Errorf("approved metric %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.WithLabelValues("denied", "NodeNameNotBound")); got != 3 {
		t.Errorf("denied NodeNameNotBound metric %v, want 3", got)
	}
}

// TestApproverNodeTaken: an instance may take a name a Node holds only when
// that Node is itself (the same provider ID: a re-join after reset).
func TestApproverNodeTaken(t *testing.T) {
	e := newEnv(t, nil)
	same, other := defaultInstance("i-rejoin"), defaultInstance("i-squat")
	e.node(t, same.nodeName(), same.region+"."+same.id)
	e.node(t, other.nodeName(), "cn-hangzhou.i-someoneelse")
	c1 := e.csr(t, e.issued(t, same), same.nodeName(), IdentityGroup, csrOpts{})
	c2 := e.csr(t, e.issued(t, other), other.nodeName(), IdentityGroup, csrOpts{})
	e.approve(t, c1)
	e.approve(t, c2)
	if got, _ := e.decision(t, c1.Name); got != "Approved" {
		t.Errorf("the same instance again: %s", got)
	}
	if got, reason := e.decision(t, c2.Name); got != "Denied" || reason != "NodeNameTaken" {
		t.Errorf("a name held by another instance's Node: %s %s", got, reason)
	}
}

// TestApproverPool: a node-pool token proves no instance; its CSRs are
// held to the pool's pattern and to names no Node holds.
func TestApproverPool(t *testing.T) {
	namer, err := NewNodeNamer("", []string{"10.10.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) { c.Namer = namer })
	e.node(t, "cn-hangzhou.10.10.1.5", "cn-hangzhou.i-exists")
	for _, c := range []struct{ node, want, reason string }{
		{"cn-hangzhou.10.10.24.7", "Approved", "HybridnodeApproved"},
		{"cn-hangzhou.10.10.1.5", "Denied", "NodeNameTaken"},
		{"cn-hangzhou.192.168.3.4", "Denied", "NodeNameOutsidePool"},
		{"onprem-worker-1", "Denied", "NodeNameOutsidePool"},
		{"master-1", "Denied", "NodeNameOutsidePool"},
	} {
		csr := e.csr(t, "poolab", c.node, PoolGroup, csrOpts{})
		e.approve(t, csr)
		if got, reason := e.decision(t, csr.Name); got != c.want || reason != c.reason {
			t.Errorf("%s: %s %s, want %s %s", c.node, got, reason, c.want, c.reason)
		}
	}
}

// TestApproveOnceAcrossReplicas: two replicas deciding at once, on the
// same CSR and on two CSRs of one token: one approval in all.
func TestApproveOnceAcrossReplicas(t *testing.T) {
	e := newEnv(t, nil)
	other, err := New(e.svc.cfg)
	if err != nil {
		t.Fatal(err)
	}
	in := defaultInstance("i-twice")
	id := e.issued(t, in)
	c1, c2 := e.csr(t, id, in.nodeName(), IdentityGroup, csrOpts{}), e.csr(t, id, in.nodeName(), IdentityGroup, csrOpts{})
	var wg sync.WaitGroup
	for _, s := range []*Service{e.svc, other} {
		for _, c := range []*certificatesv1.CertificateSigningRequest{c1, c2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A conflict is retried, as the loop does.
				for i := 0; i < 5; i++ {
					if s.Approve(t.Context(), c) == nil {
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	approved := 0
	for _, c := range []*certificatesv1.CertificateSigningRequest{c1, c2} {
		if got, _ := e.decision(t, c.Name); got == "Approved" {
			approved++
		}
	}
	if approved != 1 {
		t.Errorf("%d CSRs of one token approved, want 1", approved)
	}
}

// TestApproveLoop: the loop sees a CSR as it is created and decides it.
func TestApproveLoop(t *testing.T) {
	e := newEnv(t, nil)
	in := defaultInstance("i-looped")
	id := e.issued(t, in)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { e.svc.ApproveLoop(ctx); close(done) }()
	good, bad := e.csr(t, id, in.nodeName(), IdentityGroup, csrOpts{}), e.csr(t, id, "onprem-worker-1", IdentityGroup, csrOpts{})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		g, _ := e.decision(t, good.Name)
		b, _ := e.decision(t, bad.Name)
		if g != "" && b != "" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if g, _ := e.decision(t, good.Name); g != "Approved" {
		t.Errorf("its own name: %q", g)
	}
	if b, _ := e.decision(t, bad.Name); b != "Denied" {
		t.Errorf("another name: %q", b)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not stop")
	}
}

func TestNodeNamer(t *testing.T) {
	d := Document{RegionID: "cn-hangzhou", ZoneID: "cn-hangzhou-k", InstanceID: "i-bp1abc", AccountID: "123", PrivateIP: "10.10.24.7"}
	for _, c := range []struct{ tmpl, want, err string }{
		{"", "cn-hangzhou.10.10.24.7", ""},
		{"{{.InstanceID}}", "i-bp1abc", ""},
		{"ecs-{{.ZoneID}}-{{.InstanceID}}", "ecs-cn-hangzhou-k-i-bp1abc", ""},
		{"{{.RegionID}}_{{.InstanceID}}", "", "not a valid Node name"},
	} {
		n, err := NewNodeNamer(c.tmpl, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := n.Name(d)
		if got != c.want || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%q: %q %v", c.tmpl, got, err)
		}
	}
	for _, bad := range []string{"{{.Nope}}", "{{", "{{.RegionID"} {
		if _, err := NewNodeNamer(bad, nil); err == nil {
			t.Errorf("template %q accepted", bad)
		}
	}
	if _, err := NewNodeNamer("", []string{"10.0.0.0/33"}); err == nil {
		t.Error("a bad VPC CIDR accepted")
	}
	n, _ := NewNodeNamer("", []string{"10.10.0.0/16", "172.16.0.0/12"})
	for name, fits := range map[string]bool{"cn-hangzhou.10.10.24.7": true, "cn-beijing.172.20.1.1": true, "cn-hangzhou.10.11.0.1": false,
		"onprem-1": false, "cn-hangzhou.10.10.24.7.evil": false, "x.cn-hangzhou.10.10.24.7": false, "cn-hangzhou.999.10.24.7": false} {
		if why := n.Fits(name); (why == "") != fits {
			t.Errorf("Fits(%q) = %q, want fits %v", name, why, fits)
		}
	}
}
