package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/finalizers"
	"github.com/gatestream/gatestream/internal/session"
)

// Field indexes on StreamingSessions, so that a change of an environment or a
// DeviceGroup wakes the sessions waiting for it.
const (
	IndexSessionEnvironment = ".spec.environmentRef.name"
	IndexSessionDeviceGroup = ".spec.target.deviceGroup"
)

// StreamingSessionRecorderName is the reporting controller of the session Events.
const StreamingSessionRecorderName = "gatestream-streamingsession"

// StreamingSessionReconciler mints one expiring AppStream streaming URL per
// StreamingSession into a Secret the session owns, and enforces the access
// window: see docs/streamingsession.md for the lifecycle and the rule that
// keeps a single valid URL per session.
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
	// Clock gives every deadline (default: the real clock). A clock that can
	// also run functions later (a fake clock in tests) additionally wakes the
	// controller when it reaches a deadline, so that stepping it moves sessions on.
	Clock clock.PassiveClock
	// MaxConcurrentReconciles (default 4).
	MaxConcurrentReconciles int
	// SkipNameValidation allows several managers with this controller in one process (tests).
	SkipNameValidation bool

	wake     chan event.GenericEvent
	timersMu sync.Mutex
	timers   map[types.NamespacedName]clock.Timer
}

// SetupWithManager registers the reconciler, its field indexes and its watches.
func (r *StreamingSessionReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clients == nil {
		return errors.New("StreamingSessionReconciler: Clients is required")
	}
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder(StreamingSessionRecorderName)
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	workers := r.MaxConcurrentReconciles
	if workers <= 0 {
		workers = 4
	}
	ctx := context.Background()
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &accessv1alpha1.StreamingSession{}, IndexSessionEnvironment, func(o client.Object) []string {
		return []string{o.(*accessv1alpha1.StreamingSession).Spec.EnvironmentRef.Name}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &accessv1alpha1.StreamingSession{}, IndexSessionDeviceGroup, func(o client.Object) []string {
		if t := o.(*accessv1alpha1.StreamingSession).Spec.Target; t != nil {
			return []string{t.DeviceGroup}
		}
		return nil
	}); err != nil {
		return err
	}
	r.wake = make(chan event.GenericEvent, 1024)
	r.timers = map[types.NamespacedName]clock.Timer{}
	opts := controller.Options{MaxConcurrentReconciles: workers}
	if r.SkipNameValidation { // unset: the manager's setting applies
		opts.SkipNameValidation = ptr.To(true)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.StreamingSession{}).
		Owns(&corev1.Secret{}).
		Watches(&accessv1alpha1.RemoteAccessEnvironment{}, handler.EnqueueRequestsFromMapFunc(r.waitingSessions(IndexSessionEnvironment))).
		Watches(&accessv1alpha1.DeviceGroup{}, handler.EnqueueRequestsFromMapFunc(r.waitingSessions(IndexSessionDeviceGroup))).
		WatchesRawSource(source.Channel(r.wake, &handler.EnqueueRequestForObject{})).
		WithOptions(opts).
		Named("streamingsession").
		Complete(r)
}

// waitingSessions maps an environment or DeviceGroup to the sessions of its
// namespace that reference it and have no URL yet (only those resolve it).
func (r *StreamingSessionReconciler) waitingSessions(field string) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		var list accessv1alpha1.StreamingSessionList
		if err := r.List(ctx, &list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{field: obj.GetName()}); err != nil {
			logf.FromContext(ctx).Error(err, "listing sessions", "field", field, "value", obj.GetName())
			return nil
		}
		var reqs []reconcile.Request
		for i := range list.Items {
			s := &list.Items[i]
			if s.Status.URLExpiresAt == nil && !session.Finished(s.Status.Phase) {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(s)})
			}
		}
		return reqs
	}
}

