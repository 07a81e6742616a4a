// Package unit is the reconcile contract shared by every gatestream
// controller, in crossplane-runtime's shape: each external object is one
// small Unit with Observe (read-only), Create, Update and Delete, every call
// idempotent; a reconciler runs its units in dependency order through
// Converge (or Remove, in reverse order) and writes status once at the end
// of the pass (Finish).
//
// What every kind would otherwise repeat lives here once: the condition each
// unit reports, waiting for dependencies, the create-pending guard for
// objects with server-generated IDs (a crash between the create call and the
// status write must never produce a second billable object), the error
// policy (errors.go), and the status write and requeue (finish.go).
package unit

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/conditions"
)

// Base is what the runner needs of a pass, whatever the kind. Each kind's
// pass embeds it.
type Base struct {
	// Conditions are the object's status conditions (the runner sets one per unit).
	Conditions *[]metav1.Condition
	// Generation is the object's metadata.generation.
	Generation int64
	// Now is the pass's time (an injectable clock).
	Now time.Time
	// TransitionWait is how soon an object that is changing state is looked at again.
	TransitionWait time.Duration
	// PollInterval is how long to wait for a fix only a person can make.
	PollInterval time.Duration
	// Persist writes the status at once (optimistic concurrency). The runner
	// uses it only around guarded creates, so that the intent to create and
	// the created object's ID are never lost.
	Persist func(ctx context.Context) error
}

// Passer is a kind's pass: anything that carries a Base.
type Passer interface{ UnitBase() *Base }

// UnitBase makes *Base a Passer, for kinds whose pass embeds it.
func (b *Base) UnitBase() *Base { return b }

// Observation is what Observe found.
type Observation struct {
	// Exists: the external object exists (or is being created).
	Exists bool
	// UpToDate: it matches the spec (no Update needed).
	UpToDate bool
	// Ready: usable, so the units that depend on it may proceed.
	Ready bool
	// Reason and Message describe a not-ready state for the unit's condition.
	// A Reason on a Ready, UpToDate observation makes the condition False
	// while the units that depend on it still proceed.
	Reason, Message string
	// Wait is when to look again while not ready (0: Base.TransitionWait;
	// negative: Base.PollInterval, for states only a person can fix).
	Wait time.Duration
}

// Unit is one external object of a kind whose pass is P.
type Unit[P Passer] interface {
	// Condition is the condition type this unit reports.
	Condition() string
	// Observe reads the object (cheap, no writes outside) and records it in status.
	Observe(ctx context.Context, p P) (Observation, error)
	// Create creates the object; "already exists" is success.
	Create(ctx context.Context, p P) error
	// Update makes the object match the spec.
	Update(ctx context.Context, p P) error
	// Delete deletes the object and reports whether it is gone; "not found" is gone.
	Delete(ctx context.Context, p P) (gone bool, err error)
}

// Guarded is a unit whose Create makes a billable object with a
// server-generated ID. Its Observe must find such an object by the owner's
// tag. The runner keeps the create-pending marker: written before the create
// call, cleared once the object is observed or the create definitely failed;
// while it is set and younger than CreateGrace, an Observe that finds nothing
// is not trusted (the lost create may not be listed yet), so nothing is
// created twice and nothing is left behind on delete.
type Guarded[P Passer] interface {
	Unit[P]
	// PendingMarker is the status field holding the marker.
	PendingMarker(p P) **metav1.Time
}

// CreateGrace is how long a create whose response was lost is given to become
// visible in the lookup by owner tag before the object is created again. The
// lookups read what the create call tagged, so they normally find it at once;
// the grace covers a listing that lags behind (UNCONFIRMED whether SORACOM's
// do), because a second gateway or group is billed or left behind.
const CreateGrace = 30 * time.Second

