package cluster

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hybridnode/hybridnode/bootstrap/cluster/clustertest"
	"github.com/hybridnode/hybridnode/bootstrap/doctor/report"
)

func TestCheckHealthy(t *testing.T) {
	f := newFixture(t, clustertest.Healthy(t))
	r := f.check(t, f.checkOptions())
	if got := CheckNames(); strings.Join(got, ",") != "network-mode,onprem-cni,cloud-cni,eni-config,add-node-script,pod-subnet,node-pool-token,cluster-info,token-expiry,artifacts,token-service" {
		t.Errorf("checks: %v", got)
	}
	for i, c := range r.Checks {
		want := report.Pass
		if c.Name == "token-service" {
			want = report.Skip // pool tokens, no token service
		}
		if c.Name != CheckNames()[i] || c.Status != want || c.Remedy != "" {
			t.Errorf("%s: %s %q (remedy %q)", c.Name, c.Status, c.Evidence, c.Remedy)
		}
	}
	text := textOf(r)
	if r.Result != "healthy" || len(r.Failed()) != 0 || !strings.HasPrefix(text, "hybridnode cluster check: API server "+clustertest.Endpoint+", node pool default\n") ||
		!strings.HasSuffix(text, "10 pass, 0 warn, 0 fail, 1 skip: healthy\n") {
		t.Errorf("report:\n%s", text)
	}
	for _, want := range []string{"PASS  node-pool-token  node pool default's newest bootstrap token is abcdef, expires", "access_secret (not shown)",
		"lists kubelet and kubeadm v1.37.1 (the cluster's, from kube-system/kubeadm-config): complete for amd64 and arm64"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	for _, a := range f.c.Fake.Actions() {
		if clustertest.IsMutation(a) {
			t.Errorf("check changed something: %v", a)
		}
	}
}

// TestCheckBroken: each variant breaks one check (and, where said, what
// follows from it); every other check still passes.
func TestCheckBroken(t *testing.T) {
	now := time.Now()
	put := func(t *testing.T, c *clustertest.Cluster, objs ...any) {
		for _, o := range objs {
			var err error
			switch o := o.(type) {
			case *appsv1.DaemonSet:
				err = c.Tracker.Update(clustertest.DaemonSets, o, o.Namespace)
			case *corev1.ConfigMap:
				err = c.Tracker.Update(clustertest.ConfigMaps, o, o.Namespace)
			case *corev1.Secret:
				err = c.Tracker.Update(clustertest.Secrets, o, o.Namespace)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	del := func(t *testing.T, c *clustertest.Cluster, gvr string, ns, name string) {
		var err error
		switch gvr {
		case "daemonsets":
			err = c.Tracker.Delete(clustertest.DaemonSets, ns, name)
		case "configmaps":
			err = c.Tracker.Delete(clustertest.ConfigMaps, ns, name)
		case "secrets":
			err = c.Tracker.Delete(clustertest.Secrets, ns, name)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	eni := func(conf string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "eni-config", Namespace: "kube-system"}, Data: map[string]string{"eni_conf": conf}}
	}
	agent := func(path string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ack-agent-config", Namespace: "kube-system"}, Data: map[string]string{"addNodeScriptPath": path}}
	}
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, f *fixture, o *Options)
		check  string
		status string
		want   []string
		// also are other checks' statuses that follow from the break.
		also map[string]string
	}{
		{name: "calico without the exclusions", check: "onprem-cni", status: report.Fail,
			break_: func(t *testing.T, f *fixture, _ *Options) { put(t, f.c, clustertest.Calico(false)) },
			want:   []string{"term 1 of 1 lacks alibabacloud.com/external NotIn [true] and type NotIn [virtual-kubelet]", "hybridnode cluster setup", "kubectl -n kube-system patch daemonset calico-node"}},
		{name: "calico without any affinity", check: "onprem-cni", status: report.Fail,
			break_: func(t *testing.T, f *fixture, _ *Options) {
				ds := clustertest.Calico(true)
				ds.Spec.Template.Spec.Affinity = nil
				put(t, f.c, ds)
			},
			want: []string{"no required nodeAffinity terms"}},
		{name: "second term lets virtual nodes in", check: "onprem-cni", status: report.Fail,
			break_: func(t *testing.T, f *fixture, _ *Options) {
				ds := clustertest.Calico(true)
				terms := &ds.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
				*terms = append(*terms, corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
					{Key: ExternalLabel, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"true"}}}})
				put(t, f.c, ds)
			},
			want: []string{"term 2 of 2 lacks type NotIn [virtual-kubelet]"}},
		{name: "calico pod on a cloud node", check: "onprem-cni", status: report.Fail,
			break_: func(t *testing.T, f *fixture, _ *Options) {
				f.c.Add(t, clustertest.CalicoPod("calico-node-bad", clustertest.CloudNode1), clustertest.CalicoPod("calico-node-eci", clustertest.VirtualNode))
			},
			want: []string{"2 of its pod(s) run on cloud or virtual nodes: calico-node-bad@cn-hangzhou.i-cloud1, calico-node-eci@virtual-kubelet"}},
		{name: "terminating or foreign pods on cloud nodes do not count", check: "onprem-cni", status: report.Pass,
			break_: func(t *testing.T, f *fixture, _ *Options) {
				gone := clustertest.CalicoPod("calico-node-gone", clustertest.CloudNode1)
				gone.DeletionTimestamp = &metav1.Time{Time: now}
				other := clustertest.CalicoPod("calico-node-other", clustertest.CloudNode2)
				other.OwnerReferences[0].UID = "uid-someone-else"
				f.c.Add(t, gone, other)
			}},
		{name: "no calico", check: "onprem-cni", status: report.Fail,
			break_: func(t *testing.T, f *fixture, _ *Options) { del(t, f.c, "daemonsets", "kube-system", "calico-node") },
			want:   []string{"DaemonSet kube-system/calico-node not found", "--onprem-cni"},
			// nor any other CNI: the mode is not known
			also: map[string]string{"network-mode": report.Warn}},
		{name: "flannel selected", check: "onprem-cni", status: report.Fail,
			break_: func(_ *testing.T, _ *fixture, o *Options) { o.OnpremCNI = "kube-flannel/kube-flannel-ds" },
			want:   []string{"DaemonSet kube-flannel/kube-flannel-ds not found"}},
		{name: "no terway", check: "cloud-cni", status: report.Fail,
			break_: func(t *testing.T, f *fixture, _ *Options) { del(t, f.c, "daemonsets", "kube-system", "terway-eniip") },
			want:   []string{"kube-system/terway-eniip not found"}},
		{name: "terway on every node", check: "cloud-cni", status: report.Fail,
			break_: func(t *testing.T, f *fixture, _ *Options) {
				ds := clustertest.Terway(2)
				ds.Spec.Template.Spec.NodeSelector = nil
				put(t, f.c, ds)
			},
			want: []string{"does not select alibabacloud.com/external=true", "never modifies"}},
		{name: "terway selects through affinity", check: "cloud-cni", status: report.Pass,
			break_: func(t *testing.T, f *fixture, _ *Options) {
				ds := clustertest.Terway(2)
				ds.Spec.Template.Spec.NodeSelector = nil
				ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: ExternalLabel, Operator: corev1.NodeSelectorOpIn, Values: []string{"true"}}}}}}}}
				put(t, f.c, ds)
			}},
		{name: "terway misses a cloud node", check: "cloud-cni", status: report.Fail,
			break_: func(t *testing.T, f *fixture, _ *Options) { put(t, f.c, clustertest.Terway(1)) },
			want:   []string{"wants 1 pod(s), but 2 Node(s) are labelled alibabacloud.com/external=true"}},
		{name: "no eni-config", check: "eni-config", status: report.Fail,
			break_: func(t *testing.T, f *fixture, _ *Options) { del(t, f.c, "configmaps", "kube-system", "eni-config") },
			want:   []string{"kube-system/eni-config not found"}},
		{name: "eni-config without credentials", check: "eni-config", status: report.Fail,
			break_: func(t *testing.T, f *fixture, _ *Options) {
				put(t, f.c, eni(`{"access_key":"LTAIexample","access_secret":""}`))
			},
			want: []string{"neither a non-empty access_key and access_secret nor a credential_path"}},
		{name: "eni-config that is not JSON", check: "eni-config", status: report.Fail,
			break_: func(t *testing.T, f *fixture, _ *Options) {
				put(t, f.c, eni(`{"access_key":"LTAIexample","access_secret":"`+clustertest.ENISecret+`",}`))
			},
			want: []string{"is not a JSON object (syntax error at byte", "not shown"}},
		{name: "eni-config with the documentation's placeholders", check: "eni-config", status: report.Fail,
			break_: func(t *testing.T, f *fixture, _ *Options) {
				put(t, f.c, eni(`{"access_key":"LTAIexample","access_secret":"`+clustertest.ENISecret+`","service_cidr":"{{.ServiceCIDR}}",`+
					`"security_group":"{{.SecurityGroupId}}","vswitches":{"cn-hangzhou-k":["VswitchId"],"cn-hangzhou-j":["vsw-bp1real"]}}`))
			},
			want: []string{"placeholders in security_group, service_cidr, vswitches.cn-hangzhou-k[0]"}},
		{name: "eni-config with real values", check: "eni-config", status: report.Pass,
			break_: func(t *testing.T, f *fixture, _ *Options) {
				put(t, f.c, eni(`{"access_key":"LTAIexample","access_secret":"`+clustertest.ENISecret+`","service_cidr":"172.21.0.0/20",`+
					`"security_group":"sg-bp1abc","vswitches":{"cn-hangzhou-k":["vsw-bp1real"]}}`))
			}},
		{name: "eni-config with a credential path", check: "eni-config", status: report.Pass,
			break_: func(t *testing.T, f *fixture, _ *Options) {
				put(t, f.c, eni(`{"credential_path":"/var/addon/token-config"}`))
			}},
		{name: "no ack-agent-config", check: "add-node-script", status: report.Fail,
			break_: func(t *testing.T, f *fixture, _ *Options) {
				del(t, f.c, "configmaps", "kube-system", "ack-agent-config")
			},
			want: []string{"not found", "hybridnode cluster setup --script-url URL"}},
		{name: "no addNodeScriptPath", check: "add-node-script", status: report.Fail,
			break_: func(t *testing.T, f *fixture, _ *Options) { put(t, f.c, agent("")) },
			want:   []string{"has no addNodeScriptPath"}},
		{name: "a script URL longer than ACK accepts", check: "add-node-script", status: report.Fail,
			break_: func(t *testing.T, f *fixture, _ *Options) {
				put(t, f.c, agent("https://hn.example.com/"+strings.Repeat("p", 1010)+".sh"))
			},
			want: []string{"is 1036 characters long, over the 1024 ACK accepts"}},
		{name: "plain http script", check: "add-node-script", status: report.Warn,
			break_: func(t *testing.T, f *fixture, _ *Options) {
				put(t, f.c, agent("http://hn.example.com/add-node.sh?Signature=sEcReT"))
			},
			want: []string{"plain http: http://hn.example.com/add-node.sh?...", "carries a bootstrap token", "private bucket or through a signed URL"}},
		{name: "overlapping VPC", check: "pod-subnet", status: report.Fail,
			break_: func(_ *testing.T, _ *fixture, o *Options) { o.VPCCIDR = "10.0.0.0/8" },
			want:   []string{"pod subnet 10.244.0.0/16 and service subnet 10.96.0.0/12 overlap the VPC 10.0.0.0/8"}},
		{name: "no VPC CIDR", check: "pod-subnet", status: report.Skip,
			break_: func(_ *testing.T, _ *fixture, o *Options) { o.VPCCIDR = "" },
			want:   []string{"no --vpc-cidr"}},
		{name: "no pool token", check: "node-pool-token", status: report.Fail, also: map[string]string{"cluster-info": report.Skip},
			break_: func(t *testing.T, f *fixture, _ *Options) {
				del(t, f.c, "secrets", "kube-system", "bootstrap-token-abcdef")
			},
			want: []string{"no bootstrap token Secret in kube-system is labelled hybridnode.io/node-pool=default", "hybridnode cluster setup --node-pool default"}},
		{name: "another pool's token only", check: "node-pool-token", status: report.Fail, also: map[string]string{"cluster-info": report.Skip},
			break_: func(_ *testing.T, _ *fixture, o *Options) { o.NodePool = "gpu" },
			want:   []string{"hybridnode.io/node-pool=gpu"}},
		{name: "expired pool token", check: "node-pool-token", status: report.Fail, also: map[string]string{"cluster-info": report.Fail},
			break_: func(t *testing.T, f *fixture, _ *Options) {
				del(t, f.c, "secrets", "kube-system", "bootstrap-token-abcdef")
				f.c.AddToken(t, "eeeeee", "eeeeeeeeeeeeeee1", "default", now.Add(-time.Minute), false)
			},
			want: []string{"newest bootstrap token eeeeee expired at"}},
		{name: "unsigned pool token", check: "cluster-info", status: report.Fail,
			break_: func(t *testing.T, f *fixture, _ *Options) {
				f.c.AddToken(t, "zzzzzz", "zzzzzzzzzzzzzzzz", "default", now.Add(30*time.Hour), false)
			},
			want: []string{"no jws-kubeconfig-zzzzzz signature for token zzzzzz", "--controllers=*,bootstrapsigner,tokencleaner"}},
		{name: "signature of another secret", check: "cluster-info", status: report.Fail,
			break_: func(t *testing.T, f *fixture, _ *Options) {
				f.c.AddToken(t, "yyyyyy", "yyyyyyyyyyyyyyyy", "default", now.Add(30*time.Hour), false)
				f.c.Sign(t, "yyyyyy", "xxxxxxxxxxxxxxxx")
			},
			want: []string{"jws-kubeconfig-yyyyyy does not verify"}},
		{name: "a kubeadm token that never expires", check: "token-expiry", status: report.Warn,
			break_: func(t *testing.T, f *fixture, _ *Options) {
				f.c.AddToken(t, "kkkkkk", "kkkkkkkkkkkkkkk9", "", time.Time{}, true)
			},
			want: []string{"1 bootstrap token(s) never expire: kkkkkk", "kubeadm token delete kkkkkk"}},
		{name: "artifacts for arm64 only", check: "artifacts", status: report.Warn,
			break_: func(t *testing.T, f *fixture, o *Options) {
				o.ArtifactURL = artifactDir(t, clustertest.Version, "arm64")
			},
			want: []string{"lacks kubernetes/v1.37.1/bin/linux/amd64/kubelet, kubernetes/v1.37.1/bin/linux/amd64/kubeadm", "complete for arm64"}},
		{name: "artifacts of another version", check: "artifacts", status: report.Warn,
			break_: func(t *testing.T, f *fixture, o *Options) {
				o.ArtifactURL = artifactDir(t, "v1.36.4", "amd64", "arm64")
			},
			want: []string{"lacks kubernetes/v1.37.1/bin/linux/amd64/kubelet", "neither amd64 nor arm64 is complete"}},
		{name: "version from the API server without kubeadm-config", check: "artifacts", status: report.Pass, also: map[string]string{"pod-subnet": report.Skip},
			break_: func(t *testing.T, f *fixture, o *Options) {
				del(t, f.c, "configmaps", "kube-system", "kubeadm-config")
				f.c.GitVersion = "v1.36.4+hn.1"
				o.ArtifactURL = artifactDir(t, "v1.36.4", "amd64")
			},
			want: []string{"kubelet and kubeadm v1.36.4 (the cluster's, from the API server's version): complete for amd64"}},
		{name: "artifacts over http", check: "artifacts", status: report.Pass,
			break_: func(t *testing.T, f *fixture, o *Options) {
				srv := httptest.NewServer(http.FileServer(http.Dir(f.artifacts)))
				t.Cleanup(srv.Close)
				o.ArtifactURL = srv.URL
			}},
		{name: "artifact source unreachable", check: "artifacts", status: report.Warn,
			break_: func(t *testing.T, f *fixture, o *Options) {
				srv := httptest.NewServer(http.NotFoundHandler())
				t.Cleanup(srv.Close)
				o.ArtifactURL = srv.URL + "/k8s"
			},
			want: []string{"cannot read SHA256SUMS from this machine", "404"}},
		{name: "no artifact URL", check: "artifacts", status: report.Skip,
			break_: func(_ *testing.T, _ *fixture, o *Options) { o.ArtifactURL = "" },
			want:   []string{"no --artifact-url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, clustertest.Healthy(t))
			o := f.checkOptions()
			tc.break_(t, f, &o)
			r := f.check(t, o)
			text := textOf(r)
			got := result(r, tc.check)
			if got.Status != tc.status {
				t.Fatalf("%s: %s, want %s:\n%s", tc.check, got.Status, tc.status, text)
			}
			if got.Status != report.Pass && got.Remedy == "" && got.Status != report.Skip {
				t.Errorf("%s has no remedy", tc.check)
			}
			for _, w := range tc.want {
				if !strings.Contains(got.Evidence+"\n"+got.Remedy, w) {
					t.Errorf("%s lacks %q:\n%s", tc.check, w, text)
				}
			}
			for _, c := range r.Checks {
				want := report.Pass
				if c.Name == "token-service" {
					want = report.Skip // a cluster of pool tokens
				}
				if s, ok := tc.also[c.Name]; ok {
					want = s
				}
				if c.Name != tc.check && c.Status != want {
					t.Errorf("%s is %s, want %s: %s", c.Name, c.Status, want, c.Evidence)
				}
			}
			if (tc.status == report.Fail) != (len(r.Failed()) > 0) {
				t.Errorf("failed = %v", r.Failed())
			}
		})
	}
}

