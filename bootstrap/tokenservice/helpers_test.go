package tokenservice

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
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
	"github.com/hybridnode/hybridnode/bootstrap/tokenservice/ecstest"
)

// Fixture values.
const (
	testAudience = "prod-cluster"
	testAccount  = "1234567890123456789" // more digits than a float64 keeps
	testRegion   = "cn-hangzhou"
	testZone     = "cn-hangzhou-k"
)

// testCA is an instance identity signer shaped like Alibaba Cloud's: a
// self-signed RSA-2048 certificate, no CA, trusted as the signer itself.
type testCA struct {
	cert    *x509.Certificate
	key     *rsa.PrivateKey
	signers []*x509.Certificate
}

var (
	serial atomic.Int64
	keysMu sync.Mutex
	keys   = map[string]*rsa.PrivateKey{}
)

// testKey is the RSA key of name, made once (RSA key generation is slow).
func testKey(t testing.TB, name string) *rsa.PrivateKey {
	t.Helper()
	keysMu.Lock()
	defer keysMu.Unlock()
	if k := keys[name]; k != nil {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keys[name] = k
	return k
}

func newCA(t testing.TB, name string) *testCA {
	t.Helper()
	key := testKey(t, name)
	now := time.Now()
	u := []string{"Unknown"}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x6666d187 + serial.Add(1)),
		Subject:      pkix.Name{Country: u, Province: u, Locality: u, Organization: u, OrganizationalUnit: u, CommonName: name},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, signers: []*x509.Certificate{cert}}
}

// p7opts vary a signature from the metadata service's shape.
type p7opts struct {
	hash     crypto.Hash // 0: SHA-1, as ECS
	detached bool        // no content attached
	attrs    bool        // signed attributes (contentType, signingTime, messageDigest), as most PKCS#7 libraries add
	certs    bool        // the signer's certificate carried
	content  []byte      // attach this instead of what is signed
}

// signPKCS7 signs content as the metadata service does (o zero), through
// the one ECS-shaped signer the e2e's fakeimds uses too.
func (ca *testCA) signPKCS7(t testing.TB, content []byte, o p7opts) []byte {
	t.Helper()
	der, err := ecstest.Sign(ca.cert, ca.key, content, ecstest.Options{Hash: o.hash, Detached: o.detached, Attrs: o.attrs, Certs: o.certs, Content: o.content})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// sign is what the metadata service answers at pkcs7?audience=...: the
// signature of the document with the audience appended, base64, in lines
// of 64.
func (ca *testCA) sign(t testing.TB, document, audience string) string {
	t.Helper()
	content, err := SignedContent(document, audience)
	if err != nil {
		t.Fatal(err)
	}
	return wrap64(ca.signPKCS7(t, content, p7opts{}))
}

func wrap64(der []byte) string {
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
// time now.
func (in instance) request(t testing.TB, ca *testCA, now time.Time) identity.ExchangeRequest {
	aud := testAudience + ":" + strconv.FormatInt(now.Unix(), 10)
	doc := in.document()
	return identity.ExchangeRequest{Document: doc, Signature: ca.sign(t, doc, aud), Audience: aud,
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
	cfg := Config{Client: e.client.CoreV1(), Leases: e.client.CoordinationV1(), CSRs: e.client.CertificatesV1(), Signers: e.ca.signers, Audience: testAudience, Accounts: []string{testAccount},
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
