package tokenservice

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/identity"
)

// realSample is the real ECS signature in testdata/ecs-real (see its
// README.md): the document, the signature (base64, as the metadata service
// answers) and the audience it was asked for.
func realSample(t *testing.T) (document, signature, audience string) {
	t.Helper()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "ecs-real", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return read("document.json"), read("signature.b64"), strings.TrimSpace(read("audience.txt"))
}

// checkNames lists the names of checks, "!" before a failed one.
func checkNames(checks []Check) string {
	var names []string
	for _, c := range checks {
		if c.OK {
			names = append(names, c.Name)
		} else {
			names = append(names, "!"+c.Name)
		}
	}
	return strings.Join(names, " ")
}

// wantRefused requires err to be a *VerifyError of check whose message
// holds msg, and the checks to end with that one failed.
func wantRefused(t *testing.T, checks []Check, err error, check, msg string) {
	t.Helper()
	ve, ok := err.(*VerifyError)
	if !ok || ve.Check != check {
		t.Fatalf("got %v (%s), want a refusal by the %s check", err, checkNames(checks), check)
	}
	if !strings.Contains(ve.Msg, msg) {
		t.Errorf("message %q lacks %q", ve.Msg, msg)
	}
	if len(checks) == 0 || checks[len(checks)-1].Name != check || checks[len(checks)-1].OK {
		t.Errorf("checks %s do not end with %s failed", checkNames(checks), check)
	}
	for _, c := range checks[:len(checks)-1] {
		if !c.OK {
			t.Errorf("check %s failed before %s", c.Name, check)
		}
	}
}

func TestDefaultIdentityCert(t *testing.T) {
	certs := DefaultSigners()
	if len(certs) != 1 {
		t.Fatalf("%d built-in certificates", len(certs))
	}
	c := certs[0]
	const pin = "1bfe2f10e644b23cec4ff727f24fcc662489c7047368b2e5cde4047fe9ac1e97"
	if got := SPKISHA256(c); got != pin || DefaultIdentitySPKISHA256 != pin {
		t.Errorf("SPKI sha256 %s, pinned %s", got, DefaultIdentitySPKISHA256)
	}
	if c.NotAfter.Year() != 2038 || !c.NotAfter.After(time.Date(2038, 2, 18, 0, 0, 0, 0, time.UTC)) || time.Now().After(c.NotAfter) {
		t.Errorf("valid until %s, want 2038-02-18", c.NotAfter)
	}
	if c.SerialNumber.Cmp(big.NewInt(0x6666d187)) != 0 || c.Subject.CommonName != "Unknown" || c.IsCA || c.BasicConstraintsValid {
		t.Errorf("serial %x, subject %s, CA %v %v", c.SerialNumber, c.Subject, c.IsCA, c.BasicConstraintsValid)
	}
	if k, ok := c.PublicKey.(*rsa.PublicKey); !ok || k.N.BitLen() != 2048 {
		t.Errorf("key %T", c.PublicKey)
	}
	// A copy: changing it does not change the built-in trust.
	certs[0] = nil
	if DefaultSigners()[0] == nil {
		t.Error("DefaultSigners shares its slice")
	}
}

// TestRealECSSignature: a signature made by a real ECS metadata service
// verifies with the built-in certificate, in every check.
func TestRealECSSignature(t *testing.T) {
	doc, sig, aud := realSample(t)
	v := Verifier{Signers: DefaultSigners(), Audience: AnyAudience}
	d, checks, err := v.Verify(doc, sig, aud)
	if err != nil {
		t.Fatalf("the real signature is refused: %v (%s)", err, checkNames(checks))
	}
	want := Document{AccountID: "1900050632443592", InstanceID: "i-8vb9b97xf7msxi4k6tgx", RegionID: "cn-zhangjiakou", ZoneID: "cn-zhangjiakou-c",
		InstanceType: "ecs.gn6v-c8g1.8xlarge", ImageID: "m-8vbipaljoi4ep0rcxght", PrivateIP: "11.160.137.194",
		SerialNumber: "4453b924-c169-45a7-9478-0dcdd94628b3", MAC: "00:16:3e:0b:5c:f8"}
	if d != want {
		t.Errorf("got %+v\nwant %+v", d, want)
	}
	if got := checkNames(checks); got != "audience pkcs7 shape signer content signature document" {
		t.Errorf("checks %s", got)
	}
	for _, c := range checks {
		t.Logf("%-9s %s", c.Name, c.Detail)
	}
	if !strings.Contains(checks[2].Detail, "SHA-1") || !strings.Contains(checks[4].Detail, "attached") {
		t.Errorf("shape %q, content %q", checks[2].Detail, checks[4].Detail)
	}
	// PEM-wrapped as Alibaba Cloud's procedure does for openssl.
	if _, _, err := v.Verify(doc, "-----BEGIN PKCS7-----\n"+sig+"-----END PKCS7-----\n", aud); err != nil {
		t.Errorf("PEM: %v", err)
	}
	// The service's audience syntax wants a time: "abc" is refused first.
	_, checks, err = VerifyIdentity(doc, sig, aud, DefaultSigners())
	wantRefused(t, checks, err, CheckAudience, "<unix seconds>")
	// Another audience than the one signed.
	_, checks, err = v.Verify(doc, sig, "abd")
	wantRefused(t, checks, err, CheckContent, "differ from byte")
}

