// Package manager builds and runs the gatestream controller manager: flags,
// logging, caches, metrics, probes and leader election. main.go only parses
// flags and calls Run; tests start the same manager against a real API server.
package manager

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/unit"
)

// Options are the manager's settings, one flag each.
type Options struct {
	MetricsAddr   string
	MetricsSecure bool
	ProbeAddr     string
	// PprofAddr serves net/http/pprof there (--pprof-bind-address; off by
	// default): heap and CPU profiles of a running manager.
	PprofAddr        string
	EnableHTTP2      bool
	LeaderElect      bool
	LeaderElectionID string
	LeaderElectionNS string
	// Lease timings of leader election (internal/leader): a standby watches
	// the Lease and takes over within LeaseDuration after the last renewal it
	// saw (so at most LeaseDuration + RetryPeriod after the leader died), and
	// at once (the watch latency) after the leader stopped cleanly and
	// released the lease. The leader gives up leading when it could not
	// renew for RenewDeadline; it renews every RetryPeriod.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	PollInterval                              time.Duration
	MaxConcurrent                             int
	MaxErrorBackoff                           time.Duration
	WatchNamespaces                           []string
	LogFormat                                 string
	LogLevel                                  string
	SoracomCallsPerSec                        float64
	AWSCallsPerSec                            float64
	// AllowedEndpoints are the endpoint overrides credentials may be sent to (--allowed-endpoints).
	AllowedEndpoints []string
	// ClusterName (--cluster-name) names this cluster in the stable identity
	// tag of every external object ("<cluster>/<Kind>/<namespace>/<name>"):
	// the same manifests re-applied in a rebuilt cluster with the same name
	// adopt those objects instead of creating them again. Empty: objects are
	// found by the owner's UID only.
	ClusterName          string
	GracefulShutdownTime time.Duration
	// SkipControllerNameValidation lets tests start several managers in one
	// process (controller names are metric labels and must be unique otherwise).
	SkipControllerNameValidation bool
	// Zap holds controller-runtime's --zap-* flags; LogFormat and LogLevel
	// fill in the encoder and level where they are not given.
	Zap crzap.Options
}

// DefaultOptions are the flag defaults.
func DefaultOptions() Options {
	return Options{
		MetricsAddr:          ":8443",
		MetricsSecure:        true,
		ProbeAddr:            ":8081",
		LeaderElectionID:     "gatestream.access.gatestream.io",
		LeaseDuration:        15 * time.Second,
		RenewDeadline:        10 * time.Second,
		RetryPeriod:          2 * time.Second,
		PollInterval:         5 * time.Minute,
		MaxConcurrent:        4,
		MaxErrorBackoff:      unit.DefaultBackoffMax,
		LogFormat:            "json",
		LogLevel:             "info",
		SoracomCallsPerSec:   5,
		AWSCallsPerSec:       0, // no fixed cap: the adaptive rate follows AWS
		GracefulShutdownTime: 30 * time.Second,
	}
}

