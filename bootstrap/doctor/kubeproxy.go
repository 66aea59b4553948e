package doctor

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/hybridnode/hybridnode/assets"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/hostcheck"
	"github.com/hybridnode/hybridnode/bootstrap/hostprep"
)

// kubeProxyMode is the cluster's kube-proxy mode as doctor learns it.
type kubeProxyMode struct {
	known bool
	mode  string // when known; "" : kube-proxy's default (iptables)
	from  string // where it came from
	why   string // when not known
}

func (k *kubeProxyMode) ipvs() bool { return k.known && k.mode == config.KubeProxyIPVS }

// kubeProxy resolves the mode once per run, as the join does: kubeProxyMode
// when it forces one, else kube-system/kube-proxy read with the node's
// credentials (the bootstrap token before the join, only from the pinned
// server); when neither says, the IPVS modules file an earlier join wrote
// says IPVS.
func (e *Env) kubeProxy(ctx context.Context) *kubeProxyMode {
	if e.kubeProxyMode != nil {
		return e.kubeProxyMode
	}
	k := e.readKubeProxyMode(ctx)
	if !k.known && generatedFile(e, hostprep.IPVSModulesFile) {
		k = &kubeProxyMode{known: true, mode: config.KubeProxyIPVS, from: "the join found IPVS mode: " + hostprep.IPVSModulesFile + " is there (" + k.why + ")"}
	}
	e.kubeProxyMode = k
	return k
}

func (e *Env) readKubeProxyMode(ctx context.Context) *kubeProxyMode {
	if m := e.cfg().KubeProxyMode; m != config.KubeProxyAuto && slices.Contains(config.KubeProxyModes, m) {
		from := "kubeProxyMode"
		if e.Config != nil {
			from = e.Config.Where("kubeProxyMode")
		}
		return &kubeProxyMode{known: true, mode: m, from: from}
	}
	if ep, _ := e.endpoint(); ep == "" {
		return &kubeProxyMode{why: "no apiServerEndpoint configured and the node is not joined"}
	}
	if p := e.reach(ctx); p.status == 0 {
		return &kubeProxyMode{why: notReachedSkip}
	}
	cr, why := e.credentials(ctx)
	if cr == nil {
		return &kubeProxyMode{why: "kube-system/kube-proxy not read: " + why}
	}
	kp, err := e.api().ReadKubeProxy(ctx, cr)
	switch {
	case err != nil:
		return &kubeProxyMode{why: err.Error()}
	case kp.Status == http.StatusOK:
		return &kubeProxyMode{known: true, mode: kp.Mode, from: "ConfigMap kube-system/kube-proxy"}
	case kp.Status == http.StatusNotFound:
		return &kubeProxyMode{known: true, from: "no ConfigMap kube-system/kube-proxy: a cluster without kube-proxy"}
	}
	return &kubeProxyMode{why: fmt.Sprintf("kube-system/kube-proxy is not readable with %s (HTTP %d)", cr.Who, kp.Status)}
}

// generatedFile: p is there and hybridnode generated it.
func generatedFile(e *Env, p string) bool {
	data, err := e.FS.ReadFile(p)
	return err == nil && bytes.HasPrefix(data, []byte(assets.Header+"\n"))
}

// kubeProxyTools are the host tools the kube-proxy mode needs (the tools
// check requires them, as preflight does).
func (e *Env) kubeProxyTools(ctx context.Context) []hostcheck.Tool {
	if e.kubeProxy(ctx).ipvs() {
		return []hostcheck.Tool{hostcheck.IPSetTool}
	}
	return nil
}

// checkKubeProxy shows the kube-proxy mode and, in IPVS mode, whether the
// IPVS modules are loaded (/proc/modules, or built in) and listed for the
// next boot. Missing modules fail on a joined node (kube-proxy in IPVS mode
// does not start without them) and warn before the join (it loads them).
func checkKubeProxy(ctx context.Context, e *Env) Result {
	k := e.kubeProxy(ctx)
	switch {
	case !k.known:
		return Result{Status: Skip, Evidence: "kube-proxy mode unknown: " + k.why,
			Remedy: "if kube-proxy runs in IPVS mode, set HYBRIDNODE_KUBE_PROXY_MODE=ipvs (the join then loads its modules)"}
	case !k.ipvs():
		mode := k.mode
		if mode == "" {
			mode = "kube-proxy's default (iptables)"
		}
		if strings.HasPrefix(k.from, "no ConfigMap") {
			return Result{Status: Pass, Evidence: k.from + ": no IPVS modules needed"}
		}
		return Result{Status: Pass, Evidence: fmt.Sprintf("kube-proxy mode %s (%s): no IPVS modules needed", mode, k.from)}
	}
	ev := fmt.Sprintf("kube-proxy mode ipvs (%s)", k.from)
	missing, known := hostcheck.IPVSModulesMissing(e.FS)
	listed := generatedFile(e, hostprep.IPVSModulesFile)
	switch {
	case !known:
		return Result{Status: Skip, Evidence: ev + "; no /proc/modules or /sys/module under the root"}
	case len(missing) > 0:
		r := Result{Status: Warn, Evidence: ev + "; not loaded: " + strings.Join(missing, ", "),
			Remedy: "modprobe " + strings.Join(missing, " ") + ", or hybridnode join phase kube-proxy --kube-proxy-mode ipvs (it also lists them in " + hostprep.IPVSModulesFile + "); in a container the host must load them"}
		if e.joined() {
			r.Status = Fail
			r.Evidence += ": kube-proxy in IPVS mode cannot start without them"
		}
		return r
	case !listed:
		return Result{Status: Warn, Evidence: ev + "; " + strings.Join(hostprep.IPVSModules, ", ") + " loaded, but not listed in " + hostprep.IPVSModulesFile + ": a reboot loses them",
			Remedy: "hybridnode join phase kube-proxy --kube-proxy-mode ipvs writes it"}
	}
	return Result{Status: Pass, Evidence: ev + "; " + strings.Join(hostprep.IPVSModules, ", ") + " loaded and listed in " + hostprep.IPVSModulesFile}
}
