package controllers_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	"github.com/gatestream/gatestream/internal/manager"
	"github.com/gatestream/gatestream/internal/session"
	"github.com/gatestream/gatestream/internal/testenv"
)

// A plain user creates a session and gets a Ready one whose Secret's URL
// opens once; the Secret is owned and labelled; after expiry the session
// becomes Active by itself (fake clock), and when the access window ends the
// user's AppStream session is ended.
func TestStreamingSessionLifecycle(t *testing.T) {
	w := newSSWorld(t)
	w.start(nil)
	userA := w.user("user-a")

	s := w.newSession("tera-1", "user-a")
	s.Spec.SecretTemplate = &accessv1alpha1.SecretTemplate{
		Labels:      map[string]accessv1alpha1.LabelValue{"team": "line-a", "app.kubernetes.io/instance": "argo-app"},
		Annotations: map[string]string{"note": "for the night shift", "argocd.argoproj.io/tracking-id": "app:access.gatestream.io/StreamingSession:x/tera-1"},
	}
	w.must(userA.Create(w.ctx, s))
	minted := w.clk.Now()

	s = w.waitPhase("tera-1", accessv1alpha1.SessionReady, accessv1alpha1.SessionReasonURLIssued)
	st := s.Status
	if st.SecretName != "tera-1-url" || st.Target == nil || st.Target.Address != "10.128.3.7" || st.Target.Port != 22 {
		t.Fatalf("status: %+v", st)
	}
	if st.URLExpiresAt == nil || st.URLExpiresAt.Sub(minted.Add(ssValidity)).Abs() > time.Second ||
		st.AccessEndsAt == nil || st.AccessEndsAt.Sub(minted.Add(ssWindow)).Abs() > time.Second {
		t.Fatalf("deadlines: minted %s, status %+v", minted, st)
	}
	if st.MintRequestedAt != nil {
		t.Fatalf("an intent was recorded (mintRequestedAt %s): the URL is minted and recorded in one pass", st.MintRequestedAt)
	}
	if !strings.Contains(strings.Join(s.Finalizers, ","), accessv1alpha1.StreamingSessionFinalizer) {
		t.Fatalf("finalizers: %v", s.Finalizers)
	}

	// The requester can read the Secret (team RBAC), and it is what we promise.
	var sec corev1.Secret
	w.must(userA.Get(w.ctx, client.ObjectKey{Namespace: w.ns, Name: st.SecretName}, &sec))
	url := string(sec.Data["url"])
	if url == "" || string(sec.Data["target"]) != "10.128.3.7:22" || string(sec.Data["expiresAt"]) != st.URLExpiresAt.UTC().Format(time.RFC3339) {
		t.Fatalf("secret data keys: %v (target %q, expiresAt %q)", keysOf(sec.Data), sec.Data["target"], sec.Data["expiresAt"])
	}
	ref := metav1.GetControllerOf(&sec)
	if ref == nil || ref.UID != s.UID || ref.Kind != "StreamingSession" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Fatalf("owner reference: %+v", sec.OwnerReferences)
	}
	if sec.Labels[accessv1alpha1.LabelManagedBy] != "gatestream" || sec.Labels[accessv1alpha1.LabelStreamingSession] != "tera-1" || sec.Labels["team"] != "line-a" {
		t.Fatalf("labels: %v", sec.Labels)
	}
	if _, ok := sec.Labels["app.kubernetes.io/instance"]; ok {
		t.Fatalf("Argo CD tracking label copied: %v", sec.Labels)
	}
	if sec.Annotations["note"] != "for the night shift" || sec.Annotations["argocd.argoproj.io/tracking-id"] != "" {
		t.Fatalf("annotations: %v", sec.Annotations)
	}
	// Created once, with the URL, by a plain create as gatestream: no
	// placeholder, no later write of the URL.
	if len(sec.ManagedFields) != 1 || sec.ManagedFields[0].Manager != session.FieldOwner ||
		sec.ManagedFields[0].Operation != metav1.ManagedFieldsOperationUpdate {
		t.Fatalf("not created once by %q: %+v", session.FieldOwner, sec.ManagedFields)
	}

	// What AppStream got.
	urls := w.world.StreamingURLs()
	if len(urls) != 1 || urls[0].URL != url || urls[0].UserId != "user-a" || urls[0].ApplicationId != "teraterm" ||
		urls[0].SessionContext != "10.128.3.7:22" || urls[0].StackName != ssStack || urls[0].FleetName != ssFleet {
		t.Fatalf("minted URLs: %+v", urls)
	}

	// The URL opens once.
	if code, page := w.open(url); code != 200 || !strings.Contains(page, "user-a") || !strings.Contains(page, "10.128.3.7:22") {
		t.Fatalf("first open: %d %s", code, page)
	}
	if code, _ := w.open(url); code != 403 {
		t.Fatalf("second open: %d, want 403", code)
	}
	if n := len(w.liveSessions("user-a")); n != 1 {
		t.Fatalf("live AppStream sessions: %d", n)
	}

	// Past the URL's expiry (and the skew) the phase moves on by itself.
	w.stepTo(session.URLSettledAt(s))
	s = w.waitPhase("tera-1", accessv1alpha1.SessionActive, accessv1alpha1.SessionReasonSessionActive)

	// At the end of the access window the user's session is ended.
	w.stepTo(s.Status.AccessEndsAt.Time)
	s = w.waitPhase("tera-1", accessv1alpha1.SessionEnded, accessv1alpha1.SessionReasonAccessEnded)
	if live := w.liveSessions("user-a"); len(live) != 0 {
		t.Fatalf("AppStream sessions still live after the access window: %+v", live)
	}
	if s.Status.FinishedAt == nil {
		t.Fatal("no finishedAt")
	}
	if n := w.mints(); n != 1 {
		t.Fatalf("CreateStreamingURL called %d times, want 1", n)
	}
	// Events only for failures and the end of access, not for every phase change.
	w.waitEvent("tera-1", accessv1alpha1.SessionReasonAccessEnded)
	for _, e := range w.events("tera-1") {
		if !strings.HasPrefix(e, accessv1alpha1.SessionReasonAccessEnded+":") {
			t.Fatalf("an Event for a phase change that is neither a failure nor the end of access: %s", e)
		}
	}
}

