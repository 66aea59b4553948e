package bootstrap

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap/command"
)

// joinTree is tree minus what differs between two good joins: kubelet's
// client certificate (a new key each time) is compared by presence.
func joinTree(t *testing.T, root string) map[string]string {
	t.Helper()
	m := tree(t, root)
	for k := range m {
		if strings.HasPrefix(k, "/var/lib/kubelet/pki/") {
			m[k] = "present"
		}
	}
	return m
}

// fakeReset makes the fake kubeadm's reset remove what a real one does
// (for these tests: /etc/kubernetes and kubelet's files).
func fakeReset(t *testing.T, h *fakeHost) {
	h.cmd.On("kubeadm", func(c command.Cmd) (command.Result, error) {
		if c.Args[0] == "reset" {
			for _, p := range []string{"/etc/kubernetes", "/var/lib/kubelet"} {
				if err := os.RemoveAll(filepath.Join(h.root, p)); err != nil {
					t.Error(err)
				}
			}
			return command.Result{}, nil
		}
		return h.kubeadm(t, c)
	})
}

// TestJoinKilledAtPhaseBoundary: a join killed after any phase, or inside
// kubeadm join (kubeadm's files written, no kubelet.conf yet, the token
// file still there), is converged by the next run to the tree of a join
// that was never interrupted: no temp file, no token file.
func TestJoinKilledAtPhaseBoundary(t *testing.T) {
	shortBounds(t)
	srv := newArtifactServer(t, "r1")
	ref := newFakeHost(t)
	if _, err := Execute(context.Background(), ref.node(t, srv.URL, nil), Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
	want := joinTree(t, ref.root)
	if _, ok := want["/etc/kubernetes/kubelet.conf"]; !ok {
		t.Fatal("the reference join wrote no kubelet.conf")
	}

	type kill struct {
		name   string
		phases int  // run only the first phases phases
		inJoin bool // killed inside kubeadm join
	}
	var kills []kill
	for i := 1; i < len(Phases()); i++ {
		kills = append(kills, kill{name: "after phase " + Phases()[i-1].Name, phases: i})
	}
	kills = append(kills, kill{name: "inside kubeadm join", phases: len(Phases()), inJoin: true})
	for _, k := range kills {
		t.Run(k.name, func(t *testing.T) {
			h := newFakeHost(t)
			fakeReset(t, h)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if k.inJoin {
				h.cmd.On("kubeadm", func(c command.Cmd) (command.Result, error) {
					if c.Args[0] == "join" {
						// kubeadm got as far as kubelet's config and the CA, then the kill
						h.write(t, "/etc/kubernetes/pki/ca.crt", "ca")
						h.write(t, "/etc/kubernetes/bootstrap-kubelet.conf", "bootstrap")
						h.write(t, "/var/lib/kubelet/config.yaml", "kind: KubeletConfiguration\n")
						cancel()
						return command.Result{ExitCode: -1}, errors.New("signal: killed")
					}
					return command.Result{}, nil
				})
			}
			_, err := Execute(ctx, h.node(t, srv.URL, nil), Phases()[:k.phases], ExecuteOptions{Join: true})
			if k.inJoin {
				if err == nil {
					t.Fatal("the killed join succeeded")
				}
				if _, err := os.Stat(filepath.Join(h.root, joinConfigPath)); err != nil {
					// a real SIGKILL leaves it; the cancelled run here may have cleaned up
					h.write(t, joinConfigPath, "token: "+testToken+"\n")
				}
			} else if err != nil {
				t.Fatal(err)
			}

			next := newFakeHostAt(t, h.root) // the next run: a fresh process, the same disk
			fakeReset(t, next)
			if _, err := Execute(context.Background(), next.node(t, srv.URL, nil), Phases(), ExecuteOptions{Join: true}); err != nil {
				t.Fatalf("the run after the kill: %v", err)
			}
			if d := diffTrees(want, joinTree(t, h.root)); d != "" {
				t.Errorf("the run after the kill did not converge:\n%s", d)
			}
			noTemps(t, h.root)
			if _, err := os.Stat(filepath.Join(h.root, joinConfigPath)); !os.IsNotExist(err) {
				t.Errorf("the token file is left: %v", err)
			}
		})
	}
}
