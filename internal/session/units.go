package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/unit"
)

// Secrets is the unit of a session's Secret (named SecretName: the session's
// name + "-url"): Observe, Create (with the URL, once), Update (repair) and
// Delete. It never writes into or deletes a Secret the session does not
// control: a Secret is created only by a plain create (which fails if the
// name is taken); ControlledBy is checked on the Secret as read before every
// update and delete, and each carries that read's UID and resourceVersion as
// preconditions, so a Secret replaced or changed in between (its owner
// reference removed, say) is neither overwritten nor deleted: the write
// conflicts and the next pass reads it again.
type Secrets struct {
	// Client reads through the manager's cache, which holds only Secrets
	// labelled app.kubernetes.io/managed-by=gatestream, without their URL
	// (TransformSecret), and writes: the manager's is a SecretWriter, which
	// reads the URL back from the API server before it writes a cached Secret.
	Client client.Client
	// APIReader reads what the cache cannot see (a label edited away, a
	// foreign Secret). Nil: Client.
	APIReader client.Reader
}

func (u Secrets) apiReader() client.Reader {
	if u.APIReader != nil {
		return u.APIReader
	}
	return u.Client
}

func secretKey(s *accessv1alpha1.StreamingSession) types.NamespacedName {
	return types.NamespacedName{Namespace: s.Namespace, Name: SecretName(s)}
}

// Observe reads the session's Secret (nil: none). The cache is asked first;
// the API server only when the session may have a Secret the cache cannot
// see: a URL is recorded (its label may have been edited away), a foreign
// Secret was found holding the name, or the session is being deleted. Before
// a first mint nothing is read from the API server: a foreign Secret is
// found by the create.
func (u Secrets) Observe(ctx context.Context, s *accessv1alpha1.StreamingSession) (*corev1.Secret, SecretObservation, error) {
	var sec corev1.Secret
	err := u.Client.Get(ctx, secretKey(s), &sec)
	if apierrors.IsNotFound(err) && mayBeHidden(s) {
		err = u.apiReader().Get(ctx, secretKey(s), &sec)
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil, SecretObservation{}, nil
	case err != nil:
		return nil, SecretObservation{}, fmt.Errorf("reading Secret %s: %w", SecretName(s), err)
	}
	return &sec, ObserveSecret(&sec, s), nil
}

func mayBeHidden(s *accessv1alpha1.StreamingSession) bool {
	c := conditions.Get(s.Status.Conditions, accessv1alpha1.ConditionReady)
	return s.Status.URLExpiresAt != nil || !s.DeletionTimestamp.IsZero() ||
		(c != nil && c.Reason == accessv1alpha1.SessionReasonSecretConflict)
}

// Create creates the session's Secret holding url, by a plain create, and
// returns the expiry of the URL the Secret holds. When the name is taken:
//   - the session's own Secret with a URL (an earlier pass created it and
//     stopped before recording it): adopted, its expiry returned and url
//     discarded (it reached nobody);
//   - the session's own Secret without URL (left by an older gatestream,
//     which created it before minting): url goes into it;
//   - a Secret the session does not control: SecretConflict, nothing written.
//
// Errors never contain the URL.
func (u Secrets) Create(ctx context.Context, s *accessv1alpha1.StreamingSession, url string, expiresAt time.Time, target string) (time.Time, error) {
	err := u.Client.Create(ctx, NewSecret(s, url, expiresAt, target), client.FieldOwner(FieldOwner))
	if secretRefused(err) {
		// The API server will refuse this Secret on every retry (its
		// metadata, from spec.secretTemplate, is invalid): fail the session
		// with the reason instead of minting again in a loop.
		return time.Time{}, &unit.Error{Reason: accessv1alpha1.SessionReasonSecretRefused, Terminal: true,
			Err: &refusedError{fmt.Errorf("the API server refused the URL Secret %s (check spec.secretTemplate): %w", SecretName(s), RedactError(err, url))}}
	}
	if !apierrors.IsAlreadyExists(err) {
		return expiresAt, RedactError(err, url)
	}
	var cur corev1.Secret
	if err := u.apiReader().Get(ctx, secretKey(s), &cur); err != nil {
		return time.Time{}, fmt.Errorf("Secret %s exists but cannot be read: %w", SecretName(s), err)
	}
	switch o := ObserveSecret(&cur, s); {
	case o.Foreign:
		return time.Time{}, unit.Terminal(accessv1alpha1.SessionReasonSecretConflict, errors.New(SecretConflictMessage(s)))
	case o.URL:
		logf.FromContext(ctx).Info("the Secret already holds a streaming URL from an earlier pass; adopting it (the new URL reached nobody)", "secret", cur.Name)
		return o.ExpiresAt, nil
	}
	fill(&cur, s, url, expiresAt, target)
	return expiresAt, RedactError(u.update(ctx, &cur), url)
}

