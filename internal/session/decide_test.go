package session

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/unit"
)

// Times of the table: the session is created at t0; its URL (5m) is minted
// at t0, so it expires at t0+5m, is settled at t0+5m30s, and access ends at t0+1h.
var (
	urlExp  = t0.Add(5 * time.Minute)
	settled = urlExp.Add(Skew)
	ends    = t0.Add(time.Hour)
)

// in is the input of a fresh session (finalizer on, nothing recorded) whose
// environment and target resolve, at t0, with no Secret.
func in(mods ...func(*Input)) Input {
	s := newSession()
	s.Generation = 1
	s.Finalizers = []string{accessv1alpha1.StreamingSessionFinalizer}
	x := Input{Session: s, Now: t0, Resolution: Resolve(s, readyEnv(), deviceGroup())}
	for _, m := range mods {
		m(&x)
	}
	return x
}

func at(d time.Duration) func(*Input) { return func(x *Input) { x.Now = t0.Add(d) } }

func ready(reason string, status metav1.ConditionStatus, phase accessv1alpha1.SessionPhase) func(*Input) {
	return func(x *Input) {
		x.Session.Status.Phase = phase
		conditions.Set(&x.Session.Status.Conditions, 1, accessv1alpha1.ConditionReady, status, reason, "as recorded")
	}
}

// issued records the URL minted at t0.
func issued(x *Input) {
	st := &x.Session.Status
	st.SecretName, st.Target = "s1", &accessv1alpha1.ResolvedTarget{Address: "10.128.3.7", Port: 22}
	st.URLExpiresAt, st.AccessEndsAt = &metav1.Time{Time: urlExp}, &metav1.Time{Time: ends}
	ready(accessv1alpha1.SessionReasonURLIssued, metav1.ConditionTrue, accessv1alpha1.SessionReady)(x)
}

// ownSecret: the session's Secret holds the URL, in sync with status.
func ownSecret(x *Input) {
	x.Secret = SecretObservation{Exists: true, URL: true, ExpiresAt: urlExp, InSync: true}
}

func sessions(ids ...string) func(*Input) {
	return func(x *Input) { x.UserSessions, x.UserSessionsRead = ids, true }
}

func deleting(x *Input) { x.Session.DeletionTimestamp = &metav1.Time{Time: t0} }

// olderIntent: an older gatestream recorded its intent to mint at t0 and stopped.
func olderIntent(x *Input) { x.Session.Status.MintRequestedAt = &metav1.Time{Time: t0} }

func finished(phase accessv1alpha1.SessionPhase, reason string, ttl time.Duration) func(*Input) {
	return func(x *Input) {
		ready(reason, metav1.ConditionFalse, phase)(x)
		x.Session.Status.FinishedAt = &metav1.Time{Time: t0}
		if ttl >= 0 {
			x.Session.Spec.TTLAfterFinished = &metav1.Duration{Duration: ttl}
		}
	}
}

func resolution(env *accessv1alpha1.RemoteAccessEnvironment, dg *accessv1alpha1.DeviceGroup) func(*Input) {
	return func(x *Input) { x.Resolution = Resolve(x.Session, env, dg) }
}

