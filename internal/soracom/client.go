// Package soracom is gatestream's client for the SORACOM REST API: auth with
// token caching and refresh, Virtual Private Gateways, Gate, Canal (VPC
// peering), SIM-based routing, Junction, groups and group configuration, and
// SIMs.
//
// One Client is safe for concurrent use and is meant to be shared by every
// reconciler that uses the same credentials and endpoint: it authenticates
// once (single-flight), caches the API key and token, refreshes the token
// before it expires, and re-authenticates only when the token is rejected.
//
// Retries: idempotent calls (GET, PUT, DELETE and the POST actions that are
// harmless to repeat) are retried a bounded number of times on 5xx and on
// connection errors (with exponential backoff and jitter). A 429 is returned
// at once, carrying the server's X-Soracom-Ratelimit-Seconds-Before-Refresh
// (capped) as APIError.RetryAfter: the caller requeues after it rather than
// holding a worker for up to a minute. Create calls
// (createVirtualPrivateGateway, createGroup, createVpcPeeringConnection,
// registerGatePeer) are never re-sent by the client: each repeat could create
// a second (billed) resource, so the error goes back to the caller, which looks
// the resource up by tag before trying again.
//
// The package has no Kubernetes imports.
package soracom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Coverage selects the SORACOM coverage (and so the endpoint).
type Coverage string

const (
	// CoverageJapan is Japan coverage, https://api.soracom.io.
	CoverageJapan Coverage = "jp"
	// CoverageGlobal is global coverage, https://g.api.soracom.io.
	CoverageGlobal Coverage = "g"
)

// Endpoints of the two coverages.
const (
	EndpointJapan  = "https://api.soracom.io"
	EndpointGlobal = "https://g.api.soracom.io"
)

// Defaults of Options.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultTokenTTL     = 24 * time.Hour
	DefaultMaxRetries   = 3
	DefaultMaxRetryWait = 60 * time.Second
	// MaxTokenTTL is the longest token lifetime SORACOM issues (48 h).
	MaxTokenTTL = 48 * time.Hour
	// MinTokenTTL is the shortest token lifetime SORACOM issues (3 min).
	MinTokenTTL = 3 * time.Minute
)

const (
	baseBackoff    = 1 * time.Second
	maxBackoff     = 30 * time.Second
	maxBodyBytes   = 16 << 20
	defaultUA      = "gatestream-soracom-client"
	redactedString = "[REDACTED]"
)

// EndpointFor returns the API endpoint of a coverage ("" means jp, like soracom-cli).
func EndpointFor(c Coverage) (string, error) {
	switch c {
	case CoverageJapan, "":
		return EndpointJapan, nil
	case CoverageGlobal:
		return EndpointGlobal, nil
	default:
		return "", fmt.Errorf("soracom: unknown coverage %q (want %q or %q)", string(c), CoverageJapan, CoverageGlobal)
	}
}

// Credentials are a SORACOM AuthKey pair. Formatting them with any fmt verb
// prints only a redacted form.
type Credentials struct {
	AuthKeyID string
	AuthKey   string
}

// String redacts the key.
func (c Credentials) String() string {
	id := redactedString
	if c.AuthKeyID == "" {
		id = ""
	}
	return fmt.Sprintf("soracom.Credentials{AuthKeyID:%s AuthKey:%s}", id, redactedString)
}

// GoString redacts the key.
func (c Credentials) GoString() string { return c.String() }

// Format redacts the key for every verb.
func (c Credentials) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// Options configure a Client.
type Options struct {
	// Coverage is jp (default) or g. Ignored when Endpoint is set.
	Coverage Coverage
	// Endpoint overrides the coverage's endpoint (tests, the emulator),
	// e.g. "http://127.0.0.1:8080". A trailing "/v1" is accepted.
	Endpoint string
	// Credentials are required.
	Credentials Credentials

	// HTTPClient is used for every call; nil builds one with sane transport
	// timeouts (see NewHTTPClient).
	HTTPClient *http.Client
	// Timeout bounds each HTTP attempt (default 30 s). The caller's context
	// bounds the call as a whole, retries and waits included.
	Timeout time.Duration
	// TokenTTL is the token lifetime requested from /auth and on refresh
	// (default 24 h, clamped to 3 min..48 h).
	TokenTTL time.Duration
	// MaxRetries is how many times an idempotent call is re-sent after a 5xx
	// or connection error (default 3; negative disables retries).
	MaxRetries int
	// MaxRetryWait caps the wait before a retry, and the wait a 429 asks the
	// caller for (default 60 s).
	MaxRetryWait time.Duration

	// Limiter, when set, is waited on before every HTTP request (the outbound
	// budget shared by all clients of one cloud).
	Limiter *rate.Limiter
	// Observe, when set, is called after every HTTP request with the
	// operation id, the HTTP status (0 when none) and the error.
	Observe func(op string, status int, err error, d time.Duration)
	// Sleep waits between retries; the default is a context-aware timer.
	// Tests inject a fake that records the duration.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock for token expiry (default time.Now).
	Now func() time.Time
	// UserAgent overrides the User-Agent header.
	UserAgent string
}

