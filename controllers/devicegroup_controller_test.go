package controllers_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	emu "github.com/gatestream/gatestream/internal/emulator/soracom"
	"github.com/gatestream/gatestream/internal/soracom"
)

const (
	dgSimPi     = "8981100000000000001" // a Raspberry Pi on its own SIM
	dgSimRouter = "8981100000000000002" // a cellular router with a LAN behind it
	dgSimSensor = "8981100000000000003" // offline
	dgSimOther  = "8981100000000000999" // another DeviceGroup's router (a foreign route on the VPG)
)

func dgLineASpec() accessv1alpha1.DeviceGroupSpec {
	return accessv1alpha1.DeviceGroupSpec{
		Group: accessv1alpha1.GroupSpec{Name: "line-a"},
		SIMs:  []string{dgSimPi, dgSimRouter},
		Devices: []accessv1alpha1.Device{
			{Name: "raspi-1", SIMID: dgSimPi, Ports: []accessv1alpha1.DevicePort{{Name: "ssh", Port: 22}}},
			{Name: "plc-7", SIMID: dgSimRouter, Address: "192.168.1.20", Ports: []accessv1alpha1.DevicePort{{Name: "http", Port: 80}}},
		},
		LANRoutes: []accessv1alpha1.LANRoute{{SIMID: dgSimRouter, CIDR: "192.168.1.0/24"}},
	}
}

