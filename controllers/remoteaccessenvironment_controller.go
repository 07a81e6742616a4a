package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/environment"
	"github.com/gatestream/gatestream/internal/finalizers"
	"github.com/gatestream/gatestream/internal/poll"
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
	// TransitionWait is how soon an object that is changing state is looked at again.
	TransitionWait          time.Duration
	MaxConcurrentReconciles int
}

// The two chains run independently: the AppStream side does not wait for SORACOM.
func soracomChain() []environment.Unit {
	return []environment.Unit{environment.Gateway{}, &environment.Gate{}, environment.Peering{}, &environment.Routes{}, environment.Network{}}
}

func appStreamChain() []environment.Unit {
	return []environment.Unit{&environment.Stack{}, &environment.Fleet{}, environment.Association{}}
}

// deletionOrder is the reverse dependency order.
func deletionOrder() []environment.Unit {
	return []environment.Unit{environment.Sessions{}, environment.Association{}, &environment.Fleet{}, &environment.Stack{},
		&environment.Routes{}, environment.Peering{}, &environment.Gate{}, environment.Gateway{}}
}

// Reconcile runs one pass.
func (r *RemoteAccessEnvironmentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	var env accessv1alpha1.RemoteAccessEnvironment
	if err := r.Get(ctx, req.NamespacedName, &env); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !env.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, &env)
	}
	// The finalizer goes on before anything is created outside the cluster.
	if _, err := finalizers.Add(ctx, r.Client, &env, accessv1alpha1.Finalizer); err != nil {
		return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
	}
	orig := env.Status.DeepCopy()

	pass, err := r.newPass(ctx, &env)
	if err != nil {
		return r.finish(ctx, &env, orig, r.credentialsOutcome(&env, err))
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
	a := environment.Converge(ctx, pass, soracomChain()...)
	b := environment.Converge(ctx, pass, appStreamChain()...)
	out := environment.Outcome{Ready: a.Ready && b.Ready, Err: errors.Join(a.Err, b.Err), Wait: minWait(a.Wait, b.Wait)}
	if out.Err != nil {
		logger.Info("pass failed", "error", out.Err.Error())
	}
	return r.finish(ctx, &env, orig, out)
}

func minWait(a, b time.Duration) time.Duration {
	switch {
	case a == 0:
		return b
	case b == 0 || a < b:
		return a
	}
	return b
}

func (r *RemoteAccessEnvironmentReconciler) newPass(ctx context.Context, env *accessv1alpha1.RemoteAccessEnvironment) (*environment.Pass, error) {
	sc, err := r.Clients.Soracom(ctx, env.Namespace, env.Spec.Soracom)
	if err != nil {
		return nil, err
	}
	ac, err := r.Clients.AWS(ctx, env.Namespace, env.Spec.AWS)
	if err != nil {
		return nil, err
	}
	return &environment.Pass{
		Env:     env,
		Soracom: sc,
		AWS:     ac,
		Now:     r.Clock.Now(),
		Log:     log.FromContext(ctx),
		Event: func(eventType, reason, action, note string) {
			r.Recorder.Eventf(env, nil, eventType, reason, action, "%s", note)
		},
		PersistStatus: func(ctx context.Context) error {
			env.Status.ObservedGeneration = env.Generation
			return r.Status().Update(ctx, env)
		},
		TransitionWait: r.TransitionWait,
		PollInterval:   r.PollInterval,
	}, nil
}

// credentialsOutcome reports a missing Secret as a condition, not a hot loop.
func (r *RemoteAccessEnvironmentReconciler) credentialsOutcome(env *accessv1alpha1.RemoteAccessEnvironment, err error) environment.Outcome {
	if clients.IsCredentialsError(err) {
		err = environment.Terminal(accessv1alpha1.ReasonCredentialsUnavailable, err)
	}
	return environment.Outcome{Err: err}
}

