package devicegroup

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/unit"
)

// GatewayID is the environment's observed VPG id ("" when none yet).
func GatewayID(env *accessv1alpha1.RemoteAccessEnvironment) string {
	if env == nil || env.Status.Gateway == nil {
		return ""
	}
	return env.Status.Gateway.ID
}

// EnvironmentNotFound is terminal: the DeviceGroup names an environment that
// does not exist (a change of either object brings a pass).
func EnvironmentNotFound(dg *accessv1alpha1.DeviceGroup) error {
	return unit.Terminal(accessv1alpha1.ReasonEnvironmentNotFound,
		fmt.Errorf("RemoteAccessEnvironment %q not found in namespace %s", dg.Spec.EnvironmentRef.Name, dg.Namespace))
}

// WaitForEnvironment reports, when the environment is not Ready or has no
// gateway yet, that nothing is changed in SORACOM until it is; it returns
// false then. Synced keeps what the last pass that reached SORACOM said.
func WaitForEnvironment(dg *accessv1alpha1.DeviceGroup, env *accessv1alpha1.RemoteAccessEnvironment) bool {
	if conditions.IsTrue(env.Status.Conditions, accessv1alpha1.ConditionReady) && GatewayID(env) != "" {
		return true
	}
	conds, gen := &dg.Status.Conditions, dg.Generation
	msg := fmt.Sprintf("waiting for RemoteAccessEnvironment %q to become Ready (with a gateway); nothing is changed in SORACOM until then", env.Name)
	conditions.False(conds, gen, accessv1alpha1.ConditionReady, accessv1alpha1.ReasonEnvironmentNotReady, msg)
	if c := conditions.Get(*conds, accessv1alpha1.ConditionSynced); c == nil {
		conditions.Unknown(conds, gen, accessv1alpha1.ConditionSynced, accessv1alpha1.ReasonEnvironmentNotReady, msg)
	} else {
		// Unchanged, but it describes this generation too.
		conditions.Set(conds, gen, c.Type, c.Status, c.Reason, c.Message)
	}
	return false
}

// NothingOutside reports whether nothing was ever created or changed in
// SORACOM for dg (its finalizer can go without a clean-up).
func NothingOutside(dg *accessv1alpha1.DeviceGroup) bool {
	return dg.Status.GroupID == "" && dg.Status.CreatePendingSince == nil && len(dg.Status.Members) == 0
}

// DeletionBlocked says why the clean-up cannot run and what to do.
func DeletionBlocked(dg *accessv1alpha1.DeviceGroup, err error) {
	what := "group " + dg.Status.GroupID + " cannot be cleaned up"
	msg := unit.Message(err) + "; " + what + "; restore it, or set spec.deletionPolicy to Orphan to delete without cleanup"
	switch {
	case unit.Reason(err) == accessv1alpha1.ReasonEnvironmentNotFound:
		msg = fmt.Sprintf("RemoteAccessEnvironment %q is gone, so its SORACOM credentials are unknown and %s; set spec.deletionPolicy to Orphan to delete without cleanup",
			dg.Spec.EnvironmentRef.Name, what)
	case !clients.IsCredentialsError(err):
		msg = "cleaning up the SORACOM group: " + unit.Message(err)
	}
	conditions.False(&dg.Status.Conditions, dg.Generation, accessv1alpha1.ConditionReady, accessv1alpha1.ReasonDeletionBlocked, msg)
}

// EnvironmentChanged passes the environment events a DeviceGroup cares about:
// creation, deletion, and updates of its Ready condition, gateway id or
// SORACOM settings (not every fleet or peering status change).
func EnvironmentChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*accessv1alpha1.RemoteAccessEnvironment)
			n, ok2 := e.ObjectNew.(*accessv1alpha1.RemoteAccessEnvironment)
			if !ok1 || !ok2 {
				return true
			}
			return conditions.IsTrue(o.Status.Conditions, accessv1alpha1.ConditionReady) != conditions.IsTrue(n.Status.Conditions, accessv1alpha1.ConditionReady) ||
				GatewayID(o) != GatewayID(n) ||
				!equality.Semantic.DeepEqual(devicePaths(o), devicePaths(n)) ||
				!equality.Semantic.DeepEqual(o.Spec.Soracom, n.Spec.Soracom) ||
				!o.DeletionTimestamp.Equal(n.DeletionTimestamp)
		},
	}
}

// ResolveEnvironment reads the referenced environment, its gateway and the
// SORACOM client. ok is false when the pass cannot go on: with an error, or
// waiting (conditions set) for the environment to become Ready. A deleting
// DeviceGroup cleans up on the gateway it was bound to.
func (p *Pass) ResolveEnvironment(ctx context.Context, c client.Reader, f *clients.Factory) (ok bool, err error) {
	var env accessv1alpha1.RemoteAccessEnvironment
	if err := c.Get(ctx, types.NamespacedName{Namespace: p.DG.Namespace, Name: p.DG.Spec.EnvironmentRef.Name}, &env); err != nil {
		if apierrors.IsNotFound(err) {
			return false, EnvironmentNotFound(p.DG)
		}
		return false, err
	}
	p.VPGID = GatewayID(&env)
	if env.Status.Path != nil {
		p.paths = env.Status.Path.Devices
	}
	if p.deleting() && p.DG.Status.GatewayID != "" {
		p.VPGID = p.DG.Status.GatewayID
	} else if !p.deleting() && !WaitForEnvironment(p.DG, &env) {
		return false, nil
	}
	if p.API, err = f.Soracom(ctx, p.DG.Namespace, env.Spec.Soracom); err != nil {
		return false, err
	}
	return true, nil
}

func devicePaths(env *accessv1alpha1.RemoteAccessEnvironment) []accessv1alpha1.DevicePath {
	if env.Status.Path == nil {
		return nil
	}
	return env.Status.Path.Devices
}
