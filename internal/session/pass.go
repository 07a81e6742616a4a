package session

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/finalizers"
	"github.com/gatestream/gatestream/internal/metrics"
	"github.com/gatestream/gatestream/internal/session/target"
)

// Units carry a session's steps out: its Secret, the user's AppStream
// sessions, CreateStreamingURL, and the session object itself (deletion,
// finalizer).
type Units struct {
	// Client reads through the manager's cache and writes.
	Client  client.Client
	Secrets Secrets
	// Clients builds the environment's AWS clients.
	Clients *clients.Factory
	// Index reads an environment's sessions for the limits without a List
	// (nil: a cache List).
	Index *Index
}

// Pass is what one pass read: Decide's Input, and the objects the units need.
type Pass struct {
	Input
	Env    *accessv1alpha1.RemoteAccessEnvironment
	Secret *corev1.Secret

	units Units
	users *UserSessions // built on first use
}

// Observe gathers a pass's inputs from the cache: the environment, the
// DeviceGroup, their resolution and the Secret. The user's AppStream
// sessions are read only when Decide asks for them (Execute).
func (u Units) Observe(ctx context.Context, s *accessv1alpha1.StreamingSession, now time.Time) (*Pass, error) {
	p := &Pass{Input: Input{Session: s, Now: now}, units: u}
	var dg *accessv1alpha1.DeviceGroup
	var err error
	if p.Env, err = getOptional[accessv1alpha1.RemoteAccessEnvironment](ctx, u.Client, s.Namespace, s.Spec.EnvironmentRef.Name); err != nil {
		return nil, err
	}
	if t := s.Spec.Target; t != nil {
		if dg, err = getOptional[accessv1alpha1.DeviceGroup](ctx, u.Client, s.Namespace, t.DeviceGroup); err != nil {
			return nil, err
		}
	}
	p.Resolution = Resolve(s, p.Env, dg)
	if s.Status.URLExpiresAt == nil && p.Resolution.Outcome == Resolved {
		// Only a session that is about to mint needs its place in line.
		if p.Input.Ahead, err = u.ahead(ctx, s); err != nil {
			return nil, err
		}
	}
	p.Secret, p.Input.Secret, err = u.Secrets.Observe(ctx, s)
	return p, err
}

// IndexEnvironment is the cache index of StreamingSessions by spec.environmentRef.name.
const IndexEnvironment = ".spec.environmentRef.name"

// ahead counts the live sessions before s on its environment, from the
// informer's index when there is one (Units.Index), else by a cache List.
func (u Units) ahead(ctx context.Context, s *accessv1alpha1.StreamingSession) (Ahead, error) {
	others, err := u.ofEnvironment(ctx, s)
	if err != nil {
		return Ahead{}, err
	}
	return CountAhead(s, others), nil
}

// ofEnvironment returns the cached sessions on s's environment (read-only,
// not copied): from the informer's index when there is one (Units.Index),
// else by a cache List.
func (u Units) ofEnvironment(ctx context.Context, s *accessv1alpha1.StreamingSession) ([]*accessv1alpha1.StreamingSession, error) {
	if u.Index != nil {
		return u.Index.OfEnvironment(s.Namespace, s.Spec.EnvironmentRef.Name)
	}
	var list accessv1alpha1.StreamingSessionList
	// Read-only counting: no deep copy of each cached session.
	err := u.Client.List(ctx, &list, client.InNamespace(s.Namespace), client.MatchingFields{IndexEnvironment: s.Spec.EnvironmentRef.Name}, client.UnsafeDisableDeepCopy)
	if err != nil {
		// A reader without the index (tests, a plain client): the namespace.
		if err = u.Client.List(ctx, &list, client.InNamespace(s.Namespace), client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("listing the sessions of environment %s: %w", s.Spec.EnvironmentRef.Name, err)
		}
	}
	others := make([]*accessv1alpha1.StreamingSession, len(list.Items))
	for i := range list.Items {
		others[i] = &list.Items[i]
	}
	return others, nil
}

// getOptional reads an object; nil when it does not exist.
func getOptional[T any, PT interface {
	*T
	client.Object
}](ctx context.Context, c client.Reader, ns, name string) (*T, error) {
	obj := PT(new(T))
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	return obj, nil
}