// createOrConflict creates sec (the session's Secret) by a plain create;
// when the name is taken by the session's own Secret, that one is updated,
// by anyone else's, SecretConflict and nothing is written.
func (u Secrets) createOrConflict(ctx context.Context, s *accessv1alpha1.StreamingSession, sec *corev1.Secret) error {
	err := u.Client.Create(ctx, sec, client.FieldOwner(FieldOwner))
	if secretRefused(err) {
		return &unit.Error{Reason: accessv1alpha1.SessionReasonSecretRefused, Terminal: true,
			Err: &refusedError{fmt.Errorf("the API server refused the Secret %s (check spec.secretTemplate): %w", sec.Name, err)}}
	}
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	var cur corev1.Secret
	if err := u.apiReader().Get(ctx, secretKey(s), &cur); err != nil {
		return fmt.Errorf("Secret %s exists but cannot be read: %w", sec.Name, err)
	}
	if !ControlledBy(&cur, s) {
		return unit.Terminal(accessv1alpha1.SessionReasonSecretConflict, errors.New(SecretConflictMessage(s)))
	}
	cur.Labels, cur.Annotations, cur.Data = sec.Labels, sec.Annotations, sec.Data
	return u.update(ctx, &cur)
}

// update writes sec, the session's own Secret as read and then changed,
// with the read's resourceVersion (and UID, which the API server checks too
// when set) as preconditions: a Secret replaced or changed since it was read
// conflicts instead of being overwritten. A Secret without a resourceVersion
// (not read from the API server) is never written: an update without it
// would overwrite whatever holds the name.
func (u Secrets) update(ctx context.Context, sec *corev1.Secret) error {
	if sec.ResourceVersion == "" {
		return fmt.Errorf("secret %s: refusing to write it without a resourceVersion precondition", sec.Name)
	}
	return u.Client.Update(ctx, sec, client.FieldOwner(FieldOwner))
}

// Update repairs the session's Secret sec: gatestream's labels, annotations,
// expiresAt and target are put back for the URL recorded in status; the URL
// and everything else on it stay. The write carries the UID and
// resourceVersion that were read (a conflict if it was replaced or changed
// since).
func (u Secrets) Update(ctx context.Context, s *accessv1alpha1.StreamingSession, sec *corev1.Secret) error {
	if sec == nil || !ControlledBy(sec, s) || s.Status.URLExpiresAt == nil {
		return fmt.Errorf("secret %s: nothing to repair (not the session's, or no URL recorded)", SecretName(s))
	}
	logf.FromContext(ctx).Info("repairing the Secret", "secret", sec.Name)
	url := URL(sec)
	cur := sec.DeepCopy()
	fill(cur, s, url, s.Status.URLExpiresAt.Time, TargetString(s.Status.Target))
	return RedactError(u.update(ctx, cur), url)
}

// Delete deletes the session's Secret sec (nil: none) with UID and
// resourceVersion preconditions: a Secret replaced or changed since it was
// read (its owner reference removed, say) is not deleted; the conflict makes
// the next pass read it again. A Secret the session does not control is left
// alone. Gone is success.
func (u Secrets) Delete(ctx context.Context, s *accessv1alpha1.StreamingSession, sec *corev1.Secret) error {
	if sec == nil || !ControlledBy(sec, s) {
		return nil
	}
	if sec.ResourceVersion == "" {
		return fmt.Errorf("secret %s: refusing to delete it without a resourceVersion precondition", sec.Name)
	}
	pre := client.Preconditions{UID: &sec.UID, ResourceVersion: &sec.ResourceVersion}
	return client.IgnoreNotFound(u.Client.Delete(ctx, sec, pre))
}

// SecretConflictMessage says that a Secret the session does not control holds its name.
func SecretConflictMessage(s *accessv1alpha1.StreamingSession) string {
	return fmt.Sprintf("a Secret named %q already exists and is not controlled by this session; gatestream never writes into it: "+
		"delete or rename it, or create the session under another name", SecretName(s))
}

// UserSessions is the unit of the user's AppStream sessions on the
// environment's stack and fleet: Observe lists them, Delete ends them. A nil
// API (no environment, or one without fleet and stack) has none.
type UserSessions struct {
	API                  aws.AppStreamAPI
	Stack, Fleet, UserID string
}

// Observe returns the IDs of the user's live streaming-URL sessions.
func (u UserSessions) Observe(ctx context.Context) ([]string, error) {
	if u.API == nil {
		return nil, nil
	}
	list, err := u.API.DescribeUserSessions(ctx, u.Stack, u.Fleet, u.UserID)
	if aws.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("DescribeSessions for user %s on stack %s: %w", u.UserID, u.Stack, err)
	}
	ids := make([]string, 0, len(list))
	for _, x := range list {
		if x.Id != nil {
			ids = append(ids, *x.Id)
		}
	}
	return ids, nil
}

// Delete ends the sessions ids (ExpireSession); one already gone is ended.
func (u UserSessions) Delete(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if u.API == nil {
		return errors.New("no AppStream to end the user's sessions on")
	}
	for _, id := range ids {
		if err := u.API.ExpireSession(ctx, id); err != nil && !aws.IsNotFound(err) {
			return fmt.Errorf("ExpireSession %s: %w", id, err)
		}
	}
	logf.FromContext(ctx).Info("ended the user's AppStream sessions", "user", u.UserID, "sessions", len(ids))
	return nil
}

// secretRefused: the API server refuses the Secret as it is (422), which no retry changes.
func secretRefused(err error) bool { return apierrors.IsInvalid(err) }
