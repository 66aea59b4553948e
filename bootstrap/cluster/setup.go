package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"sigs.k8s.io/yaml"

	"github.com/hybridnode/hybridnode/bootstrap/artifact"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/doctor/report"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/kubeconfig"
	"github.com/hybridnode/hybridnode/bootstrap/tokenservice"
	"github.com/hybridnode/hybridnode/kubelet"
	"github.com/hybridnode/hybridnode/packaging"
)

// Defaults of setup and rotate.
const (
	DefaultTokenTTL     = 24 * time.Hour
	DefaultGrace        = time.Hour
	DefaultPollInterval = time.Second
	DefaultPollTimeout  = 60 * time.Second
	// releaseScript is the release's addNodeScriptPath script.
	releaseScript = "add-node.sh"
	// maxScript bounds what is read of it.
	maxScript = 1 << 20
)

// SetupOptions are the flags of setup and rotate.
type SetupOptions struct {
	Options
	// Release is the release's base (--release): an http(s) URL or a
	// directory with add-node.sh and SHA256SUMS.
	Release string
	// ScriptOut is the script file (--script-out); empty: add-node-<pool>.sh.
	ScriptOut string
	// ScriptURL, when set, becomes ack-agent-config's addNodeScriptPath.
	ScriptURL string
	// TokenTTL is a new token's lifetime; it must be positive: a token that
	// never expires, in a script on a bucket, is refused.
	TokenTTL time.Duration
	// Grace: setup reuses a token valid for longer; rotate leaves the other
	// tokens this long before they expire (0: deletes them).
	Grace time.Duration
	// NodeConfig is a YAML file of further node config keys (--node-config).
	NodeConfig string
	// APIServerEndpoint and KubernetesVersion override what the cluster says.
	APIServerEndpoint string
	KubernetesVersion string
	// DryRun prints every change as a diff and changes nothing: only
	// server-side dry-run requests are sent, no file is written.
	DryRun bool
	// Command is the command line that ran, for the script's comment. It
	// must not hold a secret (no flag takes one).
	Command string
	// PollInterval and PollTimeout bound the wait for cluster-info's
	// signature of a new token; zero: 1s and 60s.
	PollInterval, PollTimeout time.Duration
	// Out gets one line per change (and diffs); Err gets warnings.
	Out, Err io.Writer
	// Identity: --credentials and the token service's flags (setup only).
	Identity IdentityOptions
	// Manifests (setup -o yaml, with --dry-run and --credentials identity):
	// print every object of the token service setup would apply, as a YAML
	// stream for GitOps, instead of the diffs; nothing changes.
	Manifests bool
}

// Setup does the cluster-side steps of the hybrid setup that are missing
// (the on-premises CNI's affinity, the node pool's token, the script, its
// URL in ack-agent-config), idempotently: a second run changes nothing and
// prints "no changes". Everything is read and validated before the first
// change.
func Setup(ctx context.Context, c *Client, o SetupOptions) error {
	return run(ctx, c, o, false)
}

// Rotate makes a new token for the node pool, renders and writes the script
// again, sets addNodeScriptPath when asked, then lets every other token of
// the pool expire within the grace period (deleting those already expired,
// or all with a grace of 0). It does not touch the CNI.
func Rotate(ctx context.Context, c *Client, o SetupOptions) error {
	return run(ctx, c, o, true)
}

type runner struct {
	c      *Client
	o      SetupOptions
	opts   options
	rotate bool
	now    time.Time
	out    io.Writer
	warn   io.Writer

	changes int
	secrets []string // known token secrets: never printed

	// Read before anything changes.
	endpoint   string
	pins       []string
	version    string
	release    []byte
	extra      []nodeKey
	scriptOut  string
	scriptURL  *url.URL
	ds         *appsv1.DaemonSet
	tokens     []token // the pool's, newest first
	tok        token
	newTok     bool
	agent      *corev1.ConfigMap // nil: absent
	oldScript  []byte
	oldMode    fs.FileMode
	haveScript bool
	script     []byte
	// ident is the token service's setup (--credentials identity); nil
	// with a pool token.
	ident *identitySetup
	// approver: the objects of the token service run as the pool tokens'
	// approver (--credentials token --token-service-image); poolGroup: the
	// pool's tokens carry tokenservice.PoolGroup, because an approver runs
	// (that Deployment, or the identity token service, exists) or is set
	// up now; else kubeadm's auto-approved group.
	approver  []*desired
	poolGroup bool
	// mode is the on-premises network's mode (--network-mode, else
	// detected; "" when unknown, handled as the BGP and host modes are).
	mode string
}

