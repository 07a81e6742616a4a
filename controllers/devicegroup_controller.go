package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
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
	"github.com/gatestream/gatestream/internal/devicegroup"
	"github.com/gatestream/gatestream/internal/finalizers"
	"github.com/gatestream/gatestream/internal/poll"
	"github.com/gatestream/gatestream/internal/soracom"
)

// Field indexes on DeviceGroup.
const (
	// DeviceGroupEnvironmentIndex indexes DeviceGroups by spec.environmentRef.name
	// (the environment watch enqueues the DeviceGroups that use it).
	DeviceGroupEnvironmentIndex = ".spec.environmentRef.name"
	// DeviceGroupGroupIDIndex indexes DeviceGroups by status.groupId (who owns a
	// SORACOM group, created or adopted).
	DeviceGroupGroupIDIndex = ".status.groupId"
)

// deviceGroupSettleDelay is how soon a pass that reset sessions looks again,
// to report the addresses the SIMs got when they reconnected through the VPG.
const deviceGroupSettleDelay = 10 * time.Second

// maxListedInMessage bounds the SIM ids named in one condition message.
const maxListedInMessage = 5

// DeviceGroupReconciler converges a DeviceGroup: a SORACOM SIM group bound to
// the environment's VPG, its SIM membership, the Gate SIM-based routes of the
// LANs behind routers, and the status of each named device.
//
// Register it with:
//
//	(&controllers.DeviceGroupReconciler{
//		Client:   mgr.GetClient(),
//		Clients:  factory, // clients.New(mgr.GetAPIReader(), …), shared with the other controllers
//		Recorder: mgr.GetEventRecorder("gatestream-devicegroup"),
//		PollInterval: opts.PollInterval, MaxConcurrentReconciles: opts.MaxConcurrent,
//	}).SetupWithManager(mgr)
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
	// SkipNameValidation lets tests start one manager per test (controller
	// names are unique per process otherwise).
	SkipNameValidation bool

	// routeLocks serializes read-modify-write of each VPG's shared route map.
	routeLocks devicegroup.KeyedMutex
}

// SetupWithManager registers the field indexes and the controller. Status
// writes do not trigger a pass (spec, annotation and deletion changes do, as
// do changes of the referenced environment; the poll interval re-observes).
func (r *DeviceGroupReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clients == nil {
		return errors.New("DeviceGroupReconciler needs Clients")
	}
	if err := IndexDeviceGroupFields(context.Background(), mgr); err != nil {
		return err
	}
	opts := controller.Options{MaxConcurrentReconciles: max(1, r.MaxConcurrentReconciles)}
	if r.SkipNameValidation {
		skip := true
		opts.SkipNameValidation = &skip
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.DeviceGroup{},
			builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&accessv1alpha1.RemoteAccessEnvironment{},
			handler.EnqueueRequestsFromMapFunc(r.deviceGroupsForEnvironment),
			builder.WithPredicates(environmentChanged())).
		WithOptions(opts).
		Named("devicegroup").
		Complete(r)
}

// IndexDeviceGroupFields registers the DeviceGroup field indexes. An index
// that another controller registered already (same field, same meaning) is fine.
func IndexDeviceGroupFields(ctx context.Context, mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	for field, fn := range map[string]client.IndexerFunc{
		DeviceGroupEnvironmentIndex: func(o client.Object) []string {
			dg, ok := o.(*accessv1alpha1.DeviceGroup)
			if !ok || dg.Spec.EnvironmentRef.Name == "" {
				return nil
			}
			return []string{dg.Spec.EnvironmentRef.Name}
		},
		DeviceGroupGroupIDIndex: func(o client.Object) []string {
			dg, ok := o.(*accessv1alpha1.DeviceGroup)
			if !ok || dg.Status.GroupID == "" {
				return nil
			}
			return []string{dg.Status.GroupID}
		},
	} {
		if err := idx.IndexField(ctx, &accessv1alpha1.DeviceGroup{}, field, fn); err != nil && !strings.Contains(err.Error(), "conflict") {
			return fmt.Errorf("indexing DeviceGroup %s: %w", field, err)
		}
	}
	return nil
}

