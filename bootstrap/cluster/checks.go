package cluster

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"sigs.k8s.io/yaml"

	"github.com/hybridnode/hybridnode/bootstrap/artifact"
	"github.com/hybridnode/hybridnode/bootstrap/doctor/report"
	"github.com/hybridnode/hybridnode/bootstrap/tokenservice"
	"github.com/hybridnode/hybridnode/kubelet"
)

// CheckNames are the checks of `check`, in the order they run and print.
func CheckNames() []string {
	var out []string
	for _, c := range checks() {
		out = append(out, c.name)
	}
	return out
}

type check struct {
	name string
	run  func(ctx context.Context, e *checkEnv) report.Result
}

func checks() []check {
	return []check{
		{"network-mode", checkNetworkMode},
		{"onprem-cni", checkOnprem},
		{"cloud-cni", checkCloud},
		{"eni-config", checkENIConfig},
		{"add-node-script", checkScriptPath},
		{"pod-subnet", checkPodSubnet},
		{"node-pool-token", checkPoolToken},
		{"cluster-info", checkClusterInfo},
		{"token-expiry", checkTokenExpiry},
		{"artifacts", checkArtifacts},
		{"token-service", checkTokenService},
	}
}

// CheckReport is a `check` run.
type CheckReport struct {
	APIServer string               `json:"apiServer"`
	NodePool  string               `json:"nodePool"`
	Checks    []report.NamedResult `json:"checks"`
	Summary   map[string]int       `json:"summary"`
	Result    string               `json:"result"` // healthy, warnings, failed
}

func (r *CheckReport) text() *report.Report {
	return &report.Report{Title: fmt.Sprintf("hybridnode cluster check: API server %s, node pool %s", r.APIServer, r.NodePool),
		Checks: r.Checks, Summary: r.Summary, Result: r.Result}
}

// WriteText writes the table doctor writes, under its own header.
func (r *CheckReport) WriteText(w io.Writer) { r.text().WriteText(w) }

// WriteJSON writes the report as indented JSON.
func (r *CheckReport) WriteJSON(w io.Writer) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// Failed lists the names of the failed checks.
func (r *CheckReport) Failed() []string { return r.text().Failed() }

// checkEnv is what the checks share; memos are filled by the first check
// that needs them.
type checkEnv struct {
	c   *Client
	o   options
	now time.Time

	tokensDone bool
	tokens     []token // every bootstrap token
	tokensErr  error

	kubeadmDone bool
	kubeadm     *corev1.ConfigMap
	kubeadmErr  error

	serviceDone bool
	service     *corev1.ConfigMap // the token service's; nil: none
	serviceErr  error

	netDone bool
	net     NetworkDetection
	netErr  error
}

// network is what the cluster says of its on-premises network, read once
// for the network-mode row and the checks that depend on the mode.
func (e *checkEnv) network(ctx context.Context) (NetworkDetection, error) {
	if !e.netDone {
		e.netDone = true
		e.net, e.netErr = networkOf(ctx, e.c, e.o.onprem)
	}
	return e.net, e.netErr
}

// networkMode is the on-premises network's mode: --network-mode, else the
// detected one ("" when neither says).
func (e *checkEnv) networkMode(ctx context.Context) (string, error) {
	if e.o.networkMode != "" {
		return e.o.networkMode, nil
	}
	d, err := e.network(ctx)
	return d.Mode, err
}

// overlaySkip: in overlay mode Terway is not used (scenario 1 of the Terway
// page): the Terway checks do not apply.
func overlaySkip(ctx context.Context, e *checkEnv) (report.Result, bool) {
	mode, err := e.networkMode(ctx)
	if err != nil || mode != ModeOverlay {
		return report.Result{}, false
	}
	return report.Result{Status: report.Skip, Evidence: "overlay mode (see network-mode): the cloud nodes run the on-premises CNI; Terway is not used (" + scenario(ModeOverlay) + ")"}, true
}

// tokenService is the token service's ConfigMap, when setup --credentials
// identity made one (nil: none).
func (e *checkEnv) tokenService(ctx context.Context) (*corev1.ConfigMap, error) {
	if !e.serviceDone {
		e.serviceDone = true
		cm, err := e.c.Core.ConfigMaps(kubeSystem).Get(ctx, TokenServiceName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			e.serviceErr = err
		default:
			e.service = cm
		}
	}
	return e.service, e.serviceErr
}

