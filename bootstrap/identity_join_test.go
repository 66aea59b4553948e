package bootstrap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/command"
	"github.com/hybridnode/hybridnode/bootstrap/doctor/apitest"
	"github.com/hybridnode/hybridnode/bootstrap/doctor/report"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/bootstrap/identity"
	"github.com/hybridnode/hybridnode/bootstrap/proxy"
)

const identityDoc = `{"owner-account-id":"1234567890","instance-id":"i-bp1abc","region-id":"cn-hangzhou","zone-id":"cn-hangzhou-h","private-ipv4":"10.10.24.7"}`

// identityFakes are a loopback metadata service (hardening mode) and a
// loopback TLS token service issuing tokens[i] for the i-th exchange.
type identityFakes struct {
	metadata  *httptest.Server
	service   *httptest.Server
	signed    atomic.Int64 // signatures the metadata service gave
	exchanges atomic.Int64
	mu        sync.Mutex
	requests  []identity.ExchangeRequest
	tokens    []string
	ttl       time.Duration
	refuse    identity.Reason // when set, every exchange is refused with it
}

func newIdentityFakes(t *testing.T, tokens ...string) *identityFakes {
	t.Helper()
	f := &identityFakes{tokens: tokens, ttl: 10 * time.Minute}
	f.metadata = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" {
			w.Write([]byte("imds-token"))
			return
		}
		if r.Header.Get("X-aliyun-ecs-metadata-token") != "imds-token" {
			http.Error(w, "token required", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/latest/dynamic/instance-identity/document":
			w.Write([]byte(identityDoc))
		case "/latest/dynamic/instance-identity/pkcs7":
			f.signed.Add(1)
			w.Write([]byte("SIG(" + r.URL.Query().Get("audience") + ")"))
		default:
			http.NotFound(w, r)
		}
	}))
	f.service = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := f.exchanges.Add(1)
		var req identity.ExchangeRequest
		if r.Method != http.MethodPost || r.URL.Path != identity.ExchangePath || json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, `{"reason":"bad-request"}`, http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.requests = append(f.requests, req)
		f.mu.Unlock()
		if f.refuse != "" {
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(identity.Refusal{Reason: f.refuse, Message: "not in the allow-list"})
			return
		}
		json.NewEncoder(w).Encode(identity.ExchangeResponse{Token: f.tokens[n-1], Expiration: time.Now().Add(f.ttl)})
	}))
	t.Cleanup(f.metadata.Close)
	t.Cleanup(f.service.Close)
	return f
}

func (f *identityFakes) env() map[string]string {
	return map[string]string{
		"HYBRIDNODE_TOKEN":                  "",
		"HYBRIDNODE_CREDENTIAL_SOURCE":      "instance-identity",
		"HYBRIDNODE_TOKEN_SERVICE_URL":      f.service.URL,
		"HYBRIDNODE_TOKEN_SERVICE_PIN":      report.Pin(f.service.Certificate()),
		"HYBRIDNODE_TOKEN_SERVICE_AUDIENCE": "prod-cluster",
		"HYBRIDNODE_METADATA_ENDPOINT":      f.metadata.URL,
	}
}

// joinSeen is what each kubeadm join found in its --config.
type joinSeen struct {
	mode  os.FileMode
	token string
}

// failFirstJoin makes the first kubeadm join fail and records every join's
// view of its config file.
func failFirstJoin(t *testing.T, h *fakeHost) *[]joinSeen {
	var seen []joinSeen
	h.cmd.On("kubeadm", func(c command.Cmd) (command.Result, error) {
		if c.Args[0] == "join" {
			p := filepath.Join(h.root, c.Args[2])
			fi, err := os.Stat(p)
			if err != nil {
				return command.Result{ExitCode: 1}, err
			}
			data, _ := os.ReadFile(p)
			tok := ""
			for _, line := range strings.Split(string(data), "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "token: "); ok {
					tok = v
				}
			}
			seen = append(seen, joinSeen{fi.Mode().Perm(), tok})
			if len(seen) == 1 {
				return command.Result{ExitCode: 1, Stderr: []byte("couldn't validate the identity of the API Server")}, nil
			}
		}
		return h.kubeadm(t, c)
	})
	return &seen
}

