package session

// FuzzDecide checks the invariants Decide and OnError promise (decide.go,
// lifecycle.go and decide_test.go) over arbitrary observations: any phase
// and Ready reason, any recorded times (whole seconds, as they come back
// from the API server), any clock, Secret, resolution, limits and user
// sessions. Run it with
//
//	go test ./internal/session -run '^$' -fuzz '^FuzzDecide$' -fuzztime 60s -parallel 1

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/conditions"
)

var fuzzPhases = []accessv1alpha1.SessionPhase{"", accessv1alpha1.SessionPending, accessv1alpha1.SessionReady, accessv1alpha1.SessionActive,
	accessv1alpha1.SessionExpired, accessv1alpha1.SessionEnded, accessv1alpha1.SessionFailed, accessv1alpha1.SessionRevoked}

// fuzzReasons are the recorded Ready reasons ("" records no condition).
var fuzzReasons = []string{"", accessv1alpha1.SessionReasonMinting, accessv1alpha1.SessionReasonURLIssued, accessv1alpha1.SessionReasonMintLost,
	accessv1alpha1.SessionReasonSessionActive, accessv1alpha1.SessionReasonURLExpired, accessv1alpha1.SessionReasonAccessEnded,
	accessv1alpha1.SessionReasonRevoked, accessv1alpha1.SessionReasonSecretConflict, accessv1alpha1.SessionReasonAPIError,
	accessv1alpha1.SessionReasonEnvironmentNotReady, accessv1alpha1.SessionReasonLimitReached}

// fuzzErrors are what a failed step hands OnError.
var fuzzErrors = []error{
	errors.New("boom"),
	MintError(&net.OpError{Op: "read", Err: errors.New("i/o timeout")}),
	MintError(apiErr{"ValidationException"}),
	MintError(throttled{}),
	fmt.Errorf("DescribeSessions: %w", throttled{}),
	apiErr{"OperationNotPermittedException"},
}

// Bits of FuzzDecide's flags.
const (
	fzDeleting uint32 = 1 << iota
	fzFinalizer
	fzURLExpiresAt
	fzAccessEndsAt
	fzMintRequestedAt
	fzFinishedAt
	fzTTL
	fzSecretExists
	fzSecretForeign
	fzSecretURL
	fzSecretInSync
	fzUserSessionsRead
	fzStatusTarget
	fzReadyTrue
	fzNoSpecTarget
)

// fuzzSpan bounds the fuzzed offsets from t0 (times) and durations.
const (
	fuzzSpan     = 30 * 24 * time.Hour
	fuzzDuration = 200 * time.Hour
)

func offset(n int64) time.Duration { return time.Duration(n % int64(fuzzSpan)) }

func duration(n int64) time.Duration {
	d := time.Duration(n % int64(fuzzDuration))
	if d < 0 {
		d = -d
	}
	return d
}

// recorded is a status time as it comes back from the API server.
func recorded(n int64) *metav1.Time {
	return &metav1.Time{Time: t0.Add(offset(n)).Truncate(time.Second)}
}

