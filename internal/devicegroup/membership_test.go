package devicegroup_test

import (
	"fmt"
	"testing"

	"github.com/gatestream/gatestream/internal/devicegroup"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	emu "github.com/gatestream/gatestream/internal/emulator/soracom"
	"github.com/gatestream/gatestream/internal/soracom"
)

func TestMembershipUnit(t *testing.T) {
	w := newWorld(t, 0)
	gu := devicegroup.GroupUnit{API: w.c}
	mine, _ := gu.Create(w.ctx, me, "mine")
	other := devicegroup.Owner{UID: "uid-other", Namespace: "line-b", Name: "devices"}
	theirs, _ := gu.Create(w.ctx, other, "theirs")
	orphan := devicegroup.Owner{UID: "uid-gone", Namespace: "line-c", Name: "devices"}
	orphaned, _ := gu.Create(w.ctx, orphan, "orphaned")
	unmanaged, _ := w.c.CreateGroup(w.ctx, &soracom.CreateGroupRequest{Tags: map[string]string{"name": "by hand"}})

	sim := func(i int) string { return fmt.Sprintf("89811000000000001%02d", i) }
	w.srv.AddSIM(emu.SIM{ID: sim(1), Online: true})                            // free, online
	w.srv.AddSIM(emu.SIM{ID: sim(2), Online: false})                           // free, offline
	w.srv.AddSIM(emu.SIM{ID: sim(3), Online: true, GroupID: theirs.GroupID})   // another live DeviceGroup's
	w.srv.AddSIM(emu.SIM{ID: sim(4), Online: true, GroupID: orphaned.GroupID}) // an orphaned group's
	w.srv.AddSIM(emu.SIM{ID: sim(5), Online: true, GroupID: unmanaged.GroupID})
	w.srv.AddSIM(emu.SIM{ID: sim(6), Online: true, GroupID: mine.GroupID})  // gatestream put it in earlier; no longer wanted
	w.srv.AddSIM(emu.SIM{ID: sim(7), Online: false, GroupID: mine.GroupID}) // someone else put it in; not ours to take out
	w.srv.AddSIM(emu.SIM{ID: sim(8), Online: true, Tags: map[string]string{"site": "osaka"}})

	u := devicegroup.MembershipUnit{API: w.c, Owners: fakeOwners{alive: map[string]string{"line-b/devices": "uid-other"}}}
	spec := devicegroup.MembershipSpec{
		SIMs:          []string{sim(1), sim(2), sim(3), sim(4), sim(5), "8981100000000000404"},
		Selector:      map[string]string{"site": "osaka"},
		Members:       []string{sim(6)},
		ResetSessions: true,
	}
	obs, err := u.Observe(w.ctx, mine.GroupID, spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.InGroup) != 2 || len(obs.Selected) != 1 {
		t.Fatalf("observed %d in group, %d selected", len(obs.InGroup), len(obs.Selected))
	}
	res, err := u.Apply(w.ctx, me, mine.GroupID, spec, obs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{sim(1), sim(2), sim(4), sim(5), sim(8)} {
		if s, _ := w.srv.SIM(id); s.GroupID != mine.GroupID {
			t.Errorf("SIM %s not put in (group %q)", id, s.GroupID)
		}
	}
	if s, _ := w.srv.SIM(sim(3)); s.GroupID != theirs.GroupID {
		t.Errorf("stole SIM 3 from a live DeviceGroup")
	}
	if len(res.Conflicts) != 1 || res.Conflicts[0].SIMID != sim(3) || res.Conflicts[0].Owner != "line-b/devices" {
		t.Errorf("conflicts = %+v", res.Conflicts)
	}
	if s, _ := w.srv.SIM(sim(6)); s.GroupID != "" {
		t.Errorf("SIM 6 not taken out")
	}
	if s, _ := w.srv.SIM(sim(7)); s.GroupID != mine.GroupID {
		t.Errorf("SIM 7 (not put in by gatestream) was taken out")
	}
	if len(res.NotFound) != 1 || res.NotFound[0] != "8981100000000000404" {
		t.Errorf("not found = %v", res.NotFound)
	}
	// Sessions reset: every online SIM whose group changed (1, 4, 5, 8 in, 6 out), not the offline one.
	if n := w.count(emu.OpDeleteSession); n != 5 || len(res.Reset) != 5 {
		t.Errorf("delete_session calls = %d, reset %v", n, res.Reset)
	}
	wantMembers := []string{sim(1), sim(2), sim(4), sim(5), sim(8)}
	if fmt.Sprint(res.Members) != fmt.Sprint(wantMembers) {
		t.Errorf("members = %v, want %v", res.Members, wantMembers)
	}

	// A second pass with the new members changes nothing.
	spec.Members = res.Members
	mark := w.faults.Calls(emu.API, fault.Any)
	obs, _ = u.Observe(w.ctx, mine.GroupID, spec.Selector)
	res, err = u.Apply(w.ctx, me, mine.GroupID, spec, obs, nil)
	if err != nil || len(res.Added)+len(res.Removed)+len(res.Reset) != 0 {
		t.Fatalf("second pass: %+v %v", res, err)
	}
	for _, c := range w.faults.Calls(emu.API, fault.Any)[len(mark):] {
		switch c.Op {
		case emu.OpSetSimGroup, emu.OpUnsetSimGroup, emu.OpDeleteSession:
			t.Fatalf("second pass made a write call: %s", c.Op)
		}
	}
}

func TestMembershipLocatesManySIMsByPaging(t *testing.T) {
	w := newWorld(t, 10)
	g, _ := devicegroup.GroupUnit{API: w.c}.Create(w.ctx, me, "x")
	var ids []string
	for i := range 50 {
		id := fmt.Sprintf("898110000000000%04d", i)
		w.srv.AddSIM(emu.SIM{ID: id})
		ids = append(ids, id)
	}
	u := devicegroup.MembershipUnit{API: w.c}
	// 40 wanted SIMs, none in the group: 5 pages of GET /sims instead of 40 GETs.
	spec := devicegroup.MembershipSpec{SIMs: ids[:40]}
	obs, _ := u.Observe(w.ctx, g.GroupID, nil)
	res, err := u.Apply(w.ctx, me, g.GroupID, spec, obs, nil)
	if err != nil || len(res.Added) != 40 {
		t.Fatalf("added %d: %v", len(res.Added), err)
	}
	if res.Fetched != 0 || res.SIMPages != 4 || w.count(emu.OpGetSim) != 0 {
		t.Fatalf("fetched %d, pages %d", res.Fetched, res.SIMPages)
	}
	// Two wanted SIMs: paging stops after two pages; the rest are read one by one.
	spec = devicegroup.MembershipSpec{SIMs: []string{ids[45], ids[49]}, Members: res.Members}
	obs, _ = u.Observe(w.ctx, g.GroupID, nil)
	res, err = u.Apply(w.ctx, me, g.GroupID, spec, obs, nil)
	if err != nil || len(res.Added) != 2 || res.SIMPages+res.Fetched > 4 {
		t.Fatalf("added %v, pages %d, fetched %d, err %v", res.Added, res.SIMPages, res.Fetched, err)
	}
	// The 40 are members gatestream put in and no longer wanted: taken out.
	if len(res.Removed) != 40 {
		t.Fatalf("removed %d", len(res.Removed))
	}
}

// TestLostResetIsRedone: a crash between set_group and delete_session leaves
// an online member whose session does not go through the group's gateway
// (its device unreachable). The next pass is not settled, resets it once,
// and a member on the gateway needs nothing.
func TestLostResetIsRedone(t *testing.T) {
	w := newWorld(t, 0)
	mine, _ := devicegroup.GroupUnit{API: w.c}.Create(w.ctx, me, "mine")
	const simID = "8981100000000000301"
	w.srv.AddSIM(emu.SIM{ID: simID, Online: true, GroupID: mine.GroupID}) // put in; its reset was lost
	u := devicegroup.MembershipUnit{API: w.c}
	spec := devicegroup.MembershipSpec{SIMs: []string{simID}, Members: []string{simID}, ResetSessions: true, VPGID: "vpg-line-a"}
	obs, err := u.Observe(w.ctx, mine.GroupID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if devicegroup.Settled(spec, mine.GroupID, obs) != nil {
		t.Fatal("a member whose session is off the gateway counted as settled")
	}
	res, err := u.Apply(w.ctx, me, mine.GroupID, spec, obs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := w.count(emu.OpDeleteSession); n != 1 || fmt.Sprint(res.Reset) != "["+simID+"]" || len(res.Added) != 0 {
		t.Fatalf("delete_session calls %d, reset %v, added %v; want the one member reset", n, res.Reset, res.Added)
	}
	// Once its session goes through the gateway, nothing to do.
	s := obs.InGroup[simID]
	s.SessionStatus.VPGID = spec.VPGID
	obs.InGroup[simID] = s
	if devicegroup.Settled(spec, mine.GroupID, obs) == nil {
		t.Fatal("a member on the gateway is not settled")
	}
	// Without session resets asked for, a member off the gateway is left as it is.
	s.SessionStatus.VPGID = ""
	obs.InGroup[simID] = s
	spec.ResetSessions = false
	if devicegroup.Settled(spec, mine.GroupID, obs) == nil {
		t.Fatal("resetSessionsOnChange false, yet a reset is wanted")
	}
}
