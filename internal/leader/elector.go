// Package leader elects one leader among the replicas of a process through a
// coordination.k8s.io/v1 Lease, with the record client-go's
// tools/leaderelection writes (holderIdentity, leaseDurationSeconds,
// acquireTime, renewTime, leaseTransitions), so the two interoperate.
//
// Unlike client-go, a standby watches the Lease instead of polling it on a
// jittered period: it notes the local time at which it sees each change of
// the record and tries to take the lease as soon as the record has not
// changed for leaseDurationSeconds since then (at once when the Lease is
// released or absent). After a leader dies, a standby therefore takes over
// within the lease duration after the last renewal it saw, plus the watch
// latency; after a leader releases the Lease on a clean stop, within the
// watch latency. A Get every retry period backs the watch up.
//
// The leader renews every retry period and gives up leading (Run returns an
// error wrapping ErrLost) when it could not renew for the renew deadline or
// sees another holder in the Lease.
package leader

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/watch"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
)

// ErrLost is wrapped by Run's error when leadership is lost: the lease could
// not be renewed for the renew deadline, or another candidate holds it. The
// process must stop what the leadership guarded (exit, like
// controller-runtime's "leader election lost").
var ErrLost = errors.New("leader election lost")

// Config configures an Elector.
type Config struct {
	// Client reaches the Lease (the CoordinationV1 part of a clientset).
	Client coordinationv1client.LeasesGetter
	// Namespace and Name of the Lease.
	Namespace, Name string
	// Identity of this candidate, unique among all candidates (NewIdentity).
	Identity string
	// LeaseDuration: a standby takes the lease when its record has not
	// changed for this long since the standby saw the last change. Written
	// into the Lease in whole seconds (leaseDurationSeconds).
	LeaseDuration time.Duration
	// RenewDeadline: the leader gives up leading when it has not renewed
	// the lease for this long since the start of its last successful
	// renewal. Shorter than the whole seconds of LeaseDuration, so that it
	// has stopped leading before a standby can take over.
	RenewDeadline time.Duration
	// RetryPeriod: how often the leader renews, and how often a standby reads
	// the Lease in case its watch is broken.
	RetryPeriod time.Duration
	// ReleaseOnCancel: when Run's context ends, the leader releases the Lease
	// (no holder) so that a standby takes over at once. Only safe when what
	// the leadership guards has stopped before the context ends.
	ReleaseOnCancel bool
	// Clock measures the lease (nil: the real clock).
	Clock clock.WithTicker
	// Log receives "successfully acquired lease", "leader election lost" and
	// "released lease" (V(1): the changes of the Lease a standby observes).
	Log logr.Logger
}

// Elector runs leader election for one candidate. Run it once.
type Elector struct {
	cfg     Config
	clock   clock.WithTicker
	log     logr.Logger
	leases  coordinationv1client.LeaseInterface
	gauge   prometheus.Gauge
	timeout time.Duration // of each API request
	elected chan struct{}
	running atomic.Bool
	inbox   inbox

	// Owned by Run's goroutine.
	obs       observer
	lastRenew time.Time // start of the last successful write as holder (local clock)
}

// NewIdentity returns a candidate identity like controller-runtime's: the
// host name, "_" and a UUID.
func NewIdentity() (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("leader election identity: %w", err)
	}
	return host + "_" + string(uuid.NewUUID()), nil
}

