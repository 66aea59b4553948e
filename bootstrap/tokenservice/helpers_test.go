package tokenservice

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	certificatesv1client "k8s.io/client-go/kubernetes/typed/certificates/v1"
	fakecertificatesv1 "k8s.io/client-go/kubernetes/typed/certificates/v1/fake"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	fakecoordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1/fake"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	fakecorev1 "k8s.io/client-go/kubernetes/typed/core/v1/fake"
	k8stesting "k8s.io/client-go/testing"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"

	"github.com/hybridnode/hybridnode/bootstrap/identity"
)

// Fixture values.
const (
	testAudience = "prod-cluster"
	testAccount  = "1234567890123456789" // more digits than a float64 keeps
	testRegion   = "cn-hangzhou"
	testZone     = "cn-hangzhou-k"
)

// testCA is a root and a signer certificate under it, as the metadata
// service's signer chains to Alibaba Cloud's certificate.
type testCA struct {
	root      *x509.Certificate
	signer    *x509.Certificate
	signerKey crypto.Signer
	pool      *x509.CertPool
}

var serial atomic.Int64

func newCA(t testing.TB, name string) *testCA {
	t.Helper()
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: name + " root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(der)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)), Subject: pkix.Name{CommonName: name + " instance identity signer"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, root, &key.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return &testCA{root: root, signer: signer, signerKey: key, pool: pool}
}

// sign is what the metadata service answers at pkcs7?audience=...: a
// detached PKCS#7 signature, base64, over the document with the audience
// appended as Alibaba Cloud describes. withAttrs false: no signed
// attributes (so no signingTime).
func (ca *testCA) sign(t testing.TB, document, audience string, withAttrs bool) string {
	t.Helper()
	content, err := SignedContent(document, audience)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := pkcs7.NewSignedData(content)
	if err != nil {
		t.Fatal(err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if withAttrs {
		err = sd.AddSignerChain(ca.signer, ca.signerKey, []*x509.Certificate{ca.root}, pkcs7.SignerInfoConfig{})
	} else {
		err = sd.SignWithoutAttr(ca.signer, ca.signerKey, pkcs7.SignerInfoConfig{})
	}
	if err != nil {
		t.Fatal(err)
	}
	sd.Detach()
	der, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	// The metadata service's answer is wrapped base64.
	b64 := base64.StdEncoding.EncodeToString(der)
	var lines []string
	for len(b64) > 64 {
		lines, b64 = append(lines, b64[:64]), b64[64:]
	}
	return strings.Join(append(lines, b64), "\n")
}

// instance is one ECS instance's identity.
type instance struct {
	account, region, zone, id, ip string
}

// defaultInstance: an instance of the test account; its private address
// is derived from its ID, so that two instances have two node names.
func defaultInstance(id string) instance {
	h := 0
	for _, c := range id {
		h = (h*31 + int(c)) % 64516
	}
	return instance{account: testAccount, region: testRegion, zone: testZone, id: id,
		ip: fmt.Sprintf("192.168.%d.%d", h/254, h%254+1)}
}

// nodeName is the instance's node name by the default template.
func (in instance) nodeName() string { return in.region + "." + in.ip }

// document is the metadata service's document for in (account as a
// number, as owner-account-id).
func (in instance) document() string {
	return fmt.Sprintf(`{"zone-id":"%s","serial-number":"4a5d0b2c-%s","instance-id":"%s","region-id":"%s","private-ipv4":"%s",`+
		`"owner-account-id":%s,"mac":"00:16:3e:00:00:01","image-id":"aliyun_3_x64_20G_alibase_20240819.vhd","instance-type":"ecs.g7.large"}`,
		in.zone, in.id, in.id, in.region, in.ip, in.account)
}

// request is a node's exchange request, signed by ca for the audience
// time now (and signed now).
func (in instance) request(t testing.TB, ca *testCA, now time.Time) identity.ExchangeRequest {
	return in.requestAt(t, ca, now, true)
}

// requestAt: withAttrs false signs without signed attributes, so without
// a signing time.
func (in instance) requestAt(t testing.TB, ca *testCA, now time.Time, withAttrs bool) identity.ExchangeRequest {
	aud := testAudience + ":" + strconv.FormatInt(now.Unix(), 10)
	doc := in.document()
	return identity.ExchangeRequest{Document: doc, Signature: ca.sign(t, doc, aud, withAttrs), Audience: aud,
		ProviderID: in.region + "." + in.id, NodeName: in.nodeName()}
}

// env is a Service on a fake API server, with its log.
type env struct {
	t      testing.TB
	ca     *testCA
	client fakeAPI
	svc    *Service
	logs   *syncBuffer
	now    func() time.Time
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger(w zapcore.WriteSyncer) *zap.Logger {
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), w, zapcore.DebugLevel))
}

