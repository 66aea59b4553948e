package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap/metadata"
)

// No test of this package may reach the real metadata service: the client
// is built for loopback endpoints only, and anything else panics.
func init() { newMetadataClient = loopbackOnly }

func loopbackOnly(endpoint string) metadata.Getter {
	if u, err := url.Parse(endpoint); err != nil || u.Hostname() != "127.0.0.1" {
		panic("a test asked for a metadata client for " + endpoint + ": tests use loopback fakes only")
	}
	return metadata.New(endpoint)
}

// fakeGetter records the calls and answers from a map, with no network.
type fakeGetter struct {
	mu     sync.Mutex
	values map[string]string
	calls  []string
}

func (f *fakeGetter) Get(_ context.Context, item string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, item)
	v, ok := f.values[item]
	if !ok {
		return "", fmt.Errorf("no %s", item)
	}
	return v, nil
}

// seam swaps newMetadataClient for the test.
func seam(t *testing.T, fn func(endpoint string) metadata.Getter) {
	t.Helper()
	newMetadataClient = fn
	t.Cleanup(func() { newMetadataClient = loopbackOnly })
}

// handRunEnv is a hand run: the join fields, no ALIBABA_CLOUD_*.
func handRunEnv() map[string]string {
	env := map[string]string{}
	for k, v := range ackEnv {
		if !strings.HasPrefix(k, "ALIBABA_CLOUD_") {
			env[k] = v
		}
	}
	return env
}

func writeFile(t *testing.T, root, p, content string) {
	t.Helper()
	full := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMetadataNotAskedOffECS: no DMI vendor, no explicit endpoint: no
// client is built and no request is made.
func TestMetadataNotAskedOffECS(t *testing.T) {
	seam(t, func(endpoint string) metadata.Getter {
		t.Errorf("metadata client built for %s on a machine that is not ECS", endpoint)
		return &fakeGetter{}
	})
	root := t.TempDir()
	writeFile(t, root, "/etc/hostname", "dev-box\n")
	writeFile(t, root, metadata.SysVendorPath, "QEMU\n")
	out, code := run(t, handRunEnv(), "config", "dump", "--root", root)
	if code != 0 || !strings.Contains(out, "nodeName: dev-box  # derived from the hostname") || strings.Contains(out, "# metadata") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// TestMetadataOnECS: DMI says ECS, so the default endpoint is asked (through
// the seam: no request leaves the test) for what the environment lacks.
func TestMetadataOnECS(t *testing.T) {
	g := &fakeGetter{values: map[string]string{"region-id": "cn-hangzhou", "instance-id": "i-bp1meta", "private-ipv4": "10.0.1.5", "vpc-cidr-block": "10.0.0.0/8"}}
	var endpoints []string
	seam(t, func(endpoint string) metadata.Getter { endpoints = append(endpoints, endpoint); return g })
	root := t.TempDir()
	writeFile(t, root, metadata.SysVendorPath, "Alibaba Cloud\n")
	out, code := run(t, handRunEnv(), "config", "dump", "--root", root)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"providerID: cn-hangzhou.i-bp1meta  # metadata", "nodeName: cn-hangzhou.10.0.1.5  # metadata", "vpcCIDR: 10.0.0.0/8  # metadata"} {
		if !strings.Contains(out, want) {
			t.Errorf("dump lacks %q:\n%s", want, out)
		}
	}
	if len(endpoints) != 1 || endpoints[0] != metadata.DefaultEndpoint {
		t.Errorf("endpoints = %v", endpoints)
	}

	// With ACK's variables set, nothing is asked at all.
	g.calls = nil
	env := handRunEnv()
	env["ALIBABA_CLOUD_PROVIDER_ID"], env["ALIBABA_CLOUD_NODE_NAME"], env["HYBRIDNODE_VPC_CIDR"] = "cn-hangzhou.i-ack", "cn-hangzhou.10.10.24.7", "10.0.0.0/8"
	out, code = run(t, env, "config", "dump", "--root", root)
	if code != 0 || len(g.calls) != 0 || !strings.Contains(out, "nodeName: cn-hangzhou.10.10.24.7  # env ALIBABA_CLOUD_NODE_NAME") {
		t.Fatalf("exit %d, calls %v:\n%s", code, g.calls, out)
	}
}

// fakeMetadataService is a loopback ECS metadata service.
func fakeMetadataService(t *testing.T, items map[string]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/latest/api/token" {
			w.Write([]byte("tok"))
			return
		}
		if r.Header.Get("X-aliyun-ecs-metadata-token") != "tok" {
			http.Error(w, "token required", http.StatusUnauthorized)
			return
		}
		v, ok := items[strings.TrimPrefix(r.URL.Path, "/latest/meta-data/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(v))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestMetadataExplicitEndpoint: a hand run with the endpoint set (no DMI
// needed) gets the Node name and provider ID into the JoinConfiguration.
func TestMetadataExplicitEndpoint(t *testing.T) {
	srv := fakeMetadataService(t, map[string]string{"region-id": "cn-shanghai", "instance-id": "i-uf6meta", "private-ipv4": "192.168.3.4", "vpc-cidr-block": "192.168.0.0/16"})
	env := handRunEnv()
	env["HYBRIDNODE_METADATA_ENDPOINT"] = srv.URL
	env["HYBRIDNODE_ARTIFACT_URL"] = "https://oss.example.com/hn"
	out, code := run(t, env, "plan", "--root", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"name: cn-shanghai.192.168.3.4", "value: cn-shanghai.i-uf6meta"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	// An unreachable service is a warning; the hostname stays the name.
	root := t.TempDir()
	writeFile(t, root, "/etc/hostname", "node-b\n")
	srv.Close()
	env["HYBRIDNODE_METADATA_ENDPOINT"] = srv.URL
	out, code = run(t, env, "config", "dump", "--root", root)
	if code != 0 || !strings.Contains(out, "nodeName: node-b  # derived from the hostname") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
