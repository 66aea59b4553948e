// Package cluster is the admin side of hybridnode (`hybridnode-cluster`): it
// checks a hybrid cluster (check), does the cluster-side steps of the hybrid
// setup and renders the node-pool script that carries the join settings
// (setup), and renews the node pool's bootstrap token (rotate). It works
// over typed client-go interfaces only, so that tests run against a fake.
//
// The token's secret never appears in what this package prints, returns as
// an error or shows in a diff: it goes to the API server (the token Secret)
// and into the script file, nowhere else.
package cluster

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	admissionv1client "k8s.io/client-go/kubernetes/typed/admissionregistration/v1"
	appsv1client "k8s.io/client-go/kubernetes/typed/apps/v1"
	certificatesv1client "k8s.io/client-go/kubernetes/typed/certificates/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	rbacv1client "k8s.io/client-go/kubernetes/typed/rbac/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hybridnode/hybridnode/bootstrap/config"
)

// Labels and names of the hybrid topology.
const (
	// ExternalLabel marks cloud (ECS) nodes: Terway runs there, the
	// on-premises CNI never does.
	ExternalLabel = "alibabacloud.com/external"
	// TypeLabel=virtual-kubelet marks ECI virtual nodes, where no DaemonSet belongs.
	TypeLabel      = "type"
	VirtualKubelet = "virtual-kubelet"
	// PoolLabel carries the node pool on hybridnode's bootstrap token Secrets.
	PoolLabel = "hybridnode.io/node-pool"
	// DropInPath is where the node-pool script writes its settings on a node.
	DropInPath = config.Dir + "/config.d/50-node-pool.yaml"
	// SetupCommand and RotateCommand are what remedies tell the admin to
	// run (`hybridnode cluster ...` runs hybridnode-cluster).
	SetupCommand  = "hybridnode cluster setup"
	RotateCommand = "hybridnode cluster rotate"
)

// Namespaces and objects hybridnode-cluster reads or writes.
const (
	kubeSystem      = "kube-system"
	kubePublic      = "kube-public"
	kubeadmConfig   = "kubeadm-config"
	eniConfig       = "eni-config"
	ackAgentConfig  = "ack-agent-config"
	scriptPathKey   = "addNodeScriptPath"
	extraGroups     = "system:bootstrappers:kubeadm:default-node-token"
	defaultPool     = "default"
	defaultOnprem   = "kube-system/calico-node"
	defaultCloudCNI = "kube-system/terway-eniip"
)

// Client is what hybridnode-cluster asks the API server through.
type Client struct {
	Core corev1client.CoreV1Interface
	Apps appsv1client.AppsV1Interface
	// Rbac is for the token service's roles (setup --credentials identity).
	Rbac      rbacv1client.RbacV1Interface
	Discovery discovery.ServerVersionInterface
	// Admission is for the token service's admission policies.
	Admission admissionv1client.AdmissionregistrationV1Interface
	// Coordination and Certificates are the token service's: its records
	// (Leases) and the CSRs it approves.
	Coordination coordinationv1client.CoordinationV1Interface
	Certificates certificatesv1client.CertificatesV1Interface
	// Dynamic reads the CNIs' custom resources (Calico's IPPools and
	// BGPConfigurations, the Tigera operator's Installation); nil: none read.
	Dynamic dynamic.Interface
	// Host is the API server's host:port as the kubeconfig names it.
	Host string
}

// APITimeout bounds every request to the API server.
const APITimeout = 20 * time.Second

// ClientQPS and ClientBurst bound a Client's requests to the API server.
const (
	ClientQPS   = 100
	ClientBurst = 200
)

// NewClient builds the client from a kubeconfig: kubeconfig (the
// --kubeconfig flag) when set, else $KUBECONFIG, else ~/.kube/config
// (client-go's loading rules); kubeContext (--context) overrides the
// current context. A kubeconfig that cannot be loaded is an *InputError.
func NewClient(kubeconfig, kubeContext string) (*Client, error) {
	cfg, err := restConfig(kubeconfig, kubeContext)
	if err != nil {
		return nil, err
	}
	// client-go's default (5 a second, 10 at once) would queue a node pool's
	// batch of 180 exchanges at the token service for half a minute: the API
	// server's own priority and fairness is the limit that matters.
	cfg.QPS, cfg.Burst = ClientQPS, ClientBurst
	core, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	apps, err := appsv1client.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	rbac, err := rbacv1client.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	adm, err := admissionv1client.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	coord, err := coordinationv1client.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	certs, err := certificatesv1client.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	return &Client{Core: core, Apps: apps, Rbac: rbac, Discovery: disc, Admission: adm, Coordination: coord, Certificates: certs, Dynamic: dyn,
		Host: hostPort(cfg.Host)}, nil
}

func restConfig(kubeconfig, kubeContext string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		where := "--kubeconfig"
		if kubeContext != "" {
			where = "--kubeconfig/--context"
		}
		want := "a kubeconfig for the cluster (--kubeconfig, else $KUBECONFIG, else ~/.kube/config)"
		if clientcmd.IsEmptyConfig(err) {
			return nil, inputErr(err, where, "", want+": none found")
		}
		return nil, inputErr(err, where, kubeconfig, want+": "+err.Error())
	}
	cfg.Timeout = APITimeout
	cfg.UserAgent = "hybridnode-cluster"
	return cfg, nil
}

