package doctor

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"

	"github.com/hybridnode/hybridnode/bootstrap/artifact"
	"github.com/hybridnode/hybridnode/bootstrap/command"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/doctor/report"
	"github.com/hybridnode/hybridnode/bootstrap/hostcheck"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/bootstrap/kubeconfig"
	"github.com/hybridnode/hybridnode/kubelet"
)

// backoffOnce: doctor asks the artifact source twice at most.
var backoffOnce = wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1, Steps: 2}

// Checks is the one list of doctor's checks, in the order they run and print.
func Checks() []Check {
	return []Check{
		{Name: "root", Run: checkRoot},
		{Name: "systemd", Run: checkSystemd},
		{Name: "cgroups", Run: checkCgroups},
		{Name: "swap", Run: hostPrep(hostcheck.CheckSwap)},
		{Name: "kernel-modules", Run: hostPrep(hostcheck.CheckModules)},
		{Name: "sysctls", Run: hostPrep(hostcheck.CheckSysctls)},
		{Name: "port-10250", Run: checkPort},
		{Name: "tools", Run: func(ctx context.Context, e *Env) Result {
			return result(hostcheck.CheckTools(e.FS, e.Facts, e.kubernetesMinor(), e.kubeProxyTools(ctx)...))
		}},
		{Name: "config", Run: checkConfig},
		{Name: "dns", Run: checkDNS},
		{Name: "api-server", Run: checkReach},
		{Name: "clock", Run: checkClock},
		{Name: "ca-pin", Run: checkCAPin},
		{Name: "bootstrap-token", Run: checkToken},
		{Name: "token-service", Run: checkTokenService},
		{Name: "artifacts", Run: checkArtifacts},
		{Name: "containerd", Run: unitCheck(hoststate.ContainerdUnit)},
		{Name: "gpu", Run: checkGPU},
		{Name: "kubelet", Run: unitCheck(hoststate.KubeletUnit)},
		{Name: "proxy", Run: checkProxy},
		{Name: "cni", Run: checkCNI},
		{Name: "pod-subnet", Run: checkPodSubnet},
		{Name: "kube-proxy", Run: checkKubeProxy},
		{Name: "node-name", Run: checkNodeName},
	}
}

// Thresholds of the clock check.
const (
	ClockWarn = 5 * time.Second
	ClockFail = 60 * time.Second
)

const (
	tokenRemedy    = "on a control-plane node: kubeadm token create --ttl 2h --print-join-command, then put the new token where this node's token comes from (HYBRIDNODE_TOKEN, HYBRIDNODE_TOKEN_FILE or token/tokenFile in the config file)"
	externalLabel  = "alibabacloud.com/external"
	kubeadmConfig  = "/api/v1/namespaces/kube-system/configmaps/kubeadm-config"
	notReachedSkip = "the API server was not reached (see api-server)"
)

func result(c hostcheck.Result) Result {
	return Result{Status: c.Status, Evidence: c.Evidence, Remedy: c.Remedy}
}

func checkRoot(_ context.Context, e *Env) Result {
	euid := os.Geteuid
	if e.Geteuid != nil {
		euid = e.Geteuid
	}
	return result(hostcheck.CheckRoot(e.Live, e.FS.Root(), euid()))
}

func checkSystemd(_ context.Context, e *Env) Result { return result(hostcheck.CheckSystemd(e.Facts)) }

