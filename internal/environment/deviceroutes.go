package environment

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/pathcheck"
)

// DeviceRoutes routes the device subnet and every LAN CIDR of the bound
// DeviceGroups, in the route table of each fleet subnet, to the router's
// network interface (the router in the subnet's availability zone, else the
// first). The routes it made are recorded in status.deviceRoutes: only those
// are ever replaced or removed; a route someone else made for the same
// destination is reported (RouteConflict), never overwritten.
type DeviceRoutes struct {
	plan deviceRoutePlan
}

type deviceRoutePlan struct {
	create, replace []accessv1alpha1.DeviceRoute
	remove          []accessv1alpha1.DeviceRoute
	conflicts       []string
}

func (*DeviceRoutes) Condition() string { return accessv1alpha1.ConditionDeviceRoutesReady }

// destinations are the device subnet and the LAN CIDRs, sorted; a LAN that
// overlaps the device subnet or another DeviceGroup's LAN is left out (an
// address can be routed to one place only) and reported by overlaps.
func destinations(p *Pass) []string {
	out := []string{p.vpg.DeviceSubnetCIDRRange}
	bad := overlapping(p)
	for i, r := range p.LANRoutes {
		if _, skip := bad[i]; !skip {
			out = append(out, r.CIDR.String())
		}
	}
	slices.Sort(out[1:])
	return slices.Compact(out)
}

// overlapping returns, by index in p.LANRoutes, why a LAN cannot be routed.
// Of two DeviceGroups' overlapping LANs the one already routed keeps its
// route (a new group must not cut off devices that work), else the first by
// name; a LAN inside the device subnet is never routed.
func overlapping(p *Pass) map[int]string {
	bad := map[int]string{}
	dev, err := netip.ParsePrefix(p.vpg.DeviceSubnetCIDRRange)
	routed := map[string]bool{}
	for _, r := range p.Env.Status.DeviceRoutes {
		routed[r.DestinationCIDRBlock] = true
	}
	junior := func(a, b LANRoute) bool {
		if ra, rb := routed[a.CIDR.String()], routed[b.CIDR.String()]; ra != rb {
			return rb
		}
		return a.DeviceGroup > b.DeviceGroup
	}
	for i, a := range p.LANRoutes {
		if err == nil && a.CIDR.Overlaps(dev) {
			bad[i] = fmt.Sprintf("LAN %s of DeviceGroup %s overlaps the gateway's device subnet %s", a.CIDR, a.DeviceGroup, dev)
			continue
		}
		for _, b := range p.LANRoutes {
			if a.DeviceGroup != b.DeviceGroup && a.CIDR.Overlaps(b.CIDR) && junior(a, b) {
				bad[i] = fmt.Sprintf("LAN %s of DeviceGroup %s overlaps LAN %s of DeviceGroup %s", a.CIDR, a.DeviceGroup, b.CIDR, b.DeviceGroup)
				break
			}
		}
	}
	return bad
}

