package devicegroup

import (
	"net/netip"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/soracom"
)

// DeviceStatuses resolves each named device from the group's SIMs: a device
// on a SIM is reached at the SIM's session address (ueIpAddress, empty while
// offline); a device on a LAN behind a router at its given address (when
// that address lies in one of the router SIM's lanRoutes). Online and
// lastSeen come from the SIM's sessionStatus. A device whose SIM is not in
// the group is reported offline (with its LAN address, if any).
func DeviceStatuses(devices []accessv1alpha1.Device, routes []accessv1alpha1.LANRoute, inGroup map[string]soracom.SIM) []accessv1alpha1.DeviceStatus {
	if len(devices) == 0 {
		return nil
	}
	out := make([]accessv1alpha1.DeviceStatus, 0, len(devices))
	for _, d := range devices {
		ds := accessv1alpha1.DeviceStatus{Name: d.Name, SIMID: d.SIMID}
		sim, in := inGroup[d.SIMID]
		if in {
			ds.Online = sim.SessionStatus.Online
			ds.LastSeen = LastSeen(sim)
		}
		switch {
		case d.Address != "":
			if AddressRouted(d.SIMID, d.Address, routes) {
				ds.Address = d.Address
			}
		case in && sim.SessionStatus.Online:
			ds.Address = sim.SessionStatus.UEIPAddress
		}
		out = append(out, ds)
	}
	return out
}

// AddressRouted reports whether addr lies in one of simID's LAN routes.
func AddressRouted(simID, addr string, routes []accessv1alpha1.LANRoute) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	for _, r := range routes {
		if r.SIMID != simID {
			continue
		}
		if p, err := netip.ParsePrefix(r.CIDR); err == nil && p.Contains(a) {
			return true
		}
	}
	return false
}

// LastSeen is the SIM's sessionStatus.lastUpdatedAt, truncated to the second
// (what metav1.Time keeps), or nil when unknown. It changes only when the
// session does, so an unchanged device never rewrites status.
func LastSeen(s soracom.SIM) *metav1.Time {
	t := s.SessionStatus.LastUpdatedAt.Time()
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t.Truncate(time.Second).UTC())
	return &mt
}

// Counts counts the group's SIMs and those online.
func Counts(inGroup map[string]soracom.SIM) accessv1alpha1.SIMCounts {
	var c accessv1alpha1.SIMCounts
	for _, s := range inGroup {
		c.Total++
		if s.SessionStatus.Online {
			c.Online++
		}
	}
	return c
}

// DesiredRoutes are spec.lanRoutes of SIMs that are in the group (a route for
// a SIM left elsewhere, by a conflict or because it does not exist, is not
// written: the VPG would route that LAN to a SIM this DeviceGroup does not own).
func DesiredRoutes(routes []accessv1alpha1.LANRoute, inGroup map[string]soracom.SIM) map[string]string {
	out := map[string]string{}
	for _, r := range routes {
		if _, in := inGroup[r.SIMID]; in {
			out[r.SIMID] = r.CIDR
		}
	}
	return out
}

// OwnedRouteSIMs are the SIMs whose route entries this DeviceGroup manages:
// its members before the pass that are still in its group or that it took
// out, its members after the pass, and the wanted SIMs in its group. A former
// member that left the group outside gatestream is not counted: it may now
// be in another DeviceGroup's group, whose route for it must stay.
func OwnedRouteSIMs(oldMembers []string, res *MembershipResult) []string {
	if res == nil {
		return newSet(oldMembers...).sorted()
	}
	s := newSet()
	removed := newSet(res.Removed...)
	for _, id := range oldMembers {
		if _, in := res.InGroup[id]; in || removed.has(id) {
			s.add(id)
		}
	}
	for _, id := range res.Members {
		s.add(id)
	}
	for _, id := range res.Removed {
		s.add(id)
	}
	for _, id := range res.Wanted {
		if _, in := res.InGroup[id]; in {
			s.add(id)
		}
	}
	out := s.sorted()
	sort.Strings(out)
	return out
}
