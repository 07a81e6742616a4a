package soracom

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"sort"
	"strings"
)

// VPG types (CreateVirtualPrivateGatewayRequest.type).
const (
	VPGTypeE  = 14
	VPGTypeF  = 15
	VPGTypeF2 = 242
)

// VPG statuses. The spec lists only "running"; the others come from the
// console's strings (UNCONFIRMED against the API).
const (
	VPGStatusCreating    = "creating"
	VPGStatusRunning     = "running"
	VPGStatusFailed      = "failed"
	VPGStatusTerminating = "terminating"
	VPGStatusTerminated  = "terminated"
)

// Placement is where a VPG runs.
type Placement struct {
	InfrastructureProvider string `json:"infrastructureProvider,omitempty"`
	Region                 string `json:"region,omitempty"`
}

// VirtualPrivateGateway is the API's VirtualPrivateGateway object (the fields
// the operator uses; unknown fields are ignored).
type VirtualPrivateGateway struct {
	VPGID                 string    `json:"vpgId"`
	OperatorID            string    `json:"operatorId,omitempty"`
	Type                  int       `json:"type"`
	Status                string    `json:"status"`
	DeviceSubnetCIDRRange string    `json:"deviceSubnetCidrRange,omitempty"`
	UESubnetCIDRRange     string    `json:"ueSubnetCidrRange,omitempty"`
	VPGSubnetCIDRRange    string    `json:"vpgSubnetCidrRange,omitempty"`
	UseInternetGateway    bool      `json:"useInternetGateway"`
	Placement             Placement `json:"placement"`

	GateOpened                  bool `json:"gateOpened"`
	GatePrivacySeparatorEnabled bool `json:"gatePrivacySeparatorEnabled"`
	// GateVXLANID is gateVxlanId, which the definition types as a JSON
	// "number": it is decoded through IntNumber (10 and 10.0 are accepted,
	// 10.5 is an error).
	GateVXLANID int `json:"gateVxlanId,omitempty"`

	// VPCPeeringConnections is the VPG's Canal peerings: the definition's map
	// of string to string (which side holds the pcx id is not documented;
	// use VPCPeeringConnectionIDs).
	VPCPeeringConnections map[string]string `json:"vpcPeeringConnections,omitempty"`

	EnableSimBasedRouting bool `json:"enableSimBasedRouting"`
	// SimBasedRoutingConfig is simId -> LAN CIDR, a flat map of string to
	// string in the definition. It is the only way to read the routes: the
	// API has no GET of …/gate/routing/static/sims/routes.
	SimBasedRoutingConfig map[string]string `json:"simBasedRoutingConfig,omitempty"`

	// JunctionEnabled: Junction (mirroring, inspection or redirection) is enabled.
	JunctionEnabled bool                 `json:"junctionEnabled"`
	Mirroring       *JunctionMirroring   `json:"mirroring,omitempty"`
	Inspection      *JunctionInspection  `json:"inspection,omitempty"`
	Redirection     *JunctionRedirection `json:"redirection,omitempty"`

	FixedIPAddressesEnabled bool     `json:"fixedIpAddressesEnabled,omitempty"`
	FixedPublicIPAddresses  []string `json:"fixedPublicIpAddresses,omitempty"`

	Tags             map[string]string `json:"tags,omitempty"`
	CreatedTime      UnixMillis        `json:"createdTime,omitempty"`
	LastModifiedTime UnixMillis        `json:"lastModifiedTime,omitempty"`
}