// TestRealSampleTampered: the real sample's document changed (the
// attached content no longer matches), and the same with the content
// detached (then the RSA signature fails).
func TestRealSampleTampered(t *testing.T) {
	doc, sig, aud := realSample(t)
	v := Verifier{Signers: DefaultSigners(), Audience: AnyAudience}
	tampered := strings.Replace(doc, "1900050632443592", "1900050632443593", 1)
	_, checks, err := v.Verify(tampered, sig, aud)
	wantRefused(t, checks, err, CheckContent, "is not the document")
}

func TestSignedContent(t *testing.T) {
	got, err := SignedContent(`{"instance-id":"i-1","region-id":"cn-hangzhou"}`, "prod:1700000000")
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"instance-id":"i-1","region-id":"cn-hangzhou","audience":"prod:1700000000"}`; string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got, err := SignedContent("{\"a\":\"b\"}\n", "x"); err != nil || string(got) != `{"a":"b","audience":"x"}` {
		t.Errorf("trailing newline: %s %v", got, err)
	}
	for _, bad := range [][2]string{{`not json`, "a:1"}, {`{"a":"b"} x`, "a:1"}, {`{"a":"b"}`, ""}, {`{"a":"b"}`, `a":1`}, {`{"a":"b"}`, `a\:1`}, {`{"a":"b"}`, "a\n:1"}} {
		if _, err := SignedContent(bad[0], bad[1]); err == nil {
			t.Errorf("no error for %q with audience %q", bad[0], bad[1])
		}
	}
}

func TestVerifyFakeSigner(t *testing.T) {
	ca := newCA(t, "verify")
	doc := defaultInstance("i-verify").document()
	aud := testAudience + ":1700000000"
	d, checks, err := VerifyIdentity(doc, ca.sign(t, doc, aud), aud, ca.signers)
	if err != nil || d.InstanceID != "i-verify" || d.AccountID != testAccount {
		t.Fatalf("%+v %v (%s)", d, err, checkNames(checks))
	}
	if len(checks) != 7 {
		t.Errorf("%d checks", len(checks))
	}
	// Among other trusted certificates.
	if _, _, err := VerifyIdentity(doc, ca.sign(t, doc, aud), aud, append(DefaultSigners(), ca.cert)); err != nil {
		t.Errorf("second of two signers: %v", err)
	}
	// The document alone, without the audience, is not what was signed.
	content := []byte(doc)
	_, checks, err = VerifyIdentity(doc, wrap64(ca.signPKCS7(t, content, p7opts{detached: true})), aud, ca.signers)
	wantRefused(t, checks, err, CheckSignature, "does not verify")
}

// One test per refusal.

func TestRefuseDuplicateKey(t *testing.T) {
	_, _, err := parseSignedContent([]byte(`{"owner-account-id":"1","instance-id":"i-1","region-id":"r","instance-id":"i-2","audience":"a:1"}`), "a:1")
	if err == nil || !strings.Contains(err.Error(), `gives "instance-id" twice`) {
		t.Errorf("parse: %v", err)
	}
	// Signed: the signature verifies, the document does not.
	ca := newCA(t, "dup")
	doc := `{"owner-account-id":"1","instance-id":"i-1","region-id":"r","instance-id":"i-2"}`
	_, checks, err := VerifyIdentity(doc, ca.sign(t, doc, "a:1"), "a:1", ca.signers)
	wantRefused(t, checks, err, CheckDocument, "twice")
	// Two spellings of one field with different values.
	_, _, err = parseSignedContent([]byte(`{"owner-account-id":"1","account-id":"2","instance-id":"i","region-id":"r","audience":"a:1"}`), "a:1")
	if err == nil || !strings.Contains(err.Error(), "different values") {
		t.Errorf("both spellings: %v", err)
	}
}

