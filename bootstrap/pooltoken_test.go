package bootstrap

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap/command"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs/hostfstest"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

// poolHash is the drop-in's CA pin (testHash holds the token's secret,
// which scanForToken looks for in every file).
var poolHash = "sha256:" + strings.Repeat("a1", 32)

// poolSettings is the node-pool drop-in as the script of `cluster setup`
// writes it (one YAML key a line, the token last).
func poolSettings(artifactURL string) string {
	return "apiServerEndpoint: 10.0.0.10:6443\ncaCertHashes:\n- " + poolHash + "\nkubernetesVersion: v1.37.1\nartifactURL: " + artifactURL + "\ntoken: " + testToken + "\n"
}

// writePoolSettings writes the drop-in as the script does: 0600.
func (h *fakeHost) writePoolSettings(t testing.TB, artifactURL string) {
	t.Helper()
	h.write(t, nodePoolDropIn, poolSettings(artifactURL))
	if err := os.Chmod(filepath.Join(h.root, nodePoolDropIn), 0o600); err != nil {
		t.Fatal(err)
	}
}

// poolNode is a node of a stock instance ACK runs the node-pool script
// on: the join settings from the drop-in (no token in the environment),
// resolved as the CLI does, the join fields required only while the node
// is not joined.
func (h *fakeHost) poolNode(t testing.TB, wrap func(hostfs.FS) hostfs.FS) *Node {
	t.Helper()
	env, err := NewEnv(h.root)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"ALIBABA_CLOUD_PROVIDER_ID":  "cn-hangzhou.i-bp1abc",
		"ALIBABA_CLOUD_NODE_NAME":    "cn-hangzhou.10.10.24.7",
		"HYBRIDNODE_RUNC_VERSION":    "v1.1.5",
		"HYBRIDNODE_KUBE_PROXY_MODE": "iptables",
	}
	joined, _ := hoststate.Joined(env.FS)
	l, s, err := config.Resolve(config.ResolveOptions{
		DefaultFile: filepath.Join(h.root, config.DefaultFile),
		ReadFile:    os.ReadFile,
		ReadDir:     os.ReadDir,
		LookupEnv:   func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		Hostname:    "node-a",
		Installed:   hoststate.InstalledVersions(env.FS), InstalledFrom: hoststate.InstalledPath,
		Join: !joined,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h.assemble(t, env, l, s, wrap)
}

// TestJoinRemovesPoolToken: once the node has joined with the token of
// the node-pool drop-in, the drop-in no longer holds it (its other
// settings and its 0600 mode kept, rewritten through the file seam), and
// a plan says so without showing it; a second join on the joined node,
// with no token anywhere, succeeds and writes nothing. (newFakeHost's
// scanForToken then finds the token in no file under the root.)
func TestJoinRemovesPoolToken(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	h.writePoolSettings(t, srv.URL)

	n := h.poolNode(t, nil)
	if _, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true, DryRun: true}); err != nil {
		t.Fatal(err)
	}
	var plan bytes.Buffer
	PrintPlan(&plan, n)
	if !strings.Contains(plan.String(), "write "+nodePoolDropIn+" (0600) [content hidden (mode 0600)]") {
		t.Errorf("the plan does not show the drop-in's rewrite:\n%s", plan.String())
	}
	if got := h.read(t, nodePoolDropIn); got != poolSettings(srv.URL) {
		t.Errorf("the plan changed the drop-in:\n%s", got)
	}

	var counter *hostfstest.Counter
	n = h.poolNode(t, func(f hostfs.FS) hostfs.FS { counter = hostfstest.Counting(f); return counter })
	if _, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(h.joinCfg, []byte("token: "+testToken)) {
		t.Fatalf("kubeadm did not get the drop-in's token:\n%s", h.joinCfg)
	}
	if counter.Writes()[nodePoolDropIn] != 1 {
		t.Errorf("the drop-in was not rewritten through the file seam once: %v", counter.Writes())
	}
	want := strings.Replace(poolSettings(srv.URL), "token: "+testToken+"\n", poolTokenRemoved+"\n", 1)
	if got := h.read(t, nodePoolDropIn); got != want {
		t.Errorf("the drop-in after the join:\n%s\nwant:\n%s", got, want)
	}
	if fi, err := os.Stat(filepath.Join(h.root, nodePoolDropIn)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the drop-in's mode: %v, %v; want 0600", fi.Mode(), err)
	}
	h.scanForToken(t)

	// Again, as ACK's script would on a reboot: no token anywhere now.
	n = h.poolNode(t, func(f hostfs.FS) hostfs.FS { counter = hostfstest.Counting(f); return counter })
	if n.Spec.Token != "" || n.Spec.APIServerEndpoint != "10.0.0.10:6443" {
		t.Errorf("the second run's configuration: token set %v, apiServerEndpoint %q", n.Spec.Token != "", n.Spec.APIServerEndpoint)
	}
	calls := len(h.cmd.History())
	ran, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true})
	if err != nil || ran {
		t.Fatalf("second join: ran=%v, err=%v", ran, err)
	}
	if counter.Total() != 0 || len(h.cmd.History()) != calls {
		t.Errorf("second join: writes %v, commands %v", counter.Writes(), h.cmd.Lines()[calls:])
	}
}

