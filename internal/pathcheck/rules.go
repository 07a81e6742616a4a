package pathcheck

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// RouteTableFor is the route table EC2 applies to a subnet: the one
// explicitly associated with it, else the VPC's main table. Associations that
// are being removed or failed do not count, as EC2 no longer (or never) applied them.
func RouteTableFor(tables []ec2types.RouteTable, subnetID string) (ec2types.RouteTable, bool) {
	for _, t := range tables {
		for _, a := range t.Associations {
			if aws.ToString(a.SubnetId) == subnetID && subnetID != "" && applied(a) {
				return t, true
			}
		}
	}
	for _, t := range tables {
		for _, a := range t.Associations {
			if aws.ToBool(a.Main) && applied(a) {
				return t, true
			}
		}
	}
	return ec2types.RouteTable{}, false
}

func applied(a ec2types.RouteTableAssociation) bool {
	return a.AssociationState == nil || a.AssociationState.State == "" ||
		a.AssociationState.State == ec2types.RouteTableAssociationStateCodeAssociated
}

// longestMatch is the route EC2 uses for dst: the longest IPv4 destination
// that contains all of dst. Prefix-list and IPv6 destinations are skipped;
// the first of equal prefixes wins, so the answer follows the input order.
func longestMatch(t ec2types.RouteTable, dst netip.Prefix) (ec2types.Route, netip.Prefix, bool) {
	var (
		best     ec2types.Route
		bestCIDR netip.Prefix
		found    bool
	)
	for _, r := range t.Routes {
		p, err := netip.ParsePrefix(aws.ToString(r.DestinationCidrBlock))
		if err != nil || !contains(p, dst) {
			continue
		}
		if !found || p.Bits() > bestCIDR.Bits() {
			best, bestCIDR, found = r, p.Masked(), true
		}
	}
	return best, bestCIDR, found
}

// contains is whether outer holds every address of inner.
func contains(outer, inner netip.Prefix) bool {
	return outer.IsValid() && inner.IsValid() && outer.Bits() <= inner.Bits() && outer.Contains(inner.Masked().Addr())
}

// describeTarget names what a route sends traffic to.
func describeTarget(r ec2types.Route) string {
	if aws.ToString(r.GatewayId) == "local" {
		return "local (the VPC itself)"
	}
	for _, id := range []*string{r.NetworkInterfaceId, r.VpcPeeringConnectionId, r.TransitGatewayId,
		r.NatGatewayId, r.GatewayId, r.InstanceId, r.LocalGatewayId, r.CarrierGatewayId,
		r.EgressOnlyInternetGatewayId, r.CoreNetworkArn} {
		if s := aws.ToString(id); s != "" {
			return s
		}
	}
	return "no target"
}

// flow is the traffic a security group rule must allow.
type flow struct {
	proto string // "tcp" or "udp"
	port  int    // anyPort: some port of proto is enough
	// peer is the remote range; a rule's CIDR must hold all of it, since any
	// address of the range may be the one sending or receiving.
	peer netip.Prefix
	// groups are security groups the peer is in (the fleet's): a rule naming
	// one of them allows the peer whatever its address.
	groups []string
}

// permits is whether any rule allows the flow. Security groups only allow,
// so one matching rule is enough.
func permits(perms []ec2types.IpPermission, f flow) bool {
	for _, p := range perms {
		if !protoMatches(aws.ToString(p.IpProtocol), f.proto) || !portMatches(p, f) {
			continue
		}
		for _, r := range p.IpRanges {
			if c, err := netip.ParsePrefix(aws.ToString(r.CidrIp)); err == nil && contains(c, f.peer) {
				return true
			}
		}
		for _, g := range p.UserIdGroupPairs {
			if id := aws.ToString(g.GroupId); id != "" && slices.Contains(f.groups, id) {
				return true
			}
		}
	}
	return false
}

func protoMatches(rule, want string) bool {
	switch strings.ToLower(rule) {
	case "-1", "all":
		return true
	case "tcp", "6":
		return want == "tcp"
	case "udp", "17":
		return want == "udp"
	}
	return false
}

// portMatches: "-1" (all traffic) ignores ports, and a rule without ports
// covers them all; otherwise FromPort..ToPort is inclusive.
func portMatches(p ec2types.IpPermission, f flow) bool {
	if proto := aws.ToString(p.IpProtocol); proto == "-1" || strings.EqualFold(proto, "all") {
		return true
	}
	if p.FromPort == nil || p.ToPort == nil || *p.FromPort == -1 {
		return true
	}
	from, to := int(*p.FromPort), int(*p.ToPort)
	if f.port == anyPort {
		return from <= to
	}
	return from <= f.port && f.port <= to
}
