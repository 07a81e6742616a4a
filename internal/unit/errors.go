package unit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/soracom"
)

// maxMessage bounds a condition message built from an error.
const maxMessage = 1024

// Error is an error with the policy decided where it happened: a condition
// reason, and whether a retry soon can help.
type Error struct {
	// Reason is the condition reason (CamelCase).
	Reason string
	// Terminal: only a change of spec, Secret or account fixes it; look again
	// at the poll interval (or when the object changes), never hot.
	Terminal bool
	// After, when set, is how soon to try again (a throttle's Retry-After, or a
	// state that changes on its own); it overrides the controller's backoff.
	After time.Duration
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Terminal wraps err as terminal with a reason: retrying cannot fix it.
func Terminal(reason string, err error) error {
	return &Error{Reason: reason, Terminal: true, Err: err}
}

// RetryAfter wraps err with a reason and the time after which to try again.
func RetryAfter(reason string, after time.Duration, err error) error {
	return &Error{Reason: reason, After: after, Err: err}
}

// Verdict is the one error policy of every gatestream controller: the same
// cloud error gives the same condition reason and the same requeue anywhere.
type Verdict struct {
	// Reason is the condition reason.
	Reason string
	// Message is the condition message (bounded; client errors never carry credentials).
	Message string
	// Terminal: wait for the poll interval or a change, no backoff.
	Terminal bool
	// After, when non-zero, is the requeue delay; zero with !Terminal means
	// the controller's exponential backoff.
	After time.Duration
}

// Classify decides what err means for the condition and the requeue.
//
//   - an *Error keeps the reason and policy it was given;
//   - a missing or incomplete credential Secret, and 401/403 from a cloud:
//     CredentialsUnavailable, terminal (wait for the Secret to change);
//   - throttling (SORACOM 429, AWS throttling codes, our own outbound budget):
//     Throttled, requeued after the server's Seconds-Before-Refresh (SORACOM)
//     or after aws.ThrottleRequeue (AWS, whose adaptive rate spaces the sends);
//     the clients never sleep on a throttle inside a reconcile;
//   - other 4xx and AWS validation/quota codes: InvalidConfiguration, terminal;
//   - 5xx, timeouts, connection errors and everything else: APIError, backoff.
func Classify(err error) Verdict {
	if err == nil {
		return Verdict{}
	}
	v := Verdict{Message: Message(err)}
	var ue *Error
	switch {
	case errors.As(err, &ue):
		v.Reason, v.Terminal, v.After = ue.Reason, ue.Terminal, ue.After
	case clients.IsCredentialsError(err):
		v.Reason, v.Terminal = accessv1alpha1.ReasonCredentialsUnavailable, true
	case clients.IsEndpointError(err):
		v.Reason, v.Terminal = accessv1alpha1.ReasonEndpointNotAllowed, true
	case soracom.IsUnauthorized(err) || soracom.StatusCode(err) == http.StatusForbidden:
		v.Reason, v.Terminal = accessv1alpha1.ReasonCredentialsUnavailable, true
		v.Message = "SORACOM rejected the credentials: " + v.Message
	case soracom.IsThrottled(err):
		v.Reason = accessv1alpha1.ReasonThrottled
		if ae, ok := soracom.AsAPIError(err); ok {
			v.After = ae.RetryAfter
		}
	case aws.IsThrottled(err):
		// AWS gives no wait; the adaptive rate decides when the requeued
		// call is sent, this only frees the worker meanwhile.
		v.Reason, v.After = accessv1alpha1.ReasonThrottled, aws.ThrottleRequeue
	case aws.IsRegionError(err):
		v.Reason, v.Terminal = accessv1alpha1.ReasonInvalidConfiguration, true
		v.Message = "spec.aws.region: AWS refused the region (is the account opted in to it, and is AppStream 2.0 offered there?): " + v.Message
	case soracom.StatusCode(err) >= 400 && !soracom.Retryable(err):
		v.Reason, v.Terminal = accessv1alpha1.ReasonInvalidConfiguration, true
	case aws.IsTerminal(err):
		v.Reason, v.Terminal = accessv1alpha1.ReasonInvalidConfiguration, true
	default:
		v.Reason = accessv1alpha1.ReasonAPIError
	}
	return v
}

// IsTerminal reports whether every error joined in err is terminal: one
// retryable error means backoff, not the poll interval.
func IsTerminal(err error) bool {
	if err == nil {
		return false
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !IsTerminal(e) {
				return false
			}
		}
		return true
	}
	return Classify(err).Terminal
}

// ConditionMessage is the condition message for err in a pass at now: the
// error, and for a wait the service asked for (a throttle), until when.
func ConditionMessage(err error, now time.Time) string {
	v := Classify(err)
	if v.Reason == accessv1alpha1.ReasonThrottled && v.After > 0 {
		return fmt.Sprintf("waiting until %s (%s): %s", now.Add(v.After).UTC().Format(time.RFC3339), v.After, v.Message)
	}
	return v.Message
}

// Reason is Classify(err).Reason.
func Reason(err error) string { return Classify(err).Reason }

// Message is a condition message for err, bounded in length.
func Message(err error) string {
	msg := err.Error()
	if len(msg) > maxMessage {
		msg = msg[:maxMessage] + "…"
	}
	return msg
}

// NothingCreated reports whether a failed create certainly created nothing:
// the cloud answered with a client error (4xx, throttling included), or our
// own outbound budget stopped the call before it was sent. A timeout, a lost
// response or a 5xx may have created the object.
func NothingCreated(err error) bool {
	if errors.Is(err, aws.ErrRateLimited) {
		return true
	}
	if ae, ok := soracom.AsAPIError(err); ok {
		return ae.HTTPStatus >= 400 && ae.HTTPStatus < 500
	}
	return aws.Code(err) != "" && (aws.IsThrottled(err) || !aws.IsRetryable(err))
}

// IsCanceled reports whether err is the caller's own cancellation (the
// manager is stopping): not a cloud error, nothing to report.
func IsCanceled(err error) bool { return errors.Is(err, context.Canceled) }
