package config

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/hybridnode/hybridnode/kubelet"
)

// ResolveOptions are the inputs of Resolve; zero values use the real
// process and ask neither the instance metadata nor an install record.
type ResolveOptions struct {
	// File is an explicit --config path (must exist). Empty: DefaultFile
	// when present.
	File string
	// DefaultFile replaces DefaultFile (tests, --root). The drop-in
	// directory (DropInDir) is the one beside it.
	DefaultFile string
	// Open opens a config file and tokenFile. When set it is used instead
	// of ReadFile: the file's size is checked before it is read and its
	// mode is known (a group- or world-readable file holding the token is
	// a warning). With neither Open nor ReadFile the real file system is
	// used that way.
	Open     func(string) (fs.File, error)
	ReadFile func(string) ([]byte, error)
	ReadDir  func(string) ([]fs.DirEntry, error)
	// LookupEnv reads the environment; default os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Flags holds the flags the user set: config key -> raw value.
	Flags map[string]string

	// Hostname is nodeName's default (lower-cased).
	Hostname string
	// Metadata is the ECS instance metadata, asked for what no file,
	// variable or flag set (MetadataKeys) only when the configuration
	// loaded, and then only when metadataEndpoint was set or the DMI data
	// says this is an ECS instance. Nil: never asked.
	Metadata Metadata
	// Installed reads the versions recorded at bake time, component ->
	// version ("kubernetes", "containerd", "runc", "crictl"); nil and no
	// error when nothing is recorded. It is called only when no
	// artifactURL is set: the recorded versions then replace the default
	// or derived ones, and a version the user set that differs is a
	// problem (there is nothing to install it from). InstalledFrom names
	// the record (its path) in the sources.
	Installed     func() (map[string]string, error)
	InstalledFrom string

	// Join requires the join fields (endpoint, token, CA pin).
	Join bool
	// Root is the directory the host's paths are under (--root): tokenFile
	// is read as Root/<tokenFile>, its symlinks followed within Root.
	// Empty or "/": the host itself.
	Root string
}

// Metadata is the ECS instance metadata service as Resolve asks it.
type Metadata interface {
	// OnECS reports whether the host's DMI data says it is an Alibaba
	// Cloud ECS instance; why says what was found.
	OnECS() (ok bool, why string)
	// Fill reads the config keys in keys (of MetadataKeys) from the
	// service at endpoint ("" for the default one) and returns config key
	// -> value: what could be read, even when err says what could not.
	Fill(ctx context.Context, endpoint string, keys []string) (map[string]string, error)
}

// MetadataBudget bounds the whole instance metadata lookup.
const MetadataBudget = 10 * time.Second

// MetadataLookup is what Resolve did with the instance metadata, for the
// caller's log.
type MetadataLookup struct {
	// Asked: the service was asked, at Endpoint ("" the default one).
	Asked    bool
	Endpoint string
	// Why is the DMI finding when the default endpoint was considered.
	Why string
	// Applied are the keys set from the answer; Err is what failed.
	Applied []string
	Err     error
}

// installedKeys map the config keys an install record replaces to its
// components.
var installedKeys = []struct{ key, component string }{
	{"kubernetesVersion", "kubernetes"},
	{"containerdVersion", "containerd"},
	{"runcVersion", "runc"},
	{"crictlVersion", "crictl"},
}

// Resolve is the configuration, in one step: the defaults, the config
// file and its drop-ins, the environment and the flags (lowest first);
// then, for what none of them set, the instance metadata and the install
// record; then the defaults derived from other fields (nodeName from the
// hostname, crictlVersion and sandboxImage from the Kubernetes version);
// then validation. Every problem is returned at once as *Error, with the
// Loaded as far as it could be read (never nil), so that doctor and
// `config dump` can show it; the Spec is nil unless there is no problem.
// An install record that cannot be read is an error of its own, returned
// when the configuration has no problem. No problem quotes the token.
// The Spec is read-only: nothing changes it after Resolve.
func Resolve(o ResolveOptions) (*Loaded, *Spec, error) {
	l, err := loadSources(o)
	if err == nil {
		l.askMetadata(o.Metadata)
	}
	recErr := l.adoptInstalled(o.Installed, o.InstalledFrom)
	l.derive(o.Hostname)
	s, err := validate(l, o)
	if err == nil && recErr != nil {
		return l, nil, recErr
	}
	return l, s, err
}