// Outcome of running a chain of units.
type Outcome struct {
	// Ready: every unit is ready.
	Ready bool
	// Wait is the soonest time a not-ready unit wants to be looked at again.
	Wait time.Duration
	// Err is the pass's error (the pass is not Synced); errors of independent
	// chains are joined.
	Err error
	// Changed is true when a create, update or delete call was made.
	Changed bool
}

// Join combines the outcomes of independent chains.
func Join(outs ...Outcome) Outcome {
	j := Outcome{Ready: true}
	var errs []error
	for _, o := range outs {
		j.Ready = j.Ready && o.Ready
		j.Changed = j.Changed || o.Changed
		j.Wait = MinWait(j.Wait, o.Wait)
		if o.Err != nil {
			errs = append(errs, o.Err)
		}
	}
	switch len(errs) {
	case 0:
	case 1:
		j.Err = errs[0]
	default:
		j.Err = errors.Join(errs...)
	}
	return j
}

// MinWait is the smaller of two waits, where zero means none.
func MinWait(a, b time.Duration) time.Duration {
	switch {
	case a == 0:
		return b
	case b == 0 || a < b:
		return a
	}
	return b
}

// Converge runs units in order; a unit that is not ready stops the chain and
// the units after it report WaitingForDependency.
func Converge[P Passer](ctx context.Context, p P, units ...Unit[P]) Outcome {
	b := p.UnitBase()
	out := Outcome{Ready: true}
	for i, u := range units {
		obs, changed, err := converge(ctx, p, u)
		out.Changed = out.Changed || changed
		if err != nil {
			conditions.False(b.Conditions, b.Generation, u.Condition(), Reason(err), ConditionMessage(err, b.Now))
			out.Ready, out.Err = false, err
			waitRest(b, units[i+1:], u.Condition())
			return out
		}
		// A reason on a ready, up-to-date object means "usable, but not as
		// asked" (e.g. UpdateRequiresStop): dependents go on, the condition is False.
		if obs.Ready && obs.UpToDate && obs.Reason == "" {
			conditions.True(b.Conditions, b.Generation, u.Condition(), accessv1alpha1.ReasonAvailable, obs.Message)
			continue
		}
		reason := obs.Reason
		if reason == "" {
			reason = accessv1alpha1.ReasonUpdating
		}
		wait := b.wait(obs.Wait, b.notReadySince(u.Condition()))
		conditions.False(b.Conditions, b.Generation, u.Condition(), reason, obs.Message)
		out.Ready = false
		out.Wait = MinWait(out.Wait, wait)
		if !obs.Ready {
			waitRest(b, units[i+1:], u.Condition())
			return out
		}
	}
	return out
}

// converge brings one unit to its spec: observe, create or update, observe again.
func converge[P Passer](ctx context.Context, p P, u Unit[P]) (Observation, bool, error) {
	obs, err := u.Observe(ctx, p)
	if err != nil {
		return obs, false, err
	}
	g, guarded := u.(Guarded[P])
	if guarded {
		marker := g.PendingMarker(p)
		if obs.Exists {
			*marker = nil
		} else if wait, pending := p.UnitBase().pending(*marker); pending {
			return Observation{Exists: true, UpToDate: true, Reason: accessv1alpha1.ReasonCreatePending,
				Message: "an earlier create may have succeeded without a response; waiting for it to appear before creating again",
				Wait:    wait}, false, nil
		}
	}
	changed := false
	if !obs.Exists {
		changed = true
		if guarded {
			err = guardedCreate(ctx, p, g)
		} else {
			err = u.Create(ctx, p)
		}
		if err == nil {
			obs, err = u.Observe(ctx, p)
		}
	}
	if err == nil && obs.Exists && !obs.UpToDate {
		changed = true
		if err = u.Update(ctx, p); err == nil {
			obs, err = u.Observe(ctx, p)
		}
	}
	return obs, changed, err
}

