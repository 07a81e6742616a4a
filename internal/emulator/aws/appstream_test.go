package aws_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"
	"github.com/aws/smithy-go"

	emu "github.com/gatestream/gatestream/internal/emulator/aws"
)

func TestFleetLifecycle(t *testing.T) {
	e := newEnv(t, emu.Options{FleetStartDelay: 10 * time.Minute, FleetStopDelay: 5 * time.Minute})
	seed(e.w)
	name := awssdk.String("factory-floor")

	out := must(e.as.CreateFleet(ctx, fleetInput(*name, 2)))(t)
	f := *out.Fleet
	if f.State != astypes.FleetStateStopped {
		t.Fatalf("new fleet: want STOPPED, got %s", f.State)
	}
	if got := awssdk.ToString(f.Arn); got != "arn:aws:appstream:ap-northeast-1:123456789012:fleet/factory-floor" {
		t.Fatalf("arn %s", got)
	}
	if !f.CreatedTime.Equal(t0) || awssdk.ToInt32(f.ComputeCapacityStatus.Desired) != 2 || awssdk.ToInt32(f.ComputeCapacityStatus.Running) != 0 {
		t.Fatalf("unexpected fleet %+v / %+v", f, f.ComputeCapacityStatus)
	}
	if awssdk.ToString(f.ImageArn) != "arn:aws:appstream:ap-northeast-1:123456789012:image/TeraTerm-Image" ||
		awssdk.ToInt32(f.DisconnectTimeoutInSeconds) != 900 || awssdk.ToInt32(f.MaxUserDurationInSeconds) != 57600 || f.StreamView != astypes.StreamViewApp {
		t.Fatalf("defaults: %+v", f)
	}

	// STOPPED -> STARTING
	must(e.as.StartFleet(ctx, &appstream.StartFleetInput{Name: name}))(t)
	if st := e.describeFleet(t, *name).State; st != astypes.FleetStateStarting {
		t.Fatalf("want STARTING, got %s", st)
	}
	// Updates are refused while STARTING.
	_, err := e.as.UpdateFleet(ctx, &appstream.UpdateFleetInput{Name: name, DisplayName: awssdk.String("x")})
	wantType[*astypes.ConcurrentModificationException](t, err)

	e.clk.Step(9 * time.Minute)
	if st := e.describeFleet(t, *name).State; st != astypes.FleetStateStarting {
		t.Fatalf("after 9m want STARTING, got %s", st)
	}
	// STARTING -> RUNNING
	e.clk.Step(time.Minute)
	f = e.describeFleet(t, *name)
	if f.State != astypes.FleetStateRunning {
		t.Fatalf("want RUNNING, got %s", f.State)
	}
	c := f.ComputeCapacityStatus
	if awssdk.ToInt32(c.Running) != 2 || awssdk.ToInt32(c.Available) != 2 || awssdk.ToInt32(c.InUse) != 0 {
		t.Fatalf("capacity %+v", c)
	}
	// StartFleet on a RUNNING fleet is accepted.
	must(e.as.StartFleet(ctx, &appstream.StartFleetInput{Name: name}))(t)

	// RUNNING: DisplayName and ComputeCapacity may change, InstanceType may not.
	up := must(e.as.UpdateFleet(ctx, &appstream.UpdateFleetInput{Name: name, DisplayName: awssdk.String("Factory"),
		ComputeCapacity: &astypes.ComputeCapacity{DesiredInstances: awssdk.Int32(3)}}))(t)
	if awssdk.ToString(up.Fleet.DisplayName) != "Factory" || awssdk.ToInt32(up.Fleet.ComputeCapacityStatus.Desired) != 3 {
		t.Fatalf("update: %+v", up.Fleet)
	}
	_, err = e.as.UpdateFleet(ctx, &appstream.UpdateFleetInput{Name: name, InstanceType: awssdk.String("stream.standard.large")})
	riu := wantType[*astypes.ResourceInUseException](t, err)
	if !strings.Contains(riu.ErrorMessage(), "must be stopped") {
		t.Fatalf("message %q", riu.ErrorMessage())
	}
	_, err = e.as.UpdateFleet(ctx, &appstream.UpdateFleetInput{Name: name, VpcConfig: &astypes.VpcConfig{SubnetIds: []string{"subnet-0b"}}})
	wantType[*astypes.ResourceInUseException](t, err)
	// DeleteFleet is refused while RUNNING.
	_, err = e.as.DeleteFleet(ctx, &appstream.DeleteFleetInput{Name: name})
	wantType[*astypes.ResourceInUseException](t, err)

	// RUNNING -> STOPPING
	must(e.as.StopFleet(ctx, &appstream.StopFleetInput{Name: name}))(t)
	if st := e.describeFleet(t, *name).State; st != astypes.FleetStateStopping {
		t.Fatalf("want STOPPING, got %s", st)
	}
	_, err = e.as.StartFleet(ctx, &appstream.StartFleetInput{Name: name})
	wantType[*astypes.ConcurrentModificationException](t, err)
	_, err = e.as.DeleteFleet(ctx, &appstream.DeleteFleetInput{Name: name})
	wantType[*astypes.ResourceInUseException](t, err)
	must(e.as.StopFleet(ctx, &appstream.StopFleetInput{Name: name}))(t) // no-op

	// STOPPING -> STOPPED
	e.clk.Step(5 * time.Minute)
	if st := e.describeFleet(t, *name).State; st != astypes.FleetStateStopped {
		t.Fatalf("want STOPPED, got %s", st)
	}
	// STOPPED: anything but the name may change, AttributesToDelete clears.
	up = must(e.as.UpdateFleet(ctx, &appstream.UpdateFleetInput{Name: name, InstanceType: awssdk.String("stream.standard.large"),
		StreamView: astypes.StreamViewDesktop, AttributesToDelete: []astypes.FleetAttribute{astypes.FleetAttributeVpcConfigurationSecurityGroupIds}}))(t)
	if awssdk.ToString(up.Fleet.InstanceType) != "stream.standard.large" || up.Fleet.StreamView != astypes.StreamViewDesktop ||
		len(up.Fleet.VpcConfig.SecurityGroupIds) != 0 || len(up.Fleet.VpcConfig.SubnetIds) != 1 {
		t.Fatalf("update stopped: %+v %+v", up.Fleet, up.Fleet.VpcConfig)
	}
	// STOPPED -> STARTING -> STOPPING (stop while starting) -> STOPPED
	must(e.as.StartFleet(ctx, &appstream.StartFleetInput{Name: name}))(t)
	must(e.as.StopFleet(ctx, &appstream.StopFleetInput{Name: name}))(t)
	if st := e.describeFleet(t, *name).State; st != astypes.FleetStateStopping {
		t.Fatalf("want STOPPING, got %s", st)
	}
	e.clk.Step(5 * time.Minute)

	must(e.as.DeleteFleet(ctx, &appstream.DeleteFleetInput{Name: name}))(t)
	_, err = e.as.DescribeFleets(ctx, &appstream.DescribeFleetsInput{Names: []string{*name}})
	wantType[*astypes.ResourceNotFoundException](t, err)
	for _, call := range []func() error{
		func() error { _, err := e.as.StartFleet(ctx, &appstream.StartFleetInput{Name: name}); return err },
		func() error { _, err := e.as.StopFleet(ctx, &appstream.StopFleetInput{Name: name}); return err },
		func() error { _, err := e.as.DeleteFleet(ctx, &appstream.DeleteFleetInput{Name: name}); return err },
		func() error {
			_, err := e.as.UpdateFleet(ctx, &appstream.UpdateFleetInput{Name: name, DisplayName: awssdk.String("x")})
			return err
		},
	} {
		wantType[*astypes.ResourceNotFoundException](t, call())
	}
}

