package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/hybridnode/hybridnode/bootstrap/cluster/clustertest"
	"github.com/hybridnode/hybridnode/bootstrap/doctor/report"
)

// The objects below are shaped as each project's install leaves them.

// flannelCfg is kube-flannel-cfg as Documentation/kube-flannel.yml ships it,
// with the backend's JSON.
func flannelConfig(ns, backend string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-flannel-cfg", Namespace: ns, Labels: map[string]string{"tier": "node", "k8s-app": "flannel", "app": "flannel"}},
		Data: map[string]string{
			"cni-conf.json": `{"name":"cbr0","cniVersion":"0.3.1","plugins":[{"type":"flannel","delegate":{"hairpinMode":true,"isDefaultGateway":true}},{"type":"portmap","capabilities":{"portMappings":true}}]}`,
			"net-conf.json": `{
  "Network": "10.244.0.0/16",
  "EnableNFTables": false,
  "Backend": ` + backend + `
}`,
		},
	}
}

func daemonSet(ns, name string, labels, annotations map[string]string, containers ...corev1.Container) appsv1.DaemonSet {
	return appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels, Annotations: annotations},
		Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers}}}}
}

func flannelDS(labels map[string]string) appsv1.DaemonSet {
	return daemonSet("kube-flannel", "kube-flannel-ds", labels, nil, corev1.Container{Name: "kube-flannel", Image: "ghcr.io/flannel-io/flannel:v0.27.0"})
}

// calicoManifestDS is calico-node as calico.yaml (manifest install) ships
// it: the backend from calico-config, the pool's modes in the env.
func calicoManifestDS(env ...corev1.EnvVar) appsv1.DaemonSet {
	base := []corev1.EnvVar{
		{Name: "DATASTORE_TYPE", Value: "kubernetes"},
		{Name: "CALICO_NETWORKING_BACKEND", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "calico-config"}, Key: "calico_backend"}}},
		{Name: "CLUSTER_TYPE", Value: "k8s,bgp"},
		{Name: "IP", Value: "autodetect"},
	}
	return daemonSet("kube-system", "calico-node", map[string]string{"k8s-app": "calico-node"}, nil,
		corev1.Container{Name: "calico-node", Image: "docker.io/calico/node:v3.30.0", Env: append(base, env...)})
}

func calicoConfigMap(backend string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "calico-config", Namespace: "kube-system"},
		Data: map[string]string{"typha_service_name": "none", "calico_backend": backend, "veth_mtu": "0"}}
}

func env(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }

// cr is a custom resource.
func cr(apiVersion, kind, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": name}, "spec": spec}}
}

func ipPool(name, ipip, vxlan string) unstructured.Unstructured {
	return *cr("crd.projectcalico.org/v1", "IPPool", name, map[string]any{
		"cidr": "192.168.0.0/16", "ipipMode": ipip, "vxlanMode": vxlan, "natOutgoing": true, "nodeSelector": "all()", "blockSize": int64(26)})
}

// installation is the Tigera operator's Installation "default" (its
// quick-start custom-resources.yaml, with bgp and the pool's encapsulation).
func installation(bgp, encapsulation string) *unstructured.Unstructured {
	return cr("operator.tigera.io/v1", "Installation", "default", map[string]any{
		"calicoNetwork": map[string]any{
			"bgp": bgp,
			"ipPools": []any{map[string]any{"name": "default-ipv4-ippool", "blockSize": int64(26), "cidr": "192.168.0.0/16",
				"encapsulation": encapsulation, "natOutgoing": "Enabled", "nodeSelector": "all()"}},
		},
	})
}

func operatorDS() appsv1.DaemonSet {
	ds := daemonSet("calico-system", "calico-node", map[string]string{"k8s-app": "calico-node"}, nil, corev1.Container{Name: "calico-node", Image: "quay.io/calico/node:v3.30.0"})
	ds.OwnerReferences = []metav1.OwnerReference{{APIVersion: "operator.tigera.io/v1", Kind: "Installation", Name: "default"}}
	return ds
}

