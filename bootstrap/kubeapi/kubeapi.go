// Package kubeapi is the node's minimal reader of the Kubernetes API, shared
// by the join and `hybridnode doctor`: GETs with plain net/http and
// encoding/json (client-go would add megabytes to a binary every bare boot
// downloads), kube-public/cluster-info read as kubeadm's token discovery
// reads it, the CA pin check that decides whether a bootstrap token may be
// sent, and the few objects a node reads. A bearer token goes into the
// Authorization header only; errors never carry it.
package kubeapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/doctor/report"
	"github.com/hybridnode/hybridnode/bootstrap/kubeconfig"
)

// DefaultTimeout bounds each request when Client.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// maxBody bounds an answer's body.
const maxBody = 8 << 20

// Client makes the requests. The zero value is usable: direct connections
// (never a proxy from the environment: kubelet, under systemd, does not see
// the shell's proxy variables either), DefaultTimeout per request.
type Client struct {
	// HTTPClient returns a client with that TLS configuration; nil: a
	// direct one bounded by Timeout.
	HTTPClient func(tc *tls.Config) *http.Client
	// Timeout bounds each request (DefaultTimeout when zero).
	Timeout time.Duration
	// UserAgent of the requests (default "hybridnode").
	UserAgent string
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

func (c *Client) httpClient(tc *tls.Config) *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient(tc)
	}
	t := c.timeout()
	return &http.Client{
		Timeout: t,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: t}).DialContext,
			TLSClientConfig:     tc,
			TLSHandshakeTimeout: t,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Get GETs path from cr.Server with cr's credentials; insecure skips the
// server's verification (only for public, unauthenticated data such as
// cluster-info, and never with a bearer token). It decodes a 200 answer
// into out (when not nil) and returns the status and headers of any answer.
func (c *Client) Get(ctx context.Context, cr *kubeconfig.Credentials, insecure bool, p string, out any) (int, http.Header, error) {
	u, err := url.Parse(cr.Server)
	if err != nil || u.Host == "" {
		return 0, http.Header{}, fmt.Errorf("bad server URL %q", cr.Server)
	}
	if insecure && cr.Bearer != "" {
		return 0, http.Header{}, errors.New("refusing to send a bearer token to an unverified server")
	}
	tc := &tls.Config{InsecureSkipVerify: insecure, ServerName: u.Hostname()}
	if !insecure {
		pool := x509.NewCertPool()
		for _, ca := range cr.CA {
			pool.AddCert(ca)
		}
		tc.RootCAs = pool
	}
	if cr.Cert != nil {
		tc.Certificates = []tls.Certificate{*cr.Cert}
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, strings.TrimRight(cr.Server, "/")+p, nil)
	if err != nil {
		return 0, http.Header{}, err
	}
	ua := c.UserAgent
	if ua == "" {
		ua = "hybridnode"
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", ua)
	if cr.Bearer != "" {
		req.Header.Set("Authorization", "Bearer "+cr.Bearer)
	}
	resp, err := c.httpClient(tc).Do(req)
	if err != nil {
		return 0, http.Header{}, Scrub(err, cr.Bearer)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.StatusCode, resp.Header, Scrub(err, cr.Bearer)
	}
	if resp.StatusCode != http.StatusOK || out == nil {
		return resp.StatusCode, resp.Header, nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return resp.StatusCode, resp.Header, fmt.Errorf("GET %s: %w", p, err)
	}
	return resp.StatusCode, resp.Header, nil
}

// Scrub replaces secret in err's text with [REDACTED].
func Scrub(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "[REDACTED]"))
}

// ConfigMap is the part of a ConfigMap read here.
type ConfigMap struct {
	Data map[string]string `json:"data"`
}

