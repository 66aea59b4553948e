package systemdtest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
)

func TestFake(t *testing.T) {
	f := New()
	ctx := context.Background()
	boom := errors.New("boom")
	f.FailOn("start kubelet.service", boom)
	f.SetState("containerd.service", "activating")

	steps := []struct {
		name      string
		do        func() (bool, error)
		wantCh    bool
		wantErr   error
		unit      string
		wantState string
	}{
		{"reload", func() (bool, error) { return false, f.DaemonReload(ctx) }, false, nil, "", ""},
		{"state as set", func() (bool, error) { return false, nil }, false, nil, "containerd.service", "activating"},
		{"enable", func() (bool, error) { return f.Enable(ctx, "containerd.service") }, true, nil, "", ""},
		{"enable again", func() (bool, error) { return f.Enable(ctx, "containerd.service") }, false, nil, "", ""},
		{"restart", func() (bool, error) { return false, f.Restart(ctx, "containerd.service") }, false, nil, "containerd.service", "active"},
		{"failed start", func() (bool, error) { return false, f.Start(ctx, "kubelet.service") }, false, boom, "kubelet.service", "failed"},
		{"stop", func() (bool, error) { return false, f.Stop(ctx, "containerd.service") }, false, nil, "containerd.service", "inactive"},
		{"disable", func() (bool, error) { return f.Disable(ctx, "containerd.service") }, true, nil, "", ""},
		{"unknown unit", func() (bool, error) { return false, nil }, false, nil, "nope.service", "inactive"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			changed, err := s.do()
			if !errors.Is(err, s.wantErr) || (err != nil) != (s.wantErr != nil) || changed != s.wantCh {
				t.Fatalf("= %v, %v; want %v, %v", changed, err, s.wantCh, s.wantErr)
			}
			if s.unit != "" {
				if st, _ := f.ActiveState(ctx, s.unit); st != s.wantState {
					t.Errorf("state of %s = %q, want %q", s.unit, st, s.wantState)
				}
			}
		})
	}
	want := []string{"daemon-reload", "enable containerd.service", "enable containerd.service", "restart containerd.service",
		"start kubelet.service", "stop containerd.service", "disable containerd.service"}
	if got := f.History(); !slices.Equal(got, want) {
		t.Errorf("calls = %q, want %q", got, want)
	}
	if f.Restarts("containerd.service") != 1 || f.Starts("kubelet.service") != 1 || f.Stops("containerd.service") != 1 || f.Starts("containerd.service") != 0 {
		t.Errorf("counters: restarts %d starts %d stops %d", f.Restarts("containerd.service"), f.Starts("kubelet.service"), f.Stops("containerd.service"))
	}
	if f.Enabled("containerd.service") || !f.Live() {
		t.Error("enabled/live state wrong")
	}
	f.SetLive(false)
	f.Close()
	if f.Live() || !f.Closed() {
		t.Error("SetLive/Close not reflected")
	}
}

func TestFakeConcurrent(t *testing.T) {
	f := New()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			f.Restart(context.Background(), "containerd.service")
			f.ActiveState(context.Background(), "containerd.service")
		})
	}
	wg.Wait()
	if n := f.Restarts("containerd.service"); n != 20 || len(f.History()) != 20 {
		t.Errorf("restarts = %d, calls = %d; want 20", n, len(f.History()))
	}
}