func TestRefuseAudienceNotLast(t *testing.T) {
	_, _, err := parseSignedContent([]byte(`{"audience":"a:1","owner-account-id":"1","instance-id":"i-1","region-id":"r"}`), "a:1")
	if err == nil || !strings.Contains(err.Error(), "not its last member") {
		t.Errorf("%v", err)
	}
}

func TestRefuseTwoAudienceMembers(t *testing.T) {
	_, _, err := parseSignedContent([]byte(`{"owner-account-id":"1","instance-id":"i-1","region-id":"r","audience":"a:1","audience":"a:1"}`), "a:1")
	if err == nil || !strings.Contains(err.Error(), `2 "audience" members`) {
		t.Errorf("%v", err)
	}
	_, _, err = parseSignedContent([]byte(`{"owner-account-id":"1","instance-id":"i-1","region-id":"r"}`), "a:1")
	if err == nil || !strings.Contains(err.Error(), `no "audience"`) {
		t.Errorf("none: %v", err)
	}
	_, _, err = parseSignedContent([]byte(`{"owner-account-id":"1","instance-id":"i-1","region-id":"r","audience":"a:2"}`), "a:1")
	if err == nil || !strings.Contains(err.Error(), `"a:2" is not "a:1"`) {
		t.Errorf("another: %v", err)
	}
}

func TestRefuseDocumentHoldingAudience(t *testing.T) {
	ca := newCA(t, "holds")
	for _, doc := range []string{
		`{"owner-account-id":"1","instance-id":"i-1","region-id":"r","audience":"a:1"}`,
		`{"audience":"other:1","owner-account-id":"1","instance-id":"i-1","region-id":"r"}`,
	} {
		_, checks, err := VerifyIdentity(doc, ca.sign(t, doc, "a:1"), "a:1", ca.signers)
		wantRefused(t, checks, err, CheckDocument, "holds one of its own")
	}
}