func TestFleetErrors(t *testing.T) {
	e := newEnv(t, emu.Options{FleetStartDelay: time.Minute})
	seed(e.w)
	e.w.SetSubnetBroken("subnet-0a", "NETWORK_INTERFACE_LIMIT_EXCEEDED", "The network interface limit was exceeded.")
	must(e.as.CreateFleet(ctx, fleetInput("broken", 1)))(t)
	must(e.as.StartFleet(ctx, &appstream.StartFleetInput{Name: awssdk.String("broken")}))(t)
	e.clk.Step(time.Hour)
	f := e.describeFleet(t, "broken")
	// Reference §2.3: the fleet stays STARTING and reports FleetErrors.
	if f.State != astypes.FleetStateStarting || len(f.FleetErrors) != 1 || f.FleetErrors[0].ErrorCode != astypes.FleetErrorCodeNetworkInterfaceLimitExceeded {
		t.Fatalf("want STARTING with FleetErrors, got %s %+v", f.State, f.FleetErrors)
	}
	// Once the subnet is repaired the fleet proceeds.
	e.w.SetSubnetBroken("subnet-0a", "", "")
	if f = e.describeFleet(t, "broken"); f.State != astypes.FleetStateRunning || len(f.FleetErrors) != 0 {
		t.Fatalf("repaired: %s %+v", f.State, f.FleetErrors)
	}

	// An unknown subnet and security group.
	in := fleetInput("lost", 1)
	in.VpcConfig = &astypes.VpcConfig{SubnetIds: []string{"subnet-0nope"}, SecurityGroupIds: []string{"sg-0nope"}}
	must(e.as.CreateFleet(ctx, in))(t)
	must(e.as.StartFleet(ctx, &appstream.StartFleetInput{Name: awssdk.String("lost")}))(t)
	e.clk.Step(time.Minute)
	f = e.describeFleet(t, "lost")
	codes := map[astypes.FleetErrorCode]bool{}
	for _, fe := range f.FleetErrors {
		codes[fe.ErrorCode] = true
	}
	if f.State != astypes.FleetStateStarting || !codes[astypes.FleetErrorCodeSubnetNotFound] || !codes[astypes.FleetErrorCodeSecurityGroupsNotFound] {
		t.Fatalf("unknown subnet: %s %+v", f.State, f.FleetErrors)
	}

	// An image removed after the fleet was created.
	must(e.as.CreateFleet(ctx, fleetInput("orphan", 1)))(t)
	e.w.RemoveImage("TeraTerm-Image")
	must(e.as.StartFleet(ctx, &appstream.StartFleetInput{Name: awssdk.String("orphan")}))(t)
	e.clk.Step(time.Minute)
	f = e.describeFleet(t, "orphan")
	if f.State != astypes.FleetStateStarting || len(f.FleetErrors) == 0 || f.FleetErrors[0].ErrorCode != astypes.FleetErrorCodeImageNotFound {
		t.Fatalf("missing image: %s %+v", f.State, f.FleetErrors)
	}
	// Stopping a stuck fleet works.
	must(e.as.StopFleet(ctx, &appstream.StopFleetInput{Name: awssdk.String("orphan")}))(t)
	if f = e.describeFleet(t, "orphan"); f.State != astypes.FleetStateStopped {
		t.Fatalf("stop stuck: %s", f.State)
	}
}

