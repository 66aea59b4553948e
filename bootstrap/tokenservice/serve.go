package tokenservice

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"
	certificatesv1client "k8s.io/client-go/kubernetes/typed/certificates/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// Options are what Serve runs with.
type Options struct {
	Config
	// Listen is the address to listen on (host:port).
	Listen string
	// CertFile and KeyFile are the service's TLS certificate and key (PEM).
	CertFile, KeyFile string
	// ReconcileInterval: zero, DefaultReconcileInterval.
	ReconcileInterval time.Duration
	// Listening, when set, is called with the address once the service
	// listens (tests listen on 127.0.0.1:0).
	Listening func(net.Addr)
}

// Timeouts of the HTTPS server.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	shutdownTimeout   = 10 * time.Second
)

// Serve runs the service over HTTPS and its reconcile loop until ctx is
// done, then shuts down gracefully. It returns nil after ctx is done, or
// the error that stopped it.
func Serve(ctx context.Context, o Options) error {
	s, err := New(o.Config)
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return fmt.Errorf("token service: the TLS certificate and key (%s, %s): %w", o.CertFile, o.KeyFile, err)
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("token service: listen on %s: %w", o.Listen, err)
	}
	log := s.cfg.Log
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    16 << 10,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}},
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		approved := make(chan struct{})
		if s.cfg.CSRs != nil {
			go func() {
				defer close(approved)
				s.ApproveLoop(loopCtx)
			}()
		} else {
			close(approved)
		}
		s.ReconcileLoop(loopCtx, o.ReconcileInterval)
		<-approved
	}()
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	log.Info("token service listening", zap.String("address", ln.Addr().String()), zap.String("audience", s.cfg.Audience),
		zap.Strings("accounts", o.Accounts), zap.Strings("regions", o.Regions), zap.Strings("zones", o.Zones),
		zap.Duration("tokenTTL", s.cfg.TokenTTL), zap.Duration("window", s.cfg.Window), zap.Strings("identitySignerKeys", signerPins(s.cfg.Signers)),
		zap.String("nodeNameTemplate", s.namer.Template()), zap.Bool("approver", s.cfg.CSRs != nil))
	if o.Listening != nil {
		o.Listening(ln.Addr())
	}
	select {
	case err = <-served:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
		<-served
	}
	stopLoop()
	<-loopDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	log.Info("token service stopped")
	return err
}

// signerPins are the SHA-256 pins of the trusted signers' public keys, for
// the log.
func signerPins(certs []*x509.Certificate) []string {
	pins := make([]string, 0, len(certs))
	for _, c := range certs {
		pins = append(pins, "sha256/"+SPKISHA256(c))
	}
	return pins
}

// ApproverOptions run the approver alone (token-service --approve-only):
// for node pools whose tokens are of PoolGroup, with no exchange.
type ApproverOptions struct {
	// Client reads Nodes; CSRs are approved or denied through CSRs;
	// Leases: records of identity tokens (an approver that may not read
	// them denies identity tokens' CSRs as unknown).
	Client corev1client.CoreV1Interface
	CSRs   certificatesv1client.CertificateSigningRequestsGetter
	Leases coordinationv1client.LeasesGetter
	Namer  *NodeNamer
	Log    *zap.Logger
	// Listen, when set, serves HealthPath and MetricsPath over plain
	// HTTP (they carry no secret).
	Listen    string
	Listening func(net.Addr)
}

// ServeApprover runs the approver until ctx is done.
func ServeApprover(ctx context.Context, o ApproverOptions) error {
	if o.Client == nil || o.CSRs == nil || o.Leases == nil {
		return errors.New("approver: no API client")
	}
	s := &Service{cfg: Config{Client: o.Client, CSRs: o.CSRs, Leases: o.Leases, Namer: o.Namer, Log: o.Log}}
	s.defaults()
	c := &s.cfg
	var srv *http.Server
	served := make(chan error, 1)
	if o.Listen != "" {
		ln, err := net.Listen("tcp", o.Listen)
		if err != nil {
			return fmt.Errorf("approver: listen on %s: %w", o.Listen, err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc(HealthPath, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
		mux.Handle(MetricsPath, c.Metrics.Handler())
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout, WriteTimeout: writeTimeout}
		go func() { served <- srv.Serve(ln) }()
		if o.Listening != nil {
			o.Listening(ln.Addr())
		}
	}
	c.Log.Info("approver running", zap.String("nodeNameTemplate", s.namer.Template()), zap.String("listen", o.Listen))
	s.ApproveLoop(ctx)
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		srv.Shutdown(sctx)
		cancel()
		<-served
	}
	c.Log.Info("approver stopped")
	return nil
}