// BindFlags registers the options on fs.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr, "Address of the metrics endpoint (\"0\" disables it).")
	fs.BoolVar(&o.MetricsSecure, "metrics-secure", o.MetricsSecure, "Serve metrics over HTTPS, only to callers authorized (TokenReview + SubjectAccessReview) to get /metrics.")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", o.ProbeAddr, "Address of /healthz and /readyz.")
	fs.StringVar(&o.PprofAddr, "pprof-bind-address", o.PprofAddr, "Address of net/http/pprof (heap and CPU profiles of the running manager); empty or \"0\" (default) disables it. Bind it to 127.0.0.1: it is unauthenticated.")
	fs.BoolVar(&o.EnableHTTP2, "enable-http2", o.EnableHTTP2, "Serve metrics over HTTP/2 (off by default: HTTP/2 Rapid Reset, CVE-2023-44487).")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "Elect a leader so that only one replica reconciles.")
	fs.StringVar(&o.ClusterName, "cluster-name", o.ClusterName, "Name of this cluster, put in a stable identity tag on every external object (<cluster>/<Kind>/<namespace>/<name>): the same manifests re-applied in a rebuilt cluster with the same name adopt the VPGs, groups, fleets, stacks and routers instead of creating them again; a different name never touches them. A DNS label; empty: objects are found by their owner's UID only (a rebuilt cluster creates them again).")
	fs.StringVar(&o.LeaderElectionID, "leader-election-id", o.LeaderElectionID, "Name of the leader election Lease.")
	fs.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", o.LeaseDuration, "How long a standby waits before taking over from a leader that stopped renewing: a standby takes over within the lease duration after the last renewal it saw (a crashed leader is replaced within lease duration + retry period). Written into the Lease in whole seconds.")
	fs.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", o.RenewDeadline, "How long the leader keeps trying to renew before it gives up leading and the manager exits (an API server outage longer than this stops the manager; shorter than the lease duration in whole seconds).")
	fs.DurationVar(&o.RetryPeriod, "leader-elect-retry-period", o.RetryPeriod, "How often the leader renews the lease, and how often a standby reads it in case its watch of the Lease is broken (a released lease is taken at once, as the watch sees it).")
	fs.StringVar(&o.LeaderElectionNS, "leader-election-namespace", o.LeaderElectionNS, "Namespace of the leader election Lease (default: the pod's namespace).")
	fs.DurationVar(&o.PollInterval, "poll-interval", o.PollInterval, "How often an in-sync resource is re-observed to correct drift (jittered; per-object annotation access.gatestream.io/poll-interval overrides).")
	fs.IntVar(&o.MaxConcurrent, "max-concurrent-reconciles", o.MaxConcurrent, "Reconciles that run at once per controller.")
	fs.DurationVar(&o.MaxErrorBackoff, "max-error-backoff", o.MaxErrorBackoff, "Longest wait before an object whose pass failed (a cloud 5xx, a timeout) is tried again; the wait doubles from 100ms per failure up to this. Throttles wait what the service asks instead.")
	fs.Func("watch-namespaces", "Comma-separated namespaces to watch (default: all).", func(s string) error {
		o.WatchNamespaces = splitList(s)
		return nil
	})
	fs.StringVar(&o.LogFormat, "log-format", o.LogFormat, "Log format: json or console (sets --zap-encoder unless that is given).")
	fs.StringVar(&o.LogLevel, "log-level", o.LogLevel, "Log level: debug, info or error, or a verbosity 1, 2, … (sets --zap-log-level unless that is given).")
	o.Zap.BindFlags(fs)
	fs.Float64Var(&o.SoracomCallsPerSec, "soracom-calls-per-second", o.SoracomCallsPerSec, "Outbound budget for SORACOM API calls, shared by all controllers.")
	fs.Float64Var(&o.AWSCallsPerSec, "aws-calls-per-second", o.AWSCallsPerSec, "Optional fixed cap on AWS API calls per second, shared by all controllers; 0 (default) sets none: "+
		"each AWS service's calls follow the SDK's adaptive rate, which slows down when AWS throttles and speeds up when it does not.")
	fs.Func("allowed-endpoints", "Comma-separated endpoint overrides (scheme://host or scheme://host:port) that spec.soracom.endpoint and spec.aws.endpoints may name; "+
		"the manager sends credentials there. Default: none (only the clouds' own endpoints).", func(s string) error {
		o.AllowedEndpoints = splitList(s)
		return nil
	})
	fs.DurationVar(&o.GracefulShutdownTime, "graceful-shutdown-timeout", o.GracefulShutdownTime, "How long running reconciles get to finish on shutdown.")
}

// Validate reports flag values that cannot work.
func (o *Options) Validate() error {
	var errs []error
	if o.PollInterval < 10*time.Second {
		errs = append(errs, fmt.Errorf("--poll-interval %s is too short: use 10s or more", o.PollInterval))
	}
	if o.RetryPeriod <= 0 || o.RenewDeadline <= o.RetryPeriod || o.LeaseDuration <= o.RenewDeadline {
		errs = append(errs, fmt.Errorf("leader election needs 0 < --leader-elect-retry-period (%s) < --leader-elect-renew-deadline (%s) < --leader-elect-lease-duration (%s)",
			o.RetryPeriod, o.RenewDeadline, o.LeaseDuration))
	} else if o.LeaseDuration%time.Second != 0 {
		// The Lease records whole seconds; a standby counts what it records.
		errs = append(errs, fmt.Errorf("--leader-elect-lease-duration %s must be a whole number of seconds", o.LeaseDuration))
	}
	if o.MaxErrorBackoff < time.Second {
		errs = append(errs, fmt.Errorf("--max-error-backoff %s is too short: use 1s or more", o.MaxErrorBackoff))
	}
	if o.MaxConcurrent < 1 {
		errs = append(errs, fmt.Errorf("--max-concurrent-reconciles must be at least 1, got %d", o.MaxConcurrent))
	}
	if _, err := zapOptions(crzap.Options{}, o.LogFormat, o.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if o.SoracomCallsPerSec <= 0 {
		errs = append(errs, errors.New("--soracom-calls-per-second must be positive"))
	}
	if _, err := clients.ParseAllowedEndpoints(o.AllowedEndpoints); err != nil {
		errs = append(errs, err)
	}
	if o.ClusterName != "" {
		if errs1 := validation.IsDNS1123Label(o.ClusterName); len(errs1) > 0 {
			errs = append(errs, fmt.Errorf("--cluster-name %q: %s", o.ClusterName, strings.Join(errs1, "; ")))
		}
	}
	if o.AWSCallsPerSec < 0 {
		errs = append(errs, errors.New("--aws-calls-per-second must be 0 (no fixed cap) or positive"))
	}
	return errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
