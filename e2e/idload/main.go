// Command idload is the e2e's crowd of ECS instances for the token
// service: each instance exchanges its own signed identity (a request body
// fakeimds signed, as a node would send it) for a bootstrap token, then,
// with that token, asks for a kubelet client certificate as kubelet's TLS
// bootstrap does (a CSR of O=system:nodes, CN=system:node:<name>, signer
// kubernetes.io/kube-apiserver-client-kubelet), and waits for the
// decision. All instances at once.
//
//	idload --service URL[,URL...] --pin sha256:HEX --api https://HOST:PORT --ca FILE [--as NAME] [--timeout 60s] BODY...
//
// Each BODY is one instance's exchange request (JSON). The CSR asks for the
// request's nodeName, or for --as NAME (an attack: another node's name).
// One line per instance on stdout:
//
//	<body> <exchange status> <CSR decision: Approved, Denied, none> <reason> <CN asked> <seconds from exchange to decision>
//
// and on stderr the p50/p99/max of those seconds. The token is kept in
// memory only and never printed. Test tool: it talks to loopback and the
// e2e's network namespace only.
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/hybridnode/hybridnode/bootstrap/identity"
)

type result struct {
	body, decision, reason, cn string
	status                     int
	secs                       float64
}

func main() {
	services := flag.String("service", "", "token service base URLs, comma-separated (instances are spread over them)")
	pin := flag.String("pin", "", "sha256:<hex> of the service certificate's public key")
	api := flag.String("api", "", "the API server, https://host:port")
	caFile := flag.String("ca", "", "the cluster CA (PEM)")
	as := flag.String("as", "", "ask for this node name instead of the request's (an attack)")
	tokenFile := flag.String("token-file", "", "no exchange: use this file's bootstrap token (a node pool's), and each argument is a node name to ask for")
	timeout := flag.Duration("timeout", 60*time.Second, "how long to wait for each decision")
	flag.Parse()
	if *services == "" || *pin == "" || *api == "" || *caFile == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: idload --service URL[,URL] --pin sha256:HEX --api https://HOST:PORT --ca FILE [--as NAME] BODY...")
		os.Exit(2)
	}
	ca, err := os.ReadFile(*caFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "idload:", err)
		os.Exit(2)
	}
	urls := strings.Split(*services, ",")
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // the service's certificate is self-signed and pinned
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			c, err := x509.ParseCertificate(raw[0])
			if err != nil {
				return err
			}
			sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
			if got := "sha256:" + hex.EncodeToString(sum[:]); got != *pin {
				return fmt.Errorf("the service's key is %s, not the pinned %s", got, *pin)
			}
			return nil
		}}}}
	var pool string
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "idload:", err)
			os.Exit(2)
		}
		pool = strings.TrimSpace(string(b))
	}
	results := make([]result, flag.NArg())
	var wg sync.WaitGroup
	for i, f := range flag.Args() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if pool != "" {
				r := result{body: f, decision: "none", cn: f, status: http.StatusOK}
				results[i] = certify(r, time.Now(), *api, ca, pool, *timeout)
				return
			}
			results[i] = one(hc, urls[i%len(urls)], *api, ca, f, *as, *timeout)
		}()
	}
	wg.Wait()
	var secs []float64
	for _, r := range results {
		fmt.Printf("%s %d %s %s %s %.3f\n", r.body, r.status, r.decision, orDash(r.reason), r.cn, r.secs)
		if r.decision != "none" {
			secs = append(secs, r.secs)
		}
	}
	sort.Float64s(secs)
	if n := len(secs); n > 0 {
		fmt.Fprintf(os.Stderr, "idload: %d decisions: p50 %.2fs, p99 %.2fs, max %.2fs\n", n, secs[n/2], secs[min(n-1, n*99/100)], secs[n-1])
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return strings.ReplaceAll(s, " ", "_")
}

// one instance: exchange, CSR, decision.
func one(hc *http.Client, service, api string, ca []byte, file, as string, timeout time.Duration) result {
	r := result{body: file, decision: "none"}
	start := time.Now()
	body, err := os.ReadFile(file)
	if err != nil {
		r.reason = err.Error()
		return r
	}
	var req identity.ExchangeRequest
	if err := json.Unmarshal(body, &req); err != nil {
		r.reason = "body: " + err.Error()
		return r
	}
	r.cn = req.NodeName
	if as != "" {
		r.cn = as
	}
	resp, err := hc.Post(service+identity.ExchangePath, "application/json", bytes.NewReader(body))
	if err != nil {
		r.reason = "exchange: " + err.Error()
		return r
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	r.status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		var ref identity.Refusal
		json.Unmarshal(raw, &ref)
		r.reason = string(ref.Reason)
		return r
	}
	var tok identity.ExchangeResponse
	if err := json.Unmarshal(raw, &tok); err != nil {
		r.reason = "answer: not JSON"
		return r
	}
	return certify(r, start, api, ca, tok.Token, timeout)
}

// certify asks for a kubelet client certificate for r.cn with the token
// and waits for the decision.
func certify(r result, start time.Time, api string, ca []byte, token string, timeout time.Duration) result {
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: api, BearerToken: token, QPS: 50, Burst: 100,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca}, Timeout: 20 * time.Second})
	if err != nil {
		r.reason = "client: " + err.Error()
		return r
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	csr, err := newCSR(r.cn)
	if err != nil {
		r.reason = err.Error()
		return r
	}
	// A token just created may not have reached the API server's token
	// cache yet: a 401 is tried again, as kubelet's bootstrap does.
	var made *certificatesv1.CertificateSigningRequest
	for {
		made, err = cs.CertificatesV1().CertificateSigningRequests().Create(ctx, csr, metav1.CreateOptions{})
		if err == nil || !apierrors.IsUnauthorized(err) || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		r.reason = "create CSR: " + firstLine(err)
		return r
	}
	// Watch it, as kubelet's TLS bootstrap does (k8s.io/client-go/util/
	// certificate/csr WaitForCertificate); a watch that ends early is
	// started again from a fresh read, until the timeout.
	csrs := cs.CertificatesV1().CertificateSigningRequests()
	rv := made.ResourceVersion
	for ctx.Err() == nil {
		w, err := csrs.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + made.Name, ResourceVersion: rv})
		if err == nil {
			for ev := range w.ResultChan() {
				cur, ok := ev.Object.(*certificatesv1.CertificateSigningRequest)
				if !ok {
					break
				}
				for _, c := range cur.Status.Conditions {
					w.Stop()
					r.decision, r.reason, r.secs = string(c.Type), c.Reason, time.Since(start).Seconds()
					return r
				}
				rv = cur.ResourceVersion
			}
			w.Stop()
		}
		cur, err := csrs.Get(ctx, made.Name, metav1.GetOptions{})
		if err == nil {
			for _, c := range cur.Status.Conditions {
				r.decision, r.reason, r.secs = string(c.Type), c.Reason, time.Since(start).Seconds()
				return r
			}
			rv = cur.ResourceVersion
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	r.reason, r.secs = "no decision within "+timeout.String(), time.Since(start).Seconds()
	return r
}

// newCSR is the CSR kubelet's TLS bootstrap makes for name.
func newCSR(name string) (*certificatesv1.CertificateSigningRequest, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "system:node:" + name, Organization: []string{"system:nodes"}}}, key)
	if err != nil {
		return nil, errors.New("CSR: " + err.Error())
	}
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "idload-"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		},
	}, nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
