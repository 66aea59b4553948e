package main

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap"
	"github.com/hybridnode/hybridnode/bootstrap/doctor/apitest"
)

// doctorRoot is an offline root that looks like a prepared Debian host.
func doctorRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range map[string]string{
		"/etc/os-release":                               "ID=debian\n",
		"/proc/1/comm":                                  "systemd\n",
		"/sys/fs/cgroup/cgroup.controllers":             "cpu\n",
		"/proc/swaps":                                   "Filename Type Size Used Priority\n",
		"/proc/filesystems":                             "nodev\toverlay\n",
		"/sys/module/br_netfilter/refcnt":               "0\n",
		"/proc/sys/net/bridge/bridge-nf-call-iptables":  "1\n",
		"/proc/sys/net/bridge/bridge-nf-call-ip6tables": "1\n",
		"/proc/sys/net/ipv4/ip_forward":                 "1\n",
	} {
		writeFile(t, root, p, c)
	}
	return root
}

// doctorEnvVars point at a fake API server and an offline bundle.
func doctorEnvVars(t *testing.T, api *apitest.Server) map[string]string {
	env := map[string]string{}
	for k, v := range ackEnv {
		env[k] = v
	}
	env["HYBRIDNODE_API_SERVER_ENDPOINT"] = api.Endpoint
	env["HYBRIDNODE_CA_CERT_HASHES"] = api.Pin
	env["HYBRIDNODE_ARTIFACT_URL"] = bundle(t)
	env["HYBRIDNODE_KUBERNETES_VERSION"] = "v1.36.4"
	env["HYBRIDNODE_CONTAINERD_VERSION"] = "v1.7.30"
	env["HYBRIDNODE_VPC_CIDR"] = "172.16.0.0/12"
	return env
}

func TestDoctorHealthy(t *testing.T) {
	api := apitest.New(t, apitest.Options{})
	api.AddToken(token)
	api.SetNetworking("10.244.0.0/16", "10.96.0.0/12")
	out, code := run(t, doctorEnvVars(t, api), "doctor", "--root", doctorRoot(t))
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"PASS  api-server", "PASS  ca-pin", "PASS  bootstrap-token", "PASS  artifacts", "PASS  pod-subnet", "PASS  node-name", "SKIP  root", ": healthy"} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, token) {
		t.Error("the token is in the output")
	}
}

// TestDoctorFailures: the API server stopped, the token deleted, the seed's
// overlapping subnets: exit 8, each with its remedy; JSON is clean JSON.
func TestDoctorFailures(t *testing.T) {
	api := apitest.New(t, apitest.Options{})
	api.AddToken(token)
	env := doctorEnvVars(t, api)
	root := doctorRoot(t)

	api.DeleteToken(token)
	out, code := run(t, env, "doctor", "--root", root)
	if code != bootstrap.ExitDoctor || !strings.Contains(out, "FAIL  bootstrap-token  cluster-info has no signature for token id abcdef: the token expired or was deleted") ||
		!strings.Contains(out, "kubeadm token create --ttl 2h") || !strings.Contains(out, "1 check(s) failed: bootstrap-token") {
		t.Fatalf("token deleted: exit %d:\n%s", code, out)
	}

	api.AddToken(token)
	api.SetNetworking("10.100.0.0/16", "10.96.0.0/12")
	env["HYBRIDNODE_VPC_CIDR"] = "10.0.0.0/8"
	out, code = run(t, env, "doctor", "--root", root, "-o", "json")
	var r struct {
		Result string `json:"result"`
		Checks []struct {
			Name, Status, Evidence, Remedy string
		} `json:"checks"`
	}
	body, _, _ := strings.Cut(out, "\ndoctor:") // the error line run() appends
	if err := json.Unmarshal([]byte(body), &r); err != nil || code != bootstrap.ExitDoctor || r.Result != "failed" {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}
	for _, c := range r.Checks {
		if c.Name == "pod-subnet" && (c.Status != "fail" || !strings.Contains(c.Evidence, "10.100.0.0/16") || c.Remedy == "") {
			t.Errorf("pod-subnet: %+v", c)
		}
	}

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	env["HYBRIDNODE_API_SERVER_ENDPOINT"] = l.Addr().String()
	l.Close()
	out, code = run(t, env, "doctor", "--root", root)
	if code != bootstrap.ExitDoctor || !strings.Contains(out, "FAIL  api-server") || !strings.Contains(out, "fix: check that kube-apiserver runs") {
		t.Fatalf("API server stopped: exit %d:\n%s", code, out)
	}
}

func TestDoctorInvalidConfigGoesOn(t *testing.T) {
	api := apitest.New(t, apitest.Options{})
	env := doctorEnvVars(t, api)
	env["ALIBABA_CLOUD_TAINTS"] = "workload=ack:Never"
	env["HYBRIDNODE_JOIN_ATTEMPTS"] = "many" // a load error, not only a validation one
	out, code := run(t, env, "doctor", "--root", doctorRoot(t))
	if code != bootstrap.ExitDoctor || !strings.Contains(out, "FAIL  config") || !strings.Contains(out, "HYBRIDNODE_JOIN_ATTEMPTS") || !strings.Contains(out, "PASS  api-server") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if _, code := run(t, env, "doctor", "--root", doctorRoot(t), "-o", "yaml"); code != bootstrap.ExitInvalid {
		t.Errorf("-o yaml: exit %d", code)
	}
}
