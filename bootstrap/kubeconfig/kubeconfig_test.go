package kubeconfig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
)

// pair is a self-signed certificate and its key, PEM encoded.
func pair(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func TestLoad(t *testing.T) {
	ca, _ := pair(t, "kubernetes")
	cert, key := pair(t, "system:node:n1")
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	cases := []struct {
		name, conf string
		files      map[string][]byte
		wantErr    string
		wantCN     string
		bearer     string
	}{
		{name: "inline data", conf: "clusters:\n- name: c\n  cluster:\n    server: https://10.0.0.10:6443\n    certificate-authority-data: " + b64(ca) +
			"\nusers:\n- name: u\n  user:\n    client-certificate-data: " + b64(cert) + "\n    client-key-data: " + b64(key) + "\n", wantCN: "system:node:n1"},
		{name: "kubelet's one-file pem, relative to the kubeconfig", conf: "clusters:\n- cluster:\n    server: https://10.0.0.10:6443\nusers:\n- user:\n    client-certificate: pki/current.pem\n    client-key: pki/current.pem\n",
			files: map[string][]byte{"/etc/kubernetes/pki/current.pem": append(append([]byte{}, cert...), key...)}, wantCN: "system:node:n1"},
		{name: "bootstrap token", conf: "clusters:\n- cluster:\n    server: https://10.0.0.10:6443\nusers:\n- user:\n    token: abcdef.0123456789abcdef\n", bearer: "abcdef.0123456789abcdef"},
		{name: "certificate file gone", conf: "clusters:\n- cluster:\n    server: https://10.0.0.10:6443\nusers:\n- user:\n    client-certificate: /var/lib/kubelet/pki/gone.pem\n", wantErr: "client certificate"},
		{name: "no server", conf: "clusters:\n- cluster: {}\n", wantErr: "names no cluster server"},
		{name: "not YAML", conf: "clusters: [", wantErr: "not a kubeconfig"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			files := map[string][]byte{"/etc/kubernetes/kubelet.conf": []byte(c.conf)}
			for p, d := range c.files {
				files[p] = d
			}
			for p, d := range files {
				os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
				os.WriteFile(filepath.Join(root, p), d, 0o600)
			}
			f, err := hostfs.New(root)
			if err != nil {
				t.Fatal(err)
			}
			cr, err := Load(f, "/etc/kubernetes/kubelet.conf")
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cr.Server != "https://10.0.0.10:6443" || cr.Bearer != c.bearer {
				t.Errorf("server %q bearer %q", cr.Server, cr.Bearer)
			}
			if c.wantCN != "" && (cr.Cert == nil || cr.Cert.Leaf == nil || cr.Cert.Leaf.Subject.CommonName != c.wantCN) {
				t.Errorf("client certificate: %+v", cr.Cert)
			}
		})
	}
}
