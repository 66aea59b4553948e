package tokenservice

import (
	"crypto"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"

	"github.com/hybridnode/hybridnode/bootstrap/identity"
)

var tokenRE = regexp.MustCompile(`^([a-z0-9]{6})\.([a-z0-9]{16})$`)

func TestAcceptedExchangeCreatesToken(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Regions = []string{testRegion}; c.Zones = []string{testZone} })
	in := defaultInstance("i-bp1accepted")
	now := time.Now()
	a := e.exchange(in.request(t, e.ca, now))
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	m := tokenRE.FindStringSubmatch(a.token.Token)
	if m == nil {
		t.Fatalf("token %q is not a bootstrap token", a.token.Token)
	}
	if m[1] != TokenID(testAccount, in.id) {
		t.Errorf("token ID %s, want the derived %s", m[1], TokenID(testAccount, in.id))
	}
	if d := a.token.Expiration.Sub(now); d < DefaultTokenTTL-2*time.Second || d > DefaultTokenTTL+time.Second {
		t.Errorf("expiration %s is %s from now, want %s", a.token.Expiration, d, DefaultTokenTTL)
	}
	list := e.secrets()
	if len(list) != 1 {
		t.Fatalf("%d Secrets, want 1", len(list))
	}
	s := list[0]
	if s.Name != "bootstrap-token-"+m[1] || s.Namespace != "kube-system" || s.Type != bootstrapapi.SecretTypeBootstrapToken {
		t.Errorf("Secret %s/%s of type %s", s.Namespace, s.Name, s.Type)
	}
	want := map[string]string{
		"token-id": m[1], "token-secret": m[2], "usage-bootstrap-authentication": "true", "usage-bootstrap-signing": "true",
		"auth-extra-groups": "system:bootstrappers:hybridnode:identity",
		"expiration":        a.token.Expiration.UTC().Format(time.RFC3339),
	}
	for k, v := range want {
		if got := string(s.Data[k]); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	exp, _ := time.Parse(time.RFC3339, string(s.Data["expiration"]))
	if d := exp.Sub(now); d < 14*time.Minute || d > 15*time.Minute+time.Second {
		t.Errorf("expiration is %s away, want 15m", d)
	}
	desc := string(s.Data["description"])
	for _, w := range []string{in.id, testAccount, "node " + in.nodeName()} {
		if !strings.Contains(desc, w) {
			t.Errorf("description %q does not name %s", desc, w)
		}
	}
	if s.Labels[CredentialLabel] != CredentialIdentity || s.Annotations[ProviderIDAnnotation] != in.region+"."+in.id {
		t.Errorf("labels %v, annotations %v", s.Labels, s.Annotations)
	}
	if !strings.Contains(e.logs.String(), `"decision":"accepted"`) || !strings.Contains(e.logs.String(), `"instance":"i-bp1accepted"`) {
		t.Errorf("no accepted decision for the instance in the log:\n%s", e.logs)
	}
}

// TestAcceptedVariants: the older key spellings, a PEM-wrapped signature,
// a detached signature, a SHA-256 one, one that carries its certificate.
func TestAcceptedVariants(t *testing.T) {
	e := newEnv(t, nil)
	now := time.Now()
	aud := testAudience + ":" + strconv.FormatInt(now.Unix(), 10)

	old := `{"account-id":"` + testAccount + `","instance-id":"i-olddoc","region-id":"cn-hangzhou","zone-id":"cn-hangzhou-k","private-ip":"10.0.0.9"}`
	req := identity.ExchangeRequest{Document: old, Signature: e.ca.sign(t, old, aud), Audience: aud, ProviderID: "cn-hangzhou.i-olddoc", NodeName: "cn-hangzhou.10.0.0.9"}
	if a := e.exchange(req); a.status != http.StatusOK {
		t.Errorf("account-id spelling: %d %s", a.status, a.body)
	}

	in := defaultInstance("i-pem")
	req = in.request(t, e.ca, now)
	req.Signature = "-----BEGIN PKCS7-----\n" + req.Signature + "\n-----END PKCS7-----\n"
	if a := e.exchange(req); a.status != http.StatusOK {
		t.Errorf("PEM: %d %s", a.status, a.body)
	}

	for name, o := range map[string]p7opts{"detached": {detached: true}, "sha256": {hash: crypto.SHA256}, "certificates": {certs: true}} {
		in := defaultInstance("i-" + name)
		req := in.request(t, e.ca, now)
		content, _ := SignedContent(req.Document, req.Audience)
		req.Signature = wrap64(e.ca.signPKCS7(t, content, o))
		if a := e.exchange(req); a.status != http.StatusOK {
			t.Errorf("%s: %d %s", name, a.status, a.body)
		}
	}
}

