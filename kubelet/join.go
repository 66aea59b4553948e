package kubelet

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/hybridnode/hybridnode/assets"
)

// Arg is one kubelet flag, without leading dashes: {"node-labels", "a=b"}.
type Arg struct {
	Name, Value string
}

// JoinInput is what RenderJoinConfiguration needs.
type JoinInput struct {
	// KubernetesMinor selects the API version (see APIVersionFor); 30..37.
	KubernetesMinor int
	// APIServerEndpoint is host:port.
	APIServerEndpoint string
	// Token is the bootstrap token, used for discovery and TLS bootstrap.
	Token string
	// CACertHashes ("sha256:<hex>") pin the cluster CA; required unless
	// UnsafeSkipCAVerification.
	CACertHashes             []string
	UnsafeSkipCAVerification bool
	// NodeName is the Node's name; empty: kubeadm uses the hostname.
	NodeName string
	// CRISocket, e.g. unix:///run/containerd/containerd.sock; empty: kubeadm
	// detects it.
	CRISocket string
	// Taints are registered with the Node; none renders `taints: []`.
	Taints []Taint
	// ProviderID and Labels become the kubelet's --provider-id and
	// --node-labels, the first of its extra args; empty: left out.
	ProviderID string
	Labels     []Label
	// KubeletExtraArgs are further kubelet flags, in order, after
	// provider-id and node-labels. v1beta4 keeps them as an ordered list
	// (repeats allowed, as on a command line); v1beta3 has a map, in which a
	// repeated name keeps its last value, as the kubelet's flag parsing would.
	KubeletExtraArgs []Arg
	// IgnorePreflightErrors are kubeadm preflight check names.
	IgnorePreflightErrors []string
	// PatchesDir holds kubeadm patches (e.g. KubeletPatchFile); empty: none.
	PatchesDir string
	// KubeletHealthCheckTimeout and TLSBootstrapTimeout are rendered as
	// v1beta4 timeouts.kubeletHealthCheck and timeouts.tlsBootstrap; zero
	// omits them. v1beta3 has no such fields: they are ignored for 1.30.
	KubeletHealthCheckTimeout, TLSBootstrapTimeout time.Duration
}

// Minimal mirrors of kubeadm's types (cmd/kubeadm/app/apis/kubeadm/v1beta3
// and v1beta4): only the fields hybridnode sets, with the same json tags.

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

type joinConfiguration struct {
	typeMeta
	NodeRegistration nodeRegistration `json:"nodeRegistration"`
	Discovery        discovery        `json:"discovery"`
	Patches          *patches         `json:"patches,omitempty"`
	Timeouts         *timeouts        `json:"timeouts,omitempty"` // v1beta4 only
}

type nodeRegistration struct {
	Name      string `json:"name,omitempty"`
	CRISocket string `json:"criSocket,omitempty"`
	// Taints has no omitempty, as in kubeadm: an empty list must be written
	// as `taints: []`. kubeadm's doc comment on NodeRegistrationOptions.Taints
	// (v1beta3 and v1beta4): "If this field is unset, i.e. nil, it will be
	// defaulted with a control-plane taint for control-plane nodes. If you
	// don't want to taint your control-plane node, set this field to an
	// empty slice, i.e. `taints: []`". SetJoinDynamicDefaults
	// (util/config/joinconfiguration.go, v1.37.1) adds that taint only when
	// the JoinConfiguration has a controlPlane section and Taints is nil, so
	// for a worker nil and [] behave the same today; the explicit empty list
	// states the intent and does not depend on that.
	Taints                []Taint  `json:"taints"`
	KubeletExtraArgs      any      `json:"kubeletExtraArgs,omitempty"` // v1beta3: map[string]string; v1beta4: []arg
	IgnorePreflightErrors []string `json:"ignorePreflightErrors,omitempty"`
}

type arg struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type discovery struct {
	BootstrapToken bootstrapTokenDiscovery `json:"bootstrapToken"`
}

type bootstrapTokenDiscovery struct {
	Token                    string   `json:"token"`
	APIServerEndpoint        string   `json:"apiServerEndpoint,omitempty"`
	CACertHashes             []string `json:"caCertHashes,omitempty"`
	UnsafeSkipCAVerification bool     `json:"unsafeSkipCAVerification,omitempty"`
}

type patches struct {
	Directory string `json:"directory,omitempty"`
}

type timeouts struct {
	KubeletHealthCheck string `json:"kubeletHealthCheck,omitempty"`
	TLSBootstrap       string `json:"tlsBootstrap,omitempty"`
}

