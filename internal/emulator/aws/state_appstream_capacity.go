package aws

import (
	"time"
)

// Fleet capacity: the instances of ALWAYS_ON and ON_DEMAND fleets, and the
// usage ground truth (FleetUsage) integrated over them.
//
// A fleet record keeps the number of running instances (in use or available)
// and batches of pending instances with the time they become running
// (Options.FleetInstanceStartDelay after the capacity was raised). Instances
// in use are those with a live session (for multi-session fleets
// ceil(sessions / MaxSessionsPerInstance)). Like every other state machine of
// the world, capacity advances lazily: each request replays, in time order,
// the events that fell due since the last one (fleet transitions, pending
// instances becoming running, sessions reaching their maximum duration), and
// the usage counters are integrated piecewise constant between them.
//
// ELASTIC fleets have no instance capacity: each session runs on its own
// instance, bounded by MaxConcurrentSessions.

// pendingBatch is a number of instances that become running at readyAt.
type pendingBatch struct {
	n       int32
	readyAt time.Time
}

// FleetUsage is the emulator's ground truth of a fleet's use, integrated on
// the world's clock since the fleet was created.
type FleetUsage struct {
	// RunningInstanceSeconds integrates running instances (in use or
	// available; pending ones excluded) over time; InUseInstanceSeconds
	// integrates instances with a live session. For ELASTIC fleets both
	// integrate live sessions (one instance each).
	RunningInstanceSeconds, InUseInstanceSeconds float64
	// Starts counts StartFleet calls that moved the fleet to STARTING, Stops
	// StopFleet calls that moved it to STOPPING.
	Starts, Stops int
	// CapacityChanges counts UpdateFleet calls that changed the desired
	// capacity (DesiredInstances or DesiredSessions).
	CapacityChanges int
}

// FleetUsage returns the usage of a fleet up to now; false if there is no such fleet.
func (w *World) FleetUsage(name string) (FleetUsage, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	f, ok := w.fleets[name]
	if !ok {
		return FleetUsage{}, false
	}
	return f.usage, true
}

// SetFleetInstanceStartDelay sets Options.FleetInstanceStartDelay for
// capacity raised from now on (batches already pending keep their time).
func (w *World) SetFleetInstanceStartDelay(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fleetInstStart = d
}

// desiredCount is the fleet's desired number of instances.
func (f *fleetRec) desiredCount() int32 {
	if f.MaxSessionsPerInstance != nil && f.desiredSessions > 0 {
		per := *f.MaxSessionsPerInstance
		return (f.desiredSessions + per - 1) / per
	}
	return f.desiredInstances
}

// liveSessions counts the fleet's sessions that have not ended.
func (w *World) liveSessions(f *fleetRec) int32 {
	n := int32(0)
	for _, s := range w.sessions {
		if s.FleetName == f.Name && s.State != SessionExpired {
			n++
		}
	}
	return n
}

// instancesInUse is the number of instances hosting the fleet's live sessions.
func (w *World) instancesInUse(f *fleetRec) int32 {
	n := w.liveSessions(f)
	if per := f.MaxSessionsPerInstance; per != nil && *per > 0 {
		n = (n + *per - 1) / *per
	}
	return n
}

// integrate adds the usage from the last integration up to t (no-op for t
// before it). The counts are those in force since the last state change.
func (w *World) integrate(f *fleetRec, t time.Time) {
	if !t.After(f.usageAt) {
		return
	}
	dt := t.Sub(f.usageAt).Seconds()
	f.usageAt = t
	var running, inUse int32
	switch {
	case f.State != FleetRunning:
	case f.FleetType == "ELASTIC":
		running = w.liveSessions(f)
		inUse = running
	default:
		running = f.running
		inUse = min(w.instancesInUse(f), running)
	}
	f.usage.RunningInstanceSeconds += float64(running) * dt
	f.usage.InUseInstanceSeconds += float64(inUse) * dt
}

