package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RemoteAccessEnvironmentSpec is the desired path from a browser to the devices:
// a SORACOM Virtual Private Gateway with Gate, a Canal VPC peering into the
// customer's VPC, and an AppStream 2.0 fleet and stack in that VPC.
// +kubebuilder:validation:XValidation:rule="!has(self.router) || !has(self.router.returnPath) || self.router.returnPath != 'JunctionRedirection' || !has(self.soracom.junction) || !has(self.soracom.junction.redirection)",fieldPath=".soracom.junction.redirection",message="soracom.junction.redirection cannot be set with router.returnPath JunctionRedirection, which redirects to the router; remove one of them"
// +kubebuilder:validation:XValidation:rule="self.soracom.gateway.type == 'F'",fieldPath=".soracom.gateway.type",message="Canal VPC peering needs a Type-F gateway: Type-E is internet-only and Type-F2 peers through Transit Gateway, which gatestream does not manage; set soracom.gateway.type to F"
type RemoteAccessEnvironmentSpec struct {
	// DeletionPolicy says whether deleting the environment deletes the gateway,
	// peering, routes, fleet and stack (Delete) or leaves them (Orphan).
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// Soracom is the SORACOM side: gateway, Gate and Canal.
	// +required
	Soracom SoracomSpec `json:"soracom"`

	// AWS is the customer's VPC the fleet runs in and Canal peers with.
	// +required
	AWS AWSSpec `json:"aws"`

	// AppStream is the fleet and stack that stream the tools people use to reach devices.
	// +required
	AppStream AppStreamSpec `json:"appStream"`

	// Router is the Gate peer that carries the fleet's traffic into the gateway's
	// device subnet. AppStream instances are not Gate peers; without a router
	// they cannot reach a device (Canal NATs device traffic into the VPC only).
	// Defaults to one router that gatestream launches and owns.
	// +optional
	// +kubebuilder:default={managed:{}}
	Router *RouterSpec `json:"router,omitempty"`

	// Napter lets StreamingSessions with via: Napter reach this
	// environment's devices through SORACOM Napter (a port mapping on the
	// internet, paid by the minute) instead of through the fleet. Off by default.
	// +optional
	Napter *NapterSpec `json:"napter,omitempty"`

	// SessionLimits bound the live StreamingSessions (Pending, Ready or
	// Active) on this environment, so that one person or one script cannot
	// take every instance of the fleet or starve the others' sessions. A
	// session over a limit fails at once (reason SessionLimitReached), before
	// any cloud call; the oldest sessions keep their place.
	// +optional
	// +kubebuilder:default={}
	SessionLimits *SessionLimits `json:"sessionLimits,omitempty"`
}

// NapterSpec allows Napter sessions on an environment.
type NapterSpec struct {
	// Enabled allows sessions with via: Napter.
	// +optional
	// +kubebuilder:default=false
	Enabled bool `json:"enabled,omitempty"`

	// AllowedSourceRanges bound the addresses a Napter session may open its
	// mapping to (each of the session's napter.sourceRanges must lie inside
	// one of them). Empty: any range, including the portal's /32 of the person.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=18
	// +kubebuilder:validation:XValidation:rule="self.all(c, isCIDR(c) && cidr(c).ip().family() == 4)",message="napter.allowedSourceRanges must be IPv4 CIDRs such as 203.0.113.0/24"
	AllowedSourceRanges []string `json:"allowedSourceRanges,omitempty"`

	// MinutePrice is the price of one Napter minute, for the estimated cost.
	// +optional
	MinutePrice Price `json:"minutePrice,omitempty"`
}

// SessionLimits are the most live sessions an environment serves.
type SessionLimits struct {
	// PerUser is the most live sessions of one spec.userId.
	// +optional
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	PerUser int32 `json:"perUser,omitempty"`
	// Total is the most live sessions of all users together.
	// +optional
	// +kubebuilder:default=200
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	Total int32 `json:"total,omitempty"`
}

// ReturnPath is how replies from devices find their way back to the fleet.
// +kubebuilder:validation:Enum=Masquerade;JunctionRedirection
type ReturnPath string

const (
	// ReturnPathMasquerade: the router rewrites the source of forwarded traffic to its
	// inner address, so devices answer the router (nothing to configure at SORACOM).
	ReturnPathMasquerade ReturnPath = "Masquerade"
	// ReturnPathJunctionRedirection: Junction redirection sends device traffic to the
	// router's inner address; devices see the AppStream instances' own addresses (for audit).
	ReturnPathJunctionRedirection ReturnPath = "JunctionRedirection"
)

// RouterSpec is the router: launched and owned by gatestream (managed), or run
// by the customer (existing) and only checked.
// +kubebuilder:validation:XValidation:rule="has(self.managed) != has(self.existing)",message="router needs exactly one of managed (gatestream launches the router) or existing (a router you run)"
// +kubebuilder:validation:XValidation:rule="!has(self.returnPath) || self.returnPath != 'JunctionRedirection' || (has(self.managed) ? (!has(self.managed.subnetIds) || size(self.managed.subnetIds) == 1) : size(self.existing) == 1)",fieldPath=".returnPath",message="returnPath JunctionRedirection sends all device traffic to one address: use a single router"
type RouterSpec struct {
	// Managed: gatestream launches one router per subnet, replaces it when it
	// is terminated or impaired, and deletes it with the environment
	// (deletionPolicy Orphan keeps it).
	// +optional
	Managed *ManagedRouterSpec `json:"managed,omitempty"`

	// Existing routers that you run (configured as a Gate peer: VXLAN to the
	// gateway's own peers, IP forwarding). gatestream registers them as Gate
	// peers, routes to them and checks them, but never starts, stops or changes them.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	Existing []ExistingRouter `json:"existing,omitempty"`

	// ReturnPath says how device replies return: Masquerade (default) or
	// JunctionRedirection (keeps the fleet's source addresses, for audit).
	// +optional
	// +kubebuilder:default=Masquerade
	ReturnPath ReturnPath `json:"returnPath,omitempty"`
}

// DefaultRouterImage resolves, at launch, to the current Amazon Linux 2023 AMI
// of the region (EC2 resolves public SSM parameters in RunInstances).
const DefaultRouterImage = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"

