// Package config holds hybridnode's configuration: its fields, where each value
// came from (default < instance metadata < config file < environment < flags,
// and the install record for the default versions of a baked image), and its
// validation, all resolved in one step (Resolve).
package config

import (
	"fmt"
	"time"
)

// Dir is hybridnode's configuration directory on a node: config.yaml,
// config.d, and what the join renders for kubeadm.
const Dir = "/etc/hybridnode"

// DefaultFile is read when present and no --config is given.
const DefaultFile = Dir + "/config.yaml"

// Limits on the input. Every value is checked against them before anything
// else, so that a mistaken or hostile input is refused early and no error
// message grows with it.
const (
	// MaxFileSize bounds a config file or drop-in (and is checked before the
	// file is read when its size is known).
	MaxFileSize = 1 << 20 // 1 MiB
	// MaxDropIns bounds the *.yaml files read from config.d.
	MaxDropIns = 256
	// MaxValueLen bounds every string: a value, a list item, a map key or a
	// map value (in bytes). The token file is bounded by it too.
	MaxValueLen = 4096
	// MaxEntries bounds every list and map (and each registry's mirror list).
	MaxEntries = 256
)

// Config is the whole configuration. Keys are the config file's; the env
// names and flags are declared in fields.go.
type Config struct {
	KubernetesVersion        string              `json:"kubernetesVersion"`
	APIServerEndpoint        string              `json:"apiServerEndpoint"`
	Token                    Secret              `json:"token"`
	TokenFile                string              `json:"tokenFile"`
	CACertHashes             []string            `json:"caCertHashes"`
	UnsafeSkipCAVerification bool                `json:"unsafeSkipCAVerification"`
	ArtifactURL              string              `json:"artifactURL"`
	ContainerdVersion        string              `json:"containerdVersion"`
	RuncVersion              string              `json:"runcVersion"`
	CrictlVersion            string              `json:"crictlVersion"`
	CNIPluginsVersion        string              `json:"cniPluginsVersion"`
	SandboxImage             string              `json:"sandboxImage"`
	PrepullImages            []string            `json:"prepullImages"`
	RegistryMirrors          map[string][]string `json:"registryMirrors"`
	CgroupDriver             string              `json:"cgroupDriver"`
	RestrictOOMScoreAdj      bool                `json:"restrictOOMScoreAdj"`
	KubeletExtraArgs         map[string]string   `json:"kubeletExtraArgs"`
	ProviderID               string              `json:"providerID"`
	NodeName                 string              `json:"nodeName"`
	NodeLabels               []string            `json:"nodeLabels"`
	NodeTaints               []string            `json:"nodeTaints"`
	MetadataEndpoint         string              `json:"metadataEndpoint"`
	VPCCIDR                  string              `json:"vpcCIDR"`
	JoinAttempts             int                 `json:"joinAttempts"`
	JoinTimeout              Duration            `json:"joinTimeout"`
	DownloadTimeout          Duration            `json:"downloadTimeout"`
	// CredentialSource says where the join's bootstrap token comes from:
	// CredentialToken (token or tokenFile) or CredentialInstanceIdentity
	// (the token service, for this instance's signed identity).
	CredentialSource string       `json:"credentialSource"`
	TokenService     TokenService `json:"tokenService"`
	// GPUDefaultRuntime makes the NVIDIA runtime containerd's default on a
	// node with the NVIDIA container toolkit (a node without it fails
	// preflight).
	GPUDefaultRuntime bool `json:"gpuDefaultRuntime"`
	// KubeProxyMode is the cluster's kube-proxy mode as the node prepares
	// for it: KubeProxyAuto (read kube-system/kube-proxy before the join)
	// or one of the modes, forced.
	KubeProxyMode string `json:"kubeProxyMode"`
	// HTTPProxy and HTTPSProxy are the proxies of hybridnode's downloads,
	// containerd and kubelet (http:// or https://, user:password@ allowed:
	// a ProxyURL never prints its user information). NoProxy are the
	// user's exceptions; the effective list adds what must never go
	// through a proxy (bootstrap/proxy).
	HTTPProxy  ProxyURL `json:"httpProxy"`
	HTTPSProxy ProxyURL `json:"httpsProxy"`
	NoProxy    []string `json:"noProxy"`
}

// The credential sources.
const (
	CredentialToken            = "token"
	CredentialInstanceIdentity = "instance-identity"
)

// TokenService is where a node with credentialSource instance-identity
// exchanges its ECS instance identity for a bootstrap token. Its fields are
// config keys of their own ("tokenService.url"), nested in the file.
type TokenService struct {
	// URL is the service's https:// base URL.
	URL string `json:"url"`
	// Pin is sha256:<hex> of the service certificate's DER
	// SubjectPublicKeyInfo: the only thing its TLS is checked against.
	Pin string `json:"pin"`
	// Audience names the cluster; the node asks the metadata service to
	// sign "<audience>:<unix seconds>".
	Audience string `json:"audience"`
}

// Defaults returns the configuration before any source is applied. Fields
// whose default depends on another field (crictlVersion, sandboxImage,
// nodeName) are filled in by Resolve.
func Defaults() Config {
	return Config{
		KubernetesVersion: "v1.37.1",
		ContainerdVersion: "v2.2.0",
		RuncVersion:       "v1.3.3",
		CgroupDriver:      "auto",
		JoinAttempts:      3,
		JoinTimeout:       Duration(5 * time.Minute),
		DownloadTimeout:   Duration(10 * time.Minute),
		CredentialSource:  CredentialToken,
		KubeProxyMode:     KubeProxyAuto,
	}
}

// Secret is a string that never prints: String, GoString, JSON and YAML all
// show [REDACTED]. Reveal returns the value for the one place that needs it.
type Secret string

const redacted = "[REDACTED]"

func (s Secret) String() string   { return s.mask() }
func (s Secret) GoString() string { return s.mask() }

// MarshalJSON keeps the secret out of config dumps, reports and logs.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.mask() + `"`), nil }

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) mask() string {
	if s == "" {
		return ""
	}
	return redacted
}

// Duration is a time.Duration written as "5m" in YAML and the environment.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as 5m or 90s: %w", err)
	}
	*d = Duration(v)
	return nil
}
