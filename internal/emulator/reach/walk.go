package reach

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Source is where the connection starts: an AppStream streaming instance of
// fleet FleetName with address Addr in subnet SubnetID.
//
// SubnetID may be empty when the fleet is named: the fleet subnet holding
// Addr (or the fleet's only subnet) is used. Addr may be the zero value:
// the source is then "any address of the subnet", and rules that depend on
// it must cover the whole subnet.
type Source struct {
	FleetName, SubnetID string
	Addr                netip.Addr
}

// Hop is a broken hop: its kind (see HopKinds), the ID of the thing to fix,
// and a sentence naming the objects and values involved.
type Hop struct {
	Kind, Object, Reason string
}

// Result is Walk's verdict.
type Result struct {
	Reachable bool
	// Router is the router instance the path goes through ("" when the walk
	// broke before reaching one).
	Router string
	// Hops is the trail the packet took, as far as it got.
	Hops []string
	// Broken is the first broken hop (nil when reachable).
	Broken *Hop
	// Notes are assumptions the verdict rests on and other remarks (GUESS
	// defaults taken, user data lines not modelled, remotes that failed).
	Notes []string
}

// String is "reachable via i-7 (subnet-a → … → 10.128.0.5:22)" or
// "unreachable: <reason>".
func (r Result) String() string {
	if r.Reachable {
		return fmt.Sprintf("reachable via %s (%s)", r.Router, strings.Join(r.Hops, " → "))
	}
	if r.Broken == nil {
		return "unreachable"
	}
	return "unreachable: " + r.Broken.Reason
}

// Walk decides whether a TCP connection from from to to:port would
// succeed in s, checking the hops in HopKinds order and reporting the first
// broken one. It reads s only; it never modifies it.
func Walk(s Snapshot, from Source, to netip.Addr, port int) Result {
	k := &walker{ix: newIndex(s), from: from, dst: to.Unmap(), port: port}
	for _, step := range []func() *Hop{
		k.fleetSubnet, k.fleetSecurityGroup, k.fleetRoute,
		k.routerInstance, k.routerSourceDestCheck, k.routerSecurityGroup, k.routerConfig,
	} {
		if h := step(); h != nil {
			return k.result(false, k.trail, h)
		}
	}
	return k.throughTunnel()
}

// ---- index ----

type index struct {
	s        Snapshot
	vpcs     map[string]VPC
	subnets  map[string]Subnet
	sgs      map[string]SecurityGroup
	enis     map[string]ENI
	insts    map[string]Instance
	peerings map[string]Peering
	fleets   map[string]Fleet
	tables   []RouteTable // sorted by ID, so lookups do not depend on input order
	vpgs     []VPG        // sorted by ID
}

func byID[T any](list []T, id func(T) string) map[string]T {
	m := make(map[string]T, len(list))
	for _, v := range list {
		if _, dup := m[id(v)]; !dup {
			m[id(v)] = v
		}
	}
	return m
}

func newIndex(s Snapshot) *index {
	ix := &index{
		s:        s,
		vpcs:     byID(s.VPCs, func(v VPC) string { return v.ID }),
		subnets:  byID(s.Subnets, func(v Subnet) string { return v.ID }),
		sgs:      byID(s.SecurityGroups, func(v SecurityGroup) string { return v.ID }),
		enis:     byID(s.ENIs, func(v ENI) string { return v.ID }),
		insts:    byID(s.Instances, func(v Instance) string { return v.ID }),
		peerings: byID(s.Peerings, func(v Peering) string { return v.ID }),
		fleets:   byID(s.Fleets, func(v Fleet) string { return v.Name }),
		tables:   slices.Clone(s.RouteTables),
		vpgs:     slices.Clone(s.VPGs),
	}
	slices.SortStableFunc(ix.tables, func(a, b RouteTable) int { return strings.Compare(a.ID, b.ID) })
	slices.SortStableFunc(ix.vpgs, func(a, b VPG) int { return strings.Compare(a.ID, b.ID) })
	return ix
}

// routeTable is the table a subnet uses: the one explicitly associated with
// it, else its VPC's main table.
func (ix *index) routeTable(sn Subnet) (RouteTable, bool, bool) {
	for _, t := range ix.tables {
		if slices.Contains(t.SubnetIDs, sn.ID) {
			return t, false, true
		}
	}
	for _, t := range ix.tables {
		if t.Main && t.VPCID == sn.VPCID {
			return t, true, true
		}
	}
	return RouteTable{}, false, false
}

