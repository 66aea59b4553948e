package cluster

// The on-premises container network's mode, read from the cluster.
//
// Alibaba Cloud's "Deploy and configure Terway" page for hybrid (registered)
// clusters sorts an on-premises network into three scenarios
// (https://www.alibabacloud.com/help/en/ack/distributed-cloud-container-platform-for-kubernetes/user-guide/deploy-and-configure-terway):
//   - scenario 1, an overlay network (Flannel VXLAN, Calico IPIP, Cilium
//     VXLAN; Calico VXLAN too): cloud nodes run the same CNI in the same mode; Terway is not
//     used, the cloud nodes only have to pull the CNI DaemonSet's images;
//   - scenario 2, a BGP network (Calico with route reflection, Cilium's BGP
//     control plane), and scenario 3, a host network: cloud nodes must run
//     Terway, and the on-premises CNI stays off them.
//
// networkOf reads the objects each CNI's own installation leaves, read-only,
// and detectNetwork tells from them which scenario a cluster is in;
// --network-mode overrides it.

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/hybridnode/hybridnode/bootstrap/doctor/report"
)

// Network modes (--network-mode), after the Terway page's scenarios.
const (
	ModeOverlay = "overlay" // scenario 1: cloud nodes run the on-premises CNI
	ModeBGP     = "bgp"     // scenario 2: cloud nodes run Terway
	ModeHost    = "host"    // scenario 3: cloud nodes run Terway
)

// CNIs and installers detectNetwork names.
const (
	CNIFlannel = "flannel"
	CNICalico  = "calico"
	CNICilium  = "cilium"
	CNIUnknown = "unknown" // a CNI is there, but which or in what mode is not known
	CNINone    = "none"    // no CNI found

	InstallerManifest = "manifest"
	InstallerOperator = "tigera-operator"
	InstallerHelm     = "helm"
)

// NetworkDetection is what the cluster says about its on-premises network.
type NetworkDetection struct {
	CNI       string `json:"cni"`
	Installer string `json:"installer,omitempty"`
	// Mode is overlay, bgp or host; empty when it could not be told.
	Mode string `json:"mode,omitempty"`
	// Evidence names the objects and fields that said so.
	Evidence []string `json:"evidence"`
	// Notes are what else the admin should know (a tunnel the Terway page
	// does not name, a policy-only Calico beside Flannel, ...).
	Notes []string `json:"notes,omitempty"`
	// Check is, when Mode is empty, what to check by hand.
	Check string `json:"check,omitempty"`
}

func (d NetworkDetection) String() string {
	s := d.CNI
	if d.Installer != "" {
		s += " (" + d.Installer + ")"
	}
	if d.Mode != "" {
		s += ", mode " + d.Mode
	} else {
		s += ", mode not known"
	}
	if len(d.Evidence) > 0 {
		s += ": " + strings.Join(d.Evidence, "; ")
	}
	return s
}

// Objects the detection reads.
const (
	flannelCfg    = "kube-flannel-cfg"
	canalCfg      = "canal-config"
	flannelNetKey = "net-conf.json"
	calicoNode    = "calico-node"
	calicoSystem  = "calico-system"
	calicoConfig  = "calico-config"
	ciliumConfig  = "cilium-config"
	ciliumAgent   = "cilium"
	helmManagedBy = "app.kubernetes.io/managed-by"
	helmRelease   = "meta.helm.sh/release-name"
)

// Calico's custom resources (crd.projectcalico.org/v1, what a manifest
// install stores them as) and the Tigera operator's Installation.
var (
	ipPoolsGVR       = schema.GroupVersionResource{Group: "crd.projectcalico.org", Version: "v1", Resource: "ippools"}
	bgpConfigsGVR    = schema.GroupVersionResource{Group: "crd.projectcalico.org", Version: "v1", Resource: "bgpconfigurations"}
	bgpPeersGVR      = schema.GroupVersionResource{Group: "crd.projectcalico.org", Version: "v1", Resource: "bgppeers"}
	installationsGVR = schema.GroupVersionResource{Group: "operator.tigera.io", Version: "v1", Resource: "installations"}
)

