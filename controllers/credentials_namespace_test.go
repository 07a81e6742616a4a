package controllers_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/controllers"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/emulator"
	"github.com/gatestream/gatestream/internal/manager"
	"github.com/gatestream/gatestream/internal/testenv"
)

// TestEnvironmentCredentialsInAnotherNamespace: with the manager's wiring
// (credential informer, --watch-namespaces naming only the team's namespace),
// an environment uses credentials kept in a namespace the team cannot read
// when the Secrets allow the team's namespace; those Secrets get the label and
// finalizer, and lose them when no environment uses them any more. A Secret
// there that does not allow the namespace is refused (CredentialsUnavailable,
// naming the annotation) and left untouched.
func TestEnvironmentCredentialsInAnotherNamespace(t *testing.T) {
	h := newRAEHarness(t, time.Hour, emulator.Options{})
	creds := h.ns + "-credentials"
	h.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: creds}})
	grant := map[string]string{accessv1alpha1.AnnotationAllowedNamespaces: "line-x, " + h.ns}
	h.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: creds, Name: "soracom-auth", Annotations: grant},
		StringData: map[string]string{clients.KeySoracomAuthKeyID: h.seed.SoracomAuthKeyID, clients.KeySoracomAuthKey: h.seed.SoracomAuthKey}})
	h.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: creds, Name: "aws-credentials", Annotations: grant},
		StringData: map[string]string{clients.KeyAWSAccessKeyID: h.seed.AWSAccessKeyID, clients.KeyAWSSecretAccessKey: h.seed.AWSSecretAccessKey}})
	h.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: creds, Name: "unshared"},
		StringData: map[string]string{clients.KeySoracomAuthKeyID: h.seed.SoracomAuthKeyID, clients.KeySoracomAuthKey: h.seed.SoracomAuthKey}})

	opts := manager.DefaultOptions()
	opts.WatchNamespaces = []string{h.ns}
	h.mgr = testenv.RunManager(t, env, opts, func(m *manager.Manager) error {
		factory, err := clients.ForManager(m, opts.WatchNamespaces, clients.Options{SoracomCallsPerSecond: 1000, AWSCallsPerSecond: 1000, AllowedEndpoints: emulatorEndpoints})
		if err != nil {
			return err
		}
		return (&controllers.RemoteAccessEnvironmentReconciler{
			Client: m.GetClient(), Clients: factory, Recorder: m.GetEventRecorder("gatestream-remoteaccessenvironment"),
			Clock: clock.RealClock{}, PollInterval: time.Hour, TransitionWait: 100 * time.Millisecond, MaxConcurrentReconciles: 2,
		}).SetupWithManager(m)
	})
	protected := func(name string) (bool, error) {
		var s corev1.Secret
		if err := env.Client.Get(h.ctx, types.NamespacedName{Namespace: creds, Name: name}, &s); err != nil {
			return false, err
		}
		f, l := slices.Contains(s.Finalizers, controllers.CredentialsFinalizer), s.Labels[clients.LabelCredentials] == clients.LabelCredentialsInUse
		if f != l {
			return false, fmt.Errorf("Secret %s: finalizer %v but label %v", name, f, l)
		}
		return f, nil
	}
	wantProtected := func(what string, want map[string]bool) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, what, func() error {
			for name, w := range want {
				got, err := protected(name)
				if err != nil {
					return err
				}
				if got != w {
					return fmt.Errorf("Secret %s/%s protected = %v, want %v", creds, name, got, w)
				}
			}
			return nil
		})
	}

	// No grant for this namespace: refused, saying what to add; the Secret is not touched.
	stuck := h.sampleEnv("stuck")
	stuck.Spec.Soracom.CredentialsSecretRef = accessv1alpha1.SecretReference{Namespace: creds, Name: "unshared"}
	h.create(stuck)
	testenv.Eventually(t, 30*time.Second, "CredentialsUnavailable naming the grant", func() error {
		c := h.condition("stuck", accessv1alpha1.ConditionSynced)
		if c == nil || c.Reason != accessv1alpha1.ReasonCredentialsUnavailable {
			return fmt.Errorf("Synced = %+v", c)
		}
		for _, want := range []string{creds + "/unshared", "namespace " + h.ns, accessv1alpha1.AnnotationAllowedNamespaces} {
			if !strings.Contains(c.Message, want) {
				return fmt.Errorf("message %q does not say %q", c.Message, want)
			}
		}
		return nil
	})

	// Granted: Ready, and the Secrets in the credentials namespace are protected.
	rae := h.sampleEnv("factory-floor")
	rae.Spec.Soracom.CredentialsSecretRef = accessv1alpha1.SecretReference{Namespace: creds, Name: "soracom-auth"}
	rae.Spec.AWS.CredentialsSecretRef = &accessv1alpha1.SecretReference{Namespace: creds, Name: "aws-credentials"}
	h.create(rae)
	h.waitReady("factory-floor", 60*time.Second)
	wantProtected("cross-namespace Secrets protected", map[string]bool{"soracom-auth": true, "aws-credentials": true, "unshared": false})

	// The AWS reference moves back to the team's namespace: that Secret is released.
	got := h.get("factory-floor")
	got.Spec.AWS.CredentialsSecretRef = &accessv1alpha1.SecretReference{Name: "aws-credentials"}
	if err := env.Client.Update(h.ctx, got); err != nil {
		t.Fatal(err)
	}
	h.waitReady("factory-floor", 60*time.Second)
	wantProtected("unused AWS Secret released", map[string]bool{"soracom-auth": true, "aws-credentials": false, "unshared": false})

	// Deleting the environments releases the last one.
	for _, name := range []string{"stuck", "factory-floor"} {
		e := h.get(name)
		e.Spec.DeletionPolicy = accessv1alpha1.DeletionPolicyOrphan
		if err := env.Client.Update(h.ctx, e); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Delete(h.ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	wantProtected("all released", map[string]bool{"soracom-auth": false, "aws-credentials": false, "unshared": false})
}