// Check runs every check, read-only. Invalid options are an *InputError;
// an API server that does not answer is an error; every other problem is a
// check's FAIL in the report.
func Check(ctx context.Context, c *Client, o Options) (*CheckReport, error) {
	var p problems
	opts := o.parse(&p)
	if o.ArtifactURL != "" {
		if _, err := artifact.NewSource(absSource(o.ArtifactURL)); err != nil && !isLocal(o.ArtifactURL) {
			p.add("--artifact-url", o.ArtifactURL, "an http(s):// URL or a directory with SHA256SUMS")
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	if _, err := c.Discovery.ServerVersion(); err != nil {
		return nil, fmt.Errorf("the API server %s does not answer: %w", c.Host, err)
	}
	e := &checkEnv{c: c, o: opts, now: opts.now()}
	var r report.Report
	for _, ch := range checks() {
		r.Add(ch.name, runCheck(ctx, e, ch))
	}
	return &CheckReport{APIServer: c.Host, NodePool: opts.pool, Checks: r.Checks, Summary: r.Summary, Result: r.Result}, nil
}

// isLocal: not a URL (a directory on the nodes, maybe not on this machine).
func isLocal(s string) bool { return !strings.Contains(s, "://") || strings.HasPrefix(s, "file://") }

func runCheck(ctx context.Context, e *checkEnv, ch check) (res report.Result) {
	defer func() {
		if p := recover(); p != nil {
			res = report.Result{Status: report.Fail, Evidence: fmt.Sprintf("the check crashed: %v", p), Remedy: "report this as a hybridnode bug"}
		}
	}()
	return ch.run(ctx, e)
}

// apiFail is a check's FAIL when the API server refused or failed a read.
func apiFail(what string, err error) report.Result {
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		return report.Result{Status: report.Fail, Evidence: what + ": " + err.Error(),
			Remedy: "use a kubeconfig whose user may read kube-system, kube-public and Nodes (cluster-admin)"}
	}
	return report.Result{Status: report.Fail, Evidence: what + ": " + err.Error(), Remedy: "check the API server and the kubeconfig"}
}

func (e *checkEnv) allTokens(ctx context.Context) ([]token, error) {
	if !e.tokensDone {
		e.tokens, e.tokensErr = bootstrapTokens(ctx, e.c, "")
		e.tokensDone = true
	}
	return e.tokens, e.tokensErr
}

// poolToken is the node pool's newest bootstrap token (nil: none).
func (e *checkEnv) poolToken(ctx context.Context) (*token, error) {
	all, err := e.allTokens(ctx)
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].pool == e.o.pool {
			return &all[i], nil
		}
	}
	return nil, nil
}

func (e *checkEnv) kubeadmConfig(ctx context.Context) (*corev1.ConfigMap, error) {
	if !e.kubeadmDone {
		e.kubeadm, e.kubeadmErr = e.c.Core.ConfigMaps(kubeSystem).Get(ctx, kubeadmConfig, metav1.GetOptions{})
		e.kubeadmDone = true
	}
	return e.kubeadm, e.kubeadmErr
}

// labelledNodes are the names of the Nodes labelled key=value.
func labelledNodes(ctx context.Context, c *Client, key, value string) (map[string]bool, error) {
	list, err := c.Core.Nodes().List(ctx, metav1.ListOptions{LabelSelector: labels.Set{key: value}.String()})
	if err != nil {
		return nil, fmt.Errorf("list Nodes %s=%s: %w", key, value, err)
	}
	out := map[string]bool{}
	for _, n := range list.Items {
		if n.Labels[key] == value {
			out[n.Name] = true
		}
	}
	return out, nil
}

// listNames prints at most a few names.
func listNames(names []string) string {
	sort.Strings(names)
	if len(names) > 5 {
		return strings.Join(names[:5], ", ") + fmt.Sprintf(" and %d more", len(names)-5)
	}
	return strings.Join(names, ", ")
}

func affinityRemedy(r ref) string {
	return SetupCommand + " (it adds " + describe(exclusions()[0]) + " and " + describe(exclusions()[1]) + " to every required nodeSelectorTerm of DaemonSet " + r.String() +
		"; by hand: kubectl -n " + r.ns + " patch daemonset " + r.name + " with those two matchExpressions in each term of spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution)"
}

