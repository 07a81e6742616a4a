package environment

import (
	"fmt"
	"strings"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/unit"
)

// SoracomChain is the network side in dependency order: the gateway and its
// Gate, the peering and the tunnel's routes, the routers, the routes to them,
// Junction, and last the path check over all of it.
func SoracomChain(env *accessv1alpha1.RemoteAccessEnvironment) []Unit {
	units := []Unit{Gateway{}, &Gate{}, Peering{}, &Routes{}, RetiredRouters{}}
	for slot := range routerSlots(env) {
		units = append(units, Router{Slot: slot})
	}
	return append(units, &DeviceRoutes{}, Junction{}, Network{})
}

// AppStreamChain is the AppStream side; it does not wait for SORACOM.
func AppStreamChain() []Unit {
	return []Unit{&Stack{}, &Fleet{}, Association{}}
}

// DeletionOrder is the reverse dependency order: the users' streaming
// sessions end first, the gateway goes last.
func DeletionOrder(env *accessv1alpha1.RemoteAccessEnvironment) []Unit {
	units := []Unit{Sessions{}, Association{}, &Fleet{}, &Stack{}, Junction{}, &DeviceRoutes{}}
	for slot := range max(routerSlots(env), len(env.Status.Routers)) {
		units = append(units, Router{Slot: slot})
	}
	return append(units, &Routes{}, Peering{}, &Gate{}, Gateway{})
}

// unitConditions in the order a person should look at them.
var unitConditions = []string{accessv1alpha1.ConditionGatewayReady, accessv1alpha1.ConditionGateReady, accessv1alpha1.ConditionPeeringReady,
	accessv1alpha1.ConditionRoutesReady, accessv1alpha1.ConditionRouterReady, accessv1alpha1.ConditionDeviceRoutesReady,
	accessv1alpha1.ConditionJunctionReady, accessv1alpha1.ConditionNetworkReady, accessv1alpha1.ConditionStackReady,
	accessv1alpha1.ConditionFleetReady, accessv1alpha1.ConditionAssociationReady}

// SetReady computes the Ready condition from the units' conditions: True only
// when every unit is ready; otherwise it names the first unit that is not,
// with its reason and message. A deleting environment keeps the Ready=False
// Deleting message that says what blocks it.
func SetReady(env *accessv1alpha1.RemoteAccessEnvironment, out unit.Outcome) {
	conds, gen := &env.Status.Conditions, env.Generation
	switch {
	case !env.DeletionTimestamp.IsZero():
	case out.Ready && out.Err == nil:
		msg := "gateway, peering, router, routes, fleet and stack are ready, and the path from the fleet to the device subnet checks out hop by hop"
		if f := env.Status.Fleet; SizedByDemand(env) && (f == nil || f.State != "RUNNING" || f.Running == 0) {
			// Say what was observed: no instance runs now; sessions start
			// the fleet and wait for capacity (WaitingForCapacity).
			state := "not running"
			if f != nil && f.State != "" {
				state = f.State
			}
			msg = fmt.Sprintf("gateway, peering, router, routes and stack are ready, and the path from the fleet's subnets to the device subnet checks out hop by hop; "+
				"the fleet is %s with no instance running (capacity Demand): a session starts it and waits for an instance", state)
		}
		conditions.True(conds, gen, accessv1alpha1.ConditionReady, accessv1alpha1.ReasonAvailable, msg)
	default:
		conditions.False(conds, gen, accessv1alpha1.ConditionReady, accessv1alpha1.ReasonNotReady, notReadyMessage(env, out.Err))
	}
}

func notReadyMessage(env *accessv1alpha1.RemoteAccessEnvironment, err error) string {
	for _, t := range unitConditions {
		if c := conditions.Get(env.Status.Conditions, t); c != nil && c.Status != "True" && c.Reason != accessv1alpha1.ReasonWaitingForDependency {
			return fmt.Sprintf("%s: %s", t, strings.TrimSpace(c.Reason+" "+c.Message))
		}
	}
	if err != nil {
		return unit.Message(err)
	}
	return "converging"
}
