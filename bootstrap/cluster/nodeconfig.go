package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing/fstest"
	"unicode"
	"unicode/utf8"

	"sigs.k8s.io/yaml"

	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/tokenservice"
	"github.com/hybridnode/hybridnode/packaging"
)

// setupOwned are the node config keys setup writes itself, with what sets them.
var setupOwned = map[string]string{
	"token":                    "setup makes the node pool's bootstrap token itself (its TTL: --token-ttl)",
	"credentialSource":         "set by --credentials",
	"tokenService":             "setup --credentials identity sets it (the token service's URL, pin and audience)",
	"tokenFile":                "setup makes the node pool's bootstrap token itself (its TTL: --token-ttl)",
	"apiServerEndpoint":        "set by --api-server-endpoint (default: the server in kube-public/cluster-info)",
	"caCertHashes":             "setup pins the CA certificates of kube-public/cluster-info",
	"unsafeSkipCAVerification": "setup always pins the cluster CA (caCertHashes from kube-public/cluster-info)",
	"kubernetesVersion":        "set by --kubernetes-version (default: the cluster's version)",
	"artifactURL":              "set by --artifact-url",
}

// setupFlag is the flag behind a setup-owned key, for problems found when
// the settings are validated as a node would.
var setupFlag = map[string]string{
	"apiServerEndpoint": "--api-server-endpoint",
	"kubernetesVersion": "--kubernetes-version",
	"artifactURL":       "--artifact-url",
}

// identityKeys come from ACK, per node.
var identityKeys = map[string]bool{"providerID": true, "nodeName": true, "nodeLabels": true, "nodeTaints": true}

// nodeKey is one key of the node-config file, its value as JSON.
type nodeKey struct {
	key string
	raw json.RawMessage
}

// readNodeConfig reads --node-config: a YAML map of hybridnode node config
// keys. Unknown keys, the identity keys and the keys setup owns are refused,
// each problem naming the key.
func readNodeConfig(path string) ([]nodeKey, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, inputErr(err, "--node-config", path, "a readable YAML file of hybridnode node config keys: "+err.Error())
	}
	var raw map[string]json.RawMessage
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, inputErr(err, "--node-config", path, "a YAML map of hybridnode node config keys such as registryMirrors or containerdVersion: "+err.Error())
	}
	var p problems
	where := func(k string) string { return k + " (--node-config " + path + ")" }
	byKey := map[string]json.RawMessage{}
	for k, v := range raw {
		f, ok := config.FieldByKey(k)
		switch {
		case setupOwned[k] != "" && !ok:
			p.add(where(k), "", "it left out: "+setupOwned[k])
		case !ok:
			p.add(where(k), "", "a hybridnode node config key (those of /etc/hybridnode/config.yaml, such as registryMirrors, containerdVersion, sandboxImage, restrictOOMScoreAdj)")
		case identityKeys[k]:
			p.add(where(k), "", "it left out: ACK passes "+k+" to each node itself ("+strings.Join(f.Env, ", ")+")")
		case setupOwned[k] != "":
			p.add(where(k), "", "it left out: "+setupOwned[k])
		default:
			byKey[k] = v
		}
	}
	if err := p.err(); err != nil {
		sortProblems(p.list)
		return nil, err
	}
	// In the config table's order: the script is the same on every run.
	var out []nodeKey
	for _, f := range config.Fields {
		if v, ok := byKey[f.Key]; ok {
			out = append(out, nodeKey{f.Key, v})
		}
	}
	return out, nil
}

func sortProblems(list []config.Problem) {
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && list[j].Field < list[j-1].Field; j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
}

// settings are the join settings of a node pool.
type settings struct {
	endpoint    string
	pins        []string
	version     string
	artifactURL string
	token       token
	// service, when set, is where nodes get their token instead
	// (credentialSource instance-identity): the drop-in has no token.
	service *tokenServiceSettings
	extra   []nodeKey
}

// tokenServiceSettings are the node config's tokenService keys.
type tokenServiceSettings struct {
	URL      string `json:"url"`
	Pin      string `json:"pin"`
	Audience string `json:"audience"`
}

// credentialKeys are the drop-in's keys of the token service.
const (
	credentialSourceKey = "credentialSource"
	instanceIdentity    = "instance-identity"
	tokenServiceKey     = "tokenService"
)

// dropIn renders the node's config.d drop-in. It carries the token.
func (s settings) dropIn() ([]byte, error) {
	var b bytes.Buffer
	add := func(key string, v any) error {
		out, err := yaml.Marshal(map[string]any{key: v})
		if err != nil {
			return fmt.Errorf("render %s: %w", key, err)
		}
		b.Write(out)
		return nil
	}
	keys := []struct {
		k string
		v any
	}{{"apiServerEndpoint", s.endpoint}, {"caCertHashes", s.pins}, {"kubernetesVersion", s.version}, {"artifactURL", s.artifactURL}}
	if s.service != nil {
		keys = append(keys, struct {
			k string
			v any
		}{credentialSourceKey, instanceIdentity}, struct {
			k string
			v any
		}{tokenServiceKey, s.service})
	} else {
		keys = append(keys, struct {
			k string
			v any
		}{"token", s.token.id + "." + s.token.secret})
	}
	for _, kv := range keys {
		if err := add(kv.k, kv.v); err != nil {
			return nil, err
		}
	}
	for _, k := range s.extra {
		out, err := yaml.JSONToYAML([]byte(`{"` + k.key + `":` + string(k.raw) + `}`))
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", k.key, err)
		}
		b.Write(out)
	}
	return b.Bytes(), nil
}

