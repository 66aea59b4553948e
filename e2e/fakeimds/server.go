package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/hybridnode/hybridnode/bootstrap/tokenservice/ecstest"
)

// Node is one instance in the --nodes file. Only instanceID and region are
// required. The last fields make refusals for the token service's tests.
//
//	"10.0.0.21":            # the node's source IP ("?": any other)
//	  account: "1234567890"
//	  region: cn-hangzhou
//	  zone: cn-hangzhou-h
//	  instanceID: i-node21
//	  privateIP: 10.0.0.21
//	  vpcCIDR: 10.0.0.0/8
//	otherca:                # chosen with the header X-Fakeimds-Node: otherca
//	  region: cn-hangzhou
//	  instanceID: i-otherca
//	  signCert: other/ca.crt
//	  signKey: other/ca.key
type Node struct {
	Account      string `json:"account"`
	Region       string `json:"region"`
	Zone         string `json:"zone"`
	InstanceID   string `json:"instanceID"`
	PrivateIP    string `json:"privateIP"`
	VPCCIDR      string `json:"vpcCIDR"`
	InstanceType string `json:"instanceType"`
	ImageID      string `json:"imageID"`
	MAC          string `json:"mac"`
	SerialNumber string `json:"serialNumber"`

	// SignCert and SignKey sign with another certificate (PEM files, as
	// gen-ca writes them): a signature the token service must refuse.
	SignCert string `json:"signCert"`
	SignKey  string `json:"signKey"`
	// SignedAccount signs a document with this account instead of the one
	// served: the signature does not match the document.
	SignedAccount string `json:"signedAccount"`

	signer *signer
}

// document is the identity document, its members in Alibaba Cloud's order.
type document struct {
	Account      string `json:"owner-account-id"`
	InstanceID   string `json:"instance-id"`
	MAC          string `json:"mac"`
	Region       string `json:"region-id"`
	SerialNumber string `json:"serial-number"`
	Zone         string `json:"zone-id"`
	InstanceType string `json:"instance-type"`
	ImageID      string `json:"image-id"`
	PrivateIP    string `json:"private-ipv4"`
}

func (n *Node) document(account string) []byte {
	b, _ := json.Marshal(document{Account: account, InstanceID: n.InstanceID, MAC: n.MAC, Region: n.Region,
		SerialNumber: n.SerialNumber, Zone: n.Zone, InstanceType: n.InstanceType, ImageID: n.ImageID, PrivateIP: n.PrivateIP})
	return b
}

// withAudience is what is signed: the document up to its last '}', then
// ,"audience":"<audience>"} with the audience as it is, unescaped, as the
// metadata service does and as the token service rebuilds it (the
// audiences hybridnode asks for need no escaping). Without an audience,
// the document alone.
func withAudience(doc []byte, audience string) []byte {
	if audience == "" {
		return doc
	}
	i := bytes.LastIndexByte(doc, '}')
	if i < 0 {
		return doc
	}
	out := append([]byte{}, doc[:i]...)
	return append(append(append(out, `,"audience":"`...), audience...), `"}`...)
}

type signer struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

func loadSigner(certFile, keyFile string) (*signer, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	cblock, _ := pem.Decode(cb)
	kblock, _ := pem.Decode(kb)
	if cblock == nil || kblock == nil {
		return nil, fmt.Errorf("%s or %s is not PEM", certFile, keyFile)
	}
	cert, err := x509.ParseCertificate(cblock.Bytes)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(kblock.Bytes)
	if err != nil {
		return nil, err
	}
	k, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an RSA key (ECS signs with RSA; gen-ca makes one)", keyFile)
	}
	return &signer{cert: cert, key: k}, nil
}

// sign makes the PKCS#7 signature of content, base64 encoded, in the
// shape of the ECS metadata service's (bootstrap/tokenservice/ecstest:
// SHA-1, RSA, the content attached, no certificates, no signed
// attributes).
func (s *signer) sign(content []byte) (string, error) {
	der, err := ecstest.Sign(s.cert, s.key, content, ecstest.Options{})
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(der), nil
}

// server is the fake metadata service.
type server struct {
	nodes        map[string]*Node
	signer       *signer
	requireToken bool
	log          *log.Logger

	mu     sync.Mutex
	tokens map[string]time.Time // hardening-mode token -> expiry
}

// The hardening mode's headers.
const (
	tokenHeader    = "X-aliyun-ecs-metadata-token"
	tokenTTLHeader = "X-aliyun-ecs-metadata-token-ttl-seconds"
	nodeHeader     = "X-Fakeimds-Node"
)