// ciliumConfig is cilium-config as the Helm chart (or cilium install) renders it.
func ciliumConfigMap(data map[string]string, helm bool) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cilium-config", Namespace: "kube-system"},
		Data: map[string]string{"cluster-name": "default", "ipam": "cluster-pool", "kube-proxy-replacement": "false"}}
	for k, v := range data {
		cm.Data[k] = v
	}
	if helm {
		cm.Labels = map[string]string{"app.kubernetes.io/managed-by": "Helm"}
		cm.Annotations = map[string]string{"meta.helm.sh/release-name": "cilium", "meta.helm.sh/release-namespace": "kube-system"}
	}
	return cm
}

func ciliumDS(helm bool) appsv1.DaemonSet {
	labels := map[string]string{"k8s-app": "cilium", "app.kubernetes.io/name": "cilium-agent", "app.kubernetes.io/part-of": "cilium"}
	var ann map[string]string
	if helm {
		labels["app.kubernetes.io/managed-by"] = "Helm"
		ann = map[string]string{"meta.helm.sh/release-name": "cilium", "meta.helm.sh/release-namespace": "kube-system"}
	}
	return daemonSet("kube-system", "cilium", labels, ann, corev1.Container{Name: "cilium-agent", Image: "quay.io/cilium/cilium:v1.18.0"})
}

func terwayDS() appsv1.DaemonSet {
	return daemonSet("kube-system", "terway-eniip", map[string]string{"app": "terway-eniip"}, nil, corev1.Container{Name: "terway"})
}

