package systemd

import (
	"context"
	"fmt"

	"github.com/coreos/go-systemd/v22/dbus"
)

type dbusManager struct{ conn *dbus.Conn }

// NewDBus connects to systemd over its private socket (/run/systemd/private),
// falling back to the system bus.
func NewDBus(ctx context.Context) (Manager, error) {
	conn, err := dbus.NewSystemdConnectionContext(ctx)
	if err != nil {
		var err2 error
		if conn, err2 = dbus.NewWithContext(ctx); err2 != nil {
			return nil, fmt.Errorf("systemd: connect (private socket: %v; system bus): %w", err, err2)
		}
	}
	return &dbusManager{conn: conn}, nil
}

func (m *dbusManager) DaemonReload(ctx context.Context) error {
	if err := m.conn.ReloadContext(ctx); err != nil {
		return fmt.Errorf("systemd: daemon-reload: %w", err)
	}
	return nil
}

func (m *dbusManager) Enable(ctx context.Context, unit string) (bool, error) {
	if p, err := m.conn.GetUnitPropertyContext(ctx, unit, "UnitFileState"); err == nil {
		if s, ok := p.Value.Value().(string); ok && s == "enabled" {
			return false, nil
		}
	}
	_, changes, err := m.conn.EnableUnitFilesContext(ctx, []string{unit}, false, true)
	if err != nil {
		return false, fmt.Errorf("systemd: enable %s: %w", unit, err)
	}
	return len(changes) > 0, nil
}

func (m *dbusManager) Disable(ctx context.Context, unit string) (bool, error) {
	changes, err := m.conn.DisableUnitFilesContext(ctx, []string{unit}, false)
	if err != nil {
		return false, fmt.Errorf("systemd: disable %s: %w", unit, err)
	}
	return len(changes) > 0, nil
}

type jobFunc func(ctx context.Context, name, mode string, ch chan<- string) (int, error)

// job enqueues a job in "replace" mode and waits for its result.
func job(ctx context.Context, op, unit string, fn jobFunc) error {
	ch := make(chan string, 1)
	if _, err := fn(ctx, unit, "replace", ch); err != nil {
		return fmt.Errorf("systemd: %s %s: %w", op, unit, err)
	}
	select {
	case res := <-ch:
		if res != "done" {
			return fmt.Errorf("systemd: %s %s: job result %q", op, unit, res)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("systemd: %s %s: waiting for the job: %w", op, unit, ctx.Err())
	}
}

func (m *dbusManager) Start(ctx context.Context, unit string) error {
	return job(ctx, "start", unit, m.conn.StartUnitContext)
}

func (m *dbusManager) Restart(ctx context.Context, unit string) error {
	return job(ctx, "restart", unit, m.conn.RestartUnitContext)
}

func (m *dbusManager) Stop(ctx context.Context, unit string) error {
	return job(ctx, "stop", unit, m.conn.StopUnitContext)
}

func (m *dbusManager) ActiveState(ctx context.Context, unit string) (string, error) {
	p, err := m.conn.GetUnitPropertyContext(ctx, unit, "ActiveState")
	if err != nil {
		return "", fmt.Errorf("systemd: active state of %s: %w", unit, err)
	}
	s, ok := p.Value.Value().(string)
	if !ok {
		return "", fmt.Errorf("systemd: active state of %s: unexpected value %s", unit, p.Value)
	}
	return s, nil
}

func (m *dbusManager) NRestarts(ctx context.Context, unit string) (uint32, error) {
	p, err := m.conn.GetServicePropertyContext(ctx, unit, "NRestarts")
	if err != nil {
		return 0, fmt.Errorf("systemd: restarts of %s: %w", unit, err)
	}
	n, ok := p.Value.Value().(uint32)
	if !ok {
		return 0, fmt.Errorf("systemd: restarts of %s: unexpected value %s", unit, p.Value)
	}
	return n, nil
}

func (m *dbusManager) Environment(ctx context.Context, unit string) ([]string, error) {
	p, err := m.conn.GetServicePropertyContext(ctx, unit, "Environment")
	if err != nil {
		return nil, fmt.Errorf("systemd: environment of %s: %w", unit, err)
	}
	env, ok := p.Value.Value().([]string)
	if !ok {
		return nil, fmt.Errorf("systemd: environment of %s: unexpected value of type %s", unit, p.Value.Signature())
	}
	return env, nil
}

func (m *dbusManager) EnvironmentFiles(ctx context.Context, unit string) ([]string, error) {
	p, err := m.conn.GetServicePropertyContext(ctx, unit, "EnvironmentFiles")
	if err != nil {
		return nil, fmt.Errorf("systemd: environment files of %s: %w", unit, err)
	}
	// a(sb): the path, and whether a missing file is fine ("-").
	list, ok := p.Value.Value().([][]any)
	if !ok {
		return nil, fmt.Errorf("systemd: environment files of %s: unexpected value of type %s", unit, p.Value.Signature())
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		var path string
		var optional, ok1, ok2 bool
		if len(e) == 2 {
			path, ok1 = e[0].(string)
			optional, ok2 = e[1].(bool)
		}
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("systemd: environment files of %s: unexpected entry %v", unit, e)
		}
		if optional {
			path = "-" + path
		}
		out = append(out, path)
	}
	return out, nil
}

func (m *dbusManager) Live() bool { return true }
func (m *dbusManager) Close()     { m.conn.Close() }
