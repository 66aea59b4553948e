package bootstrap

import (
	"context"
	"net/http"
	"testing"

	"go.uber.org/zap"

	"github.com/hybridnode/hybridnode/bootstrap/artifact"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/proxy/proxytest"
)

// TestNodeDownloadsThroughTheConfiguredProxy: the node's artifact source
// (Env.Node's OpenSource) goes through httpProxy, and only when it is set.
func TestNodeDownloadsThroughTheConfiguredProxy(t *testing.T) {
	p := proxytest.New(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("0000000000000000000000000000000000000000000000000000000000000000  x\n"))
	}))
	env, err := NewEnv(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	spec := &config.Spec{Config: config.Config{HTTPProxy: config.ProxyURL(p.URL("", "").String())}}
	n := env.Node(&config.Loaded{}, spec, zap.NewNop())
	src, err := n.OpenSource("http://artifacts.invalid/base")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := artifact.LoadSums(context.Background(), src); err != nil {
		t.Fatalf("through httpProxy: %v", err)
	}
	if reqs := p.Requests(); len(reqs) != 1 || reqs[0].URL != "http://artifacts.invalid/base/SHA256SUMS" {
		t.Errorf("the proxy saw %+v", reqs)
	}
}
