package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/metadata"
)

// newMetadataClient builds the instance metadata client for an endpoint;
// tests replace it (see metadata_test.go: nothing but loopback, ever).
var newMetadataClient = func(endpoint string) metadata.Getter { return metadata.New(endpoint) }

// ecsMetadata is the instance metadata as config.Resolve asks it for a hand
// run: ECS as the DMI data under the root says, and the metadata client
// (newMetadataClient) at the endpoint.
type ecsMetadata struct{ fs hostfs.FS }

func (m ecsMetadata) OnECS() (bool, string) { return metadata.IsECS(m.fs) }

func (m ecsMetadata) Fill(ctx context.Context, endpoint string, keys []string) (map[string]string, error) {
	return metadata.Fill(ctx, newMetadataClient(orDefaultEndpoint(endpoint)), keys)
}

func orDefaultEndpoint(endpoint string) string {
	if endpoint == "" {
		return metadata.DefaultEndpoint
	}
	return endpoint
}

// logMetadata logs what Resolve did with the instance metadata: it fills
// providerID (<region-id>.<instance-id>), nodeName (<region-id>.<private-ipv4>)
// and vpcCIDR for a hand run when no file, variable or flag set them, asking
// only when the endpoint was set explicitly or when the DMI data under the
// root says this is an Alibaba Cloud ECS instance: never from a development
// or CI machine. A failure is a warning: the node name stays the hostname.
func (a *app) logMetadata(l *config.Loaded) {
	m := l.Metadata
	switch {
	case !m.Asked:
		if m.Why != "" {
			a.log.Debug("instance metadata not asked", zap.String("why", m.Why))
		}
	case m.Err != nil:
		a.log.Warn("instance metadata: some values could not be read; the node name stays the hostname unless set",
			zap.String("endpoint", orDefaultEndpoint(m.Endpoint)), zap.Strings("applied", m.Applied), zap.Error(m.Err))
	default:
		for _, k := range m.Applied {
			a.log.Debug("from the instance metadata", zap.String("field", k), zap.String("value", l.Config.FormatString(k)))
		}
	}
}
