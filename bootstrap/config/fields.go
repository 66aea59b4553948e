package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Field describes one configuration field: its config file key, the
// environment variables that set it (first one wins) and its flag.
type Field struct {
	Key   string
	Env   []string
	Flag  string // empty: no flag (secrets are never taken from the command line)
	Usage string
	// Kind is the type of the flag's value (KindString, the zero value, for
	// strings, lists and maps, written as in the environment).
	Kind Kind
	// Install: `install` uses the field too; the other fields only matter
	// to a join (and to plan, config and doctor, which look at a join).
	Install bool
	// EnvFallback: the Env names after the first are other tools' common
	// ones (HTTP_PROXY, http_proxy), each taken only when the names before
	// it are unset; that they differ is a warning, not a problem.
	EnvFallback bool
}

// Kind is the type of a field's flag value, as the flag package shows it.
type Kind int

// The kinds of flag values.
const (
	KindString Kind = iota
	KindBool
	KindInt
	KindDuration
)

// String is the type name the flag package shows in help ("int", "duration").
func (k Kind) String() string {
	return [...]string{"string", "bool", "int", "duration"}[k]
}

func parseBool(s string) (bool, string) {
	if s == "" {
		return false, ""
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, "true or false"
	}
	return b, ""
}

func parseInt(s string) (int, string) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, "a whole number"
	}
	return n, ""
}

func parseDuration(s string) (Duration, string) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, "a duration such as 5m or 90s"
	}
	return Duration(d), ""
}

