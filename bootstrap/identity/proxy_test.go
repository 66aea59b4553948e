package identity

import (
	"net/http"
	"testing"
)

// TestTokenServiceNeverThroughAProxy: the token service is reached over the
// VPC, its TLS checked by the pin; its client has no proxy whatever the
// environment or hybridnode's proxy settings say.
func TestTokenServiceNeverThroughAProxy(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
	t.Setenv("NO_PROXY", "")
	if newClient("sha256:00").Transport.(*http.Transport).Proxy != nil {
		t.Fatal("the token service client has a Proxy func")
	}
}
