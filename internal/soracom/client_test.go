package soracom

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// TestThrottleReturnsAtOnceWithTheWait: a 429 is never slept on inside the
// client (that would hold a reconcile worker for up to a minute); the call
// returns at once, with the server's Seconds-Before-Refresh as RetryAfter
// for the caller's requeue.
func TestThrottleReturnsAtOnceWithTheWait(t *testing.T) {
	f := newFakeAPI(t)
	f.handle("GET /v1/sims/s1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Soracom-Ratelimit-Limit", "10")
		w.Header().Set("X-Soracom-Ratelimit-Remaining", "0")
		w.Header().Set("X-Soracom-Ratelimit-Seconds-Before-Refresh", "7")
		writeErr(w, http.StatusTooManyRequests, "COM0001", "rate limit exceeded")
	})
	c, sl := newTestClient(t, f, nil)
	_, err := c.GetSim(testCtx(t), "s1")
	if !IsThrottled(err) || !Retryable(err) {
		t.Fatalf("err = %v, want throttled", err)
	}
	if ae, _ := AsAPIError(err); ae.RetryAfter != 7*time.Second || ae.Operation != "getSim" {
		t.Fatalf("APIError = %+v, want RetryAfter 7s", ae)
	}
	if w := sl.Waits(); len(w) != 0 {
		t.Fatalf("the client slept %v on a 429", w)
	}
	if got := f.calls("GET /v1/sims/s1"); got != 1 {
		t.Fatalf("calls = %d, want 1", got)
	}
}

func TestThrottleWaitCapped(t *testing.T) {
	f := newFakeAPI(t)
	f.handle("GET /v1/groups/g1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Soracom-Ratelimit-Seconds-Before-Refresh", "600")
		writeErr(w, http.StatusTooManyRequests, "COM0001", "rate limit exceeded")
	})
	c, sl := newTestClient(t, f, nil)
	_, err := c.GetGroup(context.Background(), "g1")
	ae, _ := AsAPIError(err)
	// The server asked for 600 s; the caller is told to requeue after at
	// most MaxRetryWait (a minute).
	if !IsThrottled(err) || ae.RetryAfter != DefaultMaxRetryWait {
		t.Fatalf("err = %v (%+v), want throttled with RetryAfter %v", err, ae, DefaultMaxRetryWait)
	}
	if len(sl.Waits()) != 0 || f.calls("GET /v1/groups/g1") != 1 {
		t.Fatalf("waits=%v calls=%d, want none and 1", sl.Waits(), f.calls("GET /v1/groups/g1"))
	}
}

func TestServerErrorOnGetRetriedWithBackoff(t *testing.T) {
	f := newFakeAPI(t)
	var n atomic.Int32
	f.handle("GET /v1/sims/s1", func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		simHandler(w, r)
	})
	c, sl := newTestClient(t, f, nil)
	if _, err := c.GetSim(testCtx(t), "s1"); err != nil {
		t.Fatalf("GetSim: %v", err)
	}
	w := sl.Waits()
	if len(w) != 2 {
		t.Fatalf("waits = %v", w)
	}
	if w[0] < 500*time.Millisecond || w[0] > time.Second || w[1] < time.Second || w[1] > 2*time.Second {
		t.Fatalf("backoff waits out of range: %v", w)
	}
}

func TestCreatesNeverRetried(t *testing.T) {
	type create struct {
		name, route string
		call        func(c *Client, ctx context.Context) error
	}
	creates := []create{
		{"vpg", "POST /v1/virtual_private_gateways", func(c *Client, ctx context.Context) error {
			_, err := c.CreateVirtualPrivateGateway(ctx, &CreateVirtualPrivateGatewayRequest{Type: VPGTypeF})
			return err
		}},
		{"group", "POST /v1/groups", func(c *Client, ctx context.Context) error {
			_, err := c.CreateGroup(ctx, &CreateGroupRequest{})
			return err
		}},
		{"peering", "POST /v1/virtual_private_gateways/vpg-1/vpc_peering_connections", func(c *Client, ctx context.Context) error {
			_, err := c.CreateVPCPeeringConnection(ctx, "vpg-1", &CreateVPCPeeringConnectionRequest{PeerVPCID: "vpc-1"})
			return err
		}},
		{"gatepeer", "POST /v1/virtual_private_gateways/vpg-1/gate/peers", func(c *Client, ctx context.Context) error {
			_, err := c.RegisterGatePeer(ctx, "vpg-1", &RegisterGatePeerRequest{OuterIPAddress: "10.0.0.1"})
			return err
		}},
	}
	for _, status := range []int{http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusServiceUnavailable} {
		for _, cr := range creates {
			t.Run(fmt.Sprintf("%s/%d", cr.name, status), func(t *testing.T) {
				f := newFakeAPI(t)
				f.handle(cr.route, func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("X-Soracom-Ratelimit-Seconds-Before-Refresh", "1")
					writeErr(w, status, "", "try later")
				})
				c, sl := newTestClient(t, f, nil)
				err := cr.call(c, testCtx(t))
				if StatusCode(err) != status || !Retryable(err) {
					t.Fatalf("err = %v", err)
				}
				if got := f.calls(cr.route); got != 1 {
					t.Fatalf("create sent %d times, want 1", got)
				}
				if len(sl.Waits()) != 0 {
					t.Fatalf("waits = %v", sl.Waits())
				}
			})
		}
	}
}

