package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
	"k8s.io/utils/keymutex"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/devicegroup"
	"github.com/gatestream/gatestream/internal/finalizers"
	"github.com/gatestream/gatestream/internal/poll"
	"github.com/gatestream/gatestream/internal/unit"
)

// deviceGroupSettleDelay is how soon a pass that reset sessions looks again,
// to report the addresses the SIMs got when they reconnected through the VPG.
const deviceGroupSettleDelay = 10 * time.Second

// DeviceGroupReconciler converges a DeviceGroup: a SORACOM SIM group bound to
// the environment's VPG, its SIM membership and the Gate SIM-based routes of
// the LANs behind routers (the units of internal/devicegroup), and the status
// of each named device.
type DeviceGroupReconciler struct {
	client.Client
	// Clients builds the SORACOM client from the environment's spec.soracom.
	Clients *clients.Factory
	// Recorder emits Events (nil: none).
	Recorder recorder.EventRecorder
	// Clock is the time source of the create-pending marker (default: real clock).
	Clock clock.PassiveClock
	// PollInterval re-observes an in-sync DeviceGroup (default 5 min, jittered;
	// the access.gatestream.io/poll-interval annotation overrides it).
	PollInterval time.Duration
	// MaxConcurrentReconciles (default 1).
	MaxConcurrentReconciles int
	// MaxErrorBackoff caps the backoff after a failed pass (default
	// unit.DefaultBackoffMax).
	MaxErrorBackoff time.Duration
	// ClusterName is the manager's --cluster-name: groups carry the stable
	// identity it makes, and a rebuilt cluster of that name adopts them.
	ClusterName string
	// SkipNameValidation lets tests start one manager per test.
	SkipNameValidation bool

	// routeLocks serializes read-modify-write of each VPG's shared route map.
	routeLocks keymutex.KeyMutex
	init       sync.Once
}

// defaults fills what SetupWithManager would (tests may call Reconcile directly).
func (r *DeviceGroupReconciler) defaults() {
	r.init.Do(func() {
		if r.Clock == nil {
			r.Clock = clock.RealClock{}
		}
		if r.PollInterval <= 0 {
			r.PollInterval = 5 * time.Minute
		}
		r.routeLocks = keymutex.NewHashed(0)
	})
}

// SetupWithManager registers the field indexes and the controller. Status
// writes do not trigger a pass (spec, annotation and deletion changes do, as
// do changes of the referenced environment; the poll interval re-observes).
func (r *DeviceGroupReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clients == nil {
		return errors.New("DeviceGroupReconciler needs Clients")
	}
	r.defaults()
	if err := IndexDeviceGroupFields(context.Background(), mgr); err != nil {
		return err
	}
	opts := controller.Options{MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles),
		RateLimiter: unit.ErrorBackoff(0, r.MaxErrorBackoff)}
	if r.SkipNameValidation { // unset: the manager's setting applies
		opts.SkipNameValidation = ptr.To(true)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.DeviceGroup{},
			builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&accessv1alpha1.RemoteAccessEnvironment{}, handler.EnqueueRequestsFromMapFunc(devicegroup.UsersOfEnvironment(r.Client)),
			builder.WithPredicates(devicegroup.EnvironmentChanged())).
		WithOptions(opts).
		Named("devicegroup").
		Complete(r)
}

// IndexDeviceGroupFields registers the DeviceGroup field indexes (once per manager).
func IndexDeviceGroupFields(ctx context.Context, mgr ctrl.Manager) error {
	return devicegroup.IndexFields(ctx, mgr.GetFieldIndexer())
}

// Reconcile runs one pass: the environment first (nothing is changed in
// SORACOM until it is Ready), then group → binding → membership → routes,
// then one status write.
func (r *DeviceGroupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var dg accessv1alpha1.DeviceGroup
	if err := r.Get(ctx, req.NamespacedName, &dg); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	p := r.newPass(ctx, &dg)
	if !dg.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, p)
	}
	// Metadata only, before anything is created outside.
	if _, err := finalizers.Add(ctx, r.Client, &dg, accessv1alpha1.Finalizer); err != nil {
		return r.finish(ctx, p, unit.Outcome{Err: err})
	}
	if ok, err := p.ResolveEnvironment(ctx, r.Client, r.Clients); err != nil {
		return r.finish(ctx, p, unit.Outcome{Err: err})
	} else if !ok {
		return r.waitForEnvironment(ctx, p)
	}
	out := unit.Converge(ctx, p, devicegroup.Chain()...)
	if p.SessionsReset() > 0 {
		// Look again soon for the addresses the SIMs got through the gateway.
		out.Wait = unit.MinWait(out.Wait, deviceGroupSettleDelay)
	}
	devicegroup.ApplyReachability(p)
	devicegroup.SetReady(&dg, out)
	return r.finish(ctx, p, out)
}

