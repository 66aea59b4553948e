package config

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing"
	"testing/fstest"
)

const (
	mainFile = "/etc/hybridnode/config.yaml"
	dropIn   = "/etc/hybridnode/config.d/50-node-pool.yaml"
	// typoToken is a real-looking token with a typo: never to be echoed.
	typoToken = "abcdef.0123456789abcdeX"
)

// secretTexts are the token values used below; none may appear in an error.
var secretTexts = []string{goodToken, typoToken, "0123456789abcde", "123456.0123456789"}

// input is one run of loadSources and validate: ACK's environment with env merged
// over it ("" deletes a variable), files under / (mode 0600 unless modes
// says otherwise), and flags.
type input struct {
	env   map[string]string
	files map[string]string
	modes map[string]fs.FileMode
	flags map[string]string
}

func (in input) tree() fstest.MapFS {
	tree := fstest.MapFS{}
	for p, data := range in.files {
		mode, ok := in.modes[p]
		if !ok {
			mode = 0o600
		}
		tree[strings.TrimPrefix(p, "/")] = &fstest.MapFile{Data: []byte(data), Mode: mode}
	}
	return tree
}

// run loads and validates for a join as hybridnode join does: validate
// runs whatever loadSources said, and reports its problems with its own.
func (in input) run(t testing.TB) (*Loaded, error, error) {
	t.Helper()
	env := ackEnv()
	for k, v := range in.env {
		if v == "" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	tree := in.tree()
	rel := func(p string) string { return strings.TrimPrefix(path.Clean(p), "/") }
	open := func(p string) (fs.File, error) { return tree.Open(rel(p)) }
	l, loadErr := loadSources(ResolveOptions{
		DefaultFile: mainFile,
		Open:        open,
		ReadDir:     func(p string) ([]fs.DirEntry, error) { return fs.ReadDir(tree, rel(p)) },
		LookupEnv:   func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Flags:       in.flags,
	})
	if l == nil {
		t.Fatalf("loadSources returned no Loaded: %v", loadErr)
	}
	_, err := validate(l, ResolveOptions{Join: true, Open: open})
	return l, loadErr, err
}

// want is a problem that must be reported: its Field contains field (and
// file), its text contains msg.
type want struct{ field, file, msg string }

type malformed struct {
	name string
	in   input
	want []want
}

func env(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func file(p, data string) map[string]string { return map[string]string{p: data} }

// identityEnv is a complete instance-identity setup, with kv merged over it.
func identityEnv(kv ...string) map[string]string {
	m := env("HYBRIDNODE_CREDENTIAL_SOURCE", "instance-identity",
		"HYBRIDNODE_TOKEN_SERVICE_URL", "https://10.0.0.10:9443",
		"HYBRIDNODE_TOKEN_SERVICE_PIN", goodHash,
		"HYBRIDNODE_TOKEN_SERVICE_AUDIENCE", "prod-cluster")
	for k, v := range env(kv...) {
		m[k] = v
	}
	return m
}

func labels(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("l%d=v", i)
	}
	return strings.Join(parts, ",")
}

var malformedCases = []malformed{
	// The environment.
	{"join attempts not a number", input{env: env("HYBRIDNODE_JOIN_ATTEMPTS", "x")}, []want{{"HYBRIDNODE_JOIN_ATTEMPTS", "", `got "x", want a whole number`}}},
	{"join timeout not a duration", input{env: env("HYBRIDNODE_JOIN_TIMEOUT", "soon")}, []want{{"HYBRIDNODE_JOIN_TIMEOUT", "", "a duration such as 5m"}}},
	{"download timeout not a duration", input{env: env("HYBRIDNODE_DOWNLOAD_TIMEOUT", "later")}, []want{{"HYBRIDNODE_DOWNLOAD_TIMEOUT", "", "a duration such as 5m"}}},
	{"download timeout too short", input{env: env("HYBRIDNODE_DOWNLOAD_TIMEOUT", "1s")}, []want{{"HYBRIDNODE_DOWNLOAD_TIMEOUT", "", "a duration from 10s to 24h"}}},
	{"download timeout in the file too long", input{files: file(mainFile, "downloadTimeout: 48h\n")}, []want{{"downloadTimeout", "", "a duration from 10s to 24h"}}},
	{"oom score adj not a bool", input{env: env("HYBRIDNODE_RESTRICT_OOM_SCORE_ADJ", "maybe")}, []want{{"HYBRIDNODE_RESTRICT_OOM_SCORE_ADJ", "", "true or false"}}},
	{"skip CA not a bool", input{env: env("HYBRIDNODE_UNSAFE_SKIP_CA_VERIFICATION", "yes please")}, []want{{"HYBRIDNODE_UNSAFE_SKIP_CA_VERIFICATION", "", "true or false"}}},
	{"extra args without value", input{env: env("HYBRIDNODE_KUBELET_EXTRA_ARGS", "novalue")}, []want{{"HYBRIDNODE_KUBELET_EXTRA_ARGS", "", "name=value"}}},
	{"mirrors without equals", input{env: env("HYBRIDNODE_REGISTRY_MIRRORS", "noequals")}, []want{{"HYBRIDNODE_REGISTRY_MIRRORS", "", "registry=url"}}},
	{"token with a typo", input{env: env("HYBRIDNODE_TOKEN", typoToken)}, []want{{"HYBRIDNODE_TOKEN", "", "[a-z0-9]{6}.[a-z0-9]{16} (value not shown)"}}},
	{"token with a newline", input{env: env("HYBRIDNODE_TOKEN", goodToken+"\n"+goodToken)}, []want{{"HYBRIDNODE_TOKEN", "", "no control characters"}}},
	{"token too long", input{env: env("HYBRIDNODE_TOKEN", strings.Repeat(goodToken, 200))}, []want{{"HYBRIDNODE_TOKEN", "", "at most 4096 bytes"}}},
	{"sandbox image upper case", input{env: env("HYBRIDNODE_SANDBOX_IMAGE", "Registry.example/Pause:3.10")}, []want{{"HYBRIDNODE_SANDBOX_IMAGE", "", "an image reference"}}},
	{"sandbox image with a space", input{env: env("HYBRIDNODE_SANDBOX_IMAGE", "registry.k8s.io/pause 3.10")}, []want{{"HYBRIDNODE_SANDBOX_IMAGE", "", "an image reference"}}},
	{"prepull image upper case", input{env: env("HYBRIDNODE_PREPULL_IMAGES", "registry.example.com/terway:v1.2,Registry.example/Terway:v1")}, []want{{"HYBRIDNODE_PREPULL_IMAGES", "", `got "Registry.example/Terway:v1", want comma separated image references`}}},
	{"prepull image with a space", input{env: env("HYBRIDNODE_PREPULL_IMAGES", "registry.example.com/terway v1.2")}, []want{{"HYBRIDNODE_PREPULL_IMAGES", "", "image references such as registry.example.com/terway:v1.2"}}},
	{"prepull image empty tag", input{env: env("HYBRIDNODE_PREPULL_IMAGES", "registry.example.com/terway:")}, []want{{"HYBRIDNODE_PREPULL_IMAGES", "", "invalid reference format"}}},
	{"prepull image bad digest", input{env: env("HYBRIDNODE_PREPULL_IMAGES", "registry.example.com/terway@sha256:abc")}, []want{{"HYBRIDNODE_PREPULL_IMAGES", "", "image references"}}},
	{"too many prepull images", input{env: env("HYBRIDNODE_PREPULL_IMAGES", strings.TrimSuffix(strings.Repeat("registry.example.com/a:1,", MaxEntries+1), ","))}, []want{{"HYBRIDNODE_PREPULL_IMAGES", "", "at most 256 entries"}}},
	{"prepull image too long", input{env: env("HYBRIDNODE_PREPULL_IMAGES", "registry.example.com/"+strings.Repeat("a", MaxValueLen))}, []want{{"HYBRIDNODE_PREPULL_IMAGES", "", "at most 4096 bytes"}}},
	{"endpoint host not a name", input{env: env("HYBRIDNODE_API_SERVER_ENDPOINT", "bad_host!:6443")}, []want{{"HYBRIDNODE_API_SERVER_ENDPOINT", "", "RFC 1123"}}},
	{"endpoint host a bad IP", input{env: env("HYBRIDNODE_API_SERVER_ENDPOINT", "10.0.0.300:6443")}, []want{{"HYBRIDNODE_API_SERVER_ENDPOINT", "", "an IP address or a DNS name"}}},
	{"endpoint port zero", input{env: env("HYBRIDNODE_API_SERVER_ENDPOINT", "k8s.example:0")}, []want{{"HYBRIDNODE_API_SERVER_ENDPOINT", "", "port from 1 to 65535"}}},
	{"endpoint port with a sign", input{env: env("HYBRIDNODE_API_SERVER_ENDPOINT", "k8s.example:+443")}, []want{{"HYBRIDNODE_API_SERVER_ENDPOINT", "", "port from 1 to 65535"}}},
	{"node name with an escape", input{env: env("ALIBABA_CLOUD_NODE_NAME", "node\x1b[31m")}, []want{{"ALIBABA_CLOUD_NODE_NAME", "", `no control characters (newline, tab, escape...): got '\x1b'`}}},
	{"label with a tab", input{env: env("ALIBABA_CLOUD_LABELS", "a=b\tc")}, []want{{"ALIBABA_CLOUD_LABELS", "", "no control characters"}}},
	{"too many labels", input{env: env("ALIBABA_CLOUD_LABELS", labels(MaxEntries+1))}, []want{{"ALIBABA_CLOUD_LABELS", "", "at most 256 entries"}}},
	{"taint with a bidi override", input{env: env("ALIBABA_CLOUD_TAINTS", "k=v\u202e:NoSchedule")}, []want{{"ALIBABA_CLOUD_TAINTS", "", "no control characters"}}},
	{"extra arg value with a bell", input{env: env("HYBRIDNODE_KUBELET_EXTRA_ARGS", "max-pods=1\a0")}, []want{{"HYBRIDNODE_KUBELET_EXTRA_ARGS", "", "no control characters"}}},
	{"extra arg name not a flag", input{env: env("HYBRIDNODE_KUBELET_EXTRA_ARGS", "Max_Pods=3")}, []want{{"HYBRIDNODE_KUBELET_EXTRA_ARGS", "", "kubelet flag names"}}},
	{"mirror not http", input{env: env("HYBRIDNODE_REGISTRY_MIRRORS", "docker.io=ftp://m.example")}, []want{{"HYBRIDNODE_REGISTRY_MIRRORS", "", "http:// or https://"}}},
	{"mirror without host", input{env: env("HYBRIDNODE_REGISTRY_MIRRORS", "docker.io=https://")}, []want{{"HYBRIDNODE_REGISTRY_MIRRORS", "", "with a valid host"}}},
	{"mirror registry upper case", input{env: env("HYBRIDNODE_REGISTRY_MIRRORS", "Docker.IO=https://m.example")}, []want{{"HYBRIDNODE_REGISTRY_MIRRORS", "", "a registry host"}}},
	{"mirror registry bad port", input{env: env("HYBRIDNODE_REGISTRY_MIRRORS", "registry.example:99999=https://m.example")}, []want{{"HYBRIDNODE_REGISTRY_MIRRORS", "", "port from 1 to 65535"}}},
	{"token file relative", input{env: env("HYBRIDNODE_TOKEN", "", "HYBRIDNODE_TOKEN_FILE", "run/token")}, []want{{"HYBRIDNODE_TOKEN_FILE", "", "an absolute path"}}},
	{"token file missing", input{env: env("HYBRIDNODE_TOKEN", "", "HYBRIDNODE_TOKEN_FILE", "/run/missing")}, []want{{"HYBRIDNODE_TOKEN_FILE", "", "a readable file holding the bootstrap token"}}},
	{"token file with a typo", input{env: env("HYBRIDNODE_TOKEN", "", "HYBRIDNODE_TOKEN_FILE", "/run/token"), files: file("/run/token", typoToken+"\n")}, []want{{"HYBRIDNODE_TOKEN_FILE", "", "(value not shown)"}}},
	{"token file too large", input{env: env("HYBRIDNODE_TOKEN", "", "HYBRIDNODE_TOKEN_FILE", "/run/token"), files: file("/run/token", strings.Repeat(goodToken+"\n", 300))}, []want{{"HYBRIDNODE_TOKEN_FILE", "", "at most 4096 bytes"}}},
	{"artifact URL relative", input{env: env("HYBRIDNODE_ARTIFACT_URL", "oss.example/k8s")}, []want{{"HYBRIDNODE_ARTIFACT_URL", "", "an absolute directory"}}},
	{"artifact URL bad port", input{env: env("HYBRIDNODE_ARTIFACT_URL", "https://oss.example:0/k8s")}, []want{{"HYBRIDNODE_ARTIFACT_URL", "", "a port from 1 to 65535"}}},
	{"metadata endpoint without host", input{env: env("HYBRIDNODE_METADATA_ENDPOINT", "http://")}, []want{{"HYBRIDNODE_METADATA_ENDPOINT", "", "http(s):// URL"}}},
	{"containerd version with a newline", input{env: env("HYBRIDNODE_CONTAINERD_VERSION", "v2.2.0\nrm -rf /")}, []want{{"HYBRIDNODE_CONTAINERD_VERSION", "", "no control characters"}}},
	{"kubernetes version too long", input{env: env("HYBRIDNODE_KUBERNETES_VERSION", "v1.37."+strings.Repeat("1", MaxValueLen))}, []want{{"HYBRIDNODE_KUBERNETES_VERSION", "", "at most 4096 bytes"}}},
	{"provider ID with an escape", input{env: env("ALIBABA_CLOUD_PROVIDER_ID", "cn-hangzhou.i-bp\x1b1abc")}, []want{{"ALIBABA_CLOUD_PROVIDER_ID", "", "no control characters"}}},
	{"provider ID spellings differ", input{env: env("ALIBABA_CLOUD_PROVIDE_ID", "cn-beijing.i-old")}, []want{{"ALIBABA_CLOUD_PROVIDE_ID", "", "the same value as ALIBABA_CLOUD_PROVIDER_ID"}}},
	{"CA hash not hex", input{env: env("HYBRIDNODE_CA_CERT_HASHES", "sha256:zz")}, []want{{"HYBRIDNODE_CA_CERT_HASHES", "", "64 lowercase hex"}}},
	{"vpc CIDR with a newline", input{env: env("HYBRIDNODE_VPC_CIDR", "10.0.0.0/8\n10.1.0.0/16")}, []want{{"HYBRIDNODE_VPC_CIDR", "", "no control characters"}}},

	// config.yaml and the drop-ins.
	{"token a list", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(mainFile, "token: ["+goodToken+"]\n")}, []want{{"token", mainFile, "a string: got a list (value not shown)"}}},
	{"token a number", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(mainFile, "token: 123456.0123456789\n")}, []want{{"token", mainFile, "a string: got a number"}}},
	{"token a map", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(mainFile, "token: {id: abcdef, secret: 0123456789abcdef}\n")}, []want{{"token", mainFile, "got a map"}}},
	{"token a boolean", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(dropIn, "token: true\n")}, []want{{"token", dropIn, "got a boolean"}}},
	{"token key twice", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(mainFile, "token: "+goodToken+"\ntoken: "+typoToken+"\n")}, []want{{"token", mainFile, "each key once in the file (line 2 repeats it)"}}},
	{"nodeName key twice", input{files: file(dropIn, "nodeName: a\nkubernetesVersion: v1.37.1\nnodeName: b\n")}, []want{{"nodeName", dropIn, "line 3 repeats it"}}},
	{"extra args key twice", input{files: file(mainFile, "kubeletExtraArgs:\n  max-pods: \"10\"\n  max-pods: \"20\"\n")}, []want{{"kubeletExtraArgs", mainFile, `each key of the map once (line 3 repeats "max-pods")`}}},
	{"token map key twice", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(mainFile, "token: {"+goodToken+": 1, "+goodToken+": 2}\n")}, []want{{"token", mainFile, "repeats a key"}}},
	{"YAML error on the token's line", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(mainFile, "token: "+goodToken+"\n\tnodeName: x\n")}, []want{{mainFile, "", "valid YAML: line 2: found a tab character"}}},
	{"YAML unterminated token", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(mainFile, "token: \""+goodToken+"\n")}, []want{{mainFile, "", "valid YAML: line 2:"}}},
	{"YAML map as a key", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(mainFile, "{token: "+goodToken+"}: 1\n")}, []want{{mainFile, "", "plain keys"}}},
	{"YAML list as a key", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(dropIn, "? ["+goodToken+"]\n: 1\n")}, []want{{dropIn, "", "plain keys"}}},
	{"YAML tag does not fit", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(mainFile, "token: !!int "+goodToken+"\n")}, []want{{mainFile, "", "values that fit their tags"}}},
	{"YAML unknown anchor", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(mainFile, "token: *abcdef0123456789\n")}, []want{{mainFile, "", "aliases"}}},
	{"YAML top-level list", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(mainFile, "- "+goodToken+"\n")}, []want{{mainFile, "", "a YAML mapping of config keys to values, got a list"}}},
	{"YAML bad base64", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(mainFile, "token: !!binary "+goodToken+"\n")}, []want{{mainFile, "", "base64"}}},
	{"token decoded with a control character", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(mainFile, "token: \"abcdef.\\e0123456789abcde\"\n")}, []want{{"token", mainFile, "no control characters"}}},
	{"sandbox image with an escape", input{files: file(mainFile, "sandboxImage: \"registry.k8s.io/pause\\e[2J:3.10\"\n")}, []want{{"sandboxImage", mainFile, "no control characters"}}},
	{"prepull image with an escape", input{files: file(mainFile, "prepullImages: [\"registry.example.com/terway\\e[2J:v1\"]\n")}, []want{{"prepullImages", mainFile, "no control characters"}}},
	{"prepull images a map", input{files: file(dropIn, "prepullImages: {terway: v1}\n")}, []want{{"prepullImages", dropIn, "a list of strings: got a map"}}},
	{"prepull image not a reference in a file", input{files: file(mainFile, "prepullImages:\n- registry.example.com/terway:v1.2\n- \"-rf\"\n")}, []want{{"prepullImages", mainFile, `got "-rf", want comma separated image references`}}},
	{"extra arg name with a newline", input{files: file(mainFile, "kubeletExtraArgs: {\"max\\npods\": \"1\"}\n")}, []want{{"kubeletExtraArgs", mainFile, "a name with no control characters"}}},
	{"too many labels in a file", input{env: env("ALIBABA_CLOUD_LABELS", ""), files: file(dropIn, "nodeLabels: ["+strings.ReplaceAll(labels(MaxEntries+5), ",", ", ")+"]\n")}, []want{{"nodeLabels", dropIn, "at most 256 entries"}}},
	{"too many mirrors", input{files: file(mainFile, "registryMirrors: {docker.io: ["+strings.TrimSuffix(strings.Repeat("https://m.example, ", MaxEntries+1), ", ")+"]}\n")}, []want{{"registryMirrors", mainFile, "at most 256 mirrors per registry"}}},
	{"mirror not a URL in a file", input{files: file(mainFile, "registryMirrors: {\"docker.io\": [\"not a url\"]}\n")}, []want{{"registryMirrors", mainFile, "http:// or https://"}}},
	{"token file relative in a file", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(mainFile, "tokenFile: token\n")}, []want{{"tokenFile", mainFile, "an absolute path"}}},
	{"config file too large", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(mainFile, "token: "+goodToken+"\n#"+strings.Repeat("x", MaxFileSize))}, []want{{mainFile, "", "a config file of at most 1048576 bytes (1 MiB)"}}},
	{"drop-in too large", input{files: file(dropIn, strings.Repeat("#", MaxFileSize+1))}, []want{{dropIn, "", "at most 1048576 bytes"}}},
	{"unknown key that is the token", input{files: file(dropIn, goodToken+": 1\n")}, []want{{"[REDACTED]", dropIn, "a known key"}}},
	{"join timeout a number", input{files: file(mainFile, "joinTimeout: 300\n")}, []want{{"joinTimeout", mainFile, "a duration such as 5m"}}},
	{"kubernetes version a number", input{files: file(mainFile, "kubernetesVersion: 1.37\n")}, []want{{"kubernetesVersion", mainFile, "a string: got a number"}}},
	{"endpoint bad port in a drop-in", input{env: env("HYBRIDNODE_API_SERVER_ENDPOINT", ""), files: file(dropIn, "apiServerEndpoint: \"[::1]:99999\"\n")}, []want{{"apiServerEndpoint", dropIn, "port from 1 to 65535"}}},
	{"provider ID in a drop-in", input{files: file(dropIn, "providerID: i-bp1abc\n"), env: env("ALIBABA_CLOUD_PROVIDER_ID", "")}, []want{{"providerID", dropIn, "<region>.<instance-id>"}}},

	{"token pasted as a CA hash", input{env: env("HYBRIDNODE_TOKEN", "", "HYBRIDNODE_CA_CERT_HASHES", ""), files: file(mainFile, "caCertHashes: ["+goodToken+"]\n")}, []want{{"caCertHashes", mainFile, `got "[REDACTED]", want sha256:`}}},
	{"token pasted as the version", input{env: env("HYBRIDNODE_TOKEN", "", "HYBRIDNODE_KUBERNETES_VERSION", goodToken)}, []want{{"HYBRIDNODE_KUBERNETES_VERSION", "", "a release v1.30.x"}}},
	{"token pasted as a key", input{env: env("HYBRIDNODE_TOKEN", ""), files: file(mainFile, goodToken+": x\n")}, []want{{"[REDACTED]", mainFile, "a known key"}}},
	{"artifact file URL with a host", input{env: env("HYBRIDNODE_ARTIFACT_URL", "file://bundle/k8s")}, []want{{"HYBRIDNODE_ARTIFACT_URL", "", "file:///srv/bundle"}}},

	// The credential source and the token service.
	{"credential source unknown", input{env: env("HYBRIDNODE_CREDENTIAL_SOURCE", "ram-role")}, []want{{"HYBRIDNODE_CREDENTIAL_SOURCE", "", "token or instance-identity"}}},
	{"instance identity with a token", input{env: identityEnv()}, []want{{"HYBRIDNODE_TOKEN", "", "unset: credentialSource is instance-identity (set by HYBRIDNODE_CREDENTIAL_SOURCE)"}}},
	{"instance identity with a token file", input{env: identityEnv("HYBRIDNODE_TOKEN", "", "HYBRIDNODE_TOKEN_FILE", "/run/token"), files: file("/run/token", goodToken+"\n")}, []want{{"HYBRIDNODE_TOKEN_FILE", "", "remove HYBRIDNODE_TOKEN_FILE or set credentialSource to token"}}},
	{"instance identity without the service", input{env: env("HYBRIDNODE_TOKEN", "", "HYBRIDNODE_CREDENTIAL_SOURCE", "instance-identity")}, []want{
		{"tokenService.url", "", "HYBRIDNODE_TOKEN_SERVICE_URL: credentialSource instance-identity (set by HYBRIDNODE_CREDENTIAL_SOURCE) needs it"},
		{"tokenService.pin", "", "HYBRIDNODE_TOKEN_SERVICE_PIN"},
		{"tokenService.audience", "", "HYBRIDNODE_TOKEN_SERVICE_AUDIENCE"},
	}},
	{"token service URL not https", input{env: env("HYBRIDNODE_TOKEN_SERVICE_URL", "http://10.0.0.10:9443")}, []want{{"HYBRIDNODE_TOKEN_SERVICE_URL", "", "an https:// URL"}}},
	{"token service URL with a query", input{env: env("HYBRIDNODE_TOKEN_SERVICE_URL", "https://10.0.0.10:9443/?x=1")}, []want{{"HYBRIDNODE_TOKEN_SERVICE_URL", "", "no user, query or fragment"}}},
	{"token service URL bad port", input{env: env("HYBRIDNODE_TOKEN_SERVICE_URL", "https://10.0.0.10:0")}, []want{{"HYBRIDNODE_TOKEN_SERVICE_URL", "", "a port from 1 to 65535"}}},
	{"token service pin not hex", input{env: env("HYBRIDNODE_TOKEN_SERVICE_PIN", "sha256:xyz")}, []want{{"HYBRIDNODE_TOKEN_SERVICE_PIN", "", "sha256:<64 lowercase hex digits>"}}},
	{"token service pin upper case", input{env: env("HYBRIDNODE_TOKEN_SERVICE_PIN", strings.ToUpper(goodHash))}, []want{{"HYBRIDNODE_TOKEN_SERVICE_PIN", "", "64 lowercase hex"}}},
	{"token service audience with a colon", input{env: env("HYBRIDNODE_TOKEN_SERVICE_AUDIENCE", "prod:1")}, []want{{"HYBRIDNODE_TOKEN_SERVICE_AUDIENCE", "", "(no ':')"}}},
	{"token service audience with a quote", input{env: env("HYBRIDNODE_TOKEN_SERVICE_AUDIENCE", `prod"x`)}, []want{{"HYBRIDNODE_TOKEN_SERVICE_AUDIENCE", "", "letters, digits"}}},
	{"token service audience with a newline", input{env: env("HYBRIDNODE_TOKEN_SERVICE_AUDIENCE", "prod\nx")}, []want{{"HYBRIDNODE_TOKEN_SERVICE_AUDIENCE", "", "no control characters"}}},
	{"token service a string", input{files: file(mainFile, "tokenService: https://10.0.0.10:9443\n")}, []want{{"tokenService", mainFile, "a map of url, pin, audience: got a string"}}},
	{"token service unknown key", input{files: file(mainFile, "tokenService:\n  uri: https://10.0.0.10:9443\n")}, []want{{"tokenService.uri", mainFile, "a known key of tokenService: url, pin, audience"}}},
	{"token service URL a list", input{files: file(dropIn, "tokenService: {url: [https://a]}\n")}, []want{{"tokenService.url", dropIn, "a string: got a list"}}},
	{"token service key twice", input{files: file(mainFile, "tokenService:\n  url: https://a\n  url: https://b\n")}, []want{{"tokenService", mainFile, `each key of the map once (line 3 repeats "url")`}}},
	{"token service dotted key at the top", input{files: file(mainFile, "tokenService.url: https://a\n")}, []want{{"tokenService.url", mainFile, "a known key"}}},
	{"token service pin in a file", input{files: file(dropIn, "tokenService: {pin: \"sha256:00\"}\n")}, []want{{"tokenService.pin", dropIn, "sha256:<64 lowercase hex digits>"}}},
	{"flag token service URL", input{flags: map[string]string{"tokenService.url": "ftp://x"}}, []want{{"--token-service-url", "", "an https:// URL"}}},

	// Flags.
	{"flag join attempts", input{flags: map[string]string{"joinAttempts": "x"}}, []want{{"--join-attempts", "", "a whole number"}}},
	{"flag labels with a newline", input{flags: map[string]string{"nodeLabels": "a=b\nc=d"}}, []want{{"--node-labels", "", "no control characters"}}},
	{"flag sandbox image", input{flags: map[string]string{"sandboxImage": "Pause:3.10"}}, []want{{"--sandbox-image", "", "an image reference"}}},
	{"flag prepull image", input{flags: map[string]string{"prepullImages": "registry.example.com/terway:v1.2,UPPER"}}, []want{{"--prepull", "", `got "UPPER", want comma separated image references`}}},
	{"flag endpoint port", input{flags: map[string]string{"apiServerEndpoint": "k8s.example:65536"}}, []want{{"--api-server-endpoint", "", "port from 1 to 65535"}}},
	{"flag kube-proxy mode", input{flags: map[string]string{"kubeProxyMode": "userspace"}}, []want{{"--kube-proxy-mode", "", `got "userspace", want auto, ipvs, iptables or nftables`}}},
	{"kube-proxy mode empty in a drop-in", input{files: file(dropIn, "kubeProxyMode: \"\"\n")}, []want{{"kubeProxyMode", dropIn, "want auto, ipvs, iptables or nftables"}}},
	{"token given as a flag", input{flags: map[string]string{"token": goodToken}}, []want{{"token", "", "a known flag"}}},

	// Everything at once: a value that does not parse hides nothing.
	{"load and validation problems together", input{
		env:   env("HYBRIDNODE_JOIN_ATTEMPTS", "x", "ALIBABA_CLOUD_LABELS", "workload", "HYBRIDNODE_SANDBOX_IMAGE", "UPPER"),
		files: map[string]string{mainFile: "nodeName: a\nnodeName: b\n", dropIn: "token: [" + goodToken + "]\n"},
	}, []want{
		{"HYBRIDNODE_JOIN_ATTEMPTS", "", "a whole number"},
		{"ALIBABA_CLOUD_LABELS", "", "key=value"},
		{"HYBRIDNODE_SANDBOX_IMAGE", "", "an image reference"},
		{"nodeName", mainFile, "each key once"},
		{"token", dropIn, "a string"},
	}},
}