// Reconcile drives one session through its lifecycle.
func (r *StreamingSessionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var s accessv1alpha1.StreamingSession
	if err := r.Get(ctx, req.NamespacedName, &s); err != nil {
		if apierrors.IsNotFound(err) {
			r.disarm(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	p := &ssPass{r: r, s: &s, now: r.Clock.Now(), saved: *s.Status.DeepCopy()}
	if !s.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, p)
	}
	if session.Finished(s.Status.Phase) {
		return r.reconcileFinished(ctx, p)
	}
	if added, err := finalizers.Add(ctx, r.Client, &s, accessv1alpha1.StreamingSessionFinalizer); err != nil {
		return ssWriteFailed(err)
	} else if added {
		p.saved = *s.Status.DeepCopy()
	}
	if s.Status.URLExpiresAt == nil {
		return r.reconcileMint(ctx, p)
	}
	return r.reconcileIssued(ctx, p)
}

// ssPass is one reconcile pass of one session: the object, the time it runs at, and
// the status last written (so that status is written only when it changed).
type ssPass struct {
	r     *StreamingSessionReconciler
	s     *accessv1alpha1.StreamingSession
	now   time.Time
	saved accessv1alpha1.StreamingSessionStatus
}

// set records the phase and the Ready condition; a finished phase gets finishedAt.
func (p *ssPass) set(phase accessv1alpha1.SessionPhase, ready bool, reason, format string, args ...any) {
	st := &p.s.Status
	st.Phase = phase
	status := metav1.ConditionFalse
	if ready {
		status = metav1.ConditionTrue
	}
	conditions.Set(&st.Conditions, p.s.Generation, accessv1alpha1.ConditionReady, status, reason, fmt.Sprintf(format, args...))
	if session.Finished(phase) && st.FinishedAt == nil {
		st.FinishedAt = &metav1.Time{Time: session.FloorSecond(p.now)}
	}
}

// save writes status if it changed (optimistic concurrency: the write fails
// with a conflict if the object changed since it was read) and emits an Event
// when the Ready reason changed.
func (p *ssPass) save(ctx context.Context) error {
	p.s.Status.ObservedGeneration = p.s.Generation
	if equality.Semantic.DeepEqual(p.saved, p.s.Status) {
		return nil
	}
	if err := p.r.Status().Update(ctx, p.s); err != nil {
		return err
	}
	old := conditions.Get(p.saved.Conditions, accessv1alpha1.ConditionReady)
	cur := conditions.Get(p.s.Status.Conditions, accessv1alpha1.ConditionReady)
	if cur != nil && (old == nil || old.Reason != cur.Reason) && cur.Reason != accessv1alpha1.SessionReasonMinting {
		p.r.event(p.s, ssEventType(p.s.Status.Phase, cur.Reason), cur.Reason, string(p.s.Status.Phase), cur.Message)
	}
	p.saved = *p.s.Status.DeepCopy()
	return nil
}

func ssEventType(phase accessv1alpha1.SessionPhase, reason string) string {
	switch {
	case phase == accessv1alpha1.SessionFailed,
		reason == accessv1alpha1.SessionReasonMintLost,
		reason == accessv1alpha1.SessionReasonSecretConflict,
		reason == accessv1alpha1.SessionReasonAPIError,
		reason == accessv1alpha1.SessionReasonCredentialsUnavailable:
		return corev1.EventTypeWarning
	}
	return corev1.EventTypeNormal
}

func (r *StreamingSessionReconciler) event(s *accessv1alpha1.StreamingSession, typ, reason, action, note string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(s, nil, typ, reason, action, "%s", note)
	}
}

// ssWriteFailed turns a failed write into a result: a conflict means the object
// changed since it was read (the change brings another reconcile), so it is
// retried shortly without logging an error.
func ssWriteFailed(err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) {
		return ctrl.Result{RequeueAfter: session.MinRequeue}, nil
	}
	return ctrl.Result{}, client.IgnoreNotFound(err)
}

// saveAndWait saves status and schedules the next pass at deadline.
func (r *StreamingSessionReconciler) saveAndWait(ctx context.Context, p *ssPass, deadline time.Time) (ctrl.Result, error) {
	if err := p.save(ctx); err != nil {
		return ssWriteFailed(err)
	}
	return r.at(p, deadline), nil
}

// ssSaveAndRequeue saves status and looks again after d (a poll for something
// that is not a deadline: a dependency, a fix of credentials).
func ssSaveAndRequeue(ctx context.Context, p *ssPass, d time.Duration) (ctrl.Result, error) {
	if err := p.save(ctx); err != nil {
		return ssWriteFailed(err)
	}
	return ctrl.Result{RequeueAfter: d}, nil
}

// ---- minting ----

