// Package report holds what `hybridnode doctor` (on a node) and
// `hybridnode-cluster check` (on an admin machine) share: a check's Result,
// the Report with its text and JSON forms, kubeadm's CA pin and the
// pod-subnet overlap logic. It is a leaf: package doctor re-exports these
// names, and the admin binary imports this package without the node code
// (containerd's client, D-Bus) that package doctor pulls in.
package report

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"sigs.k8s.io/yaml"
)

// Statuses; preflight's host checks (bootstrap/hostcheck) use them too.
const (
	Pass = "pass"
	Warn = "warn"
	Fail = "fail"
	Skip = "skip"
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

// NamedResult is a Result with its check's name.
type NamedResult struct {
	Name string `json:"name"`
	Result
}

// Report is a whole run of checks.
type Report struct {
	// Title, when set, is WriteText's first line instead of doctor's
	// "hybridnode doctor: node ..., API server ... (joined)".
	Title     string         `json:"-"`
	Node      string         `json:"node,omitempty"`
	APIServer string         `json:"apiServer,omitempty"`
	Joined    bool           `json:"joined"`
	Checks    []NamedResult  `json:"checks"`
	Summary   map[string]int `json:"summary"`
	Result    string         `json:"result"` // healthy, warnings, failed
}

// Add appends one check's result (a PASS loses its remedy) and updates the
// summary and the overall result.
func (r *Report) Add(name string, res Result) {
	if r.Summary == nil {
		r.Summary = map[string]int{Pass: 0, Warn: 0, Fail: 0, Skip: 0}
	}
	if res.Status == Pass {
		res.Remedy = ""
	}
	r.Checks = append(r.Checks, NamedResult{Name: name, Result: res})
	r.Summary[res.Status]++
	switch {
	case r.Summary[Fail] > 0:
		r.Result = "failed"
	case r.Summary[Warn] > 0:
		r.Result = "warnings"
	default:
		r.Result = "healthy"
	}
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

// WriteText writes the title, one line per check, the remedy and details of
// those that did not pass below it, and a summary.
func (r *Report) WriteText(w io.Writer) {
	head := r.Title
	if head == "" {
		head = "hybridnode doctor"
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

// Pin is kubeadm's CA pin: sha256 over the certificate's SubjectPublicKeyInfo.
func Pin(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// SubnetsResult compares the pod and service subnets of kubeadm's
// ClusterConfiguration (the data of kube-system/kubeadm-config) with the
// VPC CIDR: FAIL when one overlaps it, SKIP when the configuration does not
// parse or sets neither.
func SubnetsResult(clusterConfigurationYAML string, vpc netip.Prefix) Result {
	var cc struct {
		Networking struct {
			PodSubnet     string `json:"podSubnet"`
			ServiceSubnet string `json:"serviceSubnet"`
		} `json:"networking"`
	}
	if err := yaml.Unmarshal([]byte(clusterConfigurationYAML), &cc); err != nil {
		return Result{Status: Skip, Evidence: "kubeadm-config's ClusterConfiguration: " + err.Error()}
	}
	var clash, fine []string
	for _, s := range []struct{ what, cidrs string }{{"pod subnet", cc.Networking.PodSubnet}, {"service subnet", cc.Networking.ServiceSubnet}} {
		for _, c := range strings.Split(s.cidrs, ",") {
			if c = strings.TrimSpace(c); c == "" {
				continue
			}
			p, err := netip.ParsePrefix(c)
			switch {
			case err != nil:
				continue
			case p.Overlaps(vpc):
				clash = append(clash, s.what+" "+c)
			default:
				fine = append(fine, s.what+" "+c)
			}
		}
	}
	switch {
	case len(clash) > 0:
		verb := "overlaps"
		if len(clash) > 1 {
			verb = "overlap"
		}
		return Result{Status: Fail, Evidence: fmt.Sprintf("the cluster's %s %s the VPC %s", strings.Join(clash, " and "), verb, vpc),
			Remedy: "routes between the data center and the VPC cannot tell pods from VPC addresses: the cluster's ranges and the VPC CIDR must not overlap"}
	case len(fine) == 0:
		return Result{Status: Skip, Evidence: "kubeadm-config sets no podSubnet or serviceSubnet"}
	}
	return Result{Status: Pass, Evidence: fmt.Sprintf("the cluster's %s do not overlap the VPC %s", strings.Join(fine, " and "), vpc)}
}