func TestTerminal4xxNotRetried(t *testing.T) {
	f := newFakeAPI(t)
	f.handle("POST /v1/virtual_private_gateways/vpg-1/terminate", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusBadRequest, "VPG0001", "cannot terminate")
	})
	c, sl := newTestClient(t, f, nil)
	err := c.TerminateVirtualPrivateGateway(testCtx(t), "vpg-1")
	if StatusCode(err) != http.StatusBadRequest || Retryable(err) || !IsCode(err, "VPG0001") {
		t.Fatalf("err = %v", err)
	}
	if f.calls("POST /v1/virtual_private_gateways/vpg-1/terminate") != 1 || len(sl.Waits()) != 0 {
		t.Fatal("a 400 must not be retried")
	}
}

func TestTimeoutHonoured(t *testing.T) {
	f := newFakeAPI(t)
	f.handle("GET /v1/sims/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	c, sl := newTestClient(t, f, func(o *Options) { o.Timeout = 100 * time.Millisecond })
	ctx := testCtx(t)
	if _, err := c.GetSim(ctx, "warmup"); !IsNotFound(err) { // authenticates
		t.Fatalf("warmup: %v", err)
	}
	start := time.Now()
	_, err := c.GetSim(ctx, "slow")
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("took %v", el)
	}
	var te *TransportError
	if !errors.As(err, &te) || !te.Timeout() || !errors.Is(err, context.DeadlineExceeded) || !Retryable(err) {
		t.Fatalf("err = %#v (%v), want a retryable timeout", err, err)
	}
	if te.Operation != "getSim" {
		t.Fatalf("operation = %q", te.Operation)
	}
	// A timed-out attempt is handed back, not repeated.
	if f.calls("GET /v1/sims/slow") != 1 || len(sl.Waits()) != 0 {
		t.Fatalf("calls=%d waits=%v", f.calls("GET /v1/sims/slow"), sl.Waits())
	}
}

