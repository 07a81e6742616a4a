package environment

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/capacity"
	"github.com/gatestream/gatestream/internal/metrics"
)

// SizedByDemand reports whether env's fleet is sized from its sessions.
func SizedByDemand(env *accessv1alpha1.RemoteAccessEnvironment) bool {
	return capacity.SizedByDemand(env.Spec.AppStream)
}

// planCapacity decides the fleet's capacity for this pass and records the
// decision in status.capacity.
func planCapacity(p *Pass, fleetState string) capacity.Plan {
	st := p.Env.Status.Capacity
	var idle *time.Time
	if st != nil && st.IdleSince != nil {
		idle = &st.IdleSince.Time
	} else if st == nil {
		// A new environment: idle since it was created (its fleet is created stopped).
		t := p.Env.CreationTimestamp.Time
		idle = &t
	}
	live := max(p.LiveSessions, 0)
	up := fleetState == "RUNNING" || fleetState == "STARTING"
	plan := capacity.Decide(capacity.Input{Spec: p.Env.Spec.AppStream, Now: p.Now, Live: live, IdleSince: idle, FleetUp: up})
	if !plan.Managed {
		p.Env.Status.Capacity = nil
		return plan
	}
	if st == nil {
		st = &accessv1alpha1.CapacityStatus{}
		p.Env.Status.Capacity = st
	}
	st.Policy, st.LiveSessions, st.Min, st.Schedule = plan.Policy, int32(live), plan.Min, plan.Schedule
	st.Desired = plan.Desired
	if !plan.Run {
		st.Desired = 0
	}
	st.IdleSince = nil
	if plan.IdleSince != nil {
		st.IdleSince = &metav1.Time{Time: plan.IdleSince.UTC().Truncate(time.Second)}
	}
	if plan.Policy == accessv1alpha1.CapacityFixed {
		st.IdleSince, st.LiveSessions = nil, 0 // Fixed does not count sessions
	}
	return plan
}

// capacityRequested notes that instances were asked for, to time their start.
func capacityRequested(p *Pass) {
	if st := p.Env.Status.Capacity; st != nil && st.StartRequestedAt == nil {
		st.StartRequestedAt = &metav1.Time{Time: p.Now.UTC().Truncate(time.Second)}
	}
}

// observeStart records how long the instances asked for took to run, once
// they all do: the expected wait that waiting sessions are told.
func observeStart(p *Pass, fs *accessv1alpha1.FleetStatus) {
	st := p.Env.Status.Capacity
	if st == nil || st.StartRequestedAt == nil || fs.State != "RUNNING" || fs.Running < fs.Desired {
		return
	}
	st.StartSeconds = capacity.RecordStart(st.StartSeconds, p.Now.Sub(st.StartRequestedAt.Time))
	st.StartRequestedAt = nil
}

// accountUsage integrates the fleet's instance time into status.usage (and
// the Prometheus counters), and counts the sessions given access.
func accountUsage(p *Pass, fs *accessv1alpha1.FleetStatus) {
	spec := p.Env.Spec.AppStream
	u := p.Env.Status.Usage
	if u == nil {
		u = &accessv1alpha1.UsageStatus{}
		p.Env.Status.Usage = u
	}
	running, inUse := fs.Running, fs.InUse
	if fs.State != "RUNNING" || spec.Fleet.FleetType == accessv1alpha1.FleetTypeElastic {
		running, inUse = 0, 0 // ELASTIC fleets bill per session: no instances to count
	}
	ns, name := p.Env.Namespace, p.Env.Name
	metrics.FleetCapacity.WithLabelValues(ns, name, "desired").Set(float64(fs.Desired))
	metrics.FleetCapacity.WithLabelValues(ns, name, "running").Set(float64(running))
	metrics.FleetCapacity.WithLabelValues(ns, name, "in_use").Set(float64(inUse))
	if wrote, d := capacity.Account(u, capacity.Sample{Now: p.Now, Running: running, InUse: inUse, FleetType: spec.Fleet.FleetType}); wrote {
		metrics.FleetInstanceSeconds.WithLabelValues(ns, name, "running").Add(float64(d.RunningSeconds))
		metrics.FleetInstanceSeconds.WithLabelValues(ns, name, "stopped").Add(float64(d.StoppedSeconds))
		estimateCost(p, u)
	}
	countServed(p, u)
}

// servedLag is how far behind the pass's clock sessions are counted: a
// session given access shortly before a pass may not be in the cache yet, and
// once the count moved past its issue time it would never be counted.
const servedLag = time.Minute

// countServed adds the sessions given access between the last count and
// servedLag ago, and their Napter mappings' time. The watermark moves only
// when it counts something, so a pass that counts nothing writes nothing.
func countServed(p *Pass, u *accessv1alpha1.UsageStatus) {
	var since time.Time
	if u.SessionsCountedUntil != nil {
		since = u.SessionsCountedUntil.Time
	}
	until := p.Now.Add(-servedLag).UTC().Truncate(time.Second)
	n := int64(0)
	for _, s := range p.SessionsIssued {
		if s.At.After(since) && !s.At.After(until) {
			n++
			secs := int64(s.Napter / time.Second)
			if s.At.UTC().Format("2006-01") != u.Month {
				// Counted in a later month than issued: the total only.
				u.NapterSecondsTotal += secs
				continue
			}
			u.NapterSecondsThisMonth += secs
			u.NapterSecondsTotal += secs
		}
	}
	if n > 0 {
		u.SessionsServed += n
		u.SessionsCountedUntil = &metav1.Time{Time: until}
		estimateCost(p, u)
	}
}

// estimateCost prices the usage with the user's prices: "" when some of it
// has no price (an estimate of part of the bill would mislead).
func estimateCost(p *Pass, u *accessv1alpha1.UsageStatus) {
	u.EstimatedCostThisMonth = estimate(p.Env.Spec, u.RunningInstanceSecondsThisMonth, u.StoppedInstanceSecondsThisMonth, u.NapterSecondsThisMonth)
	u.EstimatedCostTotal = estimate(p.Env.Spec, u.RunningInstanceSecondsTotal, u.StoppedInstanceSecondsTotal, u.NapterSecondsTotal)
}

func estimate(spec accessv1alpha1.RemoteAccessEnvironmentSpec, running, stopped, napter int64) string {
	minute := accessv1alpha1.Price("")
	if spec.Napter != nil {
		minute = spec.Napter.MinutePrice
	}
	if spec.AppStream.Prices == nil && minute == "" {
		return "" // no prices configured: no estimate
	}
	cost := "0.00"
	if running+stopped > 0 {
		c, ok := capacity.Cost(spec.AppStream.Prices, spec.AppStream.Fleet.InstanceType, running, stopped)
		if !ok {
			return ""
		}
		cost = c
	}
	if napter > 0 {
		if minute == "" {
			return ""
		}
		cost = capacity.AddNapter(cost, minute, napter)
	}
	return cost
}
