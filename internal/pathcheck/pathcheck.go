package pathcheck

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/gatestream/gatestream/internal/routerconfig"
)

// Network checks everything up to and including the VPG, and the return
// path, with the whole device subnet as the destination and any TCP port:
// what every device needs in common, so it can be reported once for the
// environment.
func Network(in Input) Result {
	w := newWalk(in, in.Gateway.DeviceSubnet, anyPort, nil)
	return w.run()
}

// Device checks the full path to one device: the hops of Network for its
// address and port, then the LAN route, the SIM and the return path. The
// device's own listening port is never observable, so a Device hop is always
// Unverified. A Port of 0 means the device names no port: the security
// groups then need to allow some TCP port, as in Network.
func Device(in Input, t Target) Result {
	var dst netip.Prefix
	if t.Address.IsValid() {
		dst = netip.PrefixFrom(t.Address, t.Address.BitLen())
	}
	port := t.Port
	if port <= 0 {
		port = anyPort
	}
	w := newWalk(in, dst, port, &t)
	return w.run()
}

// anyPort stands for "some TCP port": Network has no particular port, and a
// group allowing, say, only tcp/22 still lets the network carry traffic.
const anyPort = -1

type walk struct {
	in     Input
	dst    netip.Prefix
	port   int
	target *Target // nil for Network
	res    Result
	seen   map[Hop]bool
}

func newWalk(in Input, dst netip.Prefix, port int, t *Target) *walk {
	return &walk{in: in, dst: dst, port: port, target: t, seen: map[Hop]bool{}}
}

func (w *walk) run() Result {
	if w.target != nil && !w.dst.IsValid() {
		// Without an address there is nothing to route. An offline SIM has no
		// session address, so its SIM hop is the better explanation when broken.
		w.deviceUnverified()
		if h := w.sim(); h != nil {
			return w.broken(h)
		}
		return w.broken(&Hop{KindDevice, w.deviceName(), fmt.Sprintf("device %s has no address", w.deviceName())})
	}
	if len(w.in.FleetSubnetIDs) == 0 {
		w.deviceUnverified()
		return w.broken(&Hop{KindFleetSubnet, "", "the fleet has no subnets"})
	}
	for _, id := range w.in.FleetSubnetIDs {
		t := &trail{}
		h := w.subnet(id, t)
		w.res.Path = append(w.res.Path, strings.Join(t.steps, " → "))
		w.res.Via = append(w.res.Via, t.via)
		if h != nil {
			w.deviceUnverified()
			return w.broken(h)
		}
	}
	w.deviceUnverified()
	w.res.Reachable = true
	return w.res
}

func (w *walk) broken(h *Hop) Result {
	w.res.Broken = h
	w.res.Reachable = false
	return w.res
}

func (w *walk) unverified(kind, object, reason string) {
	h := Hop{kind, object, reason}
	if !w.seen[h] {
		w.seen[h] = true
		w.res.Unverified = append(w.res.Unverified, h)
	}
}

func (w *walk) deviceUnverified() {
	if w.target == nil {
		return
	}
	w.unverified(KindDevice, w.deviceName(), fmt.Sprintf("whether %s listens on %s cannot be observed by the operator", w.deviceName(), w.tcp()))
}

func (w *walk) deviceName() string {
	if w.target.Name != "" {
		return w.target.Name
	}
	if w.target.Address.IsValid() {
		return w.endpoint()
	}
	return "the device"
}

// endpoint is the device's address with its port, when it has one.
func (w *walk) endpoint() string {
	if w.port == anyPort {
		return w.target.Address.String()
	}
	return netip.AddrPortFrom(w.target.Address, uint16(w.port)).String()
}

// trail records the objects passed, for Result.Path.
type trail struct {
	steps []string
	via   string
}

func (t *trail) add(step string) {
	if step != "" {
		t.steps = append(t.steps, step)
	}
}

