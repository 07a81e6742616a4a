package clients

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

// Credentials in another namespace follow Gateway API's ReferenceGrant model,
// kept as simple as it can be: the referenced Secret itself says which other
// namespaces may use it (annotation access.gatestream.io/allowed-namespaces,
// a comma-separated list). Only someone who may edit Secrets in the
// credentials namespace can set it, so a team that may read and write its own
// namespace (and its URL Secrets) still cannot borrow credentials it was not
// given, nor read them. "*" is not accepted: every namespace is named.

// SecretKey is the Secret ref names for an object in namespace referrer.
func SecretKey(referrer string, ref accessv1alpha1.SecretReference) types.NamespacedName {
	ns := ref.Namespace
	if ns == "" {
		ns = referrer
	}
	return types.NamespacedName{Namespace: ns, Name: ref.Name}
}

// AllowedNamespaces are the namespaces s's annotation allows (entries
// trimmed; empty entries and "*" dropped).
func AllowedNamespaces(s *corev1.Secret) []string {
	var out []string
	for _, e := range strings.Split(s.Annotations[accessv1alpha1.AnnotationAllowedNamespaces], ",") {
		if e = strings.TrimSpace(e); e != "" && e != "*" {
			out = append(out, e)
		}
	}
	return out
}

// Allows reports whether objects in namespace referrer may use s as
// credentials: always in its own namespace, elsewhere only when its
// annotation lists referrer.
func Allows(s *corev1.Secret, referrer string) bool {
	return s.Namespace == referrer || slices.Contains(AllowedNamespaces(s), referrer)
}

// CheckGrant returns a *CredentialsError (reason CredentialsUnavailable,
// terminal) saying what to add when s may not be used from namespace referrer.
func CheckGrant(s *corev1.Secret, referrer string) error {
	if Allows(s, referrer) {
		return nil
	}
	reason := fmt.Sprintf("is in namespace %s, which does not allow namespace %s to use it: someone who may edit Secrets in %s must add %s to the Secret's annotation %s (a comma-separated list of namespaces)",
		s.Namespace, referrer, s.Namespace, referrer, accessv1alpha1.AnnotationAllowedNamespaces)
	if strings.Contains(s.Annotations[accessv1alpha1.AnnotationAllowedNamespaces], "*") {
		reason += `; "*" is not accepted, list the namespaces`
	}
	return &CredentialsError{Secret: s.Namespace + "/" + s.Name, Reason: reason}
}

// displayName is the Secret's name as the referring object's condition shows
// it: the name alone in the same namespace, namespace/name otherwise.
func displayName(referrer string, key types.NamespacedName) string {
	if key.Namespace == referrer {
		return key.Name
	}
	return key.String()
}
