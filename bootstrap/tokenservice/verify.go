package tokenservice

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/hybridnode/hybridnode/bootstrap/identity"
	"github.com/hybridnode/hybridnode/bootstrap/kubeconfig"
)

// DefaultIdentityCertPEM is Alibaba Cloud's instance identity certificate,
// as published in "Use instance identities"
// (https://www.alibabacloud.com/help/en/ecs/user-guide/use-instance-identities):
// the certificate whose key signs every ECS instance identity. It is
// self-signed (every subject field "Unknown", serial 0x6666D187, RSA-2048,
// valid 2018-02-23 to 2038-02-18) and is no CA: it is trusted as the
// signer itself, pinned by DefaultIdentitySPKISHA256. --identity-ca
// replaces it.
//
//go:embed alibaba-identity.pem
var DefaultIdentityCertPEM []byte

// DefaultIdentitySPKISHA256 is the SHA-256 of the built-in certificate's
// public key (its DER SubjectPublicKeyInfo), hex: the pin it is loaded
// against.
const DefaultIdentitySPKISHA256 = "1bfe2f10e644b23cec4ff727f24fcc662489c7047368b2e5cde4047fe9ac1e97"

var defaultSigners = sync.OnceValue(func() []*x509.Certificate {
	certs, err := LoadSigners(DefaultIdentityCertPEM)
	if err != nil || len(certs) != 1 || SPKISHA256(certs[0]) != DefaultIdentitySPKISHA256 {
		panic(fmt.Sprintf("tokenservice: the built-in identity certificate is not the pinned one (%v)", err))
	}
	return certs
})

// DefaultSigners is the built-in trust: Alibaba Cloud's certificate.
func DefaultSigners() []*x509.Certificate {
	return append([]*x509.Certificate(nil), defaultSigners()...)
}

// SPKISHA256 is the hex SHA-256 of a certificate's SubjectPublicKeyInfo.
func SPKISHA256(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// minSignerBits is the smallest RSA key trusted (Alibaba Cloud's is 2048).
const minSignerBits = 2048

// LoadSigners reads a PEM bundle of the certificates that sign instance
// identities (--identity-ca): one or more CERTIFICATE blocks, each with an
// RSA key of 2048 bits or more. They are trusted as signers, not as CA
// roots: a signature must name one of them (issuer and serial number) and
// verify with its key; no chain is built, and the certificates a
// signature carries are never looked at.
func LoadSigners(pemData []byte) ([]*x509.Certificate, error) {
	certs, err := kubeconfig.ParseCerts(pemData)
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	for i, c := range certs {
		k, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("certificate %d (%s) has a %s key: ECS instance identities are signed with RSA", i+1, c.Subject, c.PublicKeyAlgorithm)
		}
		if k.N.BitLen() < minSignerBits {
			return nil, fmt.Errorf("certificate %d (%s) has a %d-bit RSA key, under %d", i+1, c.Subject, k.N.BitLen(), minSignerBits)
		}
	}
	return certs, nil
}

// Document is what the service reads of an ECS instance identity document
// (/latest/dynamic/instance-identity/document).
//
// Alibaba Cloud documents the keys at
// https://www.alibabacloud.com/help/en/ecs/user-guide/use-instance-identities:
// owner-account-id, instance-id, mac, region-id, serial-number, zone-id,
// instance-type, image-id, private-ipv4. The older text of the same page
// (https://www.alibabacloud.com/help/doc-detail/67254.htm) names the account
// account-id and the address private-ip. Both spellings are read; a document
// that gives both with different values is refused.
type Document struct {
	AccountID    string
	InstanceID   string
	RegionID     string
	ZoneID       string
	InstanceType string
	ImageID      string
	PrivateIP    string
	SerialNumber string
	MAC          string
}

// ProviderID is the kubelet provider ID of the document's instance,
// "<region-id>.<instance-id>".
func (d Document) ProviderID() string { return d.RegionID + "." + d.InstanceID }

// maxField bounds one key or value of the document (IDs are far shorter).
const maxField = 256

