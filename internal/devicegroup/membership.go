package devicegroup

import (
	"context"
	"fmt"
	"sort"

	"github.com/gatestream/gatestream/internal/soracom"
)

// Conflict is a wanted SIM that sits in a group owned by another DeviceGroup;
// it is left where it is.
type Conflict struct {
	SIMID   string
	GroupID string
	// Owner is the other DeviceGroup ("namespace/name").
	Owner string
}

// MembershipObservation is the group's membership and session state, read
// page by page, plus the SIMs matching the selector.
type MembershipObservation struct {
	// InGroup are the SIMs in the group, by simId.
	InGroup map[string]soracom.SIM
	// Selected are the operator's SIMs whose tags match the selector, by simId.
	Selected map[string]soracom.SIM
	// Listed are all the operator's SIMs when they were listed (with a
	// selector), by simId; nil otherwise.
	Listed map[string]soracom.SIM
	// GroupPages and SIMPages count the list calls made.
	GroupPages int
	SIMPages   int
}

// MembershipSpec is what the DeviceGroup wants.
type MembershipSpec struct {
	// SIMs listed in spec.sims.
	SIMs []string
	// Selector tags (spec.simSelector.tags); empty selects nothing.
	Selector map[string]string
	// Members is status.members before the pass: the SIMs gatestream put in
	// the group, the only ones it ever takes out.
	Members []string
	// Adopted: the group came from spec.group.id. SIMs found in an adopted
	// group are not counted as put there by gatestream; in a group gatestream
	// created, every wanted SIM is.
	Adopted bool
	// ResetSessions: delete_session on every online SIM whose group changed,
	// and on every online member whose session is not on VPGID.
	ResetSessions bool
	// VPGID is the gateway the group is bound to ("": not known, no check):
	// an online member whose session goes elsewhere (a reset lost to a crash
	// between set_group and delete_session) is reset again.
	VPGID string
}

// offGateway reports whether s is an online SIM whose session does not go
// through the group's gateway, and must be reset to get there.
func (s MembershipSpec) offGateway(sim soracom.SIM) bool {
	return s.ResetSessions && s.VPGID != "" && sim.SessionStatus.Online && sim.SessionStatus.VPGID != s.VPGID
}

// Wanted returns spec.sims ∪ the SIMs matching the selector, sorted.
func (s MembershipSpec) Wanted(obs *MembershipObservation) []string {
	w := newSet(s.SIMs...)
	if obs != nil {
		for id := range obs.Selected {
			w.add(id)
		}
	}
	return w.sorted()
}

// MembershipResult is the outcome of a membership pass (also on error: the
// changes made before the error are in it, so they reach status).
type MembershipResult struct {
	// InGroup are the SIMs in the group after the pass.
	InGroup map[string]soracom.SIM
	// Members is the new status.members, sorted.
	Members []string
	// Wanted is spec.sims ∪ selected, sorted.
	Wanted []string
	// Added and Removed are the SIMs moved in (set_group) and taken out (unset_group).
	Added   []string
	Removed []string
	// Reset are the SIMs whose session was deleted.
	Reset []string
	// NotFound are wanted SIMs that do not exist in the account.
	NotFound []string
	// Conflicts are wanted SIMs left in another DeviceGroup's group.
	Conflicts []Conflict
	// Fetched counts GET /sims/{id} calls and SIMPages the GET /sims pages
	// read to find wanted SIMs that are not in the group.
	Fetched  int
	SIMPages int
}

// MembershipUnit reconciles the group's SIMs.
type MembershipUnit struct {
	API    API
	Owners Owners
}

// Observe lists the group's SIMs page by page (one call per page, never one
// per SIM) and, with a selector, the operator's SIMs page by page (the API has
// no tag filter on /sims: the cost is one call per 100 SIMs of the account).
func (u MembershipUnit) Observe(ctx context.Context, groupID string, selector map[string]string) (*MembershipObservation, error) {
	obs := &MembershipObservation{InGroup: map[string]soracom.SIM{}, Selected: map[string]soracom.SIM{}}
	if groupID != "" {
		err := u.API.ListSubscribersInGroupPages(ctx, groupID, soracom.PageOptions{}, func(page []soracom.SIM) bool {
			obs.GroupPages++
			for _, s := range page {
				// The listing is of one group; still, trust groupId when sent.
				if s.GroupID == "" || s.GroupID == groupID {
					obs.InGroup[s.SimID] = s
				}
			}
			return true
		})
		if err != nil {
			return nil, err
		}
	}
	if len(selector) > 0 {
		obs.Listed = map[string]soracom.SIM{}
		err := u.API.ListSimsPages(ctx, soracom.PageOptions{}, func(page []soracom.SIM) bool {
			obs.SIMPages++
			for _, s := range page {
				obs.Listed[s.SimID] = s
				if MatchesTags(s.Tags, selector) {
					obs.Selected[s.SimID] = s
				}
			}
			return true
		})
		if err != nil {
			return nil, err
		}
	}
	return obs, nil
}

