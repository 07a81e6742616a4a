package devicegroup

import (
	"context"
	"fmt"
	"maps"

	"github.com/gatestream/gatestream/internal/soracom"
	"k8s.io/utils/keymutex"
)

// RoutesUnit keeps Gate SIM-based static routes (simId -> LAN CIDR) on the
// environment's VPG. The VPG has ONE route map, shared by every DeviceGroup
// bound to it, and the API only replaces it whole (PUT), so the unit merges:
// it adds, changes and removes only the entries of SIMs this DeviceGroup owns
// and keeps every other entry as read. Read-modify-write runs under a
// per-VPG lock (Locks) so that two DeviceGroups of one manager never lose
// each other's routes; SORACOM offers no conditional write, so a second
// writer outside this process (the console) can still race.
type RoutesUnit struct {
	API API
	// Locks holds one lock per VPG id (nil: no locking).
	Locks keymutex.KeyMutex
}

// RoutesState is the VPG's current SIM-based routing.
type RoutesState struct {
	// Status of the VPG (running, terminating…).
	Status string
	// GateOpened: enabling SIM-based routing needs an open Gate (the API
	// answers 400 "SORACOM Gate is not enabled." otherwise).
	GateOpened bool
	Enabled    bool
	Routes     map[string]string
}

// Observe reads the VPG's SIM-based routing from GET
// /virtual_private_gateways/{id}: enableSimBasedRouting and
// simBasedRoutingConfig, the definition's map of string to string (simId ->
// LAN CIDR). It is the only place the routes can be read: the API has no GET
// of …/gate/routing/static/sims/routes.
func (u RoutesUnit) Observe(ctx context.Context, vpgID string) (*RoutesState, error) {
	v, err := u.API.GetVirtualPrivateGateway(ctx, vpgID)
	if err != nil {
		return nil, err
	}
	return &RoutesState{Status: v.Status, GateOpened: v.GateOpened, Enabled: v.EnableSimBasedRouting, Routes: v.SimBasedRoutes()}, nil
}

// MergeRoutes returns the route map to PUT: current, minus the entries of
// owned SIMs that are not in desired, plus desired. changed is false when it
// equals current (then nothing is written).
func MergeRoutes(current map[string]string, owned []string, desired map[string]string) (map[string]string, bool) {
	next := maps.Clone(current)
	if next == nil {
		next = map[string]string{}
	}
	for _, id := range owned {
		if _, keep := desired[id]; !keep {
			delete(next, id)
		}
	}
	for id, c := range desired {
		next[id] = c
	}
	return next, !maps.Equal(next, current)
}

// RoutesResult says what Apply did.
type RoutesResult struct {
	Enabled bool // SIM-based routing was turned on
	Written bool // the route map was PUT
	Routes  map[string]string
}

// Apply converges the VPG's routes for the owned SIMs to desired. It turns
// SIM-based routing on when desired is not empty and it is off; it never
// turns it off (other DeviceGroups, or the environment, may rely on it).
func (u RoutesUnit) Apply(ctx context.Context, vpgID string, owned []string, desired map[string]string) (*RoutesResult, error) {
	if vpgID == "" {
		return nil, fmt.Errorf("no gateway id")
	}
	if u.Locks != nil {
		u.Locks.LockKey(vpgID)
		defer func() { _ = u.Locks.UnlockKey(vpgID) }()
	}
	st, err := u.Observe(ctx, vpgID)
	if err != nil {
		return nil, err
	}
	res := &RoutesResult{Routes: st.Routes}
	if len(desired) == 0 && (st.Status == soracom.VPGStatusTerminating || st.Status == soracom.VPGStatusTerminated) {
		// Removing routes from a gateway that is going away: nothing to do.
		return res, nil
	}
	if len(desired) > 0 && !st.Enabled {
		if err := u.API.EnableSimBasedRouting(ctx, vpgID); err != nil {
			return res, err
		}
		res.Enabled = true
	}
	next, changed := MergeRoutes(st.Routes, owned, desired)
	if !changed {
		return res, nil
	}
	if err := u.API.PutSimBasedRoutingRoutes(ctx, vpgID, next); err != nil {
		return res, err
	}
	res.Written = true
	res.Routes = next
	return res, nil
}
