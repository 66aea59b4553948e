package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/doctor/report"
	"github.com/hybridnode/hybridnode/bootstrap/metadata"
)

const (
	testToken = "abcdef.0123456789abcdef"
	testDoc   = `{"owner-account-id":"1234567890","instance-id":"i-bp1node","region-id":"cn-hangzhou","zone-id":"cn-hangzhou-h","private-ipv4":"10.0.1.5","mac":"00:16:3e:00:00:01"}`
)

func init() { retryBase = time.Millisecond }

func testRequest() ExchangeRequest {
	return ExchangeRequest{Document: testDoc, Signature: "MIIBsig", Audience: "prod:1700000000", ProviderID: "cn-hangzhou.i-bp1node", NodeName: "cn-hangzhou.10.0.1.5"}
}

// tokenService is an httptest TLS server (loopback) standing in for the
// token service: it checks the request's shape and answers with answer.
type tokenService struct {
	*httptest.Server
	requests atomic.Int64
	conns    atomic.Int64
	mu       sync.Mutex
	answer   func(w http.ResponseWriter, n int64)
	bad      []string // request shape problems
}

func newTokenService(t *testing.T, answer func(w http.ResponseWriter, n int64)) *tokenService {
	t.Helper()
	s := &tokenService{answer: answer}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.requests.Add(1)
		var req ExchangeRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
		dec.DisallowUnknownFields()
		err := dec.Decode(&req)
		s.mu.Lock()
		switch {
		case r.Method != http.MethodPost || r.URL.Path != ExchangePath:
			s.bad = append(s.bad, r.Method+" "+r.URL.Path)
		case r.Header.Get("Content-Type") != "application/json":
			s.bad = append(s.bad, "content type "+r.Header.Get("Content-Type"))
		case err != nil:
			s.bad = append(s.bad, "body: "+err.Error())
		case req != testRequest():
			s.bad = append(s.bad, fmt.Sprintf("request %+v", req))
		}
		s.mu.Unlock()
		s.answer(w, n)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.StartTLS()
	t.Cleanup(func() {
		s.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, b := range s.bad {
			t.Errorf("bad request: %s", b)
		}
	})
	return s
}

func (s *tokenService) pin() string { return report.Pin(s.Certificate()) }

func issue(w http.ResponseWriter, _ int64) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(ExchangeResponse{Token: testToken, Expiration: time.Unix(1700000600, 0).UTC()})
}

func refuse(code int, reason Reason) func(http.ResponseWriter, int64) {
	return func(w http.ResponseWriter, _ int64) {
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(Refusal{Reason: reason, Message: "refused\x1b[31m by policy"})
	}
}

func TestExchangePinned(t *testing.T) {
	s := newTokenService(t, issue)
	tok, err := Exchange(context.Background(), s.URL+"/", s.pin(), testRequest())
	if err != nil {
		t.Fatal(err)
	}
	if tok.Secret.Reveal() != testToken || !tok.Expiration.Equal(time.Unix(1700000600, 0)) {
		t.Errorf("token %v expiring %v", tok.Secret, tok.Expiration)
	}
	if out := fmt.Sprintf("%v %+v %#v", tok, tok, tok); strings.Contains(out, testToken) {
		t.Errorf("the token prints: %s", out)
	}
	if s.requests.Load() != 1 {
		t.Errorf("%d requests", s.requests.Load())
	}
}

func TestExchangePinMismatchIsFinal(t *testing.T) {
	s := newTokenService(t, issue)
	other := "sha256:" + strings.Repeat("0", 64)
	_, err := Exchange(context.Background(), s.URL, other, testRequest())
	var pe *PinError
	if KindOf(err) != ServiceUnreachable || !errors.As(err, &pe) || pe.Got != s.pin() {
		t.Fatalf("want a pin mismatch, got %v", err)
	}
	if !strings.Contains(err.Error(), "re-run hybridnode-cluster setup") || !strings.Contains(err.Error(), other) {
		t.Errorf("message: %v", err)
	}
	if s.requests.Load() != 0 || s.conns.Load() != 1 {
		t.Errorf("%d requests over %d connections; want none over one (no retry)", s.requests.Load(), s.conns.Load())
	}
}