// ManagedRouterSpec is a router gatestream launches.
type ManagedRouterSpec struct {
	// InstanceType of the router. Forwarding a few remote sessions needs little.
	// +optional
	// +kubebuilder:default=t3.nano
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\.[a-z0-9]+$`
	InstanceType string `json:"instanceType,omitempty"`

	// ImageID is an AMI ID or "resolve:ssm:<public parameter>". The default is
	// the current Amazon Linux 2023 for x86_64 (use an arm64 parameter with a Graviton type).
	// +optional
	// +kubebuilder:default="resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^(ami-[0-9a-f]{8,17}|resolve:ssm:/[A-Za-z0-9_./-]+)$`
	ImageID string `json:"imageId,omitempty"`

	// SubnetIDs: one router per subnet (at most two, in two availability
	// zones; each fleet subnet is routed to the router in its zone). Defaults
	// to the first of spec.appStream.fleet.subnetIds. The subnets' route tables
	// must be in spec.aws.routeTableIds (they carry the tunnel to the gateway).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=2
	// +kubebuilder:validation:items:Pattern=`^subnet-[0-9a-f]{4,17}$`
	SubnetIDs []string `json:"subnetIds,omitempty"`

	// SecurityGroupIDs of the router. They must allow the fleet's TCP traffic in,
	// and UDP 4789 (VXLAN) to and from the gateway's range. Defaults to the fleet's groups.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=5
	// +kubebuilder:validation:items:Pattern=`^sg-[0-9a-f]{4,17}$`
	SecurityGroupIDs []string `json:"securityGroupIds,omitempty"`

	// InnerIPAddresses are the routers' addresses in the device subnet, one per
	// subnet in the same order. Default: the highest free addresses of the device subnet.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=2
	// +kubebuilder:validation:items:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="self.all(a, isIP(a) && ip(a).family() == 4)",message="router.managed.innerIpAddresses must be IPv4 addresses inside the device subnet, such as 10.255.255.250"
	InnerIPAddresses []string `json:"innerIpAddresses,omitempty"`
}

// ExistingRouter is a router the customer runs, named by its instance or its network interface.
// +kubebuilder:validation:XValidation:rule="has(self.instanceId) != has(self.networkInterfaceId)",message="an existing router needs exactly one of instanceId or networkInterfaceId"
type ExistingRouter struct {
	// InstanceID of the router (its primary network interface is used).
	// +optional
	// +kubebuilder:validation:Pattern=`^i-[0-9a-f]{8,17}$`
	InstanceID string `json:"instanceId,omitempty"`

	// NetworkInterfaceID of the router's interface in the VPC.
	// +optional
	// +kubebuilder:validation:Pattern=`^eni-[0-9a-f]{8,17}$`
	NetworkInterfaceID string `json:"networkInterfaceId,omitempty"`

	// InnerIPAddress is the router's address in the device subnet (its VXLAN interface).
	// +required
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="isIP(self) && ip(self).family() == 4",message="router.existing[].innerIpAddress must be an IPv4 address inside the device subnet, such as 10.255.255.250"
	InnerIPAddress string `json:"innerIpAddress"`
}

// Coverage is a SORACOM coverage type; each has its own API endpoint and resources.
// +kubebuilder:validation:Enum=jp;g
type Coverage string

// SoracomSpec configures the SORACOM account and objects.
// +kubebuilder:validation:XValidation:rule="!has(self.gateway.deviceSubnetCidrRange) || !isCIDR(self.gateway.deviceSubnetCidrRange) || !isCIDR(self.canal.destinationCidrBlock) || !(cidr(self.gateway.deviceSubnetCidrRange).containsIP(cidr(self.canal.destinationCidrBlock).ip()) || cidr(self.canal.destinationCidrBlock).containsIP(cidr(self.gateway.deviceSubnetCidrRange).ip()))",fieldPath=".canal.destinationCidrBlock",messageExpression="'canal.destinationCidrBlock ' + self.canal.destinationCidrBlock + ' overlaps gateway.deviceSubnetCidrRange ' + self.gateway.deviceSubnetCidrRange + ': the VPC and the devices need separate ranges (the default device subnet is 10.128.0.0/9)'"
type SoracomSpec struct {
	// Coverage selects the API endpoint: jp (api.soracom.io) or g (g.api.soracom.io).
	// +optional
	// +kubebuilder:default=jp
	Coverage Coverage `json:"coverage,omitempty"`

	// Endpoint overrides the API base URL (for emulators and tests), e.g. http://127.0.0.1:8080.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^\s/]+(/.*)?$`
	Endpoint string `json:"endpoint,omitempty"`

	// CredentialsSecretRef names a Secret with the keys authKeyId and authKey of a SORACOM
	// AuthKey (preferably a SAM user's, limited to the calls gatestream makes).
	// +required
	CredentialsSecretRef SecretReference `json:"credentialsSecretRef"`

	// Gateway is the Virtual Private Gateway (VPG).
	// +required
	Gateway GatewaySpec `json:"gateway"`

	// Canal is the VPC peering from the gateway into spec.aws.vpcId.
	// +required
	Canal CanalSpec `json:"canal"`

	// Junction configures SORACOM Junction on the gateway: mirroring peers,
	// inspection and redirection. Unset: gatestream leaves Junction alone
	// (except the redirection of router.returnPath JunctionRedirection).
	// +optional
	Junction *JunctionSpec `json:"junction,omitempty"`
}

// JunctionSpec is the wanted Junction configuration of the gateway; gatestream
// converges exactly this (mirroring peers not listed are removed).
type JunctionSpec struct {
	// Inspection turns Junction inspection (traffic statistics) on or off.
	// +optional
	Inspection *bool `json:"inspection,omitempty"`

	// Mirroring peers receive a copy of the devices' traffic (GRE).
	// +optional
	// +listType=map
	// +listMapKey=ipAddress
	// +kubebuilder:validation:MaxItems=8
	MirroringPeers []JunctionMirroringPeer `json:"mirroringPeers,omitempty"`

	// Redirection sends the devices' traffic to a gateway address of yours.
	// Not allowed with router.returnPath JunctionRedirection, which sets it to the router.
	// +optional
	Redirection *JunctionRedirection `json:"redirection,omitempty"`
}

// JunctionMirroringPeer is a host that receives mirrored traffic.
type JunctionMirroringPeer struct {
	// IPAddress of the peer.
	// +required
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="isIP(self) && ip(self).family() == 4",message="junction.mirroringPeers[].ipAddress must be an IPv4 address such as 10.0.1.20"
	IPAddress string `json:"ipAddress"`
	// Enabled turns mirroring to this peer on.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`
	// Description of the peer.
	// +optional
	// +kubebuilder:validation:MaxLength=100
	Description string `json:"description,omitempty"`
}

// JunctionRedirection redirects device traffic to a gateway.
type JunctionRedirection struct {
	// Gateway is the address traffic is redirected to (in the device subnet, e.g. a Gate peer's inner address).
	// +required
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="isIP(self) && ip(self).family() == 4",message="junction.redirection.gateway must be an IPv4 address such as 10.255.255.250"
	Gateway string `json:"gateway"`
	// Description of the redirection.
	// +optional
	// +kubebuilder:validation:MaxLength=100
	Description string `json:"description,omitempty"`
}

// GatewayType is the VPG type: E (14), F (15) or F2 (242).
// +kubebuilder:validation:Enum=E;F;F2
type GatewayType string

