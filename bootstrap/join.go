package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hybridnode/hybridnode/bootstrap/command"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/kubelet"
)

const (
	// joinConfigPath holds the token, so it is 0600 and removed after the
	// join, whether it worked or not (and by the next run, after a kill).
	joinConfigPath = config.Dir + "/kubeadm-join.yaml"
	patchesDir     = config.Dir + "/patches"
	// kubeletPatch is the kubelet configuration patch kubeadm applies.
	kubeletPatch = patchesDir + "/" + kubelet.KubeletPatchFile
)

// JoinInput builds the JoinConfiguration input from the node: name,
// taints, provider ID and labels all go to kubeadm, which owns the
// kubelet's flags file.
func (n *Node) JoinInput() (kubelet.JoinInput, *kubelet.PatchInput) {
	s := n.Spec
	in := kubelet.JoinInput{
		KubernetesMinor:           s.KubernetesMinor,
		APIServerEndpoint:         s.APIServerEndpoint,
		Token:                     n.token().Reveal(),
		CACertHashes:              s.CACertHashes,
		UnsafeSkipCAVerification:  s.UnsafeSkipCAVerification,
		NodeName:                  s.NodeName,
		CRISocket:                 hoststate.CRISocket,
		KubeletHealthCheckTimeout: time.Duration(s.JoinTimeout) / 2,
		TLSBootstrapTimeout:       time.Duration(s.JoinTimeout) / 2,
		Taints:                    s.Taints,
		ProviderID:                n.providerID(),
		Labels:                    n.nodeLabels(),
	}
	extra := make([]string, 0, len(s.KubeletExtraArgs))
	for k := range s.KubeletExtraArgs {
		extra = append(extra, k)
	}
	sort.Strings(extra)
	for _, k := range extra {
		in.KubeletExtraArgs = append(in.KubeletExtraArgs, kubelet.Arg{Name: k, Value: s.KubeletExtraArgs[k]})
	}
	patch := &kubelet.PatchInput{CgroupDriver: n.CgroupDriver()}
	if kubelet.NeedsFailCgroupV1False(s.KubernetesMinor, n.Facts.CgroupVersion == 1) {
		f := false
		patch.FailCgroupV1 = &f
		in.IgnorePreflightErrors = []string{"SystemVerification"}
	}
	return in, patch
}

