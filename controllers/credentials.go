package controllers

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// credentialSecrets are the Secret names an environment reads.
func credentialSecrets(env *accessv1alpha1.RemoteAccessEnvironment) []string {
	names := []string{env.Spec.Soracom.CredentialsSecretRef.Name}
	if ref := env.Spec.AWS.CredentialsSecretRef; ref != nil && ref.Name != names[0] {
		names = append(names, ref.Name)
	}
	return names
}

// protectCredentials puts the finalizer and label on the environment's
// credential Secrets (a read each, a write only the first time).
func (r *RemoteAccessEnvironmentReconciler) protectCredentials(ctx context.Context, env *accessv1alpha1.RemoteAccessEnvironment) error {
	for _, name := range credentialSecrets(env) {
		cur, err := r.Clients.Secret(ctx, env.Namespace, name)
		if err != nil {
			if apierrors.IsNotFound(err) {
				continue // reported by the client factory
			}
			return fmt.Errorf("reading credentials Secret %s: %w", name, err)
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
			return fmt.Errorf("protecting credentials Secret %s: %w", name, err)
		}
	}
	return nil
}

// releaseCredentials takes the finalizer off the namespace's credential
// Secrets that no environment (other than those being deleted, and except
// `keep`) still reads.
func (r *RemoteAccessEnvironmentReconciler) releaseCredentials(ctx context.Context, namespace string, leaving *accessv1alpha1.RemoteAccessEnvironment) error {
	var envs accessv1alpha1.RemoteAccessEnvironmentList
	if err := r.List(ctx, &envs, client.InNamespace(namespace)); err != nil {
		return fmt.Errorf("listing environments: %w", err)
	}
	var inUse []string
	for i := range envs.Items {
		e := &envs.Items[i]
		if leaving != nil && e.UID == leaving.UID {
			continue
		}
		if e.DeletionTimestamp.IsZero() || controllerutil.ContainsFinalizer(e, accessv1alpha1.Finalizer) {
			inUse = append(inUse, credentialSecrets(e)...)
		}
	}
	var secrets corev1.SecretList
	if err := r.APIReader.List(ctx, &secrets, client.InNamespace(namespace), client.MatchingLabels{LabelCredentials: "in-use"}); err != nil {
		return fmt.Errorf("listing credentials Secrets: %w", err)
	}
	for i := range secrets.Items {
		s := &secrets.Items[i]
		if slices.Contains(inUse, s.Name) {
			continue
		}
		base := s.DeepCopy()
		controllerutil.RemoveFinalizer(s, CredentialsFinalizer)
		delete(s.Labels, LabelCredentials)
		if err := r.Patch(ctx, s, client.MergeFrom(base)); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("releasing credentials Secret %s: %w", s.Name, err)
		}
	}
	return nil
}
