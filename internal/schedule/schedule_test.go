package schedule

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var t0 = time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC)

// recorder collects fired keys.
type recorder struct {
	mu    sync.Mutex
	fired []string
}

func (r *recorder) fire(k string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fired = append(r.fired, k)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.fired
	r.fired = nil
	return out
}

// newQueue is a Queue of strings on a fake clock at t0, recording what fires.
func newQueue() (*clocktesting.FakeClock, *recorder, *Queue[string]) {
	clk := clocktesting.NewFakeClock(t0)
	rec := &recorder{}
	return clk, rec, New(clk, rec.fire)
}

func TestQueueFiresAtDeadline(t *testing.T) {
	clk, rec, q := newQueue()

	q.AddAt("a", t0.Add(time.Minute))
	q.AddAt("b", t0.Add(2*time.Minute))
	if at, ok := q.When("a"); !ok || !at.Equal(t0.Add(time.Minute)) {
		t.Fatalf("When(a) = %v %v", at, ok)
	}
	if q.Len() != 2 {
		t.Fatalf("Len = %d", q.Len())
	}
	clk.Step(59 * time.Second)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("fired before the deadline: %v", got)
	}
	clk.Step(time.Second)
	if got := rec.take(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("at a's deadline: %v", got)
	}
	if _, ok := q.When("a"); ok {
		t.Fatal("a still pending after it fired")
	}
	clk.Step(time.Hour)
	if got := rec.take(); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("after b's deadline: %v", got)
	}
	clk.Step(time.Hour)
	if got := rec.take(); len(got) != 0 || q.Len() != 0 {
		t.Fatalf("fired twice: %v (pending %d)", got, q.Len())
	}
}

func TestQueueReplaceAndForget(t *testing.T) {
	clk, rec, q := newQueue()

	// A later deadline replaces the earlier one: only the new one fires.
	q.AddAt("a", t0.Add(time.Minute))
	q.AddAt("a", t0.Add(3*time.Minute))
	clk.Step(2 * time.Minute)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("the replaced deadline fired: %v", got)
	}
	// An earlier one replaces a later one too.
	q.AddAt("a", t0.Add(150*time.Second))
	clk.Step(30 * time.Second)
	if got := rec.take(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("earlier replacement: %v", got)
	}
	clk.Step(time.Hour)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("the replaced later deadline fired: %v", got)
	}

	// The same deadline again keeps the timer (no second firing).
	q.AddAt("b", clk.Now().Add(time.Minute))
	q.AddAt("b", clk.Now().Add(time.Minute))
	if n := clk.Waiters(); n != 1 {
		t.Fatalf("clock waiters after adding the same deadline twice: %d", n)
	}
	// Forget drops it.
	q.Forget("b")
	q.Forget("never-added")
	clk.Step(time.Hour)
	if got := rec.take(); len(got) != 0 || q.Len() != 0 {
		t.Fatalf("forgotten deadline fired: %v", got)
	}
	if n := clk.Waiters(); n != 0 {
		t.Fatalf("timers left on the clock: %d", n)
	}

	// A deadline fired and then added again (same time, now in the past) fires again at once.
	at := clk.Now().Add(time.Second)
	q.AddAt("c", at)
	clk.Step(time.Second)
	q.AddAt("c", at)
	if got := rec.take(); !slices.Equal(got, []string{"c", "c"}) {
		t.Fatalf("re-added past deadline: %v", got)
	}
}

func TestQueuePastDeadlineFiresAtOnce(t *testing.T) {
	clk, rec, q := newQueue()
	q.AddAt("now", t0)
	q.AddAt("past", t0.Add(-time.Hour))
	if got := rec.take(); !slices.Equal(got, []string{"now", "past"}) {
		t.Fatalf("past deadlines: %v", got)
	}
	if n := clk.Waiters(); n != 0 {
		t.Fatalf("a past deadline armed a timer: %d", n)
	}
}

func TestQueueStop(t *testing.T) {
	clk, rec, q := newQueue()
	q.AddAt("a", t0.Add(time.Minute))
	q.AddAt("b", t0.Add(time.Minute))
	q.Stop()
	clk.Step(time.Hour)
	if got := rec.take(); len(got) != 0 || q.Len() != 0 {
		t.Fatalf("fired after Stop: %v", got)
	}
}

