package soracom

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// VPG, Gate and Canal rules. Methods named *Locked run with s.mu held.

var vpgRegions = []string{"ap-northeast-1", "eu-central-1", "us-west-2", "ap-southeast-2"}

const maxVPGTags = 20 // CONSOLE-I18N (reference §2)

type createVPGRequest struct {
	Type                  *int    `json:"type"`
	DeviceSubnetCidrRange *string `json:"deviceSubnetCidrRange"`
	UseInternetGateway    *bool   `json:"useInternetGateway"`
	Placement             *struct {
		Region string `json:"region"`
	} `json:"placement"`
	Tags map[string]string `json:"tags"`
}

func vpgInvalid(format string, args ...any) *apiError {
	return errf(http.StatusBadRequest, codeVPGInvalid, format, args...)
}

// vpgNotFound is sent as a template with messageArgs (see apiError).
func vpgNotFound(id string) *apiError {
	return errTemplate(http.StatusNotFound, codeVPGNotFound, "VPG %s not found", id)
}

func (s *Server) createVPGLocked(now time.Time, opID string, req createVPGRequest) (VPG, *apiError) {
	if req.Type == nil {
		return VPG{}, vpgInvalid("type is required")
	}
	switch *req.Type {
	case VPGTypeE, VPGTypeF, VPGTypeF2:
	default:
		return VPG{}, vpgInvalid("type must be one of 14 (Type-E), 15 (Type-F), 242 (Type-F2)")
	}
	device := "10.128.0.0/9"
	if req.DeviceSubnetCidrRange != nil {
		device = *req.DeviceSubnetCidrRange
	}
	p, err := parseCIDR4(device)
	if err != nil {
		return VPG{}, vpgInvalid("deviceSubnetCidrRange: %v", err)
	}
	// The overlap rule is from CONSOLE-I18N (UNCONFIRMED officially); we enforce it.
	if p.Overlaps(cgnat) || p.Overlaps(benchmark) {
		return VPG{}, vpgInvalid("deviceSubnetCidrRange %s must not overlap 100.64.0.0/10 or 198.18.0.0/15", device)
	}
	if p.Bits() > 30 {
		// GUESS: a device subnet needs room for the VPG's own addresses.
		return VPG{}, vpgInvalid("deviceSubnetCidrRange %s is too small", device)
	}
	useIGW := true
	if req.UseInternetGateway != nil {
		useIGW = *req.UseInternetGateway
	}
	if *req.Type == VPGTypeE && !useIGW {
		// CONSOLE-I18N: on Type-E the internet gateway cannot be turned off.
		return VPG{}, vpgInvalid("useInternetGateway cannot be false on a Type-E VPG")
	}
	// Definition (CreateVirtualPrivateGatewayRequest.placement.region):
	// ap-northeast-1 is the default for Japan coverage, eu-central-1 for Global.
	region := "ap-northeast-1"
	if s.opts.Coverage == CoverageGlobal {
		region = "eu-central-1"
	}
	if req.Placement != nil && req.Placement.Region != "" {
		region = req.Placement.Region
	}
	if !slices.Contains(vpgRegions, region) {
		return VPG{}, vpgInvalid("placement.region must be one of %s", strings.Join(vpgRegions, ", "))
	}
	if len(req.Tags) > maxVPGTags {
		return VPG{}, vpgInvalid("a VPG can have at most %d tags", maxVPGTags)
	}
	st := s.st
	n := st.vpgSubnetNext
	if n >= 1<<14 {
		return VPG{}, errf(http.StatusBadRequest, codeVPGState, "no VPG subnet left")
	}
	st.vpgSubnetNext++
	vpgSubnet := netip.PrefixFrom(addr(u32(cgnat.Addr())+n<<8), 24)
	ms := now.UnixMilli()
	r := &vpgRec{
		v: VPG{
			VPGID:                 "vpg-" + st.randHex(16),
			OperatorID:            opID,
			Type:                  *req.Type,
			Tags:                  cloneStrMap(req.Tags),
			Placement:             Placement{InfrastructureProvider: "aws", Region: region},
			CreatedTime:           ms,
			LastModifiedTime:      ms,
			DeviceSubnetCidrRange: p.String(),
			UeSubnetCidrRange:     p.String(),
			VPGSubnetCidrRange:    vpgSubnet.String(),
			UseInternetGateway:    useIGW,
			SimBasedRoutingConfig: map[string]string{},
			VPCPeeringConnections: map[string]string{},
			SoracomVPCID:          "vpc-soracom" + st.randHex(10),
		},
		createdAt:  now,
		ipBySIM:    map[string]string{},
		nextOffset: 2,
	}
	st.vpgs[r.v.VPGID] = r
	st.vpgsEver++
	v := r.snapshot(now, s.opts.VPGCreateDelay)
	// GUESS: the create response always says "creating" (creation is asynchronous).
	v.Status = VPGCreating
	return v, nil
}

