package tokenservice

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/hybridnode/hybridnode/bootstrap/kubeconfig"
)

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

// maxField bounds one value of the document (IDs are far shorter).
const maxField = 256

// parseDocument reads an identity document. Numbers are kept as written
// (an account ID of 16 or more digits does not survive a float64).
// account, instance-id and region-id are required.
func parseDocument(doc string) (Document, error) {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return Document{}, fmt.Errorf("the identity document is not a JSON object: %v", err)
	}
	if dec.More() {
		return Document{}, errors.New("the identity document has data after its JSON object")
	}
	var problem error
	str := func(keys ...string) string {
		val := ""
		for _, k := range keys {
			var s string
			switch v := raw[k].(type) {
			case nil:
				continue
			case string:
				s = v
			case json.Number:
				s = v.String()
			default:
				problem = fmt.Errorf("the identity document's %s is not a string", k)
				continue
			}
			if len(s) > maxField {
				problem = fmt.Errorf("the identity document's %s is longer than %d bytes", k, maxField)
				continue
			}
			if val != "" && s != val {
				problem = fmt.Errorf("the identity document gives %s twice, with different values (%s)", keys[0], strings.Join(keys, ", "))
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
		return d, problem
	}
	if d.AccountID == "" || d.InstanceID == "" || d.RegionID == "" {
		return d, errors.New("the identity document lacks owner-account-id (or account-id), instance-id or region-id")
	}
	return d, nil
}

// SignedContent is what the metadata service signs for a document and the
// audience the signature was asked for: when an audience is given, Alibaba
// Cloud's verification procedure appends "audience":"<value>" to the end of
// the document, joined to it with a comma, before the detached PKCS#7
// signature is checked (https://www.alibabacloud.com/help/en/ecs/user-guide/use-instance-identities,
// https://www.alibabacloud.com/help/doc-detail/67254.htm). So
// {"instance-id":"i-1",...} with audience a:1 becomes
// {"instance-id":"i-1",...,"audience":"a:1"}. Without an audience the
// document is signed as it is.
func SignedContent(document, audience string) ([]byte, error) {
	if audience == "" {
		return []byte(document), nil
	}
	i := strings.LastIndexByte(document, '}')
	if i < 0 {
		return nil, errors.New("the identity document is not a JSON object")
	}
	var b bytes.Buffer
	b.Grow(len(document) + len(audience) + 16)
	b.WriteString(document[:i])
	b.WriteString(`,"audience":"`)
	b.WriteString(audience)
	b.WriteString(`"`)
	b.WriteString(document[i:])
	return b.Bytes(), nil
}

// decodeSignature reads the signature as the metadata service returns it
// (/latest/dynamic/instance-identity/pkcs7: base64 of the DER PKCS#7, which
// Alibaba Cloud's procedure wraps in -----BEGIN PKCS7----- lines for
// openssl), or already PEM-wrapped.
func decodeSignature(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
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

// verified is a valid signature's signing time, when it carries one.
type verified struct {
	signingTime    time.Time
	hasSigningTime bool
}

// verifySignature checks that sig is a valid PKCS#7 signature of content
// (detached) by signers whose certificates chain to roots at now. A
// signature that carries content of its own must carry exactly content.
func verifySignature(sig string, content []byte, roots *x509.CertPool, now time.Time) (v verified, err error) {
	if roots == nil {
		return v, errors.New("no certificate to verify against")
	}
	der, err := decodeSignature(sig)
	if err != nil {
		return v, err
	}
	defer func() {
		// The parser reads untrusted ASN.1: a panic is a refusal.
		if r := recover(); r != nil {
			v, err = verified{}, fmt.Errorf("the signature does not parse as PKCS#7 (%v)", r)
		}
	}()
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return v, fmt.Errorf("the signature does not parse as PKCS#7: %v", err)
	}
	if len(p7.Signers) == 0 {
		return v, errors.New("the PKCS#7 signature has no signer")
	}
	if len(p7.Content) > 0 && !bytes.Equal(p7.Content, content) {
		return v, errors.New("the PKCS#7 signature carries content other than the document and audience")
	}
	p7.Content = content
	if err := p7.VerifyWithChainAtTime(roots, now); err != nil {
		return v, fmt.Errorf("the PKCS#7 signature does not verify against the configured certificates: %v", err)
	}
	var st time.Time
	if err := p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeSigningTime, &st); err == nil {
		v.signingTime, v.hasSigningTime = st, true
	}
	return v, nil
}

// LoadRoots reads a PEM bundle of the certificates signatures must chain
// to (--identity-ca).
func LoadRoots(pemData []byte) (*x509.CertPool, int, error) {
	certs, err := kubeconfig.ParseCerts(pemData)
	if err != nil {
		return nil, 0, err
	}
	if len(certs) == 0 {
		return nil, 0, errors.New("no PEM CERTIFICATE block")
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, len(certs), nil
}