// GatewaySpec is the SORACOM Virtual Private Gateway.
// +kubebuilder:validation:XValidation:rule="has(self.id) == has(oldSelf.id) && (!has(self.id) || self.id == oldSelf.id)",fieldPath=".id",message="gateway.id cannot be set, changed or removed after creation; create a new RemoteAccessEnvironment to use another gateway"
// +kubebuilder:validation:XValidation:rule="has(self.region) == has(oldSelf.region)",fieldPath=".region",message="gateway.region cannot be set or removed after creation (the gateway stays where it was placed); create a new RemoteAccessEnvironment to move the gateway"
// +kubebuilder:validation:XValidation:rule="!has(self.gate) || !has(self.gate.peers) || !has(self.deviceSubnetCidrRange) || !isCIDR(self.deviceSubnetCidrRange) || self.gate.peers.all(p, !has(p.innerIpAddress) || !isIP(p.innerIpAddress) || cidr(self.deviceSubnetCidrRange).containsIP(p.innerIpAddress))",fieldPath=".gate.peers",message="each Gate peer's innerIpAddress must lie inside gateway.deviceSubnetCidrRange"
type GatewaySpec struct {
	// ID adopts an existing VPG (vpg-…) instead of creating one. An adopted
	// gateway is never terminated by gatestream, whatever the deletionPolicy.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^vpg-[A-Za-z0-9]+$`
	ID string `json:"id,omitempty"`

	// Type is the VPG type. Canal needs F. Immutable.
	// +optional
	// +kubebuilder:default=F
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="gateway.type is immutable: a VPG cannot change type; create a new RemoteAccessEnvironment and move the devices"
	Type GatewayType `json:"type,omitempty"`

	// DeviceSubnetCIDRRange is the address range of the devices' SIMs. It must not
	// overlap 100.64.0.0/10 (the VPG's own range) or 198.18.0.0/15. Immutable.
	// +optional
	// +kubebuilder:default="10.128.0.0/9"
	// +kubebuilder:validation:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self).ip().family() == 4",message="gateway.deviceSubnetCidrRange must be an IPv4 CIDR such as 10.128.0.0/9"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || !(cidr('100.64.0.0/10').containsIP(cidr(self).ip()) || cidr(self).containsIP('100.64.0.0') || cidr('198.18.0.0/15').containsIP(cidr(self).ip()) || cidr(self).containsIP('198.18.0.0'))",message="gateway.deviceSubnetCidrRange must not overlap 100.64.0.0/10 or 198.18.0.0/15, which SORACOM reserves"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || string(cidr(self).masked()) == self",messageExpression="'gateway.deviceSubnetCidrRange ' + self + ' has host bits set: write the network address of the range, such as 10.128.0.0/9 (not 10.128.0.1/9)'"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="gateway.deviceSubnetCidrRange is immutable after creation; create a new RemoteAccessEnvironment to change it"
	DeviceSubnetCIDRRange string `json:"deviceSubnetCidrRange,omitempty"`

	// UseInternetGateway lets devices reach the internet through the VPG. Immutable.
	// +optional
	// +kubebuilder:default=false
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="gateway.useInternetGateway is immutable after creation; create a new RemoteAccessEnvironment to change it"
	UseInternetGateway *bool `json:"useInternetGateway,omitempty"`

	// Region is where the VPG is placed (the rendezvous point). Unset, SORACOM
	// places it by coverage: ap-northeast-1 for jp, eu-central-1 for g. Immutable.
	// +optional
	// +kubebuilder:validation:Enum=ap-northeast-1;eu-central-1;us-west-2;ap-southeast-2
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="gateway.region is immutable after creation; create a new RemoteAccessEnvironment to move the gateway"
	Region string `json:"region,omitempty"`

	// Gate opens cloud-to-device (and device-to-device) traffic on the VPG.
	// +optional
	Gate *GateSpec `json:"gate,omitempty"`
}

// GateSpec configures SORACOM Gate on the VPG.
type GateSpec struct {
	// Enabled opens Gate; false closes it.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`

	// VXLANID is the VXLAN network identifier of the Gate tunnels.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16777215
	VXLANID int32 `json:"vxlanId,omitempty"`

	// PrivacySeparator stops devices from reaching each other (D2D off). Only
	// cloud-to-device traffic is needed for remote access, so it defaults to on.
	// +optional
	// +kubebuilder:default=true
	PrivacySeparator *bool `json:"privacySeparator,omitempty"`

	// Peers are customer Gate peers (VXLAN endpoints in the VPC).
	// +optional
	// +listType=map
	// +listMapKey=outerIpAddress
	// +kubebuilder:validation:MaxItems=20
	Peers []GatePeer `json:"peers,omitempty"`
}

// GatePeer is a customer-owned Gate peer.
type GatePeer struct {
	// OuterIPAddress is the tunnel endpoint's address in the VPC.
	// +required
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="isIP(self) && ip(self).family() == 4",message="outerIpAddress must be an IPv4 address such as 10.0.1.10"
	OuterIPAddress string `json:"outerIpAddress"`

	// InnerIPAddress is the peer's address inside the device subnet.
	// +optional
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="isIP(self) && ip(self).family() == 4",message="innerIpAddress must be an IPv4 address inside the device subnet, such as 10.128.255.1"
	InnerIPAddress string `json:"innerIpAddress,omitempty"`
}

// CanalSpec is the SORACOM Canal VPC peering. The peer VPC, account and region come from spec.aws.
type CanalSpec struct {
	// DestinationCIDRBlock is the part of the VPC that devices may reach: an
	// RFC 1918 range with a prefix of /16 or longer (SORACOM's rule).
	// +required
	// +kubebuilder:validation:MaxLength=18
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self).ip().family() == 4",message="canal.destinationCidrBlock must be an IPv4 CIDR such as 10.0.0.0/16"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || (cidr(self).prefixLength() >= 16 && (cidr('10.0.0.0/8').containsCIDR(self) || cidr('172.16.0.0/12').containsCIDR(self) || cidr('192.168.0.0/16').containsCIDR(self)))",message="canal.destinationCidrBlock must be a private (RFC 1918) range of /16 or longer, such as 10.0.0.0/16"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || string(cidr(self).masked()) == self",messageExpression="'canal.destinationCidrBlock ' + self + ' has host bits set: write the network address of the range, such as 10.0.0.0/16 (not 10.0.0.1/16)'"
	DestinationCIDRBlock string `json:"destinationCidrBlock"`
}

