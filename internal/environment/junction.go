package environment

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/soracom"
)

// Junction converges SORACOM Junction on the gateway: the redirection of the
// return path (router.returnPath JunctionRedirection sends device traffic to
// the router's inner address), and spec.soracom.junction's inspection,
// mirroring peers and redirection. What gatestream set is recorded in
// status.junction, so that on an adopted (shared) gateway only that is undone.
type Junction struct{}

func (Junction) Condition() string { return accessv1alpha1.ConditionJunctionReady }

type junctionWant struct {
	// redirection: nil leaves it alone; "" unsets it.
	redirection *soracom.JunctionRedirection
	unsetRedir  bool
	inspection  *bool // nil: leave alone
	unsetInsp   bool
	peers       map[string]soracom.JunctionMirroringPeer
	removePeers []string
}

func junctionSpec(p *Pass) *accessv1alpha1.JunctionSpec {
	if j := p.Env.Spec.Soracom.Junction; j != nil {
		return j
	}
	return &accessv1alpha1.JunctionSpec{}
}

func junctionStatus(p *Pass) *accessv1alpha1.JunctionStatus {
	if p.Env.Status.Junction == nil {
		p.Env.Status.Junction = &accessv1alpha1.JunctionStatus{}
	}
	return p.Env.Status.Junction
}

func desiredJunction(p *Pass) (junctionWant, string) {
	spec, st := junctionSpec(p), junctionStatus(p)
	w := junctionWant{peers: map[string]soracom.JunctionMirroringPeer{}}
	switch {
	case returnPath(p.Env) == accessv1alpha1.ReturnPathJunctionRedirection:
		if len(p.Env.Status.Routers) == 0 || p.Env.Status.Routers[0].InnerIPAddress == "" {
			return w, "waiting for the router's inner address"
		}
		w.redirection = &soracom.JunctionRedirection{Gateway: p.Env.Status.Routers[0].InnerIPAddress, Enabled: true,
			Description: "gatestream: return path to the router"}
	case spec.Redirection != nil:
		w.redirection = &soracom.JunctionRedirection{Gateway: spec.Redirection.Gateway, Description: spec.Redirection.Description, Enabled: true}
	case st.Redirection != "":
		w.unsetRedir = true
	}
	switch {
	case spec.Inspection != nil:
		w.inspection = spec.Inspection
	case st.Inspection != nil:
		w.unsetInsp = true
	}
	for _, peer := range spec.MirroringPeers {
		w.peers[peer.IPAddress] = soracom.JunctionMirroringPeer{IPAddress: peer.IPAddress, Protocol: "gre",
			Description: peer.Description, Enabled: peer.Enabled == nil || *peer.Enabled}
	}
	var have []string
	if m := p.vpg.Mirroring; m != nil {
		for ip := range m.Peers {
			have = append(have, ip)
		}
	}
	for _, ip := range have {
		_, wanted := w.peers[ip]
		// On a gateway gatestream owns, a peer not in the spec goes when the
		// spec lists Junction; on an adopted one only the peers gatestream added.
		ours := slices.Contains(st.MirroringPeers, ip) || (!isAdopted(p) && p.Env.Spec.Soracom.Junction != nil)
		if !wanted && ours {
			w.removePeers = append(w.removePeers, ip)
		}
	}
	sort.Strings(w.removePeers)
	return w, ""
}

func (j Junction) Observe(_ context.Context, p *Pass) (Observation, error) {
	w, waiting := desiredJunction(p)
	if waiting != "" {
		return Observation{Exists: true, UpToDate: true, Reason: accessv1alpha1.ReasonWaitingForDependency, Message: waiting}, nil
	}
	if changes := junctionChanges(p, w); len(changes) > 0 {
		var what []string
		for _, c := range changes {
			what = append(what, c.what)
		}
		return Observation{Exists: true, UpToDate: false, Ready: true, Message: strings.Join(what, "; ")}, nil
	}
	recordJunction(p, w)
	return Observation{Exists: true, UpToDate: true, Ready: true, Message: junctionSummary(p.vpg)}, nil
}

// junctionChange is one difference between the gateway's Junction and the
// wanted one: what it is (for the condition) and the call that mends it.
type junctionChange struct {
	what  string
	apply func(ctx context.Context) error
}