// subnet walks one fleet subnet to the target; the hops are in the order of
// the package's Kind constants.
func (w *walk) subnet(id string, t *trail) *Hop {
	in := w.in
	t.add(id)

	// 1 FleetSubnet
	sn, ok := in.Subnets[id]
	if !ok {
		return &Hop{KindFleetSubnet, id, fmt.Sprintf("fleet subnet %s not found", id)}
	}
	if vpc := aws.ToString(sn.VpcId); vpc != in.VPCID {
		return &Hop{KindFleetSubnet, id, fmt.Sprintf("fleet subnet %s is in %s, not in %s", id, vpc, in.VPCID)}
	}
	fleetCIDR, err := netip.ParsePrefix(aws.ToString(sn.CidrBlock))
	if err != nil {
		return &Hop{KindFleetSubnet, id, fmt.Sprintf("fleet subnet %s has no IPv4 CIDR", id)}
	}

	// 2 FleetSecurityGroup
	if h := w.fleetSecurityGroups(); h != nil {
		return h
	}

	// 3 FleetRoute
	rt, ok := RouteTableFor(in.RouteTables, id)
	if !ok {
		return &Hop{KindFleetRoute, id, fmt.Sprintf("fleet subnet %s has no route table (no association and no main table)", id)}
	}
	rtbID := aws.ToString(rt.RouteTableId)
	t.add(rtbID)
	route, rcidr, ok := longestMatch(rt, w.dst)
	if !ok {
		return &Hop{KindFleetRoute, rtbID, fmt.Sprintf("route table %s of fleet subnet %s has no route to %s; it needs one to a router's network interface", rtbID, id, w.dst)}
	}
	r := w.routerFor(route)
	if route.State == ec2types.RouteStateBlackhole {
		also := ""
		if r != nil && r.State != "running" {
			also = fmt.Sprintf(" (router %s is %s)", r.InstanceID, r.State)
		}
		return &Hop{KindFleetRoute, rtbID, fmt.Sprintf("route table %s of fleet subnet %s sends %s (route %s) to %s, but the route is a blackhole%s", rtbID, id, w.dst, rcidr, describeTarget(route), also)}
	}
	if r == nil {
		return &Hop{KindFleetRoute, rtbID, fmt.Sprintf("route table %s of fleet subnet %s sends %s (route %s) to %s, not to a router's network interface", rtbID, id, w.dst, rcidr, describeTarget(route))}
	}

	// 4 RouterInstance
	t.via = r.InstanceID
	switch {
	case r.State != "running":
		return &Hop{KindRouterInstance, r.InstanceID, fmt.Sprintf("router %s is %s, not running", r.InstanceID, cmp.Or(r.State, "in an unknown state"))}
	case r.Impaired:
		return &Hop{KindRouterInstance, r.InstanceID, fmt.Sprintf("router %s is impaired (EC2 status checks fail)", r.InstanceID)}
	case r.ENI == nil:
		return &Hop{KindRouterInstance, r.InstanceID, fmt.Sprintf("network interface %s of router %s not found", aws.ToString(route.NetworkInterfaceId), r.InstanceID)}
	}
	eniID := aws.ToString(r.ENI.NetworkInterfaceId)
	t.add(eniID)
	t.add(r.InstanceID)

	// 5 RouterSourceDestCheck (nil is EC2's default, on)
	if r.ENI.SourceDestCheck == nil || *r.ENI.SourceDestCheck {
		return &Hop{KindRouterSourceDestCheck, eniID, fmt.Sprintf("network interface %s of router %s has source/destination check on, so it drops traffic it forwards", eniID, r.InstanceID)}
	}

	// 6 RouterSecurityGroup
	sgIDs := groupIDs(r.ENI)
	sgObj := strings.Join(sgIDs, ",")
	fromFleet := flow{proto: "tcp", port: w.port, peer: fleetCIDR, groups: in.FleetSecurityGroupIDs}
	if perms, missing := w.permissions(sgIDs, false); !permits(perms, fromFleet) {
		return &Hop{KindRouterSecurityGroup, sgObj, fmt.Sprintf("no ingress rule of router %s's security groups %s allows %s from fleet subnet %s (%s)%s", r.InstanceID, sgObj, w.tcp(), id, fleetCIDR, missingNote(missing))}
	}

	// 7 RouterConfig
	c := r.Config
	if h := w.routerConfig(r, fleetCIDR, id); h != nil {
		return h
	}

	// 8 VXLANRemote. The remotes that are VPG peers are the tunnel's far ends;
	// without the router's config, the VPG's own peers are what it should use.
	var remotes []netip.Addr
	own := outers(in.Gateway.OwnPeers)
	if c == nil {
		w.unverified(KindVXLANRemote, r.InstanceID, fmt.Sprintf("the VXLAN remotes of router %s cannot be checked: its user data is not observable", r.InstanceID))
		remotes = own
	} else {
		for _, a := range c.Remotes {
			if slices.Contains(own, a) {
				remotes = append(remotes, a)
			}
		}
		if len(remotes) == 0 {
			return &Hop{KindVXLANRemote, r.InstanceID, fmt.Sprintf("router %s's VXLAN remotes (%s) include none of %s's own Gate peers (%s)", r.InstanceID, joinAddrs(c.Remotes), in.Gateway.ID, joinAddrs(own))}
		}
	}

	// 9 TunnelPort: VXLAN is UDP both ways, and security groups track the
	// router's flows only per 5-tuple, so the VPG's packets need their own rule.
	vpg := in.Gateway.VPGSubnet
	egressPerms, missing := w.permissions(sgIDs, true)
	ingressPerms, _ := w.permissions(sgIDs, false)
	tunnelOut := permits(egressPerms, flow{proto: "udp", port: routerconfig.Port, peer: vpg})
	tunnelIn := permits(ingressPerms, flow{proto: "udp", port: routerconfig.Port, peer: vpg})
	if !tunnelOut || !tunnelIn {
		var dirs []string
		if !tunnelOut {
			dirs = append(dirs, fmt.Sprintf("egress to %s", vpg))
		}
		if !tunnelIn {
			dirs = append(dirs, fmt.Sprintf("ingress from %s", vpg))
		}
		return &Hop{KindTunnelPort, sgObj, fmt.Sprintf("router %s's security groups %s do not allow udp/%d %s (the VPG's subnet)%s", r.InstanceID, sgObj, routerconfig.Port, strings.Join(dirs, " or "), missingNote(missing))}
	}

	// 10 Underlay
	if h := w.underlay(r, remotes); h != nil {
		return h
	}

	// 11 Peering
	t.add(in.Peering.ID)
	if in.Peering.State != "active" {
		return &Hop{KindPeering, in.Peering.ID, fmt.Sprintf("Canal peering %s is %s, not active", cmp.Or(in.Peering.ID, "(none)"), cmp.Or(in.Peering.State, "missing"))}
	}

	// 12 Gate
	gw := in.Gateway
	t.add(gw.ID)
	if !gw.GateOpened {
		return &Hop{KindGate, gw.ID, fmt.Sprintf("Gate is closed on %s", gw.ID)}
	}

	// 13 GatePeer: the VPG accepts VXLAN only from registered peers.
	ip, _ := netip.ParseAddr(aws.ToString(r.ENI.PrivateIpAddress))
	if !slices.Contains(outers(gw.CustomerPeers), ip) {
		return &Hop{KindGatePeer, gw.ID, fmt.Sprintf("router %s's address %s is not a customer Gate peer of %s", r.InstanceID, aws.ToString(r.ENI.PrivateIpAddress), gw.ID)}
	}

	// 14 VXLANID
	if c == nil {
		w.unverified(KindVXLANID, r.InstanceID, fmt.Sprintf("the VXLAN id of router %s cannot be checked: its user data is not observable", r.InstanceID))
	} else if c.VXLANID != gw.VXLANID {
		return &Hop{KindVXLANID, r.InstanceID, fmt.Sprintf("router %s uses VXLAN id %d, but Gate on %s uses %d", r.InstanceID, c.VXLANID, gw.ID, gw.VXLANID)}
	}

	if w.target == nil {
		// The return path does not depend on the device: the environment's
		// verdict includes it, so Ready never hides one-way traffic.
		if h := w.returnPath(r); h != nil {
			return h
		}
		t.add(w.dst.String())
		return nil
	}

	// 15 LANRoute
	if h := w.lanRoute(); h != nil {
		return h
	}

	// 16 SIM
	t.add(w.target.SIM.ID)
	if h := w.sim(); h != nil {
		return h
	}

	// 17 ReturnPath
	if h := w.returnPath(r); h != nil {
		return h
	}
	t.add(w.endpoint())
	return nil
}

