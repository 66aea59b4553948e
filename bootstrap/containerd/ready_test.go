package containerd

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	versionapi "github.com/containerd/containerd/api/services/version/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestRuntimeReady(t *testing.T) {
	cond := func(typ string, ok bool) *runtimeapi.RuntimeCondition {
		return &runtimeapi.RuntimeCondition{Type: typ, Status: ok, Reason: "R", Message: "M"}
	}
	status := func(cs ...*runtimeapi.RuntimeCondition) *runtimeapi.StatusResponse {
		return &runtimeapi.StatusResponse{Status: &runtimeapi.RuntimeStatus{Conditions: cs}}
	}
	tests := []struct {
		name    string
		resp    *runtimeapi.StatusResponse
		wantErr string
	}{
		{"nil response", nil, "empty response"},
		{"nil status", &runtimeapi.StatusResponse{}, "empty response"},
		{"no conditions", status(), "no RuntimeReady condition"},
		{"only network", status(cond(runtimeapi.NetworkReady, true)), "no RuntimeReady condition"},
		{"runtime not ready", status(cond(runtimeapi.RuntimeReady, false), cond(runtimeapi.NetworkReady, true)), "RuntimeReady is false"},
		{"runtime ready, network not ready", status(cond(runtimeapi.RuntimeReady, true), cond(runtimeapi.NetworkReady, false)), ""},
		{"runtime ready", status(cond(runtimeapi.NetworkReady, true), cond(runtimeapi.RuntimeReady, true)), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := runtimeReady(tc.resp)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

type fakeVersion struct {
	versionapi.UnimplementedVersionServer
}

func (fakeVersion) Version(context.Context, *emptypb.Empty) (*versionapi.VersionResponse, error) {
	return &versionapi.VersionResponse{Version: "v2.2.0", Revision: "abc123"}, nil
}

// fakeCRI reports RuntimeReady=false for the first notReadyCalls calls,
// then true; NetworkReady is always false (no CNI yet).
type fakeCRI struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	notReadyCalls int32
	calls         atomic.Int32
}

func (f *fakeCRI) Status(context.Context, *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	n := f.calls.Add(1)
	ready := n > f.notReadyCalls
	return &runtimeapi.StatusResponse{Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
		{Type: runtimeapi.RuntimeReady, Status: ready, Reason: "CRIStarting", Message: "cri plugin is initializing"},
		{Type: runtimeapi.NetworkReady, Status: false, Reason: "NetworkPluginNotReady", Message: "cni plugin not initialized"},
	}}}, nil
}

// socketPath returns a short socket path (sun_path is limited to 108 bytes).
func socketPath(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if len(dir) > 80 {
		d, err := os.MkdirTemp("", "cd")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		dir = d
	}
	return filepath.Join(dir, "containerd.sock")
}

func serve(t *testing.T, socket string, cri runtimeapi.RuntimeServiceServer) {
	t.Helper()
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	versionapi.RegisterVersionServer(s, fakeVersion{})
	if cri != nil {
		runtimeapi.RegisterRuntimeServiceServer(s, cri)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = s.Serve(l)
	}()
	t.Cleanup(func() {
		s.Stop()
		wg.Wait()
	})
}

func TestWaitReadyImmediately(t *testing.T) {
	sock := socketPath(t)
	cri := &fakeCRI{}
	serve(t, sock, cri)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := WaitReady(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	if info != (Info{Version: "v2.2.0", Revision: "abc123"}) {
		t.Errorf("info = %+v", info)
	}
	if cri.calls.Load() != 1 {
		t.Errorf("Status called %d times, want 1", cri.calls.Load())
	}
}

func TestWaitReadyUnixScheme(t *testing.T) {
	sock := socketPath(t)
	serve(t, sock, &fakeCRI{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := WaitReady(ctx, "unix://"+sock); err != nil {
		t.Fatal(err)
	}
}

func TestWaitReadyAfterCRIStarts(t *testing.T) {
	sock := socketPath(t)
	cri := &fakeCRI{notReadyCalls: 2}
	serve(t, sock, cri)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := WaitReady(ctx, sock); err != nil {
		t.Fatal(err)
	}
	if got := cri.calls.Load(); got != 3 {
		t.Errorf("Status called %d times, want 3", got)
	}
}

func TestWaitReadySocketAppearsLate(t *testing.T) {
	sock := socketPath(t)
	// Serve on another name and move the socket into place later: the
	// path appears only then, as when containerd starts.
	hidden := sock + ".hidden"
	serve(t, hidden, &fakeCRI{})
	timer := time.AfterFunc(700*time.Millisecond, func() { _ = os.Rename(hidden, sock) })
	defer timer.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := WaitReady(ctx, sock); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 600*time.Millisecond {
		t.Errorf("ready after %v, before the server started", d)
	}
}

func TestWaitReadyTimeoutNotReady(t *testing.T) {
	sock := socketPath(t)
	serve(t, sock, &fakeCRI{notReadyCalls: 1 << 30})
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	_, err := WaitReady(ctx, sock)
	if err == nil {
		t.Fatal("want an error")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error does not wrap the context error: %v", err)
	}
	for _, want := range []string{sock, "RuntimeReady is false", "cri plugin is initializing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestWaitReadyNoCRI(t *testing.T) {
	sock := socketPath(t)
	serve(t, sock, nil) // version service only: CRI plugin disabled
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	_, err := WaitReady(ctx, sock)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{sock, "RuntimeService/Status", "Unimplemented"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestWaitReadyNoSocket(t *testing.T) {
	sock := socketPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := WaitReady(ctx, sock)
	if err == nil {
		t.Fatal("want an error")
	}
	if !strings.Contains(err.Error(), sock) || !strings.Contains(err.Error(), "connecting") {
		t.Errorf("error %q does not name the socket and the connection error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v, want about the context's 500ms", d)
	}
}

func TestWaitReadyEmptyAddress(t *testing.T) {
	if _, err := WaitReady(context.Background(), " "); err == nil {
		t.Fatal("want an error")
	}
}
