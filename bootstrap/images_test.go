package bootstrap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/command"
	"github.com/hybridnode/hybridnode/bootstrap/command/commandtest"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs/hostfstest"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

const sandbox = "registry.k8s.io/pause:3.10.2" // kubeadm 1.37's, the test spec's

// fakeCRI is crictl over an image store: inspecti answers from the store,
// pull adds to it (or fails as scripted). It counts the pulls in flight.
type fakeCRI struct {
	mu       sync.Mutex
	present  map[string]bool
	fail     map[string]string // image -> crictl's stderr
	inFlight int
	maxSeen  int
	// gate, when set, holds each pull until it is closed.
	gate chan struct{}
	// onPull is called with the pulls in flight as each starts.
	onPull func(inFlight int)
}

func newFakeCRI(h *fakeHost, present ...string) *fakeCRI {
	f := &fakeCRI{present: map[string]bool{}, fail: map[string]string{}}
	for _, p := range present {
		f.present[p] = true
	}
	h.cmd.On(crictlPath, f.run)
	return f
}

func (f *fakeCRI) run(c command.Cmd) (command.Result, error) {
	img := c.Args[len(c.Args)-1]
	switch c.Args[0] {
	case "inspecti":
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.present[img] {
			return command.Result{Stdout: []byte(`{"status": {"repoTags": ["` + img + `"]}}`)}, nil
		}
		return command.Result{ExitCode: 1, Stderr: []byte(`E1201 no such image "` + img + `" present` + "\n")}, nil
	case "pull":
		f.mu.Lock()
		f.inFlight++
		f.maxSeen = max(f.maxSeen, f.inFlight)
		if f.onPull != nil {
			f.onPull(f.inFlight)
		}
		gate := f.gate
		f.mu.Unlock()
		if gate != nil {
			<-gate
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.inFlight--
		if stderr, ok := f.fail[img]; ok {
			return command.Result{ExitCode: 1, Stderr: []byte(stderr)}, nil
		}
		f.present[img] = true
		return command.Result{Stdout: []byte("Image is up to date for sha256:0123\n")}, nil
	}
	return command.Result{ExitCode: 1, Stderr: []byte("unknown command " + c.Args[0])}, nil
}

// crictlCalls lists the crictl calls as "verb image", sorted (the pulls run
// in parallel, so their order is not fixed).
func crictlCalls(h *fakeHost) []string {
	var out []string
	for _, c := range h.cmd.History() {
		if c.Name == crictlPath {
			out = append(out, strings.Join(c.Args, " "))
		}
	}
	slices.Sort(out)
	return out
}

func readReport(t *testing.T, h *fakeHost) *Report {
	t.Helper()
	var rep Report
	if err := json.Unmarshal([]byte(h.read(t, hoststate.ReportPath)), &rep); err != nil {
		t.Fatal(err)
	}
	return &rep
}

// TestImagesBake: install pulls the sandbox image and prepullImages (named
// in full, each once), only those containerd lacks, parallelPulls at a
// time; the report says what was pulled. A second install pulls nothing
// and writes nothing but its report.
func TestImagesBake(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	cri := newFakeCRI(h, "registry.example.com/present:v1")
	// The pulls are held until parallelPulls run at once, and a little
	// longer, time enough for one more to start if the bound let it.
	cri.gate = make(chan struct{})
	var open sync.Once
	cri.onPull = func(n int) {
		if n == parallelPulls {
			time.AfterFunc(50*time.Millisecond, func() { open.Do(func() { close(cri.gate) }) })
		}
	}
	timer := time.AfterFunc(10*time.Second, func() { open.Do(func() { t.Error("the pulls did not run in parallel"); close(cri.gate) }) })
	defer timer.Stop()
	prepull := "registry.example.com/terway:v1.2,nginx," + sandbox + ",registry.example.com/present:v1,registry.example.com/a:1,registry.example.com/b@sha256:" + strings.Repeat("ab", 32)
	n := h.nodeEnv(t, srv.URL, map[string]string{"HYBRIDNODE_PREPULL_IMAGES": prepull}, nil)
	if _, err := Execute(context.Background(), n, InstallPhases(), ExecuteOptions{Bake: true}); err != nil {
		t.Fatal(err)
	}
	pulled := []string{sandbox, "registry.example.com/terway:v1.2", "docker.io/library/nginx:latest", "registry.example.com/a:1", "registry.example.com/b@sha256:" + strings.Repeat("ab", 32)}
	var want []string
	for _, img := range pulled {
		want = append(want, "inspecti "+img, "pull "+img)
	}
	want = append(want, "inspecti registry.example.com/present:v1")
	slices.Sort(want)
	if got := crictlCalls(h); !slices.Equal(got, want) {
		t.Errorf("crictl calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if cri.maxSeen != parallelPulls {
		t.Errorf("%d pulls at once, want %d", cri.maxSeen, parallelPulls)
	}
	// Each image is checked before it is pulled.
	seen := map[string]bool{}
	for _, c := range h.cmd.History() {
		if c.Name == crictlPath && c.Args[0] == "pull" && !seen["inspecti "+c.Args[1]] {
			t.Errorf("pulled %s without inspecting it first", c.Args[1])
		}
		seen[strings.Join(c.Args, " ")] = true
	}
	rep := readReport(t, h)
	status := map[string]string{}
	for _, im := range rep.Images {
		status[im.Image] = im.Status
	}
	if len(rep.Images) != 6 || status[sandbox] != "pulled" || status["docker.io/library/nginx:latest"] != "pulled" || status["registry.example.com/present:v1"] != "present" {
		t.Errorf("report images: %+v", rep.Images)
	}

	// Warm: everything is present.
	calls := len(h.cmd.History())
	var counter *hostfstest.Counter
	n2 := h.nodeEnv(t, srv.URL, map[string]string{"HYBRIDNODE_PREPULL_IMAGES": prepull}, func(f hostfs.FS) hostfs.FS { counter = hostfstest.Counting(f); return counter })
	if _, err := Execute(context.Background(), n2, InstallPhases(), ExecuteOptions{Bake: true}); err != nil {
		t.Fatal(err)
	}
	for _, c := range h.cmd.History()[calls:] {
		if c.Name == crictlPath && c.Args[0] == "pull" {
			t.Errorf("the second install pulled %s", c.Args[1])
		}
	}
	writes := counter.Writes()
	delete(writes, hoststate.ReportPath)
	if len(writes) != 0 {
		t.Errorf("the second install wrote %v", writes)
	}
}

// TestImagesJoin: a join pulls the sandbox image and prepullImages, only
// those containerd lacks; the report lists each.
func TestImagesJoin(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	for _, tc := range []struct {
		name    string
		present []string
		calls   []string
		sandbox string // its status in the report
	}{
		{"bare", nil, []string{"inspecti " + sandbox, "inspecti registry.example.com/terway:v1.2", "pull " + sandbox, "pull registry.example.com/terway:v1.2"}, "pulled"},
		{"baked", []string{sandbox}, []string{"inspecti " + sandbox, "inspecti registry.example.com/terway:v1.2", "pull registry.example.com/terway:v1.2"}, "present"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost(t)
			newFakeCRI(h, tc.present...)
			n := h.nodeEnv(t, srv.URL, map[string]string{"HYBRIDNODE_PREPULL_IMAGES": "registry.example.com/terway:v1.2"}, nil)
			if _, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true}); err != nil {
				t.Fatal(err)
			}
			slices.Sort(tc.calls)
			if got := crictlCalls(h); !slices.Equal(got, tc.calls) {
				t.Errorf("crictl calls %q, want %q", got, tc.calls)
			}
			rep := readReport(t, h)
			want := []string{sandbox + " " + tc.sandbox, "registry.example.com/terway:v1.2 pulled"}
			var got []string
			for _, im := range rep.Images {
				got = append(got, im.Image+" "+im.Status)
			}
			if !slices.Equal(got, want) {
				t.Errorf("report images %q, want %q", got, want)
			}
		})
	}
}

