package doctor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/artifact"
	"github.com/hybridnode/hybridnode/bootstrap/command"
	"github.com/hybridnode/hybridnode/bootstrap/command/commandtest"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/doctor/apitest"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/bootstrap/systemd/systemdtest"
)

const (
	testToken = "abcdef.0123456789abcdef"
	nodeName  = "cn-hangzhou.10.0.1.5"
	certFile  = "/var/lib/kubelet/pki/kubelet-client-current.pem"
)

// harness is a healthy host root, a fake API server, a loopback artifact
// source and fake systemd and commands; tests break one thing at a time.
type harness struct {
	root      string
	api       *apitest.Server
	artifacts *httptest.Server
	sums      map[string]bool // paths listed in SHA256SUMS
	sd        *systemdtest.Fake
	cmd       *commandtest.Fake
	vars      map[string]string
	env       *Env // built by build; tests may then adjust seams
	resolve   func(host string) ([]string, error)
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{root: t.TempDir(), api: apitest.New(t, apitest.Options{}), sd: systemdtest.New(), cmd: &commandtest.Fake{}, sums: map[string]bool{}}
	h.api.AddToken(testToken)
	h.api.SetNetworking("10.244.0.0/16", "10.96.0.0/12")
	for p, content := range map[string]string{
		"/etc/os-release":                               "ID=debian\n",
		"/proc/1/comm":                                  "systemd\n",
		"/sys/fs/cgroup/cgroup.controllers":             "cpu memory\n",
		"/proc/swaps":                                   "Filename Type Size Used Priority\n",
		"/proc/filesystems":                             "nodev\toverlay\n",
		"/sys/module/br_netfilter/refcnt":               "0\n",
		"/proc/sys/net/bridge/bridge-nf-call-iptables":  "1\n",
		"/proc/sys/net/bridge/bridge-nf-call-ip6tables": "1\n",
		"/proc/sys/net/ipv4/ip_forward":                 "1\n",
		"/lib/systemd/system/containerd.service":        "[Unit]\n",
		"/lib/systemd/system/kubelet.service":           "[Unit]\n",
		"/etc/cni/net.d/10-terway.conflist":             `{"cniVersion":"0.4.0","name":"terway","plugins":[{"type":"terway"}]}`,
	} {
		h.write(t, p, content)
	}
	h.sd.SetState("containerd.service", "active")
	h.cmd.On("journalctl", func(c command.Cmd) (command.Result, error) {
		return command.Result{Stdout: []byte("line 1 of " + c.Args[1] + "\nlast line of " + c.Args[1] + "\n")}, nil
	})
	h.artifacts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/SHA256SUMS" {
			http.NotFound(w, r)
			return
		}
		for p, listed := range h.sums {
			if !listed {
				continue
			}
			sum := sha256.Sum256([]byte(p))
			fmt.Fprintf(w, "%s  %s\n", hex.EncodeToString(sum[:]), p)
		}
	}))
	t.Cleanup(h.artifacts.Close)
	h.vars = map[string]string{
		"ALIBABA_CLOUD_PROVIDER_ID":      "cn-hangzhou.i-bp1abc",
		"ALIBABA_CLOUD_NODE_NAME":        nodeName,
		"ALIBABA_CLOUD_LABELS":           "alibabacloud.com/external=true,workload=cpu",
		"HYBRIDNODE_API_SERVER_ENDPOINT": h.api.Endpoint,
		"HYBRIDNODE_TOKEN":               testToken,
		"HYBRIDNODE_CA_CERT_HASHES":      h.api.Pin,
		"HYBRIDNODE_ARTIFACT_URL":        h.artifacts.URL,
		"HYBRIDNODE_VPC_CIDR":            "172.16.0.0/12",
	}
	h.resolve = func(host string) ([]string, error) {
		if host == "api.test" {
			return []string{"127.0.0.1"}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return h
}

func (h *harness) read(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(h.root, p))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func (h *harness) write(t *testing.T, p, content string) {
	t.Helper()
	full := filepath.Join(h.root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// joined makes the node joined: kubelet.conf, its client certificate, a
// Ready Node, kubelet running.
func (h *harness) joined(t *testing.T) {
	t.Helper()
	h.write(t, certFile, string(h.api.NodeCertificate(t, nodeName)))
	h.write(t, hoststate.KubeletConf, string(h.api.KubeletConf(certFile)))
	h.api.SetNode(apitest.NodeSpec{Name: nodeName, Ready: true, Labels: map[string]string{"alibabacloud.com/external": "true"}})
	h.sd.SetState("kubelet.service", "active")
}

type resolverFunc func(host string) ([]string, error)

func (f resolverFunc) LookupHost(_ context.Context, host string) ([]string, error) { return f(host) }

// build resolves the configuration as the CLI does and assembles the Env.
// Every connection goes to loopback: "api.test" dials 127.0.0.1, anything
// else that is not 127.0.0.1 fails the test.
func (h *harness) build(t *testing.T) *Env {
	t.Helper()
	f, err := hostfs.New(h.root)
	if err != nil {
		t.Fatal(err)
	}
	joined, _ := hoststate.Joined(f)
	l, spec, verr := config.Resolve(config.ResolveOptions{
		ReadFile:      func(string) ([]byte, error) { return nil, os.ErrNotExist },
		LookupEnv:     func(k string) (string, bool) { v, ok := h.vars[k]; return v, ok },
		Hostname:      "node-a",
		Installed:     hoststate.InstalledVersions(f),
		InstalledFrom: hoststate.InstalledPath,
		Join:          !joined,
	})
	var ce *config.Error
	if verr != nil && (!errors.As(verr, &ce) || !l.Parsed()) {
		t.Fatal(verr)
	}
	facts := hoststate.Probe(f)
	facts.Arch = "amd64"
	if spec != nil {
		for _, p := range artifact.Paths(spec, facts.Arch) {
			if _, ok := h.sums[p]; !ok {
				h.sums[p] = true
			}
		}
	}
	dialer := &net.Dialer{Timeout: 2 * time.Second}
	h.env = &Env{
		FS: f, Facts: facts, Live: true, Config: l, Spec: spec, ConfigErr: verr,
		Systemd: h.sd, Cmd: h.cmd, Geteuid: func() int { return 0 },
		Resolver: resolverFunc(func(host string) ([]string, error) { return h.resolve(host) }),
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, _ := net.SplitHostPort(addr)
			if host == "api.test" {
				host = "127.0.0.1"
			}
			if host != "127.0.0.1" {
				t.Errorf("dial to %s: tests reach loopback only", addr)
				return nil, errors.New("not loopback")
			}
			return dialer.DialContext(ctx, network, net.JoinHostPort(host, port))
		},
		Timeout: 2 * time.Second,
	}
	return h.env
}

func check(name string) Check {
	for _, c := range Checks() {
		if c.Name == name {
			return c
		}
	}
	panic("no check " + name)
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

type checkCase struct {
	check, name string
	setup       func(t *testing.T, h *harness)
	// adjust runs after the Env is built (seams).
	adjust func(t *testing.T, e *Env)
	status string
	want   []string // substrings of evidence, remedy or details
}

func cases() []checkCase {
	notJoinedSwap := "/swapfile file 1024 0 -2\n"
	return append(append(append(append(identityCases(), gpuCases()...), kubeProxyCases()...), proxyCases()...), []checkCase{
		{check: "root", name: "root", status: Pass, want: []string{"running as root"}},
		{check: "root", name: "not root", adjust: func(_ *testing.T, e *Env) { e.Geteuid = func() int { return 1000 } }, status: Fail, want: []string{"uid 1000", "run as root"}},
		{check: "root", name: "offline root", adjust: func(_ *testing.T, e *Env) { e.Live = false }, status: Skip},

		{check: "systemd", name: "systemd", status: Pass},
		{check: "systemd", name: "init", setup: func(t *testing.T, h *harness) { h.write(t, "/proc/1/comm", "init\n") }, status: Fail, want: []string{`"init"`, "boot the host with systemd"}},

		{check: "cgroups", name: "v2", status: Pass, want: []string{"cgroup v2"}},
		{check: "cgroups", name: "v1 before the join", setup: cgroupV1, status: Warn, want: []string{"failCgroupV1: false", "cgroup v2"}},
		{check: "cgroups", name: "v1 joined with the patch", setup: func(t *testing.T, h *harness) {
			cgroupV1(t, h)
			h.joined(t)
			h.write(t, hoststate.KubeletConfig, "kind: KubeletConfiguration\nfailCgroupV1: false\n")
		}, status: Warn},
		{check: "cgroups", name: "v1 joined without the patch", setup: func(t *testing.T, h *harness) {
			cgroupV1(t, h)
			h.joined(t)
			h.write(t, hoststate.KubeletConfig, "kind: KubeletConfiguration\ncgroupDriver: systemd\n")
		}, status: Fail, want: []string{"refuses to start", "hybridnode reset"}},

		{check: "swap", name: "off", status: Pass},
		{check: "swap", name: "on before the join", setup: func(t *testing.T, h *harness) {
			h.write(t, "/proc/swaps", "Filename Type Size Used Priority\n"+notJoinedSwap)
		}, status: Warn, want: []string{"/swapfile", "swapoff -a"}},
		{check: "swap", name: "on when joined", setup: func(t *testing.T, h *harness) {
			h.joined(t)
			h.write(t, "/proc/swaps", "Filename Type Size Used Priority\n"+notJoinedSwap)
		}, status: Fail, want: []string{"swap is on: /swapfile"}},

		{check: "kernel-modules", name: "loaded", status: Pass, want: []string{"overlay, br_netfilter loaded"}},
		{check: "kernel-modules", name: "missing when joined", setup: func(t *testing.T, h *harness) {
			h.joined(t)
			os.RemoveAll(filepath.Join(h.root, "sys/module/br_netfilter"))
			os.RemoveAll(filepath.Join(h.root, "proc/sys/net/bridge"))
		}, status: Fail, want: []string{"not loaded: br_netfilter", "modprobe br_netfilter"}},

		{check: "sysctls", name: "set", status: Pass, want: []string{"net.ipv4.ip_forward = 1"}},
		{check: "sysctls", name: "ip_forward off when joined", setup: func(t *testing.T, h *harness) {
			h.joined(t)
			h.write(t, "/proc/sys/net/ipv4/ip_forward", "0\n")
		}, status: Fail, want: []string{"net.ipv4.ip_forward = 0", "sysctl -p"}},

		{check: "tools", name: "kubeadm 1.37 needs none", status: Pass, want: []string{"no host tool"}},
		{check: "tools", name: "kubeadm 1.31 without conntrack", setup: func(t *testing.T, h *harness) {
			h.vars["HYBRIDNODE_KUBERNETES_VERSION"] = "v1.31.4"
		}, status: Fail, want: []string{"conntrack is not on PATH", "apt-get install -y conntrack"}},
		{check: "port-10250", name: "free", setup: func(t *testing.T, h *harness) {
			h.write(t, "/proc/net/tcp", "  sl  local_address rem_address   st\n   0: 0100007F:0CEA 00000000:0000 0A\n")
		}, status: Pass},
		{check: "port-10250", name: "taken before the join", setup: func(t *testing.T, h *harness) {
			h.write(t, "/proc/net/tcp", "  sl  local_address rem_address   st\n   0: 00000000:280A 00000000:0000 0A\n")
		}, status: Fail, want: []string{"port 10250", "hybridnode reset"}},
		{check: "port-10250", name: "kubelet's when joined", setup: func(t *testing.T, h *harness) { h.joined(t) }, status: Skip},

		{check: "config", name: "valid", status: Pass},
		{check: "config", name: "bad label and no token", setup: func(_ *testing.T, h *harness) {
			h.vars["ALIBABA_CLOUD_LABELS"] = "workload"
			delete(h.vars, "HYBRIDNODE_TOKEN")
		}, status: Fail, want: []string{"2 problem(s)", "ALIBABA_CLOUD_LABELS", "token: want a bootstrap token"}},

		{check: "dns", name: "an IP", status: Skip, want: []string{"is an IP address"}},
		{check: "dns", name: "resolves", setup: func(_ *testing.T, h *harness) { h.useName("api.test") }, status: Pass, want: []string{"api.test resolves to 127.0.0.1"}},
		{check: "dns", name: "does not resolve", setup: func(_ *testing.T, h *harness) { h.useName("api.nowhere") }, status: Fail, want: []string{"api.nowhere does not resolve", "PrivateZone"}},
		{check: "dns", name: "no endpoint", setup: func(_ *testing.T, h *harness) { delete(h.vars, "HYBRIDNODE_API_SERVER_ENDPOINT") }, status: Skip, want: []string{"HYBRIDNODE_API_SERVER_ENDPOINT"}},

		{check: "api-server", name: "reached", status: Pass, want: []string{"HTTP 200 (v1.37.1)"}},
		{check: "api-server", name: "stopped", setup: func(t *testing.T, h *harness) { h.vars["HYBRIDNODE_API_SERVER_ENDPOINT"] = closedPort(t) }, status: Fail,
			want: []string{"TCP connect to 127.0.0.1:", "connection refused", "check that kube-apiserver runs"}},
		{check: "api-server", name: "not TLS", setup: func(t *testing.T, h *harness) {
			plain := httptest.NewServer(http.NotFoundHandler())
			t.Cleanup(plain.Close)
			h.vars["HYBRIDNODE_API_SERVER_ENDPOINT"] = plain.Listener.Addr().String()
		}, status: Fail, want: []string{"the TLS handshake does not"}},
		{check: "api-server", name: "unhealthy", setup: func(_ *testing.T, h *harness) { h.api.VersionStatus = http.StatusServiceUnavailable }, status: Fail, want: []string{"HTTP 503"}},

		{check: "clock", name: "in sync", status: Pass},
		{check: "clock", name: "10s ahead", adjust: func(_ *testing.T, e *Env) { e.Now = func() time.Time { return time.Now().Add(10 * time.Second) } }, status: Warn, want: []string{"ahead of", "chronyd"}},
		{check: "clock", name: "3m behind", adjust: func(_ *testing.T, e *Env) { e.Now = func() time.Time { return time.Now().Add(-3 * time.Minute) } }, status: Fail, want: []string{"behind the API server"}},

		{check: "ca-pin", name: "matches", status: Pass, want: []string{"verifies for 127.0.0.1"}},
		{check: "ca-pin", name: "wrong pin", setup: func(_ *testing.T, h *harness) {
			h.vars["HYBRIDNODE_CA_CERT_HASHES"] = "sha256:" + strings.Repeat("0", 64)
		}, status: Fail, want: []string{"matches none of caCertHashes", "--discovery-token-ca-cert-hash"}},
		{check: "ca-pin", name: "endpoint not in the SANs", setup: func(t *testing.T, h *harness) {
			h.api = apitest.New(t, apitest.Options{DNSNames: []string{"apiserver.internal"}})
			h.api.AddToken(testToken)
			h.vars["HYBRIDNODE_API_SERVER_ENDPOINT"], h.vars["HYBRIDNODE_CA_CERT_HASHES"] = h.api.Endpoint, h.api.Pin
		}, status: Fail, want: []string{"does not verify against that CA", "certSANs"}},
		{check: "ca-pin", name: "cluster-info refused", setup: func(_ *testing.T, h *harness) { h.api.DenyAnonymous = true }, status: Fail,
			want: []string{"refused (HTTP 403)", "kubeadm init phase bootstrap-token"}},
		{check: "ca-pin", name: "no pin", setup: func(_ *testing.T, h *harness) {
			delete(h.vars, "HYBRIDNODE_CA_CERT_HASHES")
			h.vars["HYBRIDNODE_UNSAFE_SKIP_CA_VERIFICATION"] = "true"
		}, status: Warn, want: []string{"HYBRIDNODE_CA_CERT_HASHES=sha256:"}},

		{check: "bootstrap-token", name: "valid", status: Pass, want: []string{"token id abcdef"}},
		{check: "bootstrap-token", name: "deleted", setup: func(_ *testing.T, h *harness) { h.api.DeleteToken(testToken) }, status: Fail,
			want: []string{"expired or was deleted", "kubeadm token create --ttl 2h --print-join-command"}},
		{check: "bootstrap-token", name: "wrong secret", setup: func(_ *testing.T, h *harness) { h.vars["HYBRIDNODE_TOKEN"] = "abcdef.0123456789abcdee" }, status: Fail,
			want: []string{"secret does not match"}},
		{check: "bootstrap-token", name: "joined", setup: func(t *testing.T, h *harness) { h.joined(t) }, status: Skip},

		{check: "artifacts", name: "listed", status: Pass, want: []string{"lists all 5 artifacts"}},
		{check: "artifacts", name: "a version missing", setup: func(_ *testing.T, h *harness) {
			h.sums["kubernetes/v1.37.1/bin/linux/amd64/kubeadm"] = false
		}, adjust: func(_ *testing.T, e *Env) {}, status: Fail, want: []string{"lacks 1 of the 5", "kubeadm"}},
		{check: "artifacts", name: "unreachable", setup: func(t *testing.T, h *harness) { h.vars["HYBRIDNODE_ARTIFACT_URL"] = "http://" + closedPort(t) }, status: Fail,
			want: []string{"SHA256SUMS", "connection refused", "OSS"}},
		{check: "artifacts", name: "baked", setup: func(t *testing.T, h *harness) {
			delete(h.vars, "HYBRIDNODE_ARTIFACT_URL")
			h.write(t, hoststate.InstalledPath, `{"versions":{"kubernetes":"v1.37.1"}}`)
		}, status: Pass, want: []string{"installed binaries (kubernetes v1.37.1"}},
		{check: "artifacts", name: "nothing baked", setup: func(_ *testing.T, h *harness) { delete(h.vars, "HYBRIDNODE_ARTIFACT_URL") }, status: Fail, want: []string{"hybridnode install"}},

		{check: "containerd", name: "active", status: Pass, want: []string{"active"}},
		{check: "containerd", name: "failed", setup: func(_ *testing.T, h *harness) { h.sd.SetState("containerd.service", "failed") }, status: Fail,
			want: []string{"failed", "systemctl restart containerd", "last line of containerd.service"}},
		{check: "containerd", name: "not installed yet", setup: func(_ *testing.T, h *harness) {
			os.Remove(filepath.Join(h.root, "lib/systemd/system/containerd.service"))
		}, status: Skip},

		{check: "kubelet", name: "inactive before the join", status: Pass, want: []string{"kubeadm join starts it"}},
		{check: "kubelet", name: "active when joined", setup: func(t *testing.T, h *harness) { h.joined(t) }, status: Pass},
		{check: "kubelet", name: "crash-looping when joined", setup: func(t *testing.T, h *harness) {
			h.joined(t)
			h.sd.SetState("kubelet.service", "activating")
			h.sd.SetNRestarts("kubelet.service", 7)
		}, status: Fail, want: []string{"activating, restarted 7 time(s)", "last line of kubelet.service"}},
		{check: "kubelet", name: "no systemd", adjust: func(_ *testing.T, e *Env) { e.Systemd = nil }, status: Skip},

		{check: "cni", name: "only Terway", status: Pass, want: []string{"10-terway.conflist"}},
		{check: "cni", name: "calico on a cloud node", setup: func(t *testing.T, h *harness) {
			h.write(t, "/etc/cni/net.d/10-calico.conflist", `{"name":"k8s-pod-network","plugins":[{"type":"calico"},{"type":"portmap"}]}`)
		}, status: Fail, want: []string{"10-calico.conflist (calico, portmap)", "NotIn"}},
		{check: "cni", name: "calico on a joined cloud node, API server down", setup: func(t *testing.T, h *harness) {
			// ACK's labels were only in the join's environment; kubeadm's flags file keeps them.
			h.joined(t)
			kc := regexp.MustCompile(`server: \S+`).ReplaceAllString(h.read(t, hoststate.KubeletConf), "server: https://"+closedPort(t))
			h.write(t, hoststate.KubeletConf, kc)
			h.vars["ALIBABA_CLOUD_LABELS"] = ""
			h.write(t, "/var/lib/kubelet/kubeadm-flags.env", `KUBELET_KUBEADM_ARGS="--node-labels=alibabacloud.com/external=true,workload=cpu --provider-id=cn-hangzhou.i-1"`+"\n")
			h.write(t, "/etc/cni/net.d/10-calico.conflist", `{"plugins":[{"type":"calico"}]}`)
		}, status: Fail, want: []string{"10-calico.conflist (calico)"}},
		{check: "cni", name: "calico on an on-premises node", setup: func(t *testing.T, h *harness) {
			h.vars["ALIBABA_CLOUD_LABELS"] = "workload=cpu"
			h.write(t, "/etc/cni/net.d/10-calico.conflist", `{"plugins":[{"type":"calico"}]}`)
		}, status: Skip},

		{check: "pod-subnet", name: "apart", status: Pass, want: []string{"pod subnet 10.244.0.0/16", "172.16.0.0/12"}},
		{check: "pod-subnet", name: "the seed's example", setup: func(_ *testing.T, h *harness) {
			h.api.SetNetworking("10.100.0.0/16", "10.96.0.0/12")
			h.vars["HYBRIDNODE_VPC_CIDR"] = "10.0.0.0/8"
		}, status: Fail, want: []string{"pod subnet 10.100.0.0/16", "overlap the VPC 10.0.0.0/8"}},
		{check: "pod-subnet", name: "joined, with the node's credentials", setup: func(t *testing.T, h *harness) {
			h.joined(t)
			h.api.SetNetworking("10.100.0.0/16", "192.168.0.0/16")
			h.vars["HYBRIDNODE_VPC_CIDR"] = "10.0.0.0/8"
		}, status: Fail, want: []string{"overlaps"}},
		{check: "pod-subnet", name: "no VPC CIDR", setup: func(_ *testing.T, h *harness) { delete(h.vars, "HYBRIDNODE_VPC_CIDR") }, status: Skip, want: []string{"HYBRIDNODE_VPC_CIDR"}},
		{check: "pod-subnet", name: "no credentials", setup: func(_ *testing.T, h *harness) { delete(h.vars, "HYBRIDNODE_TOKEN") }, status: Skip,
			want: []string{"not readable with anonymous (HTTP 403)"}},

		{check: "node-name", name: "free", status: Pass, want: []string{"no Node named " + nodeName}},
		{check: "node-name", name: "taken by a Ready Node", setup: func(_ *testing.T, h *harness) {
			h.api.SetNode(apitest.NodeSpec{Name: nodeName, Ready: true})
		}, status: Fail, want: []string{"a Ready Node named " + nodeName + " already exists", "kubectl delete node"}},
		{check: "node-name", name: "joined and Ready", setup: func(t *testing.T, h *harness) { h.joined(t) }, status: Pass, want: []string{"registered and Ready"}},
		{check: "node-name", name: "joined, NotReady", setup: func(t *testing.T, h *harness) {
			h.joined(t)
			h.api.SetNode(apitest.NodeSpec{Name: nodeName})
		}, status: Fail, want: []string{"not Ready", "KubeletNotReady", "Terway"}},
	}...)
}

func cgroupV1(t *testing.T, h *harness) {
	os.Remove(filepath.Join(h.root, "sys/fs/cgroup/cgroup.controllers"))
	h.write(t, "/sys/fs/cgroup/cpu/.keep", "")
}

// useName points the endpoint at the fake API server through a host name.
func (h *harness) useName(host string) {
	_, port, _ := net.SplitHostPort(h.api.Endpoint)
	h.vars["HYBRIDNODE_API_SERVER_ENDPOINT"] = net.JoinHostPort(host, port)
}

// runCase runs one case's check on its harness: the result and its text
// (evidence, remedy and details, one per line).
func runCase(t *testing.T, c checkCase) (Result, string) {
	t.Helper()
	h := newHarness(t)
	if c.setup != nil {
		c.setup(t, h)
	}
	e := h.build(t)
	if c.adjust != nil {
		c.adjust(t, e)
	}
	r := runOne(context.Background(), e, check(c.check))
	return r, strings.Join(append([]string{r.Evidence, r.Remedy}, r.Details...), "\n")
}

func TestChecks(t *testing.T) {
	for _, c := range cases() {
		t.Run(c.check+"/"+c.name, func(t *testing.T) {
			r, text := runCase(t, c)
			if r.Status != c.status {
				t.Fatalf("status %s, want %s:\n%s", r.Status, c.status, text)
			}
			for _, w := range c.want {
				if !strings.Contains(text, w) {
					t.Errorf("lacks %q:\n%s", w, text)
				}
			}
			if r.Status != Pass && r.Status != Skip && r.Remedy == "" {
				t.Errorf("a %s without a remedy: %s", r.Status, r.Evidence)
			}
			if strings.Contains(text, "0123456789abcdef") {
				t.Error("the token's secret is in the output")
			}
		})
	}
}

// TestEveryCheckPassesAndFails: the table has, for every check, a case that
// passes and one that fails (cgroups fails only on a joined node that lacks
// the cgroup v1 allowance).
func TestEveryCheckPassesAndFails(t *testing.T) {
	have := map[string]map[string]bool{}
	for _, c := range cases() {
		if have[c.check] == nil {
			have[c.check] = map[string]bool{}
		}
		have[c.check][c.status] = true
	}
	for _, c := range Checks() {
		want := []string{Pass, Fail}
		if c.Name == "dns" {
			want = []string{Pass, Fail, Skip}
		}
		for _, s := range want {
			if !have[c.Name][s] {
				t.Errorf("check %s has no %s case", c.Name, s)
			}
		}
	}
}

func TestRunHealthyJoinedNode(t *testing.T) {
	h := newHarness(t)
	h.joined(t)
	r := Run(context.Background(), h.build(t), Checks())
	var out bytes.Buffer
	r.WriteText(&out)
	if r.Result != "healthy" || len(r.Failed()) != 0 || r.Summary[Warn] != 0 {
		t.Fatalf("result %s:\n%s", r.Result, out.String())
	}
	if r.Node != nodeName || !r.Joined || !strings.HasPrefix(out.String(), "hybridnode doctor: node "+nodeName+", API server "+h.api.Endpoint+" (joined)\n") {
		t.Errorf("header:\n%s", out.String())
	}
	// The node's own credentials were used; the token was never sent.
	for _, req := range h.api.Requests() {
		if strings.Contains(req, "bootstrap:") {
			t.Errorf("token used on a joined node: %s", req)
		}
	}
}

func TestRunReportsFailures(t *testing.T) {
	h := newHarness(t)
	h.vars["HYBRIDNODE_API_SERVER_ENDPOINT"] = closedPort(t)
	r := Run(context.Background(), h.build(t), Checks())
	if r.Result != "failed" || strings.Join(r.Failed(), ",") != "api-server" {
		t.Fatalf("failed = %v", r.Failed())
	}
	var text, js bytes.Buffer
	r.WriteText(&text)
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FAIL  api-server", "fix: check that kube-apiserver runs", "SKIP  clock", "1 fail"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Result != "failed" || len(back.Checks) != len(Checks()) {
		t.Fatalf("json: %v\n%s", err, js.String())
	}
	if strings.Contains(text.String()+js.String(), testToken) {
		t.Error("the token is in the report")
	}
}

func TestPanickingCheckIsAFailure(t *testing.T) {
	h := newHarness(t)
	r := Run(context.Background(), h.build(t), []Check{{Name: "boom", Run: func(context.Context, *Env) Result { panic("oops") }}})
	if r.Checks[0].Status != Fail || !strings.Contains(r.Checks[0].Evidence, "oops") {
		t.Fatalf("%+v", r.Checks[0])
	}
}

func TestVerifyJWS(t *testing.T) {
	sig := apitest.Sign("content", "abcdef", "0123456789abcdef")
	if !verifyJWS(sig, "content", "0123456789abcdef") {
		t.Fatal("a good signature does not verify")
	}
	for _, c := range []struct{ sig, content, secret string }{
		{sig, "content!", "0123456789abcdef"},
		{sig, "content", "0123456789abcdee"},
		{"garbage", "content", "0123456789abcdef"},
		{strings.Replace(sig, "..", ".x.", 1), "content", "0123456789abcdef"},
	} {
		if verifyJWS(c.sig, c.content, c.secret) {
			t.Errorf("verifies: %+v", c)
		}
	}
}
