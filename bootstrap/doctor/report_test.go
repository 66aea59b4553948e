package doctor

import (
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap/hostcheck"
)

// TestStatusesAgree: doctor's statuses come from package report and must be
// the strings the host checks (hostcheck) and preflight use.
func TestStatusesAgree(t *testing.T) {
	for _, p := range [][2]string{{Pass, hostcheck.Pass}, {Warn, hostcheck.Warn}, {Fail, hostcheck.Fail}, {Skip, hostcheck.Skip}} {
		if p[0] != p[1] {
			t.Errorf("status %q is %q in package hostcheck", p[0], p[1])
		}
	}
}
