package reach

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var (
	trailDirect = []string{"subnet-a", "rtb-1", "eni-9 (i-7)", "vxlan 10", "100.64.1.10 via pcx-1", "vpg-1",
		"sim " + simDevice, "10.128.0.5:22"}
	trailLAN = []string{"subnet-a", "rtb-1", "eni-9 (i-7)", "vxlan 10", "100.64.1.10 via pcx-1", "vpg-1",
		"sim " + simRouter + " (LAN 192.168.1.0/24)", "192.168.1.10:502"}
)

func TestWalkReachable(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, s *Snapshot)
		from   *Source
		to     netip.Addr
		port   int
		want   []string // the trail
		note   string   // a substring one of the notes must have
	}{
		{name: "device on a SIM", to: devAddr, port: 22, want: trailDirect},
		{name: "device on the LAN behind a SIM", to: lanAddr, port: 502, want: trailLAN},
		{name: "fleet subnet uses the VPC main table",
			mutate: func(t *testing.T, s *Snapshot) {
				main, own := findRTB(t, s, "rtb-main"), findRTB(t, s, "rtb-1")
				main.Routes = own.Routes
				own.SubnetIDs = nil
			},
			to: devAddr, port: 22,
			want: []string{"subnet-a", "rtb-main", "eni-9 (i-7)", "vxlan 10", "100.64.1.10 via pcx-1", "vpg-1", "sim " + simDevice, "10.128.0.5:22"}},
		{name: "fleet without security groups (GUESS: allowed)",
			mutate: func(t *testing.T, s *Snapshot) { s.Fleets[0].SecurityGroupIDs = nil },
			to:     devAddr, port: 22, want: trailDirect, note: "GUESS: fleet \"fleet-1\" has no security groups"},
		{name: "no masquerade but Junction redirection to the router's inner address",
			mutate: func(t *testing.T, s *Snapshot) {
				editUserData(t, s, lineMasq, "")
				s.VPGs[0].Redirection = &Redirection{Enabled: true, Gateway: "10.255.255.253"}
			},
			to: devAddr, port: 22, want: trailDirect},
		{name: "iptables masquerade instead of nft",
			mutate: func(t *testing.T, s *Snapshot) {
				editUserData(t, s, lineMasq, "iptables -t nat -A POSTROUTING -o vxlan0 -j MASQUERADE")
			},
			to: lanAddr, port: 502, want: trailLAN},
		{name: "no policy rule: the SIM device is still reached through the connected vxlan0 route in main",
			mutate: func(t *testing.T, s *Snapshot) { editUserData(t, s, lineRule, "") },
			to:     devAddr, port: 22, want: trailDirect},
		{name: "no default in table 100: the SIM device falls through to main's connected route",
			mutate: func(t *testing.T, s *Snapshot) { editUserData(t, s, lineDefault, "") },
			to:     devAddr, port: 22, want: trailDirect},
		{name: "first remote's underlay is missing, the second remote works",
			mutate: func(t *testing.T, s *Snapshot) {
				s.VPGs[0].OwnPeers = append(s.VPGs[0].OwnPeers, Peer{Outer: ip("100.64.1.11"), Inner: ip("10.255.255.254")})
				findRoute(t, s, "rtb-2", "100.64.1.0/24").Dest = pfx("100.64.1.11/32")
			},
			to: devAddr, port: 22,
			want: []string{"subnet-a", "rtb-1", "eni-9 (i-7)", "vxlan 10", "100.64.1.11 via pcx-1", "vpg-1", "sim " + simDevice, "10.128.0.5:22"},
			note: "via remote 100.64.1.10 (vpg-1): route table rtb-2 (subnet subnet-r) has no route for 100.64.1.10"},
		{name: "no session address: rules cover the whole fleet subnet",
			from: &Source{FleetName: "fleet-1", SubnetID: "subnet-a"},
			to:   devAddr, port: 22, want: trailDirect, note: "any address of subnet-a"},
		{name: "subnet found from the fleet and the address",
			from: &Source{FleetName: "fleet-1", Addr: ip("10.0.0.25")},
			to:   devAddr, port: 22, want: trailDirect},
		{name: "base64 user data, as the EC2 API returns it",
			mutate: func(t *testing.T, s *Snapshot) {
				s.Instances[0].UserData = b64(routerUserData)
			},
			to: devAddr, port: 22, want: trailDirect},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := world()
			if tc.mutate != nil {
				tc.mutate(t, &s)
			}
			from := src
			if tc.from != nil {
				from = *tc.from
			}
			r := Walk(s, from, tc.to, tc.port)
			if !r.Reachable || r.Broken != nil {
				t.Fatalf("Walk = %s; want reachable", r)
			}
			if !slices.Equal(r.Hops, tc.want) {
				t.Errorf("hops:\n got %q\nwant %q", r.Hops, tc.want)
			}
			want := "reachable via i-7 (" + strings.Join(tc.want, " → ") + ")"
			if r.String() != want {
				t.Errorf("String() = %q, want %q", r.String(), want)
			}
			if tc.note != "" && !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.Contains(n, tc.note) }) {
				t.Errorf("notes %q lack %q", r.Notes, tc.note)
			}
		})
	}
}

