package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/hack/internal/harness"
	"github.com/gatestream/gatestream/internal/session"
)

// The sessions' durations: long enough that no deadline (URL expiry, end of
// access) falls inside a run, so that a Ready session stays Ready.
const (
	urlValidity  = time.Hour
	accessWindow = 2 * time.Hour
)

// newSession is session i of a batch: no target (the URL opens the
// application without a device context), environment i mod E, user
// user-NNNNN, created by the bench's admin (an admin group of the admission
// policy may create sessions for anybody). Its Secret carries the batch label
// too (secretTemplate), so that a batch is deleted by label.
func (c *cluster) newSession(batch string, i, environments int) *accessv1alpha1.StreamingSession {
	env := c.environmentKey(i % environments)
	labels := map[string]string{benchLabel: batch}
	return &accessv1alpha1.StreamingSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: env.Namespace, Name: fmt.Sprintf("%s-%05d", batch, i), Labels: labels},
		Spec: accessv1alpha1.StreamingSessionSpec{
			EnvironmentRef: accessv1alpha1.LocalObjectReference{Name: env.Name},
			UserID:         fmt.Sprintf("user-%05d", i),
			Application:    "teraterm",
			URLValidity:    metav1.Duration{Duration: urlValidity},
			AccessWindow:   metav1.Duration{Duration: accessWindow},
			SecretTemplate: &accessv1alpha1.SecretTemplate{Labels: map[string]accessv1alpha1.LabelValue{benchLabel: accessv1alpha1.LabelValue(batch)}},
		},
	}
}

// floorWrites are the bare API writes one session needs, what the operator
// must write at least: (1) create the StreamingSession, (2) create its Secret
// holding a URL (the Secret the operator writes: labels, owner reference,
// url, expiresAt), (3) update its status to Ready (phase, Secret name, URL
// expiry, end of access, the Ready condition).
func (c *cluster) floorWrites(ctx context.Context, s *accessv1alpha1.StreamingSession) error {
	if err := harness.CreateOrGet(ctx, c.admin, s); err != nil {
		return fmt.Errorf("creating StreamingSession %s: %w", client.ObjectKeyFromObject(s), err)
	}
	now := time.Now()
	expires := session.CeilSecond(now.Add(urlValidity))
	sec := session.NewSecret(s, fakeURL(), expires, "")
	if err := harness.CreateOrGet(ctx, c.admin, sec); err != nil {
		return fmt.Errorf("creating Secret %s: %w", client.ObjectKeyFromObject(sec), err)
	}
	status := accessv1alpha1.StreamingSessionStatus{
		ObservedGeneration: s.Generation,
		Phase:              accessv1alpha1.SessionReady,
		SecretName:         sec.Name,
		MintRequestedAt:    &metav1.Time{Time: session.FloorSecond(now)},
		URLExpiresAt:       &metav1.Time{Time: expires},
		AccessEndsAt:       &metav1.Time{Time: session.CeilSecond(now.Add(accessWindow))},
		Conditions: []metav1.Condition{{
			Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionTrue, ObservedGeneration: s.Generation,
			Reason: accessv1alpha1.SessionReasonURLIssued, LastTransitionTime: metav1.Time{Time: session.FloorSecond(now)},
			Message: fmt.Sprintf("the URL is in Secret %s (key url); it can be opened once until %s", sec.Name, session.FormatExpiresAt(expires)),
		}},
	}
	return harness.Retry(ctx, func() error {
		s.Status = status
		err := c.admin.Status().Update(ctx, s)
		if apierrors.IsConflict(err) {
			if gerr := c.admin.Get(ctx, client.ObjectKeyFromObject(s), s); gerr != nil {
				return gerr
			}
			return harness.ErrRetry
		}
		return err
	})
}

// fakeURL is as long as an emulated streaming URL.
func fakeURL() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "http://127.0.0.1:40000/streaming/" + base64.RawURLEncoding.EncodeToString(b)
}

// readiness follows a batch's sessions until n are Ready.
type readiness struct {
	mu    sync.Mutex
	ready map[types.NamespacedName]time.Time
	last  map[types.NamespacedName]string // the latest phase/reason of those not Ready
}

func (r *readiness) seen(o client.Object) {
	s := o.(*accessv1alpha1.StreamingSession)
	key := client.ObjectKeyFromObject(s)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.ready[key]; ok {
		return
	}
	if s.Status.Phase == accessv1alpha1.SessionReady {
		r.ready[key] = time.Now()
		delete(r.last, key)
		return
	}
	state := "phase " + string(s.Status.Phase)
	if s.Status.Phase == "" {
		state = "no status"
	}
	if c := meta.FindStatusCondition(s.Status.Conditions, accessv1alpha1.ConditionReady); c != nil {
		state += " (" + c.Reason + ")"
	}
	r.last[key] = state
}

