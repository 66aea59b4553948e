// Package proxytest is a loopback forward HTTP proxy for tests: it answers
// absolute-form requests (GET http://host/path, as clients send them to a
// proxy) with an origin handler, and records each one. It does no CONNECT:
// https:// through it is not served.
package proxytest

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

// Request is one request the proxy received.
type Request struct {
	// URL is the absolute URL asked for (http://artifacts.invalid/x).
	URL string
	// Auth is the Proxy-Authorization header, if any.
	Auth string
}

// Proxy is a running forward proxy.
type Proxy struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []Request
}

// New starts a proxy in front of origin (the handler sees the request with
// its absolute URL); it stops at the end of the test.
func New(t testing.TB, origin http.Handler) *Proxy {
	t.Helper()
	p := &Proxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !r.URL.IsAbs() {
			http.Error(w, "proxytest: not a proxy request (the URL is not absolute)", http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.reqs = append(p.reqs, Request{URL: r.URL.String(), Auth: r.Header.Get("Proxy-Authorization")})
		p.mu.Unlock()
		origin.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// URL is the proxy's URL, with user information when user is not empty.
func (p *Proxy) URL(user, password string) *url.URL {
	u, _ := url.Parse(p.Server.URL)
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	return u
}

// Requests returns what the proxy received so far.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.reqs...)
}