// TestDeviceGroupLifecycle: Ready with SIMs, named devices and a router LAN;
// spec edits converge with only the needed calls; deletion unbinds, takes the
// SIMs out, removes this group's routes (keeping another's) and deletes the group.
func TestDeviceGroupLifecycle(t *testing.T) {
	w := newDGWorld(t, dgWorldOptions{PollInterval: time.Second})
	w.addSIM(dgSimPi, true, nil)
	w.addSIM(dgSimRouter, true, nil)
	w.addSIM(dgSimSensor, false, nil)

	created := w.newDG("line-a", dgLineASpec())
	dg := w.waitReady("line-a")
	groupID := dg.Status.GroupID
	if groupID == "" || dg.Status.Adopted || dg.Status.CreatePendingSince != nil {
		t.Fatalf("status: groupId %q adopted %v pending %v", groupID, dg.Status.Adopted, dg.Status.CreatePendingSince)
	}
	if dg.Status.GatewayID != w.vpgID {
		t.Fatalf("status.gatewayId = %q, want %q", dg.Status.GatewayID, w.vpgID)
	}
	if !controllerutil.ContainsFinalizer(dg, accessv1alpha1.Finalizer) {
		t.Fatal("no finalizer")
	}
	// The group: owner tags and the binding.
	g, _ := w.srv.Group(groupID)
	if g.Tags["gatestream.io/owner-uid"] != string(created.UID) || g.Tags["gatestream.io/owner"] != w.ns+"/line-a" || g.Tags["name"] != "line-a" {
		t.Fatalf("group tags = %v", g.Tags)
	}
	if use, vpg := w.groupAir(groupID); use != "true" || vpg != `"`+w.vpgID+`"` {
		t.Fatalf("SoracomAir useVpg=%s vpgId=%s, want true and %q", use, vpg, w.vpgID)
	}
	if w.srv.GroupsEverCreated() != 1 {
		t.Fatalf("groups created = %d", w.srv.GroupsEverCreated())
	}
	// Membership; the sessions were reset, so they now go through the VPG.
	for _, id := range []string{dgSimPi, dgSimRouter} {
		if s := w.sim(id); s.GroupID != groupID || s.VPGID != w.vpgID {
			t.Fatalf("SIM %s: group %q vpg %q", id, s.GroupID, s.VPGID)
		}
	}
	if got := w.sim(dgSimSensor).GroupID; got != "" {
		t.Fatalf("unlisted SIM moved into group %s", got)
	}
	// The router LAN is a SIM-based route on the VPG.
	if r := w.routes(); len(r) != 1 || r[dgSimRouter] != "192.168.1.0/24" {
		t.Fatalf("VPG routes = %v", r)
	}
	if v, _ := w.srv.VPG(w.vpgID); !v.EnableSimBasedRouting {
		t.Fatal("SIM-based routing not enabled")
	}
	// Devices: the Pi at its SIM's session address (the one it got through the
	// VPG, seen by the pass after the reset), the PLC at its LAN address.
	w.eventually("device addresses from the emulator", func() (bool, string) {
		dg = w.getDG("line-a")
		pi, _ := dgDevice(dg, "raspi-1")
		plc, _ := dgDevice(dg, "plc-7")
		want := w.sim(dgSimPi).UEIPAddress
		ok := pi.Online && pi.Address == want && pi.LastSeen != nil && plc.Online && plc.Address == "192.168.1.20"
		return ok, fmt.Sprintf("devices %+v, Pi's address in the emulator %s", dg.Status.Devices, want)
	})
	if dg.Status.SIMs.Total != 2 || dg.Status.SIMs.Online != 2 || strings.Join(dg.Status.Members, ",") != dgSimPi+","+dgSimRouter {
		t.Fatalf("sims %+v members %v", dg.Status.SIMs, dg.Status.Members)
	}
	if c := meta.FindStatusCondition(dg.Status.Conditions, accessv1alpha1.ConditionConflict); c == nil || c.Status != metav1.ConditionFalse {
		t.Fatalf("Conflict = %+v", c)
	}
	if !meta.IsStatusConditionTrue(dg.Status.Conditions, accessv1alpha1.ConditionSynced) {
		t.Fatalf("not Synced: %s", dgCondString(dg))
	}

	// Another DeviceGroup's route on the same VPG must survive every merge.
	routes := w.routes()
	routes[dgSimOther] = "10.10.0.0/24"
	w.must(w.sc.PutSimBasedRoutingRoutes(w.ctx, w.vpgID, routes))

	// Edit 1: add an (offline) SIM → one set_group, nothing else.
	m := w.mark()
	w.updateDG("line-a", func(dg *accessv1alpha1.DeviceGroup) { dg.Spec.SIMs = append(dg.Spec.SIMs, dgSimSensor) })
	dg = w.waitReady("line-a")
	if !dgContains(dg.Status.Members, dgSimSensor) || w.sim(dgSimSensor).GroupID != groupID {
		t.Fatalf("SIM not added: members %v", dg.Status.Members)
	}
	assertDGCalls(t, "add a SIM", w.writesSince(m), map[string]int{emu.OpSetSimGroup: 1})

	// Edit 2: remove the Pi (online) → one unset_group and one delete_session.
	m = w.mark()
	w.updateDG("line-a", func(dg *accessv1alpha1.DeviceGroup) {
		dg.Spec.SIMs = []string{dgSimRouter, dgSimSensor}
		dg.Spec.Devices = dg.Spec.Devices[1:]
	})
	dg = w.waitReady("line-a")
	if dgContains(dg.Status.Members, dgSimPi) || w.sim(dgSimPi).GroupID != "" {
		t.Fatalf("SIM not taken out: members %v, group %q", dg.Status.Members, w.sim(dgSimPi).GroupID)
	}
	assertDGCalls(t, "remove a SIM", w.writesSince(m), map[string]int{emu.OpUnsetSimGroup: 1, emu.OpDeleteSession: 1})

	// Edit 3: move the router's LAN → one PUT of the merged route map.
	m = w.mark()
	w.updateDG("line-a", func(dg *accessv1alpha1.DeviceGroup) {
		dg.Spec.LANRoutes[0].CIDR = "192.168.2.0/24"
		dg.Spec.Devices[0].Address = "192.168.2.20"
	})
	dg = w.waitReady("line-a")
	if r := w.routes(); len(r) != 2 || r[dgSimRouter] != "192.168.2.0/24" || r[dgSimOther] != "10.10.0.0/24" {
		t.Fatalf("VPG routes = %v", r)
	}
	if plc, _ := dgDevice(dg, "plc-7"); plc.Address != "192.168.2.20" {
		t.Fatalf("plc-7 = %+v", plc)
	}
	assertDGCalls(t, "change a LAN route", w.writesSince(m), map[string]int{emu.OpPutSimBasedRoutes: 1})

	// Deletion: routes off (the other group's kept), unbind, SIMs out, group deleted.
	m = w.mark()
	w.deleteDG("line-a")
	w.waitGone("line-a")
	if _, ok := w.srv.Group(groupID); ok {
		t.Fatal("group not deleted")
	}
	for _, id := range []string{dgSimRouter, dgSimSensor} {
		if got := w.sim(id).GroupID; got != "" {
			t.Fatalf("SIM %s still in group %s", id, got)
		}
	}
	if r := w.routes(); len(r) != 1 || r[dgSimOther] != "10.10.0.0/24" {
		t.Fatalf("VPG routes after deletion = %v", r)
	}
	assertDGCalls(t, "deletion", w.writesSince(m), map[string]int{
		emu.OpPutSimBasedRoutes: 1, emu.OpPutGroupConfig: 1, emu.OpUnsetSimGroup: 2, emu.OpDeleteSession: 1, emu.OpDeleteGroup: 1,
	})
}

