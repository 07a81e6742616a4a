package aws_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	emu "github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/fault"
)

// runInput is a valid RunInstances request into subnet-0a.
func runInput(token string) *ec2.RunInstancesInput {
	in := &ec2.RunInstancesInput{
		ImageId:          awssdk.String("resolve:ssm:" + emu.SSMParamAL2023X8664),
		InstanceType:     ec2types.InstanceTypeT3Micro,
		MinCount:         awssdk.Int32(1),
		MaxCount:         awssdk.Int32(1),
		SubnetId:         awssdk.String("subnet-0a"),
		SecurityGroupIds: []string{"sg-0a"},
		TagSpecifications: []ec2types.TagSpecification{
			{ResourceType: ec2types.ResourceTypeInstance, Tags: []ec2types.Tag{{Key: awssdk.String("role"), Value: awssdk.String("router")}}},
			{ResourceType: ec2types.ResourceTypeNetworkInterface, Tags: []ec2types.Tag{{Key: awssdk.String("role"), Value: awssdk.String("router-eni")}}},
		},
	}
	if token != "" {
		in.ClientToken = awssdk.String(token)
	}
	return in
}

func (e *env) run(t *testing.T, in *ec2.RunInstancesInput) ec2types.Instance {
	t.Helper()
	out := must(e.ec2.RunInstances(ctx, in))(t)
	if len(out.Instances) != 1 {
		t.Fatalf("RunInstances: %d instances", len(out.Instances))
	}
	return out.Instances[0]
}

func (e *env) describeInstance(t *testing.T, id string) ec2types.Instance {
	t.Helper()
	out := must(e.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}))(t)
	if len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
		t.Fatalf("DescribeInstances(%s): %+v", id, out.Reservations)
	}
	return out.Reservations[0].Instances[0]
}

func (e *env) instanceState(t *testing.T, id string) ec2types.InstanceStateName {
	t.Helper()
	return e.describeInstance(t, id).State.Name
}

// routeTo returns the route for dest in a route table, as DescribeRouteTables reports it.
func (e *env) routeTo(t *testing.T, rtb, dest string) ec2types.Route {
	t.Helper()
	rts := must(e.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{rtb}}))(t).RouteTables
	for _, r := range rts[0].Routes {
		if awssdk.ToString(r.DestinationCidrBlock) == dest {
			return r
		}
	}
	t.Fatalf("no route %s in %s", dest, rtb)
	return ec2types.Route{}
}

func TestRunInstancesClientToken(t *testing.T) {
	e := newEnv(t, emu.Options{})
	seed(e.w)

	first := must(e.ec2.RunInstances(ctx, runInput("router-env-a")))(t)
	i := first.Instances[0]
	id := awssdk.ToString(i.InstanceId)
	if !strings.HasPrefix(id, "i-") || i.State.Name != ec2types.InstanceStateNamePending || awssdk.ToInt32(i.State.Code) != 0 ||
		awssdk.ToString(i.ImageId) != emu.AMIAL2023X8664 || i.InstanceType != ec2types.InstanceTypeT3Micro ||
		awssdk.ToString(i.SubnetId) != "subnet-0a" || awssdk.ToString(i.VpcId) != "vpc-0abc" ||
		awssdk.ToString(i.PrivateIpAddress) != "10.0.1.4" || awssdk.ToString(i.Placement.AvailabilityZone) != "ap-northeast-1a" ||
		awssdk.ToString(i.ClientToken) != "router-env-a" || !awssdk.ToBool(i.SourceDestCheck) ||
		len(i.SecurityGroups) != 1 || awssdk.ToString(i.SecurityGroups[0].GroupName) != "appstream" ||
		len(i.Tags) != 1 || awssdk.ToString(i.Tags[0].Value) != "router" || i.Architecture != ec2types.ArchitectureValuesX8664 {
		t.Fatalf("instance %+v", i)
	}
	if awssdk.ToString(first.OwnerId) != "123456789012" || !strings.HasPrefix(awssdk.ToString(first.ReservationId), "r-") {
		t.Fatalf("reservation %+v", first)
	}
	if len(i.NetworkInterfaces) != 1 {
		t.Fatalf("interfaces %+v", i.NetworkInterfaces)
	}
	n := i.NetworkInterfaces[0]
	if !strings.HasPrefix(awssdk.ToString(n.NetworkInterfaceId), "eni-") || awssdk.ToString(n.PrivateIpAddress) != "10.0.1.4" ||
		!awssdk.ToBool(n.SourceDestCheck) || n.Attachment == nil || !awssdk.ToBool(n.Attachment.DeleteOnTermination) ||
		awssdk.ToInt32(n.Attachment.DeviceIndex) != 0 || n.Attachment.Status != ec2types.AttachmentStatusAttached ||
		len(n.Groups) != 1 || awssdk.ToString(n.Groups[0].GroupId) != "sg-0a" {
		t.Fatalf("interface %+v", n)
	}

	// The same token and parameters: the same reservation, no second instance.
	again := must(e.ec2.RunInstances(ctx, runInput("router-env-a")))(t)
	if awssdk.ToString(again.ReservationId) != awssdk.ToString(first.ReservationId) || awssdk.ToString(again.Instances[0].InstanceId) != id {
		t.Fatalf("retry launched another: %+v", again)
	}
	if again.Instances[0].State.Name != ec2types.InstanceStateNameRunning {
		t.Fatalf("retry state %s (only the state may differ)", again.Instances[0].State.Name)
	}
	if n := len(e.w.Instances()); n != 1 {
		t.Fatalf("world has %d instances", n)
	}
	// The same token with other parameters.
	other := runInput("router-env-a")
	other.InstanceType = ec2types.InstanceTypeT3Small
	_, err := e.ec2.RunInstances(ctx, other)
	wantCode(t, err, "IdempotentParameterMismatch")

	// Another token: another instance, the next free address.
	i2 := e.run(t, runInput("router-env-b"))
	if awssdk.ToString(i2.InstanceId) == id || awssdk.ToString(i2.PrivateIpAddress) != "10.0.1.5" {
		t.Fatalf("second instance %s %s", awssdk.ToString(i2.InstanceId), awssdk.ToString(i2.PrivateIpAddress))
	}
	// Without a token the SDK makes one up: each call launches.
	// (The SDK writes the token it makes up into the input: use fresh inputs.)
	a, b := e.run(t, runInput("")), e.run(t, runInput(""))
	if awssdk.ToString(a.InstanceId) == awssdk.ToString(b.InstanceId) || awssdk.ToString(a.ClientToken) == "" {
		t.Fatalf("SDK tokens %q %q", awssdk.ToString(a.ClientToken), awssdk.ToString(b.ClientToken))
	}

	// Filter by client token and by tag.
	byTok := must(e.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{filter("client-token", "router-env-a")}}))(t)
	if len(byTok.Reservations) != 1 || awssdk.ToString(byTok.Reservations[0].Instances[0].InstanceId) != id {
		t.Fatalf("by client token %+v", byTok.Reservations)
	}

	// Token expiry: still answered 23h after termination, forgotten after 24h.
	mustOK(t, e.w.TerminateInstance(id))
	e.clk.Step(23 * time.Hour)
	if got := must(e.ec2.RunInstances(ctx, runInput("router-env-a")))(t).Instances[0]; awssdk.ToString(got.InstanceId) != id ||
		got.State.Name != ec2types.InstanceStateNameTerminated {
		t.Fatalf("within 24h: %s %s", awssdk.ToString(got.InstanceId), got.State.Name)
	}
	e.clk.Step(time.Hour)
	if got := e.run(t, runInput("router-env-a")); awssdk.ToString(got.InstanceId) == id {
		t.Fatal("token still remembered after 24h")
	}
}