func TestCheckInvalidOptions(t *testing.T) {
	c := clustertest.Healthy(t)
	_, err := Check(context.Background(), client(c), Options{NodePool: "no spaces", OnpremCNI: "calico-node", CloudCNI: "kube-system/", VPCCIDR: "10.0.0.0/33", ArtifactURL: "ftp://x/y"})
	ie := wantInput(t, err, "--node-pool")
	if len(ie.Problems) != 5 {
		t.Errorf("want 5 problems:\n%v", ie)
	}
	for _, f := range []string{"--onprem-cni", "--cloud-cni", "--vpc-cidr", "--artifact-url"} {
		if !strings.Contains(ie.Error(), f) {
			t.Errorf("no %s:\n%v", f, ie)
		}
	}
	if n := len(c.Fake.Actions()); n != 0 {
		t.Errorf("%d API requests before the options were valid", n)
	}
}

func TestCheckAPIServerDown(t *testing.T) {
	c := clustertest.Healthy(t)
	c.VersionErr = errors.New("dial tcp 10.0.0.10:6443: connect: connection refused")
	_, err := Check(context.Background(), client(c), Options{})
	var ie *InputError
	if err == nil || errors.As(err, &ie) || !strings.Contains(err.Error(), "does not answer") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v", err)
	}
}