func TestDecide(t *testing.T) {
	envNotReady := readyEnv()
	envNotReady.Status.Conditions[0].Status = metav1.ConditionFalse
	envNotReady.Status.Conditions[0].Reason = "FleetStarting"
	noTeraterm := readyEnv()
	noTeraterm.Spec.AppStream.Applications = []string{"rdp"}
	offline := deviceGroup()
	offline.Status.Devices[0].Online = false
	otherEnv := deviceGroup()
	otherEnv.Spec.EnvironmentRef.Name = "lab"

	tests := []struct {
		name   string
		in     Input
		action Action
		phase  accessv1alpha1.SessionPhase
		reason string
		msg    string    // part of the Ready message
		at     time.Time // Step.At
		event  string    // Event reason ("": none)
		// validity of a StepMint (0: not checked)
		validity time.Duration
		check    func(*testing.T, Step)
	}{
		// ---- before a URL is recorded ----
		{name: "pending: environment not found", in: in(resolution(nil, deviceGroup())),
			action: StepWait, phase: accessv1alpha1.SessionPending, reason: accessv1alpha1.SessionReasonEnvironmentNotFound, msg: `"factory"`, at: t0.Add(WaitInterval)},
		{name: "pending: environment not ready", in: in(resolution(envNotReady, deviceGroup())),
			action: StepWait, phase: accessv1alpha1.SessionPending, reason: accessv1alpha1.SessionReasonEnvironmentNotReady, msg: "FleetStarting", at: t0.Add(WaitInterval)},
		{name: "pending: DeviceGroup not found", in: in(resolution(readyEnv(), nil)),
			action: StepWait, phase: accessv1alpha1.SessionPending, reason: accessv1alpha1.SessionReasonDeviceGroupNotFound, at: t0.Add(WaitInterval)},
		{name: "pending: device offline", in: in(resolution(readyEnv(), offline)),
			action: StepWait, phase: accessv1alpha1.SessionPending, reason: accessv1alpha1.SessionReasonDeviceOffline, at: t0.Add(WaitInterval)},
		{name: "failed: application not offered", in: in(resolution(noTeraterm, deviceGroup())),
			action: StepFail, phase: accessv1alpha1.SessionFailed, reason: accessv1alpha1.SessionReasonApplicationNotOffered, msg: `"teraterm"`,
			event: accessv1alpha1.SessionReasonApplicationNotOffered,
			check: func(t *testing.T, s Step) {
				if s.Status.FinishedAt == nil || !s.Status.FinishedAt.Equal(&metav1.Time{Time: t0}) || s.Event.Type != corev1.EventTypeWarning {
					t.Fatalf("finishedAt %v, event %+v", s.Status.FinishedAt, s.Event)
				}
			}},
		{name: "failed with ttlAfterFinished: deleted at finishedAt + ttl",
			in:     in(resolution(readyEnv(), otherEnv), func(x *Input) { x.Session.Spec.TTLAfterFinished = &metav1.Duration{Duration: time.Minute} }),
			action: StepFail, phase: accessv1alpha1.SessionFailed, reason: accessv1alpha1.SessionReasonDeviceGroupNotInEnvironment, at: t0.Add(time.Minute),
			event: accessv1alpha1.SessionReasonDeviceGroupNotInEnvironment},
		{name: "minting", in: in(),
			action: StepMint, phase: accessv1alpha1.SessionPending, reason: accessv1alpha1.SessionReasonMinting,
			check: func(t *testing.T, s Step) {
				want := MintRequest{Stack: "stack-1", Fleet: "fleet-1", UserID: "user-a", Application: "teraterm", SessionContext: "10.128.3.7:22", Validity: 5 * time.Minute}
				if s.Mint != want || s.Status.SecretName != "s1-url" || s.Status.Target == nil || s.Status.Target.Port != 22 ||
					s.Status.MintRequestedAt != nil || s.Status.URLExpiresAt != nil || s.Event != nil {
					t.Fatalf("mint %+v, status %+v", s.Mint, s.Status)
				}
			}},
		{name: "minting again at once after a lost response or a restart (no intent to wait out)",
			in:     in(at(2*time.Minute), ready(accessv1alpha1.SessionReasonMintLost, metav1.ConditionFalse, accessv1alpha1.SessionPending)),
			action: StepMint, phase: accessv1alpha1.SessionPending, reason: accessv1alpha1.SessionReasonMinting, validity: 5 * time.Minute},
		{name: "an older gatestream's intent: minted at once, the window starts with it", in: in(at(50*time.Minute), olderIntent),
			action: StepMint, phase: accessv1alpha1.SessionPending, reason: accessv1alpha1.SessionReasonMinting, validity: 5 * time.Minute},
		{name: "the validity is cut to the access window", in: in(at(58*time.Minute), olderIntent),
			action: StepMint, phase: accessv1alpha1.SessionPending, reason: accessv1alpha1.SessionReasonMinting, validity: 2 * time.Minute},
		{name: "the window ended before a URL could be delivered",
			in:     in(at(61*time.Minute), olderIntent),
			action: StepFail, phase: accessv1alpha1.SessionFailed, reason: accessv1alpha1.SessionReasonMintLost, msg: "create a new session",
			event: accessv1alpha1.SessionReasonMintLost},
		{name: "a foreign Secret holds the name: nothing minted",
			in:     in(func(x *Input) { x.Secret = SecretObservation{Exists: true, Foreign: true} }),
			action: StepWait, phase: accessv1alpha1.SessionPending, reason: accessv1alpha1.SessionReasonSecretConflict, msg: "never writes into it",
			at: t0.Add(WaitInterval), event: accessv1alpha1.SessionReasonSecretConflict},
		{name: "still a foreign Secret: no second Event",
			in: in(at(time.Minute), ready(accessv1alpha1.SessionReasonSecretConflict, metav1.ConditionFalse, accessv1alpha1.SessionPending),
				func(x *Input) { x.Secret = SecretObservation{Exists: true, Foreign: true} }),
			action: StepWait, phase: accessv1alpha1.SessionPending, reason: accessv1alpha1.SessionReasonSecretConflict, at: t0.Add(time.Minute + WaitInterval)},
		{name: "lost mint adopted from the Secret (stopped after creating it, before the status write)",
			in:     in(at(time.Minute), ownSecret),
			action: StepWait, phase: accessv1alpha1.SessionReady, reason: accessv1alpha1.SessionReasonURLIssued, msg: "can be opened once until 2026-09-01T09:05:00Z",
			at: settled,
			check: func(t *testing.T, s Step) {
				st := s.Status
				if !st.URLExpiresAt.Time.Equal(urlExp) || !st.AccessEndsAt.Time.Equal(t0.Add(61*time.Minute)) || st.SecretName != "s1-url" ||
					st.Target == nil || st.Target.Address != "10.128.3.7" || s.Event != nil {
					t.Fatalf("adopted status %+v", st)
				}
			}},
		{name: "an adopted URL that outlives the window extends it",
			in: in(func(x *Input) {
				ownSecret(x)
				x.Secret.ExpiresAt = t0.Add(2 * time.Hour)
			}),
			action: StepWait, phase: accessv1alpha1.SessionReady, reason: accessv1alpha1.SessionReasonURLIssued, at: t0.Add(time.Hour + time.Hour),
			check: func(t *testing.T, s Step) {
				if !s.Status.AccessEndsAt.Time.Equal(t0.Add(2 * time.Hour)) {
					t.Fatalf("access ends %v", s.Status.AccessEndsAt)
				}
			}},

		// ---- a URL is recorded ----
		{name: "URL issued: wait for its expiry", in: in(at(time.Minute), issued, ownSecret),
			action: StepWait, phase: accessv1alpha1.SessionReady, reason: accessv1alpha1.SessionReasonURLIssued, at: settled},
		{name: "secret needs repair", in: in(at(time.Minute), issued, ownSecret, func(x *Input) { x.Secret.InSync = false }),
			action: StepRepairSecret, phase: accessv1alpha1.SessionReady, reason: accessv1alpha1.SessionReasonURLIssued, at: settled},
		{name: "secret deleted by hand: no second URL while the first may work", in: in(at(time.Minute), issued),
			action: StepWait, phase: accessv1alpha1.SessionPending, reason: accessv1alpha1.SessionReasonMintLost, msg: "a new one is minted after 2026-09-01T09:05:30Z",
			at: settled, event: accessv1alpha1.SessionReasonMintLost},
		{name: "secret replaced by a foreign one: the same", in: in(at(time.Minute), issued, func(x *Input) { x.Secret = SecretObservation{Exists: true, Foreign: true} }),
			action: StepWait, phase: accessv1alpha1.SessionPending, reason: accessv1alpha1.SessionReasonMintLost, at: settled, event: accessv1alpha1.SessionReasonMintLost},
		{name: "expired by our clock: the skew is waited out", in: in(at(5*time.Minute+time.Second), issued, ownSecret),
			action: StepWait, phase: accessv1alpha1.SessionReady, reason: accessv1alpha1.SessionReasonURLIssued, at: settled},
		{name: "settled: the user's AppStream sessions are needed", in: in(at(6*time.Minute), issued, ownSecret),
			action: StepListUserSessions, phase: accessv1alpha1.SessionReady, reason: accessv1alpha1.SessionReasonURLIssued},
		{name: "URL expired unused", in: in(at(6*time.Minute), issued, ownSecret, sessions()),
			action: StepWait, phase: accessv1alpha1.SessionExpired, reason: accessv1alpha1.SessionReasonURLExpired, msg: "expired at 2026-09-01T09:05:00Z without being used",
			event: accessv1alpha1.SessionReasonURLExpired,
			check: func(t *testing.T, s Step) {
				if s.Status.FinishedAt == nil || !s.Status.FinishedAt.Time.Equal(t0.Add(6*time.Minute)) || !s.At.IsZero() {
					t.Fatalf("finishedAt %v, at %v", s.Status.FinishedAt, s.At)
				}
			}},
		{name: "expired with an active AppStream session: Active until the window ends", in: in(at(6*time.Minute), issued, ownSecret, sessions("sess-1")),
			action: StepWait, phase: accessv1alpha1.SessionActive, reason: accessv1alpha1.SessionReasonSessionActive, msg: "user user-a started an AppStream session",
			at: ends},
		{name: "Active waits for the window's end", in: in(at(30*time.Minute), issued, ready(accessv1alpha1.SessionReasonSessionActive, metav1.ConditionFalse, accessv1alpha1.SessionActive)),
			action: StepWait, phase: accessv1alpha1.SessionActive, reason: accessv1alpha1.SessionReasonSessionActive, at: ends},
		{name: "a lost URL expired unused: minted again, the window kept", in: in(at(6*time.Minute), issued, sessions()),
			action: StepMint, phase: accessv1alpha1.SessionPending, reason: accessv1alpha1.SessionReasonMinting,
			check: func(t *testing.T, s Step) {
				if s.Status.URLExpiresAt != nil || !s.Status.AccessEndsAt.Time.Equal(ends) || s.Mint.Validity != 5*time.Minute {
					t.Fatalf("status %+v, mint %+v", s.Status, s.Mint)
				}
			}},
		{name: "a lost URL was used: Active, nothing minted", in: in(at(6*time.Minute), issued, sessions("sess-1")),
			action: StepWait, phase: accessv1alpha1.SessionActive, reason: accessv1alpha1.SessionReasonSessionActive, at: ends},
		{name: "access window ended: the sessions are needed", in: in(at(time.Hour), issued, ready(accessv1alpha1.SessionReasonSessionActive, metav1.ConditionFalse, accessv1alpha1.SessionActive)),
			action: StepListUserSessions, phase: accessv1alpha1.SessionActive, reason: accessv1alpha1.SessionReasonSessionActive},
		{name: "access ended", in: in(at(time.Hour), issued, sessions("sess-1", "sess-2"),
			ready(accessv1alpha1.SessionReasonSessionActive, metav1.ConditionFalse, accessv1alpha1.SessionActive)),
			action: StepEndAccess, phase: accessv1alpha1.SessionEnded, reason: accessv1alpha1.SessionReasonAccessEnded, msg: "2 AppStream session(s) of user user-a were ended",
			event: accessv1alpha1.SessionReasonAccessEnded,
			check: func(t *testing.T, s Step) {
				if strings.Join(s.Expire, ",") != "sess-1,sess-2" || s.Continue || s.Event.Type != corev1.EventTypeNormal {
					t.Fatalf("expire %v, continue %v, event %+v", s.Expire, s.Continue, s.Event)
				}
			}},

		// ---- finished ----
		{name: "finished without ttlAfterFinished: kept", in: in(at(2*time.Hour), finished(accessv1alpha1.SessionEnded, accessv1alpha1.SessionReasonAccessEnded, -1)),
			action: StepWait, phase: accessv1alpha1.SessionEnded, reason: accessv1alpha1.SessionReasonAccessEnded},
		{name: "ttlAfterFinished not yet", in: in(at(5*time.Minute), finished(accessv1alpha1.SessionExpired, accessv1alpha1.SessionReasonURLExpired, 10*time.Minute)),
			action: StepWait, phase: accessv1alpha1.SessionExpired, reason: accessv1alpha1.SessionReasonURLExpired, at: t0.Add(10 * time.Minute)},
		{name: "ttlAfterFinished passed: deleted", in: in(at(10*time.Minute), finished(accessv1alpha1.SessionExpired, accessv1alpha1.SessionReasonURLExpired, 10*time.Minute)),
			action: StepDelete, phase: accessv1alpha1.SessionExpired, reason: accessv1alpha1.SessionReasonURLExpired},
		{name: "finished by an older gatestream (no finishedAt): recorded", in: in(at(time.Minute), ready(accessv1alpha1.SessionReasonURLExpired, metav1.ConditionFalse, accessv1alpha1.SessionExpired)),
			action: StepWait, phase: accessv1alpha1.SessionExpired, reason: accessv1alpha1.SessionReasonURLExpired,
			check: func(t *testing.T, s Step) {
				if s.Status.FinishedAt == nil || s.Event != nil {
					t.Fatalf("finishedAt %v, event %+v", s.Status.FinishedAt, s.Event)
				}
			}},

		// ---- deletion ----
		{name: "revoked on delete: the sessions are needed", in: in(at(time.Minute), issued, ownSecret, deleting),
			action: StepListUserSessions, phase: accessv1alpha1.SessionReady, reason: accessv1alpha1.SessionReasonURLIssued},
		{name: "revoked on delete", in: in(at(10*time.Minute), issued, ownSecret, deleting, sessions("sess-1"),
			ready(accessv1alpha1.SessionReasonSessionActive, metav1.ConditionFalse, accessv1alpha1.SessionActive)),
			action: StepEndAccess, phase: accessv1alpha1.SessionRevoked, reason: accessv1alpha1.SessionReasonRevoked, msg: "1 AppStream session(s) of user user-a were ended",
			event: accessv1alpha1.SessionReasonRevoked,
			check: func(t *testing.T, s Step) {
				if !s.Continue || strings.Join(s.Expire, ",") != "sess-1" || !s.At.IsZero() {
					t.Fatalf("continue %v, expire %v, at %v", s.Continue, s.Expire, s.At)
				}
			}},
		{name: "deleted after a crash between the Secret and the status: revoked too", in: in(deleting, ownSecret, sessions()),
			action: StepEndAccess, phase: accessv1alpha1.SessionRevoked, reason: accessv1alpha1.SessionReasonRevoked, event: accessv1alpha1.SessionReasonRevoked},
		{name: "revoked: released", in: in(deleting, issued, ownSecret, finished(accessv1alpha1.SessionRevoked, accessv1alpha1.SessionReasonRevoked, -1)),
			action: StepRelease, phase: accessv1alpha1.SessionRevoked, reason: accessv1alpha1.SessionReasonRevoked},
		{name: "deleted before minting: released without revocation", in: in(deleting, resolution(nil, nil)),
			action: StepRelease},
		{name: "deleted after it ended: released without revocation", in: in(deleting, issued, finished(accessv1alpha1.SessionEnded, accessv1alpha1.SessionReasonAccessEnded, -1)),
			action: StepRelease, phase: accessv1alpha1.SessionEnded, reason: accessv1alpha1.SessionReasonAccessEnded},
		{name: "deleted, finalizer gone: nothing", in: in(deleting, issued, func(x *Input) { x.Session.Finalizers = nil }),
			action: StepWait, phase: accessv1alpha1.SessionReady, reason: accessv1alpha1.SessionReasonURLIssued},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.in.Session.DeepCopy()
			s := Decide(tc.in)
			if !equalSessions(before, tc.in.Session) {
				t.Fatal("Decide changed its input")
			}
			c := conditions.Get(s.Status.Conditions, accessv1alpha1.ConditionReady)
			reason, msg := "", ""
			if c != nil {
				reason, msg = c.Reason, c.Message
			}
			if s.Action != tc.action || s.Status.Phase != tc.phase || reason != tc.reason || !strings.Contains(msg, tc.msg) {
				t.Fatalf("got %s, phase %q, Ready %s: %q; want %s, %q, %s: %q", s.Action, s.Status.Phase, reason, msg, tc.action, tc.phase, tc.reason, tc.msg)
			}
			if !s.At.Equal(tc.at) {
				t.Fatalf("at %v, want %v", s.At, tc.at)
			}
			switch {
			case tc.event == "" && s.Event != nil:
				t.Fatalf("unexpected event %+v", s.Event)
			case tc.event != "" && (s.Event == nil || s.Event.Reason != tc.event):
				t.Fatalf("event %+v, want %s", s.Event, tc.event)
			}
			if !equality.Semantic.DeepEqual(s.Status, before.Status) && s.Status.ObservedGeneration != 1 {
				t.Fatalf("observedGeneration %d", s.Status.ObservedGeneration)
			}
			if tc.validity != 0 && s.Mint.Validity != tc.validity {
				t.Fatalf("validity %v, want %v", s.Mint.Validity, tc.validity)
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

func equalSessions(a, b *accessv1alpha1.StreamingSession) bool {
	return equality.Semantic.DeepEqual(a, b)
}

// A steady pass writes nothing: deciding again from the recorded status gives the same status.
func TestDecideIsStable(t *testing.T) {
	for name, x := range map[string]Input{
		"pending":  in(resolution(nil, nil)),
		"adopted":  in(ownSecret),
		"ready":    in(at(time.Minute), issued, ownSecret),
		"active":   in(at(6*time.Minute), issued, ownSecret, sessions("sess-1")),
		"expired":  in(at(6*time.Minute), issued, ownSecret, sessions()),
		"conflict": in(func(x *Input) { x.Secret = SecretObservation{Exists: true, Foreign: true} }),
	} {
		first := Decide(x)
		x.Session = x.Session.DeepCopy()
		x.Session.Status = first.Status
		second := Decide(x)
		if !equality.Semantic.DeepEqual(first.Status, second.Status) {
			t.Fatalf("%s: the second pass changes the status:\n%+v\n%+v", name, first.Status, second.Status)
		}
		if second.Event != nil {
			t.Fatalf("%s: the second pass emits %+v", name, second.Event)
		}
	}
}

// The access window ends: the whole lifecycle from a fresh session, stepping time.
func TestDecideLifecycle(t *testing.T) {
	x := in()
	step := Decide(x)
	if step.Action != StepMint {
		t.Fatalf("first step %s", step.Action)
	}
	st, next := Issued(x.Session, step.Status, t0.Add(5*time.Minute+300*time.Millisecond), t0)
	if !st.URLExpiresAt.Time.Equal(t0.Add(5*time.Minute+time.Second)) || !st.AccessEndsAt.Time.Equal(ends) ||
		st.Phase != accessv1alpha1.SessionReady || !next.Equal(t0.Add(5*time.Minute+time.Second+Skew)) || st.MintRequestedAt != nil {
		t.Fatalf("issued %+v, next %v", st, next)
	}
	x.Session.Status, x.Now = st, next
	ownSecret(&x)
	if s := Decide(x); s.Action != StepListUserSessions {
		t.Fatalf("at settle: %s", s.Action)
	}
	sessions("sess-1")(&x)
	s := Decide(x)
	if s.Status.Phase != accessv1alpha1.SessionActive || !s.At.Equal(ends) {
		t.Fatalf("after settle: %s at %v", s.Status.Phase, s.At)
	}
	x.Session.Status, x.Now, x.UserSessionsRead = s.Status, s.At, false
	if s = Decide(x); s.Action != StepListUserSessions {
		t.Fatalf("at the window's end: %s", s.Action)
	}
	sessions("sess-1")(&x)
	if s = Decide(x); s.Action != StepEndAccess || s.Status.Phase != accessv1alpha1.SessionEnded {
		t.Fatalf("end: %s %s", s.Action, s.Status.Phase)
	}
}

type throttled struct{}

func (throttled) Error() string                 { return "ThrottlingException: rate exceeded" }
func (throttled) ErrorCode() string             { return "ThrottlingException" }
func (throttled) ErrorMessage() string          { return "rate exceeded" }
func (throttled) ErrorFault() smithy.ErrorFault { return smithy.FaultClient }

func TestOnError(t *testing.T) {
	pending := in()
	mintStep := Decide(pending)
	readyIn := in(at(6*time.Minute), issued, ownSecret)
	timeout := &net.OpError{Op: "read", Err: errors.New("i/o timeout")}
	for name, tc := range map[string]struct {
		x       Input
		st      accessv1alpha1.StreamingSessionStatus
		err     error
		phase   accessv1alpha1.SessionPhase
		reason  string
		msg     string
		retry   string // terminal, backoff
		at      time.Time
		failed  bool
		noEvent bool
	}{
		"lost mint response: MintLost, minted again at once (backoff)": {pending, mintStep.Status, MintError(timeout),
			accessv1alpha1.SessionPending, accessv1alpha1.SessionReasonMintLost, "CreateStreamingURL got no answer", "backoff", t0.Add(WaitInterval), false, false},
		"mint refused for good: Failed": {pending, mintStep.Status, MintError(apiErr{"ValidationException"}),
			accessv1alpha1.SessionFailed, accessv1alpha1.SessionReasonAPIError, "AppStream refused the streaming URL request", "terminal", time.Time{}, true, false},
		"mint throttled: the shared reason": {pending, mintStep.Status, MintError(throttled{}),
			accessv1alpha1.SessionPending, accessv1alpha1.SessionReasonThrottled, "nothing was minted", "after 1s", t0.Add(WaitInterval), false, false},
		"mint needs the environment fixed": {pending, mintStep.Status, MintError(apiErr{"OperationNotPermittedException"}),
			accessv1alpha1.SessionPending, accessv1alpha1.SessionReasonInvalidConfiguration, "nothing was minted", "terminal", t0.Add(WaitInterval), false, false},
		"credentials missing": {pending, mintStep.Status, &clients.CredentialsError{Secret: "aws", Reason: "not found"},
			accessv1alpha1.SessionPending, accessv1alpha1.SessionReasonCredentialsUnavailable, `credentials Secret "aws"`, "terminal", t0.Add(WaitInterval), false, false},
		"a foreign Secret found by the create": {pending, mintStep.Status, unit.Terminal(accessv1alpha1.SessionReasonSecretConflict, errors.New(SecretConflictMessage(pending.Session))),
			accessv1alpha1.SessionPending, accessv1alpha1.SessionReasonSecretConflict, "never writes into it", "terminal", t0.Add(WaitInterval), false, false},
		"listing sessions at settle fails: phase kept, no deadline in the past": {readyIn, readyIn.Session.Status, fmt.Errorf("DescribeSessions: %w", throttled{}),
			accessv1alpha1.SessionReady, accessv1alpha1.SessionReasonThrottled, "rate exceeded", "after 1s", time.Time{}, false, false},
		"the same error again: no second Event": {in(ready(accessv1alpha1.SessionReasonAPIError, metav1.ConditionFalse, accessv1alpha1.SessionPending)), mintStep.Status, errors.New("boom"),
			accessv1alpha1.SessionPending, accessv1alpha1.SessionReasonAPIError, "boom", "backoff", t0.Add(WaitInterval), false, true},
	} {
		t.Run(name, func(t *testing.T) {
			step, v := OnError(tc.x.Session, tc.st, tc.err, tc.x.Now)
			c := conditions.Get(step.Status.Conditions, accessv1alpha1.ConditionReady)
			if step.Status.Phase != tc.phase || c == nil || c.Reason != tc.reason || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, tc.msg) {
				t.Fatalf("phase %q, condition %+v", step.Status.Phase, c)
			}
			retry := "backoff"
			switch {
			case v.Terminal:
				retry = "terminal"
			case v.After > 0:
				retry = "after " + v.After.String()
			}
			if retry != tc.retry || !step.At.Equal(tc.at) || (step.Action == StepFail) != tc.failed {
				t.Fatalf("verdict %+v, at %v, action %s", v, step.At, step.Action)
			}
			if tc.failed && step.Status.FinishedAt == nil {
				t.Fatal("failed without finishedAt")
			}
			if tc.noEvent != (step.Event == nil) || (step.Event != nil && step.Event.Type != corev1.EventTypeWarning) {
				t.Fatalf("event %+v", step.Event)
			}
		})
	}
	// The same cloud error gives the same reason as in the other controllers.
	if got, want := unit.Reason(MintError(throttled{})), unit.Reason(throttled{}); got != want {
		t.Fatalf("mint throttle reason %q, the shared policy's %q", got, want)
	}
	if aws.Code(MintError(apiErr{"ValidationException"})) != "ValidationException" {
		t.Fatal("the mint error does not wrap the AWS error")
	}
}

func TestDeadline(t *testing.T) {
	s := newSession()
	if got := Deadline(s, t0); !got.Equal(t0.Add(WaitInterval)) {
		t.Fatalf("pending: %v", got)
	}
	s.Status.URLExpiresAt, s.Status.AccessEndsAt = &metav1.Time{Time: urlExp}, &metav1.Time{Time: ends}
	if got := Deadline(s, t0); !got.Equal(settled) {
		t.Fatalf("ready: %v", got)
	}
	s.Status.AccessEndsAt = &metav1.Time{Time: t0.Add(time.Minute)}
	if got := Deadline(s, t0); !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("window shorter than the URL: %v", got)
	}
	s.Status.Phase = accessv1alpha1.SessionActive
	if got := Deadline(s, t0); !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("active: %v", got)
	}
	s.Status.Phase = accessv1alpha1.SessionEnded
	if got := Deadline(s, t0); !got.IsZero() {
		t.Fatalf("finished without ttl: %v", got)
	}
	s.DeletionTimestamp = &metav1.Time{Time: t0}
	if got := Deadline(s, t0); !got.IsZero() {
		t.Fatalf("deleting: %v", got)
	}
}