func checkOnprem(ctx context.Context, e *checkEnv) report.Result {
	r := e.o.onprem
	ds, err := e.c.Apps.DaemonSets(r.ns).Get(ctx, r.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return report.Result{Status: report.Fail, Evidence: "DaemonSet " + r.String() + " not found",
			Remedy: "name the on-premises CNI's DaemonSet with --onprem-cni NS/NAME (Flannel: kube-flannel/kube-flannel-ds, Cilium: kube-system/cilium)"}
	}
	if err != nil {
		return apiFail("get DaemonSet "+r.String(), err)
	}
	if mode, err := e.networkMode(ctx); err == nil && mode == ModeOverlay {
		return checkOnpremOverlay(ds, r)
	}
	var bad []string
	missing := missingExclusions(&ds.Spec.Template.Spec)
	if len(missing) > 0 {
		bad = append(bad, "its nodeAffinity lets it onto cloud or virtual nodes: "+strings.Join(missing, "; "))
	}
	onBad, err := podsOnCloudNodes(ctx, e.c, ds)
	if err != nil {
		return apiFail("DaemonSet "+r.String()+"'s pods", err)
	}
	if len(onBad) > 0 {
		bad = append(bad, fmt.Sprintf("%d of its pod(s) run on cloud or virtual nodes: %s", len(onBad), listNames(onBad)))
	}
	if len(bad) > 0 {
		return report.Result{Status: report.Fail, Evidence: "DaemonSet " + r.String() + ": " + strings.Join(bad, "; "), Remedy: affinityRemedy(r)}
	}
	return report.Result{Status: report.Pass, Evidence: fmt.Sprintf("DaemonSet %s excludes %s=true and %s=%s nodes in every required term, and none of its pods runs there", r, ExternalLabel, TypeLabel, VirtualKubelet)}
}

// checkOnpremOverlay: in overlay mode the on-premises CNI must reach the
// cloud nodes (they have no other), and still stay off virtual nodes.
func checkOnpremOverlay(ds *appsv1.DaemonSet, r ref) report.Result {
	spec := &ds.Spec.Template.Spec
	if off := excludedFromCloud(spec); len(off) > 0 {
		return report.Result{Status: report.Fail, Evidence: "overlay mode (see network-mode): DaemonSet " + r.String() + " keeps off the cloud nodes, which have no other CNI and never become Ready: " + strings.Join(off, "; "),
			Remedy: SetupCommand + " (in overlay mode it removes " + describe(exclusions()[0]) + " from every required nodeSelectorTerm of DaemonSet " + r.String() + "), or remove the exclusion where the CNI is installed from"}
	}
	evidence := fmt.Sprintf("overlay mode: DaemonSet %s may run on the cloud nodes (the same CNI on both sides)", r)
	if _, added, _ := overlayAffinity(spec); added > 0 {
		evidence += fmt.Sprintf("; %d required term(s) do not exclude %s=%s nodes, where a DaemonSet's pods never start (setup adds it)", added, TypeLabel, VirtualKubelet)
	}
	return report.Result{Status: report.Pass, Evidence: evidence}
}

// podsOnCloudNodes lists "pod@node" for the DaemonSet's live pods on nodes
// labelled alibabacloud.com/external=true or type=virtual-kubelet.
func podsOnCloudNodes(ctx context.Context, c *Client, ds *appsv1.DaemonSet) ([]string, error) {
	cloud, err := labelledNodes(ctx, c, ExternalLabel, "true")
	if err != nil {
		return nil, err
	}
	virtual, err := labelledNodes(ctx, c, TypeLabel, VirtualKubelet)
	if err != nil {
		return nil, err
	}
	if len(cloud)+len(virtual) == 0 {
		return nil, nil
	}
	opts := metav1.ListOptions{}
	if ds.Spec.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		if err != nil {
			return nil, fmt.Errorf("DaemonSet %s/%s's selector: %w", ds.Namespace, ds.Name, err)
		}
		opts.LabelSelector = sel.String()
	}
	pods, err := c.Core.Pods(ds.Namespace).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("list pods in %s: %w", ds.Namespace, err)
	}
	var out []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || p.Spec.NodeName == "" || !ownedBy(&p, ds) {
			continue
		}
		if cloud[p.Spec.NodeName] || virtual[p.Spec.NodeName] {
			out = append(out, p.Name+"@"+p.Spec.NodeName)
		}
	}
	return out, nil
}

func ownedBy(p *corev1.Pod, ds *appsv1.DaemonSet) bool {
	for _, o := range p.OwnerReferences {
		if o.UID == ds.UID {
			return true
		}
	}
	return false
}

