package portal

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"
)

// TestOIDCCodeFlowWithPKCE checks what the portal sends to the provider: the
// code flow with an S256 challenge, a state and a nonce, and at the token
// endpoint the verifier that hashes to the challenge.
func TestOIDCCodeFlowWithPKCE(t *testing.T) {
	w := setup(t)
	p := startPortal(t, w, nil)
	before := len(w.idpRequests(mockoidc.AuthorizationEndpoint))
	b := newBrowser(t, w, p)
	b.signIn(t, w, mockUser("user-a"))

	auths := w.idpRequests(mockoidc.AuthorizationEndpoint)[before:]
	if len(auths) != 1 {
		t.Fatalf("%d authorization requests", len(auths))
	}
	a := auths[0].Form
	if a.Get("response_type") != "code" || a.Get("code_challenge_method") != "S256" || len(a.Get("code_challenge")) < 43 ||
		len(a.Get("state")) < 32 || len(a.Get("nonce")) < 32 || a.Get("redirect_uri") != p.URL+"/auth/callback" ||
		!strings.Contains(a.Get("scope"), "openid") {
		t.Errorf("authorization request %v", a)
	}
	var verifier string
	for _, tr := range w.idpRequests(mockoidc.TokenEndpoint) {
		if tr.Form.Get("grant_type") == "authorization_code" && tr.Form.Get("code_verifier") != "" {
			verifier = tr.Form.Get("code_verifier")
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	if verifier == "" || base64.RawURLEncoding.EncodeToString(sum[:]) != a.Get("code_challenge") {
		t.Errorf("the token request's code_verifier %q does not match the S256 challenge %q", verifier, a.Get("code_challenge"))
	}
}

// TestOIDCCallbackChecks: a callback with another state, one replayed, one
// without the login cookie, and an ID token whose nonce is not this
// sign-in's are all refused.
func TestOIDCCallbackChecks(t *testing.T) {
	w := setup(t)
	p := startPortal(t, w, nil)
	oidcMu.Lock()
	defer oidcMu.Unlock()

	// Stop at the provider's redirect back to the portal.
	b := newBrowser(t, w, p)
	stop := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	b.CheckRedirect = stop
	authorize := func(mutate func(url.Values)) *url.URL {
		t.Helper()
		start := b.get(t, "/auth/start?next=%2Fsessions")
		if start.StatusCode != http.StatusFound {
			t.Fatalf("/auth/start: %d", start.StatusCode)
		}
		loc, _ := start.Location()
		q := loc.Query()
		if mutate != nil {
			mutate(q)
			loc.RawQuery = q.Encode()
		}
		w.oidc.QueueUser(mockUser("user-a"))
		back := b.get(t, loc.String())
		cb, err := back.Location()
		if err != nil {
			t.Fatalf("the provider did not redirect back: %d %s", back.StatusCode, back.Body)
		}
		return cb
	}

	cb := authorize(nil)
	forged := *cb
	q := forged.Query()
	q.Set("state", "not-the-state")
	forged.RawQuery = q.Encode()
	wantStatus(t, b.get(t, forged.String()), http.StatusBadRequest, "state mismatch")
	// The login cookie is single-use: the genuine callback after that is refused too.
	wantStatus(t, b.get(t, cb.String()), http.StatusBadRequest, "Sign-in expired")

	// A callback in a browser that did not start the sign-in.
	cb = authorize(nil)
	stranger := newBrowser(t, w, p)
	stranger.CheckRedirect = stop
	wantStatus(t, stranger.get(t, cb.String()), http.StatusBadRequest, "Sign-in expired")

	// The provider is made to sign another nonce: refused.
	cb = authorize(func(q url.Values) { q.Set("nonce", "someone-elses-nonce-someone-elses-nonce") })
	wantStatus(t, b.get(t, cb.String()), http.StatusUnauthorized, "nonce")

	// The genuine flow ends at the page asked for.
	cb = authorize(nil)
	done := b.get(t, cb.String())
	if l, _ := done.Location(); done.StatusCode != http.StatusSeeOther || l == nil || l.Path != "/sessions" {
		t.Fatalf("the callback answered %d %v", done.StatusCode, done.Header)
	}
	// An error from the provider is shown, not trusted, and only when it
	// answers this sign-in (its state): a crafted link cannot put text on a
	// portal page or abort someone's sign-in.
	b.get(t, "/auth/start")
	wantStatus(t, b.get(t, "/auth/callback?error=access_denied&error_description=Call+us+at+555&state=x"), http.StatusBadRequest, "state mismatch")
	loc, _ := b.get(t, "/auth/start").Location()
	got := b.get(t, "/auth/callback?"+url.Values{"error": {"access_denied"}, "error_description": {"nope"}, "state": {loc.Query().Get("state")}}.Encode())
	wantStatus(t, got, http.StatusUnauthorized, "Sign-in refused", "access_denied: nope")
}
