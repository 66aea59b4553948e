package tokenservice

import (
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
)

// TestSignedContent pins the bytes Alibaba Cloud's procedure verifies: the
// audience appended inside the closing brace, after a comma.
func TestSignedContent(t *testing.T) {
	got, err := SignedContent(`{"instance-id":"i-1","region-id":"cn-hangzhou"}`, "prod:1700000000")
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"instance-id":"i-1","region-id":"cn-hangzhou","audience":"prod:1700000000"}`; string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got, _ := SignedContent(`{"a":"b"}`, ""); string(got) != `{"a":"b"}` {
		t.Errorf("without an audience: %s", got)
	}
	if _, err := SignedContent(`not json`, "a:1"); err == nil {
		t.Error("no error for a document without a brace")
	}
}

// TestVerifyLiteralContent signs the literal bytes (not through
// SignedContent) and verifies through the service's path.
func TestVerifyLiteralContent(t *testing.T) {
	ca := newCA(t, "literal")
	doc := `{"instance-id":"i-lit","region-id":"cn-hangzhou"}`
	literal := []byte(`{"instance-id":"i-lit","region-id":"cn-hangzhou","audience":"prod:42"}`)
	sd, err := pkcs7.NewSignedData(literal)
	if err != nil {
		t.Fatal(err)
	}
	if err := sd.AddSigner(ca.signer, ca.signerKey, pkcs7.SignerInfoConfig{}); err != nil {
		t.Fatal(err)
	}
	sd.Detach()
	der, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	sig := base64.StdEncoding.EncodeToString(der)
	content, _ := SignedContent(doc, "prod:42")
	v, err := verifySignature(sig, content, ca.pool, time.Now())
	if err != nil {
		t.Fatalf("a signature of the literal content does not verify: %v", err)
	}
	if !v.hasSigningTime || time.Since(v.signingTime) > time.Minute {
		t.Errorf("signing time %v (%v)", v.signingTime, v.hasSigningTime)
	}
	// The document alone, without the audience, is not what was signed.
	if _, err := verifySignature(sig, []byte(doc), ca.pool, time.Now()); err == nil {
		t.Error("the signature verifies over the document without the audience")
	}
	// Another pool, an empty one, none.
	if _, err := verifySignature(sig, content, newCA(t, "other").pool, time.Now()); err == nil {
		t.Error("verifies against another CA")
	}
	if _, err := verifySignature(sig, content, nil, time.Now()); err == nil {
		t.Error("verifies with no roots")
	}
	// After the signer's certificate expired.
	if _, err := verifySignature(sig, content, ca.pool, time.Now().Add(48*time.Hour)); err == nil {
		t.Error("verifies after the certificate expired")
	}
	// Attached content other than the document.
	sd2, _ := pkcs7.NewSignedData([]byte(`{"instance-id":"i-other"}`))
	sd2.AddSigner(ca.signer, ca.signerKey, pkcs7.SignerInfoConfig{})
	der2, _ := sd2.Finish()
	if _, err := verifySignature(base64.StdEncoding.EncodeToString(der2), content, ca.pool, time.Now()); err == nil || !strings.Contains(err.Error(), "content other") {
		t.Errorf("attached other content: %v", err)
	}
	// PEM of the wrong type.
	p := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	if _, err := verifySignature(p, content, ca.pool, time.Now()); err == nil {
		t.Error("a CERTIFICATE PEM block verifies")
	}
}

func TestParseDocument(t *testing.T) {
	d, err := parseDocument(`{"owner-account-id":12345678901234567890,"instance-id":"i-1","region-id":"cn-hangzhou","zone-id":"cn-hangzhou-k","private-ipv4":"10.0.0.1","serial-number":"s","mac":"m","image-id":"img","instance-type":"ecs.g7.large"}`)
	if err != nil {
		t.Fatal(err)
	}
	want := Document{AccountID: "12345678901234567890", InstanceID: "i-1", RegionID: "cn-hangzhou", ZoneID: "cn-hangzhou-k", PrivateIP: "10.0.0.1",
		SerialNumber: "s", MAC: "m", ImageID: "img", InstanceType: "ecs.g7.large"}
	if d != want {
		t.Errorf("got %+v\nwant %+v", d, want)
	}
	if d.ProviderID() != "cn-hangzhou.i-1" {
		t.Errorf("provider ID %s", d.ProviderID())
	}
	d, err = parseDocument(`{"account-id":"42","instance-id":"i-2","region-id":"r","private-ip":"10.0.0.2"}`)
	if err != nil || d.AccountID != "42" || d.PrivateIP != "10.0.0.2" {
		t.Errorf("older spellings: %+v %v", d, err)
	}
	if d, err = parseDocument(`{"owner-account-id":"42","account-id":42,"instance-id":"i-2","region-id":"r"}`); err != nil || d.AccountID != "42" {
		t.Errorf("both spellings, one value: %+v %v", d, err)
	}
	for _, bad := range []string{
		`{"owner-account-id":"1","account-id":"2","instance-id":"i","region-id":"r"}`,
		`{"instance-id":"i","region-id":"r"}`,
		`{"owner-account-id":"1","region-id":"r"}`,
		`{"owner-account-id":"1","instance-id":["i"],"region-id":"r"}`,
		`{"owner-account-id":"1","instance-id":"i","region-id":"r"} trailing`,
		`{"owner-account-id":"1","instance-id":"` + strings.Repeat("i", 300) + `","region-id":"r"}`,
		`[]`, ``,
	} {
		if _, err := parseDocument(bad); err == nil {
			t.Errorf("no error for %.80s", bad)
		}
	}
}

func TestTokenIDAndSecret(t *testing.T) {
	a, b := TokenID("1", "i-a"), TokenID("1", "i-b")
	if a == b || a != TokenID("1", "i-a") || TokenID("2", "i-a") == a {
		t.Errorf("IDs %s %s", a, b)
	}
	// No separator ambiguity: account "1", instance "2x" vs "12", "x".
	if TokenID("1", "2x") == TokenID("12", "x") {
		t.Error("TokenID is ambiguous")
	}
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		s, err := randomSecret()
		if err != nil {
			t.Fatal(err)
		}
		if !tokenRE.MatchString(a + "." + s) {
			t.Fatalf("%s.%s is not a bootstrap token", a, s)
		}
		if seen[s] {
			t.Fatalf("secret repeated")
		}
		seen[s] = true
	}
}

// FuzzVerify: the signature parser reads what anyone sends; it must not
// panic or accept garbage.
func FuzzVerify(f *testing.F) {
	ca := newCA(f, "fuzz")
	doc := defaultInstance("i-fuzz").document()
	f.Add(ca.sign(f, doc, "a:1", true), "a:1")
	f.Add("MIIBAAAA", "a:1")
	f.Add("-----BEGIN PKCS7-----\nMA==\n-----END PKCS7-----", "")
	f.Fuzz(func(t *testing.T, sig, aud string) {
		content, err := SignedContent(doc, aud)
		if err != nil {
			return
		}
		if _, err := verifySignature(sig, content, ca.pool, time.Now()); err == nil && aud != "a:1" {
			t.Errorf("verified for audience %q", aud)
		}
	})
}