func checkCloud(ctx context.Context, e *checkEnv) report.Result {
	if skip, ok := overlaySkip(ctx, e); ok {
		return skip
	}
	r := e.o.cloud
	ds, err := e.c.Apps.DaemonSets(r.ns).Get(ctx, r.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return report.Result{Status: report.Fail, Evidence: "DaemonSet " + r.String() + " not found",
			Remedy: "install Terway for the hybrid cluster (ACK One), or name its DaemonSet with --cloud-cni NS/NAME"}
	}
	if err != nil {
		return apiFail("get DaemonSet "+r.String(), err)
	}
	if !selectsExternal(&ds.Spec.Template.Spec) {
		return report.Result{Status: report.Fail, Evidence: fmt.Sprintf("DaemonSet %s does not select %s=true (neither its nodeSelector nor every required nodeAffinity term): it may run on on-premises nodes", r, ExternalLabel),
			Remedy: "restore Terway's own node selection (reinstall the ACK One add-on); hybridnode never modifies the cloud CNI"}
	}
	cloud, err := labelledNodes(ctx, e.c, ExternalLabel, "true")
	if err != nil {
		return apiFail("cloud nodes", err)
	}
	if d := int(ds.Status.DesiredNumberScheduled); d != len(cloud) {
		return report.Result{Status: report.Fail, Evidence: fmt.Sprintf("DaemonSet %s wants %d pod(s), but %d Node(s) are labelled %s=true", r, d, len(cloud), ExternalLabel),
			Remedy: "check the cloud nodes' taints against Terway's tolerations, and the DaemonSet's events (kubectl -n " + r.ns + " describe daemonset " + r.name + ")"}
	}
	return report.Result{Status: report.Pass, Evidence: fmt.Sprintf("DaemonSet %s selects %s=true and wants a pod on each of the %d cloud node(s)", r, ExternalLabel, len(cloud))}
}

func checkENIConfig(ctx context.Context, e *checkEnv) report.Result {
	if skip, ok := overlaySkip(ctx, e); ok {
		return skip
	}
	where := kubeSystem + "/" + eniConfig
	cm, err := e.c.Core.ConfigMaps(kubeSystem).Get(ctx, eniConfig, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return report.Result{Status: report.Fail, Evidence: "ConfigMap " + where + " not found: Terway has no configuration",
			Remedy: "install Terway for the hybrid cluster (ACK One), which creates " + where + " with the ENI credentials"}
	}
	if err != nil {
		return apiFail("get ConfigMap "+where, err)
	}
	raw, ok := cm.Data["eni_conf"]
	if !ok || strings.TrimSpace(raw) == "" {
		return report.Result{Status: report.Fail, Evidence: "ConfigMap " + where + " has no eni_conf", Remedy: "reinstall Terway, or restore eni_conf in " + where}
	}
	var conf map[string]any
	if err := json.Unmarshal([]byte(raw), &conf); err != nil {
		// Neither the JSON nor the decoder's message (which quotes it) is shown.
		at := ""
		var se *json.SyntaxError
		if errors.As(err, &se) {
			at = fmt.Sprintf(" (syntax error at byte %d)", se.Offset)
		}
		return report.Result{Status: report.Fail, Evidence: "eni_conf in " + where + " is not a JSON object" + at + "; its content is not shown: it holds credentials",
			Remedy: "fix eni_conf in " + where + " (kubectl -n kube-system edit configmap eni-config)"}
	}
	str := func(k string) bool { s, ok := conf[k].(string); return ok && strings.TrimSpace(s) != "" }
	if left := placeholders(conf); len(left) > 0 {
		return report.Result{Status: report.Fail, Evidence: "eni_conf in " + where + " still holds the documentation's placeholders in " + strings.Join(left, ", ") + ": Terway cannot use them",
			Remedy: "replace them with this VPC's values (kubectl -n kube-system edit configmap eni-config): the Service CIDR, the security group ID and the vSwitch IDs of each zone"}
	}
	switch {
	case str("access_key") && str("access_secret"):
		return report.Result{Status: report.Pass, Evidence: "eni_conf in " + where + " has an access_key and an access_secret (not shown)"}
	case str("credential_path"):
		return report.Result{Status: report.Pass, Evidence: "eni_conf in " + where + " has a credential_path"}
	}
	return report.Result{Status: report.Fail, Evidence: "eni_conf in " + where + " has neither a non-empty access_key and access_secret nor a credential_path: Terway cannot manage ENIs",
		Remedy: "set the RAM credentials Terway uses in eni_conf (access_key and access_secret, or credential_path)"}
}

// MaxScriptPathLen is the longest addNodeScriptPath ACK accepts (found
// refusing a longer one; no public page states the limit).
const MaxScriptPathLen = 1024

