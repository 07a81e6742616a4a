package soracom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error codes the operator reacts to.
const (
	// CodeSubscriberOffline is returned by delete_session when the SIM has no
	// session. Callers treat it as "nothing to do".
	CodeSubscriberOffline = "SEM0016"
)

// maxErrorMessage bounds the message kept from an error body.
const maxErrorMessage = 1024

// APIError is a non-2xx answer of the SORACOM API.
//
// It never carries request headers or bodies; the message comes from the
// response body and is scrubbed of the client's credentials and token.
type APIError struct {
	// HTTPStatus is the response status code.
	HTTPStatus int
	// Code is SORACOM's error code (e.g. "SEM0016"), empty when the body had none.
	Code string
	// Message is the error message (or the raw text body), with the body's
	// messageArgs filled into its placeholders.
	Message string
	// Operation is the soracom-cli operation id of the call ("createVirtualPrivateGateway", ...).
	Operation string
	// RetryAfter is the wait the server asked for on a 429
	// (X-Soracom-Ratelimit-Seconds-Before-Refresh, else Retry-After), zero when absent.
	RetryAfter time.Duration
	// Held: the call was not sent, because SORACOM had answered the same
	// request with this 429 and the wait it asked for has not passed
	// (RetryAfter is what is left of it).
	Held bool
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("soracom ")
	if e.Operation != "" {
		b.WriteString(e.Operation)
		b.WriteString(": ")
	}
	if e.Held {
		b.WriteString("not sent, still waiting after ")
	}
	fmt.Fprintf(&b, "HTTP %d", e.HTTPStatus)
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// TransportError is a call that got no HTTP response: connection refused or
// reset, a lost response, or a timeout. For a create call the outcome is
// unknown: the resource may exist (look it up by tag before creating again).
type TransportError struct {
	// Operation is the soracom-cli operation id of the call.
	Operation string
	// Err is the underlying error (a *url.Error, context.DeadlineExceeded, ...).
	Err error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("soracom %s: %v", e.Operation, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// Timeout reports whether the call failed because a deadline passed.
func (e *TransportError) Timeout() bool { return isTimeout(e.Err) }

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// AsAPIError returns the *APIError in err's chain.
func AsAPIError(err error) (*APIError, bool) {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae, true
	}
	return nil, false
}

// StatusCode returns the HTTP status of an *APIError in err's chain, or 0.
func StatusCode(err error) int {
	if ae, ok := AsAPIError(err); ok {
		return ae.HTTPStatus
	}
	return 0
}

// IsNotFound reports a 404: the resource does not exist (or is already gone).
// Delete callers treat it as success.
func IsNotFound(err error) bool { return StatusCode(err) == http.StatusNotFound }

// IgnoreNotFound returns nil for a 404 and err otherwise.
func IgnoreNotFound(err error) error {
	if IsNotFound(err) {
		return nil
	}
	return err
}

// IsThrottled reports a 429.
func IsThrottled(err error) bool { return StatusCode(err) == http.StatusTooManyRequests }

// IsUnauthorized reports a 401 (bad credentials or an expired token).
func IsUnauthorized(err error) bool { return StatusCode(err) == http.StatusUnauthorized }

// IsCode reports an *APIError with the given SORACOM error code.
func IsCode(err error, code string) bool {
	ae, ok := AsAPIError(err)
	return ok && ae.Code != "" && strings.EqualFold(ae.Code, code)
}

// IsSubscriberOffline reports SEM0016 ("The specified subscriber is offline"),
// the answer of delete_session for a SIM without a session.
func IsSubscriberOffline(err error) bool { return IsCode(err, CodeSubscriberOffline) }

// Retryable classifies err: true for throttling (429), server errors (5xx),
// 408, timeouts and connection errors, which may succeed when tried again
// later; false for other 4xx answers (terminal until the input changes), for
// a caller's cancellation and for nil.
//
// Retryable says nothing about whether re-sending is safe: a create that
// failed with a retryable error may have created the resource.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if ae, ok := AsAPIError(err); ok {
		s := ae.HTTPStatus
		return s == http.StatusTooManyRequests || s == http.StatusRequestTimeout || s >= 500
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	if isTimeout(err) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// errorBody accepts both the observed flat shape {"code","message",
// "messageArgs"} and the spec's {"httpStatus","errorMessage":{"code","message"}}.
type errorBody struct {
	Code         string          `json:"code"`
	Message      string          `json:"message"`
	MessageArgs  json.RawMessage `json:"messageArgs"`
	ErrorMessage *struct {
		Code        string          `json:"code"`
		Message     string          `json:"message"`
		MessageArgs json.RawMessage `json:"messageArgs"`
	} `json:"errorMessage"`
}

// messageArgs reads messageArgs: soracom-sdk-go (api_error.go) types it as
// one string; an array (of strings or other JSON values) is accepted too.
func messageArgs(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []json.RawMessage
	if json.Unmarshal(raw, &many) != nil {
		return nil
	}
	out := make([]string, 0, len(many))
	for _, m := range many {
		var s string
		if json.Unmarshal(m, &s) == nil {
			out = append(out, s)
		} else {
			out = append(out, string(m))
		}
	}
	return out
}

// fillMessage puts messageArgs into a message template. The placeholders are
// printf's (soracom-sdk-go fills the message with fmt.Sprintf(message,
// messageArgs)): %s, %d and %v take the next argument and %% is a percent
// sign. GUESS: {0}, {1}… (Java MessageFormat) take the numbered argument.
// Without arguments the message is returned as is; a placeholder without an
// argument is kept.
func fillMessage(msg string, args []string) string {
	if len(args) == 0 {
		return msg
	}
	var b strings.Builder
	next := 0
	for i := 0; i < len(msg); i++ {
		ch := msg[i]
		switch {
		case ch == '%' && i+1 < len(msg) && msg[i+1] == '%':
			b.WriteByte('%')
			i++
		case ch == '%' && i+1 < len(msg) && strings.IndexByte("sdv", msg[i+1]) >= 0 && next < len(args):
			b.WriteString(args[next])
			next++
			i++
		case ch == '{':
			end := strings.IndexByte(msg[i:], '}')
			if end > 1 {
				if n, err := strconv.Atoi(msg[i+1 : i+end]); err == nil && n >= 0 && n < len(args) && msg[i+1] != '+' {
					b.WriteString(args[n])
					i += end
					continue
				}
			}
			b.WriteByte(ch)
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

// parseAPIError builds an APIError from a non-2xx response, leniently.
func parseAPIError(op string, status int, header http.Header, body []byte, redact func(string) string) *APIError {
	e := &APIError{HTTPStatus: status, Operation: op}
	text := strings.TrimSpace(string(body))
	parsed := false
	if strings.HasPrefix(text, "{") {
		var eb errorBody
		if json.Unmarshal([]byte(text), &eb) == nil {
			e.Code, e.Message = eb.Code, fillMessage(eb.Message, messageArgs(eb.MessageArgs))
			if eb.ErrorMessage != nil {
				if e.Code == "" {
					e.Code = eb.ErrorMessage.Code
				}
				if e.Message == "" {
					e.Message = fillMessage(eb.ErrorMessage.Message, messageArgs(eb.ErrorMessage.MessageArgs))
				}
			}
			parsed = e.Code != "" || e.Message != ""
		}
	}
	if !parsed {
		e.Message = text
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	if redact != nil {
		e.Code = redact(e.Code)
		e.Message = redact(e.Message)
	}
	if len(e.Message) > maxErrorMessage {
		e.Message = strings.ToValidUTF8(e.Message[:maxErrorMessage], "") + "…"
	}
	if status == http.StatusTooManyRequests {
		e.RetryAfter = retryAfter(header)
	}
	return e
}