// UnmarshalJSON decodes the VPG, reading gateVxlanId as a JSON number.
func (v *VirtualPrivateGateway) UnmarshalJSON(b []byte) error {
	type plain VirtualPrivateGateway
	aux := struct {
		*plain
		// Shadows plain's gateVxlanId (a shallower field wins in encoding/json).
		GateVXLANID json.RawMessage `json:"gateVxlanId"`
	}{plain: (*plain)(v)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	v.GateVXLANID = 0
	if len(aux.GateVXLANID) > 0 {
		var n IntNumber
		if err := n.UnmarshalJSON(aux.GateVXLANID); err != nil {
			return fmt.Errorf("gateVxlanId: %w", err)
		}
		v.GateVXLANID = int(n)
	}
	return nil
}

// SimBasedRoutes returns a copy of SimBasedRoutingConfig (simId -> LAN
// CIDR), never nil.
func (v *VirtualPrivateGateway) SimBasedRoutes() map[string]string {
	out := make(map[string]string, len(v.SimBasedRoutingConfig))
	maps.Copy(out, v.SimBasedRoutingConfig)
	return out
}

// VPCPeeringConnectionIDs returns the pcx ids found in VPCPeeringConnections,
// sorted: keys and values that are pcx ids (the definition does not say which
// side holds it; SORACOM's console and the emulator key by pcx id).
func (v *VirtualPrivateGateway) VPCPeeringConnectionIDs() []string {
	set := map[string]bool{}
	for k, val := range v.VPCPeeringConnections {
		if strings.HasPrefix(k, "pcx-") {
			set[k] = true
		}
		if strings.HasPrefix(val, "pcx-") {
			set[val] = true
		}
	}
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// SoracomTransitGateway is the Type-F2 transit gateway option.
type SoracomTransitGateway struct {
	ASN int `json:"asn,omitempty"`
}

// CreateVirtualPrivateGatewayRequest is the body of createVirtualPrivateGateway.
type CreateVirtualPrivateGatewayRequest struct {
	// Type is VPGTypeE, VPGTypeF or VPGTypeF2 (required).
	Type int `json:"type"`
	// DeviceSubnetCIDRRange defaults to 10.128.0.0/9 on the server.
	DeviceSubnetCIDRRange string `json:"deviceSubnetCidrRange,omitempty"`
	// UseInternetGateway is always sent (the server's default is true).
	UseInternetGateway bool `json:"useInternetGateway"`
	// Placement carries the region. Nil, or an empty Region, omits
	// "placement" from the body, so SORACOM picks the coverage's default
	// (ap-northeast-1 on Japan coverage, eu-central-1 on Global). Only the
	// region is sent (the request schema has no infrastructureProvider).
	Placement             *Placement             `json:"placement,omitempty"`
	SoracomTransitGateway *SoracomTransitGateway `json:"soracomTransitGateway,omitempty"`
	Tags                  map[string]string      `json:"tags,omitempty"`
}

// MarshalJSON omits placement when it has no region.
func (r CreateVirtualPrivateGatewayRequest) MarshalJSON() ([]byte, error) {
	type plain CreateVirtualPrivateGatewayRequest
	p := plain(r)
	if p.Placement != nil {
		if p.Placement.Region == "" {
			p.Placement = nil
		} else {
			p.Placement = &Placement{Region: p.Placement.Region}
		}
	}
	return json.Marshal(p)
}

// CreateVirtualPrivateGateway creates a VPG (201). Each call creates a new,
// billed VPG: it is never retried by the client (not even after a 401);
// tag it with the owner and look it up by tag before calling again.
func (c *Client) CreateVirtualPrivateGateway(ctx context.Context, in *CreateVirtualPrivateGatewayRequest) (*VirtualPrivateGateway, error) {
	var out VirtualPrivateGateway
	_, err := c.do(ctx, &request{op: "createVirtualPrivateGateway", method: http.MethodPost, path: "/v1/virtual_private_gateways", body: in, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListVirtualPrivateGateways returns every VPG matching opts (all pages).
func (c *Client) ListVirtualPrivateGateways(ctx context.Context, opts ListOptions) ([]VirtualPrivateGateway, error) {
	return listAll[VirtualPrivateGateway](ctx, c, "listVirtualPrivateGateways", "/v1/virtual_private_gateways", opts.query(), opts.LastEvaluatedKey)
}

// ListVirtualPrivateGatewaysPages calls fn with each page of VPGs until fn returns false.
func (c *Client) ListVirtualPrivateGatewaysPages(ctx context.Context, opts ListOptions, fn func(page []VirtualPrivateGateway) bool) error {
	return listPages(ctx, c, "listVirtualPrivateGateways", "/v1/virtual_private_gateways", opts.query(), opts.LastEvaluatedKey, fn)
}

// GetVirtualPrivateGateway returns one VPG (IsNotFound on 404).
func (c *Client) GetVirtualPrivateGateway(ctx context.Context, vpgID string) (*VirtualPrivateGateway, error) {
	var out VirtualPrivateGateway
	_, err := c.do(ctx, &request{op: "getVirtualPrivateGateway", method: http.MethodGet, path: vpgPath(vpgID, ""), out: &out, idempotent: true})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// TerminateVirtualPrivateGateway starts terminating a VPG (asynchronous). A
// 400 means something still blocks termination; 404 means it is gone.
func (c *Client) TerminateVirtualPrivateGateway(ctx context.Context, vpgID string) error {
	_, err := c.do(ctx, &request{op: "terminateVirtualPrivateGateway", method: http.MethodPost, path: vpgPath(vpgID, "/terminate"), idempotent: true})
	return err
}

// PutVirtualPrivateGatewayTags adds or overwrites tags (other tags are kept).
func (c *Client) PutVirtualPrivateGatewayTags(ctx context.Context, vpgID string, tags map[string]string) error {
	_, err := c.do(ctx, &request{op: "updateVirtualPrivateGatewayTags", method: http.MethodPut, path: vpgPath(vpgID, "/tags"), body: tagList(tags), idempotent: true})
	return err
}

func vpgPath(vpgID, suffix string) string {
	return "/v1/virtual_private_gateways/" + escape(vpgID) + suffix
}

// --- Gate ---

// GatePeer is a Gate (VXLAN) peer of a VPG.
type GatePeer struct {
	OuterIPAddress  string `json:"outerIpAddress"`
	InnerIPAddress  string `json:"innerIpAddress,omitempty"`
	Netmask         string `json:"netmask,omitempty"`
	OwnedByCustomer bool   `json:"ownedByCustomer"`
}

// OpenGateRequest is the body of openGate.
type OpenGateRequest struct {
	// VXLANID defaults to 10 on the server when 0 (omitted).
	VXLANID                 int  `json:"vxlanId,omitempty"`
	PrivacySeparatorEnabled bool `json:"privacySeparatorEnabled"`
}

// RegisterGatePeerRequest is the body of registerGatePeer.
type RegisterGatePeerRequest struct {
	OuterIPAddress string `json:"outerIpAddress"`
	InnerIPAddress string `json:"innerIpAddress,omitempty"`
}

// OpenGate opens Gate on a VPG with the VXLAN id (0: the server's default, 10)
// and the privacy separator (true: no device-to-device traffic).
// Repeating it is harmless, so it is retried like an idempotent call.
func (c *Client) OpenGate(ctx context.Context, vpgID string, vxlanID int, privacySeparator bool) error {
	_, err := c.do(ctx, &request{op: "openGate", method: http.MethodPost, path: vpgPath(vpgID, "/gate/open"),
		body: &OpenGateRequest{VXLANID: vxlanID, PrivacySeparatorEnabled: privacySeparator}, idempotent: true})
	return err
}

// CloseGate closes Gate on a VPG.
func (c *Client) CloseGate(ctx context.Context, vpgID string) error {
	_, err := c.do(ctx, &request{op: "closeGate", method: http.MethodPost, path: vpgPath(vpgID, "/gate/close"), idempotent: true})
	return err
}

// EnableGatePrivacySeparator turns device-to-device traffic off.
func (c *Client) EnableGatePrivacySeparator(ctx context.Context, vpgID string) error {
	_, err := c.do(ctx, &request{op: "enableGatePrivacySeparator", method: http.MethodPost, path: vpgPath(vpgID, "/gate/enable_privacy_separator"), idempotent: true})
	return err
}

// DisableGatePrivacySeparator turns device-to-device traffic on.
func (c *Client) DisableGatePrivacySeparator(ctx context.Context, vpgID string) error {
	_, err := c.do(ctx, &request{op: "disableGatePrivacySeparator", method: http.MethodPost, path: vpgPath(vpgID, "/gate/disable_privacy_separator"), idempotent: true})
	return err
}

// SetGateVXLANID changes the Gate VXLAN id (1..16777215).
func (c *Client) SetGateVXLANID(ctx context.Context, vpgID string, vxlanID int) error {
	_, err := c.do(ctx, &request{op: "setVirtualPrivateGatewayVxLanId", method: http.MethodPost, path: vpgPath(vpgID, "/gate/set_vxlan_id"),
		body: map[string]int{"vxlanId": vxlanID}, idempotent: true})
	return err
}

// ListGatePeers returns the VPG's Gate peers, the VPG's own ones
// (OwnedByCustomer false) included. The list is not paginated.
func (c *Client) ListGatePeers(ctx context.Context, vpgID string) ([]GatePeer, error) {
	var out []GatePeer
	_, err := c.do(ctx, &request{op: "listGatePeers", method: http.MethodGet, path: vpgPath(vpgID, "/gate/peers"), out: &out, idempotent: true})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RegisterGatePeer registers a customer Gate peer. What a repeated
// registration does is UNCONFIRMED (a duplicate peer or a 400), so the
// client never re-sends it: list the peers before registering again.
func (c *Client) RegisterGatePeer(ctx context.Context, vpgID string, in *RegisterGatePeerRequest) (*GatePeer, error) {
	var out GatePeer
	_, err := c.do(ctx, &request{op: "registerGatePeer", method: http.MethodPost, path: vpgPath(vpgID, "/gate/peers"), body: in, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// UnregisterGatePeer removes a Gate peer (404: VPG or peer gone).
func (c *Client) UnregisterGatePeer(ctx context.Context, vpgID, outerIPAddress string) error {
	_, err := c.do(ctx, &request{op: "unregisterGatePeer", method: http.MethodDelete, path: vpgPath(vpgID, "/gate/peers/"+escape(outerIPAddress)), idempotent: true})
	return err
}

// --- Gate SIM-based routing (LANs behind cellular routers) ---

// EnableSimBasedRouting turns SIM-based routing on (201). Gate must be open:
// otherwise the answer is 400 ("SORACOM Gate is not enabled.").
func (c *Client) EnableSimBasedRouting(ctx context.Context, vpgID string) error {
	_, err := c.do(ctx, &request{op: "enableSimBasedRouting", method: http.MethodPost, path: vpgPath(vpgID, "/gate/routing/static/sims/enable"), idempotent: true})
	return err
}

// DisableSimBasedRouting turns SIM-based routing off.
func (c *Client) DisableSimBasedRouting(ctx context.Context, vpgID string) error {
	_, err := c.do(ctx, &request{op: "disableSimBasedRouting", method: http.MethodPost, path: vpgPath(vpgID, "/gate/routing/static/sims/disable"), idempotent: true})
	return err
}

// PutSimBasedRoutingRoutes replaces the routes: simId -> LAN CIDR. Read them
// back from VirtualPrivateGateway.SimBasedRoutingConfig (there is no GET).
func (c *Client) PutSimBasedRoutingRoutes(ctx context.Context, vpgID string, routes map[string]string) error {
	if routes == nil {
		routes = map[string]string{}
	}
	_, err := c.do(ctx, &request{op: "putSimBasedRoutingRoutes", method: http.MethodPut, path: vpgPath(vpgID, "/gate/routing/static/sims/routes"), body: routes, idempotent: true})
	return err
}

// --- Canal (VPC peering) ---

// CreateVPCPeeringConnectionRequest is the body of createVpcPeeringConnection.
type CreateVPCPeeringConnectionRequest struct {
	DestinationCIDRBlock string `json:"destinationCidrBlock"`
	PeerOwnerID          string `json:"peerOwnerId"`
	PeerRegion           string `json:"peerRegion"`
	PeerVPCID            string `json:"peerVpcId"`
}

// VPCPeeringConnection is the answer of createVpcPeeringConnection; ID is the AWS pcx id.
type VPCPeeringConnection struct {
	ID                   string `json:"id"`
	DestinationCIDRBlock string `json:"destinationCidrBlock"`
	PeerOwnerID          string `json:"peerOwnerId"`
	PeerRegion           string `json:"peerRegion"`
	PeerVPCID            string `json:"peerVpcId"`
}

// CreateVPCPeeringConnection asks SORACOM to request a VPC peering to the
// customer VPC (201). A repeat may create a second peering request, so the
// client never re-sends it: check VirtualPrivateGateway.VPCPeeringConnections
// and the AWS side first.
func (c *Client) CreateVPCPeeringConnection(ctx context.Context, vpgID string, in *CreateVPCPeeringConnectionRequest) (*VPCPeeringConnection, error) {
	var out VPCPeeringConnection
	_, err := c.do(ctx, &request{op: "createVpcPeeringConnection", method: http.MethodPost, path: vpgPath(vpgID, "/vpc_peering_connections"), body: in, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteVPCPeeringConnection deletes a peering (404: gone).
func (c *Client) DeleteVPCPeeringConnection(ctx context.Context, vpgID, pcxID string) error {
	_, err := c.do(ctx, &request{op: "deleteVpcPeeringConnection", method: http.MethodDelete, path: vpgPath(vpgID, "/vpc_peering_connections/"+escape(pcxID)), idempotent: true})
	return err
}
