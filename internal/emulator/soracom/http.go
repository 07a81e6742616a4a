package soracom

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Protocol layer: routing, authentication headers, rate-limit headers,
// pagination headers and JSON bodies.

type authMode int

const (
	authNone    authMode = iota // /auth: no headers; rate-limited per source IP
	authToken                   // X-Soracom-API-Key + X-Soracom-Token of a live token
	authRefresh                 // token refresh: the handler checks the headers itself
)

// call is one request as seen by a handler.
type call struct {
	r    *http.Request
	w    http.ResponseWriter // for extra headers (pagination)
	opID string              // the caller's operator (authToken only)
}

// result of a handler: status, body (nil for none), or an error.
type handlerFunc func(c *call) (int, any, *apiError)

type route struct {
	pattern string
	op      string
	auth    authMode
	fn      handlerFunc
}

func (s *Server) routes() {
	const vpg = "/v1/virtual_private_gateways/{vpg_id}"
	const grp = "/v1/groups/{group_id}"
	rs := []route{
		{"POST /v1/auth", OpAuth, authNone, s.hAuth},
		{"POST /v1/auth/logout", OpLogout, authToken, s.hLogout},
		{"POST /v1/operators/{operator_id}/token", OpGenerateAuthToken, authRefresh, s.hRefresh},

		{"POST /v1/virtual_private_gateways", OpCreateVPG, authToken, s.hCreateVPG},
		{"GET /v1/virtual_private_gateways", OpListVPGs, authToken, s.hListVPGs},
		{"GET " + vpg, OpGetVPG, authToken, s.hGetVPG},
		{"POST " + vpg + "/terminate", OpTerminateVPG, authToken, s.hTerminateVPG},
		{"PUT " + vpg + "/tags", OpPutVPGTags, authToken, s.hPutVPGTags},
		{"DELETE " + vpg + "/tags/{tag_name}", OpDeleteVPGTag, authToken, s.hDeleteVPGTag},
		{"POST " + vpg + "/gate/open", OpOpenGate, authToken, s.hOpenGate},
		{"POST " + vpg + "/gate/close", OpCloseGate, authToken, s.hCloseGate},
		{"POST " + vpg + "/gate/enable_privacy_separator", OpEnableGatePrivacySeparator, authToken, s.hPrivacySep(true)},
		{"POST " + vpg + "/gate/disable_privacy_separator", OpDisableGatePrivacySeparator, authToken, s.hPrivacySep(false)},
		{"POST " + vpg + "/gate/set_vxlan_id", OpSetVxlanID, authToken, s.hSetVxlanID},
		{"GET " + vpg + "/gate/peers", OpListGatePeers, authToken, s.hListPeers},
		{"POST " + vpg + "/gate/peers", OpRegisterGatePeer, authToken, s.hRegisterPeer},
		{"DELETE " + vpg + "/gate/peers/{outer_ip_address}", OpUnregisterGatePeer, authToken, s.hUnregisterPeer},
		{"POST " + vpg + "/gate/routing/static/sims/enable", OpEnableSimBasedRouting, authToken, s.hSimRouting(true)},
		{"POST " + vpg + "/gate/routing/static/sims/disable", OpDisableSimBasedRouting, authToken, s.hSimRouting(false)},
		{"PUT " + vpg + "/gate/routing/static/sims/routes", OpPutSimBasedRoutes, authToken, s.hPutSimRoutes},
		{"POST " + vpg + "/vpc_peering_connections", OpCreateVPCPeering, authToken, s.hCreatePeering},
		{"DELETE " + vpg + "/vpc_peering_connections/{pcx_id}", OpDeleteVPCPeering, authToken, s.hDeletePeering},
		{"POST " + vpg + "/junction/mirroring/peers", OpCreateMirroringPeer, authToken, s.hPutMirroringPeer},
		{"PUT " + vpg + "/junction/mirroring/peers/{ipaddr}", OpUpdateMirroringPeer, authToken, s.hUpdateMirroringPeer},
		{"DELETE " + vpg + "/junction/mirroring/peers/{ipaddr}", OpDeleteMirroringPeer, authToken, s.hDeleteMirroringPeer},
		{"POST " + vpg + "/junction/set_inspection", OpSetInspection, authToken, s.hSetInspection},
		{"POST " + vpg + "/junction/unset_inspection", OpUnsetInspection, authToken, s.hUnsetInspection},
		{"POST " + vpg + "/junction/set_redirection", OpSetRedirection, authToken, s.hSetRedirection},
		{"POST " + vpg + "/junction/unset_redirection", OpUnsetRedirection, authToken, s.hUnsetRedirection},

		{"POST /v1/groups", OpCreateGroup, authToken, s.hCreateGroup},
		{"GET /v1/groups", OpListGroups, authToken, s.hListGroups},
		{"GET " + grp, OpGetGroup, authToken, s.hGetGroup},
		{"DELETE " + grp, OpDeleteGroup, authToken, s.hDeleteGroup},
		{"PUT " + grp + "/tags", OpPutGroupTags, authToken, s.hPutGroupTags},
		{"DELETE " + grp + "/tags/{tag_name}", OpDeleteGroupTag, authToken, s.hDeleteGroupTag},
		{"PUT " + grp + "/configuration/{namespace}", OpPutGroupConfig, authToken, s.hPutConfig},
		{"DELETE " + grp + "/configuration/{namespace}", OpDeleteGroupNamespace, authToken, s.hDeleteNamespace},
		{"DELETE " + grp + "/configuration/{namespace}/{name}", OpDeleteGroupConfigKey, authToken, s.hDeleteConfigKey},
		{"GET " + grp + "/subscribers", OpListGroupSubscribers, authToken, s.hGroupSubscribers},

		{"GET /v1/sims", OpListSims, authToken, s.hListSims},
		{"GET /v1/sims/{sim_id}", OpGetSim, authToken, s.hGetSim},
		{"POST /v1/sims/{sim_id}/set_group", OpSetSimGroup, authToken, s.hSetGroup},
		{"POST /v1/sims/{sim_id}/unset_group", OpUnsetSimGroup, authToken, s.hUnsetGroup},
		{"POST /v1/sims/{sim_id}/delete_session", OpDeleteSession, authToken, s.hDeleteSession},
	}
	rs = append(rs, s.napterRoutes()...)
	s.mux = http.NewServeMux()
	s.ops = map[string]string{}
	for _, rt := range rs {
		s.mux.HandleFunc(rt.pattern, s.wrap(rt))
		s.ops[rt.pattern] = rt.op
	}
}