func (r *StreamingSessionReconciler) reconcileMint(ctx context.Context, p *ssPass) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	s, st := p.s, &p.s.Status
	if st.MintRequestedAt != nil {
		// A mint was requested by an earlier pass that did not record its result.
		sec, _, err := r.secret(ctx, s)
		if err != nil {
			return ctrl.Result{}, err
		}
		if session.URL(sec) == "" && r.APIReader != nil {
			// The cache may lag behind the write that stored the URL: ask the
			// API server before declaring the URL lost.
			var fresh corev1.Secret
			key := types.NamespacedName{Namespace: s.Namespace, Name: session.SecretName(s)}
			if err := r.APIReader.Get(ctx, key, &fresh); err == nil && session.ControlledBy(&fresh, s) {
				sec = &fresh
			} else if err != nil && !apierrors.IsNotFound(err) {
				return ctrl.Result{}, err
			}
		}
		if exp, ok := session.ExpiresAt(sec); ok && session.URL(sec) != "" {
			// The Secret was written but the status was not: adopt it.
			log.V(1).Info("adopting the streaming URL found in the Secret", "expiresAt", exp)
			p.issued(exp)
			p.set(accessv1alpha1.SessionReady, true, accessv1alpha1.SessionReasonURLIssued, "%s", ssReadyMessage(s))
			return r.saveAndWait(ctx, p, p.nextIssuedDeadline())
		}
		// Lost: the response never arrived, or the manager stopped in between.
		if st.AccessEndsAt == nil {
			st.AccessEndsAt = &metav1.Time{Time: session.CeilSecond(session.AccessEndsAt(s, p.now))}
		}
		until := session.LostMintUnusableAt(s, p.now)
		if p.now.Before(until) {
			p.set(accessv1alpha1.SessionPending, false, accessv1alpha1.SessionReasonMintLost,
				"the streaming URL requested at %s never reached the Secret (its response was lost, or the manager stopped while minting); "+
					"it may exist at AWS, so a new one is minted only after it has expired for sure, at %s (one valid URL per session)",
				ssTime(st.MintRequestedAt.Time), ssTime(until))
			return r.saveAndWait(ctx, p, until)
		}
		log.Info("the lost streaming URL has expired for sure; minting a new one", "lostRequestedAt", st.MintRequestedAt.Time)
		st.MintRequestedAt = nil
	}

	env, err := r.environment(ctx, s)
	if err != nil {
		return ctrl.Result{}, err
	}
	res := session.ResolveEnvironment(s, env)
	var target *accessv1alpha1.ResolvedTarget
	if res.Outcome == session.Resolved {
		var dg *accessv1alpha1.DeviceGroup
		if s.Spec.Target != nil {
			if dg, err = r.deviceGroup(ctx, s); err != nil {
				return ctrl.Result{}, err
			}
		}
		var tres session.Resolution
		target, tres = session.ResolveTarget(s, dg)
		if tres.Outcome != session.Resolved {
			tres.Fleet, tres.Stack = res.Fleet, res.Stack
			res = tres
		}
	}
	switch res.Outcome {
	case session.Wait:
		p.set(accessv1alpha1.SessionPending, false, res.Reason, "%s", res.Message)
		return ssSaveAndRequeue(ctx, p, session.WaitInterval)
	case session.Fail:
		return r.fail(ctx, p, res.Reason, res.Message)
	}

	accessEnds := session.AccessEndsAt(s, p.now)
	validity := session.MintValidity(&s.Spec, accessEnds, p.now)
	if validity < session.MinValidity {
		return r.fail(ctx, p, accessv1alpha1.SessionReasonMintLost,
			fmt.Sprintf("the streaming URL was lost and the access window ended at %s before it could be replaced; create a new session", ssTime(accessEnds)))
	}
	cl, err := r.Clients.AWS(ctx, s.Namespace, env.Spec.AWS)
	if err != nil {
		return r.clientsFailed(ctx, p, err)
	}
	targetStr := session.TargetString(target)
	if conflict, err := r.ensurePlaceholder(ctx, s, targetStr); err != nil {
		return ctrl.Result{}, err
	} else if conflict {
		p.set(accessv1alpha1.SessionPending, false, accessv1alpha1.SessionReasonSecretConflict,
			"a Secret named %q already exists and is not controlled by this session; gatestream never writes into it: delete or rename it, or create the session under another name",
			session.SecretName(s))
		return ssSaveAndRequeue(ctx, p, session.WaitInterval)
	}

	// Record the intent before calling: a pass that finds it without a URL
	// in the Secret knows a URL may exist.
	st.MintRequestedAt = &metav1.Time{Time: session.FloorSecond(p.now)}
	st.SecretName = session.SecretName(s)
	st.Target = target
	p.set(accessv1alpha1.SessionPending, false, accessv1alpha1.SessionReasonMinting, "issuing a streaming URL")
	started := time.Now()
	if err := p.save(ctx); err != nil {
		return ssWriteFailed(err)
	}

	req := session.MintRequest{
		Stack: res.Stack, Fleet: res.Fleet, UserID: s.Spec.UserID, Application: s.Spec.Application,
		SessionContext: session.SessionContext(target), Validity: validity,
	}
	log.V(1).Info("minting a streaming URL", "user", req.UserID, "application", req.Application, "stack", req.Stack,
		"fleet", req.Fleet, "target", targetStr, "validity", validity.String())
	mctx, cancel := context.WithDeadline(ctx, started.Add(session.MintCallTimeout))
	minted, err := session.Mint(mctx, cl.AppStream, req)
	cancel()
	if err != nil {
		return r.mintFailed(ctx, p, err)
	}

	if err := r.applySecret(ctx, s, minted.URL, session.CeilSecond(minted.Expires), targetStr); err != nil {
		// The URL existed only in memory: record what is known of it and
		// treat it as lost (it is replaced only once it has expired).
		log.Error(err, "writing the Secret failed; the streaming URL is lost")
		p.issued(minted.Expires)
		p.set(accessv1alpha1.SessionPending, false, accessv1alpha1.SessionReasonMintLost,
			"the streaming URL could not be written to Secret %q (%v); a new one is minted after it has expired for sure, at %s",
			session.SecretName(s), err, ssTime(session.URLSettledAt(s)))
		return r.saveAndWait(ctx, p, session.URLSettledAt(s))
	}
	p.issued(minted.Expires)
	log.V(1).Info("streaming URL issued", "secret", session.SecretName(s), "expiresAt", st.URLExpiresAt.Time, "accessEndsAt", st.AccessEndsAt.Time)
	msg := ssReadyMessage(s)
	if stripped := session.StrippedMetadata(s); len(stripped) > 0 {
		msg += fmt.Sprintf("; not copied from secretTemplate (Argo CD tracking): %v", stripped)
	}
	p.set(accessv1alpha1.SessionReady, true, accessv1alpha1.SessionReasonURLIssued, "%s", msg)
	// If this write fails, the next pass adopts the URL from the Secret.
	return r.saveAndWait(ctx, p, p.nextIssuedDeadline())
}

