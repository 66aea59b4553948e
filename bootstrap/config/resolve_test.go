package config

import (
	"context"
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"
)

const recordPath = "/var/lib/hybridnode/installed.json"

// fakeMetadata answers from a map; it records what it was asked.
type fakeMetadata struct {
	ecs       bool
	values    map[string]string
	err       error
	ecsAsked  int
	endpoints []string
	keys      [][]string
	deadline  time.Duration
}

func (m *fakeMetadata) OnECS() (bool, string) {
	m.ecsAsked++
	if m.ecs {
		return true, "sys_vendor is \"Alibaba Cloud\""
	}
	return false, "DMI vendor \"QEMU\": not an Alibaba Cloud ECS instance"
}

func (m *fakeMetadata) Fill(ctx context.Context, endpoint string, keys []string) (map[string]string, error) {
	m.endpoints = append(m.endpoints, endpoint)
	m.keys = append(m.keys, keys)
	if d, ok := ctx.Deadline(); ok {
		m.deadline = time.Until(d)
	}
	return m.values, m.err
}

// record is an install record for Resolve; reads counts its calls.
type record struct {
	versions map[string]string
	err      error
	reads    int
}

func (r *record) read() (map[string]string, error) {
	r.reads++
	return r.versions, r.err
}

// resolve resolves env, a config.yaml holding file (when not empty) and flags.
func resolve(env map[string]string, file string, flags map[string]string, m Metadata, rec *record, join bool) (*Loaded, *Spec, error) {
	o := ResolveOptions{
		DefaultFile: "/etc/hybridnode/config.yaml",
		ReadFile: func(p string) ([]byte, error) {
			if file == "" || p != "/etc/hybridnode/config.yaml" {
				return nil, fs.ErrNotExist
			}
			return []byte(file), nil
		},
		ReadDir:       func(string) ([]fs.DirEntry, error) { return nil, fs.ErrNotExist },
		LookupEnv:     func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Flags:         flags,
		Hostname:      "Host-1",
		Metadata:      m,
		InstalledFrom: recordPath,
		Join:          join,
	}
	if rec != nil {
		o.Installed = rec.read
	}
	return Resolve(o)
}

func baked() *record {
	return &record{versions: map[string]string{"kubernetes": "v1.36.2", "containerd": "v1.7.30", "runc": "v1.2.0", "crictl": "v1.36.1"}}
}

// TestResolvePrecedence: defaults < metadata < file < env < flags, and the
// install record replaces only default or derived versions, the derived
// values following the adopted Kubernetes minor.
func TestResolvePrecedence(t *testing.T) {
	env := ackEnv()
	delete(env, "ALIBABA_CLOUD_PROVIDER_ID")
	env["HYBRIDNODE_JOIN_ATTEMPTS"] = "4"
	env["HYBRIDNODE_RUNC_VERSION"] = "v1.1.0"
	file := "vpcCIDR: 172.16.0.0/12\njoinAttempts: 2\njoinTimeout: 2m\n"
	m := &fakeMetadata{ecs: true, values: map[string]string{"providerID": "cn-hangzhou.i-meta", "nodeName": "cn-hangzhou.10.0.1.5", "vpcCIDR": "10.0.0.0/8"}}
	rec := baked()
	l, s, err := resolve(env, file, map[string]string{"runcVersion": "1.2.0", "joinTimeout": "3m"}, m, rec, true)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ key, want, source string }{
		{"providerID", "cn-hangzhou.i-meta", "metadata"},                      // metadata over the default
		{"nodeName", "cn-hangzhou.10.10.24.7", "env ALIBABA_CLOUD_NODE_NAME"}, // env over metadata and the hostname
		{"vpcCIDR", "172.16.0.0/12", "file /etc/hybridnode/config.yaml"},      // file over metadata
		{"joinAttempts", "4", "env HYBRIDNODE_JOIN_ATTEMPTS"},                 // env over file
		{"joinTimeout", "3m0s", "flag --join-timeout"},                        // flag over file
		{"runcVersion", "1.2.0", "flag --runc-version"},                       // flag over env and the record
		{"kubernetesVersion", "v1.36.2", "installed " + recordPath},           // the record over the default
		{"containerdVersion", "v1.7.30", "installed " + recordPath},
		{"crictlVersion", "v1.36.1", "installed " + recordPath}, // the record over the derived
		{"sandboxImage", "registry.k8s.io/pause:3.10.2", "derived from kubernetesVersion"},
		{"cgroupDriver", "auto", "default"},
	}
	for _, c := range cases {
		if got := l.Config.FormatString(c.key); got != c.want {
			t.Errorf("%s = %q, want %q", c.key, got, c.want)
		}
		if got := l.Sources[c.key].String(); got != c.source {
			t.Errorf("%s source = %q, want %q", c.key, got, c.source)
		}
	}
	// Metadata was asked once, at the default endpoint, for what was unset.
	if !reflect.DeepEqual(m.keys, [][]string{{"providerID"}}) || m.endpoints[0] != "" {
		t.Errorf("metadata asked for %v at %q", m.keys, m.endpoints)
	}
	if m.deadline <= 0 || m.deadline > MetadataBudget {
		t.Errorf("metadata deadline in %v, want within %v", m.deadline, MetadataBudget)
	}
	if !l.Metadata.Asked || !reflect.DeepEqual(l.Metadata.Applied, []string{"providerID"}) {
		t.Errorf("metadata lookup = %+v", l.Metadata)
	}
	// The Spec holds the same, typed: the minor and major of what is installed.
	if s.KubernetesVersion != "v1.36.2" || s.KubernetesMinor != 36 || s.ContainerdVersion != "v1.7.30" || s.ContainerdMajor != 1 ||
		s.RuncVersion != "v1.2.0" || s.CrictlVersion != "v1.36.1" || s.SandboxImage != "registry.k8s.io/pause:3.10.2" || s.ProviderID != "cn-hangzhou.i-meta" {
		t.Errorf("spec = %+v", s)
	}
	if rec.reads != 1 {
		t.Errorf("the record was read %d times", rec.reads)
	}
}

