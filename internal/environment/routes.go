package environment

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	corev1 "k8s.io/api/core/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/pathcheck"
	"github.com/gatestream/gatestream/internal/unit"
)

// Routes puts a route to the VPG's range via the peering into each route
// table of spec.aws.routeTableIds, and takes it out of tables no longer listed.
type Routes struct {
	plan routePlan
	want []string
}

// underlayTables are the tables that route the VPG's range via the peering:
// spec.aws.routeTableIds, and the route tables of the routers' subnets (the
// routers' VXLAN tunnels to the gateway run over it).
func underlayTables(p *Pass, tables []ec2types.RouteTable) []string {
	want := slices.Clone(p.Env.Spec.AWS.RouteTableIDs)
	var subnets []string
	if m := managedRouter(p.Env); m != nil {
		for slot := range routerSlots(p.Env) {
			subnets = append(subnets, routerSubnet(p.Env, slot))
		}
	}
	for _, st := range p.Env.Status.Routers {
		subnets = append(subnets, st.SubnetID)
	}
	for _, id := range subnets {
		if t, ok := pathcheck.RouteTableFor(tables, id); ok && id != "" {
			want = append(want, deref(t.RouteTableId))
		}
	}
	return sortedCopy(want)
}

type routePlan struct {
	create, replace, remove []string // route table IDs
}

func (*Routes) Condition() string { return accessv1alpha1.ConditionRoutesReady }

func vpgRange(p *Pass) string {
	if p.vpg != nil {
		return p.vpg.VPGSubnetCIDRRange
	}
	if p.Env.Status.Gateway != nil {
		return p.Env.Status.Gateway.VPGSubnetCIDRRange
	}
	return ""
}

func routeTo(rt ec2types.RouteTable, dest string) *ec2types.Route {
	for i := range rt.Routes {
		if deref(rt.Routes[i].DestinationCidrBlock) == dest {
			return &rt.Routes[i]
		}
	}
	return nil
}

// missingTable says why a table of spec.aws.routeTableIds is not among the
// VPC's (read by ID only on this error path): gone, or in another VPC.
func missingTable(ctx context.Context, p *Pass, id string) error {
	t, err := p.AWS.EC2.DescribeRouteTables(ctx, []string{id})
	switch {
	case aws.IsNotFound(err) || (err == nil && len(t) == 0):
		return unit.Terminal(accessv1alpha1.ReasonRouteTableNotFound, fmt.Errorf("route table %s (spec.aws.routeTableIds) does not exist", id))
	case err != nil:
		return fmt.Errorf("reading route table %s: %w", id, err)
	}
	return unit.Terminal(accessv1alpha1.ReasonRouteTableNotFound,
		fmt.Errorf("route table %s belongs to %s, not to spec.aws.vpcId %s", id, deref(t[0].VpcId), p.Env.Spec.AWS.VPCID))
}