// issued records a URL's expiry and the access window (which never ends
// before the URL does).
func (p *ssPass) issued(expires time.Time) {
	st := &p.s.Status
	exp := session.CeilSecond(expires)
	st.URLExpiresAt = &metav1.Time{Time: exp}
	ends := session.AccessEndsAt(p.s, p.now)
	if exp.After(ends) {
		ends = exp
	}
	st.AccessEndsAt = &metav1.Time{Time: session.CeilSecond(ends)}
	if st.SecretName == "" {
		st.SecretName = session.SecretName(p.s)
	}
}

// nextIssuedDeadline is the next deadline of a session with a recorded URL.
func (p *ssPass) nextIssuedDeadline() time.Time {
	st := &p.s.Status
	if st.Phase == accessv1alpha1.SessionActive {
		return st.AccessEndsAt.Time
	}
	return session.Earliest(session.URLSettledAt(p.s), st.AccessEndsAt.Time)
}

func ssReadyMessage(s *accessv1alpha1.StreamingSession) string {
	return fmt.Sprintf("the streaming URL for user %s is in Secret %s (key %s) and can be opened once until %s; access ends at %s",
		s.Spec.UserID, s.Status.SecretName, accessv1alpha1.SecretKeyURL, ssTime(s.Status.URLExpiresAt.Time), ssTime(s.Status.AccessEndsAt.Time))
}