// Fields is the one table of configuration fields, in dump order.
var Fields = []Field{
	{Key: "kubernetesVersion", Env: []string{"HYBRIDNODE_KUBERNETES_VERSION"}, Flag: "kubernetes-version", Usage: "kubelet and kubeadm version, v1.30 to v1.37", Install: true},
	{Key: "apiServerEndpoint", Env: []string{"HYBRIDNODE_API_SERVER_ENDPOINT"}, Flag: "api-server-endpoint", Usage: "API server host:port"},
	{Key: "token", Env: []string{"HYBRIDNODE_TOKEN"}, Usage: "bootstrap token (environment or config file only)"},
	{Key: "tokenFile", Env: []string{"HYBRIDNODE_TOKEN_FILE"}, Flag: "token-file", Usage: "file holding the bootstrap token"},
	{Key: "caCertHashes", Env: []string{"HYBRIDNODE_CA_CERT_HASHES"}, Flag: "ca-cert-hashes", Usage: "comma separated sha256:<hex> pins of the cluster CA"},
	{Key: "unsafeSkipCAVerification", Env: []string{"HYBRIDNODE_UNSAFE_SKIP_CA_VERIFICATION"}, Flag: "unsafe-skip-ca-verification", Usage: "join without pinning the cluster CA", Kind: KindBool},
	{Key: "artifactURL", Env: []string{"HYBRIDNODE_ARTIFACT_URL"}, Flag: "artifact-url", Usage: "http(s) base URL or local directory with the binaries and SHA256SUMS; empty: use what is installed", Install: true},
	{Key: "containerdVersion", Env: []string{"HYBRIDNODE_CONTAINERD_VERSION"}, Flag: "containerd-version", Usage: "containerd version (1.7 or 2.x)", Install: true},
	{Key: "runcVersion", Env: []string{"HYBRIDNODE_RUNC_VERSION"}, Flag: "runc-version", Usage: "runc version", Install: true},
	{Key: "crictlVersion", Env: []string{"HYBRIDNODE_CRICTL_VERSION"}, Flag: "crictl-version", Usage: "crictl version (default v1.<kubernetes minor>.0)", Install: true},
	{Key: "cniPluginsVersion", Env: []string{"HYBRIDNODE_CNI_PLUGINS_VERSION"}, Flag: "cni-plugins-version", Usage: "CNI plugins version; empty: none installed", Install: true},
	{Key: "sandboxImage", Env: []string{"HYBRIDNODE_SANDBOX_IMAGE"}, Flag: "sandbox-image", Usage: "pause image (default: the one kubeadm expects)", Install: true},
	{Key: "prepullImages", Env: []string{"HYBRIDNODE_PREPULL_IMAGES"}, Flag: "prepull", Usage: "images to pull into containerd before kubelet needs them, comma separated (install pulls the sandbox image too)", Install: true},
	{Key: "registryMirrors", Env: []string{"HYBRIDNODE_REGISTRY_MIRRORS"}, Flag: "registry-mirrors", Usage: "registry=url,url;registry2=url", Install: true},
	{Key: "cgroupDriver", Env: []string{"HYBRIDNODE_CGROUP_DRIVER"}, Flag: "cgroup-driver", Usage: "auto, systemd or cgroupfs", Install: true},
	{Key: "restrictOOMScoreAdj", Env: []string{"HYBRIDNODE_RESTRICT_OOM_SCORE_ADJ"}, Flag: "restrict-oom-score-adj", Usage: "containerd CRI restrict_oom_score_adj (containers without CAP_SYS_RESOURCE)", Kind: KindBool, Install: true},
	{Key: "kubeletExtraArgs", Env: []string{"HYBRIDNODE_KUBELET_EXTRA_ARGS"}, Flag: "kubelet-extra-args", Usage: "extra kubelet flags, name=value,name=value"},
	{Key: "providerID", Env: []string{"ALIBABA_CLOUD_PROVIDER_ID", "ALIBABA_CLOUD_PROVIDE_ID"}, Flag: "provider-id", Usage: "<region>.<instance-id>"},
	{Key: "nodeName", Env: []string{"ALIBABA_CLOUD_NODE_NAME"}, Flag: "node-name", Usage: "Node name (default: hostname)"},
	{Key: "nodeLabels", Env: []string{"ALIBABA_CLOUD_LABELS"}, Flag: "node-labels", Usage: "key=value,key=value"},
	{Key: "nodeTaints", Env: []string{"ALIBABA_CLOUD_TAINTS"}, Flag: "node-taints", Usage: "key=value:Effect,key:Effect"},
	{Key: "metadataEndpoint", Env: []string{"HYBRIDNODE_METADATA_ENDPOINT"}, Flag: "metadata-endpoint", Usage: "ECS instance metadata service for hand runs (default http://100.100.100.200, used only on an ECS instance)"},
	{Key: "vpcCIDR", Env: []string{"HYBRIDNODE_VPC_CIDR"}, Flag: "vpc-cidr", Usage: "the node's VPC CIDR, checked by doctor against the cluster's pod subnet (hand runs on ECS: from instance metadata)"},
	{Key: "joinAttempts", Env: []string{"HYBRIDNODE_JOIN_ATTEMPTS"}, Flag: "join-attempts", Usage: "kubeadm join attempts (reset in between)", Kind: KindInt},
	{Key: "joinTimeout", Env: []string{"HYBRIDNODE_JOIN_TIMEOUT"}, Flag: "join-timeout", Usage: "time limit of one kubeadm join attempt", Kind: KindDuration},
	{Key: "downloadTimeout", Env: []string{"HYBRIDNODE_DOWNLOAD_TIMEOUT"}, Flag: "download-timeout", Usage: "time limit of the install phase's downloads, all artifacts together", Kind: KindDuration, Install: true},
	{Key: "credentialSource", Env: []string{"HYBRIDNODE_CREDENTIAL_SOURCE"}, Flag: "credential-source", Usage: "where the bootstrap token comes from: token (token or tokenFile) or instance-identity (the token service)"},
	{Key: "tokenService.url", Env: []string{"HYBRIDNODE_TOKEN_SERVICE_URL"}, Flag: "token-service-url", Usage: "https:// URL of the token service (credentialSource instance-identity)"},
	{Key: "tokenService.pin", Env: []string{"HYBRIDNODE_TOKEN_SERVICE_PIN"}, Flag: "token-service-pin", Usage: "sha256:<hex> pin of the token service certificate's public key"},
	{Key: "tokenService.audience", Env: []string{"HYBRIDNODE_TOKEN_SERVICE_AUDIENCE"}, Flag: "token-service-audience", Usage: "the cluster's audience at the token service (letters, digits, '.', '_', '-', '/'; no ':')"},
	{Key: "gpuDefaultRuntime", Env: []string{"HYBRIDNODE_GPU_DEFAULT_RUNTIME"}, Flag: "gpu-default-runtime", Usage: "make the NVIDIA runtime containerd's default (needs nvidia-container-runtime on the node)", Kind: KindBool, Install: true},
	{Key: "kubeProxyMode", Env: []string{"HYBRIDNODE_KUBE_PROXY_MODE"}, Flag: "kube-proxy-mode", Usage: "auto (read the cluster's kube-system/kube-proxy ConfigMap before the join), ipvs, iptables or nftables", Install: true},
	{Key: "httpProxy", Env: []string{"HYBRIDNODE_HTTP_PROXY", "HTTP_PROXY", "http_proxy"}, Flag: "http-proxy", Usage: "proxy for http:// downloads, containerd and kubelet: http(s)://[user:password@]host[:port]", Install: true, EnvFallback: true},
	{Key: "httpsProxy", Env: []string{"HYBRIDNODE_HTTPS_PROXY", "HTTPS_PROXY", "https_proxy"}, Flag: "https-proxy", Usage: "proxy for https:// downloads, containerd and kubelet: http(s)://[user:password@]host[:port]", Install: true, EnvFallback: true},
	{Key: "noProxy", Env: []string{"HYBRIDNODE_NO_PROXY", "NO_PROXY", "no_proxy"}, Flag: "no-proxy", Usage: "comma separated hosts, .domains, IPs and CIDRs reached without the proxy (the API server, localhost, 100.100.100.200 and the node's address are always added)", Install: true, EnvFallback: true},
}