// TestWalkBroken breaks exactly one thing per row and checks the first
// broken hop.
func TestWalkBroken(t *testing.T) {
	type row struct {
		name   string
		mutate func(t *testing.T, s *Snapshot)
		from   *Source
		to     netip.Addr // zero: devAddr
		port   int        // zero: 22 (502 for lanAddr)
		kind   string
		object string
	}
	ud := func(old, new string) func(t *testing.T, s *Snapshot) {
		return func(t *testing.T, s *Snapshot) { editUserData(t, s, old, new) }
	}
	tests := []row{
		// 1 FleetSubnet
		{name: "subnet unknown", from: &Source{FleetName: "fleet-1", SubnetID: "subnet-x", Addr: ip("10.0.0.25")},
			kind: KindFleetSubnet, object: "subnet-x"},
		{name: "subnet's VPC unknown", mutate: func(t *testing.T, s *Snapshot) { s.VPCs = nil },
			kind: KindFleetSubnet, object: "subnet-a"},
		{name: "address outside the subnet", from: &Source{FleetName: "fleet-1", SubnetID: "subnet-a", Addr: ip("10.0.5.5")},
			kind: KindFleetSubnet, object: "subnet-a"},
		{name: "subnet not the fleet's", from: &Source{FleetName: "fleet-1", SubnetID: "subnet-r", Addr: ip("10.0.1.99")},
			kind: KindFleetSubnet, object: "subnet-r"},
		{name: "fleet unknown", from: &Source{FleetName: "fleet-x", SubnetID: "subnet-a", Addr: ip("10.0.0.25")},
			kind: KindFleetSubnet, object: "fleet-x"},

		// 2 FleetSecurityGroup
		{name: "fleet egress only https",
			mutate: func(t *testing.T, s *Snapshot) {
				findSG(t, s, "sg-fleet").Egress = []SGRule{{Protocol: "tcp", FromPort: 443, ToPort: 443, CIDRs: []netip.Prefix{pfx("0.0.0.0/0")}}}
			},
			kind: KindFleetSecurityGroup, object: "sg-fleet"},
		{name: "fleet egress udp only, two groups",
			mutate: func(t *testing.T, s *Snapshot) {
				findSG(t, s, "sg-fleet").Egress = []SGRule{{Protocol: "17", FromPort: 0, ToPort: 65535, CIDRs: []netip.Prefix{pfx("0.0.0.0/0")}}}
				s.SecurityGroups = append(s.SecurityGroups, SecurityGroup{ID: "sg-fleet2"})
				s.Fleets[0].SecurityGroupIDs = []string{"sg-fleet", "sg-fleet2"}
			},
			kind: KindFleetSecurityGroup, object: "sg-fleet,sg-fleet2"},
		{name: "fleet egress to the device subnet only, LAN device",
			mutate: func(t *testing.T, s *Snapshot) {
				findSG(t, s, "sg-fleet").Egress = []SGRule{{Protocol: "6", FromPort: -1, ToPort: -1, CIDRs: []netip.Prefix{pfx("10.128.0.0/9")}}}
			},
			to: lanAddr, kind: KindFleetSecurityGroup, object: "sg-fleet"},

		// 3 FleetRoute
		{name: "no route for the device subnet",
			mutate: func(t *testing.T, s *Snapshot) { dropRoute(t, s, "rtb-1", "10.128.0.0/9") },
			kind:   KindFleetRoute, object: "rtb-1"},
		{name: "no route for the LAN", mutate: func(t *testing.T, s *Snapshot) { dropRoute(t, s, "rtb-1", "192.168.1.0/24") },
			to: lanAddr, kind: KindFleetRoute, object: "rtb-1"},
		{name: "route to the wrong ENI",
			mutate: func(t *testing.T, s *Snapshot) { findRoute(t, s, "rtb-1", "10.128.0.0/9").Target = "eni-other" },
			kind:   KindFleetRoute, object: "rtb-1"},
		{name: "blackhole route",
			mutate: func(t *testing.T, s *Snapshot) { findRoute(t, s, "rtb-1", "10.128.0.0/9").State = RouteBlackhole },
			kind:   KindFleetRoute, object: "rtb-1"},
		{name: "route to an internet gateway",
			mutate: func(t *testing.T, s *Snapshot) {
				r := findRoute(t, s, "rtb-1", "10.128.0.0/9")
				r.Kind, r.Target = TargetGateway, "igw-1"
			},
			kind: KindFleetRoute, object: "rtb-1"},
		{name: "a more specific route elsewhere wins",
			mutate: func(t *testing.T, s *Snapshot) {
				rt := findRTB(t, s, "rtb-1")
				rt.Routes = append(rt.Routes, VPCRoute{Dest: pfx("10.128.0.0/24"), Kind: TargetGateway, Target: "nat-1"})
			},
			kind: KindFleetRoute, object: "rtb-1"},
		{name: "no association and the main table lacks the route",
			mutate: func(t *testing.T, s *Snapshot) { findRTB(t, s, "rtb-1").SubnetIDs = nil },
			kind:   KindFleetRoute, object: "rtb-main"},
		{name: "no route table at all", mutate: func(t *testing.T, s *Snapshot) { s.RouteTables = nil },
			kind: KindFleetRoute, object: "subnet-a"},

		// 4 RouterInstance
		{name: "stopped router", mutate: func(t *testing.T, s *Snapshot) { s.Instances[0].State = "stopped" },
			kind: KindRouterInstance, object: "i-7"},
		{name: "impaired router", mutate: func(t *testing.T, s *Snapshot) { s.Instances[0].Impaired = true },
			kind: KindRouterInstance, object: "i-7"},
		{name: "router instance gone", mutate: func(t *testing.T, s *Snapshot) { s.Instances = nil },
			kind: KindRouterInstance, object: "i-7"},
		{name: "ENI detached", mutate: func(t *testing.T, s *Snapshot) { s.ENIs[0].InstanceID = "" },
			kind: KindRouterInstance, object: "eni-9"},

		// 5 RouterSourceDestCheck
		{name: "source/dest check on", mutate: func(t *testing.T, s *Snapshot) { s.ENIs[0].SourceDestCheck = true },
			kind: KindRouterSourceDestCheck, object: "eni-9"},

		// 6 RouterSecurityGroup
		{name: "router ingress only https",
			mutate: func(t *testing.T, s *Snapshot) {
				findSG(t, s, "sg-router").Ingress[0] = SGRule{Protocol: "tcp", FromPort: 443, ToPort: 443, CIDRs: []netip.Prefix{pfx("10.0.0.0/16")}}
			},
			kind: KindRouterSecurityGroup, object: "sg-router"},
		{name: "router ingress from the router subnet only",
			mutate: func(t *testing.T, s *Snapshot) {
				findSG(t, s, "sg-router").Ingress[0].CIDRs = []netip.Prefix{pfx("10.0.1.0/24")}
			},
			kind: KindRouterSecurityGroup, object: "sg-router"},
		{name: "router ingress from the session only, but the session address is unknown",
			mutate: func(t *testing.T, s *Snapshot) {
				findSG(t, s, "sg-router").Ingress[0].CIDRs = []netip.Prefix{pfx("10.0.0.25/32")}
			},
			from: &Source{FleetName: "fleet-1", SubnetID: "subnet-a"},
			kind: KindRouterSecurityGroup, object: "sg-router"},
		{name: "router has no security groups",
			mutate: func(t *testing.T, s *Snapshot) {
				s.ENIs[0].SecurityGroupIDs, s.Instances[0].SecurityGroupIDs = nil, nil
			},
			kind: KindRouterSecurityGroup, object: "eni-9"},

		// 7 RouterConfig
		{name: "no user data", mutate: func(t *testing.T, s *Snapshot) { s.Instances[0].UserData = "" },
			kind: KindFleetRoute, object: "rtb-1"}, // an instance nothing made a router
		{name: "unparseable user data", mutate: ud(lineForward, "sysctl -w 'net.ipv4.ip_forward=1"),
			kind: KindRouterConfig, object: "i-7"},
		{name: "no shebang", mutate: ud("#!/bin/sh", ""), kind: KindRouterConfig, object: "i-7"},
		{name: "no ip forwarding", mutate: ud(lineForward, ""), kind: KindRouterConfig, object: "i-7"},
		{name: "ip forwarding off", mutate: ud(lineForward, "sysctl -w net.ipv4.ip_forward=0"), kind: KindRouterConfig, object: "i-7"},
		{name: "no vxlan interface", mutate: ud(lineLink, ""), kind: KindRouterConfig, object: "i-7"},
		{name: "vxlan interface never up", mutate: ud(lineUp, ""), kind: KindRouterConfig, object: "i-7"},
		{name: "vxlan without dstport uses the kernel's 8472",
			mutate: ud(lineLink, "ip link add vxlan0 type vxlan id 10"), kind: KindRouterConfig, object: "i-7"},
		{name: "no policy rule, LAN device", mutate: ud(lineRule, ""), to: lanAddr, kind: KindRouterConfig, object: "i-7"},
		{name: "no default in table 100, LAN device", mutate: ud(lineDefault, ""), to: lanAddr, kind: KindRouterConfig, object: "i-7"},
		{name: "table 100 default via the VPC router",
			mutate: ud(lineDefault, "ip route add default via 10.0.1.1 table 100"), kind: KindRouterConfig, object: "i-7"},
		{name: "no inner address: the tunnel route's gateway is not on-link",
			mutate: ud(lineAddr, ""), to: lanAddr, kind: KindRouterConfig, object: "i-7"},
		{name: "no VPC route in table 100: replies go back into the tunnel",
			mutate: ud(lineVPC, ""), kind: KindRouterConfig, object: "i-7"},
		{name: "policy rule sends to an empty table", mutate: ud(lineRule, "ip rule add not iif lo lookup 200 priority 100"),
			to: lanAddr, kind: KindRouterConfig, object: "i-7"},

		// 8 VXLANRemote
		{name: "remotes are not VPG peers",
			mutate: func(t *testing.T, s *Snapshot) {
				editUserData(t, s, lineFDB10, "bridge fdb append 00:00:00:00:00:00 dev vxlan0 dst 100.64.9.9")
			},
			kind: KindVXLANRemote, object: "i-7"},
		{name: "no remotes",
			mutate: func(t *testing.T, s *Snapshot) { editUserData(t, s, lineFDB10, ""); editUserData(t, s, lineFDB11, "") },
			kind:   KindVXLANRemote, object: "i-7"},

		// 9 TunnelPort
		{name: "VXLAN ingress from one peer only, not the VPG range",
			mutate: func(t *testing.T, s *Snapshot) {
				findSG(t, s, "sg-router").Ingress[1].CIDRs = []netip.Prefix{pfx("100.64.1.10/32")}
			},
			kind: KindTunnelPort, object: "sg-router"},
		{name: "VXLAN ingress missing",
			mutate: func(t *testing.T, s *Snapshot) {
				findSG(t, s, "sg-router").Ingress = findSG(t, s, "sg-router").Ingress[:1]
			},
			kind: KindTunnelPort, object: "sg-router"},
		{name: "egress tcp only",
			mutate: func(t *testing.T, s *Snapshot) {
				findSG(t, s, "sg-router").Egress = []SGRule{{Protocol: "tcp", FromPort: 0, ToPort: 65535, CIDRs: []netip.Prefix{pfx("0.0.0.0/0")}}}
			},
			kind: KindTunnelPort, object: "sg-router"},

		// 10 Underlay
		{name: "no route to the VPG range", mutate: func(t *testing.T, s *Snapshot) { dropRoute(t, s, "rtb-2", "100.64.1.0/24") },
			kind: KindUnderlay, object: "rtb-2"},
		{name: "underlay route blackhole (peering pending)",
			mutate: func(t *testing.T, s *Snapshot) {
				findRoute(t, s, "rtb-2", "100.64.1.0/24").State = RouteBlackhole
				s.Peerings[0].State = "pending-acceptance"
			},
			kind: KindUnderlay, object: "rtb-2"},
		{name: "underlay via an internet gateway",
			mutate: func(t *testing.T, s *Snapshot) {
				r := findRoute(t, s, "rtb-2", "100.64.1.0/24")
				r.Kind, r.Target = TargetGateway, "igw-1"
			},
			kind: KindUnderlay, object: "rtb-2"},

		// 11 Peering
		{name: "peering not active (route still shown active)",
			mutate: func(t *testing.T, s *Snapshot) { s.Peerings[0].State = "pending-acceptance" },
			kind:   KindPeering, object: "pcx-1"},
		{name: "peering not the VPG's", mutate: func(t *testing.T, s *Snapshot) { s.VPGs[0].PeeringIDs = []string{"pcx-2"} },
			kind: KindPeering, object: "pcx-1"},
		{name: "peering unknown", mutate: func(t *testing.T, s *Snapshot) { s.Peerings = nil },
			kind: KindPeering, object: "pcx-1"},

		// 12 Gate
		{name: "Gate closed", mutate: func(t *testing.T, s *Snapshot) { s.VPGs[0].GateOpened = false },
			kind: KindGate, object: "vpg-1"},

		// 13 GatePeer
		{name: "router not a customer Gate peer", mutate: func(t *testing.T, s *Snapshot) { s.VPGs[0].CustomerPeers = nil },
			kind: KindGatePeer, object: "vpg-1"},
		{name: "another host is the Gate peer",
			mutate: func(t *testing.T, s *Snapshot) { s.VPGs[0].CustomerPeers[0].Outer = ip("10.0.1.11") },
			kind:   KindGatePeer, object: "vpg-1"},

		// 14 VXLANID
		{name: "wrong vxlan id in the user data", mutate: ud(lineLink, "ip link add vxlan0 type vxlan id 11 dstport 4789"),
			kind: KindVXLANID, object: "i-7"},
		{name: "VPG vxlan id changed", mutate: func(t *testing.T, s *Snapshot) { s.VPGs[0].VXLANID = 20 },
			kind: KindVXLANID, object: "i-7"},

		// 15 LANRoute
		{name: "SIM-based routing disabled", mutate: func(t *testing.T, s *Snapshot) { s.VPGs[0].SimBasedRouting = false },
			to: lanAddr, kind: KindLANRoute, object: "vpg-1"},
		{name: "no SIM-based route for the LAN", mutate: func(t *testing.T, s *Snapshot) { s.VPGs[0].SimRoutes = nil },
			to: lanAddr, kind: KindLANRoute, object: "vpg-1"},

		// 16 SIM
		{name: "SIM offline", mutate: func(t *testing.T, s *Snapshot) { findSIM(t, s, simDevice).Online = false },
			kind: KindSIM, object: simDevice},
		{name: "SIM on another VPG", mutate: func(t *testing.T, s *Snapshot) { findSIM(t, s, simDevice).VPGID = "vpg-2" },
			kind: KindSIM, object: simDevice},
		{name: "no SIM has the address", to: ip("10.128.0.99"), kind: KindSIM, object: "10.128.0.99"},
		{name: "router SIM offline", mutate: func(t *testing.T, s *Snapshot) { findSIM(t, s, simRouter).Online = false },
			to: lanAddr, kind: KindSIM, object: simRouter},
		{name: "routed SIM unknown",
			mutate: func(t *testing.T, s *Snapshot) { s.SIMs = s.SIMs[:1] },
			to:     lanAddr, kind: KindSIM, object: simRouter},

		// 17 ReturnPath
		{name: "no masquerade, no redirection", mutate: ud(lineMasq, ""), kind: KindReturnPath, object: "i-7"},
		{name: "no masquerade, redirection elsewhere",
			mutate: func(t *testing.T, s *Snapshot) {
				editUserData(t, s, lineMasq, "")
				s.VPGs[0].Redirection = &Redirection{Enabled: true, Gateway: "10.255.255.1"}
			},
			kind: KindReturnPath, object: "vpg-1"},
		{name: "no masquerade, redirection to the router but disabled",
			mutate: func(t *testing.T, s *Snapshot) {
				editUserData(t, s, lineMasq, "")
				s.VPGs[0].Redirection = &Redirection{Enabled: false, Gateway: "10.255.255.253"}
			},
			kind: KindReturnPath, object: "i-7"},
		{name: "masquerade rule on a filter chain",
			mutate: ud(lineChain, "nft add chain ip gatestream postrouting '{ type filter hook postrouting priority 100 ; }'"),
			kind:   KindReturnPath, object: "i-7"},

		// 18 Device
		{name: "nothing listens on the port", port: 23, kind: KindDevice, object: "10.128.0.5"},
		{name: "LAN device not on that port", to: lanAddr, port: 503, kind: KindDevice, object: "192.168.1.10"},
		{name: "no device at the SIM's address", mutate: func(t *testing.T, s *Snapshot) { s.Devices = s.Devices[1:] },
			kind: KindDevice, object: "10.128.0.5"},
		{name: "LAN device behind another SIM",
			mutate: func(t *testing.T, s *Snapshot) { s.Devices[1].BehindSIM = simDevice },
			to:     lanAddr, kind: KindDevice, object: "192.168.1.10"},

		// Two things broken: the earlier hop is reported.
		{name: "stopped router and closed Gate",
			mutate: func(t *testing.T, s *Snapshot) { s.Instances[0].State = "stopped"; s.VPGs[0].GateOpened = false },
			kind:   KindRouterInstance, object: "i-7"},
		{name: "fleet egress and SIM offline",
			mutate: func(t *testing.T, s *Snapshot) {
				findSG(t, s, "sg-fleet").Egress = nil
				findSIM(t, s, simDevice).Online = false
			},
			kind: KindFleetSecurityGroup, object: "sg-fleet"},
	}

	covered := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := world()
			if tc.mutate != nil {
				tc.mutate(t, &s)
			}
			from := src
			if tc.from != nil {
				from = *tc.from
			}
			to, port := tc.to, tc.port
			if !to.IsValid() {
				to = devAddr
			}
			if port == 0 {
				port = 22
				if to == lanAddr {
					port = 502
				}
			}
			r := Walk(s, from, to, port)
			if r.Reachable || r.Broken == nil {
				t.Fatalf("Walk = %s; want broken %s", r, tc.kind)
			}
			if r.Broken.Kind != tc.kind || r.Broken.Object != tc.object {
				t.Fatalf("broken = %s %s (%s); want %s %s", r.Broken.Kind, r.Broken.Object, r.Broken.Reason, tc.kind, tc.object)
			}
			first, _, _ := strings.Cut(tc.object, ",")
			if !strings.Contains(r.Broken.Reason, first) {
				t.Errorf("reason %q does not name %s", r.Broken.Reason, first)
			}
			if r.String() != "unreachable: "+r.Broken.Reason {
				t.Errorf("String() = %q", r.String())
			}
			t.Logf("%s", r)
		})
		covered[tc.kind] = true
	}
	for _, k := range HopKinds() {
		if !covered[k] {
			t.Errorf("no row breaks %s", k)
		}
	}
}

