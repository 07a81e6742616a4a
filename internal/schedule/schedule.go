// Package schedule wakes keys at deadlines: a scheduled work queue in the
// style of cert-manager's pkg/scheduler, driven by a clock that can run a
// function later (k8s.io/utils/clock.WithDelayedExecution). clock.RealClock
// is such a clock, and so is k8s.io/utils/clock/testing.FakeClock, so
// production and tests run the same code: stepping a fake clock past a
// deadline fires it exactly as real time would.
//
// A Queue holds at most one deadline per key; AddAt replaces it and Forget
// drops it. Channel adapts a Queue to controller-runtime: each deadline that
// fires becomes a GenericEvent for a source.Channel.
package schedule

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

// Queue runs fire(key) once the clock reaches the deadline added for key.
// Safe for concurrent use.
type Queue[K comparable] struct {
	clock clock.WithDelayedExecution
	fire  func(K)

	mu      sync.Mutex
	pending map[K]*deadline
}

// deadline is one scheduled wake-up. Its flags are atomics because the timer
// callback runs without q.mu: a FakeClock calls it while holding its own
// lock, and AddAt calls the clock, so taking q.mu there could deadlock.
type deadline struct {
	at       time.Time
	timer    clock.Timer
	fired    atomic.Bool
	canceled atomic.Bool
}

// New returns a Queue on c. fire must not block (it may run while the clock
// holds a lock: a FakeClock runs callbacks inside Step) and must not call c.
func New[K comparable](c clock.WithDelayedExecution, fire func(K)) *Queue[K] {
	return &Queue[K]{clock: c, fire: fire, pending: map[K]*deadline{}}
}

// AddAt schedules key for at, replacing the key's earlier deadline. A
// deadline that has already passed fires at once. Adding the deadline that
// is already pending changes nothing.
func (q *Queue[K]) AddAt(key K, at time.Time) {
	q.mu.Lock()
	if cur := q.pending[key]; cur != nil && cur.at.Equal(at) && !cur.fired.Load() {
		q.mu.Unlock()
		return
	}
	q.mu.Unlock()

	d := &deadline{at: at}
	wait := at.Sub(q.clock.Now())
	if wait > 0 {
		d.timer = q.clock.AfterFunc(wait, func() {
			if !d.canceled.Load() && !d.fired.Swap(true) {
				q.fire(key)
			}
		})
	}
	q.mu.Lock()
	old := q.pending[key]
	q.pending[key] = d
	q.mu.Unlock()
	old.cancel()
	if wait <= 0 && !d.fired.Swap(true) {
		q.fire(key)
	}
}

// Forget drops key's deadline, if any.
func (q *Queue[K]) Forget(key K) {
	q.mu.Lock()
	d := q.pending[key]
	delete(q.pending, key)
	q.mu.Unlock()
	d.cancel()
}

// When returns key's pending deadline; ok is false when none is pending.
func (q *Queue[K]) When(key K) (at time.Time, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if d := q.pending[key]; d != nil && !d.fired.Load() && !d.canceled.Load() {
		return d.at, true
	}
	return time.Time{}, false
}

// Len is the number of pending deadlines.
func (q *Queue[K]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, d := range q.pending {
		if !d.fired.Load() && !d.canceled.Load() {
			n++
		}
	}
	return n
}

// Stop cancels every pending deadline.
func (q *Queue[K]) Stop() {
	q.mu.Lock()
	all := q.pending
	q.pending = map[K]*deadline{}
	q.mu.Unlock()
	for _, d := range all {
		d.cancel()
	}
}

// cancel stops the deadline's timer (nil-safe; outside q.mu, as it calls the clock).
func (d *deadline) cancel() {
	if d == nil {
		return
	}
	d.canceled.Store(true)
	if d.timer != nil {
		d.timer.Stop()
	}
}

// Channel is a Queue of object keys whose deadlines become GenericEvents on
// C, for source.Channel. It is a manager Runnable: when the manager stops,
// the pending deadlines are canceled and no event is sent any more.
type Channel struct {
	*Queue[types.NamespacedName]
	// C carries one event per deadline reached (the object carries only its
	// namespace and name: the reconciler reads the object itself).
	C chan event.GenericEvent

	newObject func() client.Object
	done      chan struct{}
	stopOnce  sync.Once
}

// NewChannel returns a Channel on c whose events carry objects made by
// newObject (e.g. func() client.Object { return &v1.Pod{} }).
func NewChannel(c clock.WithDelayedExecution, newObject func() client.Object) *Channel {
	ch := &Channel{C: make(chan event.GenericEvent, 1024), newObject: newObject, done: make(chan struct{})}
	ch.Queue = New(c, ch.send)
	return ch
}

// send delivers the event without blocking: a full buffer hands it to a
// goroutine that waits for room (never dropped) until the Channel stops.
func (ch *Channel) send(key types.NamespacedName) {
	obj := ch.newObject()
	obj.SetNamespace(key.Namespace)
	obj.SetName(key.Name)
	ev := event.GenericEvent{Object: obj}
	select {
	case ch.C <- ev:
		return
	case <-ch.done:
		return
	default:
	}
	go func() {
		select {
		case ch.C <- ev:
		case <-ch.done:
		}
	}()
}

// Start waits for ctx to end, then stops the Channel (manager.Runnable).
func (ch *Channel) Start(ctx context.Context) error {
	<-ctx.Done()
	ch.stopOnce.Do(func() {
		close(ch.done)
		ch.Stop()
	})
	return nil
}

// NeedLeaderElection is false: the Channel only stops timers, on every replica.
func (ch *Channel) NeedLeaderElection() bool { return false }