func TestRefuseBadAudienceSyntax(t *testing.T) {
	ca := newCA(t, "aud")
	doc := defaultInstance("i-aud").document()
	sig := ca.sign(t, doc, "a:1")
	for _, aud := range []string{"", "prod", "prod:", ":1", "prod:12a", "prod:-1", "prod:+1", `prod":1`, `prod"x:1`, `pr\od:1`, "-prod:1", "prod cluster:1",
		"prod:99999999999999999999", strings.Repeat("a", 129) + ":1", "a:b:1", "prod:1\n", "prod:\u0661"} {
		_, checks, err := VerifyIdentity(doc, sig, aud, ca.signers)
		wantRefused(t, checks, err, CheckAudience, "audience")
		if len(checks) != 1 {
			t.Errorf("%q: %d checks ran, want only the audience's", aud, len(checks))
		}
	}
	// The troubleshooting syntax: any of [A-Za-z0-9._/:-], 1 to 160.
	for _, ok := range []string{"abc", "a:b:c", "prod/x:1700000000", strings.Repeat("a", 160)} {
		if err := AnyAudience(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", `a"b`, `a\b`, "a b", strings.Repeat("a", 161), "a\x00"} {
		err := AnyAudience(bad)
		if err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.ContainsAny(bad, "\"\\") && !strings.Contains(err.Error(), "escaping") {
			t.Errorf("%q: %v does not say why", bad, err)
		}
	}
	// A syntax that lets '"' through is still refused before anything.
	_, checks, err := Verifier{Signers: ca.signers, Audience: func(string) error { return nil }}.Verify(doc, sig, `a":1`)
	wantRefused(t, checks, err, CheckAudience, `'"'`)
}

func TestRefuseWrongSigner(t *testing.T) {
	ca, other := newCA(t, "right"), newCA(t, "wrong")
	doc := defaultInstance("i-wrong").document()
	_, checks, err := VerifyIdentity(doc, other.sign(t, doc, "a:1"), "a:1", ca.signers)
	wantRefused(t, checks, err, CheckSigner, "not a trusted identity certificate")
	// An impostor: a certificate with the trusted one's issuer and serial
	// number, and another key.
	key := testKey(t, "impostor")
	tmpl := &x509.Certificate{SerialNumber: ca.cert.SerialNumber, Subject: ca.cert.Subject, NotBefore: ca.cert.NotBefore, NotAfter: ca.cert.NotAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	impostorCert, _ := x509.ParseCertificate(der)
	impostor := &testCA{cert: impostorCert, key: key}
	_, checks, err = VerifyIdentity(doc, impostor.sign(t, doc, "a:1"), "a:1", ca.signers)
	wantRefused(t, checks, err, CheckSignature, "does not verify")
	// Carrying the impostor's certificate changes nothing: carried
	// certificates are never trusted.
	content, _ := SignedContent(doc, "a:1")
	_, checks, err = VerifyIdentity(doc, wrap64(impostor.signPKCS7(t, content, p7opts{certs: true})), "a:1", ca.signers)
	wantRefused(t, checks, err, CheckSignature, "does not verify")
	// The trusted certificate, expired.
	_, checks, err = Verifier{Signers: ca.signers, Now: func() time.Time { return time.Now().Add(48 * time.Hour) }}.Verify(doc, ca.sign(t, doc, "a:1"), "a:1")
	wantRefused(t, checks, err, CheckSigner, "not now")
}

func TestRefuseTamperedContent(t *testing.T) {
	ca := newCA(t, "tamper")
	in := defaultInstance("i-tamper")
	doc := in.document()
	content, _ := SignedContent(doc, "a:1")
	detached := wrap64(ca.signPKCS7(t, content, p7opts{detached: true}))
	tampered := strings.Replace(doc, "i-tamper", "i-victim", 1)
	_, checks, err := VerifyIdentity(tampered, detached, "a:1", ca.signers)
	wantRefused(t, checks, err, CheckSignature, "does not verify")
	// The signature's bytes changed.
	der := ca.signPKCS7(t, content, p7opts{})
	der[len(der)-1] ^= 1
	_, checks, err = VerifyIdentity(doc, base64.StdEncoding.EncodeToString(der), "a:1", ca.signers)
	wantRefused(t, checks, err, CheckSignature, "does not verify")
}

func TestRefuseAttachedContentDiffers(t *testing.T) {
	ca := newCA(t, "attached")
	doc := defaultInstance("i-attached").document()
	content, _ := SignedContent(doc, "a:1")
	// The signature is over content; another content is attached.
	other := []byte(strings.Replace(string(content), "i-attached", "i-victimxx", 1))
	_, checks, err := VerifyIdentity(doc, wrap64(ca.signPKCS7(t, content, p7opts{content: other})), "a:1", ca.signers)
	wantRefused(t, checks, err, CheckContent, "is not the document")
	// A signature of (and with) other content, sent with this document.
	_, checks, err = VerifyIdentity(doc, wrap64(ca.signPKCS7(t, other, p7opts{})), "a:1", ca.signers)
	wantRefused(t, checks, err, CheckContent, "differ from byte")
}

func TestRefuseSignedAttributes(t *testing.T) {
	ca := newCA(t, "attrs")
	doc := defaultInstance("i-attrs").document()
	content, _ := SignedContent(doc, "a:1")
	_, checks, err := VerifyIdentity(doc, wrap64(ca.signPKCS7(t, content, p7opts{attrs: true})), "a:1", ca.signers)
	wantRefused(t, checks, err, CheckShape, "the ECS metadata service never adds them")
	if !strings.Contains(err.Error(), "signingTime") {
		t.Errorf("%v does not name signingTime", err)
	}
}

func TestRefuseEmptySignerSet(t *testing.T) {
	ca := newCA(t, "empty")
	doc := defaultInstance("i-empty").document()
	sig := ca.sign(t, doc, "a:1")
	for _, signers := range [][]*x509.Certificate{nil, {}} {
		_, checks, err := VerifyIdentity(doc, sig, "a:1", signers)
		wantRefused(t, checks, err, CheckSigner, "no trusted identity certificate")
	}
}

func TestRefuseGarbageDER(t *testing.T) {
	ca := newCA(t, "garbage")
	doc := defaultInstance("i-garbage").document()
	content, _ := SignedContent(doc, "a:1")
	good := ca.signPKCS7(t, content, p7opts{})
	for name, sig := range map[string]string{
		"short":         "MIIBAAAA",
		"not base64":    "not*base64",
		"empty":         "  ",
		"random":        base64.StdEncoding.EncodeToString([]byte("\x30\x82\xff\xff garbage")),
		"trailing":      base64.StdEncoding.EncodeToString(append(append([]byte{}, good...), 0)),
		"truncated":     base64.StdEncoding.EncodeToString(good[:len(good)-10]),
		"certificate":   string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: good})),
		"two PEM":       string(pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: good})) + string(pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: good})),
		"a certificate": base64.StdEncoding.EncodeToString(ca.cert.Raw),
	} {
		_, checks, err := VerifyIdentity(doc, sig, "a:1", ca.signers)
		ve, ok := err.(*VerifyError)
		if !ok || ve.Check != CheckPKCS7 {
			t.Errorf("%s: %v (%s), want a pkcs7 refusal", name, err, checkNames(checks))
		}
	}
}

