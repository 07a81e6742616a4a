package environment_test

import (
	"math"
	"testing"
	"time"

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