func (s *Server) vpgLocked(opID, id string) (*vpgRec, *apiError) {
	r, ok := s.st.vpgs[id]
	if !ok || r.v.OperatorID != opID {
		return nil, vpgNotFound(id)
	}
	return r, nil
}

func (s *Server) snapVPG(now time.Time, r *vpgRec) VPG { return r.snapshot(now, s.opts.VPGCreateDelay) }

// listVPGsLocked returns the operator's VPGs matching the tag filter, ordered by vpgId.
func (s *Server) listVPGsLocked(now time.Time, opID string, f tagFilter) []VPG {
	var out []VPG
	for _, r := range s.st.vpgs {
		if r.v.OperatorID == opID && f.match(r.v.Tags) {
			out = append(out, s.snapVPG(now, r))
		}
	}
	slices.SortFunc(out, func(a, b VPG) int { return cmp.Compare(a.VPGID, b.VPGID) })
	return out
}

// runningLocked returns the VPG if it is running (400 otherwise).
func (s *Server) runningLocked(now time.Time, opID, id string) (*vpgRec, *apiError) {
	r, err := s.vpgLocked(opID, id)
	if err != nil {
		return nil, err
	}
	if st := r.status(now, s.opts.VPGCreateDelay); st != VPGRunning {
		return nil, errf(http.StatusBadRequest, codeVPGState, "VPG %s is %s, not running", id, st)
	}
	return r, nil
}

// gateLocked returns a running VPG whose type supports Gate (Type-E does not).
func (s *Server) gateLocked(now time.Time, opID, id string) (*vpgRec, *apiError) {
	r, err := s.runningLocked(now, opID, id)
	if err != nil {
		return nil, err
	}
	if r.v.Type == VPGTypeE {
		return nil, errf(http.StatusBadRequest, codeVPGState, "Gate is not available on a Type-E VPG")
	}
	return r, nil
}

func (r *vpgRec) touch(now time.Time) { r.v.LastModifiedTime = now.UnixMilli() }

// terminateVPG starts termination and deletes the VPG's Canal peerings on the AWS side.
// Terminating an already terminating VPG answers 200 again (GUESS: idempotent).
func (s *Server) terminateVPG(opID, id string) (VPG, *apiError) {
	now, unlock := s.lock()
	r, err := s.vpgLocked(opID, id)
	if err != nil {
		unlock()
		return VPG{}, err
	}
	// Documented blockers are Direct/Door and Type-F2 TGW attachments, none
	// of which the emulator models; Canal peerings do not block (they are
	// deleted with the VPG).
	var pcxs []string
	if r.terminateAt.IsZero() {
		r.terminateAt = now
		r.touch(now)
		pcxs = slices.Sorted(maps.Keys(r.v.VPCPeeringConnections))
		clear(r.v.VPCPeeringConnections)
	}
	v := s.snapVPG(now, r)
	unlock()
	if s.peering != nil {
		for _, pcx := range pcxs {
			_ = s.peering.DeletePeering(pcx) // SORACOM cleans up its side; errors are not the caller's
		}
	}
	return v, nil
}

