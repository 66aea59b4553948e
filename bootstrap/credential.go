package bootstrap

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/identity"
	"github.com/hybridnode/hybridnode/bootstrap/metadata"
)

// fromTokenService stands in for the token in a plan or under a root with
// no live host: the token service is asked only right before kubeadm join
// runs (an exchange uses up the instance's token for the service's window).
const fromTokenService = "[from the token service]"

// tokenMargin: a token expiring sooner than this is exchanged again before
// a retried join attempt.
const tokenMargin = time.Minute

// usesIdentity reports whether the join's token comes from the token
// service (credentialSource instance-identity).
func (n *Node) usesIdentity() bool {
	return n.Spec.CredentialSource == config.CredentialInstanceIdentity
}

// joinToken is the token the JoinConfiguration gets. With credentialSource
// token it is the configured one. With instance-identity it is
// fromTokenService in a dry run or with no live host behind the root (no
// network call); otherwise this instance's identity is exchanged at the
// token service, once: n.token() is that token from then on, so the
// kubeadm log and the report scrub it.
func (n *Node) joinToken(ctx context.Context) (string, error) {
	if !n.usesIdentity() {
		return n.Spec.Token.Reveal(), nil
	}
	ts := n.Spec.TokenService
	if n.DryRun || !n.Live {
		n.Log.Info("bootstrap token: from the token service at join time; not asked now",
			zap.String("tokenService", ts.URL), zap.Bool("dryRun", n.DryRun), zap.Bool("live", n.Live))
		return fromTokenService, nil
	}
	if n.issued == nil {
		if err := n.exchange(ctx); err != nil {
			return "", err
		}
	}
	return n.token().Reveal(), nil
}

// token is the join's bootstrap token: the one the token service issued
// (after an exchange), else the configured one.
func (n *Node) token() config.Secret {
	if n.issued != nil {
		return n.issued.Secret
	}
	return n.Spec.Token
}

// providerID is the resolved provider ID or, when none was resolved, the
// instance identity document's (known after an exchange).
func (n *Node) providerID() string {
	if n.Spec.ProviderID != "" {
		return n.Spec.ProviderID
	}
	return n.docProviderID
}

// tokenExpiring: the token from the service expires within tokenMargin.
func (n *Node) tokenExpiring() bool {
	return n.issued != nil && !n.issued.Expiration.IsZero() && n.now().Add(tokenMargin).After(n.issued.Expiration)
}

// exchange fetches this instance's identity from the metadata service,
// signed for "<audience>:<now>", and exchanges it for a token. The provider
// ID sent is the resolved one (ACK's ALIBABA_CLOUD_PROVIDER_ID, or from the
// metadata on a hand run); when there is none, it is the identity
// document's, and kubelet registers with it too.
func (n *Node) exchange(ctx context.Context) error {
	ts := n.Spec.TokenService
	m := metadata.New(n.Spec.MetadataEndpoint)
	id, err := identity.Fetch(ctx, m, identity.Audience(ts.Audience, n.now()))
	if err != nil {
		return err
	}
	if n.providerID() == "" {
		doc, err := identity.ParseDocument(id.Document)
		if err != nil {
			return err
		}
		if msg := config.ProviderIDProblem(doc.ProviderID()); msg != "" {
			return fmt.Errorf("the identity document's provider ID %q is not %s", doc.ProviderID(), msg)
		}
		n.docProviderID = doc.ProviderID()
		n.Log.Info("provider ID from the instance identity document", zap.String("providerID", n.docProviderID))
	}
	tok, err := identity.Exchange(ctx, ts.URL, ts.Pin, identity.ExchangeRequest{
		Document:   id.Document,
		Signature:  id.Signature,
		Audience:   id.Audience,
		ProviderID: n.providerID(),
		NodeName:   n.Spec.NodeName,
	})
	if err != nil {
		return err
	}
	n.issued = &tok
	if n.Report != nil {
		n.Report.addSecret(tok.Secret.Reveal())
	}
	n.Log.Info("bootstrap token issued by the token service for this instance's identity",
		zap.String("tokenService", ts.URL), zap.String("providerID", n.providerID()), zap.Time("expires", tok.Expiration))
	return nil
}