// TestExchangeNeedsThePinOnly: httptest's certificate, which no root
// vouches for, is accepted on its pin alone, and refused with another
// pin; the probe sends no request.
func TestExchangeNeedsThePinOnly(t *testing.T) {
	s := newTokenService(t, issue)
	if err := Probe(context.Background(), s.URL, s.pin(), nil); err != nil {
		t.Errorf("probe with the pin: %v", err)
	}
	if err := Probe(context.Background(), s.URL, "sha256:"+strings.Repeat("1", 64), nil); KindOf(err) != ServiceUnreachable {
		t.Errorf("probe with another pin: %v", err)
	}
	if s.requests.Load() != 0 {
		t.Errorf("the probe sent %d requests", s.requests.Load())
	}
}

func TestExchangeRefusals(t *testing.T) {
	cases := []struct {
		code   int
		reason Reason
		kind   Kind
		remedy string
	}{
		{403, ReasonAccount, NotAllowed, "add account 1234567890 to the token service's --accounts"},
		{403, ReasonRegion, NotAllowed, "region cn-hangzhou, zone cn-hangzhou-h"},
		{403, ReasonSignature, IdentityRefused, "instance identity signature"},
		{403, ReasonAudience, IdentityRefused, `audience "prod:1700000000"; set tokenService.audience`},
		{403, ReasonStale, IdentityRefused, "check this node's clock"},
		{403, ReasonReplay, IdentityRefused, "instance i-bp1node within its window"},
		{403, ReasonInstance, IdentityRefused, `provider ID "cn-hangzhou.i-bp1node"`},
		{400, ReasonBadRequest, IdentityRefused, "matching releases"},
		{413, ReasonTooLarge, IdentityRefused, "matching releases"},
		{404, "", ServiceUnreachable, "is tokenService.url the token service?"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d %s", c.code, c.reason), func(t *testing.T) {
			s := newTokenService(t, refuse(c.code, c.reason))
			_, err := Exchange(context.Background(), s.URL, s.pin(), testRequest())
			var e *Error
			if !errors.As(err, &e) || e.Kind != c.kind || e.Reason != c.reason {
				t.Fatalf("got %#v, want kind %v reason %q", err, c.kind, c.reason)
			}
			if !strings.Contains(err.Error(), c.remedy) {
				t.Errorf("message lacks %q: %v", c.remedy, err)
			}
			if strings.ContainsRune(err.Error(), '\x1b') {
				t.Errorf("the service's control characters are in the message: %q", err)
			}
			if s.requests.Load() != 1 {
				t.Errorf("a refusal was retried: %d requests", s.requests.Load())
			}
		})
	}
}

func TestExchangeRetries503ThenSucceeds(t *testing.T) {
	s := newTokenService(t, func(w http.ResponseWriter, n int64) {
		if n < 3 {
			refuse(503, ReasonInternal)(w, n)
			return
		}
		issue(w, n)
	})
	tok, err := Exchange(context.Background(), s.URL, s.pin(), testRequest())
	if err != nil || tok.Secret.Reveal() != testToken || s.requests.Load() != 3 {
		t.Fatalf("after two 503s: %v, %d requests", err, s.requests.Load())
	}
}

func TestExchangeGivesUpOn5xx(t *testing.T) {
	s := newTokenService(t, refuse(500, ReasonInternal))
	_, err := Exchange(context.Background(), s.URL, s.pin(), testRequest())
	if KindOf(err) != ServiceUnreachable || !strings.Contains(err.Error(), "see the token service's log") || s.requests.Load() != Attempts {
		t.Fatalf("%v after %d requests", err, s.requests.Load())
	}
}

func TestExchangeHonoursRetryAfter(t *testing.T) {
	s := newTokenService(t, func(w http.ResponseWriter, n int64) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			refuse(429, ReasonRateLimited)(w, n)
			return
		}
		issue(w, n)
	})
	start := time.Now()
	if _, err := Exchange(context.Background(), s.URL, s.pin(), testRequest()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < time.Second || s.requests.Load() != 2 {
		t.Errorf("retried after %v with %d requests; want Retry-After's 1s and 2 requests", d, s.requests.Load())
	}
}

func TestExchangeConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Exchange(context.Background(), "https://"+addr, "sha256:"+strings.Repeat("a", 64), testRequest())
	if KindOf(err) != ServiceUnreachable || !strings.Contains(err.Error(), "security group") {
		t.Fatalf("got %v", err)
	}
}

// TestExchangeRetriesDroppedConnections: a service that drops every
// connection is tried Attempts times.
func TestExchangeRetriesDroppedConnections(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepts atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			c.Close()
		}
	}()
	_, err = Exchange(context.Background(), "https://"+l.Addr().String(), "sha256:"+strings.Repeat("a", 64), testRequest())
	if KindOf(err) != ServiceUnreachable || accepts.Load() != Attempts {
		t.Fatalf("%v after %d connections, want %d", err, accepts.Load(), Attempts)
	}
}