// heldPulls is the fake host's commands with each crictl pull held by
// hold before the fake CRI answers it. It records the order of events
// (each pull's start and end, kubeadm join's start) and counts the pulls
// running: none may be left when Execute returns. kubeadm join waits
// (10s at most) until a pull has started, so that a slow scheduler does
// not reorder what the tests look at.
type heldPulls struct {
	*commandtest.Fake
	hold    func(ctx context.Context, img string) error
	onJoin  func()
	running atomic.Int32
	mu      sync.Mutex
	events  []string
	started chan struct{}
	once    sync.Once
}

func newHeldPulls(f *commandtest.Fake, hold func(ctx context.Context, img string) error) *heldPulls {
	return &heldPulls{Fake: f, hold: hold, started: make(chan struct{})}
}

func (p *heldPulls) event(e string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, e)
}

func (p *heldPulls) Events() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

func (p *heldPulls) Run(ctx context.Context, c command.Cmd) (command.Result, error) {
	if c.Name == "kubeadm" && c.Args[0] == "join" {
		select {
		case <-p.started:
		case <-time.After(10 * time.Second):
		}
		p.event("kubeadm join")
		if p.onJoin != nil {
			p.onJoin()
		}
	}
	if c.Name != crictlPath || c.Args[0] != "pull" {
		return p.Fake.Run(ctx, c)
	}
	p.running.Add(1)
	defer p.running.Add(-1)
	img := c.Args[1]
	p.event("pull " + img)
	p.once.Do(func() { close(p.started) })
	if err := p.hold(ctx, img); err != nil {
		if ctx.Err() != nil {
			p.event("cancelled " + img)
		}
		return command.Result{ExitCode: -1}, err
	}
	p.event("pulled " + img)
	return p.Fake.Run(ctx, c)
}