// TestWalkTrailStopsAtBreak: the trail shows how far the packet got.
func TestWalkTrailStopsAtBreak(t *testing.T) {
	s := world()
	s.VPGs[0].GateOpened = false
	r := Walk(s, src, devAddr, 22)
	want := trailDirect[:6] // up to and including vpg-1
	if !slices.Equal(r.Hops, want) {
		t.Errorf("hops %q, want %q", r.Hops, want)
	}
	if r.Router != "i-7" {
		t.Errorf("router %q", r.Router)
	}
}

// TestWalkFurthestLeg: with two remotes both failing, the one that got
// further is reported.
func TestWalkFurthestLeg(t *testing.T) {
	s := world()
	s.VPGs[0].OwnPeers = append(s.VPGs[0].OwnPeers, Peer{Outer: ip("100.64.1.11")})
	// Remote .10 has no underlay route; remote .11 gets to the VPG, whose Gate is closed.
	findRoute(t, &s, "rtb-2", "100.64.1.0/24").Dest = pfx("100.64.1.11/32")
	s.VPGs[0].GateOpened = false
	r := Walk(s, src, devAddr, 22)
	if r.Broken == nil || r.Broken.Kind != KindGate {
		t.Fatalf("Walk = %s; want Gate", r)
	}
	if !slices.Contains(r.Hops, "100.64.1.11 via pcx-1") {
		t.Errorf("hops %q do not go via 100.64.1.11", r.Hops)
	}
}

// TestWalkPure: same input, same result, and the snapshot is untouched.
func TestWalkPure(t *testing.T) {
	s := world()
	before := world()
	a := Walk(s, src, lanAddr, 502)
	b := Walk(s, src, lanAddr, 502)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("two walks differ:\n%#v\n%#v", a, b)
	}
	if !reflect.DeepEqual(s, before) {
		t.Error("Walk modified the snapshot")
	}
}

func TestHopOrder(t *testing.T) {
	ks := HopKinds()
	if len(ks) != 18 || ks[0] != KindFleetSubnet || ks[17] != KindDevice {
		t.Fatalf("HopKinds = %q", ks)
	}
	for i, k := range ks {
		if HopOrder(k) != i+1 {
			t.Errorf("HopOrder(%s) = %d, want %d", k, HopOrder(k), i+1)
		}
	}
	ks[0] = "x"
	if HopKinds()[0] != KindFleetSubnet {
		t.Error("HopKinds shares its slice")
	}
	if HopOrder("Nope") != 0 {
		t.Error("unknown kind has an order")
	}
}
