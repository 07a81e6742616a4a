package testenv

import (
	"context"
	"os"
	"testing"

	"github.com/go-logr/logr"

	"github.com/gatestream/gatestream/internal/manager"
)

// RunManager starts a gatestream manager against the test control plane with
// metrics, probes and leader election off, after setup registers the
// controllers under test. It stops when the test ends. Logs go to stderr when
// GATESTREAM_TEST_LOGS=1, else they are discarded.
func RunManager(t testing.TB, e *Env, opts manager.Options, setup func(*manager.Manager) error) *manager.Manager {
	t.Helper()
	opts.MetricsAddr = "0"
	opts.ProbeAddr = "0"
	opts.LeaderElect = false
	opts.SkipControllerNameValidation = true
	log := logr.Discard()
	if os.Getenv("GATESTREAM_TEST_LOGS") == "1" {
		var err error
		if log, err = manager.NewLogger("console", "debug", os.Stderr); err != nil {
			t.Fatal(err)
		}
	}
	mgr, err := manager.New(e.Config, opts, log)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		if err := setup(mgr); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("manager caches did not sync")
	}
	return mgr
}
