package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/hack/internal/controlplane"
	"github.com/gatestream/gatestream/hack/internal/harness"
	"github.com/gatestream/gatestream/internal/emulator"
	"github.com/gatestream/gatestream/internal/emulator/soracom"
)

const (
	fieldOwner = client.FieldOwner("gatestream-chaos")
	// scenarioLabel marks every object the suite creates with its scenario.
	scenarioLabel = "chaos.gatestream.io/scenario"
	managerUser   = "gatestream-manager"
	// clusterName is every manager's --cluster-name.
	clusterName = "chaos"
	// leaseName is the manager's leader election Lease (in gatestream-system).
	leaseName = "gatestream.access.gatestream.io"
	// Names in each namespace: one environment, one device group with two devices.
	environmentName = "env"
	deviceGroupName = "devices"
	devicePort      = 22
)

// Delays of the emulated clouds, as in hack/bench: short, the VPG shorter
// than the fleet.
const (
	vpgCreateDelay  = time.Second
	fleetStartDelay = 2 * time.Second
	stopDelay       = time.Second
)

// The sessions' durations: long enough that no deadline (URL expiry, end of
// access) falls inside a scenario, so that a Ready session stays Ready.
const (
	urlValidity  = time.Hour
	accessWindow = 2 * time.Hour
)

// Phases of a scenario's sessions: one control plane, or the one before and
// the one after a disaster recovery.
const (
	phaseOnly   = "load"
	phaseBefore = "before"
	phaseAfter  = "after"
)

// world is one scenario's world: the emulated clouds (fresh for every
// scenario), the tracker of their objects, the control plane and the
// managers, and the deliveries seen in the sessions' Secrets.
type world struct {
	s    *suite
	name string
	dir  string
	seed uint64

	cloud *emulator.Cloud
	track *tracker
	urls  *deliveries

	cp            *controlplane.ControlPlane
	cpDir         string
	admin         client.WithWatch
	managerConfig string
	stopURLs      context.CancelFunc
	phase         string
	phases        []string
	sups          []*supervisor

	namespaces []string
	sims       [][]string // per namespace

	// quotaTail is how long SORACOM still refused after the fault rules were
	// disarmed (faults), because injected 429s ran quotas out.
	quotaTail time.Duration
	// final is the last readiness seen while converging.
	final readiness
	// cut is when the disaster recovery threw the first control plane away
	// (zero in the other scenarios); mintedBefore are the URLs minted until then.
	cut          time.Time
	mintedBefore map[string]bool
}

