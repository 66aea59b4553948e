package bootstrap

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap/command"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs/hostfstest"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

// kubeadmResets makes the fake kubeadm's reset remove kubelet.conf, as the
// real one does.
func (h *fakeHost) kubeadmResets(t *testing.T) {
	t.Helper()
	h.cmd.On("kubeadm", func(c command.Cmd) (command.Result, error) {
		switch c.Args[0] {
		case "join":
			data, err := os.ReadFile(filepath.Join(h.root, c.Args[2]))
			if err != nil {
				return command.Result{ExitCode: 1}, err
			}
			h.joinCfg = data
			h.write(t, hoststate.KubeletConf, "clusters:\n- cluster:\n    server: https://10.0.0.10:6443\nusers:\n- user:\n    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n")
		case "reset":
			os.Remove(filepath.Join(h.root, hoststate.KubeletConf))
		}
		return command.Result{}, nil
	})
}

func (h *fakeHost) exists(p string) bool {
	_, err := os.Lstat(filepath.Join(h.root, p))
	return err == nil
}

func count(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// TestJoinResetJoin: join, reset, join again. The reset runs kubeadm reset,
// stops and disables the units and removes exactly what hybridnode wrote or
// installed; the second join runs kubeadm join again, downloading again
// (no second copy of the artifacts is kept on the node).
func TestJoinResetJoin(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	h.kubeadmResets(t)
	// What is not hybridnode's: the user's config and a hand-written mirror.
	h.write(t, "/etc/hybridnode/config.yaml", "# the user's\n")
	h.write(t, "/etc/containerd/certs.d/docker.io/hosts.toml", "server = \"https://mirror.example\"\n")
	if _, err := Execute(context.Background(), h.node(t, srv.URL, nil), Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
	h.write(t, "/usr/local/bin/crictl", "patched by hand\n") // changed since install: kept

	n := h.node(t, srv.URL, nil)
	if err := Reset(context.Background(), n, ResetOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := count(h.cmd.Lines(), "kubeadm reset -f --cri-socket unix:///run/containerd/containerd.sock"); got != 1 {
		t.Errorf("kubeadm reset ran %d times: %v", got, h.cmd.Lines())
	}
	if h.sd.Stops(hoststate.ContainerdUnit) != 1 || h.sd.Enabled(hoststate.ContainerdUnit) || h.sd.Enabled(hoststate.KubeletUnit) {
		t.Errorf("systemd after reset: %v", h.sd.History())
	}
	if hist := h.sd.History(); hist[len(hist)-1] != "daemon-reload" {
		t.Errorf("no daemon-reload after removing units: %v", hist)
	}
	for _, p := range []string{
		"/usr/local/bin/kubelet", "/usr/local/bin/kubeadm", "/usr/local/bin/containerd", "/usr/local/bin/ctr",
		"/usr/local/bin/containerd-shim-runc-v2", "/usr/local/sbin/runc",
		"/etc/modules-load.d/hybridnode.conf", "/etc/sysctl.d/99-hybridnode.conf", "/etc/containerd/config.toml",
		"/etc/containerd/certs.d/registry.k8s.io", "/lib/systemd/system/containerd.service", "/lib/systemd/system/kubelet.service",
		"/lib/systemd/system/kubelet.service.d", "/etc/hybridnode/patches", hoststate.InstalledPath, hoststate.ReportPath, hoststate.KubeletConf,
	} {
		if h.exists(p) {
			t.Errorf("%s left after reset", p)
		}
	}
	for _, p := range []string{"/etc/hybridnode/config.yaml", "/etc/containerd/certs.d/docker.io/hosts.toml", "/usr/local/bin/crictl"} {
		if !h.exists(p) {
			t.Errorf("%s removed by reset", p)
		}
	}
	if h.exists(hoststate.StagingDir) {
		t.Errorf("the install kept a copy of the downloads in %s", hoststate.StagingDir)
	}

	// Join again: kubeadm join runs again; the removed components are
	// downloaded again (SHA256SUMS and five artifacts).
	before := srv.requests.Load()
	ran, err := Execute(context.Background(), h.node(t, srv.URL, nil), Phases(), ExecuteOptions{Join: true})
	if err != nil || !ran {
		t.Fatalf("join after reset: ran=%v err=%v", ran, err)
	}
	if got := count(h.cmd.Lines(), "kubeadm join"); got != 2 {
		t.Errorf("kubeadm join ran %d times in all, want 2: %v", got, h.cmd.Lines())
	}
	if srv.requests.Load() != before+6 {
		t.Errorf("join after reset made %d requests, want 6 (SHA256SUMS and five artifacts)", srv.requests.Load()-before)
	}
	if h.sd.Starts(hoststate.ContainerdUnit) != 2 || !h.sd.Enabled(hoststate.KubeletUnit) || !h.exists(hoststate.KubeletConf) {
		t.Errorf("after the second join: %v", h.sd.History())
	}
	if got := h.read(t, "/usr/local/bin/crictl"); !strings.Contains(got, "echo crictl r1") {
		t.Errorf("crictl = %q", got)
	}
	// A second reset with --purge leaves nothing of hybridnode's, not even
	// the downloads an older version kept.
	h.write(t, hoststate.StagingDir+"/kubernetes/v1.37.1/bin/linux/amd64/kubelet", "kept by an older hybridnode")
	if err := Reset(context.Background(), h.node(t, srv.URL, nil), ResetOptions{Purge: true}); err != nil {
		t.Fatal(err)
	}
	if h.exists("/var/lib/hybridnode") || h.exists("/usr/local/bin/crictl") || !h.exists("/etc/hybridnode/config.yaml") {
		t.Errorf("after reset --purge: /var/lib/hybridnode %v, crictl %v, config.yaml %v",
			h.exists("/var/lib/hybridnode"), h.exists("/usr/local/bin/crictl"), h.exists("/etc/hybridnode/config.yaml"))
	}
}

// TestResetDryRun lists what reset would do and touches nothing.
func TestResetDryRun(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	h.kubeadmResets(t)
	if _, err := Execute(context.Background(), h.node(t, srv.URL, nil), Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
	h.write(t, hoststate.StagingDir+"/kubernetes/v1.37.1/bin/linux/amd64/kubelet", "kept by an older hybridnode")
	cmds, sdCalls := len(h.cmd.History()), len(h.sd.History())
	var counter *hostfstest.Counter
	n := h.node(t, srv.URL, func(f hostfs.FS) hostfs.FS { counter = hostfstest.Counting(f); return counter })
	n.EnableDryRun()
	if err := Reset(context.Background(), n, ResetOptions{Purge: true}); err != nil {
		t.Fatal(err)
	}
	if counter.Total() != 0 || len(h.cmd.History()) != cmds || len(h.sd.History()) != sdCalls {
		t.Fatalf("dry run acted: writes %v, commands %v, systemd %v", counter.Writes(), h.cmd.Lines()[cmds:], h.sd.History()[sdCalls:])
	}
	var got []string
	for _, c := range n.Recorder.Changes() {
		got = append(got, c.Op+" "+c.Path+" "+c.Detail)
	}
	for _, want := range []string{
		"command kubeadm kubeadm reset -f --cri-socket unix:///run/containerd/containerd.sock",
		"systemd containerd.service stop", "systemd kubelet.service disable",
		"remove /usr/local/bin/kubelet ", "remove /etc/containerd/config.toml ", "remove " + hoststate.InstalledPath + " ",
		"remove " + hoststate.StagingDir + " ", "remove /var/lib/hybridnode ",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("dry run lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(strings.Join(got, "\n"))
	}
}
