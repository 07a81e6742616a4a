package controllers_test

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/controllers"
	"github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/emulator"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	soracomemu "github.com/gatestream/gatestream/internal/emulator/soracom"
)

// TestThrottleIsARequeueNotASleep: a SORACOM 429 or an AWS throttle ends the
// pass at once with a requeue at the time the service asked for (SORACOM's
// Seconds-Before-Refresh; for AWS, aws.ThrottleRequeue while the adaptive
// rate spaces the sends), and the Synced condition says it is waiting and
// until when. Each pass sends the throttled call exactly once: a client that
// slept and retried inside the reconcile would send it again; and a pass
// that comes back before SORACOM's wait is over sends nothing to SORACOM.
func TestThrottleIsARequeueNotASleep(t *testing.T) {
	t.Run("SORACOM", func(t *testing.T) {
		tp := newThrottledPass(t, soracomemu.API)
		res, rae, calls := tp.pass()
		if calls != 1 {
			t.Fatalf("the throttled pass sent %d SORACOM calls, want 1 (no retry inside the pass)", calls)
		}
		log := tp.h.cloud.Faults.Calls(soracomemu.API, fault.Any)
		last := log[len(log)-1]
		if last.Fault != fault.Throttle || last.Status != 429 {
			t.Fatalf("last SORACOM call %+v, want a throttled 429", last)
		}
		// The emulator announces the rest of its rate-limit minute: the pass
		// waits until that minute ends (to the second).
		minuteEnd := last.At.Truncate(time.Minute).Add(time.Minute)
		until := tp.waitingUntil(rae)
		if d := until.Sub(minuteEnd); d < -time.Second || d > time.Second {
			t.Fatalf("Synced says waiting until %s; SORACOM asked to wait until %s", until, minuteEnd)
		}
		// The requeue is that wait, or sooner when another unit asked for an
		// earlier look (the AppStream fleet starting).
		// Seconds-Before-Refresh counts whole seconds, rounded up, and the
		// condition's time is to the second: a pass in the minute's last
		// second is told 1 s, which ends up to a second after the minute.
		if res.RequeueAfter <= 0 || res.RequeueAfter > until.Add(time.Second).Sub(tp.passStart) {
			t.Fatalf("requeue after %v, want at most until %s", res.RequeueAfter, until)
		}
		// A pass before the wait is over sends nothing to SORACOM.
		if _, _, calls := tp.pass(); calls != 0 {
			t.Fatalf("a pass within SORACOM's wait sent %d calls to SORACOM", calls)
		}
	})
	t.Run("AWS", func(t *testing.T) {
		tp := newThrottledPass(t, "appstream")
		res, rae, calls := tp.pass()
		if res.RequeueAfter != aws.ThrottleRequeue {
			t.Fatalf("requeue after %v, want %v", res.RequeueAfter, aws.ThrottleRequeue)
		}
		if calls != 1 {
			t.Fatalf("the throttled pass sent %d AppStream calls, want 1 (the SDK must not retry a throttle)", calls)
		}
		until := tp.waitingUntil(rae)
		if lo, hi := tp.passStart.Add(res.RequeueAfter).Truncate(time.Second), tp.passEnd.Add(res.RequeueAfter); until.Before(lo) || until.After(hi) {
			t.Fatalf("Synced says waiting until %s; the pass ran from %s to %s and requeued after %s", until, tp.passStart, tp.passEnd, res.RequeueAfter)
		}
	})
}

// throttledPass is one environment whose every call to one API is throttled,
// and the reconciler with the shipped client settings (no shortened waits),
// called directly: what one worker does with one object.
type throttledPass struct {
	t                  *testing.T
	h                  *raeHarness
	r                  *controllers.RemoteAccessEnvironmentReconciler
	api                string
	passStart, passEnd time.Time
}

func newThrottledPass(t *testing.T, api string) *throttledPass {
	h := newRAEHarness(t, time.Hour, emulator.Options{})
	h.create(h.sampleEnv("throttled"))
	h.cloud.Faults.Add(fault.Rule{API: api, Op: fault.Any, Kind: fault.Throttle})
	return &throttledPass{t: t, h: h, api: api, r: &controllers.RemoteAccessEnvironmentReconciler{
		Client:       env.Client,
		APIReader:    env.Client,
		Recorder:     events.NewFakeRecorder(100),
		Clients:      clients.New(env.Client, clients.Options{AllowedEndpoints: emulatorEndpoints}),
		Clock:        clock.RealClock{},
		PollInterval: time.Hour,
		// Long: a unit changing state asks for an earlier look (the
		// requeue is the soonest wait asked), which would hide the throttle's.
		TransitionWait: time.Hour,
	}}
}

// pass reconciles until a pass is throttled (the first may only add the
// finalizer) and returns its result, the object and the calls it sent to the API.
func (tp *throttledPass) pass() (ctrl.Result, accessv1alpha1.RemoteAccessEnvironment, int) {
	t, h := tp.t, tp.h
	t.Helper()
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: h.ns, Name: "throttled"}}
	for i := 0; i < 3; i++ {
		before := h.cloud.Faults.Count(tp.api, fault.Any)
		tp.passStart = time.Now()
		res, err := tp.r.Reconcile(h.ctx, req)
		tp.passEnd = time.Now()
		if err != nil {
			t.Fatalf("a throttled pass returned an error (controller-runtime's backoff instead of the service's wait): %v", err)
		}
		rae := h.get("throttled")
		if c := conditions.Get(rae.Status.Conditions, accessv1alpha1.ConditionSynced); c != nil && c.Reason == accessv1alpha1.ReasonThrottled {
			return res, *rae, h.cloud.Faults.Count(tp.api, fault.Any) - before
		}
	}
	t.Fatalf("no pass was throttled")
	return ctrl.Result{}, accessv1alpha1.RemoteAccessEnvironment{}, 0
}

// waitingUntil returns the time Synced says the pass waits until.
func (tp *throttledPass) waitingUntil(rae accessv1alpha1.RemoteAccessEnvironment) time.Time {
	t := tp.t
	t.Helper()
	c := conditions.Get(rae.Status.Conditions, accessv1alpha1.ConditionSynced)
	rest, ok := strings.CutPrefix(c.Message, "waiting until ")
	if !ok {
		t.Fatalf("Synced message %q does not say until when it waits", c.Message)
	}
	until, err := time.Parse(time.RFC3339, strings.Fields(rest)[0])
	if err != nil {
		t.Fatalf("Synced message %q: %v", c.Message, err)
	}
	return until
}
