package manager

import (
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"net"
	"runtime/debug"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/controllers"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/leader"
)

// Scheme knows the built-in kinds and gatestream's.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(accessv1alpha1.AddToScheme(s))
	return s
}

// Manager is the controller-runtime manager plus the addresses it serves on,
// which tests (and logs) need when ports are chosen by the kernel.
type Manager struct {
	ctrl.Manager
	probes  net.Listener
	metrics metricsserver.Server
	// elector runs leader election when --leader-elect is set (nil
	// otherwise); see leader.go.
	elector *leader.Elector
}

// ProbeAddr is the address of /healthz and /readyz ("" when disabled).
func (m *Manager) ProbeAddr() string {
	if m.probes == nil {
		return ""
	}
	return m.probes.Addr().String()
}

// MetricsAddr is the address of /metrics once the server listens ("" before, or when disabled).
func (m *Manager) MetricsAddr() string {
	if a, ok := m.metrics.(interface{ GetBindAddr() string }); ok {
		return a.GetBindAddr()
	}
	return ""
}

// New builds the manager from options. Controllers are registered by the
// caller (see Run) so that tests can build the same manager.
func New(cfg *rest.Config, opts Options, log logr.Logger) (*Manager, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	ctrl.SetLogger(log)

	cacheOpts := cache.Options{
		// No controller reads managedFields; dropping them from every cached
		// object is most of the cache's memory for sessions and their Secrets.
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			// Only Secrets that gatestream writes are cached: never every Secret of
			// the cluster (memory, and less secret material in the process).
			// Cached without their URL and with their repeated strings shared
			// (session.TransformSecret; the StreamingSession controller reads
			// the URL from the API server on the rare write of a cached Secret).
			&corev1.Secret{}: {
				Label:     labels.SelectorFromSet(labels.Set{accessv1alpha1.LabelManagedBy: accessv1alpha1.LabelManagedByValue}),
				Transform: controllers.TransformURLSecret,
			},
			// Sessions are the bulk of the cache (10,000 and more): cached
			// without their labels (no controller reads them: a label selector
			// on this cache matches no session) and with their repeated strings
			// shared (session.TransformSession).
			&accessv1alpha1.StreamingSession{}: {Transform: controllers.TransformStreamingSession},
		},
	}
	if len(opts.WatchNamespaces) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range opts.WatchNamespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}

	gracefulShutdown := opts.GracefulShutdownTime
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: Scheme(),
		Logger: log,
		// The metrics and probe servers are added below as runnables, so that
		// their listen addresses are known (ports may be chosen by the kernel).
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:  "0",
		PprofBindAddress:        opts.PprofAddr,
		LeaderElection:          false, // gatestream's own (leader.go) gates the controllers added through Manager.Add
		Cache:                   cacheOpts,
		GracefulShutdownTimeout: &gracefulShutdown,
		Controller:              config.Controller{SkipNameValidation: &opts.SkipControllerNameValidation},
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	m := &Manager{Manager: mgr}
	if err := m.setupLeaderElection(cfg, opts, log); err != nil {
		return nil, err
	}

	if opts.MetricsAddr != "0" && opts.MetricsAddr != "" {
		var tlsOpts []func(*tls.Config)
		if !opts.EnableHTTP2 {
			tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
		}
		metricsOpts := metricsserver.Options{BindAddress: opts.MetricsAddr, SecureServing: opts.MetricsSecure, TLSOpts: tlsOpts}
		if opts.MetricsSecure {
			// Only callers whose token may "get" the /metrics URL (TokenReview + SubjectAccessReview).
			metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
		}
		httpClient, err := rest.HTTPClientFor(cfg)
		if err != nil {
			return nil, fmt.Errorf("metrics server client: %w", err)
		}
		m.metrics, err = metricsserver.NewServer(metricsOpts, cfg, httpClient)
		if err != nil {
			return nil, fmt.Errorf("creating metrics server: %w", err)
		}
		if err := mgr.Add(m.metrics); err != nil {
			return nil, err
		}
	}

	if opts.ProbeAddr != "0" && opts.ProbeAddr != "" {
		m.probes, err = net.Listen("tcp", opts.ProbeAddr)
		if err != nil {
			return nil, fmt.Errorf("listening for probes on %s: %w", opts.ProbeAddr, err)
		}
		if err := mgr.Add(newProbeServer(m.probes, mgr)); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Run builds the manager, registers the controllers and blocks until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, opts Options, log logr.Logger) error {
	mgr, err := New(cfg, opts, log)
	if err != nil {
		return err
	}
	if err := RegisterControllers(mgr, opts); err != nil {
		return err
	}
	memLimit := "none"
	if l := debug.SetMemoryLimit(-1); l < math.MaxInt64 { // GOMEMLIMIT (the chart's goMemLimit)
		memLimit = fmt.Sprintf("%dMiB", l>>20)
	}
	log.Info("starting manager", "pollInterval", opts.PollInterval.String(), "maxConcurrentReconciles", opts.MaxConcurrent,
		"watchNamespaces", opts.WatchNamespaces, "leaderElect", opts.LeaderElect, "goMemLimit", memLimit)
	return mgr.Start(ctx)
}

// RegisterControllers adds every gatestream controller to mgr. They share one
// client factory: one outbound budget per cloud and cached API clients.
func RegisterControllers(mgr *Manager, opts Options) error {
	factory, err := clients.ForManager(mgr, opts.WatchNamespaces, clients.Options{
		SoracomCallsPerSecond: opts.SoracomCallsPerSec,
		AWSCallsPerSecond:     opts.AWSCallsPerSec,
		AllowedEndpoints:      opts.AllowedEndpoints,
	})
	if err != nil {
		return err
	}
	if err := (&controllers.RemoteAccessEnvironmentReconciler{
		Client:                  mgr.GetClient(),
		Clients:                 factory,
		Recorder:                mgr.GetEventRecorder("gatestream-remoteaccessenvironment"),
		Clock:                   clock.RealClock{},
		PollInterval:            opts.PollInterval,
		MaxConcurrentReconciles: opts.MaxConcurrent,
		MaxErrorBackoff:         opts.MaxErrorBackoff,
		ClusterName:             opts.ClusterName,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("registering the RemoteAccessEnvironment controller: %w", err)
	}
	if err := (&controllers.DeviceGroupReconciler{
		Client:                  mgr.GetClient(),
		Clients:                 factory,
		Recorder:                mgr.GetEventRecorder("gatestream-devicegroup"),
		Clock:                   clock.RealClock{},
		PollInterval:            opts.PollInterval,
		MaxConcurrentReconciles: opts.MaxConcurrent,
		MaxErrorBackoff:         opts.MaxErrorBackoff,
		ClusterName:             opts.ClusterName,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("registering the DeviceGroup controller: %w", err)
	}
	if err := (&controllers.StreamingSessionReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Clients:                 factory,
		Recorder:                mgr.GetEventRecorder(controllers.StreamingSessionRecorderName),
		Clock:                   clock.RealClock{},
		MaxConcurrentReconciles: opts.MaxConcurrent,
		MaxErrorBackoff:         opts.MaxErrorBackoff,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("registering the StreamingSession controller: %w", err)
	}
	return nil
}