// AWSSpec is the customer's AWS account and VPC.
type AWSSpec struct {
	// Region of the VPC and the AppStream fleet: one of the regions where
	// AppStream 2.0 (WorkSpaces Applications) exists (AWS documentation, 2026).
	// +required
	// +kubebuilder:validation:Enum=us-east-1;us-east-2;us-west-2;ap-south-1;ap-northeast-1;ap-northeast-2;ap-northeast-3;ap-southeast-1;ap-southeast-2;ap-southeast-5;ca-central-1;ca-west-1;eu-central-1;eu-central-2;eu-west-1;eu-west-2;eu-west-3;eu-south-1;eu-south-2;il-central-1;sa-east-1;us-gov-east-1;us-gov-west-1;cn-north-1
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="aws.region is immutable: the peering, fleet and stack live there; create a new RemoteAccessEnvironment for another region"
	Region string `json:"region"`

	// AccountID is the 12-digit AWS account that owns the VPC (the Canal peer owner).
	// +required
	// +kubebuilder:validation:Pattern=`^[0-9]{12}$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="aws.accountId is immutable: the Canal peering is tied to it; create a new RemoteAccessEnvironment for another account"
	AccountID string `json:"accountId"`

	// VPCID is the VPC that Canal peers with and the fleet runs in.
	// +required
	// +kubebuilder:validation:Pattern=`^vpc-[0-9a-f]{4,17}$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="aws.vpcId is immutable: the Canal peering and the fleet are tied to the VPC; create a new RemoteAccessEnvironment for another VPC"
	VPCID string `json:"vpcId"`

	// RouteTableIDs get a route to the VPG's range via the peering. List every
	// route table of the fleet's subnets.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:Pattern=`^rtb-[0-9a-f]{4,17}$`
	RouteTableIDs []string `json:"routeTableIds"`

	// CredentialsSecretRef names a Secret with accessKeyId, secretAccessKey and
	// optionally sessionToken. Without it the default credential chain is used
	// (IRSA, EKS Pod Identity, instance profile).
	// +optional
	CredentialsSecretRef *SecretReference `json:"credentialsSecretRef,omitempty"`

	// RoleARN is assumed (STS AssumeRole) with the credentials above, for cross-account setups.
	// +optional
	// +kubebuilder:validation:Pattern=`^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$`
	RoleARN string `json:"roleArn,omitempty"`

	// Endpoints override the AWS service endpoints (for emulators and tests).
	// +optional
	Endpoints *AWSEndpoints `json:"endpoints,omitempty"`
}

// AWSEndpoints override AWS service endpoints.
type AWSEndpoints struct {
	// AppStream endpoint URL.
	// +optional
	// +kubebuilder:validation:Pattern=`^https?://[^\s/]+(/.*)?$`
	AppStream string `json:"appStream,omitempty"`
	// EC2 endpoint URL.
	// +optional
	// +kubebuilder:validation:Pattern=`^https?://[^\s/]+(/.*)?$`
	EC2 string `json:"ec2,omitempty"`
}

// AppStreamSpec is the AppStream 2.0 fleet and stack.
// +kubebuilder:validation:XValidation:rule="(has(self.stack) && has(self.stack.name)) == (has(oldSelf.stack) && has(oldSelf.stack.name)) && (!has(self.stack) || !has(self.stack.name) || self.stack.name == oldSelf.stack.name)",fieldPath=".stack.name",message="stack.name cannot be set, changed or removed after creation: AppStream cannot rename a stack; create a new RemoteAccessEnvironment to use another stack"
// +kubebuilder:validation:XValidation:rule="self.fleet.fleetType != 'ELASTIC' || !has(self.capacity) || self.capacity.policy != 'Demand'",fieldPath=".capacity.policy",message="capacity.policy Demand needs an ALWAYS_ON or ON_DEMAND fleet: AWS sizes ELASTIC fleets itself (one instance per session, up to fleet.maxConcurrentSessions)"
type AppStreamSpec struct {
	// Fleet streams the applications.
	// +required
	Fleet FleetSpec `json:"fleet"`

	// Stack is what users connect to.
	// +optional
	Stack StackSpec `json:"stack,omitempty"`

	// Capacity sizes the fleet: Fixed (fleet.desiredCapacity, the default) or
	// Demand (from the live sessions). Not for ELASTIC fleets, which AWS sizes.
	// +optional
	// +kubebuilder:default={policy:Fixed}
	Capacity *CapacitySpec `json:"capacity,omitempty"`

	// Prices turn the usage in status into an estimated cost.
	// +optional
	Prices *Prices `json:"prices,omitempty"`

	// Applications are the application names (from the image's application
	// catalog) that a StreamingSession may open.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:Pattern=`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$`
	Applications []string `json:"applications"`
}

// FleetType is the AppStream fleet type.
// +kubebuilder:validation:Enum=ON_DEMAND;ALWAYS_ON;ELASTIC
type FleetType string

const (
	// FleetTypeOnDemand instances run (billed at the running rate) only while
	// streaming; provisioned idle instances are billed at the stopped rate.
	FleetTypeOnDemand FleetType = "ON_DEMAND"
	// FleetTypeAlwaysOn instances run, and are billed running, whether used or not.
	FleetTypeAlwaysOn FleetType = "ALWAYS_ON"
	// FleetTypeElastic has no instances to size: AWS runs one per session, up
	// to maxConcurrentSessions, billed per session.
	FleetTypeElastic FleetType = "ELASTIC"
)

// CapacityPolicy says who sizes the fleet.
// +kubebuilder:validation:Enum=Fixed;Demand
type CapacityPolicy string

const (
	// CapacityFixed keeps fleet.desiredCapacity instances, running around the clock.
	CapacityFixed CapacityPolicy = "Fixed"
	// CapacityDemand sizes the fleet from the live StreamingSessions (see DemandCapacity).
	CapacityDemand CapacityPolicy = "Demand"
)

// CapacitySpec is how many instances the fleet runs, and when.
// +kubebuilder:validation:XValidation:rule="self.policy != 'Demand' || has(self.demand)",fieldPath=".demand",message="capacity.policy Demand needs capacity.demand (min, max, spare, stopAfterIdle)"
// +kubebuilder:validation:XValidation:rule="self.policy == 'Demand' || !has(self.demand)",fieldPath=".demand",message="capacity.demand applies only with capacity.policy Demand; remove it or set policy: Demand"
type CapacitySpec struct {
	// Policy is Fixed (fleet.desiredCapacity, always running; the default) or
	// Demand (live sessions + spare, between min and max; stopped when idle).
	// +optional
	// +kubebuilder:default=Fixed
	Policy CapacityPolicy `json:"policy,omitempty"`

	// Demand sizes the fleet from the sessions gatestream knows about before
	// their users arrive: desired = live sessions + spare, clamped to
	// [min (or the active schedule's min), max].
	// +optional
	Demand *DemandCapacity `json:"demand,omitempty"`
}

