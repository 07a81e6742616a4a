package clients_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

func secret(t *testing.T, ns, name string, data map[string]string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}
	if err := env.Client.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFactoryReadsSecretsAndCachesClients(t *testing.T) {
	ctx := context.Background()
	ns := "clients"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	f := clients.New(env.Client, clients.Options{AllowedEndpoints: []string{"http://127.0.0.1"}})
	spec := accessv1alpha1.SoracomSpec{Endpoint: "http://127.0.0.1:1", CredentialsSecretRef: accessv1alpha1.SecretReference{Name: "soracom-auth"}}

	// Missing Secret, then a Secret without authKey: CredentialsError naming it.
	if _, err := f.Soracom(ctx, ns, spec); !clients.IsCredentialsError(err) || !strings.Contains(err.Error(), "soracom-auth") {
		t.Fatalf("missing Secret: %v", err)
	}
	s := secret(t, ns, "soracom-auth", map[string]string{clients.KeySoracomAuthKeyID: "keyId-1"})
	if _, err := f.Soracom(ctx, ns, spec); !clients.IsCredentialsError(err) || !strings.Contains(err.Error(), clients.KeySoracomAuthKey) {
		t.Fatalf("incomplete Secret: %v", err)
	}

	s.StringData = map[string]string{clients.KeySoracomAuthKeyID: "keyId-1", clients.KeySoracomAuthKey: "secret-1"}
	if err := env.Client.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	a, err := f.Soracom(ctx, ns, spec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Soracom(ctx, ns, spec)
	if err != nil || a != b {
		t.Fatalf("same credentials gave another client (%p, %p, %v): the token cache would be lost", a, b, err)
	}
	if strings.Contains(fmt.Sprintf("%v %+v", a, a), "secret-1") {
		t.Fatal("the client prints its credentials")
	}

	// Rotated credentials: a new client.
	s.StringData = map[string]string{clients.KeySoracomAuthKeyID: "keyId-1", clients.KeySoracomAuthKey: "secret-2"}
	if err := env.Client.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	c, err := f.Soracom(ctx, ns, spec)
	if err != nil || c == a {
		t.Fatalf("rotated credentials kept the old client (%v)", err)
	}

	// AWS: static credentials from a Secret; the default chain without one.
	awsSpec := accessv1alpha1.AWSSpec{Region: "ap-northeast-1", CredentialsSecretRef: &accessv1alpha1.SecretReference{Name: "aws-credentials"}}
	if _, err := f.AWS(ctx, ns, awsSpec); !clients.IsCredentialsError(err) {
		t.Fatalf("missing AWS Secret: %v", err)
	}
	secret(t, ns, "aws-credentials", map[string]string{clients.KeyAWSAccessKeyID: "AKIA1", clients.KeyAWSSecretAccessKey: "s3cr3t"})
	x, err := f.AWS(ctx, ns, awsSpec)
	if err != nil {
		t.Fatal(err)
	}
	y, err := f.AWS(ctx, ns, awsSpec)
	if err != nil || x != y {
		t.Fatalf("same AWS settings gave other clients: %v", err)
	}
}
