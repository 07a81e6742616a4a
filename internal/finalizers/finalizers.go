// Package finalizers adds and removes finalizers with a merge patch of
// metadata.finalizers only (with optimistic locking). An Update would send the
// whole object back re-serialized — "5m" comes back as "5m0s" — and a CRD
// rule such as a StreamingSession's `self == oldSelf` would reject it.
package finalizers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// Add adds the finalizer if missing; it reports whether it wrote.
func Add(ctx context.Context, c client.Client, obj client.Object, finalizer string) (bool, error) {
	base := obj.DeepCopyObject().(client.Object)
	if !controllerutil.AddFinalizer(obj, finalizer) {
		return false, nil
	}
	return true, c.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
}

// Remove removes the finalizer if present; it reports whether it wrote.
func Remove(ctx context.Context, c client.Client, obj client.Object, finalizer string) (bool, error) {
	base := obj.DeepCopyObject().(client.Object)
	if !controllerutil.RemoveFinalizer(obj, finalizer) {
		return false, nil
	}
	return true, c.Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
}