// guardedCreate writes the create-pending marker before the create call, and
// the created object's ID (recorded in status by Create) right after it.
func guardedCreate[P Passer](ctx context.Context, p P, g Guarded[P]) error {
	b := p.UnitBase()
	now := metav1.NewTime(b.Now.Truncate(time.Second))
	// The marker is looked up again after every write: Persist may replace
	// the status it points into (a conflict re-reads the object).
	*g.PendingMarker(p) = &now
	if err := b.Persist(ctx); err != nil {
		return fmt.Errorf("recording the intent to create (%s): %w", g.Condition(), err)
	}
	if err := g.Create(ctx, p); err != nil {
		if NothingCreated(err) {
			*g.PendingMarker(p) = nil
		}
		return err
	}
	*g.PendingMarker(p) = nil
	if err := b.Persist(ctx); err != nil {
		// The lookup by owner tag finds it next pass; nothing is lost.
		return fmt.Errorf("recording the created object (%s): %w", g.Condition(), err)
	}
	return nil
}

// pending reports whether a create-pending marker is still within its grace,
// and how long is left.
func (b *Base) pending(marker *metav1.Time) (time.Duration, bool) {
	if marker == nil {
		return 0, false
	}
	left := CreateGrace - b.Now.Sub(marker.Time)
	return left, left > 0
}

// MinTransitionWait is the first look again at an object that started
// changing state (a fleet starting, a gateway being created).
const MinTransitionWait = time.Second

// wait is when to look again at a unit that is not ready: a person's fix at
// the poll interval; a state that changes on its own (w == 0) soon after it
// started changing, then less and less often (a tenth of the time it has been
// changing), up to TransitionWait. So a fleet that starts in seconds is seen
// Ready within about a second, and one that takes AWS's usual minutes costs
// no more calls than a fixed TransitionWait would.
func (b *Base) wait(w time.Duration, since time.Time) time.Duration {
	switch {
	case w < 0:
		return b.PollInterval
	case w > 0:
		return w
	}
	d := MinTransitionWait
	if !since.IsZero() {
		d = max(d, b.Now.Sub(since)/10)
	}
	if b.TransitionWait > 0 && d > b.TransitionWait {
		d = b.TransitionWait
	}
	return d
}

// Settling is when to look again at objects that started changing state at
// since (a deletion in progress): soon at first, then less and less often,
// the same rule as a unit's own transition.
func (b *Base) Settling(since time.Time) time.Duration { return b.wait(0, since) }

// notReadySince is when the unit's condition became False (zero when it is
// new, or was True until now).
func (b *Base) notReadySince(typ string) time.Time {
	if c := conditions.Get(*b.Conditions, typ); c != nil && c.Status == metav1.ConditionFalse {
		return c.LastTransitionTime.Time
	}
	return time.Time{}
}

func waitRest[P Passer](b *Base, rest []Unit[P], blocker string) {
	for _, u := range rest {
		conditions.False(b.Conditions, b.Generation, u.Condition(),
			accessv1alpha1.ReasonWaitingForDependency, fmt.Sprintf("waiting for %s", blocker))
	}
}

// Remove deletes units in the given order, stopping at the first that is not
// gone yet; it reports whether all are gone. A guarded unit whose create may
// still appear (marker within its grace) is not gone yet.
func Remove[P Passer](ctx context.Context, p P, units ...Unit[P]) (bool, error) {
	b := p.UnitBase()
	for _, u := range units {
		gone, err := u.Delete(ctx, p)
		if err != nil {
			conditions.False(b.Conditions, b.Generation, u.Condition(), Reason(err), ConditionMessage(err, b.Now))
			return false, fmt.Errorf("deleting %s: %w", u.Condition(), err)
		}
		if g, guarded := u.(Guarded[P]); guarded && gone {
			marker := g.PendingMarker(p)
			if _, pending := b.pending(*marker); pending {
				gone = false
			} else {
				*marker = nil
			}
		}
		if !gone {
			conditions.False(b.Conditions, b.Generation, u.Condition(), accessv1alpha1.ReasonDeleting, "deletion in progress")
			return false, nil
		}
	}
	return true, nil
}
