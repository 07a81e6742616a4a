package aws

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	emu "github.com/gatestream/gatestream/internal/emulator/aws"
)

const routerScript = "#!/bin/bash\nip link add vxlan0 type vxlan id 10 remote 100.64.0.1 dstport 4789\n"

func routerInput(token string) RunInstanceInput {
	return RunInstanceInput{
		ClientToken: token, ImageID: "resolve:ssm:" + emu.SSMParamAL2023X8664, InstanceType: "t3.micro",
		SubnetID: "subnet-0a", SecurityGroupIDs: []string{"sg-0a"}, UserData: routerScript,
		Tags: map[string]string{"gatestream.io/environment": "env-a", "Name": "gatestream-router"},
	}
}

func TestEC2Instances(t *testing.T) {
	e := newTestEnv(t, emu.Options{InstanceStartDelay: time.Minute, InstanceTerminateDelay: 30 * time.Second})
	c := e.clients(t, e.config()).EC2
	ctx := context.Background()

	i := must(c.RunInstance(ctx, routerInput("env-a-router-1")))(t)
	id := awssdk.ToString(i.InstanceId)
	if i.State.Name != ec2types.InstanceStateNamePending || awssdk.ToString(i.ImageId) != emu.AMIAL2023X8664 ||
		awssdk.ToString(i.SubnetId) != "subnet-0a" || len(i.Tags) != 2 || len(i.NetworkInterfaces) != 1 {
		t.Fatalf("RunInstance: %+v", i)
	}
	eni := awssdk.ToString(i.NetworkInterfaces[0].NetworkInterfaceId)

	// Idempotency by client token; a mismatch is a configuration error.
	again := must(c.RunInstance(ctx, routerInput("env-a-router-1")))(t)
	if awssdk.ToString(again.InstanceId) != id || len(e.w.Instances()) != 1 {
		t.Fatalf("retried RunInstance launched %s (first %s), world has %d", awssdk.ToString(again.InstanceId), id, len(e.w.Instances()))
	}
	changed := routerInput("env-a-router-1")
	changed.UserData += "echo changed\n"
	_, err := c.RunInstance(ctx, changed)
	wantCode(t, err, "IdempotentParameterMismatch")
	if !IsTerminal(err) || IsRetryable(err) || IsNotFound(err) {
		t.Fatalf("mismatch must be terminal: %v", err)
	}
	bad := routerInput("")
	bad.ImageID = "ami-0fedcba9876543210"
	if _, err := c.RunInstance(ctx, bad); Code(err) != "InvalidAMIID.NotFound" || !IsTerminal(err) || IsNotFound(err) {
		t.Fatalf("unknown AMI: want a terminal InvalidAMIID.NotFound, got %v", err)
	}
	bad.ImageID = "resolve:ssm:/no/such/parameter"
	if _, err := c.RunInstance(ctx, bad); !IsTerminal(err) {
		t.Fatalf("unknown SSM parameter: want terminal, got %v", err)
	}

	// Describe by ID: missing IDs are left out.
	if got := must(c.DescribeInstances(ctx, []string{id, "i-0123456789abcdef0"}))(t); len(got) != 1 || awssdk.ToString(got[0].InstanceId) != id {
		t.Fatalf("DescribeInstances: %+v", got)
	}
	if got := must(c.DescribeInstances(ctx, nil))(t); len(got) != 0 {
		t.Fatalf("DescribeInstances(nil) must describe nothing, got %d", len(got))
	}
	if got := must(c.InstancesByTag(ctx, "gatestream.io/environment", "env-a"))(t); len(got) != 1 {
		t.Fatalf("InstancesByTag: %d", len(got))
	}
	if got := must(c.InstancesByTag(ctx, "gatestream.io/environment", "env-b"))(t); len(got) != 0 {
		t.Fatalf("InstancesByTag(other): %d", len(got))
	}

	// User data round trip; an instance without user data has "".
	if ud := must(c.InstanceUserData(ctx, id))(t); ud != routerScript {
		t.Fatalf("InstanceUserData = %q", ud)
	}
	plain := routerInput("")
	plain.UserData, plain.Tags = "", nil
	other := must(c.RunInstance(ctx, plain))(t)
	if ud := must(c.InstanceUserData(ctx, awssdk.ToString(other.InstanceId)))(t); ud != "" {
		t.Fatalf("InstanceUserData(none) = %q", ud)
	}
	if _, err := c.InstanceUserData(ctx, "i-0123456789abcdef0"); !IsNotFound(err) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("InstanceUserData(absent): want not found, got %v", err)
	}

	// Status checks (pending counts as not impaired).
	if imp := must(c.InstanceImpaired(ctx, id))(t); imp {
		t.Fatal("pending instance impaired")
	}
	e.clk.Step(time.Minute)
	noErr(t, e.w.SetInstanceImpaired(id, true))
	if imp := must(c.InstanceImpaired(ctx, id))(t); !imp {
		t.Fatal("instance status impaired not reported")
	}
	noErr(t, e.w.SetInstanceImpaired(id, false))
	noErr(t, e.w.SetSystemImpaired(id, true))
	if imp := must(c.InstanceImpaired(ctx, id))(t); !imp {
		t.Fatal("system status impaired not reported")
	}
	noErr(t, e.w.SetSystemImpaired(id, false))
	if imp := must(c.InstanceImpaired(ctx, id))(t); imp {
		t.Fatal("healthy instance impaired")
	}
	if _, err := c.InstanceImpaired(ctx, "i-0123456789abcdef0"); !IsNotFound(err) {
		t.Fatalf("InstanceImpaired(absent): want not found, got %v", err)
	}

	// Network interface: tags, source/destination check.
	ns := must(c.DescribeNetworkInterfaces(ctx, []string{eni, "eni-0123456789abcdef0"}))(t)
	if len(ns) != 1 || !awssdk.ToBool(ns[0].SourceDestCheck) || len(ns[0].TagSet) != 2 || awssdk.ToString(ns[0].Attachment.InstanceId) != id {
		t.Fatalf("DescribeNetworkInterfaces: %+v", ns)
	}
	noErr(t, c.SetSourceDestCheck(ctx, eni, false))
	if n, _ := e.w.NetworkInterface(eni); n.SourceDestCheck {
		t.Fatal("source/dest check still on")
	}
	if ns := must(c.DescribeNetworkInterfaces(ctx, []string{eni}))(t); awssdk.ToBool(ns[0].SourceDestCheck) {
		t.Fatal("DescribeNetworkInterfaces still shows the check on")
	}
	if err := c.SetSourceDestCheck(ctx, "eni-0123456789abcdef0", false); !IsNotFound(err) {
		t.Fatalf("SetSourceDestCheck(absent): want not found, got %v", err)
	}

	// Routes to the interface and back to a peering.
	pcx, err := e.w.RequestPeering("903921708000", "vpc-0soracom", "100.64.0.0/24", "123456789012", "vpc-0abc", testRegion)
	noErr(t, err)
	must(c.AcceptVPCPeering(ctx, pcx))(t)
	noErr(t, c.CreateRouteTo(ctx, "rtb-0abc", "10.128.0.0/9", RouteTarget{NetworkInterfaceID: eni}))
	if err := c.CreateRouteTo(ctx, "rtb-0abc", "10.128.0.0/9", RouteTarget{NetworkInterfaceID: eni}); !IsAlreadyExists(err) {
		t.Fatalf("CreateRouteTo twice: want already exists, got %v", err)
	}
	r, ok := routeTo(must(c.DescribeRouteTables(ctx, []string{"rtb-0abc"}))(t)[0], "10.128.0.0/9")
	if !ok || awssdk.ToString(r.NetworkInterfaceId) != eni || awssdk.ToString(r.InstanceId) != id || r.State != ec2types.RouteStateActive {
		t.Fatalf("route to the interface: %+v", r)
	}
	noErr(t, c.ReplaceRouteTo(ctx, "rtb-0abc", "10.128.0.0/9", RouteTarget{PeeringID: pcx}))
	if r, _ := routeTo(must(c.DescribeRouteTables(ctx, []string{"rtb-0abc"}))(t)[0], "10.128.0.0/9"); awssdk.ToString(r.VpcPeeringConnectionId) != pcx || r.NetworkInterfaceId != nil {
		t.Fatalf("replaced route: %+v", r)
	}
	noErr(t, c.ReplaceRouteTo(ctx, "rtb-0abc", "10.128.0.0/9", RouteTarget{NetworkInterfaceID: eni}))
	if err := c.ReplaceRouteTo(ctx, "rtb-0abc", "10.129.0.0/16", RouteTarget{NetworkInterfaceID: eni}); !IsNotFound(err) {
		t.Fatalf("ReplaceRouteTo(absent route): want not found, got %v", err)
	}
	if err := c.CreateRouteTo(ctx, "rtb-0abc", "10.130.0.0/16", RouteTarget{NetworkInterfaceID: "eni-0123456789abcdef0"}); !IsNotFound(err) {
		t.Fatalf("CreateRouteTo(absent interface): want not found, got %v", err)
	}
	for _, target := range []RouteTarget{{}, {PeeringID: pcx, NetworkInterfaceID: eni}} {
		if err := c.CreateRouteTo(ctx, "rtb-0abc", "10.131.0.0/16", target); !IsTerminal(err) {
			t.Fatalf("CreateRouteTo(%+v): want a terminal error, got %v", target, err)
		}
		if err := c.ReplaceRouteTo(ctx, "rtb-0abc", "10.128.0.0/9", target); !IsTerminal(err) {
			t.Fatalf("ReplaceRouteTo(%+v): want a terminal error, got %v", target, err)
		}
	}

	// Terminate: a missing ID is not an error; the route turns into a blackhole once terminated.
	noErr(t, c.TerminateInstances(ctx, []string{id, "i-0123456789abcdef0"}))
	if got := must(c.DescribeInstances(ctx, []string{id}))(t); got[0].State.Name != ec2types.InstanceStateNameShuttingDown {
		t.Fatalf("after TerminateInstances: %s", got[0].State.Name)
	}
	e.clk.Step(30 * time.Second)
	if got := must(c.DescribeInstances(ctx, []string{id}))(t); got[0].State.Name != ec2types.InstanceStateNameTerminated {
		t.Fatalf("after the terminate delay: %s", got[0].State.Name)
	}
	if got := must(c.InstancesByTag(ctx, "gatestream.io/environment", "env-a"))(t); len(got) != 0 {
		t.Fatalf("InstancesByTag lists a terminated instance: %d", len(got))
	}
	if ns := must(c.DescribeNetworkInterfaces(ctx, []string{eni}))(t); len(ns) != 0 {
		t.Fatalf("interface survived termination: %+v", ns)
	}
	if r, _ := routeTo(must(c.DescribeRouteTables(ctx, []string{"rtb-0abc"}))(t)[0], "10.128.0.0/9"); r.State != ec2types.RouteStateBlackhole {
		t.Fatalf("route after termination: %+v", r)
	}
	noErr(t, c.TerminateInstances(ctx, []string{id}))
	e.clk.Step(time.Hour)
	noErr(t, c.TerminateInstances(ctx, []string{id}))
	noErr(t, c.TerminateInstances(ctx, nil))
	if got := must(c.DescribeInstances(ctx, []string{id}))(t); len(got) != 0 {
		t.Fatalf("terminated instance still described after an hour: %+v", got)
	}
}

// TestEC2LargeResponses reads responses of many kilobytes repeatedly: the
// loopback emulator answers fast enough to hit the request-body race that
// plainBodyClient works around (see httpbody.go). Without it, some responses
// are cut and the SDK retries them, which only the request count shows.
func TestEC2LargeResponses(t *testing.T) {
	e := newTestEnv(t, emu.Options{})
	c := e.clients(t, e.config()).EC2
	ctx := context.Background()
	var ids []string
	for n := range 15 {
		in := routerInput(fmt.Sprintf("large-%d", n))
		ids = append(ids, awssdk.ToString(must(c.RunInstance(ctx, in))(t).InstanceId))
	}
	before := len(e.ec2Log.all())
	const calls = 20
	for range calls {
		if got := must(c.DescribeInstances(ctx, ids))(t); len(got) != len(ids) {
			t.Fatalf("DescribeInstances: %d of %d", len(got), len(ids))
		}
	}
	// The SDK retries a cut response: count the requests, not just the outcome.
	if n := len(e.ec2Log.all()) - before; n != calls {
		t.Fatalf("%d requests for %d calls: responses were cut and retried", n, calls)
	}
}
