package reach

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// The second way in: a client on the internet connects to a SORACOM Napter
// endpoint (a global address and port), which SORACOM forwards to a port of
// a SIM's device, either the SIM's own host or, through the port forward of
// a cellular router, a device on the router's LAN.

// Napter hop kinds. WalkNapter checks them in this order (NapterHopKinds).
// They are not part of HopKinds, whose list and order are a contract with
// the operator's path check of the AppStream path.
const (
	KindNapterMapping     = "NapterMapping"
	KindNapterSource      = "NapterSource"
	KindNapterSIM         = "NapterSIM"
	KindNapterPortForward = "NapterPortForward"
	KindNapterDevice      = "NapterDevice"
)

var napterHopKinds = []string{KindNapterMapping, KindNapterSource, KindNapterSIM, KindNapterPortForward, KindNapterDevice}

// NapterHopKinds returns the Napter hop kinds in the order WalkNapter checks them (a fresh copy).
func NapterHopKinds() []string { return slices.Clone(napterHopKinds) }

// NapterMapping is a Napter entry as the walker sees it.
type NapterMapping struct {
	Hostname string
	IP       netip.Addr
	Port     int // the global endpoint's port
	// SimID is the destination SIM (resolved from the IMSI for IMSI entries).
	SimID        string
	DestPort     int // the device's port
	SourceRanges []netip.Prefix
	TLSRequired  bool
	ExpiresAt    time.Time
	Expired      bool
}

// PortForward is a cellular router's DNAT: TCP to RouterPort on the SIM's
// address goes to LANAddr:LANPort on the router's LAN.
type PortForward struct {
	SimID      string
	RouterPort int
	LANAddr    netip.Addr
	LANPort    int
}

// Napter is the Napter side of the world: entries (deleted ones absent,
// expired ones flagged) and the routers' port forwards.
type Napter struct {
	Mappings []NapterMapping
	Forwards []PortForward
}

// WalkNapter decides whether a TCP connection from client (an internet
// address) to host:port, a Napter endpoint given by address or hostname,
// reaches a device, checking the hops in NapterHopKinds order. It reads s
// (SIMs and Devices) and n only.
func WalkNapter(s Snapshot, n Napter, client netip.Addr, host string, port int) Result {
	w := &napterWalk{s: s, n: n, client: client.Unmap(), host: host, port: port}
	for _, step := range []func() *Hop{w.mapping, w.source, w.sim, w.device} {
		if h := step(); h != nil {
			return w.result(false, h)
		}
	}
	return w.result(true, nil)
}

type napterWalk struct {
	s      Snapshot
	n      Napter
	client netip.Addr
	host   string
	port   int

	trail []string
	notes []string
	m     NapterMapping
	dst   SIM
}

func (w *napterWalk) result(ok bool, h *Hop) Result {
	router := ""
	if w.m.IP.IsValid() {
		router = fmt.Sprintf("napter %s", netip.AddrPortFrom(w.m.IP, uint16(w.m.Port)))
	}
	return Result{Reachable: ok, Router: router, Hops: slices.Clone(w.trail), Broken: h, Notes: slices.Clone(w.notes)}
}

func normHost(h string) string { return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".") }

// 1. An entry exists at host:port and has not expired.
func (w *napterWalk) mapping() *Hop {
	target := fmt.Sprintf("%s:%d", w.host, w.port)
	broken := func(format string, args ...any) *Hop {
		return &Hop{Kind: KindNapterMapping, Object: target, Reason: fmt.Sprintf(format, args...)}
	}
	host := normHost(w.host)
	hostAddr, _ := netip.ParseAddr(host)
	var other []int
	found := -1
	for i, m := range w.n.Mappings {
		if !(hostAddr.IsValid() && m.IP.Unmap() == hostAddr.Unmap() || host != "" && normHost(m.Hostname) == host) {
			continue
		}
		if m.Port != w.port {
			other = append(other, m.Port)
			continue
		}
		// A live entry wins over an expired one at the same endpoint.
		if found < 0 || w.n.Mappings[found].Expired && !m.Expired {
			found = i
		}
	}
	if found < 0 {
		if len(other) > 0 {
			slices.Sort(other)
			return broken("no Napter mapping at %s (%s has mappings on port %s)", target, w.host, portList(slices.Compact(other)))
		}
		return broken("no Napter mapping at %s", target)
	}
	w.m = w.n.Mappings[found]
	if w.m.Expired {
		return broken("Napter mapping %s expired at %s", target, w.m.ExpiresAt.UTC().Format(time.RFC3339))
	}
	w.trail = append(w.trail, "client "+addrString(w.client), "napter "+netip.AddrPortFrom(w.m.IP, uint16(w.m.Port)).String())
	if w.m.TLSRequired {
		w.notes = append(w.notes, "tlsRequired: the client speaks TLS to the Napter endpoint; the device receives plain TCP")
	}
	return nil
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return "(no address)"
	}
	return a.String()
}