// checkCgroups adds to preflight's check what only a joined node shows:
// kubelet 1.35+ on cgroup v1 without failCgroupV1: false does not start.
func checkCgroups(_ context.Context, e *Env) Result {
	minor := e.kubernetesMinor()
	r := result(hostcheck.CheckCgroups(e.Facts, minor))
	if !kubelet.NeedsFailCgroupV1False(minor, e.Facts.CgroupVersion == 1) || !e.joined() {
		return r
	}
	data, err := e.FS.ReadFile(hoststate.KubeletConfig)
	if err != nil {
		return r
	}
	var kc struct {
		FailCgroupV1 *bool `json:"failCgroupV1"`
	}
	if yaml.Unmarshal(data, &kc) == nil && (kc.FailCgroupV1 == nil || *kc.FailCgroupV1) {
		return Result{Status: Fail, Evidence: fmt.Sprintf("cgroup v1 with kubelet 1.%d, and %s does not set failCgroupV1: false: kubelet refuses to start", minor, hoststate.KubeletConfig),
			Remedy: "hybridnode reset, then hybridnode join (it sets failCgroupV1: false through a kubeadm patch), or move the host to cgroup v2"}
	}
	return r
}

// hostPrep: what the join's host phase fixes is a warning before the join
// and a failure after it.
func hostPrep(check func(hostfs.FS) hostcheck.Result) func(context.Context, *Env) Result {
	return func(_ context.Context, e *Env) Result {
		r := result(check(e.FS))
		if r.Status == Fail && !e.joined() {
			r.Status = Warn
		}
		return r
	}
}

// checkPort: before the join nothing may listen on kubelet's port; after
// it, kubelet does.
func checkPort(_ context.Context, e *Env) Result {
	if e.joined() {
		return Result{Status: Skip, Evidence: "the node is joined: port 10250 is kubelet's"}
	}
	return result(hostcheck.CheckPortFree(e.FS, 10250))
}

func checkConfig(_ context.Context, e *Env) Result {
	var ce *config.Error
	switch {
	case e.ConfigErr == nil:
		return Result{Status: Pass, Evidence: "configuration valid (`hybridnode config dump` shows each value and its source)"}
	case errors.As(e.ConfigErr, &ce) && len(ce.Problems) > 0:
		r := Result{Status: Fail, Evidence: fmt.Sprintf("%d problem(s), first: %s", len(ce.Problems), ce.Problems[0]),
			Remedy: "fix the variables named here (`hybridnode config check` lists them all)"}
		for _, p := range ce.Problems {
			r.Details = append(r.Details, p.String())
		}
		return r
	}
	return Result{Status: Fail, Evidence: e.ConfigErr.Error(), Remedy: "fix the configuration (`hybridnode config check`)"}
}

// noEndpoint is the SKIP of every API check without an endpoint.
func noEndpoint() Result {
	return Result{Status: Skip, Evidence: "no apiServerEndpoint configured and the node is not joined",
		Remedy: "set HYBRIDNODE_API_SERVER_ENDPOINT (host:port)"}
}

func checkDNS(ctx context.Context, e *Env) Result {
	ep, _ := e.endpoint()
	if ep == "" {
		return noEndpoint()
	}
	host, _, err := net.SplitHostPort(ep)
	if err != nil {
		return Result{Status: Fail, Evidence: fmt.Sprintf("endpoint %q is not host:port", ep), Remedy: "set HYBRIDNODE_API_SERVER_ENDPOINT to host:port"}
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return Result{Status: Skip, Evidence: host + " is an IP address: nothing to resolve"}
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout())
	defer cancel()
	addrs, err := e.resolver().LookupHost(ctx, host)
	if err != nil || len(addrs) == 0 {
		return Result{Status: Fail, Evidence: fmt.Sprintf("%s does not resolve: %v", host, err),
			Remedy: "check /etc/resolv.conf, and that the name resolves inside the VPC (e.g. a PrivateZone record), or use the API server's IP"}
	}
	return Result{Status: Pass, Evidence: fmt.Sprintf("%s resolves to %s", host, strings.Join(addrs, ", "))}
}

