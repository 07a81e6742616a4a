package aws

import (
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"
)

// EC2 behaviour (VPCs, subnets, route tables, security groups, VPC peering)
// on protocol-neutral types. Error codes and messages follow the EC2 API
// error-code reference; choices not backed by it are commented "GUESS".

// Peering states.
const (
	PeeringPendingAcceptance = "pending-acceptance"
	PeeringActive            = "active"
	PeeringDeleted           = "deleted"
	PeeringFailed            = "failed"
	PeeringRejected          = "rejected"
	PeeringExpired           = "expired"
)

// VPC is a seeded VPC.
type VPC struct {
	ID, CIDR string
	Tags     map[string]string
}

// Subnet is a seeded subnet.
type Subnet struct {
	ID, VPCID, CIDR, AZ string
	Tags                map[string]string
}

// Route is one route of a route table. State is computed: a route through a
// peering that is not active, or through a network interface that is gone or
// whose instance is not running, is "blackhole".
type Route struct {
	DestinationCidrBlock   string
	GatewayID              string // "local" for the VPC's own CIDR
	VpcPeeringConnectionID string
	// NetworkInterfaceID is the target interface (also set when the route was
	// created with an InstanceId: the instance's primary interface), and
	// InstanceID the instance it was attached to when the route was made.
	NetworkInterfaceID string
	InstanceID         string
	Origin             string // CreateRouteTable or CreateRoute
	State              string // active or blackhole
}

// RouteTableAssociation associates a route table with a subnet, or marks it main.
type RouteTableAssociation struct {
	ID, SubnetID string
	Main         bool
}

// RouteTable is a route table with its associations and routes.
type RouteTable struct {
	ID, VPCID    string
	Associations []RouteTableAssociation
	Routes       []Route
	Tags         map[string]string
}

// Rule is one security group permission.
type Rule struct {
	Protocol         string // "-1" (all), "tcp", "udp", "icmp"
	FromPort, ToPort int
	CIDRs            []string
}

// SecurityGroup is a seeded security group.
type SecurityGroup struct {
	ID, VPCID, Name, Description string
	Ingress, Egress              []Rule
	Tags                         map[string]string
}

// Peering is a VPC peering connection; this world's account is the accepter.
type Peering struct {
	ID                                                               string
	Status, Message                                                  string
	RequesterOwnerID, RequesterVPCID, RequesterCIDR, RequesterRegion string
	AccepterOwnerID, AccepterVPCID, AccepterCIDR, AccepterRegion     string
	ExpirationTime                                                   time.Time // pending-acceptance only
	Tags                                                             map[string]string
}

type peeringRec struct {
	Peering
	hiddenAt time.Time // terminal states stop being described after a while
}

// ---- seeding ----

// AddVPC adds a VPC.
func (w *World) AddVPC(id, cidr string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.vpcs[id] = &VPC{ID: id, CIDR: cidr}
}

// AddSubnet adds a subnet of a VPC in an availability zone.
func (w *World) AddSubnet(id, vpcID, cidr, az string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.subnets[id] = &Subnet{ID: id, VPCID: vpcID, CIDR: cidr, AZ: az}
}

// AddRouteTable adds a route table with a `local` route for the VPC's CIDR
// and explicit associations with subnetIDs. The first route table added for
// a VPC is also its main route table (as the one EC2 creates with the VPC).
func (w *World) AddRouteTable(id, vpcID string, subnetIDs ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rt := &RouteTable{ID: id, VPCID: vpcID}
	main := true
	for _, o := range w.routeTables {
		if o.VPCID == vpcID {
			main = false
		}
	}
	if main {
		rt.Associations = append(rt.Associations, RouteTableAssociation{ID: w.newID("rtbassoc"), Main: true})
	}
	for _, s := range subnetIDs {
		rt.Associations = append(rt.Associations, RouteTableAssociation{ID: w.newID("rtbassoc"), SubnetID: s})
	}
	if v, ok := w.vpcs[vpcID]; ok {
		rt.Routes = append(rt.Routes, Route{DestinationCidrBlock: v.CIDR, GatewayID: "local", Origin: "CreateRouteTable", State: "active"})
	}
	w.routeTables[id] = rt
}

