package pathcheck

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/gatestream/gatestream/internal/routerconfig"
)

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

// perm is a security group rule; ports nil means the rule names none (all).
func perm(proto string, ports []int32, cidrs ...string) ec2types.IpPermission {
	p := ec2types.IpPermission{IpProtocol: aws.String(proto)}
	if ports != nil {
		p.FromPort, p.ToPort = aws.Int32(ports[0]), aws.Int32(ports[1])
	}
	for _, c := range cidrs {
		p.IpRanges = append(p.IpRanges, ec2types.IpRange{CidrIp: aws.String(c)})
	}
	return p
}

func groupPerm(proto string, group string) ec2types.IpPermission {
	return ec2types.IpPermission{IpProtocol: aws.String(proto), UserIdGroupPairs: []ec2types.UserIdGroupPair{{GroupId: aws.String(group)}}}
}

func route(cidr string, set func(*ec2types.Route)) ec2types.Route {
	r := ec2types.Route{DestinationCidrBlock: aws.String(cidr), State: ec2types.RouteStateActive}
	set(&r)
	return r
}

func toENI(id string) func(*ec2types.Route) {
	return func(r *ec2types.Route) { r.NetworkInterfaceId = aws.String(id) }
}
func toGateway(id string) func(*ec2types.Route) {
	return func(r *ec2types.Route) { r.GatewayId = aws.String(id) }
}
func toPeering(id string) func(*ec2types.Route) {
	return func(r *ec2types.Route) { r.VpcPeeringConnectionId = aws.String(id) }
}

func assoc(subnet string) ec2types.RouteTableAssociation {
	return ec2types.RouteTableAssociation{SubnetId: aws.String(subnet),
		AssociationState: &ec2types.RouteTableAssociationState{State: ec2types.RouteTableAssociationStateCodeAssociated}}
}

func subnet(id, vpc, cidr string) ec2types.Subnet {
	return ec2types.Subnet{SubnetId: aws.String(id), VpcId: aws.String(vpc), CidrBlock: aws.String(cidr)}
}

// routerConfig is the config of router i-r, passed through Render and Parse
// so the check reads exactly what a managed router's user data says.
func routerConfig(t *testing.T, inner string) *routerconfig.Config {
	t.Helper()
	c, unknown, err := routerconfig.Parse(routerconfig.Render(routerconfig.Config{
		Owner:         "ns/env",
		VXLANID:       10,
		Remotes:       []netip.Addr{addr("100.64.1.10")},
		Inner:         pfx(inner),
		VPCCIDR:       pfx("10.0.0.0/16"),
		SubnetGateway: addr("10.0.1.1"),
		VPGInner:      addr("10.255.255.254"),
		Masquerade:    true,
	}))
	if err != nil || len(unknown) != 0 {
		t.Fatalf("router config: %v %q", err, unknown)
	}
	return &c
}

// working is a fully working environment: two fleet subnets (a, b) sharing
// rtb-fleet, one router i-r in subnet-r, Canal peering pcx-1 to vpg-1.
func working(t *testing.T) Input {
	t.Helper()
	return Input{
		VPCID:                 "vpc-1",
		VPCCIDR:               pfx("10.0.0.0/16"),
		FleetSubnetIDs:        []string{"subnet-a", "subnet-b"},
		FleetSecurityGroupIDs: []string{"sg-fleet"},
		Subnets: map[string]ec2types.Subnet{
			"subnet-a": subnet("subnet-a", "vpc-1", "10.0.2.0/24"),
			"subnet-b": subnet("subnet-b", "vpc-1", "10.0.3.0/24"),
			"subnet-r": subnet("subnet-r", "vpc-1", "10.0.1.0/24"),
		},
		RouteTables: []ec2types.RouteTable{
			{RouteTableId: aws.String("rtb-main"), Associations: []ec2types.RouteTableAssociation{{Main: aws.Bool(true)}},
				Routes: []ec2types.Route{route("10.0.0.0/16", toGateway("local"))}},
			{RouteTableId: aws.String("rtb-fleet"), Associations: []ec2types.RouteTableAssociation{assoc("subnet-a"), assoc("subnet-b")},
				Routes: []ec2types.Route{
					route("10.0.0.0/16", toGateway("local")),
					route("10.128.0.0/9", toENI("eni-r")),
					route("192.168.1.0/24", toENI("eni-r")),
					route("0.0.0.0/0", toGateway("igw-1")),
				}},
			{RouteTableId: aws.String("rtb-r"), Associations: []ec2types.RouteTableAssociation{assoc("subnet-r")},
				Routes: []ec2types.Route{
					route("10.0.0.0/16", toGateway("local")),
					route("100.64.0.0/16", toPeering("pcx-1")),
					route("0.0.0.0/0", toGateway("igw-1")),
				}},
		},
		SecurityGroups: map[string]ec2types.SecurityGroup{
			"sg-fleet": {GroupId: aws.String("sg-fleet"), IpPermissionsEgress: []ec2types.IpPermission{perm("-1", nil, "0.0.0.0/0")}},
			"sg-router": {GroupId: aws.String("sg-router"),
				IpPermissions: []ec2types.IpPermission{
					perm("tcp", []int32{0, 65535}, "10.0.0.0/16"),
					perm("udp", []int32{4789, 4789}, "100.64.0.0/16"),
				},
				IpPermissionsEgress: []ec2types.IpPermission{perm("udp", []int32{4789, 4789}, "100.64.0.0/16")}},
		},
		Routers: []Router{{
			InstanceID: "i-r",
			State:      "running",
			ENI: &ec2types.NetworkInterface{
				NetworkInterfaceId: aws.String("eni-r"),
				SubnetId:           aws.String("subnet-r"),
				PrivateIpAddress:   aws.String("10.0.1.10"),
				SourceDestCheck:    aws.Bool(false),
				Groups:             []ec2types.GroupIdentifier{{GroupId: aws.String("sg-router")}},
			},
			Config: routerConfig(t, "10.255.255.253/9"),
		}},
		Peering: Peering{ID: "pcx-1", State: "active"},
		Gateway: Gateway{
			ID:              "vpg-1",
			DeviceSubnet:    pfx("10.128.0.0/9"),
			VPGSubnet:       pfx("100.64.0.0/16"),
			GateOpened:      true,
			VXLANID:         10,
			OwnPeers:        []Peer{{Outer: addr("100.64.1.10"), Inner: addr("10.255.255.254")}},
			CustomerPeers:   []Peer{{Outer: addr("10.0.1.10"), Inner: addr("10.255.255.253")}},
			SimBasedRouting: true,
			SimRoutes:       map[string]netip.Prefix{"sim-lan": pfx("192.168.1.0/24"), "sim-other": pfx("192.168.2.0/24")},
		},
		ReturnPath: ReturnPathMasquerade,
	}
}