// RenderJoinConfiguration renders the JoinConfiguration for `kubeadm join
// --config`, in the API version APIVersionFor(in.KubernetesMinor), from
// hybridnode's own minimal types marshalled by sigs.k8s.io/yaml (keys
// sorted). discovery.tlsBootstrapToken is left out: kubeadm defaults it to
// the discovery token. The output holds the token: write it 0600.
func RenderJoinConfiguration(in JoinInput) ([]byte, error) {
	apiVersion := APIVersionFor(in.KubernetesMinor)
	if apiVersion == "" {
		return nil, fmt.Errorf("join configuration: Kubernetes 1.%d is not supported (1.%d to 1.%d)", in.KubernetesMinor, MinKubernetesMinor, MaxKubernetesMinor)
	}
	if err := validateJoin(in); err != nil {
		return nil, fmt.Errorf("join configuration: %w", err)
	}
	cfg := joinConfiguration{
		typeMeta: typeMeta{APIVersion: apiVersion, Kind: "JoinConfiguration"},
		NodeRegistration: nodeRegistration{
			Name:                  strings.TrimSpace(in.NodeName),
			CRISocket:             strings.TrimSpace(in.CRISocket),
			Taints:                append([]Taint{}, in.Taints...),
			IgnorePreflightErrors: in.IgnorePreflightErrors,
		},
		Discovery: discovery{BootstrapToken: bootstrapTokenDiscovery{
			Token:                    in.Token,
			APIServerEndpoint:        strings.TrimSpace(in.APIServerEndpoint),
			CACertHashes:             in.CACertHashes,
			UnsafeSkipCAVerification: in.UnsafeSkipCAVerification,
		}},
	}
	if args := kubeletArgs(in); len(args) > 0 {
		if apiVersion == KubeadmV1beta3 {
			m := make(map[string]string, len(args))
			for _, a := range args {
				m[a.Name] = a.Value
			}
			cfg.NodeRegistration.KubeletExtraArgs = m
		} else {
			l := make([]arg, len(args))
			for i, a := range args {
				l[i] = arg(a)
			}
			cfg.NodeRegistration.KubeletExtraArgs = l
		}
	}
	if dir := strings.TrimSpace(in.PatchesDir); dir != "" {
		cfg.Patches = &patches{Directory: dir}
	}
	if apiVersion == KubeadmV1beta4 {
		var to timeouts
		if in.KubeletHealthCheckTimeout > 0 {
			to.KubeletHealthCheck = in.KubeletHealthCheckTimeout.String()
		}
		if in.TLSBootstrapTimeout > 0 {
			to.TLSBootstrap = in.TLSBootstrapTimeout.String()
		}
		if to != (timeouts{}) {
			cfg.Timeouts = &to
		}
	}
	body, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("join configuration: %w", err)
	}
	return append([]byte(assets.Header+"\n"), body...), nil
}

// kubeletArgs are the kubelet's extra args: provider-id, node-labels (as
// --node-labels takes them: key=value,key=value), then KubeletExtraArgs.
func kubeletArgs(in JoinInput) []Arg {
	var args []Arg
	if id := strings.TrimSpace(in.ProviderID); id != "" {
		args = append(args, Arg{Name: "provider-id", Value: id})
	}
	if len(in.Labels) > 0 {
		parts := make([]string, len(in.Labels))
		for i, l := range in.Labels {
			parts[i] = l.String()
		}
		args = append(args, Arg{Name: "node-labels", Value: strings.Join(parts, ",")})
	}
	return append(args, in.KubeletExtraArgs...)
}

func validateJoin(in JoinInput) error {
	var errs []error
	if strings.TrimSpace(in.APIServerEndpoint) == "" {
		errs = append(errs, errors.New("API server endpoint is empty"))
	}
	if in.Token == "" {
		errs = append(errs, errors.New("token is empty"))
	}
	if len(in.CACertHashes) == 0 && !in.UnsafeSkipCAVerification {
		errs = append(errs, errors.New("no CA certificate hashes: set them, or explicitly skip CA verification"))
	}
	for _, h := range in.CACertHashes {
		if strings.TrimSpace(h) == "" {
			errs = append(errs, errors.New("empty CA certificate hash"))
		}
	}
	for _, t := range in.Taints {
		if want := t.Problem(); want != "" {
			errs = append(errs, fmt.Errorf("taint %q: want %s", t.String(), want))
		}
	}
	for _, l := range in.Labels {
		if want := l.Problem(); want != "" {
			errs = append(errs, fmt.Errorf("label %q: want %s", l.String(), want))
		}
	}
	for _, a := range in.KubeletExtraArgs {
		if a.Name == "" || strings.HasPrefix(a.Name, "-") {
			errs = append(errs, fmt.Errorf("kubelet extra arg %q: want a flag name without leading dashes", a.Name))
		}
	}
	for _, p := range in.IgnorePreflightErrors {
		if strings.TrimSpace(p) == "" {
			errs = append(errs, errors.New("empty preflight check name in IgnorePreflightErrors"))
		}
	}
	if in.KubeletHealthCheckTimeout < 0 || in.TLSBootstrapTimeout < 0 {
		errs = append(errs, errors.New("negative timeout"))
	}
	return errors.Join(errs...)
}
