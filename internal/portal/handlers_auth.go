package portal

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

const loginTTL = 10 * time.Minute

func (s *Server) newSession(id identity, now time.Time) portalSession {
	return portalSession{
		User: id.User, Groups: id.Groups, Email: id.Email, CSRF: randomToken(),
		Issued: now.Unix(), Expires: now.Add(s.cfg.SessionTTL).Unix(),
	}
}

// person resolves who is asking. When no one is signed in it answers the
// request itself (a redirect to sign-in, or an error page) and returns false.
func (s *Server) person(w http.ResponseWriter, r *http.Request) (*portalSession, bool) {
	now := s.now()
	if s.cfg.AuthMode == AuthProxy {
		id, trusted, err := proxyIdentity(&s.cfg, r)
		var repeated *repeatedHeaderError
		if trusted && errors.As(err, &repeated) {
			s.log.Info("refused repeated identity headers", "remote", r.RemoteAddr, "path", r.URL.Path, "header", repeated.Header)
			s.fail(w, r, nil, http.StatusBadRequest, errorView{
				Heading: "Conflicting identity headers",
				Message: "The request names who you are more than once, so the portal cannot tell who you are and refused it.",
				Detail:  err.Error(),
			})
			return nil, false
		}
		if !trusted {
			s.log.Info("refused identity headers from an untrusted address", "remote", r.RemoteAddr, "path", r.URL.Path)
			s.fail(w, r, nil, http.StatusForbidden, errorView{
				Heading: "Not through the sign-in proxy",
				Message: "This portal accepts requests only through your organisation's sign-in proxy.",
				Detail:  err.Error(),
			})
			return nil, false
		}
		if err != nil {
			s.fail(w, r, nil, http.StatusUnauthorized, errorView{
				Heading: "Not signed in",
				Message: "The sign-in proxy did not say who you are, or named an identity the portal does not act for.",
				Detail:  err.Error(),
			})
			return nil, false
		}
		// The identity comes from the proxy on every request; the cookie only
		// binds a CSRF token to it.
		var ps portalSession
		if err := s.codec.get(r, sessionCookie, &ps); err != nil || ps.User != id.User || !slices.Equal(ps.Groups, id.Groups) || now.Unix() >= ps.Expires {
			ps = s.newSession(id, now)
			if err := s.codec.set(w, sessionCookie, &ps, s.cfg.SessionTTL); err != nil {
				s.fail(w, r, nil, http.StatusBadRequest, errorView{Heading: "Cannot sign you in", Message: err.Error()})
				return nil, false
			}
		}
		ps.Email = id.Email
		return &ps, true
	}

	ps, reason, err := s.signedIn(r)
	if err != nil {
		// Fail closed: without the sign-out record no sign-in is taken.
		s.kubeDown(w, r, nil, err)
		return nil, false
	}
	if reason == "" {
		return ps, true
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		next := r.URL.RequestURI()
		http.Redirect(w, r, "/signin?"+url.Values{"reason": {reason}, "next": {next}}.Encode(), http.StatusSeeOther)
		return nil, false
	}
	msg := "Sign in to continue."
	switch reason {
	case "expired":
		msg = "Your portal session has expired. Sign in again; nothing was changed."
	case "signedout":
		msg = "This sign-in has ended (you signed out). Sign in again; nothing was changed."
	}
	s.fail(w, r, nil, http.StatusUnauthorized, errorView{Heading: "Not signed in", Message: msg})
	return nil, false
}

// signedIn reads the session cookie (oidc mode): the sign-in, or why there
// is none ("required", "expired" or "signedout"). A cookie issued before the
// person's last sign-out (on any replica) is no sign-in; neither is one whose
// groups lack the configured groups prefix (issued under another setting).
func (s *Server) signedIn(r *http.Request) (*portalSession, string, error) {
	var ps portalSession
	if err := s.codec.get(r, sessionCookie, &ps); err != nil {
		return nil, "required", nil
	}
	if s.now().Unix() >= ps.Expires {
		return nil, "expired", nil
	}
	prefix := s.cfg.groupsPrefix()
	for _, g := range ps.Groups {
		if !strings.HasPrefix(g, prefix) {
			return nil, "required", nil
		}
	}
	gen, err := s.signinGeneration(r.Context(), ps.User)
	if err != nil {
		return nil, "", err
	}
	if ps.Gen < gen {
		return nil, "signedout", nil
	}
	return &ps, "", nil
}

// checkForm guards every state-changing request: it refuses cross-site
// requests (net/http's CrossOriginProtection), parses the bounded form and
// compares the synchronizer token bound to the sign-in in constant time.
func (s *Server) checkForm(w http.ResponseWriter, r *http.Request, ps *portalSession) bool {
	// Sec-Fetch-Site is authoritative where the browser sends it; otherwise
	// Origin must match Host or the public URL. An Origin "null" without
	// Sec-Fetch-Site is what older browsers send for the portal's own forms
	// under Referrer-Policy: no-referrer, so it is left to the token.
	sfs := r.Header.Get("Sec-Fetch-Site")
	if err := s.origins.Check(r); err != nil && (sfs != "" || r.Header.Get("Origin") != "null") {
		msg := "This request came from another origin, so the portal refused it."
		if sfs != "" {
			msg = "This request came from another site (Sec-Fetch-Site: " + sfs + "), so the portal refused it."
		}
		s.fail(w, r, ps, http.StatusForbidden, errorView{Heading: "Request refused", Message: msg})
		return false
	}
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.fail(w, r, ps, http.StatusRequestEntityTooLarge, errorView{Heading: "Request too large", Message: "The form was larger than the portal accepts."})
		} else {
			s.fail(w, r, ps, http.StatusBadRequest, errorView{Heading: "Bad request", Message: "The form could not be read."})
		}
		return false
	}
	if !constantTimeEqual(r.PostForm.Get("csrf"), ps.CSRF) {
		s.fail(w, r, ps, http.StatusForbidden, errorView{
			Heading: "Form expired",
			Message: "This form was not issued for your current sign-in (missing or wrong security token), so nothing was done.",
			Hint:    "Go back, reload the page and try again.",
		})
		return false
	}
	return true
}

