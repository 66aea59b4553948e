package main

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/hybridnode/hybridnode/bootstrap/identity"
	"github.com/hybridnode/hybridnode/bootstrap/metadata"
	"github.com/hybridnode/hybridnode/bootstrap/tokenservice"
)

// shape is the tree of a DER element, one line an element, indented by
// depth: its tag, an OBJECT IDENTIFIER's value, a one-byte INTEGER's value
// (the versions); a SEQUENCE of SETs (an X.509 Name) is "Name" without its
// attributes. Not lengths, not serial numbers, not the content or the
// signature's bytes. So two signatures of the same shape, by different
// keys over different content, have the same shape.
func shape(t *testing.T, der []byte) string {
	t.Helper()
	var b strings.Builder
	var walk func(data []byte, depth int)
	walk = func(data []byte, depth int) {
		for len(data) > 0 {
			var v asn1.RawValue
			rest, err := asn1.Unmarshal(data, &v)
			if err != nil {
				t.Fatalf("not DER at depth %d: %v", depth, err)
			}
			data = rest
			indent := strings.Repeat("  ", depth)
			switch {
			case v.Class == asn1.ClassContextSpecific:
				fmt.Fprintf(&b, "%s[%d]\n", indent, v.Tag)
			case v.Class != asn1.ClassUniversal:
				fmt.Fprintf(&b, "%sclass %d tag %d\n", indent, v.Class, v.Tag)
			case v.Tag == asn1.TagOID:
				var oid asn1.ObjectIdentifier
				if _, err := asn1.Unmarshal(v.FullBytes, &oid); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&b, "%sOID %s\n", indent, oid)
				continue
			case v.Tag == asn1.TagInteger && len(v.Bytes) == 1:
				fmt.Fprintf(&b, "%sINTEGER %d\n", indent, v.Bytes[0])
				continue
			case v.Tag == asn1.TagSequence && isName(v.Bytes):
				fmt.Fprintf(&b, "%sName\n", indent)
				continue
			default:
				fmt.Fprintf(&b, "%s%s\n", indent, map[int]string{asn1.TagInteger: "INTEGER", asn1.TagOctetString: "OCTET STRING", asn1.TagNull: "NULL",
					asn1.TagSequence: "SEQUENCE", asn1.TagSet: "SET", asn1.TagBitString: "BIT STRING", asn1.TagUTCTime: "UTCTime"}[v.Tag])
			}
			if v.IsCompound {
				walk(v.Bytes, depth+1)
			}
		}
	}
	walk(der, 0)
	return b.String()
}

// isName: the contents are one or more SETs and nothing else.
func isName(data []byte) bool {
	n := 0
	for len(data) > 0 {
		var v asn1.RawValue
		rest, err := asn1.Unmarshal(data, &v)
		if err != nil || v.Class != asn1.ClassUniversal || v.Tag != asn1.TagSet {
			return false
		}
		data, n = rest, n+1
	}
	return n > 0
}

func b64DER(t *testing.T, s string) []byte {
	t.Helper()
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("not base64: %v", err)
	}
	return der
}