func run(ctx context.Context, c *Client, o SetupOptions, rotate bool) error {
	r := &runner{c: c, o: o, rotate: rotate, out: o.Out, warn: o.Err}
	if r.out == nil {
		r.out = io.Discard
	}
	if r.warn == nil {
		r.warn = io.Discard
	}
	if r.o.PollInterval <= 0 {
		r.o.PollInterval = DefaultPollInterval
	}
	if r.o.PollTimeout <= 0 {
		r.o.PollTimeout = DefaultPollTimeout
	}
	if o.Manifests && (!o.DryRun || o.Identity.Credentials != CredentialsIdentity || rotate) {
		return &InputError{Problems: []config.Problem{{Field: "-o/--output", Got: "yaml",
			Want: "with setup --credentials identity --dry-run only (the objects of the token service; a pool token is never printed)"}}}
	}
	if err := r.read(ctx); err != nil {
		return scrub(err, r.secrets...)
	}
	if o.Manifests {
		return scrub(r.manifests(), r.secrets...)
	}
	return scrub(r.apply(ctx), r.secrets...)
}

// read reads and validates everything; it changes nothing.
func (r *runner) read(ctx context.Context) error {
	o := r.o
	var p problems
	r.opts = o.Options.parse(&p)
	r.now = r.opts.now()
	if o.Release == "" {
		p.add("--release", "", "the release's base URL or directory (where `make release` put add-node.sh and SHA256SUMS)")
	}
	if o.ArtifactURL == "" {
		p.add("--artifact-url", "", "where the nodes download Kubernetes: an http(s):// base URL with SHA256SUMS (or a directory on the nodes)")
	}
	if o.TokenTTL <= 0 {
		p.add("--token-ttl", o.TokenTTL.String(), "a positive duration such as 24h: a token that never expires, in a script anyone with the bucket can read, is refused; rotate it with "+RotateCommand+" instead")
	}
	if o.Grace < 0 {
		p.add("--grace", o.Grace.String(), "a duration such as 1h, or 0")
	}
	r.scriptOut = o.ScriptOut
	if r.scriptOut == "" {
		r.scriptOut = "add-node-" + r.opts.pool + ".sh"
	}
	if err := statDir(r.scriptOut); err != nil {
		p.add("--script-out", r.scriptOut, "a file in an existing directory: "+err.Error())
	}
	if o.ScriptURL != "" {
		u, err := url.Parse(o.ScriptURL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			p.add("--script-url", o.ScriptURL, "the https:// URL the nodes download the script from (a private bucket or a signed URL)")
		} else if len(o.ScriptURL) > MaxScriptPathLen {
			p.add("--script-url", fmt.Sprintf("%d characters", len(o.ScriptURL)), fmt.Sprintf("at most %d characters, which ACK accepts in addNodeScriptPath", MaxScriptPathLen))
		} else {
			r.scriptURL = u
		}
	}
	if o.APIServerEndpoint != "" {
		host, port, err := net.SplitHostPort(o.APIServerEndpoint)
		n, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			p.add("--api-server-endpoint", o.APIServerEndpoint, "host:port such as 10.0.0.10:6443")
		}
	}
	if o.KubernetesVersion != "" {
		if v, ok := normalVersion(o.KubernetesVersion); !ok || !supported(v) {
			p.add("--kubernetes-version", o.KubernetesVersion, fmt.Sprintf("a release v1.%d.x to v1.%d.x such as v1.37.1", kubelet.MinKubernetesMinor, kubelet.MaxKubernetesMinor))
		} else {
			r.version = v
		}
	}
	var caPEM []byte
	var accounts []string
	switch o.Identity.Credentials {
	case "", CredentialsToken:
		o.Identity.parseApprover(&p)
	case CredentialsIdentity:
		if r.rotate {
			p.add("--credentials", o.Identity.Credentials, "rotate renews a pool token: with instance identities there is none to rotate")
		} else {
			caPEM, accounts = o.Identity.parse(&p)
		}
	default:
		p.add("--credentials", o.Identity.Credentials, CredentialsToken+" (a bootstrap token in the script) or "+CredentialsIdentity+" (the token service; no secret in the script)")
	}
	extra, err := readNodeConfig(o.NodeConfig)
	var ie *InputError
	switch {
	case errors.As(err, &ie):
		p.list = append(p.list, ie.Problems...)
	case err != nil:
		return err
	}
	r.extra = extra
	if err := p.err(); err != nil {
		return err
	}

	if r.release, err = readRelease(ctx, o.Release); err != nil {
		return err
	}
	if err := r.readCluster(ctx); err != nil {
		return err
	}
	if caPEM != nil {
		if err := r.readIdentity(ctx, caPEM, accounts); err != nil {
			return err
		}
	} else if err := r.readApprover(ctx); err != nil {
		return err
	}
	if err := r.readScript(); err != nil {
		return err
	}
	return r.render()
}

