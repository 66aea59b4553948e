package artifact

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
)

// leftovers lists every file under root: what a failed Stage must not leave.
func leftovers(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err == nil && !de.IsDir() {
			out = append(out, strings.TrimPrefix(p, root))
		}
		return nil
	})
	return out
}

// rawTar builds a gzipped tar from headers and bodies as given (a header
// may claim more than its body holds: the archive is then cut short).
func rawTar(t *testing.T, entries ...func(tw *tar.Writer)) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		e(tw)
	}
	tw.Flush()
	gz.Close()
	return buf.Bytes()
}

func regular(name, body string) func(*tar.Writer) {
	return func(tw *tar.Writer) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
}

func TestStageBounds(t *testing.T) {
	containerd := map[string]string{"bin/containerd": "/usr/local/bin/containerd", "bin/ctr": "/usr/local/bin/ctr"}
	many := func(tw *tar.Writer) {
		for i := range 5000 {
			tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("junk/%d", i), Mode: 0o644, Typeflag: tar.TypeReg})
		}
	}
	for _, tc := range []struct {
		name    string
		data    []byte
		members map[string]string // nil: a plain file at /usr/local/bin/kubelet
		lim     Limits
		wantIs  error
		errHas  []string
	}{
		{name: "member over the per-file bound", members: containerd,
			// the header claims 2 GiB: refused before a byte of it is read
			data: rawTar(t, regular("bin/ctr", "ctr"), func(tw *tar.Writer) {
				tw.WriteHeader(&tar.Header{Name: "bin/containerd", Mode: 0o755, Size: 2 << 30, Typeflag: tar.TypeReg})
				tw.Write(make([]byte, 1<<20))
			}),
			wantIs: ErrTooLarge, errHas: []string{"bin/containerd", "2147483648 bytes", "512 MiB bound per file", containerdRel}},
		{name: "entry-count bomb", members: containerd, data: rawTar(t, many),
			wantIs: ErrTooLarge, errHas: []string{"4096 entries bound", containerdRel}},
		{name: "unpacked total", members: containerd, lim: Limits{Total: 1 << 20},
			data:   rawTar(t, regular("bin/ctr", "ctr"), regular("big", strings.Repeat("z", 2<<20)), regular("bin/containerd", "c")),
			wantIs: ErrTooLarge, errHas: []string{"1 MiB bound per archive", containerdRel}},
		{name: "plain file over the per-file bound", lim: Limits{File: 1 << 10}, data: bytes.Repeat([]byte("k"), 4<<10),
			wantIs: ErrTooLarge, errHas: []string{"1 KiB bound per file", containerdRel}},
		{name: "download bound", members: containerd, lim: Limits{Download: 1 << 10},
			data: rawTar(t, regular("bin/ctr", string(randomBytes(8<<10))), regular("bin/containerd", "c")), wantIs: ErrTooLarge, errHas: []string{"1 KiB bound per download"}},
		{name: "missing member", members: containerd, data: rawTar(t, regular("bin/ctr", "ctr")),
			wantIs: fs.ErrNotExist, errHas: []string{"bin/containerd", containerdRel}},
		{name: "member twice", members: containerd, data: rawTar(t, regular("bin/ctr", "a"), regular("./bin/ctr", "b"), regular("bin/containerd", "c")),
			errHas: []string{"bin/ctr appears twice"}},
		{name: "cut short", members: containerd, data: rawTar(t, regular("bin/ctr", "ctr"))[:20], errHas: []string{"read archive", containerdRel}},
		{name: "trailing garbage", members: containerd, data: append(rawTar(t, regular("bin/ctr", "ctr"), regular("bin/containerd", "c")), "garbage"...),
			errHas: []string{containerdRel}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewSource(writeDir(t, map[string][]byte{containerdRel: tc.data}))
			if err != nil {
				t.Fatal(err)
			}
			root, fsys := newRoot(t)
			target := Target{Rel: containerdRel, Members: tc.members, Dest: "/usr/local/bin/kubelet", Mode: 0o755}
			st, err := Stage(context.Background(), f, Sums{containerdRel: sum(tc.data)}, fsys, target, tc.lim)
			if err == nil {
				st.Discard()
				t.Fatal("Stage succeeded")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tc.wantIs)
			}
			for _, s := range tc.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if l := leftovers(t, root); len(l) != 0 {
				t.Errorf("left behind: %v", l)
			}
		})
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7919 + i>>3)
	}
	return b
}