func TestObserveSecret(t *testing.T) {
	s := newSession()
	if o := ObserveSecret(nil, s); o.Exists || o.HoldsURL() {
		t.Fatalf("none: %+v", o)
	}
	sec := NewSecret(s, "https://as.example/streaming/tok", urlExp, "10.128.3.7:22")
	sec.CreationTimestamp = metav1.Time{Time: t0}
	if o := ObserveSecret(sec, s); !o.HoldsURL() || !o.ExpiresAt.Equal(urlExp) || o.InSync {
		t.Fatalf("own, no URL recorded: %+v", o)
	}
	s.Status.URLExpiresAt = &metav1.Time{Time: urlExp}
	s.Status.Target = &accessv1alpha1.ResolvedTarget{Address: "10.128.3.7", Port: 22}
	if o := ObserveSecret(sec, s); !o.InSync {
		t.Fatalf("own, in sync: %+v", o)
	}
	edited := sec.DeepCopy()
	delete(edited.Data, "expiresAt")
	if o := ObserveSecret(edited, s); o.InSync || !o.ExpiresAt.Equal(t0.Add(MintCallTimeout+5*time.Minute)) {
		t.Fatalf("expiresAt edited away: %+v", o)
	}
	other := s.DeepCopy()
	other.UID = "uid-2"
	if o := ObserveSecret(sec, other); !o.Foreign || o.HoldsURL() {
		t.Fatalf("foreign: %+v", o)
	}
}