// poolProxy is the node pool's httpProxy, httpsProxy and noProxy (from
// --node-config), for the script's own download of the binary: rendered
// into the script as single-quoted assignments, so each is refused when it
// holds a control character or a single quote. Problems name the key,
// never its value (a proxy URL may hold a password).
func (s settings) poolProxy(nodeConfig string) (packaging.PoolProxy, error) {
	var out packaging.PoolProxy
	var p problems
	where := func(k string) string { return k + " (--node-config " + nodeConfig + ")" }
	for _, k := range s.extra {
		var dst *string
		switch k.key {
		case "httpProxy":
			dst = &out.HTTP
		case "httpsProxy":
			dst = &out.HTTPS
		case "noProxy":
			dst = &out.No
		default:
			continue
		}
		var one string
		var list []string
		switch {
		case json.Unmarshal(k.raw, &one) == nil:
			list = []string{one}
		case json.Unmarshal(k.raw, &list) == nil:
		default:
			p.add(where(k.key), "", "a string")
			continue
		}
		var parts []string
		for _, e := range list {
			for _, part := range strings.Split(e, ",") {
				if part = strings.TrimSpace(part); part != "" {
					parts = append(parts, part)
				}
			}
		}
		v := strings.Join(parts, ",")
		switch {
		case strings.ContainsFunc(v, func(r rune) bool { return unicode.IsControl(r) || r == utf8.RuneError }):
			p.add(where(k.key), "", "no control characters: the node-pool script carries it")
		case strings.Contains(v, "'"):
			p.add(where(k.key), "", "no single quote (percent-encode it in a URL as %27): the node-pool script carries it")
		default:
			*dst = v
		}
	}
	return out, p.err()
}

// placeholderIdentity stands in for the instance metadata when the
// settings are validated as a node would: ACK gives each node its own
// provider ID and name.
type placeholderIdentity struct{}

func (placeholderIdentity) OnECS() (bool, string) { return true, "a placeholder" }

func (placeholderIdentity) Fill(context.Context, string, []string) (map[string]string, error) {
	return map[string]string{"providerID": "cn-hangzhou.i-hybridnodecheck", "nodeName": "cn-hangzhou.192.168.0.1"}, nil
}

// validateDropIn loads the drop-in as a node would, from a file system
// holding only it at DropInPath (mode 0600, as the script writes it), and
// validates it for a join. Problems name the flag or the node-config key
// that set the value.
func validateDropIn(data []byte, nodeConfig string) error {
	fsys := fstest.MapFS{strings.TrimPrefix(DropInPath, "/"): &fstest.MapFile{Data: data, Mode: 0o600}}
	rel := func(p string) string { return strings.TrimPrefix(filepath.ToSlash(p), "/") }
	l, _, err := config.Resolve(config.ResolveOptions{
		DefaultFile: config.DefaultFile,
		Open:        func(p string) (fs.File, error) { return fsys.Open(rel(p)) },
		ReadDir:     func(p string) ([]fs.DirEntry, error) { return fsys.ReadDir(rel(p)) },
		LookupEnv:   func(string) (string, bool) { return "", false },
		// A placeholder identity: ACK gives each node its own.
		Metadata: placeholderIdentity{},
		Join:     true,
	})
	if err == nil {
		if len(l.Files) != 1 || l.Files[0] != DropInPath {
			return fmt.Errorf("validate the node-pool settings: a node would read %v, not %s alone", l.Files, DropInPath)
		}
		return nil
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		return fmt.Errorf("validate the node-pool settings: %w", err)
	}
	out := &InputError{Err: err}
	for _, pr := range ce.Problems {
		key, _, _ := strings.Cut(pr.Field, " ")
		switch {
		case setupFlag[key] != "":
			pr.Field = setupFlag[key]
		case key == "token" || key == "caCertHashes":
			pr.Field = key + " (made by setup: a bug)"
		case nodeConfig != "":
			pr.Field = key + " (--node-config " + nodeConfig + ")"
		}
		// The token is never echoed; config.Resolve does not echo it either.
		out.Problems = append(out.Problems, pr)
	}
	return out
}

// forValidation is the drop-in to validate as a node would: s's own, or,
// when the config package predates the token service's keys, the same
// settings with a placeholder token, the service's keys checked here.
func (s settings) forValidation() ([]byte, error) {
	if _, known := config.FieldByKey(credentialSourceKey); known || s.service == nil {
		return s.dropIn()
	}
	ts := *s.service
	u, err := url.Parse(ts.URL)
	switch {
	case err != nil || u.Scheme != "https" || u.Host == "" || u.Port() == "":
		return nil, fmt.Errorf("validate the node-pool settings: tokenService.url %q is not an https://host:port URL (a bug)", ts.URL)
	case !pinRE.MatchString(ts.Pin):
		return nil, fmt.Errorf("validate the node-pool settings: tokenService.pin %q is not sha256:<hex> (a bug)", ts.Pin)
	case !tokenservice.AudienceRE.MatchString(ts.Audience):
		return nil, fmt.Errorf("validate the node-pool settings: tokenService.audience %q is not an audience (a bug)", ts.Audience)
	}
	s.service = nil
	s.token = token{id: "abcdef", secret: "0123456789abcdef"}
	return s.dropIn()
}

var pinRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
