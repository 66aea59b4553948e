package cluster

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"sigs.k8s.io/yaml"

	"github.com/hybridnode/hybridnode/bootstrap/cluster/clustertest"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/doctor/report"
)

const scriptURL = "https://hn.oss-cn-hangzhou-internal.aliyuncs.com/pools/new/add-node-default.sh"

func calico(t *testing.T, c *clustertest.Cluster) *appsv1.DaemonSet {
	return c.Get(t, clustertest.DaemonSets, "kube-system", "calico-node").(*appsv1.DaemonSet)
}

// dropInOf extracts the settings from a node-pool script.
func dropInOf(t *testing.T, script []byte) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<<'HN_NODE_POOL_EOF'\n(.*?)HN_NODE_POOL_EOF\n`).FindSubmatch(script)
	if m == nil {
		t.Fatalf("no settings in the script:\n%s", script)
	}
	return string(m[1])
}

func TestSetupFixesBrokenCluster(t *testing.T) {
	f := newFixture(t, clustertest.Broken(t))
	before := f.check(t, f.checkOptions())
	if strings.Join(before.Failed(), ",") != "onprem-cni,add-node-script,node-pool-token" {
		t.Fatalf("broken cluster: failed %v\n%s", before.Failed(), textOf(before))
	}
	o := f.setupOptions()
	o.ScriptURL = scriptURL
	start := time.Now()
	out, warn, err := f.run(t, false, o)
	if err != nil {
		t.Fatalf("setup: %v\n%s", err, out)
	}
	if warn != "" {
		t.Errorf("warnings: %s", warn)
	}
	toks := poolTokens(t, f.c)
	if len(toks) != 1 {
		t.Fatalf("%d pool tokens", len(toks))
	}
	tok := toks[0]
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{
		"updated DaemonSet kube-system/calico-node: nodeAffinity += alibabacloud.com/external NotIn [true] and type NotIn [virtual-kubelet] (1 of 1 required terms)",
		"created bootstrap token " + tok.id + " for node pool default, " + tok.expiry(),
		"wrote " + f.script() + " (0600)",
		"set kube-system/ack-agent-config addNodeScriptPath=" + scriptURL + " (a new ConfigMap)",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("output:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}

	// The token Secret, as kubeadm would make it, with a TTL.
	s := tok.obj
	if s.Name != "bootstrap-token-"+tok.id || s.Type != bootstrapapi.SecretTypeBootstrapToken || s.Labels[PoolLabel] != "default" ||
		string(s.Data["usage-bootstrap-authentication"]) != "true" || string(s.Data["usage-bootstrap-signing"]) != "true" ||
		string(s.Data["auth-extra-groups"]) != "system:bootstrappers:kubeadm:default-node-token" ||
		!strings.Contains(string(s.Data["description"]), "hybridnode") || !strings.Contains(string(s.Data["description"]), "default") ||
		len(tok.secret) != 16 {
		t.Errorf("token secret: %+v", s)
	}
	if d := tok.expires.Sub(start); d < 24*time.Hour-2*time.Second || d > 24*time.Hour+2*time.Second {
		t.Errorf("expires in %s, want 24h", d)
	}

	// Calico: the exclusions added, the rest kept.
	terms := calico(t, f.c).Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchExpressions) != 3 || terms[0].MatchExpressions[0].Key != "kubernetes.io/os" {
		t.Errorf("terms: %+v", terms)
	}
	if calico(t, f.c).Spec.Template.Spec.Affinity.PodAntiAffinity == nil || calico(t, f.c).Spec.Template.Spec.NodeSelector["kubernetes.io/os"] != "linux" {
		t.Error("the rest of Calico's spec changed")
	}

	// The script: 0600, the settings, the comment.
	fi, err := os.Stat(f.script())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("script: %v %v", fi, err)
	}
	script, _ := os.ReadFile(f.script())
	drop := dropInOf(t, script)
	pin := report.Pin(f.c.CA)
	wantDrop := "apiServerEndpoint: 10.0.0.10:6443\ncaCertHashes:\n- " + pin + "\nkubernetesVersion: v1.37.1\nartifactURL: https://hn.oss-cn-hangzhou-internal.aliyuncs.com/k8s\ntoken: " + tok.id + "." + tok.secret + "\n"
	if drop != wantDrop {
		t.Errorf("settings:\n%s\nwant:\n%s", drop, wantDrop)
	}
	for _, w := range []string{
		"# node pool default of cluster 10.0.0.10:6443: bootstrap token " + tok.id + ", " + tok.expiry() + "\n",
		"# THIS SCRIPT CARRIES A BOOTSTRAP TOKEN: keep it in a private bucket or behind a signed URL reachable only inside the VPC\n",
		"# Kubernetes v1.37.1 from https://hn.oss-cn-hangzhou-internal.aliyuncs.com/k8s\n",
		"# made by: hybridnode-cluster setup --release " + f.release + "\n",
	} {
		if !bytes.Contains(script, []byte(w)) {
			t.Errorf("script lacks %q", w)
		}
	}
	if configMap(t, f.c, "kube-system", "ack-agent-config").Data["addNodeScriptPath"] != scriptURL {
		t.Error("addNodeScriptPath not set")
	}
	// Only the expected objects were changed.
	for _, a := range f.c.Mutations() {
		if r := a.GetResource().Resource; !(r == "daemonsets" || r == "secrets" && a.GetVerb() == "create" || r == "configmaps" && a.GetVerb() == "create") {
			t.Errorf("unexpected change: %s %s", a.GetVerb(), r)
		}
	}

	after := f.check(t, f.checkOptions())
	if after.Result != "healthy" {
		t.Errorf("after setup:\n%s", textOf(after))
	}
}

func TestSetupSecondRunChangesNothing(t *testing.T) {
	f := newFixture(t, clustertest.Broken(t))
	o := f.setupOptions()
	o.ScriptURL = scriptURL
	if _, _, err := f.run(t, false, o); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(f.script(), old, old); err != nil {
		t.Fatal(err)
	}
	f.c.Fake.ClearActions()
	out, _, err := f.run(t, false, o)
	if err != nil || out != "no changes\n" {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if m := f.c.Mutations(); len(m) != 0 {
		t.Errorf("second run sent %d mutating requests: %v", len(m), m)
	}
	if fi, _ := os.Stat(f.script()); !fi.ModTime().Equal(old) {
		t.Errorf("the script was rewritten (mtime %s)", fi.ModTime())
	}
	if n := len(poolTokens(t, f.c)); n != 1 {
		t.Errorf("%d tokens", n)
	}
	entries, _ := os.ReadDir(f.dir)
	if len(entries) != 1 {
		t.Errorf("files left behind: %v", entries)
	}
}

func TestSetupDryRun(t *testing.T) {
	f := newFixture(t, clustertest.Broken(t))
	o := f.setupOptions()
	o.ScriptURL = scriptURL
	o.DryRun = true
	dsBefore := calico(t, f.c)
	out, _, err := f.run(t, false, o)
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	m := f.c.Mutations()
	if len(m) != 3 {
		t.Errorf("%d dry-run requests, want 3 (DaemonSet, Secret, ConfigMap): %v", len(m), m)
	}
	for _, a := range m {
		if !clustertest.IsDryRun(a) {
			t.Errorf("a real change in a dry run: %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
	if len(poolTokens(t, f.c)) != 0 || !equalJSON(t, calico(t, f.c), dsBefore) {
		t.Error("the dry run changed the cluster")
	}
	if _, err := f.c.Tracker.Get(clustertest.ConfigMaps, "kube-system", "ack-agent-config"); err == nil {
		t.Error("the dry run created ack-agent-config")
	}
	if entries, _ := os.ReadDir(f.dir); len(entries) != 0 {
		t.Errorf("the dry run wrote %v", entries)
	}
	for _, w := range []string{
		"would update DaemonSet kube-system/calico-node: nodeAffinity +=",
		"--- DaemonSet kube-system/calico-node spec.template.spec\n+++ DaemonSet kube-system/calico-node spec.template.spec\n",
		"+        - key: alibabacloud.com/external\n+          operator: NotIn\n+          values:\n+          - \"true\"\n+        - key: type\n",
		"would create bootstrap token ",
		"would write " + f.script() + " (0600)\n--- /dev/null\n+++ " + f.script() + "\n",
		"+token: ", "." + redacted + "\n",
		"would set kube-system/ack-agent-config addNodeScriptPath=" + scriptURL,
		"+addNodeScriptPath: " + scriptURL,
		"dry run: 4 change(s) shown, nothing changed\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("dry run lacks %q:\n%s", w, out)
		}
	}

	// On a set-up cluster a dry run has nothing to show.
	o.DryRun = false
	if _, _, err := f.run(t, false, o); err != nil {
		t.Fatal(err)
	}
	f.c.Fake.ClearActions()
	o.DryRun = true
	out, _, err = f.run(t, false, o)
	if err != nil || out != "no changes\n" || len(f.c.Mutations()) != 0 {
		t.Errorf("dry run on a set-up cluster: %v %d requests\n%s", err, len(f.c.Mutations()), out)
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	ja, _ := yaml.Marshal(a)
	jb, _ := yaml.Marshal(b)
	return bytes.Equal(ja, jb)
}

// TestSetupRotateDiffRedactsOldToken: a dry-run rotate's diff of the script
// shows neither the old token's secret nor the new one's.
func TestSetupRotateDiffRedactsOldToken(t *testing.T) {
	f := newFixture(t, clustertest.Healthy(t))
	if _, _, err := f.run(t, false, f.setupOptions()); err != nil {
		t.Fatal(err)
	}
	o := f.setupOptions()
	o.DryRun = true
	out, _, err := f.run(t, true, o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "-token: abcdef."+redacted+"\n") || !regexp.MustCompile(`\n\+token: [a-z0-9]{6}\.\[REDACTED\]\n`).MatchString(out) {
		t.Errorf("diff:\n%s", out)
	}

	// An old script with a token the cluster no longer knows: still redacted.
	script, _ := os.ReadFile(f.script())
	stale := "zzzzzz.staletokenstale1"
	f.seen["staletokenstale1"] = true
	writeFile(t, f.script(), bytes.Replace(script, []byte("abcdef."+clustertest.PoolTokenSecret), []byte(stale), 1), 0o600)
	o.DryRun = true
	out, _, err = f.run(t, false, o)
	if err != nil || !strings.Contains(out, "-token: zzzzzz."+redacted+"\n") || !strings.Contains(out, "+token: abcdef."+redacted+"\n") {
		t.Errorf("%v, diff:\n%s", err, out)
	}
}

func TestSetupWaitsForTheSignature(t *testing.T) {
	f := newFixture(t, clustertest.Broken(t))
	f.c.SetSigner(true, 3)
	o := f.setupOptions()
	if _, _, err := f.run(t, false, o); err != nil {
		t.Fatalf("with a slow signer: %v", err)
	}
	gets := 0
	for _, a := range f.c.Fake.Actions() {
		if a.GetVerb() == "get" && a.GetResource().Resource == "configmaps" && a.GetNamespace() == "kube-public" {
			gets++
		}
	}
	if gets < 4 {
		t.Errorf("cluster-info read %d times: the signature was not waited for", gets)
	}

	// No signer: a bounded wait, an error naming the controller, no script.
	f = newFixture(t, clustertest.Broken(t))
	f.c.SetSigner(false, 0)
	o = f.setupOptions()
	o.PollTimeout = 50 * time.Millisecond
	start := time.Now()
	out, _, err := f.run(t, false, o)
	if err == nil || !strings.Contains(err.Error(), "bootstrapsigner") || !strings.Contains(err.Error(), "fails discovery") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("waited %s", time.Since(start))
	}
	if _, err := os.Stat(f.script()); err == nil {
		t.Error("a script with an unsigned token was written")
	}
	if !strings.Contains(out, "created bootstrap token") {
		t.Errorf("output: %s", out)
	}
}

// TestSetupRefusesTokenTTLZero: a token that never expires, in a script on
// a bucket, is refused before anything changes (it was a warning).
func TestSetupRefusesTokenTTLZero(t *testing.T) {
	for _, ttl := range []time.Duration{0, -time.Hour} {
		f := newFixture(t, clustertest.Broken(t))
		o := f.setupOptions()
		o.TokenTTL = ttl
		_, _, err := f.run(t, false, o)
		var ie *InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), "--token-ttl") || !strings.Contains(err.Error(), "never expires") {
			t.Errorf("--token-ttl %s: %v", ttl, err)
		}
		if n := len(f.c.Mutations()); n != 0 || len(poolTokens(t, f.c)) != 0 {
			t.Errorf("--token-ttl %s: %d changes, %d tokens", ttl, n, len(poolTokens(t, f.c)))
		}
	}
}

func TestSetupReusesOrRenewsTheToken(t *testing.T) {
	for _, tc := range []struct {
		name    string
		expires time.Duration
		reuse   bool
	}{
		{"valid for longer than the grace", 2 * time.Hour, true},
		{"expiring within the grace", 30 * time.Minute, false},
		{"expired", -time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := clustertest.Healthy(t)
			if err := c.Tracker.Delete(clustertest.Secrets, "kube-system", "bootstrap-token-abcdef"); err != nil {
				t.Fatal(err)
			}
			exp := time.Now().Add(tc.expires)
			c.AddToken(t, "oldtok", "oldtokoldtok0000", "default", exp, true)
			f := newFixture(t, c)
			out, _, err := f.run(t, false, f.setupOptions())
			if err != nil {
				t.Fatal(err)
			}
			toks := poolTokens(t, c)
			script, _ := os.ReadFile(f.script())
			if tc.reuse {
				if len(toks) != 1 || strings.Contains(out, "created") || !strings.Contains(dropInOf(t, script), "token: oldtok.oldtokoldtok0000\n") {
					t.Errorf("not reused: %d tokens\n%s", len(toks), out)
				}
				return
			}
			if len(toks) != 2 || toks[0].id == "oldtok" || !strings.Contains(dropInOf(t, script), "token: "+toks[0].id+".") {
				t.Fatalf("not renewed: %+v\n%s", toks, out)
			}
			// setup leaves the old token alone: rotate retires tokens.
			if old := secret(t, c, "bootstrap-token-oldtok"); string(old.Data["expiration"]) != exp.UTC().Format(time.RFC3339) {
				t.Errorf("setup changed the old token's expiration: %s", old.Data["expiration"])
			}
		})
	}
}

func TestSetupMergesIntoEveryTerm(t *testing.T) {
	c := clustertest.Healthy(t)
	ds := clustertest.Calico(false)
	a := ds.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	a.NodeSelectorTerms = append(a.NodeSelectorTerms, corev1.NodeSelectorTerm{
		MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "node-role.kubernetes.io/edge", Operator: corev1.NodeSelectorOpExists},
			{Key: ExternalLabel, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"true"}}},
		MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"n9"}}},
	})
	if err := c.Tracker.Update(clustertest.DaemonSets, ds, "kube-system"); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, c)
	out, _, err := f.run(t, false, f.setupOptions())
	if err != nil || !strings.Contains(out, "(2 of 2 required terms)") {
		t.Fatalf("%v\n%s", err, out)
	}
	terms := calico(t, c).Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	var got []string
	for _, term := range terms {
		var exprs []string
		for _, e := range term.MatchExpressions {
			exprs = append(exprs, describe(e))
		}
		got = append(got, strings.Join(exprs, " & "))
	}
	want := []string{
		"kubernetes.io/os In [linux] & alibabacloud.com/external NotIn [true] & type NotIn [virtual-kubelet]",
		"node-role.kubernetes.io/edge Exists [] & alibabacloud.com/external NotIn [true] & type NotIn [virtual-kubelet]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || len(terms[1].MatchFields) != 1 {
		t.Errorf("terms:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r := f.check(t, f.checkOptions()); result(r, "onprem-cni").Status != report.Pass {
		t.Errorf("onprem-cni after the merge: %+v", result(r, "onprem-cni"))
	}
}

func TestSetupNodeConfig(t *testing.T) {
	f := newFixture(t, clustertest.Healthy(t))
	nc := filepath.Join(t.TempDir(), "pool.yaml")
	writeFile(t, nc, []byte("sandboxImage: registry-vpc.cn-hangzhou.aliyuncs.com/acs/pause:3.10\nregistryMirrors:\n  docker.io: [\"https://mirror.example.com\"]\nrestrictOOMScoreAdj: true\ncontainerdVersion: v1.7.30\n"), 0o644)
	o := f.setupOptions()
	o.NodeConfig = nc
	if _, _, err := f.run(t, false, o); err != nil {
		t.Fatal(err)
	}
	script, _ := os.ReadFile(f.script())
	drop := dropInOf(t, script)
	// After the keys setup owns, in the config table's order.
	if !strings.HasSuffix(drop, "containerdVersion: v1.7.30\nsandboxImage: registry-vpc.cn-hangzhou.aliyuncs.com/acs/pause:3.10\nregistryMirrors:\n  docker.io:\n  - https://mirror.example.com\nrestrictOOMScoreAdj: true\n") {
		t.Errorf("settings:\n%s", drop)
	}
}

// TestSetupNodeConfigProxy: the pool's proxy settings reach the script's
// own download too, as shell assignments in its node-pool block.
func TestSetupNodeConfigProxy(t *testing.T) {
	f := newFixture(t, clustertest.Healthy(t))
	nc := filepath.Join(t.TempDir(), "pool.yaml")
	writeFile(t, nc, []byte("httpProxy: http://u:p%40w@10.0.0.5:3128\nhttpsProxy: http://10.0.0.5:3128\nnoProxy: [.example.internal, \"10.0.0.0/8,oss-cn-hangzhou-internal.aliyuncs.com\"]\n"), 0o644)
	o := f.setupOptions()
	o.NodeConfig = nc
	if _, _, err := f.run(t, false, o); err != nil {
		t.Fatal(err)
	}
	script, _ := os.ReadFile(f.script())
	for _, l := range []string{
		"\nhn_pool_http_proxy='http://u:p%40w@10.0.0.5:3128'\n",
		"\nhn_pool_https_proxy='http://10.0.0.5:3128'\n",
		"\nhn_pool_no_proxy='.example.internal,10.0.0.0/8,oss-cn-hangzhou-internal.aliyuncs.com'\n",
	} {
		if !strings.Contains(string(script), l) {
			t.Errorf("the script lacks %q", l)
		}
	}
}

// TestSetupRefusesBadInput: each bad input is an InputError naming the flag
// or key, before any change: no mutating request, no file.
func TestSetupRefusesBadInput(t *testing.T) {
	nodeConfig := func(t *testing.T, content string) string {
		p := filepath.Join(t.TempDir(), "pool.yaml")
		writeFile(t, p, []byte(content), 0o644)
		return p
	}
	for _, tc := range []struct {
		name  string
		edit  func(t *testing.T, f *fixture, o *SetupOptions)
		names []string
	}{
		{"unknown key", func(t *testing.T, _ *fixture, o *SetupOptions) { o.NodeConfig = nodeConfig(t, "registryMirror: {}\n") },
			[]string{"registryMirror (--node-config", "a hybridnode node config key"}},
		{"identity keys", func(t *testing.T, _ *fixture, o *SetupOptions) {
			o.NodeConfig = nodeConfig(t, "nodeLabels: [a=b]\nproviderID: cn-hangzhou.i-x\nnodeName: n\nnodeTaints: []\n")
		}, []string{"nodeLabels (--node-config", "ALIBABA_CLOUD_LABELS", "providerID (", "ALIBABA_CLOUD_PROVIDER_ID", "nodeName (", "nodeTaints ("}},
		{"the token", func(t *testing.T, _ *fixture, o *SetupOptions) {
			o.NodeConfig = nodeConfig(t, "token: abcdef.0123456789abcdef\n")
		},
			[]string{"token (--node-config", "--token-ttl"}},
		{"keys setup owns", func(t *testing.T, _ *fixture, o *SetupOptions) {
			o.NodeConfig = nodeConfig(t, "artifactURL: https://x\nkubernetesVersion: v1.36.1\napiServerEndpoint: 1.2.3.4:6443\ncaCertHashes: []\nunsafeSkipCAVerification: true\ntokenFile: /x\n")
		}, []string{"artifactURL (", "set by --artifact-url", "kubernetesVersion (", "--kubernetes-version", "apiServerEndpoint (", "--api-server-endpoint", "caCertHashes (", "unsafeSkipCAVerification (", "tokenFile ("}},
		{"a wrongly typed value", func(t *testing.T, _ *fixture, o *SetupOptions) {
			o.NodeConfig = nodeConfig(t, "restrictOOMScoreAdj: maybe\n")
		},
			[]string{"restrictOOMScoreAdj (--node-config", "true or false"}},
		{"an invalid value", func(t *testing.T, _ *fixture, o *SetupOptions) {
			o.NodeConfig = nodeConfig(t, "containerdVersion: v1.6.0\n")
		},
			[]string{"containerdVersion (--node-config", "1.7.x or 2.x"}},
		{"a single quote in a proxy URL", func(t *testing.T, _ *fixture, o *SetupOptions) {
			o.NodeConfig = nodeConfig(t, "httpProxy: \"http://u:p'w@10.0.0.5:3128\"\n")
		},
			[]string{"httpProxy (--node-config", "single quote"}},
		{"not YAML", func(t *testing.T, _ *fixture, o *SetupOptions) { o.NodeConfig = nodeConfig(t, "- a\n- b\n") }, []string{"--node-config"}},
		{"no node-config file", func(t *testing.T, _ *fixture, o *SetupOptions) { o.NodeConfig = "/nonexistent/pool.yaml" }, []string{"--node-config", "/nonexistent/pool.yaml"}},
		{"no release", func(_ *testing.T, _ *fixture, o *SetupOptions) { o.Release = "" }, []string{"--release"}},
		{"no artifact URL", func(_ *testing.T, _ *fixture, o *SetupOptions) { o.ArtifactURL = "" }, []string{"--artifact-url"}},
		{"a relative artifact directory", func(_ *testing.T, _ *fixture, o *SetupOptions) { o.ArtifactURL = "bundle/k8s" }, []string{"--artifact-url", "absolute directory"}},
		{"several flags at once", func(_ *testing.T, _ *fixture, o *SetupOptions) {
			o.NodePool, o.ScriptURL, o.TokenTTL, o.APIServerEndpoint, o.KubernetesVersion = "Bad Pool", "ftp://x/y", -time.Hour, "10.0.0.10", "v1.29.4"
		}, []string{"--node-pool", "--script-url", "--token-ttl", "--api-server-endpoint", "--kubernetes-version"}},
		{"script directory missing", func(_ *testing.T, _ *fixture, o *SetupOptions) { o.ScriptOut = "/nonexistent/dir/add-node.sh" }, []string{"--script-out"}},
		{"release without SHA256SUMS", func(_ *testing.T, f *fixture, _ *SetupOptions) { os.Remove(filepath.Join(f.release, "SHA256SUMS")) }, []string{"--release", "SHA256SUMS"}},
		{"release script not listed", func(t *testing.T, f *fixture, _ *SetupOptions) {
			writeFile(t, filepath.Join(f.release, "SHA256SUMS"), []byte(strings.Repeat("1", 64)+"  hybridnode-linux-amd64\n"), 0o644)
		}, []string{"--release", "lists add-node.sh"}},
		{"release script of another release", func(t *testing.T, f *fixture, _ *SetupOptions) {
			writeFile(t, filepath.Join(f.release, "add-node.sh"), append(releaseTemplate(t), '\n'), 0o644)
		}, []string{"--release", "sha256"}},
		{"release script without the node-pool block", func(t *testing.T, f *fixture, _ *SetupOptions) {
			old := []byte("#!/bin/sh\necho old release\n")
			writeFile(t, filepath.Join(f.release, "add-node.sh"), old, 0o644)
			writeFile(t, filepath.Join(f.release, "SHA256SUMS"), []byte(sha(old)+"  add-node.sh\n"), 0o644)
		}, []string{"--release", "node-pool block"}},
		{"release URL unreachable", func(t *testing.T, _ *fixture, o *SetupOptions) {
			srv := httptest.NewServer(http.NotFoundHandler())
			t.Cleanup(srv.Close)
			o.Release = srv.URL + "/v0.1.0"
		}, []string{"--release", "404"}},
		{"no on-premises CNI", func(_ *testing.T, _ *fixture, o *SetupOptions) { o.OnpremCNI = "kube-system/cilium" }, []string{"--onprem-cni", "kube-system/cilium"}},
		{"an unsupported cluster", func(t *testing.T, f *fixture, _ *SetupOptions) {
			if err := f.c.Tracker.Update(clustertest.ConfigMaps, clustertest.KubeadmConfig("v1.29.4", "10.244.0.0/16", "10.96.0.0/12"), "kube-system"); err != nil {
				t.Fatal(err)
			}
		}, []string{"kubeadm-config", "v1.29.4", "--kubernetes-version"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, clustertest.Broken(t))
			o := f.setupOptions()
			o.ScriptURL = scriptURL
			tc.edit(t, f, &o)
			for _, rotate := range []bool{false, true} {
				if rotate && tc.name == "no on-premises CNI" {
					continue // rotate does not read the CNI
				}
				f.c.Fake.ClearActions()
				out, _, err := f.run(t, rotate, o)
				ie := wantInput(t, err, tc.names[0])
				for _, n := range tc.names[1:] {
					if !strings.Contains(ie.Error(), n) {
						t.Errorf("rotate=%v: the error lacks %q:\n%v", rotate, n, ie)
					}
				}
				if m := f.c.Mutations(); len(m) != 0 || out != "" {
					t.Errorf("rotate=%v: changes before the input was valid: %v\n%s", rotate, m, out)
				}
				if entries, _ := os.ReadDir(f.dir); len(entries) != 0 {
					t.Errorf("rotate=%v: files written: %v", rotate, entries)
				}
			}
		})
	}
}

func TestSetupOverrides(t *testing.T) {
	f := newFixture(t, clustertest.Healthy(t))
	o := f.setupOptions()
	o.APIServerEndpoint, o.KubernetesVersion = "apiserver.hybrid.internal:6443", "1.36.4"
	if _, _, err := f.run(t, false, o); err != nil {
		t.Fatal(err)
	}
	script, _ := os.ReadFile(f.script())
	drop := dropInOf(t, script)
	if !strings.HasPrefix(drop, "apiServerEndpoint: apiserver.hybrid.internal:6443\n") || !strings.Contains(drop, "kubernetesVersion: v1.36.4\n") {
		t.Errorf("settings:\n%s", drop)
	}
}

func TestRotate(t *testing.T) {
	c := clustertest.Healthy(t)
	now := time.Now()
	c.AddToken(t, "expird", "expiredexpired00", "default", now.Add(-time.Minute), false)
	c.AddToken(t, "forevr", "foreverforever00", "default", time.Time{}, true)
	c.AddToken(t, "soonxx", "soonsoonsoonsoon", "default", now.Add(10*time.Minute), true)
	c.AddToken(t, "kubadm", "kubadmkubadm0000", "", now.Add(30*time.Hour), true)
	c.AddToken(t, "gpupol", "gpupoolgpupool00", "gpu", now.Add(30*time.Hour), true)
	f := newFixture(t, c)
	if _, _, err := f.run(t, false, f.setupOptions()); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(f.script())
	c.Fake.ClearActions()

	o := f.setupOptions()
	o.Command = "hybridnode-cluster rotate"
	out, _, err := f.run(t, true, o)
	if err != nil {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	toks := poolTokens(t, c)
	newest := toks[0]
	if newest.id == clustertest.PoolTokenID || newest.id == "forevr" {
		t.Fatalf("no new token: %+v", toks)
	}
	target := time.Now().Add(DefaultGrace)
	exp := func(name string) time.Time {
		e, err := time.Parse(time.RFC3339, string(secret(t, c, name).Data["expiration"]))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return e
	}
	for _, name := range []string{"bootstrap-token-abcdef", "bootstrap-token-forevr"} {
		if d := exp(name).Sub(target); d < -3*time.Second || d > 3*time.Second {
			t.Errorf("%s expires at %s, want about now+1h", name, exp(name))
		}
	}
	if !exp("bootstrap-token-soonxx").Equal(now.Add(10 * time.Minute).UTC().Truncate(time.Second)) {
		t.Errorf("a token expiring within the grace was changed: %s", exp("bootstrap-token-soonxx"))
	}
	if _, err := c.Tracker.Get(clustertest.Secrets, "kube-system", "bootstrap-token-expird"); err == nil {
		t.Error("the expired token was not deleted")
	}
	for _, name := range []string{"bootstrap-token-kubadm", "bootstrap-token-gpupol"} {
		if !exp(name).Equal(now.Add(30 * time.Hour).UTC().Truncate(time.Second)) {
			t.Errorf("rotate touched %s, not of this pool", name)
		}
	}
	for _, a := range c.Fake.Actions() {
		if a.GetResource().Resource == "daemonsets" {
			t.Errorf("rotate touched the CNI: %s", a.GetVerb())
		}
	}
	after, _ := os.ReadFile(f.script())
	if bytes.Equal(before, after) || !strings.Contains(dropInOf(t, after), "token: "+newest.id+"."+newest.secret+"\n") {
		t.Errorf("the script does not carry the new token")
	}
	for _, w := range []string{"created bootstrap token " + newest.id + " for node pool default, expires", "wrote " + f.script() + " (0600)",
		"shortened bootstrap token abcdef of node pool default: now expires", "shortened bootstrap token forevr of node pool default: now expires", "(was: never expires)",
		"deleted bootstrap token expird of node pool default (expired at"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	r := f.check(t, f.checkOptions())
	if got := result(r, "node-pool-token"); !strings.Contains(got.Evidence, "newest bootstrap token is "+newest.id) || result(r, "cluster-info").Status != report.Pass {
		t.Errorf("check after rotate:\n%s", textOf(r))
	}

	// --grace 0: the others go at once.
	o.Grace = 0
	out, _, err = f.run(t, true, o)
	if err != nil {
		t.Fatal(err)
	}
	toks = poolTokens(t, c)
	if len(toks) != 1 || toks[0].id == newest.id || !strings.Contains(out, "deleted bootstrap token "+newest.id+" of node pool default (--grace 0)") {
		t.Errorf("grace 0: %d tokens\n%s", len(toks), out)
	}
}

// TestScriptSettingsRunOnANode: the rendered script's settings function,
// run by sh, prints exactly the drop-in, and a node loads it as valid.
func TestScriptSettingsRunOnANode(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	f := newFixture(t, clustertest.Healthy(t))
	if _, _, err := f.run(t, false, f.setupOptions()); err != nil {
		t.Fatal(err)
	}
	script, _ := os.ReadFile(f.script())
	m := regexp.MustCompile(`(?s)\n# >>> hybridnode node-pool settings\n(.*?)# <<< hybridnode node-pool settings\n`).FindSubmatch(script)
	if m == nil {
		t.Fatal("no node-pool block")
	}
	cmd := exec.Command(sh, "-c", string(m[1])+"\nprintf '%s\\n' \"$hn_pool\"; hn_pool_settings")
	got, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	summary, settings, _ := strings.Cut(string(got), "\n")
	if !strings.HasPrefix(summary, "node pool default of cluster 10.0.0.10:6443: bootstrap token abcdef, expires ") || settings != dropInOf(t, script) {
		t.Errorf("summary %q, settings:\n%s", summary, settings)
	}
	_, spec, err := config.Resolve(config.ResolveOptions{File: "x", ReadFile: func(string) ([]byte, error) { return []byte(settings), nil }, LookupEnv: func(string) (string, bool) { return "", false }, Join: true})
	if err != nil || spec.Token.Reveal() != "abcdef."+clustertest.PoolTokenSecret || spec.APIServerEndpoint != clustertest.Endpoint {
		t.Errorf("as a node loads it: %v", err)
	}
}

