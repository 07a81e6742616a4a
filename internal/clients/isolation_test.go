package clients_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	corev1 "k8s.io/api/core/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/manager"
)

// The layout of docs/rbac-examples.yaml, applied for real, with people
// impersonated (RBAC enforced by the API server): the platform team and the
// URL readers of line-a cannot read the cloud keys kept in
// gatestream-credentials; an environment in line-a may use them because the
// Secrets grant line-a, and may not send them to a server of its own
// (issue 15, items 8 and 11).
func TestDocumentedLayoutKeepsCredentialsUnreadableAndUnredirectable(t *testing.T) {
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join(env.Root, "docs", "rbac-examples.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := env.Client.Create(ctx, &u); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("docs/rbac-examples.yaml %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	as := func(user, group string) client.Client {
		cfg := rest.CopyConfig(env.Config)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{group, "system:authenticated"}}
		c, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	platform, reader := as("pat", "platform-team"), as("lee", "line-a-leads")
	for who, c := range map[string]client.Client{"platform-team": platform, "line-a-leads": reader} {
		err := c.Get(ctx, client.ObjectKey{Namespace: "gatestream-credentials", Name: "soracom-line-a"}, &corev1.Secret{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s reading the SORACOM key in gatestream-credentials: %v; want Forbidden", who, err)
		}
	}

	// The platform team may write an environment that uses the keys ...
	ref := accessv1alpha1.SecretReference{Namespace: "gatestream-credentials", Name: "soracom-line-a"}
	rae := &accessv1alpha1.RemoteAccessEnvironment{}
	rae.Namespace, rae.Name = "line-a", "isolation"
	rae.Spec.Soracom.CredentialsSecretRef = ref
	rae.Spec.Soracom.Endpoint = "https://collector.example.com"
	rae.Spec.Soracom.Canal.DestinationCIDRBlock = "10.0.0.0/16"
	rae.Spec.AWS = accessv1alpha1.AWSSpec{Region: "ap-northeast-1", AccountID: "123456789012", VPCID: "vpc-0abc1234", RouteTableIDs: []string{"rtb-0abc1234"}}
	rae.Spec.AppStream = accessv1alpha1.AppStreamSpec{Applications: []string{"teraterm"},
		Fleet: accessv1alpha1.FleetSpec{ImageName: "img", SubnetIDs: []string{"subnet-0a1b2c3d"}}}
	if err := platform.Create(ctx, rae, client.DryRunAll); err != nil {
		t.Fatalf("the platform team writing an environment: %v", err)
	}
	// ... which the manager serves from the granted Secret, but never towards another server.
	f := clients.New(env.Client, clients.Options{})
	if _, err := f.Soracom(ctx, "line-a", rae.Spec.Soracom); !clients.IsEndpointError(err) {
		t.Fatalf("an override to a collector: %v; want EndpointNotAllowed", err)
	}
	rae.Spec.Soracom.Endpoint = ""
	if _, err := f.Soracom(ctx, "line-a", rae.Spec.Soracom); err != nil {
		t.Fatalf("the granted credentials from line-a: %v", err)
	}
	if _, err := f.Soracom(ctx, "line-b", rae.Spec.Soracom); !clients.IsCredentialsError(err) {
		t.Fatalf("the same Secret from line-b (not granted): %v; want CredentialsUnavailable", err)
	}
}
