package tokenservice

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	certificatesv1client "k8s.io/client-go/kubernetes/typed/certificates/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/hybridnode/hybridnode/bootstrap/identity"
)

// Defaults of a Config.
const (
	DefaultTokenTTL    = 15 * time.Minute
	DefaultWindow      = 5 * time.Minute
	DefaultRate        = 20 // requests a second, all clients together
	DefaultBurst       = 200
	DefaultClientRate  = 1 // requests a second from one client IP
	DefaultClientBurst = 5
	DefaultAPITimeout  = 10 * time.Second
	// HealthPath answers GET with 200 (readiness and liveness probes).
	HealthPath = "/healthz"
	// maxClients bounds the per-client limiters kept.
	maxClients = 10000
)

// Config is what a Service checks against and where it makes tokens.
type Config struct {
	// Client reaches the API server: Secrets in kube-system (create and
	// delete only), Nodes.
	Client corev1client.CoreV1Interface
	// Leases keeps the records in RecordNamespace.
	Leases coordinationv1client.LeasesGetter
	// CSRs are what the approver reads and approves or denies; nil: no
	// approver runs.
	CSRs certificatesv1client.CertificateSigningRequestsGetter
	// Metrics count decisions; nil: New makes them.
	Metrics *Metrics
	// Namer derives a node's name from its signed document and holds pool
	// tokens' names to its pattern; nil: DefaultNodeNameTemplate, any VPC.
	Namer *NodeNamer
	// Signers are the certificates that sign instance identities
	// (--identity-ca): pinned signers, not CA roots (see LoadSigners).
	// Empty: DefaultSigners, Alibaba Cloud's certificate.
	Signers []*x509.Certificate
	// Audience is the cluster's audience (the part before the ':').
	// Required: 1 to 128 of [A-Za-z0-9._/-], starting with a letter or digit.
	Audience string
	// Accounts is the allow-list of Alibaba Cloud account IDs. Required and
	// not empty.
	Accounts []string
	// Regions and Zones, when set, are allow-lists too.
	Regions, Zones []string
	// TokenTTL is a token's lifetime (default 15m); Window is how far an
	// audience's time may be from now (default 5m).
	TokenTTL, Window time.Duration
	// Rate and Burst limit all requests together; ClientRate and
	// ClientBurst those of one client IP. Zero: the defaults; a negative
	// rate: no limit.
	Rate        rate.Limit
	Burst       int
	ClientRate  rate.Limit
	ClientBurst int
	// Log gets one line per decision; nil: none.
	Log *zap.Logger
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
	// APITimeout bounds each API request; zero: 10s.
	APITimeout time.Duration
}

// Service is the exchange endpoint, an http.Handler.
type Service struct {
	cfg                     Config
	accounts, regions, zone map[string]bool
	namer                   *NodeNamer
	global                  *rate.Limiter

	mu      sync.Mutex
	clients map[string]*clientLimiter
}

type clientLimiter struct {
	lim  *rate.Limiter
	seen time.Time
}

// New checks cfg and returns the service.
func New(cfg Config) (*Service, error) {
	var problems []string
	if cfg.Client == nil || cfg.Leases == nil {
		problems = append(problems, "no API client")
	}
	if !AudienceRE.MatchString(cfg.Audience) {
		problems = append(problems, fmt.Sprintf("audience %q is not 1 to 128 letters, digits, '.', '_', '-' or '/' starting with a letter or digit", cfg.Audience))
	}
	set := func(list []string) map[string]bool {
		m := map[string]bool{}
		for _, v := range list {
			if v = strings.TrimSpace(v); v != "" {
				m[v] = true
			}
		}
		return m
	}
	s := &Service{cfg: cfg, accounts: set(cfg.Accounts), regions: set(cfg.Regions), zone: set(cfg.Zones), clients: map[string]*clientLimiter{}}
	if len(s.accounts) == 0 {
		problems = append(problems, "no account in the allow-list (--accounts)")
	}
	if cfg.TokenTTL < 0 || cfg.Window < 0 {
		problems = append(problems, "a negative token TTL or window")
	}
	if len(problems) > 0 {
		return nil, errors.New("token service: " + strings.Join(problems, "; "))
	}
	c := &s.cfg
	if len(c.Signers) == 0 {
		c.Signers = DefaultSigners()
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = DefaultTokenTTL
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.Burst <= 0 {
		c.Burst = DefaultBurst
	}
	if c.ClientRate == 0 {
		c.ClientRate = DefaultClientRate
	}
	if c.ClientBurst <= 0 {
		c.ClientBurst = DefaultClientBurst
	}
	if c.Rate < 0 {
		c.Rate = rate.Inf
	}
	if c.ClientRate < 0 {
		c.ClientRate = rate.Inf
	}
	s.global = rate.NewLimiter(c.Rate, c.Burst)
	s.defaults()
	return s, nil
}

// defaults fills what the exchange and the approver share: the log, the
// clock, the metrics, the API timeout and the node namer.
func (s *Service) defaults() {
	c := &s.cfg
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics()
	}
	if c.APITimeout <= 0 {
		c.APITimeout = DefaultAPITimeout
	}
	s.namer = c.Namer
	if s.namer == nil {
		s.namer, _ = NewNodeNamer("", nil)
	}
}