// The checks of VerifyIdentity, in their order.
const (
	CheckAudience  = "audience"  // the audience's syntax
	CheckPKCS7     = "pkcs7"     // the signature decodes and parses as PKCS#7 signedData, one signer
	CheckShape     = "shape"     // SHA-1 or SHA-256, RSA PKCS#1 v1.5, no signed attributes
	CheckSigner    = "signer"    // it names a trusted certificate, valid now
	CheckContent   = "content"   // the content rebuilt from the document and audience; the attached content is it
	CheckSignature = "signature" // the RSA signature of that content verifies with the signer's key
	CheckDocument  = "document"  // the signed content, parsed strictly, is a well-formed identity
)

// VerifyCheckNames are the checks of VerifyIdentity, in order.
func VerifyCheckNames() []string {
	return []string{CheckAudience, CheckPKCS7, CheckShape, CheckSigner, CheckContent, CheckSignature, CheckDocument}
}

// Check is one check's verdict.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// VerifyError is a refused identity: the check that failed and why.
type VerifyError struct {
	Check string
	Msg   string
}

func (e *VerifyError) Error() string { return e.Msg }

// Verifier verifies ECS instance identities: VerifyIdentity with the
// audience's syntax and the clock as parameters.
type Verifier struct {
	// Signers are the trusted certificates. Empty: every identity is
	// refused (the service puts DefaultSigners there when it has none).
	Signers []*x509.Certificate
	// Audience checks the audience's syntax; nil: ServiceAudience. It must
	// refuse '"' and '\' (the audience is put into JSON as it is).
	Audience func(audience string) error
	// Now is the clock for the signer's validity; nil: time.Now.
	Now func() time.Time
}

// VerifyIdentity verifies what a node sends: the identity document, the
// metadata service's PKCS#7 signature for audience (base64, as
// /latest/dynamic/instance-identity/pkcs7 answers, or PEM), against the
// trusted signers; audience is "<cluster audience>:<unix seconds>"
// (ServiceAudience). It returns the document read from the signed content,
// and each check's verdict in order up to the first that failed; the error
// is a *VerifyError naming that check. The audience's cluster part and
// time, and the allow-lists, are the service's to check.
func VerifyIdentity(document, signature, audience string, signers []*x509.Certificate) (Document, []Check, error) {
	return Verifier{Signers: signers}.Verify(document, signature, audience)
}

