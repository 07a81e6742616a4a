package devicegroup

import (
	"fmt"
	"sort"

	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corev1 "k8s.io/api/core/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/unit"
)

// maxListed bounds the SIM ids named in one condition message.
const maxListed = 5

// MembershipReadiness says whether every SIM of spec.sims is a member, and if
// not, why (reason "" when all are).
func MembershipReadiness(dg *accessv1alpha1.DeviceGroup, res *MembershipResult) (reason, message string) {
	listed := newSet(dg.Spec.SIMs...)
	var notFound, conflicting, missing []string
	for _, id := range res.NotFound {
		if listed.has(id) {
			notFound = append(notFound, id)
		}
	}
	for _, c := range res.Conflicts {
		if listed.has(c.SIMID) {
			conflicting = append(conflicting, c.SIMID)
		}
	}
	for _, id := range dg.Spec.SIMs {
		if _, in := res.InGroup[id]; !in {
			missing = append(missing, id)
		}
	}
	switch {
	case len(notFound) > 0:
		return accessv1alpha1.ReasonSIMNotFound, "SIM(s) not found in the SORACOM account: " + ListSome(notFound)
	case len(conflicting) > 0:
		return accessv1alpha1.ReasonSIMConflict, "SIM(s) held by another DeviceGroup (see the Conflict condition): " + ListSome(conflicting)
	case len(missing) > 0:
		return accessv1alpha1.ReasonNotReady, fmt.Sprintf("SIM(s) not in group %s yet: %s", dg.Status.GroupID, ListSome(missing))
	}
	return "", fmt.Sprintf("group %s is bound to gateway %s with %d wanted SIM(s) in it",
		dg.Status.GroupID, dg.Status.GatewayID, len(res.Wanted)-len(res.NotFound)-len(res.Conflicts))
}

// conflictCondition reports the wanted SIMs left in other DeviceGroups' groups.
func conflictCondition(p *Pass, conflicts []Conflict) {
	if len(conflicts) == 0 {
		conditions.False(p.Conditions, p.Generation, accessv1alpha1.ConditionConflict, accessv1alpha1.ReasonNoConflict, "")
		return
	}
	parts := make([]string, 0, maxListed)
	for i, c := range conflicts {
		if i == maxListed {
			parts = append(parts, fmt.Sprintf("and %d more", len(conflicts)-i))
			break
		}
		parts = append(parts, fmt.Sprintf("SIM %s is in group %s of DeviceGroup %s", c.SIMID, c.GroupID, c.Owner))
	}
	msg := strings.Join(parts, "; ") + "; left where they are"
	if conditions.True(p.Conditions, p.Generation, accessv1alpha1.ConditionConflict, accessv1alpha1.ReasonSIMConflict, msg) {
		p.Event(corev1.EventTypeWarning, accessv1alpha1.ReasonSIMConflict, "SetGroup", msg)
	}
}

// unitConditions in chain order.
var unitConditions = []string{accessv1alpha1.ConditionGroupReady, accessv1alpha1.ConditionBindingReady,
	accessv1alpha1.ConditionMembershipReady, accessv1alpha1.ConditionRoutesReady}

// SetReady computes Ready from the units' conditions: True when every unit is
// ready, with the membership's summary; otherwise the first unit that is not,
// with its reason and message. A transient error leaves a Ready group Ready
// (the devices are still reachable); anything else says why it is not.
func SetReady(dg *accessv1alpha1.DeviceGroup, out unit.Outcome) {
	conds, gen := &dg.Status.Conditions, dg.Generation
	switch {
	case !dg.DeletionTimestamp.IsZero():
		// Deleting: the finalizer's Ready=False message says what blocks it.
		return
	case out.Err != nil && !unit.IsTerminal(out.Err) && conditions.IsTrue(*conds, accessv1alpha1.ConditionReady):
		c := conditions.Get(*conds, accessv1alpha1.ConditionReady)
		conditions.True(conds, gen, c.Type, c.Reason, c.Message)
		return
	case out.Err != nil:
		v := unit.Classify(out.Err)
		conditions.False(conds, gen, accessv1alpha1.ConditionReady, v.Reason, v.Message)
		return
	}
	for _, t := range unitConditions {
		c := conditions.Get(*conds, t)
		if c == nil || c.Status == metav1.ConditionTrue || c.Reason == accessv1alpha1.ReasonWaitingForDependency {
			continue
		}
		conditions.False(conds, gen, accessv1alpha1.ConditionReady, c.Reason, c.Message)
		return
	}
	if !out.Ready {
		conditions.False(conds, gen, accessv1alpha1.ConditionReady, accessv1alpha1.ReasonNotReady, "converging")
		return
	}
	msg := ""
	if c := conditions.Get(*conds, accessv1alpha1.ConditionMembershipReady); c != nil {
		msg = c.Message
	}
	conditions.True(conds, gen, accessv1alpha1.ConditionReady, accessv1alpha1.ReasonAvailable, msg)
}

// ListSome names up to maxListed ids, sorted.
func ListSome(ids []string) string {
	ids = append([]string(nil), ids...)
	sort.Strings(ids)
	if len(ids) <= maxListed {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:maxListed], ", ") + fmt.Sprintf(" and %d more", len(ids)-maxListed)
}
