package bootstrap

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/hybridnode/hybridnode/bootstrap/command"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/hostcheck"
	"github.com/hybridnode/hybridnode/bootstrap/hostprep"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/bootstrap/kubeapi"
	"github.com/hybridnode/hybridnode/bootstrap/kubeconfig"
	"github.com/hybridnode/hybridnode/bootstrap/proxy"
)

// kubeProxyRead bounds the read of the cluster's kube-proxy configuration:
// it never holds up a join for long. Variables, so that tests can shorten
// them.
var kubeProxyRead = struct {
	attempts int
	request  time.Duration // each GET
	wait     time.Duration // before the second attempt, doubling
	total    time.Duration // everything
}{attempts: 3, request: 3 * time.Second, wait: time.Second, total: 15 * time.Second}

// kubeProxyState is what this run read of the cluster before the join: the
// kube-proxy mode it prepares the node for and, with a proxy set, the
// cluster's subnets for NO_PROXY.
type kubeProxyState struct {
	known  bool
	mode   string // when known: ipvs, iptables, nftables, ... ("" : kube-proxy's default)
	source string // where the mode came from, for the log
	why    string // when not known: why not
	// toolsChecked: preflight required the mode's tools (with the token
	// service the mode is learnt only after preflight).
	toolsChecked bool
	// subnets are the cluster's service and pod subnets from
	// kube-system/kubeadm-config (nil: not read; subnetsWhy says why, and
	// kubeProxyMode logs it once).
	subnets    *hoststate.Cluster
	subnetsWhy string
}

func (s *kubeProxyState) ipvs() bool { return s.known && s.mode == config.KubeProxyIPVS }

// kubeProxyMode resolves, once per run, what the join reads of the cluster,
// first asked by preflight (for the tools the mode needs) or by the proxy
// drop-ins (for the subnets):
//   - the mode: kubeProxyMode when it forces one; else, when this run joins
//     a live host, what the cluster's kube-system/kube-proxy ConfigMap says;
//   - with a proxy set, the service and pod subnets of
//     kube-system/kubeadm-config, for NO_PROXY;
//
// both read with the bootstrap token from the server whose CA matches the
// pins. With credentialSource instance-identity the token exists only after
// the exchange, which must stay right before the join: before the
// kube-proxy phase (late false) the mode stays open (and is not
// remembered), and the phase exchanges the identity that the join then
// uses; the subnets are not read then (containerd runs with its drop-in by
// then), and noProxy can list them. The only error is the exchange's.
func (n *Node) kubeProxyMode(ctx context.Context, late bool) (*kubeProxyState, error) {
	if n.kubeProxy != nil {
		return n.kubeProxy, nil
	}
	st := &kubeProxyState{}
	forced := n.Spec.KubeProxyMode != config.KubeProxyAuto && n.Spec.KubeProxyMode != ""
	if forced {
		st.known, st.mode, st.source = true, n.Spec.KubeProxyMode, "kubeProxyMode"
		if n.Loaded != nil {
			st.source = n.Loaded.Where("kubeProxyMode")
		}
	}
	proxied := proxy.FromConfig(n.Spec.Config).Enabled()
	subnets := proxied
	if subnets && n.usesIdentity() {
		st.subnetsWhy = "the bootstrap token comes from the token service right before the join, after containerd has started: list the cluster's subnets in noProxy"
		subnets = false
	}
	why := ""
	switch {
	case forced && !subnets:
	case !n.joining:
		why = "this run does not join: the join reads the cluster's configuration"
	case !n.Live:
		why = "no live host behind the root " + n.FS.Root() + ": the cluster was not asked"
	case n.Spec.APIServerEndpoint == "":
		why = "no apiServerEndpoint"
	case n.usesIdentity() && !late:
		return &kubeProxyState{why: "the bootstrap token comes from the token service right before the join: the kube-proxy mode is read then"}, nil
	case n.usesIdentity() && n.DryRun:
		why = "the bootstrap token comes from the token service at join time, and a plan does not ask it"
	default:
		token, err := n.joinToken(ctx)
		if err != nil {
			return nil, err
		}
		n.readCluster(ctx, token, st, !forced, subnets)
	}
	if why != "" {
		if !forced {
			st.why = "kubeProxyMode is auto and " + why
		}
		if subnets {
			st.subnetsWhy = why
		}
	}
	if proxied && n.joining && st.subnets == nil {
		n.Log.Info("the cluster's subnets are not in NO_PROXY", zap.String("why", st.subnetsWhy))
	}
	n.kubeProxy = st
	return st, nil
}

