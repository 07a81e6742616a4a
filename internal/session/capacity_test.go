package session

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/conditions"
)

func TestCountAheadCapacity(t *testing.T) {
	url := &metav1.Time{Time: t0.Add(5 * time.Minute)}
	mk := func(name string, created int, phase accessv1alpha1.SessionPhase, mods ...func(*accessv1alpha1.StreamingSession)) *accessv1alpha1.StreamingSession {
		s := newSession()
		s.Name, s.UID, s.Spec.UserID = name, types.UID(name), "user-"+name
		s.CreationTimestamp = metav1.NewTime(t0.Add(time.Duration(created) * time.Second))
		s.Status.Phase = phase
		if phase == accessv1alpha1.SessionReady || phase == accessv1alpha1.SessionActive {
			s.Status.URLExpiresAt = url
		}
		for _, m := range mods {
			m(s)
		}
		return s
	}
	deleted := func(s *accessv1alpha1.StreamingSession) { s.DeletionTimestamp = &metav1.Time{Time: t0} }
	elsewhere := func(s *accessv1alpha1.StreamingSession) { s.Spec.EnvironmentRef.Name = "lab" }
	withURL := func(s *accessv1alpha1.StreamingSession) { s.Status.URLExpiresAt = url }
	me := mk("me", 10, accessv1alpha1.SessionPending)

	tests := []struct {
		name  string
		other *accessv1alpha1.StreamingSession
		want  Ahead
	}{
		{name: "itself", other: mk("me", 10, accessv1alpha1.SessionPending)},
		{name: "itself, under another name (same UID)", other: mk("me", 1, accessv1alpha1.SessionReady, func(s *accessv1alpha1.StreamingSession) { s.Name = "copy" })},
		{name: "pending ahead: waiting", other: mk("w", 5, accessv1alpha1.SessionPending), want: Ahead{Total: 1, Waiting: 1}},
		{name: "new ahead (no phase yet): waiting", other: mk("w", 5, ""), want: Ahead{Total: 1, Waiting: 1}},
		{name: "same creation time, smaller name: ahead", other: mk("a", 10, accessv1alpha1.SessionPending), want: Ahead{Total: 1, Waiting: 1}},
		{name: "same creation time, larger name: behind", other: mk("z", 10, accessv1alpha1.SessionPending)},
		{name: "pending behind: not waiting ahead", other: mk("w", 20, accessv1alpha1.SessionPending)},
		{name: "pending ahead with a URL recorded (lost Secret): not waiting", other: mk("w", 5, accessv1alpha1.SessionPending, withURL), want: Ahead{Total: 1}},
		{name: "ready ahead: unopened, not waiting", other: mk("r", 5, accessv1alpha1.SessionReady), want: Ahead{Total: 1, Unopened: 1}},
		{name: "ready behind: unopened all the same", other: mk("r", 20, accessv1alpha1.SessionReady), want: Ahead{Unopened: 1}},
		{name: "active ahead", other: mk("a", 5, accessv1alpha1.SessionActive), want: Ahead{Total: 1, Active: 1}},
		{name: "active behind: active all the same", other: mk("a", 20, accessv1alpha1.SessionActive), want: Ahead{Active: 1}},
		{name: "same user ahead", other: mk("u", 5, accessv1alpha1.SessionActive, func(s *accessv1alpha1.StreamingSession) { s.Spec.UserID = me.Spec.UserID }),
			want: Ahead{User: 1, Total: 1, Active: 1}},
		{name: "ended", other: mk("e", 5, accessv1alpha1.SessionEnded, withURL)},
		{name: "expired", other: mk("e", 5, accessv1alpha1.SessionExpired, withURL)},
		{name: "failed (no URL)", other: mk("f", 5, accessv1alpha1.SessionFailed)},
		{name: "revoked", other: mk("v", 5, accessv1alpha1.SessionRevoked, withURL)},
		{name: "deleting pending", other: mk("d", 5, accessv1alpha1.SessionPending, deleted)},
		{name: "deleting ready", other: mk("d", 20, accessv1alpha1.SessionReady, deleted)},
		{name: "deleting active", other: mk("d", 20, accessv1alpha1.SessionActive, deleted)},
		{name: "other environment, pending", other: mk("o", 5, accessv1alpha1.SessionPending, elsewhere)},
		{name: "other environment, ready", other: mk("o", 5, accessv1alpha1.SessionReady, elsewhere)},
		{name: "other environment, active", other: mk("o", 20, accessv1alpha1.SessionActive, elsewhere)},
	}
	var all []*accessv1alpha1.StreamingSession
	var sum Ahead
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CountAhead(me, []*accessv1alpha1.StreamingSession{tc.other}); got != tc.want {
				t.Fatalf("CountAhead = %+v; want %+v", got, tc.want)
			}
		})
		if tc.other.UID == me.UID {
			continue
		}
		all = append(all, tc.other)
		sum.User += tc.want.User
		sum.Total += tc.want.Total
		sum.Waiting += tc.want.Waiting
		sum.Unopened += tc.want.Unopened
		sum.Active += tc.want.Active
	}
	all = append(all, me)
	if got := CountAhead(me, all); got != sum {
		t.Fatalf("all together: %+v; want the sum %+v", got, sum)
	}
	if sum != (Ahead{User: 1, Total: 7, Waiting: 3, Unopened: 2, Active: 3}) {
		t.Fatalf("the table sums to %+v", sum) // guards the table itself
	}
}

