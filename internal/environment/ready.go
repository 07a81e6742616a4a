package environment

import (
	"fmt"
	"strings"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/unit"
)

// SoracomChain is the SORACOM side in dependency order.
func SoracomChain() []Unit {
	return []Unit{Gateway{}, &Gate{}, Peering{}, &Routes{}, Network{}}
}

// AppStreamChain is the AppStream side; it does not wait for SORACOM.
func AppStreamChain() []Unit {
	return []Unit{&Stack{}, &Fleet{}, Association{}}
}

// DeletionOrder is the reverse dependency order: the users' streaming
// sessions end first, the gateway goes last.
func DeletionOrder() []Unit {
	return []Unit{Sessions{}, Association{}, &Fleet{}, &Stack{}, &Routes{}, Peering{}, &Gate{}, Gateway{}}
}

// unitConditions in the order a person should look at them.
var unitConditions = []string{accessv1alpha1.ConditionGatewayReady, accessv1alpha1.ConditionGateReady, accessv1alpha1.ConditionPeeringReady,
	accessv1alpha1.ConditionRoutesReady, accessv1alpha1.ConditionNetworkReady, accessv1alpha1.ConditionStackReady,
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
		conditions.True(conds, gen, accessv1alpha1.ConditionReady, accessv1alpha1.ReasonAvailable, "gateway, peering, routes, network, fleet and stack are ready")
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