func runJoin(ctx context.Context, n *Node) error {
	if joined, why := hoststate.Joined(n.FS); joined {
		n.Log.Info("already joined; nothing to do", zap.String("why", why))
		// A run killed after kubelet's TLS bootstrap left its token file,
		// and maybe the token in the node-pool settings.
		if _, err := n.FS.Remove(joinConfigPath); err != nil {
			return err
		}
		return n.dropPoolToken()
	}
	// First, so that the provider ID the token service saw is the one
	// kubelet registers with.
	token, err := n.joinToken(ctx)
	if err != nil {
		return err
	}
	if token == "" {
		// The configuration was read without the join fields: the node
		// was joined then (the CLI asks for them only before the join),
		// and has been reset since.
		return errors.New("no bootstrap token configured: the node was joined when the configuration was read; run hybridnode join again with a token (HYBRIDNODE_TOKEN, HYBRIDNODE_TOKEN_FILE or token in the config file)")
	}
	in, patchIn := n.JoinInput()
	in.Token = token
	patch, err := kubelet.RenderKubeletPatch(*patchIn)
	if err != nil {
		return err
	}
	if patch != nil {
		if _, err := n.FS.WriteFile(kubeletPatch, patch, 0o644); err != nil {
			return err
		}
		in.PatchesDir = patchesDir
	}
	if len(in.IgnorePreflightErrors) > 0 {
		n.Log.Warn("cgroup v1 with kubelet 1.35 or later: setting failCgroupV1: false and ignoring kubeadm's SystemVerification check",
			zap.Int("kubernetesMinor", in.KubernetesMinor))
	}
	cfg, err := kubelet.RenderJoinConfiguration(in)
	if err != nil {
		return err
	}
	if _, err := n.FS.WriteFile(joinConfigPath, cfg, 0o600); err != nil {
		return err
	}
	if !n.Live {
		n.Log.Info("kubeadm join skipped: no live host behind the root", zap.String("root", n.FS.Root()), zap.String("config", joinConfigPath))
		return nil
	}

	out := n.lineLogger("kubeadm")
	defer out.Close()
	attempts := n.Spec.JoinAttempts
	if n.DryRun {
		attempts = 1
	}
	if !n.DryRun {
		n.resetLeftovers(ctx, out)
	}
	env, err := n.proxyEnv(ctx)
	if err != nil {
		return err
	}
	var last error
	for i := 1; i <= attempts; i++ {
		if i > 1 && n.tokenExpiring() {
			// The token from the service would expire during this attempt:
			// exchange again (within the token's life the service would
			// refuse a second exchange as a replay, so it is reused until then).
			if err := n.refreshJoinToken(ctx, &in, out); err != nil {
				return err
			}
		}
		tctx, cancelTimeout := context.WithTimeout(ctx, time.Duration(n.Spec.JoinTimeout))
		actx, cancel := context.WithCancelCause(tctx)
		if !n.DryRun {
			go n.watchKubelet(actx, cancel)
		}
		n.Log.Info("kubeadm join", zap.Int("attempt", i), zap.Int("of", attempts), zap.String("config", joinConfigPath))
		res, err := n.Cmd.Run(actx, command.Cmd{Name: "kubeadm", Args: []string{"join", "--config", joinConfigPath}, Env: env, Stdout: out, Stderr: out})
		last = err
		if err != nil && errors.Is(tctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			last = fmt.Errorf("attempt %d of %d did not finish within joinTimeout (%s; HYBRIDNODE_JOIN_TIMEOUT): %w", i, attempts, time.Duration(n.Spec.JoinTimeout), err)
		}
		var crash *kubeletCrashLoop
		if cause := context.Cause(actx); last != nil && errors.As(cause, &crash) {
			last = crash // a configuration problem: retrying will not help
		}
		cancel(nil)
		cancelTimeout()
		permanent := crash != nil
		if last != nil && nameTaken(res) {
			permanent = true
			last = fmt.Errorf("%w\na Ready Node named %q is already in the cluster: delete it (kubectl delete node %s) or wait until it is NotReady, then run hybridnode join again", last, n.Spec.NodeName, n.Spec.NodeName)
		}
		if last == nil || permanent || ctx.Err() != nil || i == attempts {
			break
		}
		wait := n.retryBackoff() << (i - 1)
		n.Log.Warn("kubeadm join failed; resetting and retrying", zap.Error(last), zap.Duration("in", wait))
		n.kubeadmReset(ctx, out)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	if last != nil {
		if !n.DryRun {
			// Leave nothing half-joined behind: the next run starts clean.
			n.kubeadmReset(context.WithoutCancel(ctx), out)
			// The token file is rendered again by the next run.
			if _, err := n.FS.Remove(joinConfigPath); err != nil {
				n.Log.Warn("removing the join configuration", zap.String("path", joinConfigPath), zap.Error(err))
			}
		}
		return fmt.Errorf("kubeadm join: %w", last)
	}
	n.Report.milestone("joined", n.now())
	// The token has done its job; do not leave it on disk: not in the
	// JoinConfiguration, not in the node-pool settings.
	if _, err := n.FS.Remove(joinConfigPath); err != nil {
		return err
	}
	return n.dropPoolToken()
}

// refreshJoinToken exchanges the instance identity again and rewrites the
// JoinConfiguration with the new token.
func (n *Node) refreshJoinToken(ctx context.Context, in *kubelet.JoinInput, out *lineWriter) error {
	n.Log.Info("the token from the token service expires soon; exchanging the identity again", zap.Time("expires", n.issued.Expiration))
	n.issued = nil
	token, err := n.joinToken(ctx)
	if err != nil {
		return err
	}
	out.addSecret(token)
	in.Token = token
	cfg, err := kubelet.RenderJoinConfiguration(*in)
	if err != nil {
		return err
	}
	_, err = n.FS.WriteFile(joinConfigPath, cfg, 0o600)
	return err
}

// RenderedJoinConfig is the JoinConfiguration with the token redacted, for
// plans and `config dump`.
func RenderedJoinConfig(n *Node) ([]byte, error) {
	in, _ := n.JoinInput()
	in.Token = redactedToken
	return kubelet.RenderJoinConfiguration(in)
}

const redactedToken = "[REDACTED]"

func (n *Node) retryBackoff() time.Duration {
	if n.RetryBackoff > 0 {
		return n.RetryBackoff
	}
	return 5 * time.Second
}

// kubeletCrashLimit restarts of kubelet during a join end it at once:
// kubeadm would otherwise wait out its kubelet health check (minutes).
const kubeletCrashLimit = 3

// kubeletCrashLoop is a join stopped because kubelet keeps crashing.
type kubeletCrashLoop struct {
	restarts uint32
	journal  string
}

func (e *kubeletCrashLoop) Error() string {
	return fmt.Sprintf("kubelet restarted %d times during the join, so it was stopped early; kubelet's last log lines:\n%s", e.restarts, e.journal)
}

// watchKubelet polls kubelet's restart counter until ctx ends and cancels
// the join with *kubeletCrashLoop when kubelet crash-loops.
func (n *Node) watchKubelet(ctx context.Context, cancel context.CancelCauseFunc) {
	every := n.KubeletPoll
	if every <= 0 {
		every = 2 * time.Second
	}
	base, err := n.Systemd.NRestarts(ctx, hoststate.KubeletUnit)
	if err != nil {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c, err := n.Systemd.NRestarts(ctx, hoststate.KubeletUnit)
		if err != nil {
			continue
		}
		if c < base { // a manual restart (kubeadm's) resets the counter
			base = c
		}
		if c-base >= kubeletCrashLimit {
			res, _ := n.Cmd.Run(context.WithoutCancel(ctx), command.Cmd{Name: "journalctl", Args: []string{"-u", hoststate.KubeletUnit, "-n", "15", "--no-pager", "-o", "cat"}})
			cancel(&kubeletCrashLoop{restarts: c - base, journal: strings.TrimSpace(string(res.Stdout))})
			return
		}
	}
}

// kubeadmLeftovers are files an interrupted or failed `kubeadm join`
// leaves; kubeadm's own preflight refuses to join while they exist.
var kubeadmLeftovers = []string{hoststate.BootstrapKubeletConf, hoststate.KubeadmCACert}

// resetLeftovers runs `kubeadm reset` before a join when an earlier join
// left its files (only reached when kubelet.conf is absent: a node with one
// is joined, or fails preflight as half-joined).
func (n *Node) resetLeftovers(ctx context.Context, out *lineWriter) {
	for _, p := range kubeadmLeftovers {
		if _, err := n.FS.Stat(p); err == nil {
			n.Log.Info("an earlier join left kubeadm's files; resetting first", zap.String("found", p))
			n.kubeadmReset(ctx, out)
			return
		}
	}
}

func (n *Node) kubeadmReset(ctx context.Context, out *lineWriter) {
	if _, err := n.Cmd.Run(ctx, command.Cmd{Name: "kubeadm", Args: []string{"reset", "-f", "--cri-socket", hoststate.CRISocket}, Stdout: out, Stderr: out}); err != nil {
		n.Log.Warn("kubeadm reset failed", zap.Error(err))
	}
}

// nameTaken: kubeadm refused because a Ready Node of this name exists;
// retrying within seconds cannot help.
func nameTaken(res command.Result) bool {
	return bytes.Contains(res.Stdout, []byte("already exists in the cluster")) || bytes.Contains(res.Stderr, []byte("already exists in the cluster"))
}
