package cluster

import (
	"context"
	"crypto/subtle"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/cluster-bootstrap/token/jws"
	tokenutil "k8s.io/cluster-bootstrap/token/util"
)

// token is one bootstrap token Secret.
type token struct {
	obj  *corev1.Secret
	id   string
	pool string // its PoolLabel; "" when not hybridnode's
	// secret is the part after the dot: never printed.
	secret    string
	expires   time.Time // zero: never
	badExpiry bool      // an expiration that does not parse (the signer treats it as expired)
	created   time.Time
	// group is the token's auth-extra-groups.
	group string
}

func parseToken(s *corev1.Secret) token {
	t := token{obj: s, pool: s.Labels[PoolLabel], created: s.CreationTimestamp.Time,
		id: string(s.Data[bootstrapapi.BootstrapTokenIDKey]), secret: string(s.Data[bootstrapapi.BootstrapTokenSecretKey]),
		group: string(s.Data[bootstrapapi.BootstrapTokenExtraGroupsKey])}
	if t.id == "" {
		if id, ok := trimPrefix(s.Name, bootstrapapi.BootstrapTokenSecretPrefix); ok {
			t.id = id
		}
	}
	if exp := string(s.Data[bootstrapapi.BootstrapTokenExpirationKey]); exp != "" {
		if e, err := time.Parse(time.RFC3339, exp); err == nil {
			t.expires = e
		} else {
			t.badExpiry = true
		}
	}
	return t
}

func trimPrefix(s, p string) (string, bool) {
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return "", false
}

// expired at now (a bad expiration counts as expired, as for the signer).
func (t token) expired(now time.Time) bool {
	return t.badExpiry || !t.expires.IsZero() && !now.Before(t.expires)
}

// validFor: unexpired for longer than d.
func (t token) validFor(now time.Time, d time.Duration) bool {
	if t.badExpiry {
		return false
	}
	return t.expires.IsZero() || t.expires.Sub(now) > d
}

// expiry is how a token's expiry prints.
func (t token) expiry() string {
	switch {
	case t.badExpiry:
		return "an unparseable expiration (treated as expired)"
	case t.expires.IsZero():
		return "never expires"
	}
	return "expires " + t.expires.UTC().Format(time.RFC3339)
}

// bootstrapTokens lists the bootstrap token Secrets in kube-system; with a
// pool, only that pool's. Newest first: by creation, then by expiry.
func bootstrapTokens(ctx context.Context, c *Client, pool string) ([]token, error) {
	opts := metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("type", string(bootstrapapi.SecretTypeBootstrapToken)).String()}
	if pool != "" {
		opts.LabelSelector = labels.Set{PoolLabel: pool}.String()
	}
	list, err := c.Core.Secrets(kubeSystem).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("list bootstrap token Secrets in %s: %w", kubeSystem, err)
	}
	var out []token
	for i := range list.Items {
		s := &list.Items[i]
		if s.Type != bootstrapapi.SecretTypeBootstrapToken {
			continue
		}
		t := parseToken(s)
		if pool != "" && t.pool != pool {
			continue
		}
		out = append(out, t)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.created.Equal(b.created) {
			return a.created.After(b.created)
		}
		if !a.expires.Equal(b.expires) {
			return a.expires.IsZero() || !b.expires.IsZero() && a.expires.After(b.expires)
		}
		return a.obj.Name < b.obj.Name
	})
	return out, nil
}

// newToken makes (does not create) a pool token Secret in group (kubeadm's
// node group, or tokenservice.PoolGroup when hybridnode's approver runs).
func newToken(pool string, now time.Time, ttl time.Duration, group string) (token, error) {
	full, err := tokenutil.GenerateBootstrapToken()
	if err != nil {
		return token{}, fmt.Errorf("generate a bootstrap token: %w", err)
	}
	id, secret := full[:bootstrapapi.BootstrapTokenIDBytes], full[bootstrapapi.BootstrapTokenIDBytes+1:]
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      tokenutil.BootstrapTokenSecretName(id),
			Namespace: kubeSystem,
			Labels:    map[string]string{PoolLabel: pool},
		},
		Type: bootstrapapi.SecretTypeBootstrapToken,
		Data: map[string][]byte{
			bootstrapapi.BootstrapTokenIDKey:               []byte(id),
			bootstrapapi.BootstrapTokenSecretKey:           []byte(secret),
			bootstrapapi.BootstrapTokenUsageAuthentication: []byte("true"),
			bootstrapapi.BootstrapTokenUsageSigningKey:     []byte("true"),
			bootstrapapi.BootstrapTokenExtraGroupsKey:      []byte(group),
			bootstrapapi.BootstrapTokenDescriptionKey:      []byte("hybridnode-cluster: bootstrap token of node pool " + pool),
		},
	}
	t := token{obj: s, id: id, pool: pool, secret: secret, created: now, group: group}
	if ttl > 0 {
		t.expires = now.Add(ttl).UTC().Truncate(time.Second)
		s.Data[bootstrapapi.BootstrapTokenExpirationKey] = []byte(t.expires.Format(time.RFC3339))
	}
	return t, nil
}

// Signature states of a token in cluster-info.
const (
	sigOK = iota
	sigMissing
	sigMismatch
	sigNoKubeconfig
)

// signature checks cluster-info's jws-kubeconfig-<id> for the token.
func signature(cm *corev1.ConfigMap, t token) int {
	content := cm.Data[bootstrapapi.KubeConfigKey]
	if content == "" {
		return sigNoKubeconfig
	}
	sig, ok := cm.Data[bootstrapapi.JWSSignatureKeyPrefix+t.id]
	if !ok || sig == "" {
		return sigMissing
	}
	want, err := jws.ComputeDetachedSignature(content, t.id, t.secret)
	if err != nil || subtle.ConstantTimeCompare([]byte(want), []byte(sig)) != 1 {
		return sigMismatch
	}
	return sigOK
}

// signerRemedy is what to do when cluster-info carries no valid signature.
const signerRemedy = "kube-controller-manager must run the bootstrapsigner controller (--controllers=*,bootstrapsigner,tokencleaner), which signs cluster-info for every unexpired token with usage-bootstrap-signing"

// waitSigned polls cluster-info until it carries a valid signature for t,
// at most timeout.
func waitSigned(ctx context.Context, c *Client, t token, interval, timeout time.Duration) error {
	last := sigMissing
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, interval, timeout, true, func(ctx context.Context) (bool, error) {
		cm, err := c.Core.ConfigMaps(kubePublic).Get(ctx, bootstrapapi.ConfigMapClusterInfo, metav1.GetOptions{})
		if err != nil {
			lastErr = err
			return false, nil
		}
		lastErr = nil
		last = signature(cm, t)
		return last == sigOK, nil
	})
	if err == nil {
		return nil
	}
	why := "no jws-kubeconfig-" + t.id + " signature"
	switch {
	case lastErr != nil:
		why = "reading it failed: " + scrub(lastErr, t.secret).Error()
	case last == sigMismatch:
		why = "jws-kubeconfig-" + t.id + " does not verify"
	case last == sigNoKubeconfig:
		why = "it has no kubeconfig"
	}
	return fmt.Errorf("%s/%s shows no valid signature for bootstrap token %s after %s (%s): a node given this token fails discovery; %s: %w",
		kubePublic, bootstrapapi.ConfigMapClusterInfo, t.id, timeout, why, signerRemedy, scrub(err, t.secret))
}