// 2. The client's address is inside one of the entry's source ranges.
func (w *napterWalk) source() *Hop {
	for _, p := range w.m.SourceRanges {
		if w.client.IsValid() && p.IsValid() && p.Masked().Contains(w.client) {
			return nil
		}
	}
	ranges := make([]string, 0, len(w.m.SourceRanges))
	for _, p := range w.m.SourceRanges {
		ranges = append(ranges, p.String())
	}
	if len(ranges) == 0 {
		ranges = append(ranges, "(none)")
	}
	return &Hop{Kind: KindNapterSource, Object: netip.AddrPortFrom(w.m.IP, uint16(w.m.Port)).String(),
		Reason: fmt.Sprintf("client %s is not in the source ranges %s of Napter mapping %s:%d",
			addrString(w.client), strings.Join(ranges, ", "), w.m.IP, w.m.Port)}
}

// 3. The destination SIM exists and is online.
func (w *napterWalk) sim() *Hop {
	broken := func(format string, args ...any) *Hop {
		return &Hop{Kind: KindNapterSIM, Object: w.m.SimID, Reason: fmt.Sprintf(format, args...)}
	}
	i := slices.IndexFunc(w.s.SIMs, func(s SIM) bool { return s.ID == w.m.SimID })
	if i < 0 {
		return broken("SIM %s of Napter mapping %s:%d is not in the snapshot", w.m.SimID, w.m.IP, w.m.Port)
	}
	w.dst = w.s.SIMs[i]
	if !w.dst.Online || !w.dst.IP.IsValid() {
		return broken("SIM %s is offline", w.dst.ID)
	}
	w.trail = append(w.trail, fmt.Sprintf("sim %s (%s)", w.dst.ID, w.dst.IP))
	return nil
}

// 4. Something listens on the destination port: the router's port forward
// to a LAN device that listens, or the SIM's own host.
func (w *napterWalk) device() *Hop {
	simID, port := w.dst.ID, w.m.DestPort
	fi := slices.IndexFunc(w.n.Forwards, func(f PortForward) bool { return f.SimID == simID && f.RouterPort == port })
	if fi >= 0 {
		f := w.n.Forwards[fi]
		w.trail = append(w.trail, fmt.Sprintf("router port forward %d", port))
		return w.listens(f.LANAddr, simID, f.LANPort, "behind SIM "+simID)
	}
	if i := slices.IndexFunc(w.s.Devices, func(d Device) bool {
		return d.Address.Unmap() == w.dst.IP.Unmap() && (d.BehindSIM == "" || d.BehindSIM == simID)
	}); i >= 0 {
		return w.listens(w.dst.IP, w.s.Devices[i].BehindSIM, port, "on SIM "+simID)
	}
	router := slices.ContainsFunc(w.n.Forwards, func(f PortForward) bool { return f.SimID == simID }) ||
		slices.ContainsFunc(w.s.Devices, func(d Device) bool { return d.BehindSIM == simID })
	if router {
		var have []int
		for _, f := range w.n.Forwards {
			if f.SimID == simID {
				have = append(have, f.RouterPort)
			}
		}
		slices.Sort(have)
		list := "none"
		if len(have) > 0 {
			list = portList(have)
		}
		return &Hop{Kind: KindNapterPortForward, Object: simID,
			Reason: fmt.Sprintf("router on SIM %s has no port forward for port %d (forwards: %s)", simID, port, list)}
	}
	return &Hop{Kind: KindNapterDevice, Object: simID, Reason: fmt.Sprintf("no device on SIM %s", simID)}
}

func (w *napterWalk) listens(a netip.Addr, behind string, port int, where string) *Hop {
	i := slices.IndexFunc(w.s.Devices, func(d Device) bool { return d.Address.Unmap() == a.Unmap() && d.BehindSIM == behind })
	if i < 0 {
		return &Hop{Kind: KindNapterDevice, Object: a.String(), Reason: fmt.Sprintf("no device at %s %s", a, where)}
	}
	d := w.s.Devices[i]
	if !slices.Contains(d.TCPPorts, port) {
		name := ""
		if d.Name != "" {
			name = " " + d.Name
		}
		return &Hop{Kind: KindNapterDevice, Object: a.String(),
			Reason: fmt.Sprintf("device%s at %s %s listens on TCP %s, not %d", name, a, where, portList(d.TCPPorts), port)}
	}
	w.trail = append(w.trail, netip.AddrPortFrom(a, uint16(port)).String())
	return nil
}
