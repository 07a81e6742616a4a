package soracom

import (
	"cmp"
	"maps"
	"slices"
)

// NetworkSnapshot is the data plane as the emulator sees it at one instant:
// what a packet walker (or a test) needs to follow traffic between SIMs,
// VPGs, Gate peers and Canal. Every field is a deep copy: changing it does
// not change the emulator.
type NetworkSnapshot struct {
	// VPGs are every VPG not yet gone (terminating ones included), of every
	// operator, ordered by ID.
	VPGs []VPGNetwork
	// SIMs are every SIM, ordered by ID.
	SIMs []SIMNetwork
}

// VPGNetwork is one VPG's addressing, Gate, SIM-based routing, Junction and Canal.
type VPGNetwork struct {
	ID         string
	OperatorID string
	Type       int
	// Status is creating, running or terminating.
	Status string

	DeviceSubnetCidrRange string
	VPGSubnetCidrRange    string
	UseInternetGateway    bool

	GateOpened                  bool
	GatePrivacySeparatorEnabled bool
	GateVxlanID                 int
	// OwnGatePeers are the VPG's own Gate peers (OwnedByCustomer false), as
	// GET …/gate/peers lists them: only while Gate is open.
	OwnGatePeers []GatePeer
	// CustomerGatePeers are the registered customer peers (OwnedByCustomer
	// true), in registration order, whether or not Gate is open.
	CustomerGatePeers []GatePeer

	EnableSimBasedRouting bool
	// SimBasedRoutingConfig is simId -> LAN CIDR (never nil).
	SimBasedRoutingConfig map[string]string

	JunctionEnabled bool
	// MirroringPeers are the Junction mirroring peers by IP address (never nil).
	MirroringPeers map[string]JunctionMirroringPeer
	// Inspection and Redirection are nil when not set.
	Inspection  *JunctionInspection
	Redirection *JunctionRedirection

	// VPCPeeringConnections is pcx id -> destinationCidrBlock (never nil).
	VPCPeeringConnections map[string]string
	// SoracomVPCID is SORACOM's VPC, the requester of the Canal peerings.
	SoracomVPCID string
}

// SIMNetwork is one SIM's session.
type SIMNetwork struct {
	ID         string
	IMSI       string
	OperatorID string
	Status     string
	GroupID    string
	Online     bool
	// SessionVPGID is the VPG the current session uses ("" when offline or
	// not on a VPG).
	SessionVPGID string
	// IPAddress is the session's UE address ("" when offline).
	IPAddress string
}

// NetworkSnapshot returns deep copies, taken under the lock, of every VPG and SIM.
func (s *Server) NetworkSnapshot() NetworkSnapshot {
	now, unlock := s.lock()
	defer unlock()
	out := NetworkSnapshot{
		VPGs: make([]VPGNetwork, 0, len(s.st.vpgs)),
		SIMs: make([]SIMNetwork, 0, len(s.st.sims)),
	}
	for _, r := range s.st.vpgs {
		v := s.snapVPG(now, r) // deep copy, status and junctionEnabled computed
		n := VPGNetwork{
			ID:                          v.VPGID,
			OperatorID:                  v.OperatorID,
			Type:                        v.Type,
			Status:                      v.Status,
			DeviceSubnetCidrRange:       v.DeviceSubnetCidrRange,
			VPGSubnetCidrRange:          v.VPGSubnetCidrRange,
			UseInternetGateway:          v.UseInternetGateway,
			GateOpened:                  v.GateOpened,
			GatePrivacySeparatorEnabled: v.GatePrivacySeparatorEnabled,
			GateVxlanID:                 v.GateVxlanID,
			OwnGatePeers:                []GatePeer{},
			CustomerGatePeers:           v.GatePeers,
			EnableSimBasedRouting:       v.EnableSimBasedRouting,
			SimBasedRoutingConfig:       v.SimBasedRoutingConfig,
			JunctionEnabled:             v.JunctionEnabled,
			MirroringPeers:              map[string]JunctionMirroringPeer{},
			Inspection:                  v.Inspection,
			Redirection:                 v.Redirection,
			VPCPeeringConnections:       v.VPCPeeringConnections,
			SoracomVPCID:                v.SoracomVPCID,
		}
		if n.CustomerGatePeers == nil {
			n.CustomerGatePeers = []GatePeer{}
		}
		if v.GateOpened {
			n.OwnGatePeers = append(n.OwnGatePeers, r.ownPeer())
		}
		if v.Mirroring != nil {
			n.MirroringPeers = maps.Clone(v.Mirroring.Peers)
		}
		out.VPGs = append(out.VPGs, n)
	}
	for _, r := range s.st.sims {
		sim := r.sim
		out.SIMs = append(out.SIMs, SIMNetwork{
			ID:           sim.ID,
			IMSI:         sim.IMSI,
			OperatorID:   s.st.simOwner(r),
			Status:       sim.Status,
			GroupID:      sim.GroupID,
			Online:       sim.Online,
			SessionVPGID: sim.VPGID,
			IPAddress:    sim.UEIPAddress,
		})
	}
	slices.SortFunc(out.VPGs, func(a, b VPGNetwork) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(out.SIMs, func(a, b SIMNetwork) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
