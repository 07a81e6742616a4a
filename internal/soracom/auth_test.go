package soracom

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTokenCachedAcrossConcurrentCalls(t *testing.T) {
	f := newFakeAPI(t)
	for i := range 20 {
		f.handle("GET /v1/sims/sim"+string(rune('a'+i)), simHandler)
	}
	var started sync.WaitGroup
	started.Add(20)
	gate := make(chan struct{})
	f.mu.Lock()
	f.authGate = gate
	f.mu.Unlock()
	c, _ := newTestClient(t, f, nil)
	ctx := testCtx(t)

	// /auth is held until every goroutine has started, so most of them find
	// the authentication in flight and must wait for it.
	go func() { started.Wait(); close(gate) }()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			started.Done()
			_, err := c.GetSim(ctx, "sim"+string(rune('a'+i)))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("GetSim: %v", err)
		}
	}
	// And more calls later reuse the token.
	for range 5 {
		if _, err := c.GetSim(ctx, "sima"); err != nil {
			t.Fatal(err)
		}
	}
	if auths, refreshes := f.counts(); auths != 1 || refreshes != 0 {
		t.Fatalf("auths=%d refreshes=%d, want 1 and 0", auths, refreshes)
	}
	if got := c.OperatorID(); got != testOperID {
		t.Fatalf("OperatorID = %q", got)
	}
}

func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	f := newFakeAPI(t)
	f.handle("GET /v1/sims/s1", simHandler)
	clk := newFakeClock()
	c, _ := newTestClient(t, f, func(o *Options) { o.Now = clk.Now; o.TokenTTL = time.Hour })
	ctx := testCtx(t)

	get := func() {
		t.Helper()
		if _, err := c.GetSim(ctx, "s1"); err != nil {
			t.Fatalf("GetSim: %v", err)
		}
	}
	get()
	clk.Step(50 * time.Minute) // 10 min left: more than the 6 min margin
	get()
	if a, r := f.counts(); a != 1 || r != 0 {
		t.Fatalf("after 50m: auths=%d refreshes=%d", a, r)
	}
	clk.Step(5 * time.Minute) // 5 min left: refresh
	get()
	if a, r := f.counts(); a != 1 || r != 1 {
		t.Fatalf("after 55m: auths=%d refreshes=%d, want 1 and 1", a, r)
	}
	f.mu.Lock()
	body, oldTok, used := f.refreshBodies[0], f.refreshTokens[0], f.usedTokens[len(f.usedTokens)-1]
	f.mu.Unlock()
	if !strings.Contains(body, `"tokenTimeoutSeconds":3600`) {
		t.Errorf("refresh body = %s", body)
	}
	if oldTok != tokenPrefix+"1" || used != tokenPrefix+"2" {
		t.Errorf("refresh sent %q, call used %q", oldTok, used)
	}
	// The refreshed token lives for another hour.
	clk.Step(50 * time.Minute)
	get()
	if a, r := f.counts(); a != 1 || r != 1 {
		t.Fatalf("auths=%d refreshes=%d, want 1 and 1", a, r)
	}
	clk.Step(5 * time.Minute)
	get()
	if a, r := f.counts(); a != 1 || r != 2 {
		t.Fatalf("auths=%d refreshes=%d, want 1 and 2", a, r)
	}
}

func TestRefreshRefusedFallsBackToAuth(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			f := newFakeAPI(t)
			f.handle("GET /v1/sims/s1", simHandler)
			f.refreshStatus = status
			clk := newFakeClock()
			c, sl := newTestClient(t, f, func(o *Options) { o.Now = clk.Now; o.TokenTTL = time.Hour })
			ctx := testCtx(t)
			if _, err := c.GetSim(ctx, "s1"); err != nil {
				t.Fatal(err)
			}
			clk.Step(58 * time.Minute)
			if _, err := c.GetSim(ctx, "s1"); err != nil {
				t.Fatalf("GetSim after failed refresh: %v", err)
			}
			if a, r := f.counts(); a != 2 || r != 1 {
				t.Fatalf("auths=%d refreshes=%d, want 2 and 1", a, r)
			}
			if len(sl.Waits()) != 0 {
				t.Fatalf("a refused refresh must not be retried: waits %v", sl.Waits())
			}
		})
	}
}

