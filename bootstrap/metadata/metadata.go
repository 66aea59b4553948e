// Package metadata reads the ECS instance metadata service, for hand runs:
// when ACK's ALIBABA_CLOUD_* variables are absent, the provider ID, the node
// name and the VPC CIDR come from here. Nothing is ever asked of the
// service unless the host identifies itself as an ECS instance (IsECS) or
// the endpoint was set explicitly; the caller decides.
package metadata

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
)

// DefaultEndpoint is the ECS metadata service.
const DefaultEndpoint = "http://100.100.100.200"

// Timeouts: the service is link-local to the instance and answers in
// milliseconds; anything slower means it is not there.
const (
	ConnectTimeout = time.Second
	RequestTimeout = 2 * time.Second
	Attempts       = 2
	tokenTTL       = "300" // seconds; the token serves this run only
)

// The service's security hardening mode (IMDSv2-like) headers.
const (
	tokenPath      = "/latest/api/token"
	tokenTTLHeader = "X-aliyun-ecs-metadata-token-ttl-seconds"
	tokenHeader    = "X-aliyun-ecs-metadata-token"
)

// Items of /latest/meta-data/ that hybridnode reads.
const (
	ItemRegionID    = "region-id"
	ItemInstanceID  = "instance-id"
	ItemPrivateIPv4 = "private-ipv4"
	ItemVPCCIDR     = "vpc-cidr-block"
)

// Getter returns one item of /latest/meta-data/ ("region-id").
type Getter interface {
	Get(ctx context.Context, item string) (string, error)
}

// Client is a Getter over HTTP: no proxy, 1s to connect, 2s per request,
// 2 attempts; it asks for a hardening-mode token first and uses it when the
// service gives one.
type Client struct {
	endpoint string
	http     *http.Client
	mu       sync.Mutex
	token    string
	tokenErr error
	tokened  bool
}

// New returns a Client for endpoint ("" = DefaultEndpoint).
func New(endpoint string) *Client {
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	tr := &http.Transport{
		Proxy:                 nil, // never through a proxy: the service is the instance's own
		DialContext:           (&net.Dialer{Timeout: ConnectTimeout}).DialContext,
		ResponseHeaderTimeout: RequestTimeout,
		MaxIdleConnsPerHost:   1,
	}
	return &Client{
		endpoint: strings.TrimRight(endpoint, "/"),
		http: &http.Client{Transport: tr, Timeout: RequestTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
}

// Endpoint is the service's base URL.
func (c *Client) Endpoint() string { return c.endpoint }

// statusError is an HTTP answer other than 200.
type statusError struct {
	url  string
	code int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("metadata: %s: HTTP %d %s", e.url, e.code, http.StatusText(e.code))
}

// Bounds on an answer's body: an item of /latest/meta-data/ is short; the
// instance identity's PKCS#7 signature carries a certificate.
const (
	maxItemBytes    = 4 << 10
	maxDynamicBytes = 64 << 10
)

// do makes one request with up to Attempts tries; 4xx answers are final.
// The body is trimmed of surrounding white space.
func (c *Client) do(ctx context.Context, method, path string, header http.Header) (string, error) {
	body, err := c.doRaw(ctx, method, path, header, maxItemBytes)
	return strings.TrimSpace(body), err
}

// doRaw is do with the body as it came, read up to limit bytes (an answer
// over limit is an error).
func (c *Client) doRaw(ctx context.Context, method, path string, header http.Header, limit int64) (string, error) {
	u := c.endpoint + path
	var last error
	for i := 0; i < Attempts; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return "", fmt.Errorf("metadata: %s %s: %w", method, u, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
		req, err := http.NewRequestWithContext(ctx, method, u, nil)
		if err != nil {
			return "", err
		}
		addHeaders(req.Header, header)
		req.Header.Set("User-Agent", "hybridnode")
		resp, err := c.http.Do(req)
		if err != nil {
			last = fmt.Errorf("metadata: %s %s: %w", method, u, err)
			if ctx.Err() != nil {
				return "", last
			}
			continue
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		resp.Body.Close()
		if err == nil && int64(len(body)) > limit {
			err = fmt.Errorf("answer over %d bytes", limit)
		}
		switch {
		case resp.StatusCode == http.StatusOK && err == nil:
			return string(body), nil
		case resp.StatusCode == http.StatusOK:
			last = fmt.Errorf("metadata: %s %s: %w", method, u, err)
		case resp.StatusCode < 500:
			return "", &statusError{url: u, code: resp.StatusCode}
		default:
			last = &statusError{url: u, code: resp.StatusCode}
		}
	}
	return "", last
}

func addHeaders(dst, src http.Header) {
	for k, vs := range src {
		for _, v := range vs {
			dst.Add(k, v)
		}
	}
}

// ensureToken asks once for a hardening-mode token. A service that does not
// reach at all is an error (nothing else will work); one that refuses the
// token request is in normal mode, and is asked without a token.
func (c *Client) ensureToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tokened {
		return c.token, c.tokenErr
	}
	c.tokened = true
	tok, err := c.do(ctx, http.MethodPut, tokenPath, http.Header{tokenTTLHeader: {tokenTTL}})
	var se *statusError
	switch {
	case err == nil:
		c.token = tok
	case errors.As(err, &se):
	default:
		c.tokenErr = err
	}
	return c.token, c.tokenErr
}

// Get implements Getter.
func (c *Client) Get(ctx context.Context, item string) (string, error) {
	h, err := c.getHeader(ctx)
	if err != nil {
		return "", err
	}
	return c.do(ctx, http.MethodGet, "/latest/meta-data/"+item, h)
}

// getHeader is the header of a GET: the hardening-mode token when the
// service gives one, else none.
func (c *Client) getHeader(ctx context.Context) (http.Header, error) {
	tok, err := c.ensureToken(ctx)
	if err != nil || tok == "" {
		return nil, err
	}
	return http.Header{tokenHeader: {tok}}, nil
}

// Dynamic returns /latest/dynamic/<item> exactly as the service sent it
// (up to 64 KiB), asked with the hardening-mode token when the service
// gives one: "instance-identity/document", or
// "instance-identity/pkcs7?audience=..." (the caller escapes the query).
func (c *Client) Dynamic(ctx context.Context, item string) (string, error) {
	h, err := c.getHeader(ctx)
	if err != nil {
		return "", err
	}
	return c.doRaw(ctx, http.MethodGet, "/latest/dynamic/"+item, h, maxDynamicBytes)
}

// StatusCode is the HTTP status of an answer other than 200 in err, or 0.
func StatusCode(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.code
	}
	return 0
}

var (
	regionRE   = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	instanceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)
)

