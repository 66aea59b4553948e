package main

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
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

	"github.com/smallstep/pkcs7"
	"sigs.k8s.io/yaml"
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
//	stale:                  # chosen with the header X-Fakeimds-Node: stale
//	  region: cn-hangzhou
//	  instanceID: i-stale
//	  signingTimeOffset: -1h
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
	// SigningTimeOffset moves the signingTime attribute ("-1h": stale).
	SigningTimeOffset string `json:"signingTimeOffset"`
	// SignedAccount signs a document with this account instead of the one
	// served: the signature does not match the document.
	SignedAccount string `json:"signedAccount"`

	offset time.Duration
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

// withAudience is what is signed: the document with "audience" appended
// as its last member.
func withAudience(doc []byte, audience string) []byte {
	if audience == "" {
		return doc
	}
	a, _ := json.Marshal(audience)
	out := append([]byte{}, bytes.TrimSuffix(bytes.TrimSpace(doc), []byte("}"))...)
	return append(append(append(out, `,"audience":`...), a...), '}')
}

type signer struct {
	cert *x509.Certificate
	key  crypto.Signer
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
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key", keyFile)
	}
	return &signer{cert: cert, key: s}, nil
}

// sign makes the detached PKCS#7 signature of content, base64 encoded,
// with signingTime moved by offset.
func (s *signer) sign(content []byte, offset time.Duration) (string, error) {
	sd, err := pkcs7.NewSignedData(content)
	if err != nil {
		return "", err
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if err := sd.AddSigner(s.cert, s.key, pkcs7.SignerInfoConfig{}); err != nil {
		return "", err
	}
	if offset != 0 {
		if err := s.moveSigningTime(sd, time.Now().Add(offset)); err != nil {
			return "", err
		}
	}
	sd.Detach()
	der, err := sd.Finish()
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(der), nil
}

// moveSigningTime replaces the signingTime attribute (the library sets
// now) and signs the attributes again.
func (s *signer) moveSigningTime(sd *pkcs7.SignedData, t time.Time) error {
	si := &sd.GetSignedData().SignerInfos[0]
	tb, err := asn1.Marshal(t.UTC())
	if err != nil {
		return err
	}
	found := false
	for i := range si.AuthenticatedAttributes {
		if si.AuthenticatedAttributes[i].Type.Equal(pkcs7.OIDAttributeSigningTime) {
			si.AuthenticatedAttributes[i].Value.Bytes = tb
			found = true
		}
	}
	if !found {
		return errors.New("no signingTime attribute to move")
	}
	// The signature is over the DER SET OF the attributes: the SEQUENCE
	// encoding with the SET tag.
	attrs, err := asn1.Marshal(si.AuthenticatedAttributes)
	if err != nil {
		return err
	}
	attrs[0] = 0x31
	sum := sha256.Sum256(attrs)
	sig, err := s.key.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		return err
	}
	si.EncryptedDigest = sig
	return nil
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
		if n.SigningTimeOffset != "" {
			d, err := time.ParseDuration(n.SigningTimeOffset)
			if err != nil {
				return nil, fmt.Errorf("node %s: signingTimeOffset: %w", key, err)
			}
			n.offset = d
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
		sig, err := sg.sign(withAudience(n.document(account), r.URL.Query().Get("audience")), n.offset)
		if err != nil {
			return fail(http.StatusInternalServerError, err.Error())
		}
		w.Write([]byte(sig))
		return http.StatusOK
	}
	return fail(http.StatusNotFound, "not found")
}