func TestExpiredTokenAuthenticatesWithoutRefresh(t *testing.T) {
	f := newFakeAPI(t)
	f.handle("GET /v1/sims/s1", simHandler)
	clk := newFakeClock()
	c, _ := newTestClient(t, f, func(o *Options) { o.Now = clk.Now; o.TokenTTL = time.Hour })
	ctx := testCtx(t)
	if _, err := c.GetSim(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	clk.Step(2 * time.Hour)
	if _, err := c.GetSim(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if a, r := f.counts(); a != 2 || r != 0 {
		t.Fatalf("auths=%d refreshes=%d, want 2 and 0", a, r)
	}
}

func TestTransientRefreshFailureKeepsCurrentToken(t *testing.T) {
	f := newFakeAPI(t)
	f.handle("GET /v1/sims/s1", simHandler)
	f.refreshStatus = http.StatusServiceUnavailable
	clk := newFakeClock()
	c, sl := newTestClient(t, f, func(o *Options) { o.Now = clk.Now; o.TokenTTL = time.Hour })
	ctx := testCtx(t)
	if _, err := c.GetSim(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	clk.Step(56 * time.Minute)
	if _, err := c.GetSim(ctx, "s1"); err != nil {
		t.Fatalf("GetSim: %v", err)
	}
	// The refresh is idempotent: retried MaxRetries times, then the still
	// valid token is kept and /auth is not called.
	if a, r := f.counts(); a != 1 || r != 1+DefaultMaxRetries {
		t.Fatalf("auths=%d refreshes=%d", a, r)
	}
	if n := len(sl.Waits()); n != DefaultMaxRetries {
		t.Fatalf("waits=%d", n)
	}
	// Within the next 30 s no new refresh is attempted.
	clk.Step(10 * time.Second)
	if _, err := c.GetSim(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if _, r := f.counts(); r != 1+DefaultMaxRetries {
		t.Fatalf("refreshes=%d", r)
	}
}

func TestUnauthorizedCallReauthenticatesOnce(t *testing.T) {
	f := newFakeAPI(t)
	f.handle("GET /v1/sims/s1", simHandler)
	f.handle("POST /v1/groups", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusCreated, map[string]any{"groupId": "g1"})
	})
	c, _ := newTestClient(t, f, nil)
	ctx := testCtx(t)
	if _, err := c.GetSim(ctx, "s1"); err != nil {
		t.Fatal(err)
	}

	// The server forgets the token: a GET re-authenticates and is repeated.
	f.invalidateAll()
	if _, err := c.GetSim(ctx, "s1"); err != nil {
		t.Fatalf("GetSim after revoked token: %v", err)
	}
	if a, _ := f.counts(); a != 2 {
		t.Fatalf("auths=%d, want 2", a)
	}
	if n := f.calls("GET /v1/sims/s1"); n != 3 {
		t.Fatalf("GET calls=%d, want 3", n)
	}

	// A create is not repeated after a 401, but the next call re-authenticates.
	f.invalidateAll()
	_, err := c.CreateGroup(ctx, &CreateGroupRequest{Tags: map[string]string{"name": "x"}})
	if !IsUnauthorized(err) {
		t.Fatalf("CreateGroup err = %v, want 401", err)
	}
	if n := f.calls("POST /v1/groups"); n != 1 {
		t.Fatalf("create calls=%d, want 1", n)
	}
	if _, err := c.CreateGroup(ctx, &CreateGroupRequest{}); err != nil {
		t.Fatalf("second CreateGroup: %v", err)
	}
	if a, _ := f.counts(); a != 3 {
		t.Fatalf("auths=%d, want 3", a)
	}

	// A persistent 401 is returned after one re-authentication, not looped on.
	f.handle("GET /v1/sims/s2", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusUnauthorized, "AUM0004", "nope")
	})
	if _, err := c.GetSim(ctx, "s2"); !IsUnauthorized(err) {
		t.Fatalf("err = %v", err)
	}
	if n := f.calls("GET /v1/sims/s2"); n != 2 {
		t.Fatalf("calls=%d, want 2", n)
	}
}

func TestBadCredentials(t *testing.T) {
	f := newFakeAPI(t)
	c, err := New(Options{Endpoint: f.srv.URL, Credentials: Credentials{AuthKeyID: testKeyID, AuthKey: "secret-WRONGKEY"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetSim(testCtx(t), "s1")
	if !IsUnauthorized(err) || Retryable(err) {
		t.Fatalf("err = %v, want terminal 401", err)
	}
	ae, _ := AsAPIError(err)
	if ae.Operation != "auth" {
		t.Fatalf("operation = %q", ae.Operation)
	}
	if a, _ := f.counts(); a != 1 {
		t.Fatalf("auths=%d", a)
	}
}

func TestRefreshMargin(t *testing.T) {
	for _, tc := range []struct{ ttl, want time.Duration }{
		{24 * time.Hour, 144 * time.Minute},
		{time.Hour, 6 * time.Minute},
		{20 * time.Minute, 5 * time.Minute},
		{3 * time.Minute, 90 * time.Second},
	} {
		if got := refreshMargin(tc.ttl); got != tc.want {
			t.Errorf("refreshMargin(%v) = %v, want %v", tc.ttl, got, tc.want)
		}
	}
}