// longestMatch is VPC routing: the most specific route containing a. A
// blackhole route still wins the match (and then drops the packet).
func longestMatch(routes []VPCRoute, a netip.Addr) (VPCRoute, bool) {
	best := -1
	for i, r := range routes {
		if !r.Dest.IsValid() || !r.Dest.Masked().Contains(a) {
			continue
		}
		if best < 0 || r.Dest.Bits() > routes[best].Dest.Bits() {
			best = i
		}
	}
	if best < 0 {
		return VPCRoute{}, false
	}
	return routes[best], true
}

func routeState(r VPCRoute) string {
	if r.State == "" {
		return RouteActive
	}
	return r.State
}

func targetName(r VPCRoute) string {
	if r.Target != "" {
		return r.Target
	}
	return string(r.Kind)
}

func tableLabel(t RouteTable, main bool, sn Subnet) string {
	if main {
		return fmt.Sprintf("route table %s (main table of %s, used by subnet %s)", t.ID, t.VPCID, sn.ID)
	}
	return fmt.Sprintf("route table %s (subnet %s)", t.ID, sn.ID)
}

// ---- security groups ----

func normProto(p string) string {
	switch p = strings.ToLower(p); p {
	case "-1", "all":
		return "all"
	case "6":
		return "tcp"
	case "17":
		return "udp"
	case "1":
		return "icmp"
	}
	return p
}

func hostPrefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// covers reports whether a rule CIDR contains every address of peer.
func covers(rule, peer netip.Prefix) bool {
	rule = rule.Masked()
	return rule.IsValid() && peer.IsValid() && rule.Bits() <= peer.Bits() && rule.Contains(peer.Addr())
}

func ruleAllows(r SGRule, proto string, port int, peer netip.Prefix) bool {
	rp := normProto(r.Protocol)
	if rp != "all" {
		if rp != proto {
			return false
		}
		// GUESS: -1 in a port field of a tcp/udp rule means all ports.
		if r.FromPort != -1 && r.ToPort != -1 && (port < r.FromPort || port > r.ToPort) {
			return false
		}
	}
	return slices.ContainsFunc(r.CIDRs, func(c netip.Prefix) bool { return covers(c, peer) })
}