// wanted is every route the fleet subnets need: table -> destination -> interface.
func (d *DeviceRoutes) wanted(ctx context.Context, p *Pass) ([]accessv1alpha1.DeviceRoute, error) {
	tables, err := p.routeTables(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.readSubnets(ctx); err != nil {
		return nil, err
	}
	var out []accessv1alpha1.DeviceRoute
	seen := map[string]bool{}
	for _, subnetID := range p.Env.Spec.AppStream.Fleet.SubnetIDs {
		t, ok := pathcheck.RouteTableFor(tables, subnetID)
		if !ok {
			return nil, fmt.Errorf("subnet %s has no route table in %s", subnetID, p.Env.Spec.AWS.VPCID)
		}
		rtb := deref(t.RouteTableId)
		if seen[rtb] {
			continue // a table shared by subnets routes to the first subnet's router
		}
		seen[rtb] = true
		eni := p.routerFor(deref(p.subnets[subnetID].AvailabilityZone))
		for _, dest := range destinations(p) {
			out = append(out, accessv1alpha1.DeviceRoute{RouteTableID: rtb, DestinationCIDRBlock: dest, NetworkInterfaceID: eni})
		}
	}
	return out, nil
}

// routerFor is the interface of the router in zone, else of the first router.
func (p *Pass) routerFor(zone string) string {
	first := ""
	for slot := range routerSlots(p.Env) {
		r, ok := p.routers[slot]
		if !ok || r.ENI == nil {
			continue
		}
		if first == "" {
			first = deref(r.ENI.NetworkInterfaceId)
		}
		if zone != "" && deref(r.ENI.AvailabilityZone) == zone {
			return deref(r.ENI.NetworkInterfaceId)
		}
	}
	return first
}

func (d *DeviceRoutes) Observe(ctx context.Context, p *Pass) (Observation, error) {
	want, err := d.wanted(ctx, p)
	if err != nil {
		return Observation{}, err
	}
	tables, err := p.routeTables(ctx)
	if err != nil {
		return Observation{}, err
	}
	ours := map[[2]string]bool{}
	for _, r := range p.Env.Status.DeviceRoutes {
		ours[[2]string{r.RouteTableID, r.DestinationCIDRBlock}] = true
	}
	d.plan = deviceRoutePlan{}
	wanted := map[[2]string]bool{}
	var keep []accessv1alpha1.DeviceRoute
	for _, w := range want {
		key := [2]string{w.RouteTableID, w.DestinationCIDRBlock}
		wanted[key] = true
		route := routeIn(tables, w.RouteTableID, w.DestinationCIDRBlock)
		switch {
		case w.NetworkInterfaceID == "":
			return Observation{Exists: true, UpToDate: true, Reason: accessv1alpha1.ReasonWaitingForDependency, Message: "waiting for a router's network interface"}, nil
		case route == nil:
			d.plan.create = append(d.plan.create, w)
		case deref(route.NetworkInterfaceId) == w.NetworkInterfaceID && route.State != ec2types.RouteStateBlackhole:
			keep = append(keep, w)
		case ours[key]:
			d.plan.replace = append(d.plan.replace, w) // ours, pointing elsewhere or at a router that is gone
		default:
			d.plan.conflicts = append(d.plan.conflicts, fmt.Sprintf("%s routes %s to %s", w.RouteTableID, w.DestinationCIDRBlock, routeTarget(route)))
		}
	}
	for _, r := range p.Env.Status.DeviceRoutes {
		if !wanted[[2]string{r.RouteTableID, r.DestinationCIDRBlock}] {
			d.plan.remove = append(d.plan.remove, r)
		}
	}
	if len(d.plan.create)+len(d.plan.replace)+len(d.plan.remove) > 0 {
		return Observation{Exists: true, UpToDate: false, Ready: true, Message: d.plan.String()}, nil
	}
	p.Env.Status.DeviceRoutes = sortRoutes(keep)
	if bad := overlapping(p); len(bad) > 0 {
		var why []string
		for _, i := range slices.Sorted(maps.Keys(bad)) {
			why = append(why, bad[i])
		}
		return Observation{Exists: true, UpToDate: true, Ready: true, Reason: accessv1alpha1.ReasonCIDROverlap, Wait: -1,
			Message: "not routed, fix one of the DeviceGroups: " + strings.Join(why, "; ")}, nil
	}
	if len(d.plan.conflicts) > 0 {
		return Observation{Exists: true, UpToDate: true, Ready: false, Reason: accessv1alpha1.ReasonRouteConflict, Wait: -1,
			Message: "routes gatestream did not make are in the way (remove them, or route to the router yourself): " + strings.Join(d.plan.conflicts, "; ")}, nil
	}
	return Observation{Exists: true, UpToDate: true, Ready: true,
		Message: fmt.Sprintf("%d routes to the router (%s)", len(keep), strings.Join(destinations(p), ", "))}, nil
}

func (pl deviceRoutePlan) String() string {
	var parts []string
	for _, r := range pl.create {
		parts = append(parts, fmt.Sprintf("adding %s → %s in %s", r.DestinationCIDRBlock, r.NetworkInterfaceID, r.RouteTableID))
	}
	for _, r := range pl.replace {
		parts = append(parts, fmt.Sprintf("restoring %s → %s in %s", r.DestinationCIDRBlock, r.NetworkInterfaceID, r.RouteTableID))
	}
	for _, r := range pl.remove {
		parts = append(parts, fmt.Sprintf("removing %s from %s", r.DestinationCIDRBlock, r.RouteTableID))
	}
	return strings.Join(parts, "; ")
}

func routeIn(tables []ec2types.RouteTable, rtb, dest string) *ec2types.Route {
	for _, t := range tables {
		if deref(t.RouteTableId) == rtb {
			return routeTo(t, dest)
		}
	}
	return nil
}

func routeTarget(r *ec2types.Route) string {
	for _, s := range []*string{r.NetworkInterfaceId, r.InstanceId, r.VpcPeeringConnectionId, r.GatewayId, r.NatGatewayId, r.TransitGatewayId} {
		if deref(s) != "" {
			return deref(s)
		}
	}
	return "another target"
}

func (d *DeviceRoutes) Create(context.Context, *Pass) error { return nil } // Observe always reports Exists

func (d *DeviceRoutes) Update(ctx context.Context, p *Pass) error {
	defer p.routesChanged()
	made := slices.Clone(p.Env.Status.DeviceRoutes)
	forget := func(r accessv1alpha1.DeviceRoute) {
		made = slices.DeleteFunc(made, func(o accessv1alpha1.DeviceRoute) bool {
			return o.RouteTableID == r.RouteTableID && o.DestinationCIDRBlock == r.DestinationCIDRBlock
		})
	}
	record := func(r accessv1alpha1.DeviceRoute) { forget(r); made = append(made, r) }
	defer func() { p.Env.Status.DeviceRoutes = sortRoutes(made) }()
	for _, r := range d.plan.create {
		err := p.AWS.EC2.CreateRouteTo(ctx, r.RouteTableID, r.DestinationCIDRBlock, aws.RouteTarget{NetworkInterfaceID: r.NetworkInterfaceID})
		if err != nil && !aws.IsAlreadyExists(err) {
			return fmt.Errorf("routing %s to %s in %s: %w", r.DestinationCIDRBlock, r.NetworkInterfaceID, r.RouteTableID, err)
		}
		record(r)
	}
	for _, r := range d.plan.replace {
		if err := p.AWS.EC2.ReplaceRouteTo(ctx, r.RouteTableID, r.DestinationCIDRBlock, aws.RouteTarget{NetworkInterfaceID: r.NetworkInterfaceID}); err != nil {
			return fmt.Errorf("restoring the route of %s to %s in %s: %w", r.DestinationCIDRBlock, r.NetworkInterfaceID, r.RouteTableID, err)
		}
		record(r)
	}
	for _, r := range d.plan.remove {
		if err := p.AWS.EC2.DeleteRoute(ctx, r.RouteTableID, r.DestinationCIDRBlock); err != nil && !aws.IsNotFound(err) {
			return fmt.Errorf("removing the route of %s from %s: %w", r.DestinationCIDRBlock, r.RouteTableID, err)
		}
		forget(r)
	}
	return nil
}

// Delete removes the routes gatestream made, and only while they still point
// where gatestream pointed them (a route someone re-pointed is theirs now).
func (d *DeviceRoutes) Delete(ctx context.Context, p *Pass) (bool, error) {
	if len(p.Env.Status.DeviceRoutes) == 0 {
		return true, nil
	}
	tables, err := p.routeTables(ctx)
	if err != nil {
		return false, err
	}
	defer p.routesChanged()
	for len(p.Env.Status.DeviceRoutes) > 0 {
		r := p.Env.Status.DeviceRoutes[0]
		route := routeIn(tables, r.RouteTableID, r.DestinationCIDRBlock)
		if route != nil && (deref(route.NetworkInterfaceId) == r.NetworkInterfaceID || deref(route.NetworkInterfaceId) == "" && route.State == ec2types.RouteStateBlackhole) {
			if err := p.AWS.EC2.DeleteRoute(ctx, r.RouteTableID, r.DestinationCIDRBlock); err != nil && !aws.IsNotFound(err) {
				return false, fmt.Errorf("removing the route of %s from %s: %w", r.DestinationCIDRBlock, r.RouteTableID, err)
			}
		}
		p.Env.Status.DeviceRoutes = p.Env.Status.DeviceRoutes[1:]
	}
	return true, nil
}

// lanPrefixes are the LAN CIDRs (parsed) for the path check.
func lanPrefixes(p *Pass) []netip.Prefix {
	var out []netip.Prefix
	for _, r := range p.LANRoutes {
		out = append(out, r.CIDR)
	}
	return out
}

// sortRoutes orders the recorded routes (table, destination), so that the
// status of an in-sync pass is the one already written.
func sortRoutes(rs []accessv1alpha1.DeviceRoute) []accessv1alpha1.DeviceRoute {
	slices.SortFunc(rs, func(a, b accessv1alpha1.DeviceRoute) int {
		return strings.Compare(a.RouteTableID+" "+a.DestinationCIDRBlock, b.RouteTableID+" "+b.DestinationCIDRBlock)
	})
	return rs
}
