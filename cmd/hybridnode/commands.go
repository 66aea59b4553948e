package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/hybridnode/hybridnode/bootstrap"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/hoststate"
)

// app holds the global flags and the logger, built once in PersistentPreRunE.
type app struct {
	root       string
	configFile string
	skipPhases []string
	logFormat  string
	verbose    bool
	fields     []*fieldFlag   // one per configuration field that has a flag
	shared     *pflag.FlagSet // --config and --skip-phases, added to the commands that take them
	log        *zap.Logger
	out        io.Writer
}

func newRootCommand(a *app) *cobra.Command {
	a.out = os.Stdout
	root := &cobra.Command{
		Use:           "hybridnode",
		Short:         "Turn a bare ECS instance into a worker node of a hybrid Kubernetes cluster",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(a.logFormat, a.verbose)
			if err != nil {
				return err
			}
			a.log = log
			return nil
		},
	}
	// The flags every command has. The others belong to the commands that
	// use them: see configFlags and phaseFlags.
	pf := root.PersistentFlags()
	pf.StringVar(&a.root, "root", "/", "every host path lives under this directory (tests, image roots); with a root other than / nothing is started")
	pf.StringVar(&a.logFormat, "log-format", "console", "console or json")
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "debug logging")
	a.shared = pflag.NewFlagSet("shared", pflag.ContinueOnError)
	a.shared.StringVar(&a.configFile, "config", "", "config file (default "+config.DefaultFile+" when present)")
	a.shared.StringSliceVar(&a.skipPhases, "skip-phases", nil, "phases to skip, comma separated: "+strings.Join(bootstrap.Names(bootstrap.Phases()), ", "))
	// One flag per configuration field (secrets excepted), generated from the field table.
	a.fields = newFieldFlags()
	// A bad value of a field's flag is reported as Resolve would: a *config.Error (exit 2).
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		var ce *config.Error
		if errors.As(err, &ce) {
			return ce
		}
		return err
	})

	configCmd, doctorCmd := newConfigCommand(a), newDoctorCommand(a)
	a.configFlags(configCmd.PersistentFlags(), joinFields)
	a.configFlags(doctorCmd.Flags(), joinFields)
	root.AddCommand(
		newRunCommand(a, "join", "Install, configure and join this node (the whole job, as ACK runs it)", bootstrap.Phases, true),
		newRunCommand(a, "install", "Everything but the join: how an ECS image is baked", bootstrap.InstallPhases, false),
		newPlanCommand(a),
		configCmd,
		doctorCmd,
		newStatusCommand(a),
		newResetCommand(a),
		newClusterCommand(),
		newTokenServiceCommand(),
		&cobra.Command{Use: "version", Short: "Print the version", Args: cobra.NoArgs, RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(a.out, "hybridnode %s (commit %s, built %s)\n", version, commit, date)
			return nil
		}},
	)
	return root
}

func phaseHelp(phases []bootstrap.Phase) string {
	var b strings.Builder
	b.WriteString("\nPhases, in order:\n")
	for _, p := range phases {
		fmt.Fprintf(&b, "  %-11s %s\n", p.Name, p.Short)
	}
	return b.String()
}

func newRunCommand(a *app, name, short string, phases func() []bootstrap.Phase, join bool) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   name,
		Short: short,
		Long:  short + "\n" + phaseHelp(phases()),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := bootstrap.Select(phases(), nil, a.skipPhases)
			if err != nil {
				return err
			}
			return a.run(cmd.Context(), name, list, bootstrap.ExecuteOptions{Join: join, DryRun: dryRun, Bake: !join})
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print every file it would write (as a diff), every command and download; touch nothing")
	// Persistent: `join phase NAME` takes them too.
	a.phaseFlags(cmd.PersistentFlags())
	if join {
		a.configFlags(cmd.PersistentFlags(), joinFields)
	} else {
		a.configFlags(cmd.PersistentFlags(), installFields)
	}
	phaseCmd := &cobra.Command{Use: "phase NAME", Short: "Run one phase of " + name, Long: phaseHelp(phases())}
	for _, p := range phases() {
		p := p
		phaseCmd.AddCommand(&cobra.Command{
			Use: p.Name, Short: p.Short, Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				list, err := bootstrap.Select(phases(), []string{p.Name}, a.skipPhases)
				if err != nil {
					return err
				}
				return a.run(cmd.Context(), name+" phase "+p.Name, list, bootstrap.ExecuteOptions{Join: join && p.Name == "join", DryRun: dryRun, Bake: !join})
			},
		})
	}
	phaseCmd.PersistentFlags().BoolVar(&dryRun, "dry-run", false, "print what the phase would change; touch nothing")
	cmd.AddCommand(phaseCmd)
	return cmd
}

func newPlanCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "What `join` would do: files as diffs, commands, downloads, preflight findings (same as join --dry-run)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := bootstrap.Select(bootstrap.Phases(), nil, a.skipPhases)
			if err != nil {
				return err
			}
			return a.run(cmd.Context(), "plan", list, bootstrap.ExecuteOptions{Join: true, DryRun: true})
		},
	}
	a.phaseFlags(cmd.Flags())
	a.configFlags(cmd.Flags(), joinFields)
	return cmd
}

// Which configuration fields' flags a command takes.
const (
	joinFields    = iota // all: join, plan, config, doctor
	installFields        // those install uses
)

// configFlags adds --config and the flags of the configuration fields.
func (a *app) configFlags(fs *pflag.FlagSet, which int) {
	fs.AddFlag(a.shared.Lookup("config"))
	for _, f := range a.fields {
		if which == joinFields || f.field.Install {
			fs.AddFlag(f.flag)
		}
	}
}

