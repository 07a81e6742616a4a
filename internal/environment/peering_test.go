package environment_test

import (
	"testing"
	"time"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	awsemu "github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	soracomemu "github.com/gatestream/gatestream/internal/emulator/soracom"
	"github.com/gatestream/gatestream/internal/environment"
)

// The Canal peering is requested on SORACOM, waits for acceptance, is
// accepted on AWS, and deleted on SORACOM (which deletes it on AWS too).
func TestPeeringRequestAcceptDelete(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ready(environment.Gateway{})
	u := environment.Peering{}

	p := w.gatewayPass()
	wantObservation(t, "nothing yet", w.observe(u, p), false, false, false, "")
	w.must("Create", u.Create(w.ctx, p))
	obs := w.observe(u, p)
	wantObservation(t, "requested", obs, true, false, false, accessv1alpha1.ReasonPeeringPending)
	id := w.env.Status.Peering.ID
	pcx, ok := w.peering(id)
	if !ok || pcx.Status != awsemu.PeeringPendingAcceptance || pcx.AccepterVPCID != w.seed.VPCID || pcx.AccepterOwnerID != w.seed.AWSAccountID {
		t.Fatalf("peering %s on AWS = %+v; want pending acceptance into %s of %s", id, pcx, w.seed.VPCID, w.seed.AWSAccountID)
	}
	if v, _ := w.cloud.Soracom.VPG(w.env.Status.Gateway.ID); v.VPCPeeringConnections[id] != "10.0.0.0/16" {
		t.Fatalf("the VPG records peerings %v; want %s -> 10.0.0.0/16", v.VPCPeeringConnections, id)
	}

	w.must("Update", u.Update(w.ctx, p))
	wantObservation(t, "accepted", w.observe(u, w.gatewayPass()), true, true, true, "")
	if st := w.env.Status.Peering; st.ID != id || st.State != awsemu.PeeringActive {
		t.Fatalf("status.peering = %+v; want %s active", st, id)
	}
	// The next pass finds the same peering: nothing is requested twice.
	wantObservation(t, "next pass", w.observe(u, w.gatewayPass()), true, true, true, "")
	if n := w.calls(soracomAPI, soracomemu.OpCreateVPCPeering); n != 1 {
		t.Fatalf("%d peering requests, want 1", n)
	}

	w.deleteTwice(u)
	if pcx, ok := w.peering(id); ok && pcx.Status != awsemu.PeeringDeleted {
		t.Fatalf("peering %s is %s on AWS after Delete", id, pcx.Status)
	}
	if v, _ := w.cloud.Soracom.VPG(w.env.Status.Gateway.ID); len(v.VPCPeeringConnections) != 0 {
		t.Fatalf("the VPG still records %v", v.VPCPeeringConnections)
	}
	if n := w.calls(soracomAPI, soracomemu.OpDeleteVPCPeering); n != 1 {
		t.Fatalf("%d delete calls, want 1 (the second Delete found nothing to delete)", n)
	}
}

// A peering deleted on the AWS side is seen as missing, and requested again.
func TestPeeringDeletedOnAWSIsRequestedAgain(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	u := environment.Peering{}
	w.ready(environment.Gateway{}, u)
	old := w.env.Status.Peering.ID
	w.must("deleting on AWS", w.cloud.AWS.DeleteVpcPeeringConnection(old))
	wantObservation(t, "deleted outside", w.observe(u, w.gatewayPass()), false, false, false, "")
	if st := w.env.Status.Peering; st.ID != "" || st.State != "" {
		t.Fatalf("status.peering = %+v; want it cleared", st)
	}
	w.ready(environment.Gateway{}, u)
	if id := w.env.Status.Peering.ID; id == "" || id == old {
		t.Fatalf("peering %q after converging again; want a new one (old %s)", id, old)
	}
}

// Without a gateway there is no peering to delete.
func TestPeeringDeleteWithoutAGateway(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.deleteTwice(environment.Peering{})
	w.env.Status.Gateway = &accessv1alpha1.GatewayStatus{ID: "vpg-gone"}
	w.deleteTwice(environment.Peering{})
}

func TestPeeringErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ready(environment.Gateway{})
	u := environment.Peering{}
	w.fail(soracomAPI, soracomemu.OpCreateVPCPeering, fault.Throttle)
	wantVerdict(t, "Create throttled", u.Create(w.ctx, w.gatewayPass()), accessv1alpha1.ReasonThrottled, false)
	w.step(time.Minute) // past the wait the 429 announced: the client holds the request until then

	// SORACOM refuses a destination outside RFC 1918: the spec must change.
	w.env.Spec.Soracom.Canal.DestinationCIDRBlock = "8.8.0.0/16"
	wantVerdict(t, "Create refused", u.Create(w.ctx, w.gatewayPass()), accessv1alpha1.ReasonInvalidConfiguration, true)

	w.env = sampleEnv(t)
	w.ready(environment.Gateway{}, u)
	w.fail(ec2API, "DescribeVpcPeeringConnections", fault.ServerError)
	_, err := u.Observe(w.ctx, w.gatewayPass())
	wantVerdict(t, "Observe on a 500", err, accessv1alpha1.ReasonAPIError, false)
}
