package main

import (
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hybridnode/hybridnode/bootstrap/cluster"
	"github.com/hybridnode/hybridnode/bootstrap/config"
)

// app holds the common flags and the seams tests replace.
type app struct {
	out, errOut io.Writer
	kubeconfig  string
	kubeContext string
	opts        cluster.Options
	newClient   func(kubeconfig, kubeContext string) (*cluster.Client, error)
	// args is the command line after the program name.
	args []string
	// listening, when set, is told token-service's address (tests).
	listening func(net.Addr)
}

func usage(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return &cluster.InputError{Problems: []config.Problem{{Field: "command line", Want: msg}}}
}

// noArgs refuses positional arguments as invalid input.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usage("no arguments to %q, got %q (see %s --help)", cmd.CommandPath(), strings.Join(args, " "), cmd.CommandPath())
	}
	return nil
}

func newRootCommand(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "hybridnode-cluster",
		Short: "The administrator's side of hybridnode: check a hybrid cluster, set up and rotate a node pool's join settings",
		Long: "hybridnode-cluster works with a kubeconfig (--kubeconfig, else $KUBECONFIG, else ~/.kube/config) on a hybrid\n" +
			"cluster: a self-managed kubeadm cluster registered with ACK One and scaled out with ECS node pools.\n" +
			"  check    the hybrid setup, read-only; exit code 8 when a check fails\n" +
			"  setup    fix what check finds, make the node pool's bootstrap token (with a TTL) and render the\n" +
			"           node-pool script ACK runs on new ECS instances (addNodeScriptPath)\n" +
			"  rotate   a new token and script; the pool's other tokens expire after --grace\n" +
			"  token-service  run the service that exchanges an ECS instance's signed identity for a short-lived token\n" +
			"           (setup --credentials identity deploys it; then the script carries no token)\n" +
			"  identity verify  check an ECS instance identity (document, signature, audience) as the token service does,\n" +
			"           offline, each check's verdict: why a node was refused\n" +
			"Exit codes: 0 done, 1 internal or API error, 2 invalid input, 8 a check failed, 22 an identity was refused (identity verify).",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usage("a command (check, setup, rotate, token-service, identity, version), got %q", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usage("%v (see %s --help)", err, cmd.CommandPath())
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
	pf.StringVar(&a.kubeContext, "context", "", "kubeconfig context (default: its current context)")
	pf.StringVar(&a.opts.OnpremCNI, "onprem-cni", "kube-system/calico-node", "NAMESPACE/NAME of the on-premises CNI's DaemonSet (Flannel: kube-flannel/kube-flannel-ds, Cilium: kube-system/cilium)")
	pf.StringVar(&a.opts.NetworkMode, "network-mode", "", "the on-premises container network's mode: overlay (Flannel VXLAN, Calico IPIP/VXLAN, Cilium VXLAN), bgp or host (default: detected from the cluster)")
	pf.StringVar(&a.opts.CloudCNI, "cloud-cni", "kube-system/terway-eniip", "NAMESPACE/NAME of the cloud CNI's (Terway's) DaemonSet; never modified")
	pf.StringVar(&a.opts.NodePool, "node-pool", "default", "the node pool (a label value) whose token and script these are")
	pf.StringVar(&a.opts.VPCCIDR, "vpc-cidr", "", "the VPC's CIDR, checked against the cluster's pod and service subnets")
	pf.StringVar(&a.opts.ArtifactURL, "artifact-url", "", "where the nodes download Kubernetes: an http(s):// base with SHA256SUMS (or a directory on the nodes)")

	root.AddCommand(newCheckCommand(a), newSetupCommand(a, false), newSetupCommand(a, true), newTokenServiceCommand(a), newIdentityCommand(a),
		&cobra.Command{Use: "version", Short: "Print the version", Args: noArgs, RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(a.out, "hybridnode-cluster %s (commit %s, built %s)\n", version, commit, date)
			return nil
		}})
	return root
}

func (a *app) client() (*cluster.Client, error) { return a.newClient(a.kubeconfig, a.kubeContext) }

