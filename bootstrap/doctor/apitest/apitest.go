// Package apitest is a loopback fake of the few kube-apiserver endpoints
// hybridnode reads, for tests: /version, kube-public/cluster-info (with
// kubeadm's JWS signatures per bootstrap token), kube-system/kubeadm-config,
// kube-system/kube-proxy (with kubeadm's RBAC: bootstrap tokens and nodes
// may read it) and Nodes, with client-certificate and bootstrap-token
// authentication. A request with a token's secret in its URL is refused.
// It listens on 127.0.0.1 only.
package apitest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is the fake API server.
type Server struct {
	*httptest.Server
	// Endpoint is host:port (127.0.0.1:N).
	Endpoint string
	CA       *x509.Certificate
	CAPEM    []byte
	// Pin is kubeadm's pin of CA.
	Pin   string
	caKey crypto.Signer

	mu sync.Mutex
	// ConfigMaps: "namespace/name" -> data.
	configMaps map[string]map[string]string
	nodes      map[string][]byte
	tokens     map[string]string // id -> secret
	// DenyAnonymous refuses anonymous reads of cluster-info (403).
	DenyAnonymous bool
	// VersionStatus is /version's status (default 200).
	VersionStatus int
	// DenyKubeProxy refuses bootstrap tokens the kube-proxy ConfigMap (403),
	// as a cluster without kubeadm's kube-proxy Role does.
	DenyKubeProxy bool
	// DenyKubeadmConfig refuses bootstrap tokens kube-system/kubeadm-config
	// (403), as a cluster without kubeadm's kubeadm:nodes-kubeadm-config
	// Role does.
	DenyKubeadmConfig bool
	// FailKubeProxy answers the next reads of the kube-proxy ConfigMap
	// with 503, counting down.
	FailKubeProxy int
	// KubeProxyDelay holds each read of the kube-proxy ConfigMap that long
	// (or until the client gives up) before answering.
	KubeProxyDelay time.Duration
	requests       []string
}

// Options of New.
type Options struct {
	// SANs of the serving certificate; default 127.0.0.1 and localhost.
	DNSNames []string
	IPs      []net.IP
}

// New starts a fake API server on 127.0.0.1 with its own CA.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{configMaps: map[string]map[string]string{}, nodes: map[string][]byte{}, tokens: map[string]string{}}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	s.CA, _ = x509.ParseCertificate(der)
	s.caKey = caKey
	s.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	sum := sha256.Sum256(s.CA.RawSubjectPublicKeyInfo)
	s.Pin = "sha256:" + hex.EncodeToString(sum[:])

	if o.DNSNames == nil && o.IPs == nil {
		o.DNSNames, o.IPs = []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}
	}
	certPEM, keyPEM := s.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "kube-apiserver"}, DNSNames: o.DNSNames, IPAddresses: o.IPs,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	serving, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.CA)
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Server.Config.ErrorLog = log.New(io.Discard, "", 0) // refused client certificates are expected
	s.Server.TLS = &tls.Config{Certificates: []tls.Certificate{serving}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool}
	s.Server.StartTLS()
	t.Cleanup(s.Close)
	s.Endpoint = s.Listener.Addr().String()
	s.SetClusterInfo()
	return s
}