// One mint costs exactly these API requests: the Secret created with the
// URL and one status write, plus the finalizer patch where no admission
// policy adds the finalizer at create. No placeholder Secret, no intent
// write, no apply, no Event, no read of the credentials (with the manager's
// wiring, a credential Secret in use comes from its own informer), and no
// pass after the mint (the controller's own writes do not wake it).
func TestStreamingSessionMintRequests(t *testing.T) {
	w := newSSWorld(t)
	w.labelCredentialsInUse()
	w.requests = &testenv.RequestCounter{}
	w.start(nil)
	mint := func(name string) map[string]int {
		t.Helper()
		before := w.requests.Snapshot()
		w.must(env.Client.Create(w.ctx, w.newSession(name, "user-a")))
		w.waitPhase(name, accessv1alpha1.SessionReady, accessv1alpha1.SessionReasonURLIssued)
		settled := testenv.Format(w.requests.Since(before))
		testenv.Consistently(t, 2*time.Second, "no request after the mint", func() error {
			if now := testenv.Format(w.requests.Since(before)); now != settled {
				return fmt.Errorf("requests went on: %s, then %s", settled, now)
			}
			return nil
		})
		return w.requests.Since(before)
	}

	// No admission policy: the controller puts the finalizer on itself.
	want := map[string]int{"PATCH streamingsessions": 1, "POST secrets": 1, "PUT streamingsessions/status": 1}
	if got := mint("counted"); !maps.Equal(got, want) {
		t.Fatalf("API requests of one mint: %s; want exactly %s", testenv.Format(got), testenv.Format(want))
	}
	// config/admission's MutatingAdmissionPolicy adds it at create: two requests.
	w.installFinalizerPolicy()
	want = map[string]int{"POST secrets": 1, "PUT streamingsessions/status": 1}
	if got := mint("counted-with-policy"); !maps.Equal(got, want) {
		t.Fatalf("API requests of one mint with the finalizer policy: %s; want exactly %s", testenv.Format(got), testenv.Format(want))
	}
	if n := w.mints(); n != 2 {
		t.Fatalf("mints: %d", n)
	}
}

// An unused URL expires (Expired), and ttlAfterFinished deletes the finished
// session and its Secret.
func TestStreamingSessionExpiresUnusedAndTTL(t *testing.T) {
	w := newSSWorld(t)
	w.start(nil)
	s := w.newSession("unused", "user-a")
	s.Spec.TTLAfterFinished = &metav1.Duration{Duration: 10 * time.Minute}
	w.must(w.user("user-a").Create(w.ctx, s))
	s = w.waitPhase("unused", accessv1alpha1.SessionReady, "")

	w.stepTo(session.URLSettledAt(s))
	s = w.waitPhase("unused", accessv1alpha1.SessionExpired, accessv1alpha1.SessionReasonURLExpired)
	if s.Status.FinishedAt == nil {
		t.Fatal("no finishedAt")
	}
	if _, err := w.urlSecret("unused"); err != nil {
		t.Fatalf("the Secret goes with the session, not before: %v", err)
	}
	w.step(10*time.Minute + time.Second)
	w.waitGone("unused")
	if _, err := w.urlSecret("unused"); !apierrors.IsNotFound(err) {
		t.Fatalf("Secret after deletion: %v", err)
	}
}