// TestResolveDumpMarksInstalled: config dump names the record as the
// source of what it gave, and what was derived from it.
func TestResolveDumpMarksInstalled(t *testing.T) {
	rec := &record{versions: map[string]string{"kubernetes": "v1.35.3", "containerd": "v2.1.4"}}
	l, _, err := resolve(ackEnv(), "", nil, nil, rec, true)
	if err != nil {
		t.Fatal(err)
	}
	out := string(l.Dump())
	for _, want := range []string{
		"kubernetesVersion: v1.35.3  # installed " + recordPath + "\n",
		"containerdVersion: v2.1.4  # installed " + recordPath + "\n",
		"crictlVersion: v1.35.0  # derived from kubernetesVersion\n",
		"sandboxImage: registry.k8s.io/pause:3.10.1  # derived from kubernetesVersion\n",
		"runcVersion: v1.3.3  # default\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dump lacks %q:\n%s", want, out)
		}
	}
}

// TestResolveInstalledConflict: a version the user set that differs from
// the installed one is a problem naming where it was set, reported with
// every other problem; the same version written without the v is none.
func TestResolveInstalledConflict(t *testing.T) {
	env := ackEnv()
	env["HYBRIDNODE_KUBERNETES_VERSION"] = "v1.35.0"
	env["HYBRIDNODE_JOIN_ATTEMPTS"] = "99"
	l, s, err := resolve(env, "containerdVersion: 1.7.30\ncrictlVersion: v1.34.0\n", nil, nil, baked(), true)
	var e *Error
	if s != nil || !errors.As(err, &e) {
		t.Fatalf("spec %v, err %v", s, err)
	}
	want := []Problem{
		{Field: "HYBRIDNODE_JOIN_ATTEMPTS", Got: "99", Want: "a number from 1 to 10"},
		{Field: "HYBRIDNODE_KUBERNETES_VERSION", Got: "v1.35.0", Want: "the installed kubernetes (v1.36.2), or an artifactURL to install v1.35.0 from"},
		{Field: "crictlVersion (/etc/hybridnode/config.yaml)", Got: "v1.34.0", Want: "the installed crictl (v1.36.1), or an artifactURL to install v1.34.0 from"},
	}
	if !reflect.DeepEqual(e.Problems, want) {
		t.Errorf("problems:\n%v\nwant:\n%v", e.Problems, want)
	}
	if l == nil || l.Sources["runcVersion"].Kind != "installed" {
		t.Errorf("the Loaded is not returned with the problems: %v", l)
	}

	// With an artifactURL the record is not read: the versions are installed from there.
	env["HYBRIDNODE_JOIN_ATTEMPTS"] = "3"
	env["HYBRIDNODE_ARTIFACT_URL"] = "https://oss.example.com/hn"
	rec := baked()
	l, s, err = resolve(env, "", nil, nil, rec, true)
	if err != nil || rec.reads != 0 || s.KubernetesVersion != "v1.35.0" || l.Sources["containerdVersion"].Kind != "default" {
		t.Fatalf("with an artifactURL: reads %d, %v, %+v", rec.reads, err, l.Sources)
	}
}

