package capacity

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

const (
	alwaysOn = accessv1alpha1.FleetTypeAlwaysOn
	onDemand = accessv1alpha1.FleetTypeOnDemand
)

func sample(now time.Time, running, inUse int32, ft accessv1alpha1.FleetType) Sample {
	return Sample{Now: now, Running: running, InUse: inUse, FleetType: ft}
}

func TestAccountFirstSampleOnlyRecords(t *testing.T) {
	var u accessv1alpha1.UsageStatus
	write, d := Account(&u, sample(t0.Add(300*time.Millisecond), 2, 1, alwaysOn))
	if !write || d != (Delta{}) {
		t.Fatalf("write %v delta %+v; want a write and nothing counted", write, d)
	}
	if u.SampledAt == nil || !u.SampledAt.Time.Equal(t0) || u.Running != 2 || u.InUse != 1 || u.Month != "2026-09" || u.PeakInUse != 1 {
		t.Fatalf("usage %+v; want the sample recorded at %v (whole seconds)", u, t0)
	}
	if u.RunningInstanceSecondsThisMonth != 0 || u.RunningInstanceSecondsTotal != 0 || u.StoppedInstanceSecondsThisMonth != 0 || u.StoppedInstanceSecondsTotal != 0 {
		t.Fatalf("usage %+v: counted on the first sample", u)
	}
}

