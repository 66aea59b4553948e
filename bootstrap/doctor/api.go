package doctor

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/doctor/report"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/bootstrap/kubeapi"
	"github.com/hybridnode/hybridnode/bootstrap/kubeconfig"
	"github.com/hybridnode/hybridnode/kubelet"
)

// The API server is read with plain net/http and encoding/json: client-go
// would multiply the binary's size for four GETs.

// Pin is kubeadm's CA pin: sha256 over the certificate's SubjectPublicKeyInfo.
func Pin(c *x509.Certificate) string { return report.Pin(c) }

// endpoint is the API server's host:port: the configured one, else the
// server of a joined node's kubelet.conf.
func (e *Env) endpoint() (string, string) {
	if ep := e.cfg().APIServerEndpoint; ep != "" {
		return ep, "apiServerEndpoint"
	}
	if e.joined() {
		if cr, err := kubeconfig.Load(e.FS, hoststate.KubeletConf); err == nil {
			if u, err := url.Parse(cr.Server); err == nil && u.Host != "" {
				host := u.Host
				if u.Port() == "" {
					host = net.JoinHostPort(u.Hostname(), "443")
				}
				return host, hoststate.KubeletConf
			}
		}
	}
	return "", ""
}

// nodeName is the name the API server knows this node by: the client
// certificate's of a joined node (system:node:<name>), else the configured.
func (e *Env) nodeName() string {
	if e.joined() {
		if cr, err := kubeconfig.Load(e.FS, hoststate.KubeletConf); err == nil && cr.Cert != nil && cr.Cert.Leaf != nil {
			if n, ok := strings.CutPrefix(cr.Cert.Leaf.Subject.CommonName, "system:node:"); ok {
				return n
			}
		}
	}
	return e.cfg().NodeName
}

// probe is what reaching the API server found.
type probe struct {
	endpoint string
	tcpErr   error
	tlsErr   error
	chain    []*x509.Certificate // as served
	httpErr  error
	status   int
	version  string
	date     time.Time // the server's Date header
	local    time.Time // the local clock when the answer came
	took     time.Duration
}

// reach dials the endpoint (TCP, then TLS without verification: the CA
// checks come later) and GETs /version, once per run.
func (e *Env) reach(ctx context.Context) *probe {
	if e.probe != nil {
		return e.probe
	}
	ep, _ := e.endpoint()
	p := &probe{endpoint: ep}
	e.probe = p
	if ep == "" {
		return p
	}
	start := time.Now()
	dctx, cancel := context.WithTimeout(ctx, e.timeout())
	defer cancel()
	conn, err := e.dial(dctx, "tcp", ep)
	if err != nil {
		p.tcpErr = err
		return p
	}
	host, _, _ := net.SplitHostPort(ep)
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, ServerName: serverName(host)})
	if err := tc.HandshakeContext(dctx); err != nil {
		conn.Close()
		p.tlsErr = err
		return p
	}
	p.chain = tc.ConnectionState().PeerCertificates
	tc.Close()

	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	status, hdr, err := e.get(ctx, &kubeconfig.Credentials{Server: "https://" + ep}, true, "/version", &v)
	p.local, p.took = e.now(), time.Since(start)
	p.status, p.version, p.httpErr = status, v.GitVersion, err
	if d, err := http.ParseTime(hdr.Get("Date")); err == nil {
		p.date = d
	}
	return p
}

// serverName is the TLS server name for host ("" for an IP: no SNI).
func serverName(host string) string {
	if net.ParseIP(host) != nil {
		return ""
	}
	return host
}

// get GETs path with cr through the shared reader (kubeapi.Client.Get);
// insecure skips server verification (used only to read public,
// unauthenticated data). It decodes a 200 answer into out.
func (e *Env) get(ctx context.Context, cr *kubeconfig.Credentials, insecure bool, p string, out any) (int, http.Header, error) {
	return e.api().Get(ctx, cr, insecure, p, out)
}

// api is the shared API reader over doctor's seams.
func (e *Env) api() *kubeapi.Client {
	return &kubeapi.Client{HTTPClient: e.httpClient, Timeout: e.timeout(), UserAgent: "hybridnode-doctor"}
}

// clusterInfo is kube-public/cluster-info, read anonymously as kubeadm's
// token discovery does.
type clusterInfo struct {
	status     int
	err        error
	kubeconfig string
	data       map[string]string
	cas        []*x509.Certificate
}

type configMap = kubeapi.ConfigMap

