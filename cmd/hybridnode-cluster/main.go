// Command hybridnode-cluster is the administrator's side of hybridnode: run
// with a kubeconfig, it checks a hybrid cluster (check), does the
// cluster-side steps of the hybrid setup and renders the node-pool script
// that ACK runs on new ECS instances (setup), and renews the node pool's
// bootstrap token (rotate), runs the token service (token-service) and
// verifies an ECS instance identity offline (identity verify). See
// bootstrap/cluster.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hybridnode/hybridnode/bootstrap/cluster"
)

// Stamped by the Makefile through -ldflags; releaseURL is the default of
// --release (the release's base URL).
var (
	version    = "dev"
	commit     = "unknown"
	date       = "unknown"
	releaseURL = ""
)

// Exit codes.
const (
	exitOK          = 0
	exitError       = 1  // internal or API error
	exitUsage       = 2  // invalid input: flags, node-config file, release
	exitCheckFailed = 8  // check found a FAIL
	exitIdentity    = 22 // identity verify: the identity was refused (as the node's exit code for signature-refused)
	exitInterrupted = 130
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, newApp(os.Stdout, os.Stderr), os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes one command line and returns its exit code; the error, if
// any, is one line on stderr.
func run(ctx context.Context, a *app, args []string) int {
	a.args = args
	root := newRootCommand(a)
	root.SetArgs(args)
	root.SetOut(a.out)
	root.SetErr(a.errOut)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(a.errOut, "hybridnode-cluster:", err)
	}
	return exitCode(ctx, err)
}

// exitCode is the one place exit codes are decided.
func exitCode(ctx context.Context, err error) int {
	var input *cluster.InputError
	var failed *checkFailed
	var refused *identityRefused
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &failed):
		return exitCheckFailed
	case errors.As(err, &refused):
		return exitIdentity
	case errors.As(err, &input):
		return exitUsage
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return exitInterrupted
	}
	return exitError
}

// checkFailed: check ran and found a FAIL.
type checkFailed struct{ names []string }

func (c *checkFailed) Error() string {
	return fmt.Sprintf("check: %d check(s) failed: %s", len(c.names), strings.Join(c.names, ", "))
}

func newApp(out, errOut io.Writer) *app {
	return &app{out: out, errOut: errOut, newClient: cluster.NewClient}
}