func TestRefusals(t *testing.T) {
	other := newCA(t, "other")
	now := time.Now()
	aud := func(ts time.Time) string { return testAudience + ":" + strconv.FormatInt(ts.Unix(), 10) }
	type tc struct {
		name   string
		mod    func(*Config)
		clock  time.Duration // the service's clock, ahead of the signer's
		req    func(e *env) identity.ExchangeRequest
		raw    []byte // a body instead of req
		status int
		reason identity.Reason
		msg    string
	}
	in := defaultInstance("i-refused")
	cases := []tc{
		{name: "another CA", req: func(e *env) identity.ExchangeRequest { return in.request(t, other, now) },
			status: 403, reason: identity.ReasonSignature, msg: "not a trusted identity certificate"},
		{name: "tampered document", req: func(e *env) identity.ExchangeRequest {
			r := in.request(t, e.ca, now)
			r.Document = strings.Replace(r.Document, "i-refused", "i-victim00", 2)
			r.ProviderID = "cn-hangzhou.i-victim00"
			return r
		}, status: 403, reason: identity.ReasonSignature},
		{name: "audience other than signed", req: func(e *env) identity.ExchangeRequest {
			r := in.request(t, e.ca, now)
			r.Audience = aud(now.Add(time.Second))
			return r
		}, status: 403, reason: identity.ReasonSignature},
		{name: "signature not base64", req: func(e *env) identity.ExchangeRequest {
			r := in.request(t, e.ca, now)
			r.Signature = "not*base64"
			return r
		}, status: 403, reason: identity.ReasonSignature},
		{name: "garbage DER", req: func(e *env) identity.ExchangeRequest {
			r := in.request(t, e.ca, now)
			r.Signature = "MIIBAAAA"
			return r
		}, status: 403, reason: identity.ReasonSignature},
		{name: "another account", mod: func(c *Config) { c.Accounts = []string{"999"} },
			req: func(e *env) identity.ExchangeRequest { return in.request(t, e.ca, now) }, status: 403, reason: identity.ReasonAccount, msg: testAccount},
		{name: "region not allowed", mod: func(c *Config) { c.Regions = []string{"cn-beijing"} },
			req: func(e *env) identity.ExchangeRequest { return in.request(t, e.ca, now) }, status: 403, reason: identity.ReasonRegion, msg: "region cn-hangzhou"},
		{name: "zone not allowed", mod: func(c *Config) { c.Zones = []string{"cn-hangzhou-j"} },
			req: func(e *env) identity.ExchangeRequest { return in.request(t, e.ca, now) }, status: 403, reason: identity.ReasonRegion, msg: "zone cn-hangzhou-k"},
		{name: "stale audience time", req: func(e *env) identity.ExchangeRequest {
			doc := in.document()
			a := aud(now.Add(-6 * time.Minute))
			return identity.ExchangeRequest{Document: doc, Signature: e.ca.sign(t, doc, a), Audience: a, ProviderID: "cn-hangzhou.i-refused"}
		}, status: 403, reason: identity.ReasonStale, msg: "audience's time"},
		{name: "service clock ahead of the node's", clock: 10 * time.Minute, req: func(e *env) identity.ExchangeRequest {
			return in.request(t, e.ca, now)
		}, status: 403, reason: identity.ReasonStale, msg: "audience's time"},
		{name: "future audience time", req: func(e *env) identity.ExchangeRequest {
			doc := in.document()
			a := aud(now.Add(6 * time.Minute))
			return identity.ExchangeRequest{Document: doc, Signature: e.ca.sign(t, doc, a), Audience: a, ProviderID: "cn-hangzhou.i-refused"}
		}, status: 403, reason: identity.ReasonStale},
		{name: "wrong audience", req: func(e *env) identity.ExchangeRequest {
			doc := in.document()
			a := "staging-cluster:" + strconv.FormatInt(now.Unix(), 10)
			return identity.ExchangeRequest{Document: doc, Signature: e.ca.sign(t, doc, a), Audience: a, ProviderID: "cn-hangzhou.i-refused"}
		}, status: 403, reason: identity.ReasonAudience},
		{name: "audience prefix of ours", req: func(e *env) identity.ExchangeRequest {
			doc := in.document()
			a := testAudience + "x:" + strconv.FormatInt(now.Unix(), 10)
			return identity.ExchangeRequest{Document: doc, Signature: e.ca.sign(t, doc, a), Audience: a, ProviderID: "cn-hangzhou.i-refused"}
		}, status: 403, reason: identity.ReasonAudience},
		{name: "audience without time", req: func(e *env) identity.ExchangeRequest {
			doc := in.document()
			return identity.ExchangeRequest{Document: doc, Signature: e.ca.sign(t, doc, testAudience), Audience: testAudience, ProviderID: "cn-hangzhou.i-refused"}
		}, status: 403, reason: identity.ReasonAudience},
		{name: "instance ID is not the provider ID's", req: func(e *env) identity.ExchangeRequest {
			r := in.request(t, e.ca, now)
			r.ProviderID = "cn-hangzhou.i-someoneelse"
			return r
		}, status: 403, reason: identity.ReasonInstance},
		{name: "region is not the provider ID's", req: func(e *env) identity.ExchangeRequest {
			r := in.request(t, e.ca, now)
			r.ProviderID = "cn-beijing.i-refused"
			return r
		}, status: 403, reason: identity.ReasonInstance},
		{name: "provider ID without a region", req: func(e *env) identity.ExchangeRequest {
			r := in.request(t, e.ca, now)
			r.ProviderID = "i-refused"
			return r
		}, status: 403, reason: identity.ReasonInstance},
		{name: "signed attributes", req: func(e *env) identity.ExchangeRequest {
			r := in.request(t, e.ca, now)
			content, _ := SignedContent(r.Document, r.Audience)
			r.Signature = wrap64(e.ca.signPKCS7(t, content, p7opts{attrs: true}))
			return r
		}, status: 403, reason: identity.ReasonSignature, msg: "signed attributes (contentType, signingTime, messageDigest)"},
		{name: "audience with a quote", req: func(e *env) identity.ExchangeRequest {
			r := in.request(t, e.ca, now)
			r.Audience = testAudience + `":` + strconv.FormatInt(now.Unix(), 10)
			return r
		}, status: 403, reason: identity.ReasonAudience},
		{name: "document holding an audience", req: func(e *env) identity.ExchangeRequest {
			doc := strings.TrimSuffix(in.document(), "}") + `,"audience":"` + aud(now) + `"}`
			a := aud(now)
			return identity.ExchangeRequest{Document: doc, Signature: e.ca.sign(t, doc, a), Audience: a, ProviderID: "cn-hangzhou.i-refused"}
		}, status: 400, reason: identity.ReasonBadRequest, msg: "holds one of its own"},
		{name: "oversized body", raw: []byte(`{"document":"` + strings.Repeat("a", identity.MaxRequestBytes) + `"}`),
			status: 413, reason: identity.ReasonTooLarge},
		{name: "malformed JSON", raw: []byte(`{"document": "x",`), status: 400, reason: identity.ReasonBadRequest},
		{name: "two JSON objects", raw: []byte(`{} {}`), status: 400, reason: identity.ReasonBadRequest},
		{name: "not an object", raw: []byte(`["document"]`), status: 400, reason: identity.ReasonBadRequest},
		{name: "fields missing", raw: []byte(`{"document":"{}"}`), status: 400, reason: identity.ReasonBadRequest, msg: "signature, audience, providerID"},
		{name: "bad node name", req: func(e *env) identity.ExchangeRequest {
			r := in.request(t, e.ca, now)
			r.NodeName = "Not A Name\x1b[31m"
			return r
		}, status: 400, reason: identity.ReasonBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.mod)
			e.now = func() time.Time { return time.Now().Add(c.clock) }
			body := c.raw
			if c.req != nil {
				body, _ = json.Marshal(c.req(e))
			}
			a := e.post(body, "")
			if a.status != c.status || a.refusal.Reason != c.reason {
				t.Fatalf("got %d %q, want %d %q: %s", a.status, a.refusal.Reason, c.status, c.reason, a.body)
			}
			if a.refusal.Message == "" || !strings.Contains(a.refusal.Message, c.msg) {
				t.Errorf("message %q, want one with %q", a.refusal.Message, c.msg)
			}
			if strings.ContainsAny(a.refusal.Message, "\x1b\n") {
				t.Errorf("message %q holds control characters", a.refusal.Message)
			}
			if n := len(e.secrets()); n != 0 {
				t.Errorf("%d token Secrets made, want none", n)
			}
			if !strings.Contains(e.logs.String(), `"reason":"`+string(c.reason)+`"`) {
				t.Errorf("the refusal is not logged with its reason:\n%s", e.logs)
			}
		})
	}
}