func TestMalformedInputs(t *testing.T) {
	if len(malformedCases) < 40 {
		t.Fatalf("only %d malformed cases", len(malformedCases))
	}
	for _, c := range malformedCases {
		t.Run(c.name, func(t *testing.T) {
			_, loadErr, err := c.in.run(t)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("want *Error, got %v", err)
			}
			var le *Error
			if errors.As(loadErr, &le) {
				for _, lp := range le.Problems {
					found := false
					for _, p := range e.Problems {
						found = found || p == lp
					}
					if !found {
						t.Errorf("validate dropped loadSources' problem %s", lp)
					}
				}
			}
			for _, w := range c.want {
				found := false
				for _, p := range e.Problems {
					if strings.Contains(p.Field, w.field) && strings.Contains(p.Field, w.file) && strings.Contains(p.String(), w.msg) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem naming %q %q with %q in:\n%v", w.field, w.file, w.msg, err)
				}
			}
			msg := err.Error()
			for _, s := range secretTexts {
				if strings.Contains(msg, s) {
					t.Errorf("the error quotes the token (%s):\n%s", s, msg)
				}
			}
			if len(msg) > 64<<10 {
				t.Errorf("the error is %d bytes long", len(msg))
			}
		})
	}
}

// TestProblemsHaveNoControlCharacters: in every case, no Problem's Field or
// Want holds a control character, nor its printed form (Got is quoted).
func TestProblemsHaveNoControlCharacters(t *testing.T) {
	for _, c := range malformedCases {
		_, _, err := c.in.run(t)
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%s: want *Error, got %v", c.name, err)
		}
		for _, p := range e.Problems {
			for what, s := range map[string]string{"Field": p.Field, "Want": p.Want, "String()": p.String()} {
				if i := strings.IndexFunc(s, isControl); i >= 0 {
					t.Errorf("%s: %s has a control character at %d: %q", c.name, what, i, s)
				}
			}
		}
	}
	// Problems made elsewhere are printed safely too.
	p := Problem{Field: "a\nb", Got: "c\x1bd", Want: "e\u202ef"}
	if s := p.String(); strings.IndexFunc(s, isControl) >= 0 {
		t.Errorf("String() = %q", s)
	}
}

