package doctor

import (
	"context"
	"errors"
	"fmt"

	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/identity"
	"github.com/hybridnode/hybridnode/bootstrap/metadata"
)

// usesIdentity: the join's token comes from the token service.
func (e *Env) usesIdentity() bool {
	return e.cfg().CredentialSource == config.CredentialInstanceIdentity
}

// checkTokenService, with credentialSource instance-identity: the metadata
// service gives this instance's identity document, and the token service
// answers TLS with the pinned key. Nothing is signed or exchanged: an
// exchange would use up this instance's token for the service's window.
func checkTokenService(ctx context.Context, e *Env) Result {
	c := e.cfg()
	switch {
	case !e.usesIdentity():
		return Result{Status: Skip, Evidence: "credentialSource is token: no token service is asked"}
	case e.joined():
		return Result{Status: Skip, Evidence: "the node is joined: no bootstrap token is needed"}
	case c.TokenService.URL == "" || c.TokenService.Pin == "":
		return Result{Status: Fail, Evidence: "credentialSource is instance-identity but tokenService.url or tokenService.pin is not set (see config)",
			Remedy: "set HYBRIDNODE_TOKEN_SERVICE_URL and HYBRIDNODE_TOKEN_SERVICE_PIN, as the node script of hybridnode-cluster setup does"}
	}
	endpoint := c.MetadataEndpoint
	if endpoint == "" {
		if ok, why := metadata.IsECS(e.FS); !ok {
			return Result{Status: Fail, Evidence: "instance identity needs an ECS instance, and this is not one: " + why,
				Remedy: "run hybridnode on the ECS instance that joins, or use credentialSource token"}
		}
		endpoint = metadata.DefaultEndpoint
	}
	ctx, cancel := context.WithTimeout(ctx, 3*e.timeout())
	defer cancel()
	doc, err := identity.FetchDocument(ctx, metadata.New(endpoint))
	if err != nil {
		return Result{Status: Fail, Evidence: err.Error(),
			Remedy: "enable the instance's metadata service (its metadata access settings); metadataEndpoint is for tests only"}
	}
	if err := identity.Probe(ctx, c.TokenService.URL, c.TokenService.Pin, e.dial); err != nil {
		r := Result{Status: Fail, Evidence: err.Error(),
			Remedy: "check tokenService.url, that the token service runs, and that the security group lets this node reach its port"}
		var pe *identity.PinError
		if errors.As(err, &pe) {
			r.Remedy = "re-run hybridnode-cluster setup and use the node script's tokenService settings (the service's key changed, or something else answers there)"
		}
		return r
	}
	return Result{Status: Pass, Evidence: fmt.Sprintf("the metadata service gives the identity of instance %s (account %s, region %s) and the token service at %s presents the pinned key; nothing was exchanged",
		doc.InstanceID, doc.AccountID, doc.RegionID, c.TokenService.URL)}
}