func TestDetectNetwork(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		o                    netObjects
		cni, installer, mode string
		// want are in the evidence (and the notes, the check).
		want []string
	}{
		{name: "flannel vxlan",
			o:   netObjects{flannelCM: flannelConfig("kube-flannel", `{"Type": "vxlan"}`), daemonSets: []appsv1.DaemonSet{flannelDS(nil), terwayDS()}},
			cni: CNIFlannel, installer: InstallerManifest, mode: ModeOverlay,
			want: []string{"ConfigMap kube-flannel/kube-flannel-cfg net-conf.json Backend.Type=vxlan"}},
		{name: "flannel vxlan with DirectRouting, in kube-system",
			o:   netObjects{flannelCM: flannelConfig("kube-system", `{"Type": "vxlan", "DirectRouting": true}`), daemonSets: []appsv1.DaemonSet{daemonSet("kube-system", "kube-flannel-ds", nil, nil)}},
			cni: CNIFlannel, installer: InstallerManifest, mode: ModeOverlay,
			want: []string{"kube-system/kube-flannel-cfg", "DirectRouting=true"}},
		{name: "flannel host-gw",
			o:   netObjects{flannelCM: flannelConfig("kube-flannel", `{"Type": "host-gw"}`), daemonSets: []appsv1.DaemonSet{flannelDS(nil)}},
			cni: CNIFlannel, installer: InstallerManifest, mode: ModeHost,
			want: []string{"Backend.Type=host-gw"}},
		{name: "flannel wireguard, by Helm",
			o:   netObjects{flannelCM: flannelConfig("kube-flannel", `{"Type": "wireguard"}`), daemonSets: []appsv1.DaemonSet{flannelDS(map[string]string{"app.kubernetes.io/managed-by": "Helm"})}},
			cni: CNIFlannel, installer: InstallerHelm, mode: ModeOverlay,
			want: []string{"Backend.Type=wireguard", "not the VXLAN the Terway page names"}},
		{name: "flannel without a backend: udp",
			o:   netObjects{flannelCM: flannelConfig("kube-flannel", `{}`), daemonSets: []appsv1.DaemonSet{flannelDS(nil)}},
			cni: CNIFlannel, installer: InstallerManifest, mode: ModeOverlay,
			want: []string{"no Backend.Type (flannel's default: udp)"}},
		{name: "flannel with a cloud backend",
			o:   netObjects{flannelCM: flannelConfig("kube-flannel", `{"Type": "aws-vpc"}`), daemonSets: []appsv1.DaemonSet{flannelDS(nil)}},
			cni: CNIFlannel, installer: InstallerManifest, mode: "",
			want: []string{"Backend.Type=aws-vpc", "none of vxlan, host-gw"}},

		{name: "manifest calico ipip",
			o: netObjects{calicoCM: calicoConfigMap("bird"), daemonSets: []appsv1.DaemonSet{calicoManifestDS(env("CALICO_IPV4POOL_IPIP", "Always"), env("CALICO_IPV4POOL_VXLAN", "Never")), terwayDS()},
				ipPools: []unstructured.Unstructured{ipPool("default-ipv4-ippool", "Always", "Never")}},
			cni: CNICalico, installer: InstallerManifest, mode: ModeOverlay,
			want: []string{"CALICO_NETWORKING_BACKEND=bird (ConfigMap kube-system/calico-config calico_backend)", "default-ipv4-ippool ipipMode=Always vxlanMode=Never"}},
		{name: "manifest calico ipip cross-subnet, before its pool exists",
			o:   netObjects{calicoCM: calicoConfigMap("bird"), daemonSets: []appsv1.DaemonSet{calicoManifestDS(env("CALICO_IPV4POOL_IPIP", "CrossSubnet"))}},
			cni: CNICalico, installer: InstallerManifest, mode: ModeOverlay,
			want: []string{"no IPPools, calico-node's env: CALICO_IPV4POOL_IPIP=CrossSubnet, CALICO_IPV4POOL_VXLAN unset (Never)"}},
		{name: "manifest calico vxlan (calico-vxlan.yaml)",
			o:   netObjects{calicoCM: calicoConfigMap("vxlan"), daemonSets: []appsv1.DaemonSet{calicoManifestDS(env("CALICO_IPV4POOL_IPIP", "Never"), env("CALICO_IPV4POOL_VXLAN", "Always"))}},
			cni: CNICalico, installer: InstallerManifest, mode: ModeOverlay,
			want: []string{"CALICO_NETWORKING_BACKEND=vxlan", "CALICO_IPV4POOL_VXLAN=Always"}},
		{name: "manifest calico bgp with route reflectors",
			o: netObjects{calicoCM: calicoConfigMap("bird"), daemonSets: []appsv1.DaemonSet{calicoManifestDS(env("CALICO_IPV4POOL_IPIP", "Never"), env("CALICO_IPV4POOL_VXLAN", "Never"))},
				ipPools:    []unstructured.Unstructured{ipPool("default-ipv4-ippool", "Never", "Never")},
				bgpConfigs: []unstructured.Unstructured{*cr("crd.projectcalico.org/v1", "BGPConfiguration", "default", map[string]any{"logSeverityScreen": "Info", "nodeToNodeMeshEnabled": false, "asNumber": int64(64512)})},
				bgpPeers:   []unstructured.Unstructured{*cr("crd.projectcalico.org/v1", "BGPPeer", "peer-with-route-reflectors", map[string]any{"nodeSelector": "all()", "peerSelector": "route-reflector == 'true'"})}},
			cni: CNICalico, installer: InstallerManifest, mode: ModeBGP,
			want: []string{"ipipMode=Never vxlanMode=Never", "node-to-node mesh off (BGPConfiguration default), 1 BGPPeer(s): route reflection"}},
		{name: "manifest calico: a disabled pool does not count",
			o: netObjects{calicoCM: calicoConfigMap("bird"), daemonSets: []appsv1.DaemonSet{calicoManifestDS()},
				ipPools: func() []unstructured.Unstructured {
					old := ipPool("old-ipip", "Always", "Never")
					old.Object["spec"].(map[string]any)["disabled"] = true
					return []unstructured.Unstructured{old, ipPool("routed", "Never", "Never")}
				}()},
			cni: CNICalico, installer: InstallerManifest, mode: ModeBGP,
			want: []string{"CALICO_NETWORKING_BACKEND=bird", "routed ipipMode=Never", "BGP: node-to-node mesh"}},
		{name: "the e2e's calico-node stand-in: no env, no CRDs",
			o:   netObjects{daemonSets: []appsv1.DaemonSet{daemonSet("kube-system", "calico-node", map[string]string{"app": "calico-node"}, nil, corev1.Container{Name: "calico-node", Image: "busybox"}), daemonSet("kube-system", "calico", nil, nil)}},
			cni: CNICalico, installer: InstallerManifest, mode: ModeBGP,
			want: []string{"CALICO_NETWORKING_BACKEND unset (bird)", "CALICO_IPV4POOL_IPIP unset (Never)"}},

		{name: "operator calico bgp, no encapsulation",
			o:   netObjects{installation: installation("Enabled", "None"), daemonSets: []appsv1.DaemonSet{operatorDS()}},
			cni: CNICalico, installer: InstallerOperator, mode: ModeBGP,
			want: []string{"Installation default (operator.tigera.io/v1) spec.calicoNetwork.bgp=Enabled, ipPools encapsulation: 192.168.0.0/16 None"}},
		{name: "operator calico vxlan",
			o:   netObjects{installation: installation("Disabled", "VXLAN"), daemonSets: []appsv1.DaemonSet{operatorDS()}},
			cni: CNICalico, installer: InstallerOperator, mode: ModeOverlay,
			want: []string{"bgp=Disabled", "192.168.0.0/16 VXLAN"}},
		{name: "operator calico with IPPools beside: the Installation counts",
			o: netObjects{installation: installation("Enabled", "IPIPCrossSubnet"), daemonSets: []appsv1.DaemonSet{operatorDS()},
				ipPools: []unstructured.Unstructured{ipPool("default-ipv4-ippool", "CrossSubnet", "Never")}},
			cni: CNICalico, installer: InstallerOperator, mode: ModeOverlay,
			want: []string{"IPIPCrossSubnet"}},
		{name: "operator calico defaults",
			o:   netObjects{installation: cr("operator.tigera.io/v1", "Installation", "default", map[string]any{}), daemonSets: []appsv1.DaemonSet{operatorDS()}},
			cni: CNICalico, installer: InstallerOperator, mode: ModeOverlay,
			want: []string{"bgp unset (Enabled)", "the operator's default pool encapsulates"}},

		{name: "cilium vxlan",
			o:   netObjects{ciliumCM: ciliumConfigMap(map[string]string{"routing-mode": "tunnel", "tunnel-protocol": "vxlan"}, false), daemonSets: []appsv1.DaemonSet{ciliumDS(false)}},
			cni: CNICilium, installer: InstallerManifest, mode: ModeOverlay,
			want: []string{"ConfigMap kube-system/cilium-config routing-mode=tunnel, tunnel-protocol=vxlan"}},
		{name: "cilium bgp",
			o: netObjects{ciliumCM: ciliumConfigMap(map[string]string{"routing-mode": "native", "ipv4-native-routing-cidr": "10.0.0.0/8", "enable-bgp-control-plane": "true", "kube-proxy-replacement": "true"}, false),
				daemonSets: []appsv1.DaemonSet{ciliumDS(false)}},
			cni: CNICilium, installer: InstallerManifest, mode: ModeBGP,
			want: []string{"routing-mode=native, enable-bgp-control-plane=true", "kube-proxy-replacement=true"}},
		{name: "cilium by helm",
			o:   netObjects{ciliumCM: ciliumConfigMap(map[string]string{"routing-mode": "tunnel", "tunnel-protocol": "geneve"}, true), daemonSets: []appsv1.DaemonSet{ciliumDS(true)}},
			cni: CNICilium, installer: InstallerHelm, mode: ModeOverlay,
			want: []string{"tunnel-protocol=geneve", "the tunnel is geneve"}},
		{name: "cilium by helm, told by the DaemonSet's annotation only",
			o: netObjects{ciliumCM: ciliumConfigMap(map[string]string{"routing-mode": "tunnel"}, false), daemonSets: []appsv1.DaemonSet{
				daemonSet("kube-system", "cilium", nil, map[string]string{"meta.helm.sh/release-name": "cilium"})}},
			cni: CNICilium, installer: InstallerHelm, mode: ModeOverlay},
		{name: "cilium before 1.14: tunnel key",
			o:   netObjects{ciliumCM: ciliumConfigMap(map[string]string{"tunnel": "vxlan"}, false), daemonSets: []appsv1.DaemonSet{ciliumDS(false)}},
			cni: CNICilium, installer: InstallerManifest, mode: ModeOverlay,
			want: []string{"tunnel=vxlan"}},
		{name: "cilium defaults",
			o:   netObjects{ciliumCM: ciliumConfigMap(nil, false), daemonSets: []appsv1.DaemonSet{ciliumDS(false)}},
			cni: CNICilium, installer: InstallerManifest, mode: ModeOverlay,
			want: []string{"Cilium's default: tunnel, vxlan"}},

		{name: "host network: cilium native routing without BGP",
			o: netObjects{ciliumCM: ciliumConfigMap(map[string]string{"routing-mode": "native", "auto-direct-node-routes": "true"}, false),
				daemonSets: []appsv1.DaemonSet{ciliumDS(false)}},
			cni: CNICilium, installer: InstallerManifest, mode: ModeHost,
			want: []string{"routing-mode=native", "auto-direct-node-routes=true"}},
		{name: "host network: cilium tunnel disabled (before 1.14)",
			o:   netObjects{ciliumCM: ciliumConfigMap(map[string]string{"tunnel": "disabled"}, false), daemonSets: []appsv1.DaemonSet{ciliumDS(false)}},
			cni: CNICilium, installer: InstallerManifest, mode: ModeHost},
		{name: "host network: operator calico without bgp or encapsulation",
			o:   netObjects{installation: installation("Disabled", "None"), daemonSets: []appsv1.DaemonSet{operatorDS()}},
			cni: CNICalico, installer: InstallerOperator, mode: ModeHost},

		{name: "canal (canal.yaml: canal-config, DaemonSet canal)",
			o: netObjects{flannelCM: func() *corev1.ConfigMap {
				cm := flannelConfig("kube-system", `{"Type": "vxlan"}`)
				cm.Name = "canal-config"
				cm.Data["calico_backend"] = "none"
				cm.Data["canal_iface"] = ""
				return cm
			}(), daemonSets: []appsv1.DaemonSet{daemonSet("kube-system", "canal", nil, nil, corev1.Container{Name: "calico-node"}, corev1.Container{Name: "kube-flannel"})}},
			cni: CNIFlannel, installer: InstallerManifest, mode: ModeOverlay,
			want: []string{"ConfigMap kube-system/canal-config net-conf.json Backend.Type=vxlan", "Canal: Flannel networks the pods"}},
		{name: "calico-node policy-only beside flannel",
			o: netObjects{flannelCM: flannelConfig("kube-system", `{"Type": "vxlan"}`), calicoCM: calicoConfigMap("none"),
				daemonSets: []appsv1.DaemonSet{calicoManifestDS()}},
			cni: CNIFlannel, installer: InstallerManifest, mode: ModeOverlay,
			want: []string{"Backend.Type=vxlan", "Calico runs policy-only beside Flannel", "no flannel DaemonSet found in kube-system"}},
		{name: "calico policy-only alone",
			o:   netObjects{calicoCM: calicoConfigMap("none"), daemonSets: []appsv1.DaemonSet{calicoManifestDS()}},
			cni: CNICalico, installer: InstallerManifest, mode: "",
			want: []string{"CALICO_NETWORKING_BACKEND=none", "policy-only"}},
		{name: "two CNIs",
			o: netObjects{flannelCM: flannelConfig("kube-flannel", `{"Type": "vxlan"}`), ciliumCM: ciliumConfigMap(map[string]string{"routing-mode": "native"}, false),
				daemonSets: []appsv1.DaemonSet{flannelDS(nil), ciliumDS(false)}},
			cni: CNIUnknown, mode: "",
			want: []string{"flannel (manifest), mode overlay", "cilium (manifest), mode host", "more than one CNI"}},
		{name: "unknown: weave",
			o:   netObjects{daemonSets: []appsv1.DaemonSet{daemonSet("kube-system", "weave-net", nil, nil), terwayDS()}, onprem: ref{"kube-system", "calico-node"}},
			cni: CNIUnknown, mode: "",
			want: []string{"DaemonSet(s) kube-system/weave-net: none of Flannel, Calico, Cilium"}},
		{name: "unknown: --onprem-cni names it",
			o:   netObjects{daemonSets: []appsv1.DaemonSet{daemonSet("net", "my-cni", nil, nil), terwayDS()}, onprem: ref{"net", "my-cni"}},
			cni: CNIUnknown, mode: "",
			want: []string{"net/my-cni"}},
		{name: "none",
			o:   netObjects{daemonSets: []appsv1.DaemonSet{terwayDS()}, onprem: ref{"kube-system", "calico-node"}},
			cni: CNINone, mode: "",
			want: []string{"no Flannel (kube-flannel-cfg), Calico", "/etc/cni/net.d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := detectNetwork(&tc.o)
			if d.CNI != tc.cni || d.Installer != tc.installer || d.Mode != tc.mode {
				t.Errorf("got %s/%s/%s, want %s/%s/%s: %s", d.CNI, d.Installer, d.Mode, tc.cni, tc.installer, tc.mode, d)
			}
			if len(d.Evidence) == 0 {
				t.Errorf("no evidence: %+v", d)
			}
			if (d.Mode == "") != (d.Check != "") {
				t.Errorf("mode %q with what to check %q", d.Mode, d.Check)
			}
			all := d.String() + "\n" + strings.Join(d.Notes, "\n") + "\n" + d.Check
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("lacks %q:\n%s", w, all)
				}
			}
		})
	}
}

