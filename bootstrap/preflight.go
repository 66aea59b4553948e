package bootstrap

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/hybridnode/hybridnode/kubelet"
)

// Finding is the result of one preflight check.
type Finding struct {
	Check  string `json:"check"`
	Status string `json:"status"` // pass, warn, fail, skip
	Detail string `json:"detail"`
}

const kubeletPort = 10250

// geteuid is a seam for tests.
var geteuid = os.Geteuid

func runPreflight(ctx context.Context, n *Node) error {
	add := func(check, status, detail string) {
		n.findings = append(n.findings, Finding{Check: check, Status: status, Detail: detail})
	}
	noLive := "skipped: no live host behind --root " + n.FS.Root()

	switch {
	case !n.Live:
		add("root", "skip", noLive)
	case geteuid() != 0:
		add("root", "fail", fmt.Sprintf("running as uid %d; run as root", geteuid()))
	default:
		add("root", "pass", "running as root")
	}

	switch n.Facts.PID1 {
	case "":
		add("systemd", "skip", "PID 1 unknown (no /proc/1/comm under the root)")
	case "systemd":
		add("systemd", "pass", "PID 1 is systemd")
	default:
		add("systemd", "fail", fmt.Sprintf("PID 1 is %q, not systemd: hybridnode manages containerd and kubelet as systemd units", n.Facts.PID1))
	}

	switch v := n.Facts.CgroupVersion; {
	case v == 0:
		add("cgroups", "skip", "cgroup version unknown (no /sys/fs/cgroup under the root)")
	case kubelet.NeedsFailCgroupV1False(n.Spec.KubernetesMinor, v == 1):
		add("cgroups", "warn", fmt.Sprintf("cgroup v1 with kubelet 1.%d: kubelet gets failCgroupV1: false and kubeadm's SystemVerification check is ignored; plan a move to cgroup v2", n.Spec.KubernetesMinor))
	default:
		add("cgroups", "pass", fmt.Sprintf("cgroup v%d", v))
	}

	if listening, known := portListening(n, kubeletPort); !known {
		add("port-10250", "skip", "no /proc/net/tcp under the root")
	} else if listening {
		add("port-10250", "fail", "something already listens on port 10250 (kubelet's port): stop it, or run `hybridnode reset` if it is an old kubelet")
	} else {
		add("port-10250", "pass", "port 10250 is free")
	}

	add("config", "pass", "configuration valid")

	if n.Spec.ArtifactURL == "" {
		if rec, err := readInstalled(n.FS); err != nil || rec == nil {
			add("artifacts", "fail", "no artifactURL and nothing recorded in "+installedPath+": set HYBRIDNODE_ARTIFACT_URL or bake the image with `hybridnode install`")
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

// portListening reads /proc/net/tcp and tcp6 for a LISTEN socket on port.
func portListening(n *Node, port int) (listening, known bool) {
	want := fmt.Sprintf(":%04X", port)
	for _, p := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := n.FS.ReadFile(p)
		if err != nil {
			continue
		}
		known = true
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			// sl local_address rem_address st ...; st 0A is LISTEN
			if len(f) > 3 && strings.HasSuffix(f[1], want) && f[3] == "0A" {
				return true, true
			}
		}
	}
	return false, known
}
