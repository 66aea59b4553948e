package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hybridnode/hybridnode/bootstrap"
	"github.com/hybridnode/hybridnode/bootstrap/doctor"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
	"github.com/hybridnode/hybridnode/bootstrap/systemd"
)

// status is what `hybridnode status` shows.
type status struct {
	Root      string            `json:"root"`
	Joined    bool              `json:"joined"`
	LastRun   *hoststate.Report `json:"lastRun"`
	Installed map[string]string `json:"installed,omitempty"`
	Units     map[string]string `json:"units"`
	Node      *nodeStatus       `json:"node,omitempty"`
	// NodeError says why the Node could not be shown.
	NodeError string `json:"nodeError,omitempty"`
}

type nodeStatus struct {
	Name           string            `json:"name"`
	Ready          string            `json:"ready"`
	Reason         string            `json:"reason,omitempty"`
	Message        string            `json:"message,omitempty"`
	ProviderID     string            `json:"providerID,omitempty"`
	KubeletVersion string            `json:"kubeletVersion,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
	Taints         []string          `json:"taints,omitempty"`
	Credentials    string            `json:"credentials"`
}

// statusTimeout bounds each request to the API server.
var statusTimeout = 5 * time.Second

func newStatusCommand(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "The last run's report, installed versions, unit states and, when joined, this Node as the API server sees it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.checkOutput(output); err != nil {
				return err
			}
			env, err := bootstrap.NewEnv(a.root)
			if err != nil {
				return &bootstrap.UsageError{Msg: "--root: " + err.Error()}
			}
			s, err := collectStatus(cmd.Context(), env)
			if err != nil {
				return err
			}
			if output == "json" {
				data, err := json.MarshalIndent(s, "", "  ")
				if err != nil {
					return err
				}
				_, err = a.out.Write(append(data, '\n'))
				return err
			}
			s.writeText(a.out)
			return nil
		},
	}
	outputFlag(cmd, &output)
	return cmd
}

func collectStatus(ctx context.Context, env bootstrap.Env) (*status, error) {
	s := &status{Root: env.FS.Root(), Units: map[string]string{}}
	var err error
	if s.LastRun, err = hoststate.ReadReport(env.FS); err != nil {
		return nil, err
	}
	rec, err := hoststate.ReadInstalled(env.FS)
	if err != nil {
		return nil, err
	}
	if rec != nil {
		s.Installed = rec.Versions
	}
	var m systemd.Manager
	why := "no live host behind the root"
	if env.Live {
		if m, err = systemd.NewDBus(ctx); err == nil {
			defer m.Close()
		} else {
			m, why = nil, "systemd did not answer: "+err.Error()
		}
	}
	for _, u := range []string{hoststate.ContainerdUnit, hoststate.KubeletUnit} {
		switch {
		case m == nil:
			s.Units[u] = "unknown (" + why + ")"
		case hoststate.UnitFile(env.FS, env.Facts, u) == "":
			s.Units[u] = "not installed"
		default:
			st, err := m.ActiveState(ctx, u)
			if err != nil {
				st = "unknown (" + err.Error() + ")"
			}
			if n, err := m.NRestarts(ctx, u); err == nil && n > 0 {
				st += fmt.Sprintf(", restarted %d time(s)", n)
			}
			s.Units[u] = st
		}
	}
	joined, why := hoststate.Joined(env.FS)
	s.Joined = joined
	if !joined {
		s.NodeError = "not joined: " + why
		return s, nil
	}
	nf := doctor.FetchNode(ctx, &doctor.Env{FS: env.FS, Facts: env.Facts, Live: env.Live, Timeout: statusTimeout})
	switch {
	case nf.Err != nil:
		s.NodeError = fmt.Sprintf("GET Node %s: %v", nf.Name, nf.Err)
	case nf.Status == 0:
		s.NodeError = "cannot ask the API server: " + nf.Why
	case nf.Status != http.StatusOK:
		s.NodeError = fmt.Sprintf("GET Node %s with %s: HTTP %d %s", nf.Name, nf.Who, nf.Status, http.StatusText(nf.Status))
	default:
		n := nf.Node
		ns := &nodeStatus{Name: n.Metadata.Name, ProviderID: n.Spec.ProviderID, KubeletVersion: n.Status.NodeInfo.KubeletVersion, Labels: n.Metadata.Labels, Credentials: nf.Who}
		ns.Ready, ns.Reason, ns.Message = n.Ready()
		for _, t := range n.Spec.Taints {
			ns.Taints = append(ns.Taints, t.String())
		}
		s.Node = ns
	}
	return s, nil
}

func (s *status) writeText(w io.Writer) {
	fmt.Fprintf(w, "hybridnode status (root %s)\n", s.Root)
	if r := s.LastRun; r == nil {
		fmt.Fprintf(w, "\nLast run: none (no %s)\n", hoststate.ReportPath)
	} else {
		fmt.Fprintf(w, "\nLast run: %s, %s (exit %d), %s, took %s\n", r.Command, r.Result, r.ExitCode,
			r.Started.Local().Format(time.DateTime), r.Finished.Sub(r.Started).Round(time.Second))
		for _, p := range r.Phases {
			fmt.Fprintf(w, "  %-11s %-8s %6.1fs", p.Name, p.Status, p.Seconds)
			if p.Error != "" {
				fmt.Fprintf(w, "  %s", firstLine(p.Error))
			}
			fmt.Fprintln(w)
		}
		if r.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", r.Error)
		}
	}
	if len(s.Installed) == 0 {
		fmt.Fprintf(w, "\nInstalled: nothing recorded (no %s)\n", hoststate.InstalledPath)
	} else {
		names := make([]string, 0, len(s.Installed))
		for k := range s.Installed {
			names = append(names, k)
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for i, k := range names {
			parts[i] = k + " " + s.Installed[k]
		}
		fmt.Fprintf(w, "\nInstalled: %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "\nUnits:\n  %-19s %s\n  %-19s %s\n", hoststate.ContainerdUnit, s.Units[hoststate.ContainerdUnit], hoststate.KubeletUnit, s.Units[hoststate.KubeletUnit])
	if s.Node == nil {
		fmt.Fprintf(w, "\nNode: %s\n", s.NodeError)
		return
	}
	n := s.Node
	fmt.Fprintf(w, "\nNode %s (as the API server sees it, with %s):\n", n.Name, n.Credentials)
	ready := n.Ready
	if n.Reason != "" {
		ready += " (" + n.Reason + ": " + n.Message + ")"
	}
	fmt.Fprintf(w, "  Ready:      %s\n  providerID: %s\n  kubelet:    %s\n", ready, orNone(n.ProviderID), orNone(n.KubeletVersion))
	keys := make([]string, 0, len(n.Labels))
	for k := range n.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintln(w, "  labels:")
	for _, k := range keys {
		fmt.Fprintf(w, "    %s=%s\n", k, n.Labels[k])
	}
	fmt.Fprintf(w, "  taints:     %s\n", orNone(strings.Join(n.Taints, ", ")))
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
