package devicegroup

import (
	"context"
	"errors"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/soracom"
	"github.com/gatestream/gatestream/internal/unit"
)

// Unit is one external object of a DeviceGroup.
type Unit = unit.Unit[*Pass]

// Chain is the convergence order; DeletionOrder the reverse.
func Chain() []Unit { return []Unit{Group{}, Binding{}, Membership{}, Routes{}} }

// DeletionOrder: this group's routes off the VPG, the group unbound, the SIMs
// gatestream put in taken out (their sessions reset), and the group deleted
// unless it was adopted.
func DeletionOrder() []Unit { return []Unit{Routes{}, Binding{}, Membership{}, Group{}} }

// Group is the SORACOM group: adopted (spec.group.id), or created tagged with
// the DeviceGroup's UID and found by that tag. Creating one is guarded.
type Group struct{}

func (Group) Condition() string { return accessv1alpha1.ConditionGroupReady }

// PendingMarker guards the create: a lost response never makes a second group.
func (Group) PendingMarker(p *Pass) **metav1.Time { return &p.DG.Status.CreatePendingSince }

func (Group) Observe(ctx context.Context, p *Pass) (unit.Observation, error) {
	obs, err := p.observeGroup(ctx)
	if errors.Is(err, ErrAdoptedGroupNotFound) {
		return unit.Observation{}, p.adoptedGroupMissing()
	}
	if err != nil {
		return unit.Observation{}, err
	}
	if obs.Group == nil {
		return unit.Observation{}, nil
	}
	g := obs.Group
	if obs.Adopted {
		other, err := p.Owners.OtherManager(ctx, g, p.DG)
		if err != nil {
			return unit.Observation{}, err
		}
		if other != "" {
			// Not recorded in status.groupId: the group stays the other's.
			msg := fmt.Sprintf("SORACOM group %s is already managed by DeviceGroup %s; nothing is changed", g.GroupID, other)
			conditions.True(p.Conditions, p.Generation, accessv1alpha1.ConditionConflict, accessv1alpha1.ReasonGroupConflict, msg)
			return unit.Observation{Exists: true, UpToDate: true, Reason: accessv1alpha1.ReasonGroupConflict, Message: msg, Wait: -1}, nil
		}
	}
	if obs.Reclaimed {
		p.Log.Info("adopted the SORACOM group by stable identity", "groupId", g.GroupID)
		p.Event(corev1.EventTypeNormal, "GroupAdopted", "Observe", fmt.Sprintf("adopted SORACOM group %s, tagged %s=%s (this DeviceGroup before the cluster was rebuilt)",
			g.GroupID, accessv1alpha1.TagIdentity, p.Owner.ownership().Identity()))
	}
	p.DG.Status.GroupID, p.DG.Status.Adopted = g.GroupID, obs.Adopted
	upToDate := obs.Adopted || TagsDiff(g, p.Owner, p.groupName()) == nil
	return unit.Observation{Exists: true, UpToDate: upToDate, Ready: true, Message: "group " + g.GroupID}, nil
}

func (Group) Create(ctx context.Context, p *Pass) error {
	g, err := GroupUnit{API: p.API}.Create(ctx, p.Owner, p.groupName())
	if err != nil {
		return err
	}
	p.Log.Info("created SORACOM group", "groupId", g.GroupID)
	p.Event(corev1.EventTypeNormal, "GroupCreated", "Create", "created SORACOM group "+g.GroupID)
	p.DG.Status.GroupID = g.GroupID
	p.group = &GroupObservation{Group: g}
	return nil
}

// Update puts the owner tags that differ (the name tag follows spec.group.name).
func (Group) Update(ctx context.Context, p *Pass) error {
	_, err := GroupUnit{API: p.API}.EnsureTags(ctx, p.group.Group, p.Owner, p.groupName())
	return err
}

// Delete deletes the group gatestream created; an adopted one stays.
func (Group) Delete(ctx context.Context, p *Pass) (bool, error) {
	obs, err := p.groupForDelete(ctx)
	if err != nil || obs.Group == nil || obs.Adopted {
		return err == nil, err
	}
	return true, GroupUnit{API: p.API}.Delete(ctx, obs.Group.GroupID)
}

// Binding is the group's SoracomAir useVpg/vpgId: only the keys that differ are written.
type Binding struct{}

func (Binding) Condition() string { return accessv1alpha1.ConditionBindingReady }

func (Binding) Observe(_ context.Context, p *Pass) (unit.Observation, error) {
	g := p.group.Group
	if len(BindingDiff(g, p.VPGID)) > 0 {
		return unit.Observation{Exists: true}, nil
	}
	p.DG.Status.GatewayID = p.VPGID
	return unit.Observation{Exists: true, UpToDate: true, Ready: true, Message: "bound to gateway " + p.VPGID}, nil
}

func (Binding) Create(context.Context, *Pass) error { return nil }