// tcp names the flow checked, for reasons.
func (w *walk) tcp() string {
	if w.port == anyPort {
		return "tcp"
	}
	return fmt.Sprintf("tcp/%d", w.port)
}

func (w *walk) fleetSecurityGroups() *Hop {
	in := w.in
	if len(in.FleetSecurityGroupIDs) == 0 {
		w.unverified(KindFleetSecurityGroup, in.VPCID, fmt.Sprintf("the fleet uses the default security group of %s, which is not observed; assumed to allow %s to %s", in.VPCID, w.tcp(), w.dst))
		return nil
	}
	perms, missing := w.permissions(in.FleetSecurityGroupIDs, true)
	if permits(perms, flow{proto: "tcp", port: w.port, peer: w.dst}) {
		return nil
	}
	obj := strings.Join(in.FleetSecurityGroupIDs, ",")
	return &Hop{KindFleetSecurityGroup, obj, fmt.Sprintf("no egress rule of the fleet's security groups %s allows %s to %s%s", obj, w.tcp(), w.dst, missingNote(missing))}
}

// routerFor is the router a route sends traffic to: the one owning the
// route's network interface, else (ENI not observed) the one with the route's
// instance, which EC2 fills in for an interface attached to an instance.
func (w *walk) routerFor(route ec2types.Route) *Router {
	eni, inst := aws.ToString(route.NetworkInterfaceId), aws.ToString(route.InstanceId)
	for i := range w.in.Routers {
		r := &w.in.Routers[i]
		if eni != "" && r.ENI != nil && aws.ToString(r.ENI.NetworkInterfaceId) == eni {
			return r
		}
	}
	for i := range w.in.Routers {
		r := &w.in.Routers[i]
		if inst != "" && r.InstanceID == inst && (eni == "" || r.ENI == nil) {
			return r
		}
	}
	return nil
}

