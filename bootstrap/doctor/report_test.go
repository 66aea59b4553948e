package doctor

import (
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap"
)

// TestStatusesAgree: doctor's statuses come from package report and must be
// the strings bootstrap's preflight uses.
func TestStatusesAgree(t *testing.T) {
	for _, p := range [][2]string{{Pass, bootstrap.StatusPass}, {Warn, bootstrap.StatusWarn}, {Fail, bootstrap.StatusFail}, {Skip, bootstrap.StatusSkip}} {
		if p[0] != p[1] {
			t.Errorf("status %q is %q in package bootstrap", p[0], p[1])
		}
	}
}