// New checks cfg and returns its Elector.
func New(cfg Config) (*Elector, error) {
	var errs []error
	if cfg.Client == nil {
		errs = append(errs, errors.New("no Lease client"))
	}
	if cfg.Namespace == "" || cfg.Name == "" {
		errs = append(errs, errors.New("the Lease needs a namespace and a name"))
	}
	if cfg.Identity == "" {
		errs = append(errs, errors.New("no identity"))
	}
	if whole := cfg.LeaseDuration.Truncate(time.Second); cfg.RetryPeriod <= 0 || cfg.RenewDeadline <= cfg.RetryPeriod || cfg.RenewDeadline >= whole {
		errs = append(errs, fmt.Errorf("leader election needs 0 < retry period (%s) < renew deadline (%s) < lease duration in whole seconds (%s)",
			cfg.RetryPeriod, cfg.RenewDeadline, whole))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	gauges, err := leaderGauge()
	if err != nil {
		return nil, err
	}
	e := &Elector{
		cfg:     cfg,
		clock:   cfg.Clock,
		log:     cfg.Log.WithValues("lease", cfg.Namespace+"/"+cfg.Name),
		leases:  cfg.Client.Leases(cfg.Namespace),
		gauge:   gauges.WithLabelValues(cfg.Name),
		timeout: max(cfg.RenewDeadline/2, time.Second), // a hung request does not use up the renew deadline
		elected: make(chan struct{}),
		inbox:   inbox{ready: make(chan struct{}, 1)},
	}
	if e.clock == nil {
		e.clock = clock.RealClock{}
	}
	return e, nil
}

// Identity is this candidate's identity.
func (e *Elector) Identity() string { return e.cfg.Identity }

// Elected is closed when this candidate has acquired the lease.
func (e *Elector) Elected() <-chan struct{} { return e.elected }

// Run campaigns for the lease until it acquires it, then leads until ctx ends
// or leadership is lost. It returns nil when ctx ends (having released the
// Lease if it led and ReleaseOnCancel is set), and an error wrapping ErrLost
// when leadership was lost.
func (e *Elector) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("leader: Run called more than once")
	}
	e.gauge.Set(0)
	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { e.watch(watchCtx) })
	defer func() {
		stopWatch()
		wg.Wait()
	}()

	e.log.Info("attempting to acquire leader lease", "identity", e.cfg.Identity)
	if !e.campaign(ctx) {
		return nil
	}
	e.gauge.Set(1)
	close(e.elected)
	e.log.Info("successfully acquired lease", "holder", e.cfg.Identity)

	if err := e.lead(ctx); err != nil {
		e.gauge.Set(0)
		e.log.Error(err, "leader election lost", "holder", e.cfg.Identity, "leaseHolder", e.obs.holder())
		return err
	}
	if e.cfg.ReleaseOnCancel {
		e.release()
	}
	e.gauge.Set(0)
	return nil
}

// campaign waits until the lease is free and takes it; false when ctx ended first.
func (e *Elector) campaign(ctx context.Context) bool {
	poll := e.clock.NewTicker(e.cfg.RetryPeriod)
	defer poll.Stop()
	var expiry clock.Timer
	var expiryAt time.Time
	defer func() {
		if expiry != nil {
			expiry.Stop()
		}
	}()
	read := true     // read the Lease before deciding (at first, then on each poll)
	blocked := false // an attempt failed: wait for a change or the next poll
	for ctx.Err() == nil {
		if read {
			read = false
			if _, err := e.refresh(ctx); err != nil && ctx.Err() == nil {
				e.log.V(1).Info("cannot read the lease", "err", err.Error())
			}
		}
		now := e.clock.Now()
		free, at := e.obs.free(e.cfg.Identity, now)
		if free && !blocked {
			acquired, changed, err := e.tryAcquire(ctx)
			if acquired {
				return true
			}
			if err != nil && ctx.Err() == nil {
				e.log.Error(err, "failed to acquire lease", "leaseHolder", e.obs.holder())
			}
			// Another candidate won (the Lease changed: decide again), or the
			// API server failed (wait for the next poll).
			blocked = !changed
			continue
		}
		var expired <-chan time.Time
		if !free && !at.IsZero() {
			if expiry == nil || !at.Equal(expiryAt) {
				if expiry != nil {
					expiry.Stop()
				}
				expiry, expiryAt = e.clock.NewTimer(at.Sub(now)), at
			}
			expired = expiry.C()
		}
		select {
		case <-ctx.Done():
		case <-e.inbox.ready:
			if e.drain() {
				blocked = false
			}
		case <-poll.C():
			read, blocked = true, false
		case <-expired:
			expiry = nil
		}
	}
	return false
}

// tryAcquire writes this candidate into the Lease it last saw, with its
// resource version (or creates the Lease): an optimistic write that fails when
// another candidate wrote first. changed: the Lease seen has changed since.
func (e *Elector) tryAcquire(ctx context.Context) (acquired, changed bool, err error) {
	now := e.clock.Now()
	rctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	var got *coordinationv1.Lease
	if e.obs.lease == nil {
		got, err = e.leases.Create(rctx, e.newLease(now), metav1.CreateOptions{})
	} else {
		l := e.obs.lease.DeepCopy()
		if e.obs.holder() != e.cfg.Identity {
			l.Spec.AcquireTime = ptr.To(metav1.NewMicroTime(now))
			l.Spec.LeaseTransitions = ptr.To(ptr.Deref(l.Spec.LeaseTransitions, 0) + 1)
		}
		e.stamp(l, now)
		got, err = e.leases.Update(rctx, l, metav1.UpdateOptions{})
	}
	if err == nil {
		e.obs.observe(got, e.clock.Now())
		e.lastRenew = now
		return true, true, nil
	}
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err) {
		// Someone else wrote (or removed) the Lease first: read what won.
		changed, rerr := e.refresh(ctx)
		return false, changed, rerr
	}
	return false, false, err
}