func checkReach(ctx context.Context, e *Env) Result {
	p := e.reach(ctx)
	if p.endpoint == "" {
		return noEndpoint()
	}
	route := "(VPN or Express Connect route, security group, firewall)"
	switch {
	case p.tcpErr != nil:
		return Result{Status: Fail, Evidence: fmt.Sprintf("TCP connect to %s: %v", p.endpoint, p.tcpErr),
			Remedy: "check that kube-apiserver runs and that this VPC reaches " + p.endpoint + " " + route}
	case p.tlsErr != nil:
		return Result{Status: Fail, Evidence: fmt.Sprintf("TCP to %s works, the TLS handshake does not: %v", p.endpoint, p.tlsErr),
			Remedy: "check that " + p.endpoint + " is the API server itself or a TCP pass-through load balancer"}
	case p.httpErr != nil:
		return Result{Status: Fail, Evidence: fmt.Sprintf("TCP and TLS to %s work, GET /version does not: %v", p.endpoint, p.httpErr),
			Remedy: "check kube-apiserver's health on a control-plane node"}
	case p.status >= 500:
		return Result{Status: Fail, Evidence: fmt.Sprintf("GET https://%s/version: HTTP %d", p.endpoint, p.status),
			Remedy: "kube-apiserver answers but is unhealthy: check it (and etcd) on a control-plane node"}
	}
	ev := fmt.Sprintf("TCP, TLS and GET /version on %s: HTTP %d", p.endpoint, p.status)
	if p.version != "" {
		ev += " (" + p.version + ")"
	}
	return Result{Status: Pass, Evidence: ev + fmt.Sprintf(" in %s", p.took.Round(time.Millisecond))}
}

func checkClock(ctx context.Context, e *Env) Result {
	p := e.reach(ctx)
	switch {
	case p.endpoint == "":
		return noEndpoint()
	case p.status == 0:
		return Result{Status: Skip, Evidence: notReachedSkip}
	case p.date.IsZero():
		return Result{Status: Skip, Evidence: "the API server's answer had no Date header"}
	}
	// Date has whole seconds: compare with the middle of its second.
	off := p.local.Sub(p.date.Add(500 * time.Millisecond))
	abs, dir := off, "ahead of"
	if off < 0 {
		abs, dir = -off, "behind"
	}
	ev := fmt.Sprintf("local clock is %s %s the API server's (its Date header)", abs.Round(100*time.Millisecond), dir)
	if abs < time.Second {
		ev = "local clock agrees with the API server's (its Date header, to the second)"
	}
	remedy := "sync the clock: enable chronyd or systemd-timesyncd (on ECS the NTP server is ntp.cloud.aliyuncs.com); certificates fail when clocks disagree"
	switch {
	case abs > ClockFail:
		return Result{Status: Fail, Evidence: ev, Remedy: remedy}
	case abs > ClockWarn:
		return Result{Status: Warn, Evidence: ev, Remedy: remedy}
	}
	return Result{Status: Pass, Evidence: ev}
}

// clusterInfoResult turns an unreadable cluster-info into a result.
func clusterInfoResult(ci *clusterInfo) (Result, bool) {
	switch {
	case ci.err != nil && ci.status == 0:
		return Result{Status: Skip, Evidence: notReachedSkip}, false
	case ci.status == http.StatusUnauthorized || ci.status == http.StatusForbidden:
		return Result{Status: Fail, Evidence: fmt.Sprintf("anonymous read of kube-public/cluster-info refused (HTTP %d): kubeadm's token discovery needs it", ci.status),
			Remedy: "on a control-plane node: kubeadm init phase bootstrap-token (recreates cluster-info and its RBAC); anonymous auth must be on"}, false
	case ci.status == http.StatusNotFound:
		return Result{Status: Fail, Evidence: "no kube-public/cluster-info ConfigMap: kubeadm's token discovery needs it",
			Remedy: "on a control-plane node: kubeadm init phase bootstrap-token"}, false
	case ci.status != http.StatusOK:
		return Result{Status: Fail, Evidence: fmt.Sprintf("GET kube-public/cluster-info: HTTP %d", ci.status), Remedy: "check kube-apiserver on a control-plane node"}, false
	case ci.err != nil:
		return Result{Status: Fail, Evidence: "kube-public/cluster-info: " + ci.err.Error(), Remedy: "on a control-plane node: kubeadm init phase bootstrap-token"}, false
	}
	return Result{}, true
}

