package session

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
)

// labelCache is the manager's cache as the Secrets unit sees it: it holds
// only Secrets labelled managed-by=gatestream.
type labelCache struct{ client.Client }

func (c labelCache) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := c.Client.Get(ctx, key, obj, opts...); err != nil {
		return err
	}
	if sec, ok := obj.(*corev1.Secret); ok && sec.Labels[accessv1alpha1.LabelManagedBy] != accessv1alpha1.LabelManagedByValue {
		return apierrors.NewNotFound(corev1.Resource("secrets"), key.Name)
	}
	return nil
}

// countingReader counts reads from the API server.
type countingReader struct {
	client.Reader
	n int
}

func (r *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	r.n++
	return r.Reader.Get(ctx, key, obj, opts...)
}

// world is a fake API server with the Secrets unit on top of it.
type world struct {
	api     client.Client
	reads   *countingReader
	secrets Secrets
	deletes []client.DeleteOptions
}

func newWorld(t *testing.T, objs ...client.Object) *world {
	t.Helper()
	w := &world{}
	w.api = fake.NewClientBuilder().WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			var o client.DeleteOptions
			o.ApplyOptions(opts)
			w.deletes = append(w.deletes, o)
			return c.Delete(ctx, obj, opts...)
		},
	}).Build()
	w.reads = &countingReader{Reader: w.api}
	w.secrets = Secrets{Client: labelCache{w.api}, APIReader: w.reads}
	return w
}

func (w *world) get(t *testing.T, name string) *corev1.Secret {
	t.Helper()
	var sec corev1.Secret
	if err := w.api.Get(context.Background(), types.NamespacedName{Namespace: "team-a", Name: name}, &sec); err != nil {
		t.Fatal(err)
	}
	return &sec
}

// foreignSecret is someone else's Secret named name (an admin's kubectl apply).
func foreignSecret(name string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team-a"},
		Data:       map[string][]byte{"password": []byte("hunter2")},
	}
}

const url1 = "https://as.example/streaming/token-one-0123456789abcdef"

func TestSecretsCreate(t *testing.T) {
	ctx := context.Background()
	s := newSession()

	// A new Secret: one create, with the URL.
	w := newWorld(t)
	exp, err := w.secrets.Create(ctx, s, url1, urlExp, "10.128.3.7:22")
	if err != nil || !exp.Equal(urlExp) {
		t.Fatalf("create: %v %v", exp, err)
	}
	if sec := w.get(t, "s1-url"); URL(sec) != url1 || !ControlledBy(sec, s) || sec.Labels[accessv1alpha1.LabelManagedBy] != "gatestream" {
		t.Fatalf("created %+v", sec)
	}
	if w.reads.n != 0 {
		t.Fatalf("%d reads for a create", w.reads.n)
	}

	// An earlier pass's Secret with its URL: adopted, the new URL discarded.
	exp, err = w.secrets.Create(ctx, s, "https://as.example/streaming/token-two-0123456789abcdef", urlExp.Add(time.Minute), "10.128.3.7:22")
	if err != nil || !exp.Equal(urlExp) {
		t.Fatalf("adopt: %v %v", exp, err)
	}
	if URL(w.get(t, "s1-url")) != url1 {
		t.Fatal("the adopted Secret was overwritten")
	}

	// An older gatestream's Secret without URL: the URL goes into it.
	old := NewSecret(s, "", urlExp, "10.128.3.7:22")
	delete(old.Data, accessv1alpha1.SecretKeyURL)
	w = newWorld(t, old)
	if _, err := w.secrets.Create(ctx, s, url1, urlExp, "10.128.3.7:22"); err != nil {
		t.Fatal(err)
	}
	if URL(w.get(t, "s1-url")) != url1 {
		t.Fatal("the URL did not go into the session's own Secret")
	}

	// A foreign Secret: SecretConflict, never written.
	w = newWorld(t, foreignSecret("s1-url"))
	_, err = w.secrets.Create(ctx, s, url1, urlExp, "10.128.3.7:22")
	if err == nil || !strings.Contains(err.Error(), "never writes into it") || strings.Contains(err.Error(), "token-one") {
		t.Fatalf("foreign: %v", err)
	}
	if sec := w.get(t, "s1-url"); len(sec.Labels) != 0 || len(sec.OwnerReferences) != 0 || len(sec.Data) != 1 {
		t.Fatalf("the foreign Secret was written: %+v", sec)
	}
}