// TestStageChecksumFirst: a malformed archive that is not the listed one is
// reported as a checksum mismatch, the error that says what happened.
func TestStageChecksumFirst(t *testing.T) {
	listed := rawTar(t, regular("bin/ctr", "ctr"), regular("bin/containerd", "c"))
	for name, served := range map[string][]byte{
		"not gzip":  []byte("<html>an error page</html>"),
		"cut short": listed[:len(listed)/2],
		"other tar": rawTar(t, regular("bin/ctr", "evil")),
	} {
		t.Run(name, func(t *testing.T) {
			f, _ := NewSource(writeDir(t, map[string][]byte{containerdRel: served}))
			root, fsys := newRoot(t)
			_, err := Stage(context.Background(), f, Sums{containerdRel: sum(listed)}, fsys,
				Target{Rel: containerdRel, Members: map[string]string{"bin/ctr": "/usr/local/bin/ctr", "bin/containerd": "/usr/local/bin/containerd"}, Mode: 0o755}, Limits{})
			if !errors.Is(err, hostfs.ErrChecksum) || !strings.Contains(err.Error(), containerdRel) {
				t.Errorf("err = %v, want a checksum mismatch naming the artifact", err)
			}
			if l := leftovers(t, root); len(l) != 0 {
				t.Errorf("left behind: %v", l)
			}
		})
	}
}

func TestStageOnePass(t *testing.T) {
	files := bundle(t)
	srv := newServer(t, files)
	f, _ := NewSource(srv.URL+"/base", fastRetry)
	sums, _ := ParseSums(bytes.NewReader(files[SumsFile]))
	root, fsys := newRoot(t)
	st, err := Stage(context.Background(), f, sums, fsys, Target{Rel: containerdRel, Mode: 0o755,
		Members: map[string]string{"bin/containerd": "/usr/local/bin/containerd", "bin/ctr": "/usr/local/bin/ctr"}}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if st.SHA256 != sums[containerdRel] || len(st.Files) != 2 || st.Files[0].Path() != "/usr/local/bin/containerd" {
		t.Fatalf("staged %+v", st)
	}
	if got := st.Sums()["/usr/local/bin/ctr"]; got != sum([]byte("ctr binary")) {
		t.Errorf("member sha256 %s", got)
	}
	// Staged, not installed: only hybridnode's temp files are there.
	for _, p := range leftovers(t, root) {
		if !hostfs.IsTemp(filepath.Base(p)) {
			t.Errorf("%s is at its final path before the commit", p)
		}
	}
	if err := fsys.CommitAll(st.Files); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "usr/local/bin/ctr")); string(got) != "ctr binary" {
		t.Errorf("ctr = %q", got)
	}
	if srv.total() != 1 {
		t.Errorf("%d requests, want 1", srv.total())
	}
}

// flaky serves body, but the first `breaks` responses stop after cut bytes:
// the connection is closed, or (stall) left silent. Range requests are
// honoured unless noRange.
type flaky struct {
	body    []byte
	cut     int
	breaks  int32
	stall   bool
	noRange bool
	reqs    atomic.Int32
	ranges  []string
	mu      sync.Mutex
}

func (fl *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := fl.reqs.Add(1)
	fl.mu.Lock()
	fl.ranges = append(fl.ranges, r.Header.Get("Range"))
	fl.mu.Unlock()
	start := 0
	if rg := r.Header.Get("Range"); rg != "" && !fl.noRange {
		fmt.Sscanf(rg, "bytes=%d-", &start)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(fl.body)-1, len(fl.body)))
		w.Header().Set("Content-Length", fmt.Sprint(len(fl.body)-start))
		w.WriteHeader(http.StatusPartialContent)
	} else {
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Length", fmt.Sprint(len(fl.body)))
	}
	rest := fl.body[start:]
	if n <= fl.breaks && fl.cut < len(rest) {
		w.Write(rest[:fl.cut])
		w.(http.Flusher).Flush()
		if fl.stall {
			<-r.Context().Done()
			return
		}
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return
	}
	w.Write(rest)
}

