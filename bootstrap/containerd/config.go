// Package containerd holds pure renderers for containerd's config.toml
// (containerd 1.x: schema version 2; containerd 2.x: schema version 3),
// the registry hosts.toml files and containerd.service, and WaitReady,
// which waits for containerd and its CRI plugin to answer.
package containerd

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/hybridnode/hybridnode/assets"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

// Defaults used when the corresponding ConfigInput field is empty.
const (
	DefaultCNIBinDir          = hoststate.CNIBinDir
	DefaultCNIConfDir         = hoststate.CNIConfDir
	DefaultRegistryConfigPath = CertsDir
)

// ConfigInput is what RenderConfig needs.
type ConfigInput struct {
	// Major is containerd's major version: 1 (config schema version 2,
	// CRI plugin "io.containerd.grpc.v1.cri") or 2 (schema version 3, CRI
	// split into "io.containerd.cri.v1.images" and
	// "io.containerd.cri.v1.runtime").
	Major int
	// SandboxImage is the pause image, e.g. registry.k8s.io/pause:3.10.2.
	SandboxImage string
	// SystemdCgroup selects runc's systemd cgroup driver; it must match the
	// kubelet's cgroupDriver.
	SystemdCgroup bool
	// RestrictOOMScoreAdj caps containers' oom_score_adj at containerd's
	// own, for hosts (e.g. containers) without CAP_SYS_RESOURCE.
	RestrictOOMScoreAdj bool
	// CNIBinDir and CNIConfDir default to /opt/cni/bin and /etc/cni/net.d.
	CNIBinDir, CNIConfDir string
	// RegistryConfigPath is the certs.d directory holding
	// <registry>/hosts.toml; defaults to /etc/containerd/certs.d.
	RegistryConfigPath string
	// NvidiaRuntime, when set, is the host path of the NVIDIA container
	// toolkit's nvidia-container-runtime: the config then has a runtime
	// "nvidia" (runc's shim running that binary, with runc's cgroup
	// driver) and CDI enabled, with the specs in CDISpecDirs.
	NvidiaRuntime string
	// NvidiaDefault makes "nvidia" the default runtime; it needs
	// NvidiaRuntime.
	NvidiaDefault bool
}

// NvidiaRuntimeName is the name of the NVIDIA runtime in containerd's
// config: the handler of a RuntimeClass for GPU pods.
const NvidiaRuntimeName = "nvidia"

// CDISpecDirs are the directories containerd reads CDI specs from when
// the config enables CDI (containerd's own defaults).
var CDISpecDirs = []string{"/etc/cdi", "/var/run/cdi"}

type configData struct {
	SandboxImage        string
	SystemdCgroup       bool
	RestrictOOMScoreAdj bool
	CNIBinDir           string
	CNIBinDirs          []string
	CNIConfDir          string
	RegistryConfigPath  string
	DefaultRuntime      string
	NvidiaRuntime       string
	CDISpecDirs         []string
}

// Where hybridnode writes what RenderConfig and RenderHosts render:
// containerd's config.toml, and the registry config_path whose
// <registry>/hosts.toml (HostsPath) are RenderHosts'.
const (
	ConfigPath = "/etc/containerd/config.toml"
	CertsDir   = "/etc/containerd/certs.d"
)

