package tokenservice

import (
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/hybridnode/hybridnode/bootstrap/identity"
)

// The PKCS#7 (RFC 2315) the ECS metadata service answers at
// /latest/dynamic/instance-identity/pkcs7 is one shape only, read here
// with encoding/asn1 rather than a general PKCS#7 library (which would
// look for the signer among the certificates the signature carries, where
// ECS puts none, and would honour what ECS never sends):
//
//	ContentInfo {
//	  contentType signedData (1.2.840.113549.1.7.2)
//	  [0] SignedData {
//	    version 1
//	    digestAlgorithms SET { sha1 }
//	    contentInfo { data (1.2.840.113549.1.7.1), [0] OCTET STRING <content> }
//	    -- no certificates [0], no crls [1]
//	    signerInfos SET { SignerInfo {
//	      version 1
//	      issuerAndSerialNumber { <Alibaba Cloud's certificate's issuer>, 0x6666D187 }
//	      digestAlgorithm sha1
//	      -- no authenticatedAttributes [0]: so no signingTime
//	      digestEncryptionAlgorithm rsaEncryption
//	      encryptedDigest <RSA PKCS#1 v1.5 over SHA-1 of the content>
//	    } }
//	  }
//	}
//
// (testdata/ecs-real holds a real one.) parsePKCS7 reads that, in DER, and
// says what differs; verifyIdentity decides what is refused.

var (
	oidSignedData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidData             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSHA1             = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256           = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidRSAEncryption    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidSHA1WithRSA      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidSHA256WithRSA    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidAttrSigningTime  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidAttrContentType  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrMessageDigst = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
)

type p7ContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,optional,tag:0"`
}

type p7SignedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	ContentInfo      p7ContentInfo
	Certificates     asn1.RawValue  `asn1:"optional,tag:0"`
	CRLs             asn1.RawValue  `asn1:"optional,tag:1"`
	SignerInfos      []p7SignerInfo `asn1:"set"`
}

type p7IssuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type p7SignerInfo struct {
	Version                   int
	IssuerAndSerialNumber     p7IssuerAndSerial
	DigestAlgorithm           pkix.AlgorithmIdentifier
	AuthenticatedAttributes   asn1.RawValue `asn1:"optional,tag:0"`
	DigestEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedDigest           []byte
	UnauthenticatedAttributes asn1.RawValue `asn1:"optional,tag:1"`
}

// pkcs7Sig is what parsePKCS7 read of a signature.
type pkcs7Sig struct {
	signedDataVersion int
	digestAlgorithms  []asn1.ObjectIdentifier
	contentType       asn1.ObjectIdentifier
	content           []byte // the attached content; nil when detached
	attached          bool
	certificates      bool // it carries certificates (never trusted)
	crls              bool
	signers           int

	// Of its one SignerInfo (the first, when there are more).
	signerVersion int
	issuer        []byte // the DER Name
	serial        *big.Int
	digestOID     asn1.ObjectIdentifier
	digestParams  bool // parameters other than absent or NULL
	encOID        asn1.ObjectIdentifier
	encParams     bool
	signedAttrs   []asn1.ObjectIdentifier // the types of its authenticated attributes
	hasSignedAttr bool
	signature     []byte
}

