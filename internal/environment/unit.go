// Package environment converges the external objects of a
// RemoteAccessEnvironment. Each external object is one small Unit with
// Observe (read-only), Create, Update and Delete, in Crossplane's shape; the
// reconciler runs the units in dependency order through Converge and Remove.
package environment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/soracom"
)

// Pass is what the units of one reconcile pass share. Units record what they
// observe in Env.Status (written once at the end of the pass by the reconciler).
type Pass struct {
	Env     *accessv1alpha1.RemoteAccessEnvironment
	Soracom *soracom.Client
	AWS     *aws.Clients
	Now     time.Time
	Log     logr.Logger
	// Event records a Kubernetes Event on the environment (never with secrets).
	Event func(eventType, reason, action, note string)
	// PersistStatus writes Env.Status immediately (optimistic concurrency). Used
	// only around creates of objects with server-generated IDs, so that the ID
	// (or the intent to create) is never lost.
	PersistStatus func(ctx context.Context) error
	// TransitionWait is how long to wait before looking again at an object
	// that is changing state (VPG creating, fleet starting…).
	TransitionWait time.Duration
	// PollInterval is how long to wait for a fix that only a person can make
	// (an Observation with a negative Wait).
	PollInterval time.Duration

	// Shared observations, so that no object is read twice in a pass.
	vpg *soracom.VirtualPrivateGateway
}

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
	// Wait is when to look again while not ready (0: Pass.TransitionWait;
	// negative: Pass.PollInterval, for states only a person can fix).
	Wait time.Duration
}

// Unit is one external object.
type Unit interface {
	// Condition is the condition type this unit reports.
	Condition() string
	// Observe reads the object (cheap, no writes) and records it in status.
	Observe(ctx context.Context, p *Pass) (Observation, error)
	// Create creates the object; "already exists" is success.
	Create(ctx context.Context, p *Pass) error
	// Update makes the object match the spec.
	Update(ctx context.Context, p *Pass) error
	// Delete deletes the object and reports whether it is gone; "not found" is gone.
	Delete(ctx context.Context, p *Pass) (gone bool, err error)
}

// Outcome of running a chain of units.
type Outcome struct {
	Ready bool
	// Wait is the soonest time a not-ready unit wants to be looked at again.
	Wait time.Duration
	// Err is the first error (the pass is not Synced).
	Err error
	// Changed is true when a create or update call was made.
	Changed bool
}

// Converge runs units in order; a unit that is not ready stops the chain and
// the units after it report WaitingForDependency.
func Converge(ctx context.Context, p *Pass, units ...Unit) Outcome {
	out := Outcome{Ready: true}
	gen := p.Env.Generation
	conds := &p.Env.Status.Conditions
	for i, u := range units {
		obs, err := u.Observe(ctx, p)
		if err == nil && !obs.Exists {
			out.Changed = true
			if err = u.Create(ctx, p); err == nil {
				obs, err = u.Observe(ctx, p)
			}
		}
		if err == nil && obs.Exists && !obs.UpToDate {
			out.Changed = true
			if err = u.Update(ctx, p); err == nil {
				obs, err = u.Observe(ctx, p)
			}
		}
		if err != nil {
			reason := Reason(err)
			conditions.False(conds, gen, u.Condition(), reason, Message(err))
			out.Ready, out.Err = false, err
			waitRest(p, units[i+1:], u.Condition())
			return out
		}
		// A reason on a ready, up-to-date object means "usable, but not as
		// asked" (e.g. UpdateRequiresStop): dependents go on, the condition is False.
		if obs.Ready && obs.UpToDate && obs.Reason == "" {
			conditions.True(conds, gen, u.Condition(), accessv1alpha1.ReasonAvailable, availableMessage(obs))
			continue
		}
		reason := obs.Reason
		if reason == "" {
			reason = accessv1alpha1.ReasonUpdating
		}
		conditions.False(conds, gen, u.Condition(), reason, obs.Message)
		out.Ready = false
		w := obs.Wait
		switch {
		case w < 0:
			w = p.PollInterval
		case w == 0:
			w = p.TransitionWait
		}
		if out.Wait == 0 || w < out.Wait {
			out.Wait = w
		}
		if !obs.Ready {
			waitRest(p, units[i+1:], u.Condition())
			return out
		}
	}
	return out
}

func availableMessage(obs Observation) string {
	if obs.Message != "" {
		return obs.Message
	}
	return ""
}

func waitRest(p *Pass, rest []Unit, blocker string) {
	for _, u := range rest {
		conditions.False(&p.Env.Status.Conditions, p.Env.Generation, u.Condition(),
			accessv1alpha1.ReasonWaitingForDependency, fmt.Sprintf("waiting for %s", blocker))
	}
}

// Remove deletes units in the given order, stopping at the first that is not
// gone yet; it reports whether all are gone.
func Remove(ctx context.Context, p *Pass, units ...Unit) (bool, error) {
	for _, u := range units {
		gone, err := u.Delete(ctx, p)
		if err != nil {
			conditions.False(&p.Env.Status.Conditions, p.Env.Generation, u.Condition(), Reason(err), Message(err))
			return false, fmt.Errorf("deleting %s: %w", u.Condition(), err)
		}
		if !gone {
			conditions.False(&p.Env.Status.Conditions, p.Env.Generation, u.Condition(), accessv1alpha1.ReasonDeleting, "deletion in progress")
			return false, nil
		}
	}
	return true, nil
}

// TerminalError is a cloud rejection that retrying cannot fix: the spec (or
// the account) must change. The reconciler reports it and does not retry hot.
type TerminalError struct {
	Reason string
	Err    error
}

func (e *TerminalError) Error() string { return e.Err.Error() }
func (e *TerminalError) Unwrap() error { return e.Err }

// Terminal wraps err as a TerminalError with a reason.
func Terminal(reason string, err error) error { return &TerminalError{Reason: reason, Err: err} }

// IsTerminal reports whether err (or what it wraps) is terminal.
func IsTerminal(err error) bool {
	var te *TerminalError
	if errors.As(err, &te) {
		return true
	}
	if soracom.StatusCode(err) >= 400 && soracom.StatusCode(err) < 500 && !soracom.Retryable(err) {
		return true
	}
	return aws.IsTerminal(err)
}

// Reason classifies an error into a condition reason.
func Reason(err error) string {
	var te *TerminalError
	switch {
	case errors.As(err, &te):
		return te.Reason
	case soracom.IsThrottled(err) || aws.IsThrottled(err):
		return accessv1alpha1.ReasonThrottled
	case IsTerminal(err):
		return accessv1alpha1.ReasonInvalidConfiguration
	default:
		return accessv1alpha1.ReasonAPIError
	}
}

// Message is a condition message for err. Client errors never carry credentials.
func Message(err error) string {
	msg := err.Error()
	if len(msg) > 1024 {
		msg = msg[:1024] + "…"
	}
	return msg
}

// now returns p.Now as a metav1.Time.
func (p *Pass) metaNow() *metav1.Time {
	t := metav1.NewTime(p.Now)
	return &t
}