// issue makes a certificate signed by the CA; it returns PEM cert and key.
func (s *Server) issue(t testing.TB, tmpl *x509.Certificate) ([]byte, []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.CA, key.Public(), s.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// NodeCertificate is a kubelet client certificate for node name, as one
// PEM file holding certificate and key (kubelet-client-current.pem).
func (s *Server) NodeCertificate(t testing.TB, name string) []byte {
	c, k := s.issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "system:node:" + name, Organization: []string{"system:nodes"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return append(c, k...)
}

// KubeletConf is a kubelet.conf naming this server, its CA and the client
// certificate file certFile (as kubeadm writes it).
func (s *Server) KubeletConf(certFile string) []byte {
	return []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: %s
    server: https://%s
  name: default-cluster
contexts:
- context:
    cluster: default-cluster
    namespace: default
    user: default-auth
  name: default-context
current-context: default-context
users:
- name: default-auth
  user:
    client-certificate: %s
    client-key: %s
`, base64.StdEncoding.EncodeToString(s.CAPEM), s.Endpoint, certFile, certFile))
}

// clusterInfoKubeconfig is what kubeadm puts in cluster-info.
func (s *Server) clusterInfoKubeconfig() string {
	return fmt.Sprintf("apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: %s\n    server: https://%s\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\nusers: null\n",
		base64.StdEncoding.EncodeToString(s.CAPEM), s.Endpoint)
}

// SetClusterInfo (re)writes kube-public/cluster-info with a signature per
// token, as kube-controller-manager's bootstrap signer does.
func (s *Server) SetClusterInfo() {
	s.mu.Lock()
	defer s.mu.Unlock()
	kc := s.clusterInfoKubeconfig()
	data := map[string]string{"kubeconfig": kc}
	for id, secret := range s.tokens {
		data["jws-kubeconfig-"+id] = Sign(kc, id, secret)
	}
	s.configMaps["kube-public/cluster-info"] = data
}

// Sign computes kubeadm's detached JWS (header..signature): HS256 keyed
// with the token secret over content.
func Sign(content, id, secret string) string {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"` + id + `"}`))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(header + "." + base64.RawURLEncoding.EncodeToString([]byte(content))))
	return header + ".." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// AddToken makes id.secret a valid bootstrap token (and signs cluster-info).
func (s *Server) AddToken(token string) {
	id, secret, _ := strings.Cut(token, ".")
	s.mu.Lock()
	s.tokens[id] = secret
	s.mu.Unlock()
	s.SetClusterInfo()
}

// DeleteToken removes a token and its signature, as its expiry does.
func (s *Server) DeleteToken(token string) {
	id, _, _ := strings.Cut(token, ".")
	s.mu.Lock()
	delete(s.tokens, id)
	s.mu.Unlock()
	s.SetClusterInfo()
}

// SetNetworking writes kube-system/kubeadm-config with these subnets.
func (s *Server) SetNetworking(podSubnet, serviceSubnet string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.configMaps["kube-system/kubeadm-config"] = map[string]string{"ClusterConfiguration": fmt.Sprintf(
		"apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.37.1\nnetworking:\n  dnsDomain: cluster.local\n  podSubnet: %s\n  serviceSubnet: %s\n", podSubnet, serviceSubnet)}
}

// KubeProxyPath is kube-system/kube-proxy.
const KubeProxyPath = "/api/v1/namespaces/kube-system/configmaps/kube-proxy"

// KubeProxyConfig is a config.conf as kubeadm writes it into the
// kube-proxy ConfigMap, with that mode ("" : kubeadm's default, mode: "").
func KubeProxyConfig(mode string) string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
bindAddress: 0.0.0.0
clientConnection:
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
clusterCIDR: 10.244.0.0/16
conntrack:
  maxPerCore: null
ipvs:
  scheduler: ""
  strictARP: false