// AddSecurityGroup adds a security group.
func (w *World) AddSecurityGroup(sg SecurityGroup) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := sg
	c.Ingress, c.Egress = cloneRules(sg.Ingress), cloneRules(sg.Egress)
	if c.Description == "" {
		c.Description = c.Name
	}
	w.sgs[sg.ID] = &c
}

func cloneRules(rs []Rule) []Rule {
	out := make([]Rule, len(rs))
	for i, r := range rs {
		out[i] = r
		out[i].CIDRs = slices.Clone(r.CIDRs)
	}
	return out
}

// ---- inspection ----

// RouteTable returns a route table with its route states computed.
func (w *World) RouteTable(id string) (RouteTable, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	rt, ok := w.routeTables[id]
	if !ok {
		return RouteTable{}, false
	}
	return w.routeTableView(rt), true
}

// Peerings returns every peering, terminal ones included, sorted by ID.
func (w *World) Peerings() []Peering {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	var out []Peering
	for _, id := range sortedKeys(w.peerings) {
		p := w.peerings[id].Peering
		p.Tags = copyMap(p.Tags)
		out = append(out, p)
	}
	return out
}

// ---- Canal: SORACOM requests a peering into this account ----

// RequestPeering records a peering request from another account (SORACOM
// Canal) into one of this world's VPCs. The new pcx-… is pending-acceptance,
// or failed when the peer VPC is unknown, the owner or region does not match
// this world, or the CIDRs overlap (as EC2 reports such requests).
func (w *World) RequestPeering(requesterOwnerID, requesterVPCID, requesterCIDR, peerOwnerID, peerVPCID, peerRegion string) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	if requesterOwnerID == "" || requesterVPCID == "" || peerVPCID == "" {
		return "", apiErr("MissingParameter", "The request must contain the requester owner, requester VPC and peer VPC.")
	}
	reqPrefix, err := netip.ParsePrefix(requesterCIDR)
	if err != nil {
		return "", apiErr("InvalidParameterValue", "Value (%s) for parameter cidrBlock is invalid.", requesterCIDR)
	}
	if peerOwnerID == "" {
		peerOwnerID = w.account
	}
	if peerRegion == "" {
		peerRegion = w.region
	}
	p := &peeringRec{Peering: Peering{
		ID:               w.newID("pcx"),
		RequesterOwnerID: requesterOwnerID, RequesterVPCID: requesterVPCID, RequesterCIDR: requesterCIDR, RequesterRegion: peerRegion,
		AccepterOwnerID: peerOwnerID, AccepterVPCID: peerVPCID, AccepterRegion: peerRegion,
	}}
	v, ok := w.vpcs[peerVPCID]
	if ok {
		p.AccepterCIDR = v.CIDR
	}
	var overlap bool
	if ok {
		if vp, err := netip.ParsePrefix(v.CIDR); err == nil {
			overlap = vp.Overlaps(reqPrefix)
		}
	}
	switch {
	case !ok || peerOwnerID != w.account || peerRegion != w.region || overlap:
		// EC2 status message for failed requests.
		p.Status, p.Message = PeeringFailed, "Failed due to incorrect VPC-ID, Account ID, or overlapping CIDR range"
		p.hiddenAt = now.Add(2 * time.Hour)
	default:
		p.Status, p.Message = PeeringPendingAcceptance, "Pending Acceptance by "+peerOwnerID
		p.ExpirationTime = now.Add(7 * 24 * time.Hour) // unaccepted requests expire after 7 days
	}
	w.peerings[p.ID] = p
	return p.ID, nil
}

// DeletePeering deletes a peering from the requester's side (SORACOM). As
// soracom.PeeringBackend requires, a peering that is already gone (deleted,
// rejected, failed or expired, or no longer visible at all, e.g. because the
// accepter deleted it first) is not an error.
func (w *World) DeletePeering(pcxID string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	p, ok := w.visiblePeering(pcxID)
	if !ok {
		return nil
	}
	switch p.Status {
	case PeeringDeleted, PeeringRejected, PeeringFailed, PeeringExpired:
		return nil
	}
	return w.deletePeering(p, now, p.RequesterOwnerID)
}

