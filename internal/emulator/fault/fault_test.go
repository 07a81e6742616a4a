package fault_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatestream/gatestream/internal/emulator/fault"
)

func decide(t *testing.T, in *fault.Injector, api, op string, want fault.Kind) {
	t.Helper()
	if got, _ := in.Decide(api, op); got != want {
		t.Fatalf("Decide(%s, %s) = %v, want %v", api, op, got, want)
	}
}

func TestDecideMatching(t *testing.T) {
	in := fault.New(1)
	decide(t, in, "soracom", "auth", fault.None) // no rules

	in.Add(fault.Rule{API: "soracom", Op: "createVirtualPrivateGateway", Kind: fault.ServerError})
	decide(t, in, "soracom", "createVirtualPrivateGateway", fault.ServerError)
	decide(t, in, "soracom", "auth", fault.None)
	decide(t, in, "ec2", "createVirtualPrivateGateway", fault.None)

	in.Reset()
	in.Add(fault.Rule{API: "ec2", Op: fault.Any, Kind: fault.Throttle})
	decide(t, in, "ec2", "DescribeVpcs", fault.Throttle)
	decide(t, in, "ec2", "CreateRoute", fault.Throttle)
	decide(t, in, "appstream", "DescribeVpcs", fault.None)

	in.Reset()
	in.Add(fault.Rule{API: fault.Any, Op: "DescribeFleets", Kind: fault.Unavailable})
	decide(t, in, "appstream", "DescribeFleets", fault.Unavailable)
	decide(t, in, "other", "DescribeFleets", fault.Unavailable)
	decide(t, in, "appstream", "DescribeStacks", fault.None)

	// Empty API and Op match everything, like Any.
	in.Reset()
	in.Add(fault.Rule{Kind: fault.LoseResponse})
	decide(t, in, "soracom", "auth", fault.LoseResponse)
	decide(t, in, "ec2", "CreateRoute", fault.LoseResponse)
}

func TestDecideFirstRuleWinsAndTimes(t *testing.T) {
	in := fault.New(1)
	in.Add(fault.Rule{API: "ec2", Op: "CreateRoute", Kind: fault.Throttle, Times: 2})
	in.Add(fault.Rule{API: "ec2", Op: fault.Any, Kind: fault.ServerError, Times: 1})

	decide(t, in, "ec2", "CreateRoute", fault.Throttle)
	decide(t, in, "ec2", "CreateRoute", fault.Throttle)
	// The first rule is used up: the second (any op, once) fires.
	decide(t, in, "ec2", "CreateRoute", fault.ServerError)
	decide(t, in, "ec2", "CreateRoute", fault.None)
	decide(t, in, "ec2", "DescribeVpcs", fault.None)
}

func TestProbabilityIsDeterministicPerSeed(t *testing.T) {
	seq := func(seed uint64) []fault.Kind {
		in := fault.New(seed)
		in.Add(fault.Rule{API: fault.Any, Op: fault.Any, Kind: fault.Throttle, Probability: 0.3})
		out := make([]fault.Kind, 500)
		for i := range out {
			out[i], _ = in.Decide("soracom", "listSims")
		}
		return out
	}
	a, b := seq(42), seq(42)
	if !slices.Equal(a, b) {
		t.Fatal("same seed, different sequences")
	}
	if slices.Equal(a, seq(43)) {
		t.Fatal("different seeds, same sequence")
	}
	n := 0
	for _, k := range a {
		switch k {
		case fault.Throttle:
			n++
		case fault.None:
		default:
			t.Fatalf("unexpected kind %v", k)
		}
	}
	// 500 draws at p=0.3: 150 expected; the seeded sequence is fixed, the bound is loose.
	if n < 100 || n > 200 {
		t.Fatalf("throttled %d of 500 at p=0.3", n)
	}

	// Probability 1 (and 0, meaning 1) always fires.
	for _, p := range []float64{0, 1} {
		in := fault.New(7)
		in.Add(fault.Rule{Kind: fault.ServerError, Probability: p})
		for range 50 {
			decide(t, in, "a", "b", fault.ServerError)
		}
	}

	// Times counts only the calls that got the fault.
	in := fault.New(9)
	in.Add(fault.Rule{Kind: fault.Throttle, Probability: 0.5, Times: 3})
	got := 0
	for range 200 {
		if k, _ := in.Decide("a", "b"); k == fault.Throttle {
			got++
		}
	}
	if got != 3 {
		t.Fatalf("Times 3 with probability 0.5: %d faults", got)
	}
}

