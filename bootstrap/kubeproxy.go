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

// kubeProxyState is the kube-proxy mode this run prepares the node for.
type kubeProxyState struct {
	known  bool
	mode   string // when known: ipvs, iptables, nftables, ... ("" : kube-proxy's default)
	source string // where the mode came from, for the log
	why    string // when not known: why not
	// toolsChecked: preflight required the mode's tools (with the token
	// service the mode is learnt only after preflight).
	toolsChecked bool
}

func (s *kubeProxyState) ipvs() bool { return s.known && s.mode == config.KubeProxyIPVS }

// kubeProxyMode resolves the mode once per run, first asked by preflight
// (for the tools the mode needs): kubeProxyMode when it forces one; else,
// when this run joins a live host, what the cluster's kube-system/kube-proxy
// ConfigMap says, read with the bootstrap token from the server whose CA
// matches the pins. With credentialSource instance-identity the token
// exists only after the exchange, which must stay right before the join:
// before the kube-proxy phase (late false) the mode stays open (and is not
// remembered), and the phase exchanges the identity that the join then
// uses. The only error is the exchange's.
func (n *Node) kubeProxyMode(ctx context.Context, late bool) (*kubeProxyState, error) {
	if n.kubeProxy != nil {
		return n.kubeProxy, nil
	}
	st := &kubeProxyState{}
	switch {
	case n.Spec.KubeProxyMode != config.KubeProxyAuto && n.Spec.KubeProxyMode != "":
		st.known, st.mode, st.source = true, n.Spec.KubeProxyMode, "kubeProxyMode"
		if n.Loaded != nil {
			st.source = n.Loaded.Where("kubeProxyMode")
		}
	case !n.joining:
		st.why = "kubeProxyMode is auto and this run does not join: the join reads the cluster's kube-proxy ConfigMap"
	case !n.Live:
		st.why = "no live host behind the root " + n.FS.Root() + ": the cluster was not asked"
	case n.Spec.APIServerEndpoint == "":
		st.why = "no apiServerEndpoint"
	case n.usesIdentity() && !late:
		return &kubeProxyState{why: "the bootstrap token comes from the token service right before the join: the kube-proxy mode is read then"}, nil
	case n.usesIdentity() && n.DryRun:
		st.why = "the bootstrap token comes from the token service at join time, and a plan does not ask it"
	default:
		token, err := n.joinToken(ctx)
		if err != nil {
			return nil, err
		}
		n.readKubeProxy(ctx, token, st)
	}
	n.kubeProxy = st
	return st, nil
}

// readKubeProxy reads kube-system/kube-proxy into st, within
// kubeProxyRead's bounds; anything but an answer leaves the mode unknown.
// token goes into the Authorization header and nowhere else.
func (n *Node) readKubeProxy(ctx context.Context, token string, st *kubeProxyState) {
	ctx, cancel := context.WithTimeout(ctx, kubeProxyRead.total)
	defer cancel()
	ep := n.Spec.APIServerEndpoint
	c := &kubeapi.Client{Timeout: kubeProxyRead.request}
	log := n.Log.With(zap.String("apiServer", ep))
	var ci *kubeapi.ClusterInfo
	wait := kubeProxyRead.wait
	for i := 1; ; i++ {
		// permanent: asking again cannot help (doctor says why).
		permanent, err := func() (bool, error) {
			if ci == nil {
				read, err := c.ReadClusterInfo(ctx, ep)
				if err != nil {
					return read.Status >= 400 && read.Status < 500, err
				}
				ci = read
			}
			cr, err := kubeapi.BootstrapCredentials(ep, ci, token, n.Spec.CACertHashes, n.Spec.UnsafeSkipCAVerification)
			if err != nil {
				return true, err
			}
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
		}()
		if err == nil {
			return
		}
		err = kubeapi.Scrub(err, token)
		if permanent || i >= kubeProxyRead.attempts || ctx.Err() != nil {
			st.why = "could not read ConfigMap kube-system/kube-proxy: " + err.Error()
			log.Warn("reading the cluster's kube-proxy mode", zap.Int("attempts", i), zap.Error(err))
			return
		}
		log.Info("reading the cluster's kube-proxy mode; retrying", zap.Int("attempt", i), zap.Error(err), zap.Duration("in", wait))
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait *= 2
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
