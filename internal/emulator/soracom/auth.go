package soracom

import (
	"net/http"
	"time"
)

// AddOperator registers an operator and one AuthKey pair for it (several
// pairs can be added by calling it again with the same operator id).
func (s *Server) AddOperator(operatorID, authKeyID, authKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.operators[operatorID]; !ok {
		s.st.operatorOrder = append(s.st.operatorOrder, operatorID)
	}
	op := &operator{id: operatorID, authKeyID: authKeyID, authKey: authKey}
	s.st.operators[operatorID] = op
	s.st.byKeyID[authKeyID] = op
}

// ExpireTokens makes every issued token expired (as if the clock had passed
// their lifetime), so tests can force a re-authentication.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	for _, t := range s.st.tokens {
		t.expires = now
	}
}

// Token lifetime bounds (reference §1: shortest 3 min, longest 48 h).
const (
	minTokenTimeout = 180
	maxTokenTimeout = 172800
)

func tokenTTL(def time.Duration, seconds *int64) (time.Duration, *apiError) {
	if seconds == nil {
		return def, nil
	}
	if *seconds < minTokenTimeout || *seconds > maxTokenTimeout {
		return 0, errf(http.StatusBadRequest, codeBadRequest,
			"tokenTimeoutSeconds must be between %d and %d", minTokenTimeout, maxTokenTimeout)
	}
	return time.Duration(*seconds) * time.Second, nil
}

func (st *state) issueToken(now time.Time, apiKey, operatorID string, ttl time.Duration) string {
	tok := "tok-" + st.randHex(48)
	st.tokens[tok] = &tokenRec{apiKey: apiKey, operatorID: operatorID, expires: now.Add(ttl)}
	return tok
}

// authenticate checks an AuthKey pair and issues a new API key and token.
func (st *state) authenticate(now time.Time, keyID, key string, ttl time.Duration) (apiKey, token, operatorID string, err *apiError) {
	op, ok := st.byKeyID[keyID]
	if !ok || keyID == "" || op.authKey != key {
		return "", "", "", errf(http.StatusUnauthorized, codeAuthFailed, "Invalid authKeyId or authKey")
	}
	apiKey = "api-" + st.uuid()
	st.apiKeys[apiKey] = op.id
	return apiKey, st.issueToken(now, apiKey, op.id, ttl), op.id, nil
}

// lookupToken finds the token for the headers; expired tokens are returned with expired=true.
func (st *state) lookupToken(now time.Time, apiKey, token string) (rec *tokenRec, expired bool, err *apiError) {
	if apiKey == "" || token == "" {
		return nil, false, errf(http.StatusUnauthorized, codeAuthMissing, "X-Soracom-API-Key and X-Soracom-Token are required")
	}
	t, ok := st.tokens[token]
	if _, live := st.apiKeys[apiKey]; !ok || !live || t.apiKey != apiKey {
		return nil, false, errf(http.StatusUnauthorized, codeAuthInvalid, "Invalid API key or token")
	}
	return t, !now.Before(t.expires), nil
}

// checkToken authorises a call: it returns the caller's operator id.
func (st *state) checkToken(now time.Time, apiKey, token string) (string, *apiError) {
	t, expired, err := st.lookupToken(now, apiKey, token)
	if err != nil {
		return "", err
	}
	if expired {
		return "", errf(http.StatusUnauthorized, codeAuthExpired, "Token expired")
	}
	return t.operatorID, nil
}

// refreshToken issues a new token for the same API key. GUESS: the previous
// token stays valid until its own expiry (not documented either way).
func (st *state) refreshToken(now time.Time, apiKey, token, pathOperator string, ttl time.Duration) (string, *apiError) {
	t, expired, err := st.lookupToken(now, apiKey, token)
	if err != nil {
		return "", err
	}
	if t.operatorID != pathOperator {
		return "", errf(http.StatusForbidden, codeForbidden, "You are not allowed to access operator %s", pathOperator)
	}
	if expired {
		// Documented: 400 when the token has already expired (SPEC:L7773).
		return "", errf(http.StatusBadRequest, codeTokenExpired400, "The token has already expired; authenticate again")
	}
	return st.issueToken(now, apiKey, t.operatorID, ttl), nil
}

// logout revokes an API key and every token issued for it.
func (st *state) logout(apiKey string) {
	delete(st.apiKeys, apiKey)
	for k, t := range st.tokens {
		if t.apiKey == apiKey {
			delete(st.tokens, k)
		}
	}
}

// rateCheck counts one call in the caller's fixed one-minute window for a path.
func (st *state) rateCheck(now time.Time, who, path string, limit int) (remaining, secondsBeforeRefresh int, ok bool) {
	k := rateKey{who: who, path: path}
	w := st.rate[k]
	if w == nil || !now.Before(w.start.Add(time.Minute)) {
		w = &rateWindow{start: now}
		st.rate[k] = w
	}
	w.count++
	left := w.start.Add(time.Minute).Sub(now)
	secs := int((left + time.Second - 1) / time.Second)
	return max(0, limit-w.count), secs, w.count <= limit
}
