package session

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

// The tests of what the manager's cache keeps of sessions and their Secrets
// (TransformSession, TransformSecret), of SecretWriter, which puts a cached
// Secret's URL back before writing it, and of Index.

// sameBytes reports whether a and b share their bytes (one copy in memory).
func sameBytes(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }

// cachedSession is a session as the API server returns it, every string its
// own copy (as decoded from a watch event).
func cachedSession(name string) *accessv1alpha1.StreamingSession {
	s := newSession()
	own := func(v string) string { return strings.Clone(v) }
	s.Name, s.Namespace, s.UID, s.ResourceVersion, s.Generation = own(name), own("team-a"), types.UID(own("uid-"+name)), own("42"), 1
	s.Labels = map[string]string{own("team"): own("line-a")}
	s.Annotations = map[string]string{own("note"): own("night shift"), corev1.LastAppliedConfigAnnotation: `{"kind":"StreamingSession"}`}
	s.Finalizers = []string{own(accessv1alpha1.StreamingSessionFinalizer)}
	s.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	s.Spec.EnvironmentRef.Name, s.Spec.Application = own("factory"), own("teraterm")
	s.Spec.SecretTemplate = &accessv1alpha1.SecretTemplate{
		Labels:      map[string]accessv1alpha1.LabelValue{own("team"): accessv1alpha1.LabelValue(own("line-a"))},
		Annotations: map[string]string{own("ticket"): own("OPS-1")},
	}
	s.Status = accessv1alpha1.StreamingSessionStatus{
		ObservedGeneration: 1, Phase: accessv1alpha1.SessionPhase(own(string(accessv1alpha1.SessionReady))), SecretName: own(name + SecretSuffix),
		URLExpiresAt: &metav1.Time{Time: urlExp}, AccessEndsAt: &metav1.Time{Time: t0.Add(time.Hour)},
		Conditions: []metav1.Condition{{Type: own(accessv1alpha1.ConditionReady), Status: metav1.ConditionStatus(own("True")), ObservedGeneration: 1,
			Reason: own(accessv1alpha1.SessionReasonURLIssued), Message: own("the URL is in Secret " + name + SecretSuffix), LastTransitionTime: metav1.Time{Time: t0}}},
		Target: &accessv1alpha1.ResolvedTarget{Address: own("10.128.3.7"), Port: 22},
	}
	return s
}

// transformed runs a cache transform on in, as the informer does.
func transformed[T any](t *testing.T, transform func(any) (any, error), in T) T {
	t.Helper()
	out, err := transform(in)
	if err != nil {
		t.Fatal(err)
	}
	return out.(T)
}

func transformSession(t *testing.T, s *accessv1alpha1.StreamingSession) *accessv1alpha1.StreamingSession {
	t.Helper()
	return transformed(t, TransformSession, s)
}