// TestDeviceGroupConflict: a SIM in another DeviceGroup's group is reported
// and left there. The passes are run one by one (Reconcile called directly)
// so that "no write call" covers whole passes.
func TestDeviceGroupConflict(t *testing.T) {
	w := newDGWorld(t, dgWorldOptions{NoController: true})
	const simA, simB, shared = "8981100000000000011", "8981100000000000012", "8981100000000000013"
	w.addSIM(simA, true, nil)
	w.addSIM(simB, false, nil)
	w.addSIM(shared, true, nil)

	w.newDG("line-a", accessv1alpha1.DeviceGroupSpec{SIMs: []string{simA, shared}})
	w.reconcile("line-a")
	a := w.waitReady("line-a")

	w.newDG("line-b", accessv1alpha1.DeviceGroupSpec{SIMs: []string{simB, shared}})
	w.reconcile("line-b", "line-a")
	b := w.waitCondition("line-b", accessv1alpha1.ConditionConflict, metav1.ConditionTrue, accessv1alpha1.ReasonSIMConflict)
	msg := meta.FindStatusCondition(b.Status.Conditions, accessv1alpha1.ConditionConflict).Message
	if !strings.Contains(msg, shared) || !strings.Contains(msg, w.ns+"/line-a") {
		t.Fatalf("Conflict message %q does not name the SIM and the owner", msg)
	}
	if c := meta.FindStatusCondition(b.Status.Conditions, accessv1alpha1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != accessv1alpha1.ReasonSIMConflict {
		t.Fatalf("line-b Ready = %+v", c)
	}
	if got := w.sim(shared).GroupID; got != a.Status.GroupID {
		t.Fatalf("shared SIM moved to %s (line-a's group is %s)", got, a.Status.GroupID)
	}
	if got := w.sim(simB).GroupID; got != b.Status.GroupID || dgContains(b.Status.Members, shared) {
		t.Fatalf("line-b: simB in %q, members %v", got, b.Status.Members)
	}

	// Another pass of each: no write call, and the SIM stays where it is.
	m := w.mark()
	w.reconcile("line-b", "line-a")
	w.reconcile("line-a", "line-b")
	assertDGCalls(t, "passes with a conflict", w.writesSince(m), map[string]int{})
	if got := w.sim(shared).GroupID; got != a.Status.GroupID {
		t.Fatalf("shared SIM moved to %s", got)
	}
	if !meta.IsStatusConditionTrue(w.getDG("line-a").Status.Conditions, accessv1alpha1.ConditionReady) {
		t.Fatal("line-a lost Ready")
	}
}

// TestDeviceGroupWaitsForEnvironment: a missing or not-Ready environment is a
// waiting state (no SORACOM calls); the environment watch wakes the group up
// when it becomes Ready (the poll interval is an hour here).
func TestDeviceGroupWaitsForEnvironment(t *testing.T) {
	w := newDGWorld(t, dgWorldOptions{EnvNotReady: true, PollInterval: time.Hour})
	w.addSIM(dgSimPi, true, nil)
	m := w.mark()

	spec := accessv1alpha1.DeviceGroupSpec{SIMs: []string{dgSimPi}}
	spec.EnvironmentRef.Name = "no-such-environment"
	w.newDG("lost", spec)
	w.waitCondition("lost", accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonEnvironmentNotFound)

	w.newDG("line-a", accessv1alpha1.DeviceGroupSpec{SIMs: []string{dgSimPi}})
	w.waitCondition("line-a", accessv1alpha1.ConditionReady, metav1.ConditionFalse, accessv1alpha1.ReasonEnvironmentNotReady)
	if n := len(w.faults.Calls(emu.API, fault.Any)[m:]); n != 0 {
		t.Fatalf("%d SORACOM calls while waiting: %v", n, w.callsSince(m))
	}

	w.setEnvReady(true)
	dg := w.waitReady("line-a")
	if w.sim(dgSimPi).GroupID != dg.Status.GroupID {
		t.Fatal("SIM not in the group")
	}
}

// TestDeviceGroupCorrectsDrift: a SIM taken out of the group and a binding
// turned off in the console are put back by the next poll.
func TestDeviceGroupCorrectsDrift(t *testing.T) {
	w := newDGWorld(t, dgWorldOptions{PollInterval: time.Second})
	w.addSIM(dgSimPi, true, nil)
	w.addSIM(dgSimRouter, false, nil)
	w.newDG("line-a", accessv1alpha1.DeviceGroupSpec{SIMs: []string{dgSimPi, dgSimRouter}})
	dg := w.waitReady("line-a")
	groupID := dg.Status.GroupID

	w.must(w.sc.UnsetSimGroup(w.ctx, dgSimRouter))
	_, err := w.sc.PutGroupConfiguration(w.ctx, groupID, soracom.NamespaceSoracomAir, []soracom.KeyValue{{Key: soracom.KeyUseVPG, Value: false}})
	w.must(err)
	w.eventually("drift corrected", func() (bool, string) {
		use, _ := w.groupAir(groupID)
		s := w.sim(dgSimRouter)
		return s.GroupID == groupID && use == "true", fmt.Sprintf("SIM in %q, useVpg %s", s.GroupID, use)
	})
	if w.srv.GroupsEverCreated() != 1 {
		t.Fatalf("groups created = %d", w.srv.GroupsEverCreated())
	}
}

// TestDeviceGroupLostCreateResponse: the group is created but the answer is
// lost; the lookup by owner tag finds it, so there is still exactly one.
func TestDeviceGroupLostCreateResponse(t *testing.T) {
	w := newDGWorld(t, dgWorldOptions{})
	w.faults.Add(fault.Rule{API: emu.API, Op: emu.OpCreateGroup, Kind: fault.LoseResponse, Times: 1})
	w.addSIM(dgSimPi, true, nil)
	w.newDG("line-a", accessv1alpha1.DeviceGroupSpec{SIMs: []string{dgSimPi}})
	dg := w.waitReady("line-a")
	if n := w.srv.GroupsEverCreated(); n != 1 {
		t.Fatalf("groups ever created = %d, want 1", n)
	}
	if n := w.faults.Count(emu.API, emu.OpCreateGroup); n != 1 {
		t.Fatalf("createGroup calls = %d, want 1", n)
	}
	if gs := w.srv.Groups(); len(gs) != 1 || gs[0].GroupID != dg.Status.GroupID {
		t.Fatalf("groups = %v, status.groupId %s", gs, dg.Status.GroupID)
	}
	if dg.Status.CreatePendingSince != nil {
		t.Fatal("create-pending marker not cleared")
	}
}

// TestDeviceGroupOrphan: with deletionPolicy Orphan nothing outside is
// touched, and deletion works with the environment and the Secret gone.
func TestDeviceGroupOrphan(t *testing.T) {
	w := newDGWorld(t, dgWorldOptions{})
	w.addSIM(dgSimPi, true, nil)
	w.addSIM(dgSimRouter, true, nil)
	spec := dgLineASpec()
	spec.DeletionPolicy = accessv1alpha1.DeletionPolicyOrphan
	w.newDG("line-a", spec)
	dg := w.waitReady("line-a")
	groupID := dg.Status.GroupID

	w.must(env.Client.Delete(w.ctx, &accessv1alpha1.RemoteAccessEnvironment{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: dgEnvName}}))
	w.must(env.Client.Delete(w.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: dgSecret}}))
	m := w.mark()
	w.deleteDG("line-a")
	w.waitGone("line-a")
	if n := len(w.faults.Calls(emu.API, fault.Any)[m:]); n != 0 {
		t.Fatalf("%d SORACOM calls on an Orphan deletion: %v", n, w.callsSince(m))
	}
	if _, ok := w.srv.Group(groupID); !ok {
		t.Fatal("group deleted")
	}
	if use, _ := w.groupAir(groupID); use != "true" {
		t.Fatal("group unbound")
	}
	for _, id := range []string{dgSimPi, dgSimRouter} {
		if got := w.sim(id).GroupID; got != groupID {
			t.Fatalf("SIM %s taken out (group %q)", id, got)
		}
	}
	if r := w.routes(); r[dgSimRouter] != "192.168.1.0/24" {
		t.Fatalf("routes = %v", r)
	}
}

