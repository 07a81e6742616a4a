// Package admin is the cloud emulator's admin HTTP API: it arms and disarms
// the shared fault injector's rules, reads and clears the call log, and
// seeds a larger world, so that tests running outside the emulator's process
// (hack/cloud-emulator) can do what in-process tests do through the Go API.
// docs/emulator.md documents it for people writing end-to-end tests.
//
//	GET    /healthz             200 {"status":"ok"}
//	GET    /faults              the armed rules, in the order they are consulted
//	POST   /faults              arm a rule (Rule); 201 with the rule as armed
//	DELETE /faults              disarm every rule (the call log is kept); 204
//	GET    /calls               the call log (?api=&operation=&fault= filter it) and its count
//	DELETE /calls               empty the call log (the rules are kept); 204
//	GET    /world               every VPC and SIM seeded through POST /world (or --world-*)
//	POST   /world               {"vpcs":N,"sims":N}: seed more (emulator.Cloud.SeedWorld); 201
//
// Bodies are JSON both ways. A bad request is a 400 whose body names the
// field at fault ({"error":"…","field":"kind"}) and changes nothing; a
// method a path does not serve is a 405 with an Allow header. The API's own
// requests are not in the call log.
package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatestream/gatestream/internal/emulator"
	"github.com/gatestream/gatestream/internal/emulator/fault"
)

// maxBody bounds a request body.
const maxBody = 1 << 20

// MaxLatency bounds a rule's added latency (a longer one would only hang the caller).
const MaxLatency = 10 * time.Minute

// MaxWorldSIMsPerRequest bounds the SIMs one POST /world seeds.
const MaxWorldSIMsPerRequest = 100_000

// APIs are the API names a rule or a call-log filter accepts, besides fault.Any.
var APIs = []string{emulator.APISoracom, emulator.APIAppStream, emulator.APIEC2}

// Rule is a fault rule on the wire (fault.Rule).
type Rule struct {
	// API is soracom, appstream, ec2 or * (required).
	API string `json:"api"`
	// Operation is the operation name as the call log spells it, or * (the
	// default): soracom-cli operation ids on SORACOM (createVirtualPrivateGateway,
	// listSims…), action names on AppStream and EC2 (CreateFleet, DescribeVpcs…,
	// and OpenStreamingURL for a GET of a streaming URL).
	Operation string `json:"operation"`
	// Kind is throttle, server-error, unavailable, lose-response or none (the
	// default; a none rule needs latencyMs or rate).
	Kind string `json:"kind"`
	// Probability in [0,1] that a matching call gets the fault; 0 means always.
	Probability float64 `json:"probability"`
	// Times limits how many calls the rule affects; 0 means unlimited.
	Times int `json:"times"`
	// LatencyMs is added before every matching call is served.
	LatencyMs int64 `json:"latencyMs"`
	// Rate, when positive, makes the rule a rate limit of Rate calls per
	// second with bursts of Burst; calls beyond it get Kind (throttle when none).
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst"`
	// PerAPI makes a rate rule count all matching operations of an API in one bucket.
	PerAPI bool `json:"perApi"`
}