// opOf names a call for the fault injector.
func (s *Server) opOf(r *http.Request) string {
	if _, pat := s.mux.Handler(r); pat != "" {
		if op, ok := s.ops[pat]; ok {
			return op
		}
	}
	return OpUnknown
}

// serve routes a request, answering unknown paths (404) and wrong methods
// (405) with JSON error bodies instead of ServeMux's plain text.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	h, pat := s.mux.Handler(r)
	if secs, refused := s.quotaRefusal(s.ops[pat]); pat != "" && refused {
		writeThrottled(w, s.opts.RateLimitPerMinute, secs)
		return
	}
	if pat == "" {
		rec := &headerRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		switch rec.code {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", rec.header.Get("Allow"))
			writeError(w, errf(http.StatusMethodNotAllowed, codeNoMethod, "Method %s is not allowed on %s", r.Method, r.URL.Path))
			return
		case http.StatusNotFound:
			writeError(w, errf(http.StatusNotFound, codeNoRoute, "No such API: %s %s", r.Method, r.URL.Path))
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

type headerRecorder struct {
	header http.Header
	code   int
}

func (h *headerRecorder) Header() http.Header { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) {
	if h.code == 0 {
		h.code = http.StatusOK
	}
	return len(b), nil
}
func (h *headerRecorder) WriteHeader(code int) {
	if h.code == 0 {
		h.code = code
	}
}

// wrap applies authentication and rate limiting, runs the handler and writes its result.
func (s *Server) wrap(rt route) http.HandlerFunc {
	path := rt.pattern[strings.IndexByte(rt.pattern, ' ')+1:]
	return func(w http.ResponseWriter, r *http.Request) {
		c := &call{r: r, w: w}
		var who string
		switch rt.auth {
		case authToken:
			s.mu.Lock()
			opID, err := s.st.checkToken(s.clock.Now(), r.Header.Get("X-Soracom-API-Key"), r.Header.Get("X-Soracom-Token"))
			s.mu.Unlock()
			if err != nil {
				writeError(w, err)
				return
			}
			c.opID, who = opID, "op:"+opID
		case authRefresh:
			who = "op:" + r.PathValue("operator_id")
		default:
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				host = r.RemoteAddr
			}
			who = "ip:" + host // /auth is limited per source IP (reference §9)
		}
		if limit := s.opts.RateLimitPerMinute; limit > 0 {
			s.mu.Lock()
			remaining, secs, ok := s.st.rateCheck(s.clock.Now(), who, path, limit)
			s.mu.Unlock()
			h := w.Header()
			h.Set("X-Soracom-Ratelimit-Limit", strconv.Itoa(limit))
			h.Set("X-Soracom-Ratelimit-Remaining", strconv.Itoa(remaining))
			h.Set("X-Soracom-Ratelimit-Seconds-Before-Refresh", strconv.Itoa(secs))
			if !ok {
				writeError(w, errf(http.StatusTooManyRequests, codeRateLimited, "Rate limit exceeded"))
				return
			}
		}
		status, body, err := rt.fn(c)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, status, body)
	}
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, e.body())
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	if body == nil || status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	b, err := json.Marshal(body)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"code":"` + codeInternal + `","message":"encoding response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decodeBody reads a JSON body into v. An empty body is an error unless optional.
func decodeBody(r *http.Request, v any, optional bool) *apiError {
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return errf(http.StatusBadRequest, codeBadRequest, "reading body: %v", err)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		if optional {
			return nil
		}
		return errf(http.StatusBadRequest, codeBadRequest, "a JSON body is required")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return errf(http.StatusBadRequest, codeBadRequest, "invalid JSON body: %v", err)
	}
	return nil
}

