package environment

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/pathcheck"
)

// Network is the hop-by-hop path check (internal/pathcheck) over what this
// pass observed: from each fleet subnet through the router and the tunnel to
// the gateway (NetworkReady, status.path), and on to each named device of the
// bound DeviceGroups (status.path.devices, shown by each DeviceGroup). It only
// reads; the units before it repair what gatestream owns.
type Network struct{}

func (Network) Condition() string { return accessv1alpha1.ConditionNetworkReady }

func (Network) Observe(ctx context.Context, p *Pass) (Observation, error) {
	if p.vpg == nil {
		return Observation{}, fmt.Errorf("the path check runs after the gateway is observed in the same pass")
	}
	in, err := pathInput(ctx, p)
	if err != nil {
		return Observation{}, err
	}
	res := pathcheck.Network(in)
	st := &accessv1alpha1.PathStatus{Reachable: res.Reachable, Summary: res.Summary(), BrokenHop: hop(res.Broken)}
	for _, u := range res.Unverified {
		st.Unverified = append(st.Unverified, *hop(&u))
	}
	st.Devices = devicePaths(in, p.Devices)
	p.Env.Status.Path = st
	switch {
	case res.Broken != nil:
		return Observation{Exists: true, UpToDate: true, Reason: accessv1alpha1.ReasonUnreachable, Wait: -1,
			Message: fmt.Sprintf("%s (%s): %s", res.Broken.Kind, res.Broken.Object, res.Broken.Reason)}, nil
	case len(res.Unverified) > 0:
		var parts []string
		for _, u := range res.Unverified {
			parts = append(parts, fmt.Sprintf("%s (%s): %s", u.Kind, u.Object, u.Reason))
		}
		return Observation{Exists: true, UpToDate: true, Reason: accessv1alpha1.ReasonUnverified, Wait: -1,
			Message: "every observed hop lets traffic through, but not every hop could be observed: " + strings.Join(parts, "; ")}, nil
	}
	return Observation{Exists: true, UpToDate: true, Ready: true, Message: res.Summary()}, nil
}

func hop(h *pathcheck.Hop) *accessv1alpha1.Hop {
	if h == nil {
		return nil
	}
	return &accessv1alpha1.Hop{Kind: h.Kind, Object: h.Object, Reason: h.Reason}
}

// devicePaths walks to every port of every device; the first broken port wins.
func devicePaths(in pathcheck.Input, devices []DeviceTarget) []accessv1alpha1.DevicePath {
	var out []accessv1alpha1.DevicePath
	for _, d := range devices {
		dp := accessv1alpha1.DevicePath{DeviceGroup: d.DeviceGroup, Device: d.Target.Name, Reachable: true}
		if d.Target.Address.IsValid() {
			dp.Address = d.Target.Address.String()
		}
		ports := d.Ports
		if len(ports) == 0 {
			ports = []int{0}
		}
		var paths []string
		for _, port := range ports {
			t := d.Target
			t.Port = port
			res := pathcheck.Device(in, t)
			if !res.Reachable {
				dp.Reachable, dp.Path, dp.BrokenHop = false, res.Summary(), hop(res.Broken)
				break
			}
			paths = append(paths, res.Summary())
		}
		if dp.Reachable && len(paths) > 0 {
			dp.Path = paths[0]
		}
		out = append(out, dp)
	}
	return out
}

// pathInput gathers the observations of this pass for the path check; only
// the security groups are read here (one call).
func pathInput(ctx context.Context, p *Pass) (pathcheck.Input, error) {
	spec := p.Env.Spec
	in := pathcheck.Input{
		VPCID: spec.AWS.VPCID, FleetSubnetIDs: spec.AppStream.Fleet.SubnetIDs,
		FleetSecurityGroupIDs: spec.AppStream.Fleet.SecurityGroupIDs,
		Peering:               pathcheck.Peering{ID: peeringStatus(p).ID, State: peeringStatus(p).State},
		ReturnPath:            string(returnPath(p.Env)),
	}
	var err error
	if in.VPCCIDR, err = p.vpcCIDR(ctx); err != nil {
		return in, err
	}
	if err := p.readSubnets(ctx); err != nil {
		return in, err
	}
	in.Subnets = p.subnets
	if in.RouteTables, err = p.routeTables(ctx); err != nil {
		return in, err
	}
	groups := slices.Clone(in.FleetSecurityGroupIDs)
	for slot := range routerSlots(p.Env) {
		r, ok := p.routers[slot]
		if !ok {
			continue
		}
		in.Routers = append(in.Routers, r)
		if r.ENI != nil {
			for _, g := range r.ENI.Groups {
				groups = append(groups, deref(g.GroupId))
			}
		}
	}
	if in.SecurityGroups, err = securityGroups(ctx, p, uniq(groups)); err != nil {
		return in, err
	}
	in.Gateway = gatewayObservation(p)
	return in, nil
}

func securityGroups(ctx context.Context, p *Pass, ids []string) (map[string]ec2types.SecurityGroup, error) {
	out := map[string]ec2types.SecurityGroup{}
	if len(ids) == 0 {
		return out, nil
	}
	groups, err := p.AWS.EC2.DescribeSecurityGroups(ctx, ids)
	if err != nil && !aws.IsNotFound(err) {
		return nil, fmt.Errorf("reading security groups %s: %w", strings.Join(ids, ", "), err)
	}
	for _, g := range groups {
		out[deref(g.GroupId)] = g
	}
	return out, nil
}

// gatewayObservation is the gateway as the path check sees it.
func gatewayObservation(p *Pass) pathcheck.Gateway {
	vpg := p.vpg
	gw := pathcheck.Gateway{ID: vpg.VPGID, GateOpened: vpg.GateOpened, VXLANID: int(vpg.GateVXLANID),
		OwnPeers: p.ownGatePeers(), CustomerPeers: p.customerGatePeers(),
		SimBasedRouting: vpg.EnableSimBasedRouting, SimRoutes: map[string]netip.Prefix{}}
	gw.DeviceSubnet, _ = netip.ParsePrefix(vpg.DeviceSubnetCIDRRange)
	gw.VPGSubnet, _ = netip.ParsePrefix(vpg.VPGSubnetCIDRRange)
	for sim, cidr := range vpg.SimBasedRoutingConfig {
		if pfx, err := netip.ParsePrefix(cidr); err == nil {
			gw.SimRoutes[sim] = pfx
		}
	}
	if r := vpg.Redirection; r != nil {
		gw.Redirection = &pathcheck.Redirection{Enabled: r.Enabled}
		gw.Redirection.Gateway, _ = netip.ParseAddr(r.Gateway)
	}
	return gw
}

func (Network) Create(context.Context, *Pass) error         { return nil }
func (Network) Update(context.Context, *Pass) error         { return nil }
func (Network) Delete(context.Context, *Pass) (bool, error) { return true, nil }