// newWorld starts the emulators (their world seeded like the demo's, plus
// two online SIMs with a device each per device group) and a control plane.
func (s *suite) newWorld(ctx context.Context, dir, name string, seed uint64) (*world, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	w := &world{s: s, name: name, dir: dir, seed: seed, urls: newDeliveries(), phase: phaseOnly}
	if name == scenarioDisaster {
		w.phase = phaseBefore
	}
	var err error
	if w.cloud, err = emulator.Start(emulator.Options{
		Seed:           seed,
		VPGCreateDelay: vpgCreateDelay, VPGTerminateDelay: stopDelay,
		FleetStartDelay: fleetStartDelay, FleetStopDelay: stopDelay,
	}); err != nil {
		return nil, err
	}
	if _, err := w.cloud.SeedDemo(); err != nil {
		_ = w.cloud.Close()
		return nil, err
	}
	for i := range s.o.Environments {
		w.namespaces = append(w.namespaces, fmt.Sprintf("chaos-%03d", i))
		var sims []string
		for d := 1; d <= 2; d++ {
			n := i*10 + d
			id := fmt.Sprintf("89812%014d", n)
			w.cloud.Soracom.AddSIM(soracom.SIM{ID: id, IMSI: fmt.Sprintf("44020%010d", n), OperatorID: emulator.DemoSoracomOperatorID, Online: true,
				Tags: map[string]string{"name": deviceName(d), "chaos": "true"}})
			w.cloud.AddSIMDevice(deviceName(d), id, devicePort)
			sims = append(sims, id)
		}
		w.sims = append(w.sims, sims)
	}
	w.track = startTracker(w.cloud)
	if err := w.startControlPlane(ctx, "cp"); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

func deviceName(d int) string { return fmt.Sprintf("sensor-%d", d) }

// startControlPlane starts etcd and kube-apiserver (restartable, logs in
// dir/sub), installs what the manager needs and follows the sessions'
// Secrets.
func (w *world) startControlPlane(ctx context.Context, sub string) error {
	w.cpDir = filepath.Join(w.dir, sub)
	if err := os.MkdirAll(w.cpDir, 0o700); err != nil {
		return err
	}
	cp, err := controlplane.Start(controlplane.Options{
		Root: w.s.root, Assets: w.s.assets, LogDir: w.cpDir, ClusterName: "gatestream-chaos", RestartableAPIServer: true,
	})
	if err != nil {
		return err
	}
	w.cp = cp
	in, err := harness.Install{
		Root: w.s.root, Workdir: w.cpDir, AdminUser: "chaos-admin",
		ManagerUser: managerUser, Binding: "gatestream-chaos-manager", FieldOwner: fieldOwner,
		Cloud: w.cloud, Namespaces: w.namespaces,
	}.Apply(ctx, cp)
	if err != nil {
		return err
	}
	w.admin, w.managerConfig = in.Admin, in.ManagerKubeconfig
	urlCtx, cancel := context.WithCancel(ctx)
	w.stopURLs = cancel
	w.urls.follow(urlCtx, w.admin, w.phase)
	w.phases = append(w.phases, w.phase)
	return nil
}

// stopControlPlane stops following the Secrets, then etcd and kube-apiserver.
func (w *world) stopControlPlane() error {
	if w.stopURLs != nil {
		w.stopURLs()
		w.urls.wait()
		w.stopURLs = nil
	}
	if w.cp == nil {
		return nil
	}
	err := w.cp.Stop()
	w.cp = nil
	return err
}

// close stops the managers, the control plane, the tracker and the emulators.
func (w *world) close() {
	for _, s := range w.sups {
		s.stop(30 * time.Second)
	}
	if err := w.stopControlPlane(); err != nil {
		w.s.p.Step("%s: stopping the control plane: %v", w.name, err)
	}
	w.track.stop()
	_ = w.cloud.Close()
}

// startManager supervises a manager process with the suite's flags and
// extra, logs <name>-NN.log in the scenario's directory.
func (w *world) startManager(name string, extra ...string) (*supervisor, error) {
	flags := append(slices.Clone(w.s.managerFlags), extra...)
	sup, err := startSupervisor(name, w.s.bin, w.managerConfig, flags, w.dir, w.s.p)
	if err != nil {
		return nil, err
	}
	w.sups = append(w.sups, sup)
	return sup, nil
}

// restarts sums the restarts of every manager of the scenario and lists
// their exits of their own.
func (w *world) restarts() (n int, exits []string) {
	for _, s := range w.sups {
		r, _, e := s.counts()
		n += r
		exits = append(exits, e...)
	}
	return n, exits
}

// ---- the objects ----

func (w *world) labels() map[string]string { return map[string]string{scenarioLabel: w.name} }

// baseObjects are the environments and device groups, one of each per namespace.
func (w *world) baseObjects() ([]*unstructured.Unstructured, error) {
	sample, err := harness.EnvironmentSample(w.s.root, w.cloud)
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for i, ns := range w.namespaces {
		e, err := harness.Environment(sample, client.ObjectKey{Namespace: ns, Name: environmentName}, i, w.labels())
		if err != nil {
			return nil, err
		}
		reset := true
		dg := &accessv1alpha1.DeviceGroup{
			TypeMeta:   metav1.TypeMeta{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "DeviceGroup"},
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: deviceGroupName, Labels: w.labels()},
			Spec: accessv1alpha1.DeviceGroupSpec{
				EnvironmentRef:        accessv1alpha1.LocalObjectReference{Name: environmentName},
				SIMs:                  w.sims[i],
				ResetSessionsOnChange: &reset,
			},
		}
		for d, sim := range w.sims[i] {
			dg.Spec.Devices = append(dg.Spec.Devices, accessv1alpha1.Device{Name: deviceName(d + 1), SIMID: sim,
				Ports: []accessv1alpha1.DevicePort{{Name: "ssh", Port: devicePort}}})
		}
		u, err := controlplane.ToUnstructured(dg)
		if err != nil {
			return nil, err
		}
		out = append(out, e, u)
	}
	return out, nil
}

