package session

import (
	"time"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

// Timing constants of the lifecycle (documented in docs/streamingsession.md).
const (
	// Skew allows for the difference between gatestream's clock and AWS's
	// (which computes a URL's expiry) and for a session that starts in the
	// last second of a URL's validity. A URL is considered unusable for sure
	// only Skew after its expiry.
	Skew = 30 * time.Second
	// MintCallTimeout bounds one CreateStreamingURL call. A call abandoned
	// after it is a lost mint: whatever it minted reached nobody, and the
	// session mints again at once.
	MintCallTimeout = 30 * time.Second
	// MinValidity is the shortest validity CreateStreamingURL accepts.
	MinValidity = time.Second
	// WaitInterval is how often a Pending session looks again at what it waits
	// for (the environment and DeviceGroup watches wake it sooner; a foreign
	// Secret holding the session's name is not watched).
	WaitInterval = 30 * time.Second
	// RetryInterval is the wait after an error that needs someone to act
	// (credentials, permissions, a misconfigured fleet).
	RetryInterval = time.Minute
	// MinRequeue is the wait before a pass that lost a write race (a conflict:
	// the object changed since it was read) looks again.
	MinRequeue = time.Second

	// DefaultURLValidity and DefaultAccessWindow apply when the spec leaves them
	// zero (the CRD defaults them to the same values).
	DefaultURLValidity  = 5 * time.Minute
	DefaultAccessWindow = time.Hour
)

// Finished reports whether a phase is final: nothing more happens to the
// session except its deletion (by ttlAfterFinished or by a person).
func Finished(p accessv1alpha1.SessionPhase) bool {
	switch p {
	case accessv1alpha1.SessionExpired, accessv1alpha1.SessionEnded, accessv1alpha1.SessionFailed, accessv1alpha1.SessionRevoked:
		return true
	}
	return false
}

// URLValidity is spec.urlValidity or its default.
func URLValidity(spec *accessv1alpha1.StreamingSessionSpec) time.Duration {
	if d := spec.URLValidity.Duration; d > 0 {
		return d
	}
	return DefaultURLValidity
}

// AccessWindow is spec.accessWindow or its default.
func AccessWindow(spec *accessv1alpha1.StreamingSessionSpec) time.Duration {
	if d := spec.AccessWindow.Duration; d > 0 {
		return d
	}
	return DefaultAccessWindow
}

// AccessEndsAt is when the session's access window ends: status.accessEndsAt
// once recorded, else now + accessWindow (a mint starting now). A
// mintRequestedAt left by an older gatestream still starts the window.
func AccessEndsAt(s *accessv1alpha1.StreamingSession, now time.Time) time.Time {
	if t := s.Status.AccessEndsAt; t != nil {
		return t.Time
	}
	if t := s.Status.MintRequestedAt; t != nil {
		return t.Add(AccessWindow(&s.Spec))
	}
	return now.Add(AccessWindow(&s.Spec))
}

// MintValidity is the Validity to ask for when minting at now: urlValidity,
// cut so that the URL cannot outlive the access window, in whole seconds
// (rounded down, so the adapter's rounding up changes nothing). Below
// MinValidity no URL can be minted any more.
func MintValidity(spec *accessv1alpha1.StreamingSessionSpec, accessEndsAt, now time.Time) time.Duration {
	v := URLValidity(spec)
	if rem := accessEndsAt.Sub(now); rem < v {
		v = rem
	}
	if v < 0 {
		return 0
	}
	return v.Truncate(time.Second)
}

// URLSettledAt is when a recorded URL is unusable for sure: urlExpiresAt +
// Skew. That is when the session decides between Active and Expired, and when
// a recorded URL that disappeared from its Secret may be replaced.
func URLSettledAt(s *accessv1alpha1.StreamingSession) time.Time {
	return s.Status.URLExpiresAt.Add(Skew)
}

// TTLDeadline is when a finished session is deleted; ok is false when it is kept.
func TTLDeadline(s *accessv1alpha1.StreamingSession) (time.Time, bool) {
	if s.Spec.TTLAfterFinished == nil || s.Status.FinishedAt == nil {
		return time.Time{}, false
	}
	return s.Status.FinishedAt.Add(s.Spec.TTLAfterFinished.Duration), true
}

// CeilSecond rounds t up to a whole second. Times that round-trip through
// status (RFC 3339, whole seconds) are stored rounded up when they end
// something (an expiry), so that the stored value is never before the real one.
func CeilSecond(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

// FloorSecond rounds t down to a whole second, for times that start something.
func FloorSecond(t time.Time) time.Time { return t.Truncate(time.Second) }

// Earliest returns the earliest of the non-zero times (zero if none).
func Earliest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if !t.IsZero() && (out.IsZero() || t.Before(out)) {
			out = t
		}
	}
	return out
}

// NeedsRevocation reports whether deleting the session must end the user's
// AppStream sessions: a URL was recorded (or, by an older gatestream, may
// have been minted) and the session has not finished (Ended already ended
// them; Expired and Failed never gave access). Decide also counts a URL found
// in the session's own Secret but not yet recorded.
func NeedsRevocation(s *accessv1alpha1.StreamingSession) bool {
	if Finished(s.Status.Phase) {
		return false
	}
	return s.Status.MintRequestedAt != nil || s.Status.URLExpiresAt != nil
}

// IssuedAt is when a session was given access (its access window's start);
// ok is false before that.
func IssuedAt(s *accessv1alpha1.StreamingSession) (time.Time, bool) {
	if s.Status.AccessEndsAt == nil {
		return time.Time{}, false
	}
	return s.Status.AccessEndsAt.Add(-AccessWindow(&s.Spec)), true
}