// hostPort turns a server URL into host:port.
func hostPort(server string) string {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return server
	}
	if u.Port() == "" {
		port := "443"
		if u.Scheme == "http" {
			port = "80"
		}
		return net.JoinHostPort(u.Hostname(), port)
	}
	return u.Host
}

// Options are the flags every command shares.
type Options struct {
	// OnpremCNI and CloudCNI are NS/NAME of the DaemonSets (--onprem-cni,
	// --cloud-cni); empty: kube-system/calico-node and kube-system/terway-eniip.
	OnpremCNI string
	CloudCNI  string
	// NetworkMode is the on-premises container network's mode
	// (--network-mode overlay, bgp or host); empty: detected (netmode.go).
	NetworkMode string
	// NodePool names the pool (--node-pool, a label value); empty: "default".
	NodePool string
	// VPCCIDR is the VPC's CIDR (--vpc-cidr), optional.
	VPCCIDR string
	// ArtifactURL is where nodes download Kubernetes (--artifact-url).
	ArtifactURL string
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// ref is a namespaced object name.
type ref struct{ ns, name string }

func (r ref) String() string { return r.ns + "/" + r.name }

// options are Options, checked and parsed.
type options struct {
	onprem, cloud ref
	pool          string
	vpc           netip.Prefix
	hasVPC        bool
	artifactURL   string
	networkMode   string
	now           func() time.Time
}

func (o Options) parse(p *problems) options {
	out := options{pool: o.NodePool, artifactURL: o.ArtifactURL, networkMode: o.NetworkMode, now: o.Now}
	if out.now == nil {
		out.now = time.Now
	}
	out.onprem = parseRef(p, "--onprem-cni", o.OnpremCNI, defaultOnprem)
	out.cloud = parseRef(p, "--cloud-cni", o.CloudCNI, defaultCloudCNI)
	if out.pool == "" {
		out.pool = defaultPool
	}
	if msgs := validation.IsValidLabelValue(out.pool); len(msgs) > 0 {
		p.add("--node-pool", out.pool, "a valid label value (63 characters at most: letters, digits, '-', '_', '.', starting and ending with a letter or digit)")
	}
	switch o.NetworkMode {
	case "", ModeOverlay, ModeBGP, ModeHost:
	default:
		p.add("--network-mode", o.NetworkMode, "overlay, bgp or host")
	}
	if o.VPCCIDR != "" {
		v, err := netip.ParsePrefix(o.VPCCIDR)
		if err != nil {
			p.add("--vpc-cidr", o.VPCCIDR, "a CIDR such as 172.16.0.0/12")
		} else {
			out.vpc, out.hasVPC = v.Masked(), true
		}
	}
	return out
}

func parseRef(p *problems, flag, s, def string) ref {
	if s == "" {
		s = def
	}
	ns, name, ok := strings.Cut(s, "/")
	if !ok || len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
		p.add(flag, s, "NAMESPACE/NAME of a DaemonSet, such as "+def)
		return ref{}
	}
	return ref{ns, name}
}

// InputError is bad input, found before anything was changed: a flag, a
// key of the node-config file, the release. Exit code 2.
type InputError struct {
	Problems []config.Problem
	// Err is the cause, when one error caused the problem.
	Err error
}

func (e *InputError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid input: " + e.Problems[0].String()
	}
	lines := []string{fmt.Sprintf("invalid input (%d problems):", len(e.Problems))}
	for _, p := range e.Problems {
		lines = append(lines, "  - "+p.String())
	}
	return strings.Join(lines, "\n")
}

func (e *InputError) Unwrap() error { return e.Err }

func inputErr(cause error, field, got, want string) *InputError {
	return &InputError{Problems: []config.Problem{{Field: field, Got: got, Want: want}}, Err: cause}
}

// problems collects bad input, all of it before the first change.
type problems struct{ list []config.Problem }

func (p *problems) add(field, got, want string) {
	p.list = append(p.list, config.Problem{Field: field, Got: got, Want: want})
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &InputError{Problems: p.list}
}

// absSource makes a relative directory absolute; URLs are left alone.
func absSource(s string) string {
	if s == "" || strings.Contains(s, "://") || filepath.IsAbs(s) {
		return s
	}
	if abs, err := filepath.Abs(s); err == nil {
		return abs
	}
	return s
}

// scrub keeps secrets out of an error's text; errors.Is and As still see
// the cause.
func scrub(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			msg, changed = strings.ReplaceAll(msg, s, redacted), true
		}
	}
	if !changed {
		return err
	}
	return &scrubbed{msg: msg, err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (s *scrubbed) Error() string { return s.msg }
func (s *scrubbed) Unwrap() error { return s.err }

const redacted = "[REDACTED]"

// errNotDir: --script-out's directory is missing.
var errNotDir = errors.New("not a directory")

// statDir checks that the directory of path exists.
func statDir(path string) error {
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return errNotDir
	}
	return nil
}
