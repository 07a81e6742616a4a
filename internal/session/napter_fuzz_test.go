package session

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/conditions"
)

// FuzzDecideNapter decides Napter sessions in any recorded state, with any
// Secret and resolution, and checks what must hold whatever the state:
//   - nothing of a Napter session goes to AppStream (no mint, no listing or
//     ending of AppStream sessions);
//   - a port is mapped only for a live session with no mapping recorded,
//     with the spec's port, ranges and TLS, for the access window;
//   - a recorded mapping that is not deleted is deleted before the session
//     is released, when it is deleted, and once its window ended;
//   - Ready only with a mapping recorded, before its window ends;
//   - Decide never changes its input, and waiting converges.
func FuzzDecideNapter(f *testing.F) {
	f.Add(uint16(0), uint8(0), uint8(0), int64(0), int64(0))
	f.Add(uint16(0b111111), uint8(2), uint8(1), int64(30*time.Minute), int64(time.Hour))
	f.Add(uint16(0b100101), uint8(4), uint8(3), int64(2*time.Hour), int64(time.Hour))
	f.Fuzz(func(t *testing.T, flags uint16, phase, outcome uint8, nowN, endsN int64) {
		const (
			fzDeleting = 1 << iota
			fzFinalizer
			fzMapped
			fzDeleted
			fzSecretEndpoint
			fzSecretInSync
			fzSecretForeign
			fzEnds
		)
		s := napterSession("198.51.100.0/24")
		offset := func(n int64) time.Duration { return time.Duration(n % int64(48*time.Hour)).Truncate(time.Second) }
		now := t0.Add(offset(nowN))
		if flags&fzFinalizer != 0 {
			s.Finalizers = []string{accessv1alpha1.StreamingSessionFinalizer}
		}
		if flags&fzDeleting != 0 {
			at := metav1.NewTime(now.Add(-time.Minute))
			s.DeletionTimestamp = &at
		}
		phases := []accessv1alpha1.SessionPhase{"", accessv1alpha1.SessionPending, accessv1alpha1.SessionReady,
			accessv1alpha1.SessionEnded, accessv1alpha1.SessionRevoked, accessv1alpha1.SessionFailed}
		st := &s.Status
		st.Phase = phases[int(phase)%len(phases)]
		ends := metav1.NewTime(t0.Add(offset(endsN)))
		if flags&fzMapped != 0 {
			st.Napter = &accessv1alpha1.NapterStatus{Endpoint: "203.0.113.1:40000", SIMID: "8981100000000000001", Port: 22,
				ExpiresAt: &ends, Deleted: flags&fzDeleted != 0}
			st.SecretName = SecretName(s)
		}
		if flags&fzEnds != 0 || flags&fzMapped != 0 {
			st.AccessEndsAt, st.URLExpiresAt = ends.DeepCopy(), ends.DeepCopy()
		}
		if Finished(st.Phase) {
			st.FinishedAt = &metav1.Time{Time: t0}
		}
		env, dg := napterEnv(), deviceGroup()
		switch outcome % 5 {
		case 1:
			env = nil
		case 2:
			env.Spec.Napter.Enabled = false
		case 3:
			dg.Status.Devices[0].Online = false
		case 4:
			env.Spec.Napter.AllowedSourceRanges = []string{"192.0.2.0/24"}
		}
		in := Input{Session: s, Now: now, Resolution: Resolve(s, env, dg)}
		in.Secret = SecretObservation{Exists: flags&(fzSecretEndpoint|fzSecretForeign) != 0, Foreign: flags&fzSecretForeign != 0,
			InSync: flags&fzSecretInSync != 0}
		if flags&fzSecretEndpoint != 0 && flags&fzSecretForeign == 0 {
			in.Secret.URL, in.Secret.Endpoint = true, "203.0.113.1:40000"
		}

		before := s.DeepCopy()
		step := Decide(in)
		if !equality.Semantic.DeepEqual(before, in.Session) {
			t.Fatal("Decide changed its input")
		}
		checkNapterStep(t, in, step)
		// Waiting converges: deciding again on the recorded status changes nothing.
		if step.Action == StepWait {
			x := in
			x.Session = s.DeepCopy()
			x.Session.Status = step.Status
			next := Decide(x)
			checkNapterStep(t, x, next)
			if next.Action != StepWait || !equality.Semantic.DeepEqual(next.Status, step.Status) {
				t.Fatalf("waiting does not converge: %s %s, then %s %s", step.Action, step.Status.Phase, next.Action, next.Status.Phase)
			}
		}
	})
}

func checkNapterStep(t *testing.T, in Input, step Step) {
	t.Helper()
	s, st := in.Session, &in.Session.Status
	recorded := st.Napter != nil && st.Napter.Endpoint != "" && !st.Napter.Deleted
	switch step.Action {
	case StepMint, StepListUserSessions, StepEndAccess:
		t.Fatalf("a Napter session decided %s: nothing of it is on AppStream", step.Action)
	case StepMapPort:
		if !s.DeletionTimestamp.IsZero() || Finished(st.Phase) || (st.Napter != nil && st.Napter.Endpoint != "") {
			t.Fatalf("MapPort for a session that is deleting, finished or mapped (phase %s, napter %+v)", st.Phase, st.Napter)
		}
		m := step.Map
		if m.Port != 22 || m.SIMID != "8981100000000000001" || m.Duration != AccessWindow(&s.Spec) || len(m.SourceRanges) != 1 || m.SourceRanges[0] != "198.51.100.0/24" {
			t.Fatalf("MapPort %+v does not follow the spec", m)
		}
	case StepRelease:
		if recorded || (in.Secret.Endpoint != "" && (st.Napter == nil || !st.Napter.Deleted)) {
			t.Fatalf("released with a mapping not deleted (status %+v, Secret endpoint %q)", st.Napter, in.Secret.Endpoint)
		}
	case StepDelete:
		if recorded {
			t.Fatal("deleted by its TTL with a mapping not deleted")
		}
	}
	if !s.DeletionTimestamp.IsZero() && recorded && step.Action != StepUnmapPort {
		t.Fatalf("deleting with mapping %s recorded: %s, want UnmapPort", st.Napter.Endpoint, step.Action)
	}
	if s.DeletionTimestamp.IsZero() && recorded && !in.Now.Before(st.AccessEndsAt.Time) && step.Action != StepUnmapPort {
		t.Fatalf("the window ended at %v (now %v) and the mapping stays: %s", st.AccessEndsAt.Time, in.Now, step.Action)
	}
	if c := conditions.Get(step.Status.Conditions, accessv1alpha1.ConditionReady); c != nil && c.Status == metav1.ConditionTrue {
		n := step.Status.Napter
		if step.Status.Phase != accessv1alpha1.SessionReady || n == nil || n.Endpoint == "" || n.Deleted || !in.Now.Before(step.Status.AccessEndsAt.Time) {
			t.Fatalf("Ready without a live mapping: phase %s, napter %+v, ends %v, now %v", step.Status.Phase, n, step.Status.AccessEndsAt, in.Now)
		}
	}
}
