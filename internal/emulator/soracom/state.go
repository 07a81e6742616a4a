package soracom

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"
)

// VPG statuses. The API spec lists only "running"; "creating" and
// "terminating" come from the console strings (reference §2, UNCONFIRMED).
const (
	VPGCreating    = "creating"
	VPGRunning     = "running"
	VPGTerminating = "terminating"
)

// VPG types (reference §2).
const (
	VPGTypeE  = 14
	VPGTypeF  = 15
	VPGTypeF2 = 242
)

// Placement is where a VPG runs.
type Placement struct {
	InfrastructureProvider string `json:"infrastructureProvider"`
	Region                 string `json:"region"`
}

// GatePeer is a Gate VXLAN peer.
type GatePeer struct {
	OuterIPAddress  string `json:"outerIpAddress"`
	InnerIPAddress  string `json:"innerIpAddress,omitempty"`
	Netmask         string `json:"netmask,omitempty"`
	OwnedByCustomer bool   `json:"ownedByCustomer"`
}

// VPG is a Virtual Private Gateway as the API returns it (plus two Go-only fields).
type VPG struct {
	VPGID                       string            `json:"vpgId"`
	OperatorID                  string            `json:"operatorId"`
	Type                        int               `json:"type"`
	Status                      string            `json:"status"`
	Tags                        map[string]string `json:"tags"`
	Placement                   Placement         `json:"placement"`
	CreatedTime                 int64             `json:"createdTime"`
	LastModifiedTime            int64             `json:"lastModifiedTime"`
	DeviceSubnetCidrRange       string            `json:"deviceSubnetCidrRange"`
	UeSubnetCidrRange           string            `json:"ueSubnetCidrRange"`
	VPGSubnetCidrRange          string            `json:"vpgSubnetCidrRange"`
	UseInternetGateway          bool              `json:"useInternetGateway"`
	FixedIPAddressesEnabled     bool              `json:"fixedIpAddressesEnabled"`
	GateOpened                  bool              `json:"gateOpened"`
	GatePrivacySeparatorEnabled bool              `json:"gatePrivacySeparatorEnabled"`
	GateVxlanID                 int               `json:"gateVxlanId,omitempty"`
	EnableSimBasedRouting       bool              `json:"enableSimBasedRouting"`
	SimBasedRoutingConfig       map[string]string `json:"simBasedRoutingConfig"`
	// VPCPeeringConnections maps pcx id -> destinationCidrBlock. The value
	// shape is UNCONFIRMED (the spec only says map of string to string).
	VPCPeeringConnections map[string]string `json:"vpcPeeringConnections"`
	// JunctionEnabled is true while a mirroring peer, inspection or
	// redirection is enabled (definition: "Junction (Mirroring, Inspection,
	// or Redirection) is enabled"); it is computed on every read.
	JunctionEnabled bool `json:"junctionEnabled"`
	// Mirroring, Inspection and Redirection are the Junction settings
	// (definition: VirtualPrivateGateway.mirroring{peers},
	// JunctionInspectionConfiguration, JunctionRedirectionConfiguration).
	// GUESS: absent from the JSON until set (and again after unset;
	// mirroring while it has no peer).
	Mirroring   *JunctionMirroring   `json:"mirroring,omitempty"`
	Inspection  *JunctionInspection  `json:"inspection,omitempty"`
	Redirection *JunctionRedirection `json:"redirection,omitempty"`

	// GatePeers are the customer-owned Gate peers (Go API only; the wire has GET …/gate/peers).
	GatePeers []GatePeer `json:"-"`
	// SoracomVPCID is SORACOM's VPC that requests Canal peerings (Go API only).
	SoracomVPCID string `json:"-"`
}

// JunctionMirroringPeer is a Junction mirroring peer (definition: JunctionMirroringPeer).
type JunctionMirroringPeer struct {
	IPAddress   string `json:"ipAddress"`
	Protocol    string `json:"protocol"` // enum: gre
	Enabled     bool   `json:"enabled"`
	Description string `json:"description,omitempty"`
}

