package bootstrap

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

// Report records what a run did, for hoststate.ReportPath: the record,
// and the secrets scrubbed from every error text in it.
type Report struct {
	mu sync.Mutex
	hoststate.Report
	secrets []string
}

// NewReport starts a report; secrets are scrubbed from every error text.
func NewReport(version, command string, started time.Time, secrets ...string) *Report {
	r := &Report{Report: hoststate.Report{Hybridnode: version, Command: command, Started: started}}
	for _, s := range secrets {
		if s != "" {
			r.secrets = append(r.secrets, s)
		}
	}
	return r
}

// addSecret scrubs one more secret (the token from the token service).
func (r *Report) addSecret(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s != "" {
		r.secrets = append(r.secrets, s)
	}
}

func (r *Report) scrub(s string) string {
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, redactedToken)
	}
	return s
}

// scrubbed is scrub, for a caller not holding the lock.
func (r *Report) scrubbed(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.scrub(s)
}

func (r *Report) phase(name, status string, start time.Time, d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := hoststate.PhaseReport{Name: name, Status: status, Started: start, Seconds: d.Round(time.Millisecond).Seconds()}
	if err != nil {
		p.Error = r.scrub(err.Error())
	}
	r.Phases = append(r.Phases, p)
}

func (r *Report) milestone(name string, t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Milestones == nil {
		r.Milestones = map[string]time.Time{}
	}
	r.Milestones[name] = t
}

// image records one image of the images phase.
func (r *Report) image(p hoststate.ImagePull) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p.Error = r.scrub(p.Error)
	r.Images = append(r.Images, p)
}

func (r *Report) finish(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ExitCode = ExitCode(err)
	r.Result, r.Error = "succeeded", ""
	if err != nil {
		r.Result, r.Error = "failed", r.scrub(err.Error())
	}
}

func runReport(_ context.Context, n *Node) error {
	if n.DryRun {
		return nil
	}
	r := n.Report
	r.mu.Lock()
	r.Finished = n.now()
	r.NodeName, r.ProviderID = n.Spec.NodeName, n.providerID()
	if n.installed != nil {
		r.Versions = n.installed.Versions
	}
	r.Findings = n.findings
	rec := r.Report
	r.mu.Unlock()
	return hoststate.WriteReport(n.FS, &rec)
}
