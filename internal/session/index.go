package session

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

// IndexerEnvironment names the informer index of sessions by namespace and
// environment (EnvironmentKey).
const IndexerEnvironment = "gatestream.io/session-environment"

// EnvironmentKey is the IndexerEnvironment value of the sessions of
// environment env in namespace ns.
func EnvironmentKey(ns, env string) string { return ns + "/" + env }

// IndexByEnvironment is the IndexerEnvironment index function.
func IndexByEnvironment(obj any) ([]string, error) {
	s, ok := obj.(*accessv1alpha1.StreamingSession)
	if !ok {
		return nil, nil
	}
	return []string{EnvironmentKey(s.Namespace, s.Spec.EnvironmentRef.Name)}, nil
}

// Index reads the sessions of an environment from the informer's own
// indexer: the cached objects themselves, read-only, neither listed nor
// copied. A cache List copies every matching session into a new slice, and
// the limits are counted on every mint, which made minting N sessions on
// one environment O(N²) in copies (14 % of the manager's CPU with 1,000).
// The controller also finds an environment's waiting sessions through it.
type Index struct {
	Indexer toolscache.Indexer
}

// OfEnvironment returns the cached sessions of environment env in ns; the
// caller must not modify them.
func (x Index) OfEnvironment(ns, env string) ([]*accessv1alpha1.StreamingSession, error) {
	objs, err := x.Indexer.ByIndex(IndexerEnvironment, EnvironmentKey(ns, env))
	if err != nil {
		return nil, fmt.Errorf("reading the sessions of environment %s/%s from the cache: %w", ns, env, err)
	}
	out := make([]*accessv1alpha1.StreamingSession, 0, len(objs))
	for _, o := range objs {
		if s, ok := o.(*accessv1alpha1.StreamingSession); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// TransformSession is the manager cache's transform of StreamingSessions
// (cache.ByObject.Transform): it keeps what the controllers read and drops
// the rest, so that 10,000 cached sessions cost less memory:
//   - metadata.managedFields and metadata.labels are dropped: no controller
//     reads a session's labels, or lists sessions by label from the cache (a
//     label selector on the cache would match no session);
//   - the annotation kubectl.kubernetes.io/last-applied-configuration (a
//     copy of the whole object, written by kubectl apply) is dropped; the
//     other annotations stay (an annotation change wakes the controller);
//   - the strings that many sessions repeat (namespace, finalizers,
//     environment, application, device group, phase, the conditions' type,
//     status and reason, the target's address) share one copy (Intern);
//   - sessions with equal secretTemplates share one (sessions created by
//     the same tool or team usually carry the same template); the cached
//     objects are read-only, every Get and List hands out deep copies.
//
// Spec and status are otherwise kept whole: a pass compares the status it
// computes with the cached one and writes only when they differ.
func TransformSession(in any) (any, error) {
	s, ok := in.(*accessv1alpha1.StreamingSession)
	if !ok {
		return in, nil
	}
	s.ManagedFields, s.Labels = nil, nil
	compactMeta(&s.ObjectMeta)
	spec := &s.Spec
	spec.EnvironmentRef.Name = Intern(spec.EnvironmentRef.Name)
	spec.Application = Intern(spec.Application)
	if t := spec.Target; t != nil {
		t.DeviceGroup = Intern(t.DeviceGroup)
	}
	if t := spec.SecretTemplate; t != nil {
		spec.SecretTemplate = shareTemplate(t)
	}
	st := &s.Status
	if strings.HasPrefix(st.SecretName, s.Name) { // name + "-url": the name once
		s.Name = st.SecretName[:len(s.Name)]
	}
	st.Phase = accessv1alpha1.SessionPhase(Intern(string(st.Phase)))
	for i := range st.Conditions {
		c := &st.Conditions[i]
		c.Type, c.Status, c.Reason = Intern(c.Type), metav1.ConditionStatus(Intern(string(c.Status))), Intern(c.Reason)
	}
	if t := st.Target; t != nil {
		t.Address = Intern(t.Address)
	}
	return s, nil
}

// compactMeta drops managedFields and the last-applied annotation from a
// cached object's metadata and interns its namespace, finalizers, annotation
// keys and owner references' apiVersion and kind.
func compactMeta(m *metav1.ObjectMeta) {
	m.ManagedFields = nil
	m.Namespace = Intern(m.Namespace)
	for i := range m.Finalizers {
		m.Finalizers[i] = Intern(m.Finalizers[i])
	}
	delete(m.Annotations, corev1.LastAppliedConfigAnnotation)
	if len(m.Annotations) == 0 {
		m.Annotations = nil
	} else {
		m.Annotations = internKeys(m.Annotations)
	}
	for i := range m.OwnerReferences {
		r := &m.OwnerReferences[i]
		r.APIVersion, r.Kind = Intern(r.APIVersion), Intern(r.Kind)
	}
}

// internKeys returns m with its keys interned (a new map; nil stays nil).
func internKeys[V any](m map[string]V) map[string]V {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[Intern(k)] = v
	}
	return out
}

// Intern returns the canonical copy of s, so that the cached objects that
// repeat a string (a namespace, a label key, a phase) share one copy instead
// of each holding its own. For values that many objects share and that are
// few: a unique string (a name, a UID) gains nothing. The table holds at
// most internMax strings; past that it starts over (the strings handed out
// stay valid, later objects share new copies), so a flood of distinct
// values costs a bounded amount of memory.
//
// (unique.Make would not do: its canonical copies live only as long as a
// Handle does, so objects decoded after a garbage collection would get a
// fresh copy, and with one collection every few hundred events the sharing
// would mostly be lost.)
func Intern(s string) string {
	if s == "" {
		return ""
	}
	interned.mu.RLock()
	c, ok := interned.m[s]
	interned.mu.RUnlock()
	if ok {
		return c
	}
	interned.mu.Lock()
	defer interned.mu.Unlock()
	if c, ok := interned.m[s]; ok {
		return c
	}
	if len(interned.m) >= internMax {
		interned.m = make(map[string]string, internMax/4)
	}
	c = strings.Clone(s)
	interned.m[c] = c
	return c
}

// internMax bounds the table of interned strings.
const internMax = 4096

var interned = struct {
	mu sync.RWMutex
	m  map[string]string
}{m: map[string]string{}}

// sharedTable hands out one shared copy of values equal by content (their
// key), for cached objects: the objects that hold a shared value must never
// change it (the cache's objects are read-only; every Get and List hands
// out deep copies). It holds at most max values and starts over when full:
// the values handed out stay valid, later objects share new copies.
type sharedTable[V any] struct {
	mu  sync.Mutex
	m   map[string]V
	max int
}

// share returns the shared value of key, made by build the first time.
func (x *sharedTable[V]) share(key string, build func() V) V {
	x.mu.Lock()
	defer x.mu.Unlock()
	if v, ok := x.m[key]; ok {
		return v
	}
	if x.m == nil || len(x.m) >= x.max {
		x.m = map[string]V{}
	}
	v := build()
	x.m[key] = v
	return v
}

// maxSharedKey: a value whose content is longer is not shared (nor kept in
// a table).
const maxSharedKey = 1024

// templates are the secretTemplates cached sessions share.
var templates = &sharedTable[*accessv1alpha1.SecretTemplate]{max: 1024}

// shareTemplate returns the shared template equal to t: t itself is never
// changed (a shared one is a new copy of it, with interned strings). A
// template with more than maxSharedKey bytes of content is not shared.
func shareTemplate(t *accessv1alpha1.SecretTemplate) *accessv1alpha1.SecretTemplate {
	key := templateKey(t)
	if len(key) > maxSharedKey {
		return t
	}
	return templates.share(key, func() *accessv1alpha1.SecretTemplate {
		c := &accessv1alpha1.SecretTemplate{}
		if len(t.Labels) > 0 {
			c.Labels = make(map[string]accessv1alpha1.LabelValue, len(t.Labels))
			for k, v := range t.Labels {
				c.Labels[Intern(k)] = accessv1alpha1.LabelValue(Intern(string(v)))
			}
		}
		if len(t.Annotations) > 0 {
			c.Annotations = make(map[string]string, len(t.Annotations))
			for k, v := range t.Annotations {
				c.Annotations[Intern(k)] = v
			}
		}
		return c
	})
}

// templateKey encodes t's content: its labels, then its annotations, each
// sorted by key and length-prefixed.
func templateKey(t *accessv1alpha1.SecretTemplate) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(t.Labels)) {
		writeField(&b, k)
		writeField(&b, string(t.Labels[k]))
	}
	b.WriteByte('|')
	for _, k := range slices.Sorted(maps.Keys(t.Annotations)) {
		writeField(&b, k)
		writeField(&b, t.Annotations[k])
	}
	return b.String()
}

// writeField writes s length-prefixed: a sequence of fields encodes one
// sequence of strings only.
func writeField(b *strings.Builder, s string) {
	b.WriteString(strconv.Itoa(len(s)))
	b.WriteByte(':')
	b.WriteString(s)
}