func (w *World) deletePeering(p *peeringRec, now time.Time, by string) error {
	switch p.Status {
	case PeeringActive, PeeringPendingAcceptance:
		p.Status, p.Message = PeeringDeleted, "Deleted by "+by
		p.ExpirationTime = time.Time{}
		p.hiddenAt = now.Add(2 * time.Hour)
		return nil
	default:
		return apiErr("InvalidStateTransition", "Invalid state transition for %s, attempted to transition from %s to deleted", p.ID, p.Status)
	}
}

func (w *World) tickPeering(p *peeringRec, now time.Time) {
	if p.Status == PeeringPendingAcceptance && !p.ExpirationTime.IsZero() && !now.Before(p.ExpirationTime) {
		p.Status, p.Message = PeeringExpired, "Expired"
		p.hiddenAt = p.ExpirationTime.Add(48 * time.Hour)
	}
}

// visiblePeering finds a peering that Describe still shows.
func (w *World) visiblePeering(id string) (*peeringRec, bool) {
	p, ok := w.peerings[id]
	if !ok || (!p.hiddenAt.IsZero() && !w.clock.Now().Before(p.hiddenAt)) {
		return nil, false
	}
	return p, true
}

// ---- EC2 API operations ----

// Filter is an EC2 Describe* filter; values are ORed, filters ANDed; values may use * and ? wildcards.
type Filter struct {
	Name   string
	Values []string
}

// attrs returns the values a resource has for a filter name, and whether the name is supported.
type attrFunc func(name string) ([]string, bool)

func tagAttrs(tags map[string]string, name string) ([]string, bool) {
	if k, ok := strings.CutPrefix(name, "tag:"); ok {
		if v, ok := tags[k]; ok {
			return []string{v}, true
		}
		return nil, true
	}
	if name == "tag-key" {
		return sortedKeys(tags), true
	}
	if name == "tag-value" {
		var vs []string
		for _, v := range tags {
			vs = append(vs, v)
		}
		return vs, true
	}
	return nil, false
}

// matchFilters applies filters to one resource. An unsupported filter name is InvalidParameterValue.
func matchFilters(filters []Filter, attrs attrFunc) (bool, *APIError) {
	for _, f := range filters {
		have, ok := attrs(f.Name)
		if !ok {
			return false, apiErr("InvalidParameterValue", "The filter '%s' is invalid", f.Name)
		}
		hit := false
		for _, want := range f.Values {
			for _, h := range have {
				if glob(want, h) {
					hit = true
				}
			}
		}
		if !hit {
			return false, nil
		}
	}
	return true, nil
}

// glob matches EC2 filter wildcards: * any sequence, ? any one character.
func glob(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if glob(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && glob(pattern[1:], s[1:])
	case '\\':
		if len(pattern) > 1 {
			return s != "" && s[0] == pattern[1] && glob(pattern[2:], s[1:])
		}
	}
	return s != "" && s[0] == pattern[0] && glob(pattern[1:], s[1:])
}

// DescribeInput is what every Describe* takes.
type DescribeInput struct {
	IDs        []string
	Names      []string // DescribeSecurityGroups GroupName.N
	Filters    []Filter
	MaxResults *int
	NextToken  *string
}

// ec2Page paginates EC2 results by MaxResults/NextToken.
func ec2Page[T any](items []T, kind string, in *DescribeInput, idsParam string, minMax, maxMax int) ([]T, *string, *APIError) {
	if in.MaxResults == nil {
		if in.NextToken != nil {
			return pageEC2(items, kind, in.NextToken, len(items))
		}
		return items, nil, nil
	}
	if len(in.IDs) > 0 {
		return nil, nil, apiErr("InvalidParameterCombination", "The parameter %s cannot be used with the parameter maxResults", idsParam)
	}
	if *in.MaxResults < minMax || *in.MaxResults > maxMax {
		return nil, nil, apiErr("InvalidParameterValue", "Value ( %d ) for parameter maxResults is invalid. Parameter must be between %d and %d.", *in.MaxResults, minMax, maxMax)
	}
	return pageEC2(items, kind, in.NextToken, *in.MaxResults)
}

