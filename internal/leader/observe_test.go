package leader

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func lease(rv, holder string, renew time.Time, seconds int32) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "l", Namespace: "ns", ResourceVersion: rv},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(holder), LeaseDurationSeconds: ptr.To(seconds),
			RenewTime: ptr.To(metav1.NewMicroTime(renew)), LeaseTransitions: ptr.To[int32](3)},
	}
}

// The lease is valid for leaseDurationSeconds from the local time its record
// was last seen to change: not from the holder's renewTime (its clock may be
// skewed), and not from a later read of the same record.
func TestObserverCountsFromObservedChange(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	skewed := t0.Add(-time.Hour) // the holder's clock is an hour late
	var o observer
	if free, _ := o.free("me", t0); free {
		t.Fatal("free before anything was observed")
	}
	if !o.observe(lease("10", "other", skewed, 4), t0) {
		t.Fatal("first observation: not a change")
	}
	if free, at := o.free("me", t0.Add(3999*time.Millisecond)); free || !at.Equal(t0.Add(4*time.Second)) {
		t.Fatalf("3.999s after the observation: free %v, expiry %s; want held until t0+4s", free, at)
	}
	// A poll that reads the same record does not extend the lease.
	if o.observe(lease("10", "other", skewed, 4), t0.Add(2*time.Second)) {
		t.Fatal("the same record read again counts as a change")
	}
	if free, _ := o.free("me", t0.Add(4*time.Second)); !free {
		t.Fatal("not free a lease duration after the last change")
	}
	// A renewal observed at t0+3s: valid until t0+7s.
	if !o.observe(lease("11", "other", skewed.Add(3*time.Second), 4), t0.Add(3*time.Second)) {
		t.Fatal("a renewal is not a change")
	}
	if free, at := o.free("me", t0.Add(5*time.Second)); free || !at.Equal(t0.Add(7*time.Second)) {
		t.Fatalf("after a renewal at t0+3s: free %v, expiry %s; want held until t0+7s", free, at)
	}
	// An older version (a watch event arriving after a newer read) is ignored.
	if o.observe(lease("10", "other", skewed, 4), t0.Add(6*time.Second)) || o.lease.ResourceVersion != "11" {
		t.Fatalf("an older version was applied: rv %s", o.lease.ResourceVersion)
	}
	// Released (no holder): free at once, whatever its duration.
	o.observe(lease("12", "", t0.Add(6*time.Second), 1), t0.Add(6*time.Second))
	if free, _ := o.free("me", t0.Add(6*time.Second)); !free {
		t.Fatal("a released lease is not free at once")
	}
	// Held by me (a write whose response was lost): free for me to renew.
	o.observe(lease("13", "me", t0.Add(7*time.Second), 4), t0.Add(7*time.Second))
	if free, _ := o.free("me", t0.Add(7*time.Second)); !free {
		t.Fatal("a lease held by myself is not mine to write")
	}
	// Deleted: free at once (Create); an older deletion is ignored.
	if o.observeDeleted(lease("12", "me", t0, 4), t0.Add(8*time.Second)) || o.lease == nil {
		t.Fatal("the deletion of an older version was applied")
	}
	if !o.observeDeleted(lease("14", "me", t0, 4), t0.Add(8*time.Second)) || o.lease != nil {
		t.Fatal("a deletion is not applied")
	}
	if free, _ := o.free("me", t0.Add(8*time.Second)); !free {
		t.Fatal("no Lease: not free")
	}
}
