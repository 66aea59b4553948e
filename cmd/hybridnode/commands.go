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
)

// app holds the global flags and the logger, built once in PersistentPreRunE.
type app struct {
	root       string
	configFile string
	skipPhases []string
	logFormat  string
	verbose    bool
	fields     *pflag.FlagSet
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
	pf := root.PersistentFlags()
	pf.StringVar(&a.root, "root", "/", "every host path lives under this directory (tests, image roots); with a root other than / nothing is started")
	pf.StringVar(&a.configFile, "config", "", "config file (default "+config.DefaultFile+" when present)")
	pf.StringSliceVar(&a.skipPhases, "skip-phases", nil, "phases to skip, comma separated: "+strings.Join(bootstrap.Names(bootstrap.Phases()), ", "))
	pf.StringVar(&a.logFormat, "log-format", "console", "console or json")
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "debug logging")
	// One flag per configuration field (secrets excepted), generated from the field table.
	a.fields = pflag.NewFlagSet("config", pflag.ContinueOnError)
	for _, f := range config.Fields {
		if f.Flag != "" {
			a.fields.String(f.Flag, "", f.Usage+" (env "+strings.Join(f.Env, ", ")+")")
		}
	}
	pf.AddFlagSet(a.fields)

	root.AddCommand(
		newRunCommand(a, "join", "Install, configure and join this node (the whole job, as ACK runs it)", bootstrap.Phases, true),
		newRunCommand(a, "install", "Everything but the join: how an ECS image is baked", bootstrap.InstallPhases, false),
		newPlanCommand(a),
		newConfigCommand(a),
		newDoctorCommand(a),
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
			return a.run(cmd.Context(), name, list, join, dryRun)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print every file it would write (as a diff), every command and download; touch nothing")
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
				return a.run(cmd.Context(), name+" phase "+p.Name, list, join && p.Name == "join", dryRun)
			},
		})
	}
	phaseCmd.PersistentFlags().BoolVar(&dryRun, "dry-run", false, "print what the phase would change; touch nothing")
	cmd.AddCommand(phaseCmd)
	return cmd
}

func newPlanCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "plan",
		Short: "What `join` would do: files as diffs, commands, downloads, preflight findings (same as join --dry-run)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := bootstrap.Select(bootstrap.Phases(), nil, a.skipPhases)
			if err != nil {
				return err
			}
			return a.run(cmd.Context(), "plan", list, true, true)
		},
	}
}

func newConfigCommand(a *app) *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Check or show the resolved configuration"}
	var install bool
	check := &cobra.Command{
		Use: "check", Short: "Validate the configuration (as join would, or as install with --install)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, _, err := a.resolve(!install); err != nil {
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
			l, _, err := a.load()
			if err != nil {
				return err
			}
			_, err = a.out.Write(l.Dump())
			return err
		},
	}
	c.AddCommand(check, dump)
	return c
}

// load reads the configuration from every source and derives defaults.
// On a *config.Error it still returns what could be loaded, derived (for
// doctor, and for resolve to validate the rest): the instance metadata is
// asked only for a configuration that loaded.
func (a *app) load() (*config.Loaded, bootstrap.Env, error) {
	env, err := bootstrap.NewEnv(a.root)
	if err != nil {
		return nil, env, &bootstrap.UsageError{Msg: "--root: " + err.Error()}
	}
	flags := map[string]string{}
	// The flags are parsed by the subcommand's merged flag set, so look at
	// each flag's Changed mark rather than this set's own record.
	a.fields.VisitAll(func(f *pflag.Flag) {
		for _, fld := range config.Fields {
			if fld.Flag == f.Name && f.Changed {
				flags[fld.Key] = f.Value.String()
			}
		}
	})
	opts := config.LoadOptions{File: a.configFile, Flags: flags}
	if !env.Live {
		opts.DefaultFile = filepath.Join(env.FS.Root(), config.DefaultFile)
	}
	l, err := config.Load(opts)
	if l == nil {
		return nil, env, err
	}
	l.Derive(env.Hostname(), env.SandboxImage)
	if err != nil {
		return l, env, err // l: what could be loaded, for doctor and resolve
	}
	a.applyMetadata(l, env) // hand runs on ECS: see metadata.go
	return l, env, nil
}

// resolve loads and validates: every problem (those of loading, such as a
// value that does not parse, and those of validation) is reported at once,
// before anything on the host is touched. Warnings (a token readable by
// others) are logged.
func (a *app) resolve(join bool) (*config.Loaded, *bootstrap.Node, error) {
	l, env, err := a.load()
	var ce *config.Error
	if err != nil && (l == nil || !errors.As(err, &ce)) {
		return nil, nil, err
	}
	// Validate reports Load's problems too.
	spec, err := config.Validate(l, config.ValidateOptions{Join: join, Root: env.FS.Root()})
	for _, w := range l.Warnings {
		a.log.Warn(w)
	}
	if err != nil {
		return nil, nil, err
	}
	n := env.Node(l, spec, a.log)
	if err := bootstrap.AdoptInstalled(n); err != nil {
		return nil, nil, err
	}
	return l, n, nil
}

func (a *app) run(ctx context.Context, name string, phases []bootstrap.Phase, join, dryRun bool) error {
	_, n, err := a.resolve(join)
	if err != nil {
		return err
	}
	n.Report = bootstrap.NewReport(version, name, time.Now(), n.Spec.Token.Reveal())
	a.log.Info("hybridnode "+name, zap.String("version", version), zap.String("node", n.Spec.NodeName), zap.String("kubernetes", n.Spec.KubernetesVersion), zap.String("root", n.FS.Root()), zap.Bool("dryRun", dryRun))
	ran, err := bootstrap.Execute(ctx, n, phases, join, dryRun)
	if ran && dryRun {
		bootstrap.PrintPlan(a.out, n)
	}
	if err == nil {
		a.log.Info("hybridnode " + name + " succeeded")
	}
	return err
}
