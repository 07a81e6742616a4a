package environment_test

import (
	"math"
	"testing"
	"time"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/hack/capacityweek/week"
)

// TestWeekCapacity runs the first two working days of go run
// ./hack/capacityweek's simulated week (12 sessions of 20 minutes, some
// overlapping; a pass every simulated minute) under the three capacity
// configurations, and checks what must hold whatever the figures:
// capacity Demand provisions fewer instance-hours than Fixed; the
// operator's status.usage matches the emulator's ground truth within one
// pass interval per change it observed; Demand makes at most one
// UpdateFleet per change of the live-session count; every session gets an
// instance; and no in-use instance is taken away.
func TestWeekCapacity(t *testing.T) {
	const horizon = 2 * 24 * time.Hour
	var results []week.Result
	for _, c := range week.Configs() {
		r, err := week.Run(t.Context(), week.Options{Config: c, Mode: week.EveryMinute, Horizon: horizon})
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		results = append(results, r)
		t.Logf("%s: %.2f instance-hours provisioned (%.2f in use), %d starts, %d stops, %d UpdateFleet, %d AppStream calls by the operator",
			r.Config, r.ProvisionedHours(), r.Truth.InUseInstanceSeconds/3600, r.Truth.Starts, r.Truth.Stops,
			week.Sum(r.OperatorCalls, "appstream", "UpdateFleet"), week.Sum(r.OperatorCalls, "appstream", ""))
		checkWeek(t, r, c.Capacity != nil && c.Capacity.Demand != nil)
	}
	fixed, demand := results[0], results[1]
	if demand.ProvisionedHours() >= fixed.ProvisionedHours() {
		t.Errorf("Demand provisioned %.2f instance-hours, Fixed %.2f: want fewer under Demand", demand.ProvisionedHours(), fixed.ProvisionedHours())
	}
}

func checkWeek(t *testing.T, r week.Result, demand bool) {
	t.Helper()
	if len(r.Sessions) != 12 {
		t.Fatalf("%s: %d sessions simulated, want the 12 of Monday and Tuesday", r.Config, len(r.Sessions))
	}
	for _, e := range r.PassErrors {
		t.Errorf("%s: pass failed: %s", r.Config, e)
	}
	for _, s := range r.Sessions {
		if s.StartedAt.IsZero() {
			t.Errorf("%s: %s (requested %s) never got an instance", r.Config, s.User, s.RequestedAt.Format(time.RFC3339))
		}
		if s.EndedEarly {
			t.Errorf("%s: AppStream ended %s's session (started %s) before its 20 minutes: an in-use instance was removed",
				r.Config, s.User, s.StartedAt.Format(time.RFC3339))
		}
	}
	// status.usage against the ground truth (ON_DEMAND: running rate = in use).
	provisioned := float64(r.OperatorRunningSeconds + r.OperatorStoppedSeconds)
	if d := math.Abs(provisioned - r.Truth.RunningInstanceSeconds); d > r.UsageTolerance {
		t.Errorf("%s: status.usage counts %.0f instance-seconds provisioned, the emulator %.0f: off by %.0f, more than %.0f",
			r.Config, provisioned, r.Truth.RunningInstanceSeconds, d, r.UsageTolerance)
	}
	if d := math.Abs(float64(r.OperatorRunningSeconds) - r.Truth.InUseInstanceSeconds); d > r.UsageTolerance {
		t.Errorf("%s: status.usage counts %d instance-seconds streaming, the emulator %.0f: off by %.0f, more than %.0f",
			r.Config, r.OperatorRunningSeconds, r.Truth.InUseInstanceSeconds, d, r.UsageTolerance)
	}
	if r.Truth.RunningInstanceSeconds == 0 {
		t.Errorf("%s: the fleet never ran", r.Config)
	}
	if demand {
		if n := week.Sum(r.OperatorCalls, "appstream", "UpdateFleet"); n > r.LiveChanges {
			t.Errorf("%s: %d UpdateFleet calls for %d changes of the live-session count", r.Config, n, r.LiveChanges)
		}
		if r.FleetState != "STOPPED" {
			t.Errorf("%s: fleet %s at the end of Tuesday, want STOPPED (idle since 17:00)", r.Config, r.FleetState)
		}
	}
}

// TestScheduleRaisesAndLowersMin: with no session at all, the business-hours
// schedule (Mon–Fri 08:30–17:30 UTC, min 1) starts the fleet at 08:30 by
// the clock alone (the pass asked to be woken then), keeps one instance
// through the day, and the fleet stops when the window closes (nothing was
// ever live: nothing to keep a spare for). The reconciler's own requeues
// drive the passes.
func TestScheduleRaisesAndLowersMin(t *testing.T) {
	type sample struct {
		at    time.Time
		state string
		want  int32
	}
	var trace []sample
	c := week.Configs()[2]
	r, err := week.Run(t.Context(), week.Options{Config: c, Mode: week.Reconciler, Horizon: 24 * time.Hour, Requests: []time.Time{},
		Trace: func(now time.Time, _ int, fleet accessv1alpha1.FleetStatus, _ time.Duration) {
			trace = append(trace, sample{now, fleet.State, fleet.Desired})
		}})
	if err != nil {
		t.Fatal(err)
	}
	day := week.Start
	opens, closes := day.Add(8*time.Hour+30*time.Minute), day.Add(17*time.Hour+30*time.Minute)
	var startedAt, stoppedAt time.Time
	for _, s := range trace {
		switch {
		case s.at.Before(opens) && s.state != "STOPPED":
			t.Fatalf("fleet %s at %s, before the schedule opened", s.state, s.at.Format(time.RFC3339))
		case startedAt.IsZero() && s.state == "STARTING":
			startedAt = s.at
		case !startedAt.IsZero() && stoppedAt.IsZero() && s.at.After(closes) && (s.state == "STOPPING" || s.state == "STOPPED"):
			stoppedAt = s.at
		case s.at.After(opens.Add(15*time.Minute)) && s.at.Before(closes) && (s.state != "RUNNING" || s.want != 1):
			t.Fatalf("fleet %s with %d desired at %s, inside the window (want RUNNING with 1)", s.state, s.want, s.at.Format(time.RFC3339))
		}
	}
	if startedAt.Before(opens) || startedAt.After(opens.Add(time.Minute)) {
		t.Fatalf("fleet started at %s; want at %s, when the schedule opened", startedAt.Format(time.RFC3339), opens.Format(time.RFC3339))
	}
	if stoppedAt.IsZero() || stoppedAt.After(closes.Add(time.Minute)) {
		t.Fatalf("fleet stopping at %v; want at %s, when the schedule closed", stoppedAt, closes.Format(time.RFC3339))
	}
	if r.Truth.Starts != 1 || r.Truth.Stops != 1 {
		t.Fatalf("%d starts, %d stops; want one of each", r.Truth.Starts, r.Truth.Stops)
	}
}
