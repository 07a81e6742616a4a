// Package metrics holds gatestream's Prometheus metrics, registered with
// controller-runtime's registry (served on the manager's /metrics).
package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// OutboundCalls counts calls to the clouds by service, operation and result.
	OutboundCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatestream_outbound_calls_total",
		Help: "Calls to SORACOM and AWS APIs by service, operation and result (ok, throttled, client_error, server_error, network_error, canceled).",
	}, []string{"service", "operation", "result"})

	// OutboundDuration measures call latency by service and operation.
	OutboundDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gatestream_outbound_call_duration_seconds",
		Help:    "Latency of calls to SORACOM and AWS APIs.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"service", "operation"})
)

func init() {
	crmetrics.Registry.MustRegister(OutboundCalls, OutboundDuration)
}

// Result names the outcome of a call for the result label.
func Result(status int, err error) string {
	switch {
	case err == nil && status < 400:
		return "ok"
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	case status == 429:
		return "throttled"
	case status >= 500:
		return "server_error"
	case status >= 400:
		return "client_error"
	default:
		return "network_error"
	}
}

// Observe records one outbound call.
func Observe(service, operation, result string, d time.Duration) {
	OutboundCalls.WithLabelValues(service, operation, result).Inc()
	OutboundDuration.WithLabelValues(service, operation).Observe(d.Seconds())
}