// session is session i: s-NNN in namespace i mod environments, for user
// user-NNN, created by the suite's admin (an admin group of the admission
// policy may create sessions for anybody). Every other one targets a device
// (sensor-1 or sensor-2 over ssh), so that the path matters.
func (w *world) session(i int) *accessv1alpha1.StreamingSession {
	ns := w.namespaces[i%len(w.namespaces)]
	s := &accessv1alpha1.StreamingSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("s-%03d", i), Labels: w.labels()},
		Spec: accessv1alpha1.StreamingSessionSpec{
			EnvironmentRef: accessv1alpha1.LocalObjectReference{Name: environmentName},
			UserID:         sessionUser(i),
			Application:    "teraterm",
			URLValidity:    metav1.Duration{Duration: urlValidity},
			AccessWindow:   metav1.Duration{Duration: accessWindow},
		},
	}
	if i%2 == 0 {
		s.Spec.Target = &accessv1alpha1.SessionTarget{DeviceGroup: deviceGroupName, Device: deviceName(i/2%2 + 1), Port: ptr(intstr.FromString("ssh"))}
	}
	return s
}

func ptr[T any](v T) *T { return &v }

func sessionUser(i int) string { return fmt.Sprintf("user-%03d", i) }

// applyBase applies the environments and device groups, retrying while the
// API server is unavailable (until ctx ends).
func (w *world) applyBase(ctx context.Context) error {
	objs, err := w.baseObjects()
	if err != nil {
		return err
	}
	return persist(ctx, func() error { return controlplane.Apply(ctx, w.admin, fieldOwner, objs...) })
}

// createSession creates session i, retrying while the API server is
// unavailable (until ctx ends).
func (w *world) createSession(ctx context.Context, i int) error {
	return persist(ctx, func() error { return harness.CreateOrGet(ctx, w.admin, w.session(i)) })
}

