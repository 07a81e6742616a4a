package soracom

import (
	"cmp"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Napter On-Demand Remote Access (port mappings), reference §8 and the
// definition's PortMapping, CreatePortMappingRequest(ForSim),
// PortMappingDestination(ForSim) and PortMappingSource.
//
// Entries are kept after they expire (PortMappings lists them flagged), but
// the API no longer shows them: lists skip them and deleting one is 404.

// Napter operation names.
const (
	OpCreatePortMapping             = "createPortMapping"
	OpCreatePortMappingForSim       = "createPortMappingForSim"
	OpListPortMappings              = "listPortMappings"
	OpListPortMappingsForSim        = "listPortMappingsForSim"
	OpListPortMappingsForSubscriber = "listPortMappingsForSubscriber"
	OpDeletePortMapping             = "deletePortMapping"
)

// Napter limits and defaults.
const (
	// PortMappingMaxDuration is the longest an entry may live (definition: "The maximum duration is 8 hours").
	PortMappingMaxDuration = 8 * time.Hour
	// PortMappingDefaultDuration is used when the request has no duration.
	// GUESS: the definition gives no default; one hour is the console's default.
	PortMappingDefaultDuration = time.Hour
)

// Destination choosing strategies (definition: PortMappingDestination.destinationChoosingStrategy).
const (
	StrategyAirPrioritized  = "AIR_PRIORITIZED"
	StrategyArcPrioritized  = "ARC_PRIORITIZED"
	StrategyDynamic         = "DYNAMIC"
	StrategyIMSIPrioritized = "IMSI_PRIORITIZED"
)

// Error codes of the Napter calls. GUESS: SORACOM's Napter codes are not
// documented; these follow the three letters + four digits scheme.
const (
	codePortMappingNotFound = "PMP0001" // 404 entry (or none for a SIM / IMSI)
	codePortMappingInvalid  = "PMP0002" // 400 invalid parameter
)

// Napter addresses. GUESS: real entries use SORACOM's public addresses and
// ports; the emulator hands out documentation addresses (RFC 5737), a new
// one per entry, and ports from 40000 upwards — unless a NapterListener is
// set (SetNapterListener), which gives each entry a real endpoint.
var napterPools = []netip.Prefix{
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
}

const (
	napterFirstPort = 40000
	napterPorts     = 20000
	// NapterDomain is the domain of the entries' hostnames
	// (p-203-0-113-1.napter.soracom.io). GUESS: the real hostname format is not documented.
	NapterDomain = "napter.soracom.io"
)

// PortMappingDestination is where an entry leads.
type PortMappingDestination struct {
	SimID string `json:"simId,omitempty"`
	IMSI  string `json:"imsi,omitempty"`
	Port  int    `json:"port"`
	// Service is never sent back (definition: "It will not be included in
	// the response"); it is kept for the Go API.
	Service                     string `json:"-"`
	DestinationChoosingStrategy string `json:"destinationChoosingStrategy"`
}

// PortMappingSource lists the CIDRs allowed to connect.
type PortMappingSource struct {
	IPRanges []string `json:"ipRanges"`
}

// PortMapping is a Napter entry as the API returns it (definition: PortMapping).
type PortMapping struct {
	Hostname    string                 `json:"hostname"`
	IPAddress   string                 `json:"ipAddress"`
	Port        int                    `json:"port"`
	Endpoint    string                 `json:"endpoint"`
	CreatedTime int64                  `json:"createdTime"`
	Duration    int                    `json:"duration"` // seconds
	ExpiredTime int64                  `json:"expiredTime"`
	Expired     bool                   `json:"expired"`
	Destination PortMappingDestination `json:"destination"`
	Source      PortMappingSource      `json:"source"`
	TLSRequired bool                   `json:"tlsRequired"`
	// SimID or IMSI: simId unless the strategy is IMSI_PRIORITIZED (definition).
	SimID      string `json:"simId,omitempty"`
	IMSI       string `json:"imsi,omitempty"`
	Placement  string `json:"placement"`
	OperatorID string `json:"operatorId"`
}

// ExpiresAt is when the entry is deleted automatically.
func (m PortMapping) ExpiresAt() time.Time { return time.UnixMilli(m.ExpiredTime).UTC() }

type napterState struct {
	byKey map[string]*PortMapping // ip:port -> entry (expired ones kept)
	ever  int
	// listen opens a real endpoint for each new entry (SetNapterListener).
	listen NapterListener
	// open: ip:port -> closes the entry's real endpoint (entries with one only).
	open map[string]func()
}

func (n *napterState) init() {
	if n.byKey == nil {
		n.byKey = map[string]*PortMapping{}
	}
	if n.open == nil {
		n.open = map[string]func(){}
	}
}

// expiredClosersLocked takes the closers of the expired entries' real
// endpoints, for the caller to run once it has released the lock.
func (n *napterState) expiredClosersLocked(now time.Time) []func() {
	var out []func()
	for key, f := range n.open {
		if m, ok := n.byKey[key]; !ok || !now.Before(time.UnixMilli(m.ExpiredTime)) {
			out = append(out, f)
			delete(n.open, key)
		}
	}
	return out
}

// NapterListener opens a real endpoint for a new Napter entry m (whose
// ipAddress, port, endpoint and hostname are not chosen yet) and returns
// its address (host:port) and a function that closes it. The emulator
// calls close when the entry is deleted, or once it has expired and a call
// observes it (any call: expiry is lazy on the clock). It is called with
// the emulator's lock held, and so may close be: neither may call back
// into the Server or block.
type NapterListener func(m PortMapping) (addr string, close func(), err error)

// SetNapterListener makes every Napter entry created from now on get a
// real endpoint from f: the entry's ipAddress and port are f's address,
// and its hostname is "localhost" when that address is a loopback one.
// nil goes back to made-up documentation addresses (the default).
func (s *Server) SetNapterListener(f NapterListener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.napter.listen = f
}

// CloseNapterEndpoints closes every entry's real endpoint (the entries stay).
func (s *Server) CloseNapterEndpoints() {
	s.mu.Lock()
	closers := make([]func(), 0, len(s.st.napter.open))
	for key, f := range s.st.napter.open {
		closers = append(closers, f)
		delete(s.st.napter.open, key)
	}
	s.mu.Unlock()
	for _, f := range closers {
		f()
	}
}

// ---- requests ----

type pmDestinationReq struct {
	SimID   string   `json:"simId"`
	IMSI    string   `json:"imsi"`
	Port    *float64 `json:"port"`
	Service string   `json:"service"`
}

type pmSourceReq struct {
	IPRanges []string `json:"ipRanges"`
}

type createPortMappingReq struct {
	Destination *pmDestinationReq `json:"destination"`
	Duration    *float64          `json:"duration"`
	Source      *pmSourceReq      `json:"source"`
	TLSRequired bool              `json:"tlsRequired"`
}

func pmInvalid(format string, args ...any) *apiError {
	return errf(http.StatusBadRequest, codePortMappingInvalid, format, args...)
}

func (s *Server) napterRoutes() []route {
	return []route{
		{"POST /v1/port_mappings", OpCreatePortMapping, authToken, s.hCreatePortMapping},
		{"GET /v1/port_mappings", OpListPortMappings, authToken, s.hListPortMappings},
		{"POST /v1/port_mappings/sims/{sim_id}", OpCreatePortMappingForSim, authToken, s.hCreatePortMappingForSim},
		{"GET /v1/port_mappings/sims/{sim_id}", OpListPortMappingsForSim, authToken, s.hListPortMappingsForSim},
		{"GET /v1/port_mappings/subscribers/{imsi}", OpListPortMappingsForSubscriber, authToken, s.hListPortMappingsForSubscriber},
		{"DELETE /v1/port_mappings/{ip_address}/{port}", OpDeletePortMapping, authToken, s.hDeletePortMapping},
	}
}

func (s *Server) hCreatePortMapping(c *call) (int, any, *apiError) {
	var req createPortMappingReq
	if err := decodeBody(c.r, &req, false); err != nil {
		return 0, nil, err
	}
	if req.Destination == nil {
		return 0, nil, pmInvalid("destination is required")
	}
	return s.createPortMapping(c, req)
}

func (s *Server) hCreatePortMappingForSim(c *call) (int, any, *apiError) {
	var req createPortMappingReq
	if err := decodeBody(c.r, &req, false); err != nil {
		return 0, nil, err
	}
	if req.Destination == nil {
		return 0, nil, pmInvalid("destination is required")
	}
	// PortMappingDestinationForSim has only port and service: the SIM is the path's.
	req.Destination.SimID, req.Destination.IMSI = c.r.PathValue("sim_id"), ""
	return s.createPortMapping(c, req)
}

func (s *Server) createPortMapping(c *call, req createPortMappingReq) (int, any, *apiError) {
	d := req.Destination
	if d.Port == nil {
		return 0, nil, pmInvalid("destination.port is required")
	}
	port := *d.Port
	if port != math.Trunc(port) || port < 1 || port > 65535 {
		return 0, nil, pmInvalid("destination.port must be an integer between 1 and 65535, not %v", port)
	}
	strategy := StrategyIMSIPrioritized
	if d.SimID != "" {
		switch d.Service {
		case "air":
			strategy = StrategyAirPrioritized
		case "arc":
			strategy = StrategyArcPrioritized
		case "":
			strategy = StrategyDynamic
		default:
			return 0, nil, pmInvalid("destination.service must be air or arc, not %q", d.Service)
		}
	} else if d.IMSI == "" {
		return 0, nil, pmInvalid("destination needs simId or imsi")
	}
	dur := PortMappingDefaultDuration
	if req.Duration != nil {
		// GUESS: fractions of a second are dropped; 0 is refused like any value below 1 s.
		secs := math.Trunc(*req.Duration)
		if secs < 1 || secs > PortMappingMaxDuration.Seconds() {
			return 0, nil, pmInvalid("duration must be between 1 and %d seconds, not %v", int(PortMappingMaxDuration.Seconds()), *req.Duration)
		}
		dur = time.Duration(secs) * time.Second
	}
	var ranges []string
	if req.Source != nil && len(req.Source.IPRanges) > 0 {
		for _, r := range req.Source.IPRanges {
			// GUESS: strict IPv4 network addresses, as for the other CIDRs of the API.
			p, err := parseCIDR4(strings.TrimSpace(r))
			if err != nil {
				return 0, nil, pmInvalid("source.ipRanges: invalid CIDR %q: %v", r, err)
			}
			ranges = append(ranges, p.String())
		}
	} else {
		// GUESS: without source, only the API caller's address may connect
		// (what the console offers by default).
		host, _, err := net.SplitHostPort(c.r.RemoteAddr)
		if err != nil {
			host = c.r.RemoteAddr
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			return 0, nil, pmInvalid("source.ipRanges is required")
		}
		ranges = []string{netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()).String()}
	}

	now, unlock := s.lock()
	defer unlock()
	var sim *simRec
	if d.SimID != "" {
		r, err := s.simLocked(c.opID, d.SimID)
		if err != nil {
			return 0, nil, err
		}
		sim = r
	} else {
		for _, r := range s.st.sims {
			if r.sim.IMSI == d.IMSI && s.st.simOwner(r) == c.opID {
				sim = r
				break
			}
		}
		if sim == nil {
			return 0, nil, errf(http.StatusNotFound, codeSIMNotFound, "Subscriber %s not found", d.IMSI)
		}
	}
	// GUESS (UNCONFIRMED in the reference): an offline SIM is accepted; the
	// connection fails until it comes online.
	n := &s.st.napter
	n.init()
	m := &PortMapping{
		CreatedTime: now.UnixMilli(),
		Duration:    int(dur / time.Second),
		ExpiredTime: now.Add(dur).UnixMilli(),
		Destination: PortMappingDestination{Port: int(port), Service: d.Service, DestinationChoosingStrategy: strategy},
		Source:      PortMappingSource{IPRanges: ranges},
		TLSRequired: req.TLSRequired,
		Placement:   s.napterPlacement(),
		OperatorID:  c.opID,
	}
	if strategy == StrategyIMSIPrioritized {
		m.Destination.IMSI, m.IMSI = sim.sim.IMSI, sim.sim.IMSI
	} else {
		m.Destination.SimID, m.SimID = sim.sim.ID, sim.sim.ID
	}
	if n.listen != nil {
		a, closeFn, err := n.listen(m.clone(now))
		if err != nil {
			return 0, nil, errf(http.StatusInternalServerError, codeInternal, "cannot open the Napter endpoint: %v", err)
		}
		ap, err := netip.ParseAddrPort(a)
		if err != nil {
			closeFn()
			return 0, nil, errf(http.StatusInternalServerError, codeInternal, "bad Napter endpoint %q: %v", a, err)
		}
		m.IPAddress, m.Port = ap.Addr().Unmap().String(), int(ap.Port())
		m.Endpoint = net.JoinHostPort(m.IPAddress, strconv.Itoa(m.Port))
		m.Hostname = napterHostname(ap.Addr())
		// The kernel may reuse the port of an expired entry whose endpoint is closed: the new entry replaces it.
		if old, ok := n.open[m.Endpoint]; ok {
			old() // cannot happen while the old endpoint is open; close it anyway
		}
		n.open[m.Endpoint] = closeFn
	} else {
		ip, pport := s.allocNapterLocked()
		m.IPAddress, m.Port = ip.String(), pport
		m.Endpoint = net.JoinHostPort(ip.String(), strconv.Itoa(pport))
		m.Hostname = napterHostname(ip)
	}
	n.byKey[m.Endpoint] = m
	return http.StatusCreated, m.clone(now), nil
}