type tagUpdate struct {
	TagName  string `json:"tagName"`
	TagValue string `json:"tagValue"`
}

func applyTags(tags map[string]string, upd []tagUpdate, limit int) (map[string]string, *apiError) {
	out := cloneStrMap(tags)
	for _, t := range upd {
		if t.TagName == "" {
			return nil, errf(http.StatusBadRequest, codeBadRequest, "tagName is required")
		}
		out[t.TagName] = t.TagValue
	}
	if limit > 0 && len(out) > limit {
		return nil, errf(http.StatusBadRequest, codeBadRequest, "at most %d tags are allowed", limit)
	}
	return out, nil
}

// ---- Gate ----

type openGateRequest struct {
	VxlanID                 *int  `json:"vxlanId"`
	PrivacySeparatorEnabled *bool `json:"privacySeparatorEnabled"`
}

const maxVxlanID = 16777215

func validVxlan(id int) *apiError {
	if id < 1 || id > maxVxlanID {
		return vpgInvalid("vxlanId must be between 1 and %d", maxVxlanID)
	}
	return nil
}

// openGateLocked opens Gate. GUESS: opening an open Gate succeeds again and
// applies the body (with its defaults), as the reference leaves it UNCONFIRMED.
func (s *Server) openGateLocked(now time.Time, opID, id string, req openGateRequest) (VPG, *apiError) {
	r, err := s.gateLocked(now, opID, id)
	if err != nil {
		return VPG{}, err
	}
	vx := 10
	if req.VxlanID != nil {
		vx = *req.VxlanID
	}
	if err := validVxlan(vx); err != nil {
		return VPG{}, err
	}
	r.v.GateOpened = true
	r.v.GateVxlanID = vx
	r.v.GatePrivacySeparatorEnabled = req.PrivacySeparatorEnabled != nil && *req.PrivacySeparatorEnabled
	r.touch(now)
	return s.snapVPG(now, r), nil
}

// closeGateLocked closes Gate (GUESS: idempotent). Type-F2 cannot close Gate (CONSOLE-I18N).
func (s *Server) closeGateLocked(now time.Time, opID, id string) (VPG, *apiError) {
	r, err := s.gateLocked(now, opID, id)
	if err != nil {
		return VPG{}, err
	}
	if r.v.Type == VPGTypeF2 {
		return VPG{}, errf(http.StatusBadRequest, codeVPGState, "Gate cannot be disabled on a Type-F2 VPG")
	}
	r.v.GateOpened = false
	r.touch(now)
	return s.snapVPG(now, r), nil
}

func (s *Server) setPrivacySeparatorLocked(now time.Time, opID, id string, on bool) (VPG, *apiError) {
	r, err := s.gateLocked(now, opID, id)
	if err != nil {
		return VPG{}, err
	}
	r.v.GatePrivacySeparatorEnabled = on
	r.touch(now)
	return s.snapVPG(now, r), nil
}

func (s *Server) setVxlanIDLocked(now time.Time, opID, id string, vx *int) *apiError {
	r, err := s.gateLocked(now, opID, id)
	if err != nil {
		return err
	}
	if vx == nil {
		return vpgInvalid("vxlanId is required")
	}
	if err := validVxlan(*vx); err != nil {
		return err
	}
	r.v.GateVxlanID = *vx
	r.touch(now)
	return nil
}

// ownPeer is the VPG's own Gate peer (ownedByCustomer:false). GUESS at its
// addresses: outer .10 of vpgSubnetCidrRange, inner the last usable address
// of the device subnet. Real VPGs may list more than one.
func (r *vpgRec) ownPeer() GatePeer {
	dev := netip.MustParsePrefix(r.v.DeviceSubnetCidrRange)
	vs := netip.MustParsePrefix(r.v.VPGSubnetCidrRange)
	return GatePeer{
		OuterIPAddress:  addr(u32(vs.Addr()) + 10).String(),
		InnerIPAddress:  addr(lastAddr(dev) - 1).String(),
		Netmask:         netmask(dev),
		OwnedByCustomer: false,
	}
}