// FieldError is a request error about one field (the JSON body of every 400).
type FieldError struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"error"`
}

// Error is the message, which starts with the field's name.
func (e *FieldError) Error() string { return e.Message }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// FaultRule validates r and returns the injector's rule.
func (r Rule) FaultRule() (fault.Rule, error) {
	api := r.API
	switch {
	case api == "":
		return fault.Rule{}, fieldErr("api", "required: one of %s or %s", strings.Join(APIs, ", "), fault.Any)
	case api != fault.Any && !slices.Contains(APIs, api):
		return fault.Rule{}, fieldErr("api", "unknown API %q (want one of %s or %s)", api, strings.Join(APIs, ", "), fault.Any)
	}
	op := r.Operation
	if op == "" {
		op = fault.Any
	}
	if err := checkOperation(api, op); err != nil {
		return fault.Rule{}, err
	}
	kind := fault.None
	if r.Kind != "" {
		k, err := fault.ParseKind(r.Kind)
		if err != nil {
			return fault.Rule{}, fieldErr("kind", "unknown kind %q (want throttle, server-error, unavailable, lose-response or none)", r.Kind)
		}
		kind = k
	}
	switch {
	case math.IsNaN(r.Probability) || r.Probability < 0 || r.Probability > 1:
		return fault.Rule{}, fieldErr("probability", "%v is not in [0,1] (0 means always)", r.Probability)
	case r.Times < 0:
		return fault.Rule{}, fieldErr("times", "%d is negative (0 means unlimited)", r.Times)
	case r.LatencyMs < 0 || time.Duration(r.LatencyMs)*time.Millisecond > MaxLatency:
		return fault.Rule{}, fieldErr("latencyMs", "%d is not in [0,%d]", r.LatencyMs, MaxLatency.Milliseconds())
	case math.IsNaN(r.Rate) || math.IsInf(r.Rate, 0) || r.Rate < 0:
		return fault.Rule{}, fieldErr("rate", "%v is negative (0: not a rate limit)", r.Rate)
	case r.Burst < 0:
		return fault.Rule{}, fieldErr("burst", "%d is negative", r.Burst)
	case r.Rate == 0 && r.Burst != 0:
		return fault.Rule{}, fieldErr("burst", "only a rate rule (rate > 0) has a burst")
	case r.Rate == 0 && r.PerAPI:
		return fault.Rule{}, fieldErr("perApi", "only a rate rule (rate > 0) has buckets")
	case r.Rate > 0 && r.Probability != 0:
		return fault.Rule{}, fieldErr("probability", "a rate rule (rate > 0) fires on every call beyond the rate; it takes no probability")
	case kind == fault.None && r.LatencyMs == 0 && r.Rate == 0:
		return fault.Rule{}, fieldErr("kind", "a rule of kind none does nothing without latencyMs or rate (want throttle, server-error, unavailable or lose-response)")
	}
	return fault.Rule{
		API: api, Op: op, Kind: kind, Probability: r.Probability, Times: r.Times,
		Latency: time.Duration(r.LatencyMs) * time.Millisecond,
		Rate:    r.Rate, Burst: r.Burst, PerAPI: r.PerAPI,
	}, nil
}

// checkOperation catches the usual misspelling of an operation name (a rule
// that never fires is worse than a 400): SORACOM names its operations in
// lowerCamelCase, AWS in UpperCamelCase.
func checkOperation(api, op string) error {
	if op == fault.Any {
		return nil
	}
	for i, r := range op {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return fieldErr("operation", "%q is not an operation name (letters and digits, or %s)", op, fault.Any)
		}
	}
	upper := op[0] >= 'A' && op[0] <= 'Z'
	switch {
	case api == emulator.APISoracom && upper:
		return fieldErr("operation", "%q: SORACOM operations are soracom-cli operation ids in lowerCamelCase, e.g. createVirtualPrivateGateway, listSims", op)
	case (api == emulator.APIAppStream || api == emulator.APIEC2) && !upper:
		return fieldErr("operation", "%q: AWS operations are action names in UpperCamelCase, e.g. CreateFleet, DescribeVpcs", op)
	}
	return nil
}

// RuleOf is the wire form of an armed rule.
func RuleOf(r fault.Rule) Rule {
	op := r.Op
	if op == "" {
		op = fault.Any
	}
	api := r.API
	if api == "" {
		api = fault.Any
	}
	return Rule{API: api, Operation: op, Kind: r.Kind.String(), Probability: r.Probability, Times: r.Times,
		LatencyMs: r.Latency.Milliseconds(), Rate: r.Rate, Burst: r.Burst, PerAPI: r.PerAPI}
}

// ParseRule parses the command-line form of a rule,
// api:operation:kind[:probability[:times]] (for example soracom:*:throttle:0.2
// or ec2:DescribeVpcs:server-error:0:1), and validates it. Errors name the
// part at fault but not s.
func ParseRule(s string) (fault.Rule, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 3 || len(parts) > 5 {
		return fault.Rule{}, errors.New("want api:operation:kind[:probability[:times]], e.g. soracom:*:throttle:0.2")
	}
	r := Rule{API: parts[0], Operation: parts[1], Kind: parts[2]}
	if r.Kind == "" {
		return fault.Rule{}, errors.New("kind: required (throttle, server-error, unavailable or lose-response)")
	}
	if len(parts) > 3 {
		p, err := strconv.ParseFloat(parts[3], 64)
		if err != nil {
			return fault.Rule{}, fmt.Errorf("probability: %q is not a number", parts[3])
		}
		r.Probability = p
	}
	if len(parts) > 4 {
		n, err := strconv.Atoi(parts[4])
		if err != nil {
			return fault.Rule{}, fmt.Errorf("times: %q is not an integer", parts[4])
		}
		r.Times = n
	}
	return r.FaultRule()
}

// FormatRule is the command-line form of a rule without latency or rate
// (api:operation:kind:probability[:times]), the inverse of ParseRule.
func FormatRule(r fault.Rule) string {
	w := RuleOf(r)
	s := fmt.Sprintf("%s:%s:%s:%s", w.API, w.Operation, w.Kind, strconv.FormatFloat(w.Probability, 'g', -1, 64))
	if w.Times > 0 {
		s += ":" + strconv.Itoa(w.Times)
	}
	return s
}

// Rules is the body of GET /faults.
type Rules struct {
	Rules []Rule `json:"rules"`
}

// Call is one entry of the call log on the wire.
type Call struct {
	API       string `json:"api"`
	Operation string `json:"operation"`
	// Status is the HTTP status written (0 when the response was lost or the client gave up).
	Status int `json:"status"`
	// Fault is the fault injected (none when the call was served normally).
	Fault string    `json:"fault"`
	Time  time.Time `json:"time"`
}

// Calls is the body of GET /calls.
type Calls struct {
	Count int    `json:"count"`
	Calls []Call `json:"calls"`
}

// WorldRequest is the body of POST /world.
type WorldRequest struct {
	VPCs int `json:"vpcs"`
	SIMs int `json:"sims"`
}

// World is the body of POST /world and GET /world: the VPCs and SIMs, and
// their identifiers as flat lists.
type World struct {
	emulator.World
	VPCIDs           []string `json:"vpcIds"`
	SubnetIDs        []string `json:"subnetIds"`
	RouteTableIDs    []string `json:"routeTableIds"`
	SecurityGroupIDs []string `json:"securityGroupIds"`
	SIMIDs           []string `json:"simIds"`
}

func worldOf(w *emulator.World) World {
	out := World{World: *w, VPCIDs: w.VPCIDs(), SIMIDs: w.SIMIDs(),
		SubnetIDs: []string{}, RouteTableIDs: []string{}, SecurityGroupIDs: []string{}}
	for _, v := range w.VPCs {
		for _, s := range v.Subnets {
			out.SubnetIDs = append(out.SubnetIDs, s.ID)
		}
		out.RouteTableIDs = append(out.RouteTableIDs, v.RouteTableIDs...)
		out.SecurityGroupIDs = append(out.SecurityGroupIDs, v.SecurityGroupID)
	}
	return out
}

// Handler serves the admin API over one cloud.
type Handler struct {
	cloud  *emulator.Cloud
	routes map[string]map[string]http.HandlerFunc // path -> method -> handler
}

// New returns the admin API of c.
func New(c *emulator.Cloud) *Handler {
	h := &Handler{cloud: c}
	h.routes = map[string]map[string]http.HandlerFunc{
		"/healthz": {http.MethodGet: h.healthz},
		"/faults":  {http.MethodGet: h.listFaults, http.MethodPost: h.addFault, http.MethodDelete: h.resetFaults},
		"/calls":   {http.MethodGet: h.listCalls, http.MethodDelete: h.clearCalls},
		"/world":   {http.MethodGet: h.getWorld, http.MethodPost: h.seedWorld},
	}
	return h
}

// ServeHTTP routes a request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	methods, ok := h.routes[r.URL.Path]
	if !ok {
		paths := make([]string, 0, len(h.routes))
		for p := range h.routes {
			paths = append(paths, p)
		}
		slices.Sort(paths)
		writeJSON(w, http.StatusNotFound, FieldError{Message: fmt.Sprintf("no such path %s (the admin API serves %s)", r.URL.Path, strings.Join(paths, ", "))})
		return
	}
	fn, ok := methods[r.Method]
	if !ok && r.Method == http.MethodHead {
		fn, ok = methods[http.MethodGet]
	}
	if !ok {
		allow := make([]string, 0, len(methods))
		for m := range methods {
			allow = append(allow, m)
		}
		slices.Sort(allow)
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, FieldError{Message: fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", "))})
		return
	}
	fn(w, r)
}

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	if !noQuery(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *Handler) listFaults(w http.ResponseWriter, r *http.Request) {
	if !noQuery(w, r) {
		return
	}
	out := Rules{Rules: []Rule{}}
	for _, fr := range h.cloud.Faults.Rules() {
		out.Rules = append(out.Rules, RuleOf(fr))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) addFault(w http.ResponseWriter, r *http.Request) {
	var in Rule
	if !noQuery(w, r) || !decode(w, r, &in) {
		return
	}
	fr, err := in.FaultRule()
	if err != nil {
		writeError(w, err)
		return
	}
	h.cloud.Faults.Add(fr)
	writeJSON(w, http.StatusCreated, RuleOf(fr))
}

func (h *Handler) resetFaults(w http.ResponseWriter, r *http.Request) {
	if !noQuery(w, r) {
		return
	}
	h.cloud.Faults.Reset() // keeps the call log
	// Back to normal service at once: the SORACOM quotas that injected
	// throttles ran out are refreshed too (left alone, they would refuse
	// until the minute's end, as SORACOM does).
	h.cloud.Soracom.RefreshQuotas()
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) listCalls(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "api" && k != "operation" && k != "fault" {
			writeError(w, fieldErr(k, "unknown query parameter (want api, operation, fault)"))
			return
		}
		if len(q[k]) > 1 {
			writeError(w, fieldErr(k, "given %d times", len(q[k])))
			return
		}
	}
	api, op := q.Get("api"), q.Get("operation")
	if api == "" {
		api = fault.Any
	}
	if op == "" {
		op = fault.Any
	}
	if api != fault.Any && !slices.Contains(APIs, api) {
		writeError(w, fieldErr("api", "unknown API %q (want one of %s or %s)", api, strings.Join(APIs, ", "), fault.Any))
		return
	}
	if err := checkOperation(api, op); err != nil {
		writeError(w, err)
		return
	}
	var kind *fault.Kind
	if s := q.Get("fault"); s != "" {
		k, err := fault.ParseKind(s)
		if err != nil {
			writeError(w, fieldErr("fault", "unknown kind %q (want none, throttle, server-error, unavailable or lose-response)", s))
			return
		}
		kind = &k
	}
	out := Calls{Calls: []Call{}}
	for _, c := range h.cloud.Faults.Calls(api, op) {
		if kind != nil && c.Fault != *kind {
			continue
		}
		out.Calls = append(out.Calls, Call{API: c.API, Operation: c.Op, Status: c.Status, Fault: c.Fault.String(), Time: c.At})
	}
	out.Count = len(out.Calls)
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) clearCalls(w http.ResponseWriter, r *http.Request) {
	if !noQuery(w, r) {
		return
	}
	h.cloud.Faults.ClearLog() // keeps the rules
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) getWorld(w http.ResponseWriter, r *http.Request) {
	if !noQuery(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, worldOf(h.cloud.SeededWorld()))
}

func (h *Handler) seedWorld(w http.ResponseWriter, r *http.Request) {
	var in WorldRequest
	if !noQuery(w, r) || !decode(w, r, &in) {
		return
	}
	have := h.cloud.SeededWorld()
	switch {
	case in.VPCs < 0:
		writeError(w, fieldErr("vpcs", "%d is negative", in.VPCs))
		return
	case in.SIMs < 0:
		writeError(w, fieldErr("sims", "%d is negative", in.SIMs))
		return
	case len(have.VPCs)+in.VPCs > emulator.MaxWorldVPCs:
		writeError(w, fieldErr("vpcs", "%d more would exceed the %d world VPCs a cloud can have (%d exist)", in.VPCs, emulator.MaxWorldVPCs, len(have.VPCs)))
		return
	case in.SIMs > MaxWorldSIMsPerRequest:
		writeError(w, fieldErr("sims", "%d is more than %d per request", in.SIMs, MaxWorldSIMsPerRequest))
		return
	case len(have.SIMs)+in.SIMs > emulator.MaxWorldSIMs:
		writeError(w, fieldErr("sims", "%d more would exceed the %d world SIMs a cloud can have (%d exist)", in.SIMs, emulator.MaxWorldSIMs, len(have.SIMs)))
		return
	}
	world, err := h.cloud.SeedWorld(in.VPCs, in.SIMs)
	if err != nil {
		// The demo world is not seeded, or a concurrent request took the last VPCs.
		writeJSON(w, http.StatusConflict, FieldError{Message: err.Error()})
		return
	}
	writeJSON(w, http.StatusCreated, worldOf(world))
}

// noQuery refuses a query string on an endpoint that takes none (a typo
// would otherwise be silently ignored).
func noQuery(w http.ResponseWriter, r *http.Request) bool {
	for k := range r.URL.Query() {
		writeError(w, fieldErr(k, "unknown query parameter (%s %s takes none)", r.Method, r.URL.Path))
		return false
	}
	return true
}

// decode reads one JSON object into v, refusing unknown fields, and writes
// a 400 naming the field when it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("data after the JSON object")
		}
	}
	if err == nil {
		return true
	}
	var typeErr *json.UnmarshalTypeError
	var maxErr *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		writeError(w, fieldErr("body", "empty; want a JSON object"))
	case errors.As(err, &maxErr):
		writeError(w, fieldErr("body", "larger than %d bytes", maxBody))
	case errors.As(err, &typeErr) && typeErr.Field != "":
		writeError(w, fieldErr(typeErr.Field, "want a %s, got a JSON %s", typeErr.Type, typeErr.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		writeError(w, fieldErr(name, "unknown field"))
	default:
		writeError(w, fieldErr("body", "not a JSON object: %v", err))
	}
	return false
}

func writeError(w http.ResponseWriter, err error) {
	var fe *FieldError
	if !errors.As(err, &fe) {
		fe = &FieldError{Message: err.Error()}
	}
	writeJSON(w, http.StatusBadRequest, fe)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the response failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