func TestResumeMidBody(t *testing.T) {
	body := randomBytes(1 << 20)
	for _, tc := range []struct {
		name      string
		fl        *flaky
		wantReqs  int32
		wantRange string
	}{
		{"connection drops", &flaky{body: body, cut: 300 << 10, breaks: 2}, 3, "bytes=614400-"},
		{"stall mid-body", &flaky{body: body, cut: 100 << 10, breaks: 1, stall: true}, 2, "bytes=102400-"},
		{"no range support", &flaky{body: body, cut: 300 << 10, breaks: 1, noRange: true}, 2, "bytes=307200-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.fl)
			defer srv.Close()
			f, _ := NewSource(srv.URL, WithTimeout(200*time.Millisecond), WithBackoff(wait.Backoff{Duration: time.Millisecond, Factor: 2, Steps: 4}))
			root, fsys := newRoot(t)
			st, err := Stage(context.Background(), f, Sums{kubeletRel: sum(body)}, fsys, Target{Rel: kubeletRel, Dest: "/usr/local/bin/kubelet", Mode: 0o755}, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if err := fsys.CommitAll(st.Files); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(filepath.Join(root, "usr/local/bin/kubelet")); !bytes.Equal(got, body) {
				t.Errorf("content differs (%d bytes)", len(got))
			}
			if n := tc.fl.reqs.Load(); n != tc.wantReqs {
				t.Errorf("%d requests, want %d", n, tc.wantReqs)
			}
			if last := tc.fl.ranges[len(tc.fl.ranges)-1]; last != tc.wantRange {
				t.Errorf("last Range %q, want %q (all: %q)", last, tc.wantRange, tc.fl.ranges)
			}
		})
	}
	// Out of attempts: the error says so, names the URL and the cause.
	fl := &flaky{body: body, cut: 1000, breaks: 10, stall: true}
	srv := httptest.NewServer(fl)
	defer srv.Close()
	f, _ := NewSource(srv.URL, WithTimeout(50*time.Millisecond), WithBackoff(wait.Backoff{Duration: time.Millisecond, Factor: 2, Steps: 3}))
	_, fsys := newRoot(t)
	_, err := Stage(context.Background(), f, Sums{kubeletRel: sum(body)}, fsys, Target{Rel: kubeletRel, Dest: "/usr/local/bin/kubelet", Mode: 0o755}, Limits{})
	if !errors.Is(err, errStalled) || !strings.Contains(err.Error(), "after 3 attempts") || !strings.Contains(err.Error(), srv.URL+"/"+kubeletRel) ||
		!strings.Contains(err.Error(), "50ms (the stall timeout)") {
		t.Errorf("err = %v", err)
	}
	if fl.reqs.Load() != 3 {
		t.Errorf("%d requests, want 3", fl.reqs.Load())
	}
}

// TestAcceptNoAnswer: a server that accepts the connection and never says
// a word costs attempts x stall timeout plus the backoff, no more.
func TestAcceptNoAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			conns = append(conns, c)
			go io.Copy(io.Discard, c)
		}
	}()
	f, _ := NewSource("http://"+ln.Addr().String(), WithTimeout(100*time.Millisecond), WithBackoff(wait.Backoff{Duration: 10 * time.Millisecond, Factor: 2, Steps: 3}))
	start := time.Now()
	_, err = LoadSums(context.Background(), f)
	d := time.Since(start)
	if !errors.Is(err, errStalled) || !strings.Contains(err.Error(), "/SHA256SUMS") || !strings.Contains(err.Error(), "after 3 attempts") {
		t.Errorf("err = %v", err)
	}
	if d > 2*time.Second || d < 300*time.Millisecond {
		t.Errorf("took %v, want about 3 x 100ms", d)
	}
	if accepted.Load() != 3 {
		t.Errorf("%d connections, want 3", accepted.Load())
	}
	// The caller's deadline wins over the attempts left.
	ctx, cancel := context.WithTimeoutCause(context.Background(), 150*time.Millisecond, errors.New("the install deadline"))
	defer cancel()
	f, _ = NewSource("http://"+ln.Addr().String(), WithTimeout(time.Minute))
	start = time.Now()
	_, err = LoadSums(ctx, f)
	if d := time.Since(start); d > 2*time.Second || !strings.Contains(fmt.Sprint(err), "the install deadline") {
		t.Errorf("with a deadline: %v after %v", err, d)
	}
}