// listPeersLocked lists customer peers, plus the VPG's own peer while Gate is open.
func (s *Server) listPeersLocked(opID, id string) ([]GatePeer, *apiError) {
	r, err := s.vpgLocked(opID, id)
	if err != nil {
		return nil, err
	}
	var out []GatePeer
	if r.v.GateOpened {
		out = append(out, r.ownPeer())
	}
	return append(out, r.v.GatePeers...), nil
}

type registerPeerRequest struct {
	OuterIPAddress string `json:"outerIpAddress"`
	InnerIPAddress string `json:"innerIpAddress"`
}

// registerPeerLocked records a customer Gate peer. GUESS: allowed on any
// running Gate-capable VPG whether or not Gate is open; a duplicate
// outerIpAddress is 400; without innerIpAddress none is assigned.
func (s *Server) registerPeerLocked(now time.Time, opID, id string, req registerPeerRequest) (GatePeer, *apiError) {
	r, err := s.gateLocked(now, opID, id)
	if err != nil {
		return GatePeer{}, err
	}
	outer, perr := netip.ParseAddr(req.OuterIPAddress)
	if perr != nil || !outer.Is4() {
		return GatePeer{}, vpgInvalid("outerIpAddress must be an IPv4 address")
	}
	own := r.ownPeer()
	if outer.String() == own.OuterIPAddress || slices.ContainsFunc(r.v.GatePeers, func(p GatePeer) bool { return p.OuterIPAddress == outer.String() }) {
		return GatePeer{}, vpgInvalid("a Gate peer with outerIpAddress %s already exists", outer)
	}
	dev := netip.MustParsePrefix(r.v.DeviceSubnetCidrRange)
	peer := GatePeer{OuterIPAddress: outer.String(), OwnedByCustomer: true}
	if req.InnerIPAddress != "" {
		inner, perr := netip.ParseAddr(req.InnerIPAddress)
		if perr != nil || !inner.Is4() || !dev.Contains(inner) {
			return GatePeer{}, vpgInvalid("innerIpAddress must be an IPv4 address inside %s", dev)
		}
		if u := u32(inner); u == u32(dev.Addr()) || u == lastAddr(dev) {
			return GatePeer{}, vpgInvalid("innerIpAddress %s is the network or broadcast address of %s", inner, dev)
		}
		taken := inner.String() == own.InnerIPAddress ||
			slices.ContainsFunc(r.v.GatePeers, func(p GatePeer) bool { return p.InnerIPAddress == inner.String() })
		for _, ip := range r.ipBySIM {
			taken = taken || ip == inner.String()
		}
		if taken {
			return GatePeer{}, vpgInvalid("innerIpAddress %s is already in use", inner)
		}
		peer.InnerIPAddress = inner.String()
		peer.Netmask = netmask(dev)
	}
	r.v.GatePeers = append(r.v.GatePeers, peer)
	r.touch(now)
	return peer, nil
}

func (s *Server) unregisterPeerLocked(now time.Time, opID, id, outer string) *apiError {
	r, err := s.vpgLocked(opID, id)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(r.v.GatePeers, func(p GatePeer) bool { return p.OuterIPAddress == outer })
	if i < 0 {
		return errf(http.StatusNotFound, codeVPGNotFound, "Gate peer %s not found", outer)
	}
	r.v.GatePeers = slices.Delete(r.v.GatePeers, i, i+1)
	r.touch(now)
	return nil
}

// ---- SIM-based routing ----

