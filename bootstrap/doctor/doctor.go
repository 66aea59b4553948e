// Package doctor is `hybridnode doctor`: one list of checks (Checks), each
// PASS, WARN, FAIL or SKIP with one line of evidence and, when not PASS,
// one line of remedy. Checks see the host only through Env: the file seam
// (under --root), the systemd and command seams, and network seams (dialer,
// resolver, HTTP client, clock) that tests point at loopback fakes.
package doctor

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/version"

	"github.com/hybridnode/hybridnode/bootstrap"
	"github.com/hybridnode/hybridnode/bootstrap/artifact"
	"github.com/hybridnode/hybridnode/bootstrap/command"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/systemd"
)

// Statuses, as bootstrap's preflight has them.
const (
	Pass = bootstrap.StatusPass
	Warn = bootstrap.StatusWarn
	Fail = bootstrap.StatusFail
	Skip = bootstrap.StatusSkip
)

// Result is one check's outcome.
type Result struct {
	Status   string `json:"status"`
	Evidence string `json:"evidence"`
	// Remedy is what to do, one line; empty when the check passes.
	Remedy string `json:"remedy,omitempty"`
	// Details are extra lines: a unit's last log lines, every config problem.
	Details []string `json:"details,omitempty"`
}

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
	Facts bootstrap.Facts
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

// httpClient never uses a proxy from the environment: kubelet runs under
// systemd without the shell's proxy variables, so doctor measures the
// direct path, as kubelet will use it.
func (e *Env) httpClient(tc *tls.Config) *http.Client {
	if e.HTTPClient != nil {
		return e.HTTPClient(tc)
	}
	return &http.Client{
		Timeout: e.timeout(),
		Transport: &http.Transport{
			Proxy:               nil,
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
	ok, _ := bootstrap.AlreadyJoined(e.FS)
	return ok
}

// kubernetesMinor is the kubelet minor this node runs or will run: the
// installed one when no artifact source says otherwise.
func (e *Env) kubernetesMinor() int {
	c := e.cfg()
	v := c.KubernetesVersion
	if c.ArtifactURL == "" {
		if rec, err := bootstrap.ReadInstalled(e.FS); err == nil && rec != nil && rec.Versions["kubernetes"] != "" {
			v = rec.Versions["kubernetes"]
		}
	}
	if sv, err := version.ParseSemantic(strings.TrimPrefix(v, "v")); err == nil {
		return int(sv.Minor())
	}
	return 0
}

// NamedResult is a Result with its check's name.
type NamedResult struct {
	Name string `json:"name"`
	Result
}

// Report is a whole doctor run.
type Report struct {
	Node      string         `json:"node,omitempty"`
	APIServer string         `json:"apiServer,omitempty"`
	Joined    bool           `json:"joined"`
	Checks    []NamedResult  `json:"checks"`
	Summary   map[string]int `json:"summary"`
	Result    string         `json:"result"` // healthy, warnings, failed
}

// Run runs the checks in order; a check that panics is a FAIL, not a crash.
func Run(ctx context.Context, e *Env, checks []Check) *Report {
	r := &Report{Node: e.nodeName(), Joined: e.joined(), Summary: map[string]int{Pass: 0, Warn: 0, Fail: 0, Skip: 0}}
	if ep, _ := e.endpoint(); ep != "" {
		r.APIServer = ep
	}
	for _, c := range checks {
		res := runOne(ctx, e, c)
		r.Checks = append(r.Checks, NamedResult{Name: c.Name, Result: res})
		r.Summary[res.Status]++
	}
	switch {
	case r.Summary[Fail] > 0:
		r.Result = "failed"
	case r.Summary[Warn] > 0:
		r.Result = "warnings"
	default:
		r.Result = "healthy"
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

// Failed lists the names of the failed checks.
func (r *Report) Failed() []string {
	var out []string
	for _, c := range r.Checks {
		if c.Status == Fail {
			out = append(out, c.Name)
		}
	}
	return out
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// WriteText writes one line per check, the remedy and details of those that
// did not pass below it, and a summary.
func (r *Report) WriteText(w io.Writer) {
	head := "hybridnode doctor"
	if r.Node != "" {
		head += ": node " + r.Node
	}
	if r.APIServer != "" {
		head += ", API server " + r.APIServer
	}
	if r.Joined {
		head += " (joined)"
	} else {
		head += " (not joined)"
	}
	fmt.Fprintln(w, head)
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	pad := strings.Repeat(" ", 6+width+2)
	for _, c := range r.Checks {
		fmt.Fprintf(w, "%-4s  %-*s  %s\n", strings.ToUpper(c.Status), width, c.Name, c.Evidence)
		if c.Status == Pass {
			continue
		}
		if c.Remedy != "" {
			fmt.Fprintf(w, "%sfix: %s\n", pad, c.Remedy)
		}
		for _, d := range c.Details {
			fmt.Fprintf(w, "%s| %s\n", pad, d)
		}
	}
	fmt.Fprintf(w, "%d pass, %d warn, %d fail, %d skip: %s\n", r.Summary[Pass], r.Summary[Warn], r.Summary[Fail], r.Summary[Skip], r.Result)
}