// netObjects are what detectNetwork looks at; nil or empty: absent.
type netObjects struct {
	// flannelCM is kube-flannel/kube-flannel-cfg or kube-system/kube-flannel-cfg,
	// else Canal's kube-system/canal-config (the same net-conf.json).
	flannelCM *corev1.ConfigMap
	calicoCM  *corev1.ConfigMap // kube-system/calico-config (calico_backend)
	ciliumCM  *corev1.ConfigMap // kube-system/cilium-config
	// daemonSets are every DaemonSet of the cluster.
	daemonSets []appsv1.DaemonSet
	// installation is the Tigera operator's Installation "default".
	installation *unstructured.Unstructured
	ipPools      []unstructured.Unstructured
	bgpConfigs   []unstructured.Unstructured
	bgpPeers     []unstructured.Unstructured
	// onprem is --onprem-cni, to name an unknown CNI.
	onprem ref
	// noDynamic: the client has no dynamic client, custom resources unread.
	noDynamic bool
}

// networkOf reads the cluster's network objects and tells its mode. It
// only reads; an API error other than not found is returned.
func networkOf(ctx context.Context, c *Client, onprem ref) (NetworkDetection, error) {
	o, err := readNetObjects(ctx, c, onprem)
	if err != nil {
		return NetworkDetection{}, err
	}
	return detectNetwork(o), nil
}

func readNetObjects(ctx context.Context, c *Client, onprem ref) (*netObjects, error) {
	o := &netObjects{onprem: onprem}
	cm := func(ns, name string) (*corev1.ConfigMap, error) {
		got, err := c.Core.ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("get ConfigMap %s/%s: %w", ns, name, err)
		}
		return got, nil
	}
	var err error
	// kube-flannel.yml puts flannel in its own namespace since v0.20; older
	// manifests (and many distributions) in kube-system.
	for _, ns := range []string{"kube-flannel", kubeSystem} {
		if o.flannelCM, err = cm(ns, flannelCfg); err != nil || o.flannelCM != nil {
			break
		}
	}
	if err == nil && o.flannelCM == nil {
		// Canal (https://docs.tigera.io/calico/latest/getting-started/kubernetes/flannel/install-for-flannel):
		// Flannel networks, Calico only enforces policy.
		o.flannelCM, err = cm(kubeSystem, canalCfg)
	}
	if err != nil {
		return nil, err
	}
	if o.calicoCM, err = cm(kubeSystem, calicoConfig); err != nil {
		return nil, err
	}
	if o.ciliumCM, err = cm(kubeSystem, ciliumConfig); err != nil {
		return nil, err
	}
	ds, err := c.Apps.DaemonSets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list DaemonSets: %w", err)
	}
	o.daemonSets = ds.Items
	if c.Dynamic == nil {
		o.noDynamic = true
		return o, nil
	}
	inst, err := c.Dynamic.Resource(installationsGVR).Get(ctx, "default", metav1.GetOptions{})
	switch {
	case absent(err):
	case err != nil:
		return nil, fmt.Errorf("get Installation default (operator.tigera.io/v1): %w", err)
	default:
		o.installation = inst
	}
	for _, l := range []struct {
		gvr  schema.GroupVersionResource
		into *[]unstructured.Unstructured
	}{{ipPoolsGVR, &o.ipPools}, {bgpConfigsGVR, &o.bgpConfigs}, {bgpPeersGVR, &o.bgpPeers}} {
		list, err := c.Dynamic.Resource(l.gvr).List(ctx, metav1.ListOptions{})
		switch {
		case absent(err):
		case err != nil:
			return nil, fmt.Errorf("list %s (%s): %w", l.gvr.Resource, l.gvr.GroupVersion(), err)
		default:
			*l.into = list.Items
		}
	}
	return o, nil
}

// absent: the object, or its CRD, is not there (404, or no such kind).
func absent(err error) bool {
	return err != nil && (apierrors.IsNotFound(err) || meta.IsNoMatchError(err))
}

func (o *netObjects) daemonSet(ns, name string) *appsv1.DaemonSet {
	for i := range o.daemonSets {
		if d := &o.daemonSets[i]; d.Namespace == ns && d.Name == name {
			return d
		}
	}
	return nil
}

// helmOwned: Helm labels (and annotates) what it installs.
func helmOwned(objs ...metav1.Object) bool {
	for _, m := range objs {
		if m == nil {
			continue
		}
		if m.GetLabels()[helmManagedBy] == "Helm" || m.GetAnnotations()[helmRelease] != "" {
			return true
		}
	}
	return false
}

