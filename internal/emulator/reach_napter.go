package emulator

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/reach"
)

// Napter: a client on the internet connects to a SORACOM Napter endpoint,
// which leads to a port of a SIM's device (the SIM's own host, or a LAN
// device behind a cellular router's port forward).

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
	c.devices.mu.Lock()
	defer c.devices.mu.Unlock()
	if c.devices.forwards == nil {
		c.devices.forwards = map[forwardKey]reach.PortForward{}
	}
	c.devices.forwards[forwardKey{simID, routerPort}] = reach.PortForward{SimID: simID, RouterPort: routerPort, LANAddr: a.Unmap(), LANPort: lanPort}
	return nil
}

// RemovePortForward removes simID's forward of routerPort and reports whether there was one.
func (c *Cloud) RemovePortForward(simID string, routerPort int) bool {
	c.devices.mu.Lock()
	defer c.devices.mu.Unlock()
	k := forwardKey{simID, routerPort}
	_, ok := c.devices.forwards[k]
	delete(c.devices.forwards, k)
	return ok
}

// PortForwards returns the routers' port forwards, ordered by SIM and port.
func (c *Cloud) PortForwards() []reach.PortForward {
	c.devices.mu.Lock()
	out := slices.Collect(maps.Values(c.devices.forwards))
	c.devices.mu.Unlock()
	if out == nil {
		out = []reach.PortForward{}
	}
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
	r, _ := c.reachNapter(client, host, port)
	return r
}

// napterTarget is where a Napter connection leads: the entry's SIM and,
// when the walk reached it, the device and its port.
type napterTarget struct {
	SimID  string
	Device string
	Port   int
}

// reachNapter is ReachNapter, also naming the device the walk reached.
func (c *Cloud) reachNapter(client netip.Addr, host string, port int) (reach.Result, napterTarget) {
	n := c.NapterSnapshot()
	// Only the SIMs and devices matter here: skip the AWS world.
	s := snapshot(aws.NetworkSnapshot{}, c.Soracom.NetworkSnapshot(), &c.devices)
	r := reach.WalkNapter(s, n, client, host, port)
	var t napterTarget
	hostAddr, _ := netip.ParseAddr(host)
	for _, m := range n.Mappings {
		if m.Port == port && !m.Expired && (hostAddr.IsValid() && m.IP == hostAddr.Unmap() || strings.EqualFold(m.Hostname, host)) {
			t.SimID = m.SimID
		}
	}
	if !r.Reachable || len(r.Hops) == 0 {
		return r, t
	}
	end, err := netip.ParseAddrPort(r.Hops[len(r.Hops)-1])
	if err != nil {
		return r, t
	}
	t.Port = int(end.Port())
	for _, d := range s.Devices {
		if d.Address.Unmap() == end.Addr().Unmap() && (d.BehindSIM == t.SimID || d.BehindSIM == "") {
			t.Device = d.Name
			if d.BehindSIM == t.SimID {
				break
			}
		}
	}
	return r, t
}