// meter is a device on a SIM in the device subnet; plc sits on a LAN behind
// the cellular router with SIM sim-lan.
func meter() Target {
	return Target{Name: "meter", Address: addr("10.128.0.5"), Port: 22,
		SIM: SIM{ID: "sim-1", Online: true, VPGID: "vpg-1", Known: true}}
}

func plc() Target {
	return Target{Name: "plc", Address: addr("192.168.1.10"), Port: 502,
		SIM: SIM{ID: "sim-lan", Online: true, VPGID: "vpg-1", Known: true}}
}

// withSecondRouter moves subnet-b to its own route table and router i-r2 in
// subnet-r2 (one router per availability zone).
func withSecondRouter(t *testing.T, in *Input) {
	in.Subnets["subnet-r2"] = subnet("subnet-r2", "vpc-1", "10.0.4.0/24")
	in.RouteTables[1].Associations = []ec2types.RouteTableAssociation{assoc("subnet-a")}
	in.RouteTables[2].Associations = append(in.RouteTables[2].Associations, assoc("subnet-r2"))
	in.RouteTables = append(in.RouteTables, ec2types.RouteTable{
		RouteTableId: aws.String("rtb-fleet-b"), Associations: []ec2types.RouteTableAssociation{assoc("subnet-b")},
		Routes: []ec2types.Route{
			route("10.0.0.0/16", toGateway("local")),
			route("10.128.0.0/9", toENI("eni-r2")),
			route("192.168.1.0/24", toENI("eni-r2")),
		}})
	c := routerConfig(t, "10.255.255.252/9")
	c.SubnetGateway = addr("10.0.4.1")
	in.Routers = append(in.Routers, Router{
		InstanceID: "i-r2",
		State:      "running",
		ENI: &ec2types.NetworkInterface{
			NetworkInterfaceId: aws.String("eni-r2"),
			SubnetId:           aws.String("subnet-r2"),
			PrivateIpAddress:   aws.String("10.0.4.10"),
			SourceDestCheck:    aws.Bool(false),
			Groups:             []ec2types.GroupIdentifier{{GroupId: aws.String("sg-router")}},
		},
		Config: c,
	})
	in.Gateway.CustomerPeers = append(in.Gateway.CustomerPeers, Peer{Outer: addr("10.0.4.10"), Inner: addr("10.255.255.252")})
}

func rtb(in *Input, id string) *ec2types.RouteTable {
	for i := range in.RouteTables {
		if aws.ToString(in.RouteTables[i].RouteTableId) == id {
			return &in.RouteTables[i]
		}
	}
	panic("no route table " + id)
}

func setRoute(in *Input, table, cidr string, r ec2types.Route) {
	t := rtb(in, table)
	for i := range t.Routes {
		if aws.ToString(t.Routes[i].DestinationCidrBlock) == cidr {
			t.Routes[i] = r
			return
		}
	}
	t.Routes = append(t.Routes, r)
}

