package environment

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

// Sessions are counted once each, a minute after their issue, with their
// Napter mappings' time; the estimate prices instance and Napter time.
func TestUsageCountsSessionsOnceWithNapterTime(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	env := &accessv1alpha1.RemoteAccessEnvironment{}
	env.Spec.AppStream.Fleet.InstanceType = "stream.standard.medium"
	env.Spec.AppStream.Prices = &accessv1alpha1.Prices{RunningInstanceHour: map[string]accessv1alpha1.Price{"stream.standard.medium": "0.25"}}
	env.Spec.Napter = &accessv1alpha1.NapterSpec{Enabled: true, MinutePrice: "0.01"}
	u := &accessv1alpha1.UsageStatus{Month: "2026-12", RunningInstanceSecondsThisMonth: 7200, RunningInstanceSecondsTotal: 7200}
	issued := []IssuedSession{{At: t0}, {At: t0.Add(10 * time.Second), Napter: 30 * time.Minute}, {At: t0.Add(5 * time.Minute), Napter: time.Hour}}

	p := &Pass{Env: env, Now: t0.Add(90 * time.Second), SessionsIssued: issued}
	countServed(p, u)
	if u.SessionsServed != 2 || u.NapterSecondsThisMonth != 1800 || u.NapterSecondsTotal != 1800 {
		t.Fatalf("after the first pass: %+v; want the two sessions older than a minute, 1800 Napter seconds", u)
	}
	// 2 instance-hours at 0.25 + 30 Napter minutes at 0.01.
	if u.EstimatedCostThisMonth != "0.80" || u.EstimatedCostTotal != "0.80" {
		t.Fatalf("estimate %q / %q; want 0.80", u.EstimatedCostThisMonth, u.EstimatedCostTotal)
	}
	mark := u.SessionsCountedUntil.DeepCopy()
	p.Now = t0.Add(2 * time.Minute) // nothing new is a minute old: nothing changes
	countServed(p, u)
	if u.SessionsServed != 2 || !u.SessionsCountedUntil.Equal(mark) {
		t.Fatalf("a pass with nothing to count changed the usage: %+v", u)
	}
	p.Now = t0.Add(10 * time.Minute)
	countServed(p, u)
	if u.SessionsServed != 3 || u.NapterSecondsTotal != 5400 || u.EstimatedCostThisMonth != "1.40" {
		t.Fatalf("after the third session: %+v", u)
	}
	u.SessionsCountedUntil = &metav1.Time{Time: t0.Add(time.Hour)}
	countServed(p, u)
	if u.SessionsServed != 3 {
		t.Fatalf("sessions counted twice: %d", u.SessionsServed)
	}
}