// environmentChanged passes the environment events a DeviceGroup cares about:
// creation, deletion, and updates of its Ready condition, gateway id or
// SORACOM settings (not every fleet or peering status change).
func environmentChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*accessv1alpha1.RemoteAccessEnvironment)
			n, ok2 := e.ObjectNew.(*accessv1alpha1.RemoteAccessEnvironment)
			if !ok1 || !ok2 {
				return true
			}
			return conditions.IsTrue(o.Status.Conditions, accessv1alpha1.ConditionReady) != conditions.IsTrue(n.Status.Conditions, accessv1alpha1.ConditionReady) ||
				gatewayID(o) != gatewayID(n) ||
				!equality.Semantic.DeepEqual(o.Spec.Soracom, n.Spec.Soracom) ||
				!o.DeletionTimestamp.Equal(n.DeletionTimestamp)
		},
	}
}

func gatewayID(env *accessv1alpha1.RemoteAccessEnvironment) string {
	if env == nil || env.Status.Gateway == nil {
		return ""
	}
	return env.Status.Gateway.ID
}

// deviceGroupsForEnvironment lists, through the index, the DeviceGroups that reference env.
func (r *DeviceGroupReconciler) deviceGroupsForEnvironment(ctx context.Context, env client.Object) []reconcile.Request {
	var list accessv1alpha1.DeviceGroupList
	if err := r.List(ctx, &list, client.InNamespace(env.GetNamespace()), client.MatchingFields{DeviceGroupEnvironmentIndex: env.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "listing DeviceGroups of an environment", "environment", env.GetName())
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for _, dg := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: dg.Namespace, Name: dg.Name}})
	}
	return out
}

// Reconcile runs one pass: environment → group → binding → membership →
// routes → devices, then writes status once if it changed.
func (r *DeviceGroupReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var dg accessv1alpha1.DeviceGroup
	if err := r.Get(ctx, req.NamespacedName, &dg); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	p := newPass(&dg)
	if !dg.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, p)
	}
	// Metadata only, before anything is created outside.
	if _, err := finalizers.Add(ctx, r.Client, &dg, accessv1alpha1.Finalizer); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		return ctrl.Result{}, fmt.Errorf("adding finalizer: %w", err)
	}
	res, err := r.reconcile(ctx, p)
	return r.finish(ctx, p, res, err)
}

// pass is the state of one reconcile pass.
type pass struct {
	dg    *accessv1alpha1.DeviceGroup
	orig  accessv1alpha1.DeviceGroupStatus // as fetched
	st    *accessv1alpha1.DeviceGroupStatus
	gen   int64
	owner devicegroup.Owner
	env   *accessv1alpha1.RemoteAccessEnvironment
	api   devicegroup.API
}

func newPass(dg *accessv1alpha1.DeviceGroup) *pass {
	return &pass{
		dg:    dg,
		orig:  *dg.Status.DeepCopy(),
		st:    dg.Status.DeepCopy(),
		gen:   dg.Generation,
		owner: devicegroup.Owner{UID: string(dg.UID), Namespace: dg.Namespace, Name: dg.Name},
	}
}

func (p *pass) set(typ string, status metav1.ConditionStatus, reason, msg string) bool {
	return conditions.Set(&p.st.Conditions, p.gen, typ, status, reason, msg)
}

// outcome is a pass's verdict before status is written.
type outcome struct {
	result ctrl.Result
	err    error
}

func (r *DeviceGroupReconciler) pollAfter(dg *accessv1alpha1.DeviceGroup) ctrl.Result {
	def := r.PollInterval
	if def <= 0 {
		def = 5 * time.Minute
	}
	return ctrl.Result{RequeueAfter: poll.Next(dg.Annotations, def)}
}

func (r *DeviceGroupReconciler) clock() clock.PassiveClock {
	if r.Clock == nil {
		return clock.RealClock{}
	}
	return r.Clock
}

// environment fetches the referenced environment (nil when absent).
func (r *DeviceGroupReconciler) environment(ctx context.Context, dg *accessv1alpha1.DeviceGroup) (*accessv1alpha1.RemoteAccessEnvironment, error) {
	var env accessv1alpha1.RemoteAccessEnvironment
	err := r.Get(ctx, types.NamespacedName{Namespace: dg.Namespace, Name: dg.Spec.EnvironmentRef.Name}, &env)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &env, nil
}

// soracomAPI returns the environment's SORACOM client.
func (r *DeviceGroupReconciler) soracomAPI(ctx context.Context, p *pass) error {
	c, err := r.Clients.Soracom(ctx, p.dg.Namespace, p.env.Spec.Soracom)
	if err != nil {
		return err
	}
	p.api = c
	return nil
}