// signin is the "not signed in" page (OIDC mode).
func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	next := safeNext(q.Get("next"))
	if _, reason, err := s.signedIn(r); err == nil && reason == "" {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	msg := "Sign in to see the devices you may reach."
	switch q.Get("reason") {
	case "expired":
		msg = "Your portal session has expired. Sign in again to continue."
	case "signedout":
		msg = "You are signed out."
	}
	s.render(w, http.StatusOK, "signin", nil, pageData{Title: "Sign in", Data: struct{ Message, StartPath string }{
		msg, "/auth/start?" + url.Values{"next": {next}}.Encode(),
	}})
}

// authStart begins the authorization code flow with PKCE (S256), a fresh
// state and nonce kept in a short-lived signed cookie.
func (s *Server) authStart(w http.ResponseWriter, r *http.Request) {
	st := loginState{Next: safeNext(r.URL.Query().Get("next")), Expires: s.now().Add(loginTTL).Unix()}
	u, err := s.oidc.authCodeURL(r.Context(), &st)
	if err != nil {
		s.log.Error(err, "starting sign-in")
		s.fail(w, r, nil, http.StatusServiceUnavailable, errorView{Heading: "Sign-in unavailable", Message: "The identity provider cannot be reached right now. Try again in a minute."})
		return
	}
	if err := s.codec.set(w, loginCookie, &st, loginTTL); err != nil {
		s.fail(w, r, nil, http.StatusInternalServerError, errorView{Heading: "Sign-in unavailable", Message: err.Error()})
		return
	}
	http.Redirect(w, r, u, http.StatusFound)
}

// authCallback completes the sign-in: state and nonce must match the cookie,
// the code is redeemed with the PKCE verifier and the ID token verified.
func (s *Server) authCallback(w http.ResponseWriter, r *http.Request) {
	restart := []link{{"/auth/start", "Sign in again"}}
	var st loginState
	if err := s.codec.get(r, loginCookie, &st); err != nil || s.now().Unix() >= st.Expires {
		s.fail(w, r, nil, http.StatusBadRequest, errorView{Heading: "Sign-in expired", Message: "This sign-in was not started in this browser, or took too long.", Links: restart})
		return
	}
	s.codec.clear(w, loginCookie)
	q := r.URL.Query()
	// State first: a provider's error is shown only when it answers this sign-in.
	if !constantTimeEqual(q.Get("state"), st.State) {
		s.fail(w, r, nil, http.StatusBadRequest, errorView{Heading: "Sign-in refused", Message: "The sign-in response does not belong to this sign-in (state mismatch).", Links: restart})
		return
	}
	if e := q.Get("error"); e != "" {
		s.fail(w, r, nil, http.StatusUnauthorized, errorView{Heading: "Sign-in refused", Message: "The identity provider refused the sign-in.", Detail: e + ": " + q.Get("error_description"), Links: restart})
		return
	}
	id, err := s.oidc.exchange(r.Context(), &st, q.Get("code"))
	if err != nil {
		s.log.Info("sign-in failed", "error", err.Error())
		s.fail(w, r, nil, http.StatusUnauthorized, errorView{Heading: "Sign-in failed", Message: "The portal could not confirm who you are.", Detail: err.Error(), Links: restart})
		return
	}
	gen, err := s.signinGeneration(r.Context(), id.User)
	if err != nil {
		s.log.Error(err, "sign-in: reading the sign-out record")
		s.fail(w, r, nil, http.StatusBadGateway, errorView{Heading: "Sign-in unavailable", Message: "The portal could not reach the Kubernetes API to complete your sign-in. Try again in a minute.", Links: restart})
		return
	}
	ps := s.newSession(id, s.now())
	ps.Gen = gen
	if err := s.codec.set(w, sessionCookie, &ps, s.cfg.SessionTTL); err != nil {
		s.fail(w, r, nil, http.StatusBadRequest, errorView{Heading: "Cannot sign you in", Message: err.Error(), Links: restart})
		return
	}
	s.log.Info("portal sign-in", "audit", true, "action", "signin", "user", id.User, "groups", id.Groups)
	http.Redirect(w, r, st.Next, http.StatusSeeOther)
}

func (s *Server) signout(w http.ResponseWriter, r *http.Request) {
	ps, ok := s.person(w, r)
	if !ok || !s.checkForm(w, r, ps) {
		return
	}
	s.codec.clear(w, sessionCookie)
	if s.cfg.AuthMode != AuthOIDC {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	// Recorded in the API server: copies of the cookie stop working on
	// every replica, not just this browser's.
	if err := s.recordSignout(r.Context(), ps.User, ps.Gen); err != nil {
		s.log.Error(err, "recording a sign-out", "user", ps.User)
		s.fail(w, r, nil, http.StatusBadGateway, errorView{
			Heading: "Sign-out not recorded",
			Message: "This browser is signed out, but the portal could not record the sign-out in Kubernetes, so a copy of this sign-in may still work until it expires. Try signing in and out again.",
		})
		return
	}
	s.log.Info("portal sign-out", "audit", true, "action", "signout", "user", ps.User)
	http.Redirect(w, r, "/signin?reason=signedout", http.StatusSeeOther)
}