func TestAccount(t *testing.T) {
	tests := []struct {
		name          string
		first, second Sample
		write         bool
		delta         Delta
		month         string
		runMonth      int64
		stopMonth     int64
		runTotal      int64
		stopTotal     int64
	}{
		{name: "ALWAYS_ON: 2 running for exactly 1 h", first: sample(t0, 2, 0, alwaysOn), second: sample(t0.Add(time.Hour), 2, 0, alwaysOn),
			write: true, delta: Delta{RunningSeconds: 7200}, month: "2026-09", runMonth: 7200, runTotal: 7200},
		{name: "ALWAYS_ON: in use makes no difference", first: sample(t0, 2, 2, alwaysOn), second: sample(t0.Add(time.Hour), 2, 2, alwaysOn),
			write: true, delta: Delta{RunningSeconds: 7200}, month: "2026-09", runMonth: 7200, runTotal: 7200},
		{name: "ON_DEMAND: 3 running, 1 in use for 1 h", first: sample(t0, 3, 1, onDemand), second: sample(t0.Add(time.Hour), 3, 1, onDemand),
			write: true, delta: Delta{RunningSeconds: 3600, StoppedSeconds: 7200}, month: "2026-09", runMonth: 3600, stopMonth: 7200, runTotal: 3600, stopTotal: 7200},
		{name: "ON_DEMAND: in use above running counts running", first: sample(t0, 1, 3, onDemand), second: sample(t0.Add(time.Hour), 1, 3, onDemand),
			write: true, delta: Delta{RunningSeconds: 3600}, month: "2026-09", runMonth: 3600, runTotal: 3600},
		{name: "a change counts the old instances until now", first: sample(t0, 2, 0, alwaysOn), second: sample(t0.Add(10*time.Minute), 5, 0, alwaysOn),
			write: true, delta: Delta{RunningSeconds: 1200}, month: "2026-09", runMonth: 1200, runTotal: 1200},
		{name: "a stopped fleet counts nothing, but its start is written", first: sample(t0, 0, 0, alwaysOn), second: sample(t0.Add(time.Minute), 1, 0, alwaysOn),
			write: true, month: "2026-09"},
		{name: "no change within UsageFlush: nothing written", first: sample(t0, 2, 1, onDemand), second: sample(t0.Add(UsageFlush-time.Second), 2, 1, onDemand),
			write: false, month: "2026-09"},
		{name: "no change, UsageFlush passed: written", first: sample(t0, 2, 1, onDemand), second: sample(t0.Add(UsageFlush), 2, 1, onDemand),
			write: true, delta: Delta{RunningSeconds: 900, StoppedSeconds: 900}, month: "2026-09", runMonth: 900, stopMonth: 900, runTotal: 900, stopTotal: 900},
		{name: "a clock that goes back counts nothing", first: sample(t0, 2, 1, alwaysOn), second: sample(t0.Add(-time.Hour), 4, 1, alwaysOn),
			write: false, month: "2026-09"},
		{name: "across a month boundary: split",
			first:  sample(time.Date(2026, 11, 30, 23, 30, 0, 0, time.UTC), 2, 0, alwaysOn),
			second: sample(time.Date(2026, 12, 1, 0, 30, 0, 0, time.UTC), 2, 0, alwaysOn),
			write:  true, delta: Delta{RunningSeconds: 7200}, month: "2026-12", runMonth: 3600, runTotal: 7200},
		{name: "across a year boundary, ON_DEMAND",
			first:  sample(time.Date(2026, 12, 31, 23, 45, 0, 0, time.UTC), 2, 1, onDemand),
			second: sample(time.Date(2027, 1, 1, 0, 15, 0, 0, time.UTC), 2, 1, onDemand),
			write:  true, delta: Delta{RunningSeconds: 1800, StoppedSeconds: 1800}, month: "2027-01", runMonth: 900, stopMonth: 900, runTotal: 1800, stopTotal: 1800},
		{name: "the month turned within UsageFlush: written, the new month from 0",
			first:  sample(time.Date(2026, 9, 30, 23, 59, 0, 0, time.UTC), 1, 0, alwaysOn),
			second: sample(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), 1, 0, alwaysOn),
			write:  true, delta: Delta{RunningSeconds: 60}, month: "2026-10", runMonth: 0, runTotal: 60},
		{name: "months without a sample: only the last month's part this month",
			first:  sample(time.Date(2026, 9, 30, 12, 0, 0, 0, time.UTC), 1, 0, alwaysOn),
			second: sample(time.Date(2026, 11, 1, 1, 0, 0, 0, time.UTC), 1, 0, alwaysOn),
			write:  true, delta: Delta{RunningSeconds: (12 + 31*24 + 1) * 3600}, month: "2026-11", runMonth: 3600, runTotal: (12 + 31*24 + 1) * 3600},
		{name: "a sample in another zone is the same instant",
			first:  sample(t0, 1, 0, alwaysOn),
			second: sample(t0.Add(time.Hour).In(time.FixedZone("JST", 9*3600)), 1, 0, alwaysOn),
			write:  true, delta: Delta{RunningSeconds: 3600}, month: "2026-09", runMonth: 3600, runTotal: 3600},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var u accessv1alpha1.UsageStatus
			Account(&u, tc.first)
			before := *u.DeepCopy()
			write, d := Account(&u, tc.second)
			if write != tc.write || d != tc.delta {
				t.Fatalf("write %v delta %+v; want %v %+v", write, d, tc.write, tc.delta)
			}
			if u.Month != tc.month || u.RunningInstanceSecondsThisMonth != tc.runMonth || u.StoppedInstanceSecondsThisMonth != tc.stopMonth ||
				u.RunningInstanceSecondsTotal != tc.runTotal || u.StoppedInstanceSecondsTotal != tc.stopTotal {
				t.Fatalf("usage %+v; want month %s, this month %d/%d, total %d/%d", u, tc.month, tc.runMonth, tc.stopMonth, tc.runTotal, tc.stopTotal)
			}
			// The delta is what the totals gained.
			if d.RunningSeconds != u.RunningInstanceSecondsTotal-before.RunningInstanceSecondsTotal ||
				d.StoppedSeconds != u.StoppedInstanceSecondsTotal-before.StoppedInstanceSecondsTotal {
				t.Fatalf("delta %+v; totals went from %+v to %+v", d, before, u)
			}
			if !tc.write {
				if !equality.Semantic.DeepEqual(before, u) {
					t.Fatalf("no write, but usage changed from %+v to %+v", before, u)
				}
				return
			}
			want := tc.second.Now.UTC().Truncate(time.Second)
			if !u.SampledAt.Time.Equal(want) || u.Running != tc.second.Running || u.InUse != tc.second.InUse {
				t.Fatalf("usage %+v; want the second sample recorded", u)
			}
		})
	}
}

// TestAccountHoldsTimeUntilFlushed: the samples that write nothing lose no
// time, and many small passes add up to the exact instance time.
func TestAccountHoldsTimeUntilFlushed(t *testing.T) {
	var u accessv1alpha1.UsageStatus
	Account(&u, sample(t0, 2, 0, alwaysOn))
	var sum Delta
	writes := 0
	for s := 37 * time.Second; s <= 2*time.Hour; s += 37 * time.Second {
		w, d := Account(&u, sample(t0.Add(s), 2, 0, alwaysOn))
		if w {
			writes++
		}
		sum.RunningSeconds += d.RunningSeconds
		sum.StoppedSeconds += d.StoppedSeconds
	}
	// The passes since the last write are not counted yet; a change at 2 h flushes them.
	w, d := Account(&u, sample(t0.Add(2*time.Hour), 3, 0, alwaysOn))
	if !w {
		t.Fatal("a change was not written")
	}
	sum.RunningSeconds += d.RunningSeconds
	if sum.RunningSeconds != 2*2*3600 || u.RunningInstanceSecondsTotal != 2*2*3600 || u.RunningInstanceSecondsThisMonth != 2*2*3600 {
		t.Fatalf("sum %+v, usage %+v; want %d running seconds", sum, u, 2*2*3600)
	}
	if writes < 7 || writes > 8 { // one write per UsageFlush (15m) in 2 h
		t.Fatalf("%d writes in 2 h of no change; want one per %v", writes, UsageFlush)
	}
}

