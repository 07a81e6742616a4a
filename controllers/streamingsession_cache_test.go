package controllers_test

import (
	"errors"
	"fmt"
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/session"
	"github.com/gatestream/gatestream/internal/testenv"
)

// The manager caches the URL Secrets without their URL and the sessions
// without their labels (session.TransformSecret, session.TransformSession).
// A pass over a session in sync reads only that cache: no request. A Secret
// edited while it stays in the cache (its labels kept) is repaired with the
// URL it held, which the controller reads from the API server for that
// write: one read and the write.
func TestStreamingSessionCompactCache(t *testing.T) {
	w := newSSWorld(t)
	w.labelCredentialsInUse()
	w.requests = &testenv.RequestCounter{}
	w.start(nil)
	s := w.newSession("compact", "user-a")
	s.Labels = map[string]string{"team": "line-a"}
	s.Spec.SecretTemplate = &accessv1alpha1.SecretTemplate{Labels: map[string]accessv1alpha1.LabelValue{"team": "line-a"}}
	w.must(w.user("user-a").Create(w.ctx, s))
	s = w.waitPhase("compact", accessv1alpha1.SessionReady, accessv1alpha1.SessionReasonURLIssued)
	sec, err := w.urlSecret("compact")
	w.must(err)
	url := string(sec.Data[accessv1alpha1.SecretKeyURL])

	// What the cache holds: no URL, no session labels.
	var cached corev1.Secret
	w.must(w.mgr.GetCache().Get(w.ctx, client.ObjectKeyFromObject(sec), &cached))
	if !session.URLElided(&cached) {
		t.Fatalf("the cached Secret holds %q, not the placeholder", cached.Data[accessv1alpha1.SecretKeyURL])
	}
	var cachedSession accessv1alpha1.StreamingSession
	w.must(w.mgr.GetCache().Get(w.ctx, client.ObjectKeyFromObject(s), &cachedSession))
	if cachedSession.Labels != nil || cachedSession.Spec.SecretTemplate == nil || cachedSession.Status.URLExpiresAt == nil {
		t.Fatalf("cached session: labels %v, template %v, status %+v", cachedSession.Labels, cachedSession.Spec.SecretTemplate, cachedSession.Status)
	}

	// A pass over the session in sync: no request.
	before := w.requests.Snapshot()
	w.pass(func() { w.poke("compact") })
	if got := w.requests.Since(before); len(got) != 0 {
		t.Fatalf("API requests of an in-sync pass: %s; want none", testenv.Format(got))
	}

	// expiresAt edited, labels kept: repaired from the cache, URL unchanged.
	// The repair's own write wakes one more pass, which finds the Secret in
	// sync: two passes.
	before, passes := w.requests.Snapshot(), reconciles(t)
	orig := sec.DeepCopy()
	sec.Data[accessv1alpha1.SecretKeyExpiresAt] = []byte("never")
	w.must(env.Client.Patch(w.ctx, sec, client.MergeFrom(orig)))
	testenv.Eventually(t, ssWait, "Secret repaired, then found in sync", func() error {
		if n := reconciles(t) - passes; n < 2 {
			return fmt.Errorf("%v passes", n)
		}
		sec, err := w.urlSecret("compact")
		if err != nil {
			return err
		}
		if string(sec.Data[accessv1alpha1.SecretKeyExpiresAt]) != session.FormatExpiresAt(s.Status.URLExpiresAt.Time) {
			return fmt.Errorf("expiresAt %q", sec.Data[accessv1alpha1.SecretKeyExpiresAt])
		}
		if string(sec.Data[accessv1alpha1.SecretKeyURL]) != url {
			return errors.New("the URL changed")
		}
		return nil
	})
	want := map[string]int{"GET secrets": 1, "PUT secrets": 1}
	if got := w.requests.Since(before); !maps.Equal(got, want) {
		t.Fatalf("API requests of the repair: %s; want exactly %s", testenv.Format(got), testenv.Format(want))
	}
	if n := w.mints(); n != 1 {
		t.Fatalf("mints: %d", n)
	}
}

// pass runs act and waits until the StreamingSession controller has
// finished a pass after it (controller-runtime's reconcile counter, shared by
// every manager of the process: the tests of this package run one at a time).
func (w *ssWorld) pass(act func()) {
	w.t.Helper()
	n := reconciles(w.t)
	act()
	testenv.Eventually(w.t, ssWait, "a StreamingSession pass", func() error {
		if reconciles(w.t) <= n {
			return errors.New("no pass yet")
		}
		return nil
	})
}

// reconciles is how many passes the StreamingSession controllers have finished.
func reconciles(t testing.TB) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == "streamingsession" {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}