// JunctionMirroring is VirtualPrivateGateway.mirroring: peers by IP address.
type JunctionMirroring struct {
	Peers map[string]JunctionMirroringPeer `json:"peers"`
}

// JunctionInspection is JunctionInspectionConfiguration (its "report"
// Funnel destination is not emulated).
type JunctionInspection struct {
	Enabled bool `json:"enabled"`
}

// JunctionRedirection is JunctionRedirectionConfiguration.
type JunctionRedirection struct {
	Gateway     string `json:"gateway"`
	Enabled     bool   `json:"enabled"`
	Description string `json:"description,omitempty"`
}

func (m *JunctionMirroring) clone() *JunctionMirroring {
	if m == nil {
		return nil
	}
	return &JunctionMirroring{Peers: maps.Clone(m.Peers)}
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

// junctionEnabled: any enabled mirroring peer, inspection or redirection.
// GUESS: the definition does not say whether a configured but disabled
// feature counts.
func (v *VPG) junctionEnabled() bool {
	if v.Inspection != nil && v.Inspection.Enabled || v.Redirection != nil && v.Redirection.Enabled {
		return true
	}
	if v.Mirroring != nil {
		for _, p := range v.Mirroring.Peers {
			if p.Enabled {
				return true
			}
		}
	}
	return false
}

// Group is a SIM group as the API returns it.
type Group struct {
	GroupID    string            `json:"groupId"`
	OperatorID string            `json:"operatorId"`
	Tags       map[string]string `json:"tags"`
	// Configuration is namespace -> key -> JSON value.
	Configuration    map[string]map[string]json.RawMessage `json:"configuration"`
	CreatedTime      int64                                 `json:"createdTime"`
	LastModifiedTime int64                                 `json:"lastModifiedTime"`
	// The spec example also shows these two names for the same times.
	CreatedAt      int64 `json:"createdAt"`
	LastModifiedAt int64 `json:"lastModifiedAt"`
}

// SIM is a SIM as seeded and inspected through the Go API (the wire shape is simJSON).
type SIM struct {
	ID          string
	IMSI        string
	Status      string // default "active"
	Tags        map[string]string
	GroupID     string
	Online      bool
	UEIPAddress string
	// OperatorID owns the SIM; empty means the first operator added.
	OperatorID string
	// VPGID is the VPG the current session uses ("" when none).
	VPGID string
	// SessionID identifies the current session (changes on every reconnect).
	SessionID string
}

type operator struct {
	id, authKeyID, authKey string
}

type tokenRec struct {
	apiKey     string
	operatorID string
	expires    time.Time
}

type vpgRec struct {
	v           VPG
	createdAt   time.Time
	terminateAt time.Time // zero until terminate
	ipBySIM     map[string]string
	nextOffset  uint32
}

type groupRec struct{ g Group }

type simRec struct {
	sim           SIM
	createdTime   int64
	lastUpdatedAt int64
}

type rateKey struct{ who, path string }

type rateWindow struct {
	start time.Time
	count int
}

type state struct {
	rng *rand.Rand

	operators     map[string]*operator
	operatorOrder []string
	byKeyID       map[string]*operator
	apiKeys       map[string]string // apiKey -> operatorID
	tokens        map[string]*tokenRec

	vpgs          map[string]*vpgRec
	vpgsEver      int
	vpgSubnetNext uint32

	groups     map[string]*groupRec
	groupsEver int

	sims    map[string]*simRec
	airNext uint32
	airIPs  map[string]string

	rate map[rateKey]*rateWindow

	napter napterState // Napter port mappings (napter.go)
}

func newState() *state {
	return &state{
		rng:       rand.New(rand.NewPCG(0x50ac0, 0x9a7e)),
		operators: map[string]*operator{},
		byKeyID:   map[string]*operator{},
		apiKeys:   map[string]string{},
		tokens:    map[string]*tokenRec{},
		vpgs:      map[string]*vpgRec{},
		groups:    map[string]*groupRec{},
		sims:      map[string]*simRec{},
		airIPs:    map[string]string{},
		rate:      map[rateKey]*rateWindow{},
	}
}

// randHex returns n random hex digits (deterministic sequence: seeded source).
func (st *state) randHex(n int) string {
	b := make([]byte, (n+1)/2)
	for i := 0; i < len(b); i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], st.rng.Uint64())
		copy(b[i:], w[:])
	}
	return hex.EncodeToString(b)[:n]
}