func checkCAPin(ctx context.Context, e *Env) Result {
	if ep, _ := e.endpoint(); ep == "" {
		return noEndpoint()
	}
	c := e.cfg()
	if e.joined() && len(c.CACertHashes) == 0 {
		return Result{Status: Skip, Evidence: "the node is joined and no caCertHashes are configured to compare"}
	}
	ci := e.readClusterInfo(ctx)
	if r, ok := clusterInfoResult(ci); !ok {
		return r
	}
	served := make([]string, len(ci.cas))
	for i, ca := range ci.cas {
		served[i] = Pin(ca)
	}
	ca, ok := pinMatches(ci.cas, c.CACertHashes)
	switch {
	case !ok && len(c.CACertHashes) == 0 && c.UnsafeSkipCAVerification:
		return Result{Status: Warn, Evidence: "no CA pin (unsafeSkipCAVerification); the cluster CA's pin is " + served[0],
			Remedy: "set HYBRIDNODE_CA_CERT_HASHES=" + served[0]}
	case !ok && len(c.CACertHashes) == 0:
		return Result{Status: Fail, Evidence: "no caCertHashes configured; the cluster CA's pin is " + served[0],
			Remedy: "set HYBRIDNODE_CA_CERT_HASHES=" + served[0] + " after checking it on a control-plane node"}
	case !ok:
		return Result{Status: Fail, Evidence: fmt.Sprintf("the cluster CA's pin %s matches none of caCertHashes (%s)", strings.Join(served, ", "), strings.Join(c.CACertHashes, ", ")),
			Remedy: "use the --discovery-token-ca-cert-hash that `kubeadm token create --print-join-command` prints on a control-plane node"}
	}
	// The served chain must verify against that CA for the endpoint's
	// host, as kubeadm checks once it trusts the CA.
	p := e.reach(ctx)
	if len(p.chain) == 0 {
		return Result{Status: Skip, Evidence: "CA pin matches; " + notReachedSkip}
	}
	host, _, _ := net.SplitHostPort(p.endpoint)
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca)
	for _, c := range p.chain[1:] {
		inter.AddCert(c)
	}
	if _, err := p.chain[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter, CurrentTime: e.now()}); err != nil {
		return Result{Status: Fail, Evidence: "the CA pin matches, but the API server's certificate does not verify against that CA: " + err.Error(),
			Remedy: host + " must be in the API server certificate's SANs (ClusterConfiguration apiServer.certSANs), served by this cluster"}
	}
	return Result{Status: Pass, Evidence: fmt.Sprintf("the cluster CA's pin %s matches; the served certificate verifies for %s", Pin(ca), host)}
}

func checkToken(ctx context.Context, e *Env) Result {
	if e.joined() {
		return Result{Status: Skip, Evidence: "the node is joined: the bootstrap token is no longer needed"}
	}
	if e.usesIdentity() {
		return Result{Status: Skip, Evidence: "credentialSource is instance-identity: the token comes from the token service at join time (see token-service)"}
	}
	if ep, _ := e.endpoint(); ep == "" {
		return noEndpoint()
	}
	tok := e.token()
	id, secret, ok := strings.Cut(tok, ".")
	switch {
	case tok == "":
		return Result{Status: Fail, Evidence: "no bootstrap token configured", Remedy: tokenRemedy}
	case !ok || len(id) != 6 || len(secret) != 16:
		return Result{Status: Fail, Evidence: "the bootstrap token is not of the form [a-z0-9]{6}.[a-z0-9]{16} (value not shown)", Remedy: tokenRemedy}
	}
	ci := e.readClusterInfo(ctx)
	if r, ok := clusterInfoResult(ci); !ok {
		if r.Status == Fail {
			r.Status, r.Evidence, r.Remedy = Skip, "cluster-info not readable (see ca-pin)", ""
		}
		return r
	}
	sig, ok := ci.data["jws-kubeconfig-"+id]
	switch {
	case !ok:
		return Result{Status: Fail, Evidence: fmt.Sprintf("cluster-info has no signature for token id %s: the token expired or was deleted (or kube-controller-manager's bootstrap signer is not running)", id),
			Remedy: tokenRemedy}
	case !verifyJWS(sig, ci.kubeconfig, secret):
		return Result{Status: Fail, Evidence: fmt.Sprintf("token id %s exists, but its secret does not match cluster-info's signature (a typo in the secret?)", id),
			Remedy: "copy the whole token again (kubeadm token list on a control-plane node), or " + tokenRemedy}
	}
	return Result{Status: Pass, Evidence: fmt.Sprintf("cluster-info carries a valid signature for token id %s: the token exists and its secret matches", id)}
}

