package soracom

import (
	"net/http"
)

// HTTP handlers: decode the request, call the state rules, pick the status.

// ---- auth ----

type authRequest struct {
	AuthKeyID           string `json:"authKeyId"`
	AuthKey             string `json:"authKey"`
	TokenTimeoutSeconds *int64 `json:"tokenTimeoutSeconds"`
}

type authResponse struct {
	APIKey     string `json:"apiKey"`
	Token      string `json:"token"`
	OperatorID string `json:"operatorId"`
}

func (s *Server) hAuth(c *call) (int, any, *apiError) {
	var req authRequest
	if err := decodeBody(c.r, &req, false); err != nil {
		return 0, nil, err
	}
	// Only the AuthKey form is emulated; email/password and SAM user forms fail with 401.
	ttl, err := tokenTTL(s.opts.TokenTTL, req.TokenTimeoutSeconds)
	if err != nil {
		return 0, nil, err
	}
	now, unlock := s.lock()
	defer unlock()
	apiKey, token, opID, err := s.st.authenticate(now, req.AuthKeyID, req.AuthKey, ttl)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, authResponse{APIKey: apiKey, Token: token, OperatorID: opID}, nil
}

func (s *Server) hRefresh(c *call) (int, any, *apiError) {
	var req struct {
		TokenTimeoutSeconds *int64 `json:"tokenTimeoutSeconds"`
	}
	if err := decodeBody(c.r, &req, true); err != nil {
		return 0, nil, err
	}
	ttl, err := tokenTTL(s.opts.TokenTTL, req.TokenTimeoutSeconds)
	if err != nil {
		return 0, nil, err
	}
	now, unlock := s.lock()
	defer unlock()
	tok, err := s.st.refreshToken(now, c.r.Header.Get("X-Soracom-API-Key"), c.r.Header.Get("X-Soracom-Token"), c.r.PathValue("operator_id"), ttl)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"token": tok}, nil
}

func (s *Server) hLogout(c *call) (int, any, *apiError) {
	_, unlock := s.lock()
	defer unlock()
	s.st.logout(c.r.Header.Get("X-Soracom-API-Key"))
	return http.StatusNoContent, nil, nil
}

// ---- VPG ----

func (s *Server) hCreateVPG(c *call) (int, any, *apiError) {
	var req createVPGRequest
	if err := decodeBody(c.r, &req, false); err != nil {
		return 0, nil, err
	}
	now, unlock := s.lock()
	defer unlock()
	v, err := s.createVPGLocked(now, c.opID, req)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, v, nil
}

