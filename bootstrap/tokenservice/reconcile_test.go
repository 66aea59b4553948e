package tokenservice

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/hybridnode/hybridnode/bootstrap/identity"
)

func TestReconcileDeletesAfterNodeRegistration(t *testing.T) {
	e := newEnv(t, nil)
	joined, waiting := defaultInstance("i-joined"), defaultInstance("i-waiting")
	for _, in := range []instance{joined, waiting} {
		if a := e.exchange(in.request(t, e.ca, time.Now())); a.status != http.StatusOK {
			t.Fatalf("%s: %d %s", in.id, a.status, a.body)
		}
	}
	// A pool token and another Secret are never touched.
	pool := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-abcdef", Namespace: Namespace, Labels: map[string]string{"hybridnode.io/node-pool": "default"}},
		Type: "bootstrap.kubernetes.io/token", Data: map[string][]byte{"expiration": []byte("2000-01-01T00:00:00Z")}}
	if _, err := e.client.CoreV1().Secrets(Namespace).Create(t.Context(), pool, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, err := e.svc.Reconcile(t.Context()); err != nil || n != 0 {
		t.Fatalf("before any node: deleted %d, %v", n, err)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: joined.nodeName()}, Spec: corev1.NodeSpec{ProviderID: "cn-hangzhou.i-joined"}}
	if _, err := e.client.CoreV1().Nodes().Create(t.Context(), node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, err := e.svc.Reconcile(t.Context()); err != nil || n != 1 {
		t.Fatalf("after the node registered: deleted %d, %v", n, err)
	}
	names := secretNames(e)
	if want := []string{"bootstrap-token-abcdef", SecretName(TokenID(testAccount, waiting.id))}; !sameSet(names, want) {
		t.Errorf("Secrets %v, want %v", names, want)
	}
	if !strings.Contains(e.logs.String(), "node "+joined.nodeName()+" registered") {
		t.Errorf("the deletion is not logged:\n%s", e.logs)
	}
	// The waiting one expires: the loop deletes it too.
	e.now = func() time.Time { return time.Now().Add(DefaultTokenTTL + time.Second) }
	if n, err := e.svc.Reconcile(t.Context()); err != nil || n != 1 {
		t.Fatalf("after expiry: deleted %d, %v", n, err)
	}
	if names := secretNames(e); !sameSet(names, []string{"bootstrap-token-abcdef"}) {
		t.Errorf("Secrets %v", names)
	}
}

func TestReconcileLoopRunsAndStops(t *testing.T) {
	e := newEnv(t, nil)
	in := defaultInstance("i-loop")
	if a := e.exchange(in.request(t, e.ca, time.Now())); a.status != http.StatusOK {
		t.Fatal(a.body)
	}
	e.client.CoreV1().Nodes().Create(t.Context(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: corev1.NodeSpec{ProviderID: "cn-hangzhou.i-loop"}}, metav1.CreateOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { e.svc.ReconcileLoop(ctx, 10*time.Millisecond); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(e.secrets()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the loop did not stop")
	}
	if n := len(e.secrets()); n != 0 {
		t.Errorf("%d Secrets left", n)
	}
}

func secretNames(e *env) []string {
	var out []string
	for _, s := range e.secrets() {
		out = append(out, s.Name)
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestSecretNeverLogged runs every kind of decision, an API failure that
// quotes the token and the reconcile loop, and scans the whole log and
// every refusal for every token and secret made.
func TestSecretNeverLogged(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Regions = []string{testRegion} })
	var bodies []string
	var tokens []string
	post := func(r identity.ExchangeRequest) answer {
		a := e.exchange(r)
		if a.status == http.StatusOK {
			tokens = append(tokens, a.token.Token)
		} else {
			bodies = append(bodies, a.body)
		}
		return a
	}
	now := time.Now()
	in := defaultInstance("i-scan")
	first := in.request(t, e.ca, now)
	if a := post(first); a.status != 200 {
		t.Fatal(a.body)
	}
	post(first) // replay
	other := in.request(t, newCA(t, "other"), now)
	other.ProviderID = "cn-hangzhou.i-scan2"
	post(other)
	r := defaultInstance("i-scan3").request(t, e.ca, now)
	r.ProviderID = "cn-hangzhou.i-elsewhere"
	post(r)
	bj := instance{account: testAccount, region: "cn-beijing", zone: "cn-beijing-a", id: "i-scan4"}
	post(bj.request(t, e.ca, now))
	// An API error that quotes the Secret it was given.
	e.client.PrependReactor("create", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		s := a.(k8stesting.CreateAction).GetObject().(*corev1.Secret)
		tokens = append(tokens, string(s.Data["token-id"])+"."+string(s.Data["token-secret"]))
		return true, nil, fmt.Errorf("admission webhook denied %s: %s", s.Name, s.Data["token-secret"])
	})
	post(defaultInstance("i-scan5").request(t, e.ca, now))
	e.client.CoreV1().Nodes().Create(t.Context(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: corev1.NodeSpec{ProviderID: "cn-hangzhou.i-scan"}}, metav1.CreateOptions{})
	if n, err := e.svc.Reconcile(t.Context()); n != 1 || err != nil {
		t.Fatalf("reconcile: %d %v", n, err)
	}
	if len(tokens) != 2 || len(bodies) != 5 {
		t.Fatalf("%d tokens and %d refusals, want 2 and 5", len(tokens), len(bodies))
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "admission webhook denied") {
		t.Fatalf("the API error is not in the log:\n%s", logs)
	}
	for _, tok := range tokens {
		id, secret, _ := strings.Cut(tok, ".")
		for what, text := range map[string]string{"log": logs, "refusals": strings.Join(bodies, "\n")} {
			if strings.Contains(text, secret) || strings.Contains(text, tok) {
				t.Errorf("the %s hold the secret of token %s:\n%s", what, id, text)
			}
		}
	}
}

// TestConcurrentExchanges fires 200 exchanges of distinct instances at two
// replicas of the service (each its own HTTPS server on loopback) sharing
// one API server, all at once: every one is answered with a token, each
// instance's own. The latencies are printed, not asserted.
func TestConcurrentExchanges(t *testing.T) {
	const n = 200
	ca := newCA(t, "alibaba")
	client := newClient()
	var logs syncBuffer
	var servers []*httptest.Server
	for i := 0; i < 2; i++ {
		svc, err := New(Config{Client: client.CoreV1(), Leases: client.CoordinationV1(), CSRs: client.CertificatesV1(), Signers: ca.signers, Audience: testAudience, Accounts: []string{testAccount},
			Log: testLogger(zapcore.AddSync(&logs)), Burst: n, ClientRate: -1})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(svc)
		srv.Config.ReadHeaderTimeout = 5 * time.Second
		// Connections the client dialed and did not use end at Close.
		srv.Config.ErrorLog = zap.NewStdLog(testLogger(zapcore.AddSync(&logs)))
		srv.StartTLS()
		t.Cleanup(srv.Close)
		servers = append(servers, srv)
	}
	// Sign first: the metadata service does that, not the exchange.
	now := time.Now()
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i], _ = json.Marshal(defaultInstance(fmt.Sprintf("i-bp1load%05d", i)).request(t, ca, now))
	}
	type result struct {
		status  int
		token   string
		latency time.Duration
		err     error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv := servers[i%2]
			<-start
			t0 := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+identity.ExchangePath, strings.NewReader(string(bodies[i])))
			resp, err := srv.Client().Do(req)
			if err != nil {
				results[i] = result{err: err}
				return
			}
			defer resp.Body.Close()
			var r identity.ExchangeResponse
			err = json.NewDecoder(resp.Body).Decode(&r)
			results[i] = result{status: resp.StatusCode, token: r.Token, latency: time.Since(t0), err: err}
		}()
	}
	close(start)
	wg.Wait()
	var lat []time.Duration
	seen := map[string]bool{}
	for i, r := range results {
		if r.err != nil || r.status != http.StatusOK {
			t.Errorf("request %d: %d %v", i, r.status, r.err)
			continue
		}
		id, _, _ := strings.Cut(r.token, ".")
		if want := TokenID(testAccount, fmt.Sprintf("i-bp1load%05d", i)); id != want || seen[id] {
			t.Errorf("request %d: token ID %s, want %s once", i, id, want)
		}
		seen[id] = true
		lat = append(lat, r.latency)
	}
	list, _ := client.CoreV1().Secrets(Namespace).List(t.Context(), metav1.ListOptions{})
	if len(list.Items) != n {
		t.Errorf("%d token Secrets, want %d", len(list.Items), n)
	}
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	t.Logf("%d concurrent exchanges at 2 replicas: p50 %s, p99 %s, max %s", len(lat), pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
}