// A URL shortened to the end of access says so (issue 15 item 7: the spec's
// urlValidity is not silently cut).
func TestReadyMessageSaysWhenTheURLWasShortened(t *testing.T) {
	s := newSession()
	s.Status.SecretName = "s1"
	s.Status.URLExpiresAt, s.Status.AccessEndsAt = &metav1.Time{Time: t0.Add(time.Minute)}, &metav1.Time{Time: t0.Add(time.Minute)}
	if msg := readyMessage(s); !strings.Contains(msg, "valid for less than spec.urlValidity") {
		t.Fatalf("shortened URL: %q", msg)
	}
	s.Status.AccessEndsAt = &metav1.Time{Time: t0.Add(time.Hour)}
	if msg := readyMessage(s); strings.Contains(msg, "valid for less") {
		t.Fatalf("a URL valid for its whole urlValidity: %q", msg)
	}
}

func TestSessionLimits(t *testing.T) {
	for _, tc := range []struct {
		ahead Ahead
		want  Action
	}{
		{Ahead{User: 4, Total: 199}, StepMint},
		{Ahead{User: 5, Total: 5}, StepFail},
		{Ahead{User: 0, Total: 200}, StepFail},
	} {
		step := Decide(in(func(x *Input) { x.Ahead = tc.ahead }))
		if step.Action != tc.want {
			t.Errorf("%+v: %s; want %s", tc.ahead, step.Action, tc.want)
		}
		if tc.want == StepFail {
			c := conditions.Get(step.Status.Conditions, accessv1alpha1.ConditionReady)
			if c == nil || c.Reason != accessv1alpha1.SessionReasonLimitReached || !strings.Contains(c.Message, "spec.sessionLimits") {
				t.Errorf("%+v: Ready %+v", tc.ahead, c)
			}
		}
	}
}