func supported(v string) bool {
	sv, err := kubelet.ParseVersion(v)
	return err == nil && sv.Supported()
}

// readRelease reads the release's add-node.sh and checks it against the
// release's SHA256SUMS.
func readRelease(ctx context.Context, base string) ([]byte, error) {
	bad := func(err error, want string) error { return inputErr(err, "--release", base, want) }
	src, err := openSource(base)
	if err != nil {
		return nil, bad(err, "an http(s):// URL or a directory holding the release (add-node.sh, SHA256SUMS): "+err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, 2*APITimeout)
	defer cancel()
	sums, err := artifact.LoadSums(ctx, src)
	if err != nil {
		return nil, bad(err, "a release with a readable SHA256SUMS: "+err.Error())
	}
	want, err := sums.Lookup(releaseScript)
	if err != nil {
		return nil, bad(err, "a release whose SHA256SUMS lists "+releaseScript)
	}
	rc, err := src.Open(ctx, releaseScript)
	if err != nil {
		return nil, bad(err, "a release with a readable "+releaseScript+": "+err.Error())
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxScript+1))
	if err != nil {
		return nil, bad(err, "a release with a readable "+releaseScript+": "+err.Error())
	}
	if len(data) > maxScript {
		return nil, bad(nil, fmt.Sprintf("an %s of at most %d bytes", releaseScript, maxScript))
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != want {
		return nil, bad(nil, fmt.Sprintf("an %s whose sha256 is SHA256SUMS' %s, got %s (a partial upload, or files of two releases)", releaseScript, want, got))
	}
	return data, nil
}

// readCluster reads what the cluster says: its endpoint and CA pins, its
// version, the on-premises CNI, the pool's tokens and ack-agent-config.
func (r *runner) readCluster(ctx context.Context) error {
	endpoint, pins, err := clusterInfo(ctx, r.c)
	if err != nil {
		return err
	}
	r.endpoint, r.pins = endpoint, pins
	if r.o.APIServerEndpoint != "" {
		r.endpoint = r.o.APIServerEndpoint
	}
	if r.version == "" {
		kubeadm := func(ctx context.Context) (*corev1.ConfigMap, error) {
			return r.c.Core.ConfigMaps(kubeSystem).Get(ctx, kubeadmConfig, metav1.GetOptions{})
		}
		v, from, err := clusterVersion(ctx, r.c, kubeadm)
		if err != nil {
			return err
		}
		if !supported(v) {
			return &InputError{Problems: []config.Problem{{Field: "the cluster's Kubernetes version (" + from + ")", Got: v,
				Want: fmt.Sprintf("v1.%d to v1.%d, which hybridnode joins; set --kubernetes-version to a supported kubelet version", kubelet.MinKubernetesMinor, kubelet.MaxKubernetesMinor)}}}
		}
		r.version = v
	}
	if !r.rotate {
		ref := r.opts.onprem
		ds, err := r.c.Apps.DaemonSets(ref.ns).Get(ctx, ref.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return inputErr(err, "--onprem-cni", ref.String(), "the on-premises CNI's DaemonSet (Calico: kube-system/calico-node, Flannel: kube-flannel/kube-flannel-ds, Cilium: kube-system/cilium): not found")
		case err != nil:
			return fmt.Errorf("get DaemonSet %s: %w", ref, err)
		}
		r.ds = ds
		r.mode = r.opts.networkMode
		if r.mode == "" {
			d, err := networkOf(ctx, r.c, ref)
			if err != nil {
				return err
			}
			r.mode = d.Mode
		}
	}
	if r.tokens, err = bootstrapTokens(ctx, r.c, r.opts.pool); err != nil {
		return err
	}
	for _, t := range r.tokens {
		r.secrets = append(r.secrets, t.secret)
	}
	if r.scriptURL != nil {
		cm, err := r.c.Core.ConfigMaps(kubeSystem).Get(ctx, ackAgentConfig, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return fmt.Errorf("get ConfigMap %s/%s: %w", kubeSystem, ackAgentConfig, err)
		default:
			r.agent = cm
		}
	}
	return nil
}

// clusterInfo reads kube-public/cluster-info: the API server's host:port
// and the pins of its CA certificates.
func clusterInfo(ctx context.Context, c *Client) (string, []string, error) {
	where := kubePublic + "/" + bootstrapapi.ConfigMapClusterInfo
	cm, err := c.Core.ConfigMaps(kubePublic).Get(ctx, bootstrapapi.ConfigMapClusterInfo, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil, fmt.Errorf("no ConfigMap %s: nodes discover the cluster through it (on a control-plane node: kubeadm init phase bootstrap-token): %w", where, err)
	}
	if err != nil {
		return "", nil, fmt.Errorf("get ConfigMap %s: %w", where, err)
	}
	kc, err := clientcmd.Load([]byte(cm.Data[bootstrapapi.KubeConfigKey]))
	if err != nil {
		return "", nil, fmt.Errorf("%s's kubeconfig: %w", where, err)
	}
	names := make([]string, 0, len(kc.Clusters))
	for n := range kc.Clusters {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "", nil, fmt.Errorf("%s's kubeconfig names no cluster", where)
	}
	cl := kc.Clusters[names[0]]
	endpoint := hostPort(cl.Server)
	if _, _, err := net.SplitHostPort(endpoint); err != nil || !strings.HasPrefix(cl.Server, "https://") {
		return "", nil, fmt.Errorf("%s's server %q is not an https:// URL", where, cl.Server)
	}
	var pins []string
	seen := map[string]bool{}
	certs, err := kubeconfig.ParseCerts(cl.CertificateAuthorityData)
	if err != nil {
		return "", nil, fmt.Errorf("%s's CA certificate: %w", where, err)
	}
	for _, cert := range certs {
		if pin := report.Pin(cert); !seen[pin] {
			seen[pin] = true
			pins = append(pins, pin)
		}
	}
	if len(pins) == 0 {
		return "", nil, fmt.Errorf("%s's kubeconfig has no CA certificate to pin", where)
	}
	return endpoint, pins, nil
}

func (r *runner) readScript() error {
	data, err := os.ReadFile(r.scriptOut)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return inputErr(err, "--script-out", r.scriptOut, "a file this user can read and write: "+err.Error())
	}
	fi, err := os.Stat(r.scriptOut)
	if err != nil {
		return inputErr(err, "--script-out", r.scriptOut, "a file this user can read and write: "+err.Error())
	}
	if !fi.Mode().IsRegular() {
		return inputErr(nil, "--script-out", r.scriptOut, "a regular file")
	}
	r.oldScript, r.oldMode, r.haveScript = data, fi.Mode().Perm(), true
	return nil
}