// RenderConfig renders ConfigPath for containerd in.Major.
//
// Key placement (checked against containerd's docs/cri/config.md and
// internal/cri/config/config.go, v1.7.35 and v2.2.0):
//
//   - 1.x, version = 2, all under plugins."io.containerd.grpc.v1.cri":
//     sandbox_image, restrict_oom_score_adj,
//     containerd.default_runtime_name, containerd.runtimes.runc.runtime_type,
//     containerd.runtimes.runc.options.SystemdCgroup, cni.bin_dir,
//     cni.conf_dir, registry.config_path.
//   - 2.x, version = 3: plugins."io.containerd.cri.v1.images" holds
//     pinned_images.sandbox (replaces sandbox_image) and registry.config_path;
//     plugins."io.containerd.cri.v1.runtime" holds restrict_oom_score_adj,
//     containerd.default_runtime_name, containerd.runtimes.runc.* and
//     cni.bin_dirs (replaces bin_dir, deprecated since 2.1) / cni.conf_dir.
//     containerd 2.0 does not know bin_dirs: it warns, ignores the key and
//     keeps its default /opt/cni/bin.
//   - With NvidiaRuntime, in the CRI plugin's table of each schema
//     ("io.containerd.grpc.v1.cri"; "io.containerd.cri.v1.runtime"):
//     enable_cdi and cdi_spec_dirs at its top, and
//     containerd.runtimes.nvidia with runtime_type io.containerd.runc.v2
//     and options.BinaryName and options.SystemdCgroup, where
//     `nvidia-ctk runtime configure --runtime=containerd --enable-cdi`
//     puts them. enable_cdi is false by default in 1.7 and true in 2.x.
//
// Unsupported majors, an empty sandbox image, relative paths and
// NvidiaDefault without NvidiaRuntime are errors.
// The output is checked to parse as TOML. Its second line records the
// sha256 of the rest (see Changed).
func RenderConfig(in ConfigInput) ([]byte, error) {
	var name string
	switch in.Major {
	case 1:
		name = "containerd-config-v2.toml.tmpl"
	case 2:
		name = "containerd-config-v3.toml.tmpl"
	default:
		return nil, fmt.Errorf("containerd config: unsupported containerd major version %d (supported: 1, 2)", in.Major)
	}
	d := configData{
		SandboxImage:        strings.TrimSpace(in.SandboxImage),
		SystemdCgroup:       in.SystemdCgroup,
		RestrictOOMScoreAdj: in.RestrictOOMScoreAdj,
		CNIBinDir:           orDefault(in.CNIBinDir, DefaultCNIBinDir),
		CNIConfDir:          orDefault(in.CNIConfDir, DefaultCNIConfDir),
		RegistryConfigPath:  orDefault(in.RegistryConfigPath, DefaultRegistryConfigPath),
		DefaultRuntime:      "runc",
		CDISpecDirs:         CDISpecDirs,
	}
	d.CNIBinDirs = []string{d.CNIBinDir}
	var errs []error
	if rt := strings.TrimSpace(in.NvidiaRuntime); rt != "" {
		if d.NvidiaRuntime = path.Clean(rt); !path.IsAbs(rt) {
			errs = append(errs, fmt.Errorf("nvidia runtime %q is not an absolute path", rt))
		}
	}
	if in.NvidiaDefault {
		if d.NvidiaRuntime == "" {
			errs = append(errs, errors.New("nvidia is to be the default runtime, but there is no nvidia-container-runtime"))
		}
		d.DefaultRuntime = NvidiaRuntimeName
	}
	if d.SandboxImage == "" {
		errs = append(errs, errors.New("sandbox image is empty"))
	} else if strings.ContainsAny(d.SandboxImage, " \t\r\n") {
		errs = append(errs, fmt.Errorf("sandbox image %q contains whitespace", d.SandboxImage))
	}
	for _, p := range []struct{ name, value string }{
		{"CNI bin dir", d.CNIBinDir},
		{"CNI conf dir", d.CNIConfDir},
		{"registry config path", d.RegistryConfigPath},
	} {
		if !path.IsAbs(p.value) {
			errs = append(errs, fmt.Errorf("%s %q is not an absolute path", p.name, p.value))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("containerd config: %w", err)
	}
	out, err := assets.Render(name, d)
	if err != nil {
		return nil, err
	}
	out = withChecksum(out)
	var check map[string]any
	if err := toml.Unmarshal(out, &check); err != nil {
		return nil, fmt.Errorf("containerd config: rendered TOML does not parse: %w", err)
	}
	return out, nil
}

func orDefault(s, def string) string {
	if s = strings.TrimSpace(s); s == "" {
		return def
	}
	return path.Clean(s)
}