func pageEC2[T any](items []T, kind string, token *string, size int) ([]T, *string, *APIError) {
	out, next, e := page(items, kind, token, max(size, 1))
	if e != nil {
		return nil, nil, apiErr("InvalidPaginationToken", "Invalid pagination token")
	}
	return out, next, nil
}

// DescribeVpcs lists VPCs.
func (w *World) DescribeVpcs(in *DescribeInput) ([]VPC, *string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids, e := selectIDs(w.vpcs, in.IDs, "InvalidVpcID.NotFound", "vpc")
	if e != nil {
		return nil, nil, e
	}
	var out []VPC
	for _, id := range ids {
		v := w.vpcs[id]
		ok, e := matchFilters(in.Filters, func(n string) ([]string, bool) {
			switch n {
			case "vpc-id":
				return []string{v.ID}, true
			case "cidr", "cidr-block", "cidrBlock", "cidr-block-association.cidr-block":
				return []string{v.CIDR}, true
			case "owner-id":
				return []string{w.account}, true
			case "state":
				return []string{"available"}, true
			case "is-default":
				return []string{"false"}, true
			}
			return tagAttrs(v.Tags, n)
		})
		if e != nil {
			return nil, nil, e
		}
		if ok {
			c := *v
			c.Tags = copyMap(v.Tags)
			out = append(out, c)
		}
	}
	pg, next, e := ec2Page(out, "vpcs", in, "vpcIds", 5, 1000)
	if e != nil {
		return nil, nil, e
	}
	return pg, next, nil
}