// render picks the token (the pool's newest when it is valid for longer
// than the grace; rotate always makes one), builds the settings, validates
// them as a node would and renders the script.
func (r *runner) render() error {
	s := settings{endpoint: r.endpoint, pins: r.pins, version: r.version, artifactURL: r.o.ArtifactURL, extra: r.extra}
	var comment []string
	if r.ident != nil {
		s.service = &tokenServiceSettings{URL: r.ident.url, Pin: r.ident.pin, Audience: r.ident.audience}
		comment = []string{
			fmt.Sprintf("node pool %s of cluster %s: credentials instance-identity, token service %s", r.opts.pool, r.endpoint, r.ident.url),
			"This script carries no secret: each node gets a bootstrap token of its own from the token service for its ECS instance identity",
		}
	} else {
		group := extraGroups
		if r.poolGroup {
			group = tokenservice.PoolGroup
		}
		if !r.rotate && len(r.tokens) > 0 && r.tokens[0].secret != "" && r.tokens[0].validFor(r.now, r.o.Grace) &&
			(r.tokens[0].group == tokenservice.PoolGroup) == r.poolGroup {
			r.tok = r.tokens[0]
		} else {
			t, err := newToken(r.opts.pool, r.now, r.o.TokenTTL, group)
			if err != nil {
				return err
			}
			r.tok, r.newTok = t, true
			r.secrets = append(r.secrets, t.secret)
		}
		s.token = r.tok
		comment = []string{
			fmt.Sprintf("node pool %s of cluster %s: bootstrap token %s, %s", r.opts.pool, r.endpoint, r.tok.id, r.tok.expiry()),
			"THIS SCRIPT CARRIES A BOOTSTRAP TOKEN: keep it in a private bucket or behind a signed URL reachable only inside the VPC",
		}
	}
	drop, err := s.dropIn()
	if err != nil {
		return err
	}
	check, err := s.forValidation()
	if err != nil {
		return err
	}
	if err := validateDropIn(check, r.o.NodeConfig); err != nil {
		return err
	}
	comment = append(comment, fmt.Sprintf("Kubernetes %s from %s", r.version, r.o.ArtifactURL))
	if cmd := signedQuery.ReplaceAllString(plain(r.o.Command), "$1?..."); cmd != "" {
		comment = append(comment, "made by: "+cmd)
	}
	proxy, err := s.poolProxy(r.o.NodeConfig)
	if err != nil {
		return err
	}
	script, err := packaging.NodePoolScript(r.release, comment, drop, proxy)
	if err != nil {
		return inputErr(err, "--release", r.o.Release, "a release whose add-node.sh takes node-pool settings: "+scrub(err, r.secrets...).Error())
	}
	r.script = script
	return nil
}