// TestVerbatimSignerInjection: were the metadata service to append the
// audience unescaped whatever it holds (a "verbatim signer"), an attacker
// with an instance in an account that may not join could ask for the
// audience
//
//	x","owner-account-id":"<allowed>","instance-id":"i-victim","audience":"<cluster>:<now>
//
// and get a valid signature over a content that a lenient JSON reader
// (last key wins) takes for the allowed account's i-victim. Both ways of
// sending it are refused.
func TestVerbatimSignerInjection(t *testing.T) {
	e := newEnv(t, nil)
	now := time.Now()
	clusterAud := testAudience + ":" + strconv.FormatInt(now.Unix(), 10)
	own := instance{account: "999999", region: testRegion, zone: testZone, id: "i-attacker"}
	doc := own.document()
	injection := `x","owner-account-id":"` + testAccount + `","instance-id":"i-victim","audience":"` + clusterAud
	brace := strings.LastIndexByte(doc, '}')
	signed := doc[:brace] + `,"audience":"` + injection + `"}` // verbatim
	sig := wrap64(e.ca.signPKCS7(t, []byte(signed), p7opts{}))
	var lenient map[string]any
	if err := json.Unmarshal([]byte(signed), &lenient); err != nil || lenient["owner-account-id"] != testAccount || lenient["instance-id"] != "i-victim" {
		t.Fatalf("the injection does not fool a lenient reader (%v %v): the test is wrong", lenient, err)
	}

	// 1. The injection as the audience: refused for its syntax.
	_, checks, err := VerifyIdentity(doc, sig, injection, e.ca.signers)
	wantRefused(t, checks, err, CheckAudience, "audience")

	// 2. Split so that the rebuilt content is what was signed: the
	// signature verifies, the strict reading refuses.
	forged := doc[:brace] + `,"audience":"x","owner-account-id":"` + testAccount + `","instance-id":"i-victim"}`
	if c, _ := SignedContent(forged, clusterAud); string(c) != signed {
		t.Fatalf("rebuilt %s\nsigned  %s", c, signed)
	}
	_, checks, err = VerifyIdentity(forged, sig, clusterAud, e.ca.signers)
	wantRefused(t, checks, err, CheckDocument, "twice")
	if checkNames(checks) != "audience pkcs7 shape signer content signature !document" {
		t.Errorf("checks %s", checkNames(checks))
	}

	// At the service, both ways: refused, no token.
	for _, req := range []identity.ExchangeRequest{
		{Document: doc, Signature: sig, Audience: injection, ProviderID: testRegion + ".i-victim"},
		{Document: forged, Signature: sig, Audience: clusterAud, ProviderID: testRegion + ".i-victim"},
	} {
		a := e.exchange(req)
		if a.status == http.StatusOK || (a.refusal.Reason != identity.ReasonAudience && a.refusal.Reason != identity.ReasonBadRequest) {
			t.Errorf("got %d %s", a.status, a.body)
		}
	}
	if n := len(e.secrets()); n != 0 {
		t.Errorf("%d tokens made", n)
	}
}

