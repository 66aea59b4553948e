package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/time/rate"

	"github.com/hybridnode/hybridnode/bootstrap/cluster"
	"github.com/hybridnode/hybridnode/bootstrap/config"
	"github.com/hybridnode/hybridnode/bootstrap/tokenservice"
)

func newTokenServiceCommand(a *app) *cobra.Command {
	var (
		o                         tokenservice.Options
		identityCA                string
		accounts, regions, zones  []string
		rateFlag, clientRateFlag  float64
		burst, clientBurst        int
		tokenTTL, window, recheck time.Duration
		nameTemplate              string
		approveOnly               bool
		metricsListen             string
	)
	cmd := &cobra.Command{
		Use:   "token-service",
		Short: "Run the token service: exchange an ECS instance's signed identity for a short-lived bootstrap token",
		Long: "Run the token service (credentials identity; setup --credentials identity deploys it): an HTTPS endpoint, POST " +
			"/v1/exchange,\nwhere a node sends its ECS instance identity document and the metadata service's PKCS#7 signature of it for\n" +
			"\"<--audience>:<unix seconds>\", and gets a bootstrap token of its own (--token-ttl). Checked in order: the request's size\n" +
			"and rate (--rate/--burst in all, --client-rate/--client-burst per client IP), the audience and its time (--window), the\n" +
			"signature (by Alibaba Cloud's instance identity certificate, built in, or one of --identity-ca's) and the signed\n" +
			"document, the account (--accounts, required), region and zone (--regions, --zones), the provider ID against the signed\n" +
			"instance, the node name against the one derived from the signed document (--node-name-template), one token per\n" +
			"instance per --token-ttl (kept in Leases of namespace " + tokenservice.RecordNamespace + ").\n" +
			"It approves the kubelet client CSR of each token it issued, once, for that name only, and denies every other CSR of its\n" +
			"tokens' groups; node-pool tokens' CSRs are approved for names of the template's form (address in --vpc-cidr) that no\n" +
			"Node holds. A token is deleted once its Node registers. Every decision is logged (JSON on stderr), never a token, and\n" +
			"counted in Prometheus metrics at " + tokenservice.MetricsPath + ". Stops on SIGTERM or SIGINT.\n" +
			"It uses the kubeconfig flags, or the in-cluster service account when run in a Pod without them: it creates and deletes\n" +
			"Secrets in kube-system (never reads one), keeps Leases in " + tokenservice.RecordNamespace + ", reads Nodes, and approves CSRs.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var p []config.Problem
			bad := func(field, got, want string) { p = append(p, config.Problem{Field: field, Got: got, Want: want}) }
			if approveOnly {
				return runApprover(cmd, a, nameTemplate, metricsListen)
			}
			if _, port, err := net.SplitHostPort(o.Listen); err != nil || !validPort(port) {
				bad("--listen", o.Listen, "host:port or :port to listen on, such as :9443")
			}
			for _, f := range []struct{ flag, v string }{{"--tls-cert", o.CertFile}, {"--tls-key", o.KeyFile}} {
				if f.v == "" {
					bad(f.flag, "", "the service's TLS "+map[string]string{"--tls-cert": "certificate", "--tls-key": "key"}[f.flag]+" (PEM), such as tls.crt or tls.key of the Secret kube-system/"+cluster.TokenServiceName+"-tls that setup --credentials identity makes")
				} else if _, err := os.Stat(f.v); err != nil {
					bad(f.flag, f.v, "a readable PEM file: "+err.Error())
				}
			}
			if identityCA != "" {
				if data, err := os.ReadFile(identityCA); err != nil {
					bad("--identity-ca", identityCA, "a readable PEM file of certificates: "+err.Error())
				} else if signers, err := tokenservice.LoadSigners(data); err != nil {
					bad("--identity-ca", identityCA, "a PEM file of the RSA certificates that sign ECS instance identities: "+err.Error())
				} else {
					o.Signers = signers
				}
			}
			if !tokenservice.AudienceRE.MatchString(o.Audience) {
				bad("--audience", o.Audience, "the cluster's audience: 1 to 128 letters, digits, '.', '_', '-' or '/' (no ':'), starting with a letter or digit (setup keeps it in ConfigMap kube-system/"+cluster.TokenServiceName+")")
			}
			o.Accounts = clean(accounts)
			if len(o.Accounts) == 0 {
				bad("--accounts", "", "the Alibaba Cloud account IDs whose instances may join, comma-separated (required)")
			}
			for _, acc := range o.Accounts {
				if strings.Trim(acc, "0123456789") != "" {
					bad("--accounts", acc, "account IDs of digits only")
				}
			}
			o.Regions, o.Zones = clean(regions), clean(zones)
			if tokenTTL <= 0 {
				bad("--token-ttl", tokenTTL.String(), "a positive duration such as 15m")
			}
			if window <= 0 {
				bad("--window", window.String(), "a positive duration such as 5m")
			}
			if recheck <= 0 {
				bad("--reconcile-interval", recheck.String(), "a positive duration such as 5s")
			}
			for _, f := range []struct {
				flag string
				v    float64
			}{{"--rate", rateFlag}, {"--client-rate", clientRateFlag}} {
				if f.v <= 0 {
					bad(f.flag, strconv.FormatFloat(f.v, 'g', -1, 64), "requests a second, above 0")
				}
			}
			for _, f := range []struct {
				flag string
				v    int
			}{{"--burst", burst}, {"--client-burst", clientBurst}} {
				if f.v < 1 {
					bad(f.flag, strconv.Itoa(f.v), "a number of requests, at least 1")
				}
			}
			var vpc []string
			if a.opts.VPCCIDR != "" {
				vpc = strings.Split(a.opts.VPCCIDR, ",")
			}
			namer, err := tokenservice.NewNodeNamer(nameTemplate, vpc)
			if err != nil {
				bad("--node-name-template/--vpc-cidr", nameTemplate, err.Error())
			}
			if len(p) > 0 {
				return &cluster.InputError{Problems: p}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			o.Client, o.Leases, o.CSRs, o.Namer = c.Core, c.Coordination, c.Certificates, namer
			o.TokenTTL, o.Window, o.ReconcileInterval = tokenTTL, window, recheck
			o.Rate, o.Burst, o.ClientRate, o.ClientBurst = rate.Limit(rateFlag), burst, rate.Limit(clientRateFlag), clientBurst
			o.Log = jsonLogger(a)
			o.Listening = a.listening
			defer o.Log.Sync()
			return tokenservice.Serve(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", ":"+strconv.Itoa(cluster.DefaultTokenServicePort), "address to listen on")
	f.StringVar(&o.CertFile, "tls-cert", "", "the service's TLS certificate (PEM); nodes pin its public key")
	f.StringVar(&o.KeyFile, "tls-key", "", "the service's TLS key (PEM)")
	f.StringVar(&identityCA, "identity-ca", "", "PEM bundle of the certificates that sign ECS instance identities, trusted as signers, not CAs (default: Alibaba Cloud's, built in)")
	f.StringVar(&o.Audience, "audience", "", "the cluster's audience; a node's signature is for \"<audience>:<unix seconds>\" (required)")
	f.StringSliceVar(&accounts, "accounts", nil, "Alibaba Cloud account IDs whose instances may join (required)")
	f.StringSliceVar(&regions, "regions", nil, "regions whose instances may join (default: any)")
	f.StringSliceVar(&zones, "zones", nil, "zones whose instances may join (default: any)")
	f.BoolVar(&approveOnly, "approve-only", false, "run the approver alone, for node pools' tokens (setup --credentials token --token-service-image): no exchange, no TLS; only --node-name-template, --vpc-cidr and --metrics-listen apply")
	f.StringVar(&metricsListen, "metrics-listen", "", "with --approve-only: host:port to serve "+tokenservice.HealthPath+" and "+tokenservice.MetricsPath+" over plain HTTP (default: none)")
	f.StringVar(&nameTemplate, "node-name-template", tokenservice.DefaultNodeNameTemplate, "the Node name an instance may take, from its signed document (Go template over .RegionID, .ZoneID, .InstanceID, .AccountID, .PrivateIPv4)")
	f.DurationVar(&tokenTTL, "token-ttl", tokenservice.DefaultTokenTTL, "lifetime of an issued token")
	f.DurationVar(&window, "window", tokenservice.DefaultWindow, "how far a signature's audience time may be from now")
	f.DurationVar(&recheck, "reconcile-interval", tokenservice.DefaultReconcileInterval, "how often tokens of registered nodes are deleted")
	f.Float64Var(&rateFlag, "rate", tokenservice.DefaultRate, "requests a second, from all clients together")
	f.IntVar(&burst, "burst", tokenservice.DefaultBurst, "requests at once, from all clients together")
	f.Float64Var(&clientRateFlag, "client-rate", tokenservice.DefaultClientRate, "requests a second from one client IP")
	f.IntVar(&clientBurst, "client-burst", tokenservice.DefaultClientBurst, "requests at once from one client IP")
	return cmd
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 65535
}

// clean drops blanks and spaces from a list flag.
func clean(list []string) []string {
	var out []string
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// jsonLogger logs JSON lines to stderr.
func jsonLogger(a *app) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(a.errOut)), zapcore.InfoLevel)).
		With(zap.String("version", fmt.Sprintf("%s (%s)", version, commit)))
}

// runApprover is token-service --approve-only.
func runApprover(cmd *cobra.Command, a *app, nameTemplate, listen string) error {
	var vpc []string
	if a.opts.VPCCIDR != "" {
		vpc = strings.Split(a.opts.VPCCIDR, ",")
	}
	namer, err := tokenservice.NewNodeNamer(nameTemplate, vpc)
	if err != nil {
		return &cluster.InputError{Problems: []config.Problem{{Field: "--node-name-template/--vpc-cidr", Got: nameTemplate, Want: err.Error()}}}
	}
	if listen != "" {
		if _, port, err := net.SplitHostPort(listen); err != nil || !validPort(port) {
			return &cluster.InputError{Problems: []config.Problem{{Field: "--metrics-listen", Got: listen, Want: "host:port or :port, such as :9444"}}}
		}
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	log := jsonLogger(a)
	defer log.Sync()
	return tokenservice.ServeApprover(cmd.Context(), tokenservice.ApproverOptions{Client: c.Core, CSRs: c.Certificates, Leases: c.Coordination,
		Namer: namer, Log: log, Listen: listen, Listening: a.listening})
}
