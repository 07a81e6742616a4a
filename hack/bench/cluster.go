package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/hack/internal/controlplane"
	"github.com/gatestream/gatestream/hack/internal/harness"
	"github.com/gatestream/gatestream/internal/emulator"
	"github.com/gatestream/gatestream/internal/environment"
)

const (
	// managerUser is the manager's identity (a client certificate): the audit
	// policy logs its requests only.
	managerUser = "gatestream-manager"
	fieldOwner  = client.FieldOwner("gatestream-bench")
	// benchLabel marks everything the bench creates, by batch.
	benchLabel = "bench.gatestream.io/batch"
	// envLabel marks the bench's environments.
	envLabel = "bench.gatestream.io/environment"
)

// Delays of the emulated clouds: short (the bench waits for them once), the
// VPG shorter than the fleet so that an environment's Ready follows its
// fleet's start.
const (
	vpgCreateDelay  = time.Second
	fleetStartDelay = 2 * time.Second
	stopDelay       = time.Second
)

// cluster is the control plane, the emulated clouds and the objects every
// measurement shares: namespaces, credentials, RBAC, admission, environments.
type cluster struct {
	root, workdir string
	cp            *controlplane.ControlPlane
	admin         client.WithWatch
	managerConfig string // the manager's kubeconfig
	cloud         *emulator.Cloud
	audit         *auditLog
	namespaces    []string
	fleets        *fleetClock
}

// startCluster starts kube-apiserver (audit log of the manager's requests) and
// etcd, the emulators, and installs what the manager needs.
func startCluster(ctx context.Context, o options, root, assets, workdir string) (*cluster, error) {
	policy := filepath.Join(workdir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy(managerUser)), 0o600); err != nil {
		return nil, err
	}
	auditPath := filepath.Join(workdir, "audit.log")
	cp, err := controlplane.Start(controlplane.Options{
		Root: root, Assets: assets, LogDir: workdir, ClusterName: "gatestream-bench",
		APIServerArgs: map[string]string{
			"audit-policy-file": policy,
			"audit-log-path":    auditPath,
			"audit-log-format":  "json",
			// One line per request, written before the response completes;
			// the log holds only the manager's requests.
			"audit-log-mode":    "blocking",
			"audit-log-maxsize": "0",
		},
	})
	if err != nil {
		return nil, err
	}
	c := &cluster{root: root, workdir: workdir, cp: cp, audit: &auditLog{path: auditPath, user: managerUser}}
	if err := c.init(ctx, o); err != nil {
		_ = c.stop()
		return nil, err
	}
	return c, nil
}

func (c *cluster) init(ctx context.Context, o options) error {
	var err error
	if c.cloud, err = emulator.Start(emulator.Options{
		VPGCreateDelay: vpgCreateDelay, VPGTerminateDelay: stopDelay,
		FleetStartDelay: fleetStartDelay, FleetStopDelay: stopDelay,
	}); err != nil {
		return err
	}
	if _, err := c.cloud.SeedDemo(); err != nil {
		return err
	}
	c.fleets = watchFleets(c.cloud)
	for i := range o.Namespaces {
		c.namespaces = append(c.namespaces, fmt.Sprintf("bench-%03d", i))
	}
	in, err := harness.Install{
		Root: c.root, Workdir: c.workdir, AdminUser: "bench-admin",
		ManagerUser: managerUser, Binding: "gatestream-bench-manager", FieldOwner: fieldOwner,
		Cloud: c.cloud, Namespaces: c.namespaces,
	}.Apply(ctx, c.cp)
	if err != nil {
		return err
	}
	c.admin, c.managerConfig = in.Admin, in.ManagerKubeconfig
	return nil
}

// check fails when the control plane has died.
func (c *cluster) check() error { return c.cp.CheckAlive() }

// namespaceOf spreads item i (environment or session) over the namespaces.
func (c *cluster) namespaceOf(i int) string { return c.namespaces[i%len(c.namespaces)] }

// environment i: env-NNN in namespace i mod namespaces.
func (c *cluster) environmentKey(i int) client.ObjectKey {
	return client.ObjectKey{Namespace: c.namespaceOf(i), Name: fmt.Sprintf("env-%03d", i)}
}

