package reach

import (
	"net/netip"
	"strings"
	"testing"
)

// routerUserData is the script the operator renders for the fixture's
// router (the shape from the brief).
const routerUserData = `#!/bin/sh
# gatestream router for ns/name (managed by gatestream; do not edit)
set -eu
sysctl -w net.ipv4.ip_forward=1
ip link add vxlan0 type vxlan id 10 dstport 4789
bridge fdb append 00:00:00:00:00:00 dev vxlan0 dst 100.64.1.10
bridge fdb append 00:00:00:00:00:00 dev vxlan0 dst 100.64.1.11
ip addr add 10.255.255.253/9 dev vxlan0
ip link set vxlan0 up
ip rule add not iif lo lookup 100 priority 100
ip route add 10.0.0.0/16 via 10.0.1.1 table 100
ip route add default via 10.255.255.254 dev vxlan0 table 100
nft add table ip gatestream
nft add chain ip gatestream postrouting '{ type nat hook postrouting priority 100 ; }'
nft add rule ip gatestream postrouting oifname "vxlan0" masquerade
`

const (
	simDevice = "295050000000001" // the SIM in the device
	simRouter = "295050000000002" // the SIM in a cellular router with a LAN behind it
)

var (
	devAddr = netip.MustParseAddr("10.128.0.5")
	lanAddr = netip.MustParseAddr("192.168.1.10")
	src     = Source{FleetName: "fleet-1", SubnetID: "subnet-a", Addr: netip.MustParseAddr("10.0.0.25")}
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

// world builds a fresh, fully working snapshot: every test row breaks
// exactly one thing in its own copy.
func world() Snapshot {
	return Snapshot{
		VPCs: []VPC{{ID: "vpc-1", CIDR: pfx("10.0.0.0/16")}},
		Subnets: []Subnet{
			{ID: "subnet-a", VPCID: "vpc-1", CIDR: pfx("10.0.0.0/24"), AZ: "ap-northeast-1a"},
			{ID: "subnet-r", VPCID: "vpc-1", CIDR: pfx("10.0.1.0/24"), AZ: "ap-northeast-1a"},
		},
		RouteTables: []RouteTable{
			{ID: "rtb-main", VPCID: "vpc-1", Main: true, Routes: []VPCRoute{
				{Dest: pfx("10.0.0.0/16"), Kind: TargetLocal, Target: "local", State: RouteActive},
			}},
			{ID: "rtb-1", VPCID: "vpc-1", SubnetIDs: []string{"subnet-a"}, Routes: []VPCRoute{
				{Dest: pfx("10.0.0.0/16"), Kind: TargetLocal, Target: "local", State: RouteActive},
				{Dest: pfx("10.128.0.0/9"), Kind: TargetENI, Target: "eni-9", State: RouteActive},
				{Dest: pfx("192.168.1.0/24"), Kind: TargetENI, Target: "eni-9", State: RouteActive},
			}},
			{ID: "rtb-2", VPCID: "vpc-1", SubnetIDs: []string{"subnet-r"}, Routes: []VPCRoute{
				{Dest: pfx("10.0.0.0/16"), Kind: TargetLocal, Target: "local", State: RouteActive},
				{Dest: pfx("100.64.1.0/24"), Kind: TargetPeering, Target: "pcx-1", State: RouteActive},
			}},
		},
		SecurityGroups: []SecurityGroup{
			{ID: "sg-fleet", Egress: []SGRule{{Protocol: "-1", FromPort: -1, ToPort: -1, CIDRs: []netip.Prefix{pfx("0.0.0.0/0")}}}},
			{ID: "sg-router",
				Ingress: []SGRule{
					{Protocol: "tcp", FromPort: 0, ToPort: 65535, CIDRs: []netip.Prefix{pfx("10.0.0.0/16")}},
					{Protocol: "udp", FromPort: 4789, ToPort: 4789, CIDRs: []netip.Prefix{pfx("100.64.1.0/24")}},
				},
				Egress: []SGRule{{Protocol: "-1", FromPort: -1, ToPort: -1, CIDRs: []netip.Prefix{pfx("0.0.0.0/0")}}},
			},
		},
		ENIs: []ENI{{ID: "eni-9", SubnetID: "subnet-r", PrivateIP: ip("10.0.1.10"), SecurityGroupIDs: []string{"sg-router"}, InstanceID: "i-7"}},
		Instances: []Instance{{ID: "i-7", State: InstanceRunning, SubnetID: "subnet-r", PrivateIP: ip("10.0.1.10"), ENIID: "eni-9",
			SecurityGroupIDs: []string{"sg-router"}, UserData: routerUserData}},
		Peerings: []Peering{{ID: "pcx-1", State: PeeringActive}},
		Fleets:   []Fleet{{Name: "fleet-1", SubnetIDs: []string{"subnet-a"}, SecurityGroupIDs: []string{"sg-fleet"}}},
		VPGs: []VPG{{
			ID: "vpg-1", DeviceSubnet: pfx("10.128.0.0/9"), VPGSubnet: pfx("100.64.1.0/24"),
			GateOpened: true, VXLANID: 10,
			OwnPeers:        []Peer{{Outer: ip("100.64.1.10"), Inner: ip("10.255.255.254")}},
			CustomerPeers:   []Peer{{Outer: ip("10.0.1.10"), Inner: ip("10.255.255.253")}},
			SimBasedRouting: true,
			SimRoutes:       map[string]netip.Prefix{simRouter: pfx("192.168.1.0/24")},
			PeeringIDs:      []string{"pcx-1"},
		}},
		SIMs: []SIM{
			{ID: simDevice, IP: devAddr, Online: true, VPGID: "vpg-1"},
			{ID: simRouter, IP: ip("10.128.0.6"), Online: true, VPGID: "vpg-1"},
		},
		Devices: []Device{
			{Address: devAddr, TCPPorts: []int{22}, Name: "sensor"},
			{Address: lanAddr, BehindSIM: simRouter, TCPPorts: []int{502}, Name: "plc"},
		},
	}
}

// ---- accessors for mutating a snapshot in place ----

func findSG(t *testing.T, s *Snapshot, id string) *SecurityGroup {
	t.Helper()
	for i := range s.SecurityGroups {
		if s.SecurityGroups[i].ID == id {
			return &s.SecurityGroups[i]
		}
	}
	t.Fatalf("no security group %s", id)
	return nil
}

func findRTB(t *testing.T, s *Snapshot, id string) *RouteTable {
	t.Helper()
	for i := range s.RouteTables {
		if s.RouteTables[i].ID == id {
			return &s.RouteTables[i]
		}
	}
	t.Fatalf("no route table %s", id)
	return nil
}

// findRoute returns the route of table id whose destination is dest.
func findRoute(t *testing.T, s *Snapshot, id, dest string) *VPCRoute {
	t.Helper()
	rt := findRTB(t, s, id)
	for i := range rt.Routes {
		if rt.Routes[i].Dest == pfx(dest) {
			return &rt.Routes[i]
		}
	}
	t.Fatalf("no route %s in %s", dest, id)
	return nil
}

func dropRoute(t *testing.T, s *Snapshot, id, dest string) {
	t.Helper()
	rt := findRTB(t, s, id)
	for i := range rt.Routes {
		if rt.Routes[i].Dest == pfx(dest) {
			rt.Routes = append(rt.Routes[:i:i], rt.Routes[i+1:]...)
			return
		}
	}
	t.Fatalf("no route %s in %s", dest, id)
}

func findSIM(t *testing.T, s *Snapshot, id string) *SIM {
	t.Helper()
	for i := range s.SIMs {
		if s.SIMs[i].ID == id {
			return &s.SIMs[i]
		}
	}
	t.Fatalf("no SIM %s", id)
	return nil
}

// editUserData replaces one line of the router's user data ("" deletes it).
func editUserData(t *testing.T, s *Snapshot, old, new string) {
	t.Helper()
	ud := s.Instances[0].UserData
	if !strings.Contains(ud, old+"\n") {
		t.Fatalf("user data has no line %q", old)
	}
	if new != "" {
		new += "\n"
	}
	s.Instances[0].UserData = strings.Replace(ud, old+"\n", new, 1)
}

const (
	lineForward = "sysctl -w net.ipv4.ip_forward=1"
	lineLink    = "ip link add vxlan0 type vxlan id 10 dstport 4789"
	lineFDB10   = "bridge fdb append 00:00:00:00:00:00 dev vxlan0 dst 100.64.1.10"
	lineFDB11   = "bridge fdb append 00:00:00:00:00:00 dev vxlan0 dst 100.64.1.11"
	lineAddr    = "ip addr add 10.255.255.253/9 dev vxlan0"
	lineUp      = "ip link set vxlan0 up"
	lineRule    = "ip rule add not iif lo lookup 100 priority 100"
	lineVPC     = "ip route add 10.0.0.0/16 via 10.0.1.1 table 100"
	lineDefault = "ip route add default via 10.255.255.254 dev vxlan0 table 100"
	lineMasq    = `nft add rule ip gatestream postrouting oifname "vxlan0" masquerade`
	lineChain   = "nft add chain ip gatestream postrouting '{ type nat hook postrouting priority 100 ; }'"
)