// parsePKCS7 reads a DER PKCS#7 signedData. It reads what anyone sends:
// a panic is an error, and no data may follow the structure.
func parsePKCS7(der []byte) (p *pkcs7Sig, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("the signature does not parse as PKCS#7 (%v)", r)
		}
	}()
	var ci p7ContentInfo
	rest, err := asn1.Unmarshal(der, &ci)
	if err != nil {
		return nil, fmt.Errorf("the signature does not parse as PKCS#7 (DER): %v", err)
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("the signature has %d bytes after its PKCS#7 structure", len(rest))
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("the PKCS#7 content type is %v, not signedData", ci.ContentType)
	}
	var sd p7SignedData
	if rest, err = asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, fmt.Errorf("the PKCS#7 SignedData does not parse: %v", err)
	}
	if len(rest) > 0 {
		return nil, errors.New("the PKCS#7 SignedData is followed by other data")
	}
	p = &pkcs7Sig{signedDataVersion: sd.Version, contentType: sd.ContentInfo.ContentType, signers: len(sd.SignerInfos),
		certificates: len(sd.Certificates.FullBytes) > 0, crls: len(sd.CRLs.FullBytes) > 0}
	for _, a := range sd.DigestAlgorithms {
		p.digestAlgorithms = append(p.digestAlgorithms, a.Algorithm)
	}
	if len(sd.ContentInfo.Content.FullBytes) > 0 {
		// [0] EXPLICIT OCTET STRING, primitive (DER).
		var content []byte
		if rest, err = asn1.Unmarshal(sd.ContentInfo.Content.Bytes, &content); err != nil {
			return nil, fmt.Errorf("the PKCS#7 content is not one OCTET STRING: %v", err)
		}
		if len(rest) > 0 {
			return nil, errors.New("the PKCS#7 content is followed by other data")
		}
		p.content, p.attached = content, true
	}
	if len(sd.SignerInfos) == 0 {
		return p, nil
	}
	si := sd.SignerInfos[0]
	p.signerVersion = si.Version
	p.issuer = si.IssuerAndSerialNumber.Issuer.FullBytes
	p.serial = si.IssuerAndSerialNumber.Serial
	p.digestOID, p.digestParams = si.DigestAlgorithm.Algorithm, hasParams(si.DigestAlgorithm)
	p.encOID, p.encParams = si.DigestEncryptionAlgorithm.Algorithm, hasParams(si.DigestEncryptionAlgorithm)
	p.signature = si.EncryptedDigest
	if len(si.AuthenticatedAttributes.FullBytes) > 0 {
		p.hasSignedAttr = true
		var attrs []struct {
			Type   asn1.ObjectIdentifier
			Values asn1.RawValue `asn1:"set"`
		}
		// [0] IMPLICIT SET OF Attribute: read its contents as a SEQUENCE OF.
		if _, err := asn1.Unmarshal(append([]byte{0x30}, si.AuthenticatedAttributes.FullBytes[1:]...), &attrs); err == nil {
			for _, a := range attrs {
				p.signedAttrs = append(p.signedAttrs, a.Type)
			}
		}
	}
	return p, nil
}

// hasParams: an AlgorithmIdentifier's parameters are neither absent nor
// NULL.
func hasParams(a pkix.AlgorithmIdentifier) bool {
	return len(a.Parameters.FullBytes) > 0 && !(a.Parameters.Tag == asn1.TagNull && len(a.Parameters.Bytes) == 0)
}

// digestHash is the hash of a digest algorithm OID: SHA-1 (what ECS signs
// with) or SHA-256; 0 for any other.
func digestHash(oid asn1.ObjectIdentifier) crypto.Hash {
	switch {
	case oid.Equal(oidSHA1):
		return crypto.SHA1
	case oid.Equal(oidSHA256):
		return crypto.SHA256
	}
	return 0
}

// rsaFor: the digestEncryptionAlgorithm is RSA PKCS#1 v1.5 for hash h.
// ECS writes rsaEncryption; sha1WithRSAEncryption or
// sha256WithRSAEncryption matching the digest mean the same (RFC 3370).
func rsaFor(oid asn1.ObjectIdentifier, h crypto.Hash) bool {
	switch {
	case oid.Equal(oidRSAEncryption):
		return true
	case oid.Equal(oidSHA1WithRSA):
		return h == crypto.SHA1
	case oid.Equal(oidSHA256WithRSA):
		return h == crypto.SHA256
	}
	return false
}

// attrName names the usual signed attributes in a refusal.
func attrName(oid asn1.ObjectIdentifier) string {
	switch {
	case oid.Equal(oidAttrSigningTime):
		return "signingTime"
	case oid.Equal(oidAttrContentType):
		return "contentType"
	case oid.Equal(oidAttrMessageDigst):
		return "messageDigest"
	}
	return oid.String()
}

func hashName(h crypto.Hash) string {
	switch h {
	case crypto.SHA1:
		return "SHA-1"
	case crypto.SHA256:
		return "SHA-256"
	}
	return h.String()
}

// describeName renders a DER Name for a message ("?" when it does not
// parse).
func describeName(der []byte) string {
	var rdn pkix.RDNSequence
	if rest, err := asn1.Unmarshal(der, &rdn); err != nil || len(rest) > 0 {
		return "?"
	}
	var n pkix.Name
	n.FillFromRDNSequence(&rdn)
	return identity.Printable(n.String(), '?', 160)
}