func TestCreateFleetErrors(t *testing.T) {
	e := newEnv(t, emu.Options{MaxFleets: 2})
	seed(e.w)
	e.w.AddImage("Building-Image", "PENDING")
	must(e.as.CreateFleet(ctx, fleetInput("one", 1)))(t)

	_, err := e.as.CreateFleet(ctx, fleetInput("one", 1))
	wantType[*astypes.ResourceAlreadyExistsException](t, err)

	_, err = e.as.CreateFleet(ctx, fleetInput("bad name!", 1))
	wantCode(t, err, "ValidationException")
	_, err = e.as.CreateFleet(ctx, fleetInput(strings.Repeat("a", 102), 1))
	wantCode(t, err, "ValidationException")

	in := fleetInput("two", 1)
	in.ImageName = awssdk.String("No-Such-Image")
	_, err = e.as.CreateFleet(ctx, in)
	wantType[*astypes.ResourceNotFoundException](t, err)

	in = fleetInput("two", 1)
	in.ImageName = awssdk.String("Building-Image")
	_, err = e.as.CreateFleet(ctx, in)
	wantType[*astypes.ResourceNotAvailableException](t, err)

	in = fleetInput("two", 1)
	in.ImageName = nil
	_, err = e.as.CreateFleet(ctx, in)
	wantType[*astypes.InvalidParameterCombinationException](t, err)

	in = fleetInput("two", 1)
	in.ComputeCapacity = &astypes.ComputeCapacity{DesiredInstances: awssdk.Int32(1), DesiredSessions: awssdk.Int32(2)}
	_, err = e.as.CreateFleet(ctx, in)
	wantType[*astypes.InvalidParameterCombinationException](t, err)

	in = fleetInput("two", 1)
	in.ComputeCapacity = nil
	_, err = e.as.CreateFleet(ctx, in)
	wantType[*astypes.InvalidParameterCombinationException](t, err)

	in = fleetInput("two", 1)
	in.DisconnectTimeoutInSeconds = awssdk.Int32(10)
	_, err = e.as.CreateFleet(ctx, in)
	wantType[*astypes.InvalidParameterCombinationException](t, err)

	in = fleetInput("two", 1)
	in.IamRoleArn = awssdk.String("arn:aws:s3:::not-a-role")
	_, err = e.as.CreateFleet(ctx, in)
	wantType[*astypes.InvalidRoleException](t, err)

	e.w.SetAccountSuspended(true)
	_, err = e.as.CreateFleet(ctx, fleetInput("two", 1))
	wantType[*astypes.InvalidAccountStatusException](t, err)
	_, err = e.as.StartFleet(ctx, &appstream.StartFleetInput{Name: awssdk.String("one")})
	wantType[*astypes.InvalidAccountStatusException](t, err)
	e.w.SetAccountSuspended(false)

	// Image by ARN.
	in = fleetInput("two", 1)
	in.ImageName, in.ImageArn = nil, awssdk.String("arn:aws:appstream:ap-northeast-1:123456789012:image/TeraTerm-Image")
	two := must(e.as.CreateFleet(ctx, in))(t)
	if awssdk.ToString(two.Fleet.ImageName) != "TeraTerm-Image" {
		t.Fatalf("image by arn: %+v", two.Fleet)
	}
	// Quota.
	_, err = e.as.CreateFleet(ctx, fleetInput("three", 1))
	wantType[*astypes.LimitExceededException](t, err)

	// Multi-session capacity.
	e2 := newEnv(t, emu.Options{})
	seed(e2.w)
	in = fleetInput("multi", 0)
	in.ComputeCapacity = &astypes.ComputeCapacity{DesiredSessions: awssdk.Int32(10)}
	in.MaxSessionsPerInstance = awssdk.Int32(4)
	m := must(e2.as.CreateFleet(ctx, in))(t)
	if c := m.Fleet.ComputeCapacityStatus; awssdk.ToInt32(c.Desired) != 3 || awssdk.ToInt32(c.DesiredUserSessions) != 10 {
		t.Fatalf("multi-session capacity %+v", c)
	}
}

