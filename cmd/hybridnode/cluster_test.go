package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/hybridnode/hybridnode/bootstrap"
)

func TestFindClusterBinary(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "hybridnode")
	exe := func(p string) {
		t.Helper()
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe(self)
	selfFn := func() (string, error) { return self, nil }
	inPath := filepath.Join(t.TempDir(), clusterBinary)
	lookOK := func(string) (string, error) { return inPath, nil }
	lookNone := func(name string) (string, error) { return "", &exec.Error{Name: name, Err: exec.ErrNotFound} }

	// nothing anywhere: exit code 2 with a message naming the release file
	_, err := findClusterBinary(selfFn, lookNone)
	var ue *bootstrap.UsageError
	if !errors.As(err, &ue) || bootstrap.ExitCode(err) != 2 || !strings.Contains(err.Error(), clusterBinary+"-linux-"+runtime.GOARCH) {
		t.Errorf("nothing found: err = %v (exit %d), want a usage error naming the release file", err, bootstrap.ExitCode(err))
	}
	// only in PATH
	if p, err := findClusterBinary(selfFn, lookOK); err != nil || p != inPath {
		t.Errorf("in PATH: got %q, %v", p, err)
	}
	// a release's file beside it wins over PATH
	exe(filepath.Join(dir, clusterBinary+"-linux-"+runtime.GOARCH))
	if p, err := findClusterBinary(selfFn, lookOK); err != nil || p != filepath.Join(dir, clusterBinary+"-linux-"+runtime.GOARCH) {
		t.Errorf("release file beside: got %q, %v", p, err)
	}
	// the installed name beside it wins over the release name
	exe(filepath.Join(dir, clusterBinary))
	if p, err := findClusterBinary(selfFn, lookOK); err != nil || p != filepath.Join(dir, clusterBinary) {
		t.Errorf("installed beside: got %q, %v", p, err)
	}
	// a file that is not executable is passed over
	if err := os.Chmod(filepath.Join(dir, clusterBinary), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, _ := findClusterBinary(selfFn, lookOK); p == filepath.Join(dir, clusterBinary) {
		t.Error("a non-executable file beside the binary was taken")
	}
}

// TestAdminCommands: cluster passes its arguments on as they are;
// token-service puts its own name first; neither parses a flag.
func TestAdminCommands(t *testing.T) {
	args := []string{"serve", "--listen", ":9443", "--help"}
	if got := strings.Join(adminArgv(nil, args), " "); got != clusterBinary+" serve --listen :9443 --help" {
		t.Errorf("cluster argv %q", got)
	}
	if got := strings.Join(adminArgv([]string{"token-service"}, args), " "); got != clusterBinary+" token-service serve --listen :9443 --help" {
		t.Errorf("token-service argv %q", got)
	}
	for _, c := range []*cobra.Command{newClusterCommand(), newTokenServiceCommand()} {
		if !c.DisableFlagParsing || c.RunE == nil {
			t.Errorf("%s parses its flags or runs nothing", c.Name())
		}
	}
}

// The node binary is downloaded at every bare boot: client-go (the cluster
// commands' client) must stay out of it.
func TestNodeBinaryLinksNoClientGo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		// Nor a PKCS#7 library: the node never verifies its identity.
		if strings.HasPrefix(dep, "k8s.io/client-go") || strings.HasPrefix(dep, "k8s.io/api/") || dep == "github.com/hybridnode/hybridnode/bootstrap/cluster" || dep == "github.com/hybridnode/hybridnode/bootstrap/tokenservice" ||
			strings.Contains(dep, "pkcs7") {
			t.Errorf("cmd/hybridnode links %s", dep)
		}
	}
}