func checkArtifacts(ctx context.Context, e *Env) Result {
	c := e.cfg()
	if c.ArtifactURL == "" {
		rec, err := hoststate.ReadInstalled(e.FS)
		if err != nil || rec == nil {
			why := "nothing recorded in " + hoststate.InstalledPath
			if err != nil {
				why = err.Error()
			}
			return Result{Status: Fail, Evidence: "no artifactURL and " + why,
				Remedy: "set HYBRIDNODE_ARTIFACT_URL, or bake the image with `hybridnode install`"}
		}
		return Result{Status: Pass, Evidence: "no artifactURL: using the installed binaries (kubernetes " + rec.Versions["kubernetes"] + ", recorded in " + hoststate.InstalledPath + ")"}
	}
	open := e.OpenSource
	if open == nil {
		open = func(base string) (artifact.Fetcher, error) {
			return artifact.NewSource(base, artifact.WithTimeout(e.timeout()), artifact.WithClient(e.httpClient(nil)),
				artifact.WithBackoff(backoffOnce))
		}
	}
	src, err := open(c.ArtifactURL)
	if err != nil {
		return Result{Status: Fail, Evidence: err.Error(), Remedy: "set HYBRIDNODE_ARTIFACT_URL to an http(s):// URL or a local directory"}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*e.timeout())
	defer cancel()
	sums, err := artifact.LoadSums(ctx, src)
	if err != nil {
		return Result{Status: Fail, Evidence: "SHA256SUMS: " + err.Error(),
			Remedy: "check the URL and that this node reaches it (an OSS bucket: its VPC endpoint and ACL)"}
	}
	if e.Spec == nil {
		return Result{Status: Pass, Evidence: fmt.Sprintf("SHA256SUMS at %s lists %d files (versions not checked: the configuration is invalid)", c.ArtifactURL, len(sums))}
	}
	want := artifact.Paths(e.Spec, e.Facts.Arch)
	var missing []string
	for _, rel := range want {
		if _, ok := sums[rel]; !ok {
			missing = append(missing, rel)
		}
	}
	if len(missing) > 0 {
		return Result{Status: Fail, Evidence: fmt.Sprintf("SHA256SUMS at %s lacks %d of the %d artifacts: %s", c.ArtifactURL, len(missing), len(want), strings.Join(missing, ", ")),
			Remedy: "upload them (the layout is in the README), or set versions the source has"}
	}
	return Result{Status: Pass, Evidence: fmt.Sprintf("SHA256SUMS at %s lists all %d artifacts for kubernetes %s", c.ArtifactURL, len(want), e.Spec.KubernetesVersion)}
}

