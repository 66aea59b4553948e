package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap/identity"
)

// TestExitCodesOfIdentityFailures: each class of instance-identity failure
// has its code, through the join phase's wrapping too; an interrupted
// exchange is still 130; every code is distinct and none is one of
// add-node.sh's own (10 to 16).
func TestExitCodesOfIdentityFailures(t *testing.T) {
	for kind, want := range map[identity.Kind]int{
		identity.MetadataUnreachable: ExitMetadata,
		identity.ServiceUnreachable:  ExitTokenService,
		identity.IdentityRefused:     ExitIdentityRefused,
		identity.NotAllowed:          ExitNotAllowed,
	} {
		err := &PhaseError{Phase: "join", Class: ClassJoin, Err: fmt.Errorf("token: %w", &identity.Error{Kind: kind, Msg: "x"})}
		if got := ExitCode(err); got != want {
			t.Errorf("%v: exit %d, want %d", kind, got, want)
		}
	}
	interrupted := &PhaseError{Phase: "join", Class: ClassJoin, Err: &identity.Error{Kind: identity.ServiceUnreachable, Err: context.Canceled}}
	if got := ExitCode(interrupted); got != ExitInterrupted {
		t.Errorf("interrupted exchange: exit %d", got)
	}
	if got := ExitCode(&PhaseError{Class: ClassJoin, Err: errors.New("kubeadm")}); got != ExitJoin {
		t.Errorf("plain join failure: exit %d", got)
	}
	seen := map[int]Class{}
	for c := ClassInternal; c <= ClassNotAllowed; c++ {
		code := classExit[c]
		if prev, dup := seen[code]; dup && c != ClassInternal {
			t.Errorf("classes %v and %v share exit %d", prev, c, code)
		}
		seen[code] = c
		if code >= 10 && code <= 16 {
			t.Errorf("class %v has exit %d, one of add-node.sh's", c, code)
		}
		_ = c.String()
	}
}
