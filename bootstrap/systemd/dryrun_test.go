package systemd_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/systemd"
	"github.com/hybridnode/hybridnode/bootstrap/systemd/systemdtest"
)

// TestDryRun is an external test: it needs systemdtest, which imports systemd.
func TestDryRun(t *testing.T) {
	base := systemdtest.New()
	base.SetState("kubelet.service", "failed")
	rec := &hostfs.Recorder{}
	m := systemd.DryRun(base, rec)
	ctx := context.Background()
	m.DaemonReload(ctx)
	if changed, err := m.Enable(ctx, "kubelet.service"); !changed || err != nil {
		t.Errorf("Enable = %v, %v", changed, err)
	}
	m.Restart(ctx, "containerd.service")
	m.Start(ctx, "kubelet.service")
	m.Stop(ctx, "x.service")
	m.Disable(ctx, "x.service")
	want := []hostfs.Change{
		{Op: hostfs.OpSystemd, Detail: "daemon-reload"},
		{Op: hostfs.OpSystemd, Path: "kubelet.service", Detail: "enable"},
		{Op: hostfs.OpSystemd, Path: "containerd.service", Detail: "restart"},
		{Op: hostfs.OpSystemd, Path: "kubelet.service", Detail: "start"},
		{Op: hostfs.OpSystemd, Path: "x.service", Detail: "stop"},
		{Op: hostfs.OpSystemd, Path: "x.service", Detail: "disable"},
	}
	if got := rec.Changes(); !slices.Equal(got, want) {
		t.Errorf("changes = %+v\nwant %+v", got, want)
	}
	if len(base.History()) != 0 {
		t.Errorf("dry run reached the base: %v", base.History())
	}
	if s, _ := m.ActiveState(ctx, "kubelet.service"); s != "failed" || !m.Live() {
		t.Errorf("ActiveState = %q, Live = %v; want the base's", s, m.Live())
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := m.Start(cctx, "kubelet.service"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Start err = %v", err)
	}
}
