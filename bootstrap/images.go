package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/distribution/reference"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/hybridnode/hybridnode/bootstrap/command"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

// crictlPath is the crictl the install phase puts in place; crictlConfig
// (the containerd phase) points it at containerd's CRI.
var crictlPath = installs["crictl"].dest

// parallelPulls bounds the images pulled at once.
const parallelPulls = 4

// pullTimeout bounds one image's pull (tests shorten it); all of them
// together are bounded by the downloadTimeout setting.
var pullTimeout = 5 * time.Minute

// pullWait bounds how long a join waits, after its last phase, for the
// image pulls still running in the background (tests change it). The
// downloadTimeout budget, counted from the images phase, ends them sooner
// when it is shorter.
var pullWait = 30 * time.Second

// pullList is what the images phase pulls: the sandbox image and
// prepullImages, each named in full (docker.io/library/nginx:latest for
// nginx), once. A baked image has the sandbox image already, and then a
// join only finds it present; on a bare node the join pulls it before the
// first pod sandbox needs it.
func (n *Node) pullList() []string {
	var refs []string
	if n.Spec.SandboxImage != "" {
		refs = append(refs, n.Spec.SandboxImage)
	}
	refs = append(refs, n.Spec.PrepullImages...)
	var out []string
	seen := map[string]bool{}
	for _, r := range refs {
		if named, err := reference.ParseNormalizedNamed(r); err == nil { // validated: never fails
			r = reference.TagNameOnly(named).String()
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// runImages pulls the images of pullList into containerd's CRI image store
// (the k8s.io namespace kubelet uses) through `crictl pull`: the CRI's own
// pull, so that the registry mirrors of certs.d apply as they do to
// kubelet's. An image containerd already has is not pulled, so a warm run
// runs `crictl inspecti` only and writes nothing. Pulls run in parallel
// (parallelPulls), each bounded by pullTimeout, all by downloadTimeout.
//
// When baking (install) the pulls finish within the phase and a failed pull
// is its error, naming every image that failed. In a join they start in
// the background and the phase returns at once: they run while kubelet is
// set up and the node joins, so that the first pod sandboxes find their
// images pulled or in flight (containerd serves concurrent pulls of the
// same content once). The runner joins them (awaitPulls) before the
// report; a failed pull is a warning: kubelet pulls the image when a pod
// needs it.
func runImages(ctx context.Context, n *Node) error {
	images := n.pullList()
	if len(images) == 0 {
		return nil
	}
	if !n.Live {
		n.Log.Info("image pulls skipped: no live host behind the root", zap.String("root", n.FS.Root()), zap.Strings("images", images))
		return nil
	}
	if n.DryRun {
		for _, img := range images {
			n.Recorder.Add(hostfs.Change{Op: hostfs.OpPull, Path: img, Detail: crictlPath + " pull, unless containerd has it"})
		}
		return nil
	}
	if !n.Systemd.Live() {
		n.Log.Info("image pulls skipped: containerd is not running", zap.Strings("images", images))
		return nil
	}
	if n.joining && !n.baking {
		n.startPulls(ctx, images)
		return nil
	}

	results := n.pullAll(ctx, images)
	if err := ctx.Err(); err != nil {
		return err
	}
	var failed []string
	for _, r := range results {
		n.Report.image(r)
		if r.Status != "failed" {
			continue
		}
		if n.baking {
			failed = append(failed, n.Report.scrubbed(r.Error))
			continue
		}
		n.warnPull(r)
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

// pullAll pulls images, parallelPulls at a time, all within downloadTimeout;
// the results are in the order of images.
func (n *Node) pullAll(ctx context.Context, images []string) []hoststate.ImagePull {
	deadline := time.Duration(n.Spec.DownloadTimeout)
	dctx, cancel := context.WithTimeoutCause(ctx, deadline,
		fmt.Errorf("the image pulls did not finish within downloadTimeout (%s; HYBRIDNODE_DOWNLOAD_TIMEOUT): %w", deadline, context.DeadlineExceeded))
	defer cancel()
	results := make([]hoststate.ImagePull, len(images))
	var g errgroup.Group // no shared cancel: one failed image does not stop the others
	g.SetLimit(parallelPulls)
	for i, img := range images {
		g.Go(func() error {
			results[i] = n.pullImage(dctx, img)
			return nil
		})
	}
	g.Wait()
	return results
}

// backgroundPulls are a join's image pulls, running while its later phases
// do.
type backgroundPulls struct {
	cancel  context.CancelCauseFunc
	done    chan struct{}
	results []hoststate.ImagePull // set before done is closed
}

// startPulls starts pulling images in the background; awaitPulls joins them.
func (n *Node) startPulls(ctx context.Context, images []string) {
	cctx, cancel := context.WithCancelCause(ctx)
	bp := &backgroundPulls{cancel: cancel, done: make(chan struct{})}
	n.pulls = bp
	n.Log.Info("image pulls started; they go on while the node joins", zap.Strings("images", images))
	go func() {
		defer close(bp.done)
		bp.results = n.pullAll(cctx, images)
	}()
}

// awaitPulls joins the background pulls of a join, if any, and puts their
// results in the report. After a failure (failed is the run's error) it
// cancels them at once: nothing keeps a failed run alive. Otherwise it
// waits for them at most pullWait, then cancels those still running,
// recorded as cancelled (the downloadTimeout budget, when it ends first,
// has ended them already, recorded as failed). It returns only when every
// pull has ended.
func (n *Node) awaitPulls(failed error) {
	bp := n.pulls
	if bp == nil {
		return
	}
	n.pulls = nil
	defer bp.cancel(nil)
	if failed != nil {
		bp.cancel(errors.New("the run failed"))
	} else {
		t := time.NewTimer(pullWait)
		select {
		case <-bp.done:
		case <-t.C:
			n.Log.Warn("image pulls still running at the end of the run; cancelling them (kubelet pulls an image when a pod needs it)", zap.Duration("waited", pullWait))
			bp.cancel(fmt.Errorf("still running %s after the last phase", pullWait))
		}
		t.Stop()
	}
	<-bp.done
	for _, r := range bp.results {
		n.Report.image(r)
		switch r.Status {
		case "failed":
			n.warnPull(r)
		case "cancelled":
			n.Log.Info("image pull cancelled", zap.String("image", r.Image), zap.String("why", n.Report.scrubbed(r.Error)))
		}
	}
}

func (n *Node) warnPull(r hoststate.ImagePull) {
	n.Log.Warn("image pull failed; kubelet will pull it when a pod needs it", zap.String("image", r.Image), zap.String("error", n.Report.scrubbed(r.Error)))
}

// pullImage pulls one image unless containerd has it already. It may run
// beside the phases (a join's background pulls): it touches nothing of
// the node but the command runner and the log.
func (n *Node) pullImage(ctx context.Context, img string) hoststate.ImagePull {
	start := n.now()
	r := hoststate.ImagePull{Image: img}
	if _, err := n.Cmd.Run(ctx, command.Cmd{Name: crictlPath, Args: []string{"inspecti", img}}); err == nil {
		r.Status = "present"
		n.Log.Info("image present", zap.String("image", img))
		return r
	} else if ctx.Err() != nil {
		return stopped(ctx, r, n.now().Sub(start))
	}
	pctx, cancel := context.WithTimeoutCause(ctx, pullTimeout,
		fmt.Errorf("did not finish within %s: %w", pullTimeout, context.DeadlineExceeded))
	defer cancel()
	res, err := n.Cmd.Run(pctx, command.Cmd{Name: crictlPath, Args: []string{"pull", img}})
	d := n.now().Sub(start)
	if err == nil {
		r.Status = "pulled"
		r.Seconds = d.Round(time.Millisecond).Seconds()
		n.Log.Info("pulled image", zap.String("image", img), zap.Duration("duration", d.Round(time.Millisecond)))
		return r
	}
	if pctx.Err() != nil {
		return stopped(pctx, r, d)
	}
	r.Status = "failed"
	r.Seconds = d.Round(time.Millisecond).Seconds()
	why := lastLine(res.Stderr)
	if why == "" {
		why = err.Error()
	}
	r.Error = fmt.Sprintf("pulling %s: %s", img, why)
	return r
}

// stopped is r ended by its context: cancelled when the run stopped it
// (or was interrupted), failed when a timeout ended it.
func stopped(ctx context.Context, r hoststate.ImagePull, d time.Duration) hoststate.ImagePull {
	r.Status = "failed"
	if errors.Is(ctx.Err(), context.Canceled) {
		r.Status = "cancelled"
	}
	r.Seconds = d.Round(time.Millisecond).Seconds()
	why := ctx.Err().Error()
	if c := context.Cause(ctx); c != nil {
		why = c.Error()
	}
	r.Error = fmt.Sprintf("pulling %s: %s", r.Image, why)
	return r
}

// lastLine is the last non-empty line of b, trimmed.
func lastLine(b []byte) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return strings.TrimSpace(string(lines[len(lines)-1]))
}
