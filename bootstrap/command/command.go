// Package command is the one seam for running host commands: Exec (os/exec)
// and DryRun (records, runs nothing); commandtest holds a fake for tests.
package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
)

// Cmd is one command to run.
type Cmd struct {
	Name string
	Args []string
	// Env entries ("K=V") are appended to the current environment; later
	// entries win. The variables of Withheld are left out of both: a child
	// never gets them, whether Env is nil or not.
	Env   []string
	Dir   string
	Stdin io.Reader
	// Stdout and Stderr, when set, receive live copies of the output (it is captured in Result as well).
	Stdout, Stderr io.Writer
}

var safeArg = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// String renders the command line with shell quoting. Env is left out: it may carry secrets.
func (c Cmd) String() string {
	parts := make([]string, 0, 1+len(c.Args))
	for _, a := range append([]string{c.Name}, c.Args...) {
		if !safeArg.MatchString(a) {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// Result is what a finished command produced.
type Result struct {
	Stdout, Stderr []byte
	ExitCode       int
}

// Runner runs commands.
type Runner interface {
	// Run runs c and waits for it. A non-zero exit is an error wrapping
	// *ExitError; the Result is returned in every case.
	Run(ctx context.Context, c Cmd) (Result, error)
}

// ExitError reports a command that exited non-zero.
type ExitError struct {
	Cmd    string // the quoted command line
	Code   int
	Stderr string // the last lines of stderr
	Err    error  // the underlying *exec.ExitError, nil from a fake
}

// Error names the command, the exit code and the tail of stderr.
func (e *ExitError) Error() string {
	msg := fmt.Sprintf("command %s: exit code %d", e.Cmd, e.Code)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *ExitError) Unwrap() error { return e.Err }

// NewExitError reports c exiting with code: it keeps the tail of stderr.
// err is the underlying error (an *exec.ExitError), or nil.
func NewExitError(c Cmd, code int, stderr []byte, err error) *ExitError {
	return &ExitError{Cmd: c.String(), Code: code, Stderr: tailLines(stderr), Err: err}
}

// tailLines returns at most the last 10 lines (and 2 KiB) of b, trimmed.
func tailLines(b []byte) string {
	s := strings.TrimSpace(string(b))
	if lines := strings.Split(s, "\n"); len(lines) > 10 {
		s = strings.Join(lines[len(lines)-10:], "\n")
	}
	if len(s) > 2048 {
		s = "..." + s[len(s)-2048:]
	}
	return s
}

// Exec runs commands with os/exec. Each command gets its own process group;
// cancelling the context kills the whole group.
type Exec struct {
	// WaitDelay bounds how long Run waits for output pipes after the process
	// exits or is killed (default 5s).
	WaitDelay time.Duration
}

// Run implements Runner.
func (e Exec) Run(ctx context.Context, c Cmd) (Result, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	cmd.Dir = c.Dir
	cmd.Stdin = c.Stdin
	cmd.Stdout, cmd.Stderr = tee(&stdout, c.Stdout), tee(&stderr, c.Stderr)
	// Always set: a nil Env would hand the child all of hybridnode's
	// environment, the withheld variables too.
	cmd.Env = childEnv(os.Environ(), c.Env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != syscall.ESRCH {
			return err
		}
		return os.ErrProcessDone
	}
	cmd.WaitDelay = e.WaitDelay
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 5 * time.Second
	}

	err := cmd.Run()
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: cmd.ProcessState.ExitCode()} // -1 when it never ran
	var xe *exec.ExitError
	switch {
	case err == nil:
		return res, nil
	case ctx.Err() != nil:
		return res, fmt.Errorf("command %s: killed: %w", c, ctx.Err())
	case errors.As(err, &xe):
		return res, NewExitError(c, res.ExitCode, res.Stderr, xe)
	default:
		return res, fmt.Errorf("command %s: %w", c, err)
	}
}

// Withheld are the variables of hybridnode's own environment that no
// command it runs gets: HYBRIDNODE_TOKEN, the bootstrap token. kubeadm
// gets the token in its 0600 --config file only; crictl, modprobe, sysctl,
// journalctl and kubeadm itself have no use for it, and a child's
// environment is readable in /proc/<pid>/environ and inherited by all it
// starts in turn. (ALIBABA_CLOUD_* and the other HYBRIDNODE_* variables
// are no secrets; the proxy variables a command needs come in its Env.)
var Withheld = []string{"HYBRIDNODE_TOKEN"}

// childEnv is base then extra ("K=V" each) without the Withheld
// variables; never nil.
func childEnv(base, extra []string) []string {
	out := make([]string, 0, len(base)+len(extra))
	for _, kv := range append(base[:len(base):len(base)], extra...) {
		name, _, ok := strings.Cut(kv, "=")
		if ok && slices.Contains(Withheld, name) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func tee(buf *bytes.Buffer, live io.Writer) io.Writer {
	if live == nil {
		return buf
	}
	return io.MultiWriter(buf, live)
}

type dryRun struct{ rec *hostfs.Recorder }

// DryRun returns a Runner that records each command as a "command" Change
// (Path: the name, Detail: the quoted command line), runs nothing and succeeds.
func DryRun(rec *hostfs.Recorder) Runner { return dryRun{rec} }

func (d dryRun) Run(ctx context.Context, c Cmd) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{ExitCode: -1}, fmt.Errorf("command %s: %w", c, err)
	}
	d.rec.Add(hostfs.Change{Op: hostfs.OpCommand, Path: c.Name, Detail: c.String()})
	return Result{}, nil
}
