package v1alpha1_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/testenv"
)

// TestFinalizerPolicyAddsTheFinalizerAtCreate: the MutatingAdmissionPolicy of
// config/admission puts the StreamingSession finalizer on at create, so the
// controller's mint path needs no finalizer write of its own.
func TestFinalizerPolicyAddsTheFinalizerAtCreate(t *testing.T) {
	ensureNamespace(t)
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join(env.Root, "config", "admission", "streamingsession_finalizer.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := env.Client.Create(ctx, &u); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("installing %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	// The API server compiles the policy asynchronously: dry-run creates
	// until it mutates.
	testenv.Eventually(t, 30*time.Second, "finalizer added at create", func() error {
		s := sample(t, ssSample)
		s.SetName("finalizer-probe")
		if err := env.Client.Create(ctx, s, client.DryRunAll); err != nil {
			return err
		}
		if !slices.Contains(s.GetFinalizers(), accessv1alpha1.StreamingSessionFinalizer) {
			return fmt.Errorf("finalizers %v", s.GetFinalizers())
		}
		return nil
	})
	s := sample(t, ssSample)
	s.SetName("with-finalizer")
	if err := env.Client.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got := s.GetFinalizers(); len(got) != 1 || got[0] != accessv1alpha1.StreamingSessionFinalizer {
		t.Fatalf("finalizers after create = %v; want exactly %s", got, accessv1alpha1.StreamingSessionFinalizer)
	}
	// Nothing reconciles here: take it off again so the namespace can go.
	s.SetFinalizers(nil)
	if err := env.Client.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
}
