// Package clustertest is a fake hybrid cluster for the tests of
// bootstrap/cluster and cmd/hybridnode-cluster: client-go's object tracker
// behind the typed fakes, plus what the fake lacks and the commands rely on:
// server-side dry run (a request with DryRun: All changes nothing), a
// creation timestamp and UID on create, and a stand-in for
// kube-controller-manager's bootstrapsigner that signs cluster-info for new
// tokens (with jws.ComputeDetachedSignature), optionally only after some
// reads, so that the commands' wait is exercised.
package clustertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/dynamic"
	fakedynamic "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/scheme"
	admissionv1client "k8s.io/client-go/kubernetes/typed/admissionregistration/v1"
	fakeadmissionv1 "k8s.io/client-go/kubernetes/typed/admissionregistration/v1/fake"
	appsv1client "k8s.io/client-go/kubernetes/typed/apps/v1"
	fakeappsv1 "k8s.io/client-go/kubernetes/typed/apps/v1/fake"
	certificatesv1client "k8s.io/client-go/kubernetes/typed/certificates/v1"
	fakecertificatesv1 "k8s.io/client-go/kubernetes/typed/certificates/v1/fake"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	fakecoordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1/fake"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	fakecorev1 "k8s.io/client-go/kubernetes/typed/core/v1/fake"
	rbacv1client "k8s.io/client-go/kubernetes/typed/rbac/v1"
	fakerbacv1 "k8s.io/client-go/kubernetes/typed/rbac/v1/fake"
	k8stesting "k8s.io/client-go/testing"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/cluster-bootstrap/token/jws"
)

// Fixture names.
const (
	Server      = "https://10.0.0.10:6443"
	Endpoint    = "10.0.0.10:6443"
	Version     = "v1.37.1"
	OnpremNode  = "onprem-1"
	CloudNode1  = "cn-hangzhou.i-cloud1"
	CloudNode2  = "cn-hangzhou.i-cloud2"
	VirtualNode = "virtual-kubelet-cn-hangzhou-k"
	// PoolToken is the healthy cluster's token of node pool "default".
	PoolTokenID     = "abcdef"
	PoolTokenSecret = "0123456789abcdef"
	// ENISecret is eni-config's access_secret: never printed.
	ENISecret  = "eniSECRETvalue42"
	ScriptPath = "https://hn.oss-cn-hangzhou-internal.aliyuncs.com/pools/add-node-default.sh"
	CalicoUID  = types.UID("uid-calico-node")
)

// Cluster is a fake cluster.
type Cluster struct {
	Fake    *k8stesting.Fake
	Tracker k8stesting.ObjectTracker
	// Dyn holds the custom resources (Calico's, the Tigera operator's),
	// read through the dynamic client; none unless a test adds them.
	Dyn *fakedynamic.FakeDynamicClient
	// CA is the cluster CA in cluster-info; Pin its kubeadm pin is left to
	// the caller (report.Pin).
	CA *x509.Certificate
	// GitVersion is what discovery answers; VersionErr makes it fail.
	GitVersion string
	VersionErr error
	// Now is the clock of creation timestamps.
	Now func() time.Time

	mu sync.Mutex
	// signer off: new tokens are never signed.
	signer    bool
	signAfter int
	pending   []pending
	uid       int
}

type pending struct {
	id, secret string
	gets       int
}

// New is an empty cluster but for kube-public/cluster-info (with a fresh
// CA) and a running signer.
func New(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{GitVersion: Version, Now: time.Now, signer: true}
	c.Tracker = k8stesting.NewObjectTracker(scheme.Scheme, scheme.Codecs.UniversalDecoder())
	c.Fake = &k8stesting.Fake{}
	c.Fake.AddReactor("*", "*", c.react)
	c.Dyn = fakedynamic.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), CustomListKinds)
	c.CA = newCA(t)
	c.Add(t, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: bootstrapapi.ConfigMapClusterInfo, Namespace: "kube-public"},
		Data:       map[string]string{bootstrapapi.KubeConfigKey: ClusterInfoKubeconfig(Server, c.CA)},
	})
	return c
}

