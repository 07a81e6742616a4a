package devicegroup

import (
	"context"
	"errors"
	"fmt"
	"sort"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"

	"github.com/gatestream/gatestream/internal/soracom"
)

// The lookup by owner tag (GET /groups?tag_name=gatestream.io/owner-uid&tag_value=<uid>)
// is authoritative: a group created by a call whose response was lost carries
// the tag and is found, so creating again after a lost response never yields
// a second group. Whether that listing is strongly consistent right after a
// create is UNCONFIRMED (SORACOM's /query/sims is an eventually consistent
// search index; /groups looks like a plain table listing); the runner's
// create-pending guard (unit.CreateGrace) covers that window.

// ErrAdoptedGroupNotFound means spec.group.id names a group that does not exist.
var ErrAdoptedGroupNotFound = errors.New("the group named in spec.group.id does not exist")

// GroupObservation is what the group unit found.
type GroupObservation struct {
	// Group is nil when no group exists yet (and none is adopted).
	Group *soracom.Group
	// Adopted is true when Group came from spec.group.id.
	Adopted bool
	// Duplicates are further groups carrying this owner's UID tag (left by a
	// create race); they are reported, not used.
	Duplicates []string
	// Lookups counts the tag lookups made (0 when the recorded id was found).
	Lookups int
	// Reclaimed: Group was found by the owner's stable identity, not its UID
	// (this DeviceGroup before the cluster was rebuilt).
	Reclaimed bool
}

// GroupUnit observes, creates and deletes the DeviceGroup's SORACOM group.
type GroupUnit struct{ API API }

// Observe finds the group, read-only: spec.group.id when set (adopt), else
// the recorded status.groupId, else the group tagged with the owner's UID.
// A recorded group that is gone (deleted in the console) falls through to
// the lookup, so that it is found again or created anew.
func (u GroupUnit) Observe(ctx context.Context, o Owner, specID, statusID string) (*GroupObservation, error) {
	if specID != "" {
		g, err := u.API.GetGroup(ctx, specID)
		if soracom.IsNotFound(err) {
			return nil, ErrAdoptedGroupNotFound
		}
		if err != nil {
			return nil, err
		}
		return &GroupObservation{Group: g, Adopted: true}, nil
	}
	if statusID != "" {
		g, err := u.API.GetGroup(ctx, statusID)
		if err == nil {
			return &GroupObservation{Group: g}, nil
		}
		if !soracom.IsNotFound(err) {
			return nil, err
		}
	}
	return u.lookup(ctx, o)
}

// lookup lists the groups tagged with the owner's UID.
func (u GroupUnit) lookup(ctx context.Context, o Owner) (*GroupObservation, error) {
	if o.UID == "" {
		return nil, errors.New("owner has no UID")
	}
	mine, err := u.listTagged(ctx, TagOwnerUID, o.UID)
	if err != nil {
		return nil, err
	}
	obs := &GroupObservation{Lookups: 1}
	if id := o.ownership().Identity(); len(mine) == 0 && id != "" {
		// This DeviceGroup's group from before the cluster was rebuilt (same
		// cluster name, new UID): adopted; EnsureTags puts the new UID on it.
		if mine, err = u.listTagged(ctx, accessv1alpha1.TagIdentity, id); err != nil {
			return nil, err
		}
		obs.Lookups++
		obs.Reclaimed = len(mine) > 0
	}
	if len(mine) == 0 {
		return obs, nil
	}
	// Oldest first: if a race ever left two, keep using the first one.
	sort.SliceStable(mine, func(i, j int) bool {
		if mine[i].CreatedTime != mine[j].CreatedTime {
			return mine[i].CreatedTime < mine[j].CreatedTime
		}
		return mine[i].GroupID < mine[j].GroupID
	})
	g := mine[0]
	obs.Group = &g
	for _, d := range mine[1:] {
		obs.Duplicates = append(obs.Duplicates, d.GroupID)
	}
	return obs, nil
}

// listTagged lists the groups whose tag name is value.
func (u GroupUnit) listTagged(ctx context.Context, name, value string) ([]soracom.Group, error) {
	gs, err := u.API.ListGroups(ctx, soracom.ListOptions{TagName: name, TagValue: value})
	if err != nil {
		return nil, err
	}
	// The filter is exact, but check again rather than trust every server.
	var tagged []soracom.Group
	for _, g := range gs {
		if g.Tags[name] == value {
			tagged = append(tagged, g)
		}
	}
	return tagged, nil
}

// Create creates a group tagged with the owner. The caller has written the
// create-pending marker first. The client never re-sends the create; on an
// error whose outcome is unknown the caller looks the group up by tag.
func (u GroupUnit) Create(ctx context.Context, o Owner, name string) (*soracom.Group, error) {
	g, err := u.API.CreateGroup(ctx, &soracom.CreateGroupRequest{Tags: OwnerTags(o, name)})
	if err != nil {
		return nil, err
	}
	if g.GroupID == "" {
		return nil, fmt.Errorf("soracom createGroup: the answer has no groupId")
	}
	return g, nil
}

// TagsDiff returns the owner tags of an owned group that differ from want
// (the name tag follows spec.group.name); nil when in sync.
func TagsDiff(g *soracom.Group, o Owner, name string) map[string]string {
	want := OwnerTags(o, name)
	diff := map[string]string{}
	for k, v := range want {
		if got, ok := g.Tags[k]; !ok || got != v {
			diff[k] = v
		}
	}
	if len(diff) == 0 {
		return nil
	}
	return diff
}

// EnsureTags puts the owner tags that differ (PUT merges per tag).
func (u GroupUnit) EnsureTags(ctx context.Context, g *soracom.Group, o Owner, name string) (bool, error) {
	diff := TagsDiff(g, o, name)
	if diff == nil {
		return false, nil
	}
	ng, err := u.API.PutGroupTags(ctx, g.GroupID, diff)
	if err != nil {
		return false, err
	}
	if ng != nil && ng.GroupID != "" {
		*g = *ng
	} else {
		for k, v := range diff {
			if g.Tags == nil {
				g.Tags = map[string]string{}
			}
			g.Tags[k] = v
		}
	}
	return true, nil
}

// Delete deletes the group; already gone is success.
func (u GroupUnit) Delete(ctx context.Context, groupID string) error {
	return soracom.IgnoreNotFound(u.API.DeleteGroup(ctx, groupID))
}