// The cache keeps a session's spec, status and what the controller reads of
// its metadata; labels, managedFields and kubectl's last-applied copy go;
// repeated strings and equal secretTemplates are shared.
func TestTransformSession(t *testing.T) {
	orig := cachedSession("s1")
	a := transformSession(t, orig.DeepCopy())
	if a.Labels != nil || a.ManagedFields != nil {
		t.Fatalf("labels %v, managedFields %v kept", a.Labels, a.ManagedFields)
	}
	if len(a.Annotations) != 1 || a.Annotations["note"] != "night shift" {
		t.Fatalf("annotations: %v (want note only, without the last-applied copy)", a.Annotations)
	}
	want := orig.DeepCopy()
	want.Labels, want.ManagedFields = nil, nil
	delete(want.Annotations, corev1.LastAppliedConfigAnnotation)
	if !equality.Semantic.DeepEqual(a, want) {
		t.Fatalf("the cached session differs beyond labels, managedFields and last-applied:\n%+v\nwant\n%+v", a, want)
	}
	if again := transformSession(t, a.DeepCopy()); !equality.Semantic.DeepEqual(again, a) {
		t.Fatal("transforming twice changed the session")
	}

	b := transformSession(t, cachedSession("s2"))
	for field, pair := range map[string][2]string{
		"namespace":   {a.Namespace, b.Namespace},
		"finalizer":   {a.Finalizers[0], b.Finalizers[0]},
		"environment": {a.Spec.EnvironmentRef.Name, b.Spec.EnvironmentRef.Name},
		"application": {a.Spec.Application, b.Spec.Application},
		"phase":       {string(a.Status.Phase), string(b.Status.Phase)},
		"reason":      {a.Status.Conditions[0].Reason, b.Status.Conditions[0].Reason},
		"address":     {a.Status.Target.Address, b.Status.Target.Address},
	} {
		if !sameBytes(pair[0], pair[1]) {
			t.Errorf("%s %q: two copies", field, pair[0])
		}
	}
	if !strings.HasPrefix(b.Status.SecretName, b.Name) || !sameBytes(b.Name, b.Status.SecretName) {
		t.Error("the session's name is held twice (name and status.secretName)")
	}
	if a.Spec.SecretTemplate != b.Spec.SecretTemplate {
		t.Error("equal secretTemplates are not shared")
	}

	// Another template gets its own; the decoded one is never changed.
	c := cachedSession("s3")
	c.Spec.SecretTemplate.Labels["team"] = "line-b"
	decoded := c.Spec.SecretTemplate
	before := decoded.DeepCopy()
	c = transformSession(t, c)
	if c.Spec.SecretTemplate == a.Spec.SecretTemplate || c.Spec.SecretTemplate.Labels["team"] != "line-b" {
		t.Fatalf("template of s3: %+v", c.Spec.SecretTemplate)
	}
	if !equality.Semantic.DeepEqual(decoded, before) {
		t.Fatal("the decoded template was changed")
	}
	// Labels and annotations are told apart.
	d := cachedSession("s4")
	d.Spec.SecretTemplate = &accessv1alpha1.SecretTemplate{Annotations: map[string]string{"team": "line-a", "ticket": "OPS-1"}}
	if d = transformSession(t, d); d.Spec.SecretTemplate == a.Spec.SecretTemplate || len(d.Spec.SecretTemplate.Labels) != 0 {
		t.Fatalf("template of s4: %+v", d.Spec.SecretTemplate)
	}
	// Not a session: unchanged.
	if out, err := TransformSession("x"); out != "x" || err != nil {
		t.Fatalf("TransformSession(string) = %v, %v", out, err)
	}
}

// A shared table holds a bounded number of values; a template too large to
// keep in it is not shared.
func TestSharedTable(t *testing.T) {
	x := &sharedTable[*int]{max: 100}
	first := x.share("first", func() *int { return new(int) })
	if x.share("first", func() *int { t.Fatal("made twice"); return nil }) != first {
		t.Fatal("not shared")
	}
	for i := range 1000 {
		x.share(fmt.Sprint(i), func() *int { return new(int) })
		if len(x.m) > 100 {
			t.Fatalf("%d values in a table of at most 100", len(x.m))
		}
	}

	big := cachedSession("big")
	big.Spec.SecretTemplate.Annotations["note"] = strings.Repeat("x", maxSharedKey)
	tmpl := big.Spec.SecretTemplate
	if big = transformSession(t, big); big.Spec.SecretTemplate != tmpl {
		t.Fatal("a template of more than maxSharedKey bytes was shared")
	}
}

// cachedSecret is s's Secret holding url as the API server returns it.
func cachedSecret(s *accessv1alpha1.StreamingSession, url, target string) *corev1.Secret {
	sec := NewSecret(s, url, urlExp, target)
	sec.UID, sec.ResourceVersion = "secret-uid-1", "7"
	sec.CreationTimestamp = metav1.Time{Time: t0}
	sec.Data["kept"] = []byte("someone else's key")
	sec.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: FieldOwner, Operation: metav1.ManagedFieldsOperationUpdate}}
	return sec
}

func transformSecret(t *testing.T, sec *corev1.Secret) *corev1.Secret {
	t.Helper()
	return transformed(t, TransformSecret, sec)
}

