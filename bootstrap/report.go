package bootstrap

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"
)

const reportPath = "/var/lib/hybridnode/report.json"

// Report is what a run did, written to /var/lib/hybridnode/report.json. It
// never holds a secret.
type Report struct {
	mu         sync.Mutex
	Hybridnode string               `json:"hybridnodeVersion"`
	Command    string               `json:"command"`
	Started    time.Time            `json:"started"`
	Finished   time.Time            `json:"finished"`
	Result     string               `json:"result"` // succeeded, failed
	ExitCode   int                  `json:"exitCode"`
	Error      string               `json:"error,omitempty"`
	NodeName   string               `json:"nodeName,omitempty"`
	ProviderID string               `json:"providerID,omitempty"`
	Versions   map[string]string    `json:"versions,omitempty"`
	Phases     []PhaseReport        `json:"phases"`
	Milestones map[string]time.Time `json:"milestones,omitempty"`
	Findings   []Finding            `json:"preflight,omitempty"`
	Images     []ImagePull          `json:"images,omitempty"`
	secrets    []string
}

// PhaseReport is one phase's outcome.
type PhaseReport struct {
	Name    string    `json:"name"`
	Status  string    `json:"status"` // ok, failed, not run, already joined
	Started time.Time `json:"started,omitempty"`
	Seconds float64   `json:"seconds"`
	Error   string    `json:"error,omitempty"`
}

// NewReport starts a report; secrets are scrubbed from every error text.
func NewReport(version, command string, started time.Time, secrets ...string) *Report {
	r := &Report{Hybridnode: version, Command: command, Started: started}
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
	p := PhaseReport{Name: name, Status: status, Started: start, Seconds: d.Round(time.Millisecond).Seconds()}
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
func (r *Report) image(p ImagePull) {
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
	data, err := json.MarshalIndent(r, "", "  ")
	r.mu.Unlock()
	if err != nil {
		return err
	}
	_, err = n.FS.WriteFile(reportPath, append(data, '\n'), 0o644)
	return err
}
