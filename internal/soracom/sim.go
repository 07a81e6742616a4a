package soracom

import (
	"context"
	"net/http"
)

// SessionStatus is a SIM's current session.
type SessionStatus struct {
	Online      bool   `json:"online"`
	UEIPAddress string `json:"ueIpAddress,omitempty"`
	// VPGID is set only when the session goes through a VPG.
	VPGID                   string     `json:"vpgId,omitempty"`
	GatewayPrivateIPAddress string     `json:"gatewayPrivateIpAddress,omitempty"`
	GatewayPublicIPAddress  string     `json:"gatewayPublicIpAddress,omitempty"`
	DNSServers              []string   `json:"dnsServers,omitempty"`
	IMSI                    string     `json:"imsi,omitempty"`
	IMEI                    string     `json:"imei,omitempty"`
	SessionID               string     `json:"sessionId,omitempty"`
	LastUpdatedAt           UnixMillis `json:"lastUpdatedAt,omitempty"`
}

// SIM is the API's Sim object (the fields the operator uses).
type SIM struct {
	SimID         string            `json:"simId"`
	OperatorID    string            `json:"operatorId,omitempty"`
	Status        string            `json:"status"`
	GroupID       string            `json:"groupId,omitempty"`
	Tags          map[string]string `json:"tags,omitempty"`
	SpeedClass    string            `json:"speedClass,omitempty"`
	Type          string            `json:"type,omitempty"`
	SessionStatus SessionStatus     `json:"sessionStatus"`
	// Profiles is decoded leniently (iccid -> profile, not used by the operator).
	Profiles         map[string]any `json:"profiles,omitempty"`
	CreatedTime      UnixMillis     `json:"createdTime,omitempty"`
	LastModifiedTime UnixMillis     `json:"lastModifiedTime,omitempty"`
}

// ListSims returns every SIM of the operator (all pages; the API has no filters).
func (c *Client) ListSims(ctx context.Context, opts PageOptions) ([]SIM, error) {
	return listAll[SIM](ctx, c, "listSims", "/v1/sims", opts.query(), opts.LastEvaluatedKey)
}

// ListSimsPages calls fn with each page of SIMs until fn returns false.
func (c *Client) ListSimsPages(ctx context.Context, opts PageOptions, fn func(page []SIM) bool) error {
	return listPages(ctx, c, "listSims", "/v1/sims", opts.query(), opts.LastEvaluatedKey, fn)
}

// GetSim returns one SIM with its session status (IsNotFound on 404).
func (c *Client) GetSim(ctx context.Context, simID string) (*SIM, error) {
	var out SIM
	_, err := c.do(ctx, &request{op: "getSim", method: http.MethodGet, path: simPath(simID, ""), out: &out, idempotent: true})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// SetSimGroup puts a SIM into a group (it leaves its previous group).
// Setting the same group again is harmless, so it is retried like an idempotent call.
func (c *Client) SetSimGroup(ctx context.Context, simID, groupID string) (*SIM, error) {
	var out SIM
	_, err := c.do(ctx, &request{op: "setSimGroup", method: http.MethodPost, path: simPath(simID, "/set_group"),
		body: map[string]string{"groupId": groupID}, out: &out, idempotent: true})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// UnsetSimGroup takes a SIM out of its group. Any 2xx is success (the spec
// says 200 with the Sim, some clients expect 204). A 404 means the SIM is
// gone or, on some endpoints, not in a group: callers treat it as done.
func (c *Client) UnsetSimGroup(ctx context.Context, simID string) error {
	_, err := c.do(ctx, &request{op: "unsetSimGroup", method: http.MethodPost, path: simPath(simID, "/unset_group"), idempotent: true})
	return err
}

// DeleteSimSession ends a SIM's session so that it reconnects and picks up
// group and VPG changes. For an offline SIM the server answers SEM0016
// (IsSubscriberOffline), which callers treat as "nothing to do".
func (c *Client) DeleteSimSession(ctx context.Context, simID string) error {
	_, err := c.do(ctx, &request{op: "deleteSimSession", method: http.MethodPost, path: simPath(simID, "/delete_session"), idempotent: true})
	return err
}

func simPath(simID, suffix string) string {
	return "/v1/sims/" + escape(simID) + suffix
}