// setSimRoutingLocked enables or disables SIM-based routing. Enabling needs
// an open Gate: the definition's only 400 of enableSimBasedRouting is
// "SORACOM Gate is not enabled." (the code VPG0003 is a GUESS). Disabling
// documents only 204 and 404, so it succeeds on any VPG that exists.
// GUESS: closing Gate later leaves enableSimBasedRouting as it is.
func (s *Server) setSimRoutingLocked(now time.Time, opID, id string, on bool) (VPG, *apiError) {
	var r *vpgRec
	var err *apiError
	if on {
		r, err = s.gateLocked(now, opID, id)
		if err == nil && !r.v.GateOpened {
			err = errTemplate(http.StatusBadRequest, codeVPGState, "SORACOM Gate is not enabled on VPG %s.", id)
		}
	} else {
		r, err = s.vpgLocked(opID, id)
	}
	if err != nil {
		return VPG{}, err
	}
	r.v.EnableSimBasedRouting = on
	r.touch(now)
	return s.snapVPG(now, r), nil
}

// putSimRoutesLocked replaces the SIM-based routes (simId -> LAN CIDR); they
// are read back only as the VPG's simBasedRoutingConfig (the definition has
// no GET of the routes). GUESS: allowed whether or not Gate is open and
// SIM-based routing is enabled.
func (s *Server) putSimRoutesLocked(now time.Time, opID, id string, routes map[string]string) (map[string]string, *apiError) {
	r, err := s.gateLocked(now, opID, id)
	if err != nil {
		return nil, err
	}
	for sim, c := range routes {
		if sim == "" {
			return nil, vpgInvalid("simId must not be empty")
		}
		if _, perr := parseCIDR4(c); perr != nil {
			return nil, vpgInvalid("route for %s: %v", sim, perr)
		}
	}
	r.v.SimBasedRoutingConfig = cloneStrMap(routes)
	r.touch(now)
	return cloneStrMap(routes), nil
}

// ---- Canal ----

type createPeeringRequest struct {
	DestinationCidrBlock string `json:"destinationCidrBlock"`
	PeerOwnerID          string `json:"peerOwnerId"`
	PeerRegion           string `json:"peerRegion"`
	PeerVpcID            string `json:"peerVpcId"`
}

type peeringResponse struct {
	ID                   string `json:"id"`
	DestinationCidrBlock string `json:"destinationCidrBlock"`
	PeerOwnerID          string `json:"peerOwnerId"`
	PeerRegion           string `json:"peerRegion"`
	PeerVpcID            string `json:"peerVpcId"`
}

// createPeering asks the AWS side for a peering from SORACOM's VPC to the
// customer's and records it on the VPG. GUESS: a second identical request
// creates a second peering (reference: UNCONFIRMED).
func (s *Server) createPeering(opID, id string, req createPeeringRequest) (peeringResponse, *apiError) {
	now, unlock := s.lock()
	r, err := s.runningLocked(now, opID, id)
	if err == nil && r.v.Type != VPGTypeF {
		err = errf(http.StatusBadRequest, codeVPGState, "Canal VPC peering needs a Type-F VPG")
	}
	if err == nil {
		err = validatePeering(req)
	}
	if err != nil {
		unlock()
		return peeringResponse{}, err
	}
	vpcID, vpgCIDR := r.v.SoracomVPCID, r.v.VPGSubnetCidrRange
	var pcx string
	if s.peering == nil {
		pcx = "pcx-" + s.st.randHex(17)
	}
	unlock()

	if s.peering != nil {
		var perr error
		pcx, perr = s.peering.RequestPeering(SoracomAWSAccountID, vpcID, vpgCIDR, req.PeerOwnerID, req.PeerVpcID, req.PeerRegion)
		if perr != nil {
			return peeringResponse{}, errf(http.StatusBadRequest, codeVPGPeering, "VPC peering request failed: %v", perr)
		}
	}

	now, unlock = s.lock()
	r, err = s.vpgLocked(opID, id)
	if err == nil && !r.terminateAt.IsZero() {
		err = errf(http.StatusBadRequest, codeVPGState, "VPG %s is terminating", id)
	}
	if err == nil {
		r.v.VPCPeeringConnections[pcx] = req.DestinationCidrBlock
		r.touch(now)
	}
	unlock()
	if err != nil {
		// The VPG went away while AWS was asked: undo the AWS side.
		if s.peering != nil {
			_ = s.peering.DeletePeering(pcx)
		}
		return peeringResponse{}, err
	}
	return peeringResponse{ID: pcx, DestinationCidrBlock: req.DestinationCidrBlock, PeerOwnerID: req.PeerOwnerID,
		PeerRegion: req.PeerRegion, PeerVpcID: req.PeerVpcID}, nil
}