func TestExchangeBoundsTheAnswer(t *testing.T) {
	s := newTokenService(t, func(w http.ResponseWriter, _ int64) {
		w.Write([]byte(`{"token":"` + testToken + `","pad":"`))
		w.Write([]byte(strings.Repeat("x", 4<<20)))
	})
	_, err := Exchange(context.Background(), s.URL, s.pin(), testRequest())
	if KindOf(err) != ServiceUnreachable || !strings.Contains(err.Error(), "more than 65536 bytes") || s.requests.Load() != 1 {
		t.Fatalf("%v after %d requests", err, s.requests.Load())
	}
}

func TestExchangeNeverQuotesABadToken(t *testing.T) {
	const typo = "abcdef.0123456789abcdeX"
	s := newTokenService(t, func(w http.ResponseWriter, _ int64) { w.Write([]byte(`{"token":"` + typo + `"}`)) })
	_, err := Exchange(context.Background(), s.URL, s.pin(), testRequest())
	if KindOf(err) != ServiceUnreachable || strings.Contains(err.Error(), typo) {
		t.Fatalf("got %v", err)
	}
}

// fakeMetadata serves the instance identity on loopback, in hardening
// mode: every GET needs the token from the PUT.
func fakeMetadata(t *testing.T) (*httptest.Server, *[]string) {
	t.Helper()
	var mu sync.Mutex
	var audiences []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/latest/api/token" && r.Method == http.MethodPut {
			w.Write([]byte("imds-token"))
			return
		}
		if r.Header.Get("X-aliyun-ecs-metadata-token") != "imds-token" {
			http.Error(w, "token required", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/latest/dynamic/instance-identity/document":
			w.Write([]byte(testDoc))
		case "/latest/dynamic/instance-identity/pkcs7":
			mu.Lock()
			audiences = append(audiences, r.URL.Query().Get("audience"))
			mu.Unlock()
			w.Write([]byte("MIIBsig\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &audiences
}

func TestFetch(t *testing.T) {
	srv, audiences := fakeMetadata(t)
	aud := Audience("prod/a.b", time.Unix(1700000000, 0))
	id, err := Fetch(context.Background(), metadata.New(srv.URL), aud)
	if err != nil {
		t.Fatal(err)
	}
	if id.Document != testDoc || id.Signature != "MIIBsig" || id.Audience != "prod/a.b:1700000000" {
		t.Errorf("identity %+v", id)
	}
	if len(*audiences) != 1 || (*audiences)[0] != aud {
		t.Errorf("signed audiences %q, want %q", *audiences, aud)
	}
	d, _ := ParseDocument(id.Document)
	if d.AccountID != "1234567890" || d.ProviderID() != "cn-hangzhou.i-bp1node" || d.PrivateIP != "10.0.1.5" {
		t.Errorf("document %+v", d)
	}
}

func TestFetchMetadataUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Fetch(context.Background(), metadata.New("http://"+addr), "prod:1")
	if KindOf(err) != MetadataUnreachable || !strings.Contains(err.Error(), "metadata access settings") {
		t.Fatalf("got %v", err)
	}
	// A service without the identity (404) is the same class.
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	if _, err := Fetch(context.Background(), metadata.New(srv.URL), "prod:1"); KindOf(err) != MetadataUnreachable {
		t.Fatalf("404: got %v", err)
	}
}

func TestParseDocumentOlderSpelling(t *testing.T) {
	d, err := ParseDocument(`{"account-id":"42","instance-id":"i-x","region-id":"cn-beijing","private-ip":"10.1.1.1"}`)
	if err != nil || d.AccountID != "42" || d.PrivateIP != "10.1.1.1" {
		t.Errorf("%+v %v", d, err)
	}
	if _, err := ParseDocument(`{"instance-id":"i-x"}`); err == nil {
		t.Error("a document without region-id was accepted")
	}
}

// TestParseDocumentKeepsLongAccountIDs: a numeric account ID of 16+ digits
// (past float64's exact range) is read digit for digit.
func TestParseDocumentKeepsLongAccountIDs(t *testing.T) {
	d, err := ParseDocument(`{"account-id":1234567890123456789,"instance-id":"i-x","region-id":"cn-hangzhou"}`)
	if err != nil || d.AccountID != "1234567890123456789" {
		t.Fatalf("%+v, %v", d, err)
	}
}
