package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/environment"
	"github.com/gatestream/gatestream/internal/finalizers"
	"github.com/gatestream/gatestream/internal/poll"
	"github.com/gatestream/gatestream/internal/session"
	"github.com/gatestream/gatestream/internal/session/target"
	"github.com/gatestream/gatestream/internal/unit"
)

// RemoteAccessEnvironmentReconciler converges a RemoteAccessEnvironment's
// external objects: SORACOM gateway, Gate, Canal peering, VPC routes, the
// network check, and the AppStream stack, fleet and association.
type RemoteAccessEnvironmentReconciler struct {
	client.Client
	// APIReader reads the credential Secrets, which the manager does not cache.
	APIReader client.Reader
	Clients   *clients.Factory
	Recorder  recorder.EventRecorder
	Clock     clock.PassiveClock
	// PollInterval re-observes an in-sync environment to correct drift.
	PollInterval time.Duration
	// TransitionWait is the longest wait between looks at an object that is
	// changing state (the first look comes after unit.MinTransitionWait).
	TransitionWait          time.Duration
	MaxConcurrentReconciles int
	// MaxErrorBackoff caps the backoff after a failed pass (default
	// unit.DefaultBackoffMax).
	MaxErrorBackoff time.Duration
	// ClusterName is the manager's --cluster-name: the external objects carry
	// the stable identity it makes, and a rebuilt cluster of that name adopts them.
	ClusterName string

	routerConfigs environment.RouterConfigCache
	// demand holds the environments sized by capacity Demand (set by each
	// pass), so that a session event is mapped without reading (and
	// copying) its environment from the cache.
	demand sync.Map // types.NamespacedName → struct{}
}