func (r *DeviceGroupReconciler) reconcile(ctx context.Context, p *pass) (outcome, error) {
	logger := log.FromContext(ctx)
	dg := p.dg

	env, err := r.environment(ctx, dg)
	if err != nil {
		return outcome{}, err
	}
	if env == nil {
		msg := fmt.Sprintf("RemoteAccessEnvironment %q not found in namespace %s", dg.Spec.EnvironmentRef.Name, dg.Namespace)
		p.set(accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonEnvironmentNotFound, msg)
		p.set(accessv1alpha1.ConditionSynced, metav1.ConditionFalse, accessv1alpha1.ReasonEnvironmentNotFound, msg)
		return outcome{result: r.pollAfter(dg)}, nil
	}
	p.env = env
	vpgID := gatewayID(env)
	if !conditions.IsTrue(env.Status.Conditions, accessv1alpha1.ConditionReady) || vpgID == "" {
		msg := fmt.Sprintf("waiting for RemoteAccessEnvironment %q to become Ready (with a gateway); nothing is changed in SORACOM until then", env.Name)
		p.set(accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonEnvironmentNotReady, msg)
		if c := conditions.Get(p.st.Conditions, accessv1alpha1.ConditionSynced); c == nil {
			p.set(accessv1alpha1.ConditionSynced, metav1.ConditionUnknown, accessv1alpha1.ReasonEnvironmentNotReady, msg)
		} else {
			// Unchanged, but it describes this generation too.
			p.set(c.Type, c.Status, c.Reason, c.Message)
		}
		return outcome{result: r.pollAfter(dg)}, nil
	}
	if err := r.soracomAPI(ctx, p); err != nil {
		return outcome{}, err
	}

	// Group: adopt, find by owner tag, or create (guarded by the marker).
	groups := devicegroup.GroupUnit{API: p.api}
	obs, err := groups.Observe(ctx, p.owner, dg.Spec.Group.ID, p.st.GroupID)
	if errors.Is(err, devicegroup.ErrAdoptedGroupNotFound) {
		msg := fmt.Sprintf("SORACOM group %s (spec.group.id) not found", dg.Spec.Group.ID)
		p.set(accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonGroupNotFound, msg)
		p.set(accessv1alpha1.ConditionSynced, metav1.ConditionFalse, accessv1alpha1.ReasonGroupNotFound, msg)
		return outcome{result: r.pollAfter(dg)}, nil
	}
	if err != nil {
		return outcome{}, err
	}
	if len(obs.Duplicates) > 0 {
		logger.Info("more than one SORACOM group carries this DeviceGroup's owner tag; using the oldest", "groupId", obs.Group.GroupID, "duplicates", obs.Duplicates)
		r.event(dg, corev1.EventTypeWarning, "DuplicateGroups", "Observe", "groups %s also carry this DeviceGroup's owner tag; using %s", strings.Join(obs.Duplicates, ", "), obs.Group.GroupID)
	}
	if obs.Group == nil {
		if since := p.st.CreatePendingSince; since != nil {
			if wait := devicegroup.CreateGracePeriod - r.clock().Since(since.Time); wait > 0 {
				msg := fmt.Sprintf("a group create started at %s may still appear under its owner tag; waiting %s before creating again", since.UTC().Format(time.RFC3339), wait.Round(time.Second))
				p.set(accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonCreateIncomplete, msg)
				return outcome{result: ctrl.Result{RequeueAfter: wait}}, nil
			}
			logger.Info("create-pending marker set but the lookup by owner tag found no group; creating again", "pendingSince", since.Time)
		}
		// The marker goes to the API server before the create call.
		now := metav1.NewTime(r.clock().Now().Truncate(time.Second))
		p.st.CreatePendingSince = &now
		p.set(accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonGroupCreating, "creating the SORACOM group")
		if err := r.writeStatus(ctx, p); err != nil {
			if apierrors.IsConflict(err) {
				return outcome{result: ctrl.Result{RequeueAfter: time.Second}}, nil
			}
			return outcome{}, err
		}
		g, err := groups.Create(ctx, p.owner, groupName(dg))
		if err != nil {
			if _, definite := soracom.AsAPIError(err); definite && (!soracom.Retryable(err) || soracom.IsThrottled(err)) {
				// A 4xx (429 included): nothing was created.
				p.st.CreatePendingSince = nil
			}
			return outcome{}, err
		}
		logger.Info("created SORACOM group", "groupId", g.GroupID)
		r.event(dg, corev1.EventTypeNormal, "GroupCreated", "Create", "created SORACOM group %s", g.GroupID)
		obs.Group = g
	}
	g := obs.Group
	if obs.Adopted {
		other, err := r.adoptedGroupOwner(ctx, p, g)
		if err != nil {
			return outcome{}, err
		}
		if other != "" {
			// Not recorded in status.groupId: the group stays the other's.
			msg := fmt.Sprintf("SORACOM group %s is already managed by DeviceGroup %s; nothing is changed", g.GroupID, other)
			p.set(accessv1alpha1.ConditionConflict, metav1.ConditionTrue, accessv1alpha1.ReasonGroupConflict, msg)
			p.set(accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonGroupConflict, msg)
			p.set(accessv1alpha1.ConditionSynced, metav1.ConditionTrue, accessv1alpha1.ReasonReconcileSuccess, "")
			return outcome{result: r.pollAfter(dg)}, nil
		}
	}
	p.st.GroupID = g.GroupID
	p.st.Adopted = obs.Adopted
	p.st.CreatePendingSince = nil
	members := devicegroup.MembershipUnit{API: p.api, Owners: cacheOwners{r.Client}}
	if !obs.Adopted {
		if _, err := groups.EnsureTags(ctx, g, p.owner, groupName(dg)); err != nil {
			return outcome{}, err
		}
	}

	// Membership and sessions, page by page.
	var selector map[string]string
	if dg.Spec.SIMSelector != nil {
		selector = dg.Spec.SIMSelector.Tags
	}
	mobs, err := members.Observe(ctx, g.GroupID, selector)
	if err != nil {
		return outcome{}, err
	}
	reset := resetSessions(dg)
	resetDone := map[string]bool{}
	var resetCount int

	// Binding: only the SoracomAir keys that differ.
	if kv := devicegroup.BindingDiff(g, vpgID); len(kv) > 0 {
		if err := (devicegroup.BindingUnit{API: p.api}).Apply(ctx, g, kv); err != nil {
			return outcome{}, err
		}
		logger.Info("bound SORACOM group to the gateway", "groupId", g.GroupID, "vpgId", vpgID)
		r.event(dg, corev1.EventTypeNormal, "GroupBound", "Bind", "group %s now sends sessions to gateway %s", g.GroupID, vpgID)
		if reset {
			// Every online SIM of the group must reconnect to use the gateway.
			done, err := members.ResetSessions(ctx, devicegroup.OnlineIn(mobs.InGroup), resetDone)
			resetCount += len(done)
			if err != nil {
				return outcome{}, err
			}
		}
	}
	p.st.GatewayID = vpgID

	spec := devicegroup.MembershipSpec{
		SIMs:          dg.Spec.SIMs,
		Selector:      selector,
		Members:       p.orig.Members,
		Adopted:       obs.Adopted,
		ResetSessions: reset,
	}
	mres, merr := members.Apply(ctx, p.owner, g.GroupID, spec, mobs, resetDone)
	p.st.Members = mres.Members
	resetCount += len(mres.Reset)
	if len(mres.Added) > 0 {
		logger.Info("put SIMs in the group", "groupId", g.GroupID, "count", len(mres.Added))
		r.event(dg, corev1.EventTypeNormal, "SIMsAdded", "SetGroup", "put %d SIM(s) in group %s: %s", len(mres.Added), g.GroupID, listSome(mres.Added))
	}
	if len(mres.Removed) > 0 {
		logger.Info("took SIMs out of the group", "groupId", g.GroupID, "count", len(mres.Removed))
		r.event(dg, corev1.EventTypeNormal, "SIMsRemoved", "UnsetGroup", "took %d SIM(s) out of group %s: %s", len(mres.Removed), g.GroupID, listSome(mres.Removed))
	}
	p.st.SIMs = devicegroup.Counts(mres.InGroup)
	p.st.Devices = devicegroup.DeviceStatuses(dg.Spec.Devices, dg.Spec.LANRoutes, mres.InGroup)
	if merr != nil {
		return outcome{}, merr
	}

	// Router LANs: merge this DeviceGroup's routes into the VPG's shared map.
	// Skipped when nothing can have changed: no lanRoutes wanted, no SIM taken
	// out, the spec and gateway already converged by a successful pass.
	desiredRoutes := devicegroup.DesiredRoutes(dg.Spec.LANRoutes, mres.InGroup)
	settled := len(desiredRoutes) == 0 && len(mres.Removed) == 0 && p.orig.ObservedGeneration == p.gen &&
		p.orig.GatewayID == vpgID && conditions.IsTrue(p.orig.Conditions, accessv1alpha1.ConditionSynced)
	if !settled {
		rres, err := (devicegroup.RoutesUnit{API: p.api, Locks: &r.routeLocks}).Apply(ctx, vpgID, devicegroup.OwnedRouteSIMs(p.orig.Members, mres), desiredRoutes)
		if err != nil {
			return outcome{}, err
		}
		if rres.Enabled {
			r.event(dg, corev1.EventTypeNormal, "SimBasedRoutingEnabled", "EnableRouting", "turned on SIM-based routing on gateway %s", vpgID)
		}
		if rres.Written {
			logger.Info("updated the gateway's SIM-based routes", "vpgId", vpgID, "routes", len(desiredRoutes))
			r.event(dg, corev1.EventTypeNormal, "RoutesUpdated", "PutRoutes", "SIM-based routes of gateway %s updated (%d for this group)", vpgID, len(desiredRoutes))
		}
	}

	r.membershipConditions(p, mres, g.GroupID, vpgID)
	p.set(accessv1alpha1.ConditionSynced, metav1.ConditionTrue, accessv1alpha1.ReasonReconcileSuccess, "")
	result := r.pollAfter(dg)
	if resetCount > 0 {
		// Look again soon for the addresses the SIMs got through the gateway.
		result.RequeueAfter = min(result.RequeueAfter, deviceGroupSettleDelay)
	}
	return outcome{result: result}, nil
}