func (s *Server) hListVPGs(c *call) (int, any, *apiError) {
	f, err := parseTagFilter(c.r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	now, unlock := s.lock()
	items := s.listVPGsLocked(now, c.opID, f)
	unlock()
	return listPage(c, items, func(v VPG) string { return v.VPGID }, s.opts.PageSize)
}

func (s *Server) hGetVPG(c *call) (int, any, *apiError) {
	now, unlock := s.lock()
	defer unlock()
	r, err := s.vpgLocked(c.opID, c.r.PathValue("vpg_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.snapVPG(now, r), nil
}

// hTerminateVPG answers 200 with the VPG, now "terminating" (documented: 200, asynchronous).
func (s *Server) hTerminateVPG(c *call) (int, any, *apiError) {
	v, err := s.terminateVPG(c.opID, c.r.PathValue("vpg_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v, nil
}

func (s *Server) hPutVPGTags(c *call) (int, any, *apiError) {
	var upd []tagUpdate
	if err := decodeBody(c.r, &upd, false); err != nil {
		return 0, nil, err
	}
	now, unlock := s.lock()
	defer unlock()
	r, err := s.vpgLocked(c.opID, c.r.PathValue("vpg_id"))
	if err != nil {
		return 0, nil, err
	}
	tags, err := applyTags(r.v.Tags, upd, maxVPGTags)
	if err != nil {
		return 0, nil, err
	}
	r.v.Tags = tags
	r.touch(now)
	return http.StatusNoContent, nil, nil // documented: 204
}

func (s *Server) hDeleteVPGTag(c *call) (int, any, *apiError) {
	now, unlock := s.lock()
	defer unlock()
	r, err := s.vpgLocked(c.opID, c.r.PathValue("vpg_id"))
	if err != nil {
		return 0, nil, err
	}
	if err := deleteTag(r.v.Tags, c.r.PathValue("tag_name"), codeVPGNotFound); err != nil {
		return 0, nil, err
	}
	r.touch(now)
	return http.StatusNoContent, nil, nil
}

// ---- Gate ----

// hOpenGate answers 200 with the VPG. The spec has no response body for
// open/close; returning the VPG is a GUESS that clients can ignore.
func (s *Server) hOpenGate(c *call) (int, any, *apiError) {
	var req openGateRequest
	if err := decodeBody(c.r, &req, true); err != nil {
		return 0, nil, err
	}
	now, unlock := s.lock()
	defer unlock()
	v, err := s.openGateLocked(now, c.opID, c.r.PathValue("vpg_id"), req)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v, nil
}

func (s *Server) hCloseGate(c *call) (int, any, *apiError) {
	now, unlock := s.lock()
	defer unlock()
	v, err := s.closeGateLocked(now, c.opID, c.r.PathValue("vpg_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v, nil
}

func (s *Server) hPrivacySep(on bool) handlerFunc {
	return func(c *call) (int, any, *apiError) {
		now, unlock := s.lock()
		defer unlock()
		v, err := s.setPrivacySeparatorLocked(now, c.opID, c.r.PathValue("vpg_id"), on)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, v, nil
	}
}

func (s *Server) hSetVxlanID(c *call) (int, any, *apiError) {
	var req struct {
		VxlanID *int `json:"vxlanId"`
	}
	if err := decodeBody(c.r, &req, false); err != nil {
		return 0, nil, err
	}
	now, unlock := s.lock()
	defer unlock()
	if err := s.setVxlanIDLocked(now, c.opID, c.r.PathValue("vpg_id"), req.VxlanID); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (s *Server) hListPeers(c *call) (int, any, *apiError) {
	_, unlock := s.lock()
	defer unlock()
	peers, err := s.listPeersLocked(c.opID, c.r.PathValue("vpg_id"))
	if err != nil {
		return 0, nil, err
	}
	if peers == nil {
		peers = []GatePeer{}
	}
	return http.StatusOK, peers, nil // not paginated (reference §9)
}

func (s *Server) hRegisterPeer(c *call) (int, any, *apiError) {
	var req registerPeerRequest
	if err := decodeBody(c.r, &req, false); err != nil {
		return 0, nil, err
	}
	now, unlock := s.lock()
	defer unlock()
	p, err := s.registerPeerLocked(now, c.opID, c.r.PathValue("vpg_id"), req)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, p, nil // documented: 200
}

func (s *Server) hUnregisterPeer(c *call) (int, any, *apiError) {
	now, unlock := s.lock()
	defer unlock()
	if err := s.unregisterPeerLocked(now, c.opID, c.r.PathValue("vpg_id"), c.r.PathValue("outer_ip_address")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// hSimRouting: enable answers 201 (documented) with the VPG (body GUESS); disable answers 204.
func (s *Server) hSimRouting(on bool) handlerFunc {
	return func(c *call) (int, any, *apiError) {
		now, unlock := s.lock()
		defer unlock()
		v, err := s.setSimRoutingLocked(now, c.opID, c.r.PathValue("vpg_id"), on)
		if err != nil {
			return 0, nil, err
		}
		if on {
			return http.StatusCreated, v, nil
		}
		return http.StatusNoContent, nil, nil
	}
}

func (s *Server) hPutSimRoutes(c *call) (int, any, *apiError) {
	var routes map[string]string
	if err := decodeBody(c.r, &routes, false); err != nil {
		return 0, nil, err
	}
	now, unlock := s.lock()
	defer unlock()
	out, err := s.putSimRoutesLocked(now, c.opID, c.r.PathValue("vpg_id"), routes)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil // documented: 200 with no schema; echoing the routes is a GUESS
}

// ---- Canal ----

func (s *Server) hCreatePeering(c *call) (int, any, *apiError) {
	var req createPeeringRequest
	if err := decodeBody(c.r, &req, false); err != nil {
		return 0, nil, err
	}
	resp, err := s.createPeering(c.opID, c.r.PathValue("vpg_id"), req)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, resp, nil
}

func (s *Server) hDeletePeering(c *call) (int, any, *apiError) {
	if err := s.deletePeering(c.opID, c.r.PathValue("vpg_id"), c.r.PathValue("pcx_id")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// ---- groups ----

func (s *Server) hCreateGroup(c *call) (int, any, *apiError) {
	var req createGroupRequest
	if err := decodeBody(c.r, &req, true); err != nil {
		return 0, nil, err
	}
	now, unlock := s.lock()
	defer unlock()
	g, err := s.createGroupLocked(now, c.opID, req)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, g, nil
}

func (s *Server) hListGroups(c *call) (int, any, *apiError) {
	f, err := parseTagFilter(c.r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	_, unlock := s.lock()
	items := s.listGroupsLocked(c.opID, f)
	unlock()
	return listPage(c, items, func(g Group) string { return g.GroupID }, s.opts.PageSize)
}

func (s *Server) hGetGroup(c *call) (int, any, *apiError) {
	_, unlock := s.lock()
	defer unlock()
	r, err := s.groupLocked(c.opID, c.r.PathValue("group_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, r.snapshot(), nil
}

func (s *Server) hDeleteGroup(c *call) (int, any, *apiError) {
	now, unlock := s.lock()
	defer unlock()
	if err := s.deleteGroupLocked(now, c.opID, c.r.PathValue("group_id")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (s *Server) hPutGroupTags(c *call) (int, any, *apiError) {
	var upd []tagUpdate
	if err := decodeBody(c.r, &upd, false); err != nil {
		return 0, nil, err
	}
	now, unlock := s.lock()
	defer unlock()
	g, err := s.putGroupTagsLocked(now, c.opID, c.r.PathValue("group_id"), upd)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, g, nil // documented: 200 Group
}

func (s *Server) hDeleteGroupTag(c *call) (int, any, *apiError) {
	now, unlock := s.lock()
	defer unlock()
	r, err := s.groupLocked(c.opID, c.r.PathValue("group_id"))
	if err != nil {
		return 0, nil, err
	}
	if err := deleteTag(r.g.Tags, c.r.PathValue("tag_name"), codeGroupNotFound); err != nil {
		return 0, nil, err
	}
	r.touch(now)
	return http.StatusNoContent, nil, nil
}

func (s *Server) hPutConfig(c *call) (int, any, *apiError) {
	var upd []configUpdate
	if err := decodeBody(c.r, &upd, false); err != nil {
		return 0, nil, err
	}
	now, unlock := s.lock()
	defer unlock()
	g, err := s.putConfigLocked(now, c.opID, c.r.PathValue("group_id"), c.r.PathValue("namespace"), upd)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, g, nil
}

func (s *Server) hDeleteNamespace(c *call) (int, any, *apiError) {
	now, unlock := s.lock()
	defer unlock()
	if err := s.deleteNamespaceLocked(now, c.opID, c.r.PathValue("group_id"), c.r.PathValue("namespace")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (s *Server) hDeleteConfigKey(c *call) (int, any, *apiError) {
	now, unlock := s.lock()
	defer unlock()
	if err := s.deleteConfigKeyLocked(now, c.opID, c.r.PathValue("group_id"), c.r.PathValue("namespace"), c.r.PathValue("name")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (s *Server) hGroupSubscribers(c *call) (int, any, *apiError) {
	_, unlock := s.lock()
	id := c.r.PathValue("group_id")
	if _, err := s.groupLocked(c.opID, id); err != nil {
		unlock()
		return 0, nil, err
	}
	items := s.listSimsLocked(c.opID, id)
	unlock()
	return listPage(c, items, func(x simJSON) string { return x.SimID }, s.opts.PageSize)
}

// ---- SIMs ----

func (s *Server) hListSims(c *call) (int, any, *apiError) {
	_, unlock := s.lock()
	items := s.listSimsLocked(c.opID, "")
	unlock()
	return listPage(c, items, func(x simJSON) string { return x.SimID }, s.opts.PageSize)
}

func (s *Server) hGetSim(c *call) (int, any, *apiError) {
	_, unlock := s.lock()
	defer unlock()
	r, err := s.simLocked(c.opID, c.r.PathValue("sim_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.simWire(r), nil
}

func (s *Server) hSetGroup(c *call) (int, any, *apiError) {
	var req struct {
		GroupID string `json:"groupId"`
	}
	if err := decodeBody(c.r, &req, false); err != nil {
		return 0, nil, err
	}
	now, unlock := s.lock()
	defer unlock()
	sim, err := s.setGroupLocked(now, c.opID, c.r.PathValue("sim_id"), req.GroupID)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, sim, nil
}

func (s *Server) hUnsetGroup(c *call) (int, any, *apiError) {
	now, unlock := s.lock()
	defer unlock()
	sim, err := s.unsetGroupLocked(now, c.opID, c.r.PathValue("sim_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, sim, nil
}

func (s *Server) hDeleteSession(c *call) (int, any, *apiError) {
	now, unlock := s.lock()
	defer unlock()
	sim, err := s.deleteSessionLocked(now, c.opID, c.r.PathValue("sim_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, sim, nil
}