func (r *Routes) Observe(ctx context.Context, p *Pass) (Observation, error) {
	dest, pcx := vpgRange(p), peeringStatus(p).ID
	managed := peeringStatus(p).RouteTableIDs
	tables, err := p.routeTables(ctx)
	if err != nil {
		return Observation{}, err
	}
	want := underlayTables(p, tables)
	r.want = want
	byID := map[string]ec2types.RouteTable{}
	for _, t := range tables {
		byID[deref(t.RouteTableId)] = t
	}
	for _, id := range want {
		if _, ok := byID[id]; !ok {
			return Observation{}, missingTable(ctx, p, id)
		}
	}
	r.plan = routePlan{}
	for _, id := range want {
		route := routeTo(byID[id], dest)
		switch {
		case route == nil:
			r.plan.create = append(r.plan.create, id)
		case deref(route.VpcPeeringConnectionId) != pcx || route.State == ec2types.RouteStateBlackhole:
			r.plan.replace = append(r.plan.replace, id)
		}
	}
	for _, id := range managed {
		if slices.Contains(want, id) {
			continue
		}
		if t, ok := byID[id]; ok {
			if route := routeTo(t, dest); route != nil && deref(route.VpcPeeringConnectionId) == pcx {
				r.plan.remove = append(r.plan.remove, id)
			}
		}
	}
	if len(r.plan.create)+len(r.plan.replace)+len(r.plan.remove) == 0 {
		peeringStatus(p).RouteTableIDs = sortedCopy(want)
		return Observation{Exists: true, UpToDate: true, Ready: true,
			Message: fmt.Sprintf("%s routes via %s in %s", dest, pcx, strings.Join(want, ", "))}, nil
	}
	var msg []string
	if len(r.plan.create) > 0 {
		msg = append(msg, "missing in "+strings.Join(r.plan.create, ", "))
	}
	if len(r.plan.replace) > 0 {
		msg = append(msg, "wrong target in "+strings.Join(r.plan.replace, ", "))
	}
	if len(r.plan.remove) > 0 {
		msg = append(msg, "to remove from "+strings.Join(r.plan.remove, ", "))
	}
	return Observation{Exists: true, UpToDate: false, Ready: true, Message: "route to " + dest + ": " + strings.Join(msg, "; ")}, nil
}

func (r *Routes) Create(ctx context.Context, p *Pass) error { return r.Update(ctx, p) }

func (r *Routes) Update(ctx context.Context, p *Pass) error {
	dest, pcx := vpgRange(p), peeringStatus(p).ID
	defer p.routesChanged()
	for _, id := range r.plan.create {
		if err := p.AWS.EC2.CreateRoute(ctx, id, dest, pcx); err != nil && !aws.IsAlreadyExists(err) {
			return fmt.Errorf("adding route %s via %s to %s: %w", dest, pcx, id, err)
		}
		p.Event(corev1.EventTypeNormal, "RouteCreated", "Update", fmt.Sprintf("route %s via %s added to %s", dest, pcx, id))
	}
	for _, id := range r.plan.replace {
		if err := p.AWS.EC2.ReplaceRoute(ctx, id, dest, pcx); err != nil {
			return fmt.Errorf("replacing route %s in %s: %w", dest, id, err)
		}
		p.Event(corev1.EventTypeNormal, "RouteReplaced", "Update", fmt.Sprintf("route %s in %s now via %s", dest, id, pcx))
	}
	for _, id := range r.plan.remove {
		if err := p.AWS.EC2.DeleteRoute(ctx, id, dest); err != nil && !aws.IsNotFound(err) {
			return fmt.Errorf("removing route %s from %s: %w", dest, id, err)
		}
	}
	// Record every table that may now hold our route (removed ones drop out on the next observe).
	st := peeringStatus(p)
	all := append(slices.Clone(r.want), r.plan.remove...)
	st.RouteTableIDs = sortedCopy(all)
	return nil
}

// Delete removes our route (to the VPG's range via our peering) from every
// table that may hold it; a route to that range via anything else is not ours.
func (r *Routes) Delete(ctx context.Context, p *Pass) (bool, error) {
	dest, pcx := vpgRange(p), peeringStatus(p).ID
	if dest == "" || pcx == "" {
		return true, nil // routes are only ever created via a recorded peering
	}
	ids := append(slices.Clone(p.Env.Spec.AWS.RouteTableIDs), peeringStatus(p).RouteTableIDs...)
	tables, err := p.routeTables(ctx)
	if err != nil {
		return false, err
	}
	defer p.routesChanged()
	for _, t := range tables {
		id := deref(t.RouteTableId)
		if !slices.Contains(ids, id) {
			continue
		}
		if route := routeTo(t, dest); route == nil || deref(route.VpcPeeringConnectionId) != pcx {
			continue // gone already, or not ours: no write
		}
		if err := p.AWS.EC2.DeleteRoute(ctx, id, dest); err != nil && !aws.IsNotFound(err) {
			return false, fmt.Errorf("removing route %s from %s: %w", dest, id, err)
		}
	}
	return true, nil
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return slices.Compact(out)
}