func TestCountAheadKeepsTheOldestSessions(t *testing.T) {
	mk := func(name, user string, created int, phase accessv1alpha1.SessionPhase) accessv1alpha1.StreamingSession {
		s := *newSession()
		s.Name, s.UID, s.Spec.UserID = name, types.UID(name), user
		s.CreationTimestamp = metav1.NewTime(t0.Add(time.Duration(created) * time.Second))
		s.Status.Phase = phase
		return s
	}
	all := []accessv1alpha1.StreamingSession{
		mk("a1", "a", 1, accessv1alpha1.SessionReady), mk("a2", "a", 2, accessv1alpha1.SessionPending),
		mk("a3", "a", 3, accessv1alpha1.SessionEnded), mk("b1", "b", 1, accessv1alpha1.SessionActive),
		mk("a4", "a", 4, ""), mk("a0", "a", 4, accessv1alpha1.SessionPending),
	}
	other := mk("x", "a", 0, accessv1alpha1.SessionReady)
	other.Spec.EnvironmentRef.Name = "elsewhere"
	all = append(all, other)
	me := all[4] // a4: created at 4 s, after a1, a2 (live) and a0 (same time, smaller name)
	ptrs := make([]*accessv1alpha1.StreamingSession, len(all))
	for i := range all {
		ptrs[i] = &all[i]
	}
	if got := CountAhead(&me, ptrs); got != (Ahead{User: 3, Total: 4, Waiting: 2, Unopened: 1, Active: 1}) {
		t.Fatalf("ahead of a4: %+v; want 3 of user a (a1, a2, a0), 4 in total (and b1), 2 of them waiting (a2, a0), a1 unopened, b1 active", got)
	}
}
