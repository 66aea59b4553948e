// Package ecstest signs as the ECS instance metadata service does, for the
// token service's tests and for e2e/fakeimds: one signer, so that the unit
// tests and the e2e's fake hold the same shape, and that shape is held to a
// real captured signature (bootstrap/tokenservice/testdata/ecs-real, and
// e2e/fakeimds's TestSignatureShapeIsECS).
//
// The shape (openssl asn1parse of the real sample; "Use instance
// identities", https://www.alibabacloud.com/help/en/ecs/user-guide/use-instance-identities):
//
//	ContentInfo { signedData, [0] SignedData {
//	  version 1, digestAlgorithms { sha1 },
//	  contentInfo { data, [0] OCTET STRING content },
//	  signerInfos { SignerInfo {
//	    version 1, issuerAndSerialNumber of the certificate, sha1,
//	    rsaEncryption, RSA PKCS#1 v1.5 signature of SHA-1(content) } } } }
//
// No certificates, no CRLs, no signed attributes (so no signingTime).
// smallstep/pkcs7 and the like always add signed attributes, which ECS
// never does: so it is written here with encoding/asn1.
package ecstest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"time"
)

// OIDs of the signature.
var (
	OIDSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	OIDData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	OIDSHA1          = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	OIDSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	OIDRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}

	oidAttrContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAttrSigningTime   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
)

// Options vary a signature from ECS's shape (the zero value), for tests of
// what a verifier must refuse.
type Options struct {
	Hash     crypto.Hash // 0: SHA-1, as ECS; or crypto.SHA256
	Detached bool        // no content attached
	Attrs    bool        // signed attributes (contentType, signingTime, messageDigest), as most PKCS#7 libraries add
	Certs    bool        // the signer's certificate carried
	Content  []byte      // attach this instead of what is signed
}

// Sign is the DER PKCS#7 signature of content by key, naming cert as its
// signer.
func Sign(cert *x509.Certificate, key *rsa.PrivateKey, content []byte, o Options) ([]byte, error) {
	h, digestOID := crypto.SHA1, OIDSHA1
	if o.Hash == crypto.SHA256 {
		h, digestOID = crypto.SHA256, OIDSHA256
	}
	null := []byte{asn1.TagNull, 0}
	alg := DER(0x30, marshal(digestOID), null)
	hh := h.New()
	hh.Write(content)
	sum := hh.Sum(nil)
	var attrs []byte
	if o.Attrs {
		set := DER(0x31,
			DER(0x30, marshal(oidAttrContentType), DER(0x31, marshal(OIDData))),
			DER(0x30, marshal(oidAttrSigningTime), DER(0x31, marshal(time.Now().UTC()))),
			DER(0x30, marshal(oidAttrMessageDigest), DER(0x31, marshal(sum))))
		as := h.New()
		as.Write(set)
		sum = as.Sum(nil)
		attrs = append([]byte{0xa0}, set[1:]...)
	}
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, h, sum)
	if err != nil {
		return nil, err
	}
	signerInfo := DER(0x30, marshal(1), DER(0x30, cert.RawIssuer, marshal(cert.SerialNumber)), alg, attrs,
		DER(0x30, marshal(OIDRSAEncryption), null), marshal(sig))
	attached := content
	if o.Content != nil {
		attached = o.Content
	}
	encap := DER(0x30, marshal(OIDData))
	if !o.Detached {
		encap = DER(0x30, marshal(OIDData), DER(0xa0, marshal(attached)))
	}
	var certs []byte
	if o.Certs {
		certs = DER(0xa0, cert.Raw)
	}
	sd := DER(0x30, marshal(1), DER(0x31, alg), encap, certs, DER(0x31, signerInfo))
	return DER(0x30, marshal(OIDSignedData), DER(0xa0, sd)), nil
}

// DER is one DER element: tag, its length, the parts as its contents.
func DER(tag byte, parts ...[]byte) []byte {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	n := len(body)
	out := []byte{tag}
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	case n < 0x10000:
		out = append(out, 0x82, byte(n>>8), byte(n))
	default:
		out = append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, body...)
}

func marshal(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic(err) // OIDs, integers, times and byte strings always marshal
	}
	return b
}