// TestDeviceGroupAdopt: an adopted group (spec.group.id) is bound and gets
// the listed SIMs; a second DeviceGroup adopting it is a conflict; on
// deletion only the binding and the SIMs gatestream put in go, the group and
// the SIM that was there before stay.
func TestDeviceGroupAdopt(t *testing.T) {
	w := newDGWorld(t, dgWorldOptions{NoController: true})
	existing, err := w.sc.CreateGroup(w.ctx, &soracom.CreateGroupRequest{Tags: map[string]string{"name": "made by hand"}})
	w.must(err)
	w.srv.AddSIM(emu.SIM{ID: dgSimSensor, GroupID: existing.GroupID}) // was there before
	w.addSIM(dgSimPi, true, nil)

	spec := accessv1alpha1.DeviceGroupSpec{Group: accessv1alpha1.GroupSpec{ID: existing.GroupID}, SIMs: []string{dgSimPi, dgSimSensor}}
	w.newDG("adopter", spec)
	w.reconcile("adopter")
	dg := w.waitReady("adopter")
	if !dg.Status.Adopted || dg.Status.GroupID != existing.GroupID || w.srv.GroupsEverCreated() != 1 {
		t.Fatalf("status %+v, groups created %d", dg.Status, w.srv.GroupsEverCreated())
	}
	if use, _ := w.groupAir(existing.GroupID); use != "true" {
		t.Fatal("adopted group not bound")
	}
	if fmt.Sprint(dg.Status.Members) != fmt.Sprint([]string{dgSimPi}) {
		t.Fatalf("members = %v: only the SIM gatestream put in", dg.Status.Members)
	}

	w.newDG("second", spec)
	w.reconcile("second", "adopter")
	second := w.waitCondition("second", accessv1alpha1.ConditionConflict, metav1.ConditionTrue, accessv1alpha1.ReasonGroupConflict)
	if second.Status.GroupID != "" || !strings.Contains(meta.FindStatusCondition(second.Status.Conditions, accessv1alpha1.ConditionConflict).Message, w.ns+"/adopter") {
		t.Fatalf("second: %s", dgCondString(second))
	}
	m := w.mark()
	w.reconcile("adopter", "second")
	assertDGCalls(t, "owner's pass beside a conflicting adopter", w.writesSince(m), map[string]int{})
	w.must(env.Client.Delete(w.ctx, second))
	w.reconcile("second")
	w.waitGone("second")
	if w.sim(dgSimPi).GroupID != existing.GroupID {
		t.Fatal("deleting the conflicting DeviceGroup touched the group")
	}

	w.deleteDG("adopter")
	w.reconcile("adopter")
	w.waitGone("adopter")
	if _, ok := w.srv.Group(existing.GroupID); !ok {
		t.Fatal("adopted group deleted")
	}
	if use, _ := w.groupAir(existing.GroupID); use != "false" {
		t.Fatalf("adopted group still bound (useVpg %s)", use)
	}
	if w.sim(dgSimPi).GroupID != "" || w.sim(dgSimSensor).GroupID != existing.GroupID {
		t.Fatalf("Pi in %q (want out), sensor in %q (want kept)", w.sim(dgSimPi).GroupID, w.sim(dgSimSensor).GroupID)
	}
}