func TestRunInstancesValidation(t *testing.T) {
	e := newEnv(t, emu.Options{})
	seed(e.w)
	e.w.AddVPC("vpc-0other", "172.16.0.0/16")
	e.w.AddSecurityGroup(emu.SecurityGroup{ID: "sg-0other", VPCID: "vpc-0other", Name: "other"})

	// resolve:ssm, both architectures; an AMI by ID; EC2's default instance type.
	arm := runInput("")
	arm.ImageId, arm.InstanceType = awssdk.String("resolve:ssm:"+emu.SSMParamAL2023Arm64), ec2types.InstanceTypeT4gNano
	if i := e.run(t, arm); awssdk.ToString(i.ImageId) != emu.AMIAL2023Arm64 || i.Architecture != ec2types.ArchitectureValuesArm64 {
		t.Fatalf("arm64: %s %s", awssdk.ToString(i.ImageId), i.Architecture)
	}
	e.w.AddAMI("ami-0123456789abcdef0", "router-image")
	e.w.AddSSMParameter("/gatestream/router-ami", "ami-0123456789abcdef0")
	custom := runInput("")
	custom.ImageId, custom.InstanceType = awssdk.String("resolve:ssm:/gatestream/router-ami"), ""
	if i := e.run(t, custom); awssdk.ToString(i.ImageId) != "ami-0123456789abcdef0" || i.InstanceType != ec2types.InstanceTypeM1Small {
		t.Fatalf("custom: %s %s", awssdk.ToString(i.ImageId), i.InstanceType)
	}

	cases := []struct {
		name  string
		mod   func(*ec2.RunInstancesInput)
		code  string
		inMsg string
	}{
		{"unknown ssm parameter", func(in *ec2.RunInstancesInput) { in.ImageId = awssdk.String("resolve:ssm:/no/such") }, "InvalidParameterValue", "/no/such"},
		{"unknown AMI", func(in *ec2.RunInstancesInput) { in.ImageId = awssdk.String("ami-0fedcba9876543210") }, "InvalidAMIID.NotFound", "ami-0fedcba9876543210"},
		{"malformed AMI", func(in *ec2.RunInstancesInput) { in.ImageId = awssdk.String("ami-xyz") }, "InvalidAMIID.Malformed", "ami-xyz"},
		{"ssm to a missing AMI", func(in *ec2.RunInstancesInput) {
			e.w.AddSSMParameter("/dangling", "ami-0000000000000dead")
			in.ImageId = awssdk.String("resolve:ssm:/dangling")
		}, "InvalidAMIID.NotFound", ""},
		{"architecture mismatch", func(in *ec2.RunInstancesInput) { in.InstanceType = ec2types.InstanceTypeT4gNano }, "InvalidParameterValue", "architecture"},
		{"no subnet", func(in *ec2.RunInstancesInput) { in.SubnetId = nil }, "MissingParameter", ""},
		{"unknown subnet", func(in *ec2.RunInstancesInput) { in.SubnetId = awssdk.String("subnet-0nope") }, "InvalidSubnetID.NotFound", ""},
		{"unknown group", func(in *ec2.RunInstancesInput) { in.SecurityGroupIds = []string{"sg-0nope"} }, "InvalidGroup.NotFound", ""},
		{"group of another VPC", func(in *ec2.RunInstancesInput) { in.SecurityGroupIds = []string{"sg-0other"} }, "InvalidParameter", "different networks"},
		{"two instances", func(in *ec2.RunInstancesInput) { in.MaxCount = awssdk.Int32(2) }, "InvalidParameterValue", ""},
		{"bad base64", func(in *ec2.RunInstancesInput) { in.UserData = awssdk.String("not base64!") }, "InvalidUserData.Malformed", "BASE64"},
		{"user data too long", func(in *ec2.RunInstancesInput) {
			in.UserData = awssdk.String(base64.StdEncoding.EncodeToString(make([]byte, 16*1024+1)))
		}, "InvalidUserData.Malformed", ""},
		{"reserved address", func(in *ec2.RunInstancesInput) { in.PrivateIpAddress = awssdk.String("10.0.1.2") }, "InvalidParameterValue", "reserved"},
		{"address outside", func(in *ec2.RunInstancesInput) { in.PrivateIpAddress = awssdk.String("10.0.2.9") }, "InvalidParameterValue", ""},
		{"address in use", func(in *ec2.RunInstancesInput) { in.PrivateIpAddress = awssdk.String("10.0.1.4") }, "InvalidIPAddress.InUse", ""},
		{"bad tag resource type", func(in *ec2.RunInstancesInput) { in.TagSpecifications[0].ResourceType = ec2types.ResourceTypeVpc }, "InvalidParameterValue", ""},
	}
	for _, c := range cases {
		in := runInput("")
		c.mod(in)
		_, err := e.ec2.RunInstances(ctx, in)
		wantCode(t, err, c.code)
		var ae smithy.APIError
		if c.inMsg != "" && (!errors.As(err, &ae) || !strings.Contains(ae.ErrorMessage(), c.inMsg)) {
			t.Errorf("%s: message %v lacks %q", c.name, err, c.inMsg)
		}
	}
	// A chosen free address is taken as given.
	fixed := runInput("")
	fixed.PrivateIpAddress = awssdk.String("10.0.1.200")
	if i := e.run(t, fixed); awssdk.ToString(i.PrivateIpAddress) != "10.0.1.200" {
		t.Fatalf("fixed address %s", awssdk.ToString(i.PrivateIpAddress))
	}
	// A full subnet: a /28 has 11 usable addresses (AWS reserves 4 + 1).
	e.w.AddSubnet("subnet-0tiny", "vpc-0abc", "10.0.9.0/28", "ap-northeast-1a")
	tiny := func() *ec2.RunInstancesInput {
		in := runInput("")
		in.SubnetId = awssdk.String("subnet-0tiny")
		return in
	}
	var ips []string
	for range 11 {
		ips = append(ips, awssdk.ToString(e.run(t, tiny()).PrivateIpAddress))
	}
	if ips[0] != "10.0.9.4" || ips[10] != "10.0.9.14" {
		t.Fatalf("tiny subnet addresses %v", ips)
	}
	_, err := e.ec2.RunInstances(ctx, tiny())
	wantCode(t, err, "InsufficientFreeAddressesInSubnet")
}

