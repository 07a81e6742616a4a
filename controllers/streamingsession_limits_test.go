package controllers_test

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	"github.com/gatestream/gatestream/internal/testenv"
)

// One person floods the environment with sessions: the oldest five (the
// default spec.sessionLimits.perUser) get URLs, the rest fail at once with
// the limit named and without a cloud call, and another person's session is
// served as usual.
func TestStreamingSessionLimitPerUser(t *testing.T) {
	w := newSSWorld(t)
	w.start(nil)
	var rae accessv1alpha1.RemoteAccessEnvironment
	w.must(env.Client.Get(w.ctx, types.NamespacedName{Namespace: w.ns, Name: ssEnvName}, &rae))
	rae.Spec.SessionLimits = &accessv1alpha1.SessionLimits{PerUser: 5, Total: 200} // the defaults
	w.must(env.Client.Update(w.ctx, &rae))
	flood := w.user("user-a")
	const n = 8
	for i := range n {
		w.must(flood.Create(w.ctx, w.newSession(fmt.Sprintf("flood-%02d", i), "user-a")))
	}
	w.must(w.user("user-b").Create(w.ctx, w.newSession("other", "user-b")))
	w.waitPhase("other", accessv1alpha1.SessionReady, accessv1alpha1.SessionReasonURLIssued)
	testenv.Eventually(t, 30*time.Second, "5 sessions served, 3 over the limit", func() error {
		var ready, failed int
		for i := range n {
			s := w.get(fmt.Sprintf("flood-%02d", i))
			switch {
			case s.Status.Phase == accessv1alpha1.SessionReady && i < 5:
				ready++
			case s.Status.Phase == accessv1alpha1.SessionFailed && i >= 5 && readyReason(s) == accessv1alpha1.SessionReasonLimitReached:
				failed++
			}
		}
		if ready != 5 || failed != 3 {
			return fmt.Errorf("%d of the first five Ready, %d of the last three Failed(SessionLimitReached)", ready, failed)
		}
		return nil
	})
	if m := w.mints(); m != 6 {
		t.Fatalf("%d URLs minted; want 6 (five for user-a, one for user-b)", m)
	}
}

func readyReason(s *accessv1alpha1.StreamingSession) string {
	for _, c := range s.Status.Conditions {
		if c.Type == accessv1alpha1.ConditionReady {
			return c.Reason
		}
	}
	return ""
}

// BenchmarkFloodFairness measures (issue 15 item 9) how long another
// person's session takes to be Ready, unloaded and while one person floods
// the environment with 60 sessions, with AppStream allowing 10 mints/s:
//
//	go test ./controllers/ -run '^$' -bench FloodFairness -benchtime 3x
//
// It prints both times; it asserts nothing about them (a measurement).
func BenchmarkFloodFairness(b *testing.B) {
	for i := range b.N {
		w := newSSWorld(b)
		w.faults.Add(fault.Rule{API: "appstream", Op: "CreateStreamingURL", Kind: fault.Throttle, Rate: 10})
		w.start(nil)
		timeToReady := func(name string) time.Duration {
			start := time.Now()
			w.must(w.user("user-b").Create(w.ctx, w.newSession(name, "user-b")))
			w.waitPhase(name, accessv1alpha1.SessionReady, accessv1alpha1.SessionReasonURLIssued)
			return time.Since(start)
		}
		unloaded := timeToReady(fmt.Sprintf("quiet-%d", i))
		flood := w.user("user-a")
		for j := range 60 {
			w.must(flood.Create(w.ctx, w.newSession(fmt.Sprintf("flood-%d-%02d", i, j), "user-a")))
		}
		flooded := timeToReady(fmt.Sprintf("busy-%d", i))
		b.Logf("run %d: user-b's session Ready in %s unloaded, %s while user-a floods 60 sessions (%.2f×); %d URLs minted",
			i+1, unloaded.Round(time.Millisecond), flooded.Round(time.Millisecond), float64(flooded)/float64(unloaded), w.mints())
		b.ReportMetric(float64(unloaded.Milliseconds()), "unloaded-ms")
		b.ReportMetric(float64(flooded.Milliseconds()), "flooded-ms")
	}
}
