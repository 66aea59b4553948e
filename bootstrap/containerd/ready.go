package containerd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	containerdclient "github.com/containerd/containerd"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Info is what a ready containerd reports about itself.
type Info struct {
	Version  string
	Revision string
}

// Polling parameters of WaitReady.
const (
	readyInitialBackoff = 200 * time.Millisecond
	readyMaxBackoff     = 5 * time.Second
	readyAttemptTimeout = 5 * time.Second
)

// WaitReady waits until containerd at address (a unix socket path, e.g.
// /run/containerd/containerd.sock; a unix:// prefix is accepted) answers
// its version service AND its CRI plugin reports the RuntimeReady
// condition true through runtime.v1.RuntimeService/Status. NetworkReady is
// not required: it stays false until a CNI configuration is installed,
// which happens after the join.
//
// It polls with exponential backoff (200ms doubling to 5s) and is bounded
// only by ctx; on expiry the error names the socket and the last error seen
// (and wraps ctx.Err()). A connection attempt takes no context, only a
// timeout (up to 5s, capped at ctx's deadline), so a cancellation without a
// deadline can be noticed up to 5s late.
func WaitReady(ctx context.Context, address string) (Info, error) {
	socket := strings.TrimPrefix(strings.TrimSpace(address), "unix://")
	if socket == "" {
		return Info{}, errors.New("containerd: empty socket address")
	}
	var (
		client  *containerdclient.Client
		lastErr error
		backoff = readyInitialBackoff
	)
	defer func() {
		if client != nil {
			client.Close()
		}
	}()
	for {
		if client == nil {
			c, err := containerdclient.New(socket, containerdclient.WithTimeout(attemptTimeout(ctx)))
			if err != nil {
				lastErr = fmt.Errorf("connecting: %w", err)
			} else {
				client = c
			}
		}
		if client != nil {
			info, err := probe(ctx, client)
			if err == nil {
				return info, nil
			}
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return Info{}, fmt.Errorf("containerd at %s not ready: %w (last error: %v)", socket, ctx.Err(), lastErr)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, readyMaxBackoff)
	}
}

// attemptTimeout bounds one connection attempt: containerd.New takes no
// context, only a timeout.
func attemptTimeout(ctx context.Context) time.Duration {
	d := readyAttemptTimeout
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	return max(d, 10*time.Millisecond)
}

func probe(ctx context.Context, client *containerdclient.Client) (Info, error) {
	cctx, cancel := context.WithTimeout(ctx, readyAttemptTimeout)
	defer cancel()
	v, err := client.Version(cctx)
	if err != nil {
		return Info{}, fmt.Errorf("version service: %w", err)
	}
	resp, err := runtimeapi.NewRuntimeServiceClient(client.Conn()).Status(cctx, &runtimeapi.StatusRequest{})
	if err != nil {
		return Info{}, fmt.Errorf("CRI runtime.v1.RuntimeService/Status: %w", err)
	}
	if err := runtimeReady(resp); err != nil {
		return Info{}, err
	}
	return Info{Version: v.Version, Revision: v.Revision}, nil
}

// runtimeReady requires the RuntimeReady condition to be true; other
// conditions (NetworkReady in particular) are not looked at.
func runtimeReady(resp *runtimeapi.StatusResponse) error {
	if resp == nil || resp.GetStatus() == nil {
		return errors.New("CRI status: empty response")
	}
	for _, c := range resp.GetStatus().GetConditions() {
		if c.GetType() != runtimeapi.RuntimeReady {
			continue
		}
		if c.GetStatus() {
			return nil
		}
		return fmt.Errorf("CRI condition %s is false (reason %q, message %q)", runtimeapi.RuntimeReady, c.GetReason(), c.GetMessage())
	}
	return fmt.Errorf("CRI status has no %s condition", runtimeapi.RuntimeReady)
}