// DemandCapacity is the Demand policy's bounds.
// +kubebuilder:validation:XValidation:rule="self.min <= self.max",fieldPath=".min",message="capacity.demand.min must not exceed capacity.demand.max"
// +kubebuilder:validation:XValidation:rule="!has(self.schedules) || self.schedules.all(s, s.min <= self.max)",fieldPath=".schedules",message="every capacity.demand.schedules[].min must not exceed capacity.demand.max"
type DemandCapacity struct {
	// Min instances kept whatever the demand (0: the fleet may stop).
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Min int32 `json:"min"`

	// Max instances, however many sessions wait (they wait for capacity).
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Max int32 `json:"max,omitempty"`

	// Spare instances kept free for the next person while the fleet runs, so
	// that a session does not wait for an instance to start.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Spare int32 `json:"spare"`

	// StopAfterIdle stops the fleet when no session has been live for this
	// long and min (with the schedules) is 0 (1m to 24h).
	// +optional
	// +kubebuilder:default="30m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(h|m|s|ms))+$')",messageExpression="'capacity.demand.stopAfterIdle ' + self + ' is not a duration: write hours, minutes and seconds with the units h, m, s, such as 30m'"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(h|m|s|ms))+$') || (duration(self) >= duration('1m') && duration(self) <= duration('24h'))",messageExpression="'capacity.demand.stopAfterIdle ' + self + ' must be between 1m and 24h, such as 30m'"
	StopAfterIdle metav1.Duration `json:"stopAfterIdle,omitempty"`

	// Schedules raise min at set times (business hours): the highest min of
	// the schedules active now applies.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Schedules []CapacitySchedule `json:"schedules,omitempty"`
}

// Weekday is a day of the week.
// +kubebuilder:validation:Enum=Mon;Tue;Wed;Thu;Fri;Sat;Sun
type Weekday string

// CapacitySchedule is a recurring window with its own min.
// +kubebuilder:validation:XValidation:rule="self.start != self.end",fieldPath=".end",message="capacity.demand.schedules[].end must differ from start (a window that ends the next day is written start 22:00, end 06:00)"
type CapacitySchedule struct {
	// Name of the window, such as business-hours.
	// +required
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// Days the window starts on; all days when empty.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=7
	Days []Weekday `json:"days,omitempty"`

	// Start is the local time the window opens, HH:MM (24 h).
	// +required
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	Start string `json:"start"`

	// End is the local time the window closes, HH:MM; earlier than start
	// means the next day.
	// +required
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	End string `json:"end"`

	// TimeZone is an IANA time zone such as Asia/Tokyo (default UTC).
	// +optional
	// +kubebuilder:default=UTC
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`
	TimeZone string `json:"timeZone,omitempty"`

	// Min instances while the window is open.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Min int32 `json:"min"`
}

// Prices are what the user pays, for the estimated cost in status (no
// built-in price tables: they differ by region and change).
type Prices struct {
	// RunningInstanceHour is the price of one instance running for an hour,
	// by instance type (such as stream.standard.medium: "0.25"), in the
	// currency of the user's choice.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	RunningInstanceHour map[string]Price `json:"runningInstanceHour,omitempty"`
	// StoppedInstanceHour is the price of an ON_DEMAND instance that is
	// provisioned but not streaming, for an hour, by instance type.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	StoppedInstanceHour map[string]Price `json:"stoppedInstanceHour,omitempty"`
}

// Price is a decimal amount such as 0.25 (up to 6 decimals).
// +kubebuilder:validation:MaxLength=20
// +kubebuilder:validation:Pattern=`^[0-9]{1,12}([.][0-9]{1,6})?$`
type Price string

// StreamView is what the user sees: the application window or the desktop.
// +kubebuilder:validation:Enum=APP;DESKTOP
type StreamView string

// FleetUpdatePolicy says how changes that AWS only accepts on a STOPPED fleet are applied.
// +kubebuilder:validation:Enum=WhenIdle;Restart;Never
type FleetUpdatePolicy string

const (
	// FleetUpdateWhenIdle stops, updates and starts the fleet once no session is in use.
	FleetUpdateWhenIdle FleetUpdatePolicy = "WhenIdle"
	// FleetUpdateRestart stops, updates and starts the fleet at once, ending sessions in use.
	FleetUpdateRestart FleetUpdatePolicy = "Restart"
	// FleetUpdateNever applies only in-place changes and reports the rest (FleetReady=False, UpdateRequiresStop).
	FleetUpdateNever FleetUpdatePolicy = "Never"
)

// FleetSpec is the AppStream fleet.
// +kubebuilder:validation:XValidation:rule="has(self.name) == has(oldSelf.name) && (!has(self.name) || self.name == oldSelf.name)",fieldPath=".name",message="fleet.name is immutable: AppStream cannot rename a fleet; create a new RemoteAccessEnvironment to use another fleet"
// +kubebuilder:validation:XValidation:rule="self.fleetType != 'ELASTIC' || (has(self.maxConcurrentSessions) && has(self.platform))",fieldPath=".maxConcurrentSessions",message="an ELASTIC fleet needs fleet.maxConcurrentSessions and fleet.platform (AWS runs one instance per session, up to that many)"
// +kubebuilder:validation:XValidation:rule="self.fleetType != 'ELASTIC' || size(self.subnetIds) >= 2",fieldPath=".subnetIds",message="an ELASTIC fleet needs at least two fleet.subnetIds, in different availability zones"
// +kubebuilder:validation:XValidation:rule="self.fleetType == 'ELASTIC' || (!has(self.maxConcurrentSessions) && !has(self.platform))",fieldPath=".fleetType",message="fleet.maxConcurrentSessions and fleet.platform apply only to ELASTIC fleets; ALWAYS_ON and ON_DEMAND fleets are sized by desiredCapacity or capacity"
type FleetSpec struct {
	// Name of the fleet. Defaults to a name derived from the namespace and name of the environment.
	// +optional
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$`
	Name string `json:"name,omitempty"`

	// ImageName is the AppStream image with the applications (TeraTerm, an RDP client, a browser…).
	// +required
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$`
	ImageName string `json:"imageName"`

	// InstanceType such as stream.standard.medium.
	// +optional
	// +kubebuilder:default=stream.standard.medium
	// +kubebuilder:validation:Pattern=`^stream\.[a-z0-9-]+\.[a-z0-9-]+$`
	InstanceType string `json:"instanceType,omitempty"`

	// FleetType is ON_DEMAND (instances stream, and bill the running rate,
	// only while a user connects), ALWAYS_ON, or ELASTIC (no instances to
	// size; billed per session). Immutable.
	// +optional
	// +kubebuilder:default=ON_DEMAND
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="fleet.fleetType is immutable: AppStream cannot change a fleet's type; create a new RemoteAccessEnvironment"
	FleetType FleetType `json:"fleetType,omitempty"`

	// DesiredCapacity is the number of instances (one user session each) with
	// capacity.policy Fixed; ignored by ELASTIC fleets and by policy Demand.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	DesiredCapacity int32 `json:"desiredCapacity,omitempty"`

	// MaxConcurrentSessions is the most sessions an ELASTIC fleet streams at
	// once (required for ELASTIC, not allowed otherwise).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=5000
	MaxConcurrentSessions int32 `json:"maxConcurrentSessions,omitempty"`

	// Platform of an ELASTIC fleet's image (required for ELASTIC, not allowed otherwise).
	// +optional
	// +kubebuilder:validation:Enum=WINDOWS_SERVER_2019;AMAZON_LINUX2;UBUNTU_PRO_2404
	Platform string `json:"platform,omitempty"`

	// SubnetIDs of the VPC the fleet's instances run in.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:Pattern=`^subnet-[0-9a-f]{4,17}$`
	SubnetIDs []string `json:"subnetIds"`

	// SecurityGroupIDs of the fleet's instances; they must allow traffic to and from the VPG's range.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=5
	// +kubebuilder:validation:items:Pattern=`^sg-[0-9a-f]{4,17}$`
	SecurityGroupIDs []string `json:"securityGroupIds,omitempty"`

	// MaxUserDurationSeconds is the longest a streaming session may last (600..432000).
	// +optional
	// +kubebuilder:default=7200
	// +kubebuilder:validation:Minimum=600
	// +kubebuilder:validation:Maximum=432000
	MaxUserDurationSeconds int32 `json:"maxUserDurationSeconds,omitempty"`

	// DisconnectTimeoutSeconds keeps a disconnected session alive this long (60..36000).
	// +optional
	// +kubebuilder:default=300
	// +kubebuilder:validation:Minimum=60
	// +kubebuilder:validation:Maximum=36000
	DisconnectTimeoutSeconds int32 `json:"disconnectTimeoutSeconds,omitempty"`

	// IdleDisconnectTimeoutSeconds disconnects idle users (0 = off, else 60..36000).
	// +optional
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=36000
	// +kubebuilder:validation:XValidation:rule="self == 0 || self >= 60",message="fleet.idleDisconnectTimeoutSeconds must be 0 (off) or between 60 and 36000"
	IdleDisconnectTimeoutSeconds int32 `json:"idleDisconnectTimeoutSeconds,omitempty"`

	// EnableDefaultInternetAccess gives the instances internet access through AppStream.
	// +optional
	// +kubebuilder:default=false
	EnableDefaultInternetAccess *bool `json:"enableDefaultInternetAccess,omitempty"`

	// StreamView is APP (application windows) or DESKTOP.
	// +optional
	// +kubebuilder:default=APP
	StreamView StreamView `json:"streamView,omitempty"`

	// IAMRoleARN is an IAM role the fleet's instances assume.
	// +optional
	// +kubebuilder:validation:Pattern=`^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$`
	IAMRoleARN string `json:"iamRoleArn,omitempty"`

	// UpdatePolicy says how changes that need a STOPPED fleet (instance type,
	// subnets, security groups, max user duration, internet access, stream view,
	// IAM role) are applied: WhenIdle (default) waits until no session is in use,
	// Restart does it at once, Never only reports them.
	// +optional
	// +kubebuilder:default=WhenIdle
	UpdatePolicy FleetUpdatePolicy `json:"updatePolicy,omitempty"`
}

// StackSpec is the AppStream stack.
// +kubebuilder:validation:XValidation:rule="has(self.name) == has(oldSelf.name) && (!has(self.name) || self.name == oldSelf.name)",fieldPath=".name",message="stack.name is immutable: AppStream cannot rename a stack; create a new RemoteAccessEnvironment to use another stack"
type StackSpec struct {
	// Name of the stack. Defaults to a name derived from the namespace and name of the environment.
	// +optional
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,100}$`
	Name string `json:"name,omitempty"`

	// DisplayName shown to users.
	// +optional
	// +kubebuilder:validation:MaxLength=100
	DisplayName string `json:"displayName,omitempty"`

	// Description of the stack.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Description string `json:"description,omitempty"`

	// UserSettings enable or disable clipboard, file transfer and printing.
	// Unset settings keep AppStream's default (enabled).
	// +optional
	UserSettings *UserSettings `json:"userSettings,omitempty"`
}

