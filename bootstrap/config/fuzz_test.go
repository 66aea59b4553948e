package config

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/hybridnode/hybridnode/kubelet"
)

// Fuzz targets (make fuzz): FuzzParseLabels, FuzzParseTaints,
// FuzzProviderID and FuzzLoadFile. Each must not panic, and every rejection
// must name its field; the seeds run as ordinary tests.

// checkEnvValue loads and validates with one variable set (nothing else,
// not for a join) and checks every problem: it names the variable, holds
// no control character, and is a *Error.
func checkEnvValue(t *testing.T, name, v string) {
	t.Helper()
	l, err := loadSources(ResolveOptions{
		DefaultFile: mainFile,
		ReadFile:    func(string) ([]byte, error) { return nil, fs.ErrNotExist },
		ReadDir:     func(string) ([]fs.DirEntry, error) { return nil, fs.ErrNotExist },
		LookupEnv: func(k string) (string, bool) {
			if k == name {
				return v, true
			}
			return "", false
		},
	})
	if l == nil {
		t.Fatalf("no Loaded: %v", err)
	}
	_, err = validate(l, ResolveOptions{})
	checkProblems(t, err, func(p Problem) bool { return p.Field == name })
}

func checkProblems(t *testing.T, err error, names func(Problem) bool) {
	t.Helper()
	if err == nil {
		return
	}
	var e *Error
	if !errors.As(err, &e) || len(e.Problems) == 0 {
		t.Fatalf("want a *Error with problems, got %v", err)
	}
	for _, p := range e.Problems {
		if !names(p) {
			t.Errorf("the problem does not name its field: %s", p)
		}
		if p.Want == "" {
			t.Errorf("the problem does not say what is expected: %s", p)
		}
		if strings.IndexFunc(p.String(), isControl) >= 0 || strings.IndexFunc(p.Field+p.Want, isControl) >= 0 {
			t.Errorf("control character in %q", p.String())
		}
	}
}

// refused counts the items a kubelet parser refused, each of which must say
// what was expected.
func refused(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var le kubelet.ListError
	if !errors.As(err, &le) {
		t.Fatalf("want a kubelet.ListError, got %v", err)
	}
	for _, it := range le {
		if it.Want == "" {
			t.Errorf("rejection of %q says nothing", it.Item)
		}
	}
	return len(le)
}

// effects are core/v1's taint effects.
var effects = map[string]bool{"NoSchedule": true, "PreferNoSchedule": true, "NoExecute": true}

func FuzzParseLabels(f *testing.F) {
	for _, s := range []string{
		"alibabacloud.com/nodepool-id=np1,alibabacloud.com/external=true,workload=cpu",
		"workload", "-bad=1", "a=b c", "node-role.kubernetes.io/worker=", "example.k8s.io/x=1", "a=1,a=2",
		"kubernetes.io/hostname=h", "node.kubernetes.io/x=y", "a=b\tc", "=v", "a==b", "a/b/c=d", ",,,", "a=" + strings.Repeat("v", 64),
		strings.Repeat("k=v,", 300), "\u202ea=b", "é=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := kubelet.ParseLabels(s)
		rejected := refused(t, err)
		seen := map[string]bool{}
		for _, l := range got {
			if len(validation.IsQualifiedName(l.Key)) > 0 || len(validation.IsValidLabelValue(l.Value)) > 0 || l.Problem() != "" || seen[l.Key] {
				t.Errorf("accepted a bad label %q=%q", l.Key, l.Value)
			}
			seen[l.Key] = true
		}
		if len(got)+rejected != len(kubelet.SplitItems(s)) {
			t.Errorf("%d accepted + %d rejected != %d items", len(got), rejected, len(kubelet.SplitItems(s)))
		}
		checkEnvValue(t, "ALIBABA_CLOUD_LABELS", s)
	})
}

func FuzzParseTaints(f *testing.F) {
	for _, s := range []string{
		"workload=ack:NoSchedule", "a:NoExecute,b=c:PreferNoSchedule", "workload=ack", "workload=ack:NoRun",
		"bad key:NoSchedule", "a:NoSchedule,a=b:NoSchedule", ":NoSchedule", "a=b=c:NoSchedule", "a:b:NoSchedule",
		"k=v\u202e:NoSchedule", strings.Repeat("a:NoSchedule,", 300),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := kubelet.ParseTaints(s)
		rejected := refused(t, err)
		seen := map[string]bool{}
		for _, tt := range got {
			if !effects[tt.Effect] || len(validation.IsQualifiedName(tt.Key)) > 0 || len(validation.IsValidLabelValue(tt.Value)) > 0 || seen[tt.Key+":"+tt.Effect] {
				t.Errorf("accepted a bad taint %v", tt)
			}
			seen[tt.Key+":"+tt.Effect] = true
		}
		if len(got)+rejected != len(kubelet.SplitItems(s)) {
			t.Errorf("%d accepted + %d rejected != %d items", len(got), rejected, len(kubelet.SplitItems(s)))
		}
		checkEnvValue(t, "ALIBABA_CLOUD_TAINTS", s)
	})
}

