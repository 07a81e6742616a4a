package session

import (
	"fmt"
	"time"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/capacity"
)

// Capacity is the environment's fleet as its last pass observed it, for
// sessions on an environment sized by capacity Demand (nil otherwise:
// capacity Fixed keeps its instances running, and sessions mint at once).
type Capacity struct {
	Fleet string
	// State is the fleet's state (RUNNING, STARTING, STOPPED…).
	State string
	// Running and InUse are its instances.
	Running, InUse int32
	// StartSeconds are the observed waits for instances (status.capacity).
	StartSeconds []int32
	// StartRequestedAt is when instances were last asked for (zero: none awaited).
	StartRequestedAt time.Time
}

// capacityOf reads the capacity view of a Demand environment (nil for Fixed).
func capacityOf(env *accessv1alpha1.RemoteAccessEnvironment) *Capacity {
	if !capacity.SizedByDemand(env.Spec.AppStream) {
		return nil
	}
	out := &Capacity{}
	if f := env.Status.Fleet; f != nil {
		out.Fleet, out.State, out.Running, out.InUse = f.Name, f.State, f.Running, f.InUse
	}
	if st := env.Status.Capacity; st != nil {
		out.StartSeconds = st.StartSeconds
		if st.StartRequestedAt != nil {
			out.StartRequestedAt = st.StartRequestedAt.Time
		}
	}
	return out
}

// freeFor reports whether an instance is free for a session with a ahead of
// it, and if not, why (with the expected wait). An instance is taken by
// every Ready session (its URL takes one when opened) and every Active one;
// the fleet's own in-use count stands for those when it is higher (sessions
// started outside gatestream, or not yet seen ending). The sessions waiting
// ahead are served first.
func (c *Capacity) freeFor(a Ahead, now time.Time) (bool, string) {
	taken := int32(a.Unopened) + max(c.InUse, int32(a.Active))
	free := int32(0)
	if c.State == "RUNNING" {
		free = c.Running - taken
	}
	if free > int32(a.Waiting) {
		return true, ""
	}
	queue := ""
	if a.Waiting > 0 {
		queue = fmt.Sprintf("; %d session(s) ahead of this one", a.Waiting)
	}
	state := fmt.Sprintf("fleet %s is %s with %d of %d instances free%s", c.Fleet, c.State, max(free, 0), c.Running, queue)
	if c.State == "STOPPED" || c.State == "" {
		state = fmt.Sprintf("fleet %s is stopped%s; it starts for this session", c.Fleet, queue)
	}
	return false, "waiting for capacity: " + state + "; " + c.expectedWait(now)
}

// expectedWait describes the wait from the fleet starts gatestream observed.
func (c *Capacity) expectedWait(now time.Time) string {
	w, ok := capacity.ExpectedWait(c.StartSeconds)
	if !ok {
		return "no instance start observed yet on this environment to estimate the wait (AppStream usually takes minutes)"
	}
	n := len(c.StartSeconds)
	if !c.StartRequestedAt.IsZero() {
		left := c.StartRequestedAt.Add(w).Sub(now).Round(time.Second)
		if left > 0 {
			return fmt.Sprintf("expected in about %s (instances took %s, the median of the last %d starts)", left, w, n)
		}
		return fmt.Sprintf("taking longer than the usual %s (the median of the last %d starts)", w, n)
	}
	return fmt.Sprintf("instances took %s to start (the median of the last %d starts)", w, n)
}