// The cache keeps no URL, only that there is one: a pass observes the
// cached Secret exactly as the Secret itself.
func TestTransformSecret(t *testing.T) {
	s := newSession()
	s.UID = "uid-1"
	s.Spec.SecretTemplate = &accessv1alpha1.SecretTemplate{Labels: map[string]accessv1alpha1.LabelValue{"team": "line-a"}}
	s.Status.URLExpiresAt = &metav1.Time{Time: urlExp}
	s.Status.Target = &accessv1alpha1.ResolvedTarget{Address: "10.128.3.7", Port: 22}

	for _, tc := range []struct {
		name string
		edit func(*corev1.Secret)
	}{
		{"in sync", func(*corev1.Secret) {}},
		{"expiresAt edited", func(sec *corev1.Secret) { sec.Data[accessv1alpha1.SecretKeyExpiresAt] = []byte("never") }},
		{"expiresAt deleted", func(sec *corev1.Secret) { delete(sec.Data, accessv1alpha1.SecretKeyExpiresAt) }},
		{"label removed", func(sec *corev1.Secret) { delete(sec.Labels, "team") }},
		{"no URL", func(sec *corev1.Secret) { delete(sec.Data, accessv1alpha1.SecretKeyURL) }},
		{"empty URL", func(sec *corev1.Secret) { sec.Data[accessv1alpha1.SecretKeyURL] = nil }},
		{"foreign", func(sec *corev1.Secret) { sec.OwnerReferences = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sec := cachedSecret(s, url1, "10.128.3.7:22")
			tc.edit(sec)
			want := ObserveSecret(sec.DeepCopy(), s)
			cached := transformSecret(t, sec.DeepCopy())
			if got := ObserveSecret(cached, s); got != want {
				t.Fatalf("observed from the cache %+v, from the Secret %+v", got, want)
			}
			hasURL := URL(sec) != ""
			if hasURL != URLElided(cached) || strings.Contains(fmt.Sprint(cached.Data), url1) {
				t.Fatalf("the cache holds %q (URL elided: %v)", cached.Data[accessv1alpha1.SecretKeyURL], URLElided(cached))
			}
			rest := sec.DeepCopy()
			rest.ManagedFields = nil
			if hasURL {
				rest.Data[accessv1alpha1.SecretKeyURL] = elidedURL
			}
			if !equality.Semantic.DeepEqual(cached, rest) {
				t.Fatalf("the cached Secret differs beyond its URL:\n%+v\nwant\n%+v", cached, rest)
			}
		})
	}

	a := transformSecret(t, cachedSecret(s, url1, ""))
	if again := transformSecret(t, a.DeepCopy()); !equality.Semantic.DeepEqual(again, a) {
		t.Fatal("transforming twice changed the Secret")
	}
	name, _ := strings.CutSuffix(a.Name, SecretSuffix)
	if v := a.Labels[accessv1alpha1.LabelStreamingSession]; v != name || !sameBytes(v, a.Name) || !sameBytes(a.OwnerReferences[0].Name, a.Name) {
		t.Error("the session's name is held more than once")
	}
	b := transformSecret(t, cachedSecret(newSession(), url1, ""))
	if !sameBytes(a.Labels[accessv1alpha1.LabelManagedBy], b.Labels[accessv1alpha1.LabelManagedBy]) || !sameBytes(a.OwnerReferences[0].APIVersion, b.OwnerReferences[0].APIVersion) {
		t.Error("repeated strings are not shared")
	}

	// Equal data (the same expiry, target and other keys; any URL): one
	// map. The decoded maps are not changed.
	other := newSession()
	other.Name, other.UID = "s2", "uid-2"
	decoded := cachedSecret(other, "https://as.example/streaming/token-two-0123456789abcdef", "")
	d := decoded.Data
	c := transformSecret(t, decoded)
	if !sameMap(a.Data, c.Data) || URL(&corev1.Secret{Data: d}) == "" || URLElided(&corev1.Secret{Data: d}) {
		t.Fatal("equal data not shared, or the decoded map changed")
	}
	later := cachedSecret(other, url1, "")
	later.Data[accessv1alpha1.SecretKeyExpiresAt] = []byte(FormatExpiresAt(urlExp.Add(time.Second)))
	if sameMap(a.Data, transformSecret(t, later).Data) {
		t.Fatal("different data shared")
	}
	big := cachedSecret(other, url1, "")
	big.Data["kept"] = []byte(strings.Repeat("x", maxSharedKey))
	if b1, b2 := transformSecret(t, big.DeepCopy()), transformSecret(t, big.DeepCopy()); sameMap(b1.Data, b2.Data) || !URLElided(b1) {
		t.Fatal("data of more than maxSharedKey bytes shared, or its URL kept")
	}
}