// TestDeviceGroupDeletionBlocked: with deletionPolicy Delete and the
// environment gone, deletion waits with a reason; switching to Orphan lets it go.
func TestDeviceGroupDeletionBlocked(t *testing.T) {
	w := newDGWorld(t, dgWorldOptions{NoController: true})
	w.addSIM(dgSimPi, true, nil)
	w.newDG("line-a", accessv1alpha1.DeviceGroupSpec{SIMs: []string{dgSimPi}})
	w.reconcile("line-a")
	w.waitReady("line-a")

	w.must(env.Client.Delete(w.ctx, &accessv1alpha1.RemoteAccessEnvironment{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: dgEnvName}}))
	w.deleteDG("line-a")
	w.eventually("environment gone from the cache", func() (bool, string) {
		var list accessv1alpha1.RemoteAccessEnvironmentList
		w.must(w.mgr.GetClient().List(w.ctx, &list))
		return len(list.Items) == 0, fmt.Sprintf("%d environments", len(list.Items))
	})
	res := w.reconcile("line-a")
	dg := w.getDG("line-a")
	c := meta.FindStatusCondition(dg.Status.Conditions, accessv1alpha1.ConditionReady)
	if c == nil || c.Reason != accessv1alpha1.ReasonDeletionBlocked || !strings.Contains(c.Message, "Orphan") || res.RequeueAfter <= 0 {
		t.Fatalf("Ready = %+v, result %+v", c, res)
	}
	w.updateDG("line-a", func(dg *accessv1alpha1.DeviceGroup) { dg.Spec.DeletionPolicy = accessv1alpha1.DeletionPolicyOrphan })
	w.reconcile("line-a")
	w.waitGone("line-a")
}