// selectIDs returns the requested IDs (each must exist) or all IDs, sorted.
func selectIDs[V any](m map[string]V, ids []string, notFound, noun string) ([]string, *APIError) {
	if len(ids) == 0 {
		return sortedKeys(m), nil
	}
	var missing []string
	for _, id := range ids {
		if _, ok := m[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		quoted := make([]string, len(missing))
		for i, m := range missing {
			quoted[i] = "'" + m + "'"
		}
		if len(missing) == 1 {
			return nil, apiErr(notFound, "The %s ID %s does not exist", noun, quoted[0])
		}
		return nil, apiErr(notFound, "The %s IDs %s do not exist", noun, strings.Join(quoted, ", "))
	}
	out := slices.Clone(ids)
	sort.Strings(out)
	return slices.Compact(out), nil
}

// DescribeSubnets lists subnets.
func (w *World) DescribeSubnets(in *DescribeInput) ([]Subnet, *string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids, e := selectIDs(w.subnets, in.IDs, "InvalidSubnetID.NotFound", "subnet")
	if e != nil {
		return nil, nil, e
	}
	var out []Subnet
	for _, id := range ids {
		s := w.subnets[id]
		ok, e := matchFilters(in.Filters, func(n string) ([]string, bool) {
			switch n {
			case "subnet-id":
				return []string{s.ID}, true
			case "vpc-id":
				return []string{s.VPCID}, true
			case "cidr", "cidr-block", "cidrBlock":
				return []string{s.CIDR}, true
			case "availability-zone", "availabilityZone":
				return []string{s.AZ}, true
			case "owner-id":
				return []string{w.account}, true
			case "state":
				return []string{"available"}, true
			case "default-for-az", "defaultForAz":
				return []string{"false"}, true
			}
			return tagAttrs(s.Tags, n)
		})
		if e != nil {
			return nil, nil, e
		}
		if ok {
			c := *s
			c.Tags = copyMap(s.Tags)
			out = append(out, c)
		}
	}
	pg, next, e := ec2Page(out, "subnets", in, "subnetIds", 5, 1000)
	if e != nil {
		return nil, nil, e
	}
	return pg, next, nil
}

// subnetFreeIPs is the availableIpAddressCount of a fresh subnet (AWS reserves 5 addresses).
func subnetFreeIPs(cidr string) int {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() {
		return 0
	}
	return max((1<<(32-p.Bits()))-5, 0)
}

func (w *World) routeState(r Route) string {
	if r.NetworkInterfaceID != "" {
		return w.eniRouteState(r.NetworkInterfaceID)
	}
	if r.VpcPeeringConnectionID == "" {
		return "active"
	}
	if p, ok := w.peerings[r.VpcPeeringConnectionID]; ok && p.Status == PeeringActive {
		return "active"
	}
	return "blackhole"
}

func (w *World) routeTableView(rt *RouteTable) RouteTable {
	c := *rt
	c.Associations = slices.Clone(rt.Associations)
	c.Routes = slices.Clone(rt.Routes)
	for i := range c.Routes {
		c.Routes[i].State = w.routeState(c.Routes[i])
	}
	c.Tags = copyMap(rt.Tags)
	return c
}

// DescribeRouteTables lists route tables.
func (w *World) DescribeRouteTables(in *DescribeInput) ([]RouteTable, *string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	ids, e := selectIDs(w.routeTables, in.IDs, "InvalidRouteTableID.NotFound", "routeTable")
	if e != nil {
		return nil, nil, e
	}
	var out []RouteTable
	for _, id := range ids {
		rt := w.routeTableView(w.routeTables[id])
		ok, e := matchFilters(in.Filters, func(n string) ([]string, bool) {
			var vs []string
			switch n {
			case "route-table-id":
				return []string{rt.ID}, true
			case "vpc-id":
				return []string{rt.VPCID}, true
			case "owner-id":
				return []string{w.account}, true
			case "association.subnet-id":
				for _, a := range rt.Associations {
					if a.SubnetID != "" {
						vs = append(vs, a.SubnetID)
					}
				}
			case "association.route-table-id":
				if len(rt.Associations) > 0 {
					vs = []string{rt.ID}
				}
			case "association.route-table-association-id":
				for _, a := range rt.Associations {
					vs = append(vs, a.ID)
				}
			case "association.main":
				main := "false"
				for _, a := range rt.Associations {
					if a.Main {
						main = "true"
					}
				}
				vs = []string{main}
			case "route.destination-cidr-block":
				for _, r := range rt.Routes {
					vs = append(vs, r.DestinationCidrBlock)
				}
			case "route.vpc-peering-connection-id":
				for _, r := range rt.Routes {
					if r.VpcPeeringConnectionID != "" {
						vs = append(vs, r.VpcPeeringConnectionID)
					}
				}
			case "route.network-interface-id":
				for _, r := range rt.Routes {
					if r.NetworkInterfaceID != "" {
						vs = append(vs, r.NetworkInterfaceID)
					}
				}
			case "route.instance-id":
				for _, r := range rt.Routes {
					if r.InstanceID != "" {
						vs = append(vs, r.InstanceID)
					}
				}
			case "route.gateway-id":
				for _, r := range rt.Routes {
					if r.GatewayID != "" {
						vs = append(vs, r.GatewayID)
					}
				}
			case "route.state":
				for _, r := range rt.Routes {
					vs = append(vs, r.State)
				}
			case "route.origin":
				for _, r := range rt.Routes {
					vs = append(vs, r.Origin)
				}
			default:
				return tagAttrs(rt.Tags, n)
			}
			return vs, true
		})
		if e != nil {
			return nil, nil, e
		}
		if ok {
			out = append(out, rt)
		}
	}
	pg, next, e := ec2Page(out, "rtbs", in, "routeTableIds", 5, 100)
	if e != nil {
		return nil, nil, e
	}
	return pg, next, nil
}

// RouteInput is the body of CreateRoute, ReplaceRoute and DeleteRoute.
type RouteInput struct {
	RouteTableID, DestinationCidrBlock string
	GatewayID, VpcPeeringConnectionID  string
	NetworkInterfaceID, InstanceID     string
	// Other targets, accepted only to reject them clearly.
	OtherTargets []string
}

func (w *World) routeTarget(rt *RouteTable, in *RouteInput) (Route, *APIError) {
	n := len(in.OtherTargets)
	if in.GatewayID != "" {
		n++
	}
	for _, t := range []string{in.VpcPeeringConnectionID, in.NetworkInterfaceID, in.InstanceID} {
		if t != "" {
			n++
		}
	}
	if n == 0 {
		return Route{}, apiErr("MissingParameter", "The request must contain exactly one of gatewayId, natGatewayId, networkInterfaceId, vpcPeeringConnectionId, egressOnlyInternetGatewayId, transitGatewayId, localGatewayId, carrierGatewayId, coreNetworkArn, odbNetworkArn or instanceId")
	}
	if n > 1 {
		return Route{}, apiErr("InvalidParameterCombination", "The request must contain exactly one of gatewayId, natGatewayId, networkInterfaceId, vpcPeeringConnectionId, egressOnlyInternetGatewayId, transitGatewayId, localGatewayId, carrierGatewayId, coreNetworkArn, odbNetworkArn or instanceId")
	}
	if len(in.OtherTargets) > 0 {
		return Route{}, apiErr("InvalidParameterValue", "This emulator supports only gatewayId, vpcPeeringConnectionId, networkInterfaceId and instanceId route targets")
	}
	r := Route{DestinationCidrBlock: in.DestinationCidrBlock, Origin: "CreateRoute"}
	if in.NetworkInterfaceID != "" || in.InstanceID != "" {
		return w.eniRouteTarget(rt, in, r)
	}
	if in.GatewayID != "" {
		// GUESS: gateways are not modelled; igw-/vgw- IDs are accepted as they are.
		if !strings.HasPrefix(in.GatewayID, "igw-") && !strings.HasPrefix(in.GatewayID, "vgw-") {
			return Route{}, apiErr("InvalidGatewayID.NotFound", "The gateway ID '%s' does not exist", in.GatewayID)
		}
		r.GatewayID = in.GatewayID
		return r, nil
	}
	p, ok := w.visiblePeering(in.VpcPeeringConnectionID)
	if !ok || p.Status == PeeringDeleted || p.Status == PeeringFailed || p.Status == PeeringRejected || p.Status == PeeringExpired {
		return Route{}, apiErr("InvalidVpcPeeringConnectionID.NotFound", "The vpcPeeringConnection ID '%s' does not exist", in.VpcPeeringConnectionID)
	}
	if p.AccepterVPCID != rt.VPCID && p.RequesterVPCID != rt.VPCID {
		return Route{}, apiErr("InvalidParameterValue", "route table %s and network gateway %s belong to different networks", rt.ID, p.ID)
	}
	// A route to a pending-acceptance peering is accepted and is a blackhole
	// until the peering is active (AWS VPC peering guide, "Update your route tables").
	r.VpcPeeringConnectionID = p.ID
	return r, nil
}

func (w *World) routeCommon(in *RouteInput) (*RouteTable, netip.Prefix, *APIError) {
	if in.RouteTableID == "" {
		return nil, netip.Prefix{}, apiErr("MissingParameter", "The request must contain the parameter routeTableId")
	}
	if in.DestinationCidrBlock == "" {
		return nil, netip.Prefix{}, apiErr("MissingParameter", "The request must contain the parameter destinationCidrBlock")
	}
	rt, ok := w.routeTables[in.RouteTableID]
	if !ok {
		return nil, netip.Prefix{}, apiErr("InvalidRouteTableID.NotFound", "The routeTable ID '%s' does not exist", in.RouteTableID)
	}
	p, err := netip.ParsePrefix(in.DestinationCidrBlock)
	if err != nil || !p.Addr().Is4() {
		return nil, netip.Prefix{}, apiErr("InvalidParameterValue", "Value (%s) for parameter destinationCidrBlock is invalid. This is not a valid CIDR block.", in.DestinationCidrBlock)
	}
	return rt, p.Masked(), nil
}

func findRoute(rt *RouteTable, dest netip.Prefix) int {
	for i, r := range rt.Routes {
		if p, err := netip.ParsePrefix(r.DestinationCidrBlock); err == nil && p.Masked() == dest {
			return i
		}
	}
	return -1
}

// CreateRoute adds a route through a gateway, a VPC peering, a network interface or an instance.
func (w *World) CreateRoute(in *RouteInput) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	rt, dest, e := w.routeCommon(in)
	if e != nil {
		return e
	}
	if i := findRoute(rt, dest); i >= 0 {
		return apiErr("RouteAlreadyExists", "The route identified by %s already exists.", dest)
	}
	if v, ok := w.vpcs[rt.VPCID]; ok {
		if vp, err := netip.ParsePrefix(v.CIDR); err == nil && vp.Bits() <= dest.Bits() && vp.Contains(dest.Addr()) && !w.moreSpecificAllowed(rt, dest, in) {
			return apiErr("InvalidParameterValue", "The destination CIDR block %s is equal to or more specific than one of this VPC's CIDR blocks. This route can target only an interface or an instance.", dest)
		}
	}
	r, e := w.routeTarget(rt, in)
	if e != nil {
		return e
	}
	r.DestinationCidrBlock = dest.String()
	rt.Routes = append(rt.Routes, r)
	return nil
}