func TestAccountPeakInUse(t *testing.T) {
	var u accessv1alpha1.UsageStatus
	for i, inUse := range []int32{1, 4, 2, 0, 3} {
		Account(&u, sample(t0.Add(time.Duration(i)*time.Minute), 5, inUse, onDemand))
	}
	if u.PeakInUse != 4 {
		t.Fatalf("peak %d; want 4", u.PeakInUse)
	}
	// A peak recorded before (an older status) is kept by the first sample.
	v := accessv1alpha1.UsageStatus{PeakInUse: 9}
	Account(&v, sample(t0, 5, 2, onDemand))
	if v.PeakInUse != 9 {
		t.Fatalf("peak %d; want the recorded 9", v.PeakInUse)
	}
}

func TestAccountKeepsCountingAcrossSamples(t *testing.T) {
	u := accessv1alpha1.UsageStatus{
		Month: "2026-09", RunningInstanceSecondsThisMonth: 1000, StoppedInstanceSecondsThisMonth: 500,
		RunningInstanceSecondsTotal: 10000, StoppedInstanceSecondsTotal: 5000,
		SampledAt: &metav1.Time{Time: t0}, Running: 2, InUse: 1,
	}
	w, d := Account(&u, sample(t0.Add(time.Hour), 1, 1, onDemand))
	if !w || d != (Delta{RunningSeconds: 3600, StoppedSeconds: 3600}) {
		t.Fatalf("write %v delta %+v", w, d)
	}
	if u.RunningInstanceSecondsThisMonth != 4600 || u.StoppedInstanceSecondsThisMonth != 4100 ||
		u.RunningInstanceSecondsTotal != 13600 || u.StoppedInstanceSecondsTotal != 8600 {
		t.Fatalf("usage %+v: the recorded counters were not added to", u)
	}
}

func TestCost(t *testing.T) {
	const medium = "stream.standard.medium"
	prices := &accessv1alpha1.Prices{
		RunningInstanceHour: map[string]accessv1alpha1.Price{medium: "0.25", "stream.standard.large": "0.5"},
		StoppedInstanceHour: map[string]accessv1alpha1.Price{medium: "0.025"},
	}
	runningOnly := &accessv1alpha1.Prices{RunningInstanceHour: map[string]accessv1alpha1.Price{medium: "0.25"}}
	stoppedOnly := &accessv1alpha1.Prices{StoppedInstanceHour: map[string]accessv1alpha1.Price{medium: "0.025"}}
	tests := []struct {
		name             string
		p                *accessv1alpha1.Prices
		typ              string
		running, stopped int64
		want             string
		ok               bool
	}{
		{name: "2 instance-hours at 0.25", p: prices, typ: medium, running: 7200, want: "0.50", ok: true},
		{name: "nothing used", p: prices, typ: medium, want: "0.00", ok: true},
		{name: "stopped seconds at the stopped price", p: prices, typ: medium, running: 3600, stopped: 7200, want: "0.30", ok: true},
		{name: "another type's price", p: prices, typ: "stream.standard.large", running: 3600, want: "0.50", ok: true},
		{name: "no price for the type", p: prices, typ: "stream.compute.large", running: 3600, ok: false},
		{name: "no prices", p: nil, typ: medium, running: 3600, ok: false},
		{name: "empty prices", p: &accessv1alpha1.Prices{}, typ: medium, running: 3600, ok: false},
		{name: "stopped seconds without a stopped price", p: runningOnly, typ: medium, running: 3600, stopped: 3600, ok: false},
		{name: "no stopped seconds: no stopped price needed", p: runningOnly, typ: medium, running: 3600, want: "0.25", ok: true},
		{name: "only stopped seconds with only a stopped price", p: stoppedOnly, typ: medium, stopped: 7200, want: "0.05", ok: true},
		{name: "running seconds without a running price", p: stoppedOnly, typ: medium, running: 1, stopped: 7200, ok: false},
		{name: "an unparsable price", p: &accessv1alpha1.Prices{RunningInstanceHour: map[string]accessv1alpha1.Price{medium: "a quarter"}}, typ: medium, running: 3600, ok: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Cost(tc.p, tc.typ, tc.running, tc.stopped)
			if ok != tc.ok || got != tc.want {
				t.Fatalf("Cost = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
