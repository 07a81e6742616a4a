package controllers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	toolscache "k8s.io/client-go/tools/cache"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/finalizers"
	"github.com/gatestream/gatestream/internal/schedule"
	"github.com/gatestream/gatestream/internal/session"
	"github.com/gatestream/gatestream/internal/unit"
)

// Field indexes on StreamingSessions, so that a change of an environment or a
// DeviceGroup wakes the sessions waiting for it. IndexSessionEnvironment is
// registered only where the informer's own index (session.Index) is not
// available: one index of 10,000 sessions by environment is enough.
const (
	IndexSessionEnvironment = ".spec.environmentRef.name"
	IndexSessionDeviceGroup = ".spec.target.deviceGroup"
)

// The manager cache's transforms of the objects this controller reads: see
// session.TransformSession (sessions without labels, repeated strings
// shared) and session.TransformSecret (URL Secrets without their URL, which
// the controller reads from the API server on the rare write of a cached
// Secret: session.SecretWriter).
var (
	TransformStreamingSession toolscache.TransformFunc = session.TransformSession
	TransformURLSecret        toolscache.TransformFunc = session.TransformSecret
)

// StreamingSessionRecorderName is the reporting controller of the session Events.
const StreamingSessionRecorderName = "gatestream-streamingsession"

// StreamingSessionReconciler mints one expiring AppStream streaming URL per
// StreamingSession into a Secret the session owns, and enforces the access
// window. Each pass reads, asks session.Decide for the one next step, carries
// it out through the units of internal/session, records the status once and
// schedules the next deadline: see docs/streamingsession.md.
type StreamingSessionReconciler struct {
	client.Client
	// APIReader reads a Secret that the label-filtered cache cannot see (its
	// label was edited away, or a foreign Secret took the name). Default: the
	// manager's API reader.
	APIReader client.Reader
	// Clients builds the environment's AWS clients (required).
	Clients *clients.Factory
	// Recorder emits Events. Default: the manager's recorder named StreamingSessionRecorderName.
	Recorder recorder.EventRecorder
	// Clock gives every deadline and wakes the controller when it reaches
	// one (default: the real clock; tests step a fake one).
	Clock clock.WithDelayedExecution
	// MaxConcurrentReconciles (default 4).
	MaxConcurrentReconciles int
	// MaxErrorBackoff caps the backoff after a failed pass (default
	// unit.DefaultBackoffMax).
	MaxErrorBackoff time.Duration
	// SkipNameValidation allows several managers with this controller in one process (tests).
	SkipNameValidation bool

	wake  *schedule.Channel
	units session.Units
}

// SetupWithManager registers the reconciler, its field indexes and its watches.
func (r *StreamingSessionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clients == nil {
		return errors.New("StreamingSessionReconciler: Clients is required")
	}
	r.Client = cmp.Or(r.Client, mgr.GetClient())
	r.APIReader = cmp.Or(r.APIReader, mgr.GetAPIReader())
	r.Recorder = cmp.Or(r.Recorder, mgr.GetEventRecorder(StreamingSessionRecorderName))
	r.Clock = cmp.Or[clock.WithDelayedExecution](r.Clock, clock.RealClock{})
	// The Secrets come from a cache that leaves their URL out
	// (session.TransformSecret, internal/manager): SecretWriter reads it
	// back from the API server before a cached Secret is written (repair).
	secrets := session.Secrets{Client: session.SecretWriter{Client: r.Client, APIReader: r.APIReader}, APIReader: r.APIReader}
	r.units = session.Units{Client: r.Client, Clients: r.Clients, Secrets: secrets}
	r.wake = schedule.NewChannel(r.Clock, func() client.Object { return &accessv1alpha1.StreamingSession{} })
	if err := mgr.Add(r.wake); err != nil {
		return err
	}
	// The limits are counted on every mint, and an environment's waiting
	// sessions found, from the informer's own index (session.Index): no
	// List, no copies. Only a single-namespace or cluster-wide cache hands
	// out its SharedIndexInformer; otherwise both fall back to a cache List
	// by the field index IndexSessionEnvironment.
	fields := map[string]func(*accessv1alpha1.StreamingSession) string{
		IndexSessionDeviceGroup: func(s *accessv1alpha1.StreamingSession) string {
			return ptr.Deref(s.Spec.Target, accessv1alpha1.SessionTarget{}).DeviceGroup
		},
	}
	if inf, err := mgr.GetCache().GetInformer(context.Background(), &accessv1alpha1.StreamingSession{}); err != nil {
		return fmt.Errorf("the StreamingSession informer: %w", err)
	} else if si, ok := inf.(toolscache.SharedIndexInformer); ok {
		if err := si.AddIndexers(toolscache.Indexers{session.IndexerEnvironment: session.IndexByEnvironment}); err != nil {
			return fmt.Errorf("indexing StreamingSessions by environment: %w", err)
		}
		r.units.Index = &session.Index{Indexer: si.GetIndexer()}
	} else {
		fields[IndexSessionEnvironment] = func(s *accessv1alpha1.StreamingSession) string { return s.Spec.EnvironmentRef.Name }
	}
	for field, value := range fields {
		if err := mgr.GetFieldIndexer().IndexField(context.Background(), &accessv1alpha1.StreamingSession{}, field, func(o client.Object) []string {
			if v := value(o.(*accessv1alpha1.StreamingSession)); v != "" {
				return []string{v}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	opts := controller.Options{MaxConcurrentReconciles: cmp.Or(max(r.MaxConcurrentReconciles, 0), 4),
		RateLimiter: unit.ErrorBackoff(0, r.MaxErrorBackoff)}
	if r.SkipNameValidation { // unset: the manager's setting applies
		opts.SkipNameValidation = ptr.To(true)
	}
	// The controller's own status and finalizer writes do not wake it (a pass
	// would only re-read a cache that may not show them yet), nor does the
	// creation of a Secret (it creates them); deadlines come from r.wake.
	own := predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{},
		predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
			return e.ObjectOld.GetDeletionTimestamp().IsZero() != e.ObjectNew.GetDeletionTimestamp().IsZero()
		}})
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.StreamingSession{}, builder.WithPredicates(own)).
		Owns(&corev1.Secret{}, builder.WithPredicates(predicate.Funcs{CreateFunc: func(event.CreateEvent) bool { return false }})).
		Watches(&accessv1alpha1.RemoteAccessEnvironment{}, handler.EnqueueRequestsFromMapFunc(r.waitingSessions(IndexSessionEnvironment))).
		Watches(&accessv1alpha1.DeviceGroup{}, handler.EnqueueRequestsFromMapFunc(r.waitingSessions(IndexSessionDeviceGroup))).
		WatchesRawSource(source.Channel(r.wake.C, &handler.EnqueueRequestForObject{})).
		WithOptions(opts).
		Named("streamingsession").
		Complete(r)
}