// Deleting an Active session ends the user's AppStream session (revocation)
// and deletes the Secret.
func TestStreamingSessionRevokedOnDelete(t *testing.T) {
	w := newSSWorld(t)
	w.start(nil)
	userA := w.user("user-a")
	w.must(userA.Create(w.ctx, w.newSession("revoke-me", "user-a")))
	s := w.waitPhase("revoke-me", accessv1alpha1.SessionReady, "")
	sec, err := w.urlSecret("revoke-me")
	w.must(err)
	if code, _ := w.open(string(sec.Data["url"])); code != 200 {
		t.Fatalf("open: %d", code)
	}
	w.stepTo(session.URLSettledAt(s))
	s = w.waitPhase("revoke-me", accessv1alpha1.SessionActive, "")
	if len(w.liveSessions("user-a")) != 1 {
		t.Fatal("no live AppStream session")
	}

	w.must(userA.Delete(w.ctx, s))
	w.waitGone("revoke-me")
	if live := w.liveSessions("user-a"); len(live) != 0 {
		t.Fatalf("AppStream session not ended on delete: %+v", live)
	}
	if _, err := w.urlSecret("revoke-me"); !apierrors.IsNotFound(err) {
		t.Fatalf("Secret after deletion: %v", err)
	}
	w.waitEvent("revoke-me", accessv1alpha1.SessionReasonRevoked)
}

var ssAdmission sync.Once

// installAdmission installs config/admission into the test API server once
// and waits until the policy is enforced.
func installAdmission(t *testing.T, w *ssWorld) {
	t.Helper()
	ssAdmission.Do(func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gatestream-system"}}
		if err := env.Client.Create(w.ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		for _, f := range []string{"params.yaml", "streamingsession_policy.yaml", "streamingsession_binding.yaml"} {
			data, err := os.ReadFile(filepath.Join(env.Root, "config", "admission", f))
			w.must(err)
			var u unstructured.Unstructured
			w.must(yaml.Unmarshal(data, &u.Object))
			if err := env.Client.Create(w.ctx, &u); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("installing %s: %v", f, err)
			}
		}
	})
	// The API server compiles the policy asynchronously: wait until it denies.
	probe := w.user("policy-probe")
	testenv.Eventually(t, ssWait, "admission policy enforced", func() error {
		err := probe.Create(w.ctx, w.newSession("probe", "someone-else"), client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "spec.userId must be your own username") {
			return nil
		}
		return fmt.Errorf("probe not denied by the policy: %v", err)
	})
}