// FieldByKey returns the field with that config key.
func FieldByKey(key string) (Field, bool) {
	for _, f := range Fields {
		if f.Key == key {
			return f, true
		}
	}
	return Field{}, false
}

// value returns the struct field of c tagged with key; a dotted key
// ("tokenService.url") names a field of a nested struct.
func value(c *Config, key string) reflect.Value {
	v := reflect.ValueOf(c).Elem()
	for _, part := range strings.Split(key, ".") {
		v = tagged(v, part, key)
	}
	return v
}

func tagged(v reflect.Value, tag, key string) reflect.Value {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if strings.Split(t.Field(i).Tag.Get("json"), ",")[0] == tag {
			return v.Field(i)
		}
	}
	panic("config: no field tagged " + key)
}

// group is the file key holding a nested field ("tokenService" for
// "tokenService.url"), or "" for a top-level one.
func group(key string) string {
	g, _, _ := strings.Cut(key, ".")
	if g == key {
		return ""
	}
	return g
}

// groupKeys lists the fields nested under a file key, or nil when it holds
// none.
func groupKeys(g string) []string {
	var out []string
	for _, f := range Fields {
		if group(f.Key) == g && g != "" {
			out = append(out, f.Key)
		}
	}
	return out
}

// Get returns the field's value as an interface, for dumps.
func (c *Config) Get(key string) any { return value(c, key).Interface() }

// copyField copies one field from src to dst.
func copyField(dst, src *Config, key string) { value(dst, key).Set(value(src, key)) }

// SetString parses s, in the environment/flag format of the field's type,
// into the field. Lists are comma separated; maps are k=v,k=v; registry
// mirrors are reg=url,url;reg2=url. A secret never fails to parse, so its
// value is never in the error.
func (c *Config) SetString(key, s string) error {
	if want, bad := c.setString(key, s); want != "" {
		return fmt.Errorf("want %s, got %q", want, bad)
	}
	return nil
}

// setString is SetString returning, on failure, what was expected (never
// empty then) and the offending part of the input (for the Problem's Got).
func (c *Config) setString(key, s string) (want, bad string) {
	v := value(c, key)
	s = strings.TrimSpace(s)
	switch p := v.Addr().Interface().(type) {
	case *string:
		*p = s
	case *Secret:
		*p = Secret(s)
	case *ProxyURL:
		*p = ProxyURL(s)
	case *bool:
		if *p, want = parseBool(s); want != "" {
			return want, s
		}
	case *int:
		if *p, want = parseInt(s); want != "" {
			return want, s
		}
	case *Duration:
		if *p, want = parseDuration(s); want != "" {
			return want, s
		}
	case *[]string:
		*p = splitList(s, ",")
	case *map[string]string:
		m := map[string]string{}
		for _, kv := range splitList(s, ",") {
			k, val, ok := strings.Cut(kv, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return "name=value", kv
			}
			m[strings.TrimSpace(k)] = strings.TrimSpace(val)
		}
		*p = m
	case *map[string][]string:
		m := map[string][]string{}
		for _, entry := range splitList(s, ";") {
			reg, urls, ok := strings.Cut(entry, "=")
			if !ok || strings.TrimSpace(reg) == "" || strings.TrimSpace(urls) == "" {
				return "registry=url,url;registry2=url", entry
			}
			m[strings.TrimSpace(reg)] = splitList(urls, ",")
		}
		*p = m
	default:
		panic(fmt.Sprintf("config: field %s has unsupported type %s", key, v.Type()))
	}
	return "", ""
}

// isSecret reports whether key holds a Secret (whose value is never echoed).
func isSecret(key string) bool {
	_, ok := value(&Config{}, key).Interface().(Secret)
	return ok
}

// FormatString renders a field's value in the environment/flag format; the
// inverse of SetString. Secrets are redacted.
func (c *Config) FormatString(key string) string {
	switch p := value(c, key).Interface().(type) {
	case Secret:
		return p.String()
	case []string:
		return strings.Join(p, ",")
	case map[string]string:
		keys := sortedKeys(p)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+"="+p[k])
		}
		return strings.Join(parts, ",")
	case map[string][]string:
		keys := sortedKeys(p)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+"="+strings.Join(p[k], ","))
		}
		return strings.Join(parts, ";")
	case Duration:
		return time.Duration(p).String()
	default:
		return fmt.Sprint(p)
	}
}

func splitList(s, sep string) []string {
	var out []string
	for _, part := range strings.Split(s, sep) {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
