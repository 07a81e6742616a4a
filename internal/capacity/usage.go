package capacity

import (
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

// UsageFlush is how often an unchanged fleet's usage is written to status:
// the count between samples is exact (the instances are piecewise constant
// between observations), so a pass that observed no change writes nothing
// until this much time has accumulated.
const UsageFlush = 15 * time.Minute

// Sample is one observation of the fleet's instances.
type Sample struct {
	Now time.Time
	// Running and InUse are the instances observed now (0 for a stopped fleet).
	Running, InUse int32
	FleetType      accessv1alpha1.FleetType
}

// Delta is the instance time one Account added (for the Prometheus counters).
type Delta struct {
	RunningSeconds, StoppedSeconds int64
}

// Account brings u up to s: the instances observed at the last sample are
// counted until now (split at a month boundary), then s becomes the sample.
// It reports whether u changed in a way worth writing (the instances
// changed, the month turned, or UsageFlush passed) and what it added.
// ALWAYS_ON bills every running instance at the running rate; ON_DEMAND bills
// streaming instances at the running rate and the others at the stopped rate.
func Account(u *accessv1alpha1.UsageStatus, s Sample) (write bool, d Delta) {
	now := s.Now.UTC().Truncate(time.Second)
	if u.SampledAt == nil {
		u.SampledAt, u.Running, u.InUse, u.Month = &metav1.Time{Time: now}, s.Running, s.InUse, month(now)
		u.PeakInUse = max(u.PeakInUse, s.InUse)
		return true, d
	}
	last := u.SampledAt.UTC()
	if now.Before(last) {
		return false, d // a clock that went back: count nothing twice
	}
	changed := s.Running != u.Running || s.InUse != u.InUse || month(now) != u.Month
	if !changed && now.Sub(last) < UsageFlush {
		return false, d
	}
	for t := last; t.Before(now); {
		end := now
		if b := nextMonth(t); b.Before(end) {
			end = b
		}
		if month(t) != u.Month {
			u.Month, u.RunningInstanceSecondsThisMonth, u.StoppedInstanceSecondsThisMonth = month(t), 0, 0
		}
		secs := int64(end.Sub(t) / time.Second)
		run, stop := billed(s.FleetType, u.Running, u.InUse)
		u.RunningInstanceSecondsThisMonth += run * secs
		u.StoppedInstanceSecondsThisMonth += stop * secs
		u.RunningInstanceSecondsTotal += run * secs
		u.StoppedInstanceSecondsTotal += stop * secs
		d.RunningSeconds += run * secs
		d.StoppedSeconds += stop * secs
		t = end
	}
	if month(now) != u.Month {
		u.Month, u.RunningInstanceSecondsThisMonth, u.StoppedInstanceSecondsThisMonth = month(now), 0, 0
	}
	u.SampledAt, u.Running, u.InUse = &metav1.Time{Time: now}, s.Running, s.InUse
	u.PeakInUse = max(u.PeakInUse, s.InUse)
	return true, d
}

// billed splits instances into those billed at the running and the stopped rate.
func billed(t accessv1alpha1.FleetType, running, inUse int32) (run, stop int64) {
	if t == accessv1alpha1.FleetTypeOnDemand {
		in := min(inUse, running)
		return int64(in), int64(running - in)
	}
	return int64(running), 0
}

func month(t time.Time) string { return t.UTC().Format("2006-01") }

func nextMonth(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
}

// Cost prices instance time with the user's prices for instance type; ok is
// false when no price is given for it.
func Cost(p *accessv1alpha1.Prices, instanceType string, runningSeconds, stoppedSeconds int64) (string, bool) {
	if p == nil {
		return "", false
	}
	run, okRun := price(p.RunningInstanceHour, instanceType)
	stop, okStop := price(p.StoppedInstanceHour, instanceType)
	if !okRun && !(okStop && runningSeconds == 0) {
		return "", false
	}
	total := run * float64(runningSeconds) / 3600
	if stoppedSeconds > 0 {
		if !okStop {
			return "", false
		}
		total += stop * float64(stoppedSeconds) / 3600
	}
	return strconv.FormatFloat(total, 'f', 2, 64), true
}

func price(m map[string]accessv1alpha1.Price, key string) (float64, bool) {
	v, ok := m[key]
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	return f, err == nil
}

// AddNapter adds Napter time at perMinute to cost ("" counts as 0).
func AddNapter(cost string, perMinute accessv1alpha1.Price, seconds int64) string {
	p, err := strconv.ParseFloat(string(perMinute), 64)
	if err != nil {
		return cost
	}
	base, _ := strconv.ParseFloat(cost, 64)
	return strconv.FormatFloat(base+p*float64(seconds)/60, 'f', 2, 64)
}