// get reads and checks one item.
func get(ctx context.Context, g Getter, item string) (string, error) {
	v, err := g.Get(ctx, item)
	if err != nil {
		return "", err
	}
	ok := false
	switch item {
	case ItemRegionID:
		ok = regionRE.MatchString(v)
	case ItemInstanceID:
		ok = instanceRE.MatchString(v)
	case ItemPrivateIPv4:
		a, err := netip.ParseAddr(v)
		ok = err == nil && a.Is4()
	case ItemVPCCIDR:
		_, err := netip.ParsePrefix(v)
		ok = err == nil
	}
	if !ok {
		return "", fmt.Errorf("metadata: %s: unexpected value %q", item, v)
	}
	return v, nil
}

// Fill reads what the config keys in want need ("providerID" =
// <region-id>.<instance-id>, "nodeName" = <region-id>.<private-ipv4>,
// "vpcCIDR" = vpc-cidr-block) and returns config key -> value. What could be
// read is returned even when something else failed; err joins the failures.
func Fill(ctx context.Context, g Getter, want []string) (map[string]string, error) {
	out := map[string]string{}
	need := map[string]bool{}
	for _, k := range want {
		need[k] = true
	}
	var errs []error
	cache := map[string]string{}
	item := func(name string) (string, bool) {
		if v, ok := cache[name]; ok {
			return v, v != ""
		}
		v, err := get(ctx, g, name)
		if err != nil {
			errs = append(errs, err)
		}
		cache[name] = v
		return v, err == nil
	}
	if need["providerID"] || need["nodeName"] {
		if region, ok := item(ItemRegionID); ok {
			if need["providerID"] {
				if id, ok := item(ItemInstanceID); ok {
					out["providerID"] = region + "." + id
				}
			}
			if need["nodeName"] {
				if ip, ok := item(ItemPrivateIPv4); ok {
					out["nodeName"] = region + "." + ip
				}
			}
		}
	}
	if need["vpcCIDR"] {
		if cidr, ok := item(ItemVPCCIDR); ok {
			out["vpcCIDR"] = cidr
		}
	}
	return out, errors.Join(errs...)
}

// DMI files that name the machine; read under the root.
const (
	SysVendorPath   = "/sys/class/dmi/id/sys_vendor"
	ProductNamePath = "/sys/class/dmi/id/product_name"
)

// IsECS reports whether the DMI data under the root identifies an Alibaba
// Cloud ECS instance: sys_vendor "Alibaba Cloud" or product_name "Alibaba
// Cloud ECS" (what ECS reports; hostnamectl shows them as Hardware Vendor
// and Hardware Model). why says what was read.
func IsECS(f hostfs.FS) (ok bool, why string) {
	vendor, verr := f.ReadFile(SysVendorPath)
	product, perr := f.ReadFile(ProductNamePath)
	v, p := strings.TrimSpace(string(vendor)), strings.TrimSpace(string(product))
	switch {
	case verr == nil && strings.HasPrefix(v, "Alibaba Cloud"):
		return true, fmt.Sprintf("%s is %q", SysVendorPath, v)
	case perr == nil && strings.Contains(p, "Alibaba Cloud ECS"):
		return true, fmt.Sprintf("%s is %q", ProductNamePath, p)
	case verr != nil && perr != nil:
		return false, "no DMI vendor under the root (" + SysVendorPath + ")"
	}
	return false, fmt.Sprintf("DMI vendor %q, product %q: not an Alibaba Cloud ECS instance", v, p)
}