// TestJoinWithInstanceIdentity: the token from the service reaches kubeadm
// only through the 0600 config file, is reused by the retried attempt (one
// exchange), and is in no command line, log entry or report; the request
// carries ACK's provider ID, the node name and the audience signed.
func TestJoinWithInstanceIdentity(t *testing.T) {
	const issued = "issued.abcdef0123456789"
	srv := newArtifactServer(t, "r1")
	f := newIdentityFakes(t, issued, "second.abcdef0123456789")
	h := newFakeHost(t)
	seen := failFirstJoin(t, h)
	n := h.nodeEnv(t, srv.URL, f.env(), nil)
	n.RetryBackoff = time.Millisecond
	before := time.Now().Unix()
	if _, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatalf("join: exit %d: %v", ExitCode(err), err)
	}
	if f.exchanges.Load() != 1 || f.signed.Load() != 1 {
		t.Errorf("%d exchanges, %d signatures; want one of each for both attempts", f.exchanges.Load(), f.signed.Load())
	}
	if len(*seen) != 2 {
		t.Fatalf("kubeadm join ran %d times", len(*seen))
	}
	for i, s := range *seen {
		if s.mode != 0o600 || s.token != issued {
			t.Errorf("join %d saw mode %v and token %q; want 0600 and the issued token", i+1, s.mode, s.token)
		}
	}
	req := f.requests[0]
	aud, at, _ := strings.Cut(req.Audience, ":")
	var ts int64
	fmt.Sscan(at, &ts)
	if req.ProviderID != "cn-hangzhou.i-bp1abc" || req.NodeName != "cn-hangzhou.10.10.24.7" || req.Document != identityDoc ||
		aud != "prod-cluster" || ts < before || ts > time.Now().Unix() || req.Signature != "SIG("+req.Audience+")" {
		t.Errorf("exchange request %+v", req)
	}
	if _, err := os.Stat(filepath.Join(h.root, joinConfigPath)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left behind: %v", joinConfigPath, err)
	}
	h.noSecret(t, issued)
	var rep Report
	if err := json.Unmarshal([]byte(h.read(t, hoststate.ReportPath)), &rep); err != nil || rep.Result != "succeeded" {
		t.Errorf("report result %q: %v", rep.Result, err)
	}
}

// TestJoinWithInstanceIdentityExchangesAgainWhenExpiring: a token about
// to expire is not reused: the retried attempt gets a new one.
func TestJoinWithInstanceIdentityExchangesAgainWhenExpiring(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	f := newIdentityFakes(t, "first1.abcdef0123456789", "second.abcdef0123456789")
	f.ttl = 30 * time.Second // under tokenMargin
	h := newFakeHost(t)
	seen := failFirstJoin(t, h)
	n := h.nodeEnv(t, srv.URL, f.env(), nil)
	n.RetryBackoff = time.Millisecond
	if _, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatalf("join: %v", err)
	}
	if f.exchanges.Load() != 2 || len(*seen) != 2 || (*seen)[0].token != "first1.abcdef0123456789" || (*seen)[1].token != "second.abcdef0123456789" {
		t.Errorf("%d exchanges; joins saw %+v", f.exchanges.Load(), *seen)
	}
	for _, s := range *seen {
		if s.mode != 0o600 {
			t.Errorf("join config mode %v", s.mode)
		}
	}
	h.noSecret(t, "first1.abcdef0123456789")
	h.noSecret(t, "second.abcdef0123456789")
}

