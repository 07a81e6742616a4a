package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/session/target"
)

// FieldOwner is the field manager of everything gatestream writes.
const FieldOwner = "gatestream"

// Metadata that a Secret holding a URL must never carry, even when
// secretTemplate asks: Argo CD's resource tracking. A Secret carrying the
// Application's tracking label or annotation would look like part of the
// Application to Argo CD, which would then show it out of sync and prune it
// (it is not in Git), taking the URL with it. Every other key under Argo
// CD's prefix (sync and compare options, secret-type, managed-by…) is
// dropped as well: each makes Argo CD act on the Secret.
var (
	strippedLabels      = []string{"app.kubernetes.io/instance"}
	strippedAnnotations = []string(nil)
)

// argoCDPrefix is the prefix of every Argo CD label and annotation key.
const argoCDPrefix = "argocd.argoproj.io/"

func stripped(key string, exact []string) bool {
	return strings.HasPrefix(key, argoCDPrefix) || slices.Contains(exact, key)
}

// SecretSuffix ends the name of every URL Secret: a Secret someone else
// creates under a session's name (kubectl apply of their own Secret) never
// meets the session's Secret.
const SecretSuffix = "-url"

// secretNameHashLen is the length of the hash a shortened name carries.
const secretNameHashLen = 10

// SecretName is the name of the session's Secret (status.secretName):
// URLSecretName(session name), or the session's own name when an older
// gatestream recorded that one (status.secretName == name), so that a
// session created before the suffix keeps its Secret.
func SecretName(s *accessv1alpha1.StreamingSession) string {
	if s.Status.SecretName != "" && s.Status.SecretName == s.Name {
		return s.Name // recorded by an older gatestream
	}
	return URLSecretName(s.Name)
}

// URLSecretName is the name of the URL Secret of a session named name:
// name + "-url"; when that is longer than a Secret name may be (253), the
// first 238 characters of name (without trailing dots and dashes), a dash,
// the first 10 hex digits of the SHA-256 of the whole name, and "-url". The
// result is a DNS subdomain whenever name is one, and the same name always
// gives the same result.
func URLSecretName(name string) string {
	if len(name)+len(SecretSuffix) <= validation.DNS1123SubdomainMaxLength {
		return name + SecretSuffix
	}
	sum := sha256.Sum256([]byte(name))
	prefix := name[:validation.DNS1123SubdomainMaxLength-len(SecretSuffix)-1-secretNameHashLen]
	for len(prefix) > 0 && !isAlnum(prefix[len(prefix)-1]) {
		prefix = prefix[:len(prefix)-1]
	}
	return prefix + "-" + hex.EncodeToString(sum[:])[:secretNameHashLen] + SecretSuffix
}

// SessionLabelValue is the value of the access.gatestream.io/streaming-session
// label: the session's name, or when it is longer than a label value may be
// (63), its first 52 characters, a dash and a hash of the whole name.
func SessionLabelValue(name string) string {
	if len(name) <= validation.LabelValueMaxLength {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	prefix := name[:52]
	for len(prefix) > 0 && !isAlnum(prefix[len(prefix)-1]) {
		prefix = prefix[:len(prefix)-1]
	}
	return prefix + "-" + hex.EncodeToString(sum[:])[:10]
}

func isAlnum(b byte) bool {
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9')
}

// Labels are the Secret's labels: secretTemplate.labels without Argo CD's
// tracking label, then gatestream's own (which the template cannot override).
func Labels(s *accessv1alpha1.StreamingSession) map[string]string {
	out := map[string]string{}
	if s.Spec.SecretTemplate != nil {
		for k, v := range s.Spec.SecretTemplate.Labels {
			out[k] = string(v)
		}
	}
	maps.DeleteFunc(out, func(k, _ string) bool { return stripped(k, strippedLabels) })
	out[accessv1alpha1.LabelManagedBy] = accessv1alpha1.LabelManagedByValue
	out[accessv1alpha1.LabelStreamingSession] = SessionLabelValue(s.Name)
	return out
}

// Annotations are secretTemplate.annotations without Argo CD's tracking annotation.
func Annotations(s *accessv1alpha1.StreamingSession) map[string]string {
	out := map[string]string{}
	if s.Spec.SecretTemplate != nil {
		maps.Copy(out, s.Spec.SecretTemplate.Annotations)
	}
	maps.DeleteFunc(out, func(k, _ string) bool { return stripped(k, strippedAnnotations) })
	return out
}

// StrippedMetadata returns the secretTemplate keys that were dropped (for a message).
func StrippedMetadata(s *accessv1alpha1.StreamingSession) []string {
	var out []string
	if s.Spec.SecretTemplate == nil {
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(s.Spec.SecretTemplate.Labels)) {
		if stripped(k, strippedLabels) {
			out = append(out, "label "+k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.Spec.SecretTemplate.Annotations)) {
		if stripped(k, strippedAnnotations) {
			out = append(out, "annotation "+k)
		}
	}
	return out
}

// OwnerReference makes the session the Secret's controller.
func OwnerReference(s *accessv1alpha1.StreamingSession) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion:         accessv1alpha1.GroupVersion.String(),
		Kind:               "StreamingSession",
		Name:               s.Name,
		UID:                s.UID,
		Controller:         ptr.To(true),
		BlockOwnerDeletion: ptr.To(true),
	}
}