// Permission enables or disables a user action.
// +kubebuilder:validation:Enum=Enabled;Disabled
type Permission string

// UserSettings of an AppStream stack.
type UserSettings struct {
	// +optional
	ClipboardCopyFromLocalDevice Permission `json:"clipboardCopyFromLocalDevice,omitempty"`
	// +optional
	ClipboardCopyToLocalDevice Permission `json:"clipboardCopyToLocalDevice,omitempty"`
	// +optional
	FileUpload Permission `json:"fileUpload,omitempty"`
	// +optional
	FileDownload Permission `json:"fileDownload,omitempty"`
	// +optional
	PrintingToLocalDevice Permission `json:"printingToLocalDevice,omitempty"`
}

// RemoteAccessEnvironmentStatus is what gatestream observed.
type RemoteAccessEnvironmentStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Synced, GatewayReady, GateReady, PeeringReady,
	// RoutesReady, RouterReady, DeviceRoutesReady, JunctionReady, NetworkReady,
	// FleetReady, StackReady, AssociationReady.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Identity is the stable identity the fleet and stack were last found
	// tagged with ("<cluster>/RemoteAccessEnvironment/<namespace>/<name>", from
	// the manager's --cluster-name; the other objects' tags are read on every
	// pass); empty without a cluster name. A manager with another cluster
	// name, or none, checks their tags again.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Identity string `json:"identity,omitempty"`

	// Gateway is the observed VPG.
	// +optional
	Gateway *GatewayStatus `json:"gateway,omitempty"`

	// Peering is the observed Canal VPC peering.
	// +optional
	Peering *PeeringStatus `json:"peering,omitempty"`

	// Fleet is the observed AppStream fleet.
	// +optional
	Fleet *FleetStatus `json:"fleet,omitempty"`

	// Capacity is what the capacity policy decided, from what.
	// +optional
	Capacity *CapacityStatus `json:"capacity,omitempty"`

	// Usage is the fleet's instance time as gatestream observed it.
	// +optional
	Usage *UsageStatus `json:"usage,omitempty"`

	// Stack is the observed AppStream stack.
	// +optional
	Stack *StackStatus `json:"stack,omitempty"`

	// Routers are the observed routers, in the order of spec.router
	// (managed: one per subnet; existing: as listed).
	// +optional
	// +listType=atomic
	Routers []RouterStatus `json:"routers,omitempty"`

	// DeviceRoutes are the routes gatestream made in the fleet subnets' route
	// tables (device subnet and LAN CIDRs to a router). Only these are ever
	// replaced or removed; anyone else's route is left alone.
	// +optional
	// +listType=atomic
	DeviceRoutes []DeviceRoute `json:"deviceRoutes,omitempty"`

	// Junction is what gatestream set on the gateway's Junction, so that on an
	// adopted gateway only that is undone at deletion.
	// +optional
	Junction *JunctionStatus `json:"junction,omitempty"`

	// Path is the last hop-by-hop check from each fleet subnet to the gateway's device subnet.
	// +optional
	Path *PathStatus `json:"path,omitempty"`
}