func dropRoute(in *Input, table, cidr string) {
	t := rtb(in, table)
	for i := range t.Routes {
		if aws.ToString(t.Routes[i].DestinationCidrBlock) == cidr {
			t.Routes = append(t.Routes[:i], t.Routes[i+1:]...)
			return
		}
	}
	panic("no route " + cidr)
}

func setSG(in *Input, id string, ingress, egress []ec2types.IpPermission) {
	sg := in.SecurityGroups[id]
	if ingress != nil {
		sg.IpPermissions = ingress
	}
	if egress != nil {
		sg.IpPermissionsEgress = egress
	}
	in.SecurityGroups[id] = sg
}

const (
	checkDevice  = iota // Device(in, meter)
	checkLAN            // Device(in, plc)
	checkNetwork        // Network(in)
)

func run(in Input, t Target, check int) Result {
	if check == checkNetwork {
		return Network(in)
	}
	return Device(in, t)
}

// TestBroken breaks exactly one thing of the working environment per row and
// expects the first broken hop to name it.
func TestBroken(t *testing.T) {
	tests := []struct {
		name   string
		check  int
		breaks func(t *testing.T, in *Input, tg *Target)
		kind   string
		object string
	}{
		// 1 FleetSubnet
		{"fleet subnet missing", checkDevice, func(t *testing.T, in *Input, _ *Target) { delete(in.Subnets, "subnet-b") }, KindFleetSubnet, "subnet-b"},
		{"fleet subnet in another VPC", checkNetwork, func(t *testing.T, in *Input, _ *Target) {
			in.Subnets["subnet-a"] = subnet("subnet-a", "vpc-2", "10.0.2.0/24")
		}, KindFleetSubnet, "subnet-a"},
		// 2 FleetSecurityGroup
		{"fleet egress only https", checkDevice, func(t *testing.T, in *Input, _ *Target) {
			setSG(in, "sg-fleet", nil, []ec2types.IpPermission{perm("tcp", []int32{443, 443}, "0.0.0.0/0")})
		}, KindFleetSecurityGroup, "sg-fleet"},
		{"fleet egress covers part of the device subnet (network)", checkNetwork, func(t *testing.T, in *Input, _ *Target) {
			setSG(in, "sg-fleet", nil, []ec2types.IpPermission{perm("tcp", []int32{22, 22}, "10.128.0.0/16")})
		}, KindFleetSecurityGroup, "sg-fleet"},
		{"fleet egress udp only", checkDevice, func(t *testing.T, in *Input, _ *Target) {
			setSG(in, "sg-fleet", nil, []ec2types.IpPermission{perm("17", nil, "0.0.0.0/0")})
		}, KindFleetSecurityGroup, "sg-fleet"},
		{"fleet group not observed", checkDevice, func(t *testing.T, in *Input, _ *Target) {
			in.FleetSecurityGroupIDs = []string{"sg-fleet", "sg-gone"}
			delete(in.SecurityGroups, "sg-fleet")
		}, KindFleetSecurityGroup, "sg-fleet,sg-gone"},
		// 3 FleetRoute
		{"no route to the device subnet", checkDevice, func(t *testing.T, in *Input, _ *Target) { dropRoute(in, "rtb-fleet", "10.128.0.0/9") }, KindFleetRoute, "rtb-fleet"},
		{"route to the wrong ENI", checkDevice, func(t *testing.T, in *Input, _ *Target) {
			setRoute(in, "rtb-fleet", "10.128.0.0/9", route("10.128.0.0/9", toENI("eni-other")))
		}, KindFleetRoute, "rtb-fleet"},
		{"blackhole route", checkNetwork, func(t *testing.T, in *Input, _ *Target) {
			r := route("10.128.0.0/9", toENI("eni-r"))
			r.State = ec2types.RouteStateBlackhole
			setRoute(in, "rtb-fleet", "10.128.0.0/9", r)
		}, KindFleetRoute, "rtb-fleet"},
		{"LAN CIDR not routed, default to the internet", checkLAN, func(t *testing.T, in *Input, _ *Target) { dropRoute(in, "rtb-fleet", "192.168.1.0/24") }, KindFleetRoute, "rtb-fleet"},
		{"second subnet falls back to the main table", checkDevice, func(t *testing.T, in *Input, _ *Target) {
			rtb(in, "rtb-fleet").Associations = []ec2types.RouteTableAssociation{assoc("subnet-a")}
		}, KindFleetRoute, "rtb-main"},
		// 4 RouterInstance
		{"stopped router", checkDevice, func(t *testing.T, in *Input, _ *Target) { in.Routers[0].State = "stopped" }, KindRouterInstance, "i-r"},
		{"impaired router", checkNetwork, func(t *testing.T, in *Input, _ *Target) { in.Routers[0].Impaired = true }, KindRouterInstance, "i-r"},
		{"router ENI not found", checkDevice, func(t *testing.T, in *Input, _ *Target) {
			in.Routers[0].ENI = nil
			r := route("10.128.0.0/9", toENI("eni-r"))
			r.InstanceId = aws.String("i-r")
			setRoute(in, "rtb-fleet", "10.128.0.0/9", r)
		}, KindRouterInstance, "i-r"},
		// 5 RouterSourceDestCheck
		{"source/dest check on", checkDevice, func(t *testing.T, in *Input, _ *Target) { in.Routers[0].ENI.SourceDestCheck = aws.Bool(true) }, KindRouterSourceDestCheck, "eni-r"},
		// 6 RouterSecurityGroup
		{"router ingress only from subnet-a", checkDevice, func(t *testing.T, in *Input, _ *Target) {
			setSG(in, "sg-router", []ec2types.IpPermission{perm("tcp", nil, "10.0.2.0/24"), perm("udp", []int32{4789, 4789}, "100.64.0.0/16")}, nil)
		}, KindRouterSecurityGroup, "sg-router"},
		{"router ingress wrong port", checkDevice, func(t *testing.T, in *Input, _ *Target) {
			setSG(in, "sg-router", []ec2types.IpPermission{perm("tcp", []int32{80, 443}, "10.0.0.0/16"), perm("udp", []int32{4789, 4789}, "100.64.0.0/16")}, nil)
		}, KindRouterSecurityGroup, "sg-router"},
		{"router ingress by another group", checkDevice, func(t *testing.T, in *Input, _ *Target) {
			setSG(in, "sg-router", []ec2types.IpPermission{groupPerm("-1", "sg-someone"), perm("udp", []int32{4789, 4789}, "100.64.0.0/16")}, nil)
		}, KindRouterSecurityGroup, "sg-router"},
		// 7 RouterConfig
		{"user data does not parse", checkDevice, func(t *testing.T, in *Input, _ *Target) {
			in.Routers[0].Config, in.Routers[0].ConfigError = nil, `line 5 "ip link add vxlan0 type vxlan id ten dstport 4789": VXLAN id "ten"`
		}, KindRouterConfig, "i-r"},
		{"no forwarding", checkNetwork, func(t *testing.T, in *Input, _ *Target) { in.Routers[0].Config.IPForward = false }, KindRouterConfig, "i-r"},
		{"no policy rule", checkDevice, func(t *testing.T, in *Input, _ *Target) { in.Routers[0].Config.HasPolicyRule = false }, KindRouterConfig, "i-r"},
		{"inner address outside the device subnet", checkDevice, func(t *testing.T, in *Input, _ *Target) {
			in.Routers[0].Config.Inner = pfx("10.100.0.1/16")
		}, KindRouterConfig, "i-r"},
		{"default route not via the VPG", checkDevice, func(t *testing.T, in *Input, _ *Target) { in.Routers[0].Config.VPGInner = addr("10.255.255.1") }, KindRouterConfig, "i-r"},
		{"VPC route misses the fleet subnet", checkDevice, func(t *testing.T, in *Input, _ *Target) { in.Routers[0].Config.VPCCIDR = pfx("10.0.2.0/24") }, KindRouterConfig, "i-r"},
		{"VPC route via the wrong gateway", checkDevice, func(t *testing.T, in *Input, _ *Target) { in.Routers[0].Config.SubnetGateway = addr("10.0.2.1") }, KindRouterConfig, "i-r"},
		// 8 VXLANRemote
		{"VXLAN to a stale remote", checkDevice, func(t *testing.T, in *Input, _ *Target) {
			in.Routers[0].Config.Remotes = []netip.Addr{addr("100.64.9.9")}
		}, KindVXLANRemote, "i-r"},
		// 9 TunnelPort
		{"no tunnel egress", checkDevice, func(t *testing.T, in *Input, _ *Target) {
			setSG(in, "sg-router", nil, []ec2types.IpPermission{perm("tcp", nil, "0.0.0.0/0")})
		}, KindTunnelPort, "sg-router"},
		{"tunnel ingress from part of the VPG subnet", checkNetwork, func(t *testing.T, in *Input, _ *Target) {
			setSG(in, "sg-router", []ec2types.IpPermission{perm("tcp", []int32{0, 65535}, "10.0.0.0/16"), perm("udp", []int32{4789, 4789}, "100.64.1.0/24")}, nil)
		}, KindTunnelPort, "sg-router"},
		// 10 Underlay
		{"no route to the VPG subnet", checkDevice, func(t *testing.T, in *Input, _ *Target) { dropRoute(in, "rtb-r", "100.64.0.0/16") }, KindUnderlay, "rtb-r"},
		{"VPG subnet via another peering", checkNetwork, func(t *testing.T, in *Input, _ *Target) {
			setRoute(in, "rtb-r", "100.64.0.0/16", route("100.64.0.0/16", toPeering("pcx-old")))
		}, KindUnderlay, "rtb-r"},
		// 11 Peering
		{"peering not accepted", checkDevice, func(t *testing.T, in *Input, _ *Target) { in.Peering.State = "pending-acceptance" }, KindPeering, "pcx-1"},
		// 12 Gate
		{"Gate closed", checkNetwork, func(t *testing.T, in *Input, _ *Target) { in.Gateway.GateOpened = false }, KindGate, "vpg-1"},
		// 13 GatePeer
		{"router not a Gate peer", checkDevice, func(t *testing.T, in *Input, _ *Target) {
			in.Gateway.CustomerPeers = []Peer{{Outer: addr("10.0.1.99")}}
		}, KindGatePeer, "vpg-1"},
		// 14 VXLANID
		{"wrong VXLAN id", checkDevice, func(t *testing.T, in *Input, _ *Target) { in.Gateway.VXLANID = 11 }, KindVXLANID, "i-r"},
		{"wrong VXLAN id (network)", checkNetwork, func(t *testing.T, in *Input, _ *Target) { in.Routers[0].Config.VXLANID = 20 }, KindVXLANID, "i-r"},
		// 15 LANRoute
		{"SIM-based routing off", checkLAN, func(t *testing.T, in *Input, _ *Target) { in.Gateway.SimBasedRouting = false }, KindLANRoute, "vpg-1"},
		{"no SIM route covers the LAN address", checkLAN, func(t *testing.T, in *Input, _ *Target) { delete(in.Gateway.SimRoutes, "sim-lan") }, KindLANRoute, "vpg-1"},
		{"LAN routed to another SIM", checkLAN, func(t *testing.T, in *Input, tg *Target) {
			in.Gateway.SimRoutes["sim-other"] = pfx("192.168.1.0/25")
		}, KindLANRoute, "vpg-1"},
		// 16 SIM
		{"SIM offline", checkDevice, func(t *testing.T, in *Input, tg *Target) { tg.SIM.Online = false }, KindSIM, "sim-1"},
		{"SIM unknown", checkDevice, func(t *testing.T, in *Input, tg *Target) { tg.SIM.Known = false }, KindSIM, "sim-1"},
		{"SIM on another VPG", checkDevice, func(t *testing.T, in *Input, tg *Target) { tg.SIM.VPGID = "vpg-2" }, KindSIM, "sim-1"},
		{"LAN router's SIM offline", checkLAN, func(t *testing.T, in *Input, tg *Target) { tg.SIM.Online = false }, KindSIM, "sim-lan"},
		{"offline SIM without an address", checkDevice, func(t *testing.T, in *Input, tg *Target) {
			tg.SIM.Online, tg.Address = false, netip.Addr{}
		}, KindSIM, "sim-1"},
		// 17 ReturnPath
		{"no masquerade", checkDevice, func(t *testing.T, in *Input, _ *Target) { in.Routers[0].Config.Masquerade = false }, KindReturnPath, "i-r"},
		{"no masquerade (network)", checkNetwork, func(t *testing.T, in *Input, _ *Target) { in.Routers[0].Config.Masquerade = false }, KindReturnPath, "i-r"},
		{"Junction redirection off", checkDevice, func(t *testing.T, in *Input, _ *Target) { in.ReturnPath = ReturnPathJunctionRedirection }, KindReturnPath, "vpg-1"},
		{"Junction redirection elsewhere", checkLAN, func(t *testing.T, in *Input, _ *Target) {
			in.ReturnPath = ReturnPathJunctionRedirection
			in.Gateway.Redirection = &Redirection{Enabled: true, Gateway: addr("10.255.255.1")}
		}, KindReturnPath, "vpg-1"},
		// Two routers, one per fleet subnet: the second subnet's router is the broken one.
		{"two routers, second stopped", checkDevice, func(t *testing.T, in *Input, _ *Target) {
			withSecondRouter(t, in)
			in.Routers[1].State = "stopped"
		}, KindRouterInstance, "i-r2"},
		{"two routers, second not a Gate peer", checkNetwork, func(t *testing.T, in *Input, _ *Target) {
			withSecondRouter(t, in)
			in.Gateway.CustomerPeers = in.Gateway.CustomerPeers[:1]
		}, KindGatePeer, "vpg-1"},
		{"two routers, Junction redirection to the first only", checkDevice, func(t *testing.T, in *Input, _ *Target) {
			withSecondRouter(t, in)
			in.ReturnPath = ReturnPathJunctionRedirection
			in.Gateway.Redirection = &Redirection{Enabled: true, Gateway: addr("10.255.255.253")}
		}, KindReturnPath, "vpg-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := working(t)
			tg := meter()
			if tt.check == checkLAN {
				tg = plc()
			}
			tt.breaks(t, &in, &tg)
			res := run(in, tg, tt.check)
			if res.Reachable || res.Broken == nil {
				t.Fatalf("reachable: %s", res.Summary())
			}
			t.Logf("%s %s: %s", res.Broken.Kind, res.Broken.Object, res.Broken.Reason)
			if res.Broken.Kind != tt.kind || res.Broken.Object != tt.object {
				t.Errorf("broken hop %s %q (%s), want %s %q", res.Broken.Kind, res.Broken.Object, res.Broken.Reason, tt.kind, tt.object)
			}
			if !strings.Contains(res.Broken.Reason, tt.object) {
				t.Errorf("reason %q does not name %s", res.Broken.Reason, tt.object)
			}
			if res.Summary() != res.Broken.Reason {
				t.Errorf("Summary %q, want the reason", res.Summary())
			}
			if tt.check != checkNetwork && !hasKind(res.Unverified, KindDevice) {
				t.Errorf("Unverified %v lacks the Device hop", res.Unverified)
			}
		})
	}
}

