package doctor

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap/doctor/report"
)

// useIdentity configures credentialSource instance-identity against a
// loopback metadata service and a loopback TLS token service; the token
// service fails the test if it is ever sent a request.
func useIdentity(t *testing.T, h *harness) {
	t.Helper()
	md := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/latest/api/token":
			w.Write([]byte("imds-token"))
		case "/latest/dynamic/instance-identity/document":
			w.Write([]byte(`{"owner-account-id":"1234567890","instance-id":"i-bp1abc","region-id":"cn-hangzhou","zone-id":"cn-hangzhou-h"}`))
		default:
			t.Errorf("doctor asked the metadata service for %s", r.URL)
			http.NotFound(w, r)
		}
	}))
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("doctor sent the token service %s %s", r.Method, r.URL)
	}))
	t.Cleanup(md.Close)
	t.Cleanup(ts.Close)
	delete(h.vars, "HYBRIDNODE_TOKEN")
	h.vars["HYBRIDNODE_CREDENTIAL_SOURCE"] = "instance-identity"
	h.vars["HYBRIDNODE_TOKEN_SERVICE_URL"] = ts.URL
	h.vars["HYBRIDNODE_TOKEN_SERVICE_PIN"] = report.Pin(ts.Certificate())
	h.vars["HYBRIDNODE_TOKEN_SERVICE_AUDIENCE"] = "prod"
	h.vars["HYBRIDNODE_METADATA_ENDPOINT"] = md.URL
}

func identityCases() []checkCase {
	return []checkCase{
		{check: "token-service", name: "token source", status: Skip, want: []string{"credentialSource is token"}},
		{check: "token-service", name: "reachable", setup: useIdentity, status: Pass,
			want: []string{"instance i-bp1abc (account 1234567890, region cn-hangzhou)", "presents the pinned key; nothing was exchanged"}},
		{check: "token-service", name: "metadata unreachable", setup: func(t *testing.T, h *harness) {
			useIdentity(t, h)
			h.vars["HYBRIDNODE_METADATA_ENDPOINT"] = "http://" + closedPort(t)
		}, status: Fail, want: []string{"did not give the instance identity document", "metadata access settings"}},
		{check: "token-service", name: "not ECS", setup: func(t *testing.T, h *harness) {
			useIdentity(t, h)
			delete(h.vars, "HYBRIDNODE_METADATA_ENDPOINT")
		}, status: Fail, want: []string{"needs an ECS instance"}},
		{check: "token-service", name: "pin mismatch", setup: func(t *testing.T, h *harness) {
			useIdentity(t, h)
			h.vars["HYBRIDNODE_TOKEN_SERVICE_PIN"] = "sha256:" + strings.Repeat("0", 64)
		}, status: Fail, want: []string{"not the one pinned", "re-run hybridnode-cluster setup"}},
		{check: "token-service", name: "service down", setup: func(t *testing.T, h *harness) {
			useIdentity(t, h)
			h.vars["HYBRIDNODE_TOKEN_SERVICE_URL"] = "https://" + closedPort(t)
		}, status: Fail, want: []string{"could not be reached", "security group"}},
		{check: "bootstrap-token", name: "instance identity", setup: useIdentity, status: Skip, want: []string{"comes from the token service"}},
	}
}