// ReplaceRoute changes the target of an existing route.
func (w *World) ReplaceRoute(in *RouteInput) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	rt, dest, e := w.routeCommon(in)
	if e != nil {
		return e
	}
	i := findRoute(rt, dest)
	if i < 0 {
		return apiErr("InvalidParameterValue", "There is no route defined for '%s' in the route table. Use CreateRoute instead.", dest)
	}
	if rt.Routes[i].GatewayID == "local" {
		return apiErr("InvalidParameterValue", "Cannot replace local route %s in route table %s; use LocalTarget", dest, rt.ID) // GUESS
	}
	r, e := w.routeTarget(rt, in)
	if e != nil {
		return e
	}
	r.DestinationCidrBlock = dest.String()
	rt.Routes[i] = r
	return nil
}

// DeleteRoute removes a route.
func (w *World) DeleteRoute(in *RouteInput) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	rt, dest, e := w.routeCommon(in)
	if e != nil {
		return e
	}
	i := findRoute(rt, dest)
	if i < 0 {
		return apiErr("InvalidRoute.NotFound", "no route with destination-cidr-block %s in route table %s", dest, rt.ID)
	}
	if rt.Routes[i].GatewayID == "local" {
		return apiErr("InvalidParameterValue", "cannot remove local route %s in route table %s", dest, rt.ID)
	}
	rt.Routes = slices.Delete(rt.Routes, i, i+1)
	return nil
}

