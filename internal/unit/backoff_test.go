package unit

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// TestErrorBackoffDoublesAndIsCapped: one object's waits double from the
// base and stop at the cap; another object starts from the base; Forget
// (a pass that succeeded) starts the object over.
func TestErrorBackoffDoublesAndIsCapped(t *testing.T) {
	rl := ErrorBackoff(0, 0)
	a := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "a"}}
	b := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "b"}}
	want := DefaultBackoffBase
	for i := 0; i < 12; i++ {
		if got := rl.When(a); got != want {
			t.Fatalf("failure %d: wait %s, want %s", i+1, got, want)
		}
		want = min(2*want, DefaultBackoffMax)
	}
	if got := rl.When(a); got != DefaultBackoffMax {
		t.Fatalf("after many failures: wait %s, want the cap %s", got, DefaultBackoffMax)
	}
	if got := rl.When(b); got != DefaultBackoffBase {
		t.Fatalf("another object: wait %s, want %s", got, DefaultBackoffBase)
	}
	rl.Forget(a)
	if got := rl.When(a); got != DefaultBackoffBase {
		t.Fatalf("after Forget: wait %s, want %s", got, DefaultBackoffBase)
	}
	if got := ErrorBackoff(time.Second, 5*time.Second); func() time.Duration {
		var last time.Duration
		for i := 0; i < 10; i++ {
			last = got.When(a)
		}
		return last
	}() != 5*time.Second {
		t.Fatal("a configured cap is not applied")
	}
}