// Verify is VerifyIdentity with v's audience syntax and clock. The checks,
// in order (see Check*):
//
//  1. audience: its syntax, before anything else: it is put into the
//     signed content unescaped, as the metadata service does;
//  2. pkcs7: base64 (or PEM) of DER PKCS#7 signedData, version 1, content
//     type data, exactly one SignerInfo of version 1 (issuer and serial
//     number). Certificates it carries are ignored, never trusted;
//  3. shape: the digest is SHA-1 (what ECS signs with) or SHA-256, the
//     signature RSA PKCS#1 v1.5, and there are no signed (authenticated)
//     attributes: ECS never adds them, so a signature that has them was
//     not made by the metadata service and is refused (and no signingTime
//     is ever read: freshness is the audience's time, checked by the
//     service);
//  4. signer: its issuer and serial number are those of one of the
//     trusted certificates (compared as DER, as they are copied from the
//     certificate), valid now, with an RSA key. That one certificate is
//     used: a signature naming another is refused rather than tried
//     against every trusted key, which would accept a signature that
//     misnames its signer and blur why a signature is refused;
//  5. content: the document up to its last '}' (only white space may
//     follow it), then ,"audience":"<audience>"}: what Alibaba Cloud's
//     procedure verifies. ECS attaches the content; then it must be
//     exactly that. A detached signature (no content) is verified over the
//     rebuilt content: the same bytes are signed either way;
//  6. signature: RSA PKCS#1 v1.5 over the digest of that content, with the
//     signer's public key;
//  7. document: the signed content parsed strictly (parseSignedContent):
//     printable ASCII, one JSON object of string and number members, no
//     key twice, exactly one "audience", the last, equal to audience (so a
//     document holding an "audience" of its own is refused); the Document
//     is read from it.
func (v Verifier) Verify(document, signature, audience string) (Document, []Check, error) {
	var checks []Check
	pass := func(name, format string, args ...any) {
		checks = append(checks, Check{Name: name, OK: true, Detail: fmt.Sprintf(format, args...)})
	}
	fail := func(name, format string, args ...any) (Document, []Check, error) {
		msg := fmt.Sprintf(format, args...)
		checks = append(checks, Check{Name: name, Detail: msg})
		return Document{}, checks, &VerifyError{Check: name, Msg: msg}
	}
	audCheck := v.Audience
	if audCheck == nil {
		audCheck = ServiceAudience
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}

	// 1. The audience's syntax.
	if err := audCheck(audience); err != nil {
		return fail(CheckAudience, "%v", err)
	}
	if strings.ContainsAny(audience, "\"\\") { // whatever audCheck allows
		return fail(CheckAudience, "the audience %s holds '\"' or '\\'", quote(audience))
	}
	pass(CheckAudience, "%s: nothing to escape in JSON", quote(audience))

	// 2. The PKCS#7 structure.
	der, err := decodeSignature(signature)
	if err != nil {
		return fail(CheckPKCS7, "%v", err)
	}
	p, err := parsePKCS7(der)
	if err != nil {
		return fail(CheckPKCS7, "%v", err)
	}
	switch {
	case p.signedDataVersion != 1:
		return fail(CheckPKCS7, "the PKCS#7 SignedData is version %d; ECS writes version 1", p.signedDataVersion)
	case !p.contentType.Equal(oidData):
		return fail(CheckPKCS7, "the PKCS#7 content type is %v, not data (1.2.840.113549.1.7.1)", p.contentType)
	case p.signers != 1:
		return fail(CheckPKCS7, "the PKCS#7 signature has %d signers; ECS writes exactly one", p.signers)
	case p.signerVersion != 1 || p.serial == nil:
		return fail(CheckPKCS7, "the PKCS#7 SignerInfo is version %d; ECS writes version 1 (issuer and serial number)", p.signerVersion)
	}
	content := "content detached"
	if p.attached {
		content = fmt.Sprintf("content attached (%d bytes)", len(p.content))
	}
	extra := "no certificates"
	if p.certificates {
		extra = "certificates carried (ignored: never trusted)"
	}
	pass(CheckPKCS7, "SignedData version 1, data, one SignerInfo version 1, %s, %s", content, extra)

	// 3. The shape of the signature.
	h := digestHash(p.digestOID)
	if h == 0 || p.digestParams {
		return fail(CheckShape, "the digest algorithm %v is neither SHA-1 (what ECS signs with) nor SHA-256", p.digestOID)
	}
	listed := false
	for _, a := range p.digestAlgorithms {
		listed = listed || a.Equal(p.digestOID)
	}
	if !listed {
		return fail(CheckShape, "the SignedData's digestAlgorithms do not list the signer's %s", hashName(h))
	}
	if !rsaFor(p.encOID, h) || p.encParams {
		return fail(CheckShape, "the signature algorithm %v is not RSA PKCS#1 v1.5 (rsaEncryption, as ECS signs)", p.encOID)
	}
	if p.hasSignedAttr {
		names := make([]string, 0, len(p.signedAttrs))
		for _, a := range p.signedAttrs {
			names = append(names, attrName(a))
		}
		return fail(CheckShape, "the signature has signed attributes (%s): the ECS metadata service never adds them, so this signature is not its",
			strings.Join(names, ", "))
	}
	pass(CheckShape, "%s digest, RSA PKCS#1 v1.5, no signed attributes", hashName(h))

	// 4. The signer: one of the trusted certificates.
	if len(v.Signers) == 0 {
		return fail(CheckSigner, "no trusted identity certificate to verify against")
	}
	issuer := describeName(p.issuer)
	var signer *x509.Certificate
	for _, c := range v.Signers {
		if c != nil && bytes.Equal(c.RawIssuer, p.issuer) && c.SerialNumber.Cmp(p.serial) == 0 {
			signer = c
			break
		}
	}
	if signer == nil {
		pins := make([]string, 0, len(v.Signers))
		for _, c := range v.Signers {
			if c != nil {
				pins = append(pins, fmt.Sprintf("serial %x by %s", c.SerialNumber, c.Issuer))
			}
		}
		return fail(CheckSigner, "the signature's signer is serial %x issued by %s: not a trusted identity certificate (%s)",
			p.serial, issuer, strings.Join(pins, "; "))
	}
	t := now()
	if t.Before(signer.NotBefore) || t.After(signer.NotAfter) {
		return fail(CheckSigner, "the trusted certificate serial %x is valid from %s to %s, not now (%s)", signer.SerialNumber,
			signer.NotBefore.UTC().Format(time.RFC3339), signer.NotAfter.UTC().Format(time.RFC3339), t.UTC().Format(time.RFC3339))
	}
	pub, ok := signer.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fail(CheckSigner, "the trusted certificate serial %x has a %s key, not RSA", signer.SerialNumber, signer.PublicKeyAlgorithm)
	}
	pass(CheckSigner, "serial %x issued by %s: a trusted certificate (public key sha256 %s), valid until %s",
		p.serial, issuer, SPKISHA256(signer), signer.NotAfter.UTC().Format("2006-01-02"))

	// 5. The content: the document with the audience appended.
	rebuilt, err := SignedContent(document, audience)
	if err != nil {
		return fail(CheckContent, "%v", err)
	}
	if p.attached {
		if !bytes.Equal(p.content, rebuilt) {
			return fail(CheckContent, "the content attached to the signature (%d bytes) is not the document with ,\"audience\":%s appended (%d bytes); they differ from byte %d",
				len(p.content), quote(audience), len(rebuilt), firstDiff(p.content, rebuilt))
		}
		pass(CheckContent, "the attached content is the document with ,\"audience\":%s appended (%d bytes)", quote(audience), len(rebuilt))
	} else {
		pass(CheckContent, "detached: verified over the document with ,\"audience\":%s appended (%d bytes)", quote(audience), len(rebuilt))
	}

	// 6. The signature over it.
	hh := h.New()
	hh.Write(rebuilt)
	if err := rsa.VerifyPKCS1v15(pub, h, hh.Sum(nil), p.signature); err != nil {
		return fail(CheckSignature, "the RSA signature over the %s of the content does not verify with the signer's key: the document, the audience or the signature was changed", hashName(h))
	}
	pass(CheckSignature, "RSA PKCS#1 v1.5 over the %s of the content verifies with the signer's key", hashName(h))

	// 7. The signed document, strictly.
	doc, n, err := parseSignedContent(rebuilt, audience)
	if err != nil {
		return fail(CheckDocument, "%v", err)
	}
	pass(CheckDocument, "one JSON object of %d members, none twice, \"audience\" last; instance %s of account %s in %s",
		n, identity.Printable(doc.InstanceID, '?', 64), identity.Printable(doc.AccountID, '?', 64), identity.Printable(doc.RegionID, '?', 64))
	return doc, checks, nil
}