// untilCancelled is a pull that ends only when its context does (or, so
// that a broken run fails the test instead of hanging it, after 10s).
func untilCancelled(ctx context.Context, img string) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Second):
		return errors.New("the pull was never cancelled")
	}
}

// statuses is the report's images as "image status".
func statuses(rep *Report) []string {
	var out []string
	for _, im := range rep.Images {
		out = append(out, im.Image+" "+im.Status)
	}
	return out
}

// TestImagesJoinOverlapsJoin: in a join the images phase returns at once
// and the pulls go on while kubeadm joins: a pull that finishes only once
// kubeadm join has started does not hold the join back. The report lists
// the sandbox image pulled.
func TestImagesJoinOverlapsJoin(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	newFakeCRI(h)
	joined := make(chan struct{})
	var once sync.Once
	p := newHeldPulls(h.cmd, nil)
	p.onJoin = func() { once.Do(func() { close(joined) }) }
	p.hold = func(ctx context.Context, img string) error {
		select {
		case <-joined:
			time.Sleep(20 * time.Millisecond) // still pulling when kubeadm join is under way
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
			return errors.New("kubeadm join did not start while the pull ran")
		}
	}
	n := h.nodeEnv(t, srv.URL, map[string]string{"HYBRIDNODE_PREPULL_IMAGES": "registry.example.com/terway:v1.2"}, nil)
	n.Cmd = p
	if _, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatal(err)
	}
	if p.running.Load() != 0 {
		t.Errorf("%d pulls still running after Execute", p.running.Load())
	}
	ev := p.Events()
	join := slices.Index(ev, "kubeadm join")
	for _, img := range []string{sandbox, "registry.example.com/terway:v1.2"} {
		start, end := slices.Index(ev, "pull "+img), slices.Index(ev, "pulled "+img)
		if start < 0 || join < 0 || end < 0 || !(start < join && join < end) {
			t.Errorf("%s: want its pull started before kubeadm join and ended after it: %q", img, ev)
		}
	}
	rep := readReport(t, h)
	if want := []string{sandbox + " pulled", "registry.example.com/terway:v1.2 pulled"}; !slices.Equal(statuses(rep), want) || rep.Result != "succeeded" {
		t.Errorf("report %s, images %q, want %q", rep.Result, statuses(rep), want)
	}
	for _, im := range rep.Images {
		if im.Seconds < 0.02 {
			t.Errorf("%s pulled in %gs, want the time it took", im.Image, im.Seconds)
		}
	}
}