// DescribeSecurityGroups lists security groups.
func (w *World) DescribeSecurityGroups(in *DescribeInput) ([]SecurityGroup, *string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range in.IDs {
		if _, ok := w.sgs[id]; !ok {
			return nil, nil, apiErr("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
		}
	}
	ids, e := selectIDs(w.sgs, in.IDs, "InvalidGroup.NotFound", "security group")
	if e != nil {
		return nil, nil, e
	}
	for _, n := range in.Names {
		found := false
		for _, g := range w.sgs {
			found = found || g.Name == n
		}
		if !found {
			return nil, nil, apiErr("InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC", n)
		}
	}
	var out []SecurityGroup
	for _, id := range ids {
		g := w.sgs[id]
		if len(in.Names) > 0 && !slices.Contains(in.Names, g.Name) {
			continue
		}
		ok, e := matchFilters(in.Filters, func(n string) ([]string, bool) {
			switch n {
			case "group-id":
				return []string{g.ID}, true
			case "group-name":
				return []string{g.Name}, true
			case "vpc-id":
				return []string{g.VPCID}, true
			case "owner-id":
				return []string{w.account}, true
			case "description":
				return []string{g.Description}, true
			case "ip-permission.cidr", "egress.ip-permission.cidr":
				rules := g.Ingress
				if strings.HasPrefix(n, "egress.") {
					rules = g.Egress
				}
				var vs []string
				for _, r := range rules {
					vs = append(vs, r.CIDRs...)
				}
				return vs, true
			}
			return tagAttrs(g.Tags, n)
		})
		if e != nil {
			return nil, nil, e
		}
		if ok {
			c := *g
			c.Ingress, c.Egress, c.Tags = cloneRules(g.Ingress), cloneRules(g.Egress), copyMap(g.Tags)
			out = append(out, c)
		}
	}
	pg, next, e := ec2Page(out, "sgs", in, "groupIds", 5, 1000)
	if e != nil {
		return nil, nil, e
	}
	return pg, next, nil
}

// DescribeVpcPeeringConnections lists peerings that are still visible.
func (w *World) DescribeVpcPeeringConnections(in *DescribeInput) ([]Peering, *string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	visible := map[string]*peeringRec{}
	for id := range w.peerings {
		if p, ok := w.visiblePeering(id); ok {
			visible[id] = p
		}
	}
	ids, e := selectIDs(visible, in.IDs, "InvalidVpcPeeringConnectionID.NotFound", "vpcPeeringConnection")
	if e != nil {
		return nil, nil, e
	}
	var out []Peering
	for _, id := range ids {
		p := visible[id].Peering
		ok, e := matchFilters(in.Filters, func(n string) ([]string, bool) {
			switch n {
			case "vpc-peering-connection-id":
				return []string{p.ID}, true
			case "status-code":
				return []string{p.Status}, true
			case "status-message":
				return []string{p.Message}, true
			case "accepter-vpc-info.vpc-id":
				return []string{p.AccepterVPCID}, true
			case "accepter-vpc-info.owner-id":
				return []string{p.AccepterOwnerID}, true
			case "accepter-vpc-info.cidr-block":
				return []string{p.AccepterCIDR}, true
			case "requester-vpc-info.vpc-id":
				return []string{p.RequesterVPCID}, true
			case "requester-vpc-info.owner-id":
				return []string{p.RequesterOwnerID}, true
			case "requester-vpc-info.cidr-block":
				return []string{p.RequesterCIDR}, true
			case "expiration-time":
				if p.ExpirationTime.IsZero() {
					return nil, true
				}
				return []string{p.ExpirationTime.UTC().Format(time.RFC3339)}, true
			}
			return tagAttrs(p.Tags, n)
		})
		if e != nil {
			return nil, nil, e
		}
		if ok {
			p.Tags = copyMap(p.Tags)
			out = append(out, p)
		}
	}
	pg, next, e := ec2Page(out, "pcxs", in, "vpcPeeringConnectionIds", 5, 1000)
	if e != nil {
		return nil, nil, e
	}
	return pg, next, nil
}

// AcceptVpcPeeringConnection accepts a pending-acceptance peering (it becomes active).
func (w *World) AcceptVpcPeeringConnection(id string) (Peering, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	if id == "" {
		return Peering{}, apiErr("MissingParameter", "The request must contain the parameter vpcPeeringConnectionId")
	}
	p, ok := w.visiblePeering(id)
	if !ok {
		return Peering{}, apiErr("InvalidVpcPeeringConnectionID.NotFound", "The vpcPeeringConnection ID '%s' does not exist", id)
	}
	if p.Status != PeeringPendingAcceptance {
		return Peering{}, apiErr("InvalidStateTransition", "Invalid state transition for %s, attempted to transition from %s to provisioning", id, p.Status)
	}
	if p.AccepterOwnerID != w.account {
		return Peering{}, apiErr("OperationNotPermitted", "User %s cannot accept peering %s", w.account, id) // GUESS
	}
	// pending-acceptance -> provisioning -> active; provisioning is not observable here.
	p.Status, p.Message, p.ExpirationTime = PeeringActive, "Active", time.Time{}
	c := p.Peering
	c.Tags = copyMap(p.Tags)
	return c, nil
}

// DeleteVpcPeeringConnection deletes a peering from the accepter's side; routes through it become blackholes.
func (w *World) DeleteVpcPeeringConnection(id string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	if id == "" {
		return apiErr("MissingParameter", "The request must contain the parameter vpcPeeringConnectionId")
	}
	p, ok := w.visiblePeering(id)
	if !ok {
		return apiErr("InvalidVpcPeeringConnectionID.NotFound", "The vpcPeeringConnection ID '%s' does not exist", id)
	}
	return w.deletePeering(p, now, w.account)
}