// derive fills the defaults that depend on other fields: crictlVersion
// from the Kubernetes minor, sandboxImage from what that kubeadm expects,
// and nodeName from the hostname. Derived fields are marked as such.
func (l *Loaded) derive(hostname string) {
	c := &l.Config
	if v, err := kubelet.ParseVersion(c.KubernetesVersion); err == nil {
		if c.CrictlVersion == "" {
			c.CrictlVersion = fmt.Sprintf("v1.%d.0", v.Minor)
			l.Sources["crictlVersion"] = Source{Kind: "derived", Name: "from kubernetesVersion"}
		}
		if c.SandboxImage == "" && kubelet.SupportedMinor(v.Minor) {
			c.SandboxImage = kubelet.DefaultSandboxImage(v.Minor)
			l.Sources["sandboxImage"] = Source{Kind: "derived", Name: "from kubernetesVersion"}
		}
	}
	if c.NodeName == "" && hostname != "" {
		c.NodeName = strings.ToLower(hostname)
		l.Sources["nodeName"] = Source{Kind: "derived", Name: "from the hostname"}
	}
}

// Parsed reports whether every source was read and parsed: the problems
// of a Resolve, if any, are then those of validation only.
func (l *Loaded) Parsed() bool { return len(l.problems) == 0 }

// askMetadata fills MetadataKeys still unset from the instance metadata:
// asked only when metadataEndpoint was set, or when the DMI data says this
// is an ECS instance (never from a development or CI machine), within
// MetadataBudget. A failure only leaves the fields as they were.
func (l *Loaded) askMetadata(m Metadata) {
	want := l.wantFromMetadata()
	if m == nil || len(want) == 0 {
		return
	}
	endpoint := l.Config.MetadataEndpoint
	if l.Unset("metadataEndpoint") || endpoint == "" {
		ok, why := m.OnECS()
		l.Metadata.Why = why
		if !ok {
			return
		}
		endpoint = ""
	} else if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return // validation reports it
	}
	ctx, cancel := context.WithTimeout(context.Background(), MetadataBudget)
	defer cancel()
	values, err := m.Fill(ctx, endpoint, want)
	l.Metadata.Asked, l.Metadata.Endpoint, l.Metadata.Err = true, endpoint, err
	l.Metadata.Applied = l.applyMetadata(values)
}

// adoptInstalled reads the install record when no artifactURL is set and
// takes its versions for the fields no file, variable or flag set,
// marking them "installed". It keeps the record for validation, which
// reports a user-set version that differs.
func (l *Loaded) adoptInstalled(read func() (map[string]string, error), from string) error {
	if read == nil || l.Config.ArtifactURL != "" {
		return nil
	}
	rec, err := read()
	if err != nil {
		return err
	}
	l.installed = rec
	for _, k := range installedKeys {
		v := rec[k.component]
		if v == "" || !l.Unset(k.key) {
			continue
		}
		if err := l.Config.SetString(k.key, v); err == nil {
			l.Sources[k.key] = Source{Kind: "installed", Name: from}
		}
	}
	return nil
}

// installedConflicts reports each version the user set that differs from
// the installed one (s holds the versions as validated; bad are the keys
// already refused).
func (l *Loaded) installedConflicts(s *Spec, bad map[string]bool, add func(field, got, want string)) {
	for _, k := range installedKeys {
		v := l.installed[k.component]
		if v == "" || bad[k.key] || l.Unset(k.key) {
			continue
		}
		if cur := s.Config.FormatString(k.key); cur != v {
			add(l.Where(k.key), cur, fmt.Sprintf("the installed %s (%s), or an artifactURL to install %s from", k.component, v, cur))
		}
	}
}
