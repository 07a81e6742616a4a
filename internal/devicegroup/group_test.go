package devicegroup_test

import (
	"errors"
	"testing"

	"github.com/gatestream/gatestream/internal/devicegroup"
)

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
