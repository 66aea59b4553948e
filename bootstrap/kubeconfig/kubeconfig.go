// Package kubeconfig reads the credentials of a kubeconfig (kubelet.conf,
// bootstrap-kubelet.conf) through the file seam: enough to call the API
// server with net/http, and to tell whether a node is joined.
package kubeconfig

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"path"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
)

// Credentials are what an API request is made with.
type Credentials struct {
	Server string // https://host:port
	CA     []*x509.Certificate
	Cert   *tls.Certificate
	Bearer string // never printed
	Who    string // for messages: "the node's kubelet.conf", "the bootstrap token", ...
}

// Config is the part of a kubeconfig hybridnode reads.
type Config struct {
	CurrentContext string `json:"current-context"`
	Clusters       []struct {
		Name    string `json:"name"`
		Cluster struct {
			Server string `json:"server"`
			CAData []byte `json:"certificate-authority-data"`
			CAFile string `json:"certificate-authority"`
		} `json:"cluster"`
	} `json:"clusters"`
	Contexts []struct {
		Name    string `json:"name"`
		Context struct {
			Cluster string `json:"cluster"`
			User    string `json:"user"`
		} `json:"context"`
	} `json:"contexts"`
	Users []struct {
		Name string `json:"name"`
		User struct {
			CertData []byte `json:"client-certificate-data"`
			CertFile string `json:"client-certificate"`
			KeyData  []byte `json:"client-key-data"`
			KeyFile  string `json:"client-key"`
			Token    string `json:"token"`
		} `json:"user"`
	} `json:"users"`
}

// Parse parses a kubeconfig.
func Parse(data []byte) (*Config, error) {
	var kc Config
	if err := yaml.Unmarshal(data, &kc); err != nil {
		return nil, fmt.Errorf("not a kubeconfig: %w", err)
	}
	return &kc, nil
}

// Load reads a kubeconfig and the files it names through the file
// seam (relative names are relative to the kubeconfig's directory).
func Load(f hostfs.FS, p string) (*Credentials, error) {
	data, err := f.ReadFile(p)
	if err != nil {
		return nil, err
	}
	kc, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	clusterName, userName := "", ""
	for _, c := range kc.Contexts {
		if c.Name == kc.CurrentContext || kc.CurrentContext == "" {
			clusterName, userName = c.Context.Cluster, c.Context.User
			break
		}
	}
	read := func(file string, inline []byte) ([]byte, error) {
		if len(inline) > 0 || file == "" {
			return inline, nil
		}
		if !strings.HasPrefix(file, "/") {
			file = path.Join(path.Dir(p), file)
		}
		return f.ReadFile(file)
	}
	cr := &Credentials{Who: p}
	for i, c := range kc.Clusters {
		if c.Name != clusterName && !(clusterName == "" && i == 0) {
			continue
		}
		cr.Server = c.Cluster.Server
		ca, err := read(c.Cluster.CAFile, c.Cluster.CAData)
		if err != nil {
			return nil, fmt.Errorf("%s: CA: %w", p, err)
		}
		if cr.CA, err = ParseCerts(ca); err != nil {
			return nil, fmt.Errorf("%s: CA: %w", p, err)
		}
		break
	}
	if cr.Server == "" {
		return nil, fmt.Errorf("%s names no cluster server", p)
	}
	for i, u := range kc.Users {
		if u.Name != userName && !(userName == "" && i == 0) {
			continue
		}
		cr.Bearer = u.User.Token
		certPEM, err := read(u.User.CertFile, u.User.CertData)
		if err != nil {
			return nil, fmt.Errorf("%s: client certificate: %w", p, err)
		}
		keyPEM, err := read(u.User.KeyFile, u.User.KeyData)
		if err != nil {
			return nil, fmt.Errorf("%s: client key: %w", p, err)
		}
		if len(keyPEM) == 0 {
			keyPEM = certPEM // kubelet-client-current.pem holds both
		}
		if len(certPEM) > 0 {
			cert, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				return nil, fmt.Errorf("%s: client certificate: %w", p, err)
			}
			cr.Cert = &cert
		}
		break
	}
	return cr, nil
}

// ParseCerts parses every CERTIFICATE block of PEM data.
func ParseCerts(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