func TestInstanceLifecycleAndRoutes(t *testing.T) {
	e := newEnv(t, emu.Options{InstanceStartDelay: 30 * time.Second, InstanceStopDelay: 20 * time.Second,
		InstanceTerminateDelay: 10 * time.Second, InstanceStatusInitDelay: 2 * time.Minute})
	seed(e.w)
	i := e.run(t, runInput("tok"))
	id := awssdk.ToString(i.InstanceId)
	eni := awssdk.ToString(i.NetworkInterfaces[0].NetworkInterfaceId)

	// A route to the instance: EC2 shows both the instance and its interface.
	must(e.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: awssdk.String("rtb-0abc"),
		DestinationCidrBlock: awssdk.String("10.128.0.0/9"), InstanceId: awssdk.String(id)}))(t)
	r := e.routeTo(t, "rtb-0abc", "10.128.0.0/9")
	if awssdk.ToString(r.InstanceId) != id || awssdk.ToString(r.NetworkInterfaceId) != eni || awssdk.ToString(r.InstanceOwnerId) != "123456789012" ||
		r.Origin != ec2types.RouteOriginCreateRoute {
		t.Fatalf("route %+v", r)
	}
	state := func(want ec2types.InstanceStateName, route ec2types.RouteState) {
		t.Helper()
		if got := e.instanceState(t, id); got != want {
			t.Fatalf("instance state %s, want %s", got, want)
		}
		if got := e.routeTo(t, "rtb-0abc", "10.128.0.0/9").State; got != route {
			t.Fatalf("route state %s, want %s (instance %s)", got, route, want)
		}
	}
	state(ec2types.InstanceStateNamePending, ec2types.RouteStateBlackhole)
	e.clk.Step(29 * time.Second)
	state(ec2types.InstanceStateNamePending, ec2types.RouteStateBlackhole)
	_, err := e.ec2.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}})
	wantCode(t, err, "IncorrectInstanceState")
	e.clk.Step(time.Second)
	state(ec2types.InstanceStateNameRunning, ec2types.RouteStateActive)

	// Status checks: initializing, then ok; impaired on demand.
	status := func(all bool) []ec2types.InstanceStatus {
		return must(e.ec2.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{InstanceIds: []string{id}, IncludeAllInstances: awssdk.Bool(all)}))(t).InstanceStatuses
	}
	if s := status(false); len(s) != 1 || s[0].InstanceStatus.Status != ec2types.SummaryStatusInitializing ||
		s[0].SystemStatus.Status != ec2types.SummaryStatusInitializing || awssdk.ToString(s[0].AvailabilityZone) != "ap-northeast-1a" {
		t.Fatalf("initializing status %+v", s)
	}
	e.clk.Step(2 * time.Minute)
	if s := status(false); s[0].InstanceStatus.Status != ec2types.SummaryStatusOk || s[0].SystemStatus.Status != ec2types.SummaryStatusOk ||
		s[0].InstanceStatus.Details[0].Status != ec2types.StatusTypePassed {
		t.Fatalf("ok status %+v", s[0])
	}
	mustOK(t, e.w.SetInstanceImpaired(id, true))
	if s := status(false); s[0].InstanceStatus.Status != ec2types.SummaryStatusImpaired || s[0].SystemStatus.Status != ec2types.SummaryStatusOk ||
		s[0].InstanceStatus.Details[0].Status != ec2types.StatusTypeFailed {
		t.Fatalf("impaired status %+v", s[0])
	}
	mustOK(t, e.w.SetInstanceImpaired(id, false))
	mustOK(t, e.w.SetSystemImpaired(id, true))
	if s := status(false); s[0].InstanceStatus.Status != ec2types.SummaryStatusOk || s[0].SystemStatus.Status != ec2types.SummaryStatusImpaired {
		t.Fatalf("system impaired %+v", s[0])
	}
	mustOK(t, e.w.SetSystemImpaired(id, false))

	// Stop: stopping (blackhole), stopped; start: pending, running (active again).
	stop := must(e.ec2.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}}))(t).StoppingInstances
	if len(stop) != 1 || stop[0].CurrentState.Name != ec2types.InstanceStateNameStopping || stop[0].PreviousState.Name != ec2types.InstanceStateNameRunning ||
		awssdk.ToInt32(stop[0].CurrentState.Code) != 64 {
		t.Fatalf("stop %+v", stop)
	}
	state(ec2types.InstanceStateNameStopping, ec2types.RouteStateBlackhole)
	_, err = e.ec2.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{id}})
	wantCode(t, err, "IncorrectInstanceState")
	e.clk.Step(20 * time.Second)
	state(ec2types.InstanceStateNameStopped, ec2types.RouteStateBlackhole)
	if s := status(false); len(s) != 0 {
		t.Fatalf("status of a stopped instance without IncludeAllInstances: %+v", s)
	}
	if s := status(true); len(s) != 1 || s[0].InstanceStatus.Status != ec2types.SummaryStatusNotApplicable || s[0].InstanceState.Name != ec2types.InstanceStateNameStopped {
		t.Fatalf("status of a stopped instance %+v", s)
	}
	if got := e.describeInstance(t, id); got.StateReason == nil || awssdk.ToString(got.StateReason.Code) != "Client.UserInitiatedShutdown" ||
		awssdk.ToString(got.PrivateIpAddress) != "10.0.1.4" {
		t.Fatalf("stopped instance %+v", got)
	}
	start := must(e.ec2.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{id}}))(t).StartingInstances
	if start[0].CurrentState.Name != ec2types.InstanceStateNamePending || start[0].PreviousState.Name != ec2types.InstanceStateNameStopped {
		t.Fatalf("start %+v", start)
	}
	state(ec2types.InstanceStateNamePending, ec2types.RouteStateBlackhole)
	e.clk.Step(30 * time.Second)
	state(ec2types.InstanceStateNameRunning, ec2types.RouteStateActive)
	if s := status(false); s[0].InstanceStatus.Status != ec2types.SummaryStatusInitializing {
		t.Fatalf("restart status %+v", s[0])
	}

	// Terminate: shutting-down, terminated; the interface goes, the route is a blackhole.
	term := must(e.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}))(t).TerminatingInstances
	if term[0].CurrentState.Name != ec2types.InstanceStateNameShuttingDown || term[0].PreviousState.Name != ec2types.InstanceStateNameRunning {
		t.Fatalf("terminate %+v", term)
	}
	state(ec2types.InstanceStateNameShuttingDown, ec2types.RouteStateBlackhole)
	if _, ok := e.w.NetworkInterface(eni); !ok {
		t.Fatal("interface deleted before the instance terminated")
	}
	e.clk.Step(10 * time.Second)
	state(ec2types.InstanceStateNameTerminated, ec2types.RouteStateBlackhole)
	_, err = e.ec2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{eni}})
	wantCode(t, err, "InvalidNetworkInterfaceID.NotFound")
	if got := e.describeInstance(t, id); got.SubnetId != nil || got.PrivateIpAddress != nil || len(got.NetworkInterfaces) != 0 {
		t.Fatalf("terminated instance keeps its network: %+v", got)
	}
	if r := e.routeTo(t, "rtb-0abc", "10.128.0.0/9"); awssdk.ToString(r.NetworkInterfaceId) != eni || awssdk.ToString(r.InstanceId) != id {
		t.Fatalf("blackholed route lost its target: %+v", r)
	}
	// Terminating again is fine (TerminateInstances is idempotent); the address is free again.
	again := must(e.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}))(t).TerminatingInstances
	if again[0].CurrentState.Name != ec2types.InstanceStateNameTerminated {
		t.Fatalf("terminate again %+v", again)
	}
	if i := e.run(t, runInput("next")); awssdk.ToString(i.PrivateIpAddress) != "10.0.1.4" {
		t.Fatalf("address not reused: %s", awssdk.ToString(i.PrivateIpAddress))
	}
	// Routes cannot target a terminated instance.
	_, err = e.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: awssdk.String("rtb-0abc"),
		DestinationCidrBlock: awssdk.String("100.64.0.0/16"), InstanceId: awssdk.String(id)})
	wantCode(t, err, "IncorrectInstanceState")

	// An hour later the terminated instance is gone.
	e.clk.Step(time.Hour)
	_, err = e.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	wantCode(t, err, "InvalidInstanceID.NotFound")
	var ae smithy.APIError
	if errors.As(err, &ae); ae.ErrorMessage() != fmt.Sprintf("The instance ID '%s' does not exist", id) {
		t.Fatalf("message %q", ae.ErrorMessage())
	}
	if _, ok := e.w.Instance(id); ok {
		t.Fatal("world still shows the instance")
	}
	_, err = e.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-nothex"}})
	wantCode(t, err, "InvalidInstanceID.Malformed")
	_, err = e.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	wantCode(t, err, "InvalidInstanceID.NotFound")
}

