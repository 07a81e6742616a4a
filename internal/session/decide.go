package session

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/session/target"
)

// Input is everything Decide looks at: what one pass observed.
type Input struct {
	// Session is the session as read (spec, status, deletion, finalizers).
	Session *accessv1alpha1.StreamingSession
	// Now is the controller's clock.
	Now time.Time
	// Resolution is Resolve(session, environment, DeviceGroup); it matters
	// only while no URL is recorded.
	Resolution Resolution
	// Secret is the session's Secret as observed (ObserveSecret).
	Secret SecretObservation
	// UserSessions are the IDs of the user's live AppStream sessions, when
	// UserSessionsRead (Decide asks with StepListUserSessions when it needs them).
	UserSessions     []string
	UserSessionsRead bool
	// Ahead counts the live sessions on the environment created before this
	// one (CountAhead), for spec.sessionLimits.
	Ahead Ahead
}

// Action is what a Step does.
type Action string

const (
	// StepWait calls nothing: record Status, look again at At (zero: only
	// when something the session watches changes).
	StepWait Action = "Wait"
	// StepFail records a Failed status: the request can never be served.
	StepFail Action = "Fail"
	// StepMint calls CreateStreamingURL once (Mint), creates the Secret with
	// the URL and records the issued status (see Issue).
	StepMint Action = "Mint"
	// StepRepairSecret puts back what gatestream keeps in the Secret, keeping its URL.
	StepRepairSecret Action = "RepairSecret"
	// StepListUserSessions reads the user's AppStream sessions; then Decide
	// again with them in Input.
	StepListUserSessions Action = "ListUserSessions"
	// StepEndAccess ends the user's AppStream sessions Expire, then records
	// Status (Ended, or Revoked when the session is being deleted).
	StepEndAccess Action = "EndAccess"
	// StepDelete deletes the finished session: its ttlAfterFinished passed.
	StepDelete Action = "Delete"
	// StepRelease ends a deletion: the session's Secret is deleted and the
	// finalizer removed.
	StepRelease Action = "Release"
	// StepMapPort makes a Napter session's port mapping (MapPort, which
	// adopts one an earlier pass lost the answer of), writes the Secret with
	// the endpoint and records the issued status.
	StepMapPort Action = "MapPort"
	// StepUnmapPort deletes a Napter session's port mapping (Unmap), then
	// records Status (Ended, or Revoked when the session is being deleted).
	StepUnmapPort Action = "UnmapPort"
)

// Step is the one next action of a session and the status to record.
type Step struct {
	Action Action
	// Status is the status to record (written once, when it changed). A Mint
	// step records Issued(...) instead once the URL is in the Secret.
	Status accessv1alpha1.StreamingSessionStatus
	// At is when to look again by time alone (zero: not by time).
	At time.Time
	// Continue: decide again at once with the recorded status (the deletion
	// goes on after the revocation).
	Continue bool
	// Mint is the CreateStreamingURL call of a StepMint.
	Mint MintRequest
	// Map is the port mapping of a StepMapPort.
	Map NapterRequest
	// Expire are the AppStream sessions a StepEndAccess ends.
	Expire []string
	// Event is emitted once Status is recorded: only for failures and the
	// end of access (Expired, Ended, Revoked).
	Event *Event
}

// Event is a Kubernetes Event about the session (never with a secret).
type Event struct {
	Type, Reason, Action, Note string
}

// Decide returns the session's one next step. It is pure: everything it
// looks at is in the Input.
func Decide(in Input) Step {
	d := newDecision(in.Session, in.Session.Status, in)
	s := in.Session
	if target.ViaNapter(s) {
		return d.napter()
	}
	switch {
	case !s.DeletionTimestamp.IsZero():
		return d.deleting()
	case Finished(s.Status.Phase):
		return d.finished()
	case s.Status.URLExpiresAt == nil:
		return d.mint()
	}
	return d.issued()
}

// decision builds a Step: s is a copy of the session whose status becomes Step.Status.
type decision struct {
	in    Input
	old   *metav1.Condition
	s     *accessv1alpha1.StreamingSession
	event *Event
}

