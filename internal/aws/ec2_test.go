package aws

import (
	"context"
	"errors"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	emu "github.com/gatestream/gatestream/internal/emulator/aws"
)

func routeTo(rt ec2types.RouteTable, dest string) (ec2types.Route, bool) {
	for _, r := range rt.Routes {
		if awssdk.ToString(r.DestinationCidrBlock) == dest {
			return r, true
		}
	}
	return ec2types.Route{}, false
}

func TestEC2(t *testing.T) {
	e := newTestEnv(t, emu.Options{})
	obs := &observations{}
	cfg := e.config()
	cfg.Observe = obs.observe
	c := e.clients(t, cfg).EC2
	ctx := context.Background()

	vpc := must(c.DescribeVPC(ctx, "vpc-0abc"))(t)
	if awssdk.ToString(vpc.CidrBlock) != "10.0.0.0/16" {
		t.Fatalf("DescribeVPC: %+v", vpc)
	}
	if _, err := c.DescribeVPC(ctx, "vpc-0missing"); !IsNotFound(err) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("DescribeVPC(absent): want not found, got %v", err)
	}

	subnets := must(c.DescribeSubnets(ctx, []string{"subnet-0a", "subnet-0b"}))(t)
	if len(subnets) != 2 {
		t.Fatalf("DescribeSubnets: %+v", subnets)
	}
	if _, err := c.DescribeSubnets(ctx, []string{"subnet-0a", "subnet-0zz"}); !IsNotFound(err) {
		t.Fatalf("DescribeSubnets(absent): want not found, got %v", err)
	}
	if s := must(c.DescribeSubnets(ctx, nil))(t); len(s) != 0 {
		t.Fatalf("DescribeSubnets(nil) must describe nothing, got %d", len(s))
	}

	sgs := must(c.DescribeSecurityGroups(ctx, []string{"sg-0a"}))(t)
	if len(sgs) != 1 || len(sgs[0].IpPermissions) != 1 || awssdk.ToInt32(sgs[0].IpPermissions[0].FromPort) != 443 {
		t.Fatalf("DescribeSecurityGroups: %+v", sgs)
	}
	if _, err := c.DescribeSecurityGroups(ctx, []string{"sg-0missing"}); !IsNotFound(err) {
		t.Fatalf("DescribeSecurityGroups(absent): want not found, got %v", err)
	}

	// Route tables per subnet: explicit association, else the VPC's main table.
	vpcTables := must(c.RouteTablesOfVPC(ctx, "vpc-0abc"))(t)
	bySubnet := TablesForSubnets(vpcTables, []string{"subnet-0a", "subnet-0b", "subnet-0c"})
	for s, want := range map[string]string{"subnet-0a": "rtb-0abc", "subnet-0b": "rtb-0abc", "subnet-0c": "rtb-0main"} {
		if got := awssdk.ToString(bySubnet[s].RouteTableId); got != want {
			t.Errorf("TablesForSubnets[%s] = %q, want %q (tables of the VPC: %d)", s, got, want, len(vpcTables))
		}
	}
	if _, err := c.DescribeRouteTables(ctx, []string{"rtb-0missing"}); !IsNotFound(err) {
		t.Fatalf("DescribeRouteTables(absent): want not found, got %v", err)
	}

	// Canal: SORACOM requests a peering; we accept it and route the VPG range through it.
	pcx, err := e.w.RequestPeering("903921708000", "vpc-0soracom", "100.64.0.0/24", "123456789012", "vpc-0abc", testRegion)
	noErr(t, err)
	p := must(c.DescribeVPCPeering(ctx, pcx))(t)
	if p.Status == nil || p.Status.Code != ec2types.VpcPeeringConnectionStateReasonCodePendingAcceptance {
		t.Fatalf("DescribeVPCPeering: %+v", p.Status)
	}
	p = must(c.AcceptVPCPeering(ctx, pcx))(t)
	if p.Status == nil || p.Status.Code != ec2types.VpcPeeringConnectionStateReasonCodeActive {
		t.Fatalf("AcceptVPCPeering: %+v", p.Status)
	}
	if _, err := c.DescribeVPCPeering(ctx, "pcx-0missing"); !IsNotFound(err) {
		t.Fatalf("DescribeVPCPeering(absent): want not found, got %v", err)
	}

	noErr(t, c.CreateRoute(ctx, "rtb-0abc", "100.64.0.0/24", pcx))
	if err := c.CreateRoute(ctx, "rtb-0abc", "100.64.0.0/24", pcx); !IsAlreadyExists(err) {
		t.Fatalf("CreateRoute twice: want already exists, got %v", err)
	}
	rts := must(c.DescribeRouteTables(ctx, []string{"rtb-0abc"}))(t)
	r, ok := routeTo(rts[0], "100.64.0.0/24")
	if !ok || awssdk.ToString(r.VpcPeeringConnectionId) != pcx || r.State != ec2types.RouteStateActive {
		t.Fatalf("route after CreateRoute: %+v (found %v)", r, ok)
	}
	noErr(t, c.ReplaceRoute(ctx, "rtb-0abc", "100.64.0.0/24", pcx))
	if err := c.ReplaceRoute(ctx, "rtb-0abc", "100.65.0.0/24", pcx); !IsNotFound(err) {
		t.Fatalf("ReplaceRoute(absent route): want not found, got %v", err)
	}
	noErr(t, c.DeleteRoute(ctx, "rtb-0abc", "100.64.0.0/24"))
	if err := c.DeleteRoute(ctx, "rtb-0abc", "100.64.0.0/24"); !IsNotFound(err) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("DeleteRoute twice: want not found, got %v", err)
	}
	if _, ok := routeTo(must(c.DescribeRouteTables(ctx, []string{"rtb-0abc"}))(t)[0], "100.64.0.0/24"); ok {
		t.Fatal("route still present after DeleteRoute")
	}
	if err := c.CreateRoute(ctx, "rtb-0missing", "100.64.0.0/24", pcx); !IsNotFound(err) {
		t.Fatalf("CreateRoute(absent table): want not found, got %v", err)
	}

	noErr(t, c.DeleteVPCPeering(ctx, pcx))
	p = must(c.DescribeVPCPeering(ctx, pcx))(t)
	if p.Status.Code != ec2types.VpcPeeringConnectionStateReasonCodeDeleted {
		t.Fatalf("after DeleteVPCPeering: %+v", p.Status)
	}
	if _, err := c.AcceptVPCPeering(ctx, pcx); err == nil || IsRetryable(err) {
		t.Fatalf("AcceptVPCPeering(deleted): want a non-retryable error, got %v", err)
	}

	if n := obs.count(ServiceEC2, "DescribeVpcs"); n != 2 {
		t.Fatalf("DescribeVpcs observed %d times, want 2", n)
	}
	for _, o := range obs.get() {
		if o.service != ServiceEC2 {
			t.Fatalf("bad observation %+v", o)
		}
	}
	// Static credentials signed every request.
	auths := e.ec2Log.all()
	if len(auths) == 0 {
		t.Fatal("no EC2 requests recorded")
	}
	for _, a := range auths {
		if want := "Credential=" + testAccessKey + "/"; !contains(a, want) || !contains(a, "/"+testRegion+"/ec2/aws4_request") {
			t.Fatalf("Authorization %q lacks %q", a, want)
		}
	}
}

func contains(s, sub string) bool { return containsAny(s, sub) != "" }