func TestRoutesToNetworkInterfaces(t *testing.T) {
	e := newEnv(t, emu.Options{})
	seed(e.w)
	e.w.AddVPC("vpc-0other", "172.16.0.0/16")
	e.w.AddSubnet("subnet-0other", "vpc-0other", "172.16.1.0/24", "ap-northeast-1a")
	i := e.run(t, runInput("r1"))
	id, eni := awssdk.ToString(i.InstanceId), awssdk.ToString(i.NetworkInterfaces[0].NetworkInterfaceId)
	otherIn := runInput("r2")
	otherIn.SubnetId, otherIn.SecurityGroupIds = awssdk.String("subnet-0other"), nil
	otherENI := awssdk.ToString(e.run(t, otherIn).NetworkInterfaces[0].NetworkInterfaceId)

	must(e.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: awssdk.String("rtb-0abc"),
		DestinationCidrBlock: awssdk.String("10.128.0.0/9"), NetworkInterfaceId: awssdk.String(eni)}))(t)
	if r := e.routeTo(t, "rtb-0abc", "10.128.0.0/9"); awssdk.ToString(r.NetworkInterfaceId) != eni || awssdk.ToString(r.InstanceId) != id ||
		r.State != ec2types.RouteStateActive {
		t.Fatalf("route via interface %+v", r)
	}
	byInst := must(e.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{filter("route.instance-id", id)}}))(t).RouteTables
	if len(byInst) != 1 || awssdk.ToString(byInst[0].RouteTableId) != "rtb-0abc" {
		t.Fatalf("route.instance-id filter %+v", byInst)
	}
	rt, _ := e.w.RouteTable("rtb-0abc")
	if r := rt.Routes[len(rt.Routes)-1]; r.NetworkInterfaceID != eni || r.InstanceID != id || r.State != "active" {
		t.Fatalf("world route %+v", r)
	}

	// Replace a peering route by an interface route.
	pcx, _ := e.w.RequestPeering("950858143650", "vpc-0soracom", "100.64.0.0/16", "", "vpc-0abc", "")
	must(e.ec2.AcceptVpcPeeringConnection(ctx, &ec2.AcceptVpcPeeringConnectionInput{VpcPeeringConnectionId: awssdk.String(pcx)}))(t)
	must(e.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: awssdk.String("rtb-0abc"),
		DestinationCidrBlock: awssdk.String("100.64.0.0/16"), VpcPeeringConnectionId: awssdk.String(pcx)}))(t)
	must(e.ec2.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: awssdk.String("rtb-0abc"),
		DestinationCidrBlock: awssdk.String("100.64.0.0/16"), InstanceId: awssdk.String(id)}))(t)
	if r := e.routeTo(t, "rtb-0abc", "100.64.0.0/16"); r.VpcPeeringConnectionId != nil || awssdk.ToString(r.NetworkInterfaceId) != eni {
		t.Fatalf("replaced %+v", r)
	}
	// And back to the peering.
	must(e.ec2.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: awssdk.String("rtb-0abc"),
		DestinationCidrBlock: awssdk.String("100.64.0.0/16"), VpcPeeringConnectionId: awssdk.String(pcx)}))(t)
	if r := e.routeTo(t, "rtb-0abc", "100.64.0.0/16"); r.NetworkInterfaceId != nil || r.InstanceId != nil || awssdk.ToString(r.VpcPeeringConnectionId) != pcx {
		t.Fatalf("replaced back %+v", r)
	}

	// A route more specific than the VPC's: only to an interface, only for a subnet's CIDR.
	must(e.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: awssdk.String("rtb-0main"),
		DestinationCidrBlock: awssdk.String("10.0.2.0/24"), NetworkInterfaceId: awssdk.String(eni)}))(t)
	_, err := e.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: awssdk.String("rtb-0main"),
		DestinationCidrBlock: awssdk.String("10.0.5.0/24"), NetworkInterfaceId: awssdk.String(eni)})
	wantCode(t, err, "InvalidParameterValue")

	for _, c := range []struct {
		in   *ec2.CreateRouteInput
		code string
	}{
		{&ec2.CreateRouteInput{NetworkInterfaceId: awssdk.String("eni-0123456789abcdef0")}, "InvalidNetworkInterfaceID.NotFound"},
		{&ec2.CreateRouteInput{NetworkInterfaceId: awssdk.String("eni-bad")}, "InvalidNetworkInterfaceID.Malformed"},
		{&ec2.CreateRouteInput{NetworkInterfaceId: awssdk.String(otherENI)}, "InvalidParameterValue"},
		{&ec2.CreateRouteInput{InstanceId: awssdk.String("i-0123456789abcdef0")}, "InvalidInstanceID.NotFound"},
		{&ec2.CreateRouteInput{InstanceId: awssdk.String(id), NetworkInterfaceId: awssdk.String(eni)}, "InvalidParameterCombination"},
		{&ec2.CreateRouteInput{NatGatewayId: awssdk.String("nat-0a")}, "InvalidParameterValue"},
	} {
		c.in.RouteTableId, c.in.DestinationCidrBlock = awssdk.String("rtb-0abc"), awssdk.String("192.168.0.0/16")
		_, err := e.ec2.CreateRoute(ctx, c.in)
		wantCode(t, err, c.code)
	}

	// Test helpers: a route the API would refuse, and its removal.
	mustOK(t, e.w.PutRoute("rtb-0abc", emu.Route{DestinationCidrBlock: "192.168.0.0/16", NetworkInterfaceID: "eni-0000000000000dead"}))
	if r := e.routeTo(t, "rtb-0abc", "192.168.0.0/16"); r.State != ec2types.RouteStateBlackhole {
		t.Fatalf("put route %+v", r)
	}
	if !e.w.RemoveRoute("rtb-0abc", "192.168.0.0/16") || e.w.RemoveRoute("rtb-0abc", "192.168.0.0/16") {
		t.Fatal("RemoveRoute")
	}
}