func TestStacksAndAssociations(t *testing.T) {
	e := newEnv(t, emu.Options{})
	seed(e.w)
	must(e.as.CreateFleet(ctx, fleetInput("fleet-a", 1)))(t)
	must(e.as.CreateFleet(ctx, fleetInput("fleet-b", 1)))(t)
	st := must(e.as.CreateStack(ctx, &appstream.CreateStackInput{
		Name: awssdk.String("stack-a"), DisplayName: awssdk.String("Device access"),
		UserSettings:        []astypes.UserSetting{{Action: astypes.ActionClipboardCopyFromLocalDevice, Permission: astypes.PermissionDisabled}},
		ApplicationSettings: &astypes.ApplicationSettings{Enabled: awssdk.Bool(true), SettingsGroup: awssdk.String("g")},
	}))(t).Stack
	if awssdk.ToString(st.Arn) != "arn:aws:appstream:ap-northeast-1:123456789012:stack/stack-a" || len(st.UserSettings) != 8 {
		t.Fatalf("stack %+v", st)
	}
	for _, u := range st.UserSettings {
		if u.Action == astypes.ActionClipboardCopyFromLocalDevice && u.Permission != astypes.PermissionDisabled {
			t.Fatalf("user setting not kept: %+v", u)
		}
	}
	if st.ApplicationSettings == nil || !awssdk.ToBool(st.ApplicationSettings.Enabled) || awssdk.ToString(st.ApplicationSettings.S3BucketName) == "" {
		t.Fatalf("app settings %+v", st.ApplicationSettings)
	}
	_, err := e.as.CreateStack(ctx, &appstream.CreateStackInput{Name: awssdk.String("stack-a")})
	wantType[*astypes.ResourceAlreadyExistsException](t, err)
	_, err = e.as.CreateStack(ctx, &appstream.CreateStackInput{Name: awssdk.String("-bad")})
	wantCode(t, err, "ValidationException")

	up := must(e.as.UpdateStack(ctx, &appstream.UpdateStackInput{Name: awssdk.String("stack-a"), Description: awssdk.String("d"),
		AttributesToDelete: []astypes.StackAttribute{astypes.StackAttributeUserSettings}}))(t).Stack
	if awssdk.ToString(up.Description) != "d" || awssdk.ToString(up.DisplayName) != "Device access" {
		t.Fatalf("update stack %+v", up)
	}
	for _, u := range up.UserSettings {
		if u.Action == astypes.ActionClipboardCopyFromLocalDevice && u.Permission != astypes.PermissionEnabled {
			t.Fatalf("USER_SETTINGS not reset: %+v", u)
		}
	}
	_, err = e.as.UpdateStack(ctx, &appstream.UpdateStackInput{Name: awssdk.String("nope")})
	wantType[*astypes.ResourceNotFoundException](t, err)
	ds := must(e.as.DescribeStacks(ctx, &appstream.DescribeStacksInput{Names: []string{"stack-a"}}))(t)
	if len(ds.Stacks) != 1 || awssdk.ToString(ds.Stacks[0].Description) != "d" {
		t.Fatalf("describe stacks %+v", ds.Stacks)
	}
	_, err = e.as.DescribeStacks(ctx, &appstream.DescribeStacksInput{Names: []string{"nope"}})
	wantType[*astypes.ResourceNotFoundException](t, err)

	assoc := func(f, s string) error {
		_, err := e.as.AssociateFleet(ctx, &appstream.AssociateFleetInput{FleetName: awssdk.String(f), StackName: awssdk.String(s)})
		return err
	}
	mustOK(t, assoc("fleet-a", "stack-a"))
	mustOK(t, assoc("fleet-a", "stack-a")) // idempotent
	wantType[*astypes.OperationNotPermittedException](t, assoc("fleet-b", "stack-a"))
	wantType[*astypes.ResourceNotFoundException](t, assoc("nope", "stack-a"))
	wantType[*astypes.ResourceNotFoundException](t, assoc("fleet-a", "nope"))

	ls := must(e.as.ListAssociatedStacks(ctx, &appstream.ListAssociatedStacksInput{FleetName: awssdk.String("fleet-a")}))(t)
	lf := must(e.as.ListAssociatedFleets(ctx, &appstream.ListAssociatedFleetsInput{StackName: awssdk.String("stack-a")}))(t)
	if len(ls.Names) != 1 || ls.Names[0] != "stack-a" || len(lf.Names) != 1 || lf.Names[0] != "fleet-a" {
		t.Fatalf("associations %v %v", ls.Names, lf.Names)
	}
	if n := must(e.as.ListAssociatedStacks(ctx, &appstream.ListAssociatedStacksInput{FleetName: awssdk.String("nope")}))(t); len(n.Names) != 0 {
		t.Fatalf("unknown fleet has stacks: %v", n.Names)
	}

	_, err = e.as.DeleteFleet(ctx, &appstream.DeleteFleetInput{Name: awssdk.String("fleet-a")})
	riu := wantType[*astypes.ResourceInUseException](t, err)
	if !strings.Contains(riu.ErrorMessage(), "associated with a stack") {
		t.Fatalf("message %q", riu.ErrorMessage())
	}
	_, err = e.as.DeleteStack(ctx, &appstream.DeleteStackInput{Name: awssdk.String("stack-a")})
	wantType[*astypes.ResourceInUseException](t, err)

	must(e.as.DisassociateFleet(ctx, &appstream.DisassociateFleetInput{FleetName: awssdk.String("fleet-a"), StackName: awssdk.String("stack-a")}))(t)
	_, err = e.as.DisassociateFleet(ctx, &appstream.DisassociateFleetInput{FleetName: awssdk.String("fleet-a"), StackName: awssdk.String("stack-a")})
	wantType[*astypes.ResourceNotFoundException](t, err)
	must(e.as.DeleteStack(ctx, &appstream.DeleteStackInput{Name: awssdk.String("stack-a")}))(t)
	must(e.as.DeleteFleet(ctx, &appstream.DeleteFleetInput{Name: awssdk.String("fleet-a")}))(t)
	_, err = e.as.DeleteStack(ctx, &appstream.DeleteStackInput{Name: awssdk.String("stack-a")})
	wantType[*astypes.ResourceNotFoundException](t, err)
	if got := e.w.Stacks(); len(got) != 0 {
		t.Fatalf("stacks left: %+v", got)
	}
}

