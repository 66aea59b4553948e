// Command hybridnode turns a bare ECS instance into a worker node of a
// hybrid Kubernetes cluster. See README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hybridnode/hybridnode/bootstrap"
)

// Stamped by the Makefile through -ldflags.
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := &app{}
	err := newRootCommand(app).ExecuteContext(ctx)
	if app.log != nil {
		_ = app.log.Sync()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hybridnode:", err)
	}
	os.Exit(bootstrap.ExitCode(err))
}

// newLogger builds the one logger: console lines on stdout by default (ACK
// keeps stdout in /var/log/acs/init.log), or JSON.
func newLogger(format string, verbose bool) (*zap.Logger, error) {
	level := zapcore.InfoLevel
	if verbose {
		level = zapcore.DebugLevel
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.TimeKey = "time"
	var encoder zapcore.Encoder
	switch format {
	case "console":
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		enc.CallerKey, enc.StacktraceKey, enc.NameKey = "", "", ""
		encoder = zapcore.NewConsoleEncoder(enc)
	case "json":
		enc.StacktraceKey = ""
		encoder = zapcore.NewJSONEncoder(enc)
	default:
		return nil, &bootstrap.UsageError{Msg: fmt.Sprintf("--log-format: got %q, want console or json", format)}
	}
	return zap.New(zapcore.NewCore(encoder, zapcore.Lock(os.Stdout), level)), nil
}
