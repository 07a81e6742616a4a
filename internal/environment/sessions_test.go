package environment_test

import (
	"testing"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	awsemu "github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	"github.com/gatestream/gatestream/internal/environment"
)

// Sessions has nothing to converge; on delete it expires every streaming
// session on the stack and fleet, so people are disconnected first.
func TestSessionsExpiredOnDelete(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	u := environment.Sessions{}
	w.ready(&environment.Fleet{}, &environment.Stack{}, environment.Association{}, u)
	if n := w.calls(appStreamAPI, fault.Any); n == 0 {
		t.Fatal("no AppStream calls: the setup did nothing")
	}
	w.startSession("user-a")
	w.startSession("user-b")

	mark := len(w.events)
	w.deleteTwice(u)
	for _, s := range w.cloud.AWS.Sessions() {
		if s.State != awsemu.SessionExpired {
			t.Errorf("session of %s is %s after Delete", s.UserId, s.State)
		}
	}
	if n := len(w.cloud.AWS.Sessions()); n != 2 {
		t.Fatalf("%d sessions, want the 2 started", n)
	}
	w.wantEvents(t, mark, "SessionsExpired")
	if n := w.calls(appStreamAPI, "ExpireSession"); n != 2 {
		t.Fatalf("%d ExpireSession calls, want 2 (the second Delete found no live session)", n)
	}

	// Without a stack (deleted already, or never created) it is done at once.
	w.deleteTwice(environment.Association{})
	w.deleteTwice(&environment.Stack{})
	w.deleteTwice(u)
}

func TestSessionsErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	u := environment.Sessions{}
	w.ready(&environment.Fleet{}, &environment.Stack{}, environment.Association{})
	w.startSession("user-a")
	w.wantDeleteFails(u, appStreamAPI, "ExpireSession", fault.ServerError, accessv1alpha1.ReasonAPIError)
	// Last: a throttle slows the AWS client's adaptive rate for the calls after it.
	w.fail(appStreamAPI, "DescribeSessions", fault.Throttle)
	_, err := u.Delete(w.ctx, w.pass())
	wantVerdict(t, "Delete throttled", err, accessv1alpha1.ReasonThrottled, false)
}