func newServer(caCert, caKey, nodesFile string, requireToken bool) (*server, error) {
	sg, err := loadSigner(caCert, caKey)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(nodesFile)
	if err != nil {
		return nil, err
	}
	nodes, err := parseNodes(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nodesFile, err)
	}
	for key, n := range nodes {
		if n.SignCert != "" || n.SignKey != "" {
			if n.signer, err = loadSigner(n.SignCert, n.SignKey); err != nil {
				return nil, fmt.Errorf("%s: node %s: %w", nodesFile, key, err)
			}
		}
	}
	return &server{nodes: nodes, signer: sg, requireToken: requireToken, tokens: map[string]time.Time{},
		log: log.New(os.Stderr, "fakeimds: ", log.LstdFlags)}, nil
}

func parseNodes(data []byte) (map[string]*Node, error) {
	var nodes map[string]*Node
	if err := yaml.UnmarshalStrict(data, &nodes); err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, errors.New("no nodes")
	}
	for key, n := range nodes {
		if n == nil || n.InstanceID == "" || n.Region == "" {
			return nil, fmt.Errorf("node %s: instanceID and region are required", key)
		}
		if n.Zone == "" {
			n.Zone = n.Region + "-a"
		}
	}
	return nodes, nil
}

// node picks the node of a request: the header, the source IP, "?".
func (s *server) node(r *http.Request) (string, *Node) {
	if k := r.Header.Get(nodeHeader); k != "" {
		return k, s.nodes[k]
	}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	if n, ok := s.nodes[ip]; ok {
		return ip, n
	}
	return "?", s.nodes["?"]
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, n := s.node(r)
	status := s.serve(w, r, n)
	s.log.Printf("%s %s node %s: %d", r.Method, r.URL.Path, key, status)
}

func (s *server) serve(w http.ResponseWriter, r *http.Request, n *Node) int {
	fail := func(code int, msg string) int {
		http.Error(w, msg, code)
		return code
	}
	if r.URL.Path == "/latest/api/token" {
		if r.Method != http.MethodPut {
			return fail(http.StatusMethodNotAllowed, "PUT only")
		}
		if r.Header.Get("X-Forwarded-For") != "" {
			return fail(http.StatusForbidden, "no forwarded requests")
		}
		ttl, err := strconv.Atoi(r.Header.Get(tokenTTLHeader))
		if err != nil || ttl < 1 || ttl > 21600 {
			return fail(http.StatusBadRequest, tokenTTLHeader+" must be 1 to 21600")
		}
		b := make([]byte, 16)
		rand.Read(b)
		tok := hex.EncodeToString(b)
		s.mu.Lock()
		s.tokens[tok] = time.Now().Add(time.Duration(ttl) * time.Second)
		s.mu.Unlock()
		w.Write([]byte(tok))
		return http.StatusOK
	}
	if r.Method != http.MethodGet {
		return fail(http.StatusMethodNotAllowed, "GET only")
	}
	if tok := r.Header.Get(tokenHeader); tok != "" {
		s.mu.Lock()
		exp, ok := s.tokens[tok]
		s.mu.Unlock()
		if !ok || time.Now().After(exp) {
			return fail(http.StatusUnauthorized, "invalid or expired metadata token")
		}
	} else if s.requireToken {
		return fail(http.StatusUnauthorized, "security hardening mode: a metadata token is required")
	}
	if n == nil {
		return fail(http.StatusNotFound, "no such node")
	}
	if item, ok := strings.CutPrefix(r.URL.Path, "/latest/meta-data/"); ok {
		v := map[string]string{
			"region-id": n.Region, "zone-id": n.Zone, "instance-id": n.InstanceID, "private-ipv4": n.PrivateIP,
			"vpc-cidr-block": n.VPCCIDR, "owner-account-id": n.Account, "instance/instance-type": n.InstanceType,
			"image-id": n.ImageID, "mac": n.MAC, "serial-number": n.SerialNumber,
		}[item]
		if v == "" {
			return fail(http.StatusNotFound, "no such item")
		}
		w.Write([]byte(v))
		return http.StatusOK
	}
	switch r.URL.Path {
	case "/latest/dynamic/instance-identity/document":
		w.Write(n.document(n.Account))
		return http.StatusOK
	case "/latest/dynamic/instance-identity/pkcs7":
		account := n.Account
		if n.SignedAccount != "" {
			account = n.SignedAccount
		}
		sg := s.signer
		if n.signer != nil {
			sg = n.signer
		}
		sig, err := sg.sign(withAudience(n.document(account), r.URL.Query().Get("audience")))
		if err != nil {
			return fail(http.StatusInternalServerError, err.Error())
		}
		w.Write([]byte(sig))
		return http.StatusOK
	}
	return fail(http.StatusNotFound, "not found")
}
