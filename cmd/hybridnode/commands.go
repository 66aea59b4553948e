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
	// A bad value of a field's flag is reported as Load would: a *config.Error (exit 2).
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
	// each flag's Changed mark.
	for _, f := range a.fields {
		if f.flag.Changed {
			flags[f.field.Key] = f.value
		}
	}
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

func (a *app) run(ctx context.Context, name string, phases []bootstrap.Phase, o bootstrap.ExecuteOptions) error {
	l, n, err := a.resolve(o.Join)
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
// the field's Kind as it is parsed, and handed to config.Load as given.
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

// Set keeps the value as given: config.Load parses it by the field's Kind
// and reports a bad one together with every other problem of the input.
func (v *fieldFlag) Set(s string) error {
	v.value = s
	return nil
}