func TestSecretsObserveUpdateDelete(t *testing.T) {
	ctx := context.Background()
	s := newSession()
	s.UID = "uid-1"

	// Before a first mint only the cache is asked.
	w := newWorld(t, foreignSecret("s1-url"))
	if sec, o, err := w.secrets.Observe(ctx, s); err != nil || sec != nil || o.Exists || w.reads.n != 0 {
		t.Fatalf("fresh session: %v %+v %v (reads %d)", sec, o, err, w.reads.n)
	}
	// After a SecretConflict the API server is asked: the foreign Secret is seen.
	conditionsSet(s, accessv1alpha1.SessionReasonSecretConflict)
	if _, o, err := w.secrets.Observe(ctx, s); err != nil || !o.Foreign || w.reads.n != 1 {
		t.Fatalf("conflict: %+v %v (reads %d)", o, err, w.reads.n)
	}
	// A foreign Secret is never written or deleted.
	foreign := w.get(t, "s1-url")
	if err := w.secrets.Update(ctx, s, foreign); err == nil {
		t.Fatal("repair of a foreign Secret")
	}
	if err := w.secrets.Delete(ctx, s, foreign); err != nil || len(w.deletes) != 0 {
		t.Fatalf("delete of a foreign Secret: %v (%d deletes)", err, len(w.deletes))
	}

	// The session's own Secret, its label edited away: read from the API server, repaired.
	s = newSession()
	s.Status.URLExpiresAt = &metav1.Time{Time: urlExp}
	s.Status.Target = &accessv1alpha1.ResolvedTarget{Address: "10.128.3.7", Port: 22}
	own := NewSecret(s, url1, urlExp, "10.128.3.7:22")
	delete(own.Labels, accessv1alpha1.LabelManagedBy)
	own.Data["expiresAt"] = []byte("never")
	own.Data["other-tool"] = []byte("kept")
	w = newWorld(t, own)
	sec, o, err := w.secrets.Observe(ctx, s)
	if err != nil || !o.HoldsURL() || o.InSync || w.reads.n != 1 {
		t.Fatalf("own, label edited away: %+v %v (reads %d)", o, err, w.reads.n)
	}
	if err := w.secrets.Update(ctx, s, sec); err != nil {
		t.Fatal(err)
	}
	fixed := w.get(t, "s1-url")
	if !InSync(fixed, s, urlExp, "10.128.3.7:22") || URL(fixed) != url1 || string(fixed.Data["other-tool"]) != "kept" {
		t.Fatalf("repaired: %+v", fixed)
	}
	// A stale read does not overwrite a newer Secret (optimistic concurrency).
	if err := w.secrets.Update(ctx, s, sec); !apierrors.IsConflict(err) {
		t.Fatalf("stale repair: %v", err)
	}
	// Delete carries UID and resourceVersion preconditions; gone is success.
	if err := w.secrets.Delete(ctx, s, fixed); err != nil {
		t.Fatal(err)
	}
	if len(w.deletes) != 1 || w.deletes[0].Preconditions == nil || w.deletes[0].Preconditions.UID == nil || *w.deletes[0].Preconditions.UID != fixed.UID ||
		w.deletes[0].Preconditions.ResourceVersion == nil || *w.deletes[0].Preconditions.ResourceVersion != fixed.ResourceVersion {
		t.Fatalf("delete options: %+v", w.deletes)
	}
	if err := w.secrets.Delete(ctx, s, fixed); err != nil {
		t.Fatalf("second delete: %v", err)
	}
}

