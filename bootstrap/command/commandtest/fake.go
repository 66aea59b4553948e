// Package commandtest holds a scripted command.Runner for tests.
package commandtest

import (
	"context"
	"fmt"
	"sync"

	"github.com/hybridnode/hybridnode/bootstrap/command"
)

var _ command.Runner = (*Fake)(nil)

// Fake records every Cmd and answers from scripted handlers. The zero value
// answers every command with success and empty output. It is safe for
// concurrent use.
type Fake struct {
	mu       sync.Mutex
	handlers map[string]func(command.Cmd) (command.Result, error)
	// Calls holds every Cmd run, in order. Read it after the runs are done, or use History.
	Calls []command.Cmd
}

// On scripts the answer for commands named name. A handler returning a
// non-zero ExitCode and a nil error yields a *command.ExitError, like command.Exec.
func (f *Fake) On(name string, h func(command.Cmd) (command.Result, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.handlers == nil {
		f.handlers = map[string]func(command.Cmd) (command.Result, error){}
	}
	f.handlers[name] = h
}

// History returns a copy of Calls.
func (f *Fake) History() []command.Cmd {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]command.Cmd(nil), f.Calls...)
}

// Lines returns the String of every call, in order.
func (f *Fake) Lines() []string {
	var out []string
	for _, c := range f.History() {
		out = append(out, c.String())
	}
	return out
}

// Run implements command.Runner.
func (f *Fake) Run(ctx context.Context, c command.Cmd) (command.Result, error) {
	f.mu.Lock()
	f.Calls = append(f.Calls, c)
	h := f.handlers[c.Name]
	f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return command.Result{ExitCode: -1}, fmt.Errorf("command %s: %w", c, err)
	}
	if h == nil {
		return command.Result{}, nil
	}
	res, err := h(c)
	if c.Stdout != nil {
		c.Stdout.Write(res.Stdout)
	}
	if c.Stderr != nil {
		c.Stderr.Write(res.Stderr)
	}
	if err == nil && res.ExitCode != 0 {
		err = command.NewExitError(c, res.ExitCode, res.Stderr, nil)
	}
	return res, err
}
