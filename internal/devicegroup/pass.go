package devicegroup

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/keymutex"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/unit"
)

// Pass is what the units of one DeviceGroup pass share. Units record what
// they observe in DG.Status (written once at the end of the pass).
type Pass struct {
	unit.Base
	DG *accessv1alpha1.DeviceGroup
	// Orig is the status as fetched: its members are the SIMs gatestream put
	// in the group before this pass (the only ones it ever takes out).
	Orig  *accessv1alpha1.DeviceGroupStatus
	Owner Owner
	// VPGID is the environment's gateway the group is bound to.
	VPGID  string
	API    API
	Owners Cluster
	// RouteLocks serializes read-modify-write of each VPG's shared route map.
	RouteLocks keymutex.KeyMutex
	Log        logr.Logger
	// Event records a Kubernetes Event on the DeviceGroup (never with secrets).
	Event func(eventType, reason, action, note string)

	// Shared observations, so that nothing is read twice in a pass.
	group      *GroupObservation
	members    *MembershipObservation
	result     *MembershipResult // after Membership.Update, or when in sync
	routes     *RoutesResult     // after Routes.Update
	resetDone  map[string]bool
	resetCount int
	// paths are the environment's path checks of its devices (status.path.devices).
	paths []accessv1alpha1.DevicePath
}

// NewPass starts a pass of dg; clusterName is the manager's --cluster-name.
func NewPass(dg *accessv1alpha1.DeviceGroup, base unit.Base, clusterName string) *Pass {
	p := &Pass{
		Base:      base,
		DG:        dg,
		Orig:      dg.Status.DeepCopy(),
		Owner:     Owner{UID: string(dg.UID), Namespace: dg.Namespace, Name: dg.Name, Cluster: clusterName},
		resetDone: map[string]bool{},
	}
	p.Conditions, p.Generation = &dg.Status.Conditions, dg.Generation
	return p
}

// Changed reports whether the status differs from the one fetched.
func (p *Pass) Changed() bool { return !equality.Semantic.DeepEqual(p.Orig, &p.DG.Status) }

// SessionsReset is how many SIM sessions this pass reset (their new
// addresses are worth looking at soon).
func (p *Pass) SessionsReset() int { return p.resetCount }

// adoptedGroupMissing is terminal: only a change of spec.group.id (or the
// group being created in the console) fixes it.
func (p *Pass) adoptedGroupMissing() error {
	return unit.Terminal(accessv1alpha1.ReasonGroupNotFound,
		fmt.Errorf("SORACOM group %s (spec.group.id) not found", p.DG.Spec.Group.ID))
}

// observeGroup finds the group once per pass (adopted, recorded, or by owner tag).
func (p *Pass) observeGroup(ctx context.Context) (*GroupObservation, error) {
	if p.group != nil {
		return p.group, nil
	}
	obs, err := GroupUnit{API: p.API}.Observe(ctx, p.Owner, p.DG.Spec.Group.ID, p.DG.Status.GroupID)
	if err != nil {
		return nil, err
	}
	if len(obs.Duplicates) > 0 {
		p.Log.Info("more than one SORACOM group carries this DeviceGroup's owner tag; using the oldest", "groupId", obs.Group.GroupID, "duplicates", obs.Duplicates)
		p.Event("Warning", "DuplicateGroups", "Observe", fmt.Sprintf("groups %s also carry this DeviceGroup's owner tag; using %s",
			strings.Join(obs.Duplicates, ", "), obs.Group.GroupID))
	}
	p.group = obs
	return obs, nil
}

// groupForDelete is the group to clean up: nil when there is none (an
// adopted group that is gone counts as adopted and absent).
func (p *Pass) groupForDelete(ctx context.Context) (*GroupObservation, error) {
	obs, err := p.observeGroup(ctx)
	if errors.Is(err, ErrAdoptedGroupNotFound) {
		p.group = &GroupObservation{Adopted: true}
		return p.group, nil
	}
	return obs, err
}

// observeMembers lists the group's SIMs (and the selected ones) once per pass.
func (p *Pass) observeMembers(ctx context.Context) (*MembershipObservation, error) {
	if p.members != nil {
		return p.members, nil
	}
	groupID := ""
	if p.group != nil && p.group.Group != nil {
		groupID = p.group.Group.GroupID
	}
	var selector map[string]string
	if !p.deleting() && p.DG.Spec.SIMSelector != nil {
		selector = p.DG.Spec.SIMSelector.Tags
	}
	obs, err := p.membership().Observe(ctx, groupID, selector)
	if err != nil {
		return nil, err
	}
	p.members = obs
	return obs, nil
}

func (p *Pass) membership() MembershipUnit { return MembershipUnit{API: p.API, Owners: p.Owners} }

func (p *Pass) deleting() bool { return !p.DG.DeletionTimestamp.IsZero() }

// resetSessions: delete_session on SIMs whose group (and so gateway) changed.
func (p *Pass) resetSessions() bool {
	return p.DG.Spec.ResetSessionsOnChange == nil || *p.DG.Spec.ResetSessionsOnChange
}

// groupName is the name tag of the group: spec.group.name or namespace/name.
func (p *Pass) groupName() string {
	if p.DG.Spec.Group.Name != "" {
		return p.DG.Spec.Group.Name
	}
	return p.DG.Namespace + "/" + p.DG.Name
}

func (p *Pass) groupID() string {
	if p.group == nil || p.group.Group == nil {
		return ""
	}
	return p.group.Group.GroupID
}

// routeSIMs are the SIMs of spec.lanRoutes.
func (p *Pass) routeSIMs() []string {
	out := make([]string, 0, len(p.DG.Spec.LANRoutes))
	for _, lr := range p.DG.Spec.LANRoutes {
		out = append(out, lr.SIMID)
	}
	return out
}