func hasKind(hops []Hop, kind string) bool {
	for _, h := range hops {
		if h.Kind == kind {
			return true
		}
	}
	return false
}

func kinds(hops []Hop) []string {
	var out []string
	for _, h := range hops {
		out = append(out, h.Kind)
	}
	return out
}

// TestReachable checks working variants, their trails and unverified hops.
func TestReachable(t *testing.T) {
	tests := []struct {
		name       string
		check      int
		change     func(t *testing.T, in *Input, tg *Target)
		path       []string
		via        []string
		unverified []string
		summary    string
	}{
		{"device in the device subnet", checkDevice, nil,
			[]string{
				"subnet-a → rtb-fleet → eni-r → i-r → pcx-1 → vpg-1 → sim-1 → 10.128.0.5:22",
				"subnet-b → rtb-fleet → eni-r → i-r → pcx-1 → vpg-1 → sim-1 → 10.128.0.5:22",
			}, []string{"i-r", "i-r"}, []string{KindDevice},
			"reachable via i-r (subnet-a → rtb-fleet → eni-r → i-r → pcx-1 → vpg-1 → sim-1 → 10.128.0.5:22); " +
				"via i-r (subnet-b → rtb-fleet → eni-r → i-r → pcx-1 → vpg-1 → sim-1 → 10.128.0.5:22)"},
		{"device on a LAN", checkLAN, nil,
			[]string{
				"subnet-a → rtb-fleet → eni-r → i-r → pcx-1 → vpg-1 → sim-lan → 192.168.1.10:502",
				"subnet-b → rtb-fleet → eni-r → i-r → pcx-1 → vpg-1 → sim-lan → 192.168.1.10:502",
			}, []string{"i-r", "i-r"}, []string{KindDevice}, ""},
		{"network", checkNetwork, nil,
			[]string{
				"subnet-a → rtb-fleet → eni-r → i-r → pcx-1 → vpg-1 → 10.128.0.0/9",
				"subnet-b → rtb-fleet → eni-r → i-r → pcx-1 → vpg-1 → 10.128.0.0/9",
			}, []string{"i-r", "i-r"}, nil, ""},
		{"network ignores device-level problems", checkNetwork, func(t *testing.T, in *Input, _ *Target) {
			in.Gateway.SimBasedRouting = false
		}, nil, []string{"i-r", "i-r"}, nil, ""},
		{"network needs only some port", checkNetwork, func(t *testing.T, in *Input, _ *Target) {
			setSG(in, "sg-fleet", nil, []ec2types.IpPermission{perm("6", []int32{443, 443}, "10.0.0.0/8")})
			setSG(in, "sg-router", []ec2types.IpPermission{perm("tcp", []int32{22, 22}, "10.0.0.0/16"), perm("udp", nil, "0.0.0.0/0")}, nil)
		}, nil, []string{"i-r", "i-r"}, nil, ""},
		{"two routers, one subnet each", checkDevice, func(t *testing.T, in *Input, _ *Target) { withSecondRouter(t, in) },
			[]string{
				"subnet-a → rtb-fleet → eni-r → i-r → pcx-1 → vpg-1 → sim-1 → 10.128.0.5:22",
				"subnet-b → rtb-fleet-b → eni-r2 → i-r2 → pcx-1 → vpg-1 → sim-1 → 10.128.0.5:22",
			}, []string{"i-r", "i-r2"}, []string{KindDevice},
			"reachable via i-r (subnet-a → rtb-fleet → eni-r → i-r → pcx-1 → vpg-1 → sim-1 → 10.128.0.5:22); " +
				"via i-r2 (subnet-b → rtb-fleet-b → eni-r2 → i-r2 → pcx-1 → vpg-1 → sim-1 → 10.128.0.5:22)"},
		{"Junction redirection to the router", checkLAN, func(t *testing.T, in *Input, _ *Target) {
			in.ReturnPath = ReturnPathJunctionRedirection
			in.Gateway.Redirection = &Redirection{Enabled: true, Gateway: addr("10.255.255.253")}
			in.Routers[0].Config.Masquerade = false
		}, nil, []string{"i-r", "i-r"}, []string{KindDevice}, ""},
		{"device without a port: some tcp port is enough", checkDevice, func(t *testing.T, in *Input, tg *Target) {
			tg.Port = 0
			setSG(in, "sg-fleet", nil, []ec2types.IpPermission{perm("tcp", []int32{443, 443}, "10.128.0.5/32")})
		}, []string{
			"subnet-a → rtb-fleet → eni-r → i-r → pcx-1 → vpg-1 → sim-1 → 10.128.0.5",
			"subnet-b → rtb-fleet → eni-r → i-r → pcx-1 → vpg-1 → sim-1 → 10.128.0.5",
		}, []string{"i-r", "i-r"}, []string{KindDevice}, ""},
		{"router admits the fleet by group", checkDevice, func(t *testing.T, in *Input, _ *Target) {
			setSG(in, "sg-router", []ec2types.IpPermission{groupPerm("tcp", "sg-fleet"), perm("udp", []int32{4789, 4789}, "100.64.0.0/16")}, nil)
		}, nil, []string{"i-r", "i-r"}, []string{KindDevice}, ""},
		{"more specific LAN route to the device's SIM", checkLAN, func(t *testing.T, in *Input, _ *Target) {
			in.Gateway.SimRoutes["sim-other"] = pfx("192.168.0.0/16")
		}, nil, []string{"i-r", "i-r"}, []string{KindDevice}, ""},
		{"default fleet group is unverified", checkDevice, func(t *testing.T, in *Input, _ *Target) { in.FleetSecurityGroupIDs = nil },
			nil, []string{"i-r", "i-r"}, []string{KindFleetSecurityGroup, KindDevice}, ""},
		{"router user data not observable", checkDevice, func(t *testing.T, in *Input, _ *Target) { in.Routers[0].Config = nil },
			nil, []string{"i-r", "i-r"}, []string{KindRouterConfig, KindVXLANRemote, KindVXLANID, KindReturnPath, KindDevice}, ""},
		{"router user data not observable (network)", checkNetwork, func(t *testing.T, in *Input, _ *Target) { in.Routers[0].Config = nil },
			nil, []string{"i-r", "i-r"}, []string{KindRouterConfig, KindVXLANRemote, KindVXLANID, KindReturnPath}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := working(t)
			tg := meter()
			if tt.check == checkLAN {
				tg = plc()
			}
			if tt.change != nil {
				tt.change(t, &in, &tg)
			}
			res := run(in, tg, tt.check)
			if !res.Reachable || res.Broken != nil {
				t.Fatalf("not reachable: %s", res.Summary())
			}
			if tt.path != nil && !reflect.DeepEqual(res.Path, tt.path) {
				t.Errorf("Path = %q, want %q", res.Path, tt.path)
			}
			if !reflect.DeepEqual(res.Via, tt.via) {
				t.Errorf("Via = %q, want %q", res.Via, tt.via)
			}
			if got := kinds(res.Unverified); !reflect.DeepEqual(got, tt.unverified) {
				t.Errorf("Unverified = %v, want kinds %v", res.Unverified, tt.unverified)
			}
			for _, h := range res.Unverified {
				if h.Object != "" && !strings.Contains(h.Reason, h.Object) {
					t.Errorf("unverified reason %q does not name %s", h.Reason, h.Object)
				}
			}
			if tt.summary != "" && res.Summary() != tt.summary {
				t.Errorf("Summary = %q, want %q", res.Summary(), tt.summary)
			}
			if !strings.HasPrefix(res.Summary(), "reachable via i-r (subnet-a → ") {
				t.Errorf("Summary = %q", res.Summary())
			}
		})
	}
}