func TestBackoffJitter(t *testing.T) {
	s := &httpSource{backoff: wait.Backoff{Duration: time.Second, Factor: 2, Steps: 10, Cap: 30 * time.Second}}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 5: 16 * time.Second, 6: 30 * time.Second, 9: 30 * time.Second} {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := s.delay(n)
			if d < want/2 || d >= want {
				t.Errorf("delay(%d) = %v, want in [%v, %v)", n, d, want/2, want)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("delay(%d) is not jittered: %v", n, seen)
		}
	}
}

func TestLoadSumsTooLarge(t *testing.T) {
	line := strings.Repeat("0", 64) + "  a\n"
	big := strings.Repeat(line, MaxSumsSize/len(line)+1)
	f, _ := NewSource(newServer(t, map[string][]byte{SumsFile: []byte(big)}).URL+"/base", fastRetry)
	if _, err := LoadSums(context.Background(), f); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "16 MiB") {
		t.Errorf("err = %v, want the bound named", err)
	}
}

func FuzzParseSums(f *testing.F) {
	h := strings.Repeat("ab", 32)
	for _, seed := range []string{
		h + "  a/b\n" + strings.ToUpper(h) + " *./c\n\n",
		h + "  x\r\n" + h + "  y",
		h + " x\n", h + "\tx\n", h[:62] + "  x\n", h + "  ../etc/passwd\n", h + "  /abs\n",
		h + "  x\n" + strings.Repeat("cd", 32) + "  x\n", "\n", "",
		h + "  " + strings.Repeat("d/", 40000) + "f\n", h + "  a\x00b\n", "\xff\xfe" + h,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		sums, err := ParseSums(strings.NewReader(in))
		if err != nil {
			if sums != nil {
				t.Errorf("sums and an error: %v", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, SumsFile+" line ") && !strings.Contains(msg, SumsFile+" has no entries") {
				t.Errorf("rejection does not name the line: %v", err)
			}
			return
		}
		if len(sums) == 0 {
			t.Error("no entries and no error")
		}
		for p, s := range sums {
			if validRel(p) != nil || strings.HasPrefix(p, "./") {
				t.Errorf("invalid path accepted: %q", p)
			}
			if len(s) != 64 || strings.ToLower(s) != s || strings.Trim(s, "0123456789abcdef") != "" {
				t.Errorf("invalid sum accepted: %q", s)
			}
		}
	})
}

