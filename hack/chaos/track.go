package main

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/emulator"
	"github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/fault"
)

// The kinds of external objects counted, in the table's order: per
// environment (billed objects the RemoteAccessEnvironment controller
// creates), then per device group.
const (
	kindVPG     = "VPG"
	kindPeering = "peering"
	kindFleet   = "fleet"
	kindStack   = "stack"
	kindRouter  = "router"
	kindGroup   = "group"
)

var (
	environmentKinds = []string{kindVPG, kindPeering, kindFleet, kindStack, kindRouter}
	allKinds         = append(slices.Clone(environmentKinds), kindGroup)
)

// unattributed is the owner of an object whose owner could not be told.
const unattributed = "?"

// trackInterval is how often the tracker reads the emulators' state.
const trackInterval = 20 * time.Millisecond

// tracked is one external object the emulators held at some point.
type tracked struct {
	Kind, ID string
	// Owner is the namespace of the gatestream object that owns it (each
	// namespace holds one environment and one device group), or unattributed.
	Owner string
	First time.Time
}

// tracker records every external object the emulators ever held, by reading
// their state every trackInterval until stopped. Objects that stay visible
// after they are gone (EC2 instances for an hour after termination, VPC
// peerings in their terminal states) are counted exactly; VPGs and SIM
// groups, which vanish, are checked against the emulator's own creation
// counters, fleets and stacks (keyed by name and creation time) against the
// call log (count).
type tracker struct {
	cloud *emulator.Cloud
	mu    sync.Mutex
	objs  map[string]*tracked // kind/id
	// vpcOwner maps a VPG's SORACOM VPC (the requester of its Canal peering) to the VPG's owner.
	vpcOwner map[string]string
	stopCh   chan struct{}
	done     chan struct{}
}

func startTracker(cloud *emulator.Cloud) *tracker {
	t := &tracker{cloud: cloud, objs: map[string]*tracked{}, vpcOwner: map[string]string{}, stopCh: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(t.done)
		tick := time.NewTicker(trackInterval)
		defer tick.Stop()
		for {
			t.poll()
			select {
			case <-t.stopCh:
				return
			case <-tick.C:
			}
		}
	}()
	return t
}

// stop ends the polling after one last read.
func (t *tracker) stop() {
	select {
	case <-t.stopCh:
	default:
		close(t.stopCh)
	}
	<-t.done
	t.poll()
}

func (t *tracker) poll() {
	now := time.Now()
	vpgs := t.cloud.Soracom.VPGs()
	groups := t.cloud.Soracom.Groups()
	fleets := t.cloud.AWS.Fleets()
	stacks := t.cloud.AWS.Stacks()
	instances := t.cloud.AWS.Instances()
	peerings := t.cloud.AWS.Peerings()
	tags := func(arn string) map[string]string { return t.cloud.AWS.Tags(arn) }
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, v := range vpgs {
		owner := ownerOf(v.Tags, "")
		t.vpcOwner[v.SoracomVPCID] = owner
		t.see(kindVPG, v.VPGID, owner, now)
	}
	for _, g := range groups {
		t.see(kindGroup, g.GroupID, ownerOf(g.Tags, ""), now)
	}
	for _, f := range fleets {
		t.see(kindFleet, f.Name+"@"+f.CreatedTime.Format(time.RFC3339Nano), ownerOf(tags(f.Arn), f.Name), now)
	}
	for _, s := range stacks {
		t.see(kindStack, s.Name+"@"+s.CreatedTime.Format(time.RFC3339Nano), ownerOf(tags(s.Arn), s.Name), now)
	}
	for _, i := range instances {
		t.see(kindRouter, i.ID, ownerOf(i.Tags, ""), now)
	}
	for _, p := range peerings {
		owner, ok := t.vpcOwner[p.RequesterVPCID]
		if !ok {
			owner = unattributed
		}
		t.see(kindPeering, p.ID, owner, now)
	}
}

// see records an object; a later sighting may attribute one that was not.
func (t *tracker) see(kind, id, owner string, now time.Time) {
	key := kind + "/" + id
	if o, ok := t.objs[key]; ok {
		if o.Owner == unattributed && owner != unattributed {
			o.Owner = owner
		}
		return
	}
	t.objs[key] = &tracked{Kind: kind, ID: id, Owner: owner, First: now}
}