// TestServe: Serve on loopback with a certificate from files; an exchange
// over HTTPS checked against the pin of the certificate's key, as a node
// does; then a clean stop.
func TestServe(t *testing.T) {
	ca := newCA(t, "alibaba")
	client := newClient()
	dir := t.TempDir()
	certFile, keyFile, pin := writeServingCert(t, dir)
	ctx, cancel := context.WithCancel(t.Context())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, Options{Config: Config{Client: client.CoreV1(), Leases: client.CoordinationV1(), CSRs: client.CertificatesV1(), Signers: ca.signers, Audience: testAudience, Accounts: []string{testAccount}},
			Listen: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile, ReconcileInterval: 20 * time.Millisecond,
			Listening: func(a net.Addr) { addr <- a }})
	}()
	var a net.Addr
	select {
	case a = <-addr:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
		c, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return err
		}
		sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
		if got := "sha256:" + hex.EncodeToString(sum[:]); got != pin {
			return fmt.Errorf("pin %s, want %s", got, pin)
		}
		return nil
	}}}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	body, _ := json.Marshal(defaultInstance("i-served").request(t, ca, time.Now()))
	resp, err := hc.Post("https://"+a.String()+identity.ExchangePath, "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d", resp.StatusCode)
	}
	resp, err = hc.Get("https://" + a.String() + HealthPath)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("health: %v", err)
	} else {
		resp.Body.Close()
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v after its context ended", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not stop")
	}
	if err := Serve(t.Context(), Options{Config: Config{Client: client.CoreV1(), Leases: client.CoordinationV1(), Signers: ca.signers, Audience: testAudience, Accounts: []string{"1"}},
		Listen: "127.0.0.1:0", CertFile: filepath.Join(dir, "missing.crt"), KeyFile: keyFile}); err == nil || !strings.Contains(err.Error(), "missing.crt") {
		t.Errorf("a missing certificate: %v", err)
	}
}

func writeServingCert(t *testing.T, dir string) (certFile, keyFile, pin string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "token service"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	c, _ := x509.ParseCertificate(der)
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return certFile, keyFile, "sha256:" + hex.EncodeToString(sum[:])
}

// BenchmarkExchange is one accepted exchange at the handler (signature
// verification, the checks, the Secret's create on the fake API server),
// without TLS.
func BenchmarkExchange(b *testing.B) {
	e := newEnv(b, nil)
	now := time.Now()
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i], _ = json.Marshal(defaultInstance(fmt.Sprintf("i-bench%07d", i)).request(b, e.ca, now))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if a := e.post(bodies[i], ""); a.status != http.StatusOK {
			b.Fatalf("%d %s", a.status, a.body)
		}
	}
}
