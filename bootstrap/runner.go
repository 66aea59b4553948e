// Package bootstrap turns a host into a Kubernetes node: one ordered list of
// named phases (phases.go), run by a small runner over the node's seams.
package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/bootstrap/identity"
)

// Class is a failure class; each maps to one exit code (ExitCode).
type Class int

const (
	ClassInternal Class = iota
	ClassPreflight
	ClassArtifact
	ClassHost
	ClassService
	ClassJoin
	ClassDoctor
	// The classes of credentialSource instance-identity (identity.Kind).
	ClassMetadata        // the instance metadata service gave no identity
	ClassTokenService    // the token service is unreachable or not the pinned one
	ClassIdentityRefused // the token service refused the identity
	ClassNotAllowed      // the identity's account or region is not allowed
)

func (c Class) String() string {
	return [...]string{"internal", "preflight", "artifact", "host", "service", "join", "doctor",
		"metadata", "token-service", "identity-refused", "not-allowed"}[c]
}

// identityClass is the class of an identity failure in err, if any.
func identityClass(err error) (Class, bool) {
	switch identity.KindOf(err) {
	case identity.MetadataUnreachable:
		return ClassMetadata, true
	case identity.ServiceUnreachable:
		return ClassTokenService, true
	case identity.IdentityRefused:
		return ClassIdentityRefused, true
	case identity.NotAllowed:
		return ClassNotAllowed, true
	}
	return 0, false
}

// Phase is one named step of the job.
type Phase struct {
	Name  string
	Short string
	// Class is the failure class of an error from Run.
	Class Class
	// Always runs the phase even after an earlier one failed (the report).
	Always bool
	Run    func(ctx context.Context, n *Node) error
}

// PhaseError is a failure of one phase.
type PhaseError struct {
	Phase string
	Class Class
	Err   error
}

func (e *PhaseError) Error() string {
	if e.Phase == "" { // a failure of a class outside the phases (doctor)
		return e.Err.Error()
	}
	return fmt.Sprintf("phase %s: %v", e.Phase, e.Err)
}
func (e *PhaseError) Unwrap() error { return e.Err }

// Exit codes, decided here and nowhere else; the README lists them.
const (
	ExitOK          = 0
	ExitInternal    = 1
	ExitInvalid     = 2
	ExitPreflight   = 3
	ExitArtifact    = 4
	ExitHost        = 5
	ExitService     = 6
	ExitJoin        = 7
	ExitDoctor      = 8
	ExitInterrupted = 130
)

// The exit codes of credentialSource instance-identity. 10 to 16 are
// add-node.sh's own (README), so that a code it passes on from hybridnode
// join is never taken for one of its own.
const (
	ExitMetadata        = 20
	ExitTokenService    = 21
	ExitIdentityRefused = 22
	ExitNotAllowed      = 23
)

// classExit is each class's exit code.
var classExit = [...]int{ExitInternal, ExitPreflight, ExitArtifact, ExitHost, ExitService, ExitJoin, ExitDoctor,
	ExitMetadata, ExitTokenService, ExitIdentityRefused, ExitNotAllowed}

// ExitCode maps an error to the process exit code.
func ExitCode(err error) int {
	var ce *config.Error
	var pe *PhaseError
	var ue *UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ce), errors.As(err, &ue):
		return ExitInvalid
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	}
	// Getting the join's token from the token service fails in the join
	// phase, but each way it fails has a code of its own.
	if c, ok := identityClass(err); ok {
		return classExit[c]
	}
	switch {
	case errors.As(err, &pe):
		return classExit[pe.Class]
	default:
		return ExitInternal
	}
}

// UsageError is a bad command line (an unknown phase name, say).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Names lists the phase names in order.
func Names(phases []Phase) []string {
	out := make([]string, len(phases))
	for i, p := range phases {
		out[i] = p.Name
	}
	return out
}