// refusal is a refused request: its status, reason and message.
type refusal struct {
	status     int
	reason     identity.Reason
	msg        string
	retryAfter int // seconds, for 429
	err        error
}

func refuse(status int, reason identity.Reason, format string, args ...any) *refusal {
	return &refusal{status: status, reason: reason, msg: fmt.Sprintf(format, args...)}
}

// decision is what is logged of one request.
type decision struct {
	client, audience, providerID, nodeName string
	doc                                    Document
	tokenID                                string
	expires                                time.Time
}

func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	d := decision{client: clientIP(r)}
	if r.URL.Path == HealthPath && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
		return
	}
	if r.URL.Path == MetricsPath && r.Method == http.MethodGet {
		s.cfg.Metrics.Handler().ServeHTTP(w, r)
		return
	}
	resp, ref := s.handle(r, &d)
	if ref != nil {
		s.log(d, ref, start)
		writeRefusal(w, ref)
		return
	}
	s.log(d, nil, start)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(resp)
}

func (s *Service) handle(r *http.Request, d *decision) (*identity.ExchangeResponse, *refusal) {
	if r.URL.Path != identity.ExchangePath {
		return nil, refuse(http.StatusNotFound, identity.ReasonBadRequest, "no such endpoint %q: the token service answers POST %s", r.URL.Path, identity.ExchangePath)
	}
	if r.Method != http.MethodPost {
		return nil, refuse(http.StatusMethodNotAllowed, identity.ReasonBadRequest, "%s %s: the token service answers POST only", r.Method, identity.ExchangePath)
	}
	now := s.cfg.Now()

	// 1. The request: its size, the rate limits, its form.
	if r.ContentLength > identity.MaxRequestBytes {
		return nil, refuse(http.StatusRequestEntityTooLarge, identity.ReasonTooLarge, "the request is %d bytes, over %d", r.ContentLength, identity.MaxRequestBytes)
	}
	if ref := s.limit(d.client, now); ref != nil {
		return nil, ref
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, identity.MaxRequestBytes+1))
	if err != nil {
		return nil, refuse(http.StatusBadRequest, identity.ReasonBadRequest, "the request body could not be read")
	}
	if len(body) > identity.MaxRequestBytes {
		return nil, refuse(http.StatusRequestEntityTooLarge, identity.ReasonTooLarge, "the request is over %d bytes", identity.MaxRequestBytes)
	}
	var req identity.ExchangeRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(&req); err != nil || dec.More() {
		return nil, refuse(http.StatusBadRequest, identity.ReasonBadRequest, "the request is not one JSON object of document, signature, audience, providerID and nodeName")
	}
	d.audience, d.providerID, d.nodeName = printable(req.Audience), printable(req.ProviderID), printable(req.NodeName)
	var missing []string
	for _, f := range []struct{ name, v string }{{"document", req.Document}, {"signature", req.Signature}, {"audience", req.Audience}, {"providerID", req.ProviderID}} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, refuse(http.StatusBadRequest, identity.ReasonBadRequest, "the request lacks %s", strings.Join(missing, ", "))
	}
	if req.NodeName != "" && len(validation.IsDNS1123Subdomain(req.NodeName)) > 0 {
		return nil, refuse(http.StatusBadRequest, identity.ReasonBadRequest, "nodeName %q is not a valid Node name", d.nodeName)
	}

	// 2. The audience: its syntax, this cluster's, and recent. Cheap, and
	// its syntax is what makes the signed content safe to rebuild.
	cluster, secs, err := SplitAudience(req.Audience)
	if err != nil {
		return nil, refuse(http.StatusForbidden, identity.ReasonAudience, "%s", short(err.Error()))
	}
	if cluster != s.cfg.Audience {
		return nil, refuse(http.StatusForbidden, identity.ReasonAudience, "the signature's audience %q is not this cluster's (<cluster audience>:<unix seconds>)", d.audience)
	}
	w := s.cfg.Window
	if secs > math.MaxInt64/2 || !within(time.Unix(secs, 0), now, w) {
		return nil, refuse(http.StatusForbidden, identity.ReasonStale, "the audience's time %s is more than %s from the service's %s",
			fmtUnix(secs), w, now.UTC().Format(time.RFC3339))
	}

	// 3. The signature, over the document with the audience appended
	// (VerifyIdentity's checks), and the document read strictly from that
	// signed content.
	doc, _, err := Verifier{Signers: s.cfg.Signers, Now: func() time.Time { return now }}.Verify(req.Document, req.Signature, req.Audience)
	if err != nil {
		var ve *VerifyError
		errors.As(err, &ve)
		ref := refuse(http.StatusForbidden, identity.ReasonSignature, "%s", short(err.Error()))
		switch {
		case ve != nil && ve.Check == CheckDocument:
			ref.status, ref.reason = http.StatusBadRequest, identity.ReasonBadRequest
		case ve != nil && ve.Check == CheckAudience:
			ref.reason = identity.ReasonAudience
		}
		ref.err = err
		return nil, ref
	}
	d.doc = doc

	// 4. The allow-lists.
	if !s.accounts[doc.AccountID] {
		return nil, refuse(http.StatusForbidden, identity.ReasonAccount, "account %s is not in the token service's --accounts", printable(doc.AccountID))
	}
	if len(s.regions) > 0 && !s.regions[doc.RegionID] {
		return nil, refuse(http.StatusForbidden, identity.ReasonRegion, "region %s is not in the token service's --regions", printable(doc.RegionID))
	}
	if len(s.zone) > 0 && !s.zone[doc.ZoneID] {
		return nil, refuse(http.StatusForbidden, identity.ReasonRegion, "zone %s is not in the token service's --zones", printable(doc.ZoneID))
	}

	// 5. The provider ID is the document's instance.
	region, instance, ok := strings.Cut(req.ProviderID, ".")
	if !ok || region != doc.RegionID || instance != doc.InstanceID {
		return nil, refuse(http.StatusForbidden, identity.ReasonInstance, "provider ID %q is not the signed instance's %q", d.providerID, printable(doc.ProviderID()))
	}

	// 6. The node name is derived from the signed document, never chosen
	// by the node: the token's CSR is approved for that name only.
	name, err := s.namer.Name(doc)
	if err != nil {
		return nil, refuse(http.StatusForbidden, identity.ReasonNodeName, "%s", short(err.Error()))
	}
	if req.NodeName != name {
		return nil, refuse(http.StatusForbidden, identity.ReasonNodeName, "the node would register as %q, but instance %s may only become %q (the node name template %q of its signed document)",
			d.nodeName, printable(doc.InstanceID), name, s.namer.Template())
	}
	d.nodeName = name

	// 7 and 8. One token per instance per TokenTTL; make it.
	return s.issue(r.Context(), d, doc, req, secs, now)
}