func TestLatencyAccumulates(t *testing.T) {
	in := fault.New(1)
	in.Add(fault.Rule{API: "soracom", Op: fault.Any, Latency: 10 * time.Millisecond})
	in.Add(fault.Rule{API: "soracom", Op: "auth", Latency: 5 * time.Millisecond, Times: 1})
	in.Add(fault.Rule{API: "soracom", Op: "auth", Kind: fault.Throttle, Latency: 100 * time.Millisecond, Times: 1})
	in.Add(fault.Rule{API: "soracom", Op: "auth", Latency: 1000 * time.Millisecond}) // after the rule that fires: not reached

	k, d := in.Decide("soracom", "auth")
	if k != fault.Throttle || d != 115*time.Millisecond {
		t.Fatalf("first call: %v %v", k, d)
	}
	// The 5ms rule (latency only, Times 1) and the throttle rule are used up.
	k, d = in.Decide("soracom", "auth")
	if k != fault.None || d != 1010*time.Millisecond {
		t.Fatalf("second call: %v %v", k, d)
	}
	k, d = in.Decide("soracom", "listSims")
	if k != fault.None || d != 10*time.Millisecond {
		t.Fatalf("other op: %v %v", k, d)
	}
	if _, d = in.Decide("ec2", "auth"); d != 0 {
		t.Fatalf("other API: %v", d)
	}
}

func TestResetKeepsLog(t *testing.T) {
	in := fault.New(1)
	in.Add(fault.Rule{Kind: fault.ServerError, Latency: time.Second})
	in.Record("soracom", "auth", 500, fault.ServerError)
	in.Reset()
	if k, d := in.Decide("soracom", "auth"); k != fault.None || d != 0 {
		t.Fatalf("after Reset: %v %v", k, d)
	}
	if n := in.Count(fault.Any, fault.Any); n != 1 {
		t.Fatalf("Reset cleared the log: %d", n)
	}
	in.ClearLog()
	if n := in.Count(fault.Any, fault.Any); n != 0 {
		t.Fatalf("ClearLog: %d", n)
	}
}

