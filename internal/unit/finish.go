package unit

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/conditions"
)

// ConflictRequeue is how soon a pass that lost a write race looks again.
const ConflictRequeue = time.Second

// SetSynced records whether the pass reached the clouds without error.
func (b *Base) SetSynced(err error) {
	if err != nil {
		conditions.False(b.Conditions, b.Generation, accessv1alpha1.ConditionSynced, Reason(err), ConditionMessage(err, b.Now))
		return
	}
	conditions.True(b.Conditions, b.Generation, accessv1alpha1.ConditionSynced, accessv1alpha1.ReasonReconcileSuccess, "")
}

// Requeue turns a pass's outcome into controller-runtime's result, the same
// way for every kind:
//
//   - only terminal errors: the poll interval (or sooner, when another unit
//     is changing state); a change of the object brings a pass at once;
//   - a retryable error with a known wait (a throttle's Retry-After): that wait;
//   - another retryable error: returned, so controller-runtime backs off;
//   - not ready: the soonest wait a unit asked for;
//   - ready: the poll interval, to correct drift (or a sooner wait the pass asked for).
func Requeue(out Outcome, poll time.Duration) (ctrl.Result, error) {
	switch {
	case out.Err != nil && IsTerminal(out.Err):
		return ctrl.Result{RequeueAfter: MinWait(out.Wait, poll)}, nil
	case out.Err != nil:
		if after := retryAfter(out.Err); after > 0 {
			return ctrl.Result{RequeueAfter: MinWait(out.Wait, after)}, nil
		}
		return ctrl.Result{}, out.Err
	default:
		// Not ready: the soonest wait a unit asked for; ready: the poll
		// interval, or sooner when the pass asked to look again (new addresses).
		return ctrl.Result{RequeueAfter: MinWait(out.Wait, poll)}, nil
	}
}

// retryAfter is the longest wait asked by the retryable errors in err (0: back off).
func retryAfter(err error) time.Duration {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var longest time.Duration
		for _, e := range j.Unwrap() {
			if IsTerminal(e) {
				continue
			}
			a := retryAfter(e)
			if a == 0 {
				return 0
			}
			longest = max(longest, a)
		}
		return longest
	}
	return Classify(err).After
}

// WriteStatus writes obj's status when changed. On a conflict (the pass read
// a stale copy) it re-reads the object and writes again: the status records
// what was done outside (IDs, members) and describes the generation this pass
// observed, so it is still right on a newer copy, whose newer generation the
// next pass handles. Only the resourceVersion moves; the pass keeps its status.
// A deleted object is not an error.
func WriteStatus(ctx context.Context, c client.Client, obj client.Object, changed bool) error {
	if !changed {
		return nil
	}
	first := true
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if !first {
			latest, ok := obj.DeepCopyObject().(client.Object)
			if !ok {
				return fmt.Errorf("%T is not a client.Object", obj)
			}
			if err := c.Get(ctx, client.ObjectKeyFromObject(obj), latest); err != nil {
				return err
			}
			if latest.GetUID() != obj.GetUID() {
				return errGone
			}
			obj.SetResourceVersion(latest.GetResourceVersion())
		}
		first = false
		return c.Status().Update(ctx, obj)
	})
	if errors.Is(err, errGone) || apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	return nil
}

var errGone = errors.New("the object was deleted and created again")

// Finish ends a pass the same way for every kind: Synced from the outcome's
// error, observedGeneration, status written once when it changed (changed is
// asked after both are set), and the requeue from Requeue.
func Finish(ctx context.Context, c client.Client, obj client.Object, b *Base, observedGeneration *int64,
	changed func() bool, out Outcome, poll time.Duration) (ctrl.Result, error) {
	b.SetSynced(out.Err)
	*observedGeneration = b.Generation
	if err := WriteStatus(ctx, c, obj, changed()); err != nil {
		if out.Err != nil {
			return ctrl.Result{}, errors.Join(out.Err, err)
		}
		return ctrl.Result{}, err
	}
	return Requeue(out, poll)
}

// Result is the requeue for one classified error: the poll interval when it
// is terminal, the wait it asked for when it gave one, else the error itself
// (controller-runtime backs off). Requeue applies the same rule to a pass.
func (v Verdict) Result(err error, poll time.Duration) (ctrl.Result, error) {
	switch {
	case v.Terminal:
		return ctrl.Result{RequeueAfter: poll}, nil
	case v.After > 0:
		return ctrl.Result{RequeueAfter: v.After}, nil
	}
	return ctrl.Result{}, err
}