// FormatExpiresAt is the Secret's expiresAt value.
func FormatExpiresAt(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// NewSecret is the session's Secret holding url: created once, by a plain
// create (it fails if any Secret of that name exists).
func NewSecret(s *accessv1alpha1.StreamingSession, url string, expiresAt time.Time, target string) *corev1.Secret {
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: SecretName(s), Namespace: s.Namespace},
		Type:       corev1.SecretTypeOpaque,
	}
	fill(sec, s, url, expiresAt, target)
	return sec
}

// fill puts into sec what gatestream keeps there: its labels and
// annotations, the controller reference, url, expiresAt and target. Other
// labels, annotations and keys are left alone.
func fill(sec *corev1.Secret, s *accessv1alpha1.StreamingSession, url string, expiresAt time.Time, target string) {
	if sec.Labels == nil {
		sec.Labels = map[string]string{}
	}
	maps.Copy(sec.Labels, Labels(s))
	if a := Annotations(s); len(a) > 0 {
		if sec.Annotations == nil {
			sec.Annotations = map[string]string{}
		}
		maps.Copy(sec.Annotations, a)
	}
	if !ControlledBy(sec, s) {
		sec.OwnerReferences = append(sec.OwnerReferences, OwnerReference(s))
	}
	if sec.Data == nil {
		sec.Data = map[string][]byte{}
	}
	if url != "" { // a Napter session's Secret holds an endpoint instead (fillNapter)
		sec.Data[accessv1alpha1.SecretKeyURL] = []byte(url)
	}
	sec.Data[accessv1alpha1.SecretKeyExpiresAt] = []byte(FormatExpiresAt(expiresAt))
	if target != "" {
		sec.Data[accessv1alpha1.SecretKeyTarget] = []byte(target)
	}
}

// ControlledBy reports whether the Secret's controller is the session (same UID).
func ControlledBy(sec *corev1.Secret, s *accessv1alpha1.StreamingSession) bool {
	ref := metav1.GetControllerOf(sec)
	return ref != nil && ref.UID == s.UID && ref.Kind == "StreamingSession"
}

// URL returns the Secret's URL ("" if none). For a Secret read from a cache
// that holds its Secrets through TransformSecret, it is a placeholder that
// only says that the Secret holds a URL (URLElided).
func URL(sec *corev1.Secret) string {
	if sec == nil {
		return ""
	}
	return string(sec.Data[accessv1alpha1.SecretKeyURL])
}

// ExpiresAt parses the Secret's expiresAt key.
func ExpiresAt(sec *corev1.Secret) (time.Time, bool) {
	if sec == nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, string(sec.Data[accessv1alpha1.SecretKeyExpiresAt]))
	return t, err == nil
}

