// Package identity is the contract between a node and hybridnode's token
// service: the node proves who it is with the ECS instance identity (a
// document and its PKCS#7 signature from the instance metadata service) and
// gets back a short-lived bootstrap token for its join.
//
// The audience the node asks the metadata service to sign is
// "<cluster audience>:<unix seconds>"; the service checks both parts, so a
// signature is bound to one cluster and to a few minutes.
package identity

import "time"

// ExchangePath is the token service's one endpoint (POST, JSON).
const ExchangePath = "/v1/exchange"

// MaxRequestBytes bounds an exchange request body.
const MaxRequestBytes = 64 << 10

// ExchangeRequest is what a node sends.
type ExchangeRequest struct {
	// Document is the instance identity document exactly as the metadata
	// service returned it (/latest/dynamic/instance-identity/document).
	Document string `json:"document"`
	// Signature is the PKCS#7 signature exactly as the metadata service
	// returned it (/latest/dynamic/instance-identity/pkcs7?audience=...).
	Signature string `json:"signature"`
	// Audience is the audience the signature was asked for.
	Audience string `json:"audience"`
	// ProviderID is the kubelet provider ID the node will register with
	// ("<region>.<instance-id>").
	ProviderID string `json:"providerID"`
	// NodeName is the Node name the node will register as.
	NodeName string `json:"nodeName"`
}

// ExchangeResponse is the service's answer to an accepted request.
type ExchangeResponse struct {
	// Token is a kubeadm bootstrap token, "<id>.<secret>". It is a secret:
	// the node keeps it in memory and in a 0600 file for its join only.
	Token      string    `json:"token"`
	Expiration time.Time `json:"expiration"`
}

// Refusal is the body of every non-2xx answer.
type Refusal struct {
	Reason  Reason `json:"reason"`
	Message string `json:"message"`
}

// Reason names why a request was refused.
type Reason string

// The reasons, in the order the service checks them.
const (
	ReasonTooLarge    Reason = "too-large"         // 413: body over MaxRequestBytes
	ReasonRateLimited Reason = "rate-limited"      // 429: too many requests; retry after Retry-After
	ReasonBadRequest  Reason = "bad-request"       // 400: not JSON, or a field missing
	ReasonSignature   Reason = "signature-refused" // 403: PKCS#7 not valid for the document, or not by the configured certificate
	ReasonAudience    Reason = "audience-mismatch" // 403: another cluster's audience
	ReasonStale       Reason = "stale-signature"   // 403: the audience's time outside the window (ECS signs no signing time)
	ReasonAccount     Reason = "account-not-allowed"
	ReasonRegion      Reason = "region-not-allowed" // region or zone not in the allow-list
	ReasonInstance    Reason = "instance-mismatch"  // the document's instance is not the provider ID's
	ReasonNodeName    Reason = "node-name-mismatch" // the node's name is not the one derived from its signed document
	ReasonReplay      Reason = "replay"             // a token was issued to this instance within the window, or the signature was used before
	ReasonInternal    Reason = "internal"           // 5xx: the service could not create the token
)
