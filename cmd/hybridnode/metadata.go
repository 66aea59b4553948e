package main

import (
	"context"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/hybridnode/hybridnode/bootstrap"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/metadata"
)

// newMetadataClient builds the instance metadata client for an endpoint;
// tests replace it (see metadata_test.go: nothing but loopback, ever).
var newMetadataClient = func(endpoint string) metadata.Getter { return metadata.New(endpoint) }

// metadataBudget bounds the whole lookup (each request has its own 2s).
const metadataBudget = 10 * time.Second

// applyMetadata fills providerID (<region-id>.<instance-id>), nodeName
// (<region-id>.<private-ipv4>) and vpcCIDR from the ECS instance metadata
// for a hand run, when no file, variable or flag set them. It asks only when
// the endpoint was set explicitly, or when the DMI data under the root says
// this is an Alibaba Cloud ECS instance: never from a development or CI
// machine. A failure is a warning: the node name stays the hostname.
func (a *app) applyMetadata(l *config.Loaded, env bootstrap.Env) {
	want := l.WantFromMetadata()
	if len(want) == 0 {
		return
	}
	endpoint := l.Config.MetadataEndpoint
	if l.Unset("metadataEndpoint") || endpoint == "" {
		ok, why := metadata.IsECS(env.FS)
		if !ok {
			a.log.Debug("instance metadata not asked", zap.String("why", why))
			return
		}
		endpoint = metadata.DefaultEndpoint
	} else if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return // validation reports it
	}
	ctx, cancel := context.WithTimeout(context.Background(), metadataBudget)
	defer cancel()
	values, err := metadata.Fill(ctx, newMetadataClient(endpoint), want)
	applied := l.ApplyMetadata(values)
	if err != nil {
		a.log.Warn("instance metadata: some values could not be read; the node name stays the hostname unless set",
			zap.String("endpoint", endpoint), zap.Strings("applied", applied), zap.Error(err))
		return
	}
	for _, k := range applied {
		a.log.Debug("from the instance metadata", zap.String("field", k), zap.String("value", l.Config.FormatString(k)))
	}
}
