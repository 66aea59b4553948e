package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/distribution/reference"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/hybridnode/hybridnode/kubelet"
)

// Spec is a validated configuration in typed form.
type Spec struct {
	Config
	KubernetesMinor int
	ContainerdMajor int
	Token           Secret          // from token or tokenFile
	Labels          []kubelet.Label // from nodeLabels
	Taints          []kubelet.Taint // from nodeTaints
}

var (
	tokenRE      = regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`)
	caHashRE     = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	providerIDRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*\.[A-Za-z0-9][A-Za-z0-9-]*$`)
	componentRE  = regexp.MustCompile(`^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)
	flagNameRE   = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	numericRE    = regexp.MustCompile(`^[0-9.]+$`)
)

// validate checks every field and returns all problems at once as *Error:
// the problems loadSources found and its own (and a version the user set
// that differs from the installed one), so that one bad value hides
// nothing else: Resolve's last step, whose options say what the command
// needs (Join) and where tokenFile is read (Root, Open, ReadFile). Every string is first
// held to the limits (MaxValueLen, MaxEntries, no control characters);
// a field that fails them, or failed to load, is not checked further.
// It reads tokenFile (adding to l.Warnings when group or others can read
// it) but touches nothing on the host. No problem quotes the token.
func validate(l *Loaded, o ResolveOptions) (*Spec, error) {
	c := l.Config
	s := &Spec{Config: c}
	errs := Error{Problems: append([]Problem(nil), l.problems...)}
	secrets := append([]string{c.Token.Reveal()}, l.secrets...)
	skip := map[string]bool{}
	for k := range l.failed {
		skip[k] = true
	}
	for _, f := range Fields {
		if skip[f.Key] {
			continue
		}
		if got, want := sanity(f.Key, c.Get(f.Key)); want != "" {
			errs.add(l.Where(f.Key), got, want)
			skip[f.Key] = true
		}
	}
	refused := map[string]bool{}
	bad := func(key, got, want string) {
		if !skip[key] {
			errs.add(l.Where(key), got, want)
			refused[key] = true
		}
	}

	if v, err := kubelet.ParseVersion(c.KubernetesVersion); err != nil || !v.Supported() {
		bad("kubernetesVersion", c.KubernetesVersion, fmt.Sprintf("a release v1.%d.x to v1.%d.x such as v1.37.1", kubelet.MinKubernetesMinor, kubelet.MaxKubernetesMinor))
	} else {
		s.KubernetesVersion = v.String()
		s.KubernetesMinor = v.Minor
	}
	if v, err := kubelet.ParseVersion(c.ContainerdVersion); err != nil || !(v.Major == 2 || v.Major == 1 && v.Minor == 7) {
		bad("containerdVersion", c.ContainerdVersion, "a containerd release 1.7.x or 2.x such as v2.2.0")
	} else {
		s.ContainerdVersion = v.String()
		s.ContainerdMajor = v.Major
	}
	for _, key := range []string{"runcVersion", "crictlVersion", "cniPluginsVersion"} {
		v := value(&s.Config, key)
		if v.String() == "" {
			continue
		}
		if !componentRE.MatchString(v.String()) {
			bad(key, v.String(), "a release version such as v1.2.3")
			continue
		}
		if !strings.HasPrefix(v.String(), "v") {
			v.SetString("v" + v.String())
		}
	}
	switch c.CgroupDriver {
	case "auto", "systemd", "cgroupfs":
	default:
		bad("cgroupDriver", c.CgroupDriver, "auto, systemd or cgroupfs")
	}
	validateKubeProxyMode(c, bad)
	if c.ArtifactURL != "" {
		const want = "an http(s):// or file:// URL or an absolute directory"
		if u, err := url.Parse(c.ArtifactURL); err != nil {
			bad("artifactURL", c.ArtifactURL, want)
		} else {
			switch {
			case u.Scheme == "http" || u.Scheme == "https":
				if msg := urlHostProblem(u); msg != "" {
					bad("artifactURL", c.ArtifactURL, want+" ("+msg+")")
				}
			case u.Scheme == "file":
				if !strings.HasPrefix(u.Path, "/") || (u.Host != "" && u.Host != "localhost") {
					bad("artifactURL", c.ArtifactURL, want+" (file:// needs an absolute path such as file:///srv/bundle)")
				}
			case u.Scheme == "" && strings.HasPrefix(c.ArtifactURL, "/"):
			default:
				bad("artifactURL", c.ArtifactURL, want)
			}
		}
	}
	if c.SandboxImage != "" {
		if msg := ImageProblem(c.SandboxImage); msg != "" {
			bad("sandboxImage", c.SandboxImage, "an image reference such as registry.k8s.io/pause:3.10.2 ("+msg+")")
		}
	}
	for _, img := range c.PrepullImages {
		if msg := ImageProblem(img); msg != "" {
			bad("prepullImages", img, "comma separated image references such as registry.example.com/terway:v1.2 ("+msg+")")
		}
	}
	for _, reg := range sortedKeys(c.RegistryMirrors) {
		if msg := registryProblem(reg); msg != "" {
			bad("registryMirrors", reg, "a registry host such as registry.k8s.io or host:port ("+msg+")")
		}
		for _, m := range c.RegistryMirrors[reg] {
			u, err := url.Parse(m)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
				bad("registryMirrors", reg+"="+m, "mirror URLs starting with http:// or https://")
			} else if msg := urlHostProblem(u); msg != "" {
				bad("registryMirrors", reg+"="+m, "mirror URLs starting with http:// or https:// with a valid host ("+msg+")")
			}
		}
	}
	for _, k := range sortedKeys(c.KubeletExtraArgs) {
		switch {
		case strings.HasPrefix(k, "-") || k == "":
			bad("kubeletExtraArgs", k, "flag names without leading dashes, such as max-pods")
		case !flagNameRE.MatchString(k):
			bad("kubeletExtraArgs", k, "kubelet flag names such as max-pods (lowercase letters, digits and dashes)")
		}
	}
	if c.JoinAttempts < 1 || c.JoinAttempts > 10 {
		bad("joinAttempts", strconv.Itoa(c.JoinAttempts), "a number from 1 to 10")
	}
	if c.JoinTimeout < Duration(30e9) {
		bad("joinTimeout", c.FormatString("joinTimeout"), "at least 30s")
	}
	if c.DownloadTimeout < Duration(10e9) || c.DownloadTimeout > Duration(24*time.Hour) {
		bad("downloadTimeout", c.FormatString("downloadTimeout"), "a duration from 10s to 24h")
	}

	// The node's identity, as ACK passes it.
	if c.NodeName != "" {
		if msgs := validation.IsDNS1123Subdomain(c.NodeName); len(msgs) > 0 {
			bad("nodeName", c.NodeName, "a lowercase RFC 1123 subdomain such as cn-hangzhou.10.10.24.7 ("+msgs[0]+")")
		}
	}
	if c.ProviderID != "" {
		if msg := ProviderIDProblem(c.ProviderID); msg != "" {
			bad("providerID", c.ProviderID, msg)
		}
	}
	if c.MetadataEndpoint != "" {
		if u, err := url.Parse(c.MetadataEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || urlHostProblem(u) != "" {
			bad("metadataEndpoint", c.MetadataEndpoint, "an http(s):// URL such as http://100.100.100.200")
		}
	}
	if c.VPCCIDR != "" {
		if _, err := netip.ParsePrefix(c.VPCCIDR); err != nil {
			bad("vpcCIDR", c.VPCCIDR, "a CIDR such as 10.0.0.0/8")
		}
	}
	// A YAML list and ACK's comma separated string (split by SetString)
	// are both lists of comma separated items.
	if !skip["nodeLabels"] {
		var err error
		s.Labels, err = kubelet.ParseLabels(c.NodeLabels...)
		badItems("nodeLabels", err, bad)
	}
	if !skip["nodeTaints"] {
		var err error
		s.Taints, err = kubelet.ParseTaints(c.NodeTaints...)
		badItems("nodeTaints", err, bad)
	}

	identity := validateCredentialSource(l, bad)
	validateProxies(l, bad)

	// The join fields.
	if c.APIServerEndpoint != "" || o.Join && !l.unreadable {
		if msg := endpointProblem(c.APIServerEndpoint); msg != "" {
			bad("apiServerEndpoint", c.APIServerEndpoint, msg)
		}
	}
	switch {
	case identity && (c.Token != "" || c.TokenFile != ""):
		// The token comes from the token service: a token given too is a
		// mistake (which one would be used?), reported on each given.
		for _, key := range []string{"token", "tokenFile"} {
			if value(&s.Config, key).String() != "" {
				got := ""
				if key == "tokenFile" {
					got = c.TokenFile
				}
				bad(key, got, "unset: credentialSource is "+CredentialInstanceIdentity+" (set by "+l.Where("credentialSource")+"), so the bootstrap token comes from the token service; remove "+l.Where(key)+" or set credentialSource to "+CredentialToken)
			}
		}
	case c.Token != "" && c.TokenFile != "":
		bad("tokenFile", c.TokenFile, "either token or tokenFile, not both (token is set by "+l.Where("token")+")")
	case c.TokenFile != "" && skip["tokenFile"]:
	case c.TokenFile != "" && !filepath.IsAbs(c.TokenFile):
		bad("tokenFile", c.TokenFile, "an absolute path such as /etc/hybridnode/token")
	case c.TokenFile != "":
		data, fi, full, err := readTokenFile(o, c.TokenFile)
		switch {
		case err != nil:
			bad("tokenFile", c.TokenFile, tokenFileWant(err, full, c.TokenFile))
		default:
			s.Token = Secret(strings.TrimSpace(string(data)))
			secrets = append(secrets, s.Token.Reveal())
			if readableByOthers(fi) {
				l.warn(printable(fmt.Sprintf("the token file %s is readable by group or others (mode %04o): chmod 600 %s", full, fi.Mode().Perm(), full)))
			}
		}
	default:
		s.Token = c.Token
	}
	if s.Token != "" && !tokenRE.MatchString(s.Token.Reveal()) {
		key := "token"
		if c.TokenFile != "" {
			key = "tokenFile"
		}
		// The value is never echoed: it may be a real token with a typo.
		bad(key, "", "a bootstrap token of the form [a-z0-9]{6}.[a-z0-9]{16} (value not shown)")
	}
	// A file that could not be read may have held the join fields: the
	// problem is that file, not their absence.
	required := o.Join && !l.unreadable
	if required && s.Token == "" && c.TokenFile == "" && !identity {
		bad("token", "", "a bootstrap token in HYBRIDNODE_TOKEN, HYBRIDNODE_TOKEN_FILE or the config file (kubeadm token create --ttl 2h)")
	}
	for _, h := range c.CACertHashes {
		if !caHashRE.MatchString(h) {
			bad("caCertHashes", h, "sha256:<64 lowercase hex digits>")
		}
	}
	if required && len(c.CACertHashes) == 0 && !c.UnsafeSkipCAVerification {
		bad("caCertHashes", "", "at least one sha256:<hex> CA pin, or unsafeSkipCAVerification: true to join without one")
	}

	for k := range skip {
		refused[k] = true
	}
	l.installedConflicts(s, refused, errs.add)

	errs.finish(secrets)
	if len(errs.Problems) > 0 {
		return nil, &errs
	}
	return s, nil
}

var audienceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$`)