func newDecision(s *accessv1alpha1.StreamingSession, st accessv1alpha1.StreamingSessionStatus, in Input) *decision {
	d := &decision{in: in, s: s.DeepCopy(), old: conditions.Get(s.Status.Conditions, accessv1alpha1.ConditionReady)}
	d.s.Status = *st.DeepCopy()
	return d
}

// set records the phase and the Ready condition; a finished phase gets finishedAt.
func (d *decision) set(phase accessv1alpha1.SessionPhase, ready bool, reason, format string, args ...any) {
	st := &d.s.Status
	st.Phase = phase
	status := metav1.ConditionFalse
	if ready {
		status = metav1.ConditionTrue
	}
	conditions.Set(&st.Conditions, d.s.Generation, accessv1alpha1.ConditionReady, status, reason, fmt.Sprintf(format, args...))
	if Finished(phase) && st.FinishedAt == nil {
		st.FinishedAt = &metav1.Time{Time: FloorSecond(d.in.Now)}
	}
}

// emit adds an Event of the new Ready reason, when the reason changed.
func (d *decision) emit(typ string) {
	c := conditions.Get(d.s.Status.Conditions, accessv1alpha1.ConditionReady)
	if c == nil || (d.old != nil && d.old.Reason == c.Reason) {
		return
	}
	d.event = &Event{Type: typ, Reason: c.Reason, Action: string(d.s.Status.Phase), Note: c.Message}
}

func (d *decision) step(a Action) Step {
	d.s.Status.ObservedGeneration = d.s.Generation
	return Step{Action: a, Status: d.s.Status, At: Deadline(d.s, d.in.Now), Event: d.event}
}

// fail finishes the session as Failed.
func (d *decision) fail(reason, format string, args ...any) Step {
	d.set(accessv1alpha1.SessionFailed, false, reason, format, args...)
	d.emit(corev1.EventTypeWarning)
	return d.step(StepFail)
}

func (d *decision) deleting() Step {
	s, st := d.s, &d.s.Status
	if !controllerutil.ContainsFinalizer(s, accessv1alpha1.StreamingSessionFinalizer) {
		return Step{Action: StepWait, Status: *st} // nothing of ours holds it
	}
	if NeedsRevocation(s) || (!Finished(st.Phase) && d.in.Secret.HoldsURL()) {
		if !d.in.UserSessionsRead {
			return Step{Action: StepListUserSessions, Status: *st}
		}
		d.set(accessv1alpha1.SessionRevoked, false, accessv1alpha1.SessionReasonRevoked,
			"the session was deleted; %d AppStream session(s) of user %s were ended", len(d.in.UserSessions), s.Spec.UserID)
		d.emit(corev1.EventTypeNormal)
		step := d.step(StepEndAccess)
		step.Expire, step.Continue, step.At = d.in.UserSessions, true, time.Time{}
		return step
	}
	return Step{Action: StepRelease, Status: *st}
}

func (d *decision) finished() Step {
	st := &d.s.Status
	if st.FinishedAt == nil { // finished by an older gatestream
		c := conditions.Get(st.Conditions, accessv1alpha1.ConditionReady)
		reason, msg := string(st.Phase), ""
		if c != nil {
			reason, msg = c.Reason, c.Message
		}
		d.set(st.Phase, false, reason, "%s", msg)
	}
	if at, ok := TTLDeadline(d.s); ok && !d.in.Now.Before(at) {
		return Step{Action: StepDelete, Status: *st}
	}
	return d.step(StepWait)
}