func newCheckCommand(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the hybrid setup, read-only: each check PASS, WARN, FAIL or SKIP with evidence and a remedy",
		Long: "Check the hybrid setup, read-only, in this order: " + strings.Join(cluster.CheckNames(), ", ") + ".\n" +
			"Each is PASS, WARN, FAIL or SKIP with one line of evidence and, when not PASS, a remedy. Exit code 8 when one fails.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return &cluster.InputError{Problems: []config.Problem{{Field: "-o/--output", Got: output, Want: "text or json"}}}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			r, err := cluster.Check(cmd.Context(), c, a.opts)
			if err != nil {
				return err
			}
			if output == "json" {
				if err := r.WriteJSON(a.out); err != nil {
					return err
				}
			} else {
				r.WriteText(a.out)
			}
			if f := r.Failed(); len(f) > 0 {
				return &checkFailed{names: f}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func newSetupCommand(a *app, rotate bool) *cobra.Command {
	o := cluster.SetupOptions{}
	output := "text"
	name, short := "setup", "Do the cluster-side steps of the hybrid setup that are missing and render the node pool's script"
	long := short + ", idempotently:\n" +
		"  - the on-premises CNI's DaemonSet gets alibabacloud.com/external NotIn [true] and type NotIn [virtual-kubelet]\n" +
		"    in every required nodeSelectorTerm (Terway, eni-config and other Secrets are never touched);\n" +
		"  - the node pool's bootstrap token: its newest when valid for longer than --grace, else a new one (--token-ttl),\n" +
		"    once cluster-info carries its signature;\n" +
		"  - the script (--script-out, 0600): the release's add-node.sh with the pool's join settings;\n" +
		"  - with --script-url, ack-agent-config's addNodeScriptPath.\n" +
		"With --credentials identity, instead of the token: the token service in kube-system (ServiceAccount, a Role on Secrets,\n" +
		"  a ClusterRole reading Nodes, their bindings, its TLS Secret with a self-signed certificate, a ConfigMap with the cluster's\n" +
		"  audience, a Deployment of 2 replicas on on-premises nodes, and with --token-service-expose service a Service); the\n" +
		"  script then carries the service's URL, the pin of its key and the audience, and no secret.\n" +
		"Everything is read and validated before the first change; a second run changes nothing (\"no changes\").\n" +
		"WITH --credentials token THE SCRIPT CARRIES A BOOTSTRAP TOKEN: keep it in a private bucket or behind a signed URL reachable only inside the VPC."
	if rotate {
		name, short = "rotate", "Make a new token for the node pool, render the script again, and let the pool's other tokens expire"
		long = short + ":\n" +
			"a new bootstrap token (--token-ttl, once cluster-info carries its signature), the script written again, addNodeScriptPath\n" +
			"set with --script-url, then every other token of the pool expires within --grace (kube-controller-manager's tokencleaner\n" +
			"deletes it then; --grace 0 deletes it at once) and expired ones are deleted. The CNI is not touched. For cron or a CronJob."
	}
	cmd := &cobra.Command{
		Use:   name,
		Short: short,
		Long:  long,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch output {
			case "text":
			case "yaml":
				o.Manifests = true
			default:
				return &cluster.InputError{Problems: []config.Problem{{Field: "-o/--output", Got: output, Want: "text, or yaml (setup --credentials identity --dry-run)"}}}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			o.Options = a.opts
			o.Command = commandLine(a.args)
			o.Out, o.Err = a.out, a.errOut
			if rotate {
				return cluster.Rotate(cmd.Context(), c, o)
			}
			return cluster.Setup(cmd.Context(), c, o)
		},
	}
	f := cmd.Flags()
	releaseHelp := "the release's base: an http(s):// URL or a directory with add-node.sh and SHA256SUMS (where make release put them)"
	if releaseURL != "" {
		releaseHelp += "; default: this binary's release"
	}
	f.StringVar(&o.Release, "release", releaseURL, releaseHelp)
	f.StringVar(&o.ScriptOut, "script-out", "", "the script file to write (default add-node-<node pool>.sh)")
	f.StringVar(&o.ScriptURL, "script-url", "", "set ack-agent-config's addNodeScriptPath to this URL, where you upload the script (https; a private bucket or a signed URL)")
	f.DurationVar(&o.TokenTTL, "token-ttl", cluster.DefaultTokenTTL, "lifetime of a new bootstrap token (positive: a token that never expires is refused)")
	f.DurationVar(&o.Grace, "grace", cluster.DefaultGrace, "setup: reuse the pool's token when it is valid for longer; rotate: the pool's other tokens expire after it (0: deleted at once)")
	f.StringVar(&o.NodeConfig, "node-config", "", "YAML file of further hybridnode node config keys for the pool (registryMirrors, containerdVersion, sandboxImage, restrictOOMScoreAdj, ...)")
	f.StringVar(&o.APIServerEndpoint, "api-server-endpoint", "", "host:port the nodes join (default: the server in kube-public/cluster-info)")
	f.StringVar(&o.KubernetesVersion, "kubernetes-version", "", "kubelet and kubeadm version of the nodes (default: the cluster's)")
	f.BoolVar(&o.DryRun, "dry-run", false, "print every change as a diff (secrets [REDACTED]) and change nothing")
	if !rotate {
		id := &o.Identity
		f.StringVar(&id.Credentials, "credentials", cluster.CredentialsToken, "how nodes get their bootstrap token: token (in the script) or identity (from the token service, for their ECS instance identity; the script carries no secret)")
		f.StringVar(&id.IdentityCA, "identity-ca", "", "identity: PEM file of the certificates that sign ECS instance identities (default: Alibaba Cloud's, built in)")
		f.StringSliceVar(&id.Accounts, "accounts", nil, "identity: Alibaba Cloud account IDs whose instances may join (required)")
		f.StringSliceVar(&id.Regions, "regions", nil, "identity: regions whose instances may join (default: any)")
		f.StringSliceVar(&id.Zones, "zones", nil, "identity: zones whose instances may join (default: any)")
		f.StringVar(&id.Image, "token-service-image", "", "identity: the image that runs hybridnode-cluster token-service (required)")
		f.StringSliceVar(&id.Addresses, "token-service-address", nil, "identity: DNS names or IPs the nodes reach the token service at; the first goes into the script, all into its certificate (required)")
		f.StringVar(&id.Expose, "token-service-expose", cluster.ExposeHostNetwork, "identity: hostnetwork (on on-premises nodes' networks, host port) or service (an internal LoadBalancer Service)")
		f.IntVar(&id.Port, "token-service-port", cluster.DefaultTokenServicePort, "identity: the token service's port")
		f.StringVarP(&output, "output", "o", "text", "text (the changes, diffs with --dry-run), or yaml: with --credentials identity --dry-run, every object of the token service as a YAML stream for GitOps (its TLS Secret with its key), nothing changed")
		f.StringVar(&id.NodeNameTemplate, "node-name-template", "", "identity: the Node name an instance may take, derived from its signed document (Go template over .RegionID, .ZoneID, .InstanceID, .AccountID, .PrivateIPv4; default ACK's {{.RegionID}}.{{.PrivateIPv4}})")
	}
	return cmd
}

// commandLine is the command that made a script, for its comment. No flag
// takes a secret.
func commandLine(args []string) string {
	parts := []string{"hybridnode-cluster"}
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,@%+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