func TestCallerCancellationNotRetryable(t *testing.T) {
	f := newFakeAPI(t)
	c, _ := newTestClient(t, f, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.GetSim(ctx, "s1")
	if err == nil || Retryable(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestConnectionErrorRetriedForIdempotentOnly(t *testing.T) {
	f := newFakeAPI(t)
	c, sl := newTestClient(t, f, nil)
	ctx := testCtx(t)
	if _, err := c.GetSim(ctx, "warmup"); !IsNotFound(err) {
		t.Fatal(err)
	}
	f.srv.Close() // connection refused from now on
	_, err := c.GetSim(ctx, "s1")
	var te *TransportError
	if !errors.As(err, &te) || !Retryable(err) || te.Timeout() {
		t.Fatalf("err = %v", err)
	}
	if n := len(sl.Waits()); n != DefaultMaxRetries {
		t.Fatalf("GET waits = %d", n)
	}
	_, err = c.CreateVirtualPrivateGateway(ctx, &CreateVirtualPrivateGatewayRequest{Type: VPGTypeF})
	if !errors.As(err, &te) {
		t.Fatalf("err = %v", err)
	}
	if n := len(sl.Waits()); n != DefaultMaxRetries {
		t.Fatalf("the create was retried: waits = %d", n)
	}
}

func TestSecretsNeverShown(t *testing.T) {
	f := newFakeAPI(t)
	// Error bodies that echo what they were sent.
	f.handle("GET /v1/sims/echo", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusBadRequest, "ECHO", "key="+r.Header.Get("X-Soracom-API-Key")+" token="+r.Header.Get("X-Soracom-Token"))
	})
	f.handle("GET /v1/sims/text", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("denied for " + r.Header.Get("X-Soracom-Token")))
	})
	c, _ := newTestClient(t, f, nil)
	ctx := testCtx(t)
	secrets := []string{testKey, testAPIKey, tokenPrefix}
	check := func(what, s string) {
		t.Helper()
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				t.Errorf("%s reveals a secret: %s", what, s)
			}
		}
	}
	for _, id := range []string{"echo", "text"} {
		_, err := c.GetSim(ctx, id)
		if err == nil {
			t.Fatal("want error")
		}
		check("err.Error()", err.Error())
		check("%+v err", fmt.Sprintf("%+v", err))
		check("%#v err", fmt.Sprintf("%#v", err))
		if !strings.Contains(err.Error(), redactedString) {
			t.Errorf("expected a redaction marker in %q", err.Error())
		}
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		check(format+" client", fmt.Sprintf(format, c))
		check(format+" *client", fmt.Sprintf(format, *c))
	}
	opts := Options{Credentials: Credentials{AuthKeyID: testKeyID, AuthKey: testKey}}
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		check(format+" options", fmt.Sprintf(format, opts))
		check(format+" credentials", fmt.Sprintf(format, opts.Credentials))
	}

	// /auth failing with a body that echoes the request.
	f2 := newFakeAPI(t)
	f2.handle("GET /v1/sims/s1", simHandler)
	bad, _ := New(Options{Endpoint: f2.srv.URL, Credentials: Credentials{AuthKeyID: testKeyID, AuthKey: "secret-OTHERSECRET"}})
	_, err := bad.GetSim(ctx, "s1")
	if err == nil || strings.Contains(err.Error(), "secret-OTHERSECRET") {
		t.Fatalf("err = %v", err)
	}
}

func TestLimiterAndObserve(t *testing.T) {
	f := newFakeAPI(t)
	f.handle("GET /v1/sims/s1", simHandler)
	type obs struct {
		op     string
		status int
		err    bool
	}
	var mu sync.Mutex
	var seen []obs
	lim := rate.NewLimiter(rate.Every(time.Hour), 2)
	c, _ := newTestClient(t, f, func(o *Options) {
		o.Limiter = lim
		o.Observe = func(op string, status int, err error, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, obs{op, status, err != nil})
		}
	})
	ctx := testCtx(t)
	if _, err := c.GetSim(ctx, "s1"); err != nil { // auth + getSim use the 2 tokens
		t.Fatal(err)
	}
	_, err := c.GetSim(ctx, "s1")
	if err == nil || !strings.Contains(err.Error(), "rate limit") {
		t.Fatalf("err = %v, want the limiter to refuse", err)
	}
	if f.calls("GET /v1/sims/s1") != 1 {
		t.Fatal("a request went out past the limiter")
	}
	mu.Lock()
	defer mu.Unlock()
	want := []obs{{"auth", 200, false}, {"getSim", 200, false}}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("observed %v, want %v", seen, want)
	}
}

func TestEndpoints(t *testing.T) {
	creds := Credentials{AuthKeyID: "k", AuthKey: "s"}
	for _, tc := range []struct {
		cov      Coverage
		endpoint string
		want     string
		wantErr  bool
	}{
		{cov: "jp", want: "https://api.soracom.io"},
		{cov: "", want: "https://api.soracom.io"},
		{cov: "g", want: "https://g.api.soracom.io"},
		{cov: "us", wantErr: true},
		{cov: "g", endpoint: "http://127.0.0.1:9999/v1/", want: "http://127.0.0.1:9999"},
		{endpoint: "ftp://x", wantErr: true},
		{endpoint: "http://user:pw@host", wantErr: true},
	} {
		c, err := New(Options{Coverage: tc.cov, Endpoint: tc.endpoint, Credentials: creds})
		if tc.wantErr {
			if err == nil {
				t.Errorf("%+v: want error", tc)
			}
			continue
		}
		if err != nil || c.Endpoint() != tc.want {
			t.Errorf("%+v: endpoint %v, err %v", tc, c, err)
		}
	}
	if _, err := New(Options{Credentials: Credentials{AuthKeyID: "k"}}); err == nil {
		t.Error("missing authKey accepted")
	}
}