// placeholderRE finds what the "Deploy and configure Terway" page's sample
// eni_conf holds in place of a cluster's values: Go template fields such as
// {{.ServiceCIDR}} and {{.SecurityGroupId}}, and the sample's vSwitch
// placeholder VswitchId
// (https://www.alibabacloud.com/help/en/ack/distributed-cloud-container-platform-for-kubernetes/user-guide/deploy-and-configure-terway).
var placeholderRE = regexp.MustCompile(`\{\{[^}]*\}\}|(?i)^vsw(itch)?[-_]?id$`)

// placeholders are the eni_conf keys whose values are still the sample's
// placeholders (credentials are never looked at or shown).
func placeholders(conf map[string]any) []string {
	var out []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch t := v.(type) {
		case string:
			if placeholderRE.MatchString(strings.TrimSpace(t)) {
				out = append(out, path)
			}
		case []any:
			for i, x := range t {
				walk(fmt.Sprintf("%s[%d]", path, i), x)
			}
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if k == "access_key" || k == "access_secret" {
					continue
				}
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, t[k])
			}
		}
	}
	walk("", conf)
	return out
}

func checkScriptPath(ctx context.Context, e *checkEnv) report.Result {
	where := kubeSystem + "/" + ackAgentConfig
	remedy := SetupCommand + " --script-url URL (the https URL where the node-pool script is uploaded)"
	cm, err := e.c.Core.ConfigMaps(kubeSystem).Get(ctx, ackAgentConfig, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return report.Result{Status: report.Fail, Evidence: "ConfigMap " + where + " not found: ACK has no script to run on new ECS nodes", Remedy: remedy}
	}
	if err != nil {
		return apiFail("get ConfigMap "+where, err)
	}
	p := strings.TrimSpace(cm.Data[scriptPathKey])
	u, perr := url.Parse(p)
	switch {
	case p == "":
		return report.Result{Status: report.Fail, Evidence: where + " has no " + scriptPathKey + ": ACK has no script to run on new ECS nodes", Remedy: remedy}
	case perr != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return report.Result{Status: report.Fail, Evidence: fmt.Sprintf("%s's %s %q is not an http(s) URL", where, scriptPathKey, p), Remedy: remedy}
	case len(p) > MaxScriptPathLen:
		return report.Result{Status: report.Fail, Evidence: fmt.Sprintf("%s's %s is %d characters long, over the %d ACK accepts: %s", where, scriptPathKey, len(p), MaxScriptPathLen, redactURL(u)),
			Remedy: "use a shorter URL (a shorter object path, or a signed URL with a shorter expiry and no extra query), then " + remedy}
	case u.Scheme == "http":
		return report.Result{Status: report.Warn, Evidence: fmt.Sprintf("%s's %s is plain http: %s", where, scriptPathKey, redactURL(u)),
			Remedy: "the script carries a bootstrap token: serve it over https from a private bucket or through a signed URL, then " + remedy}
	}
	return report.Result{Status: report.Pass, Evidence: fmt.Sprintf("%s's %s is %s", where, scriptPathKey, redactURL(u))}
}

// redactURL hides a signed URL's query (its signature) and any user info.
func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	if c.RawQuery != "" {
		c.RawQuery = "..."
	}
	return c.String()
}

func checkPodSubnet(ctx context.Context, e *checkEnv) report.Result {
	if !e.o.hasVPC {
		return report.Result{Status: report.Skip, Evidence: "no --vpc-cidr given", Remedy: "pass --vpc-cidr with the VPC's CIDR to compare it with the cluster's pod and service subnets"}
	}
	cm, err := e.kubeadmConfig(ctx)
	if apierrors.IsNotFound(err) {
		return report.Result{Status: report.Skip, Evidence: "no " + kubeSystem + "/" + kubeadmConfig + " ConfigMap (not a kubeadm cluster?)"}
	}
	if err != nil {
		return apiFail("get ConfigMap "+kubeSystem+"/"+kubeadmConfig, err)
	}
	return report.SubnetsResult(cm.Data["ClusterConfiguration"], e.o.vpc)
}