// onDemand sets a capacity Demand view on the input's resolution.
func onDemand(c Capacity) func(*Input) {
	return func(x *Input) {
		if c.Fleet == "" {
			c.Fleet = "fleet-1"
		}
		x.Resolution.Capacity = &c
	}
}

func ahead(a Ahead) func(*Input) { return func(x *Input) { x.Ahead = a } }

func TestDecideWaitsForCapacity(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		mint bool
		msg  []string // parts of the Ready message while waiting
		not  []string // not in it
	}{
		{name: "fleet stopped: waits, the fleet starts for it",
			in:  in(onDemand(Capacity{State: "STOPPED"})),
			msg: []string{"fleet fleet-1 is stopped", "it starts for this session", "no instance start observed yet"},
			not: []string{"ahead of this one"}},
		{name: "fleet state not observed yet: treated as stopped",
			in:  in(onDemand(Capacity{})),
			msg: []string{"is stopped", "it starts for this session"}},
		{name: "fleet stopped, with one waiting ahead",
			in:  in(onDemand(Capacity{State: "STOPPED"}), ahead(Ahead{Total: 1, Waiting: 1})),
			msg: []string{"is stopped", "1 session(s) ahead of this one"}},
		{name: "fleet starting: waits even with instances reported",
			in:  in(onDemand(Capacity{State: "STARTING", Running: 3})),
			msg: []string{"STARTING"}},
		{name: "running 2, in use 1, 1 unopened: none free",
			in:  in(onDemand(Capacity{State: "RUNNING", Running: 2, InUse: 1}), ahead(Ahead{Unopened: 1})),
			msg: []string{"RUNNING with 0 of 2 instances free"}},
		{name: "running 3, in use 1, 1 unopened: one free, mints",
			in:   in(onDemand(Capacity{State: "RUNNING", Running: 3, InUse: 1}), ahead(Ahead{Unopened: 1})),
			mint: true},
		{name: "one free, one waiting ahead: it goes first",
			in:  in(onDemand(Capacity{State: "RUNNING", Running: 3, InUse: 1}), ahead(Ahead{Total: 1, Waiting: 1, Unopened: 1})),
			msg: []string{"1 of 3 instances free", "1 session(s) ahead of this one"}},
		{name: "two free, one waiting ahead: mints",
			in:   in(onDemand(Capacity{State: "RUNNING", Running: 3}), ahead(Ahead{Total: 1, Waiting: 1})),
			mint: true},
		{name: "in use below the active count: the active count holds",
			in:  in(onDemand(Capacity{State: "RUNNING", Running: 3, InUse: 0}), ahead(Ahead{Total: 3, Active: 3})),
			msg: []string{"0 of 3 instances free"}},
		{name: "in use above the active count: in use holds",
			in:  in(onDemand(Capacity{State: "RUNNING", Running: 3, InUse: 3}), ahead(Ahead{Active: 1})),
			msg: []string{"0 of 3 instances free"}},
		{name: "active below running: mints",
			in:   in(onDemand(Capacity{State: "RUNNING", Running: 3, InUse: 0}), ahead(Ahead{Total: 2, Active: 2})),
			mint: true},
		{name: "more taken than running: none free, never negative",
			in:  in(onDemand(Capacity{State: "RUNNING", Running: 1, InUse: 2}), ahead(Ahead{Unopened: 2})),
			msg: []string{"0 of 1 instances free"}},
		{name: "the wait: the median start minus the time already waited",
			in:  in(onDemand(Capacity{State: "STOPPED", StartSeconds: []int32{60, 120, 90}, StartRequestedAt: t0.Add(-30 * time.Second)})),
			msg: []string{"expected in about 1m0s", "instances took 1m30s", "last 3 starts"}},
		{name: "the wait ran out",
			in:  in(onDemand(Capacity{State: "STOPPED", StartSeconds: []int32{60, 120, 90}, StartRequestedAt: t0.Add(-2 * time.Minute)})),
			msg: []string{"taking longer than the usual 1m30s"}, not: []string{"expected in"}},
		{name: "nothing asked for yet: the usual start",
			in:  in(onDemand(Capacity{State: "STOPPED", StartSeconds: []int32{45}})),
			msg: []string{"instances took 45s to start"}, not: []string{"expected in", "no instance start observed"}},
		{name: "capacity Fixed (nil): mints regardless of what is taken",
			in:   in(ahead(Ahead{Total: 5, Waiting: 5, Unopened: 5, Active: 5})),
			mint: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			step := Decide(tc.in)
			c := conditions.Get(step.Status.Conditions, accessv1alpha1.ConditionReady)
			if c == nil {
				t.Fatalf("no Ready condition: %+v", step.Status)
			}
			if tc.mint {
				if step.Action != StepMint || c.Reason != accessv1alpha1.SessionReasonMinting || step.Mint.Fleet != "fleet-1" {
					t.Fatalf("action %s reason %s (%s); want a mint", step.Action, c.Reason, c.Message)
				}
				return
			}
			if step.Action != StepWait || step.Status.Phase != accessv1alpha1.SessionPending ||
				c.Status != metav1.ConditionFalse || c.Reason != accessv1alpha1.SessionReasonWaitingForCapacity {
				t.Fatalf("action %s phase %s Ready %s/%s (%s); want a wait for capacity", step.Action, step.Status.Phase, c.Status, c.Reason, c.Message)
			}
			if !step.At.Equal(tc.in.Now.Add(WaitInterval)) {
				t.Fatalf("look again at %v; want %v", step.At, tc.in.Now.Add(WaitInterval))
			}
			if step.Status.SecretName != "" || step.Status.Target != nil || step.Status.URLExpiresAt != nil || step.Mint != (MintRequest{}) {
				t.Fatalf("a waiting session recorded a mint: %+v", step.Status)
			}
			for _, m := range tc.msg {
				if !strings.Contains(c.Message, m) {
					t.Errorf("message %q lacks %q", c.Message, m)
				}
			}
			for _, m := range tc.not {
				if strings.Contains(c.Message, m) {
					t.Errorf("message %q has %q", c.Message, m)
				}
			}
		})
	}
}

