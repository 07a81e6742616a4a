// Package capacity decides how many AppStream instances an environment's
// fleet should run, and whether it should run at all, from its capacity
// policy and the StreamingSessions that are live on it. It is pure: the
// caller passes the clock and the observed counts, and carries the plan out
// with the fewest calls (one UpdateFleet per change of the desired count,
// never one per session).
package capacity

import (
	"fmt"
	"time"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

// DefaultStopAfterIdle is demand.stopAfterIdle when unset.
const DefaultStopAfterIdle = 30 * time.Minute

// SizedByDemand reports whether the fleet of an environment with spec is
// sized from its sessions (capacity Demand; ELASTIC fleets AWS sizes).
func SizedByDemand(spec accessv1alpha1.AppStreamSpec) bool {
	c := spec.Capacity
	return c != nil && c.Policy == accessv1alpha1.CapacityDemand && c.Demand != nil && spec.Fleet.FleetType != accessv1alpha1.FleetTypeElastic
}

// Input is what the plan looks at.
type Input struct {
	// Spec is spec.appStream (capacity, fleet type, desiredCapacity).
	Spec accessv1alpha1.AppStreamSpec
	// Now is the controller's clock.
	Now time.Time
	// Live is the number of live StreamingSessions on the environment.
	Live int
	// IdleSince is when the environment last had no live session (from
	// status; nil: not recorded yet).
	IdleSince *time.Time
	// FleetUp: the fleet is running or starting. An idle fleet keeps its
	// spare instances until stopAfterIdle; a stopped one is not started
	// for them (only a session, or min, starts it).
	FleetUp bool
}

// Plan is the fleet the policy wants.
type Plan struct {
	Policy accessv1alpha1.CapacityPolicy
	// Managed is false for ELASTIC fleets: AWS sizes them, nothing to decide.
	Managed bool
	// Run: the fleet should be RUNNING (false: STOPPED).
	Run bool
	// Desired instances while running.
	Desired int32
	// Min in force (demand.min or the highest active schedule's min) and the
	// schedule that set it ("" when none).
	Min      int32
	Schedule string
	// IdleSince is the idle mark to record (nil while sessions are live).
	IdleSince *time.Time
	// Why says in a sentence how Desired and Run were reached.
	Why string
	// Next is when the plan changes by time alone (a schedule opens or
	// closes, the idle time runs out); zero when nothing is due.
	Next time.Time
}

// Decide returns the plan for in.
func Decide(in Input) Plan {
	spec := in.Spec
	if spec.Fleet.FleetType == accessv1alpha1.FleetTypeElastic {
		return Plan{Policy: accessv1alpha1.CapacityFixed, Run: true,
			Why: fmt.Sprintf("ELASTIC fleet: AWS runs one instance per session, up to %d", spec.Fleet.MaxConcurrentSessions)}
	}
	c := spec.Capacity
	if c == nil || c.Policy != accessv1alpha1.CapacityDemand || c.Demand == nil {
		return Plan{Policy: accessv1alpha1.CapacityFixed, Managed: true, Run: true, Desired: spec.Fleet.DesiredCapacity,
			Why: fmt.Sprintf("capacity Fixed: %d instances", spec.Fleet.DesiredCapacity)}
	}
	d := c.Demand
	p := Plan{Policy: accessv1alpha1.CapacityDemand, Managed: true, Min: d.Min}
	var next time.Time
	for _, s := range d.Schedules {
		open, boundary := Window(s, in.Now)
		if open && s.Min > p.Min {
			p.Min, p.Schedule = s.Min, s.Name
		}
		next = earliest(next, boundary)
	}
	maxi := max(d.Max, p.Min)
	p.Desired = min(max(int32(in.Live)+d.Spare, p.Min), maxi)
	idle := StopAfterIdle(d)
	switch {
	case in.Live > 0:
		p.Run = true
		p.Why = fmt.Sprintf("capacity Demand: %d live sessions + %d spare, between min %d and max %d", in.Live, d.Spare, p.Min, maxi)
	case p.Min > 0:
		p.Run = true
		p.Why = fmt.Sprintf("capacity Demand: no live session; min %d%s", p.Min, scheduleNote(p.Schedule))
		mark := idleMark(in)
		p.IdleSince = &mark
	default:
		mark := idleMark(in)
		p.IdleSince = &mark
		stopAt := mark.Add(idle)
		if in.FleetUp && in.Now.Before(stopAt) {
			p.Run = true
			p.Why = fmt.Sprintf("capacity Demand: no live session since %s; keeping %d spare until %s (stopAfterIdle %s)",
				mark.UTC().Format(time.RFC3339), p.Desired, stopAt.UTC().Format(time.RFC3339), idle)
			next = earliest(next, stopAt)
		} else {
			p.Desired = 0
			p.Why = fmt.Sprintf("capacity Demand: no live session since %s (stopAfterIdle %s) and min 0: the fleet stops; the next session starts it",
				mark.UTC().Format(time.RFC3339), idle)
			if !in.FleetUp {
				p.Why = "capacity Demand: no live session and min 0: the fleet stays stopped; the next session starts it"
			}
		}
	}
	p.Next = next
	return p
}

func scheduleNote(name string) string {
	if name == "" {
		return ""
	}
	return " (schedule " + name + ")"
}

// idleMark is when the environment became idle: the recorded mark, or now.
func idleMark(in Input) time.Time {
	if in.IdleSince != nil && !in.IdleSince.After(in.Now) {
		return *in.IdleSince
	}
	return in.Now
}

// StopAfterIdle is d.StopAfterIdle with its default.
func StopAfterIdle(d *accessv1alpha1.DemandCapacity) time.Duration {
	if d == nil || d.StopAfterIdle.Duration <= 0 {
		return DefaultStopAfterIdle
	}
	return d.StopAfterIdle.Duration
}

func earliest(a, b time.Time) time.Time {
	switch {
	case b.IsZero():
		return a
	case a.IsZero() || b.Before(a):
		return b
	}
	return a
}

// ExpectedWait is the median of the observed start waits (ok false when
// none has been observed).
func ExpectedWait(seconds []int32) (time.Duration, bool) {
	if len(seconds) == 0 {
		return 0, false
	}
	s := append([]int32(nil), seconds...)
	for i := 1; i < len(s); i++ { // insertion sort: at most 5
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return time.Duration(s[len(s)/2]) * time.Second, true
}

// RecordStart appends an observed start wait, keeping the last five.
func RecordStart(seconds []int32, wait time.Duration) []int32 {
	out := append(append([]int32(nil), seconds...), int32(max(0, wait.Round(time.Second)/time.Second)))
	if len(out) > 5 {
		out = out[len(out)-5:]
	}
	return out
}
