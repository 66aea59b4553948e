package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap/doctor/apitest"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

const kubeletCert = "/var/lib/kubelet/pki/kubelet-client-current.pem"

// installedRoot is an image root baked by `hybridnode install` from the
// offline bundle: a report, an installed.json.
func installedRoot(t *testing.T) (string, map[string]string) {
	t.Helper()
	root := t.TempDir()
	writeFile(t, root, "/etc/os-release", "ID=debian\n")
	env := map[string]string{
		"HYBRIDNODE_ARTIFACT_URL":       bundle(t),
		"HYBRIDNODE_KUBERNETES_VERSION": "v1.36.4",
		"HYBRIDNODE_CONTAINERD_VERSION": "v1.7.30",
	}
	if out, code := run(t, env, "install", "--root", root); code != 0 {
		t.Fatalf("install: exit %d:\n%s", code, out)
	}
	return root, env
}

func TestStatusJoined(t *testing.T) {
	root, _ := installedRoot(t)
	api := apitest.New(t, apitest.Options{})
	name := "cn-hangzhou.10.10.24.7"
	writeFile(t, root, kubeletCert, string(api.NodeCertificate(t, name)))
	writeFile(t, root, hoststate.KubeletConf, string(api.KubeletConf(kubeletCert)))
	api.SetNode(apitest.NodeSpec{Name: name, Ready: true, ProviderID: "cn-hangzhou.i-bp1abc",
		Labels: map[string]string{"alibabacloud.com/external": "true", "workload": "cpu"},
		Taints: []map[string]string{{"key": "workload", "value": "ack", "effect": "NoSchedule"}}})

	out, code := run(t, nil, "status", "--root", root)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"Last run: install, succeeded (exit 0)", "  preflight   ok", "  kubelet     ok",
		"Installed: containerd v1.7.30, crictl v1.36.0, kubernetes v1.36.4, runc v1.3.3",
		"kubelet.service     unknown (no live host behind the root)",
		"Node " + name + " (as the API server sees it, with the node's /etc/kubernetes/kubelet.conf)",
		"Ready:      True (KubeletReady", "providerID: cn-hangzhou.i-bp1abc", "    alibabacloud.com/external=true", "taints:     workload=ack:NoSchedule",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	// With the node's own client certificate.
	if reqs := api.Requests(); len(reqs) != 1 || reqs[0] != "GET /api/v1/nodes/"+name+" as node:"+name {
		t.Errorf("requests: %v", reqs)
	}

	out, code = run(t, nil, "status", "--root", root, "-o", "json")
	var s status
	if err := json.Unmarshal([]byte(out), &s); err != nil || code != 0 {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}
	if !s.Joined || s.Node == nil || s.Node.Ready != "True" || s.LastRun.Result != "succeeded" || s.Installed["kubernetes"] != "v1.36.4" || len(s.LastRun.Phases) != 7 {
		t.Errorf("status: %+v", s)
	}
}

func TestStatusNotJoined(t *testing.T) {
	out, code := run(t, nil, "status", "--root", t.TempDir())
	if code != 0 || !strings.Contains(out, "Last run: none") || !strings.Contains(out, "Node: not joined: no /etc/kubernetes/kubelet.conf") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestStatusCredentialsRefused(t *testing.T) {
	root := t.TempDir()
	api := apitest.New(t, apitest.Options{})
	other := apitest.New(t, apitest.Options{}) // a certificate from another cluster's CA
	writeFile(t, root, kubeletCert, string(other.NodeCertificate(t, "n1")))
	writeFile(t, root, hoststate.KubeletConf, string(api.KubeletConf(kubeletCert)))
	out, code := run(t, nil, "status", "--root", root)
	if code != 0 || !strings.Contains(out, "Node: GET Node n1") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
