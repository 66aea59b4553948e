package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/hybridnode/hybridnode/bootstrap"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

// stdin and stdinIsTerminal are seams for the confirmation prompt.
var (
	stdin           io.Reader = os.Stdin
	stdinIsTerminal           = func() bool {
		// A terminal answers TCGETS; /dev/null, a pipe or a file do not.
		_, err := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TCGETS)
		return err == nil
	}
)

func newResetCommand(a *app) *cobra.Command {
	var force, purge, dryRun bool
	cmd := &cobra.Command{
		Use:   "reset",
		Short: "Undo a join: kubeadm reset, stop and disable kubelet and containerd, remove what hybridnode wrote and installed",
		Long: "Undo a join, so that `hybridnode join` works again: `kubeadm reset -f` (when kubeadm is installed), kubelet and\n" +
			"containerd stopped and disabled, then removed: the files hybridnode generated (they start with its header),\n" +
			"the binaries recorded in " + hoststate.InstalledPath + " (only while unchanged), the JoinConfiguration, the kubelet\n" +
			"patch, installed.json and report.json. Kept: /etc/hybridnode/config.yaml, anything else, and the downloads in\n" +
			hoststate.StagingDir + " (--purge removes them). Loaded modules, applied sysctls and the swap lines commented\n" +
			"out in " + hoststate.Fstab + " stay as they are. Asks for confirmation on a terminal unless --force.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := bootstrap.NewEnv(a.root)
			if err != nil {
				return &bootstrap.UsageError{Msg: "--root: " + err.Error()}
			}
			if !dryRun && !force {
				if err := confirm(a.out, env.FS.Root(), purge); err != nil {
					return err
				}
			}
			n := env.Node(nil, nil, a.log)
			if dryRun {
				n.EnableDryRun()
			} else if err := n.Connect(cmd.Context()); err != nil {
				return err
			}
			defer n.Close()
			err = bootstrap.Reset(cmd.Context(), n, bootstrap.ResetOptions{Purge: purge})
			if dryRun {
				changes := n.Recorder.Changes()
				fmt.Fprintf(a.out, "\n=== hybridnode reset plan (root %s) ===\n", env.FS.Root())
				for _, c := range changes {
					fmt.Fprintln(a.out, "  "+c.String())
				}
				fmt.Fprintf(a.out, "\n%d change(s); nothing was touched.\n", len(changes))
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&purge, "purge", false, "also remove "+hoststate.StagingDir+", where hybridnode before 0.2 kept a copy of its downloads")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what reset would do; touch nothing")
	return cmd
}

// confirm asks on the terminal; without one, reset refuses (exit 2).
func confirm(out io.Writer, root string, purge bool) error {
	if !stdinIsTerminal() {
		return &bootstrap.UsageError{Msg: "reset asks for confirmation, and stdin is not a terminal: pass --force to reset without asking (or --dry-run to see what it would do)"}
	}
	what := config.DefaultFile + " and its drop-ins are kept"
	if purge {
		what += ", and " + hoststate.StagingDir + " (an older version's copy of the downloads) is removed"
	}
	fmt.Fprintf(out, "This runs `kubeadm reset -f`, stops and disables kubelet and containerd, and removes what hybridnode\n"+
		"wrote and installed under %s; %s. This node leaves the cluster.\nType yes to go on: ", root, what)
	line, _ := bufio.NewReader(stdin).ReadString('\n')
	if strings.TrimSpace(strings.ToLower(line)) != "yes" {
		return &bootstrap.UsageError{Msg: "reset not confirmed: nothing was changed"}
	}
	return nil
}