// TestSignatureShapeIsECS: fakeimds's signature has exactly the ASN.1
// shape of a real one made by an ECS metadata service
// (bootstrap/tokenservice/testdata/ecs-real): signedData version 1, SHA-1,
// the content attached, no certificates, one SignerInfo version 1 by
// issuer and serial number, no signed attributes, rsaEncryption.
func TestSignatureShapeIsECS(t *testing.T) {
	real, err := os.ReadFile(filepath.Join("..", "..", "bootstrap", "tokenservice", "testdata", "ecs-real", "signature.b64"))
	if err != nil {
		t.Fatal(err)
	}
	want := shape(t, b64DER(t, string(real)))
	f := newFixture(t)
	code, sig := f.get(t, "", "/latest/dynamic/instance-identity/pkcs7?audience=abc")
	if code != http.StatusOK {
		t.Fatalf("pkcs7: %d %s", code, sig)
	}
	got := shape(t, b64DER(t, sig))
	if got != want {
		t.Errorf("fakeimds's PKCS#7 shape is not ECS's:\n--- ECS\n%s--- fakeimds\n%s", want, got)
	}
	// What the shape pins, spelled out (and so that a walker bug that
	// printed nothing would not pass).
	for _, w := range []string{
		"OID 1.2.840.113549.1.7.2\n  [0]\n    SEQUENCE\n      INTEGER 1\n      SET\n        SEQUENCE\n          OID 1.3.14.3.2.26\n          NULL\n",
		"OID 1.2.840.113549.1.7.1\n        [0]\n          OCTET STRING\n      SET\n        SEQUENCE\n          INTEGER 1\n          SEQUENCE\n            Name\n            INTEGER\n",
		"OID 1.2.840.113549.1.1.1\n            NULL\n          OCTET STRING\n",
	} {
		if !strings.Contains(want, w) {
			t.Errorf("the real shape lacks\n%s\nin\n%s", w, want)
		}
	}
	if strings.Count(want, "[0]") != 2 || strings.Contains(want, "[1]") {
		t.Errorf("the real shape has certificates, CRLs or signed attributes:\n%s", want)
	}
	// The fake's certificate is shaped like Alibaba Cloud's: RSA, not a CA.
	if f.ca.PublicKeyAlgorithm.String() != "RSA" || f.ca.BasicConstraintsValid || f.ca.Subject.Organization[0] != "Unknown" {
		t.Errorf("gen-ca's certificate: %s, basic constraints %v, subject %s", f.ca.PublicKeyAlgorithm, f.ca.BasicConstraintsValid, f.ca.Subject)
	}
}

// TestTokenServiceAcceptsFake: the token service, given fakeimds's
// certificate as its signer, issues a token for an identity a node fetched
// from fakeimds (in process, on loopback; a fake API server).
func TestTokenServiceAcceptsFake(t *testing.T) {
	f := newFixture(t)
	const cluster = "e2e-cluster"
	cs := fake.NewClientset()
	svc, err := tokenservice.New(tokenservice.Config{Client: cs.CoreV1(), Leases: cs.CoordinationV1(), Signers: []*x509.Certificate{f.ca}, Audience: cluster,
		Accounts: []string{"1111111111"}, Rate: -1, ClientRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.Fetch(t.Context(), metadata.New(f.srv.URL), identity.Audience(cluster, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	exchange := func(req identity.ExchangeRequest) (int, identity.Refusal) {
		body, _ := json.Marshal(req)
		w := httptest.NewRecorder()
		svc.ServeHTTP(w, httptest.NewRequest(http.MethodPost, identity.ExchangePath, bytes.NewReader(body)))
		var ref identity.Refusal
		if w.Code == http.StatusOK {
			var resp identity.ExchangeResponse
			if json.Unmarshal(w.Body.Bytes(), &resp) != nil || !regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`).MatchString(resp.Token) {
				t.Error("the answer is not a bootstrap token") // (never printed)
			}
		} else {
			json.Unmarshal(w.Body.Bytes(), &ref)
		}
		return w.Code, ref
	}
	req := identity.ExchangeRequest{Document: id.Document, Signature: id.Signature, Audience: id.Audience, ProviderID: "cn-hangzhou.i-loop", NodeName: "cn-hangzhou.10.0.0.21"}
	if code, ref := exchange(req); code != http.StatusOK {
		t.Fatalf("refused: %d %+v", code, ref)
	}
	// The service with its default trust (Alibaba Cloud's certificate)
	// refuses the same identity.
	def, err := tokenservice.New(tokenservice.Config{Client: cs.CoreV1(), Leases: cs.CoordinationV1(), Audience: cluster, Accounts: []string{"1111111111"}})
	if err != nil {
		t.Fatal(err)
	}
	svc = def
	if code, ref := exchange(req); code != http.StatusForbidden || ref.Reason != identity.ReasonSignature {
		t.Errorf("default trust: %d %+v, want 403 signature-refused", code, ref)
	}
}
