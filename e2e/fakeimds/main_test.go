package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/identity"
	"github.com/hybridnode/hybridnode/bootstrap/metadata"
	"github.com/hybridnode/hybridnode/bootstrap/tokenservice"
)

// fixture: a CA, another CA, a nodes file and the server, in process on
// loopback, in hardening mode only.
type fixture struct {
	dir   string
	srv   *httptest.Server
	ca    *x509.Certificate
	other *x509.Certificate
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	if err := run([]string{"gen-ca", filepath.Join(dir, "ca")}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"gen-ca", filepath.Join(dir, "other")}, io.Discard); err != nil {
		t.Fatal(err)
	}
	nodes := `
"127.0.0.1":
  account: "1111111111"
  region: cn-hangzhou
  zone: cn-hangzhou-h
  instanceID: i-loop
  privateIP: 10.0.0.21
  vpcCIDR: 10.0.0.0/8
  mac: "00:16:3e:00:00:21"
otherca:
  account: "1111111111"
  region: cn-hangzhou
  instanceID: i-otherca
  signCert: ` + filepath.Join(dir, "other", "ca.crt") + `
  signKey: ` + filepath.Join(dir, "other", "ca.key") + `
mismatch:
  account: "1111111111"
  region: cn-hangzhou
  instanceID: i-mismatch
  signedAccount: "2222222222"
"?":
  account: "3333333333"
  region: cn-beijing
  instanceID: i-fallback
`
	nf := filepath.Join(dir, "nodes.yaml")
	if err := os.WriteFile(nf, []byte(nodes), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := newServer(filepath.Join(dir, "ca", "ca.crt"), filepath.Join(dir, "ca", "ca.key"), nf, true)
	if err != nil {
		t.Fatal(err)
	}
	s.log.SetOutput(io.Discard)
	f := &fixture{dir: dir, srv: httptest.NewServer(s)}
	t.Cleanup(f.srv.Close)
	f.ca = loadCert(t, filepath.Join(dir, "ca", "ca.crt"))
	f.other = loadCert(t, filepath.Join(dir, "other", "ca.crt"))
	return f
}

func loadCert(t *testing.T, p string) *x509.Certificate {
	t.Helper()
	sg, err := loadSigner(p, strings.TrimSuffix(p, ".crt")+".key")
	if err != nil {
		t.Fatal(err)
	}
	return sg.cert
}

// get asks with a hardening-mode token, as node (the header) when set.
func (f *fixture) get(t *testing.T, node, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, f.srv.URL+"/latest/api/token", nil)
	req.Header.Set(tokenTTLHeader, "60")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	req, _ = http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	req.Header.Set(tokenHeader, string(tok))
	if node != "" {
		req.Header.Set(nodeHeader, node)
	}
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// verify checks a signature of document for audience as the token
// service does, with ca as the one trusted signer.
func verify(t *testing.T, document, sig, audience string, ca *x509.Certificate) (tokenservice.Document, error) {
	t.Helper()
	v := tokenservice.Verifier{Signers: []*x509.Certificate{ca}, Audience: tokenservice.AnyAudience}
	d, _, err := v.Verify(document, sig, audience)
	return d, err
}

