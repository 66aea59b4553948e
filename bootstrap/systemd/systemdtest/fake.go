// Package systemdtest holds an in-memory systemd.Manager for tests.
package systemdtest

import (
	"context"
	"fmt"
	"sync"

	"github.com/hybridnode/hybridnode/bootstrap/systemd"
)

var _ systemd.Manager = (*Fake)(nil)

// Fake is an in-memory systemd.Manager for tests. It records every mutating call in
// Calls ("daemon-reload", "enable kubelet.service", "start kubelet.service",
// "restart containerd.service", "stop x", "disable x"; ActiveState reads are
// not recorded). Start and Restart make a unit "active", Stop "inactive";
// unknown units are "inactive". It is safe for concurrent use.
type Fake struct {
	mu        sync.Mutex
	Calls     []string // read after the calls are done, or use History
	states    map[string]string
	enabled   map[string]bool
	fail      map[string]error
	counts    map[string]int // "start x" -> n
	notLive   bool
	nrestarts map[string]uint32
	env       map[string][]string
	envFiles  map[string][]string
	isClosed  bool
}

// New returns a live Fake with no units.
func New() *Fake {
	return &Fake{states: map[string]string{}, enabled: map[string]bool{}, fail: map[string]error{}, counts: map[string]int{}}
}

// SetState sets the state ActiveState reports for unit.
func (f *Fake) SetState(unit, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states[unit] = state
}

// FailOn makes the call (as recorded in Calls, e.g. "start kubelet.service")
// return err; a nil err clears it. A failed Start or Restart leaves the unit "failed".
func (f *Fake) FailOn(call string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[call] = err
}

// SetLive sets what Live reports (true by default).
func (f *Fake) SetLive(live bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notLive = !live
}

// History returns a copy of Calls.
func (f *Fake) History() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.Calls...)
}

// Starts returns how many times unit was started (successfully or not).
func (f *Fake) Starts(unit string) int { return f.count("start " + unit) }

// Restarts returns how many times unit was restarted.
func (f *Fake) Restarts(unit string) int { return f.count("restart " + unit) }

// Stops returns how many times unit was stopped.
func (f *Fake) Stops(unit string) int { return f.count("stop " + unit) }

// Enabled reports whether unit is enabled.
func (f *Fake) Enabled(unit string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.enabled[unit]
}

// Closed reports whether Close was called.
func (f *Fake) Closed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.isClosed
}

func (f *Fake) count(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[call]
}

// call records op and returns the scripted error; f.mu must be held.
func (f *Fake) call(ctx context.Context, op, unit string) error {
	c := op
	if unit != "" {
		c += " " + unit
	}
	f.Calls = append(f.Calls, c)
	f.counts[c]++
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("systemd: %s: %w", c, err)
	}
	return f.fail[c]
}

// DaemonReload implements systemd.Manager.
func (f *Fake) DaemonReload(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.call(ctx, "daemon-reload", "")
}

// Enable implements systemd.Manager.
func (f *Fake) Enable(ctx context.Context, unit string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(ctx, "enable", unit); err != nil {
		return false, err
	}
	changed := !f.enabled[unit]
	f.enabled[unit] = true
	return changed, nil
}

// Disable implements systemd.Manager.
func (f *Fake) Disable(ctx context.Context, unit string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(ctx, "disable", unit); err != nil {
		return false, err
	}
	changed := f.enabled[unit]
	f.enabled[unit] = false
	return changed, nil
}

func (f *Fake) transition(ctx context.Context, op, unit, state string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(ctx, op, unit); err != nil {
		if op != "stop" {
			f.states[unit] = "failed"
		}
		return err
	}
	f.states[unit] = state
	return nil
}

// Start implements systemd.Manager.
func (f *Fake) Start(ctx context.Context, unit string) error {
	return f.transition(ctx, "start", unit, "active")
}

// Restart implements systemd.Manager.
func (f *Fake) Restart(ctx context.Context, unit string) error {
	return f.transition(ctx, "restart", unit, "active")
}

// Stop implements systemd.Manager.
func (f *Fake) Stop(ctx context.Context, unit string) error {
	return f.transition(ctx, "stop", unit, "inactive")
}

// ActiveState implements systemd.Manager.
func (f *Fake) ActiveState(ctx context.Context, unit string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("systemd: active state of %s: %w", unit, err)
	}
	if s, ok := f.states[unit]; ok {
		return s, nil
	}
	return "inactive", nil
}

// SetNRestarts sets what NRestarts reports for unit.
func (f *Fake) SetNRestarts(unit string, n uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nrestarts == nil {
		f.nrestarts = map[string]uint32{}
	}
	f.nrestarts[unit] = n
}

// NRestarts implements systemd.Manager.
func (f *Fake) NRestarts(ctx context.Context, unit string) (uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nrestarts[unit], ctx.Err()
}

// SetEnvironment sets what Environment reports for unit.
func (f *Fake) SetEnvironment(unit string, env ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.env == nil {
		f.env = map[string][]string{}
	}
	f.env[unit] = append([]string(nil), env...)
}

// Environment implements systemd.Manager: what SetEnvironment set, else nil.
func (f *Fake) Environment(ctx context.Context, unit string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.env[unit]...), ctx.Err()
}

// SetEnvironmentFiles sets what EnvironmentFiles reports for unit.
func (f *Fake) SetEnvironmentFiles(unit string, files ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.envFiles == nil {
		f.envFiles = map[string][]string{}
	}
	f.envFiles[unit] = append([]string(nil), files...)
}

// EnvironmentFiles implements systemd.Manager: what SetEnvironmentFiles
// set, else nil.
func (f *Fake) EnvironmentFiles(ctx context.Context, unit string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.envFiles[unit]...), ctx.Err()
}

// Live implements systemd.Manager.
func (f *Fake) Live() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.notLive
}

// Close implements systemd.Manager.
func (f *Fake) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.isClosed = true
}
