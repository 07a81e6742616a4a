// Package fault is the emulators' shared fault injection and call log.
//
// Every emulated API (SORACOM, AppStream, EC2) names each call by (API,
// operation). Tests arm rules per API and operation — throttling, server
// errors, added latency, "the call succeeded but the response was lost", and
// a request rate limit like the clouds' own — and read the call log to count
// calls (for example: how many VPGs were ever created). Decisions come from a
// seeded random source so a failing run can be replayed.
package fault

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Kind is one kind of injected fault.
type Kind int

const (
	// None: serve the call normally.
	None Kind = iota
	// Throttle: answer with the API's throttling error (429, ThrottlingException, RequestLimitExceeded) without touching state.
	Throttle
	// ServerError: answer 500 without touching state.
	ServerError
	// Unavailable: answer 503 without touching state.
	Unavailable
	// LoseResponse: perform the call (state changes) and then close the connection without a response.
	LoseResponse
)

func (k Kind) String() string {
	switch k {
	case Throttle:
		return "throttle"
	case ServerError:
		return "server-error"
	case Unavailable:
		return "unavailable"
	case LoseResponse:
		return "lose-response"
	default:
		return "none"
	}
}

// kinds are every Kind, in order.
var kinds = [...]Kind{None, Throttle, ServerError, Unavailable, LoseResponse}

// ParseKind returns the Kind whose String is s ("throttle", "server-error",
// "unavailable", "lose-response" or "none").
func ParseKind(s string) (Kind, error) {
	for _, k := range kinds {
		if k.String() == s {
			return k, nil
		}
	}
	return None, fmt.Errorf("unknown fault kind %q (want none, throttle, server-error, unavailable or lose-response)", s)
}

// Any matches every operation (or every API) in a Rule.
const Any = "*"

// Rule arms a fault for calls matching API and Op (either may be Any).
type Rule struct {
	API string
	Op  string
	// Kind is the fault to inject.
	Kind Kind
	// Probability in [0,1] that a matching call gets the fault; 0 means 1 (always).
	Probability float64
	// Times limits how many calls get the fault (for Kind None: the latency); 0 means unlimited.
	Times int
	// Latency is added before the call is served (independently of Kind).
	Latency time.Duration
	// Rate, when positive, makes the rule a request rate limit, the way AWS
	// throttles its APIs (a token bucket per account and API action): a
	// matching call is served while it fits in Rate calls per second with
	// bursts of Burst (default: Rate rounded up, at least 1), and fires the
	// rule (Kind, Throttle when None) beyond it. Probability is ignored; Times
	// still bounds how many calls the rule refuses. Each operation has its own
	// bucket unless PerAPI is set.
	Rate  float64
	Burst int
	// PerAPI makes a rate rule count every operation it matches of one API
	// against one bucket.
	PerAPI bool
}

// Call is one entry of the call log.
type Call struct {
	API    string
	Op     string
	Status int  // HTTP status written (0 when the response was lost)
	Fault  Kind // fault injected, if any
	At     time.Time
}

// Injector decides faults and keeps the call log. The zero value is not usable; use New.
type Injector struct {
	mu    sync.Mutex
	rng   *rand.Rand
	rules []*armed
	calls []Call
	now   func() time.Time
}

type armed struct {
	Rule
	used    int
	buckets map[string]*rate.Limiter // rate rules: by API, or by API and operation
}

// allow reports whether a call fits in a rate rule's budget at now, taking a token if it does.
func (r *armed) allow(api, op string, now time.Time) bool {
	key := api
	if !r.PerAPI {
		key += "\x00" + op
	}
	b, ok := r.buckets[key]
	if !ok {
		burst := r.Burst
		if burst <= 0 {
			burst = max(1, int(math.Ceil(r.Rate)))
		}
		b = rate.NewLimiter(rate.Limit(r.Rate), burst)
		r.buckets[key] = b
	}
	return b.AllowN(now, 1)
}

// New returns an injector whose random decisions come from seed.
func New(seed uint64) *Injector {
	return &Injector{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: time.Now}
}

// Add arms a rule. Rules are consulted in the order they were added; the first that fires wins.
func (in *Injector) Add(r Rule) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = append(in.rules, &armed{Rule: r, buckets: map[string]*rate.Limiter{}})
}

