package identity

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/doctor/report"
)

// Bounds of an exchange.
const (
	ConnectTimeout = 3 * time.Second
	// RequestTimeout bounds one request, from dialing to the last byte.
	RequestTimeout = 15 * time.Second
	// Attempts: the first and a few retries, on connection errors and on
	// 5xx and 429 answers only.
	Attempts = 4
	// MaxResponseBytes bounds what is read of an answer.
	MaxResponseBytes = 64 << 10
	// maxRetryAfter caps the wait a Retry-After may ask for.
	maxRetryAfter = 30 * time.Second
)

// retryBase is the wait before the first retry, doubling and jittered;
// tests shorten it.
var retryBase = 500 * time.Millisecond

// Token is a bootstrap token from the service. Secret never prints
// (config.Secret); Expiration is zero when the service did not say.
type Token struct {
	Secret     config.Secret
	Expiration time.Time
}

var tokenRE = regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`)

// Exchange sends the identity to the token service at serviceURL (its base
// URL; the request goes to ExchangePath) and returns the token it issues.
// TLS is checked against pin alone (sha256:<hex> of the certificate's
// SubjectPublicKeyInfo, as caCertHashes are): no system roots, no proxy
// (the service is in the VPC; a proxy from the environment would see the
// identity and the token). Connection errors and 5xx and 429 answers are
// retried a few times with jittered backoff, honouring Retry-After; a
// refusal (4xx) is final. Every failure is an *Error.
func Exchange(ctx context.Context, serviceURL, pin string, req ExchangeRequest) (Token, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Token{}, err
	}
	if len(body) > MaxRequestBytes {
		return Token{}, &Error{Kind: IdentityRefused, Reason: ReasonTooLarge, Msg: fmt.Sprintf(
			"the exchange request is %d bytes, over the token service's %d: the identity document or signature from the metadata service is not what ECS gives", len(body), MaxRequestBytes)}
	}
	endpoint := strings.TrimRight(serviceURL, "/") + ExchangePath
	client := newClient(pin)
	defer client.CloseIdleConnections()
	var last *Error
	for attempt := 1; ; attempt++ {
		tok, e := exchangeOnce(ctx, client, endpoint, body, req)
		if e == nil {
			return tok, nil
		}
		last = e
		if !e.retry || attempt == Attempts || ctx.Err() != nil {
			break
		}
		wait := retryBase << (attempt - 1)
		wait = wait/2 + rand.N(wait/2+1) // jitter: nodes booted together spread out
		if ra := time.Duration(e.retryAfter) * time.Second; ra > wait {
			wait = min(ra, maxRetryAfter)
		}
		select {
		case <-ctx.Done():
			return Token{}, &Error{Kind: ServiceUnreachable, Msg: "exchanging the instance identity at " + endpoint + " was interrupted", Err: ctx.Err()}
		case <-time.After(wait):
		}
	}
	return Token{}, last
}

// newClient is the pinned HTTPS client.
func newClient(pin string) *http.Client {
	tr := &http.Transport{
		Proxy:       nil,
		DialContext: (&net.Dialer{Timeout: ConnectTimeout}).DialContext,
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			// The chain is not verified against any roots: the pin below is
			// the whole of the trust, as kubeadm's CA pin is for discovery.
			InsecureSkipVerify:    true,
			VerifyPeerCertificate: VerifyPin(pin),
			RootCAs:               x509.NewCertPool(),
		},
		TLSHandshakeTimeout:   ConnectTimeout,
		ResponseHeaderTimeout: RequestTimeout,
		MaxIdleConnsPerHost:   1,
	}
	return &http.Client{Transport: tr, Timeout: RequestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// VerifyPin checks that the leaf certificate's public key has the pin.
func VerifyPin(pin string) func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
	return func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		if len(rawCerts) == 0 {
			return &PinError{Want: pin, Got: "none"}
		}
		leaf, err := x509.ParseCertificate(rawCerts[0])
		if err != nil {
			return fmt.Errorf("the token service's certificate does not parse: %w", err)
		}
		if got := report.Pin(leaf); got != pin {
			return &PinError{Want: pin, Got: got}
		}
		return nil
	}
}

// Probe connects to the service and checks its pin, sending nothing (for
// doctor: an exchange would use up the instance's token for the window).
// dial connects (nil: a plain dialer with ConnectTimeout).
func Probe(ctx context.Context, serviceURL, pin string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) error {
	u, err := url.Parse(serviceURL)
	if err != nil {
		return &Error{Kind: ServiceUnreachable, Msg: "tokenService.url " + serviceURL + " is not a URL", Err: err}
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	if dial == nil {
		dial = (&net.Dialer{Timeout: ConnectTimeout}).DialContext
	}
	ctx, cancel := context.WithTimeout(ctx, 2*ConnectTimeout)
	defer cancel()
	raw, err := dial(ctx, "tcp", host)
	if err != nil {
		return unreachable(serviceURL, err)
	}
	defer raw.Close()
	conn := tls.Client(raw, newClient(pin).Transport.(*http.Transport).TLSClientConfig)
	if err := conn.HandshakeContext(ctx); err != nil {
		return unreachable(serviceURL, err)
	}
	return conn.Close()
}

// unreachable is a connection that failed: a pin mismatch is final, other
// errors are retried.
func unreachable(endpoint string, err error) *Error {
	var pe *PinError
	if errors.As(err, &pe) {
		return &Error{Kind: ServiceUnreachable, Err: err, Msg: fmt.Sprintf(
			"the token service at %s is not the one pinned in tokenService.pin (%s, it presented %s): if the service was set up again, re-run hybridnode-cluster setup "+
				"and use the node script's tokenService settings; otherwise something else answers at that address", endpoint, pe.Want, pe.Got)}
	}
	return &Error{Kind: ServiceUnreachable, Err: err, retry: true, Msg: fmt.Sprintf(
		"the token service at %s could not be reached: check tokenService.url, that the service runs, and that the security group lets this node reach its port", endpoint)}
}

func exchangeOnce(ctx context.Context, client *http.Client, endpoint string, body []byte, req ExchangeRequest) (Token, *Error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return Token{}, &Error{Kind: ServiceUnreachable, Msg: "tokenService.url " + endpoint + " is not a URL", Err: err}
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("User-Agent", "hybridnode")
	resp, err := client.Do(hr)
	if err != nil {
		return Token{}, unreachable(endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return Token{}, unreachable(endpoint, err)
	}
	if len(data) > MaxResponseBytes {
		return Token{}, &Error{Kind: ServiceUnreachable, Msg: fmt.Sprintf(
			"the token service at %s answered with more than %d bytes: is tokenService.url the token service?", endpoint, MaxResponseBytes)}
	}
	if resp.StatusCode/100 == 2 {
		return accepted(endpoint, data)
	}
	var ref Refusal
	_ = json.Unmarshal(data, &ref)
	e := refused(endpoint, resp.StatusCode, ref, req)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		e.retry = true
		e.retryAfter, _ = strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After")))
	}
	return Token{}, e
}

// accepted reads a 2xx answer. The token is never quoted, however wrong.
func accepted(endpoint string, data []byte) (Token, *Error) {
	var r ExchangeResponse
	if err := json.Unmarshal(data, &r); err != nil || !tokenRE.MatchString(r.Token) {
		return Token{}, &Error{Kind: ServiceUnreachable, Msg: fmt.Sprintf(
			"the token service at %s accepted the identity but its answer holds no bootstrap token of the form [a-z0-9]{6}.[a-z0-9]{16}: is tokenService.url the token service, of a matching release?", endpoint)}
	}
	return Token{Secret: config.Secret(r.Token), Expiration: r.Expiration}, nil
}

// refused maps an answer other than 2xx to its Kind, with a remedy.
func refused(endpoint string, code int, ref Refusal, req ExchangeRequest) *Error {
	doc, _ := ParseDocument(req.Document)
	why := string(ref.Reason)
	if m := clean(ref.Message); m != "" {
		why += ": " + m
	}
	e := &Error{Kind: IdentityRefused, Reason: ref.Reason}
	switch ref.Reason {
	case ReasonAccount:
		e.Kind = NotAllowed
		e.Msg = fmt.Sprintf("the token service does not allow account %s (%s): add account %s to the token service's --accounts", doc.AccountID, why, doc.AccountID)
	case ReasonRegion:
		e.Kind = NotAllowed
		e.Msg = fmt.Sprintf("the token service does not allow region %s, zone %s (%s): add them to the token service's --regions (or --zones)", doc.RegionID, doc.ZoneID, why)
	case ReasonSignature:
		e.Msg = fmt.Sprintf("the token service refused the instance identity signature (%s): it must be the metadata service's, and the service must trust the ECS instance identity certificate of region %s", why, doc.RegionID)
	case ReasonAudience:
		e.Msg = fmt.Sprintf("the token service serves another cluster (%s): this node asked for audience %q; set tokenService.audience to the service's audience, as in the node script of hybridnode-cluster setup", why, req.Audience)
	case ReasonStale:
		e.Msg = fmt.Sprintf("the token service found the signature's time outside its window (%s): check this node's clock and the service host's (chronyc tracking)", why)
	case ReasonReplay:
		e.Msg = fmt.Sprintf("the token service already issued a token to instance %s within its window (%s): another join of this instance ran just now; wait for the window to pass, then run hybridnode join again", doc.InstanceID, why)
	case ReasonInstance:
		e.Msg = fmt.Sprintf("the token service found that provider ID %q is not this instance's (%s) (%s): correct or unset providerID (ALIBABA_CLOUD_PROVIDER_ID)", req.ProviderID, doc.ProviderID(), why)
	case ReasonNodeName:
		e.Msg = fmt.Sprintf("the token service derives this instance's node name from its signed identity document, and it is not %q (%s): set nodeName (ALIBABA_CLOUD_NODE_NAME) to the name it gives, or change the setup's --node-name-template", req.NodeName, why)
	case ReasonBadRequest, ReasonTooLarge:
		e.Msg = fmt.Sprintf("the token service could not read the request (HTTP %d %s): use matching releases of hybridnode and the token service", code, why)
	case ReasonRateLimited:
		e.Kind = ServiceUnreachable
		e.Msg = fmt.Sprintf("the token service at %s is rate limiting (%s): too many nodes at once; run hybridnode join again in a minute", endpoint, why)
	default:
		e.Kind, e.Reason = ServiceUnreachable, ""
		if code >= 500 {
			e.Msg = fmt.Sprintf("the token service at %s failed (HTTP %d %s): see the token service's log", endpoint, code, why)
		} else {
			e.Msg = fmt.Sprintf("the token service at %s answered HTTP %d without a known refusal: is tokenService.url the token service?", endpoint, code)
		}
	}
	return e
}
