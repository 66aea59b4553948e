package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/distribution/reference"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/hybridnode/hybridnode/bootstrap/command"
	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
)

// crictlPath is the crictl the install phase puts in place; /etc/crictl.yaml
// (the containerd phase) points it at containerd's CRI.
var crictlPath = path.Join(binDir, "crictl")

// parallelPulls bounds the images pulled at once.
const parallelPulls = 4

// pullTimeout bounds one image's pull (tests shorten it); all of them
// together are bounded by the downloadTimeout setting.
var pullTimeout = 5 * time.Minute

// ImagePull is one image of the images phase, in the report.
type ImagePull struct {
	Image   string  `json:"image"`
	Status  string  `json:"status"` // pulled, present, failed
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
}

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
// When baking (install) a failed pull is the phase's error, naming every
// image that failed; in a join it is a warning: kubelet pulls the image
// when a pod needs it.
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
	deadline := time.Duration(n.Spec.DownloadTimeout)
	dctx, cancel := context.WithTimeoutCause(ctx, deadline,
		fmt.Errorf("the image pulls did not finish within downloadTimeout (%s; HYBRIDNODE_DOWNLOAD_TIMEOUT): %w", deadline, context.DeadlineExceeded))
	defer cancel()

	results := make([]ImagePull, len(images))
	var g errgroup.Group // no shared cancel: one failed image does not stop the others
	g.SetLimit(parallelPulls)
	for i, img := range images {
		g.Go(func() error {
			results[i] = n.pullImage(dctx, img)
			return nil
		})
	}
	g.Wait()
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
		n.Log.Warn("image pull failed; kubelet will pull it when a pod needs it", zap.String("image", r.Image), zap.String("error", n.Report.scrubbed(r.Error)))
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

// pullImage pulls one image unless containerd has it already.
func (n *Node) pullImage(ctx context.Context, img string) ImagePull {
	start := n.now()
	r := ImagePull{Image: img}
	if _, err := n.Cmd.Run(ctx, command.Cmd{Name: crictlPath, Args: []string{"inspecti", img}}); err == nil {
		r.Status = "present"
		n.Log.Info("image present", zap.String("image", img))
		return r
	}
	pctx, cancel := context.WithTimeoutCause(ctx, pullTimeout,
		fmt.Errorf("did not finish within %s: %w", pullTimeout, context.DeadlineExceeded))
	defer cancel()
	res, err := n.Cmd.Run(pctx, command.Cmd{Name: crictlPath, Args: []string{"pull", img}})
	d := n.now().Sub(start)
	r.Seconds = d.Round(time.Millisecond).Seconds()
	if err == nil {
		r.Status = "pulled"
		n.Log.Info("pulled image", zap.String("image", img), zap.Duration("duration", d.Round(time.Millisecond)))
		return r
	}
	r.Status = "failed"
	why := lastLine(res.Stderr)
	switch {
	case pctx.Err() != nil && context.Cause(pctx) != nil:
		why = context.Cause(pctx).Error()
	case why == "":
		why = err.Error()
	}
	r.Error = fmt.Sprintf("pulling %s: %s", img, why) // scrubbed where it is recorded
	return r
}

// lastLine is the last non-empty line of b, trimmed.
func lastLine(b []byte) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return strings.TrimSpace(string(lines[len(lines)-1]))
}