// Execute carries step out through the units and returns the step to
// record (a Mint step's becomes the issued status). A StepListUserSessions
// puts the user's sessions into the pass's Input, for Decide again.
func (p *Pass) Execute(ctx context.Context, step Step) (Step, error) {
	s, u := p.Session, p.units
	switch step.Action {
	case StepListUserSessions, StepEndAccess, StepMint:
		users, err := p.appStream(ctx)
		switch {
		case err != nil:
			return step, err
		case step.Action == StepMint:
			out, err := Issue(ctx, users.API, u.Secrets, s, step, p.Now)
			if err == nil {
				metrics.SessionsServed.WithLabelValues(s.Namespace, s.Spec.EnvironmentRef.Name, "appstream").Inc()
			}
			return out, err
		case step.Action == StepEndAccess:
			return step, users.Delete(ctx, step.Expire)
		}
		p.UserSessions, err = users.Observe(ctx)
		p.UserSessionsRead = err == nil
		return step, err
	case StepMapPort:
		api, err := p.napterAPI(ctx)
		if err != nil {
			return step, err
		}
		out, err := MapPort(ctx, api, u.Secrets, s, step, p.Now, p.claimedEndpoint(ctx))
		if err == nil {
			metrics.SessionsServed.WithLabelValues(s.Namespace, s.Spec.EnvironmentRef.Name, "napter").Inc()
		}
		return out, err
	case StepUnmapPort:
		api, err := p.napterAPI(ctx)
		if err != nil {
			return step, err
		}
		out, err := Unmap(ctx, api, step)
		if err == nil {
			countNapterTime(s, step.Status, p.Now)
		}
		return out, err
	case StepRepairSecret:
		if target.ViaNapter(s) {
			return step, u.Secrets.writeNapterSecret(ctx, s, p.Secret)
		}
		return step, u.Secrets.Update(ctx, s, p.Secret)
	case StepDelete:
		logf.FromContext(ctx).V(1).Info("ttlAfterFinished passed; deleting the session")
		return step, client.IgnoreNotFound(u.Client.Delete(ctx, s, client.Preconditions{UID: &s.UID}))
	case StepRelease:
		if err := u.Secrets.Delete(ctx, s, p.Secret); err != nil {
			return step, err
		}
		_, err := finalizers.Remove(ctx, u.Client, s, accessv1alpha1.StreamingSessionFinalizer)
		return step, client.IgnoreNotFound(err)
	}
	return step, nil
}

// napterAPI is the SORACOM client of the session's environment.
func (p *Pass) napterAPI(ctx context.Context) (NapterAPI, error) {
	if p.Env == nil {
		return nil, fmt.Errorf("RemoteAccessEnvironment %q is gone: its SORACOM credentials are needed for the Napter mapping", p.Session.Spec.EnvironmentRef.Name)
	}
	return p.units.Clients.Soracom(ctx, p.Session.Namespace, p.Env.Spec.Soracom)
}

// claimedEndpoint reports whether another session of the environment
// recorded a Napter endpoint (never adopted by this one).
func (p *Pass) claimedEndpoint(ctx context.Context) func(string) bool {
	claimed := map[string]bool{}
	others, _ := p.units.ofEnvironment(ctx, p.Session) // unread: none claimed
	for _, o := range others {
		if o.UID != p.Session.UID && o.Status.Napter != nil && o.Status.Napter.Endpoint != "" {
			claimed[o.Status.Napter.Endpoint] = true
		}
	}
	return func(e string) bool { return claimed[e] }
}

// countNapterTime adds the time a deleted mapping was open to the counter.
func countNapterTime(s *accessv1alpha1.StreamingSession, st accessv1alpha1.StreamingSessionStatus, now time.Time) {
	if st.Napter == nil || st.Napter.ExpiresAt == nil {
		return
	}
	opened := st.Napter.ExpiresAt.Add(-AccessWindow(&s.Spec))
	closed := Earliest(now, st.Napter.ExpiresAt.Time)
	if d := closed.Sub(opened); d > 0 {
		metrics.NapterSeconds.WithLabelValues(s.Namespace, s.Spec.EnvironmentRef.Name).Add(d.Seconds())
	}
}

// appStream returns the unit of the user's AppStream sessions, with no API
// when the environment is gone or has no fleet and stack (nothing to ask).
func (p *Pass) appStream(ctx context.Context) (*UserSessions, error) {
	if p.users != nil {
		return p.users, nil
	}
	users := &UserSessions{UserID: p.Session.Spec.UserID}
	if users.Fleet, users.Stack = FleetAndStack(p.Env); users.Fleet != "" && users.Stack != "" {
		c, err := p.units.Clients.AWS(ctx, p.Session.Namespace, p.Env.Spec.AWS)
		if err != nil {
			return nil, err
		}
		users.API = c.AppStream
	}
	p.users = users
	return users, nil
}