// validateCredentialSource checks credentialSource and the tokenService
// fields (their form whenever given; all three required with
// instance-identity, unless a config file that may hold them could not be
// read). It reports whether the token comes from the token service.
func validateCredentialSource(l *Loaded, bad func(key, got, want string)) bool {
	c := l.Config
	identity := false
	switch c.CredentialSource {
	case CredentialToken:
	case CredentialInstanceIdentity:
		identity = true
	default:
		bad("credentialSource", c.CredentialSource, CredentialToken+" or "+CredentialInstanceIdentity)
	}
	ts := c.TokenService
	if ts.URL != "" {
		const want = "an https:// URL of the token service such as https://10.0.0.10:9443 (no user, query or fragment)"
		u, err := url.Parse(ts.URL)
		switch {
		case err != nil || u.Scheme != "https" || u.Opaque != "":
			bad("tokenService.url", ts.URL, want)
		case urlHostProblem(u) != "":
			bad("tokenService.url", ts.URL, want+" ("+urlHostProblem(u)+")")
		case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
			bad("tokenService.url", ts.URL, want)
		}
	}
	if ts.Pin != "" && !caHashRE.MatchString(ts.Pin) {
		bad("tokenService.pin", ts.Pin, "sha256:<64 lowercase hex digits>, the pin of the token service certificate's public key (from hybridnode-cluster setup)")
	}
	if ts.Audience != "" && !audienceRE.MatchString(ts.Audience) {
		// ':' separates the audience from the request's time in what the
		// metadata service signs ("<audience>:<unix seconds>").
		bad("tokenService.audience", ts.Audience, "1 to 128 letters, digits, '.', '_', '-' or '/' (no ':'), starting with a letter or digit, such as prod-cluster")
	}
	if identity && !l.unreadable {
		for _, m := range []struct{ key, what string }{
			{"tokenService.url", "the token service's https:// URL"},
			{"tokenService.pin", "the sha256:<hex> pin of the token service's public key"},
			{"tokenService.audience", "the cluster's audience at the token service"},
		} {
			if value(&c, m.key).String() == "" {
				f, _ := FieldByKey(m.key)
				bad(m.key, "", fmt.Sprintf("%s in %s or %s: credentialSource %s (set by %s) needs it", m.what, m.key, f.Env[0], CredentialInstanceIdentity, l.Where("credentialSource")))
			}
		}
	}
	return identity
}