// mint decides for a session without a recorded URL.
func (d *decision) mint() Step {
	s, st, now, sec := d.s, &d.s.Status, d.in.Now, d.in.Secret
	if sec.HoldsURL() {
		// An earlier pass created the Secret and stopped before recording it.
		d.issue(sec.ExpiresAt)
		return d.step(StepWait)
	}
	if step, blocked := d.blocked(); blocked {
		return step
	}
	res := d.in.Resolution
	if c := res.Capacity; c != nil {
		if ok, why := c.freeFor(d.in.Ahead, now); !ok {
			// Minting now would be a Ready whose URL cannot be opened.
			d.set(accessv1alpha1.SessionPending, false, accessv1alpha1.SessionReasonWaitingForCapacity, "%s", why)
			return d.step(StepWait)
		}
	}
	ends := AccessEndsAt(s, now)
	validity := MintValidity(&s.Spec, ends, now)
	if validity < MinValidity {
		return d.fail(accessv1alpha1.SessionReasonMintLost,
			"the streaming URL was lost and the access window ended at %s before it could be replaced; create a new session", rfc3339(ends))
	}
	st.SecretName, st.Target = SecretName(s), res.Target
	d.set(accessv1alpha1.SessionPending, false, accessv1alpha1.SessionReasonMinting, "issuing a streaming URL")
	step := d.step(StepMint)
	step.At = time.Time{} // the issued status brings its deadline (Issued), an error its retry
	step.Mint = MintRequest{
		Stack: res.Stack, Fleet: res.Fleet, UserID: s.Spec.UserID, Application: s.Spec.Application,
		SessionContext: SessionContext(res.Target), Validity: validity,
	}
	return step
}

// blocked is the step of a session that cannot be given access yet (its
// Secret's name is taken, its references wait or fail, a limit is reached);
// false when it can.
func (d *decision) blocked() (Step, bool) {
	s := d.s
	if d.in.Secret.Foreign {
		d.set(accessv1alpha1.SessionPending, false, accessv1alpha1.SessionReasonSecretConflict, "%s", SecretConflictMessage(s))
		d.emit(corev1.EventTypeWarning)
		return d.step(StepWait), true
	}
	res := d.in.Resolution
	switch res.Outcome {
	case Wait:
		d.set(accessv1alpha1.SessionPending, false, res.Reason, "%s", res.Message)
		return d.step(StepWait), true
	case Fail:
		return d.fail(res.Reason, "%s", res.Message), true
	}
	if why := overLimit(s, res.Limits, d.in.Ahead); why != "" && res.Limits.PerUser > 0 {
		return d.fail(accessv1alpha1.SessionReasonLimitReached, "%s", why), true
	}
	return Step{}, false
}

// issued decides for a session with a recorded URL.
func (d *decision) issued() Step {
	s, st, now := d.s, &d.s.Status, d.in.Now
	if st.AccessEndsAt == nil { // recorded by an older gatestream
		d.issue(st.URLExpiresAt.Time)
	}
	if !now.Before(st.AccessEndsAt.Time) {
		if !d.in.UserSessionsRead {
			return Step{Action: StepListUserSessions, Status: *st}
		}
		d.set(accessv1alpha1.SessionEnded, false, accessv1alpha1.SessionReasonAccessEnded,
			"the access window ended at %s; %d AppStream session(s) of user %s were ended",
			rfc3339(st.AccessEndsAt.Time), len(d.in.UserSessions), s.Spec.UserID)
		d.emit(corev1.EventTypeNormal)
		step := d.step(StepEndAccess)
		step.Expire = d.in.UserSessions
		return step
	}
	if st.Phase == accessv1alpha1.SessionActive {
		return d.step(StepWait)
	}
	sec := d.in.Secret
	if now.Before(st.URLExpiresAt.Time) {
		if !sec.HoldsURL() {
			d.set(accessv1alpha1.SessionPending, false, accessv1alpha1.SessionReasonMintLost,
				"Secret %q no longer holds the streaming URL (deleted or edited); gatestream keeps it nowhere else, and mints no second URL "+
					"while the first may still work: a new one is minted after %s unless the user started a session with it",
				SecretName(s), rfc3339(URLSettledAt(s)))
			d.emit(corev1.EventTypeWarning)
			return d.step(StepWait)
		}
		d.set(accessv1alpha1.SessionReady, true, accessv1alpha1.SessionReasonURLIssued, "%s", readyMessage(s))
		if !sec.InSync {
			return d.step(StepRepairSecret)
		}
		return d.step(StepWait)
	}
	if now.Before(URLSettledAt(s)) { // expired by our clock: wait out the skew before deciding
		return d.step(StepWait)
	}
	if !d.in.UserSessionsRead {
		return Step{Action: StepListUserSessions, Status: *st}
	}
	switch {
	case len(d.in.UserSessions) > 0:
		d.set(accessv1alpha1.SessionActive, false, accessv1alpha1.SessionReasonSessionActive,
			"the URL has expired; user %s started an AppStream session, which is ended when the access window ends at %s",
			s.Spec.UserID, rfc3339(st.AccessEndsAt.Time))
		return d.step(StepWait)
	case !sec.HoldsURL():
		// The recorded URL left its Secret, was never used and is unusable now: mint again.
		st.URLExpiresAt = nil
		return d.mint()
	}
	d.set(accessv1alpha1.SessionExpired, false, accessv1alpha1.SessionReasonURLExpired,
		"the URL expired at %s without being used", rfc3339(st.URLExpiresAt.Time))
	d.emit(corev1.EventTypeNormal)
	return d.step(StepWait)
}