// TestDecideCapacityAfterLimits: the session limits are checked before the
// capacity: a session over its limit fails rather than waiting.
func TestDecideCapacityAfterLimits(t *testing.T) {
	x := in(onDemand(Capacity{State: "STOPPED"}), ahead(Ahead{User: 5, Total: 5, Waiting: 5}))
	step := Decide(x)
	c := conditions.Get(step.Status.Conditions, accessv1alpha1.ConditionReady)
	if step.Action != StepFail || c == nil || c.Reason != accessv1alpha1.SessionReasonLimitReached {
		t.Fatalf("action %s Ready %+v; want the limit reached", step.Action, c)
	}
}

func TestResolveCapacity(t *testing.T) {
	demand := func(ft accessv1alpha1.FleetType, policy accessv1alpha1.CapacityPolicy) *accessv1alpha1.RemoteAccessEnvironment {
		env := readyEnv()
		env.Spec.AppStream.Fleet.FleetType = ft
		env.Spec.AppStream.Capacity = &accessv1alpha1.CapacitySpec{Policy: policy}
		if policy == accessv1alpha1.CapacityDemand {
			env.Spec.AppStream.Capacity.Demand = &accessv1alpha1.DemandCapacity{Max: 10, Spare: 1}
		}
		env.Status.Fleet.State, env.Status.Fleet.Running, env.Status.Fleet.InUse = "RUNNING", 4, 2
		env.Status.Capacity = &accessv1alpha1.CapacityStatus{StartSeconds: []int32{60, 90}, StartRequestedAt: &metav1.Time{Time: t0}}
		return env
	}
	res := Resolve(newSession(), demand(accessv1alpha1.FleetTypeOnDemand, accessv1alpha1.CapacityDemand), deviceGroup())
	c := res.Capacity
	if res.Outcome != Resolved || c == nil || c.Fleet != "fleet-1" || c.State != "RUNNING" || c.Running != 4 || c.InUse != 2 ||
		len(c.StartSeconds) != 2 || !c.StartRequestedAt.Equal(t0) {
		t.Fatalf("Demand: %+v, capacity %+v", res, c)
	}
	for _, tc := range []struct {
		name string
		env  *accessv1alpha1.RemoteAccessEnvironment
	}{
		{"Fixed", demand(accessv1alpha1.FleetTypeOnDemand, accessv1alpha1.CapacityFixed)},
		{"ELASTIC", demand(accessv1alpha1.FleetTypeElastic, accessv1alpha1.CapacityDemand)},
		{"no capacity", readyEnv()},
	} {
		if res := Resolve(newSession(), tc.env, deviceGroup()); res.Outcome != Resolved || res.Capacity != nil {
			t.Errorf("%s: outcome %v, capacity %+v; want resolved without a capacity gate", tc.name, res.Outcome, res.Capacity)
		}
	}
}
