package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

const testKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: onprem
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
- name: other
  cluster: {server: "https://127.0.0.2", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: kubeconfig-user-token}
contexts:
- name: onprem
  context: {cluster: onprem, user: admin}
- name: other
  context: {cluster: other, user: admin}
current-context: onprem
`

// TestKubeconfigLoading: --kubeconfig, else $KUBECONFIG (else
// ~/.kube/config, which client-go fixes when it starts: not tested);
// --context; a 20s timeout. Nothing is sent anywhere.
func TestKubeconfigLoading(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "admin.conf")
	writeFile(t, kc, []byte(testKubeconfig), 0o600)
	t.Setenv("KUBERNETES_SERVICE_HOST", "")

	for _, tc := range []struct {
		name, env, flag, context, want string
	}{
		{"flag", "", kc, "", "127.0.0.1:6443"},
		{"flag and context", "", kc, "other", "127.0.0.2:443"},
		{"KUBECONFIG", kc, "", "", "127.0.0.1:6443"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tc.env)
			cfg, err := restConfig(tc.flag, tc.context)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Timeout != APITimeout || APITimeout.Seconds() != 20 || hostPort(cfg.Host) != tc.want {
				t.Errorf("host %s, timeout %s", cfg.Host, cfg.Timeout)
			}
			c, err := NewClient(tc.flag, tc.context)
			if err != nil || c.Host != tc.want || c.Core == nil || c.Apps == nil || c.Discovery == nil {
				t.Errorf("client: %+v %v", c, err)
			}
		})
	}

	t.Setenv("KUBECONFIG", "")
	_, err := NewClient(filepath.Join(dir, "missing.conf"), "")
	wantInput(t, err, "--kubeconfig")
	_, err = NewClient(kc, "nosuch")
	wantInput(t, err, "--kubeconfig/--context")
	if _, err := os.Stat(clientcmd.RecommendedHomeFile); err == nil {
		t.Skip("this machine has " + clientcmd.RecommendedHomeFile)
	}
	_, err = NewClient("", "")
	if ie := wantInput(t, err, "--kubeconfig"); !strings.Contains(ie.Error(), "none found") {
		t.Errorf("no kubeconfig: %v", ie)
	}
}
