package environment_test

import (
	"slices"
	"strings"
	"testing"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	"github.com/gatestream/gatestream/internal/environment"
)

// The route to the VPG's range via the peering is added to every listed
// table, put back when deleted outside, taken out of a table no longer
// listed, and removed on delete (only ours).
func TestRoutesAddRepairRemoveDelete(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.cloud.AWS.AddRouteTable("rtb-0second", w.seed.VPCID)
	w.env.Spec.AWS.RouteTableIDs = []string{w.seed.RouteTableID, "rtb-0second"}
	w.ready(environment.Gateway{}, environment.Peering{})
	dest, pcx := w.env.Status.Gateway.VPGSubnetCIDRRange, w.env.Status.Peering.ID
	u := &environment.Routes{}

	p := w.pass()
	obs := w.observe(u, p)
	wantObservation(t, "no routes yet", obs, true, false, true, "")
	if !strings.Contains(obs.Message, "missing in "+w.seed.RouteTableID+", rtb-0second") {
		t.Fatalf("message %q does not name both tables", obs.Message)
	}
	w.must("Create", u.Create(w.ctx, p))
	wantObservation(t, "routed", w.observe(u, w.pass()), true, true, true, "")
	for _, rtb := range w.env.Spec.AWS.RouteTableIDs {
		if via := w.routeVia(rtb, dest); via != pcx {
			t.Fatalf("%s routes %s via %q, want %s", rtb, dest, via, pcx)
		}
	}
	if got := w.env.Status.Peering.RouteTableIDs; !slices.Equal(got, []string{w.seed.RouteTableID, "rtb-0second"}) {
		t.Fatalf("status.peering.routeTableIds = %v", got)
	}

	// Deleted in the console: put back.
	w.must("drift", w.aws.EC2.DeleteRoute(w.ctx, w.seed.RouteTableID, dest))
	p = w.pass()
	wantObservation(t, "route deleted outside", w.observe(u, p), true, false, true, "")
	w.must("Update", u.Update(w.ctx, p))
	if via := w.routeVia(w.seed.RouteTableID, dest); via != pcx {
		t.Fatalf("route not put back: via %q", via)
	}

	// A table dropped from the spec loses our route.
	w.env.Spec.AWS.RouteTableIDs = []string{w.seed.RouteTableID}
	p = w.pass()
	obs = w.observe(u, p)
	wantObservation(t, "table dropped", obs, true, false, true, "")
	if !strings.Contains(obs.Message, "to remove from rtb-0second") {
		t.Fatalf("message %q does not name the dropped table", obs.Message)
	}
	w.must("Update", u.Update(w.ctx, p))
	wantObservation(t, "after removal", w.observe(u, w.pass()), true, true, true, "")
	if via := w.routeVia("rtb-0second", dest); via != "" {
		t.Fatalf("rtb-0second still routes %s via %s", dest, via)
	}
	if got := w.env.Status.Peering.RouteTableIDs; !slices.Equal(got, []string{w.seed.RouteTableID}) {
		t.Fatalf("status.peering.routeTableIds = %v after removal", got)
	}

	// Delete removes only routes via our peering: with another one recorded,
	// the route via pcx is not ours.
	w.env.Status.Peering.ID = "pcx-0notours"
	if gone, err := u.Delete(w.ctx, w.pass()); !gone || err != nil || w.routeVia(w.seed.RouteTableID, dest) != pcx {
		t.Fatalf("Delete with another peering recorded = %v, %v, route via %q; it must not touch the route via %s",
			gone, err, w.routeVia(w.seed.RouteTableID, dest), pcx)
	}
	w.env.Status.Peering.ID = pcx
	// Nor a route in a table that is neither listed nor recorded.
	w.must("a route in another table", w.aws.EC2.CreateRoute(w.ctx, "rtb-0second", dest, pcx))
	deletes := w.calls(ec2API, "DeleteRoute")
	w.deleteTwice(u)
	if via := w.routeVia(w.seed.RouteTableID, dest); via != "" {
		t.Fatalf("%s still routes %s via %s", w.seed.RouteTableID, dest, via)
	}
	if via := w.routeVia("rtb-0second", dest); via != pcx {
		t.Fatalf("rtb-0second (no longer ours) lost its route: via %q", via)
	}
	if n := w.calls(ec2API, "DeleteRoute") - deletes; n != 1 {
		t.Fatalf("%d DeleteRoute calls, want 1 (the second Delete found nothing)", n)
	}
}

// Routes are only ever created via a recorded peering: without one there is
// nothing to delete.
func TestRoutesDeleteWithoutAPeering(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.deleteTwice(&environment.Routes{})
	if n := w.calls(ec2API, fault.Any); n != 0 {
		t.Fatalf("%d EC2 calls without a peering", n)
	}
}

func TestRoutesErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ready(environment.Gateway{}, environment.Peering{})
	u := &environment.Routes{}

	// A listed table that does not exist, or is in another VPC: the spec must change.
	w.env.Spec.AWS.RouteTableIDs = []string{w.seed.RouteTableID, "rtb-0404040404"}
	_, err := u.Observe(w.ctx, w.pass())
	wantVerdict(t, "a missing table", err, accessv1alpha1.ReasonRouteTableNotFound, true)
	w.cloud.AWS.AddVPC("vpc-0other", "10.9.0.0/16")
	w.cloud.AWS.AddRouteTable("rtb-0other", "vpc-0other")
	w.env.Spec.AWS.RouteTableIDs = []string{"rtb-0other"}
	_, err = u.Observe(w.ctx, w.pass())
	wantVerdict(t, "a table of another VPC", err, accessv1alpha1.ReasonRouteTableNotFound, true)

	w.env.Spec.AWS.RouteTableIDs = []string{w.seed.RouteTableID}
	p := w.pass()
	w.observe(u, p)
	w.fail(ec2API, "CreateRoute", fault.ServerError)
	wantVerdict(t, "Create on a 500", u.Create(w.ctx, p), accessv1alpha1.ReasonAPIError, false)
	// Last: a throttle slows the AWS client's adaptive rate for the calls after it.
	w.fail(ec2API, "DescribeRouteTables", fault.Throttle)
	_, err = u.Observe(w.ctx, w.pass())
	wantVerdict(t, "Observe throttled", err, accessv1alpha1.ReasonThrottled, false)
}