// signedQuery is a URL's query, which in a signed URL is its signature:
// the command line in the script's comment (and so in a dry run's diff)
// leaves it out.
var signedQuery = regexp.MustCompile(`(https?://[^\s?'"]+)\?[^\s'"]*`)

// plain drops control characters from a comment line.
func plain(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return '?'
		}
		return r
	}, s)
}

func (r *runner) dry() []string {
	if r.o.DryRun {
		return []string{metav1.DryRunAll}
	}
	return nil
}

// change prints one change; in a dry run it says "would".
func (r *runner) change(format string, args ...any) {
	r.changes++
	line := fmt.Sprintf(format, args...)
	if r.o.DryRun {
		line = "would " + line
	}
	fmt.Fprintln(r.out, line)
}

func (r *runner) diff(what, from, to string, a, b []byte) {
	if !r.o.DryRun {
		return
	}
	s, err := hostfs.UnifiedDiff(from, to, a, b)
	if err != nil {
		s = fmt.Sprintf("(%s: no diff: %v)\n", what, err)
	}
	fmt.Fprint(r.out, r.redact(s))
}

// tokenRE finds bootstrap tokens, e.g. the old token in an old script.
var tokenRE = regexp.MustCompile(`\b([a-z0-9]{6})\.[a-z0-9]{16}\b`)

func (r *runner) redact(s string) string {
	for _, sec := range r.secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return tokenRE.ReplaceAllString(s, "$1."+redacted)
}

