package artifact

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hybridnode/hybridnode/bootstrap/proxy/proxytest"
)

// TestProxyOnlyWhenGiven: the default client goes direct whatever the
// environment says; WithProxy sets its proxy.
func TestProxyOnlyWhenGiven(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://from-env.invalid:3128")
	t.Setenv("HTTPS_PROXY", "http://from-env.invalid:3128")
	transport := func(f Fetcher) *http.Transport { return f.(*httpSource).client.Transport.(*http.Transport) }
	f, err := NewSource("https://oss.example/base")
	if err != nil {
		t.Fatal(err)
	}
	if transport(f).Proxy != nil {
		t.Error("no WithProxy: the transport has a Proxy func (the environment's?)")
	}
	f, err = NewSource("https://oss.example/base", WithProxy(http.ProxyURL(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if transport(f).Proxy == nil {
		t.Error("WithProxy: the transport has no Proxy func")
	}
}

// TestDownloadThroughProxy: SHA256SUMS of a host only the proxy reaches
// (.invalid never resolves) comes through it, with the proxy's
// credentials; without WithProxy the proxy of the environment is not used.
func TestDownloadThroughProxy(t *testing.T) {
	sums := sum([]byte("kubelet")) + "  " + kubeletRel + "\n"
	p := proxytest.New(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Host != "artifacts.invalid" || r.URL.Path != "/base/"+SumsFile {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(sums))
	}))
	once := WithBackoff(wait.Backoff{Duration: time.Millisecond, Steps: 1})
	f, err := NewSource("http://artifacts.invalid/base", WithProxy(http.ProxyURL(p.URL("hn", "s3cret"))), once)
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadSums(context.Background(), f)
	if err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	if _, ok := got[kubeletRel]; !ok || len(got) != 1 {
		t.Errorf("sums = %v", got)
	}
	reqs := p.Requests()
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("hn:s3cret"))
	if len(reqs) != 1 || reqs[0].URL != "http://artifacts.invalid/base/"+SumsFile || reqs[0].Auth != wantAuth {
		t.Errorf("the proxy saw %+v", reqs)
	}

	t.Setenv("HTTP_PROXY", p.URL("", "").String())
	f, err = NewSource("http://artifacts.invalid/base", once, WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSums(context.Background(), f); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("without WithProxy: want a direct request, which fails: %v", err)
	}
	if n := len(p.Requests()); n != 1 {
		t.Errorf("without WithProxy the proxy of the environment got %d request(s)", n-1)
	}
}
