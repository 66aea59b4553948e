// Package artifact is the one download seam: an HTTP(S) base URL (with a
// stall timeout per request, bounded retries with jittered backoff, and
// bodies that resume where they broke off) or a local directory (offline
// bundle), the SHA256SUMS file at its base, and Stage: one artifact
// streamed in one pass through sha256 (and gzip and tar, within Limits)
// into files staged through hostfs beside their destinations, committed
// by the caller only once everything is verified.
package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Fetcher opens files of an artifact source.
type Fetcher interface {
	// Open opens rel, a slash-separated path relative to the base.
	Open(ctx context.Context, rel string) (io.ReadCloser, error)
}

// StatusError is a non-200 HTTP answer. A 404 satisfies errors.Is(err, fs.ErrNotExist).
type StatusError struct {
	URL        string
	StatusCode int
	Status     string // e.g. "404 Not Found"
}

// Error names the URL and the status.
func (e *StatusError) Error() string { return fmt.Sprintf("artifact: GET %s: %s", e.URL, e.Status) }

// Is makes a 404 match fs.ErrNotExist.
func (e *StatusError) Is(target error) bool {
	return target == fs.ErrNotExist && e.StatusCode == http.StatusNotFound
}

// Option configures an HTTP(S) source.
type Option func(*httpSource)

// WithClient sets the HTTP client (default: a clone of http.DefaultTransport
// with the proxy of WithProxy: none unless given, never the environment's).
// WithProxy does not apply to a client given here.
func WithClient(c *http.Client) Option { return func(s *httpSource) { s.client = c } }

// WithProxy sets the Proxy func of the default client's transport (nil:
// every request goes direct). hybridnode's own settings give it
// (bootstrap/proxy.Func); the process environment is never read.
func WithProxy(f func(*http.Request) (*url.URL, error)) Option {
	return func(s *httpSource) { s.proxy = f }
}

// DefaultStallTimeout: no byte (nor a response) for this long and the
// request is abandoned and retried.
const DefaultStallTimeout = 15 * time.Second

// WithTimeout sets the stall timeout: a request is abandoned (and retried,
// resuming where it stopped) when no response or no body bytes arrive for d
// (default DefaultStallTimeout).
func WithTimeout(d time.Duration) Option { return func(s *httpSource) { s.timeout = d } }

// WithBackoff sets the retry schedule: Steps is the maximum number of
// requests for one file (resumptions included), Duration the wait before
// the second, multiplied by Factor each time up to Cap. Every wait is
// jittered, uniformly between half and all of it (Jitter is ignored).
// Default: 5 attempts, 1s doubling, capped at 30s.
func WithBackoff(b wait.Backoff) Option { return func(s *httpSource) { s.backoff = b } }

