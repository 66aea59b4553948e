package kubeapi

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/hybridnode/hybridnode/bootstrap/kubeconfig"
)

// KubeadmConfigPath is kube-system/kubeadm-config, where kubeadm init
// uploads its ClusterConfiguration. kubeadm's RBAC lets bootstrap tokens
// read it (Role kubeadm:nodes-kubeadm-config, bound to
// system:bootstrappers:kubeadm:default-node-token and system:nodes): kubeadm
// join reads it itself.
const KubeadmConfigPath = "/api/v1/namespaces/kube-system/configmaps/kubeadm-config"

// ClusterConfigKey is the key of the ClusterConfiguration in that ConfigMap.
const ClusterConfigKey = "ClusterConfiguration"

// Networking is what a read of kube-system/kubeadm-config found of the
// cluster's subnets.
type Networking struct {
	// Status is the HTTP status: 200 (the subnets are set), 404 (a
	// cluster kubeadm did not make), 403 (the credentials may not read it).
	Status int
	// ServiceSubnets and PodSubnets are networking.serviceSubnet and
	// networking.podSubnet (comma separated when dual-stack), each a CIDR
	// in its standard form; empty when the configuration sets none.
	ServiceSubnets, PodSubnets []string
}

// ReadNetworking GETs kube-system/kubeadm-config with cr and parses its
// subnets. An answer other than 200 is no error: its Status says what it
// was.
func (c *Client) ReadNetworking(ctx context.Context, cr *kubeconfig.Credentials) (Networking, error) {
	status, conf, err := c.configMapKey(ctx, cr, KubeadmConfigPath, "kube-system/kubeadm-config", ClusterConfigKey)
	nw := Networking{Status: status}
	if err != nil || status != http.StatusOK {
		return nw, err
	}
	if nw.ServiceSubnets, nw.PodSubnets, err = ParseNetworking(conf); err != nil {
		return nw, fmt.Errorf("kube-system/kubeadm-config %s: %w", ClusterConfigKey, err)
	}
	return nw, nil
}

// ParseNetworking returns the service and pod subnets of a kubeadm
// ClusterConfiguration (any of its versions: networking has kept its
// shape), each comma separated item a CIDR in its standard form.
func ParseNetworking(conf string) (service, pod []string, err error) {
	var cc struct {
		Kind       string `json:"kind"`
		Networking struct {
			ServiceSubnet string `json:"serviceSubnet"`
			PodSubnet     string `json:"podSubnet"`
		} `json:"networking"`
	}
	if strings.TrimSpace(conf) == "" {
		return nil, nil, fmt.Errorf("empty")
	}
	if err := yaml.Unmarshal([]byte(conf), &cc); err != nil {
		return nil, nil, fmt.Errorf("not a ClusterConfiguration: %w", err)
	}
	if cc.Kind != "" && cc.Kind != "ClusterConfiguration" {
		return nil, nil, fmt.Errorf("kind %q, not ClusterConfiguration", cc.Kind)
	}
	if service, err = cidrs("networking.serviceSubnet", cc.Networking.ServiceSubnet); err != nil {
		return nil, nil, err
	}
	if pod, err = cidrs("networking.podSubnet", cc.Networking.PodSubnet); err != nil {
		return nil, nil, err
	}
	return service, pod, nil
}

// cidrs splits a comma separated list of CIDRs, each in its standard form.
func cidrs(field, list string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s %q is not a CIDR such as 10.96.0.0/12", field, s)
		}
		out = append(out, p.Masked().String())
	}
	return out, nil
}
