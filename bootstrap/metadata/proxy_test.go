package metadata

import (
	"net/http"
	"testing"
)

// TestNeverThroughAProxy: the metadata service is the instance's own; its
// client has no proxy, whatever the environment or hybridnode's proxy
// settings say.
func TestNeverThroughAProxy(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://proxy.invalid:3128")
	t.Setenv("NO_PROXY", "")
	if New("").http.Transport.(*http.Transport).Proxy != nil {
		t.Fatal("the metadata client has a Proxy func")
	}
}