// NewSource returns the Fetcher for base: an http:// or https:// URL, a
// file:// URL or an absolute local directory. Options apply to HTTP(S) only.
func NewSource(base string, opts ...Option) (Fetcher, error) {
	switch {
	case strings.HasPrefix(base, "http://"), strings.HasPrefix(base, "https://"):
		u, err := url.Parse(base)
		if err != nil {
			return nil, fmt.Errorf("artifact: source %s: %w", base, err)
		}
		if u.Host == "" {
			return nil, fmt.Errorf("artifact: source %s: no host", base)
		}
		s := &httpSource{
			base:    u,
			timeout: DefaultStallTimeout,
			backoff: wait.Backoff{Duration: time.Second, Factor: 2, Steps: 5, Cap: 30 * time.Second},
		}
		for _, o := range opts {
			o(s)
		}
		if s.client == nil {
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.Proxy = s.proxy
			s.client = &http.Client{Transport: tr}
		}
		if s.backoff.Steps < 1 {
			s.backoff.Steps = 1
		}
		if s.timeout <= 0 {
			s.timeout = DefaultStallTimeout
		}
		return s, nil
	case strings.HasPrefix(base, "file://"):
		u, err := url.Parse(base)
		if err != nil {
			return nil, fmt.Errorf("artifact: source %s: %w", base, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("artifact: source %s: remote file URLs are not supported", base)
		}
		return newDir(base, u.Path)
	case filepath.IsAbs(base):
		return newDir(base, base)
	}
	return nil, fmt.Errorf("artifact: source %q: want an http(s):// URL, a file:// URL or an absolute directory", base)
}

func validRel(rel string) error {
	if rel == "." || !fs.ValidPath(rel) {
		return fmt.Errorf("artifact: invalid relative path %q", rel)
	}
	return nil
}

type dirSource struct{ dir string }

func newDir(base, dir string) (Fetcher, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("artifact: source %s: %w", base, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("artifact: source %s: not a directory", base)
	}
	return dirSource{dir: filepath.Clean(dir)}, nil
}

func (s dirSource) String() string { return s.dir }

// Open opens rel inside the directory; symlinks may not leave it.
func (s dirSource) Open(ctx context.Context, rel string) (io.ReadCloser, error) {
	if err := validRel(rel); err != nil {
		return nil, err
	}
	p := filepath.Join(s.dir, filepath.FromSlash(rel))
	if ctx.Err() != nil {
		return nil, fmt.Errorf("artifact: open %s: %w", p, context.Cause(ctx))
	}
	f, err := os.OpenInRoot(s.dir, filepath.FromSlash(rel))
	if err == nil {
		var fi fs.FileInfo
		if fi, err = f.Stat(); err == nil && !fi.Mode().IsRegular() {
			err = errors.New("not a regular file")
		}
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("artifact: open %s: %w", p, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{ctxReader{ctx, f}, f}, nil
}

// ctxReader fails reads once ctx is done, with its cause.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if c.ctx.Err() != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.r.Read(p)
}

type httpSource struct {
	base    *url.URL
	client  *http.Client
	proxy   func(*http.Request) (*url.URL, error)
	timeout time.Duration
	backoff wait.Backoff
}

func (s *httpSource) String() string { return s.base.String() }

// errStalled is the cancel cause of a request that made no progress.
var errStalled = errors.New("no progress")

// Open GETs base/rel, retrying connection errors, stalls, 5xx and 429 with
// jittered exponential backoff; other 4xx are final. The body it returns
// resumes (a Range request from where it stopped) when the connection
// breaks or stalls mid-body, within the same attempt budget: the reader
// sees one unbroken stream.
func (s *httpSource) Open(ctx context.Context, rel string) (io.ReadCloser, error) {
	if err := validRel(rel); err != nil {
		return nil, err
	}
	r := &resumable{s: s, ctx: ctx, url: s.base.JoinPath(rel).String()}
	if err := r.connect(); err != nil {
		return nil, err
	}
	return r, nil
}

func retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.StatusCode >= 500 || se.StatusCode == http.StatusTooManyRequests
	}
	return true
}

// delay is the wait before attempt n+1 (n >= 1): Duration*Factor^(n-1),
// capped, then jittered into [d/2, d).
func (s *httpSource) delay(n int) time.Duration {
	d := float64(s.backoff.Duration)
	f := s.backoff.Factor
	if f < 1 {
		f = 1
	}
	for i := 1; i < n; i++ {
		d *= f
		if s.backoff.Cap > 0 && d > float64(s.backoff.Cap) {
			break
		}
	}
	if s.backoff.Cap > 0 && d > float64(s.backoff.Cap) {
		d = float64(s.backoff.Cap)
	}
	if d <= 0 {
		return 0
	}
	return time.Duration(d/2 + rand.Float64()*d/2)
}

// resumable is the body of one file, over as many requests as it takes.
type resumable struct {
	s         *httpSource
	ctx       context.Context
	url       string
	attempts  int
	body      *httpBody
	off       int64  // bytes delivered
	size      int64  // from the first response; -1 unknown
	validator string // ETag or Last-Modified of the first response, for If-Range
	err       error  // sticky, once given up
}

// connect makes requests from r.off until one answers, or the attempts run out.
func (r *resumable) connect() error {
	var last error
	for {
		if r.attempts > 0 {
			t := time.NewTimer(r.s.delay(r.attempts))
			select {
			case <-r.ctx.Done():
				t.Stop()
				return r.ctxErr(last)
			case <-t.C:
			}
		}
		if r.ctx.Err() != nil {
			return r.ctxErr(last)
		}
		r.attempts++
		body, err := r.get()
		if err == nil {
			r.body = body
			return nil
		}
		last = err
		switch {
		case r.ctx.Err() != nil:
			return r.ctxErr(last)
		case !retryable(err):
			return err
		case r.attempts >= r.s.backoff.Steps:
			return fmt.Errorf("artifact: giving up after %d attempts: %w", r.attempts, err)
		}
	}
}