// A pass that puts an online SIM in the group resets its session (so that it
// goes through the gateway) and then reads the SIMs again: that same pass
// reports the address the SIM got through the gateway, not the one it had
// before (the environment walks the path to the reported address, and
// sessions mint only once it has), at the cost of one more list call.
func TestDeviceGroupReportsTheAddressAfterTheReset(t *testing.T) {
	w := newDGWorld(t, dgWorldOptions{NoController: true})
	w.addSIM(dgSimPi, true, nil)
	before := w.sim(dgSimPi).UEIPAddress
	w.newDG("line-a", accessv1alpha1.DeviceGroupSpec{SIMs: []string{dgSimPi},
		Devices: []accessv1alpha1.Device{{Name: "raspi-1", SIMID: dgSimPi}}})
	m := w.mark()
	w.reconcile("line-a")
	calls := w.callsSince(m)
	after := w.sim(dgSimPi)
	if calls[emu.OpDeleteSession] != 1 || after.VPGID != w.vpgID || after.UEIPAddress == before {
		t.Fatalf("calls %v; SIM now at %s via %q (was %s)", calls, after.UEIPAddress, after.VPGID, before)
	}
	dg := w.getDG("line-a")
	pi, _ := dgDevice(dg, "raspi-1")
	if !pi.Online || pi.Address != after.UEIPAddress {
		t.Fatalf("the pass reported %+v; the SIM's address through the gateway is %s (before the reset %s)", pi, after.UEIPAddress, before)
	}
}