func (r *runner) apply(ctx context.Context) error {
	if r.scriptURL != nil && r.scriptURL.Scheme == "http" && r.ident == nil {
		fmt.Fprintf(r.warn, "warning: --script-url is plain http: the script carries a bootstrap token; serve it over https from a private bucket or through a signed URL\n")
	}
	if !r.rotate {
		if err := r.applyAffinity(ctx); err != nil {
			return err
		}
	}
	if r.ident != nil {
		if err := r.applyIdentity(ctx); err != nil {
			return err
		}
	} else {
		// The approver before the token its nodes' CSRs wait for.
		if err := r.applyObjects(ctx, r.approver); err != nil {
			return err
		}
		if err := r.applyToken(ctx); err != nil {
			return err
		}
	}
	if err := r.applyScript(); err != nil {
		return err
	}
	if err := r.applyScriptURL(ctx); err != nil {
		return err
	}
	if r.rotate {
		if err := r.retireTokens(ctx); err != nil {
			return err
		}
	}
	switch {
	case r.changes == 0:
		fmt.Fprintln(r.out, "no changes")
	case r.o.DryRun:
		fmt.Fprintf(r.out, "dry run: %d change(s) shown, nothing changed\n", r.changes)
	}
	return nil
}

func (r *runner) applyAffinity(ctx context.Context) error {
	if r.mode == ModeOverlay {
		return r.applyOverlayAffinity(ctx)
	}
	ref := r.opts.onprem
	want, n, created := mergeExclusions(&r.ds.Spec.Template.Spec)
	if equality.Semantic.DeepEqual(want, r.ds.Spec.Template.Spec.Affinity) {
		return nil
	}
	terms := fmt.Sprintf("%d of %d required terms", n, len(want.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms))
	if created {
		terms = "a new required term"
	}
	if err := r.writeAffinity(ctx, want, func(spec *corev1.PodSpec) *corev1.Affinity {
		a, _, _ := mergeExclusions(spec)
		return a
	}); err != nil {
		return err
	}
	r.change("%s DaemonSet %s: nodeAffinity += %s and %s (%s)", past(r.o.DryRun, "update", "updated"), ref, describe(exclusions()[0]), describe(exclusions()[1]), terms)
	before, _ := yaml.Marshal(map[string]any{"affinity": r.ds.Spec.Template.Spec.Affinity})
	after, _ := yaml.Marshal(map[string]any{"affinity": want})
	r.diff("DaemonSet", "DaemonSet "+ref.String()+" spec.template.spec", "DaemonSet "+ref.String()+" spec.template.spec", before, after)
	return nil
}

func (r *runner) applyToken(ctx context.Context) error {
	t := r.tok
	if r.newTok {
		if _, err := r.c.Core.Secrets(kubeSystem).Create(ctx, t.obj, metav1.CreateOptions{DryRun: r.dry()}); err != nil {
			return fmt.Errorf("create bootstrap token %s for node pool %s: %w", t.id, r.opts.pool, err)
		}
		r.change(past(r.o.DryRun, "create", "created")+" bootstrap token %s for node pool %s, %s", t.id, r.opts.pool, t.expiry())
	}
	if r.o.DryRun {
		return nil
	}
	return waitSigned(ctx, r.c, t, r.o.PollInterval, r.o.PollTimeout)
}

// past picks the verb of a change line: "create" (change prefixes "would "
// in a dry run) or "created".
func past(dry bool, verb, done string) string {
	if dry {
		return verb
	}
	return done
}

func (r *runner) applyScript() error {
	same := r.haveScript && bytes.Equal(r.oldScript, r.script)
	from := r.scriptOut
	if !r.haveScript {
		from = "/dev/null"
	}
	switch {
	case same && r.oldMode == 0o600:
		return nil
	case same:
		if !r.o.DryRun {
			if err := os.Chmod(r.scriptOut, 0o600); err != nil {
				return fmt.Errorf("chmod 0600 %s: %w", r.scriptOut, err)
			}
		}
		r.change("%s %s to 0600 (it carries a bootstrap token; it was %04o)", past(r.o.DryRun, "chmod", "chmod-ed"), r.scriptOut, r.oldMode)
		return nil
	}
	if !r.o.DryRun {
		if err := writeAtomic(r.scriptOut, r.script); err != nil {
			return err
		}
	}
	r.change("%s %s (0600)", past(r.o.DryRun, "write", "wrote"), r.scriptOut)
	r.diff("script", from, r.scriptOut, r.oldScript, r.script)
	return nil
}