// unitCheck reports a unit's state, with its last log lines.
func unitCheck(unit string) func(context.Context, *Env) Result {
	return func(ctx context.Context, e *Env) Result {
		name := strings.TrimSuffix(unit, ".service")
		if e.Systemd == nil || !e.Systemd.Live() {
			return Result{Status: Skip, Evidence: "no systemd to ask (--root " + e.FS.Root() + " is not a live host, or systemd did not answer on D-Bus)"}
		}
		joined := e.joined()
		if hoststate.UnitFile(e.FS, e.Facts, unit) == "" {
			if !joined {
				return Result{Status: Skip, Evidence: unit + " is not installed yet (`hybridnode join` installs it)"}
			}
			return Result{Status: Fail, Evidence: unit + " is not installed on a joined node", Remedy: "hybridnode reset, then hybridnode join"}
		}
		state, err := e.Systemd.ActiveState(ctx, unit)
		if err != nil {
			return Result{Status: Fail, Evidence: err.Error(), Remedy: "systemctl status " + name}
		}
		restarts, _ := e.Systemd.NRestarts(ctx, unit)
		r := Result{Status: Pass, Evidence: state}
		if restarts > 0 {
			r.Evidence += fmt.Sprintf(", restarted %d time(s) by systemd", restarts)
		}
		logs := "journalctl -u " + name + " -e"
		switch {
		case unit == hoststate.KubeletUnit && !joined && state == "inactive":
			r.Evidence += ": kubeadm join starts it"
		case unit == hoststate.KubeletUnit && !joined:
			r.Status, r.Remedy = Warn, "kubelet restarts until kubeadm join writes its configuration; if a join failed, see its log lines and "+logs
		case state != "active":
			r.Status, r.Remedy = Fail, "systemctl restart "+name+"; the cause is in its log lines ("+logs+")"
		case restarts > 0:
			r.Status, r.Remedy = Warn, "it keeps restarting: see "+logs
		}
		r.Details = lastLogLines(ctx, e, unit)
		return r
	}
}

// lastLogLines reads a unit's last 5 journal lines through the command
// seam: the binary is static, with no libsystemd to read the journal.
func lastLogLines(ctx context.Context, e *Env, unit string) []string {
	if e.Cmd == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout())
	defer cancel()
	res, err := e.Cmd.Run(ctx, command.Cmd{Name: "journalctl", Args: []string{"-u", unit, "-n", "5", "--no-pager", "-o", "cat"}})
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// labelValue finds key in ACK's "k=v,k=v" labels. The configuration may
// not be valid here: a label that kubelet.ParseLabels refuses is not looked
// at, as the kubelet would not register it either.
func labelValue(lists []string, key string) string {
	labels, _ := kubelet.ParseLabels(lists...)
	for _, l := range labels {
		if l.Key == key {
			return l.Value
		}
	}
	return ""
}

func checkCNI(ctx context.Context, e *Env) Result {
	v := labelValue(e.cfg().NodeLabels, externalLabel)
	if e.joined() {
		// ACK's labels live in the environment of the join only; after it,
		// the Node has them, and so has the flags file kubeadm wrote.
		if nf := FetchNode(ctx, e); nf.Node != nil {
			v = nf.Node.Metadata.Labels[externalLabel]
		} else if labels, ok := kubeadmFlag(e, "node-labels"); ok {
			v = labelValue([]string{labels}, externalLabel)
		}
	}
	if v != "true" {
		return Result{Status: Skip, Evidence: "not a cloud node (no " + externalLabel + "=true label): the cluster's own CNI belongs here"}
	}
	des, err := e.FS.ReadDir(hoststate.CNIConfDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Result{Status: Fail, Evidence: err.Error(), Remedy: "check " + hoststate.CNIConfDir}
	}
	var terway, foreign []string
	for _, de := range des {
		ext := path.Ext(de.Name())
		if de.IsDir() || (ext != ".conf" && ext != ".conflist" && ext != ".json") {
			continue
		}
		p := path.Join(hoststate.CNIConfDir, de.Name())
		types := cniTypes(e, p)
		switch {
		case contains(types, "terway"):
			terway = append(terway, de.Name())
		case len(types) > 0 && onlyLoopback(types):
		default:
			what := strings.Join(types, ", ")
			if what == "" {
				what = "unreadable"
			}
			foreign = append(foreign, fmt.Sprintf("%s (%s)", de.Name(), what))
		}
	}
	if len(foreign) > 0 {
		return Result{Status: Fail, Evidence: "another CNI's configuration on a cloud node: " + strings.Join(foreign, ", ") + " in " + hoststate.CNIConfDir,
			Remedy: "keep the on-premises CNI off cloud nodes (its DaemonSet: nodeAffinity " + externalLabel + " NotIn [\"true\"]), then delete these files; Terway writes its own"}
	}
	if len(terway) > 0 {
		return Result{Status: Pass, Evidence: "only Terway's CNI configuration: " + strings.Join(terway, ", ")}
	}
	return Result{Status: Pass, Evidence: "no CNI configuration in " + hoststate.CNIConfDir + " yet: Terway writes its own when its pod runs here"}
}