// issue records the grant and creates the instance's token Secret, or
// refuses a replay. The record (a Lease in RecordNamespace) is written
// first: its Create, or its Update at the resourceVersion read, is the
// arbiter between replicas, and it stays after the token is gone, so that
// one instance gets one token per TokenTTL whether or not its Node
// registered, and a signature is never accepted twice.
func (s *Service) issue(ctx context.Context, d *decision, doc Document, req identity.ExchangeRequest, aud int64, now time.Time) (*identity.ExchangeResponse, *refusal) {
	secret, err := randomSecret()
	if err != nil {
		return nil, &refusal{status: http.StatusInternalServerError, reason: identity.ReasonInternal, msg: "the token service could not make a token; see its log", err: err}
	}
	g := grant{doc: doc, providerID: req.ProviderID, nodeName: d.nodeName, id: TokenID(doc.AccountID, doc.InstanceID), secret: secret,
		expires: now.Add(s.cfg.TokenTTL).UTC().Truncate(time.Second)}
	d.tokenID = g.id
	internal := func(err error, what string) *refusal {
		return &refusal{status: http.StatusInternalServerError, reason: identity.ReasonInternal,
			msg: "the token service could not " + what + "; see its log", err: scrubErr(err, secret)}
	}
	rec, ref := s.claim(ctx, g, aud, now)
	if ref != nil {
		return nil, ref
	}
	secrets := s.cfg.Client.Secrets(Namespace)
	for attempt := 0; attempt < 2; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.APITimeout)
		_, err := secrets.Create(cctx, g.secretObject(), metav1.CreateOptions{})
		cancel()
		if err == nil {
			d.expires = g.expires
			return &identity.ExchangeResponse{Token: g.id + "." + g.secret, Expiration: g.expires}, nil
		}
		if !apierrors.IsAlreadyExists(err) || attempt > 0 {
			s.release(ctx, rec)
			return nil, internal(err, "create the token Secret")
		}
		// The instance's previous token, expired (the record said so) and
		// not yet cleaned up. The service cannot read Secrets: it deletes
		// by name, and the admission policy setup installs lets it delete
		// only its own bootstrap tokens.
		cctx, cancel = context.WithTimeout(ctx, s.cfg.APITimeout)
		err = secrets.Delete(cctx, SecretName(g.id), metav1.DeleteOptions{})
		cancel()
		if err != nil && !apierrors.IsNotFound(err) {
			s.release(ctx, rec)
			return nil, internal(err, "delete the instance's expired token Secret")
		}
	}
	s.release(ctx, rec)
	return nil, internal(errors.New("the token Secret kept changing"), "create the token Secret")
}