// detectNetwork tells the mode from the objects: pure, for the tests.
func detectNetwork(o *netObjects) NetworkDetection {
	var found []NetworkDetection
	var notes []string
	if o.flannelCM != nil {
		found = append(found, detectFlannel(o))
	}
	if d, ok := detectCalico(o); ok {
		if d.Mode == "" && calicoPolicyOnly(o) && o.flannelCM != nil {
			// Canal: Calico for policy, Flannel for the network.
			notes = append(notes, "Calico runs policy-only beside Flannel (Canal: "+strings.Join(d.Evidence, "; ")+")")
		} else {
			found = append(found, d)
		}
	}
	if o.ciliumCM != nil || o.daemonSet(kubeSystem, ciliumAgent) != nil {
		found = append(found, detectCilium(o))
	}
	switch len(found) {
	case 0:
		return detectOther(o)
	case 1:
		d := found[0]
		d.Notes = append(notes, d.Notes...)
		if o.noDynamic && d.CNI == CNICalico {
			d.Notes = append(d.Notes, "Calico's custom resources were not read (no dynamic client)")
		}
		return d
	}
	var names, ev []string
	for _, d := range found {
		names = append(names, d.CNI)
		ev = append(ev, d.String())
	}
	return NetworkDetection{CNI: CNIUnknown, Evidence: ev, Notes: notes,
		Check: "more than one CNI is configured (" + strings.Join(names, ", ") + "): find the one whose DaemonSet runs on the on-premises nodes and its mode, or remove the leftovers"}
}

// Flannel: the backend of net-conf.json in kube-flannel-cfg
// (https://github.com/flannel-io/flannel/blob/master/Documentation/kube-flannel.yml,
// Documentation/backends.md; a missing Backend is udp, Documentation/configuration.md).
func detectFlannel(o *netObjects) NetworkDetection {
	cm := o.flannelCM
	d := NetworkDetection{CNI: CNIFlannel, Installer: InstallerManifest}
	ds := flannelDaemonSet(o, cm.Namespace)
	if ds != nil && helmOwned(ds, cm) || ds == nil && helmOwned(cm) {
		d.Installer = InstallerHelm
	}
	where := "ConfigMap " + cm.Namespace + "/" + cm.Name + " " + flannelNetKey
	if cm.Name == canalCfg {
		d.Notes = append(d.Notes, "Canal: Flannel networks the pods, Calico enforces policy")
	}
	raw, ok := cm.Data[flannelNetKey]
	if !ok {
		d.Evidence = []string{where + " missing"}
		d.Check = "flannel's net-conf.json: its Backend.Type (vxlan: overlay, host-gw: host)"
		return d
	}
	var conf struct {
		Backend *struct {
			Type          string
			DirectRouting bool
		}
	}
	if err := json.Unmarshal([]byte(raw), &conf); err != nil {
		d.Evidence = []string{where + " is not JSON: " + err.Error()}
		d.Check = "flannel's net-conf.json: its Backend.Type (vxlan: overlay, host-gw: host)"
		return d
	}
	typ := "udp"
	if conf.Backend == nil || conf.Backend.Type == "" {
		d.Evidence = []string{where + " has no Backend.Type (flannel's default: udp)"}
	} else {
		typ = strings.ToLower(conf.Backend.Type)
		d.Evidence = []string{where + " Backend.Type=" + conf.Backend.Type}
	}
	switch typ {
	case "vxlan":
		d.Mode = ModeOverlay
		if conf.Backend.DirectRouting {
			d.Notes = append(d.Notes, "Backend.DirectRouting=true: host routes between nodes of one subnet, VXLAN across subnets (the cloud nodes')")
		}
	case "host-gw":
		d.Mode = ModeHost
	case "udp", "wireguard", "ipip":
		d.Mode = ModeOverlay
		d.Notes = append(d.Notes, "flannel's "+typ+" backend is a tunnel, but not the VXLAN the Terway page names: the cloud nodes must run it too, and the VPC's security groups must pass it")
	default:
		d.Check = "flannel's backend " + typ + " is none of vxlan, host-gw, udp, wireguard, ipip: tell whether it tunnels (overlay) or routes (host)"
	}
	if ds == nil {
		d.Notes = append(d.Notes, "no flannel DaemonSet found in "+cm.Namespace+": is this ConfigMap a leftover?")
	}
	return d
}