// FuzzDecide: Decide never panics nor changes its input, and
//   - never mints for a deleted, finished or over-limit session, after the
//     access window, without a resolution, with a Secret that holds a URL or
//     is foreign, while a recorded URL may still work, or once the user
//     started an AppStream session with a recorded URL (without one, the
//     user's sessions are not consulted: a lost mint is minted again at
//     once); a mint asks for 1 s..urlValidity, in
//     whole seconds, and never beyond the access window;
//   - a finished phase (Expired, Ended, Failed, Revoked) stays as it is and
//     only waits, is deleted or released;
//   - every finished status it records (a changed one) has finishedAt; Revoked only on
//     deletion; Ended only after the access window; the user's sessions are
//     asked for only when not read, and ended exactly as read; a release
//     records nothing (a listing carries the status computed so far, which
//     the next decision recomputes);
//   - an Event names the new Ready reason and only when the reason changed;
//   - waiting converges: deciding again from the recorded status at the same
//     time reaches a fixed point within two passes, which emits nothing and
//     asks to look again only later (never at or before now: that would loop);
//
// and OnError keeps a finished phase finished and asks to look again at or
// before now only for a Fail whose ttlAfterFinished is over (its next pass
// deletes the session), as does a Fail of Decide.
func FuzzDecide(f *testing.F) {
	h, m := int64(time.Hour), int64(time.Minute)
	add := func(phase, reason uint8, flags uint32, now, urlExp, ends, mintReq, finished, secretExp, ttl int64, outcome uint8, ahead uint16, users uint8) {
		f.Add(phase, reason, flags, now, urlExp, ends, mintReq, finished, secretExp, int64(5*time.Minute), h, ttl, outcome, int32(5), int32(200), ahead, ahead, users, uint8(0))
	}
	issued := fzFinalizer | fzURLExpiresAt | fzAccessEndsAt | fzStatusTarget | fzReadyTrue
	own := fzSecretExists | fzSecretURL | fzSecretInSync
	// The cases of TestDecide.
	add(0, 0, fzFinalizer, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)                                                                // minting
	add(1, 3, fzFinalizer, 2*m, 0, 0, 0, 0, 0, 0, 0, 0, 0)                                                              // minting again after a lost mint
	add(0, 0, fzFinalizer|fzMintRequestedAt, 58*m, 0, 0, 0, 0, 0, 0, 0, 0, 0)                                           // validity cut to the window
	add(0, 0, fzFinalizer|fzMintRequestedAt, 61*m, 0, 0, 0, 0, 0, 0, 0, 0, 0)                                           // window ended before a URL
	add(0, 0, fzFinalizer|fzSecretExists|fzSecretForeign, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)                                 // foreign Secret
	add(0, 0, fzFinalizer|own, m, 0, 0, 0, 0, 5*m, 0, 0, 0, 0)                                                          // lost mint adopted
	add(0, 0, fzFinalizer|own, 0, 0, 0, 0, 0, 2*h, 0, 0, 0, 0)                                                          // adopted URL outlives the window
	add(0, 0, fzFinalizer|own, 3*h, 0, 0, 0, 0, 5*m, 0, 0, 0, 0)                                                        // adopted long after it expired
	add(2, 2, issued|own, m, 5*m, h, 0, 0, 5*m, 0, 0, 0, 0)                                                             // issued
	add(2, 2, issued|fzSecretExists|fzSecretURL, m, 5*m, h, 0, 0, 5*m, 0, 0, 0, 0)                                      // Secret needs repair
	add(2, 2, issued, m, 5*m, h, 0, 0, 0, 0, 0, 0, 0)                                                                   // Secret deleted by hand
	add(2, 2, issued|own, 6*m, 5*m, h, 0, 0, 5*m, 0, 0, 0, 0)                                                           // settled: sessions needed
	add(2, 2, issued|own|fzUserSessionsRead, 6*m, 5*m, h, 0, 0, 5*m, 0, 0, 0, 0)                                        // expired unused
	add(2, 2, issued|own|fzUserSessionsRead, 6*m, 5*m, h, 0, 0, 5*m, 0, 0, 0, 1)                                        // Active
	add(2, 2, issued|fzUserSessionsRead, 6*m, 5*m, h, 0, 0, 0, 0, 0, 0, 0)                                              // lost URL minted again
	add(3, 4, issued|fzUserSessionsRead, h, 5*m, h, 0, 0, 0, 0, 0, 0, 2)                                                // access ended
	add(5, 6, fzFinalizer|fzFinishedAt|fzTTL, 10*m, 0, 0, 0, 0, 0, 10*m, 0, 0, 0)                                       // ttlAfterFinished passed
	add(4, 5, fzFinalizer, m, 0, 0, 0, 0, 0, 0, 0, 0, 0)                                                                // finished by an older gatestream
	add(2, 2, issued|own|fzDeleting|fzUserSessionsRead, 10*m, 5*m, h, 0, 0, 5*m, 0, 0, 0, 1)                            // revoked on delete
	add(0, 0, fzFinalizer|fzDeleting|own|fzUserSessionsRead, 0, 0, 0, 0, 0, 5*m, 0, 0, 0, 0)                            // crash between Secret and status
	add(7, 7, issued|own|fzDeleting|fzFinishedAt, 0, 5*m, h, 0, 0, 5*m, 0, 0, 0, 0)                                     // revoked: released
	add(0, 0, fzFinalizer, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0)                                                                // environment not found
	add(0, 0, fzFinalizer, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0)                                                                // application not offered
	add(0, 0, fzFinalizer, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0)                                                                // limit reached
	add(2, 2, issued|own|fzFinishedAt|fzTTL, 3*h, 5*m, h, 0, 2*h, 5*m, 0, 0, 0, 0)                                      // finishedAt on a live phase
	add(6, 9, fzFinalizer|fzFinishedAt|fzTTL|fzURLExpiresAt, -h, 5*m, 0, 0, 0, 0, 500*int64(time.Millisecond), 0, 0, 0) // sub-second TTL
	f.Fuzz(func(t *testing.T, phase, reason uint8, flags uint32, nowN, urlExpN, endsN, mintReqN, finishedN, secretExpN, urlValidityN, windowN, ttlN int64,
		outcome uint8, perUser, total int32, aheadUser, aheadTotal uint16, users, errSel uint8) {
		s := newSession()
		s.Generation = 1
		s.Spec.URLValidity.Duration, s.Spec.AccessWindow.Duration = duration(urlValidityN), duration(windowN)
		if flags&fzNoSpecTarget != 0 {
			s.Spec.Target = nil
		}
		if flags&fzFinalizer != 0 {
			s.Finalizers = []string{accessv1alpha1.StreamingSessionFinalizer}
		}
		now := t0.Add(offset(nowN))
		if flags&fzDeleting != 0 {
			s.DeletionTimestamp = recorded(nowN - int64(time.Minute))
		}
		if flags&fzTTL != 0 {
			s.Spec.TTLAfterFinished = &metav1.Duration{Duration: duration(ttlN)}
		}
		st := &s.Status
		st.Phase = fuzzPhases[int(phase)%len(fuzzPhases)]
		if r := fuzzReasons[int(reason)%len(fuzzReasons)]; r != "" {
			status := metav1.ConditionFalse
			if flags&fzReadyTrue != 0 {
				status = metav1.ConditionTrue
			}
			conditions.Set(&st.Conditions, 1, accessv1alpha1.ConditionReady, status, r, "as recorded")
		}
		if flags&fzURLExpiresAt != 0 {
			st.URLExpiresAt, st.SecretName = recorded(urlExpN), SecretName(s)
		}
		if flags&fzAccessEndsAt != 0 {
			st.AccessEndsAt = recorded(endsN)
		}
		if flags&fzMintRequestedAt != 0 {
			st.MintRequestedAt = recorded(mintReqN)
		}
		if flags&fzFinishedAt != 0 {
			st.FinishedAt = recorded(finishedN)
		}
		if flags&fzStatusTarget != 0 {
			st.Target = &accessv1alpha1.ResolvedTarget{Address: "10.128.3.7", Port: 22}
		}
		in := Input{Session: s, Now: now, Ahead: Ahead{User: int(aheadUser), Total: int(aheadTotal)}}
		in.Resolution = fuzzResolution(s, outcome)
		if perUser > 0 {
			in.Resolution.Limits.PerUser = perUser
		}
		if total > 0 {
			in.Resolution.Limits.Total = total
		}
		in.Secret = SecretObservation{Exists: flags&fzSecretExists != 0, Foreign: flags&fzSecretForeign != 0, URL: flags&fzSecretURL != 0,
			InSync: flags&fzSecretInSync != 0, ExpiresAt: t0.Add(offset(secretExpN))}
		if flags&fzUserSessionsRead != 0 {
			in.UserSessionsRead = true
			for i := range int(users % 4) {
				in.UserSessions = append(in.UserSessions, fmt.Sprintf("sess-%d", i))
			}
		}

		before := s.DeepCopy()
		step := Decide(in)
		if !equality.Semantic.DeepEqual(before, in.Session) {
			t.Fatal("Decide changed its input")
		}
		checkStep(t, in, step)

		// Waiting converges to a fixed point that looks again only later.
		x, cur := in, step
		for pass := 0; cur.Action == StepWait; pass++ {
			if pass == 3 {
				t.Fatalf("waiting does not converge: phase %s, Ready %+v", cur.Status.Phase, conditions.Get(cur.Status.Conditions, accessv1alpha1.ConditionReady))
			}
			x.Session = x.Session.DeepCopy()
			x.Session.Status = cur.Status
			next := Decide(x)
			checkStep(t, x, next)
			if next.Action != StepWait || !equality.Semantic.DeepEqual(next.Status, cur.Status) {
				cur = next
				continue
			}
			if next.Event != nil {
				t.Fatalf("a pass that records nothing emits %+v", next.Event)
			}
			if !next.At.IsZero() && !next.At.After(now) {
				t.Fatalf("phase %s waits until %v, not after now %v: it would be decided again at once, forever", next.Status.Phase, next.At, now)
			}
			break
		}

		if step.Action == StepFail {
			progresses(t, in, step)
		}

		// OnError, for the status this step would have recorded.
		err := fuzzErrors[int(errSel)%len(fuzzErrors)]
		es, v := OnError(s, step.Status, err, now)
		if es.Action != StepFail && !es.At.IsZero() && !es.At.After(now) {
			t.Fatalf("OnError(%v) looks again at %v, not after %v", err, es.At, now)
		}
		progresses(t, in, es)
		if Finished(step.Status.Phase) && !Finished(es.Status.Phase) {
			t.Fatalf("OnError(%v) turns %s into %s", err, step.Status.Phase, es.Status.Phase)
		}
		if Finished(es.Status.Phase) && es.Status.FinishedAt == nil {
			t.Fatalf("OnError(%v) records %s without finishedAt", err, es.Status.Phase)
		}
		if v.After < 0 {
			t.Fatalf("OnError(%v): requeue after %v", err, v.After)
		}
	})
}