func TestSourceDestCheckAndUserData(t *testing.T) {
	e := newEnv(t, emu.Options{})
	seed(e.w)
	script := "#!/bin/bash\nip link add vxlan0 type vxlan id 10 remote 100.64.0.1 dstport 4789\n"
	in := runInput("ud")
	in.UserData = awssdk.String(base64.StdEncoding.EncodeToString([]byte(script)))
	i := e.run(t, in)
	id, eni := awssdk.ToString(i.InstanceId), awssdk.ToString(i.NetworkInterfaces[0].NetworkInterfaceId)

	ud := must(e.ec2.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: awssdk.String(id),
		Attribute: ec2types.InstanceAttributeNameUserData}))(t)
	if ud.UserData == nil || awssdk.ToString(ud.UserData.Value) != awssdk.ToString(in.UserData) || awssdk.ToString(ud.InstanceId) != id {
		t.Fatalf("userData %+v", ud.UserData)
	}
	if got, _ := e.w.Instance(id); got.UserData != script {
		t.Fatalf("decoded user data %q", got.UserData)
	}
	none := e.run(t, runInput("no-ud"))
	ud = must(e.ec2.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: none.InstanceId,
		Attribute: ec2types.InstanceAttributeNameUserData}))(t)
	if ud.UserData != nil && ud.UserData.Value != nil {
		t.Fatalf("userData of an instance without: %+v", ud.UserData)
	}
	_, err := e.ec2.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: awssdk.String("i-0123456789abcdef0"),
		Attribute: ec2types.InstanceAttributeNameUserData})
	wantCode(t, err, "InvalidInstanceID.NotFound")

	check := func(want bool) {
		t.Helper()
		a := must(e.ec2.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{InstanceId: awssdk.String(id),
			Attribute: ec2types.InstanceAttributeNameSourceDestCheck}))(t)
		n := must(e.ec2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{eni}}))(t).NetworkInterfaces
		inst := e.describeInstance(t, id)
		w, _ := e.w.Instance(id)
		if awssdk.ToBool(a.SourceDestCheck.Value) != want || awssdk.ToBool(n[0].SourceDestCheck) != want ||
			awssdk.ToBool(inst.SourceDestCheck) != want || awssdk.ToBool(inst.NetworkInterfaces[0].SourceDestCheck) != want ||
			w.SourceDestCheck != want || w.NetworkInterfaces[0].SourceDestCheck != want {
			t.Fatalf("source/dest check: want %v: attribute %v, interface %v, instance %v", want,
				awssdk.ToBool(a.SourceDestCheck.Value), awssdk.ToBool(n[0].SourceDestCheck), awssdk.ToBool(inst.SourceDestCheck))
		}
	}
	check(true)
	must(e.ec2.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: awssdk.String(eni),
		SourceDestCheck: &ec2types.AttributeBooleanValue{Value: awssdk.Bool(false)}}))(t)
	check(false)
	must(e.ec2.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: awssdk.String(id),
		SourceDestCheck: &ec2types.AttributeBooleanValue{Value: awssdk.Bool(true)}}))(t)
	check(true)
	mustOK(t, e.w.SetSourceDestCheck(eni, false))
	check(false)
	_, err = e.ec2.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: awssdk.String("eni-0123456789abcdef0"),
		SourceDestCheck: &ec2types.AttributeBooleanValue{Value: awssdk.Bool(false)}})
	wantCode(t, err, "InvalidNetworkInterfaceID.NotFound")
	_, err = e.ec2.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{InstanceId: awssdk.String(id),
		InstanceType: &ec2types.AttributeValue{Value: awssdk.String("t3.large")}})
	wantCode(t, err, "InvalidParameterValue")

	// Security groups of an interface.
	e.w.AddSecurityGroup(emu.SecurityGroup{ID: "sg-0b", VPCID: "vpc-0abc", Name: "router"})
	must(e.ec2.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: awssdk.String(eni),
		Groups: []string{"sg-0b"}}))(t)
	if got, _ := e.w.Instance(id); !slices.Equal(got.SecurityGroupIDs, []string{"sg-0b"}) {
		t.Fatalf("groups %v", got.SecurityGroupIDs)
	}
}