func (r *resumable) ctxErr(last error) error {
	if last == nil {
		return fmt.Errorf("artifact: GET %s: %w", r.url, context.Cause(r.ctx))
	}
	return fmt.Errorf("artifact: GET %s: %w (after %d attempts; last error: %v)", r.url, context.Cause(r.ctx), r.attempts, last)
}

func (r *resumable) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	for {
		n, err := r.body.Read(p)
		r.off += int64(n)
		if err == nil || err == io.EOF {
			return n, err
		}
		r.body.Close()
		switch {
		case r.ctx.Err() != nil:
			r.err = err
		case r.attempts >= r.s.backoff.Steps:
			r.err = fmt.Errorf("artifact: giving up after %d attempts: %w", r.attempts, err)
		default:
			r.err = r.connect()
		}
		if r.err != nil {
			return n, r.err
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (r *resumable) Close() error {
	if r.body == nil {
		return nil
	}
	return r.body.Close()
}

// get makes one request for the rest of the file; the returned body cancels
// the request when no bytes arrive for s.timeout.
func (r *resumable) get() (*httpBody, error) {
	s, u := r.s, r.url
	ctx, cancel := context.WithCancelCause(r.ctx)
	stall := fmt.Errorf("%w for %s (the stall timeout)", errStalled, s.timeout)
	timer := time.AfterFunc(s.timeout, func() { cancel(stall) })
	fail := func(err error) (*httpBody, error) {
		timer.Stop()
		if c := context.Cause(ctx); c == stall {
			err = c
		}
		cancel(nil)
		return nil, fmt.Errorf("artifact: GET %s: %w", u, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fail(err)
	}
	req.Header.Set("User-Agent", "hybridnode")
	if r.off > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", r.off))
		if r.validator != "" {
			req.Header.Set("If-Range", r.validator)
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fail(err)
	}
	b := &httpBody{rc: resp.Body, ctx: ctx, cancel: cancel, timer: timer, timeout: s.timeout, url: u}
	switch {
	case resp.StatusCode == http.StatusOK && r.off == 0:
		r.size = resp.ContentLength
		if et := resp.Header.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
			r.validator = et
		} else {
			r.validator = resp.Header.Get("Last-Modified")
		}
	case resp.StatusCode == http.StatusOK:
		// No range support, or the file changed: skip what was delivered
		// (the checksum tells whether it is the same file).
		timer.Reset(s.timeout)
		if _, err := io.CopyN(io.Discard, b, r.off); err != nil {
			b.Close()
			return nil, err
		}
	case resp.StatusCode == http.StatusPartialContent && r.off > 0:
		var start int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-", &start); err != nil || start != r.off {
			b.Close()
			return nil, fmt.Errorf("artifact: GET %s: asked for bytes from %d, got %q", u, r.off, resp.Header.Get("Content-Range"))
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && r.off > 0 && r.off == r.size:
		// Everything had arrived; only the end of the stream was lost.
		b.Close()
		return &httpBody{rc: http.NoBody, ctx: ctx, cancel: cancel, timer: time.NewTimer(time.Hour), timeout: s.timeout, url: u}, nil
	default:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		b.Close()
		return nil, &StatusError{URL: u, StatusCode: resp.StatusCode, Status: resp.Status}
	}
	timer.Reset(s.timeout)
	return b, nil
}

type httpBody struct {
	rc      io.ReadCloser
	ctx     context.Context
	cancel  context.CancelCauseFunc
	timer   *time.Timer
	timeout time.Duration
	url     string
}

func (b *httpBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.timer.Reset(b.timeout)
	}
	if err != nil && err != io.EOF {
		if c := context.Cause(b.ctx); c != nil {
			err = c
		}
		err = fmt.Errorf("artifact: read %s: %w", b.url, err)
	}
	return n, err
}

func (b *httpBody) Close() error {
	b.timer.Stop()
	b.cancel(nil)
	return b.rc.Close()
}
