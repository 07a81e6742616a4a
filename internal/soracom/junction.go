package soracom

import (
	"context"
	"net/http"
)

// --- Junction (definition: /virtual_private_gateways/{vpg_id}/junction/…) ---

// MirroringProtocolGRE is the only JunctionMirroringPeer.protocol the definition allows.
const MirroringProtocolGRE = "gre"

// JunctionMirroringPeer is a Junction mirroring peer (JunctionMirroringPeer).
type JunctionMirroringPeer struct {
	IPAddress string `json:"ipAddress"`
	// Protocol is "gre" (PutMirroringPeer sends "gre" when empty).
	Protocol    string `json:"protocol,omitempty"`
	Description string `json:"description,omitempty"`
	// Enabled defaults to false on the server.
	Enabled bool `json:"enabled"`
}

// JunctionMirroring is VirtualPrivateGateway.mirroring: the peers keyed by IP address.
type JunctionMirroring struct {
	Peers map[string]JunctionMirroringPeer `json:"peers,omitempty"`
}

// JunctionInspection is JunctionInspectionConfiguration (the "report"
// Funnel destination is not modelled).
type JunctionInspection struct {
	Enabled bool `json:"enabled"`
}

// JunctionRedirection is JunctionRedirectionConfiguration: traffic is sent
// to Gateway (an IPv4 address, typically a Gate peer's inner address).
type JunctionRedirection struct {
	Gateway     string `json:"gateway"`
	Description string `json:"description"`
	Enabled     bool   `json:"enabled"`
}

// SetRedirection replaces the VPG's Junction redirection settings
// (setRedirectionConfiguration, 200). Repeating it is harmless.
func (c *Client) SetRedirection(ctx context.Context, vpgID string, r JunctionRedirection) error {
	_, err := c.do(ctx, &request{op: "setRedirectionConfiguration", method: http.MethodPost, path: vpgPath(vpgID, "/junction/set_redirection"), body: &r, idempotent: true})
	return err
}

// UnsetRedirection removes the redirection settings (unsetRedirectionConfiguration, 200).
func (c *Client) UnsetRedirection(ctx context.Context, vpgID string) error {
	_, err := c.do(ctx, &request{op: "unsetRedirectionConfiguration", method: http.MethodPost, path: vpgPath(vpgID, "/junction/unset_redirection"), idempotent: true})
	return err
}

// SetInspection sets Junction inspection (setInspectionConfiguration, 200).
func (c *Client) SetInspection(ctx context.Context, vpgID string, enabled bool) error {
	_, err := c.do(ctx, &request{op: "setInspectionConfiguration", method: http.MethodPost, path: vpgPath(vpgID, "/junction/set_inspection"),
		body: &JunctionInspection{Enabled: enabled}, idempotent: true})
	return err
}

// UnsetInspection removes the inspection settings (unsetInspectionConfiguration, 200).
func (c *Client) UnsetInspection(ctx context.Context, vpgID string) error {
	_, err := c.do(ctx, &request{op: "unsetInspectionConfiguration", method: http.MethodPost, path: vpgPath(vpgID, "/junction/unset_inspection"), idempotent: true})
	return err
}

// PutMirroringPeer adds or updates a mirroring peer keyed by its IPAddress
// (createMirroringPeer, 201: "Mirroring peer added/updated"), so repeating
// it is harmless. An empty Protocol is sent as "gre".
func (c *Client) PutMirroringPeer(ctx context.Context, vpgID string, p JunctionMirroringPeer) error {
	if p.Protocol == "" {
		p.Protocol = MirroringProtocolGRE
	}
	_, err := c.do(ctx, &request{op: "createMirroringPeer", method: http.MethodPost, path: vpgPath(vpgID, "/junction/mirroring/peers"), body: &p, idempotent: true})
	return err
}

// DeleteMirroringPeer removes a mirroring peer (deleteMirroringPeer, 204; 404: gone).
func (c *Client) DeleteMirroringPeer(ctx context.Context, vpgID, ipAddress string) error {
	_, err := c.do(ctx, &request{op: "deleteMirroringPeer", method: http.MethodDelete, path: vpgPath(vpgID, "/junction/mirroring/peers/"+escape(ipAddress)), idempotent: true})
	return err
}