// clusterRead is one read of readCluster: what it reads (for the log), and
// the read, which says whether an error is permanent (asking again cannot
// help).
type clusterRead struct {
	what string
	read func(*kubeapi.Client, *kubeconfig.Credentials) (permanent bool, err error)
	fail func(msg string)
}

// readCluster reads into st the kube-proxy mode (mode) and the cluster's
// subnets (subnets), within kubeProxyRead's bounds, all of them together;
// anything but an answer leaves what it reads unknown. token goes into the
// Authorization header and nowhere else.
func (n *Node) readCluster(ctx context.Context, token string, st *kubeProxyState, mode, subnets bool) {
	var reads []clusterRead
	if mode {
		reads = append(reads, clusterRead{what: "the cluster's kube-proxy mode", read: func(c *kubeapi.Client, cr *kubeconfig.Credentials) (bool, error) {
			kp, err := c.ReadKubeProxy(ctx, cr)
			switch {
			case err != nil:
				return kp.Status == http.StatusOK, err // a ConfigMap that does not parse stays so
			case kp.Status == http.StatusOK:
				st.known, st.mode, st.source = true, kp.Mode, "ConfigMap kube-system/kube-proxy"
			case kp.Status == http.StatusNotFound:
				st.known, st.source = true, "no ConfigMap kube-system/kube-proxy (a cluster without kube-proxy)"
			case kp.Status == http.StatusForbidden || kp.Status == http.StatusUnauthorized:
				st.why = fmt.Sprintf("the bootstrap token may not read ConfigMap kube-system/kube-proxy (HTTP %d; kubeadm's Role kube-proxy grants it)", kp.Status)
			default:
				return false, fmt.Errorf("GET kube-system/kube-proxy: HTTP %d", kp.Status)
			}
			return false, nil
		}, fail: func(msg string) { st.why = "could not read ConfigMap kube-system/kube-proxy: " + msg }})
	}
	if subnets {
		reads = append(reads, clusterRead{what: "the cluster's subnets", read: func(c *kubeapi.Client, cr *kubeconfig.Credentials) (bool, error) {
			nw, err := c.ReadNetworking(ctx, cr)
			switch {
			case err != nil:
				return nw.Status == http.StatusOK, err
			case nw.Status == http.StatusOK:
				st.subnets = &hoststate.Cluster{Source: "ConfigMap kube-system/kubeadm-config", ServiceSubnets: nw.ServiceSubnets, PodSubnets: nw.PodSubnets}
				n.Log.Info("the cluster's subnets (for NO_PROXY)", zap.Strings("service", nw.ServiceSubnets), zap.Strings("pod", nw.PodSubnets), zap.String("from", st.subnets.Source))
			case nw.Status == http.StatusNotFound:
				st.subnetsWhy = "no ConfigMap kube-system/kubeadm-config (a cluster kubeadm did not make): list the cluster's subnets in noProxy"
			case nw.Status == http.StatusForbidden || nw.Status == http.StatusUnauthorized:
				st.subnetsWhy = fmt.Sprintf("the bootstrap token may not read ConfigMap kube-system/kubeadm-config (HTTP %d; kubeadm's Role kubeadm:nodes-kubeadm-config grants it)", nw.Status)
			default:
				return false, fmt.Errorf("GET kube-system/kubeadm-config: HTTP %d", nw.Status)
			}
			return false, nil
		}, fail: func(msg string) { st.subnetsWhy = "could not read ConfigMap kube-system/kubeadm-config: " + msg }})
	}
	ctx, cancel := context.WithTimeout(ctx, kubeProxyRead.total)
	defer cancel()
	ep := n.Spec.APIServerEndpoint
	c := &kubeapi.Client{Timeout: kubeProxyRead.request}
	log := n.Log.With(zap.String("apiServer", ep))
	var cr *kubeconfig.Credentials
	for _, r := range reads {
		wait := kubeProxyRead.wait
		for i := 1; ; i++ {
			permanent, err := func() (bool, error) {
				if cr == nil {
					ci, err := c.ReadClusterInfo(ctx, ep)
					if err != nil {
						return ci.Status >= 400 && ci.Status < 500, err
					}
					if cr, err = kubeapi.BootstrapCredentials(ep, ci, token, n.Spec.CACertHashes, n.Spec.UnsafeSkipCAVerification); err != nil {
						return true, err
					}
				}
				return r.read(c, cr)
			}()
			if err == nil {
				break
			}
			err = kubeapi.Scrub(err, token)
			if permanent || i >= kubeProxyRead.attempts || ctx.Err() != nil {
				r.fail(err.Error())
				log.Warn("reading "+r.what, zap.Int("attempts", i), zap.Error(err))
				break
			}
			log.Info("reading "+r.what+"; retrying", zap.Int("attempt", i), zap.Error(err), zap.Duration("in", wait))
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			wait *= 2
		}
	}
}

