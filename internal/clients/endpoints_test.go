package clients_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/unit"
)

// Someone who may edit an environment, but not read its Secrets, points an
// endpoint at a server of their own: the manager refuses before any
// credential is read or sent, and says why (EndpointNotAllowed, terminal).
func TestEndpointOverridesNeedTheManagersAllowList(t *testing.T) {
	ctx := context.Background()
	ns := "endpoints"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	secret(t, ns, "soracom-auth", map[string]string{clients.KeySoracomAuthKeyID: "keyId-1", clients.KeySoracomAuthKey: "secret-1"})
	secret(t, ns, "aws", map[string]string{clients.KeyAWSAccessKeyID: "AKIAEXAMPLE", clients.KeyAWSSecretAccessKey: "secret-2"})
	var hits atomic.Int64
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer collector.Close()
	emulator := "http://127.0.0.1:4242" // the one server this manager may use

	for _, tc := range []struct {
		name    string
		allowed []string
	}{
		{"no allow-list (the default)", nil},
		{"another port of the same host", []string{emulator}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := clients.New(env.Client, clients.Options{AllowedEndpoints: tc.allowed})
			_, err := f.Soracom(ctx, ns, accessv1alpha1.SoracomSpec{Endpoint: collector.URL, CredentialsSecretRef: accessv1alpha1.SecretReference{Name: "soracom-auth"}})
			wantRefused(t, err, "spec.soracom.endpoint", collector.URL)
			_, err = f.AWS(ctx, ns, accessv1alpha1.AWSSpec{Region: "ap-northeast-1", CredentialsSecretRef: &accessv1alpha1.SecretReference{Name: "aws"},
				Endpoints: &accessv1alpha1.AWSEndpoints{EC2: collector.URL}})
			wantRefused(t, err, "spec.aws.endpoints.ec2", collector.URL)
		})
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the collector got %d requests", n)
	}

	// Allowed: the exact server, or its host on any port; the clouds' own endpoints need nothing.
	for _, allowed := range [][]string{{collector.URL}, {"http://127.0.0.1"}} {
		f := clients.New(env.Client, clients.Options{AllowedEndpoints: allowed})
		if _, err := f.Soracom(ctx, ns, accessv1alpha1.SoracomSpec{Endpoint: collector.URL, CredentialsSecretRef: accessv1alpha1.SecretReference{Name: "soracom-auth"}}); err != nil {
			t.Errorf("allowed by %v: %v", allowed, err)
		}
	}
	if _, err := clients.New(env.Client, clients.Options{}).Soracom(ctx, ns, accessv1alpha1.SoracomSpec{CredentialsSecretRef: accessv1alpha1.SecretReference{Name: "soracom-auth"}}); err != nil {
		t.Errorf("no override: %v", err)
	}

	for _, bad := range []string{"127.0.0.1", "ftp://127.0.0.1", "http://127.0.0.1/v1", "http://user:pw@127.0.0.1", "http://127.0.0.1?x=1"} {
		if _, err := clients.ParseAllowedEndpoints([]string{bad}); err == nil {
			t.Errorf("allow-list entry %q accepted", bad)
		}
	}
}

func wantRefused(t *testing.T, err error, field, endpoint string) {
	t.Helper()
	if !clients.IsEndpointError(err) || !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), endpoint) {
		t.Fatalf("%s = %s: %v; want an EndpointError naming both", field, endpoint, err)
	}
	if v := unit.Classify(err); v.Reason != accessv1alpha1.ReasonEndpointNotAllowed || !v.Terminal {
		t.Fatalf("classified %+v; want EndpointNotAllowed, terminal", v)
	}
}
