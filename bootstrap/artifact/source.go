// Package artifact is the one download seam: an HTTP(S) base URL (with
// per-request inactivity timeout and bounded retries) or a local directory
// (offline bundle), the SHA256SUMS file at its base, and verified installs of
// single files and selected tarball members through hostfs.
package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

// WithClient sets the HTTP client (default: a clone of http.DefaultTransport, proxies from the environment).
func WithClient(c *http.Client) Option { return func(s *httpSource) { s.client = c } }

// WithTimeout sets the per-request inactivity timeout: a request fails when
// no response or no body bytes arrive for d (default 60s).
func WithTimeout(d time.Duration) Option { return func(s *httpSource) { s.timeout = d } }

// WithBackoff sets the retry schedule; Steps is the maximum number of
// attempts (default 5 attempts, 1s doubling, capped at 30s).
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
			client:  &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
			timeout: 60 * time.Second,
			backoff: wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.1, Steps: 5, Cap: 30 * time.Second},
		}
		for _, o := range opts {
			o(s)
		}
		if s.backoff.Steps < 1 {
			s.backoff.Steps = 1
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
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("artifact: open %s: %w", p, err)
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

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

type httpSource struct {
	base    *url.URL
	client  *http.Client
	timeout time.Duration
	backoff wait.Backoff
}

func (s *httpSource) String() string { return s.base.String() }

// errStalled is the cancel cause of a request that made no progress.
var errStalled = errors.New("no progress")

// Open GETs base/rel, retrying connection errors, 5xx and 429 with
// exponential backoff; other 4xx are final.
func (s *httpSource) Open(ctx context.Context, rel string) (io.ReadCloser, error) {
	if err := validRel(rel); err != nil {
		return nil, err
	}
	u := s.base.JoinPath(rel).String()
	var body io.ReadCloser
	var last error
	attempts := 0
	err := wait.ExponentialBackoffWithContext(ctx, s.backoff, func(ctx context.Context) (bool, error) {
		attempts++
		body, last = s.get(ctx, u)
		switch {
		case last == nil:
			return true, nil
		case ctx.Err() != nil:
			return false, ctx.Err()
		case retryable(last):
			return false, nil
		}
		return false, last
	})
	switch {
	case body != nil:
		return body, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("artifact: GET %s: %w (after %d attempts; last error: %v)", u, ctx.Err(), attempts, last)
	case err == last:
		return nil, last
	}
	return nil, fmt.Errorf("artifact: giving up after %d attempts: %w", attempts, last)
}

func retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.StatusCode >= 500 || se.StatusCode == http.StatusTooManyRequests
	}
	return true
}

// get makes one request; the returned body cancels the request when no
// bytes arrive for s.timeout.
func (s *httpSource) get(parent context.Context, u string) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancelCause(parent)
	stall := fmt.Errorf("%w for %s", errStalled, s.timeout)
	timer := time.AfterFunc(s.timeout, func() { cancel(stall) })
	fail := func(err error) (io.ReadCloser, error) {
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
	resp, err := s.client.Do(req)
	if err != nil {
		return fail(err)
	}
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		timer.Stop()
		cancel(nil)
		return nil, &StatusError{URL: u, StatusCode: resp.StatusCode, Status: resp.Status}
	}
	timer.Reset(s.timeout)
	return &httpBody{rc: resp.Body, ctx: ctx, cancel: cancel, timer: timer, timeout: s.timeout, url: u}, nil
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