// sameMap reports whether a and b are one map.
func sameMap[V any](a, b map[string]V) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// SecretWriter puts the URL back into a Secret read from the cache before
// writing it, only when the API server still has that very Secret.
func TestSecretWriter(t *testing.T) {
	ctx := context.Background()
	s := newSession()
	s.Status.URLExpiresAt = &metav1.Time{Time: urlExp}
	stored := cachedSecret(s, url1, "")
	stored.ResourceVersion, stored.ManagedFields = "", nil
	var updates []*corev1.Secret
	api := fake.NewClientBuilder().WithObjects(stored).WithInterceptorFuncs(interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			updates = append(updates, obj.(*corev1.Secret).DeepCopy())
			return c.Update(ctx, obj, opts...)
		},
	}).Build()
	reads := &countingReader{Reader: api}
	w := Secrets{Client: SecretWriter{Client: api, APIReader: reads}, APIReader: reads}
	read := func() *corev1.Secret {
		var sec corev1.Secret
		if err := api.Get(ctx, secretKey(s), &sec); err != nil {
			t.Fatal(err)
		}
		return &sec
	}

	// The repair of a cached Secret: one read, then the write with the URL.
	cached := transformSecret(t, read())
	cached.Data[accessv1alpha1.SecretKeyExpiresAt] = []byte("never")
	if err := w.Update(ctx, s, cached); err != nil {
		t.Fatal(err)
	}
	got := read()
	if URL(got) != url1 || string(got.Data["kept"]) != "someone else's key" || !InSync(got, s, urlExp, "") {
		t.Fatalf("repaired Secret: %v", got.Data)
	}
	if reads.n != 1 || len(updates) != 1 {
		t.Fatalf("%d reads, %d updates for one repair", reads.n, len(updates))
	}

	// The Secret changed since the cache saw it: a conflict, nothing written.
	stale := transformSecret(t, read())
	cur := read()
	cur.Labels["other"] = "tool"
	if err := api.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	updates = nil
	if err := w.Update(ctx, s, stale); !apierrors.IsConflict(err) {
		t.Fatalf("repair of a stale cached Secret: %v, want a conflict", err)
	}
	if len(updates) != 0 {
		t.Fatalf("a stale cached Secret was written: %v", updates[0].Data)
	}

	// A Secret read from the API server is written as it is, without a read.
	reads.n = 0
	live := read()
	live.Data[accessv1alpha1.SecretKeyExpiresAt] = []byte("never")
	if err := w.Update(ctx, s, live); err != nil || reads.n != 0 || URL(read()) != url1 {
		t.Fatalf("update of a live Secret: %v, %d reads", err, reads.n)
	}

	// Deleted since the cache saw it: a conflict too (the next pass sees it gone).
	gone := transformSecret(t, read())
	if err := api.Delete(ctx, read()); err != nil {
		t.Fatal(err)
	}
	updates = nil
	if err := w.Update(ctx, s, gone); !apierrors.IsConflict(err) || len(updates) != 0 {
		t.Fatalf("repair of a deleted Secret: %v (%d writes), want a conflict", err, len(updates))
	}
}

// Intern shares one copy of a string; a flood of distinct strings costs a
// bounded table.
func TestIntern(t *testing.T) {
	interned.mu.Lock()
	saved := interned.m
	interned.m = map[string]string{}
	interned.mu.Unlock()
	t.Cleanup(func() { // the other tests' strings stay shared
		interned.mu.Lock()
		interned.m = saved
		interned.mu.Unlock()
	})
	a, b := Intern(strings.Clone("bench-042")), Intern(strings.Clone("bench-042"))
	if a != "bench-042" || !sameBytes(a, b) {
		t.Fatalf("Intern: %q, %q, shared %v", a, b, sameBytes(a, b))
	}
	if Intern("") != "" {
		t.Fatal(`Intern("")`)
	}
	for i := range 3 * internMax {
		if v := fmt.Sprint("flood-", i); Intern(v) != v {
			t.Fatalf("Intern(%q) changed it", v)
		}
	}
	interned.mu.RLock()
	n := len(interned.m)
	interned.mu.RUnlock()
	if n > internMax {
		t.Fatalf("%d interned strings, bound %d", n, internMax)
	}
}