// progresses: a step that asks to be looked at again at or before now (a
// Fail whose ttlAfterFinished is zero or already over) leads, once its status
// is recorded, to a different decision at once (the deletion), not to the
// same wait again.
func progresses(t *testing.T, in Input, step Step) {
	t.Helper()
	if step.At.IsZero() || step.At.After(in.Now) {
		return
	}
	x := in
	x.Session = in.Session.DeepCopy()
	x.Session.Status = step.Status
	if next := Decide(x); next.Action == StepWait && equality.Semantic.DeepEqual(next.Status, step.Status) {
		t.Fatalf("%s to %s asks to look again at %v (now %v) and the next pass only waits: it would be decided again at once, forever",
			step.Action, step.Status.Phase, step.At, in.Now)
	}
}

// fuzzResolution picks one of the resolutions of the tests' fixtures.
func fuzzResolution(s *accessv1alpha1.StreamingSession, outcome uint8) Resolution {
	env, dg := readyEnv(), deviceGroup()
	switch outcome % 6 {
	case 1:
		env = nil
	case 2:
		env.Status.Conditions[0].Status, env.Status.Conditions[0].Reason = metav1.ConditionFalse, "FleetStarting"
	case 3:
		env.Spec.AppStream.Applications = []string{"rdp"}
	case 4:
		dg.Status.Devices[0].Online = false
	case 5:
		dg = nil
	}
	return Resolve(s, env, dg)
}