func TestDescribeInstancesFiltersAndPages(t *testing.T) {
	e := newEnv(t, emu.Options{})
	seed(e.w)
	var ids []string
	for n := range 7 {
		in := runInput(fmt.Sprintf("tok-%d", n))
		if n%2 == 1 {
			in.SubnetId = awssdk.String("subnet-0b")
			in.TagSpecifications[0].Tags = []ec2types.Tag{{Key: awssdk.String("role"), Value: awssdk.String("other")},
				{Key: awssdk.String("env"), Value: awssdk.String("x")}}
		}
		ids = append(ids, awssdk.ToString(e.run(t, in).InstanceId))
	}
	mustOK(t, e.w.StopInstance(ids[0]))

	count := func(fs ...ec2types.Filter) int {
		t.Helper()
		n := 0
		for _, r := range must(e.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: fs}))(t).Reservations {
			n += len(r.Instances)
		}
		return n
	}
	for name, c := range map[string]struct {
		fs   []ec2types.Filter
		want int
	}{
		"tag":             {[]ec2types.Filter{filter("tag:role", "router")}, 4},
		"tag wildcard":    {[]ec2types.Filter{filter("tag:role", "rou*")}, 4},
		"tag-key":         {[]ec2types.Filter{filter("tag-key", "env")}, 3},
		"state":           {[]ec2types.Filter{filter("instance-state-name", "running")}, 6},
		"states ORed":     {[]ec2types.Filter{filter("instance-state-name", "running", "stopped")}, 7},
		"subnet":          {[]ec2types.Filter{filter("subnet-id", "subnet-0b")}, 3},
		"vpc":             {[]ec2types.Filter{filter("vpc-id", "vpc-0abc")}, 7},
		"ANDed":           {[]ec2types.Filter{filter("tag:role", "router"), filter("instance-state-name", "stopped")}, 1},
		"client-token":    {[]ec2types.Filter{filter("client-token", "tok-3")}, 1},
		"instance-id":     {[]ec2types.Filter{filter("instance-id", ids[2], "i-0123456789abcdef0")}, 1},
		"no such subnet":  {[]ec2types.Filter{filter("subnet-id", "subnet-0nope")}, 0},
		"private address": {[]ec2types.Filter{filter("private-ip-address", "10.0.1.4")}, 1},
	} {
		if got := count(c.fs...); got != c.want {
			t.Errorf("%s: %d instances, want %d", name, got, c.want)
		}
	}
	w, _ := e.w.Instance(ids[3])
	if got := count(filter("network-interface.network-interface-id", w.NetworkInterfaceID)); got != 1 {
		t.Errorf("by interface: %d", got)
	}
	_, err := e.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{filter("no-such-filter", "x")}})
	wantCode(t, err, "InvalidParameterValue")

	// Pagination (the SDK paginator).
	var seen []string
	pages := 0
	pg := ec2.NewDescribeInstancesPaginator(e.ec2, &ec2.DescribeInstancesInput{MaxResults: awssdk.Int32(5)})
	for pg.HasMorePages() {
		out := must(pg.NextPage(ctx))(t)
		pages++
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				seen = append(seen, awssdk.ToString(i.InstanceId))
			}
		}
	}
	if pages != 2 || len(seen) != 7 || !slices.Equal(seen, ids) {
		t.Fatalf("pages %d, seen %v, want %v (launch order)", pages, seen, ids)
	}
	_, err = e.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: awssdk.Int32(5), InstanceIds: ids[:1]})
	wantCode(t, err, "InvalidParameterCombination")
	_, err = e.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{ids[0], "i-0123456789abcdef0"}})
	wantCode(t, err, "InvalidInstanceID.NotFound")

	// Network interfaces: by instance, tag, subnet; pages.
	enis := func(fs ...ec2types.Filter) []ec2types.NetworkInterface {
		return must(e.ec2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: fs}))(t).NetworkInterfaces
	}
	if got := enis(filter("attachment.instance-id", ids[1])); len(got) != 1 || awssdk.ToString(got[0].Attachment.InstanceId) != ids[1] ||
		awssdk.ToString(got[0].SubnetId) != "subnet-0b" || awssdk.ToString(got[0].AvailabilityZone) != "ap-northeast-1c" ||
		got[0].Status != ec2types.NetworkInterfaceStatusInUse || awssdk.ToString(got[0].VpcId) != "vpc-0abc" ||
		len(got[0].TagSet) != 1 || awssdk.ToString(got[0].TagSet[0].Value) != "router-eni" || !awssdk.ToBool(got[0].Attachment.DeleteOnTermination) ||
		awssdk.ToString(got[0].PrivateIpAddress) == "" || len(got[0].Groups) != 1 {
		t.Fatalf("interface by instance %+v", got)
	}
	if got := enis(filter("tag:role", "router-eni"), filter("subnet-id", "subnet-0a")); len(got) != 4 {
		t.Fatalf("interfaces by tag and subnet: %d", len(got))
	}
	if got := enis(filter("vpc-id", "vpc-0abc")); len(got) != 7 {
		t.Fatalf("interfaces by vpc: %d", len(got))
	}
	n := 0
	pe := ec2.NewDescribeNetworkInterfacesPaginator(e.ec2, &ec2.DescribeNetworkInterfacesInput{MaxResults: awssdk.Int32(5)})
	for pe.HasMorePages() {
		n += len(must(pe.NextPage(ctx))(t).NetworkInterfaces)
	}
	if n != 7 {
		t.Fatalf("paged interfaces %d", n)
	}
}