// napterHostname is an entry's hostname: "localhost" for a real endpoint on
// loopback (the emulator's stand-in for Napter's global address).
func napterHostname(ip netip.Addr) string {
	if ip.IsLoopback() {
		return "localhost"
	}
	return "p-" + strings.ReplaceAll(ip.String(), ".", "-") + "." + NapterDomain
}

// allocNapterLocked picks a fresh address and port for a new entry.
func (s *Server) allocNapterLocked() (netip.Addr, int) {
	n := &s.st.napter
	for {
		i := n.ever
		n.ever++
		pool := napterPools[(i/254)%len(napterPools)]
		ip := addr(u32(pool.Addr()) + 1 + uint32(i%254))
		port := napterFirstPort + i%napterPorts
		if _, taken := n.byKey[net.JoinHostPort(ip.String(), strconv.Itoa(port))]; !taken {
			return ip, port
		}
	}
}

// napterPlacement is the rendezvous point. GUESS: the region of the
// coverage's default (the definition's "default" means Tokyo on Japan
// coverage, Frankfurt on Global).
func (s *Server) napterPlacement() string {
	if s.opts.Coverage == CoverageGlobal {
		return "aws:eu-central-1"
	}
	return "aws:ap-northeast-1"
}

func (m *PortMapping) clone(now time.Time) PortMapping {
	c := *m
	c.Source.IPRanges = slices.Clone(m.Source.IPRanges)
	c.Expired = !now.Before(time.UnixMilli(m.ExpiredTime))
	return c
}

