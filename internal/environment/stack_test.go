package environment_test

import (
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	"github.com/gatestream/gatestream/internal/environment"
)

// permission returns the stack's permission for action ("" when unset).
func permission(s []astypes.UserSetting, action astypes.Action) astypes.Permission {
	for _, us := range s {
		if us.Action == action {
			return us.Permission
		}
	}
	return ""
}

// The stack is created tagged with the spec's display name and user
// settings, drift in them is put back, and it is deleted.
func TestStackCreateDriftDelete(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	u := &environment.Stack{}
	p := w.pass()
	wantObservation(t, "nothing yet", w.observe(u, p), false, false, false, "")
	w.must("Create", u.Create(w.ctx, p))
	wantObservation(t, "created", w.observe(u, p), true, true, true, "")
	s, ok := w.stack()
	if !ok || s.DisplayName != "Device access" || w.cloud.AWS.Tags(s.Arn)[accessv1alpha1.TagOwnerUID] != string(w.env.UID) {
		t.Fatalf("stack %+v (tags %v); want display name Device access, tagged with the owner", s, w.cloud.AWS.Tags(s.Arn))
	}
	if st := w.env.Status.Stack; st.Name != "gs-line-a_factory-floor" {
		t.Fatalf("status.stack = %+v", st)
	}
	w.wantEvents(t, 0, "StackCreated")

	// Someone allows file downloads and renames the stack in the console.
	_, err := w.aws.AppStream.UpdateStack(w.ctx, &appstream.UpdateStackInput{Name: awssdk.String(s.Name), DisplayName: awssdk.String("renamed"),
		UserSettings: []astypes.UserSetting{{Action: astypes.ActionFileDownload, Permission: astypes.PermissionEnabled}}})
	w.must("drift", err)
	p = w.pass()
	obs := w.observe(u, p)
	wantObservation(t, "drifted", obs, true, false, true, accessv1alpha1.ReasonUpdating)
	if !strings.Contains(obs.Message, "displayName") || !strings.Contains(obs.Message, "userSettings.FILE_DOWNLOAD") {
		t.Fatalf("message %q does not name the drifted settings", obs.Message)
	}
	w.must("Update", u.Update(w.ctx, p))
	wantObservation(t, "put back", w.observe(u, w.pass()), true, true, true, "")
	got, err := w.aws.AppStream.DescribeStack(w.ctx, s.Name)
	w.must("DescribeStack", err)
	if awssdk.ToString(got.DisplayName) != "Device access" || permission(got.UserSettings, astypes.ActionFileDownload) != astypes.PermissionDisabled {
		t.Fatalf("stack after Update: %s, FILE_DOWNLOAD %s", awssdk.ToString(got.DisplayName), permission(got.UserSettings, astypes.ActionFileDownload))
	}

	mark := len(w.events)
	w.deleteTwice(u)
	if _, ok := w.stack(); ok {
		t.Fatal("stack still there")
	}
	w.wantEvents(t, mark, "StackDeleted")
}

// A stack of the same name owned by another environment is never managed
// nor deleted.
func TestStackOfAnotherOwner(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.wantNameConflict(&environment.Stack{}, func() bool { _, ok := w.stack(); return ok }, "DeleteStack")
}

func TestStackErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	u := &environment.Stack{}
	w.fail(appStreamAPI, "CreateStack", fault.Unavailable)
	wantVerdict(t, "Create on a 503", u.Create(w.ctx, w.pass()), accessv1alpha1.ReasonAPIError, false)
	if _, ok := w.stack(); ok {
		t.Fatal("a stack was created by a call that failed")
	}
	w.ready(u)
	w.wantDeleteFails(u, appStreamAPI, "DeleteStack", fault.ServerError, accessv1alpha1.ReasonAPIError)
	// Last: a throttle slows the AWS client's adaptive rate for the calls after it.
	w.fail(appStreamAPI, "DescribeStacks", fault.Throttle)
	_, err := u.Observe(w.ctx, w.pass())
	wantVerdict(t, "Observe throttled", err, accessv1alpha1.ReasonThrottled, false)
}
