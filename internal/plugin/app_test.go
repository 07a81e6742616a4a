package plugin

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRelative(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { return &metav1.Time{Time: now.Add(d)} }
	for _, tc := range []struct {
		t    *metav1.Time
		want string
	}{
		{nil, "-"},
		{at(45 * time.Second), "in 45s"},
		{at(4*time.Minute + 59*time.Second), "in 4m59s"},
		{at(-12 * time.Minute), "12m ago"},
		{at(2*time.Hour + 5*time.Minute), "in 2h5m"},
		{at(-76 * time.Hour), "3d4h ago"},
		{at(0), "now"},
	} {
		if got := relative(now, tc.t); got != tc.want {
			t.Errorf("relative(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
}
