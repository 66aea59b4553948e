package systemd

import (
	"context"
	"fmt"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
)

type dryRun struct {
	base Manager
	rec  *hostfs.Recorder
}

// DryRun returns a Manager that records every action as a "systemd" Change
// (Path: the unit, Detail: the action) instead of performing it, and reads
// ActiveState and Live from base. Enable and Disable report changed. For an
// offline root use NewOffline over a hostfs.DryRun FS instead: its symlinks
// are then recorded by the FS.
func DryRun(base Manager, rec *hostfs.Recorder) Manager { return &dryRun{base: base, rec: rec} }

func (d *dryRun) add(ctx context.Context, action, unit string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("systemd: %s %s: %w", action, unit, err)
	}
	d.rec.Add(hostfs.Change{Op: hostfs.OpSystemd, Path: unit, Detail: action})
	return nil
}

func (d *dryRun) DaemonReload(ctx context.Context) error { return d.add(ctx, "daemon-reload", "") }
func (d *dryRun) Enable(ctx context.Context, unit string) (bool, error) {
	err := d.add(ctx, "enable", unit)
	return err == nil, err
}
func (d *dryRun) Disable(ctx context.Context, unit string) (bool, error) {
	err := d.add(ctx, "disable", unit)
	return err == nil, err
}
func (d *dryRun) Start(ctx context.Context, unit string) error   { return d.add(ctx, "start", unit) }
func (d *dryRun) Restart(ctx context.Context, unit string) error { return d.add(ctx, "restart", unit) }
func (d *dryRun) Stop(ctx context.Context, unit string) error    { return d.add(ctx, "stop", unit) }
func (d *dryRun) ActiveState(ctx context.Context, unit string) (string, error) {
	return d.base.ActiveState(ctx, unit)
}
func (d *dryRun) NRestarts(ctx context.Context, unit string) (uint32, error) {
	return d.base.NRestarts(ctx, unit)
}
func (d *dryRun) Environment(ctx context.Context, unit string) ([]string, error) {
	return d.base.Environment(ctx, unit)
}
func (d *dryRun) EnvironmentFiles(ctx context.Context, unit string) ([]string, error) {
	return d.base.EnvironmentFiles(ctx, unit)
}
func (d *dryRun) Live() bool { return d.base.Live() }
func (d *dryRun) Close()     { d.base.Close() }