// Client calls the SORACOM API. Create it with New; it is safe for concurrent use.
type Client struct {
	endpoint   string
	httpClient *http.Client
	timeout    time.Duration
	tokenTTL   time.Duration
	maxRetries int
	maxWait    time.Duration
	limiter    *rate.Limiter
	observe    func(op string, status int, err error, d time.Duration)
	sleep      func(ctx context.Context, d time.Duration) error
	now        func() time.Time
	userAgent  string
	rng        *lockedRand
	holds      *holds

	// auth holds the credentials and the cached token; it is behind a
	// pointer so that printing a Client value never prints it.
	auth *authState
}

// New returns a Client. It does not call the API; the first call authenticates.
func New(opts Options) (*Client, error) {
	if opts.Credentials.AuthKeyID == "" || opts.Credentials.AuthKey == "" {
		return nil, errors.New("soracom: credentials need authKeyId and authKey")
	}
	endpoint := strings.TrimSpace(opts.Endpoint)
	if endpoint == "" {
		var err error
		if endpoint, err = EndpointFor(opts.Coverage); err != nil {
			return nil, err
		}
	} else {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("soracom: invalid endpoint %q", endpoint)
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, errors.New("soracom: endpoint must not carry user info, query or fragment")
		}
	}
	endpoint = strings.TrimSuffix(strings.TrimRight(endpoint, "/"), "/v1")
	creds := opts.Credentials
	c := &Client{
		endpoint:   endpoint,
		httpClient: opts.HTTPClient,
		timeout:    opts.Timeout,
		tokenTTL:   opts.TokenTTL,
		maxRetries: opts.MaxRetries,
		maxWait:    opts.MaxRetryWait,
		limiter:    opts.Limiter,
		observe:    opts.Observe,
		sleep:      opts.Sleep,
		now:        opts.Now,
		userAgent:  opts.UserAgent,
		rng:        &lockedRand{r: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))},
		auth:       &authState{creds: &creds},
		holds:      &holds{},
	}
	if c.httpClient == nil {
		c.httpClient = NewHTTPClient()
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	switch {
	case c.tokenTTL <= 0:
		c.tokenTTL = DefaultTokenTTL
	case c.tokenTTL < MinTokenTTL:
		c.tokenTTL = MinTokenTTL
	case c.tokenTTL > MaxTokenTTL:
		c.tokenTTL = MaxTokenTTL
	}
	c.tokenTTL = c.tokenTTL.Truncate(time.Second)
	if c.maxRetries == 0 {
		c.maxRetries = DefaultMaxRetries
	} else if c.maxRetries < 0 {
		c.maxRetries = 0
	}
	if c.maxWait <= 0 {
		c.maxWait = DefaultMaxRetryWait
	}
	if c.sleep == nil {
		c.sleep = sleepContext
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.userAgent == "" {
		c.userAgent = defaultUA
	}
	return c, nil
}

// NewHTTPClient returns an http.Client with bounded dial, TLS handshake,
// response-header and idle timeouts. There is no overall Client.Timeout: each
// call is bounded by its context (Options.Timeout).
func NewHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			DialContext: (&net.Dialer{
				Timeout:   10 * time.Second,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          50,
			MaxIdleConnsPerHost:   10,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			ExpectContinueTimeout: 1 * time.Second,
		},
		// Never follow redirects: they would carry the auth headers elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Endpoint returns the API base URL the client calls (without /v1).
func (c *Client) Endpoint() string { return c.endpoint }

// String describes the client without credentials or tokens.
func (c Client) String() string { return fmt.Sprintf("soracom.Client{endpoint:%s}", c.endpoint) }

// GoString describes the client without credentials or tokens.
func (c Client) GoString() string { return c.String() }

// Format prints String for every verb, so that no formatting of a Client (or
// *Client) can reach the credentials or the token.
func (c Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// request is one API call.
type request struct {
	op     string
	method string
	path   string // escaped, starting with /v1/
	query  url.Values
	body   any
	out    any
	// idempotent calls are re-sent on 429, 5xx, connection errors, and once
	// after a 401 with a fresh token; others never are.
	idempotent bool
	// noAuth: /auth itself.
	noAuth bool
	// tok overrides the cached token (the refresh call uses the token it refreshes).
	tok *token
}

// do runs a request with auth, the outbound budget, per-attempt timeouts and
// the retry rules. It returns the response header of the successful attempt.
func (c *Client) do(ctx context.Context, req *request) (http.Header, error) {
	reauthed := false
	retries := 0
	for {
		tok := req.tok
		if !req.noAuth && tok == nil {
			var err error
			if tok, err = c.getToken(ctx); err != nil {
				return nil, err
			}
		}
		if held := c.holds.check(req, c.now()); held != nil {
			return nil, held
		}
		header, err := c.attempt(ctx, req, tok)
		if err == nil {
			return header, nil
		}
		c.holds.record(req, c.capRetryAfter(err), c.now())
		if ctx.Err() != nil {
			return nil, err
		}
		if !req.noAuth && req.tok == nil && IsUnauthorized(err) && !reauthed {
			// The token was rejected (expired or revoked): drop it so the next
			// call authenticates again, and repeat this call once unless it
			// is a create.
			c.invalidate(tok)
			reauthed = true
			if req.idempotent {
				continue
			}
			return nil, err
		}
		if !req.idempotent || retries >= c.maxRetries || !autoRetry(err) {
			return nil, c.capRetryAfter(err)
		}
		wait := c.retryWait(retries)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			// No time left to wait: give the error back to the caller's backoff.
			return nil, c.capRetryAfter(err)
		}
		if serr := c.sleep(ctx, wait); serr != nil {
			return nil, err
		}
		retries++
	}
}

// holds remembers, per request (method and path), until when SORACOM asked
// not to send it again (a 429's Seconds-Before-Refresh): until then the call
// fails at once without being sent. SORACOM counts calls per path per minute,
// so a pass that comes back sooner (another object's requeue, a watch event)
// would only spend more of the exhausted minute.
type holds struct {
	mu    sync.Mutex
	until map[string]holdUntil
}

type holdUntil struct {
	at  time.Time
	err APIError
}

func holdKey(req *request) string { return req.method + " " + req.path }

// check returns the error for a request that must not be sent yet, or nil.
func (h *holds) check(req *request, now time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	u, ok := h.until[holdKey(req)]
	if !ok {
		return nil
	}
	if !now.Before(u.at) {
		delete(h.until, holdKey(req))
		return nil
	}
	e := u.err
	e.RetryAfter, e.Held = u.at.Sub(now), true
	return &e
}

// record starts a hold when err is a 429 that announced a wait.
func (h *holds) record(req *request, err error, now time.Time) {
	ae, ok := AsAPIError(err)
	if !ok || ae.HTTPStatus != http.StatusTooManyRequests || ae.RetryAfter <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.until == nil {
		h.until = map[string]holdUntil{}
	}
	for k, u := range h.until {
		if !now.Before(u.at) {
			delete(h.until, k)
		}
	}
	h.until[holdKey(req)] = holdUntil{at: now.Add(ae.RetryAfter), err: *ae}
}

// capRetryAfter caps the wait a 429 asks the caller for at MaxRetryWait: the
// caller requeues after it (a throttle is a requeue, never a sleep in a
// worker), and MaxRetryWait is this client's bound on any wait.
func (c *Client) capRetryAfter(err error) error {
	if ae, ok := AsAPIError(err); ok && ae.RetryAfter > c.maxWait {
		ae.RetryAfter = c.maxWait
	}
	return err
}

// autoRetry decides which failures of an idempotent call the client re-sends
// itself: 5xx and connection errors, after a short backoff. A 429 is never
// re-sent here: SORACOM asks for up to a minute (Seconds-Before-Refresh), and
// waiting that long inside a reconcile would hold a worker that other objects
// need; the caller requeues after the wait instead (capRetryAfter). A
// timed-out attempt is not re-sent either (it already took a full timeout);
// it goes back to the caller as retryable.
func autoRetry(err error) bool {
	if ae, ok := AsAPIError(err); ok {
		return ae.HTTPStatus >= 500
	}
	var te *TransportError
	if errors.As(err, &te) {
		return !te.Timeout() && !errors.Is(err, context.Canceled)
	}
	return false
}

// retryWait is the wait before retry number n (0-based) of a 5xx or a
// connection error: exponential backoff with jitter, capped at MaxRetryWait.
func (c *Client) retryWait(n int) time.Duration {
	b := baseBackoff << min(n, 10)
	if b > maxBackoff {
		b = maxBackoff
	}
	// Jitter in [b/2, b].
	d := b/2 + time.Duration(c.rng.Int64N(int64(b/2)+1))
	if d > c.maxWait {
		d = c.maxWait
	}
	return d
}

// attempt sends one HTTP request and reads its response.
func (c *Client) attempt(ctx context.Context, req *request, tok *token) (http.Header, error) {
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return nil, &TransportError{Operation: req.op, Err: fmt.Errorf("waiting for the outbound rate limit: %w", err)}
		}
	}
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	u := c.endpoint + req.path
	if len(req.query) > 0 {
		u += "?" + req.query.Encode()
	}
	var body io.Reader
	if req.body != nil {
		b, err := json.Marshal(req.body)
		if err != nil {
			return nil, fmt.Errorf("soracom %s: encoding request: %w", req.op, err)
		}
		body = bytes.NewReader(b)
	}
	hreq, err := http.NewRequestWithContext(actx, req.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("soracom %s: %w", req.op, err)
	}
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", c.userAgent)
	hreq.Header.Set("X-Soracom-Lang", "en")
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if tok != nil {
		hreq.Header.Set("X-Soracom-API-Key", tok.apiKey)
		hreq.Header.Set("X-Soracom-Token", tok.token)
	}

	start := time.Now()
	status := 0
	var header http.Header
	var respBody []byte
	resp, err := c.httpClient.Do(hreq)
	if err == nil {
		status = resp.StatusCode
		header = resp.Header
		respBody, err = io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
		_ = resp.Body.Close()
	}
	if err != nil {
		err = &TransportError{Operation: req.op, Err: c.scrubErr(err)}
		if status == 0 || status/100 == 2 {
			c.report(req.op, status, err, time.Since(start))
			return nil, err
		}
		// A non-2xx whose body could not be read: keep the status.
		respBody = nil
	}
	if status/100 != 2 {
		aerr := parseAPIError(req.op, status, header, respBody, c.redact)
		c.report(req.op, status, aerr, time.Since(start))
		return header, aerr
	}
	if req.out != nil && len(bytes.TrimSpace(respBody)) > 0 {
		if derr := json.Unmarshal(respBody, req.out); derr != nil {
			// Scrubbed: the decoders name the value they refused, which
			// could be anything the server sent back, the token included.
			derr = c.scrubErr(fmt.Errorf("soracom %s: decoding response (HTTP %d): %w", req.op, status, derr))
			c.report(req.op, status, derr, time.Since(start))
			return header, derr
		}
	}
	c.report(req.op, status, nil, time.Since(start))
	return header, nil
}

