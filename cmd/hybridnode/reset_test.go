package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap"
)

func terminal(t *testing.T, is bool, input string) {
	t.Helper()
	oldIn, oldTTY := stdin, stdinIsTerminal
	stdin, stdinIsTerminal = strings.NewReader(input), func() bool { return is }
	t.Cleanup(func() { stdin, stdinIsTerminal = oldIn, oldTTY })
}

// joinedRoot joins an offline root (no kubeadm run: nothing live behind it),
// with the user's config file in place.
func joinedRoot(t *testing.T) (string, map[string]string) {
	t.Helper()
	root := t.TempDir()
	writeFile(t, root, "/etc/os-release", "ID=debian\n")
	writeFile(t, root, "/etc/hybridnode/config.yaml", "cgroupDriver: systemd\n")
	env := map[string]string{}
	for k, v := range ackEnv {
		env[k] = v
	}
	env["HYBRIDNODE_ARTIFACT_URL"] = bundle(t)
	env["HYBRIDNODE_KUBERNETES_VERSION"] = "v1.36.4"
	env["HYBRIDNODE_CONTAINERD_VERSION"] = "v1.7.30"
	if out, code := run(t, env, "join", "--root", root); code != 0 {
		t.Fatalf("join: exit %d:\n%s", code, out)
	}
	return root, env
}

func TestResetAsksFirst(t *testing.T) {
	root, _ := joinedRoot(t)
	before := tree(t, root)

	terminal(t, false, "")
	out, code := run(t, nil, "reset", "--root", root)
	if code != bootstrap.ExitInvalid || !strings.Contains(out, "stdin is not a terminal: pass --force") {
		t.Fatalf("no terminal: exit %d:\n%s", code, out)
	}
	terminal(t, true, "no\n")
	out, code = run(t, nil, "reset", "--root", root)
	if code != bootstrap.ExitInvalid || !strings.Contains(out, "Type yes to go on") || !strings.Contains(out, "not confirmed") {
		t.Fatalf("answered no: exit %d:\n%s", code, out)
	}
	terminal(t, false, "")
	out, code = run(t, nil, "reset", "--root", root, "--dry-run")
	if code != 0 || !strings.Contains(out, "remove /usr/local/bin/kubelet") || !strings.Contains(out, "nothing was touched") {
		t.Fatalf("dry run: exit %d:\n%s", code, out)
	}
	if after := tree(t, root); !slices.Equal(before, after) {
		t.Fatalf("the root changed without confirmation")
	}
	terminal(t, true, "yes\n")
	if out, code := run(t, nil, "reset", "--root", root); code != 0 {
		t.Fatalf("answered yes: exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/local/bin/kubelet")); err == nil {
		t.Error("kubelet still installed after a confirmed reset")
	}
}

// TestResetThenJoin: reset --force leaves only what is not hybridnode's
// (and the lock file in /run, a tmpfs on a real host); join then rebuilds
// exactly the same root.
func TestResetThenJoin(t *testing.T) {
	root, env := joinedRoot(t)
	joined := tree(t, root)
	out, code := run(t, nil, "reset", "--force", "--root", root)
	if code != 0 {
		t.Fatalf("reset: exit %d:\n%s", code, out)
	}
	var left []string
	for _, p := range tree(t, root) {
		if !strings.HasPrefix(p, "var/lib/hybridnode/artifacts") {
			left = append(left, p)
		}
	}
	for _, p := range left {
		full := filepath.Join(root, p)
		if fi, err := os.Lstat(full); err == nil && !fi.IsDir() && p != "etc/os-release" && p != "etc/hybridnode/config.yaml" && p != "run/hybridnode.lock" {
			t.Errorf("left after reset: %s", p)
		}
	}
	for _, keep := range []string{"etc/hybridnode/config.yaml"} {
		if _, err := os.Stat(filepath.Join(root, keep)); err != nil {
			t.Errorf("reset removed %s", keep)
		}
	}
	if out, code := run(t, env, "join", "--root", root); code != 0 {
		t.Fatalf("join after reset: exit %d:\n%s", code, out)
	}
	if again := tree(t, root); !slices.Equal(joined, again) {
		t.Errorf("join after reset made a different root:\nfirst:  %v\nsecond: %v", joined, again)
	}
	if out, code := run(t, nil, "reset", "--force", "--purge", "--root", root); code != 0 {
		t.Fatalf("reset --purge: exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/hybridnode")); err == nil {
		t.Error("reset --purge left /var/lib/hybridnode")
	}
}