// Update binds the group; with resetSessionsOnChange every online SIM of the
// group reconnects so that it uses the gateway now.
func (Binding) Update(ctx context.Context, p *Pass) error {
	g := p.group.Group
	mobs, err := p.observeMembers(ctx)
	if err != nil {
		return err
	}
	if err := (BindingUnit{API: p.API}).Apply(ctx, g, BindingDiff(g, p.VPGID)); err != nil {
		return err
	}
	p.Log.Info("bound SORACOM group to the gateway", "groupId", g.GroupID, "vpgId", p.VPGID)
	p.Event(corev1.EventTypeNormal, "GroupBound", "Bind", fmt.Sprintf("group %s now sends sessions to gateway %s", g.GroupID, p.VPGID))
	if !p.resetSessions() {
		return nil
	}
	done, err := p.membership().ResetSessions(ctx, OnlineIn(mobs.InGroup), p.resetDone)
	p.resetCount += len(done)
	if len(done) > 0 {
		// The SIMs read above had their old sessions: Membership reads them
		// again (see rereadAfterReset).
		p.members = nil
	}
	return err
}

// Delete unbinds the group, only from our gateway.
func (Binding) Delete(ctx context.Context, p *Pass) (bool, error) {
	obs, err := p.groupForDelete(ctx)
	if err != nil || obs.Group == nil {
		return err == nil, err
	}
	if kv := UnbindDiff(obs.Group, p.VPGID); len(kv) > 0 {
		if err := (BindingUnit{API: p.API}).Apply(ctx, obs.Group, kv); err != nil && !soracom.IsNotFound(err) {
			return false, err
		}
	}
	return true, nil
}

// Membership is the set of SIMs in the group: spec.sims and the selected
// SIMs are put in (never stolen from another DeviceGroup's group), and the
// SIMs gatestream put in that are no longer wanted are taken out.
type Membership struct{}

func (Membership) Condition() string { return accessv1alpha1.ConditionMembershipReady }

func (Membership) Observe(ctx context.Context, p *Pass) (unit.Observation, error) {
	mobs, err := p.observeMembers(ctx)
	if err != nil {
		return unit.Observation{}, err
	}
	if p.result == nil {
		if p.result = Settled(p.membershipSpec(), p.groupID(), mobs); p.result == nil {
			return unit.Observation{Exists: true}, nil
		}
	}
	p.recordMembers(p.result)
	reason, msg := MembershipReadiness(p.DG, p.result)
	conflictCondition(p, p.result.Conflicts)
	return unit.Observation{Exists: true, UpToDate: true, Ready: true, Reason: reason, Message: msg, Wait: -1}, nil
}

func (Membership) Create(context.Context, *Pass) error { return nil }

func (Membership) Update(ctx context.Context, p *Pass) error {
	res, err := p.membership().Apply(ctx, p.Owner, p.groupID(), p.membershipSpec(), p.members, p.resetDone)
	p.result = res
	p.resetCount += len(res.Reset)
	if len(res.Added) > 0 {
		p.Log.Info("put SIMs in the group", "groupId", p.groupID(), "count", len(res.Added))
		p.Event(corev1.EventTypeNormal, "SIMsAdded", "SetGroup", fmt.Sprintf("put %d SIM(s) in group %s: %s", len(res.Added), p.groupID(), ListSome(res.Added)))
	}
	if len(res.Removed) > 0 {
		p.Log.Info("took SIMs out of the group", "groupId", p.groupID(), "count", len(res.Removed))
		p.Event(corev1.EventTypeNormal, "SIMsRemoved", "UnsetGroup", fmt.Sprintf("took %d SIM(s) out of group %s: %s", len(res.Removed), p.groupID(), ListSome(res.Removed)))
	}
	if err != nil {
		// What was done before the error still reaches status.
		p.recordMembers(res)
		return err
	}
	if len(res.Reset) > 0 {
		p.rereadAfterReset(ctx)
	}
	return nil
}

// rereadAfterReset reads the group's SIMs again after sessions were reset:
// those read before had their old sessions (and addresses). A SIM that
// reconnected at once is reported with its new address by this pass; one
// still reconnecting is offline, and the settle look comes back for it.
// Only the SIMs' state is refreshed; the membership is what the changes just
// made left. If the read fails, the state read before stands.
func (p *Pass) rereadAfterReset(ctx context.Context) {
	p.members = nil
	fresh, err := p.observeMembers(ctx)
	if err != nil {
		p.Log.V(1).Info("reading the SIMs again after resetting their sessions", "error", err.Error())
		return
	}
	res := *p.result
	res.InGroup = maps.Clone(res.InGroup)
	for id := range res.InGroup {
		if sim, ok := fresh.InGroup[id]; ok {
			res.InGroup[id] = sim
		}
	}
	p.result = &res
}

// Delete takes out the SIMs gatestream put in (nothing is wanted any more).
func (Membership) Delete(ctx context.Context, p *Pass) (bool, error) {
	obs, err := p.groupForDelete(ctx)
	if err != nil || obs.Group == nil {
		return err == nil, err
	}
	mobs, err := p.observeMembers(ctx)
	if err != nil {
		return false, err
	}
	spec := MembershipSpec{Members: p.DG.Status.Members, Adopted: obs.Adopted, ResetSessions: p.resetSessions()}
	res, err := p.membership().Apply(ctx, p.Owner, obs.Group.GroupID, spec, mobs, nil)
	p.DG.Status.Members = res.Members
	p.DG.Status.SIMs = Counts(res.InGroup)
	return err == nil, err
}