// TestImagesJoinBound: a join waits for its pulls at most pullWait after
// the last phase, then cancels those still running (recorded cancelled);
// a shorter downloadTimeout ends them first (recorded failed). Either way
// the node joins, and no pull outlives Execute.
func TestImagesJoinBound(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	for _, tc := range []struct {
		name      string
		wait      time.Duration
		downloads time.Duration
		status    string
		error     string
	}{
		{"pullWait", 100 * time.Millisecond, time.Minute, "cancelled", "still running 100ms after the last phase"},
		{"downloadTimeout", time.Minute, 100 * time.Millisecond, "failed", "the image pulls did not finish within downloadTimeout (100ms; HYBRIDNODE_DOWNLOAD_TIMEOUT)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(w, d time.Duration) { pullWait, installDeadline = w, d }(pullWait, installDeadline)
			pullWait, installDeadline = tc.wait, time.Minute // the downloads keep their own bound
			h := newFakeHost(t)
			newFakeCRI(h)
			p := newHeldPulls(h.cmd, untilCancelled)
			n := h.node(t, srv.URL, nil)
			n.Cmd = p
			n.Spec.DownloadTimeout = config.Duration(tc.downloads)
			start := time.Now()
			if _, err := Execute(context.Background(), n, Phases(), ExecuteOptions{Join: true}); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("the join took %s: the pulls were not bounded", d)
			}
			if p.running.Load() != 0 {
				t.Errorf("%d pulls still running after Execute", p.running.Load())
			}
			if ev := p.Events(); !slices.Contains(ev, "cancelled "+sandbox) {
				t.Errorf("the pull did not see its context end: %q", ev)
			}
			rep := readReport(t, h)
			if rep.Result != "succeeded" || len(rep.Images) != 1 || rep.Images[0].Status != tc.status || !strings.Contains(rep.Images[0].Error, tc.error) {
				t.Errorf("report %s, images %+v; want %s: %s", rep.Result, rep.Images, tc.status, tc.error)
			}
		})
	}
}

// TestImagesJoinFailsCancelsPulls: a failed join, or an interrupted one,
// cancels the pulls at once (not after pullWait): nothing keeps a failed
// run alive, and no pull outlives Execute.
func TestImagesJoinFailsCancelsPulls(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	for _, tc := range []struct {
		name  string
		exit  int
		error string
	}{
		{"join fails", ExitJoin, "the run failed"},
		{"interrupted", ExitInterrupted, "context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(w time.Duration) { pullWait = w }(pullWait)
			pullWait = time.Minute
			h := newFakeHost(t)
			newFakeCRI(h)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p := newHeldPulls(h.cmd, untilCancelled)
			if tc.exit == ExitInterrupted {
				p.onJoin = cancel // Ctrl-C during kubeadm join
			} else {
				h.cmd.On("kubeadm", func(c command.Cmd) (command.Result, error) {
					if c.Args[0] == "join" {
						return command.Result{ExitCode: 1, Stderr: []byte("error execution phase preflight")}, nil
					}
					return command.Result{}, nil
				})
			}
			n := h.node(t, srv.URL, nil)
			n.Cmd = p
			n.Spec.JoinAttempts = 1
			start := time.Now()
			_, err := Execute(ctx, n, Phases(), ExecuteOptions{Join: true})
			if ExitCode(err) != tc.exit {
				t.Fatalf("exit %d, want %d: %v", ExitCode(err), tc.exit, err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("the failed join took %s: its pulls kept it alive", d)
			}
			if p.running.Load() != 0 {
				t.Errorf("%d pulls still running after Execute", p.running.Load())
			}
			if ev := p.Events(); !slices.Contains(ev, "cancelled "+sandbox) {
				t.Errorf("the pull did not see its context end: %q", ev)
			}
			rep := readReport(t, h)
			if rep.Result != "failed" || len(rep.Images) != 1 || rep.Images[0].Status != "cancelled" || !strings.Contains(rep.Images[0].Error, tc.error) {
				t.Errorf("report %s, images %+v; want cancelled: %s", rep.Result, rep.Images, tc.error)
			}
		})
	}
}