// TestReplay: one token per instance per TokenTTL, whether or not its
// Node registered, and a signature is accepted once (its audience time
// must be after the last accepted one).
func TestReplay(t *testing.T) {
	e := newEnv(t, nil)
	in := defaultInstance("i-replayed")
	start := time.Now()
	req := in.request(t, e.ca, start)
	if a := e.exchange(req); a.status != http.StatusOK {
		t.Fatalf("first: %d %s", a.status, a.body)
	}
	before := e.secrets()
	refused := func(what string, r identity.ExchangeRequest, says string) {
		t.Helper()
		a := e.exchange(r)
		if a.status != http.StatusConflict || a.refusal.Reason != identity.ReasonReplay {
			t.Fatalf("%s: %d %q, want 409 replay: %s", what, a.status, a.refusal.Reason, a.body)
		}
		if !strings.Contains(a.refusal.Message, says) {
			t.Errorf("%s: message %q does not say %q", what, a.refusal.Message, says)
		}
	}
	refused("the same request again", req, "a signature is used once")
	refused("a fresh signature of the same instance", in.request(t, e.ca, start.Add(time.Second)), "one token per instance per 15m0s")
	if after := e.secrets(); len(after) != 1 || string(after[0].Data["token-secret"]) != string(before[0].Data["token-secret"]) {
		t.Errorf("the replay changed the token Secrets: %d", len(after))
	}

	// The Node registers and the token is deleted: the record stays, and
	// both are still refused (before, the same request was accepted again).
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: in.nodeName()}, Spec: corev1.NodeSpec{ProviderID: in.region + "." + in.id}}
	if _, err := e.client.CoreV1().Nodes().Create(t.Context(), node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, err := e.svc.Reconcile(t.Context()); err != nil || n != 1 || len(e.secrets()) != 0 {
		t.Fatalf("reconcile: %d %v, %d Secrets", n, err, len(e.secrets()))
	}
	refused("the captured request after registration", req, "a signature is used once")
	refused("a fresh signature after registration", in.request(t, e.ca, start.Add(2*time.Second)), "whether or not its node registered")
	if n := len(e.secrets()); n != 0 {
		t.Errorf("%d tokens made after registration", n)
	}

	// After TokenTTL the instance may have a new token (the approver then
	// holds its CSR to its own name and provider ID); the old request is
	// still refused.
	later := start.Add(DefaultTokenTTL + time.Minute)
	e.now = func() time.Time { return later }
	if a := e.exchange(in.request(t, e.ca, later)); a.status != http.StatusOK {
		t.Errorf("after TokenTTL: %d %s", a.status, a.body)
	}
}

