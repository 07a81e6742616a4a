package session

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/utils/ptr"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

// FieldOwner is the server-side apply field manager of everything gatestream writes.
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

// SecretName is the name of the session's Secret: the session's own name.
func SecretName(s *accessv1alpha1.StreamingSession) string { return s.Name }

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
		maps.Copy(out, s.Spec.SecretTemplate.Labels)
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

// Placeholder is the Secret created (plain create: it fails if any Secret of
// that name exists) before the intent to mint is recorded. It claims the name
// for the session and carries everything but the URL.
func Placeholder(s *accessv1alpha1.StreamingSession, target string) *corev1.Secret {
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:            SecretName(s),
			Namespace:       s.Namespace,
			Labels:          Labels(s),
			Annotations:     Annotations(s),
			OwnerReferences: []metav1.OwnerReference{OwnerReference(s)},
		},
		Type: corev1.SecretTypeOpaque,
	}
	if len(sec.Annotations) == 0 {
		sec.Annotations = nil
	}
	if target != "" {
		sec.Data = map[string][]byte{accessv1alpha1.SecretKeyTarget: []byte(target)}
	}
	return sec
}

// ApplyConfiguration is the Secret with the URL, for server-side apply under FieldOwner.
func ApplyConfiguration(s *accessv1alpha1.StreamingSession, url string, expiresAt time.Time, target string) *corev1ac.SecretApplyConfiguration {
	ref := OwnerReference(s)
	data := map[string][]byte{
		accessv1alpha1.SecretKeyURL:       []byte(url),
		accessv1alpha1.SecretKeyExpiresAt: []byte(FormatExpiresAt(expiresAt)),
	}
	if target != "" {
		data[accessv1alpha1.SecretKeyTarget] = []byte(target)
	}
	ac := corev1ac.Secret(SecretName(s), s.Namespace).
		WithLabels(Labels(s)).
		WithOwnerReferences(metav1ac.OwnerReference().
			WithAPIVersion(ref.APIVersion).WithKind(ref.Kind).WithName(ref.Name).WithUID(ref.UID).
			WithController(true).WithBlockOwnerDeletion(true)).
		WithType(corev1.SecretTypeOpaque).
		WithData(data)
	if a := Annotations(s); len(a) > 0 {
		ac = ac.WithAnnotations(a)
	}
	return ac
}

// ControlledBy reports whether the Secret's controller is the session (same UID).
func ControlledBy(sec *corev1.Secret, s *accessv1alpha1.StreamingSession) bool {
	ref := metav1.GetControllerOf(sec)
	return ref != nil && ref.UID == s.UID && ref.Kind == "StreamingSession"
}

// URL returns the Secret's URL ("" if none).
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
