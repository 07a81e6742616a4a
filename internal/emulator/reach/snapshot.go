// Package reach is an independent packet walker for the emulated world: given
// a snapshot of the emulated AWS VPC and SORACOM state, it decides whether a
// TCP connection from an AppStream streaming instance to a device address and
// port would succeed, and if not, which hop is broken first.
//
// It is deliberately independent of the operator's own path check (tests
// compare the two), so it shares no code with it. What the router does is
// derived only from the router instance's EC2 user data (ParseUserData),
// never from what the operator intended, because the user data is what the
// instance actually runs.
//
// Modelling choices that are not backed by AWS, SORACOM or Linux
// documentation are commented "GUESS".
package reach

import "net/netip"

// Hop kinds. Walk checks them in this order and reports the first broken
// one; the strings and the order are a contract with the operator's path
// check, so do not rename or reorder them.
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

var hopKinds = []string{
	KindFleetSubnet, KindFleetSecurityGroup, KindFleetRoute,
	KindRouterInstance, KindRouterSourceDestCheck, KindRouterSecurityGroup, KindRouterConfig,
	KindVXLANRemote, KindTunnelPort, KindUnderlay, KindPeering,
	KindGate, KindGatePeer, KindVXLANID, KindLANRoute, KindSIM, KindReturnPath, KindDevice,
}

// HopKinds returns the hop kinds in the order Walk checks them (a fresh
// copy, so callers cannot reorder the contract).
func HopKinds() []string { return append([]string(nil), hopKinds...) }

// HopOrder returns the 1-based position of kind in the check order, or 0
// for an unknown kind.
func HopOrder(kind string) int {
	for i, k := range hopKinds {
		if k == kind {
			return i + 1
		}
	}
	return 0
}

// Well-known state strings (EC2 spellings).
const (
	InstanceRunning = "running"
	PeeringActive   = "active"
	RouteActive     = "active"
	RouteBlackhole  = "blackhole"
)

// GateVXLANPort is the UDP port the Gate VXLAN tunnel uses: the IANA VXLAN
// port, which is what SORACOM's own gate_init_vxlan.sh configures
// (GUESS: the VPG side is not documented to accept anything else).
const GateVXLANPort = 4789

// Snapshot is the emulated world at one instant, in plain values. The glue
// that fills it from the emulators lives elsewhere; Walk only reads it.
// When an ID appears twice in a list, the first entry wins.
type Snapshot struct {
	VPCs           []VPC
	Subnets        []Subnet
	RouteTables    []RouteTable
	SecurityGroups []SecurityGroup
	ENIs           []ENI
	Instances      []Instance
	Peerings       []Peering
	Fleets         []Fleet
	VPGs           []VPG
	SIMs           []SIM
	Devices        []Device
}

// VPC is an AWS VPC.
type VPC struct {
	ID   string
	CIDR netip.Prefix
}

// Subnet is an AWS subnet.
type Subnet struct {
	ID, VPCID string
	CIDR      netip.Prefix
	AZ        string
}

// TargetKind says what a VPC route sends traffic to.
type TargetKind string

// Route target kinds.
const (
	TargetLocal   TargetKind = "local"   // the VPC's own CIDR
	TargetPeering TargetKind = "peering" // Target is a pcx-… ID
	TargetENI     TargetKind = "eni"     // Target is an eni-… ID
	TargetGateway TargetKind = "gateway" // anything else (igw-, nat-, tgw-, vgw-…)
)

// VPCRoute is one route of a VPC route table.
type VPCRoute struct {
	Dest   netip.Prefix
	Kind   TargetKind
	Target string // pcx-…, eni-…, igw-…; "local" or "" for TargetLocal
	// State is "active" or "blackhole". GUESS (convenience): "" counts as
	// active, so hand-written snapshots need not spell it out.
	State string
}

// RouteTable is a VPC route table. A subnet uses the table that lists it in
// SubnetIDs (an explicit association), else its VPC's Main table.
type RouteTable struct {
	ID, VPCID string
	Main      bool
	SubnetIDs []string
	Routes    []VPCRoute
}

// SGRule is one security group permission. Protocol is "-1" (all), "tcp",
// "udp", "icmp" or the numbers "6", "17", "1". FromPort/ToPort are an
// inclusive range; -1 in either means all ports, and for "-1" ports do not
// matter. Rules that reference other security groups are not modelled.
type SGRule struct {
	Protocol         string
	FromPort, ToPort int
	CIDRs            []netip.Prefix
}

// SecurityGroup is an AWS security group.
type SecurityGroup struct {
	ID              string
	Ingress, Egress []SGRule
}

// ENI is an elastic network interface.
type ENI struct {
	ID, SubnetID     string
	PrivateIP        netip.Addr
	SourceDestCheck  bool
	SecurityGroupIDs []string
	InstanceID       string // "" when detached
}

// Instance is an EC2 instance. UserData is the shell script the instance
// ran at boot, as text (base64 is accepted too, see ParseUserData).
type Instance struct {
	ID, State        string // State: pending|running|stopping|stopped|shutting-down|terminated
	Impaired         bool   // a failed status check
	SubnetID         string
	PrivateIP        netip.Addr
	ENIID            string
	SecurityGroupIDs []string
	UserData         string
}

// Peering is a VPC peering connection as EC2 sees it.
type Peering struct {
	ID, State string // pending-acceptance|active|deleted|failed|rejected|expired
}

// Fleet is an AppStream fleet's VPC configuration.
type Fleet struct {
	Name             string
	SubnetIDs        []string
	SecurityGroupIDs []string
}

// Peer is a Gate peer: Outer is the tunnel endpoint (underlay), Inner its
// address inside the device subnet (overlay).
type Peer struct {
	Outer, Inner netip.Addr
}

// Redirection is a VPG's Junction redirection setting.
type Redirection struct {
	Enabled bool
	Gateway string
}

// VPG is a SORACOM Virtual Private Gateway.
type VPG struct {
	ID              string
	DeviceSubnet    netip.Prefix // deviceSubnetCidrRange
	VPGSubnet       netip.Prefix // vpgSubnetCidrRange
	GateOpened      bool
	VXLANID         int // gateVxlanId
	OwnPeers        []Peer
	CustomerPeers   []Peer
	SimBasedRouting bool
	SimRoutes       map[string]netip.Prefix // simBasedRoutingConfig: SIM ID -> LAN CIDR
	PeeringIDs      []string                // keys of vpcPeeringConnections
	Redirection     *Redirection
}

// SIM is a SORACOM SIM and its session.
type SIM struct {
	ID     string
	IP     netip.Addr
	Online bool
	VPGID  string // the VPG the session is on; "" when none
}

// Device is a device that listens on TCP ports: on a SIM's own address
// (BehindSIM "") or on the LAN behind the SIM BehindSIM.
type Device struct {
	Address   netip.Addr
	BehindSIM string
	TCPPorts  []int
	Name      string
}