// InSync reports whether a Secret that holds a URL has everything gatestream
// puts there: labels, annotations, the controller reference, expiresAt and
// target. Anything else on it (other tools' labels or keys) is left alone.
func InSync(sec *corev1.Secret, s *accessv1alpha1.StreamingSession, expiresAt time.Time, target string) bool {
	if !ControlledBy(sec, s) || sec.Type != corev1.SecretTypeOpaque {
		return false
	}
	for k, v := range Labels(s) {
		if got, ok := sec.Labels[k]; !ok || got != v {
			return false
		}
	}
	for k, v := range Annotations(s) {
		if got, ok := sec.Annotations[k]; !ok || got != v {
			return false
		}
	}
	if string(sec.Data[accessv1alpha1.SecretKeyExpiresAt]) != FormatExpiresAt(expiresAt) {
		return false
	}
	if target != "" && string(sec.Data[accessv1alpha1.SecretKeyTarget]) != target {
		return false
	}
	return true
}

// SecretObservation is what Decide needs to know of the session's Secret
// (never the URL itself).
type SecretObservation struct {
	// Exists: a Secret named SecretName(session) exists.
	Exists bool
	// Foreign: it is not controlled by the session; gatestream never writes
	// into it nor deletes it (the rest is then unknown).
	Foreign bool
	// URL: it holds a URL.
	URL bool
	// ExpiresAt is its expiresAt key; when that was edited away, an upper
	// bound: the Secret's creation + urlValidity (the URL was minted before
	// the Secret was created) + MintCallTimeout (an older gatestream created
	// it just before minting).
	ExpiresAt time.Time
	// InSync: it holds everything gatestream keeps there for the URL recorded
	// in status (false while no URL is recorded).
	InSync bool
	// Endpoint is the Napter endpoint it holds ("" for a URL): no
	// credential, and what a deletion needs when the status that records
	// the mapping was not read yet.
	Endpoint string
}

// HoldsURL reports whether the session's own Secret holds a URL.
func (o SecretObservation) HoldsURL() bool { return o.Exists && !o.Foreign && o.URL }

// ObserveSecret describes sec (nil: no Secret) for the session.
func ObserveSecret(sec *corev1.Secret, s *accessv1alpha1.StreamingSession) SecretObservation {
	if sec == nil {
		return SecretObservation{}
	}
	if !ControlledBy(sec, s) {
		return SecretObservation{Exists: true, Foreign: true}
	}
	o := SecretObservation{Exists: true, URL: URL(sec) != "" || len(sec.Data[accessv1alpha1.SecretKeyEndpoint]) > 0,
		Endpoint: string(sec.Data[accessv1alpha1.SecretKeyEndpoint])}
	exp, ok := ExpiresAt(sec)
	if !ok {
		exp = CeilSecond(sec.CreationTimestamp.Add(MintCallTimeout + URLValidity(&s.Spec)))
	}
	o.ExpiresAt = exp
	switch st := s.Status; {
	case target.ViaNapter(s) && st.Napter != nil && st.Napter.Endpoint != "":
		o.InSync = napterInSync(sec, s)
	case st.URLExpiresAt != nil:
		o.InSync = InSync(sec, s, st.URLExpiresAt.Time, TargetString(st.Target))
	}
	return o
}

// elidedURL stands for the URL in a Secret cached through TransformSecret.
// No URL can be equal to it (it holds NUL bytes).
var elidedURL = []byte("\x00gatestream: the URL is not kept in the cache\x00")

// URLElided reports whether sec holds the placeholder TransformSecret puts
// where the URL was.
func URLElided(sec *corev1.Secret) bool {
	return sec != nil && bytes.Equal(sec.Data[accessv1alpha1.SecretKeyURL], elidedURL)
}

// TransformSecret is the manager cache's transform of the Secrets it holds
// (those labelled app.kubernetes.io/managed-by=gatestream;
// cache.ByObject.Transform):
//   - the URL is replaced by a placeholder: a pass needs to know only that
//     the Secret holds one (ObserveSecret), so the cache holds no bearer
//     credential, and not the 0.5–1.5 KB of an AWS streaming URL per
//     session. The one write of a Secret read from the cache, its repair,
//     reads the URL from the API server first (SecretWriter); the other keys
//     stay as they are;
//   - metadata.managedFields and the last-applied annotation are dropped;
//   - Secrets whose data is then equal share one map (compactData);
//   - the strings that many Secrets repeat share one copy (Intern):
//     namespace, label keys and values (not the session label's value: a
//     session name), annotation and data keys, owner references' apiVersion
//     and kind, the type; the session's name, in the Secret's name, its
//     session label and its owner reference, is held once.
func TransformSecret(in any) (any, error) {
	sec, ok := in.(*corev1.Secret)
	if !ok {
		return in, nil
	}
	compactMeta(&sec.ObjectMeta)
	name, _ := strings.CutSuffix(sec.Name, SecretSuffix) // the session's name: sec.Name's bytes
	if len(sec.Labels) > 0 {
		labels := make(map[string]string, len(sec.Labels))
		for k, v := range sec.Labels {
			switch {
			case k != accessv1alpha1.LabelStreamingSession:
				v = Intern(v)
			case v == name:
				v = name
			}
			labels[Intern(k)] = v
		}
		sec.Labels = labels
	}
	for i := range sec.OwnerReferences {
		if r := &sec.OwnerReferences[i]; r.Name == name {
			r.Name = name
		}
	}
	if len(sec.Data) > 0 {
		sec.Data = compactData(sec.Data)
	}
	sec.Type = corev1.SecretType(Intern(string(sec.Type)))
	return sec, nil
}

