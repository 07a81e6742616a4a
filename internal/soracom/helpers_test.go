package soracom

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testKeyID   = "keyId-TESTKEYID0001"
	testKey     = "secret-SUPERSECRETAUTHKEY"
	testAPIKey  = "api-SECRETAPIKEY00000"
	testOperID  = "OP0012345678"
	tokenPrefix = "tok-SECRETTOKEN-"
)

// fakeAPI is a small SORACOM-like server for unit tests: it implements
// /auth and token refresh, enforces the auth headers, and routes the rest
// to per-test handlers keyed by "METHOD /path".
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server

	mu            sync.Mutex
	auths         int
	refreshes     int
	tokenSeq      int
	valid         map[string]bool
	refreshStatus int           // non-zero: the refresh answers with this status
	authGate      chan struct{} // non-nil: /auth waits for it to close
	refreshBodies []string
	refreshTokens []string
	usedTokens    []string
	log           []string
	routes        map[string]http.HandlerFunc
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{t: t, valid: map[string]bool{}, routes: map[string]http.HandlerFunc{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) handle(methodPath string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[methodPath] = h
}

func (f *fakeAPI) counts() (auths, refreshes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.auths, f.refreshes
}

func (f *fakeAPI) calls(methodPath string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, l := range f.log {
		p, _, _ := strings.Cut(l, "?")
		if p == methodPath {
			n++
		}
	}
	return n
}

func (f *fakeAPI) logged() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *fakeAPI) invalidateAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.valid = map[string]bool{}
}

func (f *fakeAPI) newToken() string {
	f.tokenSeq++
	tok := fmt.Sprintf("%s%d", tokenPrefix, f.tokenSeq)
	f.valid[tok] = true
	return tok
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"code": code, "message": msg})
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key := r.Method + " " + r.URL.EscapedPath()
	f.mu.Lock()
	l := key
	if r.URL.RawQuery != "" {
		l += "?" + r.URL.RawQuery
	}
	f.log = append(f.log, l)
	f.mu.Unlock()

	switch key {
	case "POST /v1/auth":
		f.mu.Lock()
		gate := f.authGate
		f.auths++
		f.mu.Unlock()
		if gate != nil {
			<-gate
		}
		var req map[string]any
		_ = json.Unmarshal(body, &req)
		if req["authKeyId"] != testKeyID || req["authKey"] != testKey {
			writeErr(w, http.StatusUnauthorized, "AUM0001", "bad credentials")
			return
		}
		f.mu.Lock()
		tok := f.newToken()
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]string{"apiKey": testAPIKey, "token": tok, "operatorId": testOperID})
		return
	case "POST /v1/operators/" + testOperID + "/token":
		f.mu.Lock()
		defer f.mu.Unlock()
		f.refreshes++
		old := r.Header.Get("X-Soracom-Token")
		f.refreshBodies = append(f.refreshBodies, string(body))
		f.refreshTokens = append(f.refreshTokens, old)
		if f.refreshStatus != 0 {
			writeErr(w, f.refreshStatus, "AUM0002", "cannot refresh")
			return
		}
		if r.Header.Get("X-Soracom-API-Key") != testAPIKey || !f.valid[old] {
			writeErr(w, http.StatusBadRequest, "AUM0003", "token expired")
			return
		}
		delete(f.valid, old)
		writeJSON(w, http.StatusOK, map[string]string{"token": f.newToken()})
		return
	}

	f.mu.Lock()
	tok := r.Header.Get("X-Soracom-Token")
	ok := r.Header.Get("X-Soracom-API-Key") == testAPIKey && f.valid[tok]
	f.usedTokens = append(f.usedTokens, tok)
	h := f.routes[key]
	f.mu.Unlock()
	if !ok {
		writeErr(w, http.StatusUnauthorized, "AUM0004", "invalid token")
		return
	}
	if h == nil {
		writeErr(w, http.StatusNotFound, "NOT0001", "no route "+key)
		return
	}
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	h(w, r)
}

// fakeClock is an adjustable clock for Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// sleepRecorder is a fake Options.Sleep that returns at once.
type sleepRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleepRecorder) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// newTestClient returns a client for f with a fake sleep; mod adjusts options.
func newTestClient(t *testing.T, f *fakeAPI, mod func(*Options)) (*Client, *sleepRecorder) {
	t.Helper()
	sl := &sleepRecorder{}
	opts := Options{
		Endpoint:    f.srv.URL,
		Credentials: Credentials{AuthKeyID: testKeyID, AuthKey: testKey},
		Sleep:       sl.Sleep,
		Timeout:     5 * time.Second,
	}
	if mod != nil {
		mod(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, sl
}

func simHandler(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/v1/sims/")
	writeJSON(w, http.StatusOK, map[string]any{"simId": id, "status": "active", "sessionStatus": map[string]any{"online": true, "ueIpAddress": "10.128.0.5"}})
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