// waitingSessions maps an environment or DeviceGroup to the sessions of its
// namespace that reference it and have no URL yet (only those resolve it).
// An environment's sessions come from the informer's index when there is
// one; otherwise, and for a DeviceGroup, from a cache List by the field
// index. Either way the cached sessions are only read, never copied.
func (r *StreamingSessionReconciler) waitingSessions(field string) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		var reqs []reconcile.Request
		add := func(s *accessv1alpha1.StreamingSession) {
			if s.Status.URLExpiresAt == nil && !session.Finished(s.Status.Phase) {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(s)})
			}
		}
		if field == IndexSessionEnvironment && r.units.Index != nil {
			sessions, err := r.units.Index.OfEnvironment(obj.GetNamespace(), obj.GetName())
			if err != nil {
				logf.FromContext(ctx).Error(err, "reading the sessions of an environment", "environment", obj.GetName())
				return nil
			}
			for _, s := range sessions {
				add(s)
			}
			return reqs
		}
		var list accessv1alpha1.StreamingSessionList
		if err := r.List(ctx, &list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{field: obj.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
			logf.FromContext(ctx).Error(err, "listing sessions", "field", field, "value", obj.GetName())
			return nil
		}
		for i := range list.Items {
			add(&list.Items[i])
		}
		return reqs
	}
}

// Reconcile drives one session: finalizer, inputs, Decide, the step, the status, the next deadline.
func (r *StreamingSessionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var s accessv1alpha1.StreamingSession
	if err := r.Get(ctx, req.NamespacedName, &s); err != nil {
		if apierrors.IsNotFound(err) {
			r.wake.Forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if s.DeletionTimestamp.IsZero() && !session.Finished(s.Status.Phase) { // before anything is minted
		if _, err := finalizers.Add(ctx, r.Client, &s, accessv1alpha1.StreamingSessionFinalizer); err != nil {
			return r.failed(ctx, &s, s.Status, err)
		}
	}
	p, err := r.units.Observe(ctx, &s, r.Clock.Now())
	if err != nil {
		return r.failed(ctx, &s, s.Status, err)
	}
	for range 4 { // at most: list the user's sessions, revoke, release
		step := session.Decide(p.Input)
		if step, err = p.Execute(ctx, step); err != nil {
			return r.failed(ctx, &s, step.Status, err)
		}
		if step.Action == session.StepListUserSessions {
			continue
		}
		if res, err := r.finish(ctx, &s, step); err != nil || !step.Continue || res.RequeueAfter > 0 {
			return res, err
		}
	}
	return ctrl.Result{}, fmt.Errorf("session %s: no decision after 4 steps", req.NamespacedName)
}

// finish records the step's status (the one status write, only when it
// changed, with the resourceVersion that was read), emits its Event and
// schedules its deadline.
func (r *StreamingSessionReconciler) finish(ctx context.Context, s *accessv1alpha1.StreamingSession, step session.Step) (ctrl.Result, error) {
	if !equality.Semantic.DeepEqual(s.Status, step.Status) {
		s.Status = step.Status
		if err := r.Status().Update(ctx, s); apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: session.MinRequeue}, nil // read before a change: look again
		} else if err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	if e := step.Event; e != nil {
		r.Recorder.Eventf(s, nil, e.Type, e.Reason, e.Action, "%s", e.Note)
	}
	if key := client.ObjectKeyFromObject(s); step.At.IsZero() {
		r.wake.Forget(key)
	} else {
		r.wake.AddAt(key, step.At)
	}
	return ctrl.Result{}, nil
}

// failed is the one place where an error becomes a condition and a requeue
// (session.OnError decides both).
func (r *StreamingSessionReconciler) failed(ctx context.Context, s *accessv1alpha1.StreamingSession, st accessv1alpha1.StreamingSessionStatus, err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) { // the object changed since it was read
		return ctrl.Result{RequeueAfter: session.MinRequeue}, nil
	}
	step, v := session.OnError(s, st, err, r.Clock.Now())
	if res, werr := r.finish(ctx, s, step); werr != nil || res.RequeueAfter > 0 || step.Action == session.StepFail {
		return res, werr
	}
	return v.Result(err, session.RetryInterval) // the same requeue rule as every kind
}