func validatePeering(req createPeeringRequest) *apiError {
	if req.DestinationCidrBlock == "" || req.PeerOwnerID == "" || req.PeerRegion == "" || req.PeerVpcID == "" {
		return vpgInvalid("destinationCidrBlock, peerOwnerId, peerRegion and peerVpcId are required")
	}
	p, err := parseCIDR4(req.DestinationCidrBlock)
	if err != nil {
		return vpgInvalid("destinationCidrBlock: %v", err)
	}
	// CONSOLE-I18N (UNCONFIRMED officially): RFC 1918 and /16 or longer.
	if p.Bits() < 16 || !slices.ContainsFunc(rfc1918, func(r netip.Prefix) bool { return contains(r, p) }) {
		return vpgInvalid("destinationCidrBlock must be inside an RFC 1918 range with a prefix of /16 or longer")
	}
	if len(req.PeerOwnerID) != 12 || strings.Trim(req.PeerOwnerID, "0123456789") != "" {
		return vpgInvalid("peerOwnerId must be a 12-digit AWS account id")
	}
	if !strings.HasPrefix(req.PeerVpcID, "vpc-") {
		return vpgInvalid("peerVpcId must be a VPC id (vpc-…)")
	}
	return nil
}

func (s *Server) deletePeering(opID, id, pcx string) *apiError {
	now, unlock := s.lock()
	r, err := s.vpgLocked(opID, id)
	if err == nil {
		if _, ok := r.v.VPCPeeringConnections[pcx]; !ok {
			err = errf(http.StatusNotFound, codeVPGNotFound, "VPC peering connection %s not found on %s", pcx, id)
		}
	}
	unlock()
	if err != nil {
		return err
	}
	if s.peering != nil {
		if perr := s.peering.DeletePeering(pcx); perr != nil {
			return errf(http.StatusInternalServerError, codeInternal, "deleting VPC peering connection: %v", perr)
		}
	}
	now, unlock = s.lock()
	defer unlock()
	if r, ok := s.st.vpgs[id]; ok {
		delete(r.v.VPCPeeringConnections, pcx)
		r.touch(now)
	}
	return nil
}

// ---- addresses of sessions on a VPG ----

// allocIPLocked gives a SIM an address in the VPG's device subnet, stable per
// SIM for the VPG's lifetime (GUESS: SORACOM assigns dynamically), avoiding
// Gate peers' inner addresses. Empty when the subnet is full.
func (r *vpgRec) allocIP(simID string) string {
	if ip, ok := r.ipBySIM[simID]; ok {
		return ip
	}
	dev := netip.MustParsePrefix(r.v.DeviceSubnetCidrRange)
	base, last := u32(dev.Addr()), lastAddr(dev)
	used := map[string]bool{r.ownPeer().InnerIPAddress: true}
	for _, p := range r.v.GatePeers {
		used[p.InnerIPAddress] = true
	}
	for ; base+r.nextOffset < last; r.nextOffset++ {
		ip := addr(base + r.nextOffset).String()
		if !used[ip] {
			r.nextOffset++
			r.ipBySIM[simID] = ip
			return ip
		}
	}
	return ""
}

// ---- Go API ----