// adoptedGroupOwner returns another DeviceGroup that manages the adopted
// group ("" when none): one that created it (owner tag, still alive), or an
// older DeviceGroup that adopted it first (should two record it at once, the
// older one keeps it: creation time, then namespace/name).
func (r *DeviceGroupReconciler) adoptedGroupOwner(ctx context.Context, p *pass, g *soracom.Group) (string, error) {
	owners := cacheOwners{r.Client}
	var list accessv1alpha1.DeviceGroupList
	if err := r.List(ctx, &list, client.MatchingFields{DeviceGroupGroupIDIndex: g.GroupID}); err != nil {
		return "", err
	}
	self := p.dg
	var older []string
	for _, d := range list.Items {
		if d.UID == self.UID || d.Status.GroupID != g.GroupID {
			continue
		}
		ct, st := d.CreationTimestamp.Time, self.CreationTimestamp.Time
		key, selfKey := d.Namespace+"/"+d.Name, self.Namespace+"/"+self.Name
		if ct.Before(st) || (ct.Equal(st) && key < selfKey) {
			older = append(older, key)
		}
	}
	if len(older) > 0 {
		sort.Strings(older)
		return older[0], nil
	}
	if uid := g.Tags[devicegroup.TagOwnerUID]; uid != "" && uid != p.owner.UID {
		key := g.Tags[devicegroup.TagOwner]
		if key == "" {
			return "with UID " + uid, nil
		}
		alive, err := owners.Alive(ctx, key, uid)
		if err != nil {
			return "", err
		}
		if alive {
			return key, nil
		}
	}
	return "", nil
}

