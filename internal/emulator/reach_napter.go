package emulator

import (
	"cmp"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"weak"

	"github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/reach"
)

// Napter: a client on the internet connects to a SORACOM Napter endpoint,
// which leads to a port of a SIM's device (the SIM's own host, or a LAN
// device behind a cellular router's port forward).

// portForwards holds each Cloud's router port forwards. It lives outside
// Cloud (whose struct is in cloud.go) and is keyed by a weak pointer, so an
// entry goes away with its Cloud.
var portForwards = struct {
	mu sync.Mutex
	m  map[weak.Pointer[Cloud]]map[forwardKey]reach.PortForward
}{m: map[weak.Pointer[Cloud]]map[forwardKey]reach.PortForward{}}

type forwardKey struct {
	simID string
	port  int
}

// AddPortForward makes the cellular router on simID forward TCP arriving on
// routerPort (of the SIM's address) to lanAddr:lanPort on its LAN, where a
// device is registered with AddLANDevice. It replaces a forward of the same
// SIM and port.
func (c *Cloud) AddPortForward(simID string, routerPort int, lanAddr string, lanPort int) error {
	if routerPort < 1 || routerPort > 65535 || lanPort < 1 || lanPort > 65535 {
		return fmt.Errorf("emulator: port forward %d → %s:%d: ports must be 1..65535", routerPort, lanAddr, lanPort)
	}
	a, err := netip.ParseAddr(lanAddr)
	if err != nil {
		return fmt.Errorf("emulator: port forward %d → %s: %w", routerPort, lanAddr, err)
	}
	if _, ok := c.Soracom.SIM(simID); !ok {
		return fmt.Errorf("emulator: port forward on SIM %s: no such SIM", simID)
	}
	wp := weak.Make(c)
	portForwards.mu.Lock()
	defer portForwards.mu.Unlock()
	fw, ok := portForwards.m[wp]
	if !ok {
		fw = map[forwardKey]reach.PortForward{}
		portForwards.m[wp] = fw
		runtime.AddCleanup(c, func(k weak.Pointer[Cloud]) {
			portForwards.mu.Lock()
			defer portForwards.mu.Unlock()
			delete(portForwards.m, k)
		}, wp)
	}
	fw[forwardKey{simID, routerPort}] = reach.PortForward{SimID: simID, RouterPort: routerPort, LANAddr: a.Unmap(), LANPort: lanPort}
	return nil
}

// RemovePortForward removes simID's forward of routerPort and reports whether there was one.
func (c *Cloud) RemovePortForward(simID string, routerPort int) bool {
	portForwards.mu.Lock()
	defer portForwards.mu.Unlock()
	fw := portForwards.m[weak.Make(c)]
	k := forwardKey{simID, routerPort}
	_, ok := fw[k]
	delete(fw, k)
	return ok
}

// PortForwards returns the routers' port forwards, ordered by SIM and port.
func (c *Cloud) PortForwards() []reach.PortForward {
	portForwards.mu.Lock()
	out := make([]reach.PortForward, 0, len(portForwards.m[weak.Make(c)]))
	for _, f := range portForwards.m[weak.Make(c)] {
		out = append(out, f)
	}
	portForwards.mu.Unlock()
	slices.SortFunc(out, func(a, b reach.PortForward) int {
		return cmp.Or(cmp.Compare(a.SimID, b.SimID), cmp.Compare(a.RouterPort, b.RouterPort))
	})
	return out
}

// NapterSnapshot is the Napter side of the world for reach.WalkNapter: the
// SORACOM emulator's entries (expired ones flagged, IMSI entries resolved
// to their SIM) and the routers' port forwards.
func (c *Cloud) NapterSnapshot() reach.Napter {
	sims := c.Soracom.NetworkSnapshot().SIMs
	byIMSI := map[string]string{}
	for _, s := range sims {
		if s.IMSI != "" {
			byIMSI[s.IMSI] = s.ID
		}
	}
	out := reach.Napter{Forwards: c.PortForwards()}
	for _, m := range c.Soracom.PortMappings() {
		nm := reach.NapterMapping{Hostname: m.Hostname, IP: addr(m.IPAddress), Port: m.Port, SimID: m.SimID,
			DestPort: m.Destination.Port, TLSRequired: m.TLSRequired, ExpiresAt: m.ExpiresAt(), Expired: m.Expired}
		if nm.SimID == "" {
			nm.SimID = byIMSI[m.IMSI]
		}
		for _, r := range m.Source.IPRanges {
			if p, err := netip.ParsePrefix(r); err == nil {
				nm.SourceRanges = append(nm.SourceRanges, p)
			}
		}
		out.Mappings = append(out.Mappings, nm)
	}
	return out
}

// ReachNapter walks a TCP connection from client, an address on the
// internet, to a Napter endpoint host:port (host is the entry's ipAddress
// or hostname).
func (c *Cloud) ReachNapter(client netip.Addr, host string, port int) reach.Result {
	n := c.NapterSnapshot()
	// Only the SIMs and devices matter here: skip the AWS world.
	s := snapshot(aws.NetworkSnapshot{}, c.Soracom.NetworkSnapshot(), &c.devices)
	return reach.WalkNapter(s, n, client, host, port)
}