// kubeProxyTools are the host tools preflight requires for the kube-proxy
// mode, when it is known by then.
func (n *Node) kubeProxyTools(ctx context.Context) []hostcheck.Tool {
	st, err := n.kubeProxyMode(ctx, false)
	if err != nil || !st.ipvs() {
		return nil
	}
	st.toolsChecked = true
	return []hostcheck.Tool{hostcheck.IPSetTool}
}

// runKubeProxy prepares the node for the cluster's kube-proxy mode: in IPVS
// mode it loads the IPVS modules (a module that does not load is a
// warning: a container may not load modules, and kube-proxy reports it
// itself) and lists them in IPVSModulesFile. In any other mode, or when the
// mode is unknown, it does nothing but log; a known mode other than IPVS
// removes an IPVSModulesFile an earlier run generated.
func runKubeProxy(ctx context.Context, n *Node) error {
	st, err := n.kubeProxyMode(ctx, true)
	if err != nil {
		return err
	}
	switch {
	case !st.known:
		n.Log.Info("kube-proxy mode unknown; nothing to prepare (kubeProxyMode forces one)", zap.String("why", st.why))
		return nil
	case !st.ipvs():
		mode := st.mode
		if mode == "" {
			mode = "kube-proxy's default (iptables)"
		}
		n.Log.Info("kube-proxy is not in IPVS mode; nothing to prepare", zap.String("mode", mode), zap.String("from", st.source))
		_, err := n.removeGenerated(hostprep.IPVSModulesFile)
		return err
	}
	n.Log.Info("kube-proxy runs in IPVS mode: loading the IPVS modules", zap.String("from", st.source), zap.Strings("modules", hostprep.IPVSModules))
	if !st.toolsChecked {
		// Learnt after preflight (from the token service's token): a
		// missing tool is a warning, as the token is spent by now.
		if c := hostcheck.CheckTools(n.FS, n.Facts, n.Spec.KubernetesMinor, hostcheck.IPSetTool); c.Status == hostcheck.Fail {
			n.findings = append(n.findings, hoststate.Finding{Check: "tools", Status: hostcheck.Warn, Detail: c.Detail()})
			n.Log.Warn("kube-proxy runs in IPVS mode", zap.String("check", "tools"), zap.String("detail", c.Detail()))
		}
	}
	if _, err := n.writeAll([]rendered{{hostprep.IPVSModulesFile, hostprep.IPVSModulesLoad(), 0o644}}); err != nil {
		return fmt.Errorf("kernel modules for IPVS: %w", err)
	}
	if !n.Live {
		return nil
	}
	missing, _ := hostcheck.IPVSModulesMissing(n.FS)
	for _, m := range missing {
		n.Log.Info(n.verb("loading kernel module", "would load kernel module"), zap.String("module", m), zap.String("command", "modprobe "+m))
		if _, err := n.Cmd.Run(ctx, command.Cmd{Name: "modprobe", Args: []string{m}}); err != nil {
			if ctx.Err() != nil {
				return err
			}
			n.Log.Warn("kernel module not loaded; kube-proxy in IPVS mode will report it (it is listed in "+hostprep.IPVSModulesFile+" for the next boot)",
				zap.String("module", m), zap.Error(err))
			continue
		}
		n.Log.Info(n.verb("loaded kernel module", "would load kernel module"), zap.String("module", m))
	}
	return nil
}
