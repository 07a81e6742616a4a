package controllers

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/clients"
)

// Credential Secrets in use by an environment carry this finalizer (and the
// label, so they can be found again), so that deleting the namespace — which
// deletes Secrets and gatestream objects at once — cannot take the
// credentials away before the external objects are cleaned up.
const (
	CredentialsFinalizer = clients.FinalizerCredentials
	LabelCredentials     = clients.LabelCredentials
)

// credentialSecrets are the Secrets an environment reads (namespace and name:
// a reference may name a Secret in another namespace that allows it).
func credentialSecrets(env *accessv1alpha1.RemoteAccessEnvironment) []types.NamespacedName {
	keys := []types.NamespacedName{clients.SecretKey(env.Namespace, env.Spec.Soracom.CredentialsSecretRef)}
	if ref := env.Spec.AWS.CredentialsSecretRef; ref != nil {
		if k := clients.SecretKey(env.Namespace, *ref); k != keys[0] {
			keys = append(keys, k)
		}
	}
	return keys
}

// credentialRefs are the environment's references, in credentialSecrets' order.
func credentialRefs(env *accessv1alpha1.RemoteAccessEnvironment) []accessv1alpha1.SecretReference {
	refs := []accessv1alpha1.SecretReference{env.Spec.Soracom.CredentialsSecretRef}
	if ref := env.Spec.AWS.CredentialsSecretRef; ref != nil {
		refs = append(refs, *ref)
	}
	return refs
}

// protectCredentials puts the finalizer and label on the environment's
// credential Secrets (a read each, a write only the first time), also on a
// Secret in another namespace, but only one that allows the environment's
// namespace: a reference without that grant must not let anyone put a
// finalizer on (or read) somebody else's Secret.
func (r *RemoteAccessEnvironmentReconciler) protectCredentials(ctx context.Context, env *accessv1alpha1.RemoteAccessEnvironment) error {
	done := map[types.NamespacedName]bool{}
	for _, ref := range credentialRefs(env) {
		key := clients.SecretKey(env.Namespace, ref)
		if done[key] {
			continue
		}
		done[key] = true
		cur, err := r.Clients.CredentialsSecret(ctx, env.Namespace, ref)
		if err != nil {
			if apierrors.IsNotFound(err) || clients.IsCredentialsError(err) {
				continue // missing or not granted: reported by the client factory
			}
			return fmt.Errorf("reading credentials Secret %s: %w", key, err)
		}
		if controllerutil.ContainsFinalizer(cur, CredentialsFinalizer) && cur.Labels[LabelCredentials] == clients.LabelCredentialsInUse {
			continue
		}
		s := cur.DeepCopy() // never modify the cache's copy
		base := s.DeepCopy()
		controllerutil.AddFinalizer(s, CredentialsFinalizer)
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		s.Labels[LabelCredentials] = clients.LabelCredentialsInUse
		if err := r.Patch(ctx, s, client.MergeFrom(base)); err != nil {
			return fmt.Errorf("protecting credentials Secret %s: %w", key, err)
		}
	}
	return nil
}

// releaseCredentials takes the finalizer and label off the credential Secrets
// that no environment (other than those being deleted, and except `leaving`)
// still reads: those of namespace, and those in other namespaces that it
// could use (a credentials namespace shared by several teams). A Secret
// stays protected while any environment of any namespace refers to it, even
// one whose grant was withdrawn (it may still need it for its clean-up once
// the grant is back).
func (r *RemoteAccessEnvironmentReconciler) releaseCredentials(ctx context.Context, namespace string, leaving *accessv1alpha1.RemoteAccessEnvironment) error {
	var envs accessv1alpha1.RemoteAccessEnvironmentList
	if err := r.List(ctx, &envs); err != nil {
		return fmt.Errorf("listing environments: %w", err)
	}
	inUse := map[types.NamespacedName]bool{}
	for i := range envs.Items {
		e := &envs.Items[i]
		if leaving != nil && e.UID == leaving.UID {
			continue
		}
		if e.DeletionTimestamp.IsZero() || controllerutil.ContainsFinalizer(e, accessv1alpha1.Finalizer) {
			for _, k := range credentialSecrets(e) {
				inUse[k] = true
			}
		}
	}
	// The labelled Secrets of every namespace: a changed or deleted
	// reference into another namespace cannot be known from the spec alone.
	var secrets corev1.SecretList
	if err := r.APIReader.List(ctx, &secrets, client.MatchingLabels{LabelCredentials: clients.LabelCredentialsInUse}); err != nil {
		return fmt.Errorf("listing credentials Secrets: %w", err)
	}
	for i := range secrets.Items {
		s := &secrets.Items[i]
		key := types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
		if inUse[key] || !mayRelease(namespace, leaving, s) {
			continue
		}
		base := s.DeepCopy()
		controllerutil.RemoveFinalizer(s, CredentialsFinalizer)
		delete(s.Labels, LabelCredentials)
		if err := r.Patch(ctx, s, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("releasing credentials Secret %s: %w", key, err)
		}
	}
	return nil
}

// mayRelease limits a release started in namespace to the Secrets its
// environments could have used: those of namespace, those in other
// namespaces that allow it, and those `leaving` names (even if their grant
// was withdrawn). Secrets that only other namespaces' environments may use
// are theirs to release (with --watch-namespaces another manager may run
// those).
func mayRelease(namespace string, leaving *accessv1alpha1.RemoteAccessEnvironment, s *corev1.Secret) bool {
	if clients.Allows(s, namespace) {
		return true
	}
	return leaving != nil && slices.Contains(credentialSecrets(leaving), types.NamespacedName{Namespace: s.Namespace, Name: s.Name})
}
