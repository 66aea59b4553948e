package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hybridnode/hybridnode/bootstrap"
	"github.com/hybridnode/hybridnode/bootstrap/command"
	"github.com/hybridnode/hybridnode/bootstrap/doctor"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/bootstrap/systemd"
)

func outputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", "text", "text or json")
}

// checkOutput validates -o; json output keeps log lines below errors off stdout.
func (a *app) checkOutput(output string) error {
	switch output {
	case "text":
	case "json":
		a.log = a.log.WithOptions(zap.IncreaseLevel(zapcore.ErrorLevel))
	default:
		return &bootstrap.UsageError{Msg: fmt.Sprintf("-o/--output: got %q, want text or json", output)}
	}
	return nil
}

func newDoctorCommand(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check this node and its way to the cluster: each check PASS, WARN, FAIL or SKIP, with its evidence and a remedy",
		Long: "Check this node and its way to the cluster: the host (root, systemd, cgroups, swap, modules, sysctls), the\n" +
			"configuration, the API server (DNS, TCP and TLS reach, clock, CA pin, bootstrap token), the artifact source,\n" +
			"containerd and kubelet with their last log lines, that they and hybridnode agree on the HTTP(S) proxy,\n" +
			"another CNI on a cloud node, the pod subnet against the VPC, and the Node name. Exit code 8 when a check\n" +
			"fails. Nothing is changed.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(output); err != nil {
				return err
			}
			e, err := a.doctorEnv(cmd.Context())
			if err != nil {
				return err
			}
			if e.Systemd != nil {
				defer e.Systemd.Close()
			}
			r := doctor.Run(cmd.Context(), e, doctor.Checks())
			if output == "json" {
				if err := r.WriteJSON(a.out); err != nil {
					return err
				}
			} else {
				r.WriteText(a.out)
			}
			if failed := r.Failed(); len(failed) > 0 {
				return &bootstrap.PhaseError{Class: bootstrap.ClassDoctor,
					Err: fmt.Errorf("doctor: %d check(s) failed: %s", len(failed), strings.Join(failed, ", "))}
			}
			return nil
		},
	}
	outputFlag(cmd, &output)
	return cmd
}

// doctorEnv resolves what doctor checks. An invalid configuration (or an
// unreadable install record) is not an error here but the config check's
// FAIL: doctor goes on with what Resolve could read.
func (a *app) doctorEnv(ctx context.Context) (*doctor.Env, error) {
	env, err := a.env()
	if err != nil {
		return nil, err
	}
	joined, _ := hoststate.Joined(env.FS)
	e := &doctor.Env{FS: env.FS, Facts: env.Facts, Live: env.Live}
	e.Config, e.Spec, e.ConfigErr = a.resolve(env, !joined)
	if env.Live {
		e.Cmd = command.Exec{}
		if m, err := systemd.NewDBus(ctx); err == nil {
			e.Systemd = m
		} else {
			a.log.Debug("systemd not reachable", zap.Error(err))
		}
	}
	return e, nil
}
