package soracom

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Napter On-Demand Remote Access (port mappings): a global address and port
// that forwards TCP to a port of a SIM's device, for a limited time, from
// the source ranges given.

// Napter limits.
const (
	// PortMappingMaxDuration is the longest a port mapping may live
	// (definition: "The maximum duration is 8 hours").
	PortMappingMaxDuration = 8 * time.Hour
)

// Napter services (PortMappingDestination.service).
const (
	NapterServiceAir = "air"
	NapterServiceArc = "arc"
)

// PortMappingDestination is the device end of a port mapping.
type PortMappingDestination struct {
	SimID string
	IMSI  string
	// Port is the device's port.
	Port int
	// Service is "air" or "arc". SORACOM does not send it back; it is
	// derived from destinationChoosingStrategy (AIR_PRIORITIZED,
	// ARC_PRIORITIZED), else empty.
	Service string
	// DestinationChoosingStrategy is AIR_PRIORITIZED, ARC_PRIORITIZED,
	// DYNAMIC or IMSI_PRIORITIZED.
	DestinationChoosingStrategy string
}

// PortMappingSource is who may connect.
type PortMappingSource struct {
	// IPRanges are the CIDRs allowed to connect.
	IPRanges []string
}

// PortMapping is the API's PortMapping object.
type PortMapping struct {
	Hostname  string
	IPAddress string
	// Port is the port of the global endpoint (not the device's).
	Port int
	// Endpoint is "ipAddress:port".
	Endpoint    string
	CreatedTime time.Time
	// ExpiredTime is when SORACOM deletes the mapping.
	ExpiredTime time.Time
	// Duration is the lifetime in seconds.
	Duration    int
	Expired     bool
	Destination PortMappingDestination
	Source      PortMappingSource
	TLSRequired bool
	Placement   string
	OperatorID  string
}

// portMappingJSON is the wire shape: numbers typed "number" in the
// definition are decoded leniently (22 and 22.0).
type portMappingJSON struct {
	Hostname    string          `json:"hostname"`
	IPAddress   string          `json:"ipAddress"`
	Port        json.Number     `json:"port"`
	Endpoint    string          `json:"endpoint"`
	CreatedTime UnixMillis      `json:"createdTime"`
	ExpiredTime UnixMillis      `json:"expiredTime"`
	Duration    json.Number     `json:"duration"`
	Expired     bool            `json:"expired"`
	Destination destinationJSON `json:"destination"`
	Source      struct {
		IPRanges []string `json:"ipRanges"`
	} `json:"source"`
	TLSRequired bool   `json:"tlsRequired"`
	SimID       string `json:"simId"`
	IMSI        string `json:"imsi"`
	Placement   string `json:"placement"`
	OperatorID  string `json:"operatorId"`
}

type destinationJSON struct {
	SimID                       string      `json:"simId"`
	IMSI                        string      `json:"imsi"`
	Port                        json.Number `json:"port"`
	Service                     string      `json:"service"`
	DestinationChoosingStrategy string      `json:"destinationChoosingStrategy"`
}

// wholeNumber converts a JSON number that must be a whole number ("" is 0).
func wholeNumber(field string, n json.Number) (int, error) {
	if n == "" {
		return 0, nil
	}
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
		return 0, fmt.Errorf("soracom: %s: %s is not a whole number", field, n)
	}
	return int(f), nil
}

// UnmarshalJSON decodes the wire shape (times in milliseconds since the epoch).
func (m *PortMapping) UnmarshalJSON(b []byte) error {
	var w portMappingJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	port, err := wholeNumber("port", w.Port)
	if err != nil {
		return err
	}
	dur, err := wholeNumber("duration", w.Duration)
	if err != nil {
		return err
	}
	dport, err := wholeNumber("destination.port", w.Destination.Port)
	if err != nil {
		return err
	}
	d := PortMappingDestination{
		SimID: w.Destination.SimID, IMSI: w.Destination.IMSI, Port: dport,
		Service: w.Destination.Service, DestinationChoosingStrategy: w.Destination.DestinationChoosingStrategy,
	}
	if d.SimID == "" {
		d.SimID = w.SimID
	}
	if d.IMSI == "" {
		d.IMSI = w.IMSI
	}
	if d.Service == "" {
		switch d.DestinationChoosingStrategy {
		case "AIR_PRIORITIZED":
			d.Service = NapterServiceAir
		case "ARC_PRIORITIZED":
			d.Service = NapterServiceArc
		}
	}
	*m = PortMapping{
		Hostname: w.Hostname, IPAddress: w.IPAddress, Port: port, Endpoint: w.Endpoint,
		CreatedTime: w.CreatedTime.Time(), ExpiredTime: w.ExpiredTime.Time(), Duration: dur,
		Expired: w.Expired, Destination: d, Source: PortMappingSource{IPRanges: w.Source.IPRanges},
		TLSRequired: w.TLSRequired, Placement: w.Placement, OperatorID: w.OperatorID,
	}
	return nil
}