// TestExpiredTokenReplaced: an expired token of the instance that
// tokencleaner has not deleted yet does not block a new one.
func TestExpiredTokenReplaced(t *testing.T) {
	e := newEnv(t, nil)
	in := defaultInstance("i-expired")
	then := time.Now().Add(-16 * time.Minute)
	e.now = func() time.Time { return then }
	if a := e.exchange(in.request(t, e.ca, then)); a.status != http.StatusOK {
		t.Fatalf("first: %d %s", a.status, a.body)
	}
	first := e.secrets()[0]
	e.now = time.Now
	a := e.exchange(in.request(t, e.ca, time.Now()))
	if a.status != http.StatusOK {
		t.Fatalf("after expiry: %d %s", a.status, a.body)
	}
	s := e.secrets()
	if len(s) != 1 || string(s[0].Data["token-secret"]) == string(first.Data["token-secret"]) || s[0].UID == first.UID {
		t.Errorf("the expired token was not replaced")
	}
}

// TestCollisionIsNotReplay: a Secret under the derived name that is not
// the service's (a pool token) is left alone: the service cannot read it,
// and the admission policy (as newClient's reactor stands in for it) keeps
// it from deleting it; and a record of another instance under the derived
// name is not this instance's.
func TestCollisionIsNotReplay(t *testing.T) {
	e := newEnv(t, nil)
	in := defaultInstance("i-collide")
	pool := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: SecretName(TokenID(testAccount, in.id)), Namespace: Namespace,
		Labels: map[string]string{"hybridnode.io/node-pool": "default"}}, Type: bootstrapapi.SecretTypeBootstrapToken,
		Data: map[string][]byte{"token-id": []byte(TokenID(testAccount, in.id)), "token-secret": []byte("poolsecret012345")}}
	if _, err := e.client.CoreV1().Secrets(Namespace).Create(t.Context(), pool, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a := e.exchange(in.request(t, e.ca, time.Now()))
	if a.status != http.StatusInternalServerError || a.refusal.Reason != identity.ReasonInternal {
		t.Fatalf("got %d %s, want 500 internal", a.status, a.body)
	}
	s := e.secrets()
	if len(s) != 1 || string(s[0].Data["token-secret"]) != "poolsecret012345" {
		t.Errorf("the other Secret was changed")
	}
	if n := len(e.records()); n != 0 {
		t.Errorf("%d records left by the failed grant, want 0 (a retry must not be a replay)", n)
	}

	other := defaultInstance("i-other")
	rec := grant{doc: Document{InstanceID: other.id, AccountID: testAccount}, id: TokenID(testAccount, "i-collide2")}.recordObject(1, time.Now(), time.Hour)
	if _, err := e.client.CoordinationV1().Leases(RecordNamespace).Create(t.Context(), rec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	in2 := defaultInstance("i-collide2")
	if a := e.exchange(in2.request(t, e.ca, time.Now())); a.status != http.StatusInternalServerError || !strings.Contains(e.logs.String(), "a token ID collision") {
		t.Errorf("a record of another instance: %d %s", a.status, a.body)
	}
}

func TestAPIFailureIsInternal(t *testing.T) {
	e := newEnv(t, nil)
	e.client.PrependReactor("create", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("etcdserver: request timed out")
	})
	a := e.exchange(defaultInstance("i-apifail").request(t, e.ca, time.Now()))
	if a.status != http.StatusInternalServerError || a.refusal.Reason != identity.ReasonInternal {
		t.Fatalf("got %d %s", a.status, a.body)
	}
	if strings.Contains(a.refusal.Message, "etcdserver") {
		t.Errorf("the refusal shows the API error: %q", a.refusal.Message)
	}
	if !strings.Contains(e.logs.String(), "etcdserver: request timed out") {
		t.Errorf("the API error is not logged:\n%s", e.logs)
	}
}