// secretData are the data maps that cached Secrets share.
var secretData = &sharedTable[map[string][]byte]{max: 1024}

// compactData is d as the cache keeps it: the URL replaced by the
// placeholder, the keys interned, and one map shared by the Secrets whose
// data is then equal: those of the sessions minted in the same second (a
// URL's expiresAt is a whole second), which in a burst of sessions is most
// of them. d is not changed; data of more than maxSharedKey bytes is not
// shared.
func compactData(d map[string][]byte) map[string][]byte {
	build := func() map[string][]byte {
		out := make(map[string][]byte, len(d))
		for k, v := range d {
			if k == accessv1alpha1.SecretKeyURL && len(v) > 0 {
				v = elidedURL
			}
			out[Intern(k)] = v
		}
		return out
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(d)) {
		v := d[k]
		if k == accessv1alpha1.SecretKeyURL && len(v) > 0 {
			v = elidedURL
		}
		if b.Len()+len(k)+len(v) > maxSharedKey {
			return build()
		}
		writeField(&b, k)
		writeField(&b, string(v))
	}
	return secretData.share(b.String(), build)
}

// SecretWriter is the Secrets unit's Client when the cache holds the
// Secrets through TransformSecret. Before it updates a Secret that holds the
// URL placeholder (one read from that cache: Secrets.Update, the repair),
// it reads the Secret from the API server and puts its URL back; that read
// must be of the same Secret at the same resourceVersion as the cached one,
// otherwise the update is not sent and fails with a conflict (the next pass
// reads the Secret again). So the repair costs one read more than the
// write; nothing else changes: reads, creates, deletes and the updates of
// Secrets read from the API server go to Client as they are.
type SecretWriter struct {
	client.Client
	// APIReader reads the URL (the manager's API reader).
	APIReader client.Reader
}

// Update writes obj; a Secret holding the URL placeholder gets its URL back first.
func (w SecretWriter) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	sec, ok := obj.(*corev1.Secret)
	if !ok || !URLElided(sec) {
		return w.Client.Update(ctx, obj, opts...)
	}
	if w.APIReader == nil {
		return fmt.Errorf("secret %s: its URL is not in the cache and there is no API reader to read it", sec.Name)
	}
	var cur corev1.Secret
	err := w.APIReader.Get(ctx, client.ObjectKeyFromObject(sec), &cur)
	switch {
	case apierrors.IsNotFound(err):
		return apierrors.NewConflict(corev1.Resource("secrets"), sec.Name, errors.New("the Secret was deleted after the cache saw it"))
	case err != nil:
		return fmt.Errorf("reading Secret %s for its URL: %w", sec.Name, err)
	}
	if cur.UID != sec.UID || cur.ResourceVersion != sec.ResourceVersion {
		return apierrors.NewConflict(corev1.Resource("secrets"), sec.Name,
			errors.New("the Secret changed after the cache saw it; it is read again"))
	}
	url := cur.Data[accessv1alpha1.SecretKeyURL]
	if len(url) == 0 { // cannot be: the cache saw a URL at this resourceVersion
		return apierrors.NewConflict(corev1.Resource("secrets"), sec.Name, errors.New("the Secret holds no URL any more"))
	}
	sec.Data[accessv1alpha1.SecretKeyURL] = url
	return RedactError(w.Client.Update(ctx, sec, opts...), string(url))
}