// recordKept is how long a record is kept: past the token's life and past
// the time any signature accepted with it could still be replayed.
func (s *Service) recordKept() time.Duration {
	return max(s.cfg.TokenTTL, 2*s.cfg.Window) + s.cfg.Window
}

// claim writes the instance's record for this grant, or refuses: a
// signature whose audience time is not after the last accepted one (a
// replay), or a token issued to the instance less than TokenTTL ago.
func (s *Service) claim(ctx context.Context, g grant, aud int64, now time.Time) (*coordinationv1.Lease, *refusal) {
	leases := s.cfg.Leases.Leases(RecordNamespace)
	want := g.recordObject(aud, now, s.recordKept())
	internal := func(err error, what string) *refusal {
		return &refusal{status: http.StatusInternalServerError, reason: identity.ReasonInternal,
			msg: "the token service could not " + what + "; see its log", err: err}
	}
	for attempt := 0; attempt < 3; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.APITimeout)
		made, err := leases.Create(cctx, want, metav1.CreateOptions{})
		cancel()
		if err == nil {
			return made, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, internal(err, "record the grant")
		}
		cctx, cancel = context.WithTimeout(ctx, s.cfg.APITimeout)
		old, err := leases.Get(cctx, want.Name, metav1.GetOptions{})
		cancel()
		if apierrors.IsNotFound(err) {
			continue // deleted since: try again
		}
		if err != nil {
			return nil, internal(err, "read the instance's record")
		}
		r := parseRecord(old)
		if r.instance != g.doc.InstanceID || r.account != g.doc.AccountID {
			return nil, internal(fmt.Errorf("the record %s/%s is of instance %s of account %s, not this one (a token ID collision)",
				RecordNamespace, old.Name, printable(r.instance), printable(r.account)), "record the grant")
		}
		if aud <= r.audienceTime {
			return nil, refuse(http.StatusConflict, identity.ReasonReplay, "a signature for instance %s with audience time %s was already accepted (at %s): a signature is used once; ask for a new one",
				printable(g.doc.InstanceID), fmtUnix(r.audienceTime), r.issued.UTC().Format(time.RFC3339))
		}
		if next := r.issued.Add(s.cfg.TokenTTL); now.Before(next) {
			return nil, refuse(http.StatusConflict, identity.ReasonReplay, "a token was issued to instance %s at %s: one token per instance per %s, whether or not its node registered (next after %s)",
				printable(g.doc.InstanceID), r.issued.UTC().Format(time.RFC3339), s.cfg.TokenTTL, next.UTC().Format(time.RFC3339))
		}
		upd := want.DeepCopy()
		upd.ResourceVersion, upd.UID = old.ResourceVersion, old.UID
		cctx, cancel = context.WithTimeout(ctx, s.cfg.APITimeout)
		made, err = leases.Update(cctx, upd, metav1.UpdateOptions{})
		cancel()
		if apierrors.IsConflict(err) {
			continue // another replica's grant, or a cleanup: look again
		}
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, internal(err, "record the grant")
		}
		return made, nil
	}
	return nil, internal(errors.New("the record kept changing"), "record the grant")
}

// release deletes a record whose token could not be made, so that the
// node's retry is not refused as a replay (best effort: a record left
// behind only makes the instance wait for TokenTTL).
func (s *Service) release(ctx context.Context, rec *coordinationv1.Lease) {
	if rec == nil {
		return
	}
	uid := rec.UID
	opts := metav1.DeleteOptions{}
	if uid != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.APITimeout)
	defer cancel()
	if err := s.cfg.Leases.Leases(RecordNamespace).Delete(cctx, rec.Name, opts); err != nil && !apierrors.IsNotFound(err) {
		s.cfg.Log.Warn("could not delete the record of a failed grant", zap.String("record", rec.Name), zap.Error(err))
	}
}

