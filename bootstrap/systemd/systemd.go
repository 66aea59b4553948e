// Package systemd is the one systemd seam: D-Bus for the live host, offline
// (a root other than "/": enable by symlink), a fake for tests, and dry-run.
// Unit names are full names ("kubelet.service").
package systemd

import "context"

// Manager manages systemd units.
type Manager interface {
	// DaemonReload reloads unit files.
	DaemonReload(ctx context.Context) error
	// Enable enables unit; changed reports whether any symlink was created.
	Enable(ctx context.Context, unit string) (changed bool, err error)
	// Disable disables unit; changed reports whether any symlink was removed.
	Disable(ctx context.Context, unit string) (changed bool, err error)
	// Start starts unit and waits for the job result ("done", else an error naming unit and result).
	Start(ctx context.Context, unit string) error
	// Restart restarts unit and waits for the job result.
	Restart(ctx context.Context, unit string) error
	// Stop stops unit and waits for the job result.
	Stop(ctx context.Context, unit string) error
	// ActiveState returns "active", "inactive", "failed", "activating", ... ("unknown" offline).
	ActiveState(ctx context.Context, unit string) (string, error)
	// NRestarts is how often systemd restarted unit by its Restart= setting
	// (0 offline). A growing count during a join means a crash loop.
	NRestarts(ctx context.Context, unit string) (uint32, error)
	// Environment is the unit's Environment= settings as systemd has them
	// loaded (systemctl show -p Environment), "NAME=value" each, in order;
	// nil offline. Drop-ins written since the last daemon-reload are not
	// in it.
	Environment(ctx context.Context, unit string) ([]string, error)
	// EnvironmentFiles is the unit's EnvironmentFile= settings as systemd
	// has them loaded (systemctl show -p EnvironmentFiles), each path
	// "-" prefixed when the file is optional, as a unit file writes it, in
	// order; nil offline. The files themselves are read at each start.
	EnvironmentFiles(ctx context.Context, unit string) ([]string, error)
	// Live is false when there is no live host (offline root).
	Live() bool
	// Close releases the connection, if any.
	Close()
}
