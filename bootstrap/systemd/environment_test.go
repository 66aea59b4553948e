package systemd_test

import (
	"context"
	"slices"
	"testing"

	"github.com/hybridnode/hybridnode/bootstrap/hostfs"
	"github.com/hybridnode/hybridnode/bootstrap/systemd"
	"github.com/hybridnode/hybridnode/bootstrap/systemd/systemdtest"
)

// TestEnvironment: Environment and EnvironmentFiles: the fake reports
// what it was given, a dry run its base's, an offline root nothing.
func TestEnvironment(t *testing.T) {
	ctx := context.Background()
	base := systemdtest.New()
	base.SetEnvironment("containerd.service", "HTTP_PROXY=http://proxy:3128", "NO_PROXY=localhost")
	want := []string{"HTTP_PROXY=http://proxy:3128", "NO_PROXY=localhost"}
	for name, m := range map[string]systemd.Manager{"fake": base, "dry run": systemd.DryRun(base, &hostfs.Recorder{})} {
		if got, err := m.Environment(ctx, "containerd.service"); err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: Environment = %q, %v; want %q", name, got, err, want)
		}
		if got, err := m.Environment(ctx, "kubelet.service"); err != nil || got != nil {
			t.Errorf("%s: Environment of a unit without = %q, %v", name, got, err)
		}
	}
	base.SetEnvironmentFiles("kubelet.service", "-/etc/default/kubelet", "/etc/hybridnode/proxy/kubelet.env")
	wantFiles := []string{"-/etc/default/kubelet", "/etc/hybridnode/proxy/kubelet.env"}
	for name, m := range map[string]systemd.Manager{"fake": base, "dry run": systemd.DryRun(base, &hostfs.Recorder{})} {
		if got, err := m.EnvironmentFiles(ctx, "kubelet.service"); err != nil || !slices.Equal(got, wantFiles) {
			t.Errorf("%s: EnvironmentFiles = %q, %v; want %q", name, got, err, wantFiles)
		}
		if got, err := m.EnvironmentFiles(ctx, "containerd.service"); err != nil || got != nil {
			t.Errorf("%s: EnvironmentFiles of a unit without = %q, %v", name, got, err)
		}
	}
	f, err := hostfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	off := systemd.NewOffline(f, []string{"/etc/systemd/system"})
	if got, err := off.Environment(ctx, "containerd.service"); err != nil || got != nil {
		t.Errorf("offline: Environment = %q, %v", got, err)
	}
	if got, err := off.EnvironmentFiles(ctx, "kubelet.service"); err != nil || got != nil {
		t.Errorf("offline: EnvironmentFiles = %q, %v", got, err)
	}
}