// configMapKey GETs the ConfigMap at p (name is its namespace/name, for
// errors) with cr: the status of any answer and, on a 200, data[key], an
// error when the ConfigMap has no such key.
func (c *Client) configMapKey(ctx context.Context, cr *kubeconfig.Credentials, p, name, key string) (int, string, error) {
	var cm ConfigMap
	status, _, err := c.Get(ctx, cr, false, p, &cm)
	if err != nil || status != http.StatusOK {
		return status, "", err
	}
	v, ok := cm.Data[key]
	if !ok {
		return status, "", fmt.Errorf("%s has no %s", name, key)
	}
	return status, v, nil
}

// ClusterInfoPath is kube-public/cluster-info.
const ClusterInfoPath = "/api/v1/namespaces/kube-public/configmaps/cluster-info"

// ClusterInfo is kube-public/cluster-info as kubeadm's token discovery
// reads it: anonymously and unverified, since the CA inside is what gets
// checked, against the pins.
type ClusterInfo struct {
	Status     int // HTTP status; 0 when no answer came
	Data       map[string]string
	Kubeconfig string
	CAs        []*x509.Certificate
}

// ReadClusterInfo GETs cluster-info from https://endpoint and parses the CA
// certificates of its kubeconfig. A non-200 answer is an error naming the
// status, with ci.Status set.
func (c *Client) ReadClusterInfo(ctx context.Context, endpoint string) (*ClusterInfo, error) {
	ci := &ClusterInfo{}
	var cm ConfigMap
	var err error
	ci.Status, _, err = c.Get(ctx, &kubeconfig.Credentials{Server: "https://" + endpoint}, true, ClusterInfoPath, &cm)
	if err != nil {
		return ci, err
	}
	if ci.Status != http.StatusOK {
		return ci, fmt.Errorf("GET %s: HTTP %d", ClusterInfoPath, ci.Status)
	}
	ci.Data = cm.Data
	ci.Kubeconfig = cm.Data["kubeconfig"]
	kc, err := kubeconfig.Parse([]byte(ci.Kubeconfig))
	if err != nil || len(kc.Clusters) == 0 {
		return ci, errors.New("cluster-info holds no kubeconfig with a cluster")
	}
	if ci.CAs, err = kubeconfig.ParseCerts(kc.Clusters[0].Cluster.CAData); err != nil {
		return ci, fmt.Errorf("cluster-info's CA: %w", err)
	}
	if len(ci.CAs) == 0 {
		return ci, errors.New("cluster-info's kubeconfig holds no CA certificate")
	}
	return ci, nil
}

// PinMatches returns the first CA that matches one of kubeadm's pins
// (sha256:<hex> of the certificate's SubjectPublicKeyInfo).
func PinMatches(cas []*x509.Certificate, pins []string) (*x509.Certificate, bool) {
	for _, ca := range cas {
		for _, p := range pins {
			if strings.EqualFold(report.Pin(ca), p) {
				return ca, true
			}
		}
	}
	return nil, false
}

// ErrCAMismatch: no CA of cluster-info matches the pins, so the token is not sent.
var ErrCAMismatch = errors.New("the cluster CA in cluster-info matches none of caCertHashes, so the bootstrap token is not sent")

// BootstrapCredentials are the credentials of a read with a bootstrap token
// before the join, as kubeadm trusts the server: the CA of cluster-info that
// matches a pin, or, with no pins and skipCA (unsafeSkipCAVerification),
// every CA cluster-info serves. Otherwise ErrCAMismatch: the token goes to
// no server whose CA is not the pinned one.
func BootstrapCredentials(endpoint string, ci *ClusterInfo, token string, pins []string, skipCA bool) (*kubeconfig.Credentials, error) {
	if ca, ok := PinMatches(ci.CAs, pins); ok {
		return &kubeconfig.Credentials{Server: "https://" + endpoint, CA: []*x509.Certificate{ca}, Bearer: token, Who: "the bootstrap token"}, nil
	}
	if len(pins) == 0 && skipCA && len(ci.CAs) > 0 {
		return &kubeconfig.Credentials{Server: "https://" + endpoint, CA: ci.CAs, Bearer: token, Who: "the bootstrap token (CA not pinned)"}, nil
	}
	return nil, ErrCAMismatch
}
