package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap/cluster/clustertest"
	"github.com/hybridnode/hybridnode/bootstrap/tokenservice"
)

// The real ECS sample (see its README.md).
var (
	realDir       = filepath.Join("..", "..", "bootstrap", "tokenservice", "testdata", "ecs-real")
	realDocument  = filepath.Join(realDir, "document.json")
	realSignature = filepath.Join(realDir, "signature.b64")
)

// identityEnv: identity verify needs no cluster; a kubeconfig that does
// not load shows it never asks for one.
func identityEnv(t *testing.T) *env {
	e := newEnv(t, clustertest.Healthy(t))
	e.clientErr = errors.New("no kubeconfig here")
	return e
}

func TestIdentityVerifyRealSample(t *testing.T) {
	e := identityEnv(t)
	out, stderr, code := e.run(t, "identity", "verify", "--document", realDocument, "--signature", realSignature, "--audience", "abc")
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	for _, name := range tokenservice.VerifyCheckNames() {
		if !strings.Contains(out, "PASS  "+name) {
			t.Errorf("no PASS for %s:\n%s", name, out)
		}
	}
	for _, w := range []string{"Alibaba Cloud's instance identity certificate, built in", "sha256/" + tokenservice.DefaultIdentitySPKISHA256,
		"instance-id       i-8vb9b97xf7msxi4k6tgx", "owner-account-id  1900050632443592", "region-id         cn-zhangjiakou",
		"zone-id           cn-zhangjiakou-c", "private-ipv4      11.160.137.194", "verified:"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	// The signature as DER (base64 -d of the metadata service's answer).
	b64, _ := os.ReadFile(realSignature)
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b64)))
	if err != nil {
		t.Fatal(err)
	}
	derFile := filepath.Join(e.dir, "sig.der")
	write(t, derFile, der)
	if out, stderr, code := e.run(t, "identity", "verify", "--document", realDocument, "--signature", derFile, "--audience", "abc"); code != exitOK {
		t.Errorf("DER: exit %d\n%s%s", code, out, stderr)
	}
}

func TestIdentityVerifyRefused(t *testing.T) {
	e := identityEnv(t)
	doc, err := os.ReadFile(realDocument)
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(e.dir, "tampered.json")
	write(t, tampered, []byte(strings.Replace(string(doc), "1900050632443592", "1900050632443593", 1)))
	out, stderr, code := e.run(t, "identity", "verify", "--document", tampered, "--signature", realSignature, "--audience", "abc")
	if code != exitIdentity {
		t.Fatalf("tampered: exit %d, want %d\n%s%s", code, exitIdentity, out, stderr)
	}
	if !strings.Contains(stderr, "identity verify: refused by the content check: the content attached to the signature") {
		t.Errorf("stderr does not name the check:\n%s", stderr)
	}
	for _, w := range []string{"PASS  signer", "FAIL  content", "SKIP  signature", "SKIP  document", "refused:"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "instance-id ") {
		t.Errorf("an instance is shown for a refused identity:\n%s", out)
	}

	for _, tc := range []struct {
		name  string
		args  []string
		check string
	}{
		{"another audience", []string{"--audience", "abd"}, "content"},
		{"an audience with a quote", []string{"--audience", `ab"c`}, "audience"},
		{"another signer", []string{"--audience", "abc", "--identity-ca", writeSigner(t, e.dir)}, "signer"},
	} {
		args := append([]string{"identity", "verify", "--document", realDocument, "--signature", realSignature}, tc.args...)
		out, stderr, code := e.run(t, args...)
		if code != exitIdentity || !strings.Contains(stderr, "refused by the "+tc.check+" check") || !strings.Contains(out, "FAIL  "+tc.check) {
			t.Errorf("%s: exit %d\n%s%s", tc.name, code, out, stderr)
		}
	}
}

// writeSigner writes an RSA certificate that signs nothing here.
func writeSigner(t *testing.T, dir string) string {
	crt, _ := selfSigned(t, dir, "other-signer", true)
	return crt
}

func TestIdentityVerifyJSON(t *testing.T) {
	e := identityEnv(t)
	out, stderr, code := e.run(t, "identity", "verify", "--document", realDocument, "--signature", realSignature, "--audience", "abc", "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	var r struct {
		Verified bool                 `json:"verified"`
		Checks   []tokenservice.Check `json:"checks"`
		Instance map[string]string    `json:"instance"`
		Signers  []string             `json:"signers"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if !r.Verified || len(r.Checks) != len(tokenservice.VerifyCheckNames()) || r.Instance["instance-id"] != "i-8vb9b97xf7msxi4k6tgx" ||
		r.Instance["owner-account-id"] != "1900050632443592" || len(r.Signers) != 1 {
		t.Errorf("%+v", r)
	}
	for i, c := range r.Checks {
		if !c.OK || c.Name != tokenservice.VerifyCheckNames()[i] || c.Detail == "" {
			t.Errorf("check %d: %+v", i, c)
		}
	}
	// Refused: still JSON, with the failed check, those not run and why.
	out, _, code = e.run(t, "identity", "verify", "--document", realDocument, "--signature", realSignature, "--audience", "other", "-o", "json")
	var f struct {
		Verified bool                 `json:"verified"`
		Checks   []tokenservice.Check `json:"checks"`
		NotRun   []string             `json:"notRun"`
		Error    string               `json:"error"`
		Instance map[string]string    `json:"instance"`
	}
	if err := json.Unmarshal([]byte(out), &f); err != nil || code != exitIdentity || f.Verified || f.Instance != nil || f.Error == "" ||
		len(f.Checks) != 5 || f.Checks[4].OK || f.Checks[4].Name != "content" || len(f.NotRun) != 2 {
		t.Errorf("refused: exit %d %v %+v\n%s", code, err, f, out)
	}
}

func TestIdentityVerifyUsage(t *testing.T) {
	e := identityEnv(t)
	notPEM := filepath.Join(e.dir, "not.pem")
	write(t, notPEM, []byte("hello"))
	base := []string{"identity", "verify", "--document", realDocument, "--signature", realSignature, "--audience", "abc"}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"identity", "verify"}, []string{"3 problems", "--document", "--signature", "--audience"}},
		{append(base, "-o", "yaml"), []string{"-o/--output"}},
		{append(base, "--identity-ca", notPEM), []string{"--identity-ca: got", "no PEM CERTIFICATE block"}},
		{[]string{"identity", "verify", "--document", "/nonexistent/doc", "--signature", realSignature, "--audience", "abc"}, []string{"--document: got \"/nonexistent/doc\""}},
		{[]string{"identity", "verify", "extra"}, []string{"no arguments"}},
		{[]string{"identity", "bogus"}, []string{"no arguments"}},
	} {
		out, stderr, code := e.run(t, tc.args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d\n%s%s", tc.args, code, exitUsage, out, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr lacks %q:\n%s", tc.args, w, stderr)
			}
		}
	}
	if out, _, code := e.run(t, "--help"); code != exitOK || !strings.Contains(out, "identity verify") || !strings.Contains(out, "22 an identity was refused") {
		t.Errorf("root help: exit %d\n%s", code, out)
	}
}