// ResetSessions deletes the sessions of sims (skipping those in done) so
// that they reconnect and pick up the group's VPG now. An offline SIM
// (SEM0016) or a SIM that is gone is nothing to do. It returns the SIMs reset.
func (u MembershipUnit) ResetSessions(ctx context.Context, sims []string, done map[string]bool) ([]string, error) {
	var reset []string
	for _, id := range sims {
		if done[id] {
			continue
		}
		err := u.API.DeleteSimSession(ctx, id)
		if err != nil && !soracom.IsSubscriberOffline(err) && !soracom.IsNotFound(err) {
			return reset, err
		}
		if done != nil {
			done[id] = true
		}
		if err == nil {
			reset = append(reset, id)
		}
	}
	return reset, nil
}

// OnlineIn returns the online SIMs of m, sorted.
func OnlineIn(m map[string]soracom.SIM) []string {
	var out []string
	for id, s := range m {
		if s.SessionStatus.Online {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// finalMembers are the SIMs gatestream put in the group and still there. In
// a group gatestream created, every wanted SIM in it counts (this also
// recovers a set_group whose status write was lost).
func finalMembers(inGroup map[string]soracom.SIM, members, want set, adopted bool) []string {
	final := set{}
	for id := range inGroup {
		if members.has(id) || (!adopted && want.has(id)) {
			final.add(id)
		}
	}
	return final.sorted()
}

// Settled returns the membership as it is when it needs no change (no wanted
// SIM outside the group, no SIM of ours to take out), nil otherwise. It
// makes no calls.
func Settled(spec MembershipSpec, groupID string, obs *MembershipObservation) *MembershipResult {
	wanted := spec.Wanted(obs)
	want := newSet(wanted...)
	for _, id := range spec.Members {
		if _, in := obs.InGroup[id]; in && !want.has(id) {
			return nil
		}
	}
	for _, id := range wanted {
		if sim, in := obs.InGroup[id]; !in || spec.offGateway(sim) {
			return nil
		}
	}
	return &MembershipResult{InGroup: obs.InGroup, Wanted: wanted,
		Members: finalMembers(obs.InGroup, newSet(spec.Members...), want, spec.Adopted)}
}

// Apply converges the group's membership: wanted SIMs not in the group are
// put in (unless another DeviceGroup's group holds them: Conflict), SIMs
// gatestream put in that are no longer wanted are taken out, and, with
// ResetSessions, each online SIM whose group changed gets delete_session
// (those in alreadyReset are skipped). obs.InGroup is not modified.
func (u MembershipUnit) Apply(ctx context.Context, o Owner, groupID string, spec MembershipSpec, obs *MembershipObservation, alreadyReset map[string]bool) (*MembershipResult, error) {
	if alreadyReset == nil {
		alreadyReset = map[string]bool{}
	}
	wanted := spec.Wanted(obs)
	want := newSet(wanted...)
	members := newSet(spec.Members...)
	inGroup := make(map[string]soracom.SIM, len(obs.InGroup))
	for id, s := range obs.InGroup {
		inGroup[id] = s
	}
	res := &MembershipResult{InGroup: inGroup, Wanted: wanted}
	// reset deletes the session of an online SIM whose group changed.
	reset := func(id string, s soracom.SIM) error {
		if !spec.ResetSessions || !s.SessionStatus.Online {
			return nil
		}
		r, err := u.ResetSessions(ctx, []string{id}, alreadyReset)
		res.Reset = append(res.Reset, r...)
		return err
	}
	finish := func() {
		res.Members = finalMembers(inGroup, members, want, spec.Adopted)
		sort.Strings(res.NotFound)
		sort.Slice(res.Conflicts, func(i, j int) bool { return res.Conflicts[i].SIMID < res.Conflicts[j].SIMID })
	}

	// Take out the SIMs gatestream put in that are no longer wanted.
	for _, id := range members.sorted() {
		s, in := inGroup[id]
		if !in || want.has(id) {
			continue
		}
		if err := u.API.UnsetSimGroup(ctx, id); err != nil && !soracom.IsNotFound(err) {
			finish()
			return res, err
		}
		delete(inGroup, id)
		delete(members, id)
		res.Removed = append(res.Removed, id)
		if err := reset(id, s); err != nil {
			finish()
			return res, err
		}
	}

	// Put in the wanted SIMs that are not in the group.
	var missing []string
	for _, id := range wanted {
		if _, in := inGroup[id]; !in {
			missing = append(missing, id)
		}
	}
	located, err := u.locate(ctx, missing, obs, res)
	if err != nil {
		finish()
		return res, err
	}
	owners := map[string]string{} // other groupId -> owner ("" = free)
	for _, id := range missing {
		s, known := located[id]
		if !known {
			res.NotFound = append(res.NotFound, id)
			continue
		}
		if s.GroupID != "" && s.GroupID != groupID {
			owner, err := u.ownerOf(ctx, o, s.GroupID, owners)
			if err != nil {
				finish()
				return res, err
			}
			if owner != "" {
				res.Conflicts = append(res.Conflicts, Conflict{SIMID: id, GroupID: s.GroupID, Owner: owner})
				continue
			}
		}
		if s.GroupID != groupID {
			got, err := u.API.SetSimGroup(ctx, id, groupID)
			if soracom.IsNotFound(err) {
				// The SIM vanished between the read and the write.
				res.NotFound = append(res.NotFound, id)
				continue
			}
			if err != nil {
				finish()
				return res, err
			}
			if got != nil && got.SimID != "" {
				s = *got
			}
			s.GroupID = groupID
			res.Added = append(res.Added, id)
			members.add(id)
			inGroup[id] = s
			if err := reset(id, s); err != nil {
				finish()
				return res, err
			}
			continue
		}
		// GET says it is in the group though the listing did not have it
		// (the listing raced a change): count it in.
		members.add(id)
		inGroup[id] = s
	}

	// Members whose session is still elsewhere: their reset was lost (a
	// crash between set_group and delete_session) or never happened.
	for _, id := range wanted {
		if s, in := inGroup[id]; in && spec.offGateway(s) && !alreadyReset[id] {
			if err := reset(id, s); err != nil {
				finish()
				return res, err
			}
		}
	}
	finish()
	return res, nil
}

// locate reads where the wanted SIMs that are not in the group are (their
// current group and session). SIMs already listed (selector) are known; for
// more than one, GET /sims is read page by page until all are found, but
// never more pages than there are SIMs left to find (so it costs at most
// about twice the cheaper of paging and one GET /sims/{id} per SIM); the
// rest are read one by one. A SIM absent from a complete listing, or whose
// GET answers 404, does not exist (left out of the returned map).
func (u MembershipUnit) locate(ctx context.Context, ids []string, obs *MembershipObservation, res *MembershipResult) (map[string]soracom.SIM, error) {
	out := make(map[string]soracom.SIM, len(ids))
	left := newSet()
	for _, id := range ids {
		if s, ok := obs.Selected[id]; ok {
			out[id] = s
		} else if s, ok := obs.Listed[id]; ok {
			out[id] = s
		} else if obs.Listed == nil {
			left.add(id)
		}
	}
	if len(left) > 1 {
		complete := true
		err := u.API.ListSimsPages(ctx, soracom.PageOptions{}, func(page []soracom.SIM) bool {
			res.SIMPages++
			for _, s := range page {
				if left.has(s.SimID) {
					out[s.SimID] = s
					delete(left, s.SimID)
				}
			}
			if len(left) == 0 || res.SIMPages >= len(left) {
				complete = false
				return false
			}
			return true
		})
		if err != nil {
			return out, err
		}
		if complete {
			return out, nil
		}
	}
	for _, id := range left.sorted() {
		got, err := u.API.GetSim(ctx, id)
		res.Fetched++
		if soracom.IsNotFound(err) {
			continue
		}
		if err != nil {
			return out, err
		}
		out[id] = *got
	}
	return out, nil
}

// ownerOf says which other DeviceGroup owns groupID ("" when none: the group
// is unmanaged, one of this owner's own, orphaned, or gone). The cluster is
// asked first (a DeviceGroup whose status records the group, created or
// adopted), then the group's owner tags: a group tagged with another UID is
// owned while the DeviceGroup named in its owner tag exists with that UID; a
// group whose owner no longer exists (deleted with deletionPolicy Orphan) is
// free. When the owner cannot be checked, the group counts as owned (never
// steal on doubt).
func (u MembershipUnit) ownerOf(ctx context.Context, self Owner, groupID string, cache map[string]string) (string, error) {
	if v, ok := cache[groupID]; ok {
		return v, nil
	}
	owner := ""
	if u.Owners != nil {
		o, err := u.Owners.ByGroupID(ctx, groupID, self)
		if err != nil {
			return "", fmt.Errorf("looking up the DeviceGroup that owns group %s: %w", groupID, err)
		}
		owner = o
	}
	if owner == "" {
		g, err := u.API.GetGroup(ctx, groupID)
		switch {
		case soracom.IsNotFound(err):
		case err != nil:
			return "", err
		default:
			uid := g.Tags[TagOwnerUID]
			if uid != "" && uid != self.UID {
				key := g.Tags[TagOwner]
				alive := true
				if key != "" && u.Owners != nil {
					if ok, aerr := u.Owners.Alive(ctx, key, uid); aerr == nil {
						alive = ok
					}
				}
				if alive {
					owner = key
					if owner == "" {
						owner = "DeviceGroup with UID " + uid
					}
				}
			}
		}
	}
	cache[groupID] = owner
	return owner, nil
}
