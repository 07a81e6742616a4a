package environment

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/pathcheck"
	"github.com/gatestream/gatestream/internal/routerconfig"
)

// LANRoute is a DeviceGroup's LAN behind a cellular router's SIM.
type LANRoute struct {
	DeviceGroup, SIMID string
	CIDR               netip.Prefix
}

// DeviceTarget is a named device of a DeviceGroup bound to the environment,
// with its SIM's observed state (Target.Port is set per port).
type DeviceTarget struct {
	DeviceGroup string
	Target      pathcheck.Target
	Ports       []int
}

// RouterConfigCache holds the parsed user data of routers by instance ID.
type RouterConfigCache struct {
	mu sync.Mutex
	m  map[string]parsedConfig
}

type parsedConfig struct {
	config *routerconfig.Config
	err    string // why the user data could not be read as a router configuration
}

// existingRouterConfig reads (once per instance) and parses the user data of
// a router the customer runs. A router configured some other way than user
// data is not observable: the path check then says so (Unverified).
func (p *Pass) existingRouterConfig(ctx context.Context, instanceID string) (parsedConfig, error) {
	c := p.RouterConfigs
	if c != nil {
		c.mu.Lock()
		got, ok := c.m[instanceID]
		c.mu.Unlock()
		if ok {
			return got, nil
		}
	}
	data, err := p.AWS.EC2.InstanceUserData(ctx, instanceID)
	if err != nil {
		return parsedConfig{}, fmt.Errorf("reading the user data of router %s: %w", instanceID, err)
	}
	var out parsedConfig
	if data != "" {
		cfg, _, perr := routerconfig.Parse(data)
		switch {
		case errors.Is(perr, routerconfig.ErrNoRouterConfig):
			// Configured some other way (Ansible, a baked image): not observable.
		case perr != nil:
			out.err = perr.Error()
		default:
			out.config = &cfg
		}
	}
	if c != nil {
		c.mu.Lock()
		if c.m == nil {
			c.m = map[string]parsedConfig{}
		}
		c.m[instanceID] = out
		c.mu.Unlock()
	}
	return out, nil
}

// ownGatePeers are the gateway's own Gate peers (ownedByCustomer false), the
// routers' VXLAN remotes.
func (p *Pass) ownGatePeers() []pathcheck.Peer { return peersOf(p, false) }

// customerGatePeers are the registered customer Gate peers.
func (p *Pass) customerGatePeers() []pathcheck.Peer { return peersOf(p, true) }

func peersOf(p *Pass, customer bool) []pathcheck.Peer {
	var out []pathcheck.Peer
	for _, g := range p.gatePeers {
		if g.OwnedByCustomer != customer {
			continue
		}
		outer, err1 := netip.ParseAddr(g.OuterIPAddress)
		inner, _ := netip.ParseAddr(g.InnerIPAddress)
		if err1 == nil {
			out = append(out, pathcheck.Peer{Outer: outer, Inner: inner})
		}
	}
	return out
}

// vpcCIDR reads the VPC's range once per pass.
func (p *Pass) vpcCIDR(ctx context.Context) (netip.Prefix, error) {
	if p.vpc == nil {
		vpc, err := p.AWS.EC2.DescribeVPC(ctx, p.Env.Spec.AWS.VPCID)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("reading %s: %w", p.Env.Spec.AWS.VPCID, err)
		}
		cidr, err := netip.ParsePrefix(deref(vpc.CidrBlock))
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%s has no IPv4 range: %w", p.Env.Spec.AWS.VPCID, err)
		}
		p.vpc = &cidr
	}
	return *p.vpc, nil
}

// subnet reads a subnet (with the fleet's, once per pass) and returns its range.
func (p *Pass) subnet(ctx context.Context, id string) (netip.Prefix, error) {
	if err := p.readSubnets(ctx, id); err != nil {
		return netip.Prefix{}, err
	}
	s, ok := p.subnets[id]
	if !ok {
		return netip.Prefix{}, fmt.Errorf("subnet %s does not exist", id)
	}
	cidr, err := netip.ParsePrefix(deref(s.CidrBlock))
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("subnet %s has no IPv4 range: %w", id, err)
	}
	return cidr, nil
}