// phaseFlags adds the flags of the commands that run phases.
func (a *app) phaseFlags(fs *pflag.FlagSet) { fs.AddFlag(a.shared.Lookup("skip-phases")) }

func newConfigCommand(a *app) *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Check or show the resolved configuration"}
	var install bool
	check := &cobra.Command{
		Use: "check", Short: "Validate the configuration (as join would, or as install with --install)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, _, err := a.node(!install); err != nil {
				return err
			}
			fmt.Fprintln(a.out, "configuration is valid")
			return nil
		},
	}
	check.Flags().BoolVar(&install, "install", false, "check for `install` (the join fields are not required)")
	dump := &cobra.Command{
		Use: "dump", Short: "Print the resolved configuration, each field with its source; secrets are [REDACTED]", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := a.env()
			if err != nil {
				return err
			}
			// Shown as far as it resolved: only a source that could not be
			// read or parsed (or an unreadable install record) stops it.
			l, _, err := a.resolve(env, false)
			var ce *config.Error
			if err != nil && !(errors.As(err, &ce) && l.Parsed()) {
				return err
			}
			_, err = a.out.Write(l.Dump())
			return err
		},
	}
	c.AddCommand(check, dump)
	return c
}

// env opens the root.
func (a *app) env() (bootstrap.Env, error) {
	env, err := bootstrap.NewEnv(a.root)
	if err != nil {
		return env, &bootstrap.UsageError{Msg: "--root: " + err.Error()}
	}
	return env, nil
}

// resolve is config.Resolve over the root: every source, the instance
// metadata for hand runs on ECS (see metadata.go), the install record
// (installed.json) and validation, every problem at once before anything
// on the host is touched. The Loaded is returned whatever the problems
// (for doctor and config dump).
func (a *app) resolve(env bootstrap.Env, join bool) (*config.Loaded, *config.Spec, error) {
	flags := map[string]string{}
	// The flags are parsed by the subcommand's merged flag set, so look at
	// each flag's Changed mark.
	for _, f := range a.fields {
		if f.flag.Changed {
			flags[f.field.Key] = f.value
		}
	}
	opts := config.ResolveOptions{
		File: a.configFile, Flags: flags,
		Hostname:  env.Hostname(),
		Metadata:  ecsMetadata{env.FS},
		Installed: hoststate.InstalledVersions(env.FS), InstalledFrom: hoststate.InstalledPath,
		Join: join, Root: env.FS.Root(),
	}
	if !env.Live {
		opts.DefaultFile = filepath.Join(env.FS.Root(), config.DefaultFile)
	}
	l, s, err := config.Resolve(opts)
	a.logMetadata(l)
	return l, s, err
}

// node resolves a valid configuration and assembles the node. Warnings (a
// token readable by others) are logged. join (join, join phase join, plan,
// config check without --install) requires the join fields (the API
// server, the CA pins and, unless credentialSource is instance-identity,
// the token), but not on a node joined already: a join there does nothing
// but finish what a killed run left (the token is no longer needed, and
// the join removed it from the node-pool settings), as doctor does.
func (a *app) node(join bool) (*config.Loaded, *bootstrap.Node, error) {
	env, err := a.env()
	if err != nil {
		return nil, nil, err
	}
	if join {
		if joined, _ := hoststate.Joined(env.FS); joined {
			join = false
		}
	}
	l, spec, err := a.resolve(env, join)
	for _, w := range l.Warnings {
		a.log.Warn(w)
	}
	if err != nil {
		return nil, nil, err
	}
	return l, env.Node(l, spec, a.log), nil
}

func (a *app) run(ctx context.Context, name string, phases []bootstrap.Phase, o bootstrap.ExecuteOptions) error {
	l, n, err := a.node(o.Join)
	if err != nil {
		return err
	}
	n.Report = bootstrap.NewReport(version, name, time.Now(), n.Spec.Token.Reveal())
	a.log.Info("hybridnode "+name, zap.String("version", version), zap.String("node", n.Spec.NodeName), zap.String("kubernetes", n.Spec.KubernetesVersion), zap.String("root", n.FS.Root()), zap.Bool("dryRun", o.DryRun))
	ran, err := bootstrap.Execute(ctx, n, phases, o)
	if ran && o.DryRun {
		bootstrap.PrintPlan(a.out, n)
	}
	if err == nil {
		a.log.Info("hybridnode " + name + " succeeded")
	} else if o.Join && !o.DryRun {
		err = a.diagnoseJoin(ctx, l, n, err)
	}
	return err
}

// fieldFlag is the flag of one configuration field. Its value is checked by
// the field's Kind as it is parsed, and handed to config.Resolve as given.
type fieldFlag struct {
	field config.Field
	flag  *pflag.Flag
	value string
}

// newFieldFlags makes the flags of the field table.
func newFieldFlags() []*fieldFlag {
	var out []*fieldFlag
	for _, f := range config.Fields {
		if f.Flag == "" {
			continue
		}
		v := &fieldFlag{field: f}
		v.flag = &pflag.Flag{Name: f.Flag, Usage: f.Usage + " (env " + strings.Join(f.Env, ", ") + ")", Value: v}
		if f.Kind == config.KindBool {
			v.flag.NoOptDefVal = "true" // --restrict-oom-score-adj alone means true
		}
		out = append(out, v)
	}
	return out
}

func (v *fieldFlag) String() string { return v.value }
func (v *fieldFlag) Type() string   { return v.field.Kind.String() }

// Set keeps the value as given: config.Resolve parses it by the field's Kind
// and reports a bad one together with every other problem of the input.
func (v *fieldFlag) Set(s string) error {
	v.value = s
	return nil
}