// TestDeterministic runs a check with a map of several LAN routes many times:
// map order must not leak into the verdict.
func TestDeterministic(t *testing.T) {
	in := working(t)
	in.Gateway.SimRoutes["sim-a"] = pfx("192.168.1.0/24")
	in.Gateway.SimRoutes["sim-b"] = pfx("192.168.1.0/24")
	tg := plc()
	first := Device(in, tg)
	for range 50 {
		if got := Device(in, tg); !reflect.DeepEqual(got, first) {
			t.Fatalf("Device varies: %+v then %+v", first, got)
		}
	}
	if first.Broken == nil || first.Broken.Kind != KindLANRoute || !strings.Contains(first.Broken.Reason, "sim-a") {
		t.Errorf("equal LAN routes: want the lowest SIM ID, sim-a: %+v", first.Broken)
	}
}

func TestNoFleetSubnets(t *testing.T) {
	in := working(t)
	in.FleetSubnetIDs = nil
	res := Network(in)
	if res.Reachable || res.Broken == nil || res.Broken.Kind != KindFleetSubnet {
		t.Errorf("no fleet subnets: %+v", res)
	}
}

func TestRouteTableFor(t *testing.T) {
	main := ec2types.RouteTable{RouteTableId: aws.String("rtb-main"), Associations: []ec2types.RouteTableAssociation{{Main: aws.Bool(true)}}}
	explicit := ec2types.RouteTable{RouteTableId: aws.String("rtb-x"), Associations: []ec2types.RouteTableAssociation{assoc("subnet-x")}}
	leaving := ec2types.RouteTable{RouteTableId: aws.String("rtb-old"), Associations: []ec2types.RouteTableAssociation{{SubnetId: aws.String("subnet-y"),
		AssociationState: &ec2types.RouteTableAssociationState{State: ec2types.RouteTableAssociationStateCodeDisassociated}}}}
	tests := []struct {
		name   string
		tables []ec2types.RouteTable
		subnet string
		want   string // "" for none
	}{
		{"explicit association wins over main", []ec2types.RouteTable{main, explicit}, "subnet-x", "rtb-x"},
		{"no association: main", []ec2types.RouteTable{explicit, main}, "subnet-z", "rtb-main"},
		{"disassociated: main", []ec2types.RouteTable{leaving, main}, "subnet-y", "rtb-main"},
		{"no main table", []ec2types.RouteTable{explicit}, "subnet-z", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := RouteTableFor(tt.tables, tt.subnet)
			if id := aws.ToString(got.RouteTableId); ok != (tt.want != "") || id != tt.want {
				t.Errorf("RouteTableFor = %q, %v; want %q", id, ok, tt.want)
			}
		})
	}
}