// issue records a URL that is in the Secret and expires at expires: Ready,
// the access window (which never ends before the URL does).
func (d *decision) issue(expires time.Time) {
	s, st := d.s, &d.s.Status
	exp := CeilSecond(expires)
	ends := AccessEndsAt(s, d.in.Now)
	if exp.After(ends) {
		ends = exp
	}
	st.URLExpiresAt = &metav1.Time{Time: exp}
	st.AccessEndsAt = &metav1.Time{Time: CeilSecond(ends)}
	st.SecretName = SecretName(s)
	// Written only by older gatestream versions; a recorded URL supersedes it.
	st.MintRequestedAt = nil
	if st.Target == nil {
		st.Target = d.in.Resolution.Target
	}
	d.set(accessv1alpha1.SessionReady, true, accessv1alpha1.SessionReasonURLIssued, "%s", readyMessage(s))
}

// Issued is the status to record once a URL expiring at expires is in the
// session's Secret, from st (a Mint step's status), and when to look again.
func Issued(s *accessv1alpha1.StreamingSession, st accessv1alpha1.StreamingSessionStatus, expires, now time.Time) (accessv1alpha1.StreamingSessionStatus, time.Time) {
	d := newDecision(s, st, Input{Session: s, Now: now})
	d.issue(expires)
	out := d.step(StepWait)
	return out.Status, out.At
}

// Deadline is when a session whose status is s.Status must be looked at
// again by time alone (zero: only when something it watches changes).
func Deadline(s *accessv1alpha1.StreamingSession, now time.Time) time.Time {
	st := &s.Status
	switch {
	case !s.DeletionTimestamp.IsZero():
		return time.Time{}
	case Finished(st.Phase):
		at, _ := TTLDeadline(s)
		return at
	case st.URLExpiresAt == nil: // Pending: look again at what it waits for
		return now.Add(WaitInterval)
	case st.Phase == accessv1alpha1.SessionActive:
		return timeOf(st.AccessEndsAt)
	}
	return Earliest(URLSettledAt(s), timeOf(st.AccessEndsAt))
}

func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

// readyMessage is the Ready condition's message of an issued URL.
func readyMessage(s *accessv1alpha1.StreamingSession) string {
	st := &s.Status
	msg := fmt.Sprintf("the streaming URL for user %s is in Secret %s (key %s) and can be opened once until %s; access ends at %s",
		s.Spec.UserID, st.SecretName, accessv1alpha1.SecretKeyURL, rfc3339(st.URLExpiresAt.Time), rfc3339(st.AccessEndsAt.Time))
	if stripped := StrippedMetadata(s); len(stripped) > 0 {
		msg += fmt.Sprintf("; not copied from secretTemplate (Argo CD tracking): %v", stripped)
	}
	if asked := URLValidity(&s.Spec); !st.URLExpiresAt.Time.Before(st.AccessEndsAt.Time) {
		// MintValidity shortened the URL to the end of access: say so.
		msg += fmt.Sprintf("; the URL is valid for less than spec.urlValidity (%s): it expires when access ends (spec.accessWindow)", asked)
	}
	return msg
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