// membershipConditions sets Conflict and Ready from a successful pass.
func (r *DeviceGroupReconciler) membershipConditions(p *pass, mres *devicegroup.MembershipResult, groupID, vpgID string) {
	dg := p.dg
	if len(mres.Conflicts) > 0 {
		parts := make([]string, 0, maxListedInMessage)
		for i, c := range mres.Conflicts {
			if i == maxListedInMessage {
				parts = append(parts, fmt.Sprintf("and %d more", len(mres.Conflicts)-i))
				break
			}
			parts = append(parts, fmt.Sprintf("SIM %s is in group %s of DeviceGroup %s", c.SIMID, c.GroupID, c.Owner))
		}
		msg := strings.Join(parts, "; ") + "; left where they are"
		if p.set(accessv1alpha1.ConditionConflict, metav1.ConditionTrue, accessv1alpha1.ReasonSIMConflict, msg) {
			r.event(dg, corev1.EventTypeWarning, accessv1alpha1.ReasonSIMConflict, "SetGroup", "%s", msg)
		}
	} else {
		p.set(accessv1alpha1.ConditionConflict, metav1.ConditionFalse, accessv1alpha1.ReasonNoConflict, "")
	}

	// Ready: bound to a Ready environment, and every SIM of spec.sims is a member.
	listed := map[string]bool{}
	for _, id := range dg.Spec.SIMs {
		listed[id] = true
	}
	var notFound, conflicting, missing []string
	for _, id := range mres.NotFound {
		if listed[id] {
			notFound = append(notFound, id)
		}
	}
	for _, c := range mres.Conflicts {
		if listed[c.SIMID] {
			conflicting = append(conflicting, c.SIMID)
		}
	}
	for _, id := range dg.Spec.SIMs {
		if _, in := mres.InGroup[id]; !in {
			missing = append(missing, id)
		}
	}
	switch {
	case len(notFound) > 0:
		p.set(accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonSIMNotFound,
			fmt.Sprintf("SIM(s) not found in the SORACOM account: %s", listSome(notFound)))
	case len(conflicting) > 0:
		p.set(accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonSIMConflict,
			fmt.Sprintf("SIM(s) held by another DeviceGroup (see the Conflict condition): %s", listSome(conflicting)))
	case len(missing) > 0:
		p.set(accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonNotReady,
			fmt.Sprintf("SIM(s) not in group %s yet: %s", groupID, listSome(missing)))
	default:
		p.set(accessv1alpha1.ConditionReady, metav1.ConditionTrue, accessv1alpha1.ReasonAvailable,
			fmt.Sprintf("group %s is bound to gateway %s with %d wanted SIM(s) in it", groupID, vpgID, len(mres.Wanted)-len(mres.NotFound)-len(mres.Conflicts)))
	}
}