// TestNodeFetchesItsIdentity: the node's own Fetch, in hardening mode,
// gets a document and a signature that verify against the CA over the
// document with the audience appended; the node's metadata items match.
func TestNodeFetchesItsIdentity(t *testing.T) {
	f := newFixture(t)
	m := metadata.New(f.srv.URL)
	aud := identity.Audience("prod/cluster", time.Now())
	id, err := identity.Fetch(context.Background(), m, aud)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := identity.ParseDocument(id.Document)
	if err != nil || doc.AccountID != "1111111111" || doc.ProviderID() != "cn-hangzhou.i-loop" || doc.ZoneID != "cn-hangzhou-h" || doc.PrivateIP != "10.0.0.21" {
		t.Fatalf("document %s: %+v %v", id.Document, doc, err)
	}
	content := withAudience([]byte(id.Document), aud)
	var signed map[string]string
	if err := json.Unmarshal(content, &signed); err != nil || signed["audience"] != aud || signed["instance-id"] != "i-loop" || !strings.HasSuffix(string(content), `,"audience":"`+aud+`"}`) {
		t.Fatalf("signed content %s: %v", content, err)
	}
	if d, err := verify(t, id.Document, id.Signature, aud, f.ca); err != nil || d.InstanceID != "i-loop" || d.AccountID != "1111111111" {
		t.Fatalf("signature does not verify: %+v %v", d, err)
	}
	// As the token service would be given it, from the PEM gen-ca wrote.
	caPEM, err := os.ReadFile(filepath.Join(f.dir, "ca", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	signers, err := tokenservice.LoadSigners(caPEM)
	if err != nil {
		t.Fatalf("gen-ca's certificate is not a valid --identity-ca: %v", err)
	}
	if _, checks, err := tokenservice.VerifyIdentity(id.Document, id.Signature, aud, signers); err != nil {
		t.Errorf("VerifyIdentity: %v (%+v)", err, checks)
	}
	// Not Alibaba Cloud's: the built-in trust refuses it.
	var ve *tokenservice.VerifyError
	if _, _, err := tokenservice.VerifyIdentity(id.Document, id.Signature, aud, tokenservice.DefaultSigners()); !errors.As(err, &ve) || ve.Check != tokenservice.CheckSigner {
		t.Errorf("the built-in certificate accepts the fake's signature: %v", err)
	}
	if _, err := verify(t, id.Document, id.Signature, "prod/cluster:1", f.ca); err == nil {
		t.Error("the signature verifies for another audience")
	}
	values, err := metadata.Fill(context.Background(), m, []string{"providerID", "nodeName", "vpcCIDR"})
	if err != nil || values["providerID"] != "cn-hangzhou.i-loop" || values["nodeName"] != "cn-hangzhou.10.0.0.21" || values["vpcCIDR"] != "10.0.0.0/8" {
		t.Errorf("metadata items %v: %v", values, err)
	}
}

func TestRequireToken(t *testing.T) {
	f := newFixture(t)
	resp, err := http.Get(f.srv.URL + "/latest/dynamic/instance-identity/document")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a GET without a token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/latest/meta-data/region-id", nil)
	req.Header.Set(tokenHeader, "forged")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a forged token: %v %v", resp, err)
	}
	req, _ = http.NewRequest(http.MethodPut, f.srv.URL+"/latest/api/token", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a token without a TTL: %v %v", resp, err)
	}
}

// TestRefusalNodes: the per-node overrides make the signatures a token
// service must refuse.
func TestRefusalNodes(t *testing.T) {
	f := newFixture(t)
	const aud = "prod:1700000000"
	sig := func(node string) (doc, sig string) {
		t.Helper()
		code, doc := f.get(t, node, "/latest/dynamic/instance-identity/document")
		code2, s := f.get(t, node, "/latest/dynamic/instance-identity/pkcs7?audience="+aud)
		if code != 200 || code2 != 200 {
			t.Fatalf("%s: %d %d", node, code, code2)
		}
		return doc, s
	}

	refusedBy := func(err error) string {
		var ve *tokenservice.VerifyError
		if errors.As(err, &ve) {
			return ve.Check
		}
		return fmt.Sprint(err)
	}
	doc, s := sig("otherca")
	if _, err := verify(t, doc, s, aud, f.ca); refusedBy(err) != tokenservice.CheckSigner {
		t.Errorf("otherca: %v, want a refusal of the signer", err)
	}
	if _, err := verify(t, doc, s, aud, f.other); err != nil {
		t.Errorf("otherca: not signed by the other CA: %v", err)
	}
	doc, s = sig("mismatch")
	if _, err := verify(t, doc, s, aud, f.ca); refusedBy(err) != tokenservice.CheckContent {
		t.Errorf("mismatch: %v, want a refusal of the content (the signed document is not the served one)", err)
	}
	code, doc := f.get(t, "", "/latest/dynamic/instance-identity/document")
	if code != 200 || !strings.Contains(doc, `"instance-id":"i-loop"`) {
		t.Errorf("by source IP: %d %s", code, doc)
	}
	code, doc = f.get(t, "nosuch", "/latest/dynamic/instance-identity/document")
	if code != http.StatusNotFound {
		t.Errorf("an unknown node: %d %s", code, doc)
	}
}

func TestFallbackNode(t *testing.T) {
	nodes, err := parseNodes([]byte(`"?": {region: cn-beijing, instanceID: i-x}`))
	if err != nil || nodes["?"].Zone != "cn-beijing-a" {
		t.Fatalf("%v %v", nodes, err)
	}
	s := &server{nodes: nodes}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "10.9.9.9:1234"
	if key, n := s.node(req); key != "?" || n.InstanceID != "i-x" {
		t.Errorf("fallback: %s %v", key, n)
	}
	for _, bad := range []string{"", `a: {region: x}`, `a: {region: x, instanceID: i, signingTimeOffset: -1h}`, `a: {region: x, instanceID: i, bogus: 1}`} {
		if _, err := parseNodes([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