func (c *Client) report(op string, status int, err error, d time.Duration) {
	if c.observe != nil {
		c.observe(op, status, err, d)
	}
}

// redact removes the credentials and the current key and token from s.
func (c *Client) redact(s string) string {
	if s == "" {
		return s
	}
	for _, secret := range c.auth.secrets() {
		if len(secret) >= 4 && strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, redactedString)
		}
	}
	return s
}

// scrubErr makes sure a transport error's text holds no secret. Secrets only
// travel in headers and bodies, so this is a safety net.
func (c *Client) scrubErr(err error) error {
	msg := err.Error()
	if r := c.redact(msg); r != msg {
		return &scrubbedError{msg: r, err: err}
	}
	return err
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }

// Unwrap keeps errors.Is(err, context.DeadlineExceeded) and friends working.
func (e *scrubbedError) Unwrap() error { return e.err }

// retryAfter reads the wait the server asked for on a 429.
func retryAfter(h http.Header) time.Duration {
	if h == nil {
		return 0
	}
	if v := strings.TrimSpace(h.Get("X-Soracom-Ratelimit-Seconds-Before-Refresh")); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
			return secondsToDuration(f)
		}
	}
	// Retry-After on 429 is UNCONFIRMED for SORACOM; honour it if sent.
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return secondsToDuration(float64(n))
		}
		if t, err := http.ParseTime(v); err == nil {
			if d := time.Until(t); d > 0 {
				return d
			}
		}
	}
	return 0
}

// secondsToDuration converts a wait in seconds, saturating at the longest
// Duration: beyond it (about 292 years, "1e10" or "Inf" in the header) the
// conversion would overflow into a negative wait. Callers cap the result at
// MaxRetryWait.
func secondsToDuration(f float64) time.Duration {
	const longest = time.Duration(1<<63 - 1)
	if ns := f * float64(time.Second); ns < float64(longest) {
		return time.Duration(ns)
	}
	return longest
}

func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func (l *lockedRand) Int64N(n int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Int64N(n)
}

// escape percent-encodes one path segment.
func escape(s string) string { return url.PathEscape(s) }