// mintFailed handles a failed CreateStreamingURL.
func (r *StreamingSessionReconciler) mintFailed(ctx context.Context, p *ssPass, err error) (ctrl.Result, error) {
	s, st := p.s, &p.s.Status
	if session.NothingMinted(err) {
		st.MintRequestedAt = nil
		if session.MintErrorIsFinal(err) {
			return r.fail(ctx, p, accessv1alpha1.SessionReasonAPIError, fmt.Sprintf("AppStream refused the streaming URL request: %v", err))
		}
		p.set(accessv1alpha1.SessionPending, false, accessv1alpha1.SessionReasonAPIError,
			"CreateStreamingURL failed (nothing was minted), trying again: %v", err)
		if serr := p.save(ctx); serr != nil {
			return ssWriteFailed(serr)
		}
		if aws.IsRetryable(err) {
			return ctrl.Result{}, err // the controller's backoff
		}
		return ctrl.Result{RequeueAfter: session.RetryInterval}, nil
	}
	// No answer: a URL may have been minted whose response was lost.
	logf.FromContext(ctx).Info("CreateStreamingURL got no answer; treating the URL as lost", "error", err.Error())
	if st.AccessEndsAt == nil {
		st.AccessEndsAt = &metav1.Time{Time: session.CeilSecond(session.AccessEndsAt(s, p.now))}
	}
	until := session.LostMintUnusableAt(s, p.now)
	p.set(accessv1alpha1.SessionPending, false, accessv1alpha1.SessionReasonMintLost,
		"CreateStreamingURL got no answer (%v): a URL may have been minted that nobody received; "+
			"a new one is minted only after it has expired for sure, at %s (one valid URL per session)", err, ssTime(until))
	return r.saveAndWait(ctx, p, until)
}

// fail finishes the session as Failed (and removes a Secret without URL).
func (r *StreamingSessionReconciler) fail(ctx context.Context, p *ssPass, reason, msg string) (ctrl.Result, error) {
	p.set(accessv1alpha1.SessionFailed, false, reason, "%s", msg)
	if err := p.save(ctx); err != nil {
		return ssWriteFailed(err)
	}
	if sec, _, err := r.secret(ctx, p.s); err == nil && sec != nil && session.URL(sec) == "" {
		if err := r.Delete(ctx, sec, client.Preconditions{UID: &sec.UID}); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
	}
	return r.reconcileFinished(ctx, p)
}

// clientsFailed reports that AWS clients could not be built (credentials) and waits.
func (r *StreamingSessionReconciler) clientsFailed(ctx context.Context, p *ssPass, err error) (ctrl.Result, error) {
	reason := accessv1alpha1.SessionReasonAPIError
	if clients.IsCredentialsError(err) {
		reason = accessv1alpha1.SessionReasonCredentialsUnavailable
	}
	phase := p.s.Status.Phase
	if phase == "" {
		phase = accessv1alpha1.SessionPending
	}
	p.set(phase, false, reason, "cannot reach AppStream: %v", err)
	return ssSaveAndRequeue(ctx, p, session.RetryInterval)
}

// ---- after minting ----

func (r *StreamingSessionReconciler) reconcileIssued(ctx context.Context, p *ssPass) (ctrl.Result, error) {
	s, st := p.s, &p.s.Status
	if st.AccessEndsAt == nil {
		p.issued(st.URLExpiresAt.Time)
	}
	if !p.now.Before(st.AccessEndsAt.Time) {
		return r.endAccess(ctx, p)
	}
	if st.Phase == accessv1alpha1.SessionActive {
		return r.saveAndWait(ctx, p, st.AccessEndsAt.Time)
	}

	sec, _, err := r.secret(ctx, s)
	if err != nil {
		return ctrl.Result{}, err
	}
	url := session.URL(sec)
	target := session.TargetString(st.Target)
	if p.now.Before(st.URLExpiresAt.Time) {
		if url == "" {
			p.set(accessv1alpha1.SessionPending, false, accessv1alpha1.SessionReasonMintLost,
				"Secret %q no longer holds the streaming URL (deleted or edited); gatestream keeps it nowhere else, and mints no second URL "+
					"while the first may still work: a new one is minted after %s unless the user started a session with it",
				session.SecretName(s), ssTime(session.URLSettledAt(s)))
			return r.saveAndWait(ctx, p, p.nextIssuedDeadline())
		}
		if !session.InSync(sec, s, st.URLExpiresAt.Time, target) {
			logf.FromContext(ctx).Info("repairing the Secret", "secret", sec.Name)
			if err := r.applySecret(ctx, s, url, st.URLExpiresAt.Time, target); err != nil {
				return ctrl.Result{}, err
			}
		}
		p.set(accessv1alpha1.SessionReady, true, accessv1alpha1.SessionReasonURLIssued, "%s", ssReadyMessage(s))
		return r.saveAndWait(ctx, p, p.nextIssuedDeadline())
	}
	if settled := session.URLSettledAt(s); p.now.Before(settled) {
		// Expired by our clock; wait out the skew before deciding.
		return r.saveAndWait(ctx, p, settled)
	}

	_, sessions, res, err := r.userSessions(ctx, p)
	if err != nil || res != nil {
		return *res, err
	}
	switch {
	case len(sessions) > 0:
		p.set(accessv1alpha1.SessionActive, false, accessv1alpha1.SessionReasonSessionActive,
			"the URL has expired; user %s started an AppStream session, which is ended when the access window ends at %s",
			s.Spec.UserID, ssTime(st.AccessEndsAt.Time))
		return r.saveAndWait(ctx, p, st.AccessEndsAt.Time)
	case url == "":
		// The recorded URL was lost, never used, and is now unusable: mint again.
		logf.FromContext(ctx).Info("the lost streaming URL has expired unused; minting a new one")
		st.URLExpiresAt, st.MintRequestedAt = nil, nil
		return r.reconcileMint(ctx, p)
	default:
		p.set(accessv1alpha1.SessionExpired, false, accessv1alpha1.SessionReasonURLExpired,
			"the URL expired at %s without being used", ssTime(st.URLExpiresAt.Time))
		if err := p.save(ctx); err != nil {
			return ssWriteFailed(err)
		}
		return r.reconcileFinished(ctx, p)
	}
}

