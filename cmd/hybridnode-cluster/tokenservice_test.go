package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/cluster"
	"github.com/hybridnode/hybridnode/bootstrap/cluster/clustertest"
	"github.com/hybridnode/hybridnode/bootstrap/identity"
)

// selfSigned writes a certificate and key as PEM files: the service's
// (ECDSA), or (signer true) an RSA one to pass as --identity-ca.
func selfSigned(t *testing.T, dir, name string, signer bool) (certFile, keyFile string) {
	t.Helper()
	var key crypto.Signer
	if signer {
		key, _ = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	write(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	write(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))
	return certFile, keyFile
}

func TestTokenServiceFlags(t *testing.T) {
	e := newEnv(t, clustertest.Healthy(t))
	crt, key := selfSigned(t, e.dir, "svc", false)
	ca, _ := selfSigned(t, e.dir, "ca", true)
	notPEM := filepath.Join(e.dir, "not.pem")
	write(t, notPEM, []byte("hello"))
	good := []string{"token-service", "--tls-cert", crt, "--tls-key", key, "--identity-ca", ca, "--audience", "prod", "--accounts", "123"}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"token-service"}, []string{"4 problems", "--tls-cert: want", "--tls-key: want", "--audience", "--accounts: want"}},
		{append(good, "--identity-ca", notPEM), []string{"--identity-ca: got", "no PEM CERTIFICATE block"}},
		{append(good, "--identity-ca", crt), []string{"--identity-ca: got", "signed with RSA"}},
		{append(good, "--audience", "prod:1"), []string{"--audience: got \"prod:1\"", "no ':'"}},
		{append(good, "--accounts", "12a"), []string{"--accounts: got \"12a\"", "digits only"}},
		{append(good, "--listen", "9443"), []string{"--listen: got \"9443\""}},
		{append(good, "--window", "0s", "--token-ttl", "-1m", "--rate", "0", "--client-burst", "0"), []string{"4 problems", "--window", "--token-ttl", "--rate", "--client-burst"}},
		{append(good, "--tls-key", "/nonexistent/key"), []string{"--tls-key: got \"/nonexistent/key\""}},
		{append(good, "--window", "soon"), []string{"--window"}},
	} {
		_, stderr, code := e.run(t, tc.args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d: %s", tc.args[len(good)-1:], code, exitUsage, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr lacks %q:\n%s", tc.args, w, stderr)
			}
		}
	}
	if len(e.c.Mutations()) != 0 {
		t.Error("changes on bad flags")
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTokenServiceRuns: the command serves on loopback, answers a
// malformed request with a refusal and the health path with ok, logs
// JSON, and exits 0 when its context ends (SIGTERM).
func TestTokenServiceRuns(t *testing.T) {
	c := clustertest.Healthy(t)
	dir := t.TempDir()
	crt, key := selfSigned(t, dir, "svc", false)
	ca, _ := selfSigned(t, dir, "ca", true)
	var out, errOut lockedBuffer
	a := newApp(&out, &errOut)
	a.newClient = func(string, string) (*cluster.Client, error) {
		return &cluster.Client{Core: c.Core(), Apps: c.Apps(), Rbac: c.Rbac(), Discovery: c.Discovery(), Admission: c.Admission(), Coordination: c.Coordination(), Certificates: c.Certificates(), Dynamic: c.Dynamic(), Host: clustertest.Endpoint}, nil
	}
	addr := make(chan net.Addr, 1)
	a.listening = func(ad net.Addr) { addr <- ad }
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, a, []string{"token-service", "--listen", "127.0.0.1:0", "--tls-cert", crt, "--tls-key", key, "--identity-ca", ca,
			"--audience", "prod", "--accounts", "123,456", "--regions", "cn-hangzhou"})
	}()
	var ad net.Addr
	select {
	case ad = <-addr:
	case code := <-done:
		t.Fatalf("exit %d: %s", code, errOut.String())
	case <-time.After(10 * time.Second):
		t.Fatal("not listening")
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := hc.Post("https://"+ad.String()+identity.ExchangePath, "application/json", strings.NewReader("{"))
	if err != nil {
		t.Fatal(err)
	}
	var ref identity.Refusal
	json.NewDecoder(resp.Body).Decode(&ref)
	resp.Body.Close()
	if resp.StatusCode != 400 || ref.Reason != identity.ReasonBadRequest {
		t.Errorf("malformed: %d %+v", resp.StatusCode, ref)
	}
	if resp, err := hc.Get("https://" + ad.String() + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("health: %v", err)
	} else {
		resp.Body.Close()
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d after the context ended: %s", code, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("did not stop")
	}
	logs := errOut.String()
	for _, w := range []string{`"msg":"token service listening"`, `"accounts":["123","456"]`, `"reason":"bad-request"`, `"msg":"token service stopped"`, `"identitySignerKeys":["sha256/`} {
		if !strings.Contains(logs, w) {
			t.Errorf("log lacks %s:\n%s", w, logs)
		}
	}
	if out.String() != "" {
		t.Errorf("stdout: %s", out.String())
	}
}

func TestSetupIdentityCommand(t *testing.T) {
	e := newEnv(t, clustertest.Broken(t))
	ca, _ := selfSigned(t, e.dir, "ca", true)
	_, stderr, code := e.run(t, e.setupArgs("--credentials", "identity")...)
	if code != exitUsage {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, w := range []string{"--accounts", "--token-service-image", "--token-service-address"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %s:\n%s", w, stderr)
		}
	}
	args := e.setupArgs("--credentials", "identity", "--identity-ca", ca, "--accounts", "1234567890123456", "--token-service-image", "registry.example.com/hn/hybridnode-cluster:v1",
		"--token-service-address", "10.0.0.21")
	out, stderr, code := e.run(t, args...)
	if code != 0 || stderr != "" || !strings.Contains(out, "created Deployment kube-system/hybridnode-token-service") || strings.Contains(out, "bootstrap token") {
		t.Fatalf("setup: exit %d\n%s%s", code, out, stderr)
	}
	script, err := os.ReadFile(filepath.Join(e.dir, "pool.sh"))
	if err != nil || !strings.Contains(string(script), "credentialSource: instance-identity") || strings.Contains(string(script), "\ntoken: ") {
		t.Errorf("script: %v\n%s", err, script)
	}
	if out, _, code := e.run(t, args...); code != 0 || out != "no changes\n" {
		t.Errorf("second setup: exit %d\n%s", code, out)
	}
	if out, _, code := e.run(t, "check"); code != exitCheckFailed || !strings.Contains(out, "FAIL  token-service") || !strings.Contains(out, "SKIP  node-pool-token") {
		t.Errorf("check: exit %d\n%s", code, out)
	}
	if _, stderr, code := e.run(t, "rotate", "--credentials", "identity"); code != exitUsage || !strings.Contains(stderr, "unknown flag: --credentials") {
		t.Errorf("rotate --credentials: exit %d %s", code, stderr)
	}
}