// Select returns the phases of list, minus skipped ones, keeping only those
// in only (when non-empty). Unknown names are an error.
func Select(list []Phase, only, skip []string) ([]Phase, error) {
	known := map[string]bool{}
	for _, p := range list {
		known[p.Name] = true
	}
	var unknown []string
	for _, n := range append(append([]string{}, only...), skip...) {
		if !known[n] {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		return nil, &UsageError{Msg: fmt.Sprintf("unknown phase %s; phases are: %s", strings.Join(unknown, ", "), strings.Join(Names(list), ", "))}
	}
	in := func(names []string, n string) bool {
		for _, x := range names {
			if x == n {
				return true
			}
		}
		return false
	}
	var out []Phase
	for _, p := range list {
		if in(skip, p.Name) || (len(only) > 0 && !in(only, p.Name)) {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// Run runs the phases in order, logging each start and end with its
// duration, and records them in the node's report. After a failure only
// phases marked Always run. The first error is returned, wrapped as
// *PhaseError. A join's background image pulls are joined before an Always
// phase (the report lists them) or at the end, whichever comes first.
func Run(ctx context.Context, n *Node, phases []Phase) error {
	var first error
	for _, p := range phases {
		if p.Always {
			n.awaitPulls(first)
		}
		if first != nil && !p.Always {
			n.Report.phase(p.Name, "not run", time.Time{}, 0, nil)
			continue
		}
		if first == nil && ctx.Err() != nil {
			first = &PhaseError{Phase: p.Name, Class: p.Class, Err: ctx.Err()}
			n.Report.phase(p.Name, "not run", time.Time{}, 0, nil)
			continue
		}
		n.Report.finish(first) // lets an Always phase see the result so far
		start := n.now()
		log := n.Log.With(zap.String("phase", p.Name))
		log.Info("phase start")
		err := p.Run(ctx, n)
		d := n.now().Sub(start)
		if err != nil {
			log.Error("phase failed", zap.Duration("duration", d.Round(time.Millisecond)), zap.Error(err))
			n.Report.phase(p.Name, "failed", start, d, err)
			if first == nil {
				first = &PhaseError{Phase: p.Name, Class: p.Class, Err: err}
			}
			continue
		}
		log.Info("phase done", zap.Duration("duration", d.Round(time.Millisecond)))
		n.Report.phase(p.Name, "ok", start, d, nil)
	}
	n.awaitPulls(first)
	n.Report.finish(first)
	return first
}

// ExecuteOptions say what kind of run Execute makes.
type ExecuteOptions struct {
	// Join: the run joins the node (`join`, `plan`), so an already joined
	// node is left alone; otherwise it is an install.
	Join bool
	// DryRun: attach the dry-run recorders; nothing on the host changes.
	DryRun bool
	// Bake: the run is `install` or one of its phases, baking an image:
	// the images phase pulls within the phase and a failed pull is an
	// error (in a join the pulls run beside the join, and a failed one is
	// a warning).
	Bake bool
}

// Execute is a whole command: on an already joined node a Join run does
// nothing at all (no write, no restart, no report) and returns ran=false,
// but for finishing what a run killed after kubelet's TLS bootstrap left
// undone (see finishJoined);
// otherwise it attaches the seams (or their dry-run recorders) and runs the
// phases. Unless DryRun it holds the node's lock (LockPath) throughout,
// waiting for another run to finish first.
func Execute(ctx context.Context, n *Node, phases []Phase, o ExecuteOptions) (ran bool, err error) {
	if !o.DryRun {
		cmd := "install"
		if o.Join {
			cmd = "join"
		}
		release, err := n.lockNode(ctx, n.command(cmd))
		if err != nil {
			return false, err
		}
		defer release()
	}
	if o.Join {
		if joined, why := hoststate.Joined(n.FS); joined {
			n.Log.Info("node already joined; nothing to do (run `hybridnode reset` to join again)", zap.String("why", why), zap.String("node", n.Spec.NodeName))
			if o.DryRun {
				return false, nil
			}
			return false, finishJoined(ctx, n)
		}
	}
	for _, p := range phases {
		n.joining = n.joining || p.Name == "join"
	}
	n.baking = o.Bake
	if o.DryRun {
		n.EnableDryRun()
	} else if err := n.Connect(ctx); err != nil {
		return false, err
	}
	defer n.Close()
	return true, Run(ctx, n, phases)
}

// finishJoined completes, on an already joined node, what a join killed
// after kubelet's TLS bootstrap left undone: its token file is removed, and
// so is the token of the node-pool settings (a node joined by an older
// hybridnode kept it), and, when that run never wrote its report, the
// report is written now (the versions from the install record), so that a
// node is never joined without one. A warm re-run finds none of them and
// writes nothing.
func finishJoined(ctx context.Context, n *Node) error {
	if _, err := n.FS.Remove(joinConfigPath); err != nil {
		return err
	}
	if err := n.dropPoolToken(); err != nil {
		return err
	}
	if n.Report == nil {
		return nil
	}
	if _, err := n.FS.Stat(hoststate.ReportPath); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	rec, err := hoststate.ReadInstalled(n.FS)
	if err != nil {
		return err
	}
	n.installed = rec
	n.Report.phase("join", "already joined", time.Time{}, 0, nil)
	n.Report.finish(nil)
	return runReport(ctx, n)
}
