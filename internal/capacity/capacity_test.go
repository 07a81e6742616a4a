package capacity

import (
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

// t0 is a Monday, 09:00 UTC.
var t0 = time.Date(2026, 9, 7, 9, 0, 0, 0, time.UTC)

func ptr(t time.Time) *time.Time { return &t }

// demandSpec is an ALWAYS_ON fleet under capacity Demand with d.
func demandSpec(d accessv1alpha1.DemandCapacity) accessv1alpha1.AppStreamSpec {
	var spec accessv1alpha1.AppStreamSpec
	spec.Fleet.FleetType = accessv1alpha1.FleetTypeAlwaysOn
	spec.Fleet.DesiredCapacity = 7
	spec.Capacity = &accessv1alpha1.CapacitySpec{Policy: accessv1alpha1.CapacityDemand, Demand: &d}
	return spec
}

// minutes is a stopAfterIdle of n minutes.
func minutes(n int) metav1.Duration { return metav1.Duration{Duration: time.Duration(n) * time.Minute} }

func TestDecideFixedAndElastic(t *testing.T) {
	fixed := accessv1alpha1.AppStreamSpec{}
	fixed.Fleet.FleetType = accessv1alpha1.FleetTypeOnDemand
	fixed.Fleet.DesiredCapacity = 3
	explicitFixed := fixed
	explicitFixed.Capacity = &accessv1alpha1.CapacitySpec{Policy: accessv1alpha1.CapacityFixed}
	demandWithoutBounds := fixed
	demandWithoutBounds.Capacity = &accessv1alpha1.CapacitySpec{Policy: accessv1alpha1.CapacityDemand}
	elastic := accessv1alpha1.AppStreamSpec{}
	elastic.Fleet.FleetType = accessv1alpha1.FleetTypeElastic
	elastic.Fleet.MaxConcurrentSessions = 12
	elastic.Capacity = &accessv1alpha1.CapacitySpec{Policy: accessv1alpha1.CapacityDemand, Demand: &accessv1alpha1.DemandCapacity{Min: 2, Max: 10, Spare: 1}}

	tests := []struct {
		name    string
		spec    accessv1alpha1.AppStreamSpec
		live    int
		managed bool
		desired int32
	}{
		{name: "no capacity: Fixed with fleet.desiredCapacity", spec: fixed, live: 0, managed: true, desired: 3},
		{name: "no capacity, many live sessions: still desiredCapacity", spec: fixed, live: 50, managed: true, desired: 3},
		{name: "policy Fixed", spec: explicitFixed, live: 1, managed: true, desired: 3},
		{name: "policy Demand without demand: Fixed", spec: demandWithoutBounds, live: 1, managed: true, desired: 3},
		{name: "ELASTIC: not managed, even with Demand", spec: elastic, live: 4, managed: false, desired: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// An old idle mark must not stop a Fixed or ELASTIC fleet.
			p := Decide(Input{Spec: tc.spec, Now: t0, Live: tc.live, IdleSince: ptr(t0.Add(-48 * time.Hour)), FleetUp: false})
			if p.Policy != accessv1alpha1.CapacityFixed || p.Managed != tc.managed || !p.Run || p.Desired != tc.desired {
				t.Fatalf("plan %+v; want Fixed, managed %v, running %d", p, tc.managed, tc.desired)
			}
			if p.IdleSince != nil || !p.Next.IsZero() || p.Why == "" {
				t.Fatalf("plan %+v: no idle mark, nothing due, a reason", p)
			}
		})
	}
	if p := Decide(Input{Spec: elastic, Now: t0}); !strings.Contains(p.Why, "12") {
		t.Errorf("ELASTIC why %q does not name maxConcurrentSessions 12", p.Why)
	}
}

