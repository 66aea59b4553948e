package bootstrap

import (
	"github.com/hybridnode/hybridnode/bootstrap/artifact"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/proxy"
)

// proxiedSource opens artifact sources through the node's proxy settings
// (and nothing of the process environment).
func proxiedSource(s *config.Spec) func(base string) (artifact.Fetcher, error) {
	return func(base string) (artifact.Fetcher, error) {
		return artifact.NewSource(base, artifact.WithProxy(proxy.Func(proxy.FromConfig(s.Config))))
	}
}