// liveMappingsLocked returns the operator's unexpired entries matching keep, ordered by endpoint.
func (s *Server) liveMappingsLocked(now time.Time, opID string, keep func(*PortMapping) bool) []PortMapping {
	out := []PortMapping{}
	for _, m := range s.st.napter.byKey {
		if m.OperatorID != opID || !now.Before(time.UnixMilli(m.ExpiredTime)) || !keep(m) {
			continue
		}
		out = append(out, m.clone(now))
	}
	slices.SortFunc(out, func(a, b PortMapping) int { return cmp.Compare(a.Endpoint, b.Endpoint) })
	return out
}

// hListPortMappings pages by endpoint ("ip:port"). GUESS: the definition
// calls the key "the last On-Demand Remote Access ID" without defining it.
func (s *Server) hListPortMappings(c *call) (int, any, *apiError) {
	now, unlock := s.lock()
	items := s.liveMappingsLocked(now, c.opID, func(*PortMapping) bool { return true })
	unlock()
	return listPage(c, items, func(m PortMapping) string { return m.Endpoint }, s.opts.PageSize)
}

// hListPortMappingsForSim: not paginated; 404 when there are none (documented).
func (s *Server) hListPortMappingsForSim(c *call) (int, any, *apiError) {
	id := c.r.PathValue("sim_id")
	now, unlock := s.lock()
	defer unlock()
	items := s.liveMappingsLocked(now, c.opID, func(m *PortMapping) bool {
		return m.Destination.DestinationChoosingStrategy != StrategyIMSIPrioritized && m.SimID == id
	})
	if len(items) == 0 {
		return 0, nil, errf(http.StatusNotFound, codePortMappingNotFound, "No port mappings found for SIM %s", id)
	}
	return http.StatusOK, items, nil
}