// The session's Secret, read, then replaced by someone else's Secret of the
// same name (or its owner reference removed) before the write: the repair
// and the delete conflict, and the Secret now there is left as it is.
func TestSecretsWritesCarryPreconditions(t *testing.T) {
	ctx := context.Background()
	s := newSession()
	s.Status.URLExpiresAt = &metav1.Time{Time: urlExp}
	own := NewSecret(s, url1, urlExp, "10.128.3.7:22")
	own.UID = "uid-secret-1"
	own.Data["expiresAt"] = []byte("never")
	w := newWorld(t, own)
	read, o, err := w.secrets.Observe(ctx, s)
	if err != nil || !o.HoldsURL() || o.InSync {
		t.Fatalf("observe: %+v %v", o, err)
	}

	// Replaced in between: deleted, and an admin's Secret created under the name.
	w.must(t, w.api.Delete(ctx, w.get(t, "s1-url")))
	admin := foreignSecret("s1-url")
	admin.UID = "uid-admin"
	if err := w.api.Create(ctx, admin); err != nil {
		t.Fatal(err)
	}
	if err := w.secrets.Update(ctx, s, read); !apierrors.IsConflict(err) {
		t.Fatalf("repair of a replaced Secret: %v", err)
	}
	w.deletes = nil
	if err := w.secrets.Delete(ctx, s, read); err == nil || !apierrors.IsConflict(err) {
		t.Fatalf("delete of a replaced Secret: %v", err)
	}
	if sec := w.get(t, "s1-url"); len(sec.OwnerReferences) != 0 || len(sec.Labels) != 0 || len(sec.Data) != 1 {
		t.Fatalf("the admin's Secret was written: %+v", sec)
	}

	// Its owner reference removed in between (same UID): not deleted either.
	own = NewSecret(s, url1, urlExp, "10.128.3.7:22")
	w = newWorld(t, own)
	read, _, err = w.secrets.Observe(ctx, s)
	if err != nil || read == nil {
		t.Fatalf("observe: %v", err)
	}
	taken := w.get(t, "s1-url")
	taken.OwnerReferences = nil
	if err := w.api.Update(ctx, taken); err != nil {
		t.Fatal(err)
	}
	if err := w.secrets.Delete(ctx, s, read); !apierrors.IsConflict(err) {
		t.Fatalf("delete of a Secret taken over since it was read: %v", err)
	}
	if err := w.secrets.Update(ctx, s, read); !apierrors.IsConflict(err) {
		t.Fatalf("repair of a Secret taken over since it was read: %v", err)
	}
	if sec := w.get(t, "s1-url"); len(sec.OwnerReferences) != 0 {
		t.Fatalf("the Secret was taken back: %+v", sec.OwnerReferences)
	}

	// A Secret not read from the API server (no resourceVersion) is never written.
	unread := NewSecret(s, url1, urlExp, "10.128.3.7:22")
	if err := w.secrets.Update(ctx, s, unread); err == nil {
		t.Fatal("update without a resourceVersion")
	}
	if err := w.secrets.Delete(ctx, s, unread); err == nil {
		t.Fatal("delete without a resourceVersion")
	}
}

