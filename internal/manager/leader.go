package manager

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-logr/logr"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/gatestream/gatestream/internal/leader"
)

// Leader election is gatestream's own (internal/leader), not
// controller-runtime's: its standby watches the Lease and takes over within
// the lease duration after the last renewal it saw (client-go's polls it on a
// jittered period and may take up to lease + 4.4 retry periods). The
// controller-runtime manager runs without leader election; the runnables
// that need it (the controllers) are added wrapped so that they start only
// once this replica is elected. Everything else (caches, metrics, probes)
// runs on every replica, as with controller-runtime's leader election.

// inClusterNamespacePath holds the pod's namespace (the default namespace of
// the Lease, as with controller-runtime).
const inClusterNamespacePath = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// setupLeaderElection builds the elector of opts' Lease when opts.LeaderElect is set.
func (m *Manager) setupLeaderElection(cfg *rest.Config, opts Options, log logr.Logger) error {
	if !opts.LeaderElect {
		return nil
	}
	ns := opts.LeaderElectionNS
	if ns == "" {
		b, err := os.ReadFile(inClusterNamespacePath)
		if err != nil {
			return fmt.Errorf("unable to find leader election namespace: not running in-cluster, please specify --leader-election-namespace: %w", err)
		}
		ns = strings.TrimSpace(string(b))
	}
	id, err := leader.NewIdentity()
	if err != nil {
		return err
	}
	client, err := coordinationv1client.NewForConfig(rest.AddUserAgent(rest.CopyConfig(cfg), "leader-election"))
	if err != nil {
		return fmt.Errorf("leader election client: %w", err)
	}
	m.elector, err = leader.New(leader.Config{
		Client:        client,
		Namespace:     ns,
		Name:          opts.LeaderElectionID,
		Identity:      id,
		LeaseDuration: opts.LeaseDuration,
		RenewDeadline: opts.RenewDeadline,
		RetryPeriod:   opts.RetryPeriod,
		// Releasing the lease on a clean shutdown lets the next replica take
		// over at once; safe because Start releases it only after the
		// manager (its controllers) stopped.
		ReleaseOnCancel: true,
		Log:             log.WithName("leaderelection"),
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	return nil
}

// Add adds r to the manager. With leader election, a runnable that needs it
// (a controller: it does not say NeedLeaderElection() false) starts only
// once this replica is elected. controller-runtime's builder and
// controller.New add controllers through this method, as they are given the
// *Manager.
func (m *Manager) Add(r manager.Runnable) error {
	if m.elector == nil || !needsLeaderElection(r) {
		return m.Manager.Add(r)
	}
	g := &electedRunnable{Runnable: r, elected: m.elector.Elected()}
	if w, ok := r.(interface{ Warmup(context.Context) error }); ok {
		// controller-runtime warms such runnables up (starts their sources)
		// before election, on every replica: keep that.
		return m.Manager.Add(&electedWarmupRunnable{electedRunnable: g, warmup: w})
	}
	return m.Manager.Add(g)
}

// needsLeaderElection classifies r as controller-runtime's manager does:
// anything with a cache (a cluster) runs on every replica; otherwise r needs
// leader election unless it says NeedLeaderElection() false.
func needsLeaderElection(r manager.Runnable) bool {
	switch r := r.(type) {
	case interface{ GetCache() cache.Cache }:
		return false
	case manager.LeaderElectionRunnable:
		return r.NeedLeaderElection()
	default:
		return true
	}
}

// electedRunnable starts its Runnable once elected closes; it returns nil
// without starting it when the manager stops first.
type electedRunnable struct {
	manager.Runnable
	elected <-chan struct{}
}

func (g *electedRunnable) Start(ctx context.Context) error {
	select {
	case <-g.elected:
		return g.Runnable.Start(ctx)
	case <-ctx.Done():
		return nil
	}
}

// NeedLeaderElection is true: controller-runtime (without leader election)
// starts it with the other leader-election runnables, after the caches.
func (g *electedRunnable) NeedLeaderElection() bool { return true }

type electedWarmupRunnable struct {
	*electedRunnable
	warmup interface{ Warmup(context.Context) error }
}

func (g *electedWarmupRunnable) Warmup(ctx context.Context) error { return g.warmup.Warmup(ctx) }

// Elected is closed when this replica leads (at once without leader election).
func (m *Manager) Elected() <-chan struct{} {
	if m.elector == nil {
		return m.Manager.Elected()
	}
	return m.elector.Elected()
}

// Start runs the manager until ctx ends. With leader election it also runs
// the elector: when leadership is lost, it stops the manager and returns an
// error ("leader election lost") at once, without waiting for the
// controllers to finish (another replica may already lead: the process must
// exit); when ctx ends, it waits for the manager to stop, then releases the
// Lease so that a standby takes over at once.
func (m *Manager) Start(ctx context.Context) error {
	if m.elector == nil {
		return m.Manager.Start(ctx)
	}
	// The lease is renewed while the manager stops: it stays held until
	// the controllers have stopped.
	electCtx, stopElecting := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElecting()
	electDone := make(chan error, 1)
	go func() { electDone <- m.elector.Run(electCtx) }()

	mgrCtx, stopManager := context.WithCancel(ctx)
	defer stopManager()
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- m.Manager.Start(mgrCtx) }()

	select {
	case err := <-mgrDone:
		stopElecting()
		return errors.Join(err, <-electDone)
	case err := <-electDone:
		// Run returns before electCtx ends only when leadership is lost.
		stopManager()
		if err == nil {
			err = leader.ErrLost
		}
		return err
	}
}
