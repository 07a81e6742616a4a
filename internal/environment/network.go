package environment

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
)

// Network checks (read-only) the three settings people get wrong: the fleet's
// subnets are in the VPC, their route tables route the VPG's range via the
// peering, and the security groups let traffic to and from that range.
type Network struct{}

func (Network) Condition() string { return accessv1alpha1.ConditionNetworkReady }

func (Network) Observe(ctx context.Context, p *Pass) (Observation, error) {
	problem, reason, err := checkNetwork(ctx, p)
	if err != nil {
		return Observation{}, err
	}
	if problem != "" {
		// Not ready, but nothing for gatestream to change: wait for the fix
		// (or the next poll), not a hot loop.
		return Observation{Exists: true, UpToDate: true, Ready: false, Reason: reason, Message: problem, Wait: -1}, nil
	}
	return Observation{Exists: true, UpToDate: true, Ready: true,
		Message: fmt.Sprintf("fleet subnets route %s via %s and the security groups allow it", vpgRange(p), peeringStatus(p).ID)}, nil
}

func checkNetwork(ctx context.Context, p *Pass) (problem, reason string, err error) {
	spec := p.Env.Spec
	fleet := spec.AppStream.Fleet
	dest, pcx := vpgRange(p), peeringStatus(p).ID

	subnets, err := p.AWS.EC2.DescribeSubnets(ctx, fleet.SubnetIDs)
	if err != nil && !aws.IsNotFound(err) {
		return "", "", fmt.Errorf("reading the fleet's subnets: %w", err)
	}
	found := map[string]ec2types.Subnet{}
	for _, s := range subnets {
		found[deref(s.SubnetId)] = s
	}
	for _, id := range fleet.SubnetIDs {
		s, ok := found[id]
		if !ok {
			return fmt.Sprintf("subnet %s (spec.appStream.fleet.subnetIds) does not exist", id), accessv1alpha1.ReasonSubnetNotInVPC, nil
		}
		if deref(s.VpcId) != spec.AWS.VPCID {
			return fmt.Sprintf("subnet %s (spec.appStream.fleet.subnetIds) is in %s, not in spec.aws.vpcId %s", id, deref(s.VpcId), spec.AWS.VPCID),
				accessv1alpha1.ReasonSubnetNotInVPC, nil
		}
	}

	vpcTables, err := p.routeTables(ctx)
	if err != nil {
		return "", "", err
	}
	tables := aws.TablesForSubnets(vpcTables, fleet.SubnetIDs)
	for _, id := range fleet.SubnetIDs {
		t, ok := tables[id]
		if !ok {
			return fmt.Sprintf("subnet %s has no route table", id), accessv1alpha1.ReasonMissingRoute, nil
		}
		rt := deref(t.RouteTableId)
		route := routeTo(t, dest)
		if route == nil || deref(route.VpcPeeringConnectionId) != pcx || route.State == ec2types.RouteStateBlackhole {
			return fmt.Sprintf("subnet %s uses route table %s, which does not route %s via %s: add %s to spec.aws.routeTableIds",
				id, rt, dest, pcx, rt), accessv1alpha1.ReasonMissingRoute, nil
		}
	}

	if len(fleet.SecurityGroupIDs) == 0 {
		return "", "", nil // the VPC's default group; AWS does not say which rules it has until launch
	}
	groups, err := p.AWS.EC2.DescribeSecurityGroups(ctx, fleet.SecurityGroupIDs)
	if aws.IsNotFound(err) {
		return fmt.Sprintf("a security group in spec.appStream.fleet.securityGroupIds does not exist: %v", err), accessv1alpha1.ReasonSecurityGroupBlocks, nil
	}
	if err != nil {
		return "", "", fmt.Errorf("reading the fleet's security groups: %w", err)
	}
	vpg, perr := netip.ParsePrefix(dest)
	if perr != nil {
		return "", "", fmt.Errorf("the gateway's range %q is not a CIDR: %w", dest, perr)
	}
	var egress, ingress bool
	for _, g := range groups {
		egress = egress || allows(g.IpPermissionsEgress, vpg)
		ingress = ingress || allows(g.IpPermissions, vpg)
	}
	ids := strings.Join(fleet.SecurityGroupIDs, ", ")
	switch {
	case !egress:
		return fmt.Sprintf("no security group of the fleet (%s) allows outbound traffic to %s: add an egress rule for %s", ids, dest, dest),
			accessv1alpha1.ReasonSecurityGroupBlocks, nil
	case !ingress:
		return fmt.Sprintf("no security group of the fleet (%s) allows inbound traffic from %s: add an ingress rule for %s", ids, dest, dest),
			accessv1alpha1.ReasonSecurityGroupBlocks, nil
	}
	return "", "", nil
}

// allows reports whether any rule lets TCP traffic for the whole range through.
func allows(perms []ec2types.IpPermission, want netip.Prefix) bool {
	for _, perm := range perms {
		proto := deref(perm.IpProtocol)
		if proto != "-1" && proto != "tcp" && proto != "6" {
			continue
		}
		for _, r := range perm.IpRanges {
			rule, err := netip.ParsePrefix(deref(r.CidrIp))
			if err == nil && rule.Bits() <= want.Bits() && rule.Contains(want.Addr()) {
				return true
			}
		}
	}
	return false
}

func (Network) Create(context.Context, *Pass) error         { return nil }
func (Network) Update(context.Context, *Pass) error         { return nil }
func (Network) Delete(context.Context, *Pass) (bool, error) { return true, nil }