// readSubnets reads the fleet's subnets, the managed routers' and extra, in one call per pass.
func (p *Pass) readSubnets(ctx context.Context, extra ...string) error {
	ids := append([]string(nil), p.Env.Spec.AppStream.Fleet.SubnetIDs...)
	if m := managedRouter(p.Env); m != nil {
		ids = append(ids, m.SubnetIDs...)
	}
	ids = append(ids, extra...)
	var missing []string
	for _, id := range ids {
		if _, ok := p.subnets[id]; !ok && id != "" {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	subnets, err := p.AWS.EC2.DescribeSubnets(ctx, uniq(missing))
	if err != nil && !aws.IsNotFound(err) {
		return fmt.Errorf("reading subnets: %w", err)
	}
	if p.subnets == nil {
		p.subnets = map[string]ec2types.Subnet{}
	}
	for _, s := range subnets {
		p.subnets[deref(s.SubnetId)] = s
	}
	return nil
}

func uniq(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func (p *Pass) setRouter(slot int, r pathcheck.Router) {
	if p.routers == nil {
		p.routers = map[int]pathcheck.Router{}
	}
	p.routers[slot] = r
}

// FromDeviceGroups is what the environment needs of the DeviceGroups bound
// to it: their LANs (routed to the router) and their named devices with the
// SIM state each group observed (walked by the path check). Only the groups
// whose environmentRef names env count.
func FromDeviceGroups(env *accessv1alpha1.RemoteAccessEnvironment, dgs []accessv1alpha1.DeviceGroup) ([]LANRoute, []DeviceTarget) {
	var lans []LANRoute
	var devices []DeviceTarget
	sorted := slices.Clone(dgs)
	slices.SortFunc(sorted, func(a, b accessv1alpha1.DeviceGroup) int { return strings.Compare(a.Name, b.Name) })
	for _, dg := range sorted {
		if dg.Namespace != env.Namespace || dg.Spec.EnvironmentRef.Name != env.Name || !dg.DeletionTimestamp.IsZero() {
			continue
		}
		for _, r := range dg.Spec.LANRoutes {
			if pfx, err := netip.ParsePrefix(r.CIDR); err == nil {
				lans = append(lans, LANRoute{DeviceGroup: dg.Name, SIMID: r.SIMID, CIDR: pfx.Masked()})
			}
		}
		seen := map[string]accessv1alpha1.DeviceStatus{}
		for _, s := range dg.Status.Devices {
			seen[s.Name] = s
		}
		for _, d := range dg.Spec.Devices {
			st, known := seen[d.Name]
			t := DeviceTarget{DeviceGroup: dg.Name, Target: pathcheck.Target{Name: d.Name,
				SIM: pathcheck.SIM{ID: d.SIMID, Online: st.Online, Known: known}}}
			addr := st.Address
			if d.Address != "" {
				addr = d.Address // a LAN device: its own address, behind the SIM
			}
			if a, err := netip.ParseAddr(addr); err == nil {
				t.Target.Address = a
			}
			if st.Online && dg.Status.GatewayID != "" {
				// The gateway of the SIM's session is taken to be the one its
				// group is bound to: the DeviceGroup resets sessions that
				// predate the binding (resetSessionsOnChange), and SORACOM's
				// SIM listing does not name the session's gateway.
				t.Target.SIM.VPGID = dg.Status.GatewayID
			}
			for _, port := range d.Ports {
				t.Ports = append(t.Ports, int(port.Port))
			}
			devices = append(devices, t)
		}
	}
	return lans, devices
}

// PathInputsChanged reports whether a DeviceGroup changed in a way the
// environment's routes or path check see: its environment, LANs, devices, or
// its devices' observed SIM state (not the reachability the group copies back).
func PathInputsChanged(old, cur *accessv1alpha1.DeviceGroup) bool {
	if old.Spec.EnvironmentRef != cur.Spec.EnvironmentRef || !old.DeletionTimestamp.Equal(cur.DeletionTimestamp) ||
		old.Status.GatewayID != cur.Status.GatewayID ||
		!slices.Equal(old.Spec.LANRoutes, cur.Spec.LANRoutes) || len(old.Spec.Devices) != len(cur.Spec.Devices) {
		return true
	}
	for i := range cur.Spec.Devices {
		a, b := old.Spec.Devices[i], cur.Spec.Devices[i]
		if a.Name != b.Name || a.SIMID != b.SIMID || a.Address != b.Address || !slices.Equal(a.Ports, b.Ports) {
			return true
		}
	}
	type simState struct {
		name, address string
		online        bool
	}
	state := func(dg *accessv1alpha1.DeviceGroup) []simState {
		var out []simState
		for _, d := range dg.Status.Devices {
			out = append(out, simState{d.Name, d.Address, d.Online})
		}
		return out
	}
	return !slices.Equal(state(old), state(cur))
}
