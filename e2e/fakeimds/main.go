// Command fakeimds is a fake ECS instance metadata service for the e2e
// tests of credentialSource instance-identity: the meta-data items
// hybridnode reads, the instance identity document and its PKCS#7
// signature, and the security hardening mode's token.
//
//	fakeimds gen-ca DIR
//	    writes DIR/ca.crt and DIR/ca.key (PEM): a test signing certificate,
//	    standing in for Alibaba Cloud's (the token service is given ca.crt
//	    as --identity-ca).
//	fakeimds serve --listen 127.0.0.1:PORT --ca-cert DIR/ca.crt --ca-key DIR/ca.key --nodes FILE [--require-token]
//	    serves the nodes of FILE (see Node in server.go), each chosen by the
//	    X-Fakeimds-Node header, else the client's source IP, else "?".
//
// The signature is made as the ECS metadata service makes it ("Use
// instance identities", https://www.alibabacloud.com/help/en/ecs/user-guide/use-instance-identities;
// bootstrap/tokenservice/testdata/ecs-real holds a real one): DER PKCS#7
// signedData, base64, SHA-1, RSA PKCS#1 v1.5, the content attached, no
// certificates, no signed attributes (so no signingTime), over the document
// with ,"audience":"<audience>" appended inside its closing brace, as it is
// (over the document alone when no audience is asked). The signing
// certificate is shaped like Alibaba Cloud's: self-signed RSA-2048, no
// BasicConstraints, subject fields "Unknown". This tool is for tests only;
// hybridnode's node binary never verifies (nor links a PKCS#7 parser).
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fakeimds:", err)
		os.Exit(2)
	}
}

func run(args []string, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: fakeimds gen-ca DIR | fakeimds serve --listen ADDR --ca-cert FILE --ca-key FILE --nodes FILE [--require-token]")
	}
	switch args[0] {
	case "gen-ca":
		if len(args) != 2 {
			return errors.New("usage: fakeimds gen-ca DIR")
		}
		return genCA(args[1], time.Now())
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(stderr)
		listen := fs.String("listen", "127.0.0.1:8100", "address to listen on")
		caCert := fs.String("ca-cert", "", "PEM certificate that signs (from gen-ca)")
		caKey := fs.String("ca-key", "", "its PEM private key")
		nodes := fs.String("nodes", "", "YAML file: node key (source IP, a name for the X-Fakeimds-Node header, or ?) -> node")
		requireToken := fs.Bool("require-token", false, "security hardening mode only: every GET needs the token from PUT /latest/api/token")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *caCert == "" || *caKey == "" || *nodes == "" {
			return errors.New("serve needs --ca-cert, --ca-key and --nodes")
		}
		s, err := newServer(*caCert, *caKey, *nodes, *requireToken)
		if err != nil {
			return err
		}
		s.log = log.New(stderr, "fakeimds: ", log.LstdFlags)
		s.log.Printf("serving %d node(s) on %s (require token: %v)", len(s.nodes), *listen, *requireToken)
		srv := &http.Server{Addr: *listen, Handler: s, ReadHeaderTimeout: 5 * time.Second}
		return srv.ListenAndServe()
	}
	return fmt.Errorf("unknown command %q: gen-ca or serve", args[0])
}

// genCA writes a self-signed RSA-2048 certificate and its key to dir,
// shaped like Alibaba Cloud's instance identity certificate: every subject
// field "Unknown" but the common name, which says what it is; no
// BasicConstraints (it is a signer, not a CA); a subject key identifier; a
// 31-bit serial. Valid from a day before now for 10 years.
func genCA(dir string, now time.Time) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<30))
	if err != nil {
		return err
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	var pub struct {
		Algorithm pkix.AlgorithmIdentifier
		Key       asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &pub); err != nil {
		return err
	}
	ski := sha1.Sum(pub.Key.Bytes)
	u := []string{"Unknown"}
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1<<30)),
		Subject: pkix.Name{Country: u, Province: u, Locality: u, Organization: u, OrganizationalUnit: u,
			CommonName: "fakeimds instance identity (test)"},
		NotBefore:    now.Add(-24 * time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		SubjectKeyId: ski[:],
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "ca.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
}
