package main

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hybridnode/hybridnode/bootstrap"
)

// TestJoinFailureCarriesDoctorsRemedy: a failed join with the API server
// gone ends with doctor's finding and remedy, exit code unchanged; other
// failures, and interrupted runs, are left as they are; no token anywhere.
func TestJoinFailureCarriesDoctorsRemedy(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	endpoint := l.Addr().String()
	l.Close() // nothing listens there now
	for k, v := range ackEnv {
		t.Setenv(k, v)
	}
	t.Setenv("HYBRIDNODE_API_SERVER_ENDPOINT", endpoint)
	core, logs := observer.New(zap.InfoLevel)
	a := &app{}
	newRootCommand(a) // its flags
	a.root, a.log = doctorRoot(t), zap.New(core)
	cfg, n, err := a.node(true)
	if err != nil {
		t.Fatal(err)
	}
	n.Live = true // the diagnosis runs only where a host is behind the root
	joinErr := &bootstrap.PhaseError{Class: bootstrap.ClassJoin, Err: errors.New("kubeadm join: attempt 1 of 1 did not finish within joinTimeout (30s)")}

	got := a.diagnoseJoin(context.Background(), cfg, n, joinErr)
	if bootstrap.ExitCode(got) != bootstrap.ExitJoin || !errors.Is(got, joinErr) {
		t.Fatalf("exit %d, %v", bootstrap.ExitCode(got), got)
	}
	for _, want := range []string{"did not finish within joinTimeout", "doctor: FAIL api-server: TCP connect to " + endpoint, "fix: check that kube-apiserver runs"} {
		if !strings.Contains(got.Error(), want) {
			t.Errorf("error lacks %q:\n%s", want, got)
		}
	}
	if logs.FilterMessage("doctor: api-server").Len() != 1 {
		t.Errorf("the finding is not logged: %v", logs.All())
	}
	for _, e := range logs.All() {
		for _, f := range e.Context {
			if strings.Contains(f.String, token) {
				t.Errorf("token in a log field: %v", e)
			}
		}
	}
	if strings.Contains(got.Error(), token) {
		t.Error("token in the error")
	}

	other := &bootstrap.PhaseError{Class: bootstrap.ClassArtifact, Err: errors.New("download failed")}
	if got := a.diagnoseJoin(context.Background(), cfg, n, other); got != error(other) {
		t.Errorf("a non-join failure was changed: %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := a.diagnoseJoin(ctx, cfg, n, joinErr); got != error(joinErr) {
		t.Errorf("an interrupted run was diagnosed: %v", got)
	}
}