// hListPortMappingsForSubscriber: IMSI_PRIORITIZED entries only; 404 when none (documented).
func (s *Server) hListPortMappingsForSubscriber(c *call) (int, any, *apiError) {
	imsi := c.r.PathValue("imsi")
	now, unlock := s.lock()
	defer unlock()
	items := s.liveMappingsLocked(now, c.opID, func(m *PortMapping) bool {
		return m.Destination.DestinationChoosingStrategy == StrategyIMSIPrioritized && m.IMSI == imsi
	})
	if len(items) == 0 {
		return 0, nil, errf(http.StatusNotFound, codePortMappingNotFound, "No port mappings found for subscriber %s", imsi)
	}
	return http.StatusOK, items, nil
}

func (s *Server) hDeletePortMapping(c *call) (int, any, *apiError) {
	ip, port := c.r.PathValue("ip_address"), c.r.PathValue("port")
	now, unlock := s.lock()
	key := net.JoinHostPort(ip, port)
	m, ok := s.st.napter.byKey[key]
	if !ok || m.OperatorID != c.opID || !now.Before(time.UnixMilli(m.ExpiredTime)) {
		unlock()
		return 0, nil, errf(http.StatusNotFound, codePortMappingNotFound, "Port mapping %s not found", key)
	}
	delete(s.st.napter.byKey, key)
	closeFn := s.st.napter.open[key]
	delete(s.st.napter.open, key)
	unlock()
	if closeFn != nil {
		// Closed before the 204 goes out: the port refuses once the client has its answer.
		closeFn()
	}
	return http.StatusNoContent, nil, nil
}