func (p *Pass) membershipSpec() MembershipSpec {
	spec := MembershipSpec{SIMs: p.DG.Spec.SIMs, Members: p.Orig.Members, Adopted: p.group.Adopted, ResetSessions: p.resetSessions(), VPGID: p.VPGID}
	if p.DG.Spec.SIMSelector != nil {
		spec.Selector = p.DG.Spec.SIMSelector.Tags
	}
	return spec
}

func (p *Pass) recordMembers(res *MembershipResult) {
	p.DG.Status.Members = res.Members
	p.DG.Status.SIMs = Counts(res.InGroup)
	p.DG.Status.Devices = DeviceStatuses(p.DG.Spec.Devices, p.DG.Spec.LANRoutes, res.InGroup)
}

// Routes are the Gate SIM-based routes of the LANs behind this group's
// routers, merged into the VPG's one shared route map.
type Routes struct{}

func (Routes) Condition() string { return accessv1alpha1.ConditionRoutesReady }

func (Routes) Observe(ctx context.Context, p *Pass) (unit.Observation, error) {
	ready := unit.Observation{Exists: true, UpToDate: true, Ready: true}
	if p.routes != nil || p.routesSettled() {
		return ready, nil
	}
	st, err := (RoutesUnit{API: p.API}).Observe(ctx, p.VPGID)
	if err != nil {
		return unit.Observation{}, err
	}
	desired := DesiredRoutes(p.DG.Spec.LANRoutes, p.result.InGroup)
	_, changed := MergeRoutes(st.Routes, OwnedRouteSIMs(p.Orig.Members, p.result), desired)
	if len(desired) > 0 && !st.Enabled && !st.GateOpened {
		// SORACOM refuses SIM-based routing while Gate is closed (400); the
		// environment opens Gate, so wait for it instead of failing.
		return unit.Observation{Exists: true, UpToDate: true, Reason: accessv1alpha1.ReasonWaitingForDependency, Wait: -1,
			Message: fmt.Sprintf("SIM-based routing needs Gate open on gateway %s (spec.soracom.gateway.gate.enabled of RemoteAccessEnvironment %s)", p.VPGID, p.DG.Spec.EnvironmentRef.Name)}, nil
	}
	if changed || (len(desired) > 0 && !st.Enabled) {
		return unit.Observation{Exists: true}, nil
	}
	return ready, nil
}

// routesSettled: nothing can have changed since a successful pass: no LAN
// routes wanted, no SIM taken out, the spec and gateway already converged.
func (p *Pass) routesSettled() bool {
	return len(DesiredRoutes(p.DG.Spec.LANRoutes, p.result.InGroup)) == 0 && len(p.result.Removed) == 0 &&
		p.Orig.ObservedGeneration == p.Generation && p.Orig.GatewayID == p.VPGID &&
		conditions.IsTrue(p.Orig.Conditions, accessv1alpha1.ConditionSynced)
}

func (Routes) Create(context.Context, *Pass) error { return nil }

func (Routes) Update(ctx context.Context, p *Pass) error {
	desired := DesiredRoutes(p.DG.Spec.LANRoutes, p.result.InGroup)
	res, err := p.routesUnit().Apply(ctx, p.VPGID, OwnedRouteSIMs(p.Orig.Members, p.result), desired)
	if err != nil {
		return err
	}
	p.routes = res
	if res.Enabled {
		p.Event(corev1.EventTypeNormal, "SimBasedRoutingEnabled", "EnableRouting", "turned on SIM-based routing on gateway "+p.VPGID)
	}
	if res.Written {
		p.Log.Info("updated the gateway's SIM-based routes", "vpgId", p.VPGID, "routes", len(desired))
		p.Event(corev1.EventTypeNormal, "RoutesUpdated", "PutRoutes", fmt.Sprintf("SIM-based routes of gateway %s updated (%d for this group)", p.VPGID, len(desired)))
	}
	return nil
}

// Delete takes this group's routes off the VPG's shared map.
func (Routes) Delete(ctx context.Context, p *Pass) (bool, error) {
	if p.VPGID == "" {
		return true, nil
	}
	obs, err := p.groupForDelete(ctx)
	if err != nil {
		return false, err
	}
	inGroup := map[string]soracom.SIM{}
	if obs.Group != nil {
		mobs, err := p.observeMembers(ctx)
		if err != nil {
			return false, err
		}
		inGroup = mobs.InGroup
	}
	owned := OwnedRouteSIMs(p.DG.Status.Members, &MembershipResult{InGroup: inGroup, Wanted: p.routeSIMs()})
	if _, err := p.routesUnit().Apply(ctx, p.VPGID, owned, nil); err != nil && !soracom.IsNotFound(err) {
		return false, err
	}
	return true, nil
}

func (p *Pass) routesUnit() RoutesUnit { return RoutesUnit{API: p.API, Locks: p.RouteLocks} }
