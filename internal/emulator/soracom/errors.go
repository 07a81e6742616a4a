package soracom

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// apiError is an error answered as SORACOM's flat error body
// {"code":"…","message":"…"} (reference §9: the observed shape), with
// "messageArgs" when the message is a template.
type apiError struct {
	status  int
	code    string
	message string // filled in (what Go callers and logs see)

	// template and args, when set, are sent as "message" and "messageArgs"
	// instead of message. soracom-sdk-go (api_error.go) decodes messageArgs
	// as ONE JSON string and fills the message with fmt.Sprintf(message,
	// messageArgs), so placeholders are printf's %s. GUESS: one argument is
	// sent as a string (the SDK's type); several would be sent as an array.
	template string
	args     []string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message) }

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// errTemplate is an error whose body carries a %s template and its messageArgs.
func errTemplate(status int, code, template string, args ...string) *apiError {
	vals := make([]any, len(args))
	for i, a := range args {
		vals[i] = a
	}
	return &apiError{status: status, code: code, message: fmt.Sprintf(template, vals...), template: template, args: args}
}

// body is the JSON error body.
func (e *apiError) body() map[string]any {
	b := map[string]any{"code": e.code, "message": e.message}
	switch {
	case e.template == "":
	case len(e.args) == 1:
		b["message"], b["messageArgs"] = e.template, e.args[0]
	default:
		b["message"], b["messageArgs"] = e.template, e.args
	}
	return b
}

// Error codes. Only SEM0016 is documented (reference §7, SPEC:L11425); every
// other code is a GUESS at SORACOM's naming scheme (three letters + four digits).
const (
	codeAuthFailed      = "AUT0001" // GUESS: 401 on /auth with bad keys
	codeAuthMissing     = "AUT0002" // GUESS: 401, X-Soracom-API-Key / X-Soracom-Token missing
	codeAuthInvalid     = "AUT0003" // GUESS: 401, unknown API key or token
	codeAuthExpired     = "AUT0004" // GUESS: 401, token expired
	codeForbidden       = "AUT0005" // GUESS: 403, another operator's path (403 body UNCONFIRMED)
	codeTokenExpired400 = "AUT0006" // GUESS: 400 on token refresh with an expired token
	codeBadRequest      = "COM0004" // GUESS: malformed JSON, bad query parameters
	codeRateLimited     = "COM0001" // GUESS: 429 rate limit exceeded
	codeInternal        = "COM0002" // GUESS: 500
	codeUnavailable     = "COM0003" // GUESS: 503
	codeNoRoute         = "COM0005" // GUESS: 404 unknown path
	codeNoMethod        = "COM0006" // GUESS: 405 wrong method
	codeVPGNotFound     = "VPG0001" // GUESS: 404 VPG (or a sub-resource of it)
	codeVPGInvalid      = "VPG0002" // GUESS: 400 invalid parameter
	codeVPGState        = "VPG0003" // GUESS: 400 VPG not in a state/type that allows the call
	codeVPGPeering      = "VPG0004" // GUESS: 400 the AWS side refused the peering
	codeGroupNotFound   = "GRP0001" // GUESS: 404 group (or tag / key of it)
	codeGroupInvalid    = "GRP0002" // GUESS: 400 invalid parameter
	codeNamespaceAbsent = "GRP0003" // GUESS: 400 configuration namespace does not exist
	codeSIMNotFound     = "SEM0001" // GUESS: 404 SIM
	codeSIMInvalid      = "SEM0002" // GUESS: 400 invalid parameter
	codeSIMOffline      = "SEM0016" // documented: "The specified subscriber is offline"
)

// errorWriter writes the fault middleware's injected errors in SORACOM's shape.
type errorWriter struct{ s *Server }

// WriteThrottle answers 429 with the rate-limit headers SORACOM sends
// (reference §9). SORACOM limits calls per operator, path and minute, so an
// injected 429 models that quota running out: the wait it announces is the
// rest of the current minute (1..60 s), and the operation stays refused
// until then (see Server.quotaRefusal), as an exhausted quota is, even if
// the fault rules are disarmed meanwhile. Retry-After is UNCONFIRMED, so it
// is not sent.
func (e errorWriter) WriteThrottle(w http.ResponseWriter, op string) {
	now := e.s.clock.Now()
	until := now.Truncate(time.Minute).Add(time.Minute)
	e.s.mu.Lock()
	if until.After(e.s.exhausted[op]) {
		e.s.exhausted[op] = until
	}
	e.s.mu.Unlock()
	writeThrottled(w, e.s.opts.RateLimitPerMinute, secondsLeftInMinute(now))
}

// writeThrottled answers 429 Rate limit exceeded with SORACOM's rate-limit headers.
func writeThrottled(w http.ResponseWriter, limit, secondsBeforeRefresh int) {
	if limit <= 0 {
		limit = 1000 // the value shown in SORACOM's paging doc example
	}
	h := w.Header()
	h.Set("X-Soracom-Ratelimit-Limit", strconv.Itoa(limit))
	h.Set("X-Soracom-Ratelimit-Remaining", "0")
	h.Set("X-Soracom-Ratelimit-Seconds-Before-Refresh", strconv.Itoa(secondsBeforeRefresh))
	writeError(w, errf(http.StatusTooManyRequests, codeRateLimited, "Rate limit exceeded"))
}

// WriteServerError answers 500 or 503.
func (errorWriter) WriteServerError(w http.ResponseWriter, status int) {
	if status == http.StatusServiceUnavailable {
		writeError(w, errf(status, codeUnavailable, "Service temporarily unavailable"))
		return
	}
	writeError(w, errf(status, codeInternal, "Internal server error"))
}

// secondsLeftInMinute is how many whole seconds remain until the next minute
// starts (1..60), the refresh of a per-minute rate limit.
func secondsLeftInMinute(now time.Time) int {
	left := time.Minute - now.Sub(now.Truncate(time.Minute))
	return int((left + time.Second - 1) / time.Second)
}
