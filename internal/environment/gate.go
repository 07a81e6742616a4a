package environment

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/soracom"
)

// Gate is SORACOM Gate on the VPG: open/closed, VXLAN id, privacy separator
// and the customer's Gate peers.
type Gate struct {
	peers []soracom.GatePeer // observed customer-owned peers
}

func (*Gate) Condition() string { return accessv1alpha1.ConditionGateReady }

type gateWant struct {
	open      bool
	vxlanID   int
	privacy   bool
	peers     map[string]string // outer -> inner
	peersKeys []string
	// ours, when set, limits which peers not in the spec are unregistered:
	// an adopted gateway is shared, so only the peers this environment
	// registered (status.gateway.gatePeers) may go. Nil: every extra peer goes.
	ours map[string]bool
}

// withOwnership sets want.ours on an adopted gateway.
func withOwnership(p *Pass, want gateWant) gateWant {
	if !isAdopted(p) {
		return want
	}
	want.ours = map[string]bool{}
	if st := p.Env.Status.Gateway; st != nil {
		for _, outer := range st.GatePeers {
			want.ours[outer] = true
		}
	}
	return want
}

// recordPeers notes the spec's peers as ours once they are registered.
func recordPeers(p *Pass, want gateWant) {
	peers := slices.Clone(want.peersKeys)
	sort.Strings(peers)
	gatewayStatus(p).GatePeers = peers
}

func desiredGate(env *accessv1alpha1.RemoteAccessEnvironment) gateWant {
	w := gateWant{open: true, vxlanID: 10, privacy: true, peers: map[string]string{}}
	if g := env.Spec.Soracom.Gateway.Gate; g != nil {
		if g.Enabled != nil {
			w.open = *g.Enabled
		}
		if g.VXLANID != 0 {
			w.vxlanID = int(g.VXLANID)
		}
		if g.PrivacySeparator != nil {
			w.privacy = *g.PrivacySeparator
		}
		for _, peer := range g.Peers {
			w.peers[peer.OuterIPAddress] = peer.InnerIPAddress
			w.peersKeys = append(w.peersKeys, peer.OuterIPAddress)
		}
	}
	return w
}

// withRouters adds the routers (observed in status) as Gate peers: outer
// address their private IP, inner their address in the device subnet.
func withRouters(p *Pass, want gateWant) gateWant {
	for _, r := range p.Env.Status.Routers {
		if r.PrivateIPAddress == "" || r.InnerIPAddress == "" {
			continue
		}
		if _, ok := want.peers[r.PrivateIPAddress]; !ok {
			want.peersKeys = append(want.peersKeys, r.PrivateIPAddress)
		}
		want.peers[r.PrivateIPAddress] = r.InnerIPAddress
	}
	return want
}

func (g *Gate) Observe(ctx context.Context, p *Pass) (Observation, error) {
	vpg := p.vpg
	want := withOwnership(p, withRouters(p, desiredGate(p.Env)))
	if !want.open {
		if vpg.GateOpened {
			return Observation{Exists: true, UpToDate: false, Ready: true, Message: "Gate is open; closing"}, nil
		}
		return Observation{Exists: true, UpToDate: true, Ready: true, Message: "Gate is closed as asked"}, nil
	}
	if !vpg.GateOpened {
		return Observation{Exists: false}, nil
	}
	peers, err := p.Soracom.ListGatePeers(ctx, vpg.VPGID)
	if err != nil {
		return Observation{}, fmt.Errorf("listing Gate peers: %w", err)
	}
	p.gatePeers = peers
	g.peers = g.peers[:0]
	for _, peer := range peers {
		if peer.OwnedByCustomer {
			g.peers = append(g.peers, peer)
		}
	}
	var drift []string
	if vpg.GateVXLANID != want.vxlanID {
		drift = append(drift, fmt.Sprintf("VXLAN id is %d, want %d", vpg.GateVXLANID, want.vxlanID))
	}
	if vpg.GatePrivacySeparatorEnabled != want.privacy {
		drift = append(drift, fmt.Sprintf("privacy separator is %v, want %v", vpg.GatePrivacySeparatorEnabled, want.privacy))
	}
	add, remove := g.peerDiff(want)
	if len(add) > 0 {
		drift = append(drift, "missing Gate peers "+strings.Join(add, ", "))
	}
	if len(remove) > 0 {
		drift = append(drift, "extra Gate peers "+strings.Join(remove, ", "))
	}
	if len(drift) > 0 {
		return Observation{Exists: true, UpToDate: false, Ready: true, Message: strings.Join(drift, "; ")}, nil
	}
	recordPeers(p, want) // every spec peer is registered: ours to take back
	return Observation{Exists: true, UpToDate: true, Ready: true,
		Message: fmt.Sprintf("Gate is open (VXLAN %d, privacy separator %v)", want.vxlanID, want.privacy)}, nil
}

// peerDiff returns the outer addresses to register and to unregister (a peer
// whose inner address changed is in both).
func (g *Gate) peerDiff(want gateWant) (add, remove []string) {
	have := map[string]string{}
	for _, peer := range g.peers {
		have[peer.OuterIPAddress] = peer.InnerIPAddress
	}
	for outer, inner := range want.peers {
		got, ok := have[outer]
		if !ok || (inner != "" && got != inner) {
			add = append(add, outer)
		}
		if ok && inner != "" && got != inner {
			remove = append(remove, outer)
		}
	}
	for outer := range have {
		if _, ok := want.peers[outer]; !ok && (want.ours == nil || want.ours[outer]) {
			remove = append(remove, outer)
		}
	}
	sort.Strings(add)
	sort.Strings(remove)
	return add, remove
}