func TestCallLogFilters(t *testing.T) {
	in := fault.New(1)
	in.Record("soracom", "auth", 200, fault.None)
	in.Record("soracom", "createVirtualPrivateGateway", 0, fault.LoseResponse)
	in.Record("soracom", "createVirtualPrivateGateway", 201, fault.None)
	in.Record("ec2", "CreateRoute", 503, fault.Unavailable)
	in.Record("appstream", "CreateFleet", 400, fault.None)

	for _, c := range []struct {
		api, op string
		want    int
	}{
		{fault.Any, fault.Any, 5},
		{"", "", 5},
		{"soracom", fault.Any, 3},
		{"soracom", "createVirtualPrivateGateway", 2},
		{fault.Any, "CreateRoute", 1},
		{"ec2", "createVirtualPrivateGateway", 0},
		{"nope", fault.Any, 0},
	} {
		if got := in.Count(c.api, c.op); got != c.want {
			t.Errorf("Count(%q, %q) = %d, want %d", c.api, c.op, got, c.want)
		}
	}
	calls := in.Calls("soracom", "createVirtualPrivateGateway")
	if len(calls) != 2 || calls[0].Status != 0 || calls[0].Fault != fault.LoseResponse ||
		calls[1].Status != 201 || calls[1].Fault != fault.None || calls[0].At.IsZero() {
		t.Fatalf("Calls: %+v", calls)
	}
	// Calls returns a copy.
	calls[0].API = "changed"
	if in.Calls("soracom", fault.Any)[1].API != "soracom" {
		t.Fatal("Calls exposes the log")
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[fault.Kind]string{
		fault.None: "none", fault.Throttle: "throttle", fault.ServerError: "server-error",
		fault.Unavailable: "unavailable", fault.LoseResponse: "lose-response", fault.Kind(99): "none",
	} {
		if k.String() != want {
			t.Errorf("%d: %q, want %q", int(k), k.String(), want)
		}
	}
}

// testErrors is a tiny fault.Errors: an API whose throttling error is a 429
// with a JSON body and whose server errors carry the status in the body.
type testErrors struct{}

func (testErrors) WriteThrottle(w http.ResponseWriter, _ string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = io.WriteString(w, `{"code":"THROTTLED"}`)
}

func (testErrors) WriteServerError(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"code":"SERVER","status":`+http.StatusText(status)+`}`)
}

type mwEnv struct {
	in     *fault.Injector
	srv    *httptest.Server
	served atomic.Int32 // how many times the API handler ran
	client *http.Client
}

// newMW serves a handler that creates something (201 "created") behind the
// middleware; the operation is the request's X-Op header, read through the body
// when X-Op-From-Body is set (to check PeekBody).
func newMW(t *testing.T) *mwEnv { return newMWWrapped(t, nil) }

// newMWWrapped is newMW with the middleware wrapped by wrap (when not nil).
func newMWWrapped(t *testing.T, wrap func(http.Handler) http.Handler) *mwEnv {
	t.Helper()
	e := &mwEnv{in: fault.New(1)}
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e.served.Add(1)
		w.Header().Set("X-Body", string(body))
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "created")
	})
	opOf := func(r *http.Request) string {
		if r.Header.Get("X-Op-From-Body") != "" {
			return string(fault.PeekBody(r))
		}
		return r.Header.Get("X-Op")
	}
	h := e.in.Middleware("test", opOf, testErrors{}, api)
	if wrap != nil {
		h = wrap(h)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	// No keep-alives: each call has its own connection, so a dropped one is
	// never retried by the transport.
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	e.client = &http.Client{Transport: tr}
	return e
}

func (e *mwEnv) post(ctx context.Context, op, body string) (*http.Response, string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/things", strings.NewReader(body))
	req.Header.Set("X-Op", op)
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func TestMiddlewareKinds(t *testing.T) {
	cases := []struct {
		kind       fault.Kind
		status     int
		body       string
		handlerRan bool
	}{
		{fault.None, http.StatusCreated, "created", true},
		{fault.Throttle, http.StatusTooManyRequests, `{"code":"THROTTLED"}`, false},
		{fault.ServerError, http.StatusInternalServerError, `{"code":"SERVER","status":Internal Server Error}`, false},
		{fault.Unavailable, http.StatusServiceUnavailable, `{"code":"SERVER","status":Service Unavailable}`, false},
	}
	for _, c := range cases {
		t.Run(c.kind.String(), func(t *testing.T) {
			e := newMW(t)
			if c.kind != fault.None {
				e.in.Add(fault.Rule{API: "test", Op: "create", Kind: c.kind, Times: 1})
			}
			resp, body, err := e.post(t.Context(), "create", "x")
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != c.status || body != c.body {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, c.status, c.body)
			}
			if ran := e.served.Load() == 1; ran != c.handlerRan {
				t.Fatalf("handler ran: %v, want %v", ran, c.handlerRan)
			}
			calls := e.in.Calls("test", "create")
			if len(calls) != 1 || calls[0].Status != c.status || calls[0].Fault != c.kind {
				t.Fatalf("call log: %+v", calls)
			}
			// Times 1: the next call is served normally.
			resp, body, err = e.post(t.Context(), "create", "y")
			if err != nil || resp.StatusCode != http.StatusCreated || body != "created" {
				t.Fatalf("second call: %v %v %q", resp, err, body)
			}
			if n := e.in.Count("test", fault.Any); n != 2 {
				t.Fatalf("logged %d calls", n)
			}
		})
	}
}

func TestMiddlewareLoseResponse(t *testing.T) {
	e := newMW(t)
	e.in.Add(fault.Rule{API: "test", Op: "create", Kind: fault.LoseResponse, Times: 1})
	_, _, err := e.post(t.Context(), "create", "x")
	if err == nil {
		t.Fatal("the client got a response")
	}
	if n := e.served.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1 (state changed once)", n)
	}
	calls := e.in.Calls("test", "create")
	if len(calls) != 1 || calls[0].Status != 0 || calls[0].Fault != fault.LoseResponse {
		t.Fatalf("call log: %+v", calls)
	}
	resp, body, err := e.post(t.Context(), "create", "y")
	if err != nil || resp.StatusCode != http.StatusCreated || body != "created" {
		t.Fatalf("next call: %v %v %q", resp, err, body)
	}
	if n := e.served.Load(); n != 2 {
		t.Fatalf("handler ran %d times", n)
	}
}

func TestMiddlewareLatencyGivesUpWhenTheClientDoes(t *testing.T) {
	// Wrap the middleware to learn when the request arrived and when the middleware returned.
	done := make(chan struct{})
	arrived := make(chan struct{})
	e := newMWWrapped(t, func(mw http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(arrived)
			mw.ServeHTTP(w, r)
			close(done)
		})
	})
	e.in.Add(fault.Rule{API: "test", Op: "slow", Latency: time.Hour})

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		// No body: the server watches the connection (and cancels the request's context) at once.
		_, _, err := e.post(ctx, "slow", "")
		errc <- err
	}()
	<-arrived
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v", err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the middleware kept waiting after the client left")
	}
	if e.served.Load() != 0 {
		t.Fatal("the handler ran")
	}
	calls := e.in.Calls("test", "slow")
	if len(calls) != 1 || calls[0].Status != 0 {
		t.Fatalf("call log: %+v", calls)
	}
}

func TestMiddlewarePeekBody(t *testing.T) {
	e := newMW(t)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL, strings.NewReader("peeked"))
	req.Header.Set("X-Op-From-Body", "1")
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if got := resp.Header.Get("X-Body"); got != "peeked" {
		t.Fatalf("handler read %q after PeekBody", got)
	}
	if n := e.in.Count("test", "peeked"); n != 1 {
		t.Fatalf("op from body not logged: %+v", e.in.Calls(fault.Any, fault.Any))
	}
	if fault.PeekBody(&http.Request{}) != nil {
		t.Fatal("PeekBody of a nil body")
	}
}

func TestRateRule(t *testing.T) {
	in := fault.New(1)
	now := time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC)
	in.SetClock(func() time.Time { return now })
	in.Add(fault.Rule{API: "appstream", Op: fault.Any, Rate: 20})

	// A full bucket serves a burst of 20 (Rate rounded up), then throttles.
	for range 20 {
		decide(t, in, "appstream", "DescribeFleets", fault.None)
	}
	decide(t, in, "appstream", "DescribeFleets", fault.Throttle)
	decide(t, in, "appstream", "DescribeFleets", fault.Throttle)
	// Each operation has its own bucket; other APIs are not limited.
	decide(t, in, "appstream", "CreateStreamingURL", fault.None)
	decide(t, in, "ec2", "DescribeFleets", fault.None)

	// Refused calls take no token: 100 ms later exactly 2 more are served.
	now = now.Add(100 * time.Millisecond)
	decide(t, in, "appstream", "DescribeFleets", fault.None)
	decide(t, in, "appstream", "DescribeFleets", fault.None)
	decide(t, in, "appstream", "DescribeFleets", fault.Throttle)

	// Sustained: one call every 10 ms (100/s) for 10 s gets 20/s through.
	served := 0
	for range 1000 {
		now = now.Add(10 * time.Millisecond)
		if k, _ := in.Decide("appstream", "DescribeFleets"); k == fault.None {
			served++
		}
	}
	if served != 200 {
		t.Fatalf("served %d of 1000 calls over 10 s at 20/s", served)
	}

	// PerAPI: one bucket for every operation; Burst and Kind as given; Times bounds the refusals.
	in.Reset()
	in.Add(fault.Rule{API: "ec2", Rate: 1, Burst: 2, PerAPI: true, Kind: fault.Unavailable, Times: 2})
	decide(t, in, "ec2", "DescribeVpcs", fault.None)
	decide(t, in, "ec2", "CreateRoute", fault.None)
	decide(t, in, "ec2", "DescribeSubnets", fault.Unavailable)
	decide(t, in, "ec2", "DescribeVpcs", fault.Unavailable)
	decide(t, in, "ec2", "DescribeVpcs", fault.None) // used up
}