// warn adds a warning once.
func (l *Loaded) warn(w string) {
	for _, have := range l.Warnings {
		if have == w {
			return
		}
	}
	l.Warnings = append(l.Warnings, w)
}

// readTokenFile reads tokenFile under o.Root (symlinks followed within it),
// at most MaxValueLen bytes. full is the path read.
func readTokenFile(o ResolveOptions, p string) (data []byte, fi fs.FileInfo, full string, err error) {
	full = p
	if o.Root != "" && o.Root != "/" {
		if full, err = securejoin.SecureJoin(o.Root, p); err != nil {
			return nil, nil, filepath.Join(o.Root, p), err
		}
	}
	data, fi, err = readBounded(o.Open, o.ReadFile, full, MaxValueLen)
	return data, fi, full, err
}

func tokenFileWant(err error, full, given string) string {
	want := "a readable file holding the bootstrap token"
	if full != given {
		want += " (read as " + full + " under --root)"
	}
	var se *sizeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%s of at most %d bytes; it has %s", want, MaxValueLen, se.size())
	case errors.Is(err, errNotRegular):
		return want + ", a regular file"
	}
	return want + ": " + err.Error()
}

// ProviderIDProblem says what is wrong with a provider ID
// (<region>.<instance-id>), or "" when it is valid.
func ProviderIDProblem(id string) string {
	if len(id) > 253 || !providerIDRE.MatchString(id) {
		return "<region>.<instance-id> such as cn-hangzhou.i-bp1abc"
	}
	return ""
}