// checkStep checks one decision against the invariants of FuzzDecide.
func checkStep(t *testing.T, in Input, step Step) {
	t.Helper()
	s, now := in.Session, in.Now
	inSt, out := &s.Status, &step.Status
	deleting := !s.DeletionTimestamp.IsZero()
	ready := func(st *accessv1alpha1.StreamingSessionStatus) string {
		if c := conditions.Get(st.Conditions, accessv1alpha1.ConditionReady); c != nil {
			return c.Reason
		}
		return ""
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s (phase %q, Ready %q) -> %s, phase %q, Ready %q: %s", now.Format(time.RFC3339Nano), inSt.Phase, ready(inSt),
			step.Action, out.Phase, ready(out), fmt.Sprintf(format, args...))
	}

	if step.Action == StepMint {
		// The window as recorded with the mint (an adopted URL's issue may
		// have extended it), else as it starts now.
		ends := AccessEndsAt(s, now)
		if out.AccessEndsAt != nil {
			ends = out.AccessEndsAt.Time
		}
		m := step.Mint
		switch {
		case deleting:
			fail("mints for a deleted session")
		case Finished(inSt.Phase):
			fail("mints for a finished session")
		case inSt.AccessEndsAt != nil && !now.Before(inSt.AccessEndsAt.Time):
			fail("mints after the access window ended at %v", inSt.AccessEndsAt)
		case in.Resolution.Outcome != Resolved:
			fail("mints without a resolution: %+v", in.Resolution)
		case in.Ahead.User >= int(in.Resolution.Limits.PerUser) || in.Ahead.Total >= int(in.Resolution.Limits.Total):
			fail("mints over the limits %+v with %+v ahead", in.Resolution.Limits, in.Ahead)
		case in.Secret.Foreign || in.Secret.HoldsURL():
			fail("mints with the Secret %+v", in.Secret)
		case inSt.URLExpiresAt != nil && now.Before(URLSettledAt(s)):
			fail("mints while the recorded URL (expiring %v) may still work", inSt.URLExpiresAt)
		case inSt.URLExpiresAt != nil && len(in.UserSessions) > 0:
			fail("mints again although the user started %v with the recorded URL", in.UserSessions)
		case m.Validity < MinValidity || m.Validity > URLValidity(&s.Spec) || m.Validity%time.Second != 0:
			fail("asks for a validity of %v (urlValidity %v)", m.Validity, URLValidity(&s.Spec))
		case now.Add(m.Validity).After(ends):
			fail("a URL valid for %v outlives the access window ending at %v", m.Validity, ends)
		case m.UserID != s.Spec.UserID || m.Application != s.Spec.Application || m.Stack != in.Resolution.Stack || m.Fleet != in.Resolution.Fleet:
			fail("mint request %+v", m)
		case out.Phase != accessv1alpha1.SessionPending || out.URLExpiresAt != nil || out.SecretName != SecretName(s) || !step.At.IsZero():
			fail("mint status %+v, at %v", out, step.At)
		}
	}
	if Finished(inSt.Phase) {
		if out.Phase != inSt.Phase {
			fail("a finished phase changed")
		}
		if !slices.Contains([]Action{StepWait, StepDelete, StepRelease}, step.Action) {
			fail("a finished session does more than wait, delete or release")
		}
	}
	switch step.Action {
	case StepWait, StepFail, StepEndAccess, StepRepairSecret:
		if Finished(out.Phase) && out.FinishedAt == nil && !equality.Semantic.DeepEqual(*out, *inSt) {
			fail("records a finished status without finishedAt")
		}
		if out.ObservedGeneration != s.Generation && !equality.Semantic.DeepEqual(*out, *inSt) {
			fail("observedGeneration %d", out.ObservedGeneration)
		}
	case StepRelease:
		if !equality.Semantic.DeepEqual(*out, *inSt) {
			fail("records a status")
		}
	}
	if out.Phase == accessv1alpha1.SessionRevoked && inSt.Phase != accessv1alpha1.SessionRevoked && !deleting {
		fail("revoked without deletion")
	}
	if out.Phase == accessv1alpha1.SessionEnded && inSt.Phase != accessv1alpha1.SessionEnded && (out.AccessEndsAt == nil || now.Before(out.AccessEndsAt.Time)) {
		fail("ended before the access window ended at %v", out.AccessEndsAt)
	}
	switch step.Action {
	case StepListUserSessions:
		if in.UserSessionsRead {
			fail("asks again for the user's sessions")
		}
	case StepEndAccess:
		if !in.UserSessionsRead || !slices.Equal(step.Expire, in.UserSessions) {
			fail("ends %v; the user's sessions are %v (read %v)", step.Expire, in.UserSessions, in.UserSessionsRead)
		}
	case StepDelete:
		// finishedAt as recorded now (an older gatestream left none).
		rec := s.DeepCopy()
		rec.Status = *out
		at, ok := TTLDeadline(rec)
		if !Finished(inSt.Phase) || !ok || now.Before(at) || deleting {
			fail("deleted before its ttlAfterFinished (%v, %v)", at, ok)
		}
	case StepRelease:
		if !deleting {
			fail("released without deletion")
		}
	}
	if e := step.Event; e != nil && (e.Reason != ready(out) || e.Reason == ready(inSt)) {
		fail("event %+v", e)
	}
}