// ClusterInfoKubeconfig is cluster-info's kubeconfig as kubeadm writes it.
func ClusterInfoKubeconfig(server string, ca *x509.Certificate) string {
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: %s
    server: %s
  name: ""
contexts: null
current-context: ""
preferences: {}
users: null
`, b64(caPEM), server)
}

// Healthy is a hybrid cluster on which every check passes: Calico kept off
// cloud and virtual nodes, Terway on the two cloud nodes, eni-config,
// ack-agent-config with an https script, kubeadm-config, and node pool
// "default"'s token (expiring in 20h) signed in cluster-info.
func Healthy(t testing.TB) *Cluster {
	t.Helper()
	c := New(t)
	c.Add(t,
		node(OnpremNode, nil),
		node(CloudNode1, map[string]string{"alibabacloud.com/external": "true"}),
		node(CloudNode2, map[string]string{"alibabacloud.com/external": "true"}),
		node(VirtualNode, map[string]string{"type": "virtual-kubelet"}),
		Calico(true),
		CalicoPod("calico-node-x1", OnpremNode),
		Terway(2),
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "eni-config", Namespace: "kube-system"},
			Data: map[string]string{"eni_conf": `{"version":"1","access_key":"LTAIexample","access_secret":"` + ENISecret + `","vswitches":{}}`}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ack-agent-config", Namespace: "kube-system"},
			Data: map[string]string{"addNodeScriptPath": ScriptPath, "enableNodepool": "true"}},
		KubeadmConfig(Version, "10.244.0.0/16", "10.96.0.0/12"),
	)
	c.AddToken(t, PoolTokenID, PoolTokenSecret, "default", c.Now().Add(20*time.Hour), true)
	return c
}

// Core, Apps and Discovery are the typed clients over the fake.
func (c *Cluster) Core() corev1client.CoreV1Interface { return &fakecorev1.FakeCoreV1{Fake: c.Fake} }
func (c *Cluster) Apps() appsv1client.AppsV1Interface { return &fakeappsv1.FakeAppsV1{Fake: c.Fake} }
func (c *Cluster) Rbac() rbacv1client.RbacV1Interface { return &fakerbacv1.FakeRbacV1{Fake: c.Fake} }
func (c *Cluster) Admission() admissionv1client.AdmissionregistrationV1Interface {
	return &fakeadmissionv1.FakeAdmissionregistrationV1{Fake: c.Fake}
}
func (c *Cluster) Coordination() coordinationv1client.CoordinationV1Interface {
	return &fakecoordinationv1.FakeCoordinationV1{Fake: c.Fake}
}
func (c *Cluster) Certificates() certificatesv1client.CertificatesV1Interface {
	return &fakecertificatesv1.FakeCertificatesV1{Fake: c.Fake}
}
func (c *Cluster) Discovery() *fakediscovery.FakeDiscovery {
	return &fakediscovery.FakeDiscovery{Fake: c.Fake, FakedServerVersion: &version.Info{GitVersion: c.GitVersion}}
}

// Dynamic is the dynamic client over Dyn.
func (c *Cluster) Dynamic() dynamic.Interface { return c.Dyn }

// AddCR stores custom resources in Dyn.
func (c *Cluster) AddCR(t testing.TB, objs ...*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if err := c.Dyn.Tracker().Add(o); err != nil {
			t.Fatalf("add %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
}

// Custom resources hybridnode-cluster reads, with their list kinds (the
// dynamic fake needs them to answer a List).
var (
	IPPools           = schema.GroupVersionResource{Group: "crd.projectcalico.org", Version: "v1", Resource: "ippools"}
	BGPConfigurations = schema.GroupVersionResource{Group: "crd.projectcalico.org", Version: "v1", Resource: "bgpconfigurations"}
	BGPPeers          = schema.GroupVersionResource{Group: "crd.projectcalico.org", Version: "v1", Resource: "bgppeers"}
	Installations     = schema.GroupVersionResource{Group: "operator.tigera.io", Version: "v1", Resource: "installations"}
	CustomListKinds   = map[schema.GroupVersionResource]string{
		IPPools: "IPPoolList", BGPConfigurations: "BGPConfigurationList", BGPPeers: "BGPPeerList", Installations: "InstallationList",
	}
)

// SetSigner turns the bootstrapsigner stand-in on or off; after is the
// number of cluster-info reads before a new token's signature appears.
func (c *Cluster) SetSigner(on bool, after int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.signer, c.signAfter = on, after
}

// Add stores objects, as they are.
func (c *Cluster) Add(t testing.TB, objs ...runtime.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Tracker.Add(o); err != nil {
			t.Fatalf("add %T: %v", o, err)
		}
	}
}

// AddToken stores a bootstrap token Secret (pool "" : not hybridnode's;
// expires zero: none) and, when signed, its signature in cluster-info.
func (c *Cluster) AddToken(t testing.TB, id, secret, pool string, expires time.Time, signed bool) {
	t.Helper()
	s := TokenSecret(id, secret, pool, expires)
	s.CreationTimestamp = metav1.NewTime(c.Now().Add(-time.Hour))
	c.Add(t, s)
	if signed {
		if err := c.sign(id, secret); err != nil {
			t.Fatal(err)
		}
	}
}

// Broken is what setup fixes: Calico's affinity lets it onto cloud nodes,
// node pool "default" has no token, ack-agent-config is missing.
func Broken(t testing.TB) *Cluster {
	c := Healthy(t)
	if err := c.Tracker.Update(DaemonSets, Calico(false), "kube-system"); err != nil {
		t.Fatal(err)
	}
	if err := c.Tracker.Delete(Secrets, "kube-system", "bootstrap-token-abcdef"); err != nil {
		t.Fatal(err)
	}
	if err := c.Tracker.Delete(ConfigMaps, "kube-system", "ack-agent-config"); err != nil {
		t.Fatal(err)
	}
	return c
}

// TokenSecret is a bootstrap token Secret as kubeadm makes it.
func TokenSecret(id, secret, pool string, expires time.Time) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: bootstrapapi.BootstrapTokenSecretPrefix + id, Namespace: "kube-system"},
		Type:       bootstrapapi.SecretTypeBootstrapToken,
		Data: map[string][]byte{
			bootstrapapi.BootstrapTokenIDKey:               []byte(id),
			bootstrapapi.BootstrapTokenSecretKey:           []byte(secret),
			bootstrapapi.BootstrapTokenUsageAuthentication: []byte("true"),
			bootstrapapi.BootstrapTokenUsageSigningKey:     []byte("true"),
		},
	}
	if pool != "" {
		s.Labels = map[string]string{"hybridnode.io/node-pool": pool}
	}
	if !expires.IsZero() {
		s.Data[bootstrapapi.BootstrapTokenExpirationKey] = []byte(expires.UTC().Format(time.RFC3339))
	}
	return s
}

// Sign writes cluster-info's signature for a token, as the signer would.
func (c *Cluster) Sign(t testing.TB, id, secret string) {
	t.Helper()
	if err := c.sign(id, secret); err != nil {
		t.Fatal(err)
	}
}

func (c *Cluster) sign(id, secret string) error {
	gvr := corev1.SchemeGroupVersion.WithResource("configmaps")
	o, err := c.Tracker.Get(gvr, "kube-public", bootstrapapi.ConfigMapClusterInfo)
	if err != nil {
		return err
	}
	cm := o.(*corev1.ConfigMap).DeepCopy()
	sig, err := jws.ComputeDetachedSignature(cm.Data[bootstrapapi.KubeConfigKey], id, secret)
	if err != nil {
		return err
	}
	cm.Data[bootstrapapi.JWSSignatureKeyPrefix+id] = sig
	return c.Tracker.Update(gvr, cm, "kube-public")
}

func (c *Cluster) unsign(id string) {
	gvr := corev1.SchemeGroupVersion.WithResource("configmaps")
	o, err := c.Tracker.Get(gvr, "kube-public", bootstrapapi.ConfigMapClusterInfo)
	if err != nil {
		return
	}
	cm := o.(*corev1.ConfigMap).DeepCopy()
	delete(cm.Data, bootstrapapi.JWSSignatureKeyPrefix+id)
	_ = c.Tracker.Update(gvr, cm, "kube-public")
}

// IsMutation: the action would change something (create, update, patch, delete).
func IsMutation(a k8stesting.Action) bool {
	return slices.Contains([]string{"create", "update", "patch", "delete", "delete-collection"}, a.GetVerb())
}

// IsDryRun: the action asked for a server-side dry run.
func IsDryRun(a k8stesting.Action) bool {
	var dry []string
	switch a := a.(type) {
	case k8stesting.CreateActionImpl:
		dry = a.CreateOptions.DryRun
	case k8stesting.UpdateActionImpl:
		dry = a.UpdateOptions.DryRun
	case k8stesting.PatchActionImpl:
		dry = a.PatchOptions.DryRun
	case k8stesting.DeleteActionImpl:
		dry = a.DeleteOptions.DryRun
	case k8stesting.DeleteCollectionActionImpl:
		dry = a.DeleteOptions.DryRun
	}
	return slices.Equal(dry, []string{metav1.DryRunAll})
}

// Mutations are the mutating actions so far; dry-run ones included.
func (c *Cluster) Mutations() []k8stesting.Action {
	var out []k8stesting.Action
	for _, a := range c.Fake.Actions() {
		if IsMutation(a) {
			out = append(out, a)
		}
	}
	return out
}

// Secrets are the token secrets of every bootstrap token stored, for
// scanning output.
func (c *Cluster) Secrets(t testing.TB) []string {
	t.Helper()
	list, err := c.Core().Secrets("kube-system").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := []string{ENISecret}
	for _, s := range list.Items {
		if v := string(s.Data[bootstrapapi.BootstrapTokenSecretKey]); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (c *Cluster) react(action k8stesting.Action) (bool, runtime.Object, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if action.GetResource().Resource == "version" {
		return true, nil, c.VersionErr
	}
	if IsMutation(action) && IsDryRun(action) {
		return c.dryRun(action)
	}
	if g, ok := action.(k8stesting.GetActionImpl); ok && g.Namespace == "kube-public" && g.Name == bootstrapapi.ConfigMapClusterInfo {
		c.releaseSignatures()
	}
	if cr, ok := action.(k8stesting.CreateActionImpl); ok {
		if m, err := meta.Accessor(cr.Object); err == nil {
			if ts := m.GetCreationTimestamp(); ts.IsZero() {
				m.SetCreationTimestamp(metav1.NewTime(c.Now()))
			}
			if m.GetUID() == "" {
				c.uid++
				m.SetUID(types.UID(fmt.Sprintf("uid-%d", c.uid)))
			}
		}
	}
	handled, obj, err := k8stesting.ObjectReaction(c.Tracker)(action)
	if err != nil {
		return handled, obj, err
	}
	switch a := action.(type) {
	case k8stesting.CreateActionImpl:
		if s, ok := a.Object.(*corev1.Secret); ok && s.Type == bootstrapapi.SecretTypeBootstrapToken && c.signer &&
			string(s.Data[bootstrapapi.BootstrapTokenUsageSigningKey]) == "true" {
			c.pending = append(c.pending, pending{id: string(s.Data[bootstrapapi.BootstrapTokenIDKey]), secret: string(s.Data[bootstrapapi.BootstrapTokenSecretKey])})
			if c.signAfter == 0 {
				c.releaseSignatures()
			}
		}
	case k8stesting.DeleteActionImpl:
		if a.Resource.Resource == "secrets" {
			if id, ok := cutPrefix(a.Name, bootstrapapi.BootstrapTokenSecretPrefix); ok {
				c.unsign(id)
			}
		}
	}
	return handled, obj, err
}

// releaseSignatures signs the pending tokens whose wait is over.
func (c *Cluster) releaseSignatures() {
	var keep []pending
	for _, p := range c.pending {
		if p.gets >= c.signAfter {
			_ = c.sign(p.id, p.secret)
			continue
		}
		p.gets++
		keep = append(keep, p)
	}
	c.pending = keep
}

// dryRun answers as the API server does to DryRun: All: validated, not stored.
func (c *Cluster) dryRun(action k8stesting.Action) (bool, runtime.Object, error) {
	gvr := action.GetResource()
	switch a := action.(type) {
	case k8stesting.CreateActionImpl:
		m, err := meta.Accessor(a.Object)
		if err != nil {
			return true, nil, err
		}
		if _, err := c.Tracker.Get(gvr, a.Namespace, m.GetName()); err == nil {
			return true, nil, apierrors.NewAlreadyExists(gvr.GroupResource(), m.GetName())
		}
		return true, a.Object, nil
	case k8stesting.UpdateActionImpl:
		m, err := meta.Accessor(a.Object)
		if err != nil {
			return true, nil, err
		}
		if _, err := c.Tracker.Get(gvr, a.Namespace, m.GetName()); err != nil {
			return true, nil, err
		}
		return true, a.Object, nil
	case k8stesting.DeleteActionImpl:
		if _, err := c.Tracker.Get(gvr, a.Namespace, a.Name); err != nil {
			return true, nil, err
		}
		return true, nil, nil
	}
	return true, nil, fmt.Errorf("clustertest: no dry run for %s", action.GetVerb())
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return "", false
}

func node(name string, labels map[string]string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

// Node is a Node with labels.
func Node(name string, labels map[string]string) *corev1.Node { return node(name, labels) }

// Calico is kube-system/calico-node; excluded: its required term keeps it
// off cloud and virtual nodes (else the term only selects linux).
func Calico(excluded bool) *appsv1.DaemonSet {
	exprs := []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/os", Operator: corev1.NodeSelectorOpIn, Values: []string{"linux"}}}
	if excluded {
		exprs = append(exprs,
			corev1.NodeSelectorRequirement{Key: "alibabacloud.com/external", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"true"}},
			corev1.NodeSelectorRequirement{Key: "type", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"virtual-kubelet"}})
	}
	labels := map[string]string{"k8s-app": "calico-node"}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "calico-node", Namespace: "kube-system", UID: CalicoUID},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
					Affinity: &corev1.Affinity{
						NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
							NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: exprs}},
						}},
						PodAntiAffinity: &corev1.PodAntiAffinity{},
					},
					Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					Containers:  []corev1.Container{{Name: "calico-node", Image: "calico/node:v3.30.0"}},
				},
			},
		},
	}
}

// CalicoPod is a live calico-node pod on a node.
func CalicoPod(name, nodeName string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system", Labels: map[string]string{"k8s-app": "calico-node"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "calico-node", UID: CalicoUID}}},
		Spec: corev1.PodSpec{NodeName: nodeName},
	}
}

// Terway is kube-system/terway-eniip on the cloud nodes, wanting desired pods.
func Terway(desired int32) *appsv1.DaemonSet {
	labels := map[string]string{"app": "terway-eniip"}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "terway-eniip", Namespace: "kube-system", UID: "uid-terway"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"alibabacloud.com/external": "true"},
					Containers:   []corev1.Container{{Name: "terway", Image: "terway:v1.16"}},
				},
			},
		},
		Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: desired},
	}
}

// KubeadmConfig is kube-system/kubeadm-config.
func KubeadmConfig(version, podSubnet, serviceSubnet string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kubeadm-config", Namespace: "kube-system"},
		Data: map[string]string{"ClusterConfiguration": fmt.Sprintf("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: %s\nnetworking:\n  dnsDomain: cluster.local\n  podSubnet: %s\n  serviceSubnet: %s\n", version, podSubnet, serviceSubnet)}}
}

// Get reads one stored object.
func (c *Cluster) Get(t testing.TB, resource schema.GroupVersionResource, ns, name string) runtime.Object {
	t.Helper()
	o, err := c.Tracker.Get(resource, ns, name)
	if err != nil {
		t.Fatalf("get %s %s/%s: %v", resource.Resource, ns, name, err)
	}
	return o
}

// Resources of the fixtures.
var (
	ConfigMaps = corev1.SchemeGroupVersion.WithResource("configmaps")
	Secrets    = corev1.SchemeGroupVersion.WithResource("secrets")
	DaemonSets = appsv1.SchemeGroupVersion.WithResource("daemonsets")
	Pods       = corev1.SchemeGroupVersion.WithResource("pods")
	Nodes      = corev1.SchemeGroupVersion.WithResource("nodes")
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func newCA(t testing.TB) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