// ---- tag filters ----

type tagFilter struct {
	name, value string
	prefix      bool
}

func parseTagFilter(q url.Values) (tagFilter, *apiError) {
	f := tagFilter{name: q.Get("tag_name"), value: q.Get("tag_value")}
	if f.name != "" && !q.Has("tag_value") {
		return f, errf(http.StatusBadRequest, codeBadRequest, "tag_value is required with tag_name")
	}
	switch q.Get("tag_value_match_mode") {
	case "", "exact":
	case "prefix":
		f.prefix = true
	default:
		return f, errf(http.StatusBadRequest, codeBadRequest, "tag_value_match_mode must be exact or prefix")
	}
	return f, nil
}

func (f tagFilter) match(tags map[string]string) bool {
	if f.name == "" {
		return true
	}
	v, ok := tags[f.name]
	if !ok {
		return false
	}
	if f.prefix {
		return strings.HasPrefix(v, f.value)
	}
	return v == f.value
}

// ---- pagination ----

// paginate returns the page after last_evaluated_key (items are sorted by
// key), the next key when more remain, and the effective limit.
func paginate[T any](r *http.Request, items []T, key func(T) string, pageSize int) ([]T, string, int, *apiError) {
	q := r.URL.Query()
	limit := pageSize
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return nil, "", 0, errf(http.StatusBadRequest, codeBadRequest, "limit must be a positive integer")
		}
		limit = min(n, pageSize) // limit only lowers the page size (reference §9)
	}
	start := 0
	if lek := q.Get("last_evaluated_key"); lek != "" {
		for start < len(items) && key(items[start]) <= lek {
			start++
		}
	}
	end := min(start+limit, len(items))
	page := items[start:end]
	if page == nil {
		page = []T{}
	}
	next := ""
	if end < len(items) {
		next = key(items[end-1])
	}
	return page, next, limit, nil
}

// setNextHeaders sends both pagination headers SORACOM uses.
func setNextHeaders(w http.ResponseWriter, r *http.Request, next string, limit int) {
	if next == "" {
		return
	}
	q := r.URL.Query()
	q.Set("last_evaluated_key", next)
	q.Set("limit", strconv.Itoa(limit))
	w.Header().Set("X-Soracom-Next-Key", next)
	w.Header().Set("Link", "<"+r.URL.Path+"?"+q.Encode()+">; rel=next")
}

// listPage paginates items and writes the headers; it returns the page as the body.
func listPage[T any](c *call, items []T, key func(T) string, pageSize int) (int, any, *apiError) {
	page, next, limit, err := paginate(c.r, items, key, pageSize)
	if err != nil {
		return 0, nil, err
	}
	setNextHeaders(c.w, c.r, next, limit)
	return http.StatusOK, page, nil
}