// RouterStatus is an observed router.
type RouterStatus struct {
	// Managed: gatestream launched it (and replaces and deletes it).
	// +optional
	Managed bool `json:"managed,omitempty"`
	// InstanceID of the router.
	// +optional
	InstanceID string `json:"instanceId,omitempty"`
	// NetworkInterfaceID the fleet subnets route to.
	// +optional
	NetworkInterfaceID string `json:"networkInterfaceId,omitempty"`
	// PrivateIPAddress is its address in the VPC (the Gate peer's outer address).
	// +optional
	PrivateIPAddress string `json:"privateIpAddress,omitempty"`
	// InnerIPAddress is its address in the device subnet.
	// +optional
	InnerIPAddress string `json:"innerIpAddress,omitempty"`
	// SubnetID and AvailabilityZone of the router.
	// +optional
	SubnetID string `json:"subnetId,omitempty"`
	// +optional
	AvailabilityZone string `json:"availabilityZone,omitempty"`
	// State from EC2 (pending, running, stopped, terminated…).
	// +optional
	State string `json:"state,omitempty"`
	// ConfigHash identifies the configuration the router was launched with
	// (a change of VXLAN ID, gateway peers or return path replaces it).
	// +optional
	ConfigHash string `json:"configHash,omitempty"`
	// Launches counts the launches of this router (part of the idempotency token of the next one).
	// +optional
	Launches int32 `json:"launches,omitempty"`
	// CreatePendingSince is set just before RunInstances and cleared when the
	// instance is observed: a launch whose response was lost is looked up by tag,
	// never launched twice.
	// +optional
	CreatePendingSince *metav1.Time `json:"createPendingSince,omitempty"`
}

// DeviceRoute is a route gatestream made.
type DeviceRoute struct {
	RouteTableID         string `json:"routeTableId"`
	DestinationCIDRBlock string `json:"destinationCidrBlock"`
	NetworkInterfaceID   string `json:"networkInterfaceId"`
}

// JunctionStatus is what gatestream set on Junction.
type JunctionStatus struct {
	// Redirection gateway gatestream set ("" if none).
	// +optional
	Redirection string `json:"redirection,omitempty"`
	// Inspection: gatestream turned inspection on or off.
	// +optional
	Inspection *bool `json:"inspection,omitempty"`
	// MirroringPeers gatestream added.
	// +optional
	// +listType=set
	MirroringPeers []string `json:"mirroringPeers,omitempty"`
}

// PathStatus is the result of a hop-by-hop reachability check.
type PathStatus struct {
	// Reachable: every hop that could be observed lets traffic through.
	Reachable bool `json:"reachable"`
	// Summary is the path ("reachable via i-… (subnet-… → rtb-… → eni-… → …)") or the first broken hop.
	// +optional
	Summary string `json:"summary,omitempty"`
	// BrokenHop is the first hop that does not let traffic through.
	// +optional
	BrokenHop *Hop `json:"brokenHop,omitempty"`
	// Unverified are hops gatestream cannot observe (stated, never assumed).
	// +optional
	// +listType=atomic
	Unverified []Hop `json:"unverified,omitempty"`
	// Devices are the named devices of the DeviceGroups bound to the
	// environment, each walked to its ports (each DeviceGroup shows its own).
	// +optional
	// +listType=atomic
	Devices []DevicePath `json:"devices,omitempty"`
}

// DevicePath is the path check of one device.
type DevicePath struct {
	DeviceGroup string `json:"deviceGroup"`
	Device      string `json:"device"`
	// Address the path was walked to: the device's address as its
	// DeviceGroup reported it when the environment checked. A session
	// trusts the check only for that address.
	// +optional
	Address   string `json:"address,omitempty"`
	Reachable bool   `json:"reachable"`
	// Path is "reachable via …" or the broken hop's reason.
	// +optional
	Path string `json:"path,omitempty"`
	// +optional
	BrokenHop *Hop `json:"brokenHop,omitempty"`
}

// Hop is one hop of the path from a fleet subnet to a device, and the object to fix.
type Hop struct {
	// Kind of hop: FleetSubnet, FleetSecurityGroup, FleetRoute, RouterInstance,
	// RouterSourceDestCheck, RouterSecurityGroup, RouterConfig, VXLANRemote,
	// TunnelPort, Underlay, Peering, Gate, GatePeer, VXLANID, LANRoute, SIM,
	// ReturnPath, Device (docs/unreachable.md lists each with its fix).
	Kind string `json:"kind"`
	// Object to fix (rtb-…, sg-…, i-…, eni-…, pcx-…, vpg-…, a SIM ID).
	// +optional
	Object string `json:"object,omitempty"`
	// Reason, naming the objects and values.
	// +optional
	Reason string `json:"reason,omitempty"`
}

// GatewayStatus is the observed VPG.
type GatewayStatus struct {
	// ID of the VPG (vpg-…).
	// +optional
	ID string `json:"id,omitempty"`
	// Status reported by SORACOM (creating, running, terminating…).
	// +optional
	Status string `json:"status,omitempty"`
	// VPGSubnetCIDRRange is the VPG's own range (from 100.64.0.0/10); the VPC routes it via the peering.
	// +optional
	VPGSubnetCIDRRange string `json:"vpgSubnetCidrRange,omitempty"`
	// GateOpened is whether Gate is open.
	// +optional
	GateOpened bool `json:"gateOpened,omitempty"`
	// Adopted is true when the gateway came from spec.soracom.gateway.id; it is never terminated.
	// +optional
	Adopted bool `json:"adopted,omitempty"`
	// GatePeers are the outer addresses of the Gate peers this environment
	// registered. On an adopted (shared) gateway only these are ever unregistered.
	// +optional
	// +listType=set
	GatePeers []string `json:"gatePeers,omitempty"`
	// CreatePendingSince is set just before the create call and cleared when the
	// ID is recorded; found set without an ID, it means a create whose result was
	// lost, and the gateway is looked up by its owner tag instead of created again.
	// +optional
	CreatePendingSince *metav1.Time `json:"createPendingSince,omitempty"`
}

// PeeringStatus is the observed Canal VPC peering.
type PeeringStatus struct {
	// ID is the AWS VPC peering connection ID (pcx-…).
	// +optional
	ID string `json:"id,omitempty"`
	// State from EC2 (pending-acceptance, active, failed…).
	// +optional
	State string `json:"state,omitempty"`
	// RouteTableIDs that route the VPG's range via the peering.
	// +optional
	RouteTableIDs []string `json:"routeTableIds,omitempty"`
}