func FuzzProviderID(f *testing.F) {
	for _, s := range []string{"cn-hangzhou.i-bp1abc", "i-bp1abc", "cn-hangzhou.", ".i-x", "cn-hangzhou.i-bp\x1b1abc", "CN.x", "a.b.c", "cn-hangzhou.i_x", strings.Repeat("a", 300) + ".i"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ProviderIDProblem(s) == "" {
			region, id, ok := strings.Cut(s, ".")
			if !ok || region == "" || id == "" || strings.ContainsAny(s, " \t\n/:") || len(s) > 253 {
				t.Errorf("accepted %q", s)
			}
		}
		checkEnvValue(t, "ALIBABA_CLOUD_PROVIDER_ID", s)
		checkEnvValue(t, "ALIBABA_CLOUD_PROVIDE_ID", s)
	})
}

func FuzzLoadFile(f *testing.F) {
	for _, s := range []string{
		"", "kubernetesVersion: v1.37.1\napiServerEndpoint: 10.0.0.10:6443\ntoken: " + goodToken + "\n",
		"kubernetesVersion: [1]\nbogusKey: 1\njoinAttempts: three\n",
		"token: [" + goodToken + "]\n", "token: 123456.0123456789\n", "token: a\ntoken: b\n",
		"kubeletExtraArgs:\n  max-pods: \"1\"\n  max-pods: \"2\"\n", "token: " + goodToken + "\n\tx: 1\n",
		"{token: " + goodToken + "}: 1\n", "token: !!int " + goodToken + "\n", "token: *anchor\n", "- a\n", "a",
		"registryMirrors: {docker.io: [\"https://m\"]}\nnodeLabels: [\"a=b\"]\nnodeTaints: [\"a:NoSchedule\"]\n",
		"sandboxImage: \"x\\e\"\n", "tokenFile: relative\n", "tokenFile: /run/token\n", "joinTimeout: 5\n",
		"unsafeSkipCAVerification: yes\nrestrictOOMScoreAdj: 1\n", "&a [*a, *a]: 1\n", "? |\n  x\n: 1\n",
		"credentialSource: instance-identity\ntokenService: {url: https://a:1, pin: x, audience: \"a:b\"}\n",
		"tokenService: [1]\n", "tokenService:\n  url: a\n  url: b\n", "tokenService: {" + goodToken + ": 1}\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tree := fstest.MapFS{"etc/hybridnode/config.yaml": {Data: []byte(s), Mode: 0o644}}
		open := func(p string) (fs.File, error) { return tree.Open(strings.TrimPrefix(p, "/")) }
		l, err := loadSources(ResolveOptions{
			DefaultFile: mainFile,
			Open:        open,
			ReadDir:     func(string) ([]fs.DirEntry, error) { return nil, fs.ErrNotExist },
			LookupEnv:   noEnv,
		})
		if l == nil {
			t.Fatalf("no Loaded: %v", err)
		}
		_, verr := validate(l, ResolveOptions{Open: open})
		checkProblems(t, err, func(p Problem) bool { return strings.Contains(p.Field, mainFile) })
		// A problem names the file in its field, except one about a field
		// that no source sets but another setting in the file requires
		// (tokenService.* under credentialSource: instance-identity): the
		// value is not in the file, and may go in the file or the
		// environment, so its field is the bare key, and it names the file
		// through the setting that requires it. Naming the file in the field
		// would send the reader to a file that does not hold the key.
		// (testdata/fuzz/FuzzLoadFile/instance-identity-alone)
		checkProblems(t, verr, func(p Problem) bool {
			if strings.Contains(p.Field, mainFile) {
				return true
			}
			src, known := l.Sources[p.Field]
			return known && src.Kind == "default" && strings.Contains(p.Want, mainFile)
		})
		if tok := l.Config.Token.Reveal(); verr != nil && len(tok) >= minSecretLen && !strings.Contains(redacted, tok) {
			var e *Error
			errors.As(verr, &e)
			for _, p := range e.Problems {
				if strings.Contains(p.Got, tok) || strings.Contains(p.Want, tok) {
					t.Errorf("the problem quotes the token: %s", p)
				}
			}
		}
	})
}