// limit applies the per-client and the global rate limits.
func (s *Service) limit(client string, now time.Time) *refusal {
	s.mu.Lock()
	cl := s.clients[client]
	if cl == nil {
		if len(s.clients) >= maxClients {
			for k, c := range s.clients {
				if now.Sub(c.seen) > time.Minute {
					delete(s.clients, k)
				}
			}
			if len(s.clients) >= maxClients {
				s.clients = map[string]*clientLimiter{}
			}
		}
		cl = &clientLimiter{lim: rate.NewLimiter(s.cfg.ClientRate, s.cfg.ClientBurst)}
		s.clients[client] = cl
	}
	cl.seen = now
	s.mu.Unlock()
	// Reservations, so that a request the global limit refuses gives the
	// client's back.
	refused := func(res *rate.Reservation, what string) *refusal {
		wait := time.Minute
		if res.OK() {
			wait = res.DelayFrom(now)
		}
		res.CancelAt(now)
		secs := max(1, int(math.Ceil(wait.Seconds())))
		ref := refuse(http.StatusTooManyRequests, identity.ReasonRateLimited, "too many requests %s; retry after %ds", what, secs)
		ref.retryAfter = secs
		return ref
	}
	own := cl.lim.ReserveN(now, 1)
	if !own.OK() || own.DelayFrom(now) > 0 {
		return refused(own, "from "+client)
	}
	all := s.global.ReserveN(now, 1)
	if !all.OK() || all.DelayFrom(now) > 0 {
		own.CancelAt(now)
		return refused(all, "to the token service")
	}
	return nil
}

func writeRefusal(w http.ResponseWriter, ref *refusal) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if ref.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ref.retryAfter))
	}
	if ref.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	w.WriteHeader(ref.status)
	json.NewEncoder(w).Encode(identity.Refusal{Reason: ref.reason, Message: ref.msg})
}

// log writes one decision. The token's secret is not in d.
func (s *Service) log(d decision, ref *refusal, start time.Time) {
	fields := []zap.Field{
		zap.String("client", d.client),
		zap.String("instance", printable(d.doc.InstanceID)),
		zap.String("account", printable(d.doc.AccountID)),
		zap.String("region", printable(d.doc.RegionID)),
		zap.String("zone", printable(d.doc.ZoneID)),
		zap.String("providerID", d.providerID),
		zap.String("node", d.nodeName),
		zap.Duration("latency", time.Since(start)),
	}
	if d.tokenID != "" {
		fields = append(fields, zap.String("tokenID", d.tokenID))
	}
	reason := ""
	if ref != nil {
		reason = string(ref.reason)
	}
	s.cfg.Metrics.exchange(reason, time.Since(start))
	if ref == nil {
		fields = append(fields, zap.String("decision", "accepted"), zap.Time("expires", d.expires))
		s.cfg.Log.Info("token issued", fields...)
		return
	}
	fields = append(fields, zap.String("decision", "refused"), zap.String("reason", string(ref.reason)), zap.String("message", ref.msg))
	if ref.err != nil {
		fields = append(fields, zap.String("error", ref.err.Error()))
	}
	if ref.reason == identity.ReasonInternal {
		s.cfg.Log.Error("request failed", fields...)
		return
	}
	s.cfg.Log.Info("request refused", fields...)
}

// clientIP is the request's peer address (no forwarding header is
// trusted: anyone could set one).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func within(t, now time.Time, w time.Duration) bool {
	d := t.Sub(now)
	return d <= w && d >= -w
}

func fmtUnix(secs int64) string {
	if secs < -62135596800 || secs > 253402300799 {
		return strconv.FormatInt(secs, 10)
	}
	return time.Unix(secs, 0).UTC().Format(time.RFC3339)
}

// printable bounds what a request says before it is echoed or logged:
// at most 128 bytes, no control characters.
func printable(s string) string { return identity.Printable(s, '?', 128) }

// short bounds an error text for a refusal (the full one is logged).
func short(s string) string {
	return identity.Printable(strings.ReplaceAll(s, "\n", " "), '?', 240)
}

// scrubErr drops the secret from an error's text (an API error never
// quotes a Secret's data, but the text is logged).
func scrubErr(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "[REDACTED]"))
}
