package unit

import (
	"context"
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/soracom"
)

// guardedUnit is a billable object found by owner tag: exists says whether
// the lookup finds it, createErr what the create call returns (a create
// whose response is lost creates the object and returns an error).
type guardedUnit struct {
	fakeUnit
	marker    *metav1.Time
	exists    bool
	createErr error
	lost      bool
	gone      bool
}

func (g *guardedUnit) PendingMarker(*testPass) **metav1.Time { return &g.marker }
func (g *guardedUnit) Observe(context.Context, *testPass) (Observation, error) {
	if !g.exists {
		return Observation{}, nil
	}
	return Observation{Exists: true, UpToDate: true, Ready: true}, nil
}
func (g *guardedUnit) Create(context.Context, *testPass) error {
	g.creates++
	if g.createErr == nil || g.lost {
		g.exists = true
	}
	return g.createErr
}
func (g *guardedUnit) Delete(context.Context, *testPass) (bool, error) { return g.gone, nil }

func TestGuardedCreateWritesTheMarkerFirstAndNeverCreatesTwice(t *testing.T) {
	p := newPass()
	lostResponse := &soracom.TransportError{Operation: "createVirtualPrivateGateway", Err: errors.New("connection reset")}
	g := &guardedUnit{fakeUnit: fakeUnit{cond: "Gateway"}, createErr: lostResponse, lost: true}
	var markerAtPersist []bool
	p.Persist = func(context.Context) error { markerAtPersist = append(markerAtPersist, g.marker != nil); return nil }

	out := Converge[*testPass](context.Background(), p, g)
	if out.Err == nil || g.creates != 1 {
		t.Fatalf("outcome %+v, creates %d", out, g.creates)
	}
	if len(markerAtPersist) != 1 || !markerAtPersist[0] {
		t.Fatalf("persists %v: the marker must be written before the create call", markerAtPersist)
	}
	if g.marker == nil {
		t.Fatal("an unknown outcome must keep the marker")
	}
	// The lost create's object is listed: found, marker cleared, no second create.
	out = Converge[*testPass](context.Background(), p, g)
	if !out.Ready || g.creates != 1 || g.marker != nil {
		t.Fatalf("outcome %+v creates %d marker %v", out, g.creates, g.marker)
	}
}

func TestGuardedCreateWaitsOutTheGraceWhenTheLookupFindsNothing(t *testing.T) {
	p := newPass()
	since := metav1.NewTime(p.Now.Add(-10 * time.Second))
	g := &guardedUnit{fakeUnit: fakeUnit{cond: "Gateway"}, marker: &since}
	out := Converge[*testPass](context.Background(), p, g)
	c := conditions.Get(p.conds, "Gateway")
	if g.creates != 0 || out.Ready || out.Wait != CreateGrace-10*time.Second || c.Reason != accessv1alpha1.ReasonCreatePending {
		t.Fatalf("creates %d outcome %+v condition %+v", g.creates, out, c)
	}
	// Past the grace the lookup is trusted: create again, once.
	p.Now = p.Now.Add(CreateGrace)
	out = Converge[*testPass](context.Background(), p, g)
	if g.creates != 1 || !out.Ready || g.marker != nil {
		t.Fatalf("creates %d outcome %+v marker %v", g.creates, out, g.marker)
	}
}

func TestGuardedCreateClearsTheMarkerWhenNothingWasCreated(t *testing.T) {
	p := newPass()
	g := &guardedUnit{fakeUnit: fakeUnit{cond: "Gateway"}, createErr: &soracom.APIError{HTTPStatus: 400, Code: "VPG0001"}}
	out := Converge[*testPass](context.Background(), p, g)
	if out.Err == nil || g.marker != nil || !IsTerminal(out.Err) {
		t.Fatalf("outcome %+v marker %v", out, g.marker)
	}
}

func TestRemoveKeepsAGuardedUnitWhileItsCreateMayAppear(t *testing.T) {
	p := newPass()
	since := metav1.NewTime(p.Now.Add(-time.Second))
	g := &guardedUnit{fakeUnit: fakeUnit{cond: "Gateway"}, marker: &since, gone: true}
	if gone, err := Remove[*testPass](context.Background(), p, g); gone || err != nil {
		t.Fatalf("gone %v err %v: a create within its grace may still appear", gone, err)
	}
	p.Now = p.Now.Add(CreateGrace)
	if gone, err := Remove[*testPass](context.Background(), p, g); !gone || err != nil || g.marker != nil {
		t.Fatalf("gone %v err %v marker %v", gone, err, g.marker)
	}
}

// movingMarker keeps its marker in a status that Persist replaces (as a
// status write that re-reads the object after a conflict does).
type movingMarker struct {
	guardedUnit
	status **metav1.Time
}

func (m *movingMarker) PendingMarker(*testPass) **metav1.Time { return *(&m.status) }

// The marker is cleared in the status as it is after the writes, not in a
// copy the first write replaced.
func TestGuardedCreateClearsTheMarkerInTheCurrentStatus(t *testing.T) {
	p := newPass()
	first := new(*metav1.Time)
	m := &movingMarker{guardedUnit: guardedUnit{fakeUnit: fakeUnit{cond: "Router"}}, status: first}
	p.Persist = func(context.Context) error {
		moved := new(*metav1.Time) // the re-read status, carrying what the pass had
		*moved = *m.status
		m.status = moved
		return nil
	}
	if out := Converge[*testPass](context.Background(), p, m); !out.Ready || m.creates != 1 {
		t.Fatalf("outcome %+v creates %d", out, m.creates)
	}
	if *m.status != nil {
		t.Fatalf("the create-pending marker %v survived in the status written after the create", *m.status)
	}
}