// appStream returns the AppStream API and the fleet and stack of the
// session's environment. api is nil when there is nothing to ask (the
// environment is gone, or has no fleet and stack). A non-nil result means:
// return it (with the error).
func (r *StreamingSessionReconciler) appStream(ctx context.Context, p *ssPass) (api aws.AppStreamAPI, fleet, stack string, res *ctrl.Result, err error) {
	env, err := r.environment(ctx, p.s)
	if err != nil {
		return nil, "", "", &ctrl.Result{}, err
	}
	fleet, stack = session.FleetAndStack(env)
	if fleet == "" || stack == "" {
		return nil, "", "", nil, nil
	}
	c, err := r.Clients.AWS(ctx, p.s.Namespace, env.Spec.AWS)
	if err != nil {
		out, err := r.clientsFailed(ctx, p, err)
		return nil, "", "", &out, err
	}
	return c.AppStream, fleet, stack, nil, nil
}

// userSessions lists the IDs of the user's live AppStream sessions on the
// environment's stack and fleet (none without environment, fleet or stack).
func (r *StreamingSessionReconciler) userSessions(ctx context.Context, p *ssPass) (aws.AppStreamAPI, []string, *ctrl.Result, error) {
	api, fleet, stack, res, err := r.appStream(ctx, p)
	if err != nil || res != nil || api == nil {
		return nil, nil, res, err
	}
	list, err := api.DescribeUserSessions(ctx, stack, fleet, p.s.Spec.UserID)
	if err != nil {
		if aws.IsNotFound(err) {
			return nil, nil, nil, nil
		}
		return nil, nil, &ctrl.Result{}, fmt.Errorf("DescribeSessions for user %s on stack %s: %w", p.s.Spec.UserID, stack, err)
	}
	ids := make([]string, 0, len(list))
	for _, x := range list {
		if x.Id != nil {
			ids = append(ids, *x.Id)
		}
	}
	return api, ids, nil, nil
}

// expireUserSessions ends every live AppStream session of the user on the stack.
func (r *StreamingSessionReconciler) expireUserSessions(ctx context.Context, p *ssPass) (int, *ctrl.Result, error) {
	api, ids, res, err := r.userSessions(ctx, p)
	if err != nil || res != nil {
		return 0, res, err
	}
	for _, id := range ids {
		if err := api.ExpireSession(ctx, id); err != nil && !aws.IsNotFound(err) {
			return 0, &ctrl.Result{}, fmt.Errorf("ExpireSession %s: %w", id, err)
		}
	}
	if len(ids) > 0 {
		logf.FromContext(ctx).Info("ended the user's AppStream sessions", "user", p.s.Spec.UserID, "sessions", len(ids))
	}
	return len(ids), nil, nil
}

