package emulator

import (
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/reach"
	"github.com/gatestream/gatestream/internal/emulator/soracom"
)

// snapshot translates the emulators' own snapshots into the walker's input.
func snapshot(a aws.NetworkSnapshot, s soracom.NetworkSnapshot, d *devices) reach.Snapshot {
	var out reach.Snapshot
	for _, v := range a.VPCs {
		out.VPCs = append(out.VPCs, reach.VPC{ID: v.ID, CIDR: prefix(v.CIDR)})
	}
	for _, sn := range a.Subnets {
		out.Subnets = append(out.Subnets, reach.Subnet{ID: sn.ID, VPCID: sn.VPCID, CIDR: prefix(sn.CIDR), AZ: sn.AZ})
	}
	for _, t := range a.RouteTables {
		out.RouteTables = append(out.RouteTables, routeTable(t))
	}
	for _, g := range a.SecurityGroups {
		out.SecurityGroups = append(out.SecurityGroups, reach.SecurityGroup{ID: g.ID, Ingress: rules(g.Ingress), Egress: rules(g.Egress)})
	}
	for _, n := range a.NetworkInterfaces {
		out.ENIs = append(out.ENIs, reach.ENI{ID: n.ID, SubnetID: n.SubnetID, PrivateIP: addr(n.PrivateIP),
			SourceDestCheck: n.SourceDestCheck, SecurityGroupIDs: slices.Clone(n.SecurityGroupIDs), InstanceID: n.InstanceID})
	}
	for _, i := range a.Instances {
		out.Instances = append(out.Instances, reach.Instance{ID: i.ID, State: i.State,
			Impaired: i.InstanceStatus == "impaired" || i.SystemStatus == "impaired",
			SubnetID: i.SubnetID, PrivateIP: addr(i.PrivateIP), ENIID: i.NetworkInterfaceID,
			SecurityGroupIDs: slices.Clone(i.SecurityGroupIDs), UserData: i.UserData})
	}
	for _, p := range a.Peerings {
		out.Peerings = append(out.Peerings, reach.Peering{ID: p.ID, State: p.Status})
	}
	for _, f := range a.Fleets {
		out.Fleets = append(out.Fleets, reach.Fleet{Name: f.Name, SubnetIDs: slices.Clone(f.SubnetIDs), SecurityGroupIDs: slices.Clone(f.SecurityGroupIDs)})
	}
	for _, v := range s.VPGs {
		out.VPGs = append(out.VPGs, vpg(v))
	}
	d.mu.Lock()
	hosts := maps.Clone(d.simHosts)
	d.mu.Unlock()
	for _, sim := range s.SIMs {
		out.SIMs = append(out.SIMs, reach.SIM{ID: sim.ID, IP: addr(sim.IPAddress), Online: sim.Online, VPGID: sim.SessionVPGID})
		if h, ok := hosts[sim.ID]; ok && sim.IPAddress != "" {
			out.Devices = append(out.Devices, reach.Device{Name: h.name, Address: addr(sim.IPAddress), TCPPorts: slices.Clone(h.ports)})
		}
	}
	out.Devices = append(out.Devices, d.lan.List()...)
	return out
}

func routeTable(t aws.RouteTable) reach.RouteTable {
	rt := reach.RouteTable{ID: t.ID, VPCID: t.VPCID}
	for _, as := range t.Associations {
		if as.Main {
			rt.Main = true
		} else if as.SubnetID != "" {
			rt.SubnetIDs = append(rt.SubnetIDs, as.SubnetID)
		}
	}
	for _, r := range t.Routes {
		vr := reach.VPCRoute{Dest: prefix(r.DestinationCidrBlock), State: r.State}
		switch {
		case r.GatewayID == "local":
			vr.Kind, vr.Target = reach.TargetLocal, "local"
		case r.VpcPeeringConnectionID != "":
			vr.Kind, vr.Target = reach.TargetPeering, r.VpcPeeringConnectionID
		case r.NetworkInterfaceID != "":
			vr.Kind, vr.Target = reach.TargetENI, r.NetworkInterfaceID
		default:
			vr.Kind, vr.Target = reach.TargetGateway, r.GatewayID
		}
		rt.Routes = append(rt.Routes, vr)
	}
	return rt
}

func rules(rs []aws.Rule) []reach.SGRule {
	out := make([]reach.SGRule, 0, len(rs))
	for _, r := range rs {
		sr := reach.SGRule{Protocol: r.Protocol, FromPort: r.FromPort, ToPort: r.ToPort}
		for _, c := range r.CIDRs {
			sr.CIDRs = append(sr.CIDRs, prefix(c))
		}
		out = append(out, sr)
	}
	return out
}

func vpg(v soracom.VPGNetwork) reach.VPG {
	out := reach.VPG{ID: v.ID, DeviceSubnet: prefix(v.DeviceSubnetCidrRange), VPGSubnet: prefix(v.VPGSubnetCidrRange),
		GateOpened: v.GateOpened, VXLANID: v.GateVxlanID, SimBasedRouting: v.EnableSimBasedRouting,
		SimRoutes: map[string]netip.Prefix{}}
	for _, p := range v.OwnGatePeers {
		out.OwnPeers = append(out.OwnPeers, reach.Peer{Outer: addr(p.OuterIPAddress), Inner: addr(p.InnerIPAddress)})
	}
	for _, p := range v.CustomerGatePeers {
		out.CustomerPeers = append(out.CustomerPeers, reach.Peer{Outer: addr(p.OuterIPAddress), Inner: addr(p.InnerIPAddress)})
	}
	for sim, cidr := range v.SimBasedRoutingConfig {
		out.SimRoutes[sim] = prefix(cidr)
	}
	// vpcPeeringConnections maps the pcx id to the destination CIDR here;
	// the value shape is UNCONFIRMED, so take whichever side is a pcx id.
	for k, val := range v.VPCPeeringConnections {
		for _, id := range []string{k, val} {
			if strings.HasPrefix(id, "pcx-") {
				out.PeeringIDs = append(out.PeeringIDs, id)
			}
		}
	}
	slices.Sort(out.PeeringIDs)
	if r := v.Redirection; r != nil {
		out.Redirection = &reach.Redirection{Enabled: r.Enabled, Gateway: r.Gateway}
	}
	return out
}