func (st *state) uuid() string {
	h := st.randHex(32)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

// sweep forgets VPGs whose termination has completed.
func (st *state) sweep(now time.Time, terminateDelay time.Duration) {
	for id, r := range st.vpgs {
		if !r.terminateAt.IsZero() && !now.Before(r.terminateAt.Add(terminateDelay)) {
			delete(st.vpgs, id)
		}
	}
}

// defaultOperator owns SIMs seeded without an operator id.
func (st *state) defaultOperator() string {
	if len(st.operatorOrder) == 0 {
		return ""
	}
	return st.operatorOrder[0]
}

func (st *state) simOwner(r *simRec) string {
	if r.sim.OperatorID != "" {
		return r.sim.OperatorID
	}
	return st.defaultOperator()
}

// ---- snapshots (deep copies handed out of the lock) ----

func cloneStrMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return maps.Clone(m)
}

func (r *vpgRec) snapshot(now time.Time, createDelay time.Duration) VPG {
	v := r.v
	v.Tags = cloneStrMap(v.Tags)
	v.SimBasedRoutingConfig = cloneStrMap(v.SimBasedRoutingConfig)
	v.VPCPeeringConnections = cloneStrMap(v.VPCPeeringConnections)
	v.GatePeers = slices.Clone(v.GatePeers)
	v.Mirroring = v.Mirroring.clone()
	if v.Mirroring != nil && len(v.Mirroring.Peers) == 0 {
		v.Mirroring = nil
	}
	v.Inspection = clonePtr(v.Inspection)
	v.Redirection = clonePtr(v.Redirection)
	v.JunctionEnabled = v.junctionEnabled()
	v.Status = r.status(now, createDelay)
	return v
}

func (r *vpgRec) status(now time.Time, createDelay time.Duration) string {
	switch {
	case !r.terminateAt.IsZero():
		return VPGTerminating
	case now.Before(r.createdAt.Add(createDelay)):
		return VPGCreating
	default:
		return VPGRunning
	}
}

func (r *groupRec) snapshot() Group {
	g := r.g
	g.Tags = cloneStrMap(g.Tags)
	g.Configuration = make(map[string]map[string]json.RawMessage, len(r.g.Configuration))
	for ns, kv := range r.g.Configuration {
		c := make(map[string]json.RawMessage, len(kv))
		for k, v := range kv {
			c[k] = slices.Clone(v)
		}
		g.Configuration[ns] = c
	}
	return g
}

func (r *simRec) snapshot(owner string) SIM {
	s := r.sim
	s.Tags = cloneStrMap(s.Tags)
	s.OperatorID = owner
	return s
}

// ---- IPv4 helpers ----

func u32(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

func addr(u uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], u)
	return netip.AddrFrom4(b)
}

// parseCIDR4 parses an IPv4 CIDR whose address is the network address.
func parseCIDR4(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%s is not an IPv4 range", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%s is not a network address (did you mean %s?)", s, p.Masked())
	}
	return p, nil
}

func lastAddr(p netip.Prefix) uint32 {
	return u32(p.Addr()) | (^uint32(0) >> p.Bits())
}

func netmask(p netip.Prefix) string {
	return addr(^uint32(0) << (32 - p.Bits())).String()
}

var (
	cgnat     = netip.MustParsePrefix("100.64.0.0/10")
	benchmark = netip.MustParsePrefix("198.18.0.0/15")
	rfc1918   = []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("192.168.0.0/16"),
	}
	airPool = netip.MustParsePrefix("10.0.0.0/8") // addresses of sessions without a VPG
)

func contains(outer, inner netip.Prefix) bool {
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}