// shrink terminates instances beyond the desired capacity that no session
// uses: running = max(desired, in use). Pending instances are not touched
// (resize cancels them). A fleet that is not RUNNING has no instances.
func (w *World) shrink(f *fleetRec) {
	if f.State != FleetRunning || f.FleetType == "ELASTIC" {
		f.running, f.pending = 0, nil
		return
	}
	if want := f.desiredCount(); f.running > want {
		f.running = max(want, w.instancesInUse(f))
	}
}

// resize brings a RUNNING fleet's instances towards its desired capacity at
// now: pending instances beyond it are cancelled first (newest first), then
// available running ones are terminated; missing ones are launched and become
// running after fleetInstStart. The caller has integrated usage up to now.
func (w *World) resize(f *fleetRec, now time.Time) {
	if f.State != FleetRunning || f.FleetType == "ELASTIC" {
		f.running, f.pending = 0, nil
		return
	}
	want := f.desiredCount()
	pend := int32(0)
	for _, p := range f.pending {
		pend += p.n
	}
	for len(f.pending) > 0 && f.running+pend > want {
		last := &f.pending[len(f.pending)-1]
		cut := min(last.n, f.running+pend-want)
		last.n -= cut
		pend -= cut
		if last.n == 0 {
			f.pending = f.pending[:len(f.pending)-1]
		}
	}
	w.shrink(f)
	if add := want - f.running - pend; add > 0 {
		if w.fleetInstStart <= 0 {
			f.running += add
		} else {
			f.pending = append(f.pending, pendingBatch{n: add, readyAt: now.Add(w.fleetInstStart)})
		}
	}
}

// advanceFleet replays the fleet's events due by t in time order and
// integrates its usage up to t.
func (w *World) advanceFleet(f *fleetRec, t time.Time) {
	for w.stepFleet(f, t) {
	}
	w.integrate(f, t)
}

// stepFleet applies the earliest event due by t; false when none is.
func (w *World) stepFleet(f *fleetRec, t time.Time) bool {
	switch f.State {
	case FleetStarting:
		if t.Before(f.transitionAt) {
			return false
		}
		if errs := w.fleetErrors(f); len(errs) > 0 {
			// Reference §2.3: a fleet that cannot start stays STARTING with FleetErrors
			// (TFI-20994). It proceeds once the world is repaired.
			f.FleetErrors = errs
			return false
		}
		at := f.transitionAt
		if f.FleetErrors != nil {
			at = t // repaired since an earlier request saw the errors: it starts now
		}
		w.integrate(f, at)
		// The fleet comes up with its desired instances running.
		f.State, f.FleetErrors = FleetRunning, nil
		f.running, f.pending = f.desiredCount(), nil
		if f.FleetType == "ELASTIC" {
			f.running = 0
		}
		return true
	case FleetStopping:
		if t.Before(f.transitionAt) {
			return false
		}
		w.integrate(f, f.transitionAt)
		f.State = FleetStopped
		return true
	case FleetRunning:
		var at time.Time
		found := false
		due := func(x time.Time) {
			if !x.IsZero() && !x.After(t) && (!found || x.Before(at)) {
				at, found = x, true
			}
		}
		for _, p := range f.pending {
			due(p.readyAt)
		}
		for _, s := range w.sessions {
			if s.FleetName == f.Name && s.State != SessionExpired {
				due(s.MaxExpirationTime)
			}
		}
		if !found {
			return false
		}
		w.integrate(f, at)
		kept := f.pending[:0]
		for _, p := range f.pending {
			if p.readyAt.After(at) {
				kept = append(kept, p)
			} else {
				f.running += p.n
			}
		}
		f.pending = kept
		for _, s := range w.sessions {
			if s.FleetName == f.Name && s.State != SessionExpired && !s.MaxExpirationTime.IsZero() && !s.MaxExpirationTime.After(at) {
				w.endSession(s)
			}
		}
		return true
	}
	return false
}
