package session

import (
	"fmt"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/session/target"
)

// Ahead counts the live sessions on the same environment that come before a
// session (created earlier; the name breaks ties): those keep their place
// when a limit is reached, so a flood fails its own newest sessions, not
// someone else's older one.
type Ahead struct {
	// User counts those of the same spec.userId, Total all of them.
	User, Total int
	// Waiting counts those (of Total) that have no URL yet: under capacity
	// Demand they get an instance before this session.
	Waiting int
	// Unopened and Active count the environment's other sessions, in any
	// order, that hold an instance: Ready (a URL not opened yet; opening it
	// takes an instance) and Active (streaming).
	Unopened, Active int
}

// Live reports whether a session holds, or is waiting for, access.
func Live(s *accessv1alpha1.StreamingSession) bool {
	if !s.DeletionTimestamp.IsZero() {
		return false
	}
	switch s.Status.Phase {
	case "", accessv1alpha1.SessionPending, accessv1alpha1.SessionReady, accessv1alpha1.SessionActive:
		return true
	}
	return false
}

// CountAhead counts, among others (the sessions of s's namespace, s included
// or not), the live ones on s's environment that come before s.
func CountAhead(s *accessv1alpha1.StreamingSession, others []*accessv1alpha1.StreamingSession) Ahead {
	var a Ahead
	for _, o := range others {
		if o.UID == s.UID || o.Spec.EnvironmentRef.Name != s.Spec.EnvironmentRef.Name || !Live(o) {
			continue
		}
		fleet := !target.ViaNapter(o) // Napter sessions take no fleet instance
		switch {
		case fleet && o.Status.Phase == accessv1alpha1.SessionReady:
			a.Unopened++
		case fleet && o.Status.Phase == accessv1alpha1.SessionActive:
			a.Active++
		}
		if !before(o, s) {
			continue
		}
		a.Total++
		if o.Spec.UserID == s.Spec.UserID {
			a.User++
		}
		if fleet && o.Status.URLExpiresAt == nil && (o.Status.Phase == "" || o.Status.Phase == accessv1alpha1.SessionPending) {
			a.Waiting++
		}
	}
	return a
}

func before(a, b *accessv1alpha1.StreamingSession) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// limitsOf are the environment's limits with the API's defaults filled in.
func limitsOf(env *accessv1alpha1.RemoteAccessEnvironment) accessv1alpha1.SessionLimits {
	l := accessv1alpha1.SessionLimits{PerUser: 5, Total: 200}
	if env != nil && env.Spec.SessionLimits != nil {
		if env.Spec.SessionLimits.PerUser > 0 {
			l.PerUser = env.Spec.SessionLimits.PerUser
		}
		if env.Spec.SessionLimits.Total > 0 {
			l.Total = env.Spec.SessionLimits.Total
		}
	}
	return l
}

// overLimit says why a session may not mint ("" when it may).
func overLimit(s *accessv1alpha1.StreamingSession, l accessv1alpha1.SessionLimits, a Ahead) string {
	env := s.Spec.EnvironmentRef.Name
	switch {
	case a.User >= int(l.PerUser):
		return fmt.Sprintf("user %s already has %d live sessions on RemoteAccessEnvironment %s (spec.sessionLimits.perUser is %d): end or delete one, then create a new session",
			s.Spec.UserID, a.User, env, l.PerUser)
	case a.Total >= int(l.Total):
		return fmt.Sprintf("RemoteAccessEnvironment %s already serves %d live sessions (spec.sessionLimits.total is %d): try again when sessions have ended",
			env, a.Total, l.Total)
	}
	return ""
}