func checkPoolToken(ctx context.Context, e *checkEnv) report.Result {
	t, err := e.poolToken(ctx)
	if err != nil {
		return apiFail("bootstrap tokens", err)
	}
	remedy := SetupCommand + " --node-pool " + e.o.pool + " (or " + RotateCommand + ")"
	if t == nil {
		if cm, err := e.tokenService(ctx); err == nil && cm != nil {
			return report.Result{Status: report.Skip, Evidence: fmt.Sprintf("node pool %s has no bootstrap token: its nodes get theirs from the token service (credentials identity; see token-service)", e.o.pool)}
		}
	}
	switch {
	case t == nil:
		return report.Result{Status: report.Fail, Evidence: fmt.Sprintf("no bootstrap token Secret in %s is labelled %s=%s: nodes of this pool cannot join", kubeSystem, PoolLabel, e.o.pool), Remedy: remedy}
	case t.expired(e.now):
		return report.Result{Status: report.Fail, Evidence: fmt.Sprintf("node pool %s's newest bootstrap token %s %s: nodes of this pool cannot join", e.o.pool, t.id, pastExpiry(*t)), Remedy: remedy}
	case t.expires.IsZero():
		return report.Result{Status: report.Pass, Evidence: fmt.Sprintf("node pool %s's newest bootstrap token is %s; it never expires (see token-expiry)", e.o.pool, t.id)}
	}
	return report.Result{Status: report.Pass, Evidence: fmt.Sprintf("node pool %s's newest bootstrap token is %s, %s (in %s)", e.o.pool, t.id, t.expiry(), hours(t.expires.Sub(e.now)))}
}

// hours prints a duration as 20h05m (or 12m).
func hours(d time.Duration) string {
	m := int(d.Round(time.Minute) / time.Minute)
	if m < 60 {
		return fmt.Sprintf("%dm", m)
	}
	return fmt.Sprintf("%dh%02dm", m/60, m%60)
}

func pastExpiry(t token) string {
	if t.badExpiry {
		return "has " + t.expiry()
	}
	return "expired at " + t.expires.UTC().Format(time.RFC3339)
}

func checkClusterInfo(ctx context.Context, e *checkEnv) report.Result {
	t, err := e.poolToken(ctx)
	if err != nil {
		return apiFail("bootstrap tokens", err)
	}
	if t == nil {
		return report.Result{Status: report.Skip, Evidence: "node pool " + e.o.pool + " has no bootstrap token (see node-pool-token)"}
	}
	where := kubePublic + "/" + bootstrapapi.ConfigMapClusterInfo
	cm, err := e.c.Core.ConfigMaps(kubePublic).Get(ctx, bootstrapapi.ConfigMapClusterInfo, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return report.Result{Status: report.Fail, Evidence: "ConfigMap " + where + " not found: nodes cannot discover the cluster",
			Remedy: "on a control-plane node: kubeadm init phase bootstrap-token (it creates " + where + ")"}
	}
	if err != nil {
		return apiFail("get ConfigMap "+where, err)
	}
	switch signature(cm, *t) {
	case sigNoKubeconfig:
		return report.Result{Status: report.Fail, Evidence: where + " has no kubeconfig", Remedy: "on a control-plane node: kubeadm init phase bootstrap-token"}
	case sigMissing:
		why := ""
		if t.expired(e.now) {
			why = " (the token expired: the signer drops expired tokens)"
		}
		return report.Result{Status: report.Fail, Evidence: fmt.Sprintf("%s has no jws-kubeconfig-%s signature for token %s%s: a node with it fails discovery", where, t.id, t.id, why), Remedy: signerRemedy}
	case sigMismatch:
		return report.Result{Status: report.Fail, Evidence: fmt.Sprintf("%s's jws-kubeconfig-%s does not verify with token %s's secret", where, t.id, t.id), Remedy: signerRemedy}
	}
	return report.Result{Status: report.Pass, Evidence: fmt.Sprintf("%s carries a valid signature for token %s", where, t.id)}
}

func checkTokenExpiry(ctx context.Context, e *checkEnv) report.Result {
	all, err := e.allTokens(ctx)
	if err != nil {
		return apiFail("bootstrap tokens", err)
	}
	var forever []string
	for _, t := range all {
		if t.expires.IsZero() && !t.badExpiry {
			forever = append(forever, t.id)
		}
	}
	if len(forever) > 0 {
		sort.Strings(forever)
		return report.Result{Status: report.Warn, Evidence: fmt.Sprintf("%d bootstrap token(s) never expire: %s", len(forever), strings.Join(forever, ", ")),
			Remedy: "kubeadm token delete " + strings.Join(forever, " ") + "; for node pools use " + SetupCommand + " and " + RotateCommand + ", which make tokens with a TTL"}
	}
	if len(all) == 0 {
		return report.Result{Status: report.Pass, Evidence: "no bootstrap tokens in " + kubeSystem}
	}
	return report.Result{Status: report.Pass, Evidence: fmt.Sprintf("all %d bootstrap token(s) have an expiration", len(all))}
}

