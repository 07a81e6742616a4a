// Package schedule wakes keys at deadlines: a scheduled work queue in the
// style of cert-manager's pkg/scheduler, driven by a clock that can run a
// function later (k8s.io/utils/clock.WithDelayedExecution). clock.RealClock
// is such a clock, and so is k8s.io/utils/clock/testing.FakeClock, so
// production and tests run the same code: stepping a fake clock past a
// deadline fires it exactly as real time would.
//
// A Queue holds at most one deadline per key; AddAt replaces it and Forget
// drops it. Keys that share a deadline share one timer: a controller's
// deadlines are mostly whole seconds (expiries recorded in status), so
// 10,000 keys need a few hundred timers, not 10,000. Channel adapts a Queue
// to controller-runtime: each deadline that fires becomes a GenericEvent for
// a source.Channel.
package schedule

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

// Queue runs fire(key) once the clock reaches the deadline added for key.
// Safe for concurrent use.
//
// The clock is never called while q.mu is held: a FakeClock runs timer
// callbacks while holding its own lock, and the callback (expire) takes
// q.mu. For the same reason a callback never calls the clock, so it cannot
// re-arm a timer: that is why the queue keeps one timer per distinct
// deadline rather than one timer for the earliest deadline (a single
// timer's callback would have to arm the next one, under the fake clock's
// lock), and stepping a fake clock past several deadlines fires them all
// within the step, as before.
type Queue[K comparable] struct {
	clock clock.WithDelayedExecution
	fire  func(K)

	mu sync.Mutex
	// pending maps each key to its place in the bucket of its deadline.
	pending map[K]slot[K]
	// buckets are the deadlines with a timer armed or being armed.
	buckets map[instant]*bucket[K]
}

// instant is a deadline as a map key: equal instants in other locations or
// with a monotonic reading share a bucket.
type instant struct {
	sec  int64
	nsec int32
}

func instantOf(t time.Time) instant { return instant{sec: t.Unix(), nsec: int32(t.Nanosecond())} }

// slot is where a pending key is: keys[i] of bucket b.
type slot[K comparable] struct {
	b *bucket[K]
	i int
}

// bucket is one deadline, its timer and the keys that wait for it. keys may
// hold stale entries, of keys that moved on to another deadline (or back to
// this one, at another index) or were forgotten since: keys[i] is live only
// when pending[keys[i]] is {b, i}. live counts the live entries, and keys is
// compacted when the stale ones are the majority.
type bucket[K comparable] struct {
	at    time.Time
	timer clock.Timer // nil until AddAt has armed it
	keys  []K
	live  int
	// done: fired, or dropped (no live key left, or Stop).
	done bool
}

// New returns a Queue on c. fire must not block (it may run while the clock
// holds a lock: a FakeClock runs callbacks inside Step) and must not call c.
func New[K comparable](c clock.WithDelayedExecution, fire func(K)) *Queue[K] {
	return &Queue[K]{clock: c, fire: fire, pending: map[K]slot[K]{}, buckets: map[instant]*bucket[K]{}}
}

// AddAt schedules key for at, replacing the key's earlier deadline. A
// deadline that has already passed fires at once. Adding the deadline that
// is already pending changes nothing.
func (q *Queue[K]) AddAt(key K, at time.Time) {
	q.mu.Lock()
	if cur := q.pending[key].b; cur != nil && cur.at.Equal(at) {
		q.mu.Unlock()
		return
	}
	q.mu.Unlock()

	now := q.clock.Now()
	q.mu.Lock()
	stop := q.detachLocked(key)
	if !at.After(now) {
		q.mu.Unlock()
		stopTimer(stop)
		q.fire(key)
		return
	}
	b := q.buckets[instantOf(at)]
	arm := b == nil
	if arm {
		b = &bucket[K]{at: at}
		q.buckets[instantOf(at)] = b
	}
	q.pending[key] = slot[K]{b: b, i: len(b.keys)}
	b.keys = append(b.keys, key)
	b.live++
	q.mu.Unlock()
	stopTimer(stop)
	if !arm {
		return
	}

	t := q.clock.AfterFunc(at.Sub(now), func() { q.expire(b) })
	q.mu.Lock()
	dropped := b.done && b.live == 0 // forgotten or stopped while being armed
	if !b.done {
		b.timer = t
	}
	q.mu.Unlock()
	if dropped {
		t.Stop()
	}
}

// detachLocked removes key from its bucket and returns that bucket's timer
// when the bucket has no live key left (the caller stops it after
// unlocking: stopping calls the clock).
func (q *Queue[K]) detachLocked(key K) clock.Timer {
	b := q.pending[key].b
	if b == nil {
		return nil
	}
	delete(q.pending, key)
	b.live--
	if b.live > 0 {
		if stale := len(b.keys) - b.live; stale > b.live && stale > 16 {
			q.compactLocked(b)
		}
		return nil
	}
	b.done = true
	b.keys = nil
	delete(q.buckets, instantOf(b.at))
	return b.timer
}

// compactLocked drops b's stale entries (in place).
func (q *Queue[K]) compactLocked(b *bucket[K]) {
	live := b.keys[:0]
	for i, k := range b.keys {
		if q.pending[k] == (slot[K]{b: b, i: i}) {
			q.pending[k] = slot[K]{b: b, i: len(live)}
			live = append(live, k)
		}
	}
	clear(b.keys[len(live):]) // no stale key kept alive by the backing array
	b.keys = live
}

// expire is b's timer callback: it fires the keys still waiting for b. It
// runs inside a FakeClock's Step, under the clock's lock: it must not call
// the clock.
func (q *Queue[K]) expire(b *bucket[K]) {
	q.mu.Lock()
	if b.done {
		q.mu.Unlock()
		return
	}
	b.done = true
	delete(q.buckets, instantOf(b.at))
	due := b.keys[:0]
	for i, k := range b.keys {
		if q.pending[k] == (slot[K]{b: b, i: i}) {
			delete(q.pending, k)
			due = append(due, k)
		}
	}
	b.keys, b.live = nil, 0
	q.mu.Unlock()
	for _, k := range due {
		q.fire(k)
	}
}

// Forget drops key's deadline, if any.
func (q *Queue[K]) Forget(key K) {
	q.mu.Lock()
	stop := q.detachLocked(key)
	q.mu.Unlock()
	stopTimer(stop)
}

// When returns key's pending deadline; ok is false when none is pending.
func (q *Queue[K]) When(key K) (at time.Time, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if b := q.pending[key].b; b != nil {
		return b.at, true
	}
	return time.Time{}, false
}

// Len is the number of pending deadlines.
func (q *Queue[K]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// Stop cancels every pending deadline.
func (q *Queue[K]) Stop() {
	q.mu.Lock()
	var timers []clock.Timer
	for _, b := range q.buckets {
		b.done, b.keys, b.live = true, nil, 0
		if b.timer != nil {
			timers = append(timers, b.timer)
		}
	}
	q.pending, q.buckets = map[K]slot[K]{}, map[instant]*bucket[K]{}
	q.mu.Unlock()
	for _, t := range timers {
		t.Stop()
	}
}

// stopTimer stops t (nil-safe; outside q.mu, as it calls the clock).
func stopTimer(t clock.Timer) {
	if t != nil {
		t.Stop()
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
