package devicegroup

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"

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
	Status  string
	Enabled bool
	Routes  map[string]string
}

// Observe reads the VPG's SIM-based routing from GET
// /virtual_private_gateways/{id} (enableSimBasedRouting and
// simBasedRoutingConfig). The reference documents only the PUT of the routes;
// the shape of simBasedRoutingConfig is a GUESS (a map simId -> CIDR, or such
// a map under "routes"); when it is not recognised, GET …/routes is tried,
// and if neither answers, the unit refuses to PUT (a PUT built on an unknown
// map would delete other DeviceGroups' routes).
func (u RoutesUnit) Observe(ctx context.Context, vpgID string) (*RoutesState, error) {
	v, err := u.API.GetVirtualPrivateGateway(ctx, vpgID)
	if err != nil {
		return nil, err
	}
	st := &RoutesState{Status: v.Status, Enabled: v.EnableSimBasedRouting}
	if routes, ok := ParseRouteConfig(v.SimBasedRoutingConfig); ok {
		st.Routes = routes
		return st, nil
	}
	routes, err := u.API.GetSimBasedRoutingRoutes(ctx, vpgID)
	if err != nil {
		if s := soracom.StatusCode(err); s == http.StatusNotFound || s == http.StatusMethodNotAllowed {
			return nil, errors.New("cannot read the gateway's SIM-based routes (unknown simBasedRoutingConfig shape); not writing them")
		}
		return nil, err
	}
	st.Routes = routes
	return st, nil
}

// ParseRouteConfig reads a VPG's simBasedRoutingConfig leniently: absent or
// null is no routes; a map of strings is simId -> CIDR; a map with a "routes"
// member is read from that member. ok is false for anything else.
func ParseRouteConfig(v any) (map[string]string, bool) {
	switch x := v.(type) {
	case nil:
		return map[string]string{}, true
	case map[string]string:
		return maps.Clone(x), true
	case map[string]any:
		if inner, has := x["routes"]; has {
			return ParseRouteConfig(inner)
		}
		out := make(map[string]string, len(x))
		for k, val := range x {
			s, isStr := val.(string)
			if !isStr {
				return nil, false
			}
			out[k] = s
		}
		return out, true
	case []any:
		// [{"simId":…,"cidr"|"destinationCidr"|"destination":…}]
		out := make(map[string]string, len(x))
		for _, e := range x {
			m, isMap := e.(map[string]any)
			if !isMap {
				return nil, false
			}
			id, _ := m["simId"].(string)
			var c string
			for _, f := range []string{"cidr", "destinationCidr", "destination", "lanCidr"} {
				if s, isStr := m[f].(string); isStr && s != "" {
					c = s
					break
				}
			}
			if id == "" || c == "" {
				return nil, false
			}
			out[id] = c
		}
		return out, true
	default:
		return nil, false
	}
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