func TestSecurityGroupRules(t *testing.T) {
	e := newEnv(t, emu.Options{})
	seed(e.w)
	vxlan := ec2types.IpPermission{IpProtocol: awssdk.String("udp"), FromPort: awssdk.Int32(4789), ToPort: awssdk.Int32(4789),
		IpRanges: []ec2types.IpRange{{CidrIp: awssdk.String("100.64.0.0/16")}}}
	must(e.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: awssdk.String("sg-0a"),
		IpPermissions: []ec2types.IpPermission{vxlan}}))(t)
	_, err := e.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: awssdk.String("sg-0a"),
		IpPermissions: []ec2types.IpPermission{vxlan}})
	wantCode(t, err, "InvalidPermission.Duplicate")
	sg := must(e.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-0a"}}))(t).SecurityGroups[0]
	if len(sg.IpPermissions) != 2 || awssdk.ToString(sg.IpPermissions[1].IpProtocol) != "udp" || awssdk.ToInt32(sg.IpPermissions[1].FromPort) != 4789 {
		t.Fatalf("ingress %+v", sg.IpPermissions)
	}
	// Protocol numbers are spelled as names; a second CIDR joins the rule.
	must(e.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: awssdk.String("sg-0a"),
		IpPermissions: []ec2types.IpPermission{{IpProtocol: awssdk.String("17"), FromPort: awssdk.Int32(4789), ToPort: awssdk.Int32(4789),
			IpRanges: []ec2types.IpRange{{CidrIp: awssdk.String("10.0.0.0/16")}}}}}))(t)
	g := e.w.NetworkSnapshot().SecurityGroups[0]
	if len(g.Ingress) != 2 || !slices.Equal(g.Ingress[1].CIDRs, []string{"100.64.0.0/16", "10.0.0.0/16"}) {
		t.Fatalf("rules %+v", g.Ingress)
	}
	must(e.ec2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: awssdk.String("sg-0a"),
		IpPermissions: []ec2types.IpPermission{vxlan}}))(t)
	_, err = e.ec2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: awssdk.String("sg-0a"),
		IpPermissions: []ec2types.IpPermission{vxlan}})
	wantCode(t, err, "InvalidPermission.NotFound")
	must(e.ec2.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: awssdk.String("sg-0a"),
		IpPermissions: []ec2types.IpPermission{{IpProtocol: awssdk.String("-1"), IpRanges: []ec2types.IpRange{{CidrIp: awssdk.String("0.0.0.0/0")}}}}}))(t)
	must(e.ec2.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: awssdk.String("sg-0a"),
		IpPermissions: []ec2types.IpPermission{{IpProtocol: awssdk.String("tcp"), FromPort: awssdk.Int32(22), ToPort: awssdk.Int32(22),
			IpRanges: []ec2types.IpRange{{CidrIp: awssdk.String("10.128.0.0/9")}}}}}))(t)
	g = e.w.NetworkSnapshot().SecurityGroups[0]
	if len(g.Egress) != 1 || g.Egress[0].Protocol != "tcp" || g.Egress[0].FromPort != 22 || len(g.Ingress) != 2 {
		t.Fatalf("after revoke/authorize: %+v", g)
	}
	_, err = e.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: awssdk.String("sg-0nope"),
		IpPermissions: []ec2types.IpPermission{vxlan}})
	wantCode(t, err, "InvalidGroup.NotFound")
	_, err = e.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: awssdk.String("sg-0a"),
		IpPermissions: []ec2types.IpPermission{{IpProtocol: awssdk.String("tcp"), FromPort: awssdk.Int32(30), ToPort: awssdk.Int32(20),
			IpRanges: []ec2types.IpRange{{CidrIp: awssdk.String("10.0.0.0/8")}}}}})
	wantCode(t, err, "InvalidParameterValue")

	if !e.w.SetSecurityGroupRules("sg-0a", nil, []emu.Rule{{Protocol: "-1", CIDRs: []string{"0.0.0.0/0"}}}) || e.w.SetSecurityGroupRules("sg-0nope", nil, nil) {
		t.Fatal("SetSecurityGroupRules")
	}
	sg = must(e.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-0a"}}))(t).SecurityGroups[0]
	if len(sg.IpPermissions) != 0 || len(sg.IpPermissionsEgress) != 1 {
		t.Fatalf("after SetSecurityGroupRules %+v", sg)
	}
}