// TestCheckNetworkMode: the check row, through the client (the dynamic
// fake for the custom resources), and --network-mode.
func TestCheckNetworkMode(t *testing.T) {
	t.Run("operator calico through the dynamic client", func(t *testing.T) {
		f := newFixture(t, clustertest.Healthy(t))
		if err := f.c.Tracker.Delete(clustertest.DaemonSets, "kube-system", "calico-node"); err != nil {
			t.Fatal(err)
		}
		ds := operatorDS()
		f.c.Add(t, &ds)
		f.c.AddCR(t, installation("Enabled", "None"),
			cr("crd.projectcalico.org/v1", "IPPool", "default-ipv4-ippool", map[string]any{"cidr": "192.168.0.0/16", "ipipMode": "Always"}))
		got := result(f.check(t, Options{OnpremCNI: "calico-system/calico-node"}), "network-mode")
		if got.Status != report.Pass || !strings.HasPrefix(got.Evidence, "calico (tigera-operator), mode bgp: Installation default") ||
			!strings.Contains(got.Evidence, "; BGP: node-to-node mesh; the Terway page's scenario 2, BGP: cloud nodes run Terway") || got.Remedy != "" {
			t.Errorf("%+v", got)
		}
		for _, a := range append(f.c.Fake.Actions(), f.c.Dyn.Actions()...) {
			if clustertest.IsMutation(a) {
				t.Errorf("check changed something: %v", a)
			}
		}
	})
	t.Run("flannel and cilium read through the client", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			objs []runtime.Object
			want string
		}{
			{"flannel host-gw in kube-system", []runtime.Object{flannelConfig("kube-system", `{"Type": "host-gw"}`), ptr(daemonSet("kube-system", "kube-flannel-ds", nil, nil))},
				"flannel (manifest), mode host: ConfigMap kube-system/kube-flannel-cfg net-conf.json Backend.Type=host-gw; the Terway page's scenario 3, host network"},
			{"flannel vxlan in kube-flannel", []runtime.Object{flannelConfig("kube-flannel", `{"Type": "vxlan"}`), ptr(flannelDS(nil))},
				"flannel (manifest), mode overlay: ConfigMap kube-flannel/kube-flannel-cfg net-conf.json Backend.Type=vxlan; the Terway page's scenario 1, overlay"},
			{"cilium by helm", []runtime.Object{ciliumConfigMap(map[string]string{"routing-mode": "native", "enable-bgp-control-plane": "true"}, true), ptr(ciliumDS(true))},
				"cilium (helm), mode bgp: ConfigMap kube-system/cilium-config routing-mode=native, enable-bgp-control-plane=true; the Terway page's scenario 2, BGP"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, clustertest.Healthy(t))
				if err := f.c.Tracker.Delete(clustertest.DaemonSets, "kube-system", "calico-node"); err != nil {
					t.Fatal(err)
				}
				f.c.Add(t, tc.objs...)
				if got := result(f.check(t, f.checkOptions()), "network-mode"); got.Status != report.Pass || !strings.HasPrefix(got.Evidence, tc.want) {
					t.Errorf("%+v", got)
				}
			})
		}
	})
	t.Run("manifest calico with IPPools", func(t *testing.T) {
		f := newFixture(t, clustertest.Healthy(t))
		f.c.AddCR(t, cr("crd.projectcalico.org/v1", "IPPool", "default-ipv4-ippool", map[string]any{"cidr": "192.168.0.0/16", "ipipMode": "Always", "vxlanMode": "Never"}))
		got := result(f.check(t, f.checkOptions()), "network-mode")
		if got.Status != report.Pass || !strings.Contains(got.Evidence, "calico (manifest), mode overlay") || !strings.Contains(got.Evidence, "ipipMode=Always") ||
			!strings.Contains(got.Evidence, "scenario 1, overlay") {
			t.Errorf("%+v", got)
		}
	})
	t.Run("CRDs not installed are absent", func(t *testing.T) {
		f := newFixture(t, clustertest.Healthy(t))
		f.c.Dyn.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: a.GetResource().Group, Resource: a.GetResource().Resource}, "")
		})
		got := result(f.check(t, f.checkOptions()), "network-mode")
		if got.Status != report.Pass || !strings.Contains(got.Evidence, "calico (manifest), mode bgp") {
			t.Errorf("%+v", got)
		}
	})
	t.Run("a refused read fails", func(t *testing.T) {
		f := newFixture(t, clustertest.Healthy(t))
		f.c.Dyn.PrependReactor("list", "ippools", func(a k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "crd.projectcalico.org", Resource: "ippools"}, "", errors.New("RBAC"))
		})
		got := result(f.check(t, f.checkOptions()), "network-mode")
		if got.Status != report.Fail || !strings.Contains(got.Evidence, "list ippools") || !strings.Contains(got.Remedy, "cluster-admin") {
			t.Errorf("%+v", got)
		}
	})
	t.Run("no dynamic client", func(t *testing.T) {
		c := clustertest.Healthy(t)
		cl := client(c)
		cl.Dynamic = nil
		r, err := Check(context.Background(), cl, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := result(r, "network-mode"); got.Status != report.Pass || !strings.Contains(got.Evidence, "; Calico's custom resources were not read (no dynamic client); the Terway page's scenario 2") {
			t.Errorf("%+v", got)
		}
	})
	t.Run("unknown warns", func(t *testing.T) {
		f := newFixture(t, clustertest.Healthy(t))
		if err := f.c.Tracker.Delete(clustertest.DaemonSets, "kube-system", "calico-node"); err != nil {
			t.Fatal(err)
		}
		ds := daemonSet("kube-system", "kube-router", nil, nil)
		f.c.Add(t, &ds)
		r := f.check(t, f.checkOptions())
		got := result(r, "network-mode")
		if got.Status != report.Warn || !strings.Contains(got.Evidence, "unknown, mode not known: DaemonSet(s) kube-system/kube-router") ||
			!strings.Contains(got.Remedy, "pass --network-mode overlay|bgp|host") || !strings.Contains(got.Remedy, "tunnels (overlay)") {
			t.Errorf("%+v", got)
		}
		if !strings.Contains(textOf(r), "WARN  network-mode") {
			t.Errorf("report:\n%s", textOf(r))
		}
	})
	t.Run("--network-mode overrides", func(t *testing.T) {
		f := newFixture(t, clustertest.Healthy(t))
		o := f.checkOptions()
		o.NetworkMode = ModeOverlay
		got := result(f.check(t, o), "network-mode")
		if got.Status != report.Pass || !strings.HasPrefix(got.Evidence, "mode overlay from --network-mode (the Terway page's scenario 1") ||
			!strings.Contains(got.Evidence, "detected calico (manifest), mode bgp") ||
			!strings.HasSuffix(got.Evidence, "; --network-mode overlay overrides the detected mode bgp") {
			t.Errorf("%+v", got)
		}
	})
	t.Run("--network-mode over an unknown CNI", func(t *testing.T) {
		f := newFixture(t, clustertest.Healthy(t))
		if err := f.c.Tracker.Delete(clustertest.DaemonSets, "kube-system", "calico-node"); err != nil {
			t.Fatal(err)
		}
		o := f.checkOptions()
		o.NetworkMode = ModeHost
		got := result(f.check(t, o), "network-mode")
		if got.Status != report.Pass || !strings.HasPrefix(got.Evidence, "mode host from --network-mode (the Terway page's scenario 3, host network") ||
			!strings.Contains(got.Evidence, "detected none") || strings.Contains(got.Evidence, "overrides") {
			t.Errorf("%+v", got)
		}
	})
	t.Run("an invalid --network-mode", func(t *testing.T) {
		c := clustertest.Healthy(t)
		_, err := Check(context.Background(), client(c), Options{NetworkMode: "vxlan"})
		ie := wantInput(t, err, "--network-mode")
		if !strings.Contains(ie.Error(), "overlay, bgp or host") {
			t.Errorf("%v", ie)
		}
		if n := len(c.Fake.Actions()) + len(c.Dyn.Actions()); n != 0 {
			t.Errorf("%d API requests before the options were valid", n)
		}
	})
}

func ptr(ds appsv1.DaemonSet) *appsv1.DaemonSet { return &ds }