// ImageProblem says what is wrong with an image reference (as crictl pull
// and containerd take it: registry/repository[:tag][@digest], lower case,
// docker.io implied), or "" when it is valid.
func ImageProblem(ref string) string {
	if _, err := reference.ParseNormalizedNamed(ref); err != nil {
		return err.Error()
	}
	return ""
}

// endpointProblem says what is wrong with an API server host:port, or "".
func endpointProblem(ep string) string {
	host, port, err := net.SplitHostPort(ep)
	switch {
	case err != nil || host == "":
		return "host:port such as 10.0.0.10:6443"
	case !validPort(port):
		return "host:port with a port from 1 to 65535"
	}
	if msg := hostProblem(host, true); msg != "" {
		return "host:port with a host that is " + msg
	}
	return ""
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 || strings.Trim(p, "0123456789") != "" {
		return false
	}
	n, _ := strconv.Atoi(p)
	return n >= 1 && n <= 65535
}

// hostProblem says what is wrong with a host (an IP address or an RFC 1123
// DNS name; foldCase accepts upper case letters in a name), or "".
func hostProblem(host string, foldCase bool) string {
	const want = "an IP address or a DNS name (RFC 1123: lowercase letters, digits, '-' and '.') such as k8s-api.example.internal"
	if net.ParseIP(host) != nil {
		return ""
	}
	name := host
	if foldCase {
		name = strings.ToLower(host)
	}
	if numericRE.MatchString(host) || len(validation.IsDNS1123Subdomain(name)) > 0 {
		return want
	}
	return ""
}

// urlHostProblem checks that an http(s) URL has a host and a valid port, or
// says "". (Host names in URLs are not held to RFC 1123: Go's HTTP client
// and containerd accept more, such as underscores.)
func urlHostProblem(u *url.URL) string {
	if u.Host == "" || u.Hostname() == "" {
		return "no host"
	}
	if p := u.Port(); p != "" && !validPort(p) {
		return "a port from 1 to 65535"
	}
	return ""
}

// registryProblem checks a registry name: host or host:port, in lower case
// as containerd's certs.d directories are named.
func registryProblem(reg string) string {
	host := reg
	if strings.Contains(reg, ":") {
		h, p, err := net.SplitHostPort(reg)
		if err != nil || !validPort(p) {
			return "a port from 1 to 65535"
		}
		host = h
	}
	return hostProblem(host, false)
}

// badItems reports each item a kubelet parser refused as a problem of key.
func badItems(key string, err error, bad func(key, got, want string)) {
	var le kubelet.ListError
	switch {
	case err == nil:
	case errors.As(err, &le):
		for _, it := range le {
			bad(key, it.Item, it.Want)
		}
	default:
		bad(key, "", err.Error())
	}
}