// Timers set while the clock fires others, and from many goroutines, neither
// deadlock (the fake clock runs callbacks under its lock) nor get lost.
func TestQueueConcurrent(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	var mu sync.Mutex
	count := map[int]int{}
	var q *Queue[int]
	q = New(clk, func(k int) {
		mu.Lock()
		count[k]++
		mu.Unlock()
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				k := g*100 + i
				q.AddAt(k, t0.Add(time.Duration(k%7+1)*time.Second))
				q.AddAt(k, t0.Add(time.Duration(k%5+1)*time.Second))
			}
		}()
	}
	stepper := make(chan struct{})
	go func() {
		defer close(stepper)
		for range 3 {
			clk.Step(time.Second)
		}
	}()
	wg.Wait()
	<-stepper
	clk.Step(time.Minute)
	mu.Lock()
	defer mu.Unlock()
	if len(count) != 400 {
		t.Fatalf("%d of 400 keys fired", len(count))
	}
	for k, n := range count {
		if n > 2 {
			t.Fatalf("key %d fired %d times", k, n)
		}
	}
	if q.Len() != 0 {
		t.Fatalf("pending after all fired: %d", q.Len())
	}
}

// The real clock runs the same code: a deadline a few milliseconds ahead fires.
func TestQueueRealClock(t *testing.T) {
	done := make(chan string, 1)
	q := New(clock.RealClock{}, func(k string) { done <- k })
	q.AddAt("a", time.Now().Add(10*time.Millisecond))
	select {
	case k := <-done:
		if k != "a" {
			t.Fatalf("fired %q", k)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a real-clock deadline did not fire within 10s")
	}
}

func TestChannelEvents(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	ch := NewChannel(clk, func() client.Object { return &corev1.ConfigMap{} })
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		_ = ch.Start(ctx)
		close(stopped)
	}()
	key := types.NamespacedName{Namespace: "ns", Name: "s1"}
	ch.AddAt(key, t0.Add(time.Minute))
	clk.Step(time.Minute)
	ev := <-ch.C
	if _, ok := ev.Object.(*corev1.ConfigMap); !ok || ev.Object.GetNamespace() != "ns" || ev.Object.GetName() != "s1" {
		t.Fatalf("event object: %#v", ev.Object)
	}

	// More deadlines than the buffer holds: none is dropped.
	n := cap(ch.C) + 10
	for i := range n {
		ch.AddAt(types.NamespacedName{Namespace: "ns", Name: fmt.Sprintf("s%d", i)}, t0.Add(2*time.Minute))
	}
	clk.Step(time.Minute)
	for i := range n {
		select {
		case <-ch.C:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d events arrived", i, n)
		}
	}

	ch.AddAt(key, t0.Add(time.Hour))
	cancel()
	<-stopped
	if ch.Len() != 0 || clk.Waiters() != 0 {
		t.Fatalf("pending after stop: %d (clock waiters %d)", ch.Len(), clk.Waiters())
	}
	if ch.NeedLeaderElection() {
		t.Fatal("NeedLeaderElection")
	}
}