// Reconcile runs one pass: both chains of units (the AppStream side does not
// wait for SORACOM), then one status write.
func (r *RemoteAccessEnvironmentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var env accessv1alpha1.RemoteAccessEnvironment
	if err := r.Get(ctx, req.NamespacedName, &env); err != nil {
		if apierrors.IsNotFound(err) {
			r.demand.Delete(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if environment.SizedByDemand(&env) {
		r.demand.Store(req.NamespacedName, struct{}{})
	} else {
		r.demand.Delete(req.NamespacedName)
	}
	if !env.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, &env)
	}
	// The finalizer goes on before anything is created outside the cluster.
	if _, err := finalizers.Add(ctx, r.Client, &env, accessv1alpha1.Finalizer); err != nil {
		return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
	}
	pass, err := r.newPass(ctx, &env)
	if err != nil {
		return r.finish(ctx, pass, unit.Outcome{Err: err})
	}
	if err := r.protectCredentials(ctx, &env); err != nil {
		return ctrl.Result{}, err
	}
	if env.Generation != env.Status.ObservedGeneration {
		// The spec may name other Secrets now: let go of those no environment uses.
		if err := r.releaseCredentials(ctx, env.Namespace, nil); err != nil {
			return ctrl.Result{}, err
		}
	}
	soracomSide := unit.Converge(ctx, pass, environment.SoracomChain(&env)...)
	appStream := unit.Converge(ctx, pass, environment.AppStreamChain()...)
	if appStream.Ready && appStream.Err == nil {
		// The fleet and stack were seen this pass and carry the identity (they
		// are the only objects whose tags are not read on every pass).
		env.Status.Identity = pass.Owner().Identity()
	}
	out := unit.Join(soracomSide, appStream)
	if out.Err != nil {
		log.FromContext(ctx).Info("pass failed", "error", out.Err.Error())
	}
	return r.finish(ctx, pass, out)
}

// newPass builds the pass; without clients (credentials) it still returns a
// pass that can report the error.
func (r *RemoteAccessEnvironmentReconciler) newPass(ctx context.Context, env *accessv1alpha1.RemoteAccessEnvironment) (*environment.Pass, error) {
	p := &environment.Pass{
		Env: env, Now: r.Clock.Now(), Log: log.FromContext(ctx),
		Event: func(eventType, reason, action, note string) {
			r.Recorder.Eventf(env, nil, eventType, reason, action, "%s", note)
		},
		PersistStatus: func(ctx context.Context) error {
			env.Status.ObservedGeneration = env.Generation
			return unit.WriteStatus(ctx, r.Client, env, true)
		},
		TransitionWait: r.TransitionWait,
		PollInterval:   r.PollInterval,
		Orig:           env.Status.DeepCopy(),
		RouterConfigs:  &r.routerConfigs,
		ClusterName:    r.ClusterName,
	}
	var groups accessv1alpha1.DeviceGroupList
	if err := r.List(ctx, &groups, client.InNamespace(env.Namespace)); err != nil {
		return p, fmt.Errorf("listing DeviceGroups: %w", err)
	}
	p.LANRoutes, p.Devices = environment.FromDeviceGroups(env, groups.Items)
	if err := r.countSessions(ctx, p); err != nil {
		return p, err
	}
	var err error
	if p.Soracom, err = r.Clients.Soracom(ctx, env.Namespace, env.Spec.Soracom); err != nil {
		return p, err
	}
	p.AWS, err = r.Clients.AWS(ctx, env.Namespace, env.Spec.AWS)
	return p, err
}

// finish sets Ready, then Synced, writes status once if it changed, and picks the requeue.
func (r *RemoteAccessEnvironmentReconciler) finish(ctx context.Context, p *environment.Pass, out unit.Outcome) (ctrl.Result, error) {
	environment.SetReady(p.Env, out)
	changed := func() bool { return !equality.Semantic.DeepEqual(p.Orig, &p.Env.Status) }
	if msg := poll.Problem(p.Env.Annotations, r.PollInterval); msg != "" {
		r.Recorder.Eventf(p.Env, nil, corev1.EventTypeWarning, "PollIntervalIgnored", "Reconcile", "%s", msg)
	}
	next := poll.Next(p.Env.Annotations, r.PollInterval)
	if p.Wake > 0 && p.Wake < next {
		next = p.Wake // capacity Demand: a schedule boundary, the idle time running out, a fleet starting
	}
	return unit.Finish(ctx, r.Client, p.Env, p.UnitBase(), &p.Env.Status.ObservedGeneration, changed, out, next)
}

// countSessions gives the pass the environment's live sessions (capacity
// Demand sizes the fleet from them) and when each was given access
// (status.usage.sessionsServed), read from the cache without copies.
func (r *RemoteAccessEnvironmentReconciler) countSessions(ctx context.Context, p *environment.Pass) error {
	var list accessv1alpha1.StreamingSessionList
	if err := r.List(ctx, &list, client.InNamespace(p.Env.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing StreamingSessions: %w", err)
	}
	for i := range list.Items {
		s := &list.Items[i]
		if s.Spec.EnvironmentRef.Name != p.Env.Name {
			continue
		}
		if session.Live(s) && !target.ViaNapter(s) { // Napter sessions use no fleet instance
			p.LiveSessions++
		}
		if at, ok := session.IssuedAt(s); ok {
			is := environment.IssuedSession{At: at}
			if target.ViaNapter(s) {
				is.Napter = session.AccessWindow(&s.Spec)
			}
			p.SessionsIssued = append(p.SessionsIssued, is)
		}
	}
	return nil
}

// capacityDebounce gathers the session changes of a burst into one pass of
// a Demand environment: ten sessions created at once raise the fleet's
// capacity with one UpdateFleet, not ten.
const capacityDebounce = time.Second

// sessionsChanged wakes the environment of a session whose capacity demand
// changed (created, deleted, live or not, given access), when the
// environment sizes its fleet by Demand.
func (r *RemoteAccessEnvironmentReconciler) sessionsChanged() handler.TypedEventHandler[client.Object, reconcile.Request] {
	enqueue := func(_ context.Context, o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		s, ok := o.(*accessv1alpha1.StreamingSession)
		if !ok {
			return
		}
		key := types.NamespacedName{Namespace: s.Namespace, Name: s.Spec.EnvironmentRef.Name}
		if _, ok := r.demand.Load(key); !ok || target.ViaNapter(s) {
			return // Fixed capacity, or a session that takes no instance
		}
		q.AddAfter(reconcile.Request{NamespacedName: key}, capacityDebounce)
	}
	return handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, e.Object, q)
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, e.Object, q)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			old, oldOK := e.ObjectOld.(*accessv1alpha1.StreamingSession)
			cur, curOK := e.ObjectNew.(*accessv1alpha1.StreamingSession)
			if oldOK && curOK && (session.Live(old) != session.Live(cur) || old.Status.Phase != cur.Status.Phase) {
				enqueue(ctx, cur, q)
			}
		},
	}
}

