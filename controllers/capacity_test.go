package controllers_test

// Capacity from demand, end to end: the environment and session controllers
// in one manager against the real API server, the emulated AppStream fleet
// (instances start with a delay, in-use instances are kept at scale-in) over
// HTTP. The environment's clock is a fake one, stepped to run out the idle time.

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/controllers"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/emulator"
	awsemu "github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/manager"
	"github.com/gatestream/gatestream/internal/testenv"
)

// startWithSessions runs the environment controller on envClock and the
// session controller on the real clock, in one manager.
func (h *raeHarness) startWithSessions(envClock clock.PassiveClock) {
	opts := manager.DefaultOptions()
	opts.WatchNamespaces = []string{h.ns}
	h.mgr = testenv.RunManager(h.t, env, opts, func(m *manager.Manager) error {
		factory := raeClients(m)
		if err := (&controllers.RemoteAccessEnvironmentReconciler{
			Client: m.GetClient(), Clients: factory,
			Recorder: m.GetEventRecorder("gatestream-remoteaccessenvironment"),
			Clock:    envClock, PollInterval: time.Hour, TransitionWait: 100 * time.Millisecond,
			MaxConcurrentReconciles: 2,
		}).SetupWithManager(m); err != nil {
			return err
		}
		return (&controllers.StreamingSessionReconciler{
			Client: m.GetClient(), APIReader: m.GetAPIReader(), Clients: factory,
			Recorder: m.GetEventRecorder(controllers.StreamingSessionRecorderName),
			Clock:    clock.RealClock{}, MaxConcurrentReconciles: 4, SkipNameValidation: true,
		}).SetupWithManager(m)
	})
}

func (h *raeHarness) session(name string) *accessv1alpha1.StreamingSession {
	return &accessv1alpha1.StreamingSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name},
		Spec: accessv1alpha1.StreamingSessionSpec{
			EnvironmentRef: accessv1alpha1.LocalObjectReference{Name: "demand"},
			UserID:         "user-" + name, Application: "teraterm",
			URLValidity: metav1.Duration{Duration: 5 * time.Minute}, AccessWindow: metav1.Duration{Duration: time.Hour},
		},
	}
}

func (h *raeHarness) getSession(name string) *accessv1alpha1.StreamingSession {
	h.t.Helper()
	var s accessv1alpha1.StreamingSession
	if err := env.Client.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: name}, &s); err != nil {
		h.t.Fatal(err)
	}
	return &s
}

func (h *raeHarness) waitSessionReady(name string) *accessv1alpha1.StreamingSession {
	h.t.Helper()
	var s *accessv1alpha1.StreamingSession
	testenv.Eventually(h.t, 30*time.Second, name+" Ready", func() error {
		s = h.getSession(name)
		if s.Status.Phase != accessv1alpha1.SessionReady {
			c := conditions.Get(s.Status.Conditions, accessv1alpha1.ConditionReady)
			if c == nil {
				return fmt.Errorf("phase %q", s.Status.Phase)
			}
			return fmt.Errorf("phase %s: %s %s", s.Status.Phase, c.Reason, c.Message)
		}
		return nil
	})
	return s
}

// openURL opens the session's URL as its user's browser would; it must start a session.
func (h *raeHarness) openURL(name string) {
	h.t.Helper()
	var sec corev1.Secret
	if err := env.Client.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: h.getSession(name).Status.SecretName}, &sec); err != nil {
		h.t.Fatal(err)
	}
	resp, err := http.Get(string(sec.Data["url"]))
	if err != nil {
		h.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("opening %s's URL: %d %s", name, resp.StatusCode, body)
	}
}

func (h *raeHarness) fleet(name string) awsemu.Fleet {
	h.t.Helper()
	for _, f := range h.cloud.AWS.Fleets() {
		if f.Name == name {
			return f
		}
	}
	h.t.Fatalf("no fleet %s", name)
	return awsemu.Fleet{}
}

func (h *raeHarness) calls(op string) int { return h.cloud.Faults.Count("appstream", op) }