// endAccess ends the user's sessions when the access window is over.
func (r *StreamingSessionReconciler) endAccess(ctx context.Context, p *ssPass) (ctrl.Result, error) {
	n, res, err := r.expireUserSessions(ctx, p)
	if err != nil || res != nil {
		return *res, err
	}
	p.set(accessv1alpha1.SessionEnded, false, accessv1alpha1.SessionReasonAccessEnded,
		"the access window ended at %s; %d AppStream session(s) of user %s were ended",
		ssTime(p.s.Status.AccessEndsAt.Time), n, p.s.Spec.UserID)
	if err := p.save(ctx); err != nil {
		return ssWriteFailed(err)
	}
	return r.reconcileFinished(ctx, p)
}

// reconcileFinished deletes a finished session when its ttlAfterFinished has passed.
func (r *StreamingSessionReconciler) reconcileFinished(ctx context.Context, p *ssPass) (ctrl.Result, error) {
	if p.s.Status.FinishedAt == nil {
		p.set(p.s.Status.Phase, false, ssCondReason(p.s), "%s", ssCondMessage(p.s))
		if err := p.save(ctx); err != nil {
			return ssWriteFailed(err)
		}
	}
	deadline, ok := session.TTLDeadline(p.s)
	if !ok {
		r.disarm(client.ObjectKeyFromObject(p.s))
		return ctrl.Result{}, nil
	}
	if p.now.Before(deadline) {
		return r.at(p, deadline), nil
	}
	logf.FromContext(ctx).V(1).Info("ttlAfterFinished passed; deleting the session")
	uid := p.s.UID
	if err := r.Delete(ctx, p.s, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, nil
}

func ssCondReason(s *accessv1alpha1.StreamingSession) string {
	if c := conditions.Get(s.Status.Conditions, accessv1alpha1.ConditionReady); c != nil {
		return c.Reason
	}
	return string(s.Status.Phase)
}

func ssCondMessage(s *accessv1alpha1.StreamingSession) string {
	if c := conditions.Get(s.Status.Conditions, accessv1alpha1.ConditionReady); c != nil {
		return c.Message
	}
	return ""
}

// ---- deletion ----

func (r *StreamingSessionReconciler) finalize(ctx context.Context, p *ssPass) (ctrl.Result, error) {
	s := p.s
	key := client.ObjectKeyFromObject(s)
	if !controllerutil.ContainsFinalizer(s, accessv1alpha1.StreamingSessionFinalizer) {
		r.disarm(key)
		return ctrl.Result{}, nil
	}
	if session.NeedsRevocation(s) {
		n, res, err := r.expireUserSessions(ctx, p)
		if err != nil || res != nil {
			if err == nil && res.RequeueAfter > 0 {
				r.event(s, corev1.EventTypeWarning, accessv1alpha1.SessionReasonCredentialsUnavailable, "Revoke",
					"cannot end the user's AppStream sessions yet: "+ssCondMessage(s))
			}
			return *res, err
		}
		// Revoked is transient: the object is about to go. Best effort.
		p.set(accessv1alpha1.SessionRevoked, false, accessv1alpha1.SessionReasonRevoked,
			"the session was deleted; %d AppStream session(s) of user %s were ended", n, s.Spec.UserID)
		p.s.Status.ObservedGeneration = s.Generation
		_ = r.Status().Update(ctx, s)
		r.event(s, corev1.EventTypeNormal, accessv1alpha1.SessionReasonRevoked, "Revoke", ssCondMessage(s))
	}
	// The Secret goes with the session (owner reference; deleted here too so
	// that it goes at once, and where no garbage collector runs).
	sec, _, err := r.secret(ctx, s)
	if err != nil {
		return ctrl.Result{}, err
	}
	if sec != nil {
		if err := r.Delete(ctx, sec, client.Preconditions{UID: &sec.UID}); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
	}
	if _, err := finalizers.Remove(ctx, r.Client, s, accessv1alpha1.StreamingSessionFinalizer); err != nil {
		return ssWriteFailed(err)
	}
	r.disarm(key)
	return ctrl.Result{}, nil
}

// ---- reads and writes ----

func (r *StreamingSessionReconciler) environment(ctx context.Context, s *accessv1alpha1.StreamingSession) (*accessv1alpha1.RemoteAccessEnvironment, error) {
	var env accessv1alpha1.RemoteAccessEnvironment
	if err := r.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: s.Spec.EnvironmentRef.Name}, &env); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return &env, nil
}

