package portal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
)

// Sign-outs are recorded in the API server, not in the portal's memory, so
// that a sign-out on one replica ends the sign-in on every replica: one
// ConfigMap per portal (--signout-configmap) holds, per person, the
// generation of their sign-ins. The session cookie carries the generation it
// was issued at; a sign-out raises the person's generation, and a cookie
// issued at an older one is no sign-in. The generation is the time of the
// sign-out in nanoseconds (always raised, never lowered), so that entries
// older than any cookie can be pruned and the ConfigMap stays small.

// signoutKey is a person's key in the ConfigMap: a hash of the user name
// (user names may hold characters that keys may not).
func signoutKey(user string) string {
	h := sha256.Sum256([]byte(user))
	return "u-" + hex.EncodeToString(h[:20])
}

func (s *Server) signoutRef() types.NamespacedName {
	ns, name, _ := s.cfg.signoutObject()
	return types.NamespacedName{Namespace: ns, Name: name}
}

// signinGeneration reads the person's current generation (0 when they never
// signed out), from the API server on every call.
func (s *Server) signinGeneration(ctx context.Context, user string) (int64, error) {
	var cm corev1.ConfigMap
	if err := s.kube.own.Get(ctx, s.signoutRef(), &cm); err != nil {
		if apierrors.IsNotFound(err) {
			return 0, nil
		}
		return 0, fmt.Errorf("reading the sign-out record %s: %w", s.signoutRef(), err)
	}
	v, ok := cm.Data[signoutKey(user)]
	if !ok {
		return 0, nil
	}
	g, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("the sign-out record %s has a malformed entry %q", s.signoutRef(), v)
	}
	return g, nil
}

// recordSignout raises the person's generation above every generation a
// cookie of theirs may carry (at least issued+1), so that every sign-in of
// theirs issued before now is refused on every replica.
func (s *Server) recordSignout(ctx context.Context, user string, issued int64) error {
	ref := s.signoutRef()
	key := signoutKey(user)
	return retry.OnError(retry.DefaultRetry, func(err error) bool {
		return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
	}, func() error {
		now := s.now()
		var cm corev1.ConfigMap
		err := s.kube.own.Get(ctx, ref, &cm)
		create := apierrors.IsNotFound(err)
		if err != nil && !create {
			return err
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		gen := max(now.UnixNano(), issued+1)
		if old, err := strconv.ParseInt(cm.Data[key], 10, 64); err == nil {
			gen = max(gen, old+1)
		}
		// Entries older than the longest sign-in can revoke nothing any more.
		horizon := now.Add(-s.cfg.SessionTTL - loginTTL - time.Hour).UnixNano()
		for k, v := range cm.Data {
			if g, err := strconv.ParseInt(v, 10, 64); err != nil || g < horizon {
				delete(cm.Data, k)
			}
		}
		cm.Data[key] = strconv.FormatInt(gen, 10)
		if create {
			cm.ObjectMeta = metav1.ObjectMeta{Namespace: ref.Namespace, Name: ref.Name, Labels: map[string]string{
				"app.kubernetes.io/managed-by": "gatestream-portal",
				"app.kubernetes.io/component":  "portal-signouts",
			}}
			return s.kube.own.Create(ctx, &cm)
		}
		return s.kube.own.Update(ctx, &cm)
	})
}
