// Command fakeimds is a fake ECS instance metadata service for the e2e
// tests of credentialSource instance-identity: the meta-data items
// hybridnode reads, the instance identity document and its PKCS#7
// signature, and the security hardening mode's token.
//
//	fakeimds gen-ca DIR
//	    writes DIR/ca.crt and DIR/ca.key (PEM): a test signing certificate,
//	    standing in for Alibaba Cloud's (the token service is given ca.crt).
//	fakeimds serve --listen 127.0.0.1:PORT --ca-cert DIR/ca.crt --ca-key DIR/ca.key --nodes FILE [--require-token]
//	    serves the nodes of FILE (see Node in server.go), each chosen by the
//	    X-Fakeimds-Node header, else the client's source IP, else "?".
//
// The signature is made as Alibaba Cloud documents it ("Use instance
// identities", https://www.alibabacloud.com/help/en/ecs/user-guide/use-instance-identities,
// https://www.alibabacloud.com/help/doc-detail/67254.htm): PKCS#7 signed
// data, detached, base64, with the signing certificate and a signingTime
// attribute, over the document with "audience":"<audience>" appended as
// its last member (over the document alone when no audience is asked).
// This tool is for tests only; hybridnode itself never verifies (nor links
// a PKCS#7 library).
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
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

// genCA writes a self-signed ECDSA P-256 certificate and its key to dir,
// valid from 30 days before now (so that a stale signing time still falls
// in it) for 10 years.
func genCA(dir string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "fakeimds instance identity", Organization: []string{"hybridnode e2e"}},
		NotBefore:             now.Add(-30 * 24 * time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
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