func flannelDaemonSet(o *netObjects, ns string) *appsv1.DaemonSet {
	for _, name := range []string{"kube-flannel-ds", "kube-flannel", "canal"} {
		if d := o.daemonSet(ns, name); d != nil {
			return d
		}
	}
	for i := range o.daemonSets {
		if d := &o.daemonSets[i]; d.Namespace == ns && strings.Contains(d.Name, "flannel") {
			return d
		}
	}
	return nil
}

// calicoPolicyOnly: a manifest calico-node with CALICO_NETWORKING_BACKEND=none.
func calicoPolicyOnly(o *netObjects) bool {
	ds := o.daemonSet(kubeSystem, calicoNode)
	if ds == nil {
		return false
	}
	b, _ := calicoBackend(o, ds)
	return b == "none"
}

// detectCalico: the Tigera operator's Installation when there is one, else
// the manifest's calico-node DaemonSet with Calico's IPPools.
func detectCalico(o *netObjects) (NetworkDetection, bool) {
	if o.installation != nil {
		return detectCalicoOperator(o), true
	}
	if ds := o.daemonSet(calicoSystem, calicoNode); ds != nil {
		// The operator's DaemonSet without its Installation.
		return NetworkDetection{CNI: CNICalico, Installer: InstallerOperator,
			Evidence: []string{"DaemonSet calico-system/calico-node (the Tigera operator's), but no Installation default (operator.tigera.io/v1)"},
			Check:    "kubectl get installation default -o yaml: spec.calicoNetwork.bgp and ipPools[].encapsulation"}, true
	}
	ds := o.daemonSet(kubeSystem, calicoNode)
	if ds == nil {
		return NetworkDetection{}, false
	}
	return detectCalicoManifest(o, ds), true
}

// The operator's Installation
// (https://docs.tigera.io/calico/latest/reference/installation/api):
// spec.calicoNetwork.bgp Enabled (the default) or Disabled, and
// spec.calicoNetwork.ipPools[].encapsulation IPIP, IPIPCrossSubnet, VXLAN,
// VXLANCrossSubnet or None. The operator then runs calico-system/calico-node.
func detectCalicoOperator(o *netObjects) NetworkDetection {
	in := o.installation
	d := NetworkDetection{CNI: CNICalico, Installer: InstallerOperator}
	where := "Installation default (operator.tigera.io/v1)"
	if cni, _, _ := unstructured.NestedString(in.Object, "spec", "cni", "type"); cni != "" && cni != "Calico" {
		d.Evidence = []string{where + " spec.cni.type=" + cni}
		d.Check = "Calico runs policy-only over the " + cni + " CNI: find that CNI's mode"
		return d
	}
	bgp, _, _ := unstructured.NestedString(in.Object, "spec", "calicoNetwork", "bgp")
	bgpEv := "spec.calicoNetwork.bgp=" + bgp
	if bgp == "" {
		bgp, bgpEv = "Enabled", "spec.calicoNetwork.bgp unset (Enabled)"
	}
	pools, _, _ := unstructured.NestedSlice(in.Object, "spec", "calicoNetwork", "ipPools")
	var encs []string
	overlay := false
	for _, p := range pools {
		m, _ := p.(map[string]any)
		enc, _ := m["encapsulation"].(string)
		cidr, _ := m["cidr"].(string)
		if enc == "" {
			// The operator's default for a pool: IPIP with BGP, else VXLAN.
			enc = "IPIP (default)"
			if bgp != "Enabled" {
				enc = "VXLAN (default)"
			}
		}
		encs = append(encs, cidr+" "+enc)
		if enc != "None" {
			overlay = true
		}
	}
	if len(pools) == 0 {
		encs = []string{"none listed (the operator's default pool encapsulates: IPIP, or VXLAN without BGP)"}
		overlay = true
	}
	d.Evidence = []string{where + " " + bgpEv + ", ipPools encapsulation: " + strings.Join(encs, ", ")}
	if o.daemonSet(calicoSystem, calicoNode) == nil {
		d.Notes = append(d.Notes, "no DaemonSet calico-system/calico-node yet")
	}
	switch {
	case overlay:
		d.Mode = ModeOverlay
	case bgp == "Enabled":
		d.Mode = ModeBGP
		d.Notes = append(d.Notes, bgpTopology(o)...)
	default:
		d.Mode = ModeHost
	}
	return d
}