func TestPagination(t *testing.T) {
	e := newEnv(t, emu.Options{PageSize: 2})
	seed(e.w)
	for _, n := range []string{"f1", "f2", "f3", "f4", "f5"} {
		must(e.as.CreateFleet(ctx, fleetInput(n, 1)))(t)
		must(e.as.CreateStack(ctx, &appstream.CreateStackInput{Name: awssdk.String("s" + n[1:])}))(t)
	}
	var fleets []string
	var token *string
	pages := 0
	for {
		out := must(e.as.DescribeFleets(ctx, &appstream.DescribeFleetsInput{NextToken: token}))(t)
		pages++
		for _, f := range out.Fleets {
			fleets = append(fleets, *f.Name)
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	if pages != 3 || strings.Join(fleets, ",") != "f1,f2,f3,f4,f5" {
		t.Fatalf("fleets %v in %d pages", fleets, pages)
	}
	var stacks []string
	token = nil
	for {
		out := must(e.as.DescribeStacks(ctx, &appstream.DescribeStacksInput{NextToken: token}))(t)
		for _, s := range out.Stacks {
			stacks = append(stacks, *s.Name)
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	if strings.Join(stacks, ",") != "s1,s2,s3,s4,s5" {
		t.Fatalf("stacks %v", stacks)
	}
	_, err := e.as.DescribeFleets(ctx, &appstream.DescribeFleetsInput{NextToken: awssdk.String("garbage")})
	wantCode(t, err, "ValidationException")

	// A fleet associated with several stacks (stacks may each have one fleet).
	for _, s := range []string{"s1", "s2", "s3"} {
		must(e.as.AssociateFleet(ctx, &appstream.AssociateFleetInput{FleetName: awssdk.String("f1"), StackName: awssdk.String(s)}))(t)
	}
	p1 := must(e.as.ListAssociatedStacks(ctx, &appstream.ListAssociatedStacksInput{FleetName: awssdk.String("f1")}))(t)
	p2 := must(e.as.ListAssociatedStacks(ctx, &appstream.ListAssociatedStacksInput{FleetName: awssdk.String("f1"), NextToken: p1.NextToken}))(t)
	if strings.Join(append(p1.Names, p2.Names...), ",") != "s1,s2,s3" || p2.NextToken != nil {
		t.Fatalf("associated stacks %v %v", p1.Names, p2.Names)
	}
	lf := must(e.as.ListAssociatedFleets(ctx, &appstream.ListAssociatedFleetsInput{StackName: awssdk.String("s2")}))(t)
	if len(lf.Names) != 1 || lf.NextToken != nil {
		t.Fatalf("associated fleets %v", lf.Names)
	}

	// DescribeImages with the SDK paginator.
	for _, n := range []string{"img-2", "img-3"} {
		e.w.AddImage(n, "AVAILABLE")
	}
	var images []string
	pg := appstream.NewDescribeImagesPaginator(e.as, &appstream.DescribeImagesInput{MaxResults: awssdk.Int32(2)})
	for pg.HasMorePages() {
		out := must(pg.NextPage(ctx))(t)
		for _, i := range out.Images {
			images = append(images, *i.Name)
		}
	}
	if strings.Join(images, ",") != "TeraTerm-Image,img-2,img-3" {
		t.Fatalf("images %v", images)
	}
}

func TestTagsAndImages(t *testing.T) {
	e := newEnv(t, emu.Options{})
	seed(e.w)
	in := fleetInput("tagged", 1)
	in.Tags = map[string]string{"gatestream.io/owner": "uid-1"}
	f := must(e.as.CreateFleet(ctx, in))(t).Fleet
	tags := must(e.as.ListTagsForResource(ctx, &appstream.ListTagsForResourceInput{ResourceArn: f.Arn}))(t).Tags
	if tags["gatestream.io/owner"] != "uid-1" {
		t.Fatalf("tags %v", tags)
	}
	must(e.as.TagResource(ctx, &appstream.TagResourceInput{ResourceArn: f.Arn, Tags: map[string]string{"env": "test"}}))(t)
	must(e.as.UntagResource(ctx, &appstream.UntagResourceInput{ResourceArn: f.Arn, TagKeys: []string{"gatestream.io/owner"}}))(t)
	tags = must(e.as.ListTagsForResource(ctx, &appstream.ListTagsForResourceInput{ResourceArn: f.Arn}))(t).Tags
	if len(tags) != 1 || tags["env"] != "test" {
		t.Fatalf("tags %v", tags)
	}
	missing := awssdk.String("arn:aws:appstream:ap-northeast-1:123456789012:fleet/nope")
	_, err := e.as.ListTagsForResource(ctx, &appstream.ListTagsForResourceInput{ResourceArn: missing})
	wantType[*astypes.ResourceNotFoundException](t, err)
	_, err = e.as.TagResource(ctx, &appstream.TagResourceInput{ResourceArn: missing, Tags: map[string]string{"a": "b"}})
	wantType[*astypes.ResourceNotFoundException](t, err)
	_, err = e.as.UntagResource(ctx, &appstream.UntagResourceInput{ResourceArn: missing, TagKeys: []string{"a"}})
	wantType[*astypes.ResourceNotFoundException](t, err)
	_, err = e.as.TagResource(ctx, &appstream.TagResourceInput{ResourceArn: f.Arn, Tags: map[string]string{"aws:reserved": "b"}})
	wantCode(t, err, "ValidationException")
	many := map[string]string{}
	for i := range 50 {
		many[strings.Repeat("k", i+1)] = "v"
	}
	_, err = e.as.TagResource(ctx, &appstream.TagResourceInput{ResourceArn: f.Arn, Tags: many})
	wantType[*astypes.LimitExceededException](t, err)

	imgs := must(e.as.DescribeImages(ctx, &appstream.DescribeImagesInput{Names: []string{"TeraTerm-Image"}}))(t).Images
	if len(imgs) != 1 || len(imgs[0].Applications) != 3 || awssdk.ToString(imgs[0].Applications[0].Name) != "teraterm" ||
		imgs[0].State != astypes.ImageStateAvailable || imgs[0].Visibility != astypes.VisibilityTypePrivate {
		t.Fatalf("images %+v", imgs)
	}
	_, err = e.as.DescribeImages(ctx, &appstream.DescribeImagesInput{Names: []string{"nope"}})
	wantType[*astypes.ResourceNotFoundException](t, err)
	_, err = e.as.DescribeImages(ctx, &appstream.DescribeImagesInput{Names: []string{"TeraTerm-Image"}, Arns: []string{*imgs[0].Arn}})
	wantType[*astypes.InvalidParameterCombinationException](t, err)
	if pub := must(e.as.DescribeImages(ctx, &appstream.DescribeImagesInput{Type: astypes.VisibilityTypePublic}))(t); len(pub.Images) != 0 {
		t.Fatalf("public images %+v", pub.Images)
	}
}

// TestWireProtocol checks what the SDK does not: authentication, content type, unknown operations, the CBOR guard.
func TestWireProtocol(t *testing.T) {
	e := newEnv(t, emu.Options{})
	post := func(h map[string]string, path, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, e.asURL+path, bytes.NewBufferString(body))
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	sig := "AWS4-HMAC-SHA256 Credential=AKID/20260901/ap-northeast-1/appstream/aws4_request, SignedHeaders=host, Signature=00"
	base := map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "PhotonAdminProxyService.DescribeFleets"}
	if code, body := post(base, "/", "{}"); code != 403 || !strings.Contains(body, "MissingAuthenticationTokenException") {
		t.Fatalf("unsigned: %d %s", code, body)
	}
	withSig := map[string]string{"Authorization": sig}
	for k, v := range base {
		withSig[k] = v
	}
	if code, body := post(withSig, "/", ""); code != 200 || body != `{"Fleets":[]}` {
		t.Fatalf("empty body: %d %s", code, body)
	}
	wrongRegion := map[string]string{"Authorization": strings.Replace(sig, "ap-northeast-1", "us-east-1", 1)}
	for k, v := range base {
		wrongRegion[k] = v
	}
	if code, body := post(wrongRegion, "/", "{}"); code != 403 || !strings.Contains(body, "InvalidSignatureException") {
		t.Fatalf("wrong region: %d %s", code, body)
	}
	unknown := map[string]string{"Authorization": sig, "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "PhotonAdminProxyService.Nope"}
	if code, body := post(unknown, "/", "{}"); code != 400 || !strings.Contains(body, "UnknownOperationException") {
		t.Fatalf("unknown op: %d %s", code, body)
	}
	cbor := map[string]string{"Authorization": sig, "Content-Type": "application/cbor", "Smithy-Protocol": "rpc-v2-cbor"}
	if code, body := post(cbor, "/service/PhotonAdminProxyService/operation/DescribeFleets", ""); code != 400 || !strings.Contains(body, "awsJson1_1 only") {
		t.Fatalf("cbor: %d %s", code, body)
	}
	if code, body := post(withSig, "/", "{not json"); code != 400 || !strings.Contains(body, "SerializationException") {
		t.Fatalf("bad json: %d %s", code, body)
	}

	// The SDK sees a request ID and the error code.
	_, err := e.as.DescribeFleets(ctx, &appstream.DescribeFleetsInput{Names: []string{"nope"}})
	var oe *smithy.OperationError
	if !strings.Contains(err.Error(), "RequestID") || !errors.As(err, &oe) {
		t.Fatalf("request id missing: %v", err)
	}
	if n := e.w.Faults().Count("appstream", "DescribeFleets"); n < 3 {
		t.Fatalf("call log: %d", n)
	}
}
