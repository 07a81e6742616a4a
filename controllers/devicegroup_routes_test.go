package controllers_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

// TestDeviceGroupKeepsRoutesOfSIMsNowOwnedByAnother: a router SIM that was
// line-a's member is moved out of line-a's group in the console and taken by
// line-b (with its own LAN route). line-a, which still lists it, reports a
// conflict and must leave line-b's route on the shared VPG map alone.
func TestDeviceGroupKeepsRoutesOfSIMsNowOwnedByAnother(t *testing.T) {
	w := newDGWorld(t, dgWorldOptions{NoController: true})
	w.addSIM(dgSimRouter, true, nil)

	w.newDG("line-a", accessv1alpha1.DeviceGroupSpec{
		SIMs:      []string{dgSimRouter},
		LANRoutes: []accessv1alpha1.LANRoute{{SIMID: dgSimRouter, CIDR: "192.168.1.0/24"}},
	})
	w.reconcile("line-a")
	w.waitReady("line-a")
	if got := w.routes()[dgSimRouter]; got != "192.168.1.0/24" {
		t.Fatalf("line-a's route: %q", got)
	}

	// The console takes the SIM out of line-a's group; line-b takes it.
	w.must(w.sc.UnsetSimGroup(w.ctx, dgSimRouter))
	w.newDG("line-b", accessv1alpha1.DeviceGroupSpec{
		SIMs:      []string{dgSimRouter},
		LANRoutes: []accessv1alpha1.LANRoute{{SIMID: dgSimRouter, CIDR: "192.168.2.0/24"}},
	})
	w.reconcile("line-b", "line-a")
	b := w.waitReady("line-b")
	if w.sim(dgSimRouter).GroupID != b.Status.GroupID {
		t.Fatalf("line-b did not take the free SIM")
	}
	if got := w.routes()[dgSimRouter]; got != "192.168.2.0/24" {
		t.Fatalf("line-b's route: %q", got)
	}

	// line-a's next pass after a spec change: a conflict, and line-b's route stays.
	w.updateDG("line-a", func(dg *accessv1alpha1.DeviceGroup) { dg.Spec.Group.Name = "line-a-renamed" })
	w.reconcile("line-a", "line-b")
	w.waitCondition("line-a", accessv1alpha1.ConditionConflict, metav1.ConditionTrue, accessv1alpha1.ReasonSIMConflict)
	if got := w.routes()[dgSimRouter]; got != "192.168.2.0/24" {
		t.Fatalf("line-a clobbered line-b's route: routes %v", w.routes())
	}
}

// TestDeviceGroupDeletionKeepsRoutesOfSIMsNowOwnedByAnother: as above, but
// line-a is deleted (its status still lists the SIM as a member): its
// cleanup must not delete line-b's route.
func TestDeviceGroupDeletionKeepsRoutesOfSIMsNowOwnedByAnother(t *testing.T) {
	w := newDGWorld(t, dgWorldOptions{NoController: true})
	w.addSIM(dgSimRouter, true, nil)
	w.newDG("line-a", accessv1alpha1.DeviceGroupSpec{
		SIMs:      []string{dgSimRouter},
		LANRoutes: []accessv1alpha1.LANRoute{{SIMID: dgSimRouter, CIDR: "192.168.1.0/24"}},
	})
	w.reconcile("line-a")
	w.waitReady("line-a")

	w.must(w.sc.UnsetSimGroup(w.ctx, dgSimRouter))
	w.newDG("line-b", accessv1alpha1.DeviceGroupSpec{
		SIMs:      []string{dgSimRouter},
		LANRoutes: []accessv1alpha1.LANRoute{{SIMID: dgSimRouter, CIDR: "192.168.2.0/24"}},
	})
	w.reconcile("line-b", "line-a")
	w.waitReady("line-b")

	w.deleteDG("line-a")
	w.reconcile("line-a", "line-b")
	w.waitGone("line-a")
	if got := w.routes()[dgSimRouter]; got != "192.168.2.0/24" {
		t.Fatalf("line-a's cleanup deleted line-b's route: routes %v", w.routes())
	}
}