// ownerOf is the namespace of the gatestream object that owns an external
// object: from the owner tag ("namespace/name"), else from a derived
// AppStream name ("gs-<namespace>_<name>"), else unattributed.
func ownerOf(tags map[string]string, name string) string {
	if o := tags[accessv1alpha1.TagOwner]; o != "" {
		ns, _, _ := strings.Cut(o, "/")
		return ns
	}
	if rest, ok := strings.CutPrefix(name, "gs-"); ok {
		if ns, _, ok := strings.Cut(rest, "_"); ok {
			return ns
		}
	}
	return unattributed
}

// created counts the objects first seen in [from, to) (zero times: open), by
// kind and owner.
func (t *tracker) created(from, to time.Time) map[string]map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]map[string]int{}
	for _, k := range allKinds {
		out[k] = map[string]int{}
	}
	for _, o := range t.objs {
		if (!from.IsZero() && o.First.Before(from)) || (!to.IsZero() && !o.First.Before(to)) {
			continue
		}
		out[o.Kind][o.Owner]++
	}
	return out
}

// ids lists the tracked objects of kind owned by owner, for a note.
func (t *tracker) ids(kind, owner string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, o := range t.objs {
		if o.Kind == kind && o.Owner == owner {
			out = append(out, o.ID)
		}
	}
	slices.Sort(out)
	return out
}

// exactness compares the tracked totals with what the emulators count
// themselves: VPGs and groups with their creation counters (exact), fleets
// and stacks with the call log (at least the creates answered 200, at most
// those plus the creates whose response was lost, which may or may not have
// created). It returns a note for every count that cannot be exact.
func (t *tracker) exactness() []string {
	total := map[string]int{}
	t.mu.Lock()
	for _, o := range t.objs {
		total[o.Kind]++
	}
	t.mu.Unlock()
	var notes []string
	if n := t.cloud.Soracom.VPGsEverCreated(); n != total[kindVPG] {
		notes = append(notes, fmt.Sprintf("the SORACOM emulator created %d VPGs, the tracker saw %d", n, total[kindVPG]))
	}
	if n := t.cloud.Soracom.GroupsEverCreated(); n != total[kindGroup] {
		notes = append(notes, fmt.Sprintf("the SORACOM emulator created %d groups, the tracker saw %d", n, total[kindGroup]))
	}
	for kind, op := range map[string]string{kindFleet: "CreateFleet", kindStack: "CreateStack"} {
		ok, lost := 0, 0
		for _, c := range t.cloud.Faults.Calls(emulator.APIAppStream, op) {
			switch {
			case c.Fault == fault.LoseResponse:
				lost++
			case c.Status == 200:
				ok++
			}
		}
		if total[kind] < ok || total[kind] > ok+lost {
			notes = append(notes, fmt.Sprintf("%s: %d answered 200 and %d lost responses, the tracker saw %d %ss", op, ok, lost, total[kind], kind))
		}
	}
	return notes
}

// left lists the external objects that exist now: VPGs not gone
// (terminating ones included), groups, fleets, stacks, instances not
// terminated, peerings active or pending acceptance, and routes other than
// the VPC's local one in the demo route table.
func left(cloud *emulator.Cloud) []string {
	var out []string
	for _, v := range cloud.Soracom.VPGs() {
		out = append(out, fmt.Sprintf("VPG %s (%s)", v.VPGID, v.Status))
	}
	for _, g := range cloud.Soracom.Groups() {
		out = append(out, "group "+g.GroupID)
	}
	for _, f := range cloud.AWS.Fleets() {
		out = append(out, fmt.Sprintf("fleet %s (%s)", f.Name, f.State))
	}
	for _, s := range cloud.AWS.Stacks() {
		out = append(out, "stack "+s.Name)
	}
	for _, i := range cloud.AWS.Instances() {
		if i.State != aws.InstanceTerminated {
			out = append(out, fmt.Sprintf("router %s (%s)", i.ID, i.State))
		}
	}
	for _, p := range cloud.AWS.Peerings() {
		if p.Status == aws.PeeringActive || p.Status == aws.PeeringPendingAcceptance {
			out = append(out, fmt.Sprintf("peering %s (%s)", p.ID, p.Status))
		}
	}
	if rt, ok := cloud.AWS.RouteTable(emulator.DemoRouteTableID); ok {
		for _, r := range rt.Routes {
			if r.GatewayID != "local" {
				out = append(out, fmt.Sprintf("route %s in %s", r.DestinationCidrBlock, rt.ID))
			}
		}
	}
	return out
}