// TestResolveRecordUnreadable: a record that cannot be read stops the run,
// after the configuration's own problems.
func TestResolveRecordUnreadable(t *testing.T) {
	broken := errors.New("reading " + recordPath + ": unexpected end of JSON input")
	_, s, err := resolve(ackEnv(), "", nil, nil, &record{err: broken}, true)
	if s != nil || !errors.Is(err, broken) {
		t.Fatalf("spec %v, err %v", s, err)
	}
	env := ackEnv()
	delete(env, "HYBRIDNODE_TOKEN")
	_, _, err = resolve(env, "", nil, nil, &record{err: broken}, true)
	var e *Error
	if !errors.As(err, &e) || len(e.Problems) != 1 || !strings.HasPrefix(e.Problems[0].Field, "token") {
		t.Fatalf("err %v, want the missing token", err)
	}
}

// TestResolveMetadataGating: off ECS (DMI) nothing is asked and the node
// name is the hostname; an explicit endpoint is asked without DMI; a
// configuration that did not load asks nothing; a failure changes nothing.
func TestResolveMetadataGating(t *testing.T) {
	env := ackEnv()
	delete(env, "ALIBABA_CLOUD_NODE_NAME")
	values := map[string]string{"nodeName": "cn-hangzhou.10.0.1.5", "vpcCIDR": "10.0.0.0/8"}

	m := &fakeMetadata{values: values}
	l, _, err := resolve(env, "", nil, m, nil, true)
	if err != nil || m.ecsAsked != 1 || len(m.endpoints) != 0 {
		t.Fatalf("off ECS: err %v, DMI asked %d, metadata asked at %v", err, m.ecsAsked, m.endpoints)
	}
	if l.Config.NodeName != "host-1" || l.Sources["nodeName"].String() != "derived from the hostname" || l.Metadata.Asked || !strings.Contains(l.Metadata.Why, "not an Alibaba Cloud ECS instance") {
		t.Fatalf("off ECS: nodeName %q (%v), lookup %+v", l.Config.NodeName, l.Sources["nodeName"], l.Metadata)
	}

	env["HYBRIDNODE_METADATA_ENDPOINT"] = "http://127.0.0.1:8080"
	m = &fakeMetadata{values: values}
	l, _, err = resolve(env, "", nil, m, nil, true)
	if err != nil || m.ecsAsked != 0 || !reflect.DeepEqual(m.endpoints, []string{"http://127.0.0.1:8080"}) {
		t.Fatalf("explicit endpoint: err %v, DMI asked %d, metadata asked at %v", err, m.ecsAsked, m.endpoints)
	}
	if l.Config.NodeName != "cn-hangzhou.10.0.1.5" || l.Sources["nodeName"].Kind != "metadata" || l.Metadata.Endpoint != "http://127.0.0.1:8080" {
		t.Fatalf("explicit endpoint: nodeName %q (%v), lookup %+v", l.Config.NodeName, l.Sources["nodeName"], l.Metadata)
	}

	m = &fakeMetadata{ecs: true, values: values}
	env["HYBRIDNODE_JOIN_TIMEOUT"] = "soon"
	if _, _, err := resolve(env, "", nil, m, nil, true); err == nil || m.ecsAsked != 0 || len(m.endpoints) != 0 {
		t.Fatalf("did not load: err %v, DMI asked %d, metadata asked at %v", err, m.ecsAsked, m.endpoints)
	}
	delete(env, "HYBRIDNODE_JOIN_TIMEOUT")

	delete(env, "HYBRIDNODE_METADATA_ENDPOINT")
	m = &fakeMetadata{ecs: true, values: map[string]string{"vpcCIDR": "10.0.0.0/8"}, err: errors.New("private-ipv4: timeout")}
	l, _, err = resolve(env, "", nil, m, nil, true)
	if err != nil || l.Config.NodeName != "host-1" || l.Config.VPCCIDR != "10.0.0.0/8" || l.Metadata.Err == nil || !reflect.DeepEqual(l.Metadata.Applied, []string{"vpcCIDR"}) {
		t.Fatalf("a failed lookup: err %v, nodeName %q, lookup %+v", err, l.Config.NodeName, l.Metadata)
	}
}
