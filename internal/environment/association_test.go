package environment_test

import (
	"slices"
	"testing"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	"github.com/gatestream/gatestream/internal/environment"
)

// The fleet is associated with the stack, again after someone disassociated
// it, and disassociated on delete.
func TestAssociationAssociateRepairDelete(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ready(&environment.Fleet{}, &environment.Stack{})
	stack, fleet := environment.StackName(w.env), environment.FleetName(w.env)
	u := environment.Association{}
	p := w.pass()
	wantObservation(t, "not associated", w.observe(u, p), false, false, false, "")
	if w.env.Status.Stack.Associated {
		t.Fatal("status.stack.associated before the association")
	}
	w.must("Create", u.Create(w.ctx, p))
	wantObservation(t, "associated", w.observe(u, p), true, true, true, "")
	if fleets, _ := w.aws.AppStream.ListAssociatedFleets(w.ctx, stack); !slices.Equal(fleets, []string{fleet}) || !w.env.Status.Stack.Associated {
		t.Fatalf("stack %s has fleets %v (status associated %v); want [%s]", stack, fleets, w.env.Status.Stack.Associated, fleet)
	}

	w.must("drift", w.aws.AppStream.DisassociateFleet(w.ctx, stack, fleet))
	w.ready(u)
	if fleets, _ := w.aws.AppStream.ListAssociatedFleets(w.ctx, stack); !slices.Equal(fleets, []string{fleet}) {
		t.Fatalf("not associated again: %v", fleets)
	}

	w.deleteTwice(u)
	if fleets, _ := w.aws.AppStream.ListAssociatedFleets(w.ctx, stack); len(fleets) != 0 {
		t.Fatalf("still associated: %v", fleets)
	}
	if n := w.calls(appStreamAPI, "DisassociateFleet"); n != 2 {
		t.Fatalf("%d DisassociateFleet calls, want 2 (the drift and one Delete)", n)
	}
	// Without the stack there is nothing to disassociate.
	w.deleteTwice(&environment.Stack{})
	w.deleteTwice(u)
}

func TestAssociationErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	u := environment.Association{}
	w.ready(&environment.Fleet{}, &environment.Stack{})
	w.fail(appStreamAPI, "AssociateFleet", fault.ServerError)
	wantVerdict(t, "Create on a 500", u.Create(w.ctx, w.pass()), accessv1alpha1.ReasonAPIError, false)
	// A fleet not there (yet) is retried, not a spec error: the fleet unit runs first.
	w.env.Spec.AppStream.Fleet.Name = "no-such-fleet"
	wantVerdict(t, "Create with a missing fleet", u.Create(w.ctx, w.pass()), accessv1alpha1.ReasonAPIError, false)
	// Last: a throttle slows the AWS client's adaptive rate for the calls after it.
	w.fail(appStreamAPI, "ListAssociatedFleets", fault.Throttle)
	_, err := u.Observe(w.ctx, w.pass())
	wantVerdict(t, "Observe throttled", err, accessv1alpha1.ReasonThrottled, false)
}
