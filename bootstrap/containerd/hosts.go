package containerd

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/hybridnode/hybridnode/assets"
)

// Mirror lists the endpoints to pull a registry's images from, tried in
// order before the registry itself.
type Mirror struct {
	// Registry is the registry host as it appears in image references
	// (docker.io, registry.k8s.io, host:port), or "_default" for all
	// registries without their own hosts.toml.
	Registry string
	// Endpoints are http:// or https:// URLs.
	Endpoints []string
}

// DefaultHostNamespace is containerd's certs.d directory for registries
// without their own directory.
const DefaultHostNamespace = "_default"

// HostsPath is the path of registry's hosts.toml relative to the registry
// config_path (CertsDir): "<registry>/hosts.toml".
func HostsPath(registry string) string {
	return strings.TrimSpace(registry) + "/hosts.toml"
}

// ServerFor is the upstream server written as hosts.toml's `server`:
// https://registry-1.docker.io for docker.io (whose API does not live at
// docker.io), https://<registry> otherwise, and "" for _default (no server:
// the image's own registry is the fallback).
func ServerFor(registry string) string {
	switch registry {
	case DefaultHostNamespace:
		return ""
	case "docker.io":
		return "https://registry-1.docker.io"
	}
	return "https://" + registry
}

type hostsData struct {
	Server string
	Hosts  []string
}

// RenderHosts renders certs.d/<registry>/hosts.toml: `server` (see
// ServerFor), then one [host."<endpoint>"] per endpoint, in order, with
// capabilities ["pull", "resolve"]. Plain http:// endpoints are allowed;
// containerd then talks HTTP to them. Repeated endpoints are written once.
func RenderHosts(m Mirror) ([]byte, error) {
	reg := strings.TrimSpace(m.Registry)
	if err := validRegistry(reg); err != nil {
		return nil, fmt.Errorf("registry mirror: %w", err)
	}
	d := hostsData{Server: ServerFor(reg)}
	seen := map[string]bool{}
	var errs []error
	for _, e := range m.Endpoints {
		e = strings.TrimSpace(e)
		if err := validEndpoint(e); err != nil {
			errs = append(errs, err)
			continue
		}
		if !seen[e] {
			seen[e] = true
			d.Hosts = append(d.Hosts, e)
		}
	}
	if len(errs) == 0 && len(d.Hosts) == 0 {
		errs = append(errs, errors.New("no endpoints"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("registry mirror for %s: %w", reg, err)
	}
	out, err := assets.Render("hosts.toml.tmpl", d)
	if err != nil {
		return nil, err
	}
	var check map[string]any
	if err := toml.Unmarshal(out, &check); err != nil {
		return nil, fmt.Errorf("registry mirror for %s: rendered TOML does not parse: %w", reg, err)
	}
	return out, nil
}

func validRegistry(reg string) error {
	switch {
	case reg == "":
		return errors.New("registry is empty")
	case reg == DefaultHostNamespace:
		return nil
	case strings.Contains(reg, "://"):
		return fmt.Errorf("registry %q: want a host (e.g. docker.io or host:5000), not a URL", reg)
	case strings.ContainsAny(reg, "/\\ \t\r\n\"'"), strings.HasPrefix(reg, "."), strings.Contains(reg, ".."):
		return fmt.Errorf("registry %q is not a valid registry host", reg)
	}
	u, err := url.Parse("https://" + reg)
	if err != nil || u.Host != reg || u.Hostname() == "" {
		return fmt.Errorf("registry %q is not a valid registry host", reg)
	}
	return nil
}

func validEndpoint(e string) error {
	u, err := url.Parse(e)
	if err != nil {
		return fmt.Errorf("endpoint %q: %w", e, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("endpoint %q: want an http:// or https:// URL", e)
	case u.Hostname() == "":
		return fmt.Errorf("endpoint %q has no host", e)
	case u.User != nil, u.RawQuery != "", u.Fragment != "":
		return fmt.Errorf("endpoint %q: user info, query and fragment are not supported", e)
	case strings.ContainsAny(e, " \t\r\n\""):
		return fmt.Errorf("endpoint %q contains whitespace or quotes", e)
	}
	return nil
}