// fakeAPI is an API server: client-go's object tracker behind the typed
// fakes (the field-managed tracker of fake.NewClientset builds a REST
// mapper on every create, which would be most of what a load test timed).
type fakeAPI struct{ *k8stesting.Fake }

func (f fakeAPI) CoreV1() corev1client.CoreV1Interface { return &fakecorev1.FakeCoreV1{Fake: f.Fake} }
func (f fakeAPI) CoordinationV1() coordinationv1client.CoordinationV1Interface {
	return &fakecoordinationv1.FakeCoordinationV1{Fake: f.Fake}
}
func (f fakeAPI) CertificatesV1() certificatesv1client.CertificatesV1Interface {
	return fakeCertificates{&fakecertificatesv1.FakeCertificatesV1{Fake: f.Fake}}
}

// fakeCertificates tells client-go's informer that the fake cannot stream
// a list through a watch (the object tracker sends no initial-events
// bookmark), so it lists, then watches.
type fakeCertificates struct {
	*fakecertificatesv1.FakeCertificatesV1
}

func (fakeCertificates) IsWatchListSemanticsUnSupported() bool { return true }

// newClient is a fake API server that stamps created objects with a UID and
// a creation time, as the API server does.
func newClient() fakeAPI {
	tracker := k8stesting.NewObjectTracker(scheme.Scheme, scheme.Codecs.UniversalDecoder())
	f := &k8stesting.Fake{}
	var n atomic.Int64
	f.AddReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if obj, ok := a.(k8stesting.CreateAction).GetObject().(metav1.Object); ok {
			obj.SetUID(types.UID(fmt.Sprintf("uid-%d", n.Add(1))))
			obj.SetCreationTimestamp(metav1.Now())
		}
		return false, nil, nil
	})
	// The admission policy setup installs (hybridnode-token-service-secrets):
	// the service deletes only its own tokens. The e2e holds the real
	// policy to the same on a real API server.
	f.AddReactor("delete", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		d := a.(k8stesting.DeleteAction)
		o, err := tracker.Get(corev1.SchemeGroupVersion.WithResource("secrets"), d.GetNamespace(), d.GetName())
		if err != nil {
			return false, nil, nil
		}
		if sec := o.(*corev1.Secret); sec.Labels[CredentialLabel] != CredentialIdentity || sec.Type != bootstrapapi.SecretTypeBootstrapToken {
			return true, nil, apierrors.NewForbidden(corev1.Resource("secrets"), d.GetName(), errors.New("ValidatingAdmissionPolicy 'hybridnode-token-service-secrets' denied request: the token service deletes only its own bootstrap tokens"))
		}
		return false, nil, nil
	})
	f.AddReactor("*", "*", k8stesting.ObjectReaction(tracker))
	f.AddWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		w, err := tracker.Watch(a.GetResource(), a.GetNamespace())
		return true, w, err
	})
	return fakeAPI{f}
}

// records lists the service's records.
func (e *env) records() []coordinationv1.Lease {
	e.t.Helper()
	l, err := e.client.CoordinationV1().Leases(RecordNamespace).List(e.t.Context(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return l.Items
}

func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	e := &env{t: t, ca: newCA(t, "alibaba"), client: newClient(), logs: &syncBuffer{}, now: time.Now}
	cfg := Config{Client: e.client.CoreV1(), Leases: e.client.CoordinationV1(), CSRs: e.client.CertificatesV1(), Roots: e.ca.pool, Audience: testAudience, Accounts: []string{testAccount},
		Log: testLogger(zapcore.AddSync(e.logs)), Now: func() time.Time { return e.now() }, ClientRate: -1, Rate: -1}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	return e
}

// answer is one response.
type answer struct {
	status     int
	body       string
	retryAfter string
	token      identity.ExchangeResponse
	refusal    identity.Refusal
}

func (e *env) post(body []byte, remote string) answer {
	return postTo(e.svc, body, remote)
}

func postTo(h http.Handler, body []byte, remote string) answer {
	r := httptest.NewRequest(http.MethodPost, identity.ExchangePath, bytes.NewReader(body))
	if remote != "" {
		r.RemoteAddr = remote
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	a := answer{status: w.Code, body: w.Body.String(), retryAfter: w.Header().Get("Retry-After")}
	if w.Code == http.StatusOK {
		json.Unmarshal(w.Body.Bytes(), &a.token)
	} else {
		json.Unmarshal(w.Body.Bytes(), &a.refusal)
	}
	return a
}

func (e *env) exchange(req identity.ExchangeRequest) answer {
	b, err := json.Marshal(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.post(b, "")
}

// secrets lists the token Secrets on the fake API server.
func (e *env) secrets() []corev1.Secret {
	e.t.Helper()
	l, err := e.client.CoreV1().Secrets(Namespace).List(e.t.Context(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return l.Items
}