// A session for another user is rejected at admission; an admin may create
// one; a username that cannot be an AppStream user ID gets a clear rejection.
func TestStreamingSessionAdmission(t *testing.T) {
	w := newSSWorld(t)
	installAdmission(t, w)

	err := w.user("user-b").Create(w.ctx, w.newSession("for-someone-else", "user-a"))
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `spec.userId must be your own username "user-b", not "user-a"`) {
		t.Fatalf("user-b creating for user-a: %v", err)
	}
	if err := w.user("user-a").Create(w.ctx, w.newSession("own", "user-a")); err != nil {
		t.Fatalf("user-a creating for herself: %v", err)
	}
	if err := w.user("portal", ssAdminGroup).Create(w.ctx, w.newSession("by-admin", "user-b")); err != nil {
		t.Fatalf("admin creating for user-b: %v", err)
	}
	err = w.user("system:serviceaccount:line-a:robot").Create(w.ctx, w.newSession("robot", "robot"))
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "cannot be an AppStream user ID") ||
		!strings.Contains(err.Error(), "ask an admin") || !strings.Contains(err.Error(), ssAdminGroup) {
		t.Fatalf("a username outside the UserId alphabet: %v", err)
	}
	// The documented team roles are valid objects for this API server.
	data, err := os.ReadFile(filepath.Join(env.Root, "docs", "rbac-examples.yaml"))
	w.must(err)
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var u unstructured.Unstructured
		w.must(yaml.Unmarshal([]byte(doc), &u.Object))
		if len(u.Object) == 0 || u.GetKind() == "Namespace" {
			continue
		}
		if u.GetNamespace() != "" {
			u.SetNamespace(w.ns)
		}
		if err := env.Client.Create(w.ctx, &u, client.DryRunAll); err != nil {
			t.Fatalf("docs/rbac-examples.yaml %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}

	// RBAC still applies: someone outside the team may not create sessions at all.
	err = w.user("user-c", "other-team").Create(w.ctx, w.newSession("outsider", "user-c"))
	if !apierrors.IsForbidden(err) || strings.Contains(err.Error(), "userId") {
		t.Fatalf("user outside the team: %v", err)
	}
}

// The CreateStreamingURL response is lost: the URL it minted reached nobody
// (and is unusable without its token), so the session mints again at once.
// Exactly one URL is ever delivered, into the session's own Secret.
func TestStreamingSessionLostMintResponse(t *testing.T) {
	w := newSSWorld(t)
	w.faults.Add(fault.Rule{API: "appstream", Op: "CreateStreamingURL", Kind: fault.LoseResponse, Times: 1})
	w.start(nil)
	delivered := w.deliveredURLs("lost")
	created := w.clk.Now()
	w.must(w.user("user-a").Create(w.ctx, w.newSession("lost", "user-a")))
	s := w.waitPhase("lost", accessv1alpha1.SessionReady, accessv1alpha1.SessionReasonURLIssued)
	// The lost response reached the controller (a Warning Event): the AWS
	// adapter made a single attempt, and the controller minted again.
	w.waitEvent("lost", accessv1alpha1.SessionReasonMintLost)
	if n := w.mints(); n != 2 {
		t.Fatalf("mints: %d, want 2 (the lost one and its replacement)", n)
	}
	url := w.oneDeliveredURL("lost", delivered)
	urls := w.world.StreamingURLs()
	lostURL := urls[0].URL
	if urls[1].URL != url {
		lostURL = urls[1].URL
	}
	if len(urls) != 2 || lostURL == url {
		t.Fatalf("the Secret does not hold the second URL (%d URLs minted)", len(urls))
	}
	if s.Status.MintRequestedAt != nil || !s.Status.AccessEndsAt.Time.Equal(session.CeilSecond(created.Add(ssWindow))) {
		t.Fatalf("status after a lost mint: %+v", s.Status)
	}
	if code, _ := w.open(url); code != 200 {
		t.Fatalf("the stored URL: %d", code)
	}
	if n := w.opens(); n != 1 {
		t.Fatalf("successful opens: %d, want 1", n)
	}
	// Nothing more is minted, however often the controller looks.
	w.poke("lost")
	testenv.Consistently(t, time.Second, "no third mint", func() error {
		if n := w.mints(); n != 2 {
			return fmt.Errorf("%d mints", n)
		}
		return nil
	})
	w.oneDeliveredURL("lost", delivered)
}

// The manager stopped mid-mint, as a crash leaves things: a URL minted but
// held only in memory (A: nothing recorded; A-old: an older gatestream's
// intent in status), or the Secret created with its URL but the status not
// written (B). The restarted manager mints A's and A-old's at once (the lost
// URLs reached nobody) and adopts B's; each ends Ready with one URL in its Secret.
func TestStreamingSessionRestartMidMint(t *testing.T) {
	w := newSSWorld(t)
	k := env.Client
	now := w.clk.Now()

	a := w.newSession("crashed-before-secret", "user-a")
	w.must(k.Create(w.ctx, a))
	lostURL, _, err := w.api.CreateStreamingURL(w.ctx, ssStack, ssFleet, "user-a", "teraterm", "10.128.3.7:22", ssValidity)
	w.must(err)

	// An older gatestream recorded its intent before calling (its window started then).
	old := w.newSession("crashed-old-intent", "user-c")
	w.must(k.Create(w.ctx, old))
	old.Status.MintRequestedAt = &metav1.Time{Time: now.Add(-10 * time.Minute)}
	old.Status.Phase = accessv1alpha1.SessionPending
	w.must(k.Status().Update(w.ctx, old))
	oldLostURL, _, err := w.api.CreateStreamingURL(w.ctx, ssStack, ssFleet, "user-c", "teraterm", "10.128.3.7:22", ssValidity)
	w.must(err)

	b := w.newSession("crashed-before-status", "user-b")
	w.must(k.Create(w.ctx, b))
	urlB, expB, err := w.api.CreateStreamingURL(w.ctx, ssStack, ssFleet, "user-b", "teraterm", "10.128.3.7:22", ssValidity)
	w.must(err)
	w.must(k.Create(w.ctx, session.NewSecret(b, urlB, session.CeilSecond(expB), "10.128.3.7:22")))
	before := w.mints() // the three URLs the "crashed" manager minted

	deliveredA, deliveredOld, deliveredB := w.deliveredURLs(a.Name), w.deliveredURLs(old.Name), w.deliveredURLs(b.Name)
	w.start(nil)
	a = w.waitPhase(a.Name, accessv1alpha1.SessionReady, accessv1alpha1.SessionReasonURLIssued)
	old = w.waitPhase(old.Name, accessv1alpha1.SessionReady, accessv1alpha1.SessionReasonURLIssued)
	b = w.waitPhase(b.Name, accessv1alpha1.SessionReady, accessv1alpha1.SessionReasonURLIssued)
	if !b.Status.URLExpiresAt.Time.Equal(session.CeilSecond(expB)) {
		t.Fatalf("adopted expiry %s, want %s", b.Status.URLExpiresAt, expB)
	}
	if n := w.mints() - before; n != 2 {
		t.Fatalf("the restarted manager minted %d URLs; want one each for A and A-old, none for B (adopted)", n)
	}
	if got := w.oneDeliveredURL(b.Name, deliveredB); got != urlB {
		t.Fatal("B's Secret no longer holds the URL the crashed manager left there")
	}
	for name, lost := range map[string]string{a.Name: lostURL, old.Name: oldLostURL} {
		if got := w.oneDeliveredURL(name, map[string]func() []string{a.Name: deliveredA, old.Name: deliveredOld}[name]); got == lost {
			t.Fatalf("%s: the URL the crashed manager held only in memory reached the Secret", name)
		}
	}
	if a.Status.MintRequestedAt != nil || old.Status.MintRequestedAt != nil {
		t.Fatal("mintRequestedAt is written")
	}
	// The older gatestream's intent started the window.
	if !old.Status.AccessEndsAt.Time.Equal(now.Add(-10*time.Minute + ssWindow)) {
		t.Fatalf("A-old's access window ends %s, want %s", old.Status.AccessEndsAt, now.Add(-10*time.Minute+ssWindow))
	}
	secA, err := w.urlSecret(a.Name)
	w.must(err)
	if code, _ := w.open(string(secA.Data["url"])); code != 200 {
		t.Fatalf("A's URL: %d", code)
	}

	w.stepTo(session.URLSettledAt(b))
	w.waitPhase(b.Name, accessv1alpha1.SessionExpired, accessv1alpha1.SessionReasonURLExpired)
	w.waitPhase(a.Name, accessv1alpha1.SessionActive, accessv1alpha1.SessionReasonSessionActive)
	w.waitPhase(old.Name, accessv1alpha1.SessionExpired, accessv1alpha1.SessionReasonURLExpired)
	if n := w.mints() - before; n != 2 {
		t.Fatalf("mints after the restart: %d, want 2", n)
	}
}

// An edited Secret is repaired with the same URL; a deleted one is a lost URL,
// replaced only after it has expired unused.
func TestStreamingSessionSecretRepair(t *testing.T) {
	w := newSSWorld(t)
	w.start(nil)
	s := w.newSession("repair", "user-a")
	s.Spec.SecretTemplate = &accessv1alpha1.SecretTemplate{Labels: map[string]accessv1alpha1.LabelValue{"team": "line-a"}}
	w.must(w.user("user-a").Create(w.ctx, s))
	s = w.waitPhase("repair", accessv1alpha1.SessionReady, "")
	sec, err := w.urlSecret("repair")
	w.must(err)
	url := string(sec.Data["url"])

	// Someone removes our labels (the Secret drops out of the filtered cache) and edits a key.
	orig := sec.DeepCopy()
	delete(sec.Labels, accessv1alpha1.LabelManagedBy)
	delete(sec.Labels, "team")
	sec.Data["expiresAt"] = []byte("never")
	w.must(env.Client.Patch(w.ctx, sec, client.MergeFrom(orig)))
	w.poke("repair")
	testenv.Eventually(t, ssWait, "Secret repaired", func() error {
		sec, err := w.urlSecret("repair")
		if err != nil {
			return err
		}
		if sec.Labels[accessv1alpha1.LabelManagedBy] != "gatestream" || sec.Labels["team"] != "line-a" ||
			string(sec.Data["expiresAt"]) != session.FormatExpiresAt(s.Status.URLExpiresAt.Time) {
			return fmt.Errorf("labels %v, expiresAt %q", sec.Labels, sec.Data["expiresAt"])
		}
		if string(sec.Data["url"]) != url {
			return errors.New("the URL changed")
		}
		return nil
	})

	// The Secret is deleted while the URL is valid: the URL is lost.
	w.must(env.Client.Delete(w.ctx, sec))
	w.waitPhase("repair", accessv1alpha1.SessionPending, accessv1alpha1.SessionReasonMintLost)
	if n := w.mints(); n != 1 {
		t.Fatalf("minted again while the first URL is valid: %d mints", n)
	}
	w.stepTo(session.URLSettledAt(s))
	w.waitPhase("repair", accessv1alpha1.SessionReady, accessv1alpha1.SessionReasonURLIssued)
	if n := w.mints(); n != 2 {
		t.Fatalf("mints: %d, want 2", n)
	}
	w.singleValidURL(ssValidity)
	sec, err = w.urlSecret("repair")
	w.must(err)
	if string(sec.Data["url"]) == url || sec.Labels["team"] != "line-a" {
		t.Fatalf("replacement Secret: labels %v", sec.Labels)
	}
	if code, _ := w.open(url); code != 403 {
		t.Fatalf("the first URL still opens: %d", code)
	}
}

// Pending names what it waits for and wakes up when it changes; impossible
// requests fail at once and never mint.
func TestStreamingSessionResolution(t *testing.T) {
	w := newSSWorld(t)
	w.setEnvReady(false)
	w.start(nil)
	k := env.Client
	port := func(p intstr.IntOrString) *intstr.IntOrString { return &p }

	w.must(k.Create(w.ctx, w.newSession("waits-for-env", "user-a")))
	w.waitPhase("waits-for-env", accessv1alpha1.SessionPending, accessv1alpha1.SessionReasonEnvironmentNotReady)

	noEnv := w.newSession("no-env", "user-a")
	noEnv.Spec.EnvironmentRef.Name = "nowhere"
	noGroup := w.newSession("no-group", "user-a")
	noGroup.Spec.Target.DeviceGroup = "line-z"
	offline := w.newSession("offline", "user-a")
	offline.Spec.Target.Device, offline.Spec.Target.Port = "plc-7", port(intstr.FromString("http"))
	badApp := w.newSession("bad-app", "user-a")
	badApp.Spec.Application = "notepad"
	badDevice := w.newSession("bad-device", "user-a")
	badDevice.Spec.Target.Device = "raspi-9"
	badPort := w.newSession("bad-port", "user-a")
	badPort.Spec.Target.Port = port(intstr.FromString("rdp"))
	byNumber := w.newSession("by-number", "user-a")
	byNumber.Spec.Target.Port = port(intstr.FromInt32(8022))
	// A session whose URL Secret name someone else's Secret already holds never writes into it.
	w.must(k.Create(w.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: session.URLSecretName("taken"), Labels: map[string]string{"owner": "admin"}},
		StringData: map[string]string{"password": "hunter2"},
	}))
	taken := w.newSession("taken", "user-b") // user-b: user-a's live sessions stay within spec.sessionLimits.perUser
	for _, s := range []*accessv1alpha1.StreamingSession{noEnv, noGroup, offline, badApp, badDevice, badPort, byNumber, taken} {
		w.must(k.Create(w.ctx, s))
	}
	w.waitPhase("no-env", accessv1alpha1.SessionPending, accessv1alpha1.SessionReasonEnvironmentNotFound)

	// The environment becomes Ready: the watch wakes the waiting sessions
	// well before their 30 s poll.
	w.setEnvReady(true)
	w.waitPhase("waits-for-env", accessv1alpha1.SessionReady, accessv1alpha1.SessionReasonURLIssued)
	w.waitPhase("by-number", accessv1alpha1.SessionReady, accessv1alpha1.SessionReasonURLIssued)
	w.waitPhase("no-group", accessv1alpha1.SessionPending, accessv1alpha1.SessionReasonDeviceGroupNotFound)
	w.waitPhase("offline", accessv1alpha1.SessionPending, accessv1alpha1.SessionReasonDeviceOffline)
	for name, reason := range map[string]string{
		"bad-app":    accessv1alpha1.SessionReasonApplicationNotOffered,
		"bad-device": accessv1alpha1.SessionReasonDeviceNotFound,
		"bad-port":   accessv1alpha1.SessionReasonPortNotFound,
	} {
		s := w.waitPhase(name, accessv1alpha1.SessionFailed, reason)
		if s.Status.FinishedAt == nil || s.Status.MintRequestedAt != nil {
			t.Fatalf("%s: %+v", name, s.Status)
		}
		w.waitEvent(name, reason)
	}
	w.waitPhase("taken", accessv1alpha1.SessionPending, accessv1alpha1.SessionReasonSecretConflict)
	foreign, err := w.urlSecret("taken")
	w.must(err)
	if len(foreign.Data) != 1 || len(foreign.Labels) != 1 || len(foreign.OwnerReferences) != 0 || string(foreign.Data["password"]) != "hunter2" {
		t.Fatalf("the foreign Secret was written into: labels %v, owners %v, keys %v", foreign.Labels, foreign.OwnerReferences, keysOf(foreign.Data))
	}
	if byNumber := w.get("by-number"); byNumber.Status.Target == nil || byNumber.Status.Target.Port != 8022 {
		t.Fatalf("port by number: %+v", byNumber.Status.Target)
	}
	// The two resolvable sessions minted; so did, once, the session whose
	// name a foreign Secret holds: nothing is read from the API server
	// before a first mint, so its create found the name taken (that URL
	// reached nobody). It does not mint again, however often it looks.
	w.poke("taken")
	testenv.Consistently(t, time.Second, "no second mint for the conflicting session", func() error {
		if n := w.mints(); n != 3 {
			return fmt.Errorf("mints: %d, want 3", n)
		}
		return nil
	})

	// The device comes online: the DeviceGroup watch wakes the session.
	var dg accessv1alpha1.DeviceGroup
	w.must(k.Get(w.ctx, client.ObjectKey{Namespace: w.ns, Name: ssGroupName}, &dg))
	dg.Status.Devices[1].Online = true
	w.must(k.Status().Update(w.ctx, &dg))
	// Online but not reachable from the fleet: no URL to a device nobody can reach.
	s := w.waitPhase("offline", accessv1alpha1.SessionPending, accessv1alpha1.SessionReasonDeviceUnreachable)
	if c := conditions.Get(s.Status.Conditions, accessv1alpha1.ConditionReady); c == nil || !strings.Contains(c.Message, "rtb-0abc1234") {
		t.Fatalf("Ready = %+v; want the broken hop named", c)
	}
	// The environment's path check finds it reachable: the environment watch wakes the session.
	w.setDevicePath("plc-7", true, "reachable via i-0abc (subnet-0a1b2c3d → rtb-0abc1234 → …)")
	s = w.waitPhase("offline", accessv1alpha1.SessionReady, accessv1alpha1.SessionReasonURLIssued)
	if s.Status.Target.Address != "192.168.1.20" || s.Status.Target.Port != 80 {
		t.Fatalf("target: %+v", s.Status.Target)
	}

	// Deleting the conflicting session never deletes the foreign Secret.
	w.must(k.Delete(w.ctx, w.get("taken")))
	w.waitGone("taken")
	after, err := w.urlSecret("taken")
	w.must(err)
	if after.UID != foreign.UID || after.ResourceVersion != foreign.ResourceVersion {
		t.Fatalf("the foreign Secret was changed or replaced: %s/%s, was %s/%s", after.UID, after.ResourceVersion, foreign.UID, foreign.ResourceVersion)
	}
}

