// Package pathcheck decides, from observed state only, whether a TCP
// connection from an AppStream instance can reach a device behind a SORACOM
// VPG, and if not, which hop breaks it:
//
//	AppStream instance (fleet subnet)
//	  -> fleet subnet's route table: device subnet and LAN CIDRs -> a router's ENI
//	  -> router: running, source/dest check off, SGs let the fleet's TCP in
//	  -> router Linux (its user data): forwarding, table 100, vxlan0 to the VPG
//	  -> underlay: UDP 4789 through the router's SGs, routed over the Canal peering
//	  -> VPG: Gate open, router registered as a customer Gate peer, same VXLAN id
//	  -> device: in the device subnet, or on a LAN routed to a SIM; SIM online here
//	  -> return: the router masquerades, or Junction redirects to the router
//
// It is pure (no API calls, no clock), so the same observations always give
// the same verdict, and the operator, its tests and an independent packet
// walker can be compared hop for hop. Hops are checked in a fixed order and
// the first broken one is reported: it is the one to fix first, and fixing a
// later one would not help while it stays broken.
//
// A hop that the operator cannot observe is never reported broken: it is
// listed in Result.Unverified and the walk continues as if it let traffic through.
package pathcheck

import (
	"net/netip"
	"strings"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/gatestream/gatestream/internal/routerconfig"
)

// Hop kinds, in the order they are checked. The strings are part of the API
// (DeviceGroup status, docs/unreachable.md) and shared with the packet walker.
const (
	KindFleetSubnet           = "FleetSubnet"
	KindFleetSecurityGroup    = "FleetSecurityGroup"
	KindFleetRoute            = "FleetRoute"
	KindRouterInstance        = "RouterInstance"
	KindRouterSourceDestCheck = "RouterSourceDestCheck"
	KindRouterSecurityGroup   = "RouterSecurityGroup"
	KindRouterConfig          = "RouterConfig"
	KindVXLANRemote           = "VXLANRemote"
	KindTunnelPort            = "TunnelPort"
	KindUnderlay              = "Underlay"
	KindPeering               = "Peering"
	KindGate                  = "Gate"
	KindGatePeer              = "GatePeer"
	KindVXLANID               = "VXLANID"
	KindLANRoute              = "LANRoute"
	KindSIM                   = "SIM"
	KindReturnPath            = "ReturnPath"
	KindDevice                = "Device"
)

// Return paths (RemoteAccessEnvironment spec.router.returnPath).
const (
	ReturnPathMasquerade          = "Masquerade"
	ReturnPathJunctionRedirection = "JunctionRedirection"
)

// Input is everything observed about the environment.
type Input struct {
	VPCID   string
	VPCCIDR netip.Prefix
	// FleetSubnetIDs are checked in this order; each must reach the target.
	FleetSubnetIDs []string
	// FleetSecurityGroupIDs are the fleet's groups. Empty means the VPC's
	// default group, which the operator does not look up: that hop is Unverified.
	FleetSecurityGroupIDs []string
	// Subnets holds the fleet and router subnets, by ID.
	Subnets map[string]ec2types.Subnet
	// RouteTables are every route table of the VPC, associations included.
	RouteTables    []ec2types.RouteTable
	SecurityGroups map[string]ec2types.SecurityGroup
	Routers        []Router
	Peering        Peering
	Gateway        Gateway
	// ReturnPath is ReturnPathMasquerade or ReturnPathJunctionRedirection;
	// empty is Masquerade, the API's default.
	ReturnPath string
}

// Router is one router as observed.
type Router struct {
	InstanceID string
	State      string // EC2 instance state name: "running", "stopped", …
	Impaired   bool   // EC2 status checks failing
	// ENI is the router's network interface; nil when it was not found.
	ENI *ec2types.NetworkInterface
	// Config is the router's parsed user data; nil when it could not be read
	// (ConfigError "") or did not parse (ConfigError says why).
	Config      *routerconfig.Config
	ConfigError string
}

// Peering is the Canal VPC peering connection.
type Peering struct {
	ID    string // pcx-…
	State string // EC2 status code: "active", "pending-acceptance", …
}

// Gateway is the VPG and its Gate.
type Gateway struct {
	ID           string // vpg-…
	DeviceSubnet netip.Prefix
	VPGSubnet    netip.Prefix // vpgSubnetCidrRange: where the VPG's own Gate peers' outer addresses live
	GateOpened   bool
	VXLANID      int
	// OwnPeers are the VPG's own Gate peers (the routers' VXLAN remotes);
	// CustomerPeers are the registered customer peers (the routers).
	OwnPeers, CustomerPeers []Peer
	SimBasedRouting         bool
	SimRoutes               map[string]netip.Prefix // SIM ID -> LAN CIDR
	Redirection             *Redirection            // Junction redirection; nil when not configured
}

// Peer is a Gate peer.
type Peer struct {
	Outer, Inner netip.Addr
}

// Redirection is the VPG's Junction redirection.
type Redirection struct {
	Enabled bool
	Gateway netip.Addr
}

// Target is one device.
type Target struct {
	Name    string
	Address netip.Addr
	Port    int
	SIM     SIM
}

// SIM is the device's SIM (or its cellular router's) as observed.
type SIM struct {
	ID     string
	Online bool
	VPGID  string
	Known  bool // false: no such SIM in the operator account
}

// Hop is one step of the path: the broken one, or one that was not verified.
type Hop struct {
	Kind   string
	Object string // what to fix: subnet-…, sg-…, rtb-…, i-…, eni-…, pcx-…, vpg-…, a SIM ID
	Reason string // names the object and the values involved
}

// Result is the verdict.
type Result struct {
	// Reachable is true when no hop is broken. Unverified hops do not make it
	// false: they are listed so that "reachable" is read with its caveats.
	Reachable bool
	Broken    *Hop
	// Unverified hops, in the order met, without duplicates.
	Unverified []Hop
	// Path is one human-readable trail per fleet subnet walked
	// ("subnet-a → rtb-a → eni-r → i-r → pcx-1 → vpg-1 → 10.128.0.5:22").
	// When Broken, the last trail is the broken subnet's, up to the last hop passed.
	Path []string
	// Via is the router instance of each Path entry ("" when the walk broke
	// before reaching a router).
	Via []string
}

// Summary is "reachable via i-… (subnet-a → rtb-… → eni-… → …)" (one
// "via" per fleet subnet), or the broken hop's Reason.
func (r Result) Summary() string {
	if r.Broken != nil {
		return r.Broken.Reason
	}
	if len(r.Path) == 0 {
		return "reachable"
	}
	parts := make([]string, len(r.Path))
	for i, p := range r.Path {
		via := ""
		if i < len(r.Via) {
			via = r.Via[i]
		}
		parts[i] = "via " + via + " (" + p + ")"
	}
	return "reachable " + strings.Join(parts, "; ")
}