// lead renews the lease every retry period until ctx ends (nil) or
// leadership is lost (an error wrapping ErrLost).
func (e *Elector) lead(ctx context.Context) error {
	tick := e.clock.NewTicker(e.cfg.RetryPeriod)
	defer tick.Stop()
	deadline := e.deadlineTimer()
	defer func() { deadline.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-deadline.C():
			if e.clock.Now().Before(e.lastRenew.Add(e.cfg.RenewDeadline)) {
				deadline = e.deadlineTimer() // fired just before a renewal succeeded
				continue
			}
			return fmt.Errorf("%w: the lease was not renewed for %s", ErrLost, e.cfg.RenewDeadline)
		case <-e.inbox.ready:
			e.drain()
			if e.obs.lease != nil {
				if h := e.obs.holder(); h != e.cfg.Identity {
					return fmt.Errorf("%w: the lease is held by %q", ErrLost, h)
				}
				continue
			}
			// The Lease was deleted: write it again at once.
		case <-tick.C():
		}
		before := e.lastRenew
		if err := e.renew(ctx); err != nil {
			return err
		}
		if !e.lastRenew.Equal(before) {
			deadline.Stop()
			deadline = e.deadlineTimer()
		}
	}
}

func (e *Elector) deadlineTimer() clock.Timer {
	return e.clock.NewTimer(e.lastRenew.Add(e.cfg.RenewDeadline).Sub(e.clock.Now()))
}

// renew writes a new renewTime into the Lease. A failure is retried on the
// next tick; it returns an error only when leadership is lost.
func (e *Elector) renew(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		now := e.clock.Now()
		deadline := e.lastRenew.Add(e.cfg.RenewDeadline)
		if !now.Before(deadline) {
			return fmt.Errorf("%w: the lease was not renewed for %s", ErrLost, e.cfg.RenewDeadline)
		}
		if ctx.Err() != nil {
			return nil
		}
		rctx, cancel := context.WithTimeout(ctx, min(e.timeout, deadline.Sub(now)))
		var got *coordinationv1.Lease
		var err error
		if e.obs.lease == nil {
			got, err = e.leases.Create(rctx, e.newLease(now), metav1.CreateOptions{})
		} else {
			l := e.obs.lease.DeepCopy()
			e.stamp(l, now)
			got, err = e.leases.Update(rctx, l, metav1.UpdateOptions{})
		}
		cancel()
		if err == nil {
			e.obs.observe(got, e.clock.Now())
			e.lastRenew = now
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		if attempt == 0 && (apierrors.IsConflict(err) || apierrors.IsNotFound(err) || apierrors.IsAlreadyExists(err)) {
			// The Lease changed under us: if another candidate holds it,
			// leadership is lost; otherwise write again on the fresh version.
			if _, rerr := e.refresh(ctx); rerr != nil {
				e.log.Error(rerr, "failed to renew lease", "holder", e.cfg.Identity, "renewDeadlineIn", deadline.Sub(e.clock.Now()).String())
				return nil
			}
			if e.obs.lease != nil && e.obs.holder() != e.cfg.Identity {
				return fmt.Errorf("%w: the lease is held by %q", ErrLost, e.obs.holder())
			}
			continue
		}
		e.log.Error(err, "failed to renew lease", "holder", e.cfg.Identity, "renewDeadlineIn", deadline.Sub(e.clock.Now()).String())
		return nil
	}
}

// release writes the Lease without holder, as client-go's ReleaseOnCancel
// does (leaseDurationSeconds 1, renewTime now), so that a standby's watch
// sees it and takes over at once.
func (e *Elector) release() {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.RenewDeadline)
	defer cancel()
	e.drain()
	for range 3 {
		if e.obs.lease == nil || e.obs.holder() != e.cfg.Identity {
			e.log.Info("lease not released: not held any more", "holder", e.cfg.Identity, "leaseHolder", e.obs.holder())
			return
		}
		now := metav1.NewMicroTime(e.clock.Now())
		l := e.obs.lease.DeepCopy()
		l.Spec.HolderIdentity = ptr.To("")
		l.Spec.LeaseDurationSeconds = ptr.To[int32](1)
		l.Spec.RenewTime, l.Spec.AcquireTime = &now, &now
		got, err := e.leases.Update(ctx, l, metav1.UpdateOptions{})
		if err == nil {
			e.obs.observe(got, e.clock.Now())
			e.log.Info("released lease", "holder", e.cfg.Identity)
			return
		}
		if !apierrors.IsConflict(err) {
			e.log.Error(err, "failed to release lease", "holder", e.cfg.Identity)
			return
		}
		if _, err := e.refresh(ctx); err != nil {
			e.log.Error(err, "failed to release lease", "holder", e.cfg.Identity)
			return
		}
	}
	e.log.Info("lease not released: it kept changing", "holder", e.cfg.Identity)
}

