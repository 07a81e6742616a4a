package controllers_test

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	emu "github.com/gatestream/gatestream/internal/emulator/soracom"
	"github.com/gatestream/gatestream/internal/testenv"
)

const dgScaleSIMs = 1000

// dgScaleWorld is a converged DeviceGroup of 1,000 SIMs (every other one
// online), with a named device and a router LAN, on an emulator whose lists
// return pages of 100. Passes are run one at a time (Reconcile called directly).
func dgScaleWorld(t testing.TB) *dgWorld {
	w := newDGWorld(t, dgWorldOptions{PageSize: 100, NoController: true})
	sims := make([]string, dgScaleSIMs)
	for i := range sims {
		sims[i] = fmt.Sprintf("89811%014d", i+1)
		w.addSIM(sims[i], i%2 == 0, nil)
	}
	w.newDG("fleet", accessv1alpha1.DeviceGroupSpec{
		SIMs: sims,
		Devices: []accessv1alpha1.Device{
			{Name: "gw-1", SIMID: sims[0]},
			{Name: "plc-1", SIMID: sims[1], Address: "192.168.7.10"},
		},
		LANRoutes: []accessv1alpha1.LANRoute{{SIMID: sims[1], CIDR: "192.168.7.0/24"}},
	})
	m := w.mark()
	w.reconcile("fleet")
	first := w.callsSince(m)
	// Where the 1,000 SIMs are comes from 10 pages of GET /sims, not 1,000 GET /sims/{id}.
	if first[emu.OpSetSimGroup] != dgScaleSIMs || first[emu.OpDeleteSession] != dgScaleSIMs/2 || first[emu.OpCreateGroup] != 1 ||
		first[emu.OpListSims] != dgScaleSIMs/100 || first[emu.OpGetSim] != 0 {
		t.Fatalf("first pass: %v", first)
	}
	t.Logf("first pass (create, bind, %d set_group, %d delete_session): %d calls: %s", dgScaleSIMs, dgScaleSIMs/2, testenv.Total(first), testenv.Format(first))
	// The pass after the session resets sees the new addresses; from then on the group is in sync.
	w.reconcile("fleet")
	if dg := w.getDG("fleet"); !meta.IsStatusConditionTrue(dg.Status.Conditions, accessv1alpha1.ConditionReady) || dg.Status.SIMs.Total != dgScaleSIMs {
		t.Fatalf("not Ready with %d SIMs: %s, sims %+v", dgScaleSIMs, dgCondString(dg), dg.Status.SIMs)
	}
	return w
}

// TestDeviceGroupThousandSIMs: an in-sync pass over 1,000 SIMs lists the
// group in 10 pages (one call per page, none per SIM), reads the group and
// the VPG once each, makes no write call and does not write to the API server.
func TestDeviceGroupThousandSIMs(t *testing.T) {
	w := dgScaleWorld(t)
	before := w.getDG("fleet")
	m := w.mark()
	res := w.reconcile("fleet")
	calls := w.callsSince(m)
	assertDGCalls(t, "in-sync pass", calls, map[string]int{
		emu.OpGetGroup:             1,
		emu.OpListGroupSubscribers: dgScaleSIMs / 100,
		emu.OpGetVPG:               1,
	})
	if after := w.getDG("fleet"); after.ResourceVersion != before.ResourceVersion {
		t.Fatalf("an in-sync pass wrote to the API server (resourceVersion %s -> %s)", before.ResourceVersion, after.ResourceVersion)
	}
	if res.RequeueAfter <= 0 {
		t.Fatalf("in-sync pass does not poll: %+v", res)
	}
	t.Logf("in-sync pass over %d SIMs (page size 100): %d SORACOM calls (%s), 0 writes, requeue after %s",
		dgScaleSIMs, testenv.Total(calls), testenv.Format(calls), res.RequeueAfter.Round(1e9))
}

// BenchmarkDeviceGroupInSyncPass measures one in-sync pass over 1,000 SIMs
// and reports the SORACOM calls it makes.
func BenchmarkDeviceGroupInSyncPass(b *testing.B) {
	w := dgScaleWorld(b)
	m := w.mark()
	b.ResetTimer()
	for b.Loop() {
		w.reconcile("fleet")
	}
	b.StopTimer()
	calls := w.callsSince(m)
	passes := max(1, calls[emu.OpGetGroup])
	b.ReportMetric(float64(testenv.Total(calls))/float64(passes), "soracom-calls/pass")
	b.ReportMetric(float64(calls[emu.OpListGroupSubscribers])/float64(passes), "pages/pass")
	w2 := w.writesSince(m)
	b.ReportMetric(float64(testenv.Total(w2)), "writes")
}