// PortMappingRequest is what CreatePortMappingForSIM asks for.
type PortMappingRequest struct {
	// Port is the device's port (1..65535, required).
	Port int
	// Service is "air" or "arc"; empty lets SORACOM pick an online session
	// (which one is not guaranteed when both are online).
	Service string
	// Duration is the mapping's lifetime, sent in whole seconds (at most
	// PortMappingMaxDuration); 0 leaves it to SORACOM.
	Duration time.Duration
	// SourceRanges are the CIDRs allowed to connect; empty omits source.
	SourceRanges []string
	// TLSRequired: TLS between the source and SORACOM (the device speaks plain).
	TLSRequired bool
}

type createPortMappingForSimBody struct {
	Destination struct {
		Port    int    `json:"port"`
		Service string `json:"service,omitempty"`
	} `json:"destination"`
	Duration int64 `json:"duration,omitempty"`
	Source   *struct {
		IPRanges []string `json:"ipRanges"`
	} `json:"source,omitempty"`
	TLSRequired bool `json:"tlsRequired"`
}

func (in PortMappingRequest) body() (*createPortMappingForSimBody, error) {
	if in.Port < 1 || in.Port > 65535 {
		return nil, fmt.Errorf("soracom createPortMappingForSim: port %d is not in 1..65535", in.Port)
	}
	if in.Duration < 0 || in.Duration > PortMappingMaxDuration {
		return nil, fmt.Errorf("soracom createPortMappingForSim: duration %s is not in 0..%s", in.Duration, PortMappingMaxDuration)
	}
	b := &createPortMappingForSimBody{TLSRequired: in.TLSRequired}
	b.Destination.Port, b.Destination.Service = in.Port, in.Service
	// Round up, so a sub-second duration is not sent as "none".
	b.Duration = int64((in.Duration + time.Second - 1) / time.Second)
	if len(in.SourceRanges) > 0 {
		b.Source = &struct {
			IPRanges []string `json:"ipRanges"`
		}{IPRanges: append([]string(nil), in.SourceRanges...)}
	}
	return b, nil
}

// CreatePortMappingForSIM creates a Napter port mapping to simID's device
// (201; createPortMappingForSim). Each call creates a new mapping, so it is
// never retried by the client; list the SIM's mappings before calling again.
func (c *Client) CreatePortMappingForSIM(ctx context.Context, simID string, in PortMappingRequest) (*PortMapping, error) {
	body, err := in.body()
	if err != nil {
		return nil, err
	}
	var out PortMapping
	_, err = c.do(ctx, &request{op: "createPortMappingForSim", method: http.MethodPost,
		path: "/v1/port_mappings/sims/" + escape(simID), body: body, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListPortMappingsForSIM returns simID's port mappings. SORACOM answers 404
// when there are none; that is an empty list and no error.
func (c *Client) ListPortMappingsForSIM(ctx context.Context, simID string) ([]PortMapping, error) {
	var out []PortMapping
	_, err := c.do(ctx, &request{op: "listPortMappingsForSim", method: http.MethodGet,
		path: "/v1/port_mappings/sims/" + escape(simID), out: &out, idempotent: true})
	if IsNotFound(err) {
		return []PortMapping{}, nil
	}
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []PortMapping{}
	}
	return out, nil
}

// ListPortMappings returns every port mapping of the operator (all pages).
func (c *Client) ListPortMappings(ctx context.Context) ([]PortMapping, error) {
	out, err := listAll[PortMapping](ctx, c, "listPortMappings", "/v1/port_mappings", PageOptions{}.query(), "")
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []PortMapping{}
	}
	return out, nil
}

// DeletePortMapping deletes the mapping at ipAddress:port (204). A mapping
// that does not exist (deleted, expired) is an error for which IsNotFound
// is true; since the call is retried after a 5xx, a delete that went
// through before the retry also ends that way, so callers treat it as done.
func (c *Client) DeletePortMapping(ctx context.Context, ipAddress string, port int) error {
	_, err := c.do(ctx, &request{op: "deletePortMapping", method: http.MethodDelete,
		path: "/v1/port_mappings/" + escape(ipAddress) + "/" + strconv.Itoa(port), idempotent: true})
	return err
}