func (w *walk) routerConfig(r *Router, fleetCIDR netip.Prefix, fleetID string) *Hop {
	c, gw := r.Config, w.in.Gateway
	if c == nil {
		if r.ConfigError == "" {
			w.unverified(KindRouterConfig, r.InstanceID, fmt.Sprintf("the user data of router %s is not observable; assumed to forward into vxlan0", r.InstanceID))
			return nil
		}
		return &Hop{KindRouterConfig, r.InstanceID, fmt.Sprintf("the user data of router %s does not parse: %s", r.InstanceID, r.ConfigError)}
	}
	if !c.IPForward {
		return &Hop{KindRouterConfig, r.InstanceID, fmt.Sprintf("router %s does not enable IP forwarding (net.ipv4.ip_forward=1)", r.InstanceID)}
	}
	if !c.HasPolicyRule {
		return &Hop{KindRouterConfig, r.InstanceID, fmt.Sprintf("router %s has no policy rule (ip rule … lookup %d) with a default route into %s in table %d", r.InstanceID, routerconfig.Table, routerconfig.Device, routerconfig.Table)}
	}
	// The inner address must share the VPG's subnet: the VPG's inner address
	// is then on-link on vxlan0, and the VPG can send the router replies.
	if !c.Inner.IsValid() || c.Inner.Masked() != gw.DeviceSubnet.Masked() {
		return &Hop{KindRouterConfig, r.InstanceID, fmt.Sprintf("router %s's inner address %s is not in the device subnet %s", r.InstanceID, c.Inner, gw.DeviceSubnet)}
	}
	if inners := inners(gw.OwnPeers); len(inners) > 0 && !slices.Contains(inners, c.VPGInner) {
		return &Hop{KindRouterConfig, r.InstanceID, fmt.Sprintf("router %s routes table %d via %s, which is not an inner address of %s's own Gate peers (%s)", r.InstanceID, routerconfig.Table, c.VPGInner, gw.ID, joinAddrs(inners))}
	}
	// Replies to the fleet are routed by table 100 too (they arrive on vxlan0),
	// so the VPC route must cover the fleet subnet and use the subnet's VPC router.
	if !c.VPCCIDR.IsValid() || !contains(c.VPCCIDR, fleetCIDR) {
		return &Hop{KindRouterConfig, r.InstanceID, fmt.Sprintf("router %s's table %d routes %s to the VPC, which does not cover fleet subnet %s (%s): replies cannot return", r.InstanceID, routerconfig.Table, c.VPCCIDR, fleetID, fleetCIDR)}
	}
	if sn, ok := w.in.Subnets[aws.ToString(r.ENI.SubnetId)]; ok {
		if cidr, err := netip.ParsePrefix(aws.ToString(sn.CidrBlock)); err == nil {
			if want := routerconfig.SubnetGateway(cidr); c.SubnetGateway != want {
				return &Hop{KindRouterConfig, r.InstanceID, fmt.Sprintf("router %s's table %d sends the VPC via %s, but the VPC router of its subnet %s is %s", r.InstanceID, routerconfig.Table, c.SubnetGateway, aws.ToString(sn.SubnetId), want)}
			}
		}
	}
	return nil
}