func (e *Env) readClusterInfo(ctx context.Context) *clusterInfo {
	if e.clusterInfo != nil {
		return e.clusterInfo
	}
	ci := &clusterInfo{}
	e.clusterInfo = ci
	ep, _ := e.endpoint()
	if ep == "" {
		ci.err = errors.New("no API server endpoint")
		return ci
	}
	read, err := e.api().ReadClusterInfo(ctx, ep)
	ci.status, ci.data, ci.kubeconfig, ci.cas = read.Status, read.Data, read.Kubeconfig, read.CAs
	if read.Status == 0 || read.Status == http.StatusOK {
		ci.err = err // a status of its own is reported as that status
	}
	return ci
}

// pinMatches reports which served CA matches a configured pin.
func pinMatches(cas []*x509.Certificate, pins []string) (*x509.Certificate, bool) {
	return kubeapi.PinMatches(cas, pins)
}

// verifyJWS checks a detached JWS (kubeadm's "jws-kubeconfig-<id>": header..signature,
// HS256 keyed with the token secret over the kubeconfig).
func verifyJWS(detached, content, secret string) bool {
	header, sig, ok := strings.Cut(detached, "..")
	if !ok {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		return false
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(raw, &h) != nil || h.Alg != "HS256" {
		return false
	}
	want, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(header + "." + base64.RawURLEncoding.EncodeToString([]byte(content))))
	return hmac.Equal(mac.Sum(nil), want)
}

// token is the configured bootstrap token ("" when none).
func (e *Env) token() string {
	if e.Spec != nil {
		return e.Spec.Token.Reveal()
	}
	return e.cfg().Token.Reveal()
}

// credentials are what cluster reads are made with: a joined node's own
// kubelet.conf; before the join the bootstrap token, but only to a server
// whose CA matched the pin (or when the pin is skipped on purpose). why says
// why there are none.
func (e *Env) credentials(ctx context.Context) (cr *kubeconfig.Credentials, why string) {
	if e.joined() {
		cr, err := kubeconfig.Load(e.FS, hoststate.KubeletConf)
		if err != nil {
			return nil, err.Error()
		}
		cr.Who = "the node's " + hoststate.KubeletConf
		return cr, ""
	}
	tok := e.token()
	if tok == "" {
		return nil, "the node is not joined and no bootstrap token is configured"
	}
	ci := e.readClusterInfo(ctx)
	if ci.err != nil || ci.status != http.StatusOK {
		return nil, "cluster-info is not readable, so the API server's CA is unknown"
	}
	c := e.cfg()
	ep, _ := e.endpoint()
	cr, err := kubeapi.BootstrapCredentials(ep, &kubeapi.ClusterInfo{CAs: ci.cas}, tok, c.CACertHashes, c.UnsafeSkipCAVerification)
	if err != nil {
		return nil, "the served CA does not match caCertHashes, so the bootstrap token is not sent"
	}
	return cr, ""
}

// Node is the part of a Node object status and doctor show.
type Node struct {
	Metadata struct {
		Name              string            `json:"name"`
		Labels            map[string]string `json:"labels"`
		CreationTimestamp time.Time         `json:"creationTimestamp"`
	} `json:"metadata"`
	Spec struct {
		ProviderID    string          `json:"providerID"`
		Taints        []kubelet.Taint `json:"taints"`
		Unschedulable bool            `json:"unschedulable"`
	} `json:"spec"`
	Status struct {
		Conditions []struct {
			Type    string `json:"type"`
			Status  string `json:"status"`
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"conditions"`
		NodeInfo struct {
			KubeletVersion          string `json:"kubeletVersion"`
			ContainerRuntimeVersion string `json:"containerRuntimeVersion"`
		} `json:"nodeInfo"`
	} `json:"status"`
}

// Ready returns the Ready condition: "True", "False", "Unknown" or "" (none).
func (n *Node) Ready() (status, reason, message string) {
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status, c.Reason, c.Message
		}
	}
	return "", "", ""
}

// NodeFetch is this node as the API server sees it.
type NodeFetch struct {
	Name   string
	Who    string // the credentials used
	Status int    // HTTP status; 0 when no request was made
	Node   *Node  // when Status is 200
	Err    error
	Why    string // why no request was made
}

type nodeFetch = NodeFetch

// FetchNode GETs /api/v1/nodes/<name> with the credentials the node has.
func FetchNode(ctx context.Context, e *Env) *NodeFetch {
	if e.nodeFetch != nil {
		return e.nodeFetch
	}
	nf := &NodeFetch{Name: e.nodeName()}
	e.nodeFetch = nf
	if nf.Name == "" {
		nf.Why = "no node name"
		return nf
	}
	cr, why := e.credentials(ctx)
	if cr == nil {
		nf.Why = why
		return nf
	}
	nf.Who = cr.Who
	var n Node
	nf.Status, _, nf.Err = e.get(ctx, cr, false, "/api/v1/nodes/"+url.PathEscape(nf.Name), &n)
	if nf.Err == nil && nf.Status == http.StatusOK {
		nf.Node = &n
	}
	return nf
}
