package unit

import (
	"time"

	"golang.org/x/time/rate"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Error backoff of every gatestream controller, for a pass that failed with
// a retryable error and no wait of the service's own (a 5xx, a timeout, a
// connection refused; throttles carry theirs, see Requeue).
//
// controller-runtime's default doubles from 5 ms up to 1000 s per object:
// under a minute of cloud faults an object whose every pass meets one fault
// (a pass makes about a dozen calls) waits 40 s and more after the cloud
// has recovered. The clients already retry a failed call inside the pass,
// and outbound budgets bound the calls per second, so a shorter cap cannot
// turn into a storm; like cert-manager (1 s–30 s) and Crossplane
// (1 s–60 s), the wait still grows from a short first retry.
const (
	// DefaultBackoffBase is the first retry's wait; it doubles per failure.
	DefaultBackoffBase = 100 * time.Millisecond
	// DefaultBackoffMax caps the wait (--max-error-backoff).
	DefaultBackoffMax = 15 * time.Second
)

// ErrorBackoff is a controller's per-object exponential backoff from base
// to maxWait (defaults when zero), together with controller-runtime's
// overall bucket (10 retries a second, bursts of 100) so that many objects
// failing at once are spread out.
func ErrorBackoff(base, maxWait time.Duration) workqueue.TypedRateLimiter[reconcile.Request] {
	if base <= 0 {
		base = DefaultBackoffBase
	}
	if maxWait <= 0 {
		maxWait = DefaultBackoffMax
	}
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](base, max(base, maxWait)),
		&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)
}