// FleetStatus is the observed AppStream fleet.
type FleetStatus struct {
	// +optional
	Name string `json:"name,omitempty"`
	// State: STOPPED, STARTING, RUNNING, STOPPING.
	// +optional
	State string `json:"state,omitempty"`
	// Desired instances.
	// +optional
	Desired int32 `json:"desired,omitempty"`
	// Available instances.
	// +optional
	Available int32 `json:"available,omitempty"`
	// InUse instances.
	// +optional
	InUse int32 `json:"inUse,omitempty"`
	// Running instances (available and in use).
	// +optional
	Running int32 `json:"running,omitempty"`
	// Errors reported by AppStream (FleetErrors), "CODE: message".
	// +optional
	Errors []string `json:"errors,omitempty"`
}

// CapacityStatus is the capacity policy's last decision.
type CapacityStatus struct {
	// Policy applied: Fixed or Demand.
	// +optional
	Policy CapacityPolicy `json:"policy,omitempty"`
	// Desired instances the policy wants now (0 with the fleet stopped).
	// +optional
	Desired int32 `json:"desired,omitempty"`
	// LiveSessions counted (Pending, Ready or Active StreamingSessions).
	// +optional
	LiveSessions int32 `json:"liveSessions,omitempty"`
	// Min in force: demand.min, or the highest min of the active schedules.
	// +optional
	Min int32 `json:"min,omitempty"`
	// Schedule is the active schedule that set Min ("" when none).
	// +optional
	Schedule string `json:"schedule,omitempty"`
	// IdleSince is when the last live session ended (unset while one is live).
	// +optional
	IdleSince *metav1.Time `json:"idleSince,omitempty"`
	// StartRequestedAt is when gatestream last asked for instances (a
	// StartFleet or a raised capacity) that are not all running yet.
	// +optional
	StartRequestedAt *metav1.Time `json:"startRequestedAt,omitempty"`
	// StartSeconds are the last observed waits (at most 5) from asking for
	// instances to their running: a waiting session's expected wait.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=5
	StartSeconds []int32 `json:"startSeconds,omitempty"`
}

// UsageStatus is instance time, integrated from the fleet's observed
// capacity (running instances × time), since creation and this month (UTC).
type UsageStatus struct {
	// Month the *ThisMonth fields count, YYYY-MM (UTC).
	// +optional
	Month string `json:"month,omitempty"`
	// RunningInstanceSecondsThisMonth: instances billed at the running rate
	// (ALWAYS_ON: every running instance; ON_DEMAND: those streaming).
	// +optional
	RunningInstanceSecondsThisMonth int64 `json:"runningInstanceSecondsThisMonth,omitempty"`
	// StoppedInstanceSecondsThisMonth: ON_DEMAND instances provisioned but
	// not streaming (billed at the stopped rate).
	// +optional
	StoppedInstanceSecondsThisMonth int64 `json:"stoppedInstanceSecondsThisMonth,omitempty"`
	// RunningInstanceSecondsTotal since the environment was created.
	// +optional
	RunningInstanceSecondsTotal int64 `json:"runningInstanceSecondsTotal,omitempty"`
	// StoppedInstanceSecondsTotal since the environment was created.
	// +optional
	StoppedInstanceSecondsTotal int64 `json:"stoppedInstanceSecondsTotal,omitempty"`
	// SessionsServed counts the StreamingSessions that were given access on
	// this environment, as the environment's passes found them a minute or
	// more after their issue (a session deleted before such a pass is not
	// counted here; the counter gatestream_sessions_served_total counts
	// every one).
	// +optional
	SessionsServed int64 `json:"sessionsServed,omitempty"`
	// NapterSecondsThisMonth and NapterSecondsTotal are the durations of the
	// Napter port mappings made for the sessions counted in SessionsServed,
	// as granted (an upper bound: a mapping deleted early, on revocation,
	// lived less).
	// +optional
	NapterSecondsThisMonth int64 `json:"napterSecondsThisMonth,omitempty"`
	// +optional
	NapterSecondsTotal int64 `json:"napterSecondsTotal,omitempty"`
	// SessionsCountedUntil is the issue time up to which sessions were counted.
	// +optional
	SessionsCountedUntil *metav1.Time `json:"sessionsCountedUntil,omitempty"`
	// PeakInUse is the most instances seen in use at once.
	// +optional
	PeakInUse int32 `json:"peakInUse,omitempty"`
	// EstimatedCostThisMonth from spec.appStream.prices ("" without prices).
	// +optional
	EstimatedCostThisMonth string `json:"estimatedCostThisMonth,omitempty"`
	// EstimatedCostTotal from spec.appStream.prices ("" without prices).
	// +optional
	EstimatedCostTotal string `json:"estimatedCostTotal,omitempty"`
	// SampledAt is the end of the time counted so far; Running and InUse
	// are the instances observed then, counted until the next sample.
	// +optional
	SampledAt *metav1.Time `json:"sampledAt,omitempty"`
	// Running instances at SampledAt.
	// +optional
	Running int32 `json:"running,omitempty"`
	// InUse instances at SampledAt.
	// +optional
	InUse int32 `json:"inUse,omitempty"`
}

// StackStatus is the observed AppStream stack.
type StackStatus struct {
	// +optional
	Name string `json:"name,omitempty"`
	// Associated is true when the fleet is associated with the stack.
	// +optional
	Associated bool `json:"associated,omitempty"`
}

// RemoteAccessEnvironment converges a SORACOM gateway with Gate and Canal, the
// VPC routes, and an AppStream fleet and stack, so that people reach devices on
// cellular SIMs from a browser.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rae,categories=gatestream
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Synced",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
// +kubebuilder:printcolumn:name="Gateway",type=string,JSONPath=`.status.gateway.id`
// +kubebuilder:printcolumn:name="Peering",type=string,JSONPath=`.status.peering.state`,priority=1
// +kubebuilder:printcolumn:name="Fleet",type=string,JSONPath=`.status.fleet.state`
// +kubebuilder:printcolumn:name="Router",type=string,JSONPath=`.status.routers[0].instanceId`,priority=1
// +kubebuilder:printcolumn:name="Path",type=string,JSONPath=`.status.path.summary`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RemoteAccessEnvironment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec RemoteAccessEnvironmentSpec `json:"spec"`
	// +optional
	Status RemoteAccessEnvironmentStatus `json:"status,omitempty"`
}

// RemoteAccessEnvironmentList is a list of RemoteAccessEnvironment.
// +kubebuilder:object:root=true
type RemoteAccessEnvironmentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RemoteAccessEnvironment `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RemoteAccessEnvironment{}, &RemoteAccessEnvironmentList{})
}