// Rules returns a copy of the armed rules, in the order they are consulted.
func (in *Injector) Rules() []Rule {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]Rule, len(in.rules))
	for i, r := range in.rules {
		out[i] = r.Rule
	}
	return out
}

// SetClock replaces the wall clock that rate rules and the call log read (tests).
func (in *Injector) SetClock(now func() time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.now = now
}

// Reset disarms every rule (the call log is kept).
func (in *Injector) Reset() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = nil
}

// Decide returns the fault and added latency for one call, consuming a use of the rule that fired.
func (in *Injector) Decide(api, op string) (Kind, time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	var latency time.Duration
	for _, r := range in.rules {
		if !match(r.API, api) || !match(r.Op, op) {
			continue
		}
		if r.Times > 0 && r.used >= r.Times {
			continue
		}
		latency += r.Latency
		if r.Rate > 0 {
			if r.allow(api, op, in.now()) {
				continue
			}
			r.used++
			if r.Kind == None {
				return Throttle, latency
			}
			return r.Kind, latency
		}
		if r.Kind == None {
			// A latency-only rule: each call it delays uses it up, so Times bounds it.
			r.used++
			continue
		}
		p := r.Probability
		if p <= 0 {
			p = 1
		}
		if p < 1 && in.rng.Float64() >= p {
			continue
		}
		r.used++
		return r.Kind, latency
	}
	return None, latency
}

func match(pattern, s string) bool { return pattern == Any || pattern == "" || pattern == s }

// Record appends a call to the log.
func (in *Injector) Record(api, op string, status int, k Kind) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.calls = append(in.calls, Call{API: api, Op: op, Status: status, Fault: k, At: in.now()})
}

// Calls returns a copy of the call log, optionally filtered by API and operation (Any matches all).
func (in *Injector) Calls(api, op string) []Call {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []Call
	for _, c := range in.calls {
		if match(api, c.API) && match(op, c.Op) {
			out = append(out, c)
		}
	}
	return out
}

// Count returns how many calls the log has for api and op (Any matches all).
func (in *Injector) Count(api, op string) int { return len(in.Calls(api, op)) }

// ClearLog empties the call log.
func (in *Injector) ClearLog() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.calls = nil
}

// Errors writes an API's own error responses for the faults that do not reach the handler.
type Errors interface {
	WriteThrottle(w http.ResponseWriter, op string)
	WriteServerError(w http.ResponseWriter, status int)
}

// Middleware wraps an API handler: it names each call with opOf, applies the
// armed faults, and records the call. opOf may read the request body only if
// it restores it (see PeekBody).
func (in *Injector) Middleware(api string, opOf func(*http.Request) string, errs Errors, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := opOf(r)
		kind, latency := in.Decide(api, op)
		if latency > 0 {
			select {
			case <-time.After(latency):
			case <-r.Context().Done():
				in.Record(api, op, 0, kind)
				return
			}
		}
		switch kind {
		case Throttle:
			rec := &statusRecorder{ResponseWriter: w}
			errs.WriteThrottle(rec, op)
			in.Record(api, op, rec.status(), kind)
		case ServerError, Unavailable:
			status := http.StatusInternalServerError
			if kind == Unavailable {
				status = http.StatusServiceUnavailable
			}
			rec := &statusRecorder{ResponseWriter: w}
			errs.WriteServerError(rec, status)
			in.Record(api, op, rec.status(), kind)
		case LoseResponse:
			// Serve into a buffer so the state change happens, then drop the connection.
			buf := &discardWriter{header: http.Header{}}
			next.ServeHTTP(buf, r)
			in.Record(api, op, 0, kind)
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					_ = conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler) // closes the connection without a response
		default:
			rec := &statusRecorder{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			in.Record(api, op, rec.status(), kind)
		}
	})
}

// PeekBody returns the request body and puts it back so the handler can read it again.
func PeekBody(r *http.Request) []byte {
	if r.Body == nil {
		return nil
	}
	var b bytes.Buffer
	_, _ = b.ReadFrom(r.Body)
	_ = r.Body.Close()
	data := b.Bytes()
	r.Body = readCloser{bytes.NewReader(data)}
	return data
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

// Hijack lets handlers (and LoseResponse) take over the connection through the recorder.
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if hj, ok := s.ResponseWriter.(http.Hijacker); ok {
		return hj.Hijack()
	}
	return nil, nil, http.ErrNotSupported
}

type discardWriter struct {
	header http.Header
}

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}