// TestJoinWithInstanceIdentityFailures: each class of failure ends the
// join before kubeadm runs, with its exit code, in the report too.
func TestJoinWithInstanceIdentityFailures(t *testing.T) {
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return "http://" + l.Addr().String()
	}
	cases := []struct {
		name   string
		setup  func(f *identityFakes, env map[string]string)
		exit   int
		remedy string
	}{
		{"account not allowed", func(f *identityFakes, _ map[string]string) { f.refuse = identity.ReasonAccount }, ExitNotAllowed, "add account 1234567890 to the token service's --accounts"},
		{"replay", func(f *identityFakes, _ map[string]string) { f.refuse = identity.ReasonReplay }, ExitIdentityRefused, "wait for the window to pass"},
		{"metadata unreachable", func(_ *identityFakes, env map[string]string) { env["HYBRIDNODE_METADATA_ENDPOINT"] = closed() }, ExitMetadata, "metadata access settings"},
		{"pin mismatch", func(_ *identityFakes, env map[string]string) {
			env["HYBRIDNODE_TOKEN_SERVICE_PIN"] = "sha256:" + strings.Repeat("0", 64)
		}, ExitTokenService, "re-run hybridnode-cluster setup"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newArtifactServer(t, "r1")
			f := newIdentityFakes(t, "never1.abcdef0123456789")
			env := f.env()
			c.setup(f, env)
			h := newFakeHost(t)
			_, err := Execute(context.Background(), h.nodeEnv(t, srv.URL, env, nil), Phases(), ExecuteOptions{Join: true})
			if ExitCode(err) != c.exit || !strings.Contains(err.Error(), c.remedy) {
				t.Fatalf("exit %d, want %d with %q: %v", ExitCode(err), c.exit, c.remedy, err)
			}
			if got := kubeadmCalls(h); got != "" {
				t.Errorf("kubeadm ran: %s", got)
			}
			var rep Report
			json.Unmarshal([]byte(h.read(t, hoststate.ReportPath)), &rep)
			if rep.ExitCode != c.exit || !strings.Contains(rep.Error, c.remedy) {
				t.Errorf("report: exit %d, error %q", rep.ExitCode, rep.Error)
			}
		})
	}
}

// TestPlanWithInstanceIdentity: a plan asks neither the metadata service
// nor the token service, and says where the token will come from.
func TestPlanWithInstanceIdentity(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	f := newIdentityFakes(t)
	h := newFakeHost(t)
	n := h.nodeEnv(t, srv.URL, f.env(), nil)
	h.sd.SetLive(true)
	if _, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true, DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if f.signed.Load() != 0 || f.exchanges.Load() != 0 {
		t.Errorf("the plan asked for %d signatures and %d exchanges", f.signed.Load(), f.exchanges.Load())
	}
	var out bytes.Buffer
	PrintPlan(&out, n)
	plan := out.String()
	for _, want := range []string{
		"Bootstrap token: from the token service " + f.service.URL,
		"audience prod-cluster:<unix seconds>",
		"write /etc/hybridnode/kubeadm-join.yaml (0600)",
		"token: '[REDACTED]'",
	} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
}

// TestIdentityJoinWithProxyLeavesTheSubnetsOut: with the token service the
// token comes after containerd has started with its drop-in, so the join
// does not read kube-system/kubeadm-config; the drop-ins have no cluster
// subnets, and the log says why, once.
func TestIdentityJoinWithProxyLeavesTheSubnetsOut(t *testing.T) {
	shortKubeProxyRead(t)
	const issued = "issued.abcdef0123456789"
	srv := newArtifactServer(t, "r1")
	f := newIdentityFakes(t, issued)
	api := kubeProxyAPI(t, "iptables")
	api.AddToken(issued)
	api.SetNetworking("10.244.0.0/16", "10.96.0.0/12")
	env := f.env()
	for k, v := range kubeProxyEnv(api, "HTTPS_PROXY", "http://10.0.0.5:3128") {
		env[k] = v
	}
	h := newFakeHost(t)
	if _, err := Execute(context.Background(), h.nodeEnv(t, srv.URL, env, nil), Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatalf("join: exit %d: %v", ExitCode(err), err)
	}
	for _, r := range api.Requests() {
		if strings.Contains(r, "kubeadm-config") {
			t.Errorf("kubeadm-config read: %s", r)
		}
	}
	if !slices.Contains(api.Requests(), "GET "+apitest.KubeProxyPath+" as bootstrap:issued") {
		t.Errorf("the kube-proxy mode was not read with the issued token: %v", api.Requests())
	}
	if got := h.read(t, proxy.EnvFilePath(hoststate.KubeletUnit)); strings.Contains(got, "10.96.0.0/12") {
		t.Errorf("the environment file has the subnets:\n%s", got)
	}
	if h.exists(hoststate.ClusterPath) {
		t.Errorf("%s written", hoststate.ClusterPath)
	}
	logged := 0
	for _, e := range h.logs.All() {
		if e.Message == "the cluster's subnets are not in NO_PROXY" && strings.Contains(fmt.Sprint(e.ContextMap()), "token service") {
			logged++
		}
	}
	if logged != 1 {
		t.Errorf("the why logged %d times, want once", logged)
	}
}
