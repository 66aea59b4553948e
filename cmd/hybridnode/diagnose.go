package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hybridnode/hybridnode/bootstrap"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/doctor"
)

// joinDiagnosis is doctor's checks of the way to the cluster, run after a
// failed join so that the node's own log (ACK keeps it) says why and what
// to do, without anyone running doctor by hand.
var joinDiagnosis = map[string]bool{"dns": true, "api-server": true, "clock": true, "ca-pin": true, "bootstrap-token": true}

// diagnoseBound bounds the whole diagnosis: each check's network steps are
// bounded by doctor's own timeout too.
const diagnoseBound = 15 * time.Second

// diagnoseJoin returns err with the failed checks and their remedies
// appended; err itself when nothing more is known (or the run was
// interrupted). The exit code stays err's.
func (a *app) diagnoseJoin(ctx context.Context, l *config.Loaded, n *bootstrap.Node, err error) error {
	if ctx.Err() != nil || bootstrap.ExitCode(err) != bootstrap.ExitJoin || !n.Live {
		return err
	}
	var checks []doctor.Check
	for _, c := range doctor.Checks() {
		if joinDiagnosis[c.Name] {
			checks = append(checks, c)
		}
	}
	dctx, cancel := context.WithTimeout(ctx, diagnoseBound)
	defer cancel()
	r := doctor.Run(dctx, &doctor.Env{FS: n.FS, Facts: n.Facts, Live: n.Live, Config: l, Spec: n.Spec}, checks)
	var lines []string
	for _, c := range r.Checks {
		if c.Status != doctor.Fail {
			continue
		}
		a.log.Error("doctor: "+c.Name, zap.String("evidence", c.Evidence), zap.String("fix", c.Remedy))
		lines = append(lines, fmt.Sprintf("doctor: FAIL %s: %s\n  fix: %s", c.Name, c.Evidence, c.Remedy))
	}
	if len(lines) == 0 {
		return err
	}
	return &diagnosed{err: err, text: strings.Join(lines, "\n")}
}

// diagnosed is a join error with doctor's findings.
type diagnosed struct {
	err  error
	text string
}

func (d *diagnosed) Error() string { return d.err.Error() + "\n" + d.text }
func (d *diagnosed) Unwrap() error { return d.err }