// AudienceRE is the form of a cluster audience (the node checks the same).
var AudienceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$`)

// SplitAudience reads a service audience, "<cluster audience>:<unix
// seconds>": the cluster audience of AudienceRE, the seconds digits only.
func SplitAudience(audience string) (cluster string, secs int64, err error) {
	cut := strings.LastIndexByte(audience, ':')
	if cut < 0 {
		return "", 0, fmt.Errorf("the audience %s is not <cluster audience>:<unix seconds>", quote(audience))
	}
	cluster, digits := audience[:cut], audience[cut+1:]
	if !AudienceRE.MatchString(cluster) {
		return "", 0, fmt.Errorf("the audience %s is not <cluster audience>:<unix seconds>: its cluster audience is not 1 to 128 letters, digits, '.', '_', '-' or '/' starting with a letter or digit", quote(audience))
	}
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return "", 0, fmt.Errorf("the audience %s does not end in :<unix seconds> (digits only)", quote(audience))
	}
	secs, err = strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("the audience %s: its time is out of range", quote(audience))
	}
	return cluster, secs, nil
}

// ServiceAudience is the service's audience syntax (SplitAudience).
func ServiceAudience(audience string) error {
	_, _, err := SplitAudience(audience)
	return err
}

var anyAudienceRE = regexp.MustCompile(`^[A-Za-z0-9._/:-]{1,160}$`)

// AnyAudience is the audience syntax for troubleshooting (hybridnode-cluster
// identity verify): any 1 to 160 of [A-Za-z0-9._/:-], no time required (a
// signature asked for "abc" verifies), never '"' or '\'.
func AnyAudience(audience string) error {
	if strings.ContainsAny(audience, "\"\\") {
		return fmt.Errorf("the audience %s holds '\"' or '\\': it would need escaping in the signed JSON, which the metadata service does not do", quote(audience))
	}
	if !anyAudienceRE.MatchString(audience) {
		return fmt.Errorf("the audience %s is not 1 to 160 letters, digits, '.', '_', '/', ':' or '-'", quote(audience))
	}
	return nil
}

// SignedContent is what the metadata service signs for a document and
// the audience the signature was asked for: Alibaba Cloud's verification
// procedure appends "audience":"<value>" to the end of the document,
// joined to it with a comma, and verifies the PKCS#7 signature over that
// (https://www.alibabacloud.com/help/en/ecs/user-guide/use-instance-identities).
// So {"instance-id":"i-1",...} with audience a:1 becomes
// {"instance-id":"i-1",...,"audience":"a:1"}: the document up to its last
// '}' (only white space may follow it), then ,"audience":", the audience
// as it is, "}. The audience is not escaped (neither is it by the metadata
// service): one that holds '"', '\' or a control character, or is empty,
// is refused.
func SignedContent(document, audience string) ([]byte, error) {
	if audience == "" {
		return nil, errors.New("no audience")
	}
	if strings.IndexFunc(audience, func(r rune) bool { return r == '"' || r == '\\' || r < 0x20 || r == 0x7f }) >= 0 {
		return nil, fmt.Errorf("the audience %s would need escaping in JSON", quote(audience))
	}
	i := strings.LastIndexByte(document, '}')
	if i < 0 {
		return nil, errors.New("the identity document is not a JSON object (no closing '}')")
	}
	if strings.TrimSpace(document[i+1:]) != "" {
		return nil, errors.New("the identity document has data after its closing '}'")
	}
	var b bytes.Buffer
	b.Grow(i + len(audience) + 16)
	b.WriteString(document[:i])
	b.WriteString(`,"audience":"`)
	b.WriteString(audience)
	b.WriteString(`"}`)
	return b.Bytes(), nil
}