// persist runs op until it succeeds, fails for good, or ctx ends: the API
// server may be down for a while on purpose.
func persist(ctx context.Context, op func() error) error {
	for {
		err := op()
		if err == nil || !(harness.Transient(err) || strings.Contains(err.Error(), "connection refused")) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// createSessions creates sessions [0, n) paced over spread from now (all at
// once when spread is 0, 8 at a time).
func (w *world) createSessions(ctx context.Context, n int, spread time.Duration) error {
	start := time.Now()
	if spread == 0 {
		return harness.Parallel(ctx, n, 8, func(ctx context.Context, i int) error { return w.createSession(ctx, i) })
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		at := start.Add(spread * time.Duration(i) / time.Duration(n))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(at)):
		}
		wg.Go(func() { errs[i] = w.createSession(ctx, i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ---- readiness ----

// readiness is what a list of the scenario's objects showed.
type readiness struct {
	Environments, Groups, Sessions int
	EnvironmentsReady, GroupsReady int
	SessionsReady                  int
	NotReady                       []string // kind namespace/name: reason
	listed                         bool
	// LastWaiting is what the list before the one that showed all Ready
	// found not Ready: the last objects to converge, and why they waited.
	LastWaiting []string
}

func (r readiness) all(environments, sessions int) bool {
	return r.listed && r.Environments == environments && r.Groups == environments && r.Sessions == sessions &&
		r.EnvironmentsReady == environments && r.GroupsReady == environments && r.SessionsReady == sessions
}

// readiness lists the scenario's environments, device groups and sessions.
func (w *world) readiness(ctx context.Context) (readiness, error) {
	var r readiness
	sel := client.MatchingLabels(w.labels())
	var envs accessv1alpha1.RemoteAccessEnvironmentList
	var dgs accessv1alpha1.DeviceGroupList
	var ss accessv1alpha1.StreamingSessionList
	for _, l := range []client.ObjectList{&envs, &dgs, &ss} {
		if err := w.admin.List(ctx, l, sel); err != nil {
			return r, err
		}
	}
	r.listed = true
	r.Environments, r.Groups, r.Sessions = len(envs.Items), len(dgs.Items), len(ss.Items)
	for i := range envs.Items {
		e := &envs.Items[i]
		if ok, why := condReady(e.Status.Conditions); ok {
			r.EnvironmentsReady++
		} else {
			r.NotReady = append(r.NotReady, "RemoteAccessEnvironment "+client.ObjectKeyFromObject(e).String()+": "+why)
		}
	}
	for i := range dgs.Items {
		g := &dgs.Items[i]
		if ok, why := condReady(g.Status.Conditions); ok {
			r.GroupsReady++
		} else {
			r.NotReady = append(r.NotReady, "DeviceGroup "+client.ObjectKeyFromObject(g).String()+": "+why)
		}
	}
	for i := range ss.Items {
		s := &ss.Items[i]
		if s.Status.Phase == accessv1alpha1.SessionReady {
			r.SessionsReady++
			continue
		}
		why := "phase " + string(s.Status.Phase)
		if s.Status.Phase == "" {
			why = "no status"
		}
		if c := meta.FindStatusCondition(s.Status.Conditions, accessv1alpha1.ConditionReady); c != nil {
			why += " (" + c.Reason + ": " + c.Message + ")"
		}
		r.NotReady = append(r.NotReady, "StreamingSession "+client.ObjectKeyFromObject(s).String()+": "+why)
	}
	return r, nil
}

func condReady(conds []metav1.Condition) (bool, string) {
	c := meta.FindStatusCondition(conds, accessv1alpha1.ConditionReady)
	switch {
	case c == nil:
		return false, "no Ready condition"
	case c.Status == metav1.ConditionTrue:
		return true, ""
	default:
		return false, c.Reason + ": " + c.Message
	}
}

// waitConverged polls until every environment, device group and session of
// the scenario is Ready (the environments and sessions counts expected), at
// most bound after from. It returns the time from from to the list that
// showed all Ready, and the last readiness seen. Errors listing (the API
// server restarting) are waited out.
func (w *world) waitConverged(ctx context.Context, from time.Time, bound time.Duration, sessions int) (time.Duration, readiness, bool) {
	deadline := from.Add(bound)
	var last readiness
	for {
		r, err := w.readiness(ctx)
		if err == nil {
			if r.all(len(w.namespaces), sessions) {
				r.LastWaiting = last.NotReady
				// Ready before the chaos ended (the quotas' tail) counts as 0.
				return max(0, time.Since(from)), r, true
			}
			last = r
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Since(from), last, false
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// ---- deletion ----

// deleteAll deletes the scenario's sessions, device groups and environments
// at once, then polls until none is left in the cluster and the cloud holds
// no object of gatestream's, at most bound. It returns how long that took
// and what was left at the bound.
func (w *world) deleteAll(ctx context.Context, bound time.Duration) (time.Duration, []string, bool) {
	start := time.Now()
	sel := client.MatchingLabels(w.labels())
	for _, ns := range w.namespaces {
		for _, obj := range []client.Object{&accessv1alpha1.StreamingSession{}, &accessv1alpha1.DeviceGroup{}, &accessv1alpha1.RemoteAccessEnvironment{}} {
			if err := harness.Retry(ctx, func() error { return w.admin.DeleteAllOf(ctx, obj, client.InNamespace(ns), sel) }); err != nil {
				return time.Since(start), []string{fmt.Sprintf("deleting %T in %s: %v", obj, ns, err)}, false
			}
		}
	}
	deadline := start.Add(bound)
	for {
		var remaining []string
		r, err := w.readiness(ctx)
		if err != nil {
			remaining = append(remaining, "listing: "+err.Error())
		} else {
			remaining = append(remaining, r.remainingObjects()...)
		}
		remaining = append(remaining, left(w.cloud)...)
		if len(remaining) == 0 {
			return time.Since(start), nil, true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Since(start), remaining, false
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// remainingObjects names the gatestream objects still in the cluster.
func (r readiness) remainingObjects() []string {
	var out []string
	if n := r.Environments + r.Groups + r.Sessions; n > 0 {
		out = append(out, fmt.Sprintf("%d RemoteAccessEnvironments, %d DeviceGroups, %d StreamingSessions still in the cluster", r.Environments, r.Groups, r.Sessions))
	}
	return out
}

// ---- leader election ----

// leaseHolder is the holderIdentity of the manager's Lease ("" when none or unreadable).
func (w *world) leaseHolder(ctx context.Context) string {
	var l coordinationv1.Lease
	if err := w.admin.Get(ctx, client.ObjectKey{Namespace: controlplane.SystemNamespace, Name: leaseName}, &l); err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// leaderLogLine is what the manager's elector (internal/leader) logs when it acquires the lease.
const leaderLogLine = "successfully acquired lease"

// leader is the supervisor whose current process logged that it acquired
// the lease (nil when none did, or more than one).
func (w *world) leader() *supervisor {
	var found *supervisor
	for _, s := range w.sups {
		if s.logContains(leaderLogLine) {
			if found != nil {
				return nil
			}
			found = s
		}
	}
	return found
}
