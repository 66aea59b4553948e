// Package doctor is `hybridnode doctor`: one list of checks (Checks), each
// PASS, WARN, FAIL or SKIP with one line of evidence and, when not PASS,
// one line of remedy. Checks see the host only through Env: the file seam
// (under --root), the systemd and command seams, and network seams (dialer,
// resolver, HTTP client, clock) that tests point at loopback fakes.
package doctor

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/artifact"
	"github.com/hybridnode/hybridnode/bootstrap/command"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/doctor/report"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/bootstrap/proxy"
	"github.com/hybridnode/hybridnode/bootstrap/systemd"
	"github.com/hybridnode/hybridnode/kubelet"
)

// Statuses, as bootstrap's preflight has them (report's are the same
// strings: TestStatusesAgree).
const (
	Pass = report.Pass
	Warn = report.Warn
	Fail = report.Fail
	Skip = report.Skip
)

// Result is one check's outcome (shared with hybridnode-cluster check).
type Result = report.Result

// Check is one named check.
type Check struct {
	Name string
	Run  func(ctx context.Context, e *Env) Result
}

// Resolver resolves host names (net.Resolver in production).
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Env is what the checks see. Zero seams get the real implementations.
type Env struct {
	FS    hostfs.FS
	Facts hoststate.Facts
	// Live: a running host is behind the root.
	Live bool
	// Config is the loaded configuration, valid or not.
	Config *config.Loaded
	// Spec is the validated configuration; nil when ConfigErr is set.
	Spec      *config.Spec
	ConfigErr error
	// Systemd is nil when there is no systemd to ask.
	Systemd systemd.Manager
	Cmd     command.Runner
	Geteuid func() int
	Now     func() time.Time
	// Resolver, DialContext and HTTPClient reach the network.
	Resolver    Resolver
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// HTTPClient returns a client with that TLS configuration.
	HTTPClient func(tc *tls.Config) *http.Client
	// OpenSource opens the artifact source.
	OpenSource func(base string) (artifact.Fetcher, error)
	// Timeout bounds each network step (default 5s).
	Timeout time.Duration

	// Memos, filled by the first check that needs them.
	probe       *probe
	clusterInfo *clusterInfo
	nodeFetch   *nodeFetch

	kubeProxyMode *kubeProxyMode // kubeproxy.go
}

func (e *Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Env) timeout() time.Duration {
	if e.Timeout > 0 {
		return e.Timeout
	}
	return 5 * time.Second
}

func (e *Env) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if e.DialContext != nil {
		return e.DialContext(ctx, network, addr)
	}
	return (&net.Dialer{Timeout: e.timeout()}).DialContext(ctx, network, addr)
}

// httpClient never uses a proxy from the environment: it takes the way
// hybridnode's downloads, containerd and kubelet take, hybridnode's proxy
// settings (the API server is always in their NO_PROXY: reached direct).
func (e *Env) httpClient(tc *tls.Config) *http.Client {
	if e.HTTPClient != nil {
		return e.HTTPClient(tc)
	}
	return &http.Client{
		Timeout: e.timeout(),
		Transport: &http.Transport{
			Proxy:               proxy.Func(e.proxySettings()),
			DialContext:         e.dial,
			TLSClientConfig:     tc,
			TLSHandshakeTimeout: e.timeout(),
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (e *Env) resolver() Resolver {
	if e.Resolver != nil {
		return e.Resolver
	}
	return net.DefaultResolver
}

func (e *Env) cfg() config.Config {
	if e.Spec != nil {
		return e.Spec.Config
	}
	if e.Config != nil {
		return e.Config.Config
	}
	return config.Defaults()
}

// joined: kubelet.conf is usable.
func (e *Env) joined() bool {
	ok, _ := hoststate.Joined(e.FS)
	return ok
}

// kubernetesMinor is the kubelet minor this node runs or will run, as
// Resolve gave it (the installed one when no artifact source says
// otherwise); with an invalid configuration, that of its version as far as
// it resolved.
func (e *Env) kubernetesMinor() int {
	if e.Spec != nil {
		return e.Spec.KubernetesMinor
	}
	if v, err := kubelet.ParseVersion(e.cfg().KubernetesVersion); err == nil {
		return v.Minor
	}
	return 0
}

// NamedResult is a Result with its check's name.
type NamedResult = report.NamedResult

// Report is a whole doctor run; its Title is left empty, so that WriteText
// writes doctor's own header.
type Report = report.Report

// Run runs the checks in order; a check that panics is a FAIL, not a crash.
func Run(ctx context.Context, e *Env, checks []Check) *Report {
	r := &Report{Node: e.nodeName(), Joined: e.joined(), Summary: map[string]int{Pass: 0, Warn: 0, Fail: 0, Skip: 0}, Result: "healthy"}
	if ep, _ := e.endpoint(); ep != "" {
		r.APIServer = ep
	}
	for _, c := range checks {
		r.Add(c.Name, runOne(ctx, e, c))
	}
	return r
}

func runOne(ctx context.Context, e *Env, c Check) (res Result) {
	defer func() {
		if p := recover(); p != nil {
			res = Result{Status: Fail, Evidence: fmt.Sprintf("the check crashed: %v", p), Remedy: "report this as a hybridnode bug"}
		}
	}()
	res = c.Run(ctx, e)
	if res.Status == Pass {
		res.Remedy = ""
	}
	return res
}