func checkArtifacts(ctx context.Context, e *checkEnv) report.Result {
	if e.o.artifactURL == "" {
		return report.Result{Status: report.Skip, Evidence: "no --artifact-url given", Remedy: "pass --artifact-url (where the nodes download Kubernetes) to check its SHA256SUMS"}
	}
	v, from, err := clusterVersion(ctx, e.c, e.kubeadmConfig)
	if err != nil {
		return apiFail("the cluster's Kubernetes version", err)
	}
	sums, err := loadSums(ctx, e.o.artifactURL)
	if err != nil {
		return report.Result{Status: report.Warn, Evidence: "cannot read SHA256SUMS from this machine: " + err.Error(),
			Remedy: "check --artifact-url; if only the VPC reaches it, run hybridnode doctor on a node instead"}
	}
	have := map[string][]string{}
	var lack []string
	for _, arch := range []string{"amd64", "arm64"} {
		for _, bin := range []string{"kubelet", "kubeadm"} {
			rel := artifact.KubernetesBinary(v, arch, bin)
			if _, ok := sums[rel]; ok {
				have[arch] = append(have[arch], bin)
			} else if arch == "amd64" {
				lack = append(lack, rel)
			}
		}
	}
	var there []string
	for _, arch := range []string{"amd64", "arm64"} {
		if len(have[arch]) == 2 {
			there = append(there, arch)
		}
	}
	listed := "neither amd64 nor arm64 is complete"
	if len(there) > 0 {
		listed = "complete for " + strings.Join(there, " and ")
	}
	if len(lack) > 0 {
		return report.Result{Status: report.Warn, Evidence: fmt.Sprintf("SHA256SUMS at %s lacks %s (the cluster's Kubernetes %s, from %s); %s", e.o.artifactURL, strings.Join(lack, ", "), v, from, listed),
			Remedy: "upload kubelet and kubeadm " + v + " for linux/amd64 (kubernetes/" + v + "/bin/linux/amd64/) and list them in SHA256SUMS, or give setup a --kubernetes-version the source has"}
	}
	return report.Result{Status: report.Pass, Evidence: fmt.Sprintf("SHA256SUMS at %s lists kubelet and kubeadm %s (the cluster's, from %s): %s", e.o.artifactURL, v, from, listed)}
}

// loadSums reads SHA256SUMS from an artifact source, bounded.
func loadSums(ctx context.Context, base string) (artifact.Sums, error) {
	src, err := openSource(base)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*APITimeout)
	defer cancel()
	return artifact.LoadSums(ctx, src)
}

func openSource(base string) (artifact.Fetcher, error) {
	return artifact.NewSource(absSource(base), artifact.WithTimeout(APITimeout),
		artifact.WithBackoff(wait.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Steps: 3}))
}

// clusterVersion is the cluster's Kubernetes version: kubeadm-config's
// ClusterConfiguration kubernetesVersion, else the API server's.
func clusterVersion(ctx context.Context, c *Client, kubeadm func(context.Context) (*corev1.ConfigMap, error)) (v, from string, err error) {
	cm, err := kubeadm(ctx)
	switch {
	case err == nil:
		var cc struct {
			KubernetesVersion string `json:"kubernetesVersion"`
		}
		if yaml.Unmarshal([]byte(cm.Data["ClusterConfiguration"]), &cc) == nil && cc.KubernetesVersion != "" {
			if v, ok := normalVersion(cc.KubernetesVersion); ok {
				return v, kubeSystem + "/" + kubeadmConfig, nil
			}
		}
	case !apierrors.IsNotFound(err):
		return "", "", fmt.Errorf("get ConfigMap %s/%s: %w", kubeSystem, kubeadmConfig, err)
	}
	sv, err := c.Discovery.ServerVersion()
	if err != nil {
		return "", "", fmt.Errorf("the API server's version: %w", err)
	}
	v, ok := normalVersion(sv.GitVersion)
	if !ok {
		return "", "", fmt.Errorf("the API server's version %q is not a Kubernetes version", sv.GitVersion)
	}
	return v, "the API server's version", nil
}

// normalVersion: v<major>.<minor>.<patch>[-pre], without build metadata.
func normalVersion(s string) (string, bool) {
	sv, err := kubelet.ParseVersion(strings.TrimSpace(s))
	if err != nil {
		return "", false
	}
	sv.Build = ""
	return sv.String(), true
}