// With capacity Demand (min 0, spare 1): the fleet is not started before the
// first session; the first session starts it, waits for capacity (and says
// so), and mints once an instance runs; ten sessions at once raise capacity
// with one UpdateFleet; when they end capacity falls back without ending the
// session still in use; and the fleet stops once no session has been live
// for stopAfterIdle.
func TestDemandCapacity(t *testing.T) {
	h := newRAEHarness(t, time.Hour, emulator.Options{FleetStartDelay: 2 * time.Second})
	h.cloud.AWS.SetFleetInstanceStartDelay(2 * time.Second)
	clk := clocktesting.NewFakePassiveClock(time.Now())
	h.startWithSessions(clk)

	rae := h.sampleEnv("demand")
	rae.Spec.AppStream.Capacity = &accessv1alpha1.CapacitySpec{Policy: accessv1alpha1.CapacityDemand,
		Demand: &accessv1alpha1.DemandCapacity{Min: 0, Max: 20, Spare: 1, StopAfterIdle: metav1.Duration{Duration: 10 * time.Minute}}}
	h.create(rae)
	got := h.waitReady("demand", 60*time.Second)
	fleetName := got.Status.Fleet.Name
	if f := h.fleet(fleetName); f.State != awsemu.FleetStopped || h.calls("StartFleet") != 0 {
		t.Fatalf("before any session the fleet is %s after %d StartFleet calls; want STOPPED, never started", f.State, h.calls("StartFleet"))
	}
	if c := conditions.Get(got.Status.Conditions, accessv1alpha1.ConditionFleetReady); c == nil || !strings.Contains(c.Message, "stopped") {
		t.Fatalf("FleetReady does not say the fleet is stopped while idle: %+v", c)
	}
	if c := conditions.Get(got.Status.Conditions, accessv1alpha1.ConditionReady); c == nil || !strings.Contains(c.Message, "the fleet is STOPPED with no instance running") {
		t.Fatalf("Ready claims more than was observed of the idle fleet: %+v", c)
	}

	// The first session starts the fleet and waits for capacity, saying so.
	h.create(h.session("first"))
	testenv.Eventually(t, 10*time.Second, "first waits for capacity", func() error {
		s := h.getSession("first")
		c := conditions.Get(s.Status.Conditions, accessv1alpha1.ConditionReady)
		if s.Status.Phase != accessv1alpha1.SessionPending || c == nil || c.Reason != accessv1alpha1.SessionReasonWaitingForCapacity {
			return fmt.Errorf("phase %s %+v", s.Status.Phase, c)
		}
		if !strings.Contains(c.Message, "waiting for capacity") {
			return fmt.Errorf("message %q", c.Message)
		}
		return nil
	})
	if n := h.calls("CreateStreamingURL"); n != 0 {
		t.Fatalf("%d URLs minted before an instance ran", n)
	}
	h.waitSessionReady("first")
	if n := h.calls("StartFleet"); n != 1 {
		t.Fatalf("StartFleet called %d times; want 1", n)
	}
	h.openURL("first") // the instance is in use from now on
	testenv.Eventually(t, 10*time.Second, "the observed start is recorded", func() error {
		if st := h.get("demand").Status.Capacity; st == nil || len(st.StartSeconds) == 0 {
			return fmt.Errorf("capacity status %+v", st)
		}
		return nil
	})

	// Ten sessions at once: one UpdateFleet raises capacity to 11 live + 1 spare.
	updates := h.calls("UpdateFleet")
	for i := range 10 {
		h.create(h.session(fmt.Sprintf("burst-%d", i)))
	}
	for i := range 10 {
		h.waitSessionReady(fmt.Sprintf("burst-%d", i))
	}
	if n := h.calls("UpdateFleet") - updates; n != 1 {
		t.Fatalf("ten sessions made %d UpdateFleet calls; want 1", n)
	}
	if f := h.fleet(fleetName); f.ComputeCapacityStatus.Desired != 12 {
		t.Fatalf("desired %d; want 12 (11 live sessions + 1 spare)", f.ComputeCapacityStatus.Desired)
	}
	if n := h.calls("CreateStreamingURL"); n != 11 {
		t.Fatalf("%d URLs minted for 11 sessions", n)
	}

	// They end (deleted: revoked). Capacity falls back to 1 live + 1 spare;
	// the instance in use stays, and so does its user's session.
	updates = h.calls("UpdateFleet")
	for i := range 10 {
		if err := env.Client.Delete(h.ctx, h.getSession(fmt.Sprintf("burst-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 20*time.Second, "capacity falls back to 2", func() error {
		if f := h.fleet(fleetName); f.ComputeCapacityStatus.Desired != 2 {
			return fmt.Errorf("desired %d", f.ComputeCapacityStatus.Desired)
		}
		return nil
	})
	if n := h.calls("UpdateFleet") - updates; n != 1 {
		t.Fatalf("ending ten sessions made %d UpdateFleet calls; want 1", n)
	}
	f := h.fleet(fleetName)
	if f.ComputeCapacityStatus.InUse != 1 || f.State != awsemu.FleetRunning {
		t.Fatalf("after scale-in: %s, %+v; want RUNNING with the one session in use", f.State, f.ComputeCapacityStatus)
	}
	var live int
	for _, s := range h.cloud.AWS.Sessions() {
		if s.State != awsemu.SessionExpired {
			live++
			if s.UserId != "user-first" {
				t.Fatalf("session of %s outlived its StreamingSession", s.UserId)
			}
		}
	}
	if live != 1 {
		t.Fatalf("%d AppStream sessions live; want user-first's only", live)
	}

	// The last one ends; the fleet keeps a spare until stopAfterIdle, then stops.
	if err := env.Client.Delete(h.ctx, h.getSession("first")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "idle with one spare", func() error {
		st := h.get("demand").Status.Capacity
		if st == nil || st.LiveSessions != 0 || st.IdleSince == nil || st.Desired != 1 {
			return fmt.Errorf("capacity status %+v", st)
		}
		return nil
	})
	if f := h.fleet(fleetName); f.State != awsemu.FleetRunning || h.calls("StopFleet") != 0 {
		t.Fatalf("the fleet stopped before stopAfterIdle: %s", f.State)
	}
	clk.SetTime(clk.Now().Add(11 * time.Minute))
	h.poke("demand")
	testenv.Eventually(t, 20*time.Second, "the idle fleet stops", func() error {
		if f := h.fleet(fleetName); f.State != awsemu.FleetStopped {
			return fmt.Errorf("fleet %s", f.State)
		}
		return nil
	})
	if n := h.calls("StopFleet"); n != 1 {
		t.Fatalf("StopFleet called %d times; want 1", n)
	}
	final := h.waitReady("demand", 10*time.Second)
	// The environment's clock moved only by the 11 idle minutes, with one
	// ON_DEMAND spare provisioned and not streaming: 660 stopped instance-seconds.
	if u := final.Status.Usage; u == nil || u.StoppedInstanceSecondsTotal != 660 || u.RunningInstanceSecondsTotal != 0 || u.PeakInUse != 1 {
		t.Fatalf("usage %+v; want 660 stopped instance-seconds, none running, a peak of 1 in use", u)
	}
}