func (w *walk) underlay(r *Router, remotes []netip.Addr) *Hop {
	subnetID := aws.ToString(r.ENI.SubnetId)
	rt, ok := RouteTableFor(w.in.RouteTables, subnetID)
	if !ok {
		return &Hop{KindUnderlay, subnetID, fmt.Sprintf("router subnet %s has no route table (no association and no main table)", subnetID)}
	}
	rtbID, pcx := aws.ToString(rt.RouteTableId), w.in.Peering.ID
	if len(remotes) == 0 {
		return &Hop{KindUnderlay, rtbID, fmt.Sprintf("no VPG peer address to route to from route table %s: %s lists no own Gate peers", rtbID, w.in.Gateway.ID)}
	}
	for _, a := range remotes {
		dst := netip.PrefixFrom(a, a.BitLen())
		route, rcidr, ok := longestMatch(rt, dst)
		switch {
		case !ok:
			return &Hop{KindUnderlay, rtbID, fmt.Sprintf("route table %s of router subnet %s has no route to the VPG's peer %s; it needs %s via %s", rtbID, subnetID, a, w.in.Gateway.VPGSubnet, pcx)}
		case aws.ToString(route.VpcPeeringConnectionId) != pcx || pcx == "":
			return &Hop{KindUnderlay, rtbID, fmt.Sprintf("route table %s of router subnet %s sends the VPG's peer %s (route %s) to %s, not to the Canal peering %s", rtbID, subnetID, a, rcidr, describeTarget(route), pcx)}
		case route.State == ec2types.RouteStateBlackhole:
			return &Hop{KindUnderlay, rtbID, fmt.Sprintf("route table %s of router subnet %s sends the VPG's peer %s (route %s) to %s, but the route is a blackhole", rtbID, subnetID, a, rcidr, pcx)}
		}
	}
	return nil
}

func (w *walk) lanRoute() *Hop {
	gw, addr := w.in.Gateway, w.target.Address
	if gw.DeviceSubnet.Contains(addr) {
		return nil
	}
	if !gw.SimBasedRouting {
		return &Hop{KindLANRoute, gw.ID, fmt.Sprintf("%s is outside the device subnet %s and %s has SIM-based routing off", addr, gw.DeviceSubnet, gw.ID)}
	}
	// The VPG picks the most specific LAN route; ties go to the lowest SIM ID
	// only to keep the answer deterministic.
	var bestSIM string
	var best netip.Prefix
	for sim, p := range gw.SimRoutes {
		if !p.Contains(addr) {
			continue
		}
		if !best.IsValid() || p.Bits() > best.Bits() || (p.Bits() == best.Bits() && sim < bestSIM) {
			best, bestSIM = p, sim
		}
	}
	if !best.IsValid() {
		return &Hop{KindLANRoute, gw.ID, fmt.Sprintf("%s is outside the device subnet %s and no SIM-based route of %s covers it", addr, gw.DeviceSubnet, gw.ID)}
	}
	if sim := w.target.SIM.ID; sim != "" && sim != bestSIM {
		return &Hop{KindLANRoute, gw.ID, fmt.Sprintf("%s routes %s (covering %s) to SIM %s, not to the device's SIM %s", gw.ID, best, addr, bestSIM, sim)}
	}
	return nil
}