func TestNetworkSnapshot(t *testing.T) {
	e := newEnv(t, emu.Options{})
	seed(e.w)
	// A fleet over a tiny subnet and subnet-0a: sessions spill into the second subnet.
	e.w.AddSubnet("subnet-0tiny", "vpc-0abc", "10.0.9.0/28", "ap-northeast-1a")
	in := fleetInput("fleet", 20)
	in.VpcConfig.SubnetIds = []string{"subnet-0tiny", "subnet-0a"}
	must(e.as.CreateFleet(ctx, in))(t)
	e.runningFleetStack(t, "fleet", "stack")
	router := runInput("router")
	router.SubnetId = awssdk.String("subnet-0tiny")
	router.UserData = awssdk.String(base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\n")))
	ri := e.run(t, router)
	eni := awssdk.ToString(ri.NetworkInterfaces[0].NetworkInterfaceId)
	must(e.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: awssdk.String("rtb-0abc"),
		DestinationCidrBlock: awssdk.String("10.128.0.0/9"), NetworkInterfaceId: awssdk.String(eni)}))(t)
	for n := range 12 {
		u := must(e.as.CreateStreamingURL(ctx, urlInput(fmt.Sprintf("user-%d", n))))(t)
		if code, page := get(t, awssdk.ToString(u.StreamingURL)); code != 200 {
			t.Fatalf("open %d: %d %s", n, code, page)
		}
	}

	s := e.w.NetworkSnapshot()
	if !s.Time.Equal(t0) || s.AccountID != "123456789012" || s.Region != region || len(s.VPCs) != 1 || len(s.Subnets) != 3 ||
		len(s.RouteTables) != 2 || len(s.SecurityGroups) != 1 || len(s.Instances) != 1 || len(s.NetworkInterfaces) != 1 {
		t.Fatalf("snapshot %+v", s)
	}
	if i := s.Instances[0]; i.UserData != "#!/bin/sh\n" || i.State != emu.InstanceRunning || i.SubnetID != "subnet-0tiny" || i.PrivateIP != "10.0.9.4" ||
		i.NetworkInterfaceID != eni || i.InstanceStatus != emu.StatusOK {
		t.Fatalf("snapshot instance %+v", i)
	}
	var rtb emu.RouteTable
	for _, rt := range s.RouteTables {
		if rt.ID == "rtb-0abc" {
			rtb = rt
		}
	}
	if r := rtb.Routes[len(rtb.Routes)-1]; r.NetworkInterfaceID != eni || r.State != "active" {
		t.Fatalf("snapshot route %+v", r)
	}
	if f := s.Fleets; len(f) != 1 || f[0].State != "RUNNING" || !slices.Equal(f[0].SubnetIDs, []string{"subnet-0tiny", "subnet-0a"}) ||
		!slices.Equal(f[0].SecurityGroupIDs, []string{"sg-0a"}) {
		t.Fatalf("snapshot fleets %+v", f)
	}
	// Every session address is inside the subnet recorded for it, and unique
	// (the router's address included).
	taken := map[string]bool{"10.0.9.4": true}
	perSubnet := map[string]int{}
	for _, ss := range s.Sessions {
		var cidr string
		for _, sn := range s.Subnets {
			if sn.ID == ss.SubnetId {
				cidr = sn.CIDR
			}
		}
		a, err := netip.ParseAddr(ss.EniPrivateIpAddress)
		if err != nil || cidr == "" || !netip.MustParsePrefix(cidr).Contains(a) || taken[ss.EniPrivateIpAddress] || ss.FleetName != "fleet" {
			t.Fatalf("session %s: address %s subnet %s (%s)", ss.Id, ss.EniPrivateIpAddress, ss.SubnetId, cidr)
		}
		taken[ss.EniPrivateIpAddress] = true
		perSubnet[ss.SubnetId]++
	}
	// The /28 has 11 usable addresses, one of them the router's.
	if perSubnet["subnet-0tiny"] != 10 || perSubnet["subnet-0a"] != 2 {
		t.Fatalf("sessions per subnet %v", perSubnet)
	}

	// Deep copies: changing the snapshot changes nothing in the world.
	s.Instances[0].SecurityGroupIDs[0] = "sg-changed"
	s.RouteTables[0].Routes[0].State = "changed"
	s.SecurityGroups[0].Ingress[0].CIDRs[0] = "1.1.1.1/32"
	again := e.w.NetworkSnapshot()
	if again.Instances[0].SecurityGroupIDs[0] != "sg-0a" || again.RouteTables[0].Routes[0].State == "changed" ||
		again.SecurityGroups[0].Ingress[0].CIDRs[0] != "10.0.0.0/16" {
		t.Fatal("snapshot shares memory with the world")
	}
	// The clock applies: terminating the router blackholes the route in the next snapshot.
	mustOK(t, e.w.TerminateInstance(awssdk.ToString(ri.InstanceId)))
	later := e.w.NetworkSnapshot()
	if len(later.NetworkInterfaces) != 0 || later.Instances[0].State != emu.InstanceTerminated {
		t.Fatalf("after terminate: %+v %+v", later.NetworkInterfaces, later.Instances)
	}
	for _, rt := range later.RouteTables {
		for _, r := range rt.Routes {
			if r.NetworkInterfaceID == eni && r.State != "blackhole" {
				t.Fatalf("route after terminate %+v", r)
			}
		}
	}
}

// runningFleetStack creates stack s, associates it with the existing fleet f and starts f.
func (e *env) runningFleetStack(t *testing.T, f, s string) {
	t.Helper()
	must(e.as.CreateStack(ctx, &appstream.CreateStackInput{Name: awssdk.String(s)}))(t)
	must(e.as.AssociateFleet(ctx, &appstream.AssociateFleetInput{FleetName: awssdk.String(f), StackName: awssdk.String(s)}))(t)
	must(e.as.StartFleet(ctx, &appstream.StartFleetInput{Name: awssdk.String(f)}))(t)
}

// A launch whose answer is lost is launched once: the retry carries the same
// client token (here the one the SDK made up and wrote into the input).
func TestRunInstancesThroughFaults(t *testing.T) {
	e := newEnv(t, emu.Options{})
	seed(e.w)
	faults := e.w.Faults()
	faults.Add(fault.Rule{API: "ec2", Op: "RunInstances", Kind: fault.LoseResponse, Times: 1})
	in := runInput("")
	if _, err := e.ec2.RunInstances(ctx, in); err == nil {
		t.Fatal("lost response: no error")
	}
	if n := len(e.w.Instances()); n != 1 || awssdk.ToString(in.ClientToken) == "" {
		t.Fatalf("lost response: %d instances, token %q", n, awssdk.ToString(in.ClientToken))
	}
	i := e.run(t, in)
	if n := len(e.w.Instances()); n != 1 || awssdk.ToString(i.InstanceId) != e.w.Instances()[0].ID {
		t.Fatalf("retry launched again: %d instances", n)
	}
	// A throttled launch succeeds on the SDK's retry, once.
	faults.Add(fault.Rule{API: "ec2", Op: "RunInstances", Kind: fault.Throttle, Times: 1})
	faults.ClearLog()
	must(e.ec2Client(fastRetryer()).RunInstances(ctx, runInput("throttled")))(t)
	if calls := faults.Calls("ec2", "RunInstances"); len(calls) != 2 || calls[0].Fault != fault.Throttle || len(e.w.Instances()) != 2 {
		t.Fatalf("throttled launch: calls %+v, %d instances", calls, len(e.w.Instances()))
	}
}