// A manifest install: calico-node's environment
// (https://docs.tigera.io/calico/latest/reference/configure-calico-node):
// CALICO_IPV4POOL_IPIP and CALICO_IPV4POOL_VXLAN (Always, CrossSubnet or
// Never, the default) shape the pool calico-node creates when there is none;
// CALICO_NETWORKING_BACKEND is bird (the default: BGP), vxlan or none
// (policy only). Once pools exist, the IPPools (spec.ipipMode,
// spec.vxlanMode, https://docs.tigera.io/calico/latest/reference/resources/ippool)
// are what counts.
func detectCalicoManifest(o *netObjects, ds *appsv1.DaemonSet) NetworkDetection {
	d := NetworkDetection{CNI: CNICalico, Installer: InstallerManifest}
	if helmOwned(ds) {
		d.Installer = InstallerHelm
	}
	where := "DaemonSet " + ds.Namespace + "/" + ds.Name
	backend, bev := calicoBackend(o, ds)
	d.Evidence = append(d.Evidence, where+" "+bev)
	if backend == "none" {
		d.Check = "Calico runs policy-only (CALICO_NETWORKING_BACKEND=none): find the CNI that networks the pods and its mode"
		return d
	}
	overlay := false
	var pools []string
	for _, p := range o.ipPools {
		if dis, _, _ := unstructured.NestedBool(p.Object, "spec", "disabled"); dis {
			continue
		}
		ipip, _, _ := unstructured.NestedString(p.Object, "spec", "ipipMode")
		vxlan, _, _ := unstructured.NestedString(p.Object, "spec", "vxlanMode")
		if ipip == "" {
			ipip = "Never"
		}
		if vxlan == "" {
			vxlan = "Never"
		}
		pools = append(pools, fmt.Sprintf("%s ipipMode=%s vxlanMode=%s", p.GetName(), ipip, vxlan))
		if ipip != "Never" || vxlan != "Never" {
			overlay = true
		}
	}
	if len(pools) > 0 {
		sort.Strings(pools)
		d.Evidence = append(d.Evidence, "IPPools (crd.projectcalico.org/v1): "+strings.Join(pools, ", "))
	} else {
		var env []string
		for _, name := range []string{"CALICO_IPV4POOL_IPIP", "CALICO_IPV4POOL_VXLAN"} {
			v, set := envOf(ds, name)
			if !set {
				env = append(env, name+" unset (Never)")
				continue
			}
			env = append(env, name+"="+v)
			if !strings.EqualFold(v, "Never") && v != "" && !strings.EqualFold(v, "Off") {
				overlay = true
			}
		}
		d.Evidence = append(d.Evidence, "no IPPools, calico-node's env: "+strings.Join(env, ", "))
	}
	switch {
	case overlay:
		d.Mode = ModeOverlay
	case backend == "bird":
		d.Mode = ModeBGP
		d.Notes = append(d.Notes, bgpTopology(o)...)
	default:
		// vxlan backend (no BGP) with no encapsulation: routes come from the network.
		d.Mode = ModeHost
	}
	return d
}

// calicoBackend is CALICO_NETWORKING_BACKEND, from the env or from
// calico-config's calico_backend (the manifest's valueFrom); default bird.
func calicoBackend(o *netObjects, ds *appsv1.DaemonSet) (backend, evidence string) {
	c := calicoContainer(ds)
	if c == nil {
		return "bird", "CALICO_NETWORKING_BACKEND unset (bird)"
	}
	for _, e := range c.Env {
		if e.Name != "CALICO_NETWORKING_BACKEND" {
			continue
		}
		if e.ValueFrom == nil {
			return strings.ToLower(e.Value), "CALICO_NETWORKING_BACKEND=" + e.Value
		}
		if r := e.ValueFrom.ConfigMapKeyRef; r != nil && o.calicoCM != nil && r.Name == o.calicoCM.Name && ds.Namespace == o.calicoCM.Namespace {
			if v, ok := o.calicoCM.Data[r.Key]; ok {
				return strings.ToLower(v), "CALICO_NETWORKING_BACKEND=" + v + " (ConfigMap " + o.calicoCM.Namespace + "/" + r.Name + " " + r.Key + ")"
			}
		}
		return "bird", "CALICO_NETWORKING_BACKEND from a source not read (taken as bird)"
	}
	return "bird", "CALICO_NETWORKING_BACKEND unset (bird)"
}