// writeAtomic writes data to path through a 0600 temporary file in the
// same directory, renamed into place.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok = true
	return nil
}

func (r *runner) applyScriptURL(ctx context.Context) error {
	if r.scriptURL == nil {
		return nil
	}
	want := r.scriptURL.String()
	where := kubeSystem + "/" + ackAgentConfig
	shown := redactURL(r.scriptURL)
	if r.agent == nil {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ackAgentConfig, Namespace: kubeSystem}, Data: map[string]string{scriptPathKey: want}}
		if _, err := r.c.Core.ConfigMaps(kubeSystem).Create(ctx, cm, metav1.CreateOptions{DryRun: r.dry()}); err != nil {
			return fmt.Errorf("create ConfigMap %s: %w", where, err)
		}
		r.change("set %s %s=%s (a new ConfigMap)", where, scriptPathKey, shown)
		r.diff("ConfigMap", "/dev/null", "ConfigMap "+where, nil, []byte(scriptPathKey+": "+shown+"\n"))
		return nil
	}
	old := r.agent.Data[scriptPathKey]
	if old == want {
		return nil
	}
	if r.o.DryRun {
		cm := r.agent.DeepCopy()
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[scriptPathKey] = want
		if _, err := r.c.Core.ConfigMaps(kubeSystem).Update(ctx, cm, metav1.UpdateOptions{DryRun: r.dry()}); err != nil {
			return fmt.Errorf("update ConfigMap %s (dry run): %w", where, err)
		}
	} else {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cm, err := r.c.Core.ConfigMaps(kubeSystem).Get(ctx, ackAgentConfig, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if cm.Data[scriptPathKey] == want {
				return nil
			}
			if cm.Data == nil {
				cm.Data = map[string]string{}
			}
			cm.Data[scriptPathKey] = want
			_, err = r.c.Core.ConfigMaps(kubeSystem).Update(ctx, cm, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("update ConfigMap %s: %w", where, err)
		}
	}
	r.change("set %s %s=%s", where, scriptPathKey, shown)
	oldShown := old
	if u, err := url.Parse(old); err == nil && old != "" {
		oldShown = redactURL(u)
	}
	r.diff("ConfigMap", "ConfigMap "+where, "ConfigMap "+where, []byte(scriptPathKey+": "+oldShown+"\n"), []byte(scriptPathKey+": "+shown+"\n"))
	return nil
}

// retireTokens lets every other token of the pool expire within the grace
// period (kube-controller-manager's tokencleaner deletes it then), and
// deletes the expired ones (all of them with a grace of 0).
func (r *runner) retireTokens(ctx context.Context) error {
	target := r.now.Add(r.o.Grace).UTC().Truncate(time.Second)
	for _, t := range r.tokens {
		if t.id == r.tok.id {
			continue
		}
		name := t.obj.Name
		var why string
		switch {
		case t.expired(r.now):
			why = pastExpiry(t)
		case r.o.Grace == 0:
			why = "--grace 0"
		}
		if why != "" {
			// Only the Secret listed as this pool's token, not one made since under its name.
			uid := t.obj.UID
			opts := metav1.DeleteOptions{DryRun: r.dry()}
			if uid != "" {
				opts.Preconditions = &metav1.Preconditions{UID: &uid}
			}
			err := r.c.Core.Secrets(kubeSystem).Delete(ctx, name, opts)
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete bootstrap token %s of node pool %s: %w", t.id, r.opts.pool, err)
			}
			r.change("%s bootstrap token %s of node pool %s (%s)", past(r.o.DryRun, "delete", "deleted"), t.id, r.opts.pool, why)
			continue
		}
		if !t.expires.IsZero() && !t.expires.After(target) {
			continue // it expires within the grace already
		}
		exp := []byte(target.Format(time.RFC3339))
		if r.o.DryRun {
			s := t.obj.DeepCopy()
			s.Data[bootstrapapi.BootstrapTokenExpirationKey] = exp
			if _, err := r.c.Core.Secrets(kubeSystem).Update(ctx, s, metav1.UpdateOptions{DryRun: r.dry()}); err != nil {
				return fmt.Errorf("update bootstrap token %s of node pool %s (dry run): %w", t.id, r.opts.pool, err)
			}
		} else {
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				s, err := r.c.Core.Secrets(kubeSystem).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				if s.Labels[PoolLabel] != r.opts.pool || s.Type != bootstrapapi.SecretTypeBootstrapToken {
					return fmt.Errorf("the Secret %s/%s is no longer a bootstrap token of node pool %s", kubeSystem, name, r.opts.pool)
				}
				if s.Data == nil {
					s.Data = map[string][]byte{}
				}
				s.Data[bootstrapapi.BootstrapTokenExpirationKey] = exp
				_, err = r.c.Core.Secrets(kubeSystem).Update(ctx, s, metav1.UpdateOptions{})
				return err
			})
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("shorten bootstrap token %s of node pool %s: %w", t.id, r.opts.pool, err)
			}
		}
		r.change("%s bootstrap token %s of node pool %s: now expires %s (was: %s); kube-controller-manager's tokencleaner deletes it then",
			past(r.o.DryRun, "shorten", "shortened"), t.id, r.opts.pool, target.Format(time.RFC3339), t.expiry())
	}
	return nil
}

