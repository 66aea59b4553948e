package artifact

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs/hostfstest"
)

const (
	kubeletRel    = "kubernetes/v1.37.1/bin/linux/amd64/kubelet"
	runcRel       = "runc/v1.3.3/runc.amd64"
	containerdRel = "containerd/v2.2.0/containerd-2.2.0-linux-amd64.tar.gz"
	cniRel        = "cni-plugins/v1.1.1/cni-plugins-linux-amd64-v1.1.1.tgz"
	badRel        = "bad/file"      // listed with a wrong sum
	unlistedRel   = "unlisted/file" // served, not in SHA256SUMS
)

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

type member struct {
	name, body string
	typ        byte
}

// tgz builds a gzipped tar in memory.
func tgz(t *testing.T, members ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, m := range members {
		h := &tar.Header{Name: m.name, Typeflag: m.typ, Mode: 0o755, Size: int64(len(m.body))}
		switch m.typ {
		case tar.TypeDir, tar.TypeSymlink:
			h.Size = 0
			h.Linkname = m.body
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if m.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(m.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bundle returns the files of a test artifact tree, SHA256SUMS included.
func bundle(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{
		kubeletRel: []byte("kubelet binary\x00v1.37.1"),
		runcRel:    []byte("runc binary\x00"),
		containerdRel: tgz(t,
			member{"bin/", "", tar.TypeDir},
			member{"bin/containerd", "containerd binary", tar.TypeReg},
			member{"bin/containerd-shim-runc-v2", "shim binary", tar.TypeReg},
			member{"bin/ctr", "ctr binary", tar.TypeReg},
			member{"bin/link", "containerd", tar.TypeSymlink},
		),
		cniRel: tgz(t,
			member{"./", "", tar.TypeDir},
			member{"./bridge", "bridge plugin", tar.TypeReg},
			member{"./host-local", "host-local plugin", tar.TypeReg},
		),
		badRel:      []byte("tampered"),
		unlistedRel: []byte("whatever"),
	}
	var lines []string
	for rel, b := range files {
		switch rel {
		case unlistedRel:
		case badRel:
			lines = append(lines, sum([]byte("original"))+"  "+rel)
		case cniRel:
			lines = append(lines, sum(b)+" *./"+rel) // binary-mode marker and ./ prefix
		default:
			lines = append(lines, sum(b)+"  "+rel)
		}
	}
	sort.Strings(lines)
	files[SumsFile] = []byte(strings.Join(lines, "\n") + "\n")
	return files
}

// server serves files under /base/, counting requests per path; script holds
// statuses to answer (in order) before serving a path.
type server struct {
	*httptest.Server
	mu     sync.Mutex
	files  map[string][]byte
	hits   map[string]int
	script map[string][]int
}

func newServer(t *testing.T, files map[string][]byte) *server {
	s := &server{files: files, hits: map[string]int{}, script: map[string][]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rel, ok := strings.CutPrefix(r.URL.Path, "/base/")
		s.mu.Lock()
		s.hits[rel]++
		var status int
		if q := s.script[rel]; len(q) > 0 {
			status, s.script[rel] = q[0], q[1:]
		}
		body, found := s.files[rel]
		s.mu.Unlock()
		switch {
		case status != 0:
			w.WriteHeader(status)
		case !ok || !found:
			http.NotFound(w, r)
		default:
			w.Write(body)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.hits {
		n += v
	}
	return n
}

func (s *server) reset(script map[string][]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.hits)
	s.script = script
}

func writeDir(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for rel, b := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var fastRetry = WithBackoff(wait.Backoff{Duration: 5 * time.Millisecond, Factor: 2, Steps: 3})

func newRoot(t *testing.T) (string, hostfs.FS) {
	t.Helper()
	root := t.TempDir()
	f, err := hostfs.New(root)
	if err != nil {
		t.Fatal(err)
	}
	return f.Root(), f
}

func TestParseSums(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name    string
		in      string
		want    Sums
		wantErr string
	}{
		{name: "text and binary markers", in: h + "  a/b\n" + strings.ToUpper(h) + " *./c\n\n", want: Sums{"a/b": h, "c": h}},
		{name: "crlf and no final newline", in: h + "  x\r\n" + h + "  y", want: Sums{"x": h, "y": h}},
		{name: "same entry twice", in: h + "  x\n" + h + "  x\n", want: Sums{"x": h}},
		{name: "space in path", in: h + "  dir/a b", want: Sums{"dir/a b": h}},
		{name: "single space", in: h + " x\n", wantErr: "line 1"},
		{name: "tab", in: h + "\tx\n", wantErr: "line 1"},
		{name: "short hex", in: "\n" + h[:62] + "  x\n", wantErr: "line 2"},
		{name: "not hex", in: h + "  ok\n" + strings.Repeat("zz", 32) + "  x\n", wantErr: "line 2: invalid sha256"},
		{name: "no path", in: h + "  \n", wantErr: "line 1"},
		{name: "dot-dot path", in: h + "  ../etc/passwd\n", wantErr: "line 1: artifact: invalid relative path"},
		{name: "absolute path", in: h + "  /etc/passwd\n", wantErr: "line 1"},
		{name: "conflicting entries", in: h + "  x\n" + strings.Repeat("cd", 32) + "  x\n", wantErr: "line 2: x listed again"},
		{name: "empty", in: "\n", wantErr: "no entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSums(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !equalSums(got, tc.want) {
				t.Fatalf("ParseSums = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func equalSums(a, b Sums) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestNewSource(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	for _, tc := range []struct {
		base    string
		wantErr bool
	}{
		{"http://127.0.0.1:1/base", false},
		{"https://127.0.0.1/", false},
		{"file://" + dir, false},
		{"file://localhost" + dir, false},
		{dir, false},
		{"http://", true},
		{"file://otherhost/x", true},
		{"relative/dir", true},
		{"ftp://127.0.0.1/x", true},
		{filepath.Join(dir, "missing"), true},
		{file, true},
	} {
		t.Run(tc.base, func(t *testing.T) {
			_, err := NewSource(tc.base)
			if (err != nil) != tc.wantErr {
				t.Fatalf("NewSource(%q) err = %v, wantErr %v", tc.base, err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tc.base) {
				t.Errorf("error %q does not name %s", err, tc.base)
			}
		})
	}
}

func TestInstallFile(t *testing.T) {
	files := bundle(t)
	srv := newServer(t, files)
	dir := writeDir(t, files)
	const dest = "/usr/local/bin/kubelet"
	for _, tc := range []struct {
		name        string
		httpOnly    bool
		rel         string
		script      map[string][]int
		before      []byte // existing dest content
		wantChanged bool
		wantIs      error
		errHas      []string
		wantHits    int // HTTP requests
		wantContent []byte
	}{
		{name: "happy path", rel: kubeletRel, wantChanged: true, wantHits: 1, wantContent: files[kubeletRel]},
		{name: "already installed: no download", rel: kubeletRel, before: files[kubeletRel], wantHits: 0, wantContent: files[kubeletRel]},
		{name: "upgrade", rel: kubeletRel, before: []byte("old kubelet"), wantChanged: true, wantHits: 1, wantContent: files[kubeletRel]},
		{name: "wrong checksum keeps the old binary", rel: badRel, before: []byte("old kubelet"), wantIs: hostfs.ErrChecksum,
			errHas: []string{dest, badRel, sum([]byte("original")), sum([]byte("tampered"))}, wantHits: 1, wantContent: []byte("old kubelet")},
		{name: "wrong checksum installs nothing", rel: badRel, wantIs: hostfs.ErrChecksum, wantHits: 1},
		{name: "missing sums entry", rel: unlistedRel, wantIs: ErrNotListed, errHas: []string{unlistedRel}, wantHits: 0},
		{name: "unknown version is not listed", rel: "kubernetes/v9.9.9/bin/linux/amd64/kubelet", wantIs: ErrNotListed, wantHits: 0},
		{name: "404", httpOnly: true, rel: kubeletRel, script: map[string][]int{kubeletRel: {404}}, wantIs: fs.ErrNotExist,
			errHas: []string{"/base/" + kubeletRel, "404 Not Found", "127.0.0.1"}, wantHits: 1},
		{name: "403 is not retried", httpOnly: true, rel: kubeletRel, script: map[string][]int{kubeletRel: {403}}, errHas: []string{"403 Forbidden"}, wantHits: 1},
		{name: "500 then 200 is retried", httpOnly: true, rel: kubeletRel, script: map[string][]int{kubeletRel: {500}}, wantChanged: true, wantHits: 2, wantContent: files[kubeletRel]},
		{name: "429 and 503 then 200", httpOnly: true, rel: kubeletRel, script: map[string][]int{kubeletRel: {429, 503}}, wantChanged: true, wantHits: 3, wantContent: files[kubeletRel]},
		{name: "500 until the attempts run out", httpOnly: true, rel: kubeletRel, script: map[string][]int{kubeletRel: {500, 500, 500, 500}},
			errHas: []string{"after 3 attempts", "/base/" + kubeletRel, "500 Internal Server Error"}, wantHits: 3},
	} {
		for _, kind := range []string{"http", "dir"} {
			if kind == "dir" && tc.httpOnly {
				continue
			}
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				base := srv.URL + "/base/"
				if kind == "dir" {
					base = dir
				}
				f, err := NewSource(base, fastRetry)
				if err != nil {
					t.Fatal(err)
				}
				sums, err := LoadSums(context.Background(), f)
				if err != nil {
					t.Fatal(err)
				}
				root, fsys := newRoot(t)
				if tc.before != nil {
					if _, err := fsys.WriteFile(dest, tc.before, 0o755); err != nil {
						t.Fatal(err)
					}
				}
				srv.reset(tc.script)
				changed, err := InstallFile(context.Background(), f, sums, fsys, tc.rel, dest, 0o755)
				if tc.wantIs != nil || tc.errHas != nil {
					if err == nil {
						t.Fatal("InstallFile succeeded, want an error")
					}
					if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
						t.Errorf("error %v does not wrap %v", err, tc.wantIs)
					}
					for _, s := range tc.errHas {
						if !strings.Contains(err.Error(), s) {
							t.Errorf("error %q lacks %q", err, s)
						}
					}
				} else if err != nil {
					t.Fatal(err)
				}
				if changed != tc.wantChanged {
					t.Errorf("changed = %v, want %v", changed, tc.wantChanged)
				}
				if kind == "http" && srv.total() != tc.wantHits {
					t.Errorf("%d requests, want %d", srv.total(), tc.wantHits)
				}
				got, err := os.ReadFile(filepath.Join(root, dest))
				if tc.wantContent == nil {
					if err == nil {
						t.Errorf("dest was written: %q", got)
					}
				} else if !bytes.Equal(got, tc.wantContent) {
					t.Errorf("dest = %q, %v; want %q", got, err, tc.wantContent)
				}
				if tc.wantChanged {
					srv.reset(nil)
					if changed, err := InstallFile(context.Background(), f, sums, fsys, tc.rel, dest, 0o755); changed || err != nil || srv.total() != 0 {
						t.Errorf("second install = %v, %v with %d requests; want a no-op", changed, err, srv.total())
					}
				}
			})
		}
	}
}

func TestInstallTarball(t *testing.T) {
	files := bundle(t)
	containerd := map[string]string{
		"bin/containerd":              "/usr/local/bin/containerd",
		"bin/containerd-shim-runc-v2": "/usr/local/bin/containerd-shim-runc-v2",
		"bin/ctr":                     "/usr/local/bin/ctr",
	}
	want := map[string]string{
		"/usr/local/bin/containerd":              "containerd binary",
		"/usr/local/bin/containerd-shim-runc-v2": "shim binary",
		"/usr/local/bin/ctr":                     "ctr binary",
	}
	for _, tc := range []struct {
		name        string
		rel         string
		members     map[string]string
		tamper      bool // serve a different archive under rel
		before      map[string]string
		wantChanged []string
		wantFiles   map[string]string
		wantIs      error
		errHas      []string
	}{
		{name: "happy path", rel: containerdRel, members: containerd, wantChanged: slices.Sorted(maps.Keys(want)), wantFiles: want},
		{name: "dot-slash members", rel: cniRel, members: map[string]string{"./bridge": "/opt/cni/bin/bridge", "host-local": "/opt/cni/bin/host-local"},
			wantChanged: []string{"/opt/cni/bin/bridge", "/opt/cni/bin/host-local"},
			wantFiles:   map[string]string{"/opt/cni/bin/bridge": "bridge plugin", "/opt/cni/bin/host-local": "host-local plugin"}},
		{name: "unchanged files are not rewritten", rel: containerdRel, members: containerd,
			before:      map[string]string{"/usr/local/bin/containerd": "containerd binary", "/usr/local/bin/ctr": "old ctr"},
			wantChanged: []string{"/usr/local/bin/containerd-shim-runc-v2", "/usr/local/bin/ctr"}, wantFiles: want},
		{name: "wrong checksum installs nothing", rel: containerdRel, members: containerd, tamper: true,
			before:    map[string]string{"/usr/local/bin/containerd": "old containerd"},
			wantFiles: map[string]string{"/usr/local/bin/containerd": "old containerd", "/usr/local/bin/ctr": ""},
			wantIs:    hostfs.ErrChecksum, errHas: []string{containerdRel, "want sha256 " + sum(files[containerdRel])}},
		{name: "member missing installs nothing", rel: containerdRel,
			members:   map[string]string{"bin/containerd": "/usr/local/bin/containerd", "bin/nerdctl": "/usr/local/bin/nerdctl"},
			wantFiles: map[string]string{"/usr/local/bin/containerd": "", "/usr/local/bin/nerdctl": ""},
			wantIs:    fs.ErrNotExist, errHas: []string{"bin/nerdctl", containerdRel}},
		{name: "symlink member", rel: containerdRel, members: map[string]string{"bin/link": "/usr/local/bin/link"},
			wantFiles: map[string]string{"/usr/local/bin/link": ""}, errHas: []string{"bin/link", "not a regular file"}},
		{name: "missing sums entry", rel: unlistedRel, members: containerd, wantIs: ErrNotListed},
		{name: "not an archive", rel: runcRel, members: map[string]string{"runc": "/usr/local/sbin/runc"}, errHas: []string{"gzip"}},
	} {
		for _, kind := range []string{"http", "dir"} {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				served := files
				if tc.tamper {
					served = bundle(t) // fresh copy
					served[tc.rel] = tgz(t, member{"bin/containerd", "evil", tar.TypeReg}, member{"bin/ctr", "evil", tar.TypeReg},
						member{"bin/containerd-shim-runc-v2", "evil", tar.TypeReg})
				}
				base := newServer(t, served).URL + "/base"
				if kind == "dir" {
					base = "file://" + writeDir(t, served)
				}
				f, err := NewSource(base, fastRetry)
				if err != nil {
					t.Fatal(err)
				}
				sums, err := ParseSums(bytes.NewReader(files[SumsFile]))
				if err != nil {
					t.Fatal(err)
				}
				root, fsys := newRoot(t)
				for p, c := range tc.before {
					fsys.WriteFile(p, []byte(c), 0o755)
				}
				changed, err := InstallTarball(context.Background(), f, sums, fsys, tc.rel, tc.members, 0o755)
				if tc.wantIs != nil || tc.errHas != nil {
					if err == nil {
						t.Fatal("InstallTarball succeeded, want an error")
					}
					if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
						t.Errorf("error %v does not wrap %v", err, tc.wantIs)
					}
					for _, s := range tc.errHas {
						if !strings.Contains(err.Error(), s) {
							t.Errorf("error %q lacks %q", err, s)
						}
					}
				} else if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(changed, tc.wantChanged) {
					t.Errorf("changed = %v, want %v", changed, tc.wantChanged)
				}
				for p, c := range tc.wantFiles {
					got, err := os.ReadFile(filepath.Join(root, p))
					if c == "" {
						if err == nil {
							t.Errorf("%s was installed", p)
						}
						continue
					}
					if string(got) != c {
						t.Errorf("%s = %q, %v; want %q", p, got, err, c)
					}
					if fi, _ := os.Stat(filepath.Join(root, p)); fi == nil || fi.Mode().Perm() != 0o755 {
						t.Errorf("%s mode = %v, want 0755", p, fi)
					}
				}
				if err == nil {
					counter := hostfstest.Counting(fsys)
					again, err := InstallTarball(context.Background(), f, sums, counter, tc.rel, tc.members, 0o755)
					if err != nil || len(again) != 0 || counter.Total() != 0 {
						t.Errorf("second install = %v, %v, %d writes; want a no-op", again, err, counter.Total())
					}
				}
			})
		}
	}
}

func TestLoadSums(t *testing.T) {
	h := strings.Repeat("0", 64)
	for _, tc := range []struct {
		name    string
		sums    []byte // nil = not served
		wantErr []string
	}{
		{name: "ok", sums: []byte(h + "  a\n")},
		{name: "bad line", sums: []byte(h + "  a\nnonsense\n"), wantErr: []string{"/base/SHA256SUMS", "line 2"}},
		{name: "missing", wantErr: []string{"/base/SHA256SUMS", "404"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string][]byte{}
			if tc.sums != nil {
				files[SumsFile] = tc.sums
			}
			f, err := NewSource(newServer(t, files).URL+"/base", fastRetry)
			if err != nil {
				t.Fatal(err)
			}
			sums, err := LoadSums(context.Background(), f)
			if tc.wantErr == nil {
				if err != nil || sums["a"] != h {
					t.Fatalf("LoadSums = %v, %v", sums, err)
				}
				return
			}
			if err == nil {
				t.Fatal("LoadSums succeeded")
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
}

// TestHTTPStall checks the inactivity timeout: a server that sends headers
// and then nothing must not hang the install.
func TestHTTPStall(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		if r.URL.Path == "/headers-then-stall" {
			w.Header().Set("Content-Length", "100")
			w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	f, err := NewSource(srv.URL, WithTimeout(100*time.Millisecond), WithBackoff(wait.Backoff{Duration: time.Millisecond, Steps: 2}))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = f.Open(context.Background(), "no-headers")
	if !errors.Is(err, errStalled) || !strings.Contains(err.Error(), srv.URL+"/no-headers") {
		t.Errorf("Open err = %v, want a stall error naming the URL", err)
	}
	mu.Lock()
	if hits != 2 {
		t.Errorf("%d attempts, want 2 (stalls are retried)", hits)
	}
	mu.Unlock()
	rc, err := f.Open(context.Background(), "headers-then-stall")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	if !errors.Is(err, errStalled) || !strings.Contains(err.Error(), "headers-then-stall") {
		t.Errorf("read err = %v, want a stall error naming the URL", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestContextCancelled(t *testing.T) {
	srv := newServer(t, bundle(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, base := range []string{srv.URL + "/base", writeDir(t, bundle(t))} {
		f, err := NewSource(base, fastRetry)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Open(ctx, kubeletRel); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: Open err = %v, want context.Canceled", base, err)
		}
	}
	if srv.total() != 0 {
		t.Errorf("%d requests with a cancelled context", srv.total())
	}
}

func TestDirSource(t *testing.T) {
	dir := writeDir(t, map[string][]byte{"a/file": []byte("x")})
	outside := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(outside, []byte("secret"), 0o644)
	os.Symlink(outside, filepath.Join(dir, "escape"))
	os.Symlink("file", filepath.Join(dir, "a/inside"))
	f, err := NewSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rel      string
		want     string
		notExist bool
	}{
		{rel: "a/file", want: "x"},
		{rel: "a/inside", want: "x"},
		{rel: "escape"},
		{rel: "../" + filepath.Base(dir) + "/a/file"},
		{rel: "/etc/passwd"},
		{rel: "a"},
		{rel: "a/none", notExist: true},
	} {
		t.Run(tc.rel, func(t *testing.T) {
			rc, err := f.Open(context.Background(), tc.rel)
			if tc.want == "" {
				if err == nil {
					rc.Close()
					t.Fatalf("Open(%q) succeeded", tc.rel)
				}
				if tc.notExist && (!errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), filepath.Join(dir, tc.rel))) {
					t.Errorf("err = %v, want fs.ErrNotExist naming the path", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if b, _ := io.ReadAll(rc); string(b) != tc.want {
				t.Errorf("content = %q, want %q", b, tc.want)
			}
		})
	}
	if fmt.Sprint(f) != dir {
		t.Errorf("String() = %v", f)
	}
}
