package unit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/soracom"
)

// fakeUnit records what Converge and Remove asked of it.
type fakeUnit struct {
	cond             string
	obs              []Observation // successive observations
	observeErr       error
	creates, updates int
	deleteGone       bool
	deleted          int
	log              *[]string
}

func (f *fakeUnit) Condition() string { return f.cond }
func (f *fakeUnit) Observe(context.Context, *testPass) (Observation, error) {
	if f.observeErr != nil {
		return Observation{}, f.observeErr
	}
	o := f.obs[0]
	if len(f.obs) > 1 {
		f.obs = f.obs[1:]
	}
	return o, nil
}
func (f *fakeUnit) Create(context.Context, *testPass) error { f.creates++; return nil }
func (f *fakeUnit) Update(context.Context, *testPass) error { f.updates++; return nil }
func (f *fakeUnit) Delete(context.Context, *testPass) (bool, error) {
	f.deleted++
	*f.log = append(*f.log, f.cond)
	return f.deleteGone, nil
}

// testPass is a kind's pass with nothing but the shared base.
type testPass struct {
	Base
	conds   []metav1.Condition
	persist int
}

func newPass() *testPass {
	p := &testPass{}
	p.Base = Base{Conditions: &p.conds, Generation: 3, TransitionWait: 7, PollInterval: 99, Now: time.Unix(1_800_000_000, 0),
		Persist: func(context.Context) error { p.persist++; return nil }}
	return p
}

var ready = Observation{Exists: true, UpToDate: true, Ready: true}

func TestConvergeCreatesUpdatesAndStopsAtTheFirstUnready(t *testing.T) {
	p := newPass()
	missing := &fakeUnit{cond: "A", obs: []Observation{{Exists: false}, {Exists: true, UpToDate: false}, ready}}
	drifted := &fakeUnit{cond: "B", obs: []Observation{{Exists: true, UpToDate: false, Ready: true}, ready}}
	starting := &fakeUnit{cond: "C", obs: []Observation{{Exists: true, UpToDate: true, Reason: "Starting", Message: "soon"}}}
	after := &fakeUnit{cond: "D", obs: []Observation{ready}}
	out := Converge[*testPass](context.Background(), p, missing, drifted, starting, after)
	if out.Ready || out.Err != nil || out.Wait != 7 {
		t.Fatalf("outcome = %+v", out)
	}
	if missing.creates != 1 || missing.updates != 1 || drifted.updates != 1 || starting.creates+starting.updates != 0 {
		t.Fatalf("calls: missing %d/%d drifted %d starting %d/%d", missing.creates, missing.updates, drifted.updates, starting.creates, starting.updates)
	}
	conds := p.conds
	for typ, want := range map[string]string{"A": accessv1alpha1.ReasonAvailable, "B": accessv1alpha1.ReasonAvailable, "C": "Starting", "D": accessv1alpha1.ReasonWaitingForDependency} {
		c := conditions.Get(conds, typ)
		if c == nil || c.Reason != want || c.ObservedGeneration != 3 {
			t.Errorf("%s = %+v; want reason %s at generation 3", typ, c, want)
		}
	}
	if c := conditions.Get(conds, "D"); !strings.Contains(c.Message, "C") {
		t.Errorf("D's message %q does not name the blocker", c.Message)
	}
}

func TestConvergeReportsErrorsByKind(t *testing.T) {
	cases := map[string]struct {
		err    error
		reason string
	}{
		"terminal":  {Terminal(accessv1alpha1.ReasonRouteTableNotFound, errors.New("rtb-1 missing")), accessv1alpha1.ReasonRouteTableNotFound},
		"throttled": {&soracom.APIError{HTTPStatus: 429, Code: "COM0001"}, accessv1alpha1.ReasonThrottled},
		"4xx":       {&soracom.APIError{HTTPStatus: 400, Code: "VPG0001", Message: "bad"}, accessv1alpha1.ReasonInvalidConfiguration},
		"5xx":       {&soracom.APIError{HTTPStatus: 503}, accessv1alpha1.ReasonAPIError},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := newPass()
			u := &fakeUnit{cond: "A", observeErr: tc.err}
			out := Converge[*testPass](context.Background(), p, u, &fakeUnit{cond: "B", obs: []Observation{ready}})
			if out.Err == nil || out.Ready {
				t.Fatalf("outcome = %+v", out)
			}
			if c := conditions.Get(p.conds, "A"); c.Reason != tc.reason {
				t.Fatalf("reason %s; want %s", c.Reason, tc.reason)
			}
			if c := conditions.Get(p.conds, "B"); c.Reason != accessv1alpha1.ReasonWaitingForDependency {
				t.Fatalf("B = %+v", c)
			}
		})
	}
}

func TestConvergeWaitsForAPersonAtThePollInterval(t *testing.T) {
	p := newPass()
	out := Converge[*testPass](context.Background(), p, &fakeUnit{cond: "N", obs: []Observation{{Exists: true, UpToDate: true, Reason: "MissingRoute", Wait: -1}}})
	if out.Wait != 99 {
		t.Fatalf("wait = %v; want the poll interval", out.Wait)
	}
}

func TestRemoveStopsAtTheFirstUnitNotGone(t *testing.T) {
	var log []string
	p := newPass()
	a := &fakeUnit{cond: "A", deleteGone: true, log: &log}
	b := &fakeUnit{cond: "B", deleteGone: false, log: &log}
	c := &fakeUnit{cond: "C", deleteGone: true, log: &log}
	gone, err := Remove[*testPass](context.Background(), p, a, b, c)
	if gone || err != nil || strings.Join(log, "") != "AB" {
		t.Fatalf("gone=%v err=%v order=%v", gone, err, log)
	}
	b.deleteGone = true
	gone, _ = Remove[*testPass](context.Background(), p, a, b, c)
	if !gone || strings.Join(log, "") != "ABABC" {
		t.Fatalf("gone=%v order=%v", gone, log)
	}
}

func TestTransitionWaitGrowsWithTheTimeAStateHasBeenChanging(t *testing.T) {
	starting := Observation{Exists: true, UpToDate: true, Reason: "FleetStarting"}
	for _, tc := range []struct {
		name     string
		changing time.Duration // how long the condition has been False; 0: new
		want     time.Duration
	}{
		{"just started", 0, MinTransitionWait},
		{"changing for 30s", 30 * time.Second, 3 * time.Second},
		{"changing for 5m", 5 * time.Minute, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPass()
			p.TransitionWait = 10 * time.Second
			if tc.changing > 0 {
				p.conds = []metav1.Condition{{Type: "F", Status: metav1.ConditionFalse, Reason: "FleetStarting",
					LastTransitionTime: metav1.NewTime(p.Now.Add(-tc.changing))}}
			}
			out := Converge[*testPass](context.Background(), p, &fakeUnit{cond: "F", obs: []Observation{starting}})
			if out.Wait != tc.want {
				t.Fatalf("wait = %v; want %v", out.Wait, tc.want)
			}
		})
	}
}