// An admin's Secret named like the session (the URL Secret's name before
// the "-url" suffix) is not the session's: the session mints into its own
// Secret, and neither the repair nor the deletion touches the admin's.
func TestSecretsLeaveSecretNamedLikeSession(t *testing.T) {
	ctx := context.Background()
	x := in()
	s := x.Session
	w := newWorld(t, foreignSecret("s1"))
	before := w.get(t, "s1")

	out, err := Issue(ctx, &userAPI{mintURL: url1}, w.secrets, s, Decide(x), t0)
	if err != nil || out.Status.SecretName != "s1-url" || URL(w.get(t, "s1-url")) != url1 {
		t.Fatalf("issue next to the admin's Secret: %v, status.secretName %q", err, out.Status.SecretName)
	}
	s.Status = out.Status
	own := w.get(t, "s1-url")
	own.Data["expiresAt"] = []byte("edited")
	if err := w.api.Update(ctx, own); err != nil {
		t.Fatal(err)
	}
	sec, o, err := w.secrets.Observe(ctx, s)
	if err != nil || sec == nil || sec.Name != "s1-url" || o.Foreign || o.InSync {
		t.Fatalf("observe: %v %+v %v", sec, o, err)
	}
	w.must(t, w.secrets.Update(ctx, s, sec))
	s.DeletionTimestamp = &metav1.Time{Time: t0}
	sec, _, err = w.secrets.Observe(ctx, s)
	w.must(t, err)
	w.must(t, w.secrets.Delete(ctx, s, sec))
	if err := w.api.Get(ctx, types.NamespacedName{Namespace: "team-a", Name: "s1-url"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the session's Secret after its deletion: %v", err)
	}
	if after := w.get(t, "s1"); after.ResourceVersion != before.ResourceVersion || len(after.OwnerReferences) != 0 || len(after.Data) != 1 {
		t.Fatalf("the admin's Secret was touched: %+v", after)
	}
}

func (w *world) must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func conditionsSet(s *accessv1alpha1.StreamingSession, reason string) {
	s.Status.Conditions = []metav1.Condition{{Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason}}
}

// userAPI is an AppStream with the user's sessions.
type userAPI struct {
	aws.AppStreamAPI
	live     []string
	expired  []string
	listErr  error
	mintURL  string
	mintErr  error
	minted   int
	validity time.Duration
}

func (a *userAPI) DescribeUserSessions(_ context.Context, stack, fleet, user string) ([]astypes.Session, error) {
	out := make([]astypes.Session, 0, len(a.live))
	for i := range a.live {
		out = append(out, astypes.Session{Id: &a.live[i]})
	}
	return out, a.listErr
}

func (a *userAPI) ExpireSession(_ context.Context, id string) error {
	a.expired = append(a.expired, id)
	if id == "gone" {
		return aws.ErrNotFound
	}
	return nil
}

func (a *userAPI) CreateStreamingURL(_ context.Context, stack, fleet, user, app, sc string, v time.Duration) (string, time.Time, error) {
	a.minted++
	a.validity = v
	return a.mintURL, t0.Add(v), a.mintErr
}

func TestUserSessions(t *testing.T) {
	ctx := context.Background()
	if ids, err := (UserSessions{}).Observe(ctx); err != nil || ids != nil {
		t.Fatalf("no environment: %v %v", ids, err)
	}
	api := &userAPI{live: []string{"a", "gone"}}
	u := UserSessions{API: api, Stack: "stack-1", Fleet: "fleet-1", UserID: "user-a"}
	ids, err := u.Observe(ctx)
	if err != nil || strings.Join(ids, ",") != "a,gone" {
		t.Fatalf("observe: %v %v", ids, err)
	}
	if err := u.Delete(ctx, ids); err != nil || strings.Join(api.expired, ",") != "a,gone" {
		t.Fatalf("delete: %v %v", api.expired, err)
	}
	api.listErr = aws.ErrNotFound
	if ids, err := u.Observe(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("stack gone: %v %v", ids, err)
	}
	if err := (UserSessions{}).Delete(ctx, nil); err != nil {
		t.Fatalf("nothing to end: %v", err)
	}
}

func TestIssue(t *testing.T) {
	ctx := context.Background()
	x := in()
	step := Decide(x)

	// One mint, one create, the issued status.
	w := newWorld(t)
	api := &userAPI{mintURL: url1}
	out, err := Issue(ctx, api, w.secrets, x.Session, step, t0)
	if err != nil || api.minted != 1 || api.validity != 5*time.Minute {
		t.Fatalf("issue: %v (minted %d, validity %v)", err, api.minted, api.validity)
	}
	if out.Status.Phase != accessv1alpha1.SessionReady || !out.Status.URLExpiresAt.Time.Equal(urlExp) || !out.At.Equal(settled) {
		t.Fatalf("issued: %+v at %v", out.Status, out.At)
	}
	if URL(w.get(t, "s1-url")) != url1 {
		t.Fatal("the URL is not in the Secret")
	}
	for _, c := range out.Status.Conditions {
		if strings.Contains(c.Message, "token-one") {
			t.Fatal("the URL is in a condition")
		}
	}

	// A lost response: nothing written, MintLost (minted again by the next pass).
	w = newWorld(t)
	api = &userAPI{mintErr: &net.OpError{Op: "read", Err: errors.New("connection reset")}}
	if _, err := Issue(ctx, api, w.secrets, x.Session, step, t0); err == nil || !strings.Contains(err.Error(), "got no answer") {
		t.Fatalf("lost: %v", err)
	}
	var list corev1.SecretList
	if err := w.api.List(ctx, &list); err != nil || len(list.Items) != 0 {
		t.Fatalf("Secrets after a lost mint: %d %v", len(list.Items), err)
	}

	// A foreign Secret: the minted URL reaches nobody, the Secret is untouched.
	w = newWorld(t, foreignSecret("s1-url"))
	api = &userAPI{mintURL: url1}
	if _, err := Issue(ctx, api, w.secrets, x.Session, step, t0); err == nil || strings.Contains(err.Error(), "token-one") {
		t.Fatalf("foreign: %v", err)
	}
	if sec := w.get(t, "s1-url"); URL(sec) != "" || len(sec.OwnerReferences) != 0 {
		t.Fatalf("foreign Secret written: %+v", sec)
	}
}