// Keys with the same deadline share one timer; forgetting some keeps it for
// the others, forgetting all stops it.
func TestQueueSharedDeadline(t *testing.T) {
	clk, rec, q := newQueue()
	at := t0.Add(time.Minute)
	for _, k := range []string{"a", "b", "c", "d"} {
		q.AddAt(k, at)
	}
	q.AddAt("later", at.Add(time.Second))
	if n := clk.Waiters(); n != 2 {
		t.Fatalf("clock waiters for 5 keys on 2 deadlines: %d", n)
	}
	q.Forget("b")
	q.AddAt("c", at.Add(time.Second)) // moves to the other deadline
	if n := clk.Waiters(); n != 2 {
		t.Fatalf("clock waiters: %d", n)
	}
	clk.Step(time.Minute)
	if got := rec.take(); !slices.Equal(got, []string{"a", "d"}) {
		t.Fatalf("at the shared deadline: %v", got)
	}
	clk.Step(time.Second)
	if got := rec.take(); !slices.Equal(got, []string{"later", "c"}) {
		t.Fatalf("a second later: %v", got)
	}
	if n := clk.Waiters(); n != 0 || q.Len() != 0 {
		t.Fatalf("after all fired: %d waiters, %d pending", n, q.Len())
	}

	// Forgetting every key of a deadline stops its timer.
	q.AddAt("x", at.Add(time.Hour))
	q.AddAt("y", at.Add(time.Hour))
	q.Forget("x")
	q.AddAt("y", at.Add(2*time.Hour))
	if n := clk.Waiters(); n != 1 {
		t.Fatalf("clock waiters after the first deadline lost its keys: %d", n)
	}
	q.Stop()
	if n := clk.Waiters(); n != 0 || q.Len() != 0 {
		t.Fatalf("after Stop: %d waiters, %d pending", n, q.Len())
	}
}

// A key that leaves a deadline and comes back to it fires once; a deadline
// whose keys come and go keeps only about as many entries as it has keys.
func TestQueueChurnOnOneDeadline(t *testing.T) {
	clk, rec, q := newQueue()
	at, elsewhere := t0.Add(time.Minute), t0.Add(time.Hour)
	q.AddAt("stays", at)
	for range 3 {
		q.AddAt("moves", at)
		q.AddAt("moves", elsewhere)
	}
	q.AddAt("moves", at)
	for i := range 1000 {
		k := fmt.Sprintf("k%d", i)
		q.AddAt(k, at)
		if i%10 != 0 {
			q.AddAt(k, elsewhere)
		}
	}
	q.mu.Lock()
	b := q.buckets[instantOf(at)]
	entries, live := len(b.keys), b.live
	q.mu.Unlock()
	if live != 102 || entries > 2*live+17 {
		t.Fatalf("the deadline holds %d entries for %d keys", entries, live)
	}
	clk.Step(time.Minute)
	got := rec.take()
	want := []string{"stays", "moves"}
	for i := 0; i < 1000; i += 10 {
		want = append(want, fmt.Sprintf("k%d", i))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("fired %d keys (%v…), want %d", len(got), got[:min(len(got), 5)], len(want))
	}
	if q.Len() != 900 || clk.Waiters() != 1 {
		t.Fatalf("after the first deadline: %d pending, %d waiters", q.Len(), clk.Waiters())
	}
}

// 10,000 keys on 100 deadlines arm 100 timers.
func TestQueueTimersPerDeadline(t *testing.T) {
	clk, rec, q := newQueue()
	for i := range 10000 {
		q.AddAt(fmt.Sprintf("s%05d", i), t0.Add(time.Duration(1+i%100)*time.Second))
	}
	if n := clk.Waiters(); n != 100 {
		t.Fatalf("clock waiters for 10,000 keys on 100 deadlines: %d", n)
	}
	clk.Step(100 * time.Second)
	if got := rec.take(); len(got) != 10000 || q.Len() != 0 || clk.Waiters() != 0 {
		t.Fatalf("fired %d, pending %d, waiters %d", len(got), q.Len(), clk.Waiters())
	}
}

// BenchmarkQueueAddAt reports the memory a pending key costs (the live heap
// after a collection, keys' strings excluded) when keys share deadlines as
// sessions do (whole seconds).
func BenchmarkQueueAddAt(b *testing.B) {
	const keys = 10000
	ks := make([]types.NamespacedName, keys)
	for i := range ks {
		ks[i] = types.NamespacedName{Namespace: fmt.Sprintf("ns-%03d", i%100), Name: fmt.Sprintf("session-%05d", i)}
	}
	live := func() uint64 {
		runtime.GC()
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	var perKey float64
	for b.Loop() {
		before := live()
		q := New(clocktesting.NewFakeClock(t0), func(types.NamespacedName) {})
		for i, k := range ks {
			q.AddAt(k, t0.Add(time.Duration(1+i%300)*time.Second))
		}
		perKey = (float64(live()) - float64(before)) / keys
		runtime.KeepAlive(q)
	}
	b.ReportMetric(perKey, "B/key")
}
