package environment_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	soracomemu "github.com/gatestream/gatestream/internal/emulator/soracom"
	"github.com/gatestream/gatestream/internal/environment"
	"github.com/gatestream/gatestream/internal/soracom"
)

// Gate is opened as the spec says, its peers registered, drift put back, and
// on delete our peers go and Gate is closed.
func TestGateOpenDriftClose(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ready(environment.Gateway{})
	id := w.env.Status.Gateway.ID
	u := &environment.Gate{}

	p := w.gatewayPass()
	wantObservation(t, "Gate closed", w.observe(u, p), false, false, false, "")
	w.must("Create", u.Create(w.ctx, p))
	if v, _ := w.cloud.Soracom.VPG(id); !v.GateOpened || v.GateVxlanID != 10 || !v.GatePrivacySeparatorEnabled {
		t.Fatalf("after Create: Gate open %v, VXLAN %d, privacy separator %v; want open, 10, on", v.GateOpened, v.GateVxlanID, v.GatePrivacySeparatorEnabled)
	}
	obs := w.observe(u, p)
	wantObservation(t, "open, peer missing", obs, true, false, true, "")
	if !strings.Contains(obs.Message, "missing Gate peers 10.0.1.10") {
		t.Fatalf("message %q does not name the missing peer", obs.Message)
	}
	w.must("Update", u.Update(w.ctx, p))
	wantObservation(t, "converged", w.observe(u, p), true, true, true, "")
	if got := w.customerPeers(id); !slices.Equal(got, []string{"10.0.1.10"}) {
		t.Fatalf("customer peers %v, want [10.0.1.10]", got)
	}
	if st := w.env.Status.Gateway; !st.GateOpened || !slices.Equal(st.GatePeers, []string{"10.0.1.10"}) {
		t.Fatalf("status.gateway = %+v; want Gate open and peer 10.0.1.10 recorded", st)
	}

	// Someone turns the privacy separator off and removes the peers in the console.
	w.must("drift", w.cloud.Soracom.SetPrivacySeparator(id, false))
	w.must("drift", w.cloud.Soracom.RemoveGatePeers(id))
	p = w.gatewayPass()
	obs = w.observe(u, p)
	wantObservation(t, "drifted", obs, true, false, true, "")
	for _, want := range []string{"privacy separator is false", "missing Gate peers 10.0.1.10"} {
		if !strings.Contains(obs.Message, want) {
			t.Errorf("drift message %q does not say %q", obs.Message, want)
		}
	}
	w.must("Update", u.Update(w.ctx, p))
	wantObservation(t, "put back", w.observe(u, w.gatewayPass()), true, true, true, "")
	if v, _ := w.cloud.Soracom.VPG(id); !v.GatePrivacySeparatorEnabled || !slices.Equal(w.customerPeers(id), []string{"10.0.1.10"}) {
		t.Fatalf("privacy separator %v, peers %v after Update", v.GatePrivacySeparatorEnabled, w.customerPeers(id))
	}

	// Switched off in the spec: Update closes it.
	w.env.Spec.Soracom.Gateway.Gate.Enabled = ptr.To(false)
	p = w.gatewayPass()
	wantObservation(t, "to close", w.observe(u, p), true, false, true, "")
	w.must("Update", u.Update(w.ctx, p))
	if v, _ := w.cloud.Soracom.VPG(id); v.GateOpened || w.env.Status.Gateway.GateOpened {
		t.Fatalf("Gate open %v, status.gateway.gateOpened %v after closing", v.GateOpened, w.env.Status.Gateway.GateOpened)
	}
	wantObservation(t, "closed as asked", w.observe(u, w.gatewayPass()), true, true, true, "")

	// Open again, then delete: peers unregistered, Gate closed, twice is fine.
	w.env.Spec.Soracom.Gateway.Gate.Enabled = ptr.To(true)
	w.ready(environment.Gateway{}, u)
	w.deleteTwice(u)
	if v, _ := w.cloud.Soracom.VPG(id); v.GateOpened || len(w.customerPeers(id)) != 0 {
		t.Fatalf("after Delete: Gate open %v, peers %v", v.GateOpened, w.customerPeers(id))
	}
}

// On an adopted (shared) gateway only the peers this environment registered
// go: others' peers stay and Gate stays open.
func TestGateOnAnAdoptedGatewayKeepsOthers(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	shared, err := w.sor.CreateVirtualPrivateGateway(w.ctx, &soracom.CreateVirtualPrivateGatewayRequest{Type: soracom.VPGTypeF})
	w.must("creating the shared VPG", err)
	w.step(vpgDelay)
	w.must("opening Gate", w.sor.OpenGate(w.ctx, shared.VPGID, 10, true))
	_, err = w.sor.RegisterGatePeer(w.ctx, shared.VPGID, &soracom.RegisterGatePeerRequest{OuterIPAddress: "10.0.1.99"})
	w.must("registering another team's peer", err)

	w.env.Spec.Soracom.Gateway.ID = shared.VPGID
	u := &environment.Gate{}
	w.ready(environment.Gateway{}, u)
	if got := w.customerPeers(shared.VPGID); !slices.Equal(got, []string{"10.0.1.10", "10.0.1.99"}) {
		t.Fatalf("peers %v; want ours added beside theirs", got)
	}
	w.deleteTwice(u)
	v, _ := w.cloud.Soracom.VPG(shared.VPGID)
	if got := w.customerPeers(shared.VPGID); !v.GateOpened || !slices.Equal(got, []string{"10.0.1.99"}) {
		t.Fatalf("after Delete: Gate open %v, peers %v; want open with only 10.0.1.99", v.GateOpened, got)
	}
}

// Without a gateway, or with one that is gone, there is nothing to delete.
func TestGateDeleteWithoutAGateway(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.deleteTwice(&environment.Gate{})
	w.env.Status.Gateway = &accessv1alpha1.GatewayStatus{ID: "vpg-gone"}
	w.deleteTwice(&environment.Gate{})
	if n := w.calls(soracomAPI, soracomemu.OpCloseGate) + w.calls(soracomAPI, soracomemu.OpUnregisterGatePeer); n != 0 {
		t.Fatalf("%d Gate writes for a gateway that does not exist", n)
	}
}

func TestGateErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	u := &environment.Gate{}
	w.ready(environment.Gateway{}, u)
	w.fail(soracomAPI, soracomemu.OpListGatePeers, fault.Throttle)
	_, err := u.Observe(w.ctx, w.gatewayPass())
	wantVerdict(t, "Observe throttled", err, accessv1alpha1.ReasonThrottled, false)
	w.step(time.Minute) // past the wait the 429 announced: the client holds the request until then

	w.must("drift", w.cloud.Soracom.RemoveGatePeers(w.env.Status.Gateway.ID))
	p := w.gatewayPass()
	w.observe(u, p)
	w.fail(soracomAPI, soracomemu.OpRegisterGatePeer, fault.ServerError)
	wantVerdict(t, "Update on a 500", u.Update(w.ctx, p), accessv1alpha1.ReasonAPIError, false)

	w.wantDeleteFails(u, soracomAPI, soracomemu.OpCloseGate, fault.Unavailable, accessv1alpha1.ReasonAPIError)
}