// checkTokenService: with credentials identity, the token service runs
// (its Deployment has ready replicas) and its certificate's key is the one
// setup pinned in the script (the pin setup recorded in its ConfigMap).
func checkTokenService(ctx context.Context, e *checkEnv) report.Result {
	cm, err := e.tokenService(ctx)
	where := kubeSystem + "/" + TokenServiceName
	if err != nil {
		return apiFail("get ConfigMap "+where, err)
	}
	if cm == nil {
		return report.Result{Status: report.Skip, Evidence: "no token service (no ConfigMap " + where + "): node pools use bootstrap tokens (credentials token)"}
	}
	remedy := SetupCommand + " --credentials identity (with the flags it ran with)"
	d, err := e.c.Apps.Deployments(kubeSystem).Get(ctx, TokenServiceName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return report.Result{Status: report.Fail, Evidence: "no Deployment " + where + ": nodes with credentials instance-identity cannot get a token", Remedy: remedy}
	}
	if err != nil {
		return apiFail("get Deployment "+where, err)
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	ready := d.Status.ReadyReplicas
	sec, err := e.c.Core.Secrets(kubeSystem).Get(ctx, tlsSecretName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return report.Result{Status: report.Fail, Evidence: "no Secret " + kubeSystem + "/" + tlsSecretName() + ": the token service has no certificate", Remedy: remedy}
	}
	if err != nil {
		return apiFail("get Secret "+kubeSystem+"/"+tlsSecretName(), err)
	}
	var pin string
	if b, _ := pem.Decode(sec.Data[corev1.TLSCertKey]); b != nil {
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			pin = report.Pin(c)
		}
	}
	switch {
	case pin == "":
		return report.Result{Status: report.Fail, Evidence: "Secret " + kubeSystem + "/" + tlsSecretName() + " holds no certificate that parses", Remedy: remedy}
	case pin != cm.Data[pinKey]:
		return report.Result{Status: report.Fail, Evidence: fmt.Sprintf("the token service's certificate has pin %s, the node script's is %s: nodes refuse the service", pin, cm.Data[pinKey]),
			Remedy: remedy + ", then upload the script it writes"}
	case ready == 0:
		return report.Result{Status: report.Fail, Evidence: fmt.Sprintf("Deployment %s has 0 of %d replicas ready: nodes with credentials instance-identity cannot get a token", where, want),
			Remedy: "kubectl -n " + kubeSystem + " describe deployment " + TokenServiceName + " and its Pods' logs (kubectl -n " + kubeSystem + " logs deploy/" + TokenServiceName + ")"}
	case ready < want:
		return report.Result{Status: report.Warn, Evidence: fmt.Sprintf("Deployment %s has %d of %d replicas ready, at %s (pin %s)", where, ready, want, cm.Data[urlKey], pin),
			Remedy: "kubectl -n " + kubeSystem + " describe deployment " + TokenServiceName}
	}
	if why, err := autoApproved(ctx, e.c); err != nil {
		return apiFail("list ClusterRoleBindings", err)
	} else if why != "" {
		return report.Result{Status: report.Fail, Evidence: why + ": kube-controller-manager approves their kubelet client CSRs for any node name, around the token service's approver",
			Remedy: "delete that binding (kubeadm binds only system:bootstrappers:kubeadm:default-node-token)"}
	}
	return report.Result{Status: report.Pass, Evidence: fmt.Sprintf("Deployment %s has %d of %d replicas ready, at %s; its certificate has the script's pin %s", where, ready, want, cm.Data[urlKey], pin)}
}

// nodeClientRole is the ClusterRole whose holders kube-controller-manager's
// csrapproving controller auto-approves kubelet client CSRs for.
const nodeClientRole = "system:certificates.k8s.io:certificatesigningrequests:nodeclient"

// autoApproved says which binding, if any, gives the token service's
// tokens the auto-approval (a group every bootstrap token is in, or one of
// the service's).
func autoApproved(ctx context.Context, c *Client) (string, error) {
	list, err := c.Rbac.ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	covers := map[string]bool{"system:bootstrappers": true, "system:authenticated": true,
		tokenservice.IdentityGroup: true, tokenservice.PoolGroup: true}
	for _, b := range list.Items {
		if b.RoleRef.Kind != "ClusterRole" || b.RoleRef.Name != nodeClientRole {
			continue
		}
		for _, s := range b.Subjects {
			if s.Kind == rbacv1.GroupKind && covers[s.Name] {
				return fmt.Sprintf("ClusterRoleBinding %s binds %s to group %s", b.Name, nodeClientRole, s.Name), nil
			}
		}
	}
	return "", nil
}
