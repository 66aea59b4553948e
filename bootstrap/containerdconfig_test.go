package bootstrap

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/hybridnode/hybridnode/bootstrap/containerd"
	"github.com/hybridnode/hybridnode/bootstrap/hostcheck"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

// nvidiaCtkConfigure does to containerd's config what `nvidia-ctk runtime
// configure --runtime=containerd --enable-cdi` does: it loads the TOML,
// adds its runtime and enable_cdi, and writes it back, comments gone.
func nvidiaCtkConfigure(t *testing.T, h *fakeHost) string {
	t.Helper()
	var m map[string]any
	if err := toml.Unmarshal([]byte(h.read(t, containerd.ConfigPath)), &m); err != nil {
		t.Fatal(err)
	}
	rt := m["plugins"].(map[string]any)["io.containerd.cri.v1.runtime"].(map[string]any)
	rt["enable_cdi"] = true
	rt["containerd"].(map[string]any)["runtimes"].(map[string]any)["nvidia"] = map[string]any{
		"runtime_type": "io.containerd.runc.v2",
		"options":      map[string]any{"BinaryName": "/usr/bin/nvidia-container-runtime", "SystemdCgroup": true},
	}
	out, err := toml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	h.write(t, containerd.ConfigPath, string(out))
	return string(out)
}

// TestEditedContainerdConfigIsKept: an image baked with `hybridnode
// install`, then `nvidia-ctk runtime configure` run on it. The join at
// boot refuses to overwrite containerd's config: preflight fails (exit 3)
// naming the file, why and what to do, before anything is written or
// started; with preflight skipped the containerd phase refuses (exit 6).
// The file stays byte for byte. Once moved away as the remedy says, the
// join writes hybridnode's own, which has the nvidia runtime.
func TestEditedContainerdConfigIsKept(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	if _, err := Execute(context.Background(), h.node(t, srv.URL, nil), InstallPhases(), ExecuteOptions{}); err != nil {
		t.Fatal(err)
	}
	writeExec(t, h.root, "/usr/bin/nvidia-container-runtime", stubRuntime, 0o755)
	edited := nvidiaCtkConfigure(t, h)
	restarts := h.sd.Restarts(hoststate.ContainerdUnit)

	for _, tc := range []struct {
		skip  []string
		phase string
		code  int
	}{
		{nil, "preflight", ExitPreflight},
		{[]string{"preflight"}, "containerd", ExitService},
	} {
		before := tree(t, h.root)
		phases, err := Select(Phases(), nil, tc.skip)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Execute(context.Background(), h.node(t, srv.URL, nil), phases, ExecuteOptions{Join: true})
		var pe *PhaseError
		if !errors.As(err, &pe) || pe.Phase != tc.phase || ExitCode(err) != tc.code {
			t.Fatalf("skip %v: err = %v (exit %d), want phase %s, exit %d", tc.skip, err, ExitCode(err), tc.phase, tc.code)
		}
		for _, want := range []string{"/etc/containerd/config.toml was not written by hybridnode", "hybridnode does not overwrite it",
			"mv /etc/containerd/config.toml /etc/containerd/config.toml.orig", "nvidia-ctk runtime configure is not needed"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("skip %v: error lacks %q: %v", tc.skip, want, err)
			}
		}
		if got := h.read(t, containerd.ConfigPath); got != edited {
			t.Errorf("skip %v: the edited config was rewritten:\n%s", tc.skip, got)
		}
		if tc.skip == nil {
			if after := tree(t, h.root); !mapsEqual(before, after) {
				t.Errorf("preflight failed, yet the host changed")
			}
		}
	}
	if h.sd.Restarts(hoststate.ContainerdUnit) != restarts || h.joinCfg != nil {
		t.Errorf("containerd restarted or kubeadm join ran: %v", h.sd.History())
	}

	// The remedy: move it away, run again.
	if err := os.Rename(filepath.Join(h.root, containerd.ConfigPath), filepath.Join(h.root, containerd.ConfigPath+".orig")); err != nil {
		t.Fatal(err)
	}
	if _, err := Execute(context.Background(), h.node(t, srv.URL, nil), Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
	if def, bin, cdi := containerdRuntime(t, h); def != "runc" || bin != "/usr/bin/nvidia-container-runtime" || !cdi {
		t.Errorf("containerd: default %q, nvidia binary %q, enable_cdi %v", def, bin, cdi)
	}
	if h.read(t, containerd.ConfigPath+".orig") != edited {
		t.Error("the moved config changed")
	}
}

