package soracom

import (
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// Junction rules (definition: /virtual_private_gateways/{vpg_id}/junction/…,
// reference §5). The definition documents only the success status (201 for
// a mirroring peer, 204 for its removal, 200 otherwise) and 404 "No such VPG
// found"; every 400 below is a GUESS at what SORACOM refuses, answered with
// the emulator's VPG codes. GUESS: Junction needs a running VPG of any type.
// Methods named *Locked run with s.mu held.

const mirroringProtocolGRE = "gre" // JunctionMirroringPeer.protocol enum

// mirroringPeerRequest is JunctionMirroringPeer as a request body.
type mirroringPeerRequest struct {
	IPAddress   string `json:"ipAddress"`
	Protocol    string `json:"protocol"`
	Enabled     *bool  `json:"enabled"`
	Description string `json:"description"`
}

func parseIPv4(field, s string) (netip.Addr, *apiError) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, vpgInvalid("%s must be an IPv4 address", field)
	}
	return a, nil
}

// putMirroringPeerLocked adds or replaces a peer (the definition: "Mirroring
// peer added/updated"). enabled defaults to false (definition default);
// GUESS: an empty protocol means "gre".
func (s *Server) putMirroringPeerLocked(now time.Time, opID, id string, req mirroringPeerRequest) (VPG, *apiError) {
	r, err := s.runningLocked(now, opID, id)
	if err != nil {
		return VPG{}, err
	}
	ip, err := parseIPv4("ipAddress", req.IPAddress)
	if err != nil {
		return VPG{}, err
	}
	p := JunctionMirroringPeer{IPAddress: ip.String(), Protocol: req.Protocol, Enabled: req.Enabled != nil && *req.Enabled, Description: req.Description}
	if p.Protocol == "" {
		p.Protocol = mirroringProtocolGRE
	}
	if p.Protocol != mirroringProtocolGRE {
		return VPG{}, vpgInvalid("protocol must be %q", mirroringProtocolGRE)
	}
	if r.v.Mirroring == nil {
		r.v.Mirroring = &JunctionMirroring{}
	}
	if r.v.Mirroring.Peers == nil {
		r.v.Mirroring.Peers = map[string]JunctionMirroringPeer{}
	}
	r.v.Mirroring.Peers[p.IPAddress] = p
	r.touch(now)
	return s.snapVPG(now, r), nil
}

// attributeUpdate is the definition's AttributeUpdate {key, value} (both strings).
type attributeUpdate struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// updateMirroringPeerLocked applies AttributeUpdates to an existing peer.
// GUESS: the keys are the peer's own fields (description, enabled as
// "true"/"false", protocol); ipAddress cannot change; an unknown peer is 404.
func (s *Server) updateMirroringPeerLocked(now time.Time, opID, id, ipaddr string, upd []attributeUpdate) (VPG, *apiError) {
	r, err := s.runningLocked(now, opID, id)
	if err != nil {
		return VPG{}, err
	}
	p, ok := r.mirroringPeer(ipaddr)
	if !ok {
		return VPG{}, mirroringPeerNotFound(ipaddr)
	}
	for _, u := range upd {
		switch u.Key {
		case "description":
			p.Description = u.Value
		case "enabled":
			b, perr := strconv.ParseBool(u.Value)
			if perr != nil {
				return VPG{}, vpgInvalid("enabled must be true or false")
			}
			p.Enabled = b
		case "protocol":
			if u.Value != mirroringProtocolGRE {
				return VPG{}, vpgInvalid("protocol must be %q", mirroringProtocolGRE)
			}
			p.Protocol = u.Value
		default:
			return VPG{}, vpgInvalid("attribute %q cannot be updated", u.Key)
		}
	}
	r.v.Mirroring.Peers[p.IPAddress] = p
	r.touch(now)
	return s.snapVPG(now, r), nil
}

func (r *vpgRec) mirroringPeer(ipaddr string) (JunctionMirroringPeer, bool) {
	if r.v.Mirroring == nil {
		return JunctionMirroringPeer{}, false
	}
	p, ok := r.v.Mirroring.Peers[ipaddr]
	return p, ok
}

func mirroringPeerNotFound(ipaddr string) *apiError {
	return errTemplate(http.StatusNotFound, codeVPGNotFound, "Mirroring peer %s not found", ipaddr)
}

// deleteMirroringPeerLocked removes a peer (GUESS: an unknown peer is 404).
func (s *Server) deleteMirroringPeerLocked(now time.Time, opID, id, ipaddr string) *apiError {
	r, err := s.vpgLocked(opID, id)
	if err != nil {
		return err
	}
	if _, ok := r.mirroringPeer(ipaddr); !ok {
		return mirroringPeerNotFound(ipaddr)
	}
	delete(r.v.Mirroring.Peers, ipaddr)
	r.touch(now)
	return nil
}