// kubeadmFlag reads one --name=value from kubeadm's flags file.
func kubeadmFlag(e *Env, name string) (string, bool) {
	data, err := e.FS.ReadFile(hoststate.KubeadmFlagsEnv)
	if err != nil {
		return "", false
	}
	for _, f := range strings.Fields(strings.NewReplacer(`"`, " ", "'", " ").Replace(string(data))) {
		if v, ok := strings.CutPrefix(f, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// cniTypes reads the plugin types of a CNI .conf or .conflist.
func cniTypes(e *Env, p string) []string {
	data, err := e.FS.ReadFile(p)
	if err != nil {
		return nil
	}
	var conf struct {
		Type    string `json:"type"`
		Plugins []struct {
			Type string `json:"type"`
		} `json:"plugins"`
	}
	if json.Unmarshal(data, &conf) != nil {
		return nil
	}
	var out []string
	if conf.Type != "" {
		out = append(out, conf.Type)
	}
	for _, pl := range conf.Plugins {
		out = append(out, pl.Type)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func onlyLoopback(types []string) bool {
	for _, t := range types {
		if t != "loopback" {
			return false
		}
	}
	return true
}

func checkPodSubnet(ctx context.Context, e *Env) Result {
	vpcStr := e.cfg().VPCCIDR
	if vpcStr == "" {
		return Result{Status: Skip, Evidence: "the VPC CIDR is unknown",
			Remedy: "set HYBRIDNODE_VPC_CIDR (hand runs on ECS read it from the instance metadata)"}
	}
	vpc, err := netip.ParsePrefix(vpcStr)
	if err != nil {
		return Result{Status: Fail, Evidence: fmt.Sprintf("vpcCIDR %q is not a CIDR", vpcStr), Remedy: "set HYBRIDNODE_VPC_CIDR to a CIDR such as 10.0.0.0/8"}
	}
	if ep, _ := e.endpoint(); ep == "" {
		return noEndpoint()
	}
	if p := e.reach(ctx); p.status == 0 {
		return Result{Status: Skip, Evidence: notReachedSkip}
	}
	cr, why := e.credentials(ctx)
	if cr == nil {
		ep, _ := e.endpoint()
		cr, why = &kubeconfig.Credentials{Server: "https://" + ep, Who: "anonymous"}, why+"; tried anonymously"
	}
	var cm configMap
	status, _, err := e.get(ctx, cr, cr.Who == "anonymous", kubeadmConfig, &cm)
	switch {
	case err != nil:
		return Result{Status: Skip, Evidence: "kube-system/kubeadm-config: " + err.Error()}
	case status == http.StatusUnauthorized && cr.Bearer != "":
		return Result{Status: Skip, Evidence: fmt.Sprintf("the API server refuses %s (HTTP 401): see bootstrap-token", cr.Who), Remedy: tokenRemedy}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		ev := fmt.Sprintf("kube-system/kubeadm-config is not readable with %s (HTTP %d)", cr.Who, status)
		if why != "" {
			ev += ": " + why
		}
		return Result{Status: Skip, Evidence: ev, Remedy: "run doctor with the bootstrap token set, or after the join"}
	case status == http.StatusNotFound:
		return Result{Status: Skip, Evidence: "no kube-system/kubeadm-config ConfigMap (not a kubeadm cluster?)"}
	case status != http.StatusOK:
		return Result{Status: Skip, Evidence: fmt.Sprintf("GET kube-system/kubeadm-config: HTTP %d", status)}
	}
	return report.SubnetsResult(cm.Data["ClusterConfiguration"], vpc)
}

func checkNodeName(ctx context.Context, e *Env) Result {
	if ep, _ := e.endpoint(); ep == "" {
		return noEndpoint()
	}
	if p := e.reach(ctx); p.status == 0 {
		return Result{Status: Skip, Evidence: notReachedSkip}
	}
	nf := FetchNode(ctx, e)
	joined := e.joined()
	switch {
	case nf.Name == "":
		return Result{Status: Skip, Evidence: "no node name configured"}
	case nf.Status == 0 && nf.Err == nil:
		return Result{Status: Skip, Evidence: "cannot look Node " + nf.Name + " up: " + nf.Why, Remedy: "nothing to do: kubeadm join checks this itself"}
	case nf.Err != nil:
		return Result{Status: Skip, Evidence: fmt.Sprintf("GET Node %s with %s: %v", nf.Name, nf.Who, nf.Err)}
	case (nf.Status == http.StatusUnauthorized || nf.Status == http.StatusForbidden) && joined:
		return Result{Status: Fail, Evidence: fmt.Sprintf("the API server refuses %s (HTTP %d)", nf.Who, nf.Status),
			Remedy: "its client certificate may have expired or been revoked: hybridnode reset, then join with a new token"}
	case nf.Status == http.StatusUnauthorized:
		return Result{Status: Skip, Evidence: fmt.Sprintf("the API server refuses %s (HTTP 401): see bootstrap-token", nf.Who), Remedy: tokenRemedy}
	case nf.Status == http.StatusForbidden:
		return Result{Status: Skip, Evidence: fmt.Sprintf("Nodes are not readable with %s (HTTP 403)", nf.Who), Remedy: "nothing to do: kubeadm join checks this itself"}
	case nf.Status == http.StatusNotFound && joined:
		return Result{Status: Fail, Evidence: fmt.Sprintf("the node is joined but no Node %s is registered", nf.Name),
			Remedy: "see the kubelet check; to start over: hybridnode reset, then hybridnode join"}
	case nf.Status == http.StatusNotFound:
		return Result{Status: Pass, Evidence: fmt.Sprintf("no Node named %s yet", nf.Name)}
	case nf.Status != http.StatusOK:
		return Result{Status: Skip, Evidence: fmt.Sprintf("GET Node %s: HTTP %d", nf.Name, nf.Status)}
	}
	ready, reason, msg := nf.Node.Ready()
	not := fmt.Sprintf("Ready=%s", ready)
	if reason != "" {
		not += " (" + reason + ": " + msg + ")"
	}
	switch {
	case joined && ready == "True":
		return Result{Status: Pass, Evidence: fmt.Sprintf("Node %s is registered and Ready", nf.Name)}
	case joined:
		return Result{Status: Fail, Evidence: fmt.Sprintf("Node %s is registered but not Ready: %s", nf.Name, not),
			Remedy: "see the kubelet check; on a cloud node Terway must run on it: kubectl -n kube-system get pods -o wide --field-selector spec.nodeName=" + nf.Name}
	case ready == "True":
		return Result{Status: Fail, Evidence: fmt.Sprintf("a Ready Node named %s already exists: kubeadm join would refuse to take its name", nf.Name),
			Remedy: "if it is this machine's old Node (after a reset), delete it or wait until it is NotReady: kubectl delete node " + nf.Name + "; otherwise give this node another name (ALIBABA_CLOUD_NODE_NAME)"}
	}
	return Result{Status: Warn, Evidence: fmt.Sprintf("a Node named %s exists, not Ready (%s): kubeadm join will take it over", nf.Name, not),
		Remedy: "if it belongs to another machine: kubectl delete node " + nf.Name}
}