// junctionChanges lists the differences in the order they are mended; each
// apply also updates vpg, so that the pass's view stays current.
func junctionChanges(p *Pass, w junctionWant) []junctionChange {
	vpg, id := p.vpg, p.vpg.VPGID
	var out []junctionChange
	add := func(what string, apply func(context.Context) error) { out = append(out, junctionChange{what, apply}) }
	r := vpg.Redirection
	redirecting := r != nil && r.Enabled && r.Gateway != ""
	switch {
	case w.redirection != nil && (!redirecting || r.Gateway != w.redirection.Gateway):
		want := *w.redirection
		add("redirection should go to "+want.Gateway, func(ctx context.Context) error {
			if err := p.Soracom.SetRedirection(ctx, id, want); err != nil {
				return fmt.Errorf("setting Junction redirection to %s: %w", want.Gateway, err)
			}
			vpg.Redirection = &want
			return nil
		})
	case w.unsetRedir && redirecting:
		add("redirection to "+r.Gateway+" should be removed", func(ctx context.Context) error {
			if err := p.Soracom.UnsetRedirection(ctx, id); err != nil {
				return fmt.Errorf("removing Junction redirection: %w", err)
			}
			vpg.Redirection = nil
			return nil
		})
	}
	inspecting := vpg.Inspection != nil && vpg.Inspection.Enabled
	switch {
	case w.inspection != nil && *w.inspection && !inspecting:
		add("inspection should be on", func(ctx context.Context) error {
			if err := p.Soracom.SetInspection(ctx, id, true); err != nil {
				return fmt.Errorf("setting Junction inspection: %w", err)
			}
			vpg.Inspection = &soracom.JunctionInspection{Enabled: true}
			return nil
		})
	case (w.inspection != nil && !*w.inspection || w.unsetInsp) && inspecting:
		add("inspection should be off", func(ctx context.Context) error {
			if err := p.Soracom.UnsetInspection(ctx, id); err != nil {
				return fmt.Errorf("turning Junction inspection off: %w", err)
			}
			vpg.Inspection = nil
			return nil
		})
	}
	for _, ip := range sortedKeys(w.peers) {
		want := w.peers[ip]
		if got, ok := mirroringPeer(vpg, ip); ok && got.Enabled == want.Enabled && got.Description == want.Description {
			continue
		}
		add("mirroring peer "+ip+" should be set", func(ctx context.Context) error {
			if err := p.Soracom.PutMirroringPeer(ctx, id, want); err != nil {
				return fmt.Errorf("setting Junction mirroring peer %s: %w", ip, err)
			}
			setMirroringPeer(vpg, want)
			return nil
		})
	}
	for _, ip := range w.removePeers {
		add("mirroring peer "+ip+" should be removed", func(ctx context.Context) error {
			if err := p.Soracom.DeleteMirroringPeer(ctx, id, ip); err != nil && !soracom.IsNotFound(err) {
				return fmt.Errorf("removing Junction mirroring peer %s: %w", ip, err)
			}
			if vpg.Mirroring != nil {
				delete(vpg.Mirroring.Peers, ip)
			}
			return nil
		})
	}
	return out
}

func mirroringPeer(vpg *soracom.VirtualPrivateGateway, ip string) (soracom.JunctionMirroringPeer, bool) {
	if vpg.Mirroring == nil {
		return soracom.JunctionMirroringPeer{}, false
	}
	peer, ok := vpg.Mirroring.Peers[ip]
	return peer, ok
}

func setMirroringPeer(vpg *soracom.VirtualPrivateGateway, peer soracom.JunctionMirroringPeer) {
	if vpg.Mirroring == nil {
		vpg.Mirroring = &soracom.JunctionMirroring{}
	}
	if vpg.Mirroring.Peers == nil {
		vpg.Mirroring.Peers = map[string]soracom.JunctionMirroringPeer{}
	}
	vpg.Mirroring.Peers[peer.IPAddress] = peer
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func junctionSummary(vpg *soracom.VirtualPrivateGateway) string {
	var parts []string
	if r := vpg.Redirection; r != nil && r.Enabled && r.Gateway != "" {
		parts = append(parts, "redirection to "+r.Gateway)
	}
	if vpg.Inspection != nil && vpg.Inspection.Enabled {
		parts = append(parts, "inspection on")
	}
	if vpg.Mirroring != nil && len(vpg.Mirroring.Peers) > 0 {
		parts = append(parts, fmt.Sprintf("%d mirroring peers", len(vpg.Mirroring.Peers)))
	}
	if len(parts) == 0 {
		return "Junction is off"
	}
	return "Junction: " + strings.Join(parts, ", ")
}

// recordJunction notes what gatestream set (and so may undo).
func recordJunction(p *Pass, w junctionWant) {
	st := junctionStatus(p)
	switch {
	case w.redirection != nil:
		st.Redirection = w.redirection.Gateway
	case w.unsetRedir:
		st.Redirection = ""
	}
	switch {
	case w.inspection != nil:
		st.Inspection = w.inspection
	case w.unsetInsp:
		st.Inspection = nil
	}
	st.MirroringPeers = sortedKeys(w.peers)
	if st.Redirection == "" && st.Inspection == nil && len(st.MirroringPeers) == 0 {
		p.Env.Status.Junction = nil
	}
}

func (Junction) Create(context.Context, *Pass) error { return nil } // Observe always reports Exists

func (j Junction) Update(ctx context.Context, p *Pass) error {
	w, _ := desiredJunction(p)
	for _, c := range junctionChanges(p, w) {
		if err := c.apply(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Delete undoes what gatestream set, on an adopted gateway only (a gateway
// gatestream owns is terminated with all of its settings).
func (Junction) Delete(ctx context.Context, p *Pass) (bool, error) {
	st := p.Env.Status.Junction
	if st == nil || !isAdopted(p) {
		return true, nil
	}
	id := gatewayID(p)
	if st.Redirection != "" {
		if err := p.Soracom.UnsetRedirection(ctx, id); err != nil && !soracom.IsNotFound(err) {
			return false, fmt.Errorf("removing Junction redirection: %w", err)
		}
		st.Redirection = ""
	}
	if st.Inspection != nil {
		if err := p.Soracom.UnsetInspection(ctx, id); err != nil && !soracom.IsNotFound(err) {
			return false, fmt.Errorf("turning Junction inspection off: %w", err)
		}
		st.Inspection = nil
	}
	for len(st.MirroringPeers) > 0 {
		if err := p.Soracom.DeleteMirroringPeer(ctx, id, st.MirroringPeers[0]); err != nil && !soracom.IsNotFound(err) {
			return false, fmt.Errorf("removing Junction mirroring peer %s: %w", st.MirroringPeers[0], err)
		}
		st.MirroringPeers = st.MirroringPeers[1:]
	}
	p.Env.Status.Junction = nil
	return true, nil
}
