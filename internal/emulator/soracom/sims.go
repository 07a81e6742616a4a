package soracom

import (
	"cmp"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"time"
)

// SIM rules. Methods named *Locked run with s.mu held.

// simJSON is the wire shape of a Sim (a subset of the spec's fields).
type simJSON struct {
	SimID            string            `json:"simId"`
	OperatorID       string            `json:"operatorId"`
	IMSI             string            `json:"imsi,omitempty"` // top-level for simplicity (real Sims list IMSIs under profiles)
	Status           string            `json:"status"`
	GroupID          string            `json:"groupId,omitempty"`
	Tags             map[string]string `json:"tags"`
	SpeedClass       string            `json:"speedClass"`
	SessionStatus    sessionStatus     `json:"sessionStatus"`
	CreatedTime      int64             `json:"createdTime"`
	LastModifiedTime int64             `json:"lastModifiedTime"`
}

type sessionStatus struct {
	Online        bool   `json:"online"`
	UEIPAddress   string `json:"ueIpAddress,omitempty"`
	VPGID         string `json:"vpgId,omitempty"`
	IMSI          string `json:"imsi,omitempty"`
	SessionID     string `json:"sessionId,omitempty"`
	LastUpdatedAt int64  `json:"lastUpdatedAt"`
}

func (s *Server) simWire(r *simRec) simJSON {
	sim := r.sim
	out := simJSON{
		SimID:            sim.ID,
		OperatorID:       s.st.simOwner(r),
		IMSI:             sim.IMSI,
		Status:           sim.Status,
		GroupID:          sim.GroupID,
		Tags:             cloneStrMap(sim.Tags),
		SpeedClass:       "s1.standard",
		CreatedTime:      r.createdTime,
		LastModifiedTime: r.lastUpdatedAt,
		SessionStatus:    sessionStatus{Online: sim.Online, LastUpdatedAt: r.lastUpdatedAt},
	}
	if sim.Online {
		out.SessionStatus.UEIPAddress = sim.UEIPAddress
		out.SessionStatus.VPGID = sim.VPGID
		out.SessionStatus.IMSI = sim.IMSI
		out.SessionStatus.SessionID = sim.SessionID
	}
	return out
}

func simNotFound(id string) *apiError {
	return errf(http.StatusNotFound, codeSIMNotFound, "SIM %s not found", id)
}

func (s *Server) simLocked(opID, id string) (*simRec, *apiError) {
	r, ok := s.st.sims[id]
	if !ok || s.st.simOwner(r) != opID {
		return nil, simNotFound(id)
	}
	return r, nil
}

// connectLocked (re)establishes a SIM's session: a new session id, and an
// address from its group's VPG (when the group uses a running VPG) or from
// the plain Air pool. ueIP, when given, is used as the address.
func (s *Server) connectLocked(now time.Time, r *simRec, ueIP string) {
	owner := s.st.simOwner(r)
	r.sim.Online = true
	r.sim.SessionID = s.st.uuid()
	r.sim.VPGID = ""
	if v := s.groupVPGLocked(now, owner, r.sim.GroupID); v != nil {
		if ueIP == "" {
			ueIP = v.allocIP(r.sim.ID)
		}
		if ueIP != "" { // GUESS: a full device subnet leaves the session off the VPG
			r.sim.VPGID = v.v.VPGID
		}
	}
	if ueIP == "" {
		ueIP = s.airIPLocked(r.sim.ID)
	}
	r.sim.UEIPAddress = ueIP
	r.lastUpdatedAt = now.UnixMilli()
}

// airIPLocked is a stable address for a session without a VPG.
func (s *Server) airIPLocked(simID string) string {
	if ip, ok := s.st.airIPs[simID]; ok {
		return ip
	}
	s.st.airNext++
	ip := addr(u32(airPool.Addr()) + 1<<16 + s.st.airNext).String()
	s.st.airIPs[simID] = ip
	return ip
}

func (s *Server) listSimsLocked(opID, groupID string) []simJSON {
	var out []simJSON
	for _, r := range s.st.sims {
		if s.st.simOwner(r) == opID && (groupID == "" || r.sim.GroupID == groupID) {
			out = append(out, s.simWire(r))
		}
	}
	slices.SortFunc(out, func(a, b simJSON) int { return cmp.Compare(a.SimID, b.SimID) })
	return out
}

