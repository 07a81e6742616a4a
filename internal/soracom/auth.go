package soracom

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// token is a cached API key and token.
type token struct {
	apiKey     string
	token      string
	operatorID string
	expiresAt  time.Time
	refreshAt  time.Time
}

// authState is the credentials and the cached token, shared by all calls of a Client.
type authState struct {
	// creds is behind a pointer so that even fmt's fallback printing of an
	// authState value shows an address, not the key.
	creds *Credentials

	mu       sync.Mutex
	tok      *token
	inflight *authCall
}

// authCall is one in-flight authentication or refresh; every caller that
// needs a token while it runs waits for it (single flight).
type authCall struct {
	done chan struct{}
	tok  *token
	err  error
}

// secrets returns the strings that must never appear in errors.
func (a *authState) secrets() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := []string{a.creds.AuthKey, a.creds.AuthKeyID}
	if a.tok != nil {
		s = append(s, a.tok.apiKey, a.tok.token)
	}
	return s
}

type authRequest struct {
	AuthKeyID           string `json:"authKeyId"`
	AuthKey             string `json:"authKey"`
	TokenTimeoutSeconds int64  `json:"tokenTimeoutSeconds,omitempty"`
}

type authResponse struct {
	APIKey     string `json:"apiKey"`
	Token      string `json:"token"`
	OperatorID string `json:"operatorId"`
}

type generateTokenRequest struct {
	TokenTimeoutSeconds int64 `json:"tokenTimeoutSeconds,omitempty"`
}

type generateTokenResponse struct {
	Token string `json:"token"`
}

// refreshMargin is how long before expiry a token is refreshed: 10 % of its
// lifetime but at least 5 minutes, and never more than half of it.
func refreshMargin(ttl time.Duration) time.Duration {
	m := max(ttl/10, 5*time.Minute)
	return min(m, ttl/2)
}

// OperatorID returns the operator id learned at authentication ("" before the first call).
func (c *Client) OperatorID() string {
	c.auth.mu.Lock()
	defer c.auth.mu.Unlock()
	if c.auth.tok == nil {
		return ""
	}
	return c.auth.tok.operatorID
}

// getToken returns a usable token: the cached one while it is fresh, else
// the result of one shared refresh or authentication.
func (c *Client) getToken(ctx context.Context) (*token, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("soracom: %w", err)
	}
	a := c.auth
	a.mu.Lock()
	now := c.now()
	cur := a.tok
	if cur != nil && now.Before(cur.refreshAt) {
		a.mu.Unlock()
		return cur, nil
	}
	call := a.inflight
	if call != nil && cur != nil && now.Before(cur.expiresAt.Add(-time.Minute)) {
		// A refresh is running and the current token is still good: use it
		// rather than wait.
		a.mu.Unlock()
		return cur, nil
	}
	if call == nil {
		call = &authCall{done: make(chan struct{})}
		a.inflight = call
		// The authentication runs on its own context so that one caller
		// giving up does not fail everyone waiting for it.
		go c.runAuth(context.WithoutCancel(ctx), call, cur)
	}
	a.mu.Unlock()
	select {
	case <-call.done:
		return call.tok, call.err
	case <-ctx.Done():
		return nil, fmt.Errorf("soracom: waiting for authentication: %w", ctx.Err())
	}
}

// authBudget bounds one authentication, its retries included.
func (c *Client) authBudget() time.Duration {
	return time.Duration(c.maxRetries+1)*c.timeout + time.Duration(c.maxRetries)*c.maxWait
}

func (c *Client) runAuth(ctx context.Context, call *authCall, cur *token) {
	ctx, cancel := context.WithTimeout(ctx, c.authBudget())
	defer cancel()
	tok, err := c.obtainToken(ctx, cur)
	a := c.auth
	a.mu.Lock()
	if err == nil {
		a.tok = tok
	}
	a.inflight = nil
	a.mu.Unlock()
	call.tok, call.err = tok, err
	close(call.done)
}

// obtainToken refreshes cur while it is still valid, and authenticates when
// there is no token, it has expired, or the refresh is refused (400/401/403).
func (c *Client) obtainToken(ctx context.Context, cur *token) (*token, error) {
	now := c.now()
	if cur != nil && now.Before(cur.expiresAt) {
		tok, err := c.refresh(ctx, cur, now)
		if err == nil {
			return tok, nil
		}
		switch StatusCode(err) {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
			// The token cannot be refreshed (expired or revoked): authenticate.
		default:
			// Throttled, 5xx or no connection: keep using the current token
			// and try to refresh again a little later.
			now = c.now()
			if left := cur.expiresAt.Sub(now); left > 0 {
				next := *cur
				next.refreshAt = now.Add(min(30*time.Second, left/2))
				return &next, nil
			}
		}
	}
	return c.authenticate(ctx)
}

// authenticate calls POST /v1/auth.
func (c *Client) authenticate(ctx context.Context) (*token, error) {
	issued := c.now()
	var resp authResponse
	_, err := c.do(ctx, &request{
		op:     "auth",
		method: http.MethodPost,
		path:   "/v1/auth",
		body: &authRequest{
			AuthKeyID:           c.auth.creds.AuthKeyID,
			AuthKey:             c.auth.creds.AuthKey,
			TokenTimeoutSeconds: int64(c.tokenTTL / time.Second),
		},
		out: &resp,
		// Authenticating again is harmless (it only issues another token).
		idempotent: true,
		noAuth:     true,
	})
	if err != nil {
		return nil, err
	}
	if resp.APIKey == "" || resp.Token == "" {
		return nil, errors.New("soracom auth: response without apiKey or token")
	}
	exp := issued.Add(c.tokenTTL)
	return &token{
		apiKey:     resp.APIKey,
		token:      resp.Token,
		operatorID: resp.OperatorID,
		expiresAt:  exp,
		refreshAt:  exp.Add(-refreshMargin(c.tokenTTL)),
	}, nil
}

// refresh calls POST /v1/operators/{operator_id}/token with the current token.
func (c *Client) refresh(ctx context.Context, cur *token, issued time.Time) (*token, error) {
	if cur.operatorID == "" {
		return nil, &APIError{HTTPStatus: http.StatusBadRequest, Operation: "generateAuthToken", Message: "no operator id to refresh the token for"}
	}
	var resp generateTokenResponse
	_, err := c.do(ctx, &request{
		op:         "generateAuthToken",
		method:     http.MethodPost,
		path:       "/v1/operators/" + escape(cur.operatorID) + "/token",
		body:       &generateTokenRequest{TokenTimeoutSeconds: int64(c.tokenTTL / time.Second)},
		out:        &resp,
		idempotent: true,
		tok:        cur,
	})
	if err != nil {
		return nil, err
	}
	if resp.Token == "" {
		return nil, &APIError{HTTPStatus: http.StatusBadRequest, Operation: "generateAuthToken", Message: "response without token"}
	}
	exp := issued.Add(c.tokenTTL)
	return &token{
		apiKey:     cur.apiKey,
		token:      resp.Token,
		operatorID: cur.operatorID,
		expiresAt:  exp,
		refreshAt:  exp.Add(-refreshMargin(c.tokenTTL)),
	}, nil
}

// invalidate drops tok from the cache after the API rejected it, so that the
// next call authenticates again (unless another call already did).
func (c *Client) invalidate(tok *token) {
	if tok == nil {
		return
	}
	a := c.auth
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tok != nil && a.tok.token == tok.token {
		a.tok = nil
	}
}
