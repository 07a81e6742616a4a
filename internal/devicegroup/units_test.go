package devicegroup_test

// The units against the SORACOM emulator served over real HTTP, driven by
// the real client.

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/gatestream/gatestream/internal/devicegroup"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	emu "github.com/gatestream/gatestream/internal/emulator/soracom"
	"github.com/gatestream/gatestream/internal/soracom"
)

type world struct {
	srv    *emu.Server
	faults *fault.Injector
	c      *soracom.Client
	ctx    context.Context
}

func newWorld(t *testing.T, pageSize int) *world {
	t.Helper()
	w := &world{faults: fault.New(1), ctx: context.Background()}
	w.srv = emu.New(emu.Options{Faults: w.faults, PageSize: pageSize})
	w.srv.AddOperator("OP0000000001", "keyId-unit", "secret-unit")
	ts := httptest.NewServer(w.srv.Handler())
	t.Cleanup(ts.Close)
	c, err := soracom.New(soracom.Options{Endpoint: ts.URL, Credentials: soracom.Credentials{AuthKeyID: "keyId-unit", AuthKey: "secret-unit"}, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	w.c = c
	return w
}

func (w *world) count(op string) int { return w.faults.Count(emu.API, op) }

// fakeOwners is a cluster with the given DeviceGroups: key -> uid, and groupId -> key.
type fakeOwners struct {
	alive   map[string]string
	byGroup map[string]string
}

func (f fakeOwners) ByGroupID(_ context.Context, groupID string, self devicegroup.Owner) (string, error) {
	if k := f.byGroup[groupID]; k != "" && k != self.Key() {
		return k, nil
	}
	return "", nil
}

func (f fakeOwners) Alive(_ context.Context, key, uid string) (bool, error) {
	return f.alive[key] == uid, nil
}

var me = devicegroup.Owner{UID: "uid-me", Namespace: "line-a", Name: "devices"}

func TestGroupUnitFindsByOwnerTag(t *testing.T) {
	w := newWorld(t, 0)
	u := devicegroup.GroupUnit{API: w.c}
	obs, err := u.Observe(w.ctx, me, "", "")
	if err != nil || obs.Group != nil {
		t.Fatalf("nothing should exist yet: %+v %v", obs, err)
	}
	g, err := u.Create(w.ctx, me, "line-a")
	if err != nil {
		t.Fatal(err)
	}
	if g.Tags[devicegroup.TagOwnerUID] != me.UID || g.Tags[devicegroup.TagOwner] != "line-a/devices" || g.Tags[devicegroup.TagName] != "line-a" {
		t.Fatalf("tags = %v", g.Tags)
	}
	// A restart that lost the id finds the group by tag.
	obs, err = u.Observe(w.ctx, me, "", "")
	if err != nil || obs.Group == nil || obs.Group.GroupID != g.GroupID || obs.Adopted {
		t.Fatalf("lookup = %+v %v", obs, err)
	}
	// The recorded id is read directly (no lookup).
	if obs, err = u.Observe(w.ctx, me, "", g.GroupID); err != nil || obs.Lookups != 0 || obs.Group.GroupID != g.GroupID {
		t.Fatalf("observe by id = %+v %v", obs, err)
	}
	// A recorded group deleted in the console falls back to the lookup.
	if err := w.c.DeleteGroup(w.ctx, g.GroupID); err != nil {
		t.Fatal(err)
	}
	if obs, err = u.Observe(w.ctx, me, "", g.GroupID); err != nil || obs.Group != nil || obs.Lookups != 1 {
		t.Fatalf("observe of a deleted group = %+v %v", obs, err)
	}
	// Deleting again is fine.
	if err := u.Delete(w.ctx, g.GroupID); err != nil {
		t.Fatal(err)
	}
}

func TestGroupUnitDuplicatesAndAdoption(t *testing.T) {
	w := newWorld(t, 0)
	u := devicegroup.GroupUnit{API: w.c}
	first, _ := u.Create(w.ctx, me, "x")
	second, _ := u.Create(w.ctx, me, "x")
	obs, err := u.Observe(w.ctx, me, "", "")
	if err != nil || obs.Group == nil || len(obs.Duplicates) != 1 {
		t.Fatalf("observe = %+v %v", obs, err)
	}
	oldest := first
	if second.CreatedTime < first.CreatedTime || (second.CreatedTime == first.CreatedTime && second.GroupID < first.GroupID) {
		oldest = second
	}
	if obs.Group.GroupID != oldest.GroupID {
		t.Fatalf("the oldest group should win: got %s, want %s", obs.Group.GroupID, oldest.GroupID)
	}
	if _, err := u.Observe(w.ctx, me, "no-such-group", ""); !errors.Is(err, devicegroup.ErrAdoptedGroupNotFound) {
		t.Fatalf("adopting a missing group: %v", err)
	}
	obs, err = u.Observe(w.ctx, me, first.GroupID, "")
	if err != nil || !obs.Adopted {
		t.Fatalf("adopt = %+v %v", obs, err)
	}
	// Tags follow spec.group.name, only the differing one is put.
	changed, err := u.EnsureTags(w.ctx, obs.Group, me, "renamed")
	if err != nil || !changed || obs.Group.Tags[devicegroup.TagName] != "renamed" {
		t.Fatalf("EnsureTags = %v %v %v", changed, err, obs.Group.Tags)
	}
	if changed, _ := u.EnsureTags(w.ctx, obs.Group, me, "renamed"); changed {
		t.Fatal("tags in sync but put again")
	}
}

func TestBindingUnitPutsOnlyWhatDiffers(t *testing.T) {
	w := newWorld(t, 0)
	g, _ := devicegroup.GroupUnit{API: w.c}.Create(w.ctx, me, "x")
	if _, err := w.c.PutGroupConfiguration(w.ctx, g.GroupID, soracom.NamespaceSoracomAir, []soracom.KeyValue{{Key: "useCustomDns", Value: true}}); err != nil {
		t.Fatal(err)
	}
	g, _ = w.c.GetGroup(w.ctx, g.GroupID)
	b := devicegroup.BindingUnit{API: w.c}
	if err := b.Apply(w.ctx, g, devicegroup.BindingDiff(g, "vpg-1")); err != nil {
		t.Fatal(err)
	}
	if devicegroup.BoundVPG(g) != "vpg-1" || g.Configuration[soracom.NamespaceSoracomAir]["useCustomDns"] != true {
		t.Fatalf("after bind: %v", g.Configuration)
	}
	n := w.count(emu.OpPutGroupConfig)
	if kv := devicegroup.BindingDiff(g, "vpg-1"); len(kv) != 0 {
		t.Fatalf("in sync but diff %v", kv)
	}
	if err := b.Apply(w.ctx, g, nil); err != nil || w.count(emu.OpPutGroupConfig) != n {
		t.Fatal("an empty diff must not PUT")
	}
	if err := b.Apply(w.ctx, g, devicegroup.UnbindDiff(g, "vpg-1")); err != nil || devicegroup.BoundVPG(g) != "" {
		t.Fatalf("unbind: %v %v", err, g.Configuration)
	}
}

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

func TestRoutesUnitMerges(t *testing.T) {
	w := newWorld(t, 0)
	v, err := w.c.CreateVirtualPrivateGateway(w.ctx, &soracom.CreateVirtualPrivateGatewayRequest{Type: soracom.VPGTypeF})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.c.PutSimBasedRoutingRoutes(w.ctx, v.VPGID, map[string]string{"theirs": "10.10.0.0/24", "ours-old": "192.168.0.0/24"}); err != nil {
		t.Fatal(err)
	}
	u := devicegroup.RoutesUnit{API: w.c, Locks: &devicegroup.KeyedMutex{}}
	res, err := u.Apply(w.ctx, v.VPGID, []string{"ours-old", "ours"}, map[string]string{"ours": "192.168.1.0/24"})
	if err != nil || !res.Written || !res.Enabled {
		t.Fatalf("apply = %+v %v", res, err)
	}
	got, _ := w.srv.VPG(v.VPGID)
	if len(got.SimBasedRoutingConfig) != 2 || got.SimBasedRoutingConfig["theirs"] != "10.10.0.0/24" || got.SimBasedRoutingConfig["ours"] != "192.168.1.0/24" || !got.EnableSimBasedRouting {
		t.Fatalf("routes = %v enabled %v", got.SimBasedRoutingConfig, got.EnableSimBasedRouting)
	}
	puts, enables := w.count(emu.OpPutSimBasedRoutes), w.count(emu.OpEnableSimBasedRouting)
	res, err = u.Apply(w.ctx, v.VPGID, []string{"ours"}, map[string]string{"ours": "192.168.1.0/24"})
	if err != nil || res.Written || res.Enabled || w.count(emu.OpPutSimBasedRoutes) != puts || w.count(emu.OpEnableSimBasedRouting) != enables {
		t.Fatalf("in sync but wrote: %+v %v", res, err)
	}
	// Removing ours keeps theirs; SIM-based routing stays on.
	if _, err := u.Apply(w.ctx, v.VPGID, []string{"ours"}, nil); err != nil {
		t.Fatal(err)
	}
	got, _ = w.srv.VPG(v.VPGID)
	if len(got.SimBasedRoutingConfig) != 1 || got.SimBasedRoutingConfig["theirs"] == "" || !got.EnableSimBasedRouting {
		t.Fatalf("after removal: %v", got.SimBasedRoutingConfig)
	}
}