func (s *Server) setInspectionLocked(now time.Time, opID, id string, cfg *JunctionInspection) (VPG, *apiError) {
	var r *vpgRec
	var err *apiError
	if cfg != nil {
		r, err = s.runningLocked(now, opID, id)
	} else {
		r, err = s.vpgLocked(opID, id) // GUESS: unset works in any state (idempotent)
	}
	if err != nil {
		return VPG{}, err
	}
	r.v.Inspection = clonePtr(cfg)
	r.touch(now)
	return s.snapVPG(now, r), nil
}

type redirectionRequest struct {
	Gateway     string `json:"gateway"`
	Enabled     *bool  `json:"enabled"`
	Description string `json:"description"`
}

// setRedirectionLocked replaces the redirection settings. The gateway must
// be an IPv4 address (the traffic's next hop); GUESS: inside the device
// subnet (typically a Gate peer's inner address, reference §5), and
// required. GUESS: enabled defaults to false.
func (s *Server) setRedirectionLocked(now time.Time, opID, id string, req redirectionRequest) (VPG, *apiError) {
	r, err := s.runningLocked(now, opID, id)
	if err != nil {
		return VPG{}, err
	}
	gw, err := parseIPv4("gateway", req.Gateway)
	if err != nil {
		return VPG{}, err
	}
	dev := netip.MustParsePrefix(r.v.DeviceSubnetCidrRange)
	if !dev.Contains(gw) {
		return VPG{}, vpgInvalid("gateway %s must be inside the device subnet %s", gw, dev)
	}
	r.v.Redirection = &JunctionRedirection{Gateway: gw.String(), Enabled: req.Enabled != nil && *req.Enabled, Description: req.Description}
	r.touch(now)
	return s.snapVPG(now, r), nil
}

func (s *Server) unsetRedirectionLocked(now time.Time, opID, id string) (VPG, *apiError) {
	r, err := s.vpgLocked(opID, id) // GUESS: unset works in any state (idempotent)
	if err != nil {
		return VPG{}, err
	}
	r.v.Redirection = nil
	r.touch(now)
	return s.snapVPG(now, r), nil
}

// ---- handlers ----
//
// The definition gives no response schema for these calls; answering with the
// VPG (except DELETE: 204) is a GUESS that clients can ignore.

func (s *Server) hPutMirroringPeer(c *call) (int, any, *apiError) {
	var req mirroringPeerRequest
	if err := decodeBody(c.r, &req, false); err != nil {
		return 0, nil, err
	}
	now, unlock := s.lock()
	defer unlock()
	v, err := s.putMirroringPeerLocked(now, c.opID, c.r.PathValue("vpg_id"), req)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, v, nil // documented: 201
}

func (s *Server) hUpdateMirroringPeer(c *call) (int, any, *apiError) {
	var upd []attributeUpdate
	if err := decodeBody(c.r, &upd, false); err != nil {
		return 0, nil, err
	}
	now, unlock := s.lock()
	defer unlock()
	v, err := s.updateMirroringPeerLocked(now, c.opID, c.r.PathValue("vpg_id"), c.r.PathValue("ipaddr"), upd)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v, nil // documented: 200
}

func (s *Server) hDeleteMirroringPeer(c *call) (int, any, *apiError) {
	now, unlock := s.lock()
	defer unlock()
	if err := s.deleteMirroringPeerLocked(now, c.opID, c.r.PathValue("vpg_id"), c.r.PathValue("ipaddr")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil // documented: 204
}

func (s *Server) hSetInspection(c *call) (int, any, *apiError) {
	var req struct {
		Enabled *bool `json:"enabled"`
	}
	if err := decodeBody(c.r, &req, false); err != nil {
		return 0, nil, err
	}
	now, unlock := s.lock()
	defer unlock()
	v, err := s.setInspectionLocked(now, c.opID, c.r.PathValue("vpg_id"), &JunctionInspection{Enabled: req.Enabled != nil && *req.Enabled})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v, nil // documented: 200
}

func (s *Server) hUnsetInspection(c *call) (int, any, *apiError) {
	now, unlock := s.lock()
	defer unlock()
	v, err := s.setInspectionLocked(now, c.opID, c.r.PathValue("vpg_id"), nil)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v, nil // documented: 200
}

func (s *Server) hSetRedirection(c *call) (int, any, *apiError) {
	var req redirectionRequest
	if err := decodeBody(c.r, &req, false); err != nil {
		return 0, nil, err
	}
	now, unlock := s.lock()
	defer unlock()
	v, err := s.setRedirectionLocked(now, c.opID, c.r.PathValue("vpg_id"), req)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v, nil // documented: 200
}

func (s *Server) hUnsetRedirection(c *call) (int, any, *apiError) {
	now, unlock := s.lock()
	defer unlock()
	v, err := s.unsetRedirectionLocked(now, c.opID, c.r.PathValue("vpg_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v, nil // documented: 200
}