// TestContainerdConfigOwnership: which config.toml a join overwrites.
func TestContainerdConfigOwnership(t *testing.T) {
	// rendered is what hybridnode writes on the fake host without the
	// toolkit: a join on an empty root, read back.
	srv := newArtifactServer(t, "r1")
	h0 := newFakeHost(t)
	if _, err := Execute(context.Background(), h0.node(t, srv.URL, nil), Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
	rendered := h0.read(t, containerd.ConfigPath)
	lines := strings.SplitAfter(rendered, "\n")

	for _, tc := range []struct {
		name    string
		current string
		toolkit bool   // the toolkit appeared since: hybridnode's render differs
		refused string // "": overwritten
	}{
		{"hybridnode's own, unchanged, the toolkit installed since", rendered, true, ""},
		{"hybridnode's own, as it would write it", rendered, false, ""},
		{"an earlier hybridnode's, without the checksum line", lines[0] + strings.Join(lines[2:], ""), false, ""},
		{"empty", "", false, ""},
		{"edited by hand, header kept", strings.Replace(rendered, "SystemdCgroup = true", "SystemdCgroup = false", 1), false, "was changed after hybridnode wrote it"},
		{"a line appended", rendered + "imports = [\"/etc/containerd/conf.d/99-nvidia.toml\"]\n", true, "was changed after hybridnode wrote it"},
		{"another installation's", "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  snapshotter = \"zfs\"\n", false, "was not written by hybridnode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost(t)
			h.write(t, containerd.ConfigPath, tc.current)
			if tc.toolkit {
				writeExec(t, h.root, "/usr/bin/nvidia-container-runtime", stubRuntime, 0o755)
			}
			n := h.node(t, srv.URL, nil)
			_, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true})
			f := findingOf(n, "containerd-config")
			if tc.refused == "" {
				if err != nil || f.Status != hostcheck.Pass {
					t.Fatalf("err %v, finding %+v", err, f)
				}
				if got := h.read(t, containerd.ConfigPath); strings.Contains(got, "nvidia") != tc.toolkit || !strings.HasPrefix(got, lines[0]) {
					t.Errorf("not hybridnode's config now:\n%s", got)
				}
				return
			}
			if ExitCode(err) != ExitPreflight || f.Status != hostcheck.Fail || !strings.Contains(f.Detail, tc.refused) {
				t.Fatalf("err %v (exit %d), finding %+v; want preflight to refuse: %s", err, ExitCode(err), f, tc.refused)
			}
			if got := h.read(t, containerd.ConfigPath); got != tc.current {
				t.Errorf("rewritten:\n%s", got)
			}
		})
	}
}

// TestPlanShowsEditedContainerdConfig: a dry run does not stop at an
// edited config: preflight says FAIL and the plan shows the difference.
func TestPlanShowsEditedContainerdConfig(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	h.write(t, containerd.ConfigPath, "version = 2\n")
	before := tree(t, h.root)
	n := h.node(t, srv.URL, nil)
	if _, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true, DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if f := findingOf(n, "containerd-config"); f.Status != hostcheck.Fail {
		t.Errorf("finding %+v", f)
	}
	found := false
	for _, c := range n.Recorder.Changes() {
		if c.Path == containerd.ConfigPath && strings.Contains(c.Diff, "-version = 2") && strings.Contains(c.Diff, "+version = 3") {
			found = true
		}
	}
	if !found {
		t.Errorf("no diff of %s in the plan: %v", containerd.ConfigPath, n.Recorder.Changes())
	}
	if after := tree(t, h.root); !mapsEqual(before, after) {
		t.Error("the dry run changed the host")
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