// An admin's Secret named like a session (what the URL Secret was named
// before it took the "-url" suffix) is never the session's: created before
// the session, or applied after the session's Secret exists, it is not
// written into, and it outlives the session. The session's own Secret is
// <name>-url.
func TestStreamingSessionAdminSecretNamedLikeSession(t *testing.T) {
	w := newSSWorld(t)
	w.start(nil)
	k, userA, userB := env.Client, w.user("user-a"), w.user("user-b")
	adminSecret := func(name string) *corev1ac.SecretApplyConfiguration {
		return corev1ac.Secret(name, w.ns).WithLabels(map[string]string{"owner": "admin"}).
			WithStringData(map[string]string{"password": "hunter2"})
	}
	apply := func(name string) { // kubectl apply --server-side
		w.must(k.Apply(w.ctx, adminSecret(name), client.FieldOwner("kubectl"), client.ForceOwnership))
	}
	checkAdmin := func(name string) *corev1.Secret {
		t.Helper()
		sec, err := w.secret(name)
		w.must(err)
		if len(sec.OwnerReferences) != 0 || len(sec.Labels) != 1 || sec.Labels["owner"] != "admin" ||
			len(sec.Data) != 1 || string(sec.Data["password"]) != "hunter2" {
			t.Fatalf("the admin's Secret %s is not theirs alone: owners %+v, labels %v, keys %v", name, sec.OwnerReferences, sec.Labels, keysOf(sec.Data))
		}
		return sec
	}

	// The admin's Secret first, then a session of the same name: no conflict.
	apply("early")
	early := checkAdmin("early")
	w.must(userB.Create(w.ctx, w.newSession("early", "user-b")))
	if s := w.waitPhase("early", accessv1alpha1.SessionReady, accessv1alpha1.SessionReasonURLIssued); s.Status.SecretName != "early-url" {
		t.Fatalf("status.secretName %q, want early-url", s.Status.SecretName)
	}

	// The session first; the admin applies a Secret of the session's name
	// afterwards: it is a Secret of its own, not a merge into the session's.
	w.must(userA.Create(w.ctx, w.newSession("late", "user-a")))
	late := w.waitPhase("late", accessv1alpha1.SessionReady, accessv1alpha1.SessionReasonURLIssued)
	own, err := w.secret(late.Status.SecretName)
	w.must(err)
	if late.Status.SecretName != "late-url" || !metav1.IsControlledBy(own, late) {
		t.Fatalf("the session's Secret: status.secretName %q, owners %+v", late.Status.SecretName, own.OwnerReferences)
	}
	apply("late")
	lateAdmin := checkAdmin("late")
	if after, err := w.urlSecret("late"); err != nil || after.ResourceVersion != own.ResourceVersion {
		t.Fatalf("the session's Secret changed when the admin applied theirs: %v", err)
	}

	// Through the sessions' lives (late used, early expired) and deletion.
	if code, _ := w.open(string(own.Data["url"])); code != 200 {
		t.Fatalf("open: %d", code)
	}
	w.stepTo(session.URLSettledAt(late))
	w.waitPhase("late", accessv1alpha1.SessionActive, accessv1alpha1.SessionReasonSessionActive)
	w.waitPhase("early", accessv1alpha1.SessionExpired, accessv1alpha1.SessionReasonURLExpired)
	for _, name := range []string{"early", "late"} {
		w.must(k.Delete(w.ctx, w.get(name)))
		w.waitGone(name)
		if _, err := w.urlSecret(name); !apierrors.IsNotFound(err) {
			t.Fatalf("%s: the session's Secret after deletion: %v", name, err)
		}
	}
	for _, was := range []*corev1.Secret{early, lateAdmin} {
		sec := checkAdmin(was.Name)
		if sec.UID != was.UID || sec.ResourceVersion != was.ResourceVersion {
			t.Fatalf("the admin's Secret %s was changed or replaced: %s/%s, was %s/%s", was.Name, sec.UID, sec.ResourceVersion, was.UID, was.ResourceVersion)
		}
	}
}