func TestLoadSigners(t *testing.T) {
	a, b := newCA(t, "load-a"), newCA(t, "load-b")
	bundle := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.cert.Raw}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.cert.Raw})...)
	certs, err := LoadSigners(bundle)
	if err != nil || len(certs) != 2 {
		t.Fatalf("%d %v", len(certs), err)
	}
	if certs, err := LoadSigners(DefaultIdentityCertPEM); err != nil || len(certs) != 1 {
		t.Errorf("built-in: %v", err)
	}
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	mk := func(pub, priv any) []byte {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	for name, c := range map[string]struct {
		pem  []byte
		want string
	}{
		"none":     {[]byte("hello"), "no PEM CERTIFICATE"},
		"ecdsa":    {mk(&ek.PublicKey, ek), "signed with RSA"},
		"rsa 1024": {mk(&small.PublicKey, small), "1024-bit"},
	} {
		if _, err := LoadSigners(c.pem); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseSignedContent(t *testing.T) {
	const tail = `,"audience":"a:1"}`
	d, n, err := parseSignedContent([]byte(`{"owner-account-id":12345678901234567890,"instance-id":"i-1","region-id":"cn-hangzhou","zone-id":"cn-hangzhou-k","private-ipv4":"10.0.0.1","serial-number":"s","mac":"m","image-id":"img","instance-type":"ecs.g7.large","new-key":1.5`+tail), "a:1")
	if err != nil {
		t.Fatal(err)
	}
	want := Document{AccountID: "12345678901234567890", InstanceID: "i-1", RegionID: "cn-hangzhou", ZoneID: "cn-hangzhou-k", PrivateIP: "10.0.0.1",
		SerialNumber: "s", MAC: "m", ImageID: "img", InstanceType: "ecs.g7.large"}
	if d != want || n != 11 {
		t.Errorf("got %+v (%d members)\nwant %+v", d, n, want)
	}
	if d.ProviderID() != "cn-hangzhou.i-1" {
		t.Errorf("provider ID %s", d.ProviderID())
	}
	d, _, err = parseSignedContent([]byte(`{"account-id":"42","instance-id":"i-2","region-id":"r","private-ip":"10.0.0.2"`+tail), "a:1")
	if err != nil || d.AccountID != "42" || d.PrivateIP != "10.0.0.2" {
		t.Errorf("older spellings: %+v %v", d, err)
	}
	if d, _, err = parseSignedContent([]byte(`{"owner-account-id":"42","account-id":42,"instance-id":"i-2","region-id":"r"`+tail), "a:1"); err != nil || d.AccountID != "42" {
		t.Errorf("both spellings, one value: %+v %v", d, err)
	}
	for _, bad := range []string{
		`{"instance-id":"i","region-id":"r"` + tail,
		`{"owner-account-id":"1","region-id":"r"` + tail,
		`{"owner-account-id":"1","instance-id":["i"],"region-id":"r"` + tail,
		`{"owner-account-id":"1","instance-id":{"i":"j"},"region-id":"r"` + tail,
		`{"owner-account-id":"1","instance-id":true,"region-id":"r"` + tail,
		`{"owner-account-id":"1","instance-id":null,"region-id":"r"` + tail,
		`{"owner-account-id":"1","instance-id":"i","region-id":"r","audience":1}`,
		`{"owner-account-id":"1","instance-id":"i","region-id":"r"` + tail + ` trailing`,
		`{"owner-account-id":"1","instance-id":"i","region-id":"r"` + tail + `{}`,
		`{"owner-account-id":"1","instance-id":"` + strings.Repeat("i", 300) + `","region-id":"r"` + tail,
		`{"owner-account-id":"1","instance-id":"i-` + "\u00e9" + `","region-id":"r"` + tail,
		`{"owner-account-id":"1","instance-id":"i` + "\x7f" + `","region-id":"r"` + tail,
		`{"owner-account-id":"1","instance-id":"i\u001b[31m","region-id":"r"` + tail,
		`{"owner-account-id":"1","instance-id":"i","region-id":"r","x\u0000":"y"` + tail,
		`{"owner-account-id":"1","instance-id":"i","region-id":"r",` + tail,
		`[]`, ``,
	} {
		if _, _, err := parseSignedContent([]byte(bad), "a:1"); err == nil {
			t.Errorf("no error for %.100s", bad)
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

// FuzzVerify: the verifier reads what anyone sends; it must not panic or
// accept anything but the signed document and audience.
func FuzzVerify(f *testing.F) {
	ca := newCA(f, "fuzz")
	doc := defaultInstance("i-fuzz").document()
	f.Add(ca.sign(f, doc, "a:1"), "a:1")
	f.Add("MIIBAAAA", "a:1")
	f.Add("-----BEGIN PKCS7-----\nMA==\n-----END PKCS7-----", "")
	f.Fuzz(func(t *testing.T, sig, aud string) {
		if _, _, err := VerifyIdentity(doc, sig, aud, ca.signers); err == nil && aud != "a:1" {
			t.Errorf("verified for audience %q", aud)
		}
	})
}