// finalize deletes the external objects in reverse order (unless Orphan) and
// then removes the finalizer.
func (r *RemoteAccessEnvironmentReconciler) finalize(ctx context.Context, env *accessv1alpha1.RemoteAccessEnvironment) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(env, accessv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	if env.Spec.DeletionPolicy == accessv1alpha1.DeletionPolicyOrphan {
		// Nothing outside the cluster is touched, so no credentials are needed.
		r.Recorder.Eventf(env, nil, corev1.EventTypeNormal, accessv1alpha1.ReasonOrphaned, "Delete", "deletionPolicy Orphan: external objects left in place")
		return ctrl.Result{}, r.removeFinalizer(ctx, env)
	}
	// DeviceGroups bound to this gateway go first: they unbind their SORACOM
	// group and take their SIMs out, which needs this environment's settings.
	users, err := r.deviceGroupsUsing(ctx, env)
	if err != nil {
		return ctrl.Result{}, err
	}
	pass, perr := r.newPass(ctx, env)
	blocked := func(msg string) {
		conditions.False(&env.Status.Conditions, env.Generation, accessv1alpha1.ConditionReady, accessv1alpha1.ReasonDeleting, msg)
	}
	switch {
	case len(users) > 0:
		blocked("waiting for the DeviceGroups that use this environment to be deleted first: " + strings.Join(users, ", "))
		return r.finish(ctx, pass, unit.Outcome{Wait: r.TransitionWait})
	case perr != nil:
		// Without credentials nothing can be deleted; say so (switching to Orphan releases it).
		blocked("cannot delete the external objects: " + unit.Message(perr) + "; restore the credentials or set spec.deletionPolicy: Orphan")
		return r.finish(ctx, pass, unit.Outcome{Err: perr})
	}
	gone, err := unit.Remove(ctx, pass, environment.DeletionOrder(env)...)
	if gone {
		r.Recorder.Eventf(env, nil, corev1.EventTypeNormal, "Deleted", "Delete", "all external objects deleted")
		return ctrl.Result{}, r.removeFinalizer(ctx, env)
	}
	blocked("deleting external objects")
	return r.finish(ctx, pass, unit.Outcome{Err: err, Wait: pass.UnitBase().Settling(env.DeletionTimestamp.Time)})
}

// deviceGroupsUsing lists the DeviceGroups of the namespace that reference env.
func (r *RemoteAccessEnvironmentReconciler) deviceGroupsUsing(ctx context.Context, env *accessv1alpha1.RemoteAccessEnvironment) ([]string, error) {
	var groups accessv1alpha1.DeviceGroupList
	if err := r.List(ctx, &groups, client.InNamespace(env.Namespace)); err != nil {
		return nil, fmt.Errorf("listing DeviceGroups: %w", err)
	}
	var names []string
	for _, g := range groups.Items {
		if g.Spec.EnvironmentRef.Name == env.Name {
			names = append(names, g.Name)
		}
	}
	return names, nil
}

func (r *RemoteAccessEnvironmentReconciler) removeFinalizer(ctx context.Context, env *accessv1alpha1.RemoteAccessEnvironment) error {
	if err := r.releaseCredentials(ctx, env.Namespace, env); err != nil {
		return err
	}
	if _, err := finalizers.Remove(ctx, r.Client, env, accessv1alpha1.Finalizer); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing finalizer: %w", err)
	}
	return nil
}

func environmentOfGroup(_ context.Context, o client.Object) []reconcile.Request {
	dg, ok := o.(*accessv1alpha1.DeviceGroup)
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: dg.Namespace, Name: dg.Spec.EnvironmentRef.Name}}}
}

// SetupWithManager registers the controller. Status writes do not trigger a
// pass (generation or annotation changes do, and the poll interval re-observes).
func (r *RemoteAccessEnvironmentReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.TransitionWait <= 0 {
		r.TransitionWait = 10 * time.Second
	}
	if r.PollInterval <= 0 {
		r.PollInterval = 5 * time.Minute
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.RemoteAccessEnvironment{},
			builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// A DeviceGroup's LANs are routed to the router and its devices are
		// walked by the path check: a change of either is a pass.
		Watches(&accessv1alpha1.DeviceGroup{}, handler.EnqueueRequestsFromMapFunc(environmentOfGroup),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
				return environment.PathInputsChanged(e.ObjectOld.(*accessv1alpha1.DeviceGroup), e.ObjectNew.(*accessv1alpha1.DeviceGroup))
			}})).
		// Capacity Demand sizes the fleet from the sessions.
		Watches(&accessv1alpha1.StreamingSession{}, r.sessionsChanged()).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles),
			RateLimiter: unit.ErrorBackoff(0, r.MaxErrorBackoff)}).
		Named("remoteaccessenvironment").
		Complete(r)
}