// VPGs returns every VPG not yet gone, of every operator, ordered by id.
func (s *Server) VPGs() []VPG {
	now, unlock := s.lock()
	defer unlock()
	out := make([]VPG, 0, len(s.st.vpgs))
	for _, r := range s.st.vpgs {
		out = append(out, s.snapVPG(now, r))
	}
	slices.SortFunc(out, func(a, b VPG) int { return cmp.Compare(a.VPGID, b.VPGID) })
	return out
}

// VPG returns one VPG (false when absent or gone).
func (s *Server) VPG(vpgID string) (VPG, bool) {
	now, unlock := s.lock()
	defer unlock()
	r, ok := s.st.vpgs[vpgID]
	if !ok {
		return VPG{}, false
	}
	return s.snapVPG(now, r), true
}

// VPGsEverCreated counts successful VPG creations (each one is billed).
func (s *Server) VPGsEverCreated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.vpgsEver
}

func (s *Server) mutateVPG(vpgID string, f func(r *vpgRec)) error {
	now, unlock := s.lock()
	defer unlock()
	r, ok := s.st.vpgs[vpgID]
	if !ok {
		return fmt.Errorf("soracom emulator: VPG %s not found", vpgID)
	}
	f(r)
	r.touch(now)
	return nil
}

// CloseGate closes Gate as if someone did it in the console (drift).
func (s *Server) CloseGate(vpgID string) error {
	return s.mutateVPG(vpgID, func(r *vpgRec) { r.v.GateOpened = false })
}

// SetPrivacySeparator changes the privacy separator as if done in the console (drift).
func (s *Server) SetPrivacySeparator(vpgID string, on bool) error {
	return s.mutateVPG(vpgID, func(r *vpgRec) { r.v.GatePrivacySeparatorEnabled = on })
}

// UnregisterGatePeer removes one customer Gate peer as if done in the
// console (drift); an unknown peer is an error.
func (s *Server) UnregisterGatePeer(vpgID, outer string) error {
	now, unlock := s.lock()
	defer unlock()
	r, ok := s.st.vpgs[vpgID]
	if !ok {
		return fmt.Errorf("soracom emulator: VPG %s not found", vpgID)
	}
	if err := s.unregisterPeerLocked(now, r.v.OperatorID, vpgID, outer); err != nil {
		return fmt.Errorf("soracom emulator: %s", err.message)
	}
	return nil
}

// SetGateVxlanID changes the Gate VXLAN id as if done in the console (drift),
// whether or not Gate is open; it must be within 1..16777215.
func (s *Server) SetGateVxlanID(vpgID string, vxlanID int) error {
	if err := validVxlan(vxlanID); err != nil {
		return fmt.Errorf("soracom emulator: %s", err.message)
	}
	return s.mutateVPG(vpgID, func(r *vpgRec) { r.v.GateVxlanID = vxlanID })
}

// RemoveGatePeers unregisters every customer Gate peer as if done in the console (drift).
func (s *Server) RemoveGatePeers(vpgID string) error {
	return s.mutateVPG(vpgID, func(r *vpgRec) { r.v.GatePeers = nil })
}

// ForgetPeering removes a peering from the VPG's record only (drift: the
// AWS side is not touched).
func (s *Server) ForgetPeering(vpgID, pcxID string) error {
	return s.mutateVPG(vpgID, func(r *vpgRec) { delete(r.v.VPCPeeringConnections, pcxID) })
}

// TerminateVPG starts terminating a VPG as if done in the console (drift);
// its peerings are deleted through the backend like the API call does.
func (s *Server) TerminateVPG(vpgID string) error {
	s.mu.Lock()
	var opID string
	r, ok := s.st.vpgs[vpgID]
	if ok {
		opID = r.v.OperatorID
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("soracom emulator: VPG %s not found", vpgID)
	}
	if _, err := s.terminateVPG(opID, vpgID); err != nil {
		return err
	}
	return nil
}
