package clients_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/testenv"
)

func namespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// credentialsCache is the informer ForManager gives the factory (labelled
// Secrets only), started for the test.
func credentialsCache(t *testing.T) cache.Cache {
	t.Helper()
	c, err := cache.New(env.Config, cache.Options{Scheme: env.Client.Scheme(), ByObject: map[client.Object]cache.ByObject{
		&corev1.Secret{}: {Label: labels.SelectorFromSet(labels.Set{clients.LabelCredentials: clients.LabelCredentialsInUse})},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		t.Fatal("credentials cache did not sync")
	}
	return c
}

// TestCredentialsInAnotherNamespaceNeedTheSecretsGrant: a reference into
// another namespace works only while the Secret's allowed-namespaces
// annotation lists the referring namespace; the grant is checked on every
// client build, so withdrawing it stops a cached client from being handed out.
func TestCredentialsInAnotherNamespaceNeedTheSecretsGrant(t *testing.T) {
	ctx := context.Background()
	team, creds := namespace(t, "line-a-"), namespace(t, "gatestream-credentials-")
	soracomSecret := secret(t, creds, "soracom-auth", map[string]string{clients.KeySoracomAuthKeyID: "keyId-x", clients.KeySoracomAuthKey: "secret-x"})
	awsSecret := secret(t, creds, "aws-credentials", map[string]string{clients.KeyAWSAccessKeyID: "AKIAX", clients.KeyAWSSecretAccessKey: "s3cr3t"})
	soracomSpec := accessv1alpha1.SoracomSpec{Endpoint: "http://127.0.0.1:1",
		CredentialsSecretRef: accessv1alpha1.SecretReference{Namespace: creds, Name: "soracom-auth"}}
	awsSpec := accessv1alpha1.AWSSpec{Region: "ap-northeast-1",
		CredentialsSecretRef: &accessv1alpha1.SecretReference{Namespace: creds, Name: "aws-credentials"}}

	setGrant := func(s *corev1.Secret, value string, label bool) {
		t.Helper()
		var cur corev1.Secret
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(s), &cur); err != nil {
			t.Fatal(err)
		}
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		if value == "" {
			delete(cur.Annotations, accessv1alpha1.AnnotationAllowedNamespaces)
		} else {
			cur.Annotations[accessv1alpha1.AnnotationAllowedNamespaces] = value
		}
		if label { // as protectCredentials does: from now on it is read from the cache
			cur.Labels = map[string]string{clients.LabelCredentials: clients.LabelCredentialsInUse}
		}
		if err := env.Client.Update(ctx, &cur); err != nil {
			t.Fatal(err)
		}
	}
	refused := func(f *clients.Factory, what string) error {
		_, serr := f.Soracom(ctx, team, soracomSpec)
		_, aerr := f.AWS(ctx, team, awsSpec)
		for _, c := range []struct {
			err    error
			secret string
		}{{serr, creds + "/soracom-auth"}, {aerr, creds + "/aws-credentials"}} {
			if !clients.IsCredentialsError(c.err) {
				return fmt.Errorf("%s: want a CredentialsError, got %v", what, c.err)
			}
			for _, want := range []string{c.secret, "namespace " + creds, "namespace " + team, "add " + team, accessv1alpha1.AnnotationAllowedNamespaces} {
				if !strings.Contains(c.err.Error(), want) {
					return fmt.Errorf("%s: %q does not say %q", what, c.err, want)
				}
			}
		}
		return nil
	}

	for _, tc := range []struct {
		name  string
		cache bool
	}{{"API reader", false}, {"credentials cache", true}} {
		t.Run(tc.name, func(t *testing.T) {
			opts := clients.Options{AllowedEndpoints: []string{"http://127.0.0.1"}}
			if tc.cache {
				opts.CredentialsCache = credentialsCache(t)
			}
			f := clients.New(env.Client, opts)
			eventually := func(what string, cond func() error) { testenv.Eventually(t, 10*time.Second, what, cond) }

			// No annotation: refused, naming the Secret, both namespaces and the annotation.
			setGrant(soracomSecret, "", tc.cache)
			setGrant(awsSecret, "", tc.cache)
			eventually("refused without a grant", func() error { return refused(f, "no grant") })

			// "*" is not a grant, and the message says to list namespaces.
			setGrant(soracomSecret, "*", tc.cache)
			eventually("refused with *", func() error {
				_, err := f.Soracom(ctx, team, soracomSpec)
				if !clients.IsCredentialsError(err) || !strings.Contains(err.Error(), `"*" is not accepted`) {
					return fmt.Errorf("*: %v", err)
				}
				return nil
			})

			// A grant for another namespace only: still refused.
			setGrant(soracomSecret, "line-b, line-c", tc.cache)
			setGrant(awsSecret, "line-b", tc.cache)
			eventually("refused with another namespace's grant", func() error { return refused(f, "grant for line-b") })

			// Granted (among others, with spaces): both clouds' clients are built, and cached.
			setGrant(soracomSecret, "line-b, "+team, tc.cache)
			setGrant(awsSecret, team+",line-b", tc.cache)
			var a any
			eventually("granted", func() error {
				s, err := f.Soracom(ctx, team, soracomSpec)
				if err != nil {
					return err
				}
				if _, err := f.AWS(ctx, team, awsSpec); err != nil {
					return err
				}
				a = s
				return nil
			})
			if b, err := f.Soracom(ctx, team, soracomSpec); err != nil || any(b) != a {
				t.Fatalf("same granted credentials gave another client (%v)", err)
			}
			// The grant is for the team's namespace only: a third namespace is refused.
			if _, err := f.Soracom(ctx, "line-z", soracomSpec); !clients.IsCredentialsError(err) || !strings.Contains(err.Error(), "add line-z") {
				t.Fatalf("another namespace used the grant: %v", err)
			}

			// Grant withdrawn: refused on the next build; the cached client is not handed out.
			setGrant(soracomSecret, "line-b", tc.cache)
			setGrant(awsSecret, "", tc.cache)
			eventually("refused once the grant is withdrawn", func() error { return refused(f, "withdrawn grant") })
		})
	}
}

// A reference that names its own namespace explicitly needs no grant.
func TestCredentialsInTheSameNamespaceNeedNoGrant(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "line-a-")
	secret(t, ns, "soracom-auth", map[string]string{clients.KeySoracomAuthKeyID: "keyId-y", clients.KeySoracomAuthKey: "secret-y"})
	f := clients.New(env.Client, clients.Options{AllowedEndpoints: []string{"http://127.0.0.1"}})
	for _, ref := range []accessv1alpha1.SecretReference{{Name: "soracom-auth"}, {Namespace: ns, Name: "soracom-auth"}} {
		if _, err := f.Soracom(ctx, ns, accessv1alpha1.SoracomSpec{Endpoint: "http://127.0.0.1:1", CredentialsSecretRef: ref}); err != nil {
			t.Fatalf("%+v: %v", ref, err)
		}
	}
	// Missing in another namespace: not found, named with its namespace.
	_, err := f.Soracom(ctx, ns, accessv1alpha1.SoracomSpec{CredentialsSecretRef: accessv1alpha1.SecretReference{Namespace: "nowhere", Name: "x"}})
	if !clients.IsCredentialsError(err) || !strings.Contains(err.Error(), "nowhere/x") {
		t.Fatalf("missing Secret in another namespace: %v", err)
	}
}
