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

// Usage: what the fleets and sessions used, for dashboards and cost
// estimates (the same figures as the environments' status.usage).
var (
	// FleetInstanceSeconds counts instance time by environment and billing
	// rate (running: billed at the running rate; stopped: ON_DEMAND
	// instances provisioned but not streaming).
	FleetInstanceSeconds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatestream_fleet_instance_seconds_total",
		Help: "AppStream instance time by environment and billing rate (running, stopped), from the fleet's observed capacity.",
	}, []string{"namespace", "environment", "rate"})

	// FleetCapacity is the fleet's observed instances by state.
	FleetCapacity = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gatestream_fleet_instances",
		Help: "AppStream instances of an environment's fleet by state (desired, running, in_use), as last observed.",
	}, []string{"namespace", "environment", "state"})

	// FleetCapacityChanges counts the calls that changed a fleet's capacity.
	FleetCapacityChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatestream_fleet_capacity_changes_total",
		Help: "Capacity changes gatestream made to a fleet, by action (update, start, stop).",
	}, []string{"namespace", "environment", "action"})

	// SessionsServed counts sessions given access, by environment and way in.
	SessionsServed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatestream_sessions_served_total",
		Help: "StreamingSessions given access (a URL minted or a Napter mapping made), by environment and way in (appstream, napter).",
	}, []string{"namespace", "environment", "via"})

	// NapterSeconds counts the Napter port mappings' granted time.
	NapterSeconds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatestream_napter_mapping_seconds_total",
		Help: "Time Napter port mappings were granted for (from creation to deletion or expiry), by environment.",
	}, []string{"namespace", "environment"})
)

func init() {
	crmetrics.Registry.MustRegister(OutboundCalls, OutboundDuration,
		FleetInstanceSeconds, FleetCapacity, FleetCapacityChanges, SessionsServed, NapterSeconds)
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