// stamp makes l a renewal by this candidate at now.
func (e *Elector) stamp(l *coordinationv1.Lease, now time.Time) {
	l.Spec.HolderIdentity = ptr.To(e.cfg.Identity)
	l.Spec.LeaseDurationSeconds = ptr.To(int32(e.cfg.LeaseDuration / time.Second))
	l.Spec.RenewTime = ptr.To(metav1.NewMicroTime(now))
	if l.Spec.AcquireTime == nil {
		l.Spec.AcquireTime = ptr.To(metav1.NewMicroTime(now))
	}
}

// newLease is the Lease this candidate creates when there is none.
func (e *Elector) newLease(now time.Time) *coordinationv1.Lease {
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: e.cfg.Namespace, Name: e.cfg.Name},
		Spec: coordinationv1.LeaseSpec{LeaseTransitions: ptr.To[int32](0)}}
	e.stamp(l, now)
	return l
}

// refresh reads the Lease; changed: its record differs from the one seen.
func (e *Elector) refresh(ctx context.Context) (changed bool, err error) {
	rctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	l, err := e.leases.Get(rctx, e.cfg.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		l = nil
	case err != nil:
		return false, err
	}
	changed = e.obs.observe(l, e.clock.Now())
	e.logObserved(changed)
	return changed, nil
}

// drain applies the watch events received; changed: the record changed.
func (e *Elector) drain() (changed bool) {
	for _, ev := range e.inbox.take() {
		if ev.deleted {
			changed = e.obs.observeDeleted(ev.lease, ev.at) || changed
		} else {
			changed = e.obs.observe(ev.lease, ev.at) || changed
		}
	}
	e.logObserved(changed)
	return changed
}

func (e *Elector) logObserved(changed bool) {
	if !changed || e.obs.holder() == e.cfg.Identity {
		return
	}
	if e.obs.lease == nil {
		e.log.V(1).Info("observed lease change: no Lease")
		return
	}
	e.log.V(1).Info("observed lease change", "leaseHolder", e.obs.holder(),
		"leaseDurationSeconds", e.obs.rec.durationSeconds, "leaseTransitions", e.obs.rec.transitions)
}

// watch runs an informer on the Lease alone until ctx ends; its events go to
// the inbox stamped with the local time they arrived.
func (e *Elector) watch(ctx context.Context) {
	byName := fields.OneTermEqualSelector("metadata.name", e.cfg.Name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = byName
			return e.leases.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = byName
			return e.leases.Watch(ctx, o)
		},
	}
	log := e.log.WithName("watch")
	put := func(obj any, deleted bool) {
		l, ok := obj.(*coordinationv1.Lease)
		if !ok {
			if d, isTombstone := obj.(cache.DeletedFinalStateUnknown); isTombstone {
				l, _ = d.Obj.(*coordinationv1.Lease)
			}
		}
		if l == nil && !deleted {
			return
		}
		e.inbox.put(leaseEvent{lease: l, deleted: deleted, at: e.clock.Now()})
	}
	_, informer := cache.NewInformerWithOptions(cache.InformerOptions{
		Logger:        &log,
		ListerWatcher: lw,
		ObjectType:    &coordinationv1.Lease{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { put(obj, false) },
			UpdateFunc: func(_, obj any) { put(obj, false) },
			DeleteFunc: func(obj any) { put(obj, true) },
		},
	})
	informer.RunWithContext(ctx)
}

// leaseEvent is a watch event on the Lease, with the local time it arrived.
type leaseEvent struct {
	lease   *coordinationv1.Lease // the Lease; when deleted, its last state (nil if unknown)
	deleted bool
	at      time.Time
}

// inbox hands watch events to Run's goroutine in order.
type inbox struct {
	mu     sync.Mutex
	events []leaseEvent
	ready  chan struct{} // capacity 1: there are events
}

func (in *inbox) put(ev leaseEvent) {
	in.mu.Lock()
	in.events = append(in.events, ev)
	in.mu.Unlock()
	select {
	case in.ready <- struct{}{}:
	default:
	}
}

func (in *inbox) take() []leaseEvent {
	in.mu.Lock()
	defer in.mu.Unlock()
	evs := in.events
	in.events = nil
	return evs
}
