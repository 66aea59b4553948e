package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hybridnode/hybridnode/bootstrap"
)

// clusterBinary is the admin tool that `hybridnode cluster` runs. It is a
// binary of its own (cmd/hybridnode-cluster) because it links client-go,
// which would take the node binary, downloaded at every bare boot, past its
// size budget; nodes never need it.
const clusterBinary = "hybridnode-cluster"

func newClusterCommand() *cobra.Command {
	return adminCommand(&cobra.Command{
		Use:   "cluster check|setup|rotate ...",
		Short: "The administrator's side of node pools: check and set up the cluster, render and rotate the node script (runs " + clusterBinary + ")",
		Long: "hybridnode cluster runs " + clusterBinary + " (found beside this binary, or in PATH) with the same arguments:\n" +
			"  hybridnode cluster check     the hybrid setup, read-only (CNI placement, Terway, eni-config, addNodeScriptPath, tokens)\n" +
			"  hybridnode cluster setup     fix what check finds, make a bootstrap token with a TTL and render the node script\n" +
			"  hybridnode cluster rotate    a new token and script; the previous token expires after a grace period\n" +
			"See `" + clusterBinary + " --help`.",
	})
}

func newTokenServiceCommand() *cobra.Command {
	return adminCommand(&cobra.Command{
		Use:   "token-service ...",
		Short: "The token service that exchanges ECS instance identities for bootstrap tokens (runs " + clusterBinary + " token-service)",
		Long: "hybridnode token-service runs `" + clusterBinary + " token-service` (found beside this binary, or in PATH) with the same arguments.\n" +
			"See `" + clusterBinary + " token-service --help`.",
	}, "token-service")
}

// adminCommand makes cmd run clusterBinary with sub and the command's own
// arguments, untouched (its flags are the admin tool's).
func adminCommand(cmd *cobra.Command, sub ...string) *cobra.Command {
	cmd.DisableFlagParsing = true
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		path, err := findClusterBinary(os.Executable, exec.LookPath)
		if err != nil {
			return err
		}
		// exec, so that its exit code and output are the command's own.
		if err := syscall.Exec(path, adminArgv(sub, args), os.Environ()); err != nil {
			return fmt.Errorf("hybridnode %s: exec %s: %w", cmd.Name(), path, err)
		}
		return nil
	}
	return cmd
}

// adminArgv is the admin tool's argv: its name, sub, then args.
func adminArgv(sub, args []string) []string {
	return append(append([]string{clusterBinary}, sub...), args...)
}

// findClusterBinary looks beside the running binary first (a release's
// files side by side, or both installed in one directory), then in PATH.
func findClusterBinary(self func() (string, error), lookPath func(string) (string, error)) (string, error) {
	if exe, err := self(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		for _, name := range []string{clusterBinary, clusterBinary + "-linux-" + runtime.GOARCH} {
			p := filepath.Join(filepath.Dir(exe), name)
			if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return p, nil
			}
		}
	}
	p, err := lookPath(clusterBinary)
	if err == nil {
		return p, nil
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		return "", &bootstrap.UsageError{Msg: fmt.Sprintf("hybridnode cluster and token-service need %s, beside this binary or in PATH: "+
			"it is in the release as %s-linux-%s (install it as %s on the administrator's machine; nodes do not need it)",
			clusterBinary, clusterBinary, runtime.GOARCH, clusterBinary)}
	}
	return "", fmt.Errorf("hybridnode cluster: looking for %s: %w", clusterBinary, err)
}
