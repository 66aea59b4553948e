package hoststate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
)

// Installed is the record of what hybridnode installed (InstalledPath), so
// that no later run has to spawn `kubelet --version` to learn it.
type Installed struct {
	Versions  map[string]string            `json:"versions"`
	Artifacts map[string]InstalledArtifact `json:"artifacts"`
}

// InstalledArtifact is one installed component.
type InstalledArtifact struct {
	Version string            `json:"version"`
	Source  string            `json:"source"` // path relative to the artifact base
	SHA256  string            `json:"sha256"` // of the artifact as downloaded
	Files   map[string]string `json:"files"`  // installed path -> sha256
}

// ReadInstalled reads installed.json; nil when there is none.
func ReadInstalled(f hostfs.FS) (*Installed, error) { return readJSON[Installed](f, InstalledPath) }

// InstalledVersions reads the record's versions (component -> version) as
// config.Resolve asks for them: nil and no error when there is no record.
func InstalledVersions(f hostfs.FS) func() (map[string]string, error) {
	return func() (map[string]string, error) {
		rec, err := ReadInstalled(f)
		if err != nil || rec == nil {
			return nil, err
		}
		return rec.Versions, nil
	}
}

// Encode is the record as installed.json holds it.
func (r *Installed) Encode() ([]byte, error) { return encode(r) }

// WriteInstalled writes installed.json (atomically; not at all when it is
// unchanged).
func WriteInstalled(f hostfs.FS, r *Installed) (bool, error) {
	data, err := r.Encode()
	if err != nil {
		return false, err
	}
	return f.WriteFile(InstalledPath, data, 0o644)
}

// Cluster is what a join learnt of the cluster that later runs and doctor
// need without asking it again (ClusterPath): its subnets, which the proxy
// drop-ins' NO_PROXY has. A join writes it only with a proxy set.
type Cluster struct {
	// Source is where the subnets came from.
	Source         string   `json:"source"`
	ServiceSubnets []string `json:"serviceSubnets"`
	PodSubnets     []string `json:"podSubnets"`
}

// ReadCluster reads cluster.json; nil when there is none.
func ReadCluster(f hostfs.FS) (*Cluster, error) { return readJSON[Cluster](f, ClusterPath) }

// Encode is the record as cluster.json holds it.
func (c *Cluster) Encode() ([]byte, error) { return encode(c) }

// Report is what a run did (ReportPath). It never holds a secret.
type Report struct {
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
}

// PhaseReport is one phase's outcome.
type PhaseReport struct {
	Name    string    `json:"name"`
	Status  string    `json:"status"` // ok, failed, not run, already joined
	Started time.Time `json:"started,omitempty"`
	Seconds float64   `json:"seconds"`
	Error   string    `json:"error,omitempty"`
}

// Finding is the result of one preflight check.
type Finding struct {
	Check  string `json:"check"`
	Status string `json:"status"` // pass, warn, fail, skip
	Detail string `json:"detail"`
}

// ImagePull is one image of the images phase.
type ImagePull struct {
	Image   string  `json:"image"`
	Status  string  `json:"status"` // pulled, present, failed, cancelled
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
}

// ReadReport reads the last run's report.json; nil when there is none.
func ReadReport(f hostfs.FS) (*Report, error) { return readJSON[Report](f, ReportPath) }

// WriteReport writes report.json.
func WriteReport(f hostfs.FS, r *Report) error {
	data, err := encode(r)
	if err != nil {
		return err
	}
	_, err = f.WriteFile(ReportPath, data, 0o644)
	return err
}

// encode is a record as its file holds it: indented JSON, a final newline.
func encode(v any) ([]byte, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// readJSON reads one of hybridnode's records; nil when there is none.
func readJSON[T any](f hostfs.FS, path string) (*T, error) {
	data, err := f.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return &v, nil
}