// Create opens Gate; peers follow in Update.
func (g *Gate) Create(ctx context.Context, p *Pass) error {
	want := desiredGate(p.Env)
	if err := p.Soracom.OpenGate(ctx, p.vpg.VPGID, want.vxlanID, want.privacy); err != nil {
		return fmt.Errorf("opening Gate: %w", err)
	}
	p.vpg.GateOpened, p.vpg.GateVXLANID, p.vpg.GatePrivacySeparatorEnabled = true, want.vxlanID, want.privacy
	gatewayStatus(p).GateOpened = true
	p.Event(corev1.EventTypeNormal, "GateOpened", "Update", fmt.Sprintf("opened Gate on %s (VXLAN %d)", p.vpg.VPGID, want.vxlanID))
	return nil
}

func (g *Gate) Update(ctx context.Context, p *Pass) error {
	vpg := p.vpg
	want := withOwnership(p, withRouters(p, desiredGate(p.Env)))
	if !want.open {
		if err := p.Soracom.CloseGate(ctx, vpg.VPGID); err != nil {
			return fmt.Errorf("closing Gate: %w", err)
		}
		vpg.GateOpened = false
		gatewayStatus(p).GateOpened = false
		p.Event(corev1.EventTypeNormal, "GateClosed", "Update", "closed Gate on "+vpg.VPGID)
		return nil
	}
	if vpg.GateVXLANID != want.vxlanID {
		if err := p.Soracom.SetGateVXLANID(ctx, vpg.VPGID, want.vxlanID); err != nil {
			return fmt.Errorf("setting the VXLAN id: %w", err)
		}
		vpg.GateVXLANID = want.vxlanID
	}
	if vpg.GatePrivacySeparatorEnabled != want.privacy {
		var err error
		if want.privacy {
			err = p.Soracom.EnableGatePrivacySeparator(ctx, vpg.VPGID)
		} else {
			err = p.Soracom.DisableGatePrivacySeparator(ctx, vpg.VPGID)
		}
		if err != nil {
			return fmt.Errorf("setting the privacy separator: %w", err)
		}
		vpg.GatePrivacySeparatorEnabled = want.privacy
	}
	add, remove := g.peerDiff(want)
	for _, outer := range remove {
		if err := p.Soracom.UnregisterGatePeer(ctx, vpg.VPGID, outer); err != nil && !soracom.IsNotFound(err) {
			return fmt.Errorf("unregistering Gate peer %s: %w", outer, err)
		}
	}
	for _, outer := range add {
		if _, err := p.Soracom.RegisterGatePeer(ctx, vpg.VPGID, &soracom.RegisterGatePeerRequest{OuterIPAddress: outer, InnerIPAddress: want.peers[outer]}); err != nil {
			return fmt.Errorf("registering Gate peer %s: %w", outer, err)
		}
	}
	recordPeers(p, want)
	if len(add)+len(remove) > 0 {
		p.Event(corev1.EventTypeNormal, "GatePeersUpdated", "Update", fmt.Sprintf("registered %d and unregistered %d Gate peers", len(add), len(remove)))
	}
	return nil
}

// Delete unregisters the customer's peers and closes Gate. On an adopted
// gateway Gate is left open (others may use it); only our peers go.
func (g *Gate) Delete(ctx context.Context, p *Pass) (bool, error) {
	vpg, err := gatewayForDelete(ctx, p)
	if vpg == nil {
		return err == nil, err
	}
	id := vpg.VPGID
	if !vpg.GateOpened {
		return true, nil
	}
	want := desiredGate(p.Env)
	peers := slices.Clone(want.peersKeys)
	if st := p.Env.Status.Gateway; st != nil {
		peers = append(peers, st.GatePeers...)
	}
	slices.Sort(peers)
	for _, outer := range slices.Compact(peers) {
		if err := p.Soracom.UnregisterGatePeer(ctx, id, outer); err != nil && !soracom.IsNotFound(err) {
			return false, fmt.Errorf("unregistering Gate peer %s: %w", outer, err)
		}
	}
	if isAdopted(p) {
		return true, nil
	}
	if err := p.Soracom.CloseGate(ctx, id); err != nil && !soracom.IsNotFound(err) {
		return false, fmt.Errorf("closing Gate: %w", err)
	}
	return true, nil
}

func gatewayID(p *Pass) string {
	if p.Env.Spec.Soracom.Gateway.ID != "" {
		return p.Env.Spec.Soracom.Gateway.ID
	}
	if p.Env.Status.Gateway != nil {
		return p.Env.Status.Gateway.ID
	}
	return ""
}

func isAdopted(p *Pass) bool {
	return p.Env.Spec.Soracom.Gateway.ID != "" || (p.Env.Status.Gateway != nil && p.Env.Status.Gateway.Adopted)
}

// gatewayForDelete reads the recorded gateway for a unit that deletes
// something on it; nil when there is none (never created, or gone).
func gatewayForDelete(ctx context.Context, p *Pass) (*soracom.VirtualPrivateGateway, error) {
	id := gatewayID(p)
	if id == "" {
		return nil, nil
	}
	vpg, err := p.Soracom.GetVirtualPrivateGateway(ctx, id)
	if soracom.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if vpg.VPGID == "" {
		vpg.VPGID = id
	}
	return vpg, nil
}