// finish classifies the pass's error, writes status once if it changed, and
// decides when to look again.
func (r *DeviceGroupReconciler) finish(ctx context.Context, p *pass, out outcome, err error) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	if err != nil {
		out = r.failed(ctx, p, err)
	}
	if werr := r.writeStatus(ctx, p); werr != nil {
		if apierrors.IsConflict(werr) {
			// A newer version exists: look again with it.
			return ctrl.Result{RequeueAfter: time.Second}, nil
		}
		if apierrors.IsNotFound(werr) {
			return ctrl.Result{}, nil
		}
		if out.err == nil {
			return ctrl.Result{}, werr
		}
		logger.Error(werr, "writing status")
	}
	return out.result, out.err
}

// failed turns an error into conditions and a verdict: retryable errors go
// back to controller-runtime's backoff; credentials problems and other
// SORACOM 4xx answers wait for the poll interval (no hot loop).
func (r *DeviceGroupReconciler) failed(ctx context.Context, p *pass, err error) outcome {
	logger := log.FromContext(ctx)
	reason, msg := accessv1alpha1.ReasonAPIError, err.Error()
	out := outcome{err: err}
	var ce *clients.CredentialsError
	switch {
	case errors.As(err, &ce):
		reason, out = accessv1alpha1.ReasonCredentialsUnavailable, outcome{result: r.pollAfter(p.dg)}
	case soracom.IsUnauthorized(err):
		reason, msg, out = accessv1alpha1.ReasonCredentialsUnavailable, "SORACOM rejected the credentials: "+msg, outcome{result: r.pollAfter(p.dg)}
	case soracom.IsThrottled(err):
		reason = accessv1alpha1.ReasonThrottled
	case soracom.Retryable(err):
	case soracom.StatusCode(err) >= 400:
		if soracom.StatusCode(err) == http.StatusBadRequest {
			reason = accessv1alpha1.ReasonInvalidConfiguration
		}
		out = outcome{result: r.pollAfter(p.dg)}
	}
	if out.err == nil {
		logger.Info("reconcile stopped; waiting for the poll interval or a change", "reason", reason, "error", msg)
	}
	if p.set(accessv1alpha1.ConditionSynced, metav1.ConditionFalse, reason, msg) && out.err == nil {
		r.event(p.dg, corev1.EventTypeWarning, reason, "Reconcile", "%s", msg)
	}
	if c := conditions.Get(p.st.Conditions, accessv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue || out.err == nil {
		// A transient error leaves a Ready group Ready; anything else says why it is not.
		p.set(accessv1alpha1.ConditionReady, metav1.ConditionFalse, reason, msg)
	}
	return out
}

// writeStatus writes status if it differs from the fetched copy, with
// optimistic concurrency. On a conflict (the pass read a stale copy) it
// re-reads the object and writes again a few times: the status records what
// was done outside (members put in, the group id) and describes the
// generation this pass observed, so it is still right to write on a newer
// copy, whose newer generation the next pass handles.
func (r *DeviceGroupReconciler) writeStatus(ctx context.Context, p *pass) error {
	p.st.ObservedGeneration = p.gen
	if equality.Semantic.DeepEqual(p.orig, *p.st) {
		return nil
	}
	first := true
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if !first {
			var latest accessv1alpha1.DeviceGroup
			if err := r.Get(ctx, client.ObjectKeyFromObject(p.dg), &latest); err != nil {
				return err
			}
			if latest.UID != p.dg.UID {
				return apierrors.NewNotFound(accessv1alpha1.GroupVersion.WithResource("devicegroups").GroupResource(), p.dg.Name)
			}
			// Only the version moves: the pass keeps working on the spec it read.
			p.dg.ResourceVersion = latest.ResourceVersion
		}
		first = false
		p.dg.Status = *p.st.DeepCopy()
		return r.Status().Update(ctx, p.dg)
	})
	if err != nil {
		return err
	}
	p.orig = *p.st.DeepCopy()
	return nil
}

