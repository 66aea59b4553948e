package metadata

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
)

// fakeService is a loopback stand-in for the ECS metadata service.
type fakeService struct {
	*httptest.Server
	mu       sync.Mutex
	items    map[string]string
	hardened bool           // GETs need a token
	fail     map[string]int // item -> 5xx answers still to give
	requests []string
}

func newFakeService(t *testing.T) *fakeService {
	t.Helper()
	f := &fakeService{items: map[string]string{
		ItemRegionID:    "cn-hangzhou",
		ItemInstanceID:  "i-bp1meta",
		ItemPrivateIPv4: "10.0.1.5",
		ItemVPCCIDR:     "10.0.0.0/8",
	}, fail: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.requests = append(f.requests, r.Method+" "+r.URL.Path)
		if r.URL.Path == tokenPath {
			if r.Method != http.MethodPut || r.Header.Get(tokenTTLHeader) == "" {
				http.Error(w, "bad token request", http.StatusBadRequest)
				return
			}
			if !f.hardened {
				http.NotFound(w, r) // an old service without hardening mode
				return
			}
			w.Write([]byte("tok-123\n"))
			return
		}
		if f.hardened && r.Header.Get(tokenHeader) != "tok-123" {
			http.Error(w, "token required", http.StatusUnauthorized)
			return
		}
		item := strings.TrimPrefix(r.URL.Path, "/latest/meta-data/")
		if f.fail[item] > 0 {
			f.fail[item]--
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		v, ok := f.items[item]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(v))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeService) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.requests {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

func TestFillFromService(t *testing.T) {
	for _, hardened := range []bool{false, true} {
		f := newFakeService(t)
		f.hardened = hardened
		got, err := Fill(context.Background(), New(f.URL), []string{"providerID", "nodeName", "vpcCIDR"})
		if err != nil {
			t.Fatalf("hardened=%v: %v", hardened, err)
		}
		want := map[string]string{"providerID": "cn-hangzhou.i-bp1meta", "nodeName": "cn-hangzhou.10.0.1.5", "vpcCIDR": "10.0.0.0/8"}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("hardened=%v: %s = %q, want %q", hardened, k, got[k], v)
			}
		}
		// region-id is read once although two fields need it; one token request.
		if n := f.count("GET /latest/meta-data/region-id"); n != 1 {
			t.Errorf("region-id read %d times", n)
		}
		if n := f.count("PUT " + tokenPath); n != 1 {
			t.Errorf("token asked %d times", n)
		}
	}
}

func TestFillOnlyWhatIsWanted(t *testing.T) {
	f := newFakeService(t)
	got, err := Fill(context.Background(), New(f.URL), []string{"vpcCIDR"})
	if err != nil || len(got) != 1 || got["vpcCIDR"] != "10.0.0.0/8" {
		t.Fatalf("got %v, %v", got, err)
	}
	if f.count("GET /latest/meta-data/region-id") != 0 {
		t.Error("region-id read although no field needed it")
	}
}

func TestFillPartial(t *testing.T) {
	f := newFakeService(t)
	delete(f.items, ItemVPCCIDR) // classic network: no VPC
	got, err := Fill(context.Background(), New(f.URL), []string{"providerID", "nodeName", "vpcCIDR"})
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("want a 404 error for vpc-cidr-block, got %v", err)
	}
	if got["nodeName"] != "cn-hangzhou.10.0.1.5" || got["providerID"] != "cn-hangzhou.i-bp1meta" || got["vpcCIDR"] != "" {
		t.Fatalf("got %v", got)
	}
	if f.count("GET /latest/meta-data/vpc-cidr-block") != 1 {
		t.Error("a 404 was retried")
	}
}

func TestRetryOn5xx(t *testing.T) {
	f := newFakeService(t)
	f.fail[ItemRegionID] = 1
	if v, err := New(f.URL).Get(context.Background(), ItemRegionID); err != nil || v != "cn-hangzhou" {
		t.Fatalf("got %q, %v", v, err)
	}
	f.fail[ItemRegionID] = Attempts
	if _, err := New(f.URL).Get(context.Background(), ItemRegionID); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("want a 503 after %d attempts, got %v", Attempts, err)
	}
}

func TestRejectsGarbage(t *testing.T) {
	f := newFakeService(t)
	f.items[ItemPrivateIPv4] = "<html>captive portal</html>"
	got, err := Fill(context.Background(), New(f.URL), []string{"nodeName"})
	if err == nil || got["nodeName"] != "" {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestUnreachableIsQuick(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	start := time.Now()
	got, err := Fill(context.Background(), New("http://"+addr), []string{"providerID", "nodeName", "vpcCIDR"})
	if err == nil || len(got) != 0 {
		t.Fatalf("got %v, %v", got, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestIsECS(t *testing.T) {
	for _, c := range []struct {
		name   string
		files  map[string]string
		want   bool
		reason string
	}{
		{"vendor", map[string]string{SysVendorPath: "Alibaba Cloud\n", ProductNamePath: "Alibaba Cloud ECS\n"}, true, "sys_vendor"},
		{"product only", map[string]string{ProductNamePath: "Alibaba Cloud ECS\n"}, true, "product_name"},
		{"another cloud", map[string]string{SysVendorPath: "QEMU\n", ProductNamePath: "Standard PC (Q35 + ICH9, 2009)\n"}, false, "not an Alibaba Cloud ECS"},
		{"no DMI", nil, false, "no DMI vendor"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			for p, content := range c.files {
				full := filepath.Join(root, p)
				os.MkdirAll(filepath.Dir(full), 0o755)
				os.WriteFile(full, []byte(content), 0o644)
			}
			f, err := hostfs.New(root)
			if err != nil {
				t.Fatal(err)
			}
			ok, why := IsECS(f)
			if ok != c.want || !strings.Contains(why, c.reason) {
				t.Errorf("IsECS = %v, %q", ok, why)
			}
		})
	}
}

// TestDynamic: the instance identity is read with the hardening-mode token,
// exactly as sent (not trimmed), and an answer over 64 KiB is refused.
func TestDynamic(t *testing.T) {
	f := newFakeService(t)
	f.hardened = true
	doc := "{\"instance-id\":\"i-bp1meta\"}\n"
	f.items["/latest/dynamic/instance-identity/document"] = doc
	f.items["/latest/dynamic/instance-identity/pkcs7"] = "MIIB\n"
	f.items["/latest/dynamic/big"] = strings.Repeat("x", maxDynamicBytes+1)
	c := New(f.URL)
	ctx := context.Background()
	if got, err := c.Dynamic(ctx, "instance-identity/document"); err != nil || got != doc {
		t.Errorf("document = %q, %v", got, err)
	}
	if got, err := c.Dynamic(ctx, "instance-identity/pkcs7?audience=a%3A1"); err != nil || got != "MIIB\n" {
		t.Errorf("pkcs7 = %q, %v", got, err)
	}
	if f.count("PUT "+tokenPath) != 1 {
		t.Errorf("token asked %d times", f.count("PUT "+tokenPath))
	}
	if _, err := c.Dynamic(ctx, "big"); err == nil || !strings.Contains(err.Error(), "over 65536 bytes") {
		t.Errorf("oversized answer: %v", err)
	}
	if _, err := c.Dynamic(ctx, "instance-identity/missing"); StatusCode(err) != http.StatusNotFound {
		t.Errorf("missing item: status %d, %v", StatusCode(err), err)
	}
}
