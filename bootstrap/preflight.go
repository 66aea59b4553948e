package bootstrap

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/hybridnode/hybridnode/bootstrap/hostcheck"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

const kubeletPort = 10250

// geteuid is a seam for tests.
var geteuid = os.Geteuid

func runPreflight(ctx context.Context, n *Node) error {
	add := func(check, status, detail string) {
		n.findings = append(n.findings, hoststate.Finding{Check: check, Status: status, Detail: detail})
	}
	for _, c := range []struct {
		name string
		hostcheck.Result
	}{
		{"root", hostcheck.CheckRoot(n.Live, n.FS.Root(), geteuid())},
		{"systemd", hostcheck.CheckSystemd(n.Facts)},
		{"cgroups", hostcheck.CheckCgroups(n.Facts, n.Spec.KubernetesMinor)},
		{fmt.Sprintf("port-%d", kubeletPort), hostcheck.CheckPortFree(n.FS, kubeletPort)},
		{"tools", hostcheck.CheckTools(n.FS, n.Facts, n.Spec.KubernetesMinor, n.kubeProxyTools(ctx)...)},
		{"gpu", n.checkGPU()},
		{"containerd-config", n.checkContainerdConfig()},
	} {
		add(c.name, c.Status, c.Detail())
	}

	// The configuration needs no check here: a run never starts unless
	// config.Resolve accepted it.

	// A kubelet.conf that is there but unusable (AlreadyJoined said no) is
	// a half-joined node: kubeadm's own preflight would refuse it.
	if _, err := n.FS.Stat(hoststate.KubeletConf); err == nil && n.joining {
		_, why := hoststate.Joined(n.FS)
		add("kubelet.conf", "fail", why+"; a half-joined node: run `hybridnode reset --force`, then join again")
	}

	if n.Spec.ArtifactURL == "" {
		if rec, err := hoststate.ReadInstalled(n.FS); err != nil || rec == nil {
			add("artifacts", "fail", "no artifactURL and nothing recorded in "+hoststate.InstalledPath+": set HYBRIDNODE_ARTIFACT_URL or bake the image with `hybridnode install`")
		} else {
			add("artifacts", "pass", "using what is installed (kubernetes "+rec.Versions["kubernetes"]+")")
		}
	} else {
		add("artifacts", "pass", "source "+n.Spec.ArtifactURL)
	}

	var fails []string
	for _, f := range n.findings {
		fields := []zap.Field{zap.String("check", f.Check), zap.String("status", f.Status), zap.String("detail", f.Detail)}
		switch f.Status {
		case "fail":
			fails = append(fails, f.Check+": "+f.Detail)
			n.Log.Error("preflight", fields...)
		case "warn":
			n.Log.Warn("preflight", fields...)
		default:
			n.Log.Info("preflight", fields...)
		}
	}
	if len(fails) > 0 && !n.DryRun {
		return fmt.Errorf("%d check(s) failed: %s", len(fails), strings.Join(fails, "; "))
	}
	return nil
}