// TestJoinedNodeDropsPoolToken: a node joined while hybridnode kept the
// token in the drop-in (an older release, or a run killed after the join)
// loses it at the next join run, which runs no kubeadm.
func TestJoinedNodeDropsPoolToken(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	if _, err := Execute(context.Background(), h.node(t, srv.URL, nil), Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
	h.writePoolSettings(t, srv.URL)
	calls := len(h.cmd.History())
	if _, err := Execute(context.Background(), h.poolNode(t, nil), Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
	if got := h.read(t, nodePoolDropIn); strings.Contains(got, testToken) || !strings.Contains(got, poolTokenRemoved) {
		t.Errorf("the drop-in after the re-run:\n%s", got)
	}
	for _, l := range h.cmd.Lines()[calls:] {
		if strings.HasPrefix(l, "kubeadm") {
			t.Errorf("ran %q on a joined node", l)
		}
	}
}

// TestJoinWithoutTokenOnAResetNode: a configuration read without the join
// fields (the node was joined then) does not reach kubeadm with an empty
// token once the node is no longer joined.
func TestJoinWithoutTokenOnAResetNode(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	// Joined, as the fake kubeadm leaves a node.
	h.write(t, "/etc/hybridnode/given.yaml", "")
	if _, err := h.kubeadm(t, command.Cmd{Name: "kubeadm", Args: []string{"join", "--config", "/etc/hybridnode/given.yaml"}}); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(h.root, "/etc/hybridnode/given.yaml"))
	h.write(t, nodePoolDropIn, strings.Replace(poolSettings(srv.URL), "token: "+testToken+"\n", "", 1))
	if joined, why := hoststate.Joined(mustFS(t, h.root)); !joined {
		t.Fatalf("not joined: %s", why)
	}
	n := h.poolNode(t, nil)
	if err := os.Remove(filepath.Join(h.root, hoststate.KubeletConf)); err != nil {
		t.Fatal(err)
	}
	_, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true})
	if err == nil || !strings.Contains(err.Error(), "no bootstrap token configured") {
		t.Fatalf("join = %v, want the missing token named", err)
	}
	for _, l := range h.cmd.Lines() {
		if strings.HasPrefix(l, "kubeadm join") {
			t.Errorf("ran %q without a token", l)
		}
	}
}

func mustFS(t testing.TB, root string) hostfs.FS {
	t.Helper()
	f, err := hostfs.New(root)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestWithoutToken(t *testing.T) {
	const secret = "0123456789abcdef"
	for _, tc := range []struct {
		name, in, want string
		ok, err        bool
	}{
		{name: "the script's", in: "apiServerEndpoint: a:6443\ntoken: abcdef." + secret + "\nkubernetesVersion: v1.37.1\n",
			want: "apiServerEndpoint: a:6443\n" + poolTokenRemoved + "\nkubernetesVersion: v1.37.1\n", ok: true},
		{name: "quoted key and value, no last newline", in: "\"token\" : 'abcdef." + secret + "'",
			want: poolTokenRemoved + "\n", ok: true},
		{name: "a block scalar", in: "token: |\n  abcdef." + secret + "\n\nnodeName: n\n",
			want: poolTokenRemoved + "\nnodeName: n\n", ok: true},
		{name: "tokenFile stays", in: "tokenFile: /etc/hybridnode/token\n"},
		{name: "no token", in: "apiServerEndpoint: a:6443\n"},
		{name: "a flow mapping", in: "{token: abcdef." + secret + ", nodeName: n}\n", err: true},
		{name: "not YAML", in: "token: [abcdef." + secret + "\n", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, ok, err := withoutToken([]byte(tc.in))
			if (err != nil) != tc.err || ok != tc.ok || string(out) != tc.want {
				t.Errorf("withoutToken = %q, %v, %v; want %q, %v, error %v", out, ok, err, tc.want, tc.ok, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("the error quotes the token: %v", err)
			}
		})
	}
}

// TestNodePoolDropInIsTheScripts: the drop-in is where add-node.sh writes
// the settings, and a config.d file the node reads.
func TestNodePoolDropInIsTheScripts(t *testing.T) {
	if want := filepath.Join(config.DropInDir(config.DefaultFile), "50-node-pool.yaml"); nodePoolDropIn != want {
		t.Errorf("nodePoolDropIn %s, a node reads %s", nodePoolDropIn, want)
	}
	script, err := os.ReadFile("../packaging/add-node.sh.in")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"hn_cfgd=${HYBRIDNODE_BOOTSTRAP_CONFIG_D:-" + filepath.Dir(nodePoolDropIn) + "}", "hn_cfg=$hn_cfgd/" + filepath.Base(nodePoolDropIn)} {
		if !bytes.Contains(script, []byte(want)) {
			t.Errorf("add-node.sh.in lacks %s", want)
		}
	}
}