func TestRateLimits(t *testing.T) {
	t.Run("per client", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.ClientRate, c.ClientBurst = 0.1, 1 })
		a1 := e.exchange(defaultInstance("i-rate1").request(t, e.ca, time.Now()))
		b, _ := json.Marshal(defaultInstance("i-rate2").request(t, e.ca, time.Now()))
		a2 := e.post(b, "")
		if a1.status != http.StatusOK || a2.status != http.StatusTooManyRequests || a2.refusal.Reason != identity.ReasonRateLimited {
			t.Fatalf("got %d then %d %s", a1.status, a2.status, a2.body)
		}
		if n, err := strconv.Atoi(a2.retryAfter); err != nil || n < 1 || n > 10 {
			t.Errorf("Retry-After %q, want 1 to 10 seconds", a2.retryAfter)
		}
		// Another client is not limited by the first.
		if a := e.post(b, "192.0.2.99:4000"); a.status != http.StatusOK {
			t.Errorf("another client: %d %s", a.status, a.body)
		}
		if n := len(e.secrets()); n != 2 {
			t.Errorf("%d tokens, want 2", n)
		}
	})
	t.Run("global", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.Rate, c.Burst = 0.5, 2 })
		var codes []int
		for i, ip := range []string{"192.0.2.1:1", "192.0.2.2:1", "192.0.2.3:1"} {
			b, _ := json.Marshal(defaultInstance("i-global"+strconv.Itoa(i)).request(t, e.ca, time.Now()))
			codes = append(codes, e.post(b, ip).status)
		}
		if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 {
			t.Errorf("codes %v, want 200 200 429", codes)
		}
		if n := len(e.secrets()); n != 2 {
			t.Errorf("%d tokens, want 2", n)
		}
	})
}

