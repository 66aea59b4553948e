package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/metadata"
)

// The instance identity, as Alibaba Cloud documents it ("Use instance
// identities", https://www.alibabacloud.com/help/en/ecs/user-guide/use-instance-identities,
// also https://www.alibabacloud.com/help/doc-detail/67254.htm): the
// document is JSON at /latest/dynamic/instance-identity/document, and
// /latest/dynamic/instance-identity/pkcs7?audience=<value> is a PKCS#7
// signature (base64, with the signing certificate) whose signed content is
// the document with "audience":"<value>" appended as its last member. The
// audience keeps a signature from being reused elsewhere: hybridnode's is
// "<cluster audience>:<unix seconds>", so one signature serves one cluster
// for a few minutes. In the metadata service's security hardening mode
// both are asked with the token from PUT /latest/api/token, which
// metadata.Client does. The node never verifies the signature; the token
// service does.
const (
	documentItem = "instance-identity/document"
	pkcs7Item    = "instance-identity/pkcs7"
)

// Identity is what the metadata service gave, exactly as it gave it.
type Identity struct {
	Document  string
	Signature string
	Audience  string
}

// Audience is the audience a node asks to be signed: the cluster's,
// ':' and the time in unix seconds.
func Audience(cluster string, t time.Time) string {
	return cluster + ":" + strconv.FormatInt(t.Unix(), 10)
}

// Fetch asks the metadata service for the identity document and its
// signature for audience (hardening mode first, then the normal mode, as
// metadata.Client does). Any failure is an *Error of Kind
// MetadataUnreachable.
func Fetch(ctx context.Context, m *metadata.Client, audience string) (Identity, error) {
	doc, err := m.Dynamic(ctx, documentItem)
	if err == nil {
		_, err = ParseDocument(doc)
	}
	if err != nil {
		return Identity{}, metadataError(m.Endpoint(), "the instance identity document", err)
	}
	sig, err := m.Dynamic(ctx, pkcs7Item+"?audience="+url.QueryEscape(audience))
	if err == nil && strings.TrimSpace(sig) == "" {
		err = fmt.Errorf("empty answer")
	}
	if err != nil {
		return Identity{}, metadataError(m.Endpoint(), "the instance identity signature", err)
	}
	return Identity{Document: doc, Signature: strings.TrimSpace(sig), Audience: audience}, nil
}

// FetchDocument reads and parses the identity document alone (doctor:
// nothing is signed).
func FetchDocument(ctx context.Context, m *metadata.Client) (Document, error) {
	raw, err := m.Dynamic(ctx, documentItem)
	if err != nil {
		return Document{}, metadataError(m.Endpoint(), "the instance identity document", err)
	}
	d, err := ParseDocument(raw)
	if err != nil {
		return d, metadataError(m.Endpoint(), "the instance identity document", err)
	}
	return d, nil
}

func metadataError(endpoint, what string, err error) *Error {
	return &Error{Kind: MetadataUnreachable, Err: err, Msg: fmt.Sprintf(
		"the ECS instance metadata service at %s did not give %s: credentialSource instance-identity needs an ECS instance "+
			"whose metadata service is enabled and reachable (check the instance's metadata access settings; metadataEndpoint is for tests only)",
		endpoint, what)}
}

// Document holds the fields of an identity document that hybridnode names.
// Alibaba Cloud's documents have owner-account-id and private-ipv4 (older
// ones account-id and private-ip); both spellings are read.
type Document struct {
	AccountID  string
	RegionID   string
	ZoneID     string
	InstanceID string
	PrivateIP  string
}

// ParseDocument reads an identity document; instance-id and region-id are
// required.
func ParseDocument(doc string) (Document, error) {
	var raw map[string]any
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber() // account IDs have 16 digits and more: exact, never float64
	if err := dec.Decode(&raw); err != nil {
		return Document{}, fmt.Errorf("the identity document is not a JSON object: %w", err)
	}
	str := func(keys ...string) string {
		for _, k := range keys {
			switch v := raw[k].(type) {
			case string:
				return v
			case json.Number:
				return v.String()
			}
		}
		return ""
	}
	d := Document{
		AccountID:  str("owner-account-id", "account-id"),
		RegionID:   str("region-id"),
		ZoneID:     str("zone-id"),
		InstanceID: str("instance-id"),
		PrivateIP:  str("private-ipv4", "private-ip"),
	}
	if d.InstanceID == "" || d.RegionID == "" {
		return d, fmt.Errorf("the identity document has no instance-id or region-id")
	}
	return d, nil
}

// ProviderID is the kubelet provider ID of the document's instance,
// "<region-id>.<instance-id>".
func (d Document) ProviderID() string { return d.RegionID + "." + d.InstanceID }