func TestGoodInputsStillPass(t *testing.T) {
	for name, in := range map[string]input{
		"ACK's environment": {},
		"IPv6 endpoint":     {env: env("HYBRIDNODE_API_SERVER_ENDPOINT", "[fd00::10]:6443")},
		"DNS endpoint":      {env: env("HYBRIDNODE_API_SERVER_ENDPOINT", "K8s-API.example.internal:6443")},
		"sandbox image":     {env: env("HYBRIDNODE_SANDBOX_IMAGE", "registry-vpc.cn-hangzhou.aliyuncs.com/acs/pause:3.10@sha256:"+strings.Repeat("ab", 32))},
		"prepull images":    {env: env("HYBRIDNODE_PREPULL_IMAGES", "registry.example.com/terway:v1.2, nginx ,registry-vpc.cn-hangzhou.aliyuncs.com/acs/csi@sha256:"+strings.Repeat("ab", 32)+",localhost:5000/x")},
		"mirrors":           {env: env("HYBRIDNODE_REGISTRY_MIRRORS", "docker.io=https://m.example,http://10.0.0.5:5000;localhost:5000=http://127.0.0.1:5001")},
		"token file":        {env: env("HYBRIDNODE_TOKEN", "", "HYBRIDNODE_TOKEN_FILE", "/run/token"), files: file("/run/token", goodToken+"\n")},
		"files": {env: env("HYBRIDNODE_TOKEN", ""), files: map[string]string{
			mainFile: "kubeletExtraArgs: {max-pods: \"110\", feature-gates: \"A=true,B=false\"}\nnodeLabels: [\"a=b\"]\n",
			dropIn:   "token: " + goodToken + "\nartifactURL: file:///srv/bundle\n",
		}},
		"max entries":       {env: env("ALIBABA_CLOUD_LABELS", labels(MaxEntries))},
		"instance identity": {env: identityEnv("HYBRIDNODE_TOKEN", "")},
		"instance identity in a file": {env: env("HYBRIDNODE_TOKEN", ""), files: map[string]string{
			mainFile: "credentialSource: instance-identity\ntokenService:\n  url: https://ts.example.internal:9443/prefix\n",
			dropIn:   "tokenService: {pin: \"" + goodHash + "\", audience: prod/cluster-1}\n",
		}},
	} {
		if _, loadErr, err := in.run(t); loadErr != nil || err != nil {
			t.Errorf("%s: load %v, validate %v", name, loadErr, err)
		}
	}
}
