package kubeapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/hybridnode/hybridnode/bootstrap/kubeconfig"
)

// KubeProxyPath is kube-system/kube-proxy, the ConfigMap kubeadm's
// kube-proxy addon reads its configuration from. kubeadm's RBAC lets
// bootstrap tokens read it (Role kube-proxy in kube-system, bound to
// system:bootstrappers:kubeadm:default-node-token).
const KubeProxyPath = "/api/v1/namespaces/kube-system/configmaps/kube-proxy"

// KubeProxyConfigKey is the key of the KubeProxyConfiguration in that ConfigMap.
const KubeProxyConfigKey = "config.conf"

// KubeProxy is what a read of kube-system/kube-proxy found.
type KubeProxy struct {
	// Status is the HTTP status: 200 (Mode is set), 404 (no kube-proxy
	// addon), 403 (the credentials may not read it), ...
	Status int
	// Mode is config.conf's mode in lower case; "" is kube-proxy's
	// default (iptables on Linux).
	Mode string
}

// ReadKubeProxy GETs kube-system/kube-proxy with cr and parses its mode. An
// answer other than 200 is no error: its Status says what it was.
func (c *Client) ReadKubeProxy(ctx context.Context, cr *kubeconfig.Credentials) (KubeProxy, error) {
	status, conf, err := c.configMapKey(ctx, cr, KubeProxyPath, "kube-system/kube-proxy", KubeProxyConfigKey)
	kp := KubeProxy{Status: status}
	if err != nil || status != http.StatusOK {
		return kp, err
	}
	if kp.Mode, err = ParseKubeProxyMode(conf); err != nil {
		return kp, fmt.Errorf("kube-system/kube-proxy %s: %w", KubeProxyConfigKey, err)
	}
	return kp, nil
}

// ParseKubeProxyMode returns the mode of a KubeProxyConfiguration (YAML or
// JSON), trimmed and in lower case; "" when it sets none.
func ParseKubeProxyMode(conf string) (string, error) {
	var kc struct {
		Kind string `json:"kind"`
		Mode string `json:"mode"`
	}
	if err := yaml.Unmarshal([]byte(conf), &kc); err != nil {
		return "", fmt.Errorf("not a KubeProxyConfiguration: %w", err)
	}
	if kc.Kind != "" && kc.Kind != "KubeProxyConfiguration" {
		return "", fmt.Errorf("kind %q, not KubeProxyConfiguration", kc.Kind)
	}
	if strings.TrimSpace(conf) == "" {
		return "", errors.New("empty")
	}
	return strings.ToLower(strings.TrimSpace(kc.Mode)), nil
}