func (r *StreamingSessionReconciler) deviceGroup(ctx context.Context, s *accessv1alpha1.StreamingSession) (*accessv1alpha1.DeviceGroup, error) {
	var dg accessv1alpha1.DeviceGroup
	if err := r.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: s.Spec.Target.DeviceGroup}, &dg); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return &dg, nil
}

// secret returns the session's Secret if the session controls it; foreign is
// true when a Secret of that name exists that it does not control. The
// filtered cache is asked first; the API server when the cache has nothing
// (the label may have been edited away).
func (r *StreamingSessionReconciler) secret(ctx context.Context, s *accessv1alpha1.StreamingSession) (sec *corev1.Secret, foreign bool, err error) {
	key := types.NamespacedName{Namespace: s.Namespace, Name: session.SecretName(s)}
	var out corev1.Secret
	err = r.Get(ctx, key, &out)
	if apierrors.IsNotFound(err) && r.APIReader != nil {
		err = r.APIReader.Get(ctx, key, &out)
	}
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if !session.ControlledBy(&out, s) {
		return nil, true, nil
	}
	return &out, false, nil
}

// ensurePlaceholder makes sure the session's Secret exists and is the
// session's, creating it without URL. conflict is true when another Secret has the name.
func (r *StreamingSessionReconciler) ensurePlaceholder(ctx context.Context, s *accessv1alpha1.StreamingSession, target string) (conflict bool, err error) {
	var cached corev1.Secret
	switch err := r.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: session.SecretName(s)}, &cached); {
	case err == nil:
		return !session.ControlledBy(&cached, s), nil
	case !apierrors.IsNotFound(err):
		return false, err
	}
	// Not in the cache: create it (a plain create fails if any Secret has the name).
	err = r.Create(ctx, session.Placeholder(s, target), client.FieldOwner(session.FieldOwner))
	if apierrors.IsAlreadyExists(err) {
		sec, foreign, err := r.secret(ctx, s)
		if err == nil && sec == nil && !foreign {
			return false, fmt.Errorf("secret %s/%s exists but cannot be read", s.Namespace, session.SecretName(s))
		}
		return foreign, err
	}
	return false, err
}

// applySecret writes the Secret with the URL by server-side apply. Errors never contain the URL.
func (r *StreamingSessionReconciler) applySecret(ctx context.Context, s *accessv1alpha1.StreamingSession, url string, expiresAt time.Time, target string) error {
	ac := session.ApplyConfiguration(s, url, expiresAt, target)
	var err error
	for range 3 {
		if err = r.Apply(ctx, ac, client.FieldOwner(session.FieldOwner), client.ForceOwnership); err == nil || ctx.Err() != nil {
			break
		}
	}
	return session.RedactError(err, url)
}

// ---- scheduling ----

// at schedules the next pass at deadline (RequeueAfter from the clock). A
// clock that can run functions later and is not the real clock (a fake clock
// in tests) is also armed, so that stepping it past the deadline wakes the
// controller as real time would.
func (r *StreamingSessionReconciler) at(p *ssPass, deadline time.Time) ctrl.Result {
	d := session.Until(p.now, deadline)
	r.arm(client.ObjectKeyFromObject(p.s), d)
	return ctrl.Result{RequeueAfter: d}
}

func (r *StreamingSessionReconciler) arm(key types.NamespacedName, d time.Duration) {
	dc, ok := r.Clock.(clock.WithDelayedExecution)
	if !ok || r.wake == nil {
		return
	}
	if _, isReal := r.Clock.(clock.RealClock); isReal {
		return
	}
	r.timersMu.Lock()
	defer r.timersMu.Unlock()
	if t, ok := r.timers[key]; ok {
		t.Stop()
	}
	wake := r.wake
	obj := &accessv1alpha1.StreamingSession{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	// The callback may run while the clock holds its lock: never block in it
	// (when the buffer is full, RequeueAfter still comes).
	r.timers[key] = dc.AfterFunc(d, func() {
		select {
		case wake <- event.GenericEvent{Object: obj}:
		default:
		}
	})
}

func (r *StreamingSessionReconciler) disarm(key types.NamespacedName) {
	r.timersMu.Lock()
	defer r.timersMu.Unlock()
	if t, ok := r.timers[key]; ok {
		t.Stop()
		delete(r.timers, key)
	}
}

func ssTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