func TestReleaseOverHTTP(t *testing.T) {
	f := newFixture(t, clustertest.Healthy(t))
	srv := httptest.NewServer(http.StripPrefix("/v0.1.0/", http.FileServer(http.Dir(f.release))))
	t.Cleanup(srv.Close)
	o := f.setupOptions()
	o.Release = srv.URL + "/v0.1.0"
	if _, _, err := f.run(t, false, o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.script()); err != nil {
		t.Fatal(err)
	}
}

func TestSetupFixesTheScriptMode(t *testing.T) {
	f := newFixture(t, clustertest.Healthy(t))
	if _, _, err := f.run(t, false, f.setupOptions()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f.script(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := f.run(t, false, f.setupOptions())
	if fi, _ := os.Stat(f.script()); err != nil || fi.Mode().Perm() != 0o600 || !strings.Contains(out, "to 0600") {
		t.Errorf("%v %v\n%s", err, fi.Mode(), out)
	}
}

func TestWaitSignedIsBounded(t *testing.T) {
	c := clustertest.Healthy(t)
	start := time.Now()
	err := waitSigned(context.Background(), client(c), token{id: "nosig0", secret: "nosignosignosig0"}, time.Millisecond, 30*time.Millisecond)
	if err == nil || time.Since(start) > 2*time.Second || strings.Contains(err.Error(), "nosignosignosig0") {
		t.Fatalf("err = %v after %s", err, time.Since(start))
	}
	if err := waitSigned(context.Background(), client(c), token{id: clustertest.PoolTokenID, secret: clustertest.PoolTokenSecret}, time.Millisecond, time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestSetupRetriesOnConflict: an update that meets a newer object is
// retried on a fresh read (retry.RetryOnConflict).
func TestSetupRetriesOnConflict(t *testing.T) {
	f := newFixture(t, clustertest.Broken(t))
	f.c.Add(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ack-agent-config", Namespace: "kube-system"}, Data: map[string]string{"addNodeScriptPath": "https://old/x.sh"}})
	conflicts := map[string]int{}
	f.c.Fake.PrependReactor("update", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.GetResource().Resource
		if conflicts[r] == 0 {
			conflicts[r]++
			return true, nil, apierrors.NewConflict(a.GetResource().GroupResource(), "x", errors.New("the object has been modified"))
		}
		return false, nil, nil
	})
	o := f.setupOptions()
	o.ScriptURL = scriptURL
	if _, _, err := f.run(t, false, o); err != nil {
		t.Fatal(err)
	}
	if conflicts["daemonsets"] != 1 || conflicts["configmaps"] != 1 || len(missingExclusions(&calico(t, f.c).Spec.Template.Spec)) != 0 ||
		configMap(t, f.c, "kube-system", "ack-agent-config").Data["addNodeScriptPath"] != scriptURL {
		t.Errorf("conflicts %v", conflicts)
	}
}

func TestDropInPathIsTheNodes(t *testing.T) {
	if want := filepath.Join(config.DropInDir(config.DefaultFile), "50-node-pool.yaml"); DropInPath != want {
		t.Errorf("DropInPath %s, a node reads %s", DropInPath, want)
	}
	if !bytes.Contains(releaseTemplate(t), []byte("/50-node-pool.yaml")) {
		t.Error("the release's script writes its settings elsewhere")
	}
}

func TestScriptCommentHidesSignedQueries(t *testing.T) {
	f := newFixture(t, clustertest.Healthy(t))
	o := f.setupOptions()
	o.ScriptURL = "https://b.oss-cn-hangzhou.aliyuncs.com/p.sh?Expires=1&OSSAccessKeyId=k&Signature=sig0"
	o.Command = "hybridnode-cluster setup --script-url '" + o.ScriptURL + "'"
	out, _, err := f.run(t, false, o)
	if err != nil {
		t.Fatal(err)
	}
	script, _ := os.ReadFile(f.script())
	if bytes.Contains(script, []byte("Signature")) || !bytes.Contains(script, []byte("# made by: hybridnode-cluster setup --script-url 'https://b.oss-cn-hangzhou.aliyuncs.com/p.sh?...'\n")) ||
		strings.Contains(out, "Signature") || !strings.Contains(out, "addNodeScriptPath=https://b.oss-cn-hangzhou.aliyuncs.com/p.sh?...") {
		t.Errorf("output:\n%s", out)
	}
	if configMap(t, f.c, "kube-system", "ack-agent-config").Data["addNodeScriptPath"] != o.ScriptURL {
		t.Error("the signed URL itself must be set")
	}
}

// TestSetupRefusesLongScriptURL: ACK refuses an addNodeScriptPath over 1,024
// characters, so setup does too, before anything changes.
func TestSetupRefusesLongScriptURL(t *testing.T) {
	f := newFixture(t, clustertest.Broken(t))
	o := f.setupOptions()
	o.ScriptURL = "https://hn.example.com/" + strings.Repeat("p", 1010) + ".sh"
	_, _, err := f.run(t, false, o)
	var ie *InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "--script-url") || !strings.Contains(err.Error(), "at most 1024 characters") {
		t.Errorf("a 1,036-character --script-url: %v", err)
	}
	if n := len(f.c.Mutations()); n != 0 {
		t.Errorf("%d changes", n)
	}
}
