package session

import (
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/unit"
)

// refusedError marks a request AppStream refused for good: the session fails.
type refusedError struct{ error }

func (e *refusedError) Unwrap() error { return e.error }

// MintError turns a failed CreateStreamingURL into the error policy's terms:
//   - no answer (timeout, connection closed, cancelled): a URL may have been
//     minted whose response was lost. It reached nobody and cannot be used
//     without its token, so the session mints again at once (with the
//     controller's backoff only), reason MintLost;
//   - refused for good (ValidationException, or input the SDK rejected): the
//     session fails (Failed, APIError);
//   - any other answer minted nothing: unit.Classify decides the reason and
//     the retry, as for the same error in the other controllers.
func MintError(err error) error {
	switch {
	case !NothingMinted(err):
		return &unit.Error{Reason: accessv1alpha1.SessionReasonMintLost,
			Err: fmt.Errorf("CreateStreamingURL got no answer (%w): a URL it may have minted reached nobody; minting again", err)}
	case MintErrorIsFinal(err):
		return &unit.Error{Reason: accessv1alpha1.SessionReasonAPIError, Terminal: true,
			Err: &refusedError{fmt.Errorf("AppStream refused the streaming URL request: %w", err)}}
	}
	return fmt.Errorf("CreateStreamingURL failed (nothing was minted): %w", err)
}

// OnError is the controller's one error policy: from the status st that
// the failed step would have recorded, the step that records what err means
// (the Ready condition with unit.Classify's reason and message, Failed for a
// request refused for good, a Warning Event when the reason changed), and the
// verdict that says when to try again.
func OnError(s *accessv1alpha1.StreamingSession, st accessv1alpha1.StreamingSessionStatus, err error, now time.Time) (Step, unit.Verdict) {
	d := newDecision(s, st, Input{Session: s, Now: now})
	v := unit.Classify(err)
	var refused *refusedError
	if errors.As(err, &refused) {
		return d.fail(v.Reason, "%s", v.Message), v
	}
	phase := d.s.Status.Phase
	if phase == "" {
		phase = accessv1alpha1.SessionPending
	}
	d.set(phase, false, v.Reason, "%s", v.Message)
	d.emit(corev1.EventTypeWarning)
	step := d.step(StepWait)
	if !step.At.After(now) {
		step.At = time.Time{} // the retry comes from the verdict, not from a deadline that has passed
	}
	return step, v
}
