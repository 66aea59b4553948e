package kubeapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/doctor/apitest"
	"github.com/hybridnode/hybridnode/bootstrap/kubeconfig"
)

const (
	token  = "abcdef.0123456789abcdef"
	secret = "0123456789abcdef"
	// otherPin pins no CA of the fake server.
	otherPin = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// bootstrapClient is the fake API server with the test token, a client,
// and the token's credentials over the pinned CA, as a join reads with.
func bootstrapClient(t *testing.T) (*apitest.Server, *Client, *kubeconfig.Credentials) {
	t.Helper()
	srv := apitest.New(t, apitest.Options{})
	srv.AddToken(token)
	c := &Client{Timeout: 2 * time.Second}
	ci, err := c.ReadClusterInfo(context.Background(), srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	cr, err := BootstrapCredentials(srv.Endpoint, ci, token, []string{srv.Pin}, false)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, cr
}

func TestReadClusterInfoAndPins(t *testing.T) {
	srv := apitest.New(t, apitest.Options{})
	srv.AddToken(token)
	c := &Client{Timeout: 2 * time.Second}
	ci, err := c.ReadClusterInfo(context.Background(), srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if ci.Status != http.StatusOK || len(ci.CAs) != 1 || !ci.CAs[0].Equal(srv.CA) || ci.Data["jws-kubeconfig-abcdef"] == "" {
		t.Fatalf("cluster-info: status %d, %d CAs, data %v", ci.Status, len(ci.CAs), ci.Data)
	}

	for _, tc := range []struct {
		name   string
		pins   []string
		skipCA bool
		who    string // "" : ErrCAMismatch
	}{
		{"pinned", []string{otherPin, srv.Pin}, false, "the bootstrap token"},
		{"pin without its sha256: prefix", []string{srv.Pin[len("sha256:"):]}, false, ""},
		{"other pin", []string{otherPin}, false, ""},
		{"other pin, skip asked", []string{otherPin}, true, ""},
		{"no pin", nil, false, ""},
		{"no pin, skip asked", nil, true, "the bootstrap token (CA not pinned)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cr, err := BootstrapCredentials(srv.Endpoint, ci, token, tc.pins, tc.skipCA)
			if tc.who == "" {
				if !errors.Is(err, ErrCAMismatch) || cr != nil {
					t.Fatalf("got %v, %v; want ErrCAMismatch", cr, err)
				}
				return
			}
			if err != nil || cr.Who != tc.who || cr.Bearer != token || cr.Server != "https://"+srv.Endpoint {
				t.Fatalf("got %+v, %v", cr, err)
			}
			// The credentials work: a read verified against that CA, as the token.
			var cm ConfigMap
			status, _, err := c.Get(context.Background(), cr, false, ClusterInfoPath, &cm)
			if err != nil || status != http.StatusOK || cm.Data["kubeconfig"] == "" {
				t.Fatalf("GET with the credentials: %d %v", status, err)
			}
		})
	}
	if got := srv.Requests(); !slices.Contains(got, "GET "+ClusterInfoPath+" as bootstrap:abcdef") || got[0] != "GET "+ClusterInfoPath+" as anonymous" {
		t.Errorf("requests: %v", got)
	}
}

func TestReadClusterInfoRefused(t *testing.T) {
	srv := apitest.New(t, apitest.Options{})
	srv.DenyAnonymous = true
	ci, err := (&Client{}).ReadClusterInfo(context.Background(), srv.Endpoint)
	if err == nil || ci.Status != http.StatusForbidden || !strings.Contains(err.Error(), "HTTP 403") {
		t.Fatalf("got status %d, %v", ci.Status, err)
	}
}

// TestGetNeverLeaksTheToken: the token goes in the Authorization header
// only: never to an unverified server, never in an error.
func TestGetNeverLeaksTheToken(t *testing.T) {
	srv := apitest.New(t, apitest.Options{})
	srv.AddToken(token)
	c := &Client{Timeout: time.Second}
	cr := &kubeconfig.Credentials{Server: "https://" + srv.Endpoint, Bearer: token}
	if _, _, err := c.Get(context.Background(), cr, true, ClusterInfoPath, nil); err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("a bearer token to an unverified server: %v", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("%d requests reached the server", n)
	}
	// A server the CA does not verify (no CA given): the error names no token.
	if _, _, err := c.Get(context.Background(), cr, false, ClusterInfoPath, nil); err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("unverified server: %v", err)
	}
	// A secret in a URL is scrubbed from the error.
	bad := &kubeconfig.Credentials{Server: "https://127.0.0.1:1/" + secret, Bearer: secret}
	if _, _, err := c.Get(context.Background(), bad, false, "/x", nil); err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "[REDACTED]") {
		t.Fatalf("error with the secret: %v", err)
	}
	if err := Scrub(errors.New("a "+secret+" b"), secret); err.Error() != "a [REDACTED] b" {
		t.Errorf("Scrub: %v", err)
	}
	if Scrub(nil, secret) != nil {
		t.Error("Scrub(nil) is not nil")
	}
}