// BenchmarkGunzip compares compress/gzip and klauspost/compress/gzip, fed
// as the install feeds them (a bytes.Buffer kept topped up, see feeder) and
// through a bufio.Reader, on the real containerd and CNI tarballs when the
// e2e cache has them (else a generated one), with tar on top.
func BenchmarkGunzip(b *testing.B) {
	var archives [][]byte
	cache := os.Getenv("HN_CACHE")
	if cache == "" {
		cache = "/var/cache/hybridnode-e2e"
	}
	for _, rel := range []string{containerdRel, cniRel} {
		if data, err := os.ReadFile(filepath.Join(cache, "artifacts", rel)); err == nil {
			archives = append(archives, data)
		}
	}
	if len(archives) == 0 {
		var buf bytes.Buffer
		gz := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gz)
		data := randomBytes(40 << 20)
		for i := range data {
			if i%3 == 0 {
				data[i] = 0
			}
		}
		tw.WriteHeader(&tar.Header{Name: "bin/containerd", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write(data)
		tw.Close()
		gz.Close()
		archives = append(archives, buf.Bytes())
	}
	var total int64
	for _, a := range archives {
		total += int64(len(a))
	}
	type opener func(io.Reader) (io.ReadCloser, error)
	feed := func(open opener, a []byte) (io.Reader, error) {
		in := &feeder{src: struct{ io.Reader }{bytes.NewReader(a)}}
		in.fill()
		gz, err := open(&in.buf)
		return &fedReader{r: gz, in: in}, err
	}
	viaBufio := func(open opener, a []byte) (io.Reader, error) {
		return open(bufio.NewReaderSize(struct{ io.Reader }{bytes.NewReader(a)}, copyBuf))
	}
	for _, impl := range []struct {
		name string
		open opener
	}{
		{"stdlib", func(r io.Reader) (io.ReadCloser, error) { return gzip.NewReader(r) }},
		{"klauspost", func(r io.Reader) (io.ReadCloser, error) { return kgzip.NewReader(r) }},
	} {
		for _, path := range []struct {
			name string
			open func(opener, []byte) (io.Reader, error)
		}{{"buffer", feed}, {"bufio", viaBufio}} {
			b.Run(impl.name+"/"+path.name, func(b *testing.B) {
				b.SetBytes(total)
				buf := make([]byte, copyBuf)
				for range b.N {
					for _, a := range archives {
						r, err := path.open(impl.open, a)
						if err != nil {
							b.Fatal(err)
						}
						tr := tar.NewReader(r)
						for {
							if _, err := tr.Next(); err == io.EOF {
								break
							} else if err != nil {
								b.Fatal(err)
							}
							io.CopyBuffer(io.Discard, tr, buf)
						}
					}
				}
			})
		}
	}
}

// storedGzip is a gzip member of deflate stored blocks: `empty` empty
// blocks, then data in blocks of at most 64 KiB.
func storedGzip(empty int, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	for range empty {
		b.Write([]byte{0x00, 0x00, 0x00, 0xff, 0xff})
	}
	for first := true; first || len(data) > 0; first = false {
		n := min(len(data), 0xffff)
		final := byte(0)
		if n == len(data) {
			final = 1
		}
		b.Write([]byte{final, byte(n), byte(n >> 8), ^byte(n), ^byte(n >> 8)})
		b.Write(data[:n])
		data = data[n:]
	}
	return b.Bytes()
}

func gzipTrailer(gz []byte, data []byte) []byte {
	var t [8]byte
	c := crc32.ChecksumIEEE(data)
	binary.LittleEndian.PutUint32(t[:4], c)
	binary.LittleEndian.PutUint32(t[4:], uint32(len(data)))
	return append(gz, t[:]...)
}

// TestStageInflateInput: archives of stored (incompressible) blocks unpack
// as any other; a contrived stream of megabytes of empty blocks is refused
// with an error that says so.
func TestStageInflateInput(t *testing.T) {
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	body := randomBytes(3 << 20)
	tw.WriteHeader(&tar.Header{Name: "bin/ctr", Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write(body)
	tw.Close()
	for _, tc := range []struct {
		name   string
		empty  int
		errHas string
	}{
		{name: "stored blocks"},
		{name: "a few empty blocks", empty: 1000},
		{name: "megabytes of empty blocks", empty: 300000, errHas: "more than 1 MiB of compressed data for 32 KiB of output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := gzipTrailer(storedGzip(tc.empty, tarball.Bytes()), tarball.Bytes())
			f, _ := NewSource(writeDir(t, map[string][]byte{containerdRel: data}))
			root, fsys := newRoot(t)
			st, err := Stage(context.Background(), f, Sums{containerdRel: sum(data)}, fsys,
				Target{Rel: containerdRel, Members: map[string]string{"bin/ctr": "/usr/local/bin/ctr"}, Mode: 0o755}, Limits{})
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) || !strings.Contains(err.Error(), containerdRel) {
					t.Fatalf("err = %v, want %q", err, tc.errHas)
				}
				if l := leftovers(t, root); len(l) != 0 {
					t.Errorf("left behind: %v", l)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.Sums()["/usr/local/bin/ctr"] != sum(body) {
				t.Error("ctr differs")
			}
			st.Discard()
		})
	}
}