func (r *readiness) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ready)
}

func (r *readiness) lastReady() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var t time.Time
	for _, at := range r.ready {
		if at.After(t) {
			t = at
		}
	}
	return t
}

// stuck summarizes the sessions not Ready: how many in each state.
func (r *readiness) stuck() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	by := map[string]int{}
	for _, st := range r.last {
		by[st]++
	}
	var parts []string
	for st, n := range by {
		parts = append(parts, fmt.Sprintf("%d %s", n, st))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// timed is one timed batch.
type timed struct {
	// Total is from the first create until the bench saw the last session Ready.
	Total time.Duration
	// Creates is how long the pool took for its part.
	Creates time.Duration
}

// timeToReady follows the batch's sessions (list, then watch), starts work
// (the pool: creates, or the floor's writes) and returns when all n sessions
// are Ready. It fails only when they are not Ready within timeout, or check
// fails (the control plane or the manager died).
func (c *cluster) timeToReady(ctx context.Context, batch string, n int, timeout time.Duration, check func() error, work func(ctx context.Context) error) (timed, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &readiness{ready: map[types.NamespacedName]time.Time{}, last: map[types.NamespacedName]string{}}
	// The follower's first list is done before the clock starts.
	listed := make(chan struct{})
	var listedOnce sync.Once
	followed := make(chan error, 1)
	var started atomic.Int64 // UnixNano of the first create, 0 before
	var workErr atomic.Pointer[error]
	go func() {
		deadline := time.Time{}
		followed <- harness.Follow(ctx, c.admin, &accessv1alpha1.StreamingSessionList{}, []client.ListOption{client.MatchingLabels{benchLabel: batch}},
			func(o client.Object) { r.seen(o) },
			func() bool {
				listedOnce.Do(func() { close(listed) })
				return r.count() == n
			},
			func() error {
				if err := check(); err != nil {
					return err
				}
				if e := workErr.Load(); e != nil {
					return *e
				}
				if started.Load() == 0 {
					return nil
				}
				if deadline.IsZero() {
					deadline = time.Unix(0, started.Load()).Add(timeout)
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("only %d of %d sessions Ready %s after the first create (the others: %s)", r.count(), n, timeout, r.stuck())
				}
				return nil
			})
	}()
	select {
	case <-listed:
	case err := <-followed:
		return timed{}, err
	}
	start := time.Now()
	started.Store(start.UnixNano())
	var creates time.Duration
	worked := make(chan struct{})
	go func() {
		defer close(worked)
		if err := work(ctx); err != nil {
			err = fmt.Errorf("the pool failed: %w", err)
			workErr.Store(&err)
			return
		}
		creates = time.Since(start)
	}()
	if err := <-followed; err != nil {
		return timed{}, err
	}
	<-worked
	if e := workErr.Load(); e != nil {
		return timed{}, *e
	}
	return timed{Total: r.lastReady().Sub(start), Creates: creates}, nil
}

// deleteBatch removes a batch's sessions and Secrets while no manager acts on
// them: the finalizer (added at create by the admission policy) is removed,
// then both are deleted by label in every namespace.
func (c *cluster) deleteBatch(ctx context.Context, batch string, workers int) error {
	sel := client.MatchingLabels{benchLabel: batch}
	var list accessv1alpha1.StreamingSessionList
	if err := harness.Retry(ctx, func() error { return c.admin.List(ctx, &list, sel) }); err != nil {
		return err
	}
	if err := harness.Parallel(ctx, len(list.Items), workers, func(ctx context.Context, i int) error {
		s := &list.Items[i]
		if len(s.Finalizers) == 0 {
			return nil
		}
		return harness.Retry(ctx, func() error {
			err := c.admin.Patch(ctx, s, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))
			return client.IgnoreNotFound(err)
		})
	}); err != nil {
		return fmt.Errorf("removing finalizers of batch %s: %w", batch, err)
	}
	for _, ns := range c.namespaces {
		for _, obj := range []client.Object{&accessv1alpha1.StreamingSession{}, &corev1.Secret{}} {
			if err := harness.Retry(ctx, func() error { return c.admin.DeleteAllOf(ctx, obj, client.InNamespace(ns), sel) }); err != nil {
				return fmt.Errorf("deleting batch %s in %s: %w", batch, ns, err)
			}
		}
	}
	return nil
}