// setGroupLocked puts a SIM in a group (GUESS: setting the same group again is a no-op success).
func (s *Server) setGroupLocked(now time.Time, opID, simID, groupID string) (simJSON, *apiError) {
	r, err := s.simLocked(opID, simID)
	if err != nil {
		return simJSON{}, err
	}
	if groupID == "" {
		return simJSON{}, errf(http.StatusBadRequest, codeSIMInvalid, "groupId is required")
	}
	if _, err := s.groupLocked(opID, groupID); err != nil {
		return simJSON{}, err
	}
	r.sim.GroupID = groupID
	r.lastUpdatedAt = now.UnixMilli()
	return s.simWire(r), nil
}

// unsetGroupLocked takes a SIM out of its group (GUESS: 200 also when it is in no group).
func (s *Server) unsetGroupLocked(now time.Time, opID, simID string) (simJSON, *apiError) {
	r, err := s.simLocked(opID, simID)
	if err != nil {
		return simJSON{}, err
	}
	r.sim.GroupID = ""
	r.lastUpdatedAt = now.UnixMilli()
	return s.simWire(r), nil
}

// deleteSessionLocked drops an online SIM's session; the SIM reconnects at
// once (modelled as: still online, new sessionId, address and VPG from its
// group). Offline: 400 SEM0016 (documented).
func (s *Server) deleteSessionLocked(now time.Time, opID, simID string) (simJSON, *apiError) {
	r, err := s.simLocked(opID, simID)
	if err != nil {
		return simJSON{}, err
	}
	if !r.sim.Online {
		return simJSON{}, errf(http.StatusBadRequest, codeSIMOffline, "The specified subscriber is offline")
	}
	s.connectLocked(now, r, "")
	return s.simWire(r), nil
}

// ---- Go API ----

// AddSIM seeds a SIM (replacing one with the same id). Status defaults to
// "active"; an online SIM without UEIPAddress gets an address as if it had
// just connected (from its group's VPG when the group uses one).
func (s *Server) AddSIM(sim SIM) {
	now, unlock := s.lock()
	defer unlock()
	if sim.Status == "" {
		sim.Status = "active"
	}
	sim.Tags = cloneStrMap(sim.Tags)
	r := &simRec{sim: sim, createdTime: now.UnixMilli(), lastUpdatedAt: now.UnixMilli()}
	s.st.sims[sim.ID] = r
	if sim.Online {
		if sim.UEIPAddress == "" {
			s.connectLocked(now, r, "")
		} else if sim.SessionID == "" {
			r.sim.SessionID = s.st.uuid()
		}
	} else {
		r.sim.UEIPAddress, r.sim.VPGID, r.sim.SessionID = "", "", ""
	}
}

// SetSIMOnline brings a SIM's session up (a new session, address from its
// group's VPG unless ueIP is given) or down.
func (s *Server) SetSIMOnline(simID string, online bool, ueIP string) error {
	now, unlock := s.lock()
	defer unlock()
	r, ok := s.st.sims[simID]
	if !ok {
		return fmt.Errorf("soracom emulator: SIM %s not found", simID)
	}
	if ueIP != "" {
		if _, err := netip.ParseAddr(ueIP); err != nil {
			return fmt.Errorf("soracom emulator: %w", err)
		}
	}
	if online {
		s.connectLocked(now, r, ueIP)
		return nil
	}
	r.sim.Online = false
	r.sim.UEIPAddress, r.sim.VPGID, r.sim.SessionID = "", "", ""
	r.lastUpdatedAt = now.UnixMilli()
	return nil
}

// SIM returns a SIM as stored (OperatorID resolved).
func (s *Server) SIM(simID string) (SIM, bool) {
	_, unlock := s.lock()
	defer unlock()
	r, ok := s.st.sims[simID]
	if !ok {
		return SIM{}, false
	}
	return r.snapshot(s.st.simOwner(r)), true
}

// SIMs returns every SIM ordered by id.
func (s *Server) SIMs() []SIM {
	_, unlock := s.lock()
	defer unlock()
	out := make([]SIM, 0, len(s.st.sims))
	for _, r := range s.st.sims {
		out = append(out, r.snapshot(s.st.simOwner(r)))
	}
	slices.SortFunc(out, func(a, b SIM) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