kind: KubeProxyConfiguration
metricsBindAddress: ""
mode: %q
`, mode)
}

// SetKubeProxy serves kube-system/kube-proxy with this config.conf (and
// kubeadm's kubeconfig.conf beside it).
func (s *Server) SetKubeProxy(configConf string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.configMaps["kube-system/kube-proxy"] = map[string]string{
		"config.conf":     configConf,
		"kubeconfig.conf": "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://" + s.Endpoint + "\n  name: default\n",
	}
}

// NodeSpec describes a Node to serve.
type NodeSpec struct {
	Name       string
	Ready      bool
	Labels     map[string]string
	Taints     []map[string]string
	ProviderID string
}

// SetNode serves a Node.
func (s *Server) SetNode(n NodeSpec) {
	status, reason := "False", "KubeletNotReady"
	if n.Ready {
		status, reason = "True", "KubeletReady"
	}
	obj := map[string]any{
		"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{"name": n.Name, "labels": n.Labels, "creationTimestamp": "2026-11-22T05:00:00Z"},
		"spec":     map[string]any{"providerID": n.ProviderID, "taints": n.Taints},
		"status": map[string]any{
			"conditions": []map[string]string{{"type": "Ready", "status": status, "reason": reason, "message": "kubelet is posting ready status"}},
			"nodeInfo":   map[string]string{"kubeletVersion": "v1.37.1", "containerRuntimeVersion": "containerd://2.2.0"},
		},
	}
	data, _ := json.Marshal(obj)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nodes[n.Name] = data
}

// Requests lists "METHOD path as who", in order.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// who authenticates a request: "node:<name>", "bootstrap:<id>" or "anonymous"
// ("invalid" for a bad bearer token).
func (s *Server) who(r *http.Request) string {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		if n, ok := strings.CutPrefix(r.TLS.PeerCertificates[0].Subject.CommonName, "system:node:"); ok {
			return "node:" + n
		}
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		id, secret, _ := strings.Cut(tok, ".")
		if want, ok := s.tokens[id]; ok && want == secret {
			return "bootstrap:" + id
		}
		return "invalid"
	}
	return "anonymous"
}

func status(w http.ResponseWriter, code int, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":%q,"code":%d}`, reason, code)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == KubeProxyPath {
		s.mu.Lock()
		d := s.KubeProxyDelay
		s.mu.Unlock()
		if d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	who := s.who(r)
	s.requests = append(s.requests, r.Method+" "+r.URL.Path+" as "+who)
	for _, secret := range s.tokens {
		if strings.Contains(r.URL.String(), secret) {
			s.requests[len(s.requests)-1] += " (a token's secret in the URL)"
			status(w, http.StatusBadRequest, "BadRequest")
			return
		}
	}
	if who == "invalid" {
		status(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	p := r.URL.Path
	switch {
	case p == "/version" || p == "/healthz":
		if s.VersionStatus != 0 && s.VersionStatus != http.StatusOK {
			status(w, s.VersionStatus, "InternalError")
			return
		}
		fmt.Fprint(w, `{"major":"1","minor":"37","gitVersion":"v1.37.1"}`)
	case strings.HasPrefix(p, "/api/v1/namespaces/"):
		rest := strings.TrimPrefix(p, "/api/v1/namespaces/")
		ns, name, _ := strings.Cut(rest, "/configmaps/")
		allowed := who != "anonymous" || (ns == "kube-public" && name == "cluster-info" && !s.DenyAnonymous)
		if p == KubeProxyPath && strings.HasPrefix(who, "bootstrap:") && s.DenyKubeProxy {
			allowed = false
		}
		if ns+"/"+name == "kube-system/kubeadm-config" && strings.HasPrefix(who, "bootstrap:") && s.DenyKubeadmConfig {
			allowed = false
		}
		if !allowed {
			status(w, http.StatusForbidden, "Forbidden")
			return
		}
		if p == KubeProxyPath && s.FailKubeProxy > 0 {
			s.FailKubeProxy--
			status(w, http.StatusServiceUnavailable, "ServiceUnavailable")
			return
		}
		data, ok := s.configMaps[ns+"/"+name]
		if !ok {
			status(w, http.StatusNotFound, "NotFound")
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]string{"name": name, "namespace": ns}, "data": data})
	case strings.HasPrefix(p, "/api/v1/nodes/"):
		name := strings.TrimPrefix(p, "/api/v1/nodes/")
		if who == "anonymous" || strings.HasPrefix(who, "node:") && who != "node:"+name {
			status(w, http.StatusForbidden, "Forbidden")
			return
		}
		data, ok := s.nodes[name]
		if !ok {
			status(w, http.StatusNotFound, "NotFound")
			return
		}
		w.Write(data)
	default:
		status(w, http.StatusNotFound, "NotFound")
	}
}
