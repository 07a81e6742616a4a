package emulator

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"

	"github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/reach"
)

// The emulated devices and the packet walker (internal/emulator/reach) over
// the whole cloud: it takes the AWS world's and SORACOM's network state as
// they are, and the routers' behaviour from the user data they were
// launched with, never from what the operator meant to configure.

// devices are the hosts the walker can connect to.
type devices struct {
	mu sync.Mutex
	// simHosts are devices that are a SIM's own host: their address is the
	// SIM's session address, known only while it is online.
	simHosts map[string]simHost
	lan      reach.Devices
	// forwards are the cellular routers' port forwards (AddPortForward).
	forwards map[forwardKey]reach.PortForward
}

type forwardKey struct {
	simID string
	port  int
}

type simHost struct {
	name  string
	ports []int
}

// AddSIMDevice registers a device that is simID's own host (a Raspberry Pi
// with the SIM), listening on ports.
func (c *Cloud) AddSIMDevice(name, simID string, ports ...int) {
	c.devices.mu.Lock()
	defer c.devices.mu.Unlock()
	if c.devices.simHosts == nil {
		c.devices.simHosts = map[string]simHost{}
	}
	c.devices.simHosts[simID] = simHost{name: name, ports: slices.Clone(ports)}
}

// AddLANDevice registers a device at addr on the LAN behind simID's cellular router.
func (c *Cloud) AddLANDevice(name, simID, addr string, ports ...int) error {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return fmt.Errorf("emulator: LAN device %s: %w", name, err)
	}
	return c.devices.lan.Add(reach.Device{Name: name, Address: a, BehindSIM: simID, TCPPorts: ports})
}

// Snapshot is the cloud's network at one instant, for the walker.
func (c *Cloud) Snapshot() reach.Snapshot {
	return snapshot(c.AWS.NetworkSnapshot(), c.Soracom.NetworkSnapshot(), &c.devices)
}

// Reach walks a TCP connection from an address of a fleet's subnet to to:port.
func (c *Cloud) Reach(fleet, subnetID string, from netip.Addr, to netip.Addr, port int) reach.Result {
	return reach.Walk(c.Snapshot(), reach.Source{FleetName: fleet, SubnetID: subnetID, Addr: from}, to, port)
}

// ReachSession walks from a streaming session's instance to the target its
// URL carried (SessionContext "address:port"); ok is false without a target.
func (c *Cloud) ReachSession(s aws.Session) (reach.Result, bool) {
	host, portStr, err := net.SplitHostPort(s.SessionContext)
	if err != nil {
		return reach.Result{}, false
	}
	to, err1 := netip.ParseAddr(host)
	port, err2 := strconv.Atoi(portStr)
	if err1 != nil || err2 != nil {
		return reach.Result{}, false
	}
	from, _ := netip.ParseAddr(s.EniPrivateIpAddress)
	return c.Reach(s.FleetName, s.SubnetId, from, to, port), true
}

func prefix(s string) netip.Prefix {
	p, _ := netip.ParsePrefix(s)
	return p
}

func addr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}