func TestLongestMatch(t *testing.T) {
	table := ec2types.RouteTable{Routes: []ec2types.Route{
		route("0.0.0.0/0", toGateway("igw-1")),
		route("10.0.0.0/16", toGateway("local")),
		route("10.128.0.0/9", toENI("eni-r")),
		route("10.128.5.0/24", toENI("eni-s")),
		{DestinationPrefixListId: aws.String("pl-1"), GatewayId: aws.String("vpce-1")},
	}}
	tests := []struct {
		dst, want string
	}{
		{"10.128.0.5/32", "eni-r"},
		{"10.128.5.9/32", "eni-s"},
		{"10.128.0.0/9", "eni-r"}, // the /24 holds only part of it
		{"10.0.3.4/32", "local (the VPC itself)"},
		{"8.8.8.8/32", "igw-1"},
	}
	for _, tt := range tests {
		r, _, ok := longestMatch(table, pfx(tt.dst))
		if !ok || describeTarget(r) != tt.want {
			t.Errorf("longestMatch(%s) = %s, %v; want %s", tt.dst, describeTarget(r), ok, tt.want)
		}
	}
}

func TestPermits(t *testing.T) {
	tcp22 := flow{proto: "tcp", port: 22, peer: pfx("10.128.0.5/32")}
	anyTCP := flow{proto: "tcp", port: anyPort, peer: pfx("10.128.0.0/9")}
	vxlan := flow{proto: "udp", port: 4789, peer: pfx("100.64.0.0/16")}
	fromFleet := flow{proto: "tcp", port: 22, peer: pfx("10.0.2.0/24"), groups: []string{"sg-fleet"}}
	tests := []struct {
		name string
		perm ec2types.IpPermission
		f    flow
		want bool
	}{
		{"all traffic", perm("-1", nil, "0.0.0.0/0"), tcp22, true},
		{"all traffic ignores ports", perm("-1", []int32{-1, -1}, "0.0.0.0/0"), vxlan, true},
		{"tcp by name, in range", perm("tcp", []int32{20, 23}, "10.0.0.0/8"), tcp22, true},
		{"tcp by number", perm("6", []int32{22, 22}, "10.128.0.5/32"), tcp22, true},
		{"tcp below range", perm("tcp", []int32{23, 30}, "10.0.0.0/8"), tcp22, false},
		{"tcp above range", perm("tcp", []int32{1, 21}, "10.0.0.0/8"), tcp22, false},
		{"tcp without ports", perm("tcp", nil, "10.0.0.0/8"), tcp22, true},
		{"udp does not allow tcp", perm("udp", nil, "0.0.0.0/0"), tcp22, false},
		{"udp by number", perm("17", []int32{4789, 4789}, "100.64.0.0/10"), vxlan, true},
		{"icmp allows neither", perm("icmp", []int32{-1, -1}, "0.0.0.0/0"), tcp22, false},
		{"range must hold the whole peer", perm("udp", []int32{4789, 4789}, "100.64.1.0/24"), vxlan, false},
		{"any port: some tcp port is enough", perm("tcp", []int32{443, 443}, "10.0.0.0/8"), anyTCP, true},
		{"any port: CIDR still must hold the subnet", perm("tcp", []int32{443, 443}, "10.128.0.0/10"), anyTCP, false},
		{"fleet group reference", groupPerm("tcp", "sg-fleet"), fromFleet, true},
		{"other group reference", groupPerm("tcp", "sg-other"), fromFleet, false},
		{"bad CIDR ignored", perm("-1", nil, "nonsense"), tcp22, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := permits([]ec2types.IpPermission{tt.perm}, tt.f); got != tt.want {
				t.Errorf("permits = %v, want %v", got, tt.want)
			}
		})
	}
}