// parseSignedContent reads the signed content strictly, with a token walk
// (encoding/json's Unmarshal would keep the last of two equal keys, so a
// document could say one thing to this service and another to a lenient
// reader): printable ASCII (as identity documents are: so a SHA-1
// collision's binary blocks cannot hide in it); one JSON object and
// nothing after it; members whose values are strings or numbers (numbers
// kept as written: account IDs have 16 digits and more), no control
// character in a key or value, escaped or not; no key twice;
// exactly one "audience", a string, the last member and equal to
// audience. Of the document, owner-account-id (or account-id),
// instance-id and region-id are required. It returns the number of
// members.
func parseSignedContent(content []byte, audience string) (Document, int, error) {
	for i, c := range content {
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c > 0x7e {
			return Document{}, 0, fmt.Errorf("byte %d of the signed content is 0x%02x: an identity document is printable ASCII", i, c)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(content))
	dec.UseNumber()
	tok, err := dec.Token()
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '{' {
		return Document{}, 0, errors.New("the signed content is not a JSON object")
	}
	vals := map[string]string{}
	var keys []string
	audiences := 0
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return Document{}, 0, fmt.Errorf("the signed content is not valid JSON: %v", err)
		}
		key, _ := kt.(string)
		if len(key) > maxField {
			return Document{}, 0, fmt.Errorf("the signed content has a key longer than %d bytes", maxField)
		}
		vt, err := dec.Token()
		if err != nil {
			return Document{}, 0, fmt.Errorf("the signed content is not valid JSON: %v", err)
		}
		var val string
		switch v := vt.(type) {
		case string:
			val = v
		case json.Number:
			if key == "audience" {
				return Document{}, 0, errors.New("the signed content's audience is not a string")
			}
			val = v.String()
		default:
			return Document{}, 0, fmt.Errorf("the signed content's %s is not a string or a number", quote(key))
		}
		if strings.IndexFunc(key+val, unicode.IsControl) >= 0 {
			return Document{}, 0, fmt.Errorf("the signed content's %s holds a control character", quote(key))
		}
		if key == "audience" {
			audiences++
		} else if _, dup := vals[key]; dup {
			return Document{}, 0, fmt.Errorf("the signed content gives %s twice", quote(key))
		}
		vals[key] = val
		keys = append(keys, key)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return Document{}, 0, errors.New("the signed content is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return Document{}, 0, errors.New("the signed content has data after its JSON object")
	}
	switch {
	case audiences == 0:
		return Document{}, 0, errors.New("the signed content has no \"audience\"")
	case audiences > 1:
		return Document{}, 0, fmt.Errorf("the signed content has %d \"audience\" members: the identity document holds one of its own", audiences)
	case keys[len(keys)-1] != "audience":
		return Document{}, 0, errors.New("the signed content's \"audience\" is not its last member")
	case vals["audience"] != audience:
		return Document{}, 0, fmt.Errorf("the signed audience %s is not %s", quote(vals["audience"]), quote(audience))
	}
	var problem error
	str := func(names ...string) string {
		val := ""
		for _, k := range names {
			s, ok := vals[k]
			if !ok {
				continue
			}
			if len(s) > maxField {
				problem = fmt.Errorf("the identity document's %s is longer than %d bytes", k, maxField)
				continue
			}
			if val != "" && s != val {
				problem = fmt.Errorf("the identity document gives %s twice, with different values (%s)", names[0], strings.Join(names, ", "))
				continue
			}
			val = s
		}
		return val
	}
	d := Document{
		AccountID:    str("owner-account-id", "account-id"),
		InstanceID:   str("instance-id"),
		RegionID:     str("region-id"),
		ZoneID:       str("zone-id"),
		InstanceType: str("instance-type"),
		ImageID:      str("image-id"),
		PrivateIP:    str("private-ipv4", "private-ip"),
		SerialNumber: str("serial-number"),
		MAC:          str("mac"),
	}
	if problem != nil {
		return Document{}, 0, problem
	}
	if d.AccountID == "" || d.InstanceID == "" || d.RegionID == "" {
		return Document{}, 0, errors.New("the identity document lacks owner-account-id (or account-id), instance-id or region-id")
	}
	return d, len(keys), nil
}

// decodeSignature reads the signature as the metadata service returns it
// (/latest/dynamic/instance-identity/pkcs7: base64 of the DER PKCS#7, which
// Alibaba Cloud's procedure wraps in -----BEGIN PKCS7----- lines for
// openssl), or already PEM-wrapped.
func decodeSignature(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("no signature")
	}
	if strings.HasPrefix(s, "-----BEGIN") {
		b, rest := pem.Decode([]byte(s))
		if b == nil || (b.Type != "PKCS7" && b.Type != "CMS") || len(bytes.TrimSpace(rest)) > 0 {
			return nil, errors.New("the signature is not one PEM block of type PKCS7")
		}
		return b.Bytes, nil
	}
	compact := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
	der, err := base64.StdEncoding.DecodeString(compact)
	if err != nil {
		return nil, errors.New("the signature is not base64 (as the metadata service's pkcs7 answer is)")
	}
	return der, nil
}

func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// quote bounds and quotes what a request says, for a message.
func quote(s string) string { return strconv.Quote(identity.Printable(s, '?', 96)) }