// The URL never appears in status, conditions, events or logs; neither do the
// AWS credentials.
func TestStreamingSessionSecretsStaySecret(t *testing.T) {
	w := newSSWorld(t)
	logs := &ssSyncBuffer{}
	log, err := manager.NewLogger("json", "debug", logs)
	w.must(err)
	w.faults.Add(fault.Rule{API: "appstream", Op: "CreateStreamingURL", Kind: fault.LoseResponse, Times: 1})
	w.start(&log)
	userA := w.user("user-a")

	// One session through a lost mint, a repair and its lifecycle, one revoked.
	w.must(userA.Create(w.ctx, w.newSession("scan-1", "user-a")))
	w.waitEvent("scan-1", accessv1alpha1.SessionReasonMintLost)
	s1 := w.waitPhase("scan-1", accessv1alpha1.SessionReady, "")
	w.must(w.user("user-b").Create(w.ctx, w.newSession("scan-2", "user-b")))
	w.waitPhase("scan-2", accessv1alpha1.SessionReady, "")
	sec, err := w.urlSecret("scan-1")
	w.must(err)
	orig := sec.DeepCopy()
	sec.Data["expiresAt"] = []byte("edited")
	w.must(env.Client.Patch(w.ctx, sec, client.MergeFrom(orig)))
	testenv.Eventually(t, ssWait, "repair", func() error {
		sec, err := w.urlSecret("scan-1")
		if err != nil || string(sec.Data["expiresAt"]) == "edited" {
			return fmt.Errorf("not repaired (%v)", err)
		}
		return nil
	})
	if code, _ := w.open(string(sec.Data["url"])); code != 200 {
		t.Fatalf("open: %d", code)
	}
	w.stepTo(session.URLSettledAt(s1))
	w.waitPhase("scan-1", accessv1alpha1.SessionActive, "")
	w.waitPhase("scan-2", accessv1alpha1.SessionExpired, "")
	w.must(userA.Delete(w.ctx, w.get("scan-1")))
	w.waitGone("scan-1")
	w.waitEvent("scan-1", accessv1alpha1.SessionReasonRevoked)
	w.waitEvent("scan-2", accessv1alpha1.SessionReasonURLExpired)

	secrets := []string{ssSecretKey}
	urls := w.world.StreamingURLs()
	if len(urls) != 3 {
		t.Fatalf("expected 3 minted URLs (one lost), got %d", len(urls))
	}
	for _, u := range urls {
		secrets = append(secrets, u.URL, tokenOf(u.URL))
	}
	scan := func(where, text string) {
		t.Helper()
		for _, sec := range secrets {
			if strings.Contains(text, sec) {
				t.Errorf("a secret (%d characters) appears in %s", len(sec), where)
			}
		}
	}
	var sessions accessv1alpha1.StreamingSessionList
	w.must(env.Client.List(w.ctx, &sessions, client.InNamespace(w.ns)))
	for _, s := range sessions.Items {
		data, _ := json.Marshal(s)
		scan("StreamingSession "+s.Name, string(data))
	}
	var evs eventsv1.EventList
	w.must(env.Client.List(w.ctx, &evs, client.InNamespace(w.ns)))
	var coreEvs corev1.EventList
	w.must(env.Client.List(w.ctx, &coreEvs, client.InNamespace(w.ns)))
	if len(evs.Items) == 0 {
		t.Fatal("no events to scan")
	}
	data, _ := json.Marshal(evs)
	scan("events.k8s.io Events", string(data))
	data, _ = json.Marshal(coreEvs)
	scan("core Events", string(data))
	out := logs.String()
	if !strings.Contains(out, "streaming URL issued") || !strings.Contains(out, "CreateStreamingURL got no answer") {
		t.Fatalf("the debug logs do not cover the run:\n%s", out)
	}
	scan("logs", out)
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A URL Secret the API server refuses (here: secretTemplate annotations over
// the 256 KiB metadata limit, which admission of the session cannot see)
// fails the session with the reason instead of minting again and again.
func TestStreamingSessionSecretRefusedFails(t *testing.T) {
	w := newSSWorld(t)
	w.start(nil)
	s := w.newSession("too-big", "user-a")
	big := map[string]string{}
	for i := range 10 {
		big[fmt.Sprintf("example.com/note-%d", i)] = strings.Repeat("x", 30*1024)
	}
	s.Spec.SecretTemplate = &accessv1alpha1.SecretTemplate{Annotations: big}
	w.must(w.user("user-a").Create(w.ctx, s))
	got := w.waitPhase("too-big", accessv1alpha1.SessionFailed, accessv1alpha1.SessionReasonSecretRefused)
	if c := conditions.Get(got.Status.Conditions, accessv1alpha1.ConditionReady); c == nil || !strings.Contains(c.Message, "secretTemplate") {
		t.Fatalf("Ready = %+v; want the refusal explained", c)
	}
	testenv.Consistently(t, time.Second, "no mint loop", func() error {
		if n := w.mints(); n != 1 {
			return fmt.Errorf("%d mints; want the one whose Secret was refused", n)
		}
		return nil
	})
}