func calicoContainer(ds *appsv1.DaemonSet) *corev1.Container {
	cs := ds.Spec.Template.Spec.Containers
	for i := range cs {
		if cs[i].Name == calicoNode {
			return &cs[i]
		}
	}
	if len(cs) > 0 {
		return &cs[0]
	}
	return nil
}

func envOf(ds *appsv1.DaemonSet, name string) (string, bool) {
	c := calicoContainer(ds)
	if c == nil {
		return "", false
	}
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

// bgpTopology describes Calico's BGP: the node-to-node mesh
// (BGPConfiguration default, spec.nodeToNodeMeshEnabled, true unless set)
// or route reflection (mesh off, BGPPeers)
// (https://docs.tigera.io/calico/latest/networking/configuring/bgp).
func bgpTopology(o *netObjects) []string {
	mesh := true
	for _, c := range o.bgpConfigs {
		if c.GetName() != "default" {
			continue
		}
		if v, found, _ := unstructured.NestedBool(c.Object, "spec", "nodeToNodeMeshEnabled"); found {
			mesh = v
		}
	}
	switch {
	case !mesh && len(o.bgpPeers) > 0:
		return []string{fmt.Sprintf("BGP: node-to-node mesh off (BGPConfiguration default), %d BGPPeer(s): route reflection", len(o.bgpPeers))}
	case !mesh:
		return []string{"BGP: node-to-node mesh off (BGPConfiguration default) and no BGPPeer"}
	case len(o.bgpPeers) > 0:
		return []string{fmt.Sprintf("BGP: node-to-node mesh, %d BGPPeer(s)", len(o.bgpPeers))}
	}
	return []string{"BGP: node-to-node mesh"}
}

// Cilium: kube-system/cilium-config
// (https://docs.cilium.io/en/stable/network/concepts/routing/): routing-mode
// tunnel (the default) or native, tunnel-protocol vxlan (the default) or
// geneve, before 1.14 the single key tunnel (vxlan, geneve, disabled);
// enable-bgp-control-plane
// (https://docs.cilium.io/en/stable/network/bgp-control-plane/).
func detectCilium(o *netObjects) NetworkDetection {
	d := NetworkDetection{CNI: CNICilium, Installer: InstallerManifest}
	ds := o.daemonSet(kubeSystem, ciliumAgent)
	var objs []metav1.Object
	if ds != nil {
		objs = append(objs, ds)
	}
	if o.ciliumCM != nil {
		objs = append(objs, o.ciliumCM)
	}
	if helmOwned(objs...) {
		d.Installer = InstallerHelm
	}
	if o.ciliumCM == nil {
		d.Evidence = []string{"DaemonSet kube-system/cilium, but no ConfigMap kube-system/cilium-config"}
		d.Check = "cilium config view: routing-mode, tunnel-protocol, enable-bgp-control-plane"
		return d
	}
	data := o.ciliumCM.Data
	where := "ConfigMap kube-system/cilium-config"
	bgp := strings.EqualFold(data["enable-bgp-control-plane"], "true")
	routing, proto := "tunnel", "vxlan"
	var ev []string
	switch r, hasR := data["routing-mode"]; {
	case hasR:
		routing = strings.ToLower(r)
		ev = append(ev, "routing-mode="+r)
		if p := data["tunnel-protocol"]; p != "" {
			proto = strings.ToLower(p)
			ev = append(ev, "tunnel-protocol="+p)
		}
	case data["tunnel"] != "":
		t := strings.ToLower(data["tunnel"])
		ev = append(ev, "tunnel="+data["tunnel"])
		if t == "disabled" {
			routing = "native"
		} else {
			proto = t
		}
	default:
		ev = append(ev, "no routing-mode or tunnel (Cilium's default: tunnel, vxlan)")
	}
	if v, ok := data["enable-bgp-control-plane"]; ok {
		ev = append(ev, "enable-bgp-control-plane="+v)
	}
	d.Evidence = []string{where + " " + strings.Join(ev, ", ")}
	if v := data["kube-proxy-replacement"]; v != "" && !strings.EqualFold(v, "false") && !strings.EqualFold(v, "disabled") {
		d.Notes = append(d.Notes, "kube-proxy-replacement="+v+": Cilium serves Services in place of kube-proxy")
	}
	switch routing {
	case "tunnel":
		d.Mode = ModeOverlay
		if proto != "vxlan" {
			d.Notes = append(d.Notes, "the tunnel is "+proto+", not the VXLAN the Terway page names: the VPC's security groups must pass it")
		}
		if bgp {
			d.Notes = append(d.Notes, "the BGP control plane advertises routes outside the cluster; pods still reach each other through the tunnel")
		}
	case "native":
		if bgp {
			d.Mode = ModeBGP
		} else {
			d.Mode = ModeHost
			if strings.EqualFold(data["auto-direct-node-routes"], "true") {
				d.Notes = append(d.Notes, "auto-direct-node-routes=true: routes between nodes of one L2 segment")
			}
		}
	default:
		d.Check = "Cilium's routing-mode " + routing + " is neither tunnel nor native"
	}
	return d
}

// knownCNIs are other CNIs' DaemonSets, by name, to name an unknown one.
var knownCNIs = []string{"weave-net", "kube-router", "antrea-agent", "kube-ovn-cni", "ovs-ovn", "canal", "kube-flannel", "calico-node", "cilium", "multus"}

// detectOther: none of Flannel, Calico, Cilium.
func detectOther(o *netObjects) NetworkDetection {
	var seen []string
	for _, d := range o.daemonSets {
		for _, k := range knownCNIs {
			if strings.Contains(d.Name, k) {
				seen = append(seen, d.Namespace+"/"+d.Name)
				break
			}
		}
	}
	if o.onprem.name != "" {
		if ds := o.daemonSet(o.onprem.ns, o.onprem.name); ds != nil && !contains(seen, o.onprem.String()) {
			seen = append(seen, o.onprem.String())
		}
	}
	if len(seen) == 0 {
		return NetworkDetection{CNI: CNINone,
			Evidence: []string{"no Flannel (kube-flannel-cfg), Calico (calico-node, Installation default) or Cilium (cilium-config) configuration, and no known CNI DaemonSet"},
			Check:    "which CNI runs on the on-premises nodes (ls /etc/cni/net.d on one) and whether it tunnels (overlay), peers with BGP (bgp) or relies on the network's routes (host)"}
	}
	return NetworkDetection{CNI: CNIUnknown,
		Evidence: []string{"DaemonSet(s) " + strings.Join(seen, ", ") + ": none of Flannel, Calico, Cilium, whose modes hybridnode reads"},
		Check:    "that CNI's configuration: whether it tunnels (overlay), peers with BGP (bgp) or relies on the network's routes (host)"}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// scenario is what a mode means for the cloud nodes (the Terway page).
func scenario(mode string) string {
	switch mode {
	case ModeOverlay:
		return "the Terway page's scenario 1, overlay: cloud nodes run the same CNI, without Terway, and must pull its DaemonSet's images"
	case ModeHost:
		return "the Terway page's scenario 3, host network: cloud nodes run Terway, the on-premises CNI stays off them"
	}
	return "the Terway page's scenario 2, BGP: cloud nodes run Terway, the on-premises CNI stays off them"
}

// checkNetworkMode prints the detected CNI, installer, mode and evidence.
// A PASS row's details are not printed in text: its notes go into the
// evidence line.
func checkNetworkMode(ctx context.Context, e *checkEnv) report.Result {
	d, err := e.network(ctx)
	if err != nil {
		return apiFail("network mode", err)
	}
	withNotes := func(s string, notes []string) string {
		for _, n := range notes {
			s += "; " + n
		}
		return s
	}
	if over := e.o.networkMode; over != "" {
		notes := d.Notes
		if d.Mode != "" && d.Mode != over {
			notes = append(notes, "--network-mode "+over+" overrides the detected mode "+d.Mode)
		}
		return report.Result{Status: report.Pass, Evidence: withNotes("mode "+over+" from --network-mode ("+scenario(over)+"); detected "+d.String(), notes)}
	}
	if d.Mode == "" {
		return report.Result{Status: report.Warn, Evidence: d.String(), Details: d.Notes,
			Remedy: "check by hand " + d.Check + "; then pass --network-mode overlay|bgp|host"}
	}
	return report.Result{Status: report.Pass, Evidence: withNotes(d.String(), d.Notes) + "; " + scenario(d.Mode)}
}