// ---- Go API ----

// PortMappings returns every Napter entry of every operator, expired ones
// included (Expired set from the clock), ordered by creation then endpoint.
// Deleted entries are gone.
func (s *Server) PortMappings() []PortMapping {
	now, unlock := s.lock()
	defer unlock()
	out := make([]PortMapping, 0, len(s.st.napter.byKey))
	for _, m := range s.st.napter.byKey {
		out = append(out, m.clone(now))
	}
	slices.SortFunc(out, func(a, b PortMapping) int {
		return cmp.Or(cmp.Compare(a.CreatedTime, b.CreatedTime), cmp.Compare(a.Endpoint, b.Endpoint))
	})
	return out
}

// PortMappingCalls counts the Napter calls the emulator has answered, by
// operation (the fault injector's call log; injected faults included).
func (s *Server) PortMappingCalls() map[string]int {
	out := map[string]int{}
	for _, op := range []string{OpCreatePortMapping, OpCreatePortMappingForSim, OpListPortMappings,
		OpListPortMappingsForSim, OpListPortMappingsForSubscriber, OpDeletePortMapping} {
		out[op] = s.faults.Count(API, op)
	}
	return out
}

// String is "203.0.113.1:40000 → sim 8981… port 22".
func (m PortMapping) String() string {
	dst := m.SimID
	if dst == "" {
		dst = "imsi " + m.IMSI
	} else {
		dst = "sim " + dst
	}
	return fmt.Sprintf("%s → %s port %d", m.Endpoint, dst, m.Destination.Port)
}