// TestImagesBakeSynchronous: install pulls within the images phase: every
// pull has ended before the kubelet phase starts.
func TestImagesBakeSynchronous(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	h := newFakeHost(t)
	newFakeCRI(h)
	p := newHeldPulls(h.cmd, func(ctx context.Context, img string) error {
		time.Sleep(50 * time.Millisecond)
		return nil
	})
	n := h.nodeEnv(t, srv.URL, map[string]string{"HYBRIDNODE_PREPULL_IMAGES": "registry.example.com/terway:v1.2"}, nil)
	n.Cmd = p
	if _, err := Execute(context.Background(), n, InstallPhases(), ExecuteOptions{Bake: true}); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, e := range h.logs.All() {
		switch {
		case e.Message == "pulled image":
			order = append(order, "pulled "+e.ContextMap()["image"].(string))
		case e.Message == "phase start" && e.ContextMap()["phase"] == "kubelet":
			order = append(order, "kubelet")
		}
	}
	want := []string{"pulled registry.example.com/terway:v1.2", "pulled " + sandbox, "kubelet"} // the pulls sorted
	if slices.Sort(order[:len(order)-1]); !slices.Equal(order, want) {
		t.Errorf("order %q, want %q", order, want)
	}
	rep := readReport(t, h)
	for _, ph := range rep.Phases {
		if ph.Name == "images" && ph.Seconds < 0.05 {
			t.Errorf("the images phase took %gs, less than its pulls", ph.Seconds)
		}
	}
	if want := []string{sandbox + " pulled", "registry.example.com/terway:v1.2 pulled"}; !slices.Equal(statuses(rep), want) {
		t.Errorf("report images %q, want %q", statuses(rep), want)
	}
}

const pullStderr = "time=\"2026-12-01T10:00:00Z\" level=debug msg=\"get image connection\"\n" +
	"E1201 10:00:01 remote_image.go:180] \"PullImage from image service failed\" err=\"rpc error\"\n" +
	"FATA[0001] pulling image: rpc error: code = NotFound desc = failed to pull and unpack image \"registry.example.com/gone:v9\": not found\n"

// TestImagesPullFails: a failed pull fails install with the service exit
// code, naming the image and crictl's last stderr line (the other images are
// still pulled); in a join it is only a warning and the node joins.
func TestImagesPullFails(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	env := map[string]string{"HYBRIDNODE_PREPULL_IMAGES": "registry.example.com/gone:v9,registry.example.com/terway:v1.2"}

	h := newFakeHost(t)
	cri := newFakeCRI(h)
	cri.fail["registry.example.com/gone:v9"] = pullStderr
	_, err := Execute(context.Background(), h.nodeEnv(t, srv.URL, env, nil), InstallPhases(), ExecuteOptions{Bake: true})
	if ExitCode(err) != ExitService {
		t.Fatalf("exit %d, want %d: %v", ExitCode(err), ExitService, err)
	}
	var pe *PhaseError
	if !errors.As(err, &pe) || pe.Phase != "images" {
		t.Errorf("not a failure of the images phase: %v", err)
	}
	last := `pulling registry.example.com/gone:v9: FATA[0001] pulling image: rpc error: code = NotFound desc = failed to pull and unpack image "registry.example.com/gone:v9": not found`
	if !strings.Contains(err.Error(), last) || strings.Contains(err.Error(), "remote_image.go") {
		t.Errorf("error %q, want the image and crictl's last line only", err)
	}
	if !cri.present["registry.example.com/terway:v1.2"] || !cri.present[sandbox] {
		t.Error("one failed pull stopped the others")
	}
	rep := readReport(t, h)
	if rep.ExitCode != ExitService || !strings.Contains(rep.Error, "registry.example.com/gone:v9") {
		t.Errorf("report: exit %d, error %q", rep.ExitCode, rep.Error)
	}

	// The join: a warning, and the node joins.
	h = newFakeHost(t)
	cri = newFakeCRI(h)
	cri.fail["registry.example.com/gone:v9"] = pullStderr
	if _, err := Execute(context.Background(), h.nodeEnv(t, srv.URL, env, nil), Phases(), ExecuteOptions{Join: true}); err != nil {
		t.Fatalf("join failed on a failed pull: %v", err)
	}
	warned := false
	for _, e := range h.logs.FilterMessageSnippet("image pull failed").All() {
		warned = warned || e.ContextMap()["image"] == "registry.example.com/gone:v9" && strings.Contains(e.ContextMap()["error"].(string), "not found")
	}
	if !warned {
		t.Error("no warning naming the image")
	}
	if kubeadmCalls(h) != "join" {
		t.Errorf("kubeadm calls %q", kubeadmCalls(h))
	}
	if rep := readReport(t, h); rep.Result != "succeeded" || len(rep.Images) != 3 {
		t.Errorf("report: %s, images %+v", rep.Result, rep.Images)
	}
}

