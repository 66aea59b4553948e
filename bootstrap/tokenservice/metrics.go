package tokenservice

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricsPath answers GET with the service's Prometheus metrics.
const MetricsPath = "/metrics"

// Metrics are the service's Prometheus metrics, in a registry of their own
// (tests read them; two Services never share counters):
//
//	hybridnode_token_service_exchanges_total{decision,reason}  every exchange, by its decision and refusal reason
//	hybridnode_token_service_exchange_duration_seconds{decision}  the latency of exchanges
//	hybridnode_token_service_tokens_issued_total                tokens made
//	hybridnode_token_service_csrs_total{decision,reason}       CSRs approved and denied, by reason
//
// plus the Go runtime's and the process's collectors.
type Metrics struct {
	reg       *prometheus.Registry
	exchanges *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	issued    prometheus.Counter
	csrs      *prometheus.CounterVec
}

// NewMetrics registers the service's metrics in a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		exchanges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hybridnode_token_service_exchanges_total",
			Help: "Exchange requests, by decision (accepted, refused) and refusal reason."}, []string{"decision", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "hybridnode_token_service_exchange_duration_seconds",
			Help: "Latency of exchange requests, by decision.", Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"decision"}),
		issued: prometheus.NewCounter(prometheus.CounterOpts{Name: "hybridnode_token_service_tokens_issued_total",
			Help: "Bootstrap tokens issued."}),
		csrs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hybridnode_token_service_csrs_total",
			Help: "Kubelet client CSRs of the service's tokens, by decision (approved, denied) and reason."}, []string{"decision", "reason"}),
	}
	m.reg.MustRegister(m.exchanges, m.latency, m.issued, m.csrs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry is where the metrics are (tests gather it).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) exchange(reason string, took time.Duration) {
	if m == nil {
		return
	}
	decision := "accepted"
	if reason != "" {
		decision = "refused"
	} else {
		m.issued.Inc()
	}
	m.exchanges.WithLabelValues(decision, reason).Inc()
	m.latency.WithLabelValues(decision).Observe(took.Seconds())
}

func (m *Metrics) csrDecided(approved bool, reason string) {
	if m == nil {
		return
	}
	decision := "denied"
	if approved {
		decision = "approved"
	}
	m.csrs.WithLabelValues(decision, reason).Inc()
}