// createEnvironments applies environments [from, to) from the sample,
// pointed at the emulators.
func (c *cluster) createEnvironments(ctx context.Context, from, to int) error {
	sample, err := harness.EnvironmentSample(c.root, c.cloud)
	if err != nil {
		return err
	}
	for i := from; i < to; i++ {
		e, err := harness.Environment(sample, c.environmentKey(i), i, map[string]string{envLabel: "true"})
		if err != nil {
			return err
		}
		if err := controlplane.Apply(ctx, c.admin, fieldOwner, e); err != nil {
			return err
		}
	}
	return nil
}

// envTiming is when one environment became Ready, as the bench saw it.
type envTiming struct {
	Key                 client.ObjectKey
	CreatedToReady      time.Duration
	FleetRunningToReady time.Duration // -1 when the fleet's start was not seen
}

// waitEnvironments waits until environments [from, to) are Ready and returns
// their timings (created is when they were applied).
func (c *cluster) waitEnvironments(ctx context.Context, from, to int, created time.Time, timeout time.Duration, check func() error) ([]envTiming, error) {
	want := map[client.ObjectKey]bool{}
	for i := from; i < to; i++ {
		want[c.environmentKey(i)] = true
	}
	ready := map[client.ObjectKey]envTiming{}
	deadline := time.Now().Add(timeout)
	var last *accessv1alpha1.RemoteAccessEnvironment
	err := harness.Follow(ctx, c.admin, &accessv1alpha1.RemoteAccessEnvironmentList{}, []client.ListOption{client.MatchingLabels{envLabel: "true"}},
		func(o client.Object) {
			e := o.(*accessv1alpha1.RemoteAccessEnvironment)
			key := client.ObjectKeyFromObject(e)
			if _, done := ready[key]; done || !want[key] {
				return
			}
			last = e
			if !meta.IsStatusConditionTrue(e.Status.Conditions, accessv1alpha1.ConditionReady) {
				return
			}
			now := time.Now()
			t := envTiming{Key: key, CreatedToReady: now.Sub(created), FleetRunningToReady: -1}
			if running, ok := c.fleets.runningAt(environment.FleetName(e)); ok {
				t.FleetRunningToReady = now.Sub(running)
			}
			ready[key] = t
		},
		func() bool { return len(ready) == len(want) },
		func() error {
			if err := check(); err != nil {
				return err
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%d of %d environments Ready after %s (last seen: %s)", len(ready), len(want), timeout, envState(last))
			}
			return nil
		})
	out := make([]envTiming, 0, len(ready))
	for i := from; i < to; i++ {
		if t, ok := ready[c.environmentKey(i)]; ok {
			out = append(out, t)
		}
	}
	return out, err
}

// envState is an environment's conditions, compactly, for a timeout message.
func envState(e *accessv1alpha1.RemoteAccessEnvironment) string {
	if e == nil {
		return "none"
	}
	s := client.ObjectKeyFromObject(e).String() + ":"
	for _, c := range e.Status.Conditions {
		s += fmt.Sprintf(" %s=%s(%s)", c.Type, c.Status, c.Reason)
	}
	return s
}

func (c *cluster) stop() error {
	c.fleets.stop()
	var errs []error
	if c.cloud != nil {
		errs = append(errs, c.cloud.Close())
	}
	errs = append(errs, c.cp.Stop())
	return errors.Join(errs...)
}

// fleetClock records when each emulated fleet was first seen RUNNING
// (polled every 50 ms through the emulator's Go API).
type fleetClock struct {
	mu      sync.Mutex
	running map[string]time.Time
	done    chan struct{}
	once    sync.Once
}

func watchFleets(cloud *emulator.Cloud) *fleetClock {
	f := &fleetClock{running: map[string]time.Time{}, done: make(chan struct{})}
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-f.done:
				return
			case <-tick.C:
			}
			now := time.Now()
			for _, fl := range cloud.AWS.Fleets() {
				if fl.State != "RUNNING" {
					continue
				}
				f.mu.Lock()
				if _, ok := f.running[fl.Name]; !ok {
					f.running[fl.Name] = now
				}
				f.mu.Unlock()
			}
		}
	}()
	return f
}

func (f *fleetClock) runningAt(name string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.running[name]
	return t, ok
}

func (f *fleetClock) stop() {
	if f != nil {
		f.once.Do(func() { close(f.done) })
	}
}