// hangingPull is a crictl pull that never finishes by itself.
type hangingPull struct{ *fakeHost }

func (h hangingPull) Run(ctx context.Context, c command.Cmd) (command.Result, error) {
	if c.Name == crictlPath && c.Args[0] == "pull" {
		<-ctx.Done()
		return command.Result{ExitCode: -1}, ctx.Err()
	}
	return h.cmd.Run(ctx, c)
}

// TestImagesTimeouts: a pull is bounded by pullTimeout, all of them by
// downloadTimeout; the error says which.
func TestImagesTimeouts(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	for _, tc := range []struct {
		name            string
		pull, downloads time.Duration
		want            string
	}{
		{"one pull", 20 * time.Millisecond, time.Minute, "pulling " + sandbox + ": did not finish within 20ms"},
		{"all pulls", time.Minute, 20 * time.Millisecond, "pulling " + sandbox + ": the image pulls did not finish within downloadTimeout (20ms; HYBRIDNODE_DOWNLOAD_TIMEOUT)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(p, d time.Duration) { pullTimeout, installDeadline = p, d }(pullTimeout, installDeadline)
			pullTimeout, installDeadline = tc.pull, time.Minute // the downloads keep their own bound
			h := newFakeHost(t)
			newFakeCRI(h)
			n := h.node(t, srv.URL, nil)
			n.Cmd = hangingPull{h}
			n.Spec.DownloadTimeout = config.Duration(tc.downloads)
			_, err := Execute(context.Background(), n, InstallPhases(), ExecuteOptions{Bake: true})
			if ExitCode(err) != ExitService || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("exit %d: %v\nwant %q", ExitCode(err), err, tc.want)
			}
		})
	}
}

// TestImagesSkipAndDryRun: --skip-phases images pulls nothing; a dry run
// (install, or join's plan) runs nothing and lists the pulls, the sandbox
// image's among them.
func TestImagesSkipAndDryRun(t *testing.T) {
	srv := newArtifactServer(t, "r1")
	env := map[string]string{"HYBRIDNODE_PREPULL_IMAGES": "registry.example.com/terway:v1.2"}
	for _, tc := range []struct {
		name   string
		phases []Phase
		opts   ExecuteOptions
	}{
		{"install", InstallPhases(), ExecuteOptions{Bake: true}},
		{"join", Phases(), ExecuteOptions{Join: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost(t)
			newFakeCRI(h)
			phases, err := Select(tc.phases, nil, []string{"images"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Execute(context.Background(), h.nodeEnv(t, srv.URL, env, nil), phases, tc.opts); err != nil {
				t.Fatal(err)
			}
			if got := crictlCalls(h); len(got) != 0 {
				t.Errorf("--skip-phases images ran %q", got)
			}
			if rep := readReport(t, h); len(rep.Images) != 0 {
				t.Errorf("--skip-phases images reported %+v", rep.Images)
			}
			if _, err := Select(tc.phases, nil, []string{"image"}); ExitCode(err) != ExitInvalid {
				t.Errorf("an unknown phase: %v", err)
			}

			h = newFakeHost(t)
			newFakeCRI(h)
			var counter *hostfstest.Counter
			n := h.nodeEnv(t, srv.URL, env, func(f hostfs.FS) hostfs.FS { counter = hostfstest.Counting(f); return counter })
			dry := tc.opts
			dry.DryRun = true
			if _, err := Execute(context.Background(), n, tc.phases, dry); err != nil {
				t.Fatal(err)
			}
			if len(h.cmd.History()) != 0 || counter.Total() != 0 {
				t.Fatalf("the dry run acted: %q, writes %v", h.cmd.Lines(), counter.Writes())
			}
			var out bytes.Buffer
			PrintPlan(&out, n)
			plan := out.String()
			for _, want := range []string{
				"Image pulls (2):",
				"pull " + sandbox + ": " + crictlPath + " pull, unless containerd has it",
				"pull registry.example.com/terway:v1.2:",
			} {
				if !strings.Contains(plan, want) {
					t.Errorf("plan lacks %q:\n%s", want, plan)
				}
			}
		})
	}
}
