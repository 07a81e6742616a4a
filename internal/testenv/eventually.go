package testenv

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Eventually polls cond every 25ms until it returns nil, and fails the test
// with cond's last error when bound passes. Tests synchronise with it, never
// with sleeps.
func Eventually(t testing.TB, bound time.Duration, what string, cond func() error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 25*time.Millisecond, bound, true, func(context.Context) (bool, error) {
		last = cond()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s: %v", what, bound, last)
	}
}

// Consistently fails the test if cond returns an error at any poll during d.
func Consistently(t testing.TB, d time.Duration, what string, cond func() error) {
	t.Helper()
	var failed error
	_ = wait.PollUntilContextTimeout(context.Background(), 25*time.Millisecond, d, true, func(context.Context) (bool, error) {
		failed = cond()
		return failed != nil, nil
	})
	if failed != nil {
		t.Fatalf("%s: %v", what, failed)
	}
}