// sgAllows reports whether any rule of the groups ids allows proto/port to
// (egress) or from (ingress) every address of peer, and which of the
// groups are missing from the snapshot (they allow nothing).
func (ix *index) sgAllows(ids []string, egress bool, proto string, port int, peer netip.Prefix) (bool, []string) {
	var missing []string
	for _, id := range ids {
		sg, ok := ix.sgs[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		rules := sg.Ingress
		if egress {
			rules = sg.Egress
		}
		for _, r := range rules {
			if ruleAllows(r, proto, port, peer) {
				return true, missing
			}
		}
	}
	return false, missing
}

func missingNote(missing []string) string {
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf(" (%s not in the snapshot)", strings.Join(missing, ", "))
}

func peerLabel(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return "every address of " + p.String()
}

// ---- the walk up to the router ----

type walker struct {
	ix    *index
	from  Source
	dst   netip.Addr
	port  int
	trail []string
	notes []string

	fleet   *Fleet
	subnet  Subnet
	src     netip.Addr   // the session address (the subnet's base address when unknown)
	srcPeer netip.Prefix // what the source may be: a /32 or the whole subnet

	eni          ENI
	inst         Instance
	routerIP     netip.Addr
	routerSubnet Subnet
	routerSGs    []string
	cfg          RouterConfig
}

func (k *walker) note(format string, args ...any) {
	k.notes = append(k.notes, fmt.Sprintf(format, args...))
}

func (k *walker) result(ok bool, trail []string, h *Hop) Result {
	return Result{Reachable: ok, Router: k.inst.ID, Hops: slices.Clone(trail), Broken: h, Notes: slices.Clone(k.notes)}
}

// 1. The session's subnet exists, is in a known VPC, belongs to the fleet
// and holds the session address.
func (k *walker) fleetSubnet() *Hop {
	broken := func(obj, format string, args ...any) *Hop {
		return &Hop{Kind: KindFleetSubnet, Object: obj, Reason: fmt.Sprintf(format, args...)}
	}
	if name := k.from.FleetName; name != "" {
		f, ok := k.ix.fleets[name]
		if !ok {
			return broken(name, "fleet %s is not in the snapshot", name)
		}
		k.fleet = &f
	}
	id := k.from.SubnetID
	if id == "" && k.fleet != nil {
		for _, c := range k.fleet.SubnetIDs {
			if sn, ok := k.ix.subnets[c]; ok && k.from.Addr.IsValid() && sn.CIDR.Contains(k.from.Addr.Unmap()) {
				id = c
				break
			}
		}
		if id == "" && len(k.fleet.SubnetIDs) == 1 {
			id = k.fleet.SubnetIDs[0]
		}
	}
	if id == "" {
		return broken(k.from.FleetName, "the session's subnet is unknown")
	}
	sn, ok := k.ix.subnets[id]
	if !ok {
		return broken(id, "subnet %s is not in the snapshot", id)
	}
	if _, ok := k.ix.vpcs[sn.VPCID]; !ok {
		return broken(id, "subnet %s is in VPC %q, which is not in the snapshot", id, sn.VPCID)
	}
	if k.fleet != nil && len(k.fleet.SubnetIDs) > 0 && !slices.Contains(k.fleet.SubnetIDs, id) {
		return broken(id, "subnet %s is not one of fleet %s's subnets (%s)", id, k.fleet.Name, strings.Join(k.fleet.SubnetIDs, ", "))
	}
	k.subnet = sn
	if a := k.from.Addr.Unmap(); a.IsValid() {
		if !sn.CIDR.Contains(a) {
			return broken(id, "session address %s is outside subnet %s (%s)", a, id, sn.CIDR)
		}
		k.src, k.srcPeer = a, hostPrefix(a)
	} else {
		k.src, k.srcPeer = sn.CIDR.Masked().Addr(), sn.CIDR.Masked()
		k.note("no session address given: the source is any address of %s (%s)", id, sn.CIDR)
	}
	k.trail = append(k.trail, id)
	return nil
}

// 2. A fleet security group lets the session open tcp/port to the device.
// Security groups are stateful, so the replies need no rule.
func (k *walker) fleetSecurityGroup() *Hop {
	if k.fleet == nil || len(k.fleet.SecurityGroupIDs) == 0 {
		// GUESS: a fleet without security groups gets the VPC's default
		// group, whose default egress rule allows everything.
		k.note("GUESS: fleet %q has no security groups; treated as allowing all egress", k.from.FleetName)
		return nil
	}
	ids := k.fleet.SecurityGroupIDs
	ok, missing := k.ix.sgAllows(ids, true, "tcp", k.port, hostPrefix(k.dst))
	if ok {
		return nil
	}
	return &Hop{Kind: KindFleetSecurityGroup, Object: strings.Join(ids, ","),
		Reason: fmt.Sprintf("no egress rule of fleet %s's security groups %s%s allows TCP %d to %s",
			k.fleet.Name, strings.Join(ids, ", "), missingNote(missing), k.port, k.dst)}
}

// 3. The fleet subnet's route table sends the device address to a router
// network interface.
func (k *walker) fleetRoute() *Hop {
	t, main, ok := k.ix.routeTable(k.subnet)
	if !ok {
		return &Hop{Kind: KindFleetRoute, Object: k.subnet.ID,
			Reason: fmt.Sprintf("subnet %s has no route table (no association, and VPC %s has no main table)", k.subnet.ID, k.subnet.VPCID)}
	}
	label := tableLabel(t, main, k.subnet)
	broken := func(format string, args ...any) *Hop {
		return &Hop{Kind: KindFleetRoute, Object: t.ID, Reason: label + " " + fmt.Sprintf(format, args...)}
	}
	r, ok := longestMatch(t.Routes, k.dst)
	if !ok {
		return broken("has no route for %s", k.dst)
	}
	if routeState(r) != RouteActive {
		return broken("sends %s to %s, but the route is %s", r.Dest, targetName(r), routeState(r))
	}
	if r.Kind != TargetENI {
		return broken("sends %s to %s (%s), not a router interface", r.Dest, targetName(r), r.Kind)
	}
	eni, ok := k.ix.enis[r.Target]
	if !ok {
		return broken("sends %s to %s, not a router interface (no such network interface)", r.Dest, r.Target)
	}
	// An interface of an instance launched without any user data is not a
	// router (nothing made it one): the route goes to the wrong place.
	if inst, ok := k.ix.insts[eni.InstanceID]; ok && strings.TrimSpace(inst.UserData) == "" {
		return broken("sends %s to %s of %s, which is not a router (launched without user data)", r.Dest, eni.ID, inst.ID)
	}
	k.eni = eni
	k.trail = append(k.trail, t.ID)
	return nil
}

// 4. The interface is attached to a running, healthy instance.
func (k *walker) routerInstance() *Hop {
	e := k.eni
	broken := func(obj, format string, args ...any) *Hop {
		return &Hop{Kind: KindRouterInstance, Object: obj, Reason: fmt.Sprintf(format, args...)}
	}
	if e.InstanceID == "" {
		return broken(e.ID, "network interface %s is not attached to an instance", e.ID)
	}
	inst, ok := k.ix.insts[e.InstanceID]
	if !ok {
		return broken(e.InstanceID, "instance %s (behind %s) is gone", e.InstanceID, e.ID)
	}
	k.inst = inst
	if inst.State != InstanceRunning {
		return broken(inst.ID, "router instance %s (%s) is %s, not running", inst.ID, e.ID, inst.State)
	}
	if inst.Impaired {
		return broken(inst.ID, "router instance %s (%s) is impaired (failed status check)", inst.ID, e.ID)
	}
	subnetID := e.SubnetID
	if subnetID == "" {
		subnetID = inst.SubnetID
	}
	sn, ok := k.ix.subnets[subnetID]
	if !ok {
		return broken(e.ID, "network interface %s is in subnet %q, which is not in the snapshot", e.ID, subnetID)
	}
	k.routerSubnet = sn
	k.routerIP = e.PrivateIP
	if !k.routerIP.IsValid() {
		k.routerIP = inst.PrivateIP
	}
	if !k.routerIP.IsValid() {
		return broken(e.ID, "network interface %s of %s has no private IP", e.ID, inst.ID)
	}
	k.routerIP = k.routerIP.Unmap()
	// Security groups belong to network interfaces in EC2; GUESS: when the
	// snapshot lists none on the ENI, the instance's (its primary ENI's)
	// apply.
	k.routerSGs = e.SecurityGroupIDs
	if len(k.routerSGs) == 0 {
		k.routerSGs = inst.SecurityGroupIDs
	}
	k.trail = append(k.trail, fmt.Sprintf("%s (%s)", e.ID, inst.ID))
	return nil
}

// 5. Source/destination check off, or EC2 drops forwarded packets.
func (k *walker) routerSourceDestCheck() *Hop {
	if !k.eni.SourceDestCheck {
		return nil
	}
	return &Hop{Kind: KindRouterSourceDestCheck, Object: k.eni.ID,
		Reason: fmt.Sprintf("source/destination check is on for %s (%s), so it drops packets for %s", k.eni.ID, k.inst.ID, k.dst)}
}

// 6. A router security group lets the session's TCP in.
func (k *walker) routerSecurityGroup() *Hop {
	if len(k.routerSGs) == 0 {
		// GUESS: unlike the fleet, no group means nothing is allowed; an ENI
		// always has one in EC2, so this is a snapshot without any.
		return &Hop{Kind: KindRouterSecurityGroup, Object: k.eni.ID,
			Reason: fmt.Sprintf("router interface %s (%s) has no security groups, so nothing allows TCP %d from %s", k.eni.ID, k.inst.ID, k.port, peerLabel(k.srcPeer))}
	}
	ok, missing := k.ix.sgAllows(k.routerSGs, false, "tcp", k.port, k.srcPeer)
	if ok {
		return nil
	}
	return &Hop{Kind: KindRouterSecurityGroup, Object: strings.Join(k.routerSGs, ","),
		Reason: fmt.Sprintf("no ingress rule of router security groups %s%s (%s) allows TCP %d from %s",
			strings.Join(k.routerSGs, ", "), missingNote(missing), k.eni.ID, k.port, peerLabel(k.srcPeer))}
}

// 7. The router's Linux config, from its user data only, forwards the
// packet into the VXLAN link and routes the replies back out of its NIC.
func (k *walker) routerConfig() *Hop {
	id := k.inst.ID
	broken := func(format string, args ...any) *Hop {
		return &Hop{Kind: KindRouterConfig, Object: id, Reason: fmt.Sprintf(format, args...)}
	}
	if strings.TrimSpace(k.inst.UserData) == "" {
		return broken("router instance %s has no user data", id)
	}
	cfg, err := ParseUserData(k.inst.UserData)
	if err != nil {
		return broken("user data of %s cannot be parsed: %v", id, err)
	}
	k.cfg = cfg
	if len(cfg.Unknown) > 0 {
		k.note("user data of %s has %d command(s) the walker does not model: %s", id, len(cfg.Unknown), strings.Join(cfg.Unknown, " | "))
	}
	vx := cfg.VXLANDev
	switch {
	case cfg.Shebang == "":
		// cloud-init runs user data as a script only when it starts with "#!".
		return broken("user data of %s does not start with #!, so cloud-init does not run it", id)
	case !cfg.IPForward:
		return broken("user data of %s does not enable net.ipv4.ip_forward, so %s does not forward", id, id)
	case vx == "":
		return broken("user data of %s creates no VXLAN interface", id)
	case !cfg.VXLANUp:
		return broken("user data of %s never sets %s up", id, vx)
	case cfg.VXLANPort != GateVXLANPort:
		return broken("%s of %s sends to UDP %d, but the Gate listens on %d", vx, id, cfg.VXLANPort, GateVXLANPort)
	case cfg.InnerAddr.IsValid() && k.dst == cfg.InnerAddr.Addr():
		return broken("%s is %s's own address on %s, not a device", k.dst, id, vx)
	}
	h := newHost(cfg, k.routerSubnet.CIDR, k.routerIP)
	fwd := h.resolve(nicName, k.src, k.dst)
	if !fwd.ok {
		return broken("%s does not forward %s into %s: %s", id, k.dst, vx, fwd.explain())
	}
	if fwd.local {
		return broken("%s delivers %s locally instead of forwarding it", id, k.dst)
	}
	if fwd.dev != vx {
		why := ""
		if len(fwd.trace) > 0 {
			why = " (" + strings.Join(fwd.trace, "; ") + ")"
		}
		return broken("%s routes %s by table %s %q out %s, not into %s%s", id, k.dst, tableName(fwd.table), fwd.route, fwd.dev, vx, why)
	}
	// The reply (de-masqueraded, or redirected by Junction) arrives on the
	// VXLAN link and must leave by the NIC towards the VPC router.
	ret := h.resolve(vx, k.dst, k.src)
	switch {
	case !ret.ok:
		return broken("%s cannot route replies for %s arriving on %s: %s", id, k.src, vx, ret.explain())
	case ret.local:
		return broken("%s takes replies for %s as its own", id, k.src)
	case ret.dev != nicName:
		return broken("%s routes replies for %s by table %s %q back into %s, not out %s via %s (is the VPC route missing from table %s?)",
			id, k.src, tableName(ret.table), ret.route, ret.dev, nicName, h.gateway, tableName(ret.table))
	case ret.via.IsValid() && ret.via != h.gateway:
		return broken("%s routes replies for %s via %s, not the VPC router %s of %s", id, k.src, ret.via, h.gateway, k.routerSubnet.ID)
	}
	k.trail = append(k.trail, fmt.Sprintf("vxlan %d", cfg.VXLANID))
	return nil
}

// ---- through the tunnel ----

// leg is the rest of the walk through one VXLAN remote: with head-end
// replication every flood fdb entry gets a copy, so each remote that is a
// VPG's own Gate peer is a path of its own.
type leg struct {
	*walker
	remote netip.Addr
	vpg    VPG
	trail  []string
	pcx    string
	sim    SIM
	lan    netip.Prefix // the SIM-based route used; zero for the device subnet
}

func (k *walker) throughTunnel() Result {
	var legs []*leg
	for _, r := range k.cfg.Remotes {
		own := false
		for _, v := range k.ix.vpgs {
			if slices.ContainsFunc(v.OwnPeers, func(p Peer) bool { return p.Outer == r }) {
				legs = append(legs, &leg{walker: k, remote: r, vpg: v, trail: slices.Clone(k.trail)})
				own = true
			}
		}
		if !own {
			k.note("%s remote %s of %s is not an own Gate peer of any VPG; copies sent to it are lost", k.cfg.VXLANDev, r, k.inst.ID)
		}
	}
	if len(legs) == 0 {
		rs := "none"
		if len(k.cfg.Remotes) > 0 {
			var ss []string
			for _, r := range k.cfg.Remotes {
				ss = append(ss, r.String())
			}
			rs = strings.Join(ss, ", ")
		}
		return k.result(false, k.trail, &Hop{Kind: KindVXLANRemote, Object: k.inst.ID,
			Reason: fmt.Sprintf("no %s remote of %s (%s) is an own Gate peer of a VPG", k.cfg.VXLANDev, k.inst.ID, rs)})
	}
	// The connection works if one copy gets through; otherwise report the
	// leg that got furthest (the first such in fdb order).
	var (
		best     *leg
		bestHop  *Hop
		failures []string
	)
	for _, l := range legs {
		h := l.walk()
		if h == nil {
			for _, f := range failures {
				k.note("%s", f)
			}
			return k.result(true, l.trail, nil)
		}
		failures = append(failures, fmt.Sprintf("via remote %s (%s): %s", l.remote, l.vpg.ID, h.Reason))
		if best == nil || HopOrder(h.Kind) > HopOrder(bestHop.Kind) {
			best, bestHop = l, h
		}
	}
	if len(legs) > 1 {
		for _, f := range failures {
			k.note("%s", f)
		}
	}
	return k.result(false, best.trail, bestHop)
}

func (l *leg) walk() *Hop {
	for _, step := range []func() *Hop{
		l.tunnelPort, l.underlay, l.peering, l.gate, l.gatePeer, l.vxlanID,
		l.lanRoute, l.simHop, l.returnPath, l.device,
	} {
		if h := step(); h != nil {
			return h
		}
	}
	return nil
}

// 9. The router's security groups pass the VXLAN underlay both ways. The
// encapsulated packets to the VPG and from it are separate flows (each side
// picks its own source port), so the stateful reply rule does not cover
// the inbound ones.
func (l *leg) tunnelPort() *Hop {
	ids := strings.Join(l.routerSGs, ",")
	broken := func(format string, args ...any) *Hop {
		return &Hop{Kind: KindTunnelPort, Object: ids, Reason: fmt.Sprintf(format, args...)}
	}
	if len(l.routerSGs) == 0 {
		return broken("router interface %s has no security groups, so nothing allows UDP %d to %s", l.eni.ID, GateVXLANPort, l.remote)
	}
	out, missing := l.ix.sgAllows(l.routerSGs, true, "udp", GateVXLANPort, hostPrefix(l.remote))
	if !out {
		return broken("no egress rule of router security groups %s%s allows UDP %d to %s (%s's Gate peer)",
			strings.Join(l.routerSGs, ", "), missingNote(missing), GateVXLANPort, l.remote, l.vpg.ID)
	}
	// GUESS: which address of its range the VPG sends from is not
	// documented, so the whole vpgSubnetCidrRange must be allowed in (as
	// SORACOM's docs ask); without a range, the remote itself.
	from, what := hostPrefix(l.remote), "remote "+l.remote.String()
	if l.vpg.VPGSubnet.IsValid() {
		from, what = l.vpg.VPGSubnet.Masked(), fmt.Sprintf("%s's vpgSubnetCidrRange %s", l.vpg.ID, l.vpg.VPGSubnet)
	}
	in, missing := l.ix.sgAllows(l.routerSGs, false, "udp", GateVXLANPort, from)
	if !in {
		return broken("no ingress rule of router security groups %s%s allows UDP %d from %s",
			strings.Join(l.routerSGs, ", "), missingNote(missing), GateVXLANPort, what)
	}
	return nil
}

// 10. The router subnet routes the remote's outer address over a peering.
func (l *leg) underlay() *Hop {
	sn := l.routerSubnet
	t, main, ok := l.ix.routeTable(sn)
	if !ok {
		return &Hop{Kind: KindUnderlay, Object: sn.ID,
			Reason: fmt.Sprintf("router subnet %s has no route table (no association, and VPC %s has no main table)", sn.ID, sn.VPCID)}
	}
	label := tableLabel(t, main, sn)
	broken := func(format string, args ...any) *Hop {
		return &Hop{Kind: KindUnderlay, Object: t.ID, Reason: label + " " + fmt.Sprintf(format, args...)}
	}
	r, ok := longestMatch(t.Routes, l.remote)
	if !ok {
		return broken("has no route for %s (%s's Gate peer)", l.remote, l.vpg.ID)
	}
	if r.Kind != TargetPeering {
		return broken("sends %s to %s (%s), not a VPC peering", r.Dest, targetName(r), r.Kind)
	}
	if routeState(r) != RouteActive {
		why := ""
		if p, ok := l.ix.peerings[r.Target]; ok {
			why = fmt.Sprintf(" (%s is %s)", p.ID, p.State)
		}
		return broken("sends %s to %s, but the route is %s%s", r.Dest, r.Target, routeState(r), why)
	}
	l.pcx = r.Target
	l.trail = append(l.trail, fmt.Sprintf("%s via %s", l.remote, r.Target))
	return nil
}

// 11. The peering is active and is the VPG's (Canal).
func (l *leg) peering() *Hop {
	broken := func(format string, args ...any) *Hop {
		return &Hop{Kind: KindPeering, Object: l.pcx, Reason: fmt.Sprintf(format, args...)}
	}
	p, ok := l.ix.peerings[l.pcx]
	if !ok {
		return broken("VPC peering %s is not in the snapshot", l.pcx)
	}
	if p.State != PeeringActive {
		return broken("VPC peering %s is %s, not active", p.ID, p.State)
	}
	if !slices.Contains(l.vpg.PeeringIDs, p.ID) {
		have := "none"
		if len(l.vpg.PeeringIDs) > 0 {
			have = strings.Join(l.vpg.PeeringIDs, ", ")
		}
		return broken("VPC peering %s is not one of %s's VPC peering connections (%s)", p.ID, l.vpg.ID, have)
	}
	l.trail = append(l.trail, l.vpg.ID)
	return nil
}

// 12. Gate open.
func (l *leg) gate() *Hop {
	if l.vpg.GateOpened {
		return nil
	}
	return &Hop{Kind: KindGate, Object: l.vpg.ID, Reason: fmt.Sprintf("Gate is closed on %s", l.vpg.ID)}
}

// 13. The router is a registered customer Gate peer (its private IP as the
// outer address).
func (l *leg) gatePeer() *Hop {
	var have []string
	for _, p := range l.vpg.CustomerPeers {
		if p.Outer == l.routerIP {
			return nil
		}
		have = append(have, p.Outer.String())
	}
	if len(have) == 0 {
		have = []string{"none"}
	}
	return &Hop{Kind: KindGatePeer, Object: l.vpg.ID,
		Reason: fmt.Sprintf("router private IP %s (%s) is not a customer Gate peer of %s (peers: %s)", l.routerIP, l.inst.ID, l.vpg.ID, strings.Join(have, ", "))}
}

// 14. Both ends use the same VNI.
func (l *leg) vxlanID() *Hop {
	if l.cfg.VXLANID == l.vpg.VXLANID {
		return nil
	}
	// The router is the object to fix: the gateway's id is the spec's, and
	// the router's user data is what disagrees with it.
	return &Hop{Kind: KindVXLANID, Object: l.inst.ID,
		Reason: fmt.Sprintf("%s of %s uses VXLAN id %d, but %s's gateVxlanId is %d", l.cfg.VXLANDev, l.inst.ID, l.cfg.VXLANID, l.vpg.ID, l.vpg.VXLANID)}
}

// 15. The VPG knows where the device address is: its device subnet, or a
// SIM-based route to a LAN behind a SIM (most specific route wins; GUESS:
// SORACOM does not document overlapping routes).
func (l *leg) lanRoute() *Hop {
	v := l.vpg
	if v.DeviceSubnet.IsValid() && v.DeviceSubnet.Contains(l.dst) {
		return nil
	}
	broken := func(format string, args ...any) *Hop {
		return &Hop{Kind: KindLANRoute, Object: v.ID, Reason: fmt.Sprintf(format, args...)}
	}
	if !v.SimBasedRouting {
		return broken("%s is outside %s's device subnet %s and SIM-based routing is disabled", l.dst, v.ID, v.DeviceSubnet)
	}
	ids := make([]string, 0, len(v.SimRoutes))
	for id := range v.SimRoutes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	best := ""
	for _, id := range ids {
		p := v.SimRoutes[id]
		if p.IsValid() && p.Masked().Contains(l.dst) && (best == "" || p.Bits() > v.SimRoutes[best].Bits()) {
			best = id
		}
	}
	if best == "" {
		return broken("%s is outside %s's device subnet %s and no SIM-based route of %s covers it", l.dst, v.ID, v.DeviceSubnet, v.ID)
	}
	l.sim = SIM{ID: best}
	l.lan = v.SimRoutes[best].Masked()
	return nil
}

// 16. The SIM that owns the address is online with its session on this VPG.
func (l *leg) simHop() *Hop {
	v := l.vpg
	broken := func(obj, format string, args ...any) *Hop {
		return &Hop{Kind: KindSIM, Object: obj, Reason: fmt.Sprintf(format, args...)}
	}
	var sim SIM
	if l.lan.IsValid() {
		i := slices.IndexFunc(l.ix.s.SIMs, func(s SIM) bool { return s.ID == l.sim.ID })
		if i < 0 {
			return broken(l.sim.ID, "SIM %s (SIM-based route %s of %s) is not in the snapshot", l.sim.ID, l.lan, v.ID)
		}
		sim = l.ix.s.SIMs[i]
	} else {
		// Device subnets of different VPGs may overlap: prefer the SIM whose
		// session is on this VPG.
		var cands []SIM
		for _, s := range l.ix.s.SIMs {
			if s.IP.Unmap() == l.dst {
				cands = append(cands, s)
			}
		}
		if len(cands) == 0 {
			return broken(l.dst.String(), "no SIM has address %s", l.dst)
		}
		slices.SortStableFunc(cands, func(a, b SIM) int { return strings.Compare(a.ID, b.ID) })
		sim = cands[0]
		if i := slices.IndexFunc(cands, func(s SIM) bool { return s.VPGID == v.ID }); i >= 0 {
			sim = cands[i]
		}
	}
	if !sim.Online {
		return broken(sim.ID, "SIM %s (%s) is offline", sim.ID, sim.IP)
	}
	if sim.VPGID != v.ID {
		on := "no VPG"
		if sim.VPGID != "" {
			on = sim.VPGID
		}
		return broken(sim.ID, "SIM %s (%s) has its session on %s, not %s", sim.ID, sim.IP, on, v.ID)
	}
	l.sim = sim
	if l.lan.IsValid() {
		l.trail = append(l.trail, fmt.Sprintf("sim %s (LAN %s)", sim.ID, l.lan))
	} else {
		l.trail = append(l.trail, "sim "+sim.ID)
	}
	return nil
}

// 17. Replies come back to the router: it masquerades what it sends into
// the tunnel (so replies are addressed to its inner address), or Junction
// redirection hands the device's traffic to the router's inner address.
// Without either, Canal NATs the device's replies into the VPC where the
// session does not expect them.
func (l *leg) returnPath() *Hop {
	if l.cfg.Masquerade {
		return nil
	}
	inner := l.cfg.InnerAddr.Addr()
	rd := l.vpg.Redirection
	if rd != nil && rd.Enabled {
		gw, err := netip.ParseAddr(strings.TrimSpace(rd.Gateway))
		if err == nil && l.cfg.InnerAddr.IsValid() && gw.Unmap() == inner {
			return nil
		}
		// Redirection is set but elsewhere: fix it on the VPG.
		return &Hop{Kind: KindReturnPath, Object: l.vpg.ID,
			Reason: fmt.Sprintf("%s does not masquerade into %s, and %s's Junction redirection goes to %q, not %s's inner address %s",
				l.inst.ID, l.cfg.VXLANDev, l.vpg.ID, rd.Gateway, l.inst.ID, addrOrNone(l.cfg.InnerAddr))}
	}
	return &Hop{Kind: KindReturnPath, Object: l.inst.ID,
		Reason: fmt.Sprintf("%s does not masquerade into %s and %s has no enabled Junction redirection to its inner address %s, so replies from %s do not come back",
			l.inst.ID, l.cfg.VXLANDev, l.vpg.ID, addrOrNone(l.cfg.InnerAddr), l.dst)}
}

func addrOrNone(p netip.Prefix) string {
	if !p.IsValid() {
		return "(none)"
	}
	return p.Addr().String()
}

// 18. Something listens at the address and port: on the SIM's own address
// (BehindSIM "" or the SIM itself) or on the LAN behind the SIM.
func (l *leg) device() *Hop {
	lan := l.lan.IsValid()
	i := slices.IndexFunc(l.ix.s.Devices, func(d Device) bool {
		if d.Address.Unmap() != l.dst {
			return false
		}
		if lan {
			return d.BehindSIM == l.sim.ID
		}
		return d.BehindSIM == "" || d.BehindSIM == l.sim.ID
	})
	where := "on SIM " + l.sim.ID
	if lan {
		where = "behind SIM " + l.sim.ID
	}
	if i < 0 {
		return &Hop{Kind: KindDevice, Object: l.dst.String(), Reason: fmt.Sprintf("no device at %s %s", l.dst, where)}
	}
	d := l.ix.s.Devices[i]
	if !slices.Contains(d.TCPPorts, l.port) {
		name := ""
		if d.Name != "" {
			name = " " + d.Name
		}
		return &Hop{Kind: KindDevice, Object: l.dst.String(),
			Reason: fmt.Sprintf("device%s at %s %s listens on TCP %s, not %d", name, l.dst, where, portList(d.TCPPorts), l.port)}
	}
	l.trail = append(l.trail, fmt.Sprintf("%s:%d", l.dst, l.port))
	return nil
}

func portList(ps []int) string {
	if len(ps) == 0 {
		return "nothing"
	}
	ss := make([]string, len(ps))
	for i, p := range ps {
		ss[i] = fmt.Sprint(p)
	}
	return strings.Join(ss, ", ")
}