func (w *walk) sim() *Hop {
	s, vpg := w.target.SIM, w.in.Gateway.ID
	switch {
	case s.ID == "":
		return &Hop{KindSIM, "", fmt.Sprintf("device %s has no SIM", w.deviceName())}
	case !s.Known:
		return &Hop{KindSIM, s.ID, fmt.Sprintf("SIM %s is unknown to the operator account", s.ID)}
	case !s.Online:
		return &Hop{KindSIM, s.ID, fmt.Sprintf("SIM %s is offline", s.ID)}
	case s.VPGID != vpg:
		return &Hop{KindSIM, s.ID, fmt.Sprintf("SIM %s's session is on %s, not on %s", s.ID, cmp.Or(s.VPGID, "no VPG"), vpg)}
	}
	return nil
}

func (w *walk) returnPath(r *Router) *Hop {
	c, gw := r.Config, w.in.Gateway
	switch w.in.ReturnPath {
	case ReturnPathMasquerade, "":
		if c == nil {
			w.unverified(KindReturnPath, r.InstanceID, fmt.Sprintf("whether router %s masquerades cannot be checked: its user data is not observable", r.InstanceID))
			return nil
		}
		if !c.Masquerade {
			return &Hop{KindReturnPath, r.InstanceID, fmt.Sprintf("router %s does not masquerade traffic into %s, so devices' replies to the fleet's addresses do not come back through it (return path Masquerade)", r.InstanceID, routerconfig.Device)}
		}
	case ReturnPathJunctionRedirection:
		rd := gw.Redirection
		if rd == nil || !rd.Enabled {
			return &Hop{KindReturnPath, gw.ID, fmt.Sprintf("Junction redirection is off on %s, so device replies do not return to router %s (return path JunctionRedirection)", gw.ID, r.InstanceID)}
		}
		if c == nil {
			w.unverified(KindReturnPath, gw.ID, fmt.Sprintf("whether Junction redirection on %s (to %s) points at router %s cannot be checked: its user data is not observable", gw.ID, rd.Gateway, r.InstanceID))
			return nil
		}
		if rd.Gateway != c.Inner.Addr() {
			return &Hop{KindReturnPath, gw.ID, fmt.Sprintf("Junction redirection on %s points at %s, not at router %s's inner address %s", gw.ID, rd.Gateway, r.InstanceID, c.Inner.Addr())}
		}
	default:
		return &Hop{KindReturnPath, "", fmt.Sprintf("unknown return path %q", w.in.ReturnPath)}
	}
	return nil
}

// permissions gathers the rules of the groups; missing lists the groups that
// were not observed, which count as allowing nothing.
func (w *walk) permissions(ids []string, egress bool) (perms []ec2types.IpPermission, missing []string) {
	for _, id := range ids {
		sg, ok := w.in.SecurityGroups[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		if egress {
			perms = append(perms, sg.IpPermissionsEgress...)
		} else {
			perms = append(perms, sg.IpPermissions...)
		}
	}
	return perms, missing
}

func missingNote(missing []string) string {
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf(" (%s not found)", strings.Join(slices.Compact(missing), ","))
}

func groupIDs(eni *ec2types.NetworkInterface) []string {
	ids := make([]string, 0, len(eni.Groups))
	for _, g := range eni.Groups {
		ids = append(ids, aws.ToString(g.GroupId))
	}
	return ids
}

func outers(peers []Peer) []netip.Addr {
	var out []netip.Addr
	for _, p := range peers {
		if p.Outer.IsValid() {
			out = append(out, p.Outer)
		}
	}
	return out
}

func inners(peers []Peer) []netip.Addr {
	var out []netip.Addr
	for _, p := range peers {
		if p.Inner.IsValid() {
			out = append(out, p.Inner)
		}
	}
	return out
}

func joinAddrs(as []netip.Addr) string {
	if len(as) == 0 {
		return "none"
	}
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