func TestDecideDemand(t *testing.T) {
	base := accessv1alpha1.DemandCapacity{Min: 0, Max: 10, Spare: 1, StopAfterIdle: minutes(20)}
	withMin := base
	withMin.Min = 2
	unset := base
	unset.StopAfterIdle = metav1.Duration{}
	mark := t0.Add(-time.Minute)

	tests := []struct {
		name      string
		d         accessv1alpha1.DemandCapacity
		now       time.Time
		live      int
		idleSince *time.Time
		down      bool // the fleet is stopped (FleetUp false)
		run       bool
		desired   int32
		min       int32
		idleMark  *time.Time // nil: no idle mark in the plan
		next      time.Time
	}{
		{name: "idle just after the mark: spare kept until stopAfterIdle", d: base, now: t0, idleSince: &mark,
			run: true, desired: 1, idleMark: &mark, next: mark.Add(20 * time.Minute)},
		{name: "idle, one second before stopAfterIdle runs out", d: base, now: mark.Add(20*time.Minute - time.Second), idleSince: &mark,
			run: true, desired: 1, idleMark: &mark, next: mark.Add(20 * time.Minute)},
		{name: "idle exactly stopAfterIdle: stopped", d: base, now: mark.Add(20 * time.Minute), idleSince: &mark,
			run: false, desired: 0, idleMark: &mark},
		{name: "idle long after stopAfterIdle: stopped", d: base, now: mark.Add(5 * time.Hour), idleSince: &mark,
			run: false, desired: 0, idleMark: &mark},
		{name: "no idle mark yet: marked now", d: base, now: t0,
			run: true, desired: 1, idleMark: &t0, next: t0.Add(20 * time.Minute)},
		{name: "idle mark in the future is ignored: now is used", d: base, now: t0, idleSince: ptr(t0.Add(time.Hour)),
			run: true, desired: 1, idleMark: &t0, next: t0.Add(20 * time.Minute)},
		{name: "stopAfterIdle unset: 30m", d: unset, now: t0, idleSince: &mark,
			run: true, desired: 1, idleMark: &mark, next: mark.Add(30 * time.Minute)},
		{name: "stopAfterIdle unset: stopped after 30m", d: unset, now: mark.Add(30 * time.Minute), idleSince: &mark,
			run: false, desired: 0, idleMark: &mark},
		{name: "stopAfterIdle unset: still running after 29m", d: unset, now: mark.Add(29 * time.Minute), idleSince: &mark,
			run: true, desired: 1, idleMark: &mark, next: mark.Add(30 * time.Minute)},
		{name: "fleet stopped, idle within stopAfterIdle: not started for the spare", d: base, now: t0, idleSince: &mark, down: true,
			run: false, desired: 0, idleMark: &mark},
		{name: "fleet stopped, no idle mark yet: stays stopped, marked now", d: base, now: t0, down: true,
			run: false, desired: 0, idleMark: &t0},
		{name: "fleet stopped, 1 live: started", d: base, now: t0, live: 1, idleSince: &mark, down: true, run: true, desired: 2},
		{name: "fleet stopped, min 2: started", d: withMin, now: t0, idleSince: &mark, down: true, run: true, desired: 2, min: 2, idleMark: &mark},
		{name: "1 live: 1 + spare", d: base, now: t0, live: 1, idleSince: &mark, run: true, desired: 2},
		{name: "3 live: 3 + spare", d: base, now: t0, live: 3, run: true, desired: 4},
		{name: "9 live: 9 + spare = max", d: base, now: t0, live: 9, run: true, desired: 10},
		{name: "20 live: clamped to max 10", d: base, now: t0, live: 20, run: true, desired: 10},
		{name: "live long after an old idle mark: running, mark dropped", d: base, now: t0, live: 2, idleSince: ptr(t0.Add(-10 * time.Hour)),
			run: true, desired: 3},
		{name: "min 2, idle long: never stops", d: withMin, now: t0.Add(24 * time.Hour), idleSince: &mark,
			run: true, desired: 2, min: 2, idleMark: &mark},
		{name: "min 2, idle just now", d: withMin, now: t0, idleSince: &mark,
			run: true, desired: 2, min: 2, idleMark: &mark},
		{name: "min 2, 1 live: min wins over 1 + spare", d: withMin, now: t0, live: 1, run: true, desired: 2, min: 2},
		{name: "min 2, 4 live: 4 + spare", d: withMin, now: t0, live: 4, run: true, desired: 5, min: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Decide(Input{Spec: demandSpec(tc.d), Now: tc.now, Live: tc.live, IdleSince: tc.idleSince, FleetUp: !tc.down})
			if p.Policy != accessv1alpha1.CapacityDemand || !p.Managed {
				t.Fatalf("policy %s managed %v; want Demand, managed", p.Policy, p.Managed)
			}
			if p.Run != tc.run || p.Desired != tc.desired || p.Min != tc.min || p.Schedule != "" {
				t.Fatalf("run %v desired %d min %d schedule %q; want run %v desired %d min %d (why: %s)",
					p.Run, p.Desired, p.Min, p.Schedule, tc.run, tc.desired, tc.min, p.Why)
			}
			switch {
			case tc.idleMark == nil && p.IdleSince != nil:
				t.Fatalf("idle mark %v with %d live sessions", *p.IdleSince, tc.live)
			case tc.idleMark != nil && (p.IdleSince == nil || !p.IdleSince.Equal(*tc.idleMark)):
				t.Fatalf("idle mark %v; want %v", p.IdleSince, *tc.idleMark)
			}
			if !p.Next.Equal(tc.next) {
				t.Fatalf("next %v; want %v", p.Next, tc.next)
			}
			if p.Why == "" {
				t.Fatal("no reason given")
			}
		})
	}
}

