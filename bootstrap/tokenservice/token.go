package tokenservice

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
)

// Labels and annotations of the token Secrets the service makes.
const (
	// CredentialLabel=CredentialIdentity marks them.
	CredentialLabel    = "hybridnode.io/credential"
	CredentialIdentity = "instance-identity"
	// ProviderIDAnnotation is the provider ID the node said it will
	// register with; the reconcile loop deletes the token once a Node has it.
	ProviderIDAnnotation = "hybridnode.io/provider-id"
	InstanceAnnotation   = "hybridnode.io/instance-id"
	AccountAnnotation    = "hybridnode.io/account-id"
	NodeNameAnnotation   = "hybridnode.io/node-name"
	// Namespace holds bootstrap token Secrets.
	Namespace = "kube-system"
	// IdentityGroup is the group of the tokens the service issues. Unlike
	// kubeadm's system:bootstrappers:kubeadm:default-node-token, no binding
	// lets kube-controller-manager auto-approve its kubelet client CSRs
	// (for any system:node:* name): the service's approver approves one
	// CSR per token, for the name derived from the signed document.
	IdentityGroup = "system:bootstrappers:hybridnode:identity"
	// PoolGroup is the group of the node-pool tokens setup makes when the
	// approver runs: their CSRs are approved for names of the pool's
	// pattern that no Node holds.
	PoolGroup = "system:bootstrappers:hybridnode:pool"
)

const tokenChars = "abcdefghijklmnopqrstuvwxyz0123456789"

// TokenID is the bootstrap token ID of an instance: 6 characters of
// [a-z0-9] from a SHA-256 of the account and instance ID. It is not a
// secret (it names the token's Secret); deriving it makes the Secret's name
// the replay record of the instance.
func TokenID(account, instance string) string {
	sum := sha256.Sum256([]byte("hybridnode-token-id\x00" + account + "\x00" + instance))
	n := binary.BigEndian.Uint64(sum[:8])
	var b [bootstrapapi.BootstrapTokenIDBytes]byte
	for i := range b {
		b[i] = tokenChars[n%uint64(len(tokenChars))]
		n /= uint64(len(tokenChars))
	}
	return string(b[:])
}

// SecretName is the name of the token Secret of an ID.
func SecretName(id string) string { return bootstrapapi.BootstrapTokenSecretPrefix + id }

// randomSecret is a token secret: 16 characters of [a-z0-9] from
// crypto/rand, without modulo bias.
func randomSecret() (string, error) {
	out := make([]byte, 0, bootstrapapi.BootstrapTokenSecretBytes)
	buf := make([]byte, 32)
	const limit = 256 - 256%len(tokenChars) // 252: below it, b%36 is uniform
	for len(out) < cap(out) {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("random token secret: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < cap(out) {
				out = append(out, tokenChars[int(b)%len(tokenChars)])
			}
		}
	}
	return string(out), nil
}

// grant is one token to make.
type grant struct {
	doc        Document
	providerID string
	nodeName   string
	id, secret string
	expires    time.Time
}

// secret is the token Secret of g.
func (g grant) secretObject() *corev1.Secret {
	node := g.nodeName
	if node == "" {
		node = "(not named)"
	}
	desc := fmt.Sprintf("hybridnode token-service: instance %s of account %s (%s, %s) for node %s",
		g.doc.InstanceID, g.doc.AccountID, g.doc.RegionID, g.doc.ZoneID, node)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      SecretName(g.id),
			Namespace: Namespace,
			Labels:    map[string]string{CredentialLabel: CredentialIdentity},
			Annotations: map[string]string{
				ProviderIDAnnotation: g.providerID,
				InstanceAnnotation:   g.doc.InstanceID,
				AccountAnnotation:    g.doc.AccountID,
				NodeNameAnnotation:   g.nodeName,
			},
		},
		Type: bootstrapapi.SecretTypeBootstrapToken,
		Data: map[string][]byte{
			bootstrapapi.BootstrapTokenIDKey:               []byte(g.id),
			bootstrapapi.BootstrapTokenSecretKey:           []byte(g.secret),
			bootstrapapi.BootstrapTokenExpirationKey:       []byte(g.expires.UTC().Format(time.RFC3339)),
			bootstrapapi.BootstrapTokenUsageAuthentication: []byte("true"),
			bootstrapapi.BootstrapTokenUsageSigningKey:     []byte("true"),
			bootstrapapi.BootstrapTokenExtraGroupsKey:      []byte(IdentityGroup),
			bootstrapapi.BootstrapTokenDescriptionKey:      []byte(desc),
		},
	}
}