func TestEndpoints(t *testing.T) {
	e := newEnv(t, nil)
	for _, c := range []struct {
		method, path string
		status       int
	}{{"GET", identity.ExchangePath, 405}, {"POST", "/v1/other", 404}, {"GET", HealthPath, 200}} {
		r, _ := http.NewRequest(c.method, "https://ts"+c.path, nil)
		w := &recorder{header: http.Header{}}
		e.svc.ServeHTTP(w, r)
		if w.code != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, w.code, c.status)
		}
	}
}

type recorder struct {
	header http.Header
	code   int
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return len(b), nil
}
func (r *recorder) WriteHeader(c int) { r.code = c }

func TestNewRefusesIncompleteConfig(t *testing.T) {
	ca := newCA(t, "x")
	client := newClient().CoreV1()
	for name, c := range map[string]Config{
		"no accounts":      {Client: client, Signers: ca.signers, Audience: testAudience},
		"blank accounts":   {Client: client, Signers: ca.signers, Audience: testAudience, Accounts: []string{" ", ""}},
		"audience with :":  {Client: client, Signers: ca.signers, Audience: "a:b", Accounts: []string{"1"}},
		"no audience":      {Client: client, Signers: ca.signers, Accounts: []string{"1"}},
		"no client":        {Signers: ca.signers, Audience: testAudience, Accounts: []string{"1"}},
		"negative windows": {Client: client, Signers: ca.signers, Audience: testAudience, Accounts: []string{"1"}, Window: -1},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// No signers: Alibaba Cloud's certificate, built in.
	s, err := New(Config{Client: client, Leases: newClient().CoordinationV1(), Audience: testAudience, Accounts: []string{"1"}})
	if err != nil || len(s.cfg.Signers) != 1 || SPKISHA256(s.cfg.Signers[0]) != DefaultIdentitySPKISHA256 {
		t.Errorf("default signers: %v", err)
	}
}