// finish sets Ready and Synced, writes status once if it changed, and picks the requeue.
func (r *RemoteAccessEnvironmentReconciler) finish(ctx context.Context, env *accessv1alpha1.RemoteAccessEnvironment,
	orig *accessv1alpha1.RemoteAccessEnvironmentStatus, out environment.Outcome) (ctrl.Result, error) {
	gen := env.Generation
	conds := &env.Status.Conditions
	if out.Err != nil {
		conditions.False(conds, gen, accessv1alpha1.ConditionSynced, environment.Reason(out.Err), environment.Message(out.Err))
	} else {
		conditions.True(conds, gen, accessv1alpha1.ConditionSynced, accessv1alpha1.ReasonReconcileSuccess, "")
	}
	switch {
	case !env.DeletionTimestamp.IsZero():
		// Deleting: the caller's Ready=False/Deleting message says what blocks it.
	case out.Ready:
		conditions.True(conds, gen, accessv1alpha1.ConditionReady, accessv1alpha1.ReasonAvailable, "gateway, peering, routes, network, fleet and stack are ready")
	default:
		conditions.False(conds, gen, accessv1alpha1.ConditionReady, accessv1alpha1.ReasonNotReady, notReadyMessage(env, out.Err))
	}
	env.Status.ObservedGeneration = gen
	if !equality.Semantic.DeepEqual(orig, &env.Status) {
		if err := r.Status().Update(ctx, env); err != nil {
			if apierrors.IsConflict(err) {
				return ctrl.Result{RequeueAfter: time.Second}, nil
			}
			return ctrl.Result{}, fmt.Errorf("writing status: %w", err)
		}
	}
	switch {
	case out.Err != nil && allTerminal(out.Err):
		// Needs a spec (or Secret, or account) change: look again at the poll
		// interval, or at once when the spec changes; sooner if the other
		// chain has an object changing state.
		wait := poll.Next(env.Annotations, r.PollInterval)
		if out.Wait > 0 && out.Wait < wait {
			wait = out.Wait
		}
		return ctrl.Result{RequeueAfter: wait}, nil
	case out.Err != nil:
		return ctrl.Result{}, out.Err // controller-runtime backs off
	case !out.Ready:
		return ctrl.Result{RequeueAfter: out.Wait}, nil
	default:
		return ctrl.Result{RequeueAfter: poll.Next(env.Annotations, r.PollInterval)}, nil
	}
}

// allTerminal reports whether every error joined in err is terminal: one
// retryable error (in either chain) means backoff, not the poll interval.
func allTerminal(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !allTerminal(e) {
				return false
			}
		}
		return true
	}
	return environment.IsTerminal(err)
}

// notReadyMessage names the first unit that is not ready, with its message.
func notReadyMessage(env *accessv1alpha1.RemoteAccessEnvironment, err error) string {
	for _, t := range []string{accessv1alpha1.ConditionGatewayReady, accessv1alpha1.ConditionGateReady, accessv1alpha1.ConditionPeeringReady,
		accessv1alpha1.ConditionRoutesReady, accessv1alpha1.ConditionNetworkReady, accessv1alpha1.ConditionStackReady,
		accessv1alpha1.ConditionFleetReady, accessv1alpha1.ConditionAssociationReady} {
		if c := conditions.Get(env.Status.Conditions, t); c != nil && c.Status != "True" && c.Reason != accessv1alpha1.ReasonWaitingForDependency {
			return fmt.Sprintf("%s: %s", t, strings.TrimSpace(c.Reason+" "+c.Message))
		}
	}
	if err != nil {
		return environment.Message(err)
	}
	return "converging"
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
	orig := env.Status.DeepCopy()
	// DeviceGroups bound to this gateway go first: they unbind their SORACOM
	// group and take their SIMs out, which needs this environment's settings.
	if users, err := r.deviceGroupsUsing(ctx, env); err != nil {
		return ctrl.Result{}, err
	} else if len(users) > 0 {
		conditions.False(&env.Status.Conditions, env.Generation, accessv1alpha1.ConditionReady, accessv1alpha1.ReasonDeleting,
			fmt.Sprintf("waiting for the DeviceGroups that use this environment to be deleted first: %s", strings.Join(users, ", ")))
		if !equality.Semantic.DeepEqual(orig, &env.Status) {
			if err := r.Status().Update(ctx, env); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
				return ctrl.Result{}, err
			}
		}
		return ctrl.Result{RequeueAfter: r.TransitionWait}, nil
	}
	pass, err := r.newPass(ctx, env)
	if err != nil {
		// Without credentials nothing can be deleted; say so (switching to Orphan releases it).
		conditions.False(&env.Status.Conditions, env.Generation, accessv1alpha1.ConditionReady, accessv1alpha1.ReasonDeleting,
			"cannot delete the external objects: "+environment.Message(err)+"; restore the credentials or set spec.deletionPolicy: Orphan")
		return r.finish(ctx, env, orig, r.credentialsOutcome(env, err))
	}
	gone, err := environment.Remove(ctx, pass, deletionOrder()...)
	if gone {
		r.Recorder.Eventf(env, nil, corev1.EventTypeNormal, "Deleted", "Delete", "all external objects deleted")
		return ctrl.Result{}, r.removeFinalizer(ctx, env)
	}
	conditions.False(&env.Status.Conditions, env.Generation, accessv1alpha1.ConditionReady, accessv1alpha1.ReasonDeleting, "deleting external objects")
	if !equality.Semantic.DeepEqual(orig, &env.Status) {
		if uerr := r.Status().Update(ctx, env); uerr != nil && !apierrors.IsConflict(uerr) && !apierrors.IsNotFound(uerr) {
			return ctrl.Result{}, uerr
		}
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: r.TransitionWait}, nil
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
		WithOptions(controller.Options{MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles)}).
		Named("remoteaccessenvironment").
		Complete(r)
}
