package main

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatestream/gatestream/hack/internal/controlplane"
)

// fieldOwner is the demo's server-side apply field manager.
const fieldOwner = client.FieldOwner("gatestream-demo")

// The manifest helpers live in hack/internal/controlplane (shared with hack/bench).
var (
	decodeYAML         = controlplane.DecodeYAML
	decodeFile         = controlplane.DecodeFile
	mergePatch         = controlplane.MergePatch
	admissionManifests = controlplane.AdmissionManifests
	toUnstructured     = controlplane.ToUnstructured
)

// apply server-side applies every object (idempotent: a rerun against the
// same API server is fine).
func apply(ctx context.Context, c client.Client, objs ...*unstructured.Unstructured) error {
	return controlplane.Apply(ctx, c, fieldOwner, objs...)
}

func objectKey(o client.Object) string { return controlplane.ObjectKey(o) }