func (r *DeviceGroupReconciler) newPass(ctx context.Context, dg *accessv1alpha1.DeviceGroup) *devicegroup.Pass {
	r.defaults()
	p := devicegroup.NewPass(dg, unit.Base{Now: r.Clock.Now(), TransitionWait: deviceGroupSettleDelay, PollInterval: r.pollInterval(dg),
		Persist: func(ctx context.Context) error {
			dg.Status.ObservedGeneration = dg.Generation
			return unit.WriteStatus(ctx, r.Client, dg, true)
		}}, r.ClusterName)
	p.Owners, p.RouteLocks, p.Log = devicegroup.CacheOwners{Reader: r.Client}, r.routeLocks, log.FromContext(ctx)
	p.Event = func(eventType, reason, action, note string) {
		if r.Recorder != nil {
			r.Recorder.Eventf(dg, nil, eventType, reason, action, "%s", note)
		}
	}
	return p
}

func (r *DeviceGroupReconciler) pollInterval(dg *accessv1alpha1.DeviceGroup) time.Duration {
	return poll.Next(dg.Annotations, r.PollInterval)
}

// waitForEnvironment writes the waiting conditions (Synced stays as the last
// pass that reached SORACOM left it) and looks again at the poll interval;
// the environment watch wakes the group sooner.
func (r *DeviceGroupReconciler) waitForEnvironment(ctx context.Context, p *devicegroup.Pass) (ctrl.Result, error) {
	p.DG.Status.ObservedGeneration = p.Generation
	return ctrl.Result{RequeueAfter: p.PollInterval}, unit.WriteStatus(ctx, r.Client, p.DG, p.Changed())
}

// finish writes status once if it changed and picks the requeue.
func (r *DeviceGroupReconciler) finish(ctx context.Context, p *devicegroup.Pass, out unit.Outcome) (ctrl.Result, error) {
	devicegroup.SetReady(p.DG, out)
	if msg := poll.Problem(p.DG.Annotations, r.PollInterval); msg != "" && r.Recorder != nil {
		r.Recorder.Eventf(p.DG, nil, corev1.EventTypeWarning, "PollIntervalIgnored", "Reconcile", "%s", msg)
	}
	if out.Err != nil {
		log.FromContext(ctx).Info("pass failed", "reason", unit.Reason(out.Err), "error", out.Err.Error())
	}
	return unit.Finish(ctx, r.Client, p.DG, &p.Base, &p.DG.Status.ObservedGeneration, p.Changed, out, p.PollInterval)
}

// finalize cleans up outside in reverse order and removes the finalizer;
// with deletionPolicy Orphan at once.
func (r *DeviceGroupReconciler) finalize(ctx context.Context, p *devicegroup.Pass) (ctrl.Result, error) {
	dg := p.DG
	if !controllerutil.ContainsFinalizer(dg, accessv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	if dg.Spec.DeletionPolicy == accessv1alpha1.DeletionPolicyOrphan {
		p.Event(corev1.EventTypeNormal, accessv1alpha1.ReasonOrphaned, "Delete", "deletionPolicy Orphan: the SORACOM group, its binding, SIMs and routes are left in place")
		return ctrl.Result{}, r.removeFinalizer(ctx, dg)
	}
	if devicegroup.NothingOutside(dg) {
		return ctrl.Result{}, r.removeFinalizer(ctx, dg)
	}
	conditions.False(p.Conditions, p.Generation, accessv1alpha1.ConditionReady, accessv1alpha1.ReasonDeleting, "cleaning up the SORACOM group")
	if _, err := p.ResolveEnvironment(ctx, r.Client, r.Clients); err != nil {
		devicegroup.DeletionBlocked(dg, err)
		return r.finish(ctx, p, unit.Outcome{Err: err})
	}
	gone, err := unit.Remove(ctx, p, devicegroup.DeletionOrder()...)
	if gone {
		p.Log.Info("cleaned up SORACOM; removing finalizer", "groupId", dg.Status.GroupID)
		p.Event(corev1.EventTypeNormal, "Deleted", "Delete", "SORACOM group cleaned up")
		return ctrl.Result{}, r.removeFinalizer(ctx, dg)
	}
	if err != nil {
		devicegroup.DeletionBlocked(dg, err)
	}
	return r.finish(ctx, p, unit.Outcome{Err: err, Wait: p.Settling(dg.DeletionTimestamp.Time)})
}

func (r *DeviceGroupReconciler) removeFinalizer(ctx context.Context, dg *accessv1alpha1.DeviceGroup) error {
	if _, err := finalizers.Remove(ctx, r.Client, dg, accessv1alpha1.Finalizer); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing finalizer: %w", err)
	}
	return nil
}