// TestDecideIdleFollowsTheClock steps a clock through an idle period of a
// running fleet: the plan's Next is exactly when Run turns false, and the
// stopped fleet is not started again without a session.
func TestDecideIdleFollowsTheClock(t *testing.T) {
	spec := demandSpec(accessv1alpha1.DemandCapacity{Max: 10, Spare: 1, StopAfterIdle: minutes(30)})
	var idle *time.Time
	var stoppedAt time.Time
	up := true
	for now := t0; now.Before(t0.Add(2 * time.Hour)); now = now.Add(time.Minute) {
		p := Decide(Input{Spec: spec, Now: now, IdleSince: idle, FleetUp: up})
		idle, up = p.IdleSince, p.Run // the caller records the mark and carries the plan out
		if !p.Run && stoppedAt.IsZero() {
			stoppedAt = now
		}
		if p.Run && !stoppedAt.IsZero() {
			t.Fatalf("%v: running again after stopping at %v with no session", now, stoppedAt)
		}
		if p.Run && !p.Next.Equal(t0.Add(30*time.Minute)) {
			t.Fatalf("%v: next %v; want the stop at %v", now, p.Next, t0.Add(30*time.Minute))
		}
	}
	if !stoppedAt.Equal(t0.Add(30 * time.Minute)) {
		t.Fatalf("stopped at %v; want %v", stoppedAt, t0.Add(30*time.Minute))
	}
}

func TestStopAfterIdle(t *testing.T) {
	for _, tc := range []struct {
		d    *accessv1alpha1.DemandCapacity
		want time.Duration
	}{
		{nil, 30 * time.Minute},
		{&accessv1alpha1.DemandCapacity{}, 30 * time.Minute},
		{&accessv1alpha1.DemandCapacity{StopAfterIdle: metav1.Duration{Duration: -time.Minute}}, 30 * time.Minute},
		{&accessv1alpha1.DemandCapacity{StopAfterIdle: minutes(5)}, 5 * time.Minute},
	} {
		if got := StopAfterIdle(tc.d); got != tc.want {
			t.Errorf("StopAfterIdle(%+v) = %v; want %v", tc.d, got, tc.want)
		}
	}
	if DefaultStopAfterIdle != 30*time.Minute {
		t.Errorf("DefaultStopAfterIdle %v; the API documents 30m", DefaultStopAfterIdle)
	}
}

func TestExpectedWait(t *testing.T) {
	tests := []struct {
		name    string
		seconds []int32
		want    time.Duration
		ok      bool
	}{
		{name: "none observed", seconds: nil, ok: false},
		{name: "empty", seconds: []int32{}, ok: false},
		{name: "one", seconds: []int32{75}, want: 75 * time.Second, ok: true},
		{name: "odd count: the middle one", seconds: []int32{60, 120, 90}, want: 90 * time.Second, ok: true},
		{name: "odd count, unsorted, with an outlier", seconds: []int32{600, 40, 50, 45, 30}, want: 45 * time.Second, ok: true},
		// Even count: the higher of the two middle values (a conservative
		// estimate for a wait), not their mean.
		{name: "even count: the upper middle", seconds: []int32{120, 30, 90, 60}, want: 90 * time.Second, ok: true},
		{name: "two", seconds: []int32{100, 20}, want: 100 * time.Second, ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.seconds)
			got, ok := ExpectedWait(tc.seconds)
			if ok != tc.ok || got != tc.want {
				t.Fatalf("ExpectedWait(%v) = %v, %v; want %v, %v", tc.seconds, got, ok, tc.want, tc.ok)
			}
			if !slices.Equal(in, tc.seconds) {
				t.Fatalf("the input was reordered: %v, was %v", tc.seconds, in)
			}
		})
	}
}

func TestRecordStart(t *testing.T) {
	var s []int32
	for i, w := range []time.Duration{10 * time.Second, 20 * time.Second, 30 * time.Second, 40 * time.Second, 50 * time.Second} {
		s = RecordStart(s, w)
		if len(s) != i+1 || s[i] != int32(w/time.Second) {
			t.Fatalf("after %d: %v", i+1, s)
		}
	}
	before := slices.Clone(s)
	six := RecordStart(s, time.Minute)
	if want := []int32{20, 30, 40, 50, 60}; !slices.Equal(six, want) {
		t.Fatalf("sixth start: %v; want the last five %v", six, want)
	}
	if !slices.Equal(s, before) {
		t.Fatalf("the input was modified: %v, was %v", s, before)
	}
	seven := RecordStart(six, 70*time.Second)
	if want := []int32{30, 40, 50, 60, 70}; !slices.Equal(seven, want) {
		t.Fatalf("seventh start: %v; want %v", seven, want)
	}
	if got := RecordStart(nil, 1500*time.Millisecond); !slices.Equal(got, []int32{2}) {
		t.Errorf("1.5s recorded as %v; want rounded to [2]", got)
	}
	if got := RecordStart(nil, 1400*time.Millisecond); !slices.Equal(got, []int32{1}) {
		t.Errorf("1.4s recorded as %v; want rounded to [1]", got)
	}
	if got := RecordStart([]int32{5}, -3*time.Second); !slices.Equal(got, []int32{5, 0}) {
		t.Errorf("a negative wait recorded as %v; want [5 0]", got)
	}
}
