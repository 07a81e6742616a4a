package environment_test

import (
	"testing"
	"time"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	soracomemu "github.com/gatestream/gatestream/internal/emulator/soracom"
	"github.com/gatestream/gatestream/internal/environment"
	"github.com/gatestream/gatestream/internal/soracom"
)

// A VPG is created tagged with the environment's UID, reported Creating until
// it runs, found again by its tag when its ID was lost, terminated on delete.
func TestGatewayCreateObserveDelete(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	u := environment.Gateway{}
	p := w.pass()
	wantObservation(t, "nothing yet", w.observe(u, p), false, false, false, "")

	w.must("Create", u.Create(w.ctx, p))
	st := w.env.Status.Gateway
	if st == nil || st.ID == "" {
		t.Fatalf("status.gateway after Create = %+v; want the new ID", st)
	}
	vpg, ok := w.cloud.Soracom.VPG(st.ID)
	if !ok || vpg.Tags[accessv1alpha1.TagOwnerUID] != string(w.env.UID) || vpg.Type != soracom.VPGTypeF ||
		vpg.DeviceSubnetCidrRange != "10.128.0.0/9" || vpg.UseInternetGateway {
		t.Fatalf("created VPG %+v; want Type-F, 10.128.0.0/9, no internet gateway, tagged %s=%s", vpg, accessv1alpha1.TagOwnerUID, w.env.UID)
	}
	w.wantEvents(t, 0, "GatewayCreated")
	wantObservation(t, "while creating", w.observe(u, w.pass()), true, true, false, accessv1alpha1.ReasonCreating)

	w.step(vpgDelay)
	wantObservation(t, "running", w.observe(u, w.pass()), true, true, true, "")
	if st := w.env.Status.Gateway; st.Status != soracom.VPGStatusRunning || st.VPGSubnetCIDRRange != vpg.VPGSubnetCidrRange || st.GateOpened {
		t.Fatalf("status.gateway = %+v; want running, range %s, Gate closed", st, vpg.VPGSubnetCidrRange)
	}

	// A status write lost after the create: the tag finds the same VPG.
	id := st.ID
	w.env.Status.Gateway = nil
	wantObservation(t, "after the ID was lost", w.observe(u, w.pass()), true, true, true, "")
	if w.env.Status.Gateway.ID != id || w.cloud.Soracom.VPGsEverCreated() != 1 {
		t.Fatalf("found %q (want %s); %d VPGs ever created, want 1", w.env.Status.Gateway.ID, id, w.cloud.Soracom.VPGsEverCreated())
	}

	gone, err := u.Delete(w.ctx, w.pass())
	if gone || err != nil {
		t.Fatalf("first Delete = %v, %v; want not gone yet (terminating)", gone, err)
	}
	if v, _ := w.cloud.Soracom.VPG(id); v.Status != soracom.VPGStatusTerminating {
		t.Fatalf("VPG %s is %s after Delete, want terminating", id, v.Status)
	}
	if gone, err := u.Delete(w.ctx, w.pass()); gone || err != nil || w.calls(soracomAPI, soracomemu.OpTerminateVPG) != 1 {
		t.Fatalf("Delete while terminating = %v, %v with %d terminate calls; want not gone, one call", gone, err, w.calls(soracomAPI, soracomemu.OpTerminateVPG))
	}
	w.deleteTwice(u)
	if _, ok := w.cloud.Soracom.VPG(id); ok {
		t.Fatalf("VPG %s still exists", id)
	}
}

// A VPG terminated outside gatestream is forgotten (with a warning Event), so
// that the next pass creates a new one.
func TestGatewayTerminatedOutsideIsForgotten(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	u := environment.Gateway{}
	w.ready(u)
	id := w.env.Status.Gateway.ID
	w.must("terminating in the console", w.cloud.Soracom.TerminateVPG(id))
	w.step(vpgDelay)
	mark := len(w.events)
	wantObservation(t, "after termination", w.observe(u, w.pass()), false, false, false, "")
	if st := w.env.Status.Gateway; st.ID != "" || st.Status != "" || st.VPGSubnetCIDRRange != "" {
		t.Fatalf("status.gateway = %+v; want it forgotten", st)
	}
	w.wantEvents(t, mark, "GatewayGone")
}

// An adopted VPG is read, never terminated; a missing one waits for a person.
func TestGatewayAdopted(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	theirs, err := w.sor.CreateVirtualPrivateGateway(w.ctx, &soracom.CreateVirtualPrivateGatewayRequest{Type: soracom.VPGTypeF})
	w.must("creating someone else's VPG", err)
	w.step(vpgDelay)
	w.env.Spec.Soracom.Gateway.ID = theirs.VPGID
	u := environment.Gateway{}
	wantObservation(t, "adopted", w.observe(u, w.pass()), true, true, true, "")
	if st := w.env.Status.Gateway; st.ID != theirs.VPGID || !st.Adopted {
		t.Fatalf("status.gateway = %+v; want %s adopted", st, theirs.VPGID)
	}
	w.deleteTwice(u)
	if v, ok := w.cloud.Soracom.VPG(theirs.VPGID); !ok || v.Status != soracom.VPGStatusRunning || w.calls(soracomAPI, soracomemu.OpTerminateVPG) != 0 {
		t.Fatalf("the adopted VPG was touched: %+v (%d terminate calls)", v, w.calls(soracomAPI, soracomemu.OpTerminateVPG))
	}

	w.env = sampleEnv(t)
	w.env.Spec.Soracom.Gateway.ID = "vpg-doesnotexist"
	obs := w.observe(u, w.pass())
	wantObservation(t, "adopting a missing VPG", obs, true, true, false, accessv1alpha1.ReasonGatewayNotFound)
	if obs.Wait >= 0 {
		t.Fatalf("wait %v; want the poll interval (negative): only a person can fix the spec", obs.Wait)
	}
}

// SORACOM's throttling and server errors reach the runner classified, and a
// refused create leaves nothing behind.
func TestGatewayErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	u := environment.Gateway{}
	w.fail(soracomAPI, soracomemu.OpListVPGs, fault.Throttle)
	_, err := u.Observe(w.ctx, w.pass())
	wantVerdict(t, "Observe throttled", err, accessv1alpha1.ReasonThrottled, false)
	w.step(time.Minute) // past the wait the 429 announced: the client holds the request until then

	w.fail(soracomAPI, soracomemu.OpCreateVPG, fault.ServerError)
	wantVerdict(t, "Create on a 500", u.Create(w.ctx, w.pass()), accessv1alpha1.ReasonAPIError, false)
	if n := w.cloud.Soracom.VPGsEverCreated(); n != 0 {
		t.Fatalf("%d VPGs created by a call that failed with 500", n)
	}

	w.env.Spec.Soracom.Gateway.Region = "mars-north-1"
	wantVerdict(t, "Create in an unknown region", u.Create(w.ctx, w.pass()), accessv1alpha1.ReasonInvalidConfiguration, true)

	w.env = sampleEnv(t)
	w.ready(u)
	w.wantDeleteFails(u, soracomAPI, soracomemu.OpTerminateVPG, fault.Unavailable, accessv1alpha1.ReasonAPIError)
}