// finalize cleans up outside and removes the finalizer: with deletionPolicy
// Orphan at once; with Delete, in reverse order: this DeviceGroup's routes
// off the VPG, the group unbound, the SIMs gatestream put in taken out (their
// sessions reset), and the group deleted unless it was adopted.
func (r *DeviceGroupReconciler) finalize(ctx context.Context, p *pass) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	dg := p.dg
	if !controllerutil.ContainsFinalizer(dg, accessv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	if dg.Spec.DeletionPolicy == accessv1alpha1.DeletionPolicyOrphan {
		r.event(dg, corev1.EventTypeNormal, accessv1alpha1.ReasonOrphaned, "Delete", "deletionPolicy Orphan: the SORACOM group, its binding, SIMs and routes are left in place")
		return ctrl.Result{}, r.removeFinalizer(ctx, dg)
	}
	if p.st.GroupID == "" && p.st.CreatePendingSince == nil && len(p.st.Members) == 0 {
		// Nothing was ever created or changed outside.
		return ctrl.Result{}, r.removeFinalizer(ctx, dg)
	}
	out, err := r.cleanUp(ctx, p)
	if err == nil && out.result.IsZero() {
		logger.Info("cleaned up SORACOM; removing finalizer", "groupId", p.st.GroupID)
		r.event(dg, corev1.EventTypeNormal, "Deleted", "Delete", "SORACOM group cleaned up")
		return ctrl.Result{}, r.removeFinalizer(ctx, dg)
	}
	return r.finish(ctx, p, out, err)
}

func (r *DeviceGroupReconciler) cleanUp(ctx context.Context, p *pass) (outcome, error) {
	dg := p.dg
	p.set(accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonDeleting, "cleaning up the SORACOM group")
	env, err := r.environment(ctx, dg)
	if err != nil {
		return outcome{}, err
	}
	if env == nil {
		msg := fmt.Sprintf("RemoteAccessEnvironment %q is gone, so its SORACOM credentials are unknown and group %s cannot be cleaned up; set spec.deletionPolicy to Orphan to delete without cleanup", dg.Spec.EnvironmentRef.Name, p.st.GroupID)
		p.set(accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonDeletionBlocked, msg)
		p.set(accessv1alpha1.ConditionSynced, metav1.ConditionFalse, accessv1alpha1.ReasonEnvironmentNotFound, msg)
		return outcome{result: r.pollAfter(dg)}, nil
	}
	p.env = env
	if err := r.soracomAPI(ctx, p); err != nil {
		if clients.IsCredentialsError(err) {
			msg := err.Error() + "; group " + p.st.GroupID + " cannot be cleaned up; restore the Secret, or set spec.deletionPolicy to Orphan to delete without cleanup"
			p.set(accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonDeletionBlocked, msg)
			p.set(accessv1alpha1.ConditionSynced, metav1.ConditionFalse, accessv1alpha1.ReasonCredentialsUnavailable, msg)
			return outcome{result: r.pollAfter(dg)}, nil
		}
		return outcome{}, err
	}
	groups := devicegroup.GroupUnit{API: p.api}
	obs, err := groups.Observe(ctx, p.owner, dg.Spec.Group.ID, p.st.GroupID)
	if errors.Is(err, devicegroup.ErrAdoptedGroupNotFound) {
		obs, err = &devicegroup.GroupObservation{Adopted: true}, nil
	}
	if err != nil {
		return outcome{}, err
	}
	vpgID := p.st.GatewayID
	if vpgID == "" {
		vpgID = gatewayID(env)
	}
	members := devicegroup.MembershipUnit{API: p.api, Owners: cacheOwners{r.Client}}
	mobs := &devicegroup.MembershipObservation{InGroup: map[string]soracom.SIM{}}
	if obs.Group != nil {
		if mobs, err = members.Observe(ctx, obs.Group.GroupID, nil); err != nil {
			return outcome{}, err
		}
	}

	// 1. This DeviceGroup's routes off the VPG's shared map.
	if vpgID != "" {
		owned := devicegroup.OwnedRouteSIMs(p.st.Members, &devicegroup.MembershipResult{InGroup: mobs.InGroup, Wanted: routeSIMs(dg)})
		_, err := (devicegroup.RoutesUnit{API: p.api, Locks: &r.routeLocks}).Apply(ctx, vpgID, owned, nil)
		if err != nil && !soracom.IsNotFound(err) {
			return outcome{}, err
		}
	}
	if obs.Group != nil {
		g := obs.Group
		// 2. Unbind (only from our gateway).
		if kv := devicegroup.UnbindDiff(g, vpgID); len(kv) > 0 {
			if err := (devicegroup.BindingUnit{API: p.api}).Apply(ctx, g, kv); err != nil && !soracom.IsNotFound(err) {
				return outcome{}, err
			}
		}
		// 3. Take out the SIMs gatestream put in (nothing is wanted any more).
		spec := devicegroup.MembershipSpec{Members: p.st.Members, Adopted: obs.Adopted, ResetSessions: resetSessions(dg)}
		mres, err := members.Apply(ctx, p.owner, g.GroupID, spec, mobs, nil)
		p.st.Members = mres.Members
		p.st.SIMs = devicegroup.Counts(mres.InGroup)
		if err != nil {
			return outcome{}, err
		}
		// 4. Delete the group gatestream created; an adopted one stays.
		if !obs.Adopted {
			if err := groups.Delete(ctx, g.GroupID); err != nil {
				return outcome{}, err
			}
		}
	}
	return outcome{}, nil
}