// applyOverlayAffinity: in overlay mode the on-premises CNI runs on the
// cloud nodes too (the Terway page's scenario 1): setup removes the
// external exclusion it adds in the other modes, and keeps virtual nodes
// out.
func (r *runner) applyOverlayAffinity(ctx context.Context) error {
	ref := r.opts.onprem
	want, added, removed := overlayAffinity(&r.ds.Spec.Template.Spec)
	if equality.Semantic.DeepEqual(want, r.ds.Spec.Template.Spec.Affinity) || added+removed == 0 {
		return nil
	}
	if err := r.writeAffinity(ctx, want, func(spec *corev1.PodSpec) *corev1.Affinity {
		a, _, _ := overlayAffinity(spec)
		return a
	}); err != nil {
		return err
	}
	var what []string
	if removed > 0 {
		what = append(what, fmt.Sprintf("-= %s (%d term(s)): overlay mode, the cloud nodes run this CNI", describe(exclusions()[0]), removed))
	}
	if added > 0 {
		what = append(what, fmt.Sprintf("+= %s (%d term(s))", describe(exclusions()[1]), added))
	}
	r.change("%s DaemonSet %s: nodeAffinity %s", past(r.o.DryRun, "update", "updated"), ref, strings.Join(what, "; "))
	before, _ := yaml.Marshal(map[string]any{"affinity": r.ds.Spec.Template.Spec.Affinity})
	after, _ := yaml.Marshal(map[string]any{"affinity": want})
	r.diff("DaemonSet", "DaemonSet "+ref.String()+" spec.template.spec", "DaemonSet "+ref.String()+" spec.template.spec", before, after)
	return nil
}

// writeAffinity sets the on-premises CNI DaemonSet's affinity: want in a
// dry run; else, read again and recomputed by of until no conflict.
func (r *runner) writeAffinity(ctx context.Context, want *corev1.Affinity, of func(*corev1.PodSpec) *corev1.Affinity) error {
	ref := r.opts.onprem
	if r.o.DryRun {
		ds := r.ds.DeepCopy()
		ds.Spec.Template.Spec.Affinity = want
		if _, err := r.c.Apps.DaemonSets(ref.ns).Update(ctx, ds, metav1.UpdateOptions{DryRun: r.dry()}); err != nil {
			return fmt.Errorf("update DaemonSet %s (dry run): %w", ref, err)
		}
		return nil
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ds, err := r.c.Apps.DaemonSets(ref.ns).Get(ctx, ref.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		a := of(&ds.Spec.Template.Spec)
		if equality.Semantic.DeepEqual(a, ds.Spec.Template.Spec.Affinity) {
			return nil
		}
		ds.Spec.Template.Spec.Affinity = a
		_, err = r.c.Apps.DaemonSets(ref.ns).Update(ctx, ds, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("update DaemonSet %s: %w", ref, err)
	}
	return nil
}