func (r *DeviceGroupReconciler) removeFinalizer(ctx context.Context, dg *accessv1alpha1.DeviceGroup) error {
	if _, err := finalizers.Remove(ctx, r.Client, dg, accessv1alpha1.Finalizer); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing finalizer: %w", err)
	}
	return nil
}

func (r *DeviceGroupReconciler) event(obj *accessv1alpha1.DeviceGroup, typ, reason, action, note string, args ...any) {
	if r.Recorder == nil {
		return
	}
	r.Recorder.Eventf(obj, nil, typ, reason, action, note, args...)
}

// groupName is the name tag of the group: spec.group.name or namespace/name.
func groupName(dg *accessv1alpha1.DeviceGroup) string {
	if dg.Spec.Group.Name != "" {
		return dg.Spec.Group.Name
	}
	return dg.Namespace + "/" + dg.Name
}

func resetSessions(dg *accessv1alpha1.DeviceGroup) bool {
	return dg.Spec.ResetSessionsOnChange == nil || *dg.Spec.ResetSessionsOnChange
}

func routeSIMs(dg *accessv1alpha1.DeviceGroup) []string {
	out := make([]string, 0, len(dg.Spec.LANRoutes))
	for _, lr := range dg.Spec.LANRoutes {
		out = append(out, lr.SIMID)
	}
	return out
}

// listSome names up to maxListedInMessage ids.
func listSome(ids []string) string {
	ids = append([]string(nil), ids...)
	sort.Strings(ids)
	if len(ids) <= maxListedInMessage {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:maxListedInMessage], ", ") + fmt.Sprintf(" and %d more", len(ids)-maxListedInMessage)
}

// cacheOwners answers devicegroup.Owners from the manager's cache.
type cacheOwners struct{ c client.Reader }

func (o cacheOwners) ByGroupID(ctx context.Context, groupID string, self devicegroup.Owner) (string, error) {
	var list accessv1alpha1.DeviceGroupList
	if err := o.c.List(ctx, &list, client.MatchingFields{DeviceGroupGroupIDIndex: groupID}); err != nil {
		return "", err
	}
	var keys []string
	for _, d := range list.Items {
		if string(d.UID) != self.UID && d.Status.GroupID == groupID {
			keys = append(keys, d.Namespace+"/"+d.Name)
		}
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return "", nil
	}
	return keys[0], nil
}

func (o cacheOwners) Alive(ctx context.Context, key, uid string) (bool, error) {
	ns, name, ok := strings.Cut(key, "/")
	if !ok {
		return false, nil
	}
	var d accessv1alpha1.DeviceGroup
	if err := o.c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &d); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	return string(d.UID) == uid, nil
}
