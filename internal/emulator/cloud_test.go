package emulator_test

// The three emulators as one cloud, driven through the clients the operator
// uses: internal/soracom for SORACOM, aws-sdk-go-v2 for AppStream and EC2.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/yaml"

	"github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/emulator"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	emusoracom "github.com/gatestream/gatestream/internal/emulator/soracom"
	"github.com/gatestream/gatestream/internal/repo"
	"github.com/gatestream/gatestream/internal/soracom"
)

var t0 = time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC)

const (
	vpgDelay   = 3 * time.Second
	fleetDelay = 5 * time.Second
)

type env struct {
	c    *emulator.Cloud
	clk  *clocktesting.FakeClock
	seed *emulator.Seeded
	sor  *soracom.Client
	ec2  *ec2.Client
	as   *appstream.Client
}

// start runs a seeded cloud on kernel-chosen ports with a fake clock and
// returns clients for it (no retries anywhere: every fault is seen raw).
func start(t *testing.T, opts emulator.Options) *env {
	t.Helper()
	clk := clocktesting.NewFakeClock(t0)
	opts.Clock = clk
	c, err := emulator.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	seeded, err := c.SeedDemo()
	if err != nil {
		t.Fatal(err)
	}
	return &env{c: c, clk: clk, seed: seeded,
		sor: soracomClient(t, c, seeded, clk), ec2: ec2Client(c, seeded), as: appstreamClient(c, seeded)}
}

func soracomClient(t *testing.T, c *emulator.Cloud, s *emulator.Seeded, clk *clocktesting.FakeClock) *soracom.Client {
	t.Helper()
	cl, err := soracom.New(soracom.Options{
		Endpoint:    c.SoracomURL,
		Credentials: soracom.Credentials{AuthKeyID: s.SoracomAuthKeyID, AuthKey: s.SoracomAuthKey},
		Now:         clk.Now,
		MaxRetries:  -1,
		Timeout:     30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func awsConfig(s *emulator.Seeded) awssdk.Config {
	return awssdk.Config{
		Region:      s.AWSRegion,
		Credentials: credentials.NewStaticCredentialsProvider(s.AWSAccessKeyID, s.AWSSecretAccessKey, ""),
		Retryer:     func() awssdk.Retryer { return awssdk.NopRetryer{} },
	}
}

func ec2Client(c *emulator.Cloud, s *emulator.Seeded) *ec2.Client {
	return ec2.NewFromConfig(awsConfig(s), func(o *ec2.Options) { o.BaseEndpoint = awssdk.String(c.EC2URL) })
}

func appstreamClient(c *emulator.Cloud, s *emulator.Seeded) *appstream.Client {
	return appstream.NewFromConfig(awsConfig(s), func(o *appstream.Options) { o.BaseEndpoint = awssdk.String(c.AppStreamURL) })
}

func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func wantAWSCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("want AWS error %s, got %v", code, err)
	}
}

// runningVPG creates a Type-F VPG like the sample environment and waits (on the fake clock) until it runs.
func (e *env) runningVPG(t *testing.T, ctx context.Context) *soracom.VirtualPrivateGateway {
	t.Helper()
	vpg := must(e.sor.CreateVirtualPrivateGateway(ctx, &soracom.CreateVirtualPrivateGatewayRequest{
		Type: soracom.VPGTypeF, DeviceSubnetCIDRRange: "10.128.0.0/9",
		Placement: &soracom.Placement{Region: emulator.DemoAWSRegion},
		Tags:      map[string]string{"gatestream.io/owner-uid": "uid-1"},
	}))(t)
	if vpg.Status != soracom.VPGStatusCreating {
		t.Fatalf("new VPG: %s", vpg.Status)
	}
	e.clk.Step(vpgDelay)
	vpg = must(e.sor.GetVirtualPrivateGateway(ctx, vpg.VPGID))(t)
	if vpg.Status != soracom.VPGStatusRunning || vpg.VPGSubnetCIDRRange == "" {
		t.Fatalf("VPG after %v: %+v", vpgDelay, vpg)
	}
	return vpg
}

func (e *env) canal(t *testing.T, ctx context.Context, vpgID string) string {
	t.Helper()
	pc := must(e.sor.CreateVPCPeeringConnection(ctx, vpgID, &soracom.CreateVPCPeeringConnectionRequest{
		DestinationCIDRBlock: emulator.DemoVPCCIDR, PeerOwnerID: emulator.DemoAWSAccountID,
		PeerRegion: emulator.DemoAWSRegion, PeerVPCID: emulator.DemoVPCID,
	}))(t)
	if !strings.HasPrefix(pc.ID, "pcx-") {
		t.Fatalf("peering id %q", pc.ID)
	}
	return pc.ID
}

func (e *env) peering(t *testing.T, ctx context.Context, id string) ec2types.VpcPeeringConnection {
	t.Helper()
	out := must(e.ec2.DescribeVpcPeeringConnections(ctx, &ec2.DescribeVpcPeeringConnectionsInput{VpcPeeringConnectionIds: []string{id}}))(t)
	if len(out.VpcPeeringConnections) != 1 {
		t.Fatalf("peering %s: %+v", id, out.VpcPeeringConnections)
	}
	return out.VpcPeeringConnections[0]
}

func (e *env) route(t *testing.T, ctx context.Context, dest string) *ec2types.Route {
	t.Helper()
	out := must(e.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{emulator.DemoRouteTableID}}))(t)
	if len(out.RouteTables) != 1 {
		t.Fatalf("route tables: %+v", out.RouteTables)
	}
	for _, r := range out.RouteTables[0].Routes {
		if awssdk.ToString(r.DestinationCidrBlock) == dest {
			return &r
		}
	}
	return nil
}

// TestCanalPeeringAcrossAPIs: a peering created on SORACOM is pending on EC2,
// accepted there, routed, and deleted from SORACOM.
func TestCanalPeeringAcrossAPIs(t *testing.T) {
	e := start(t, emulator.Options{VPGCreateDelay: vpgDelay})
	ctx := t.Context()

	// A creating VPG cannot peer yet.
	vpg := must(e.sor.CreateVirtualPrivateGateway(ctx, &soracom.CreateVirtualPrivateGatewayRequest{Type: soracom.VPGTypeF}))(t)
	if _, err := e.sor.CreateVPCPeeringConnection(ctx, vpg.VPGID, &soracom.CreateVPCPeeringConnectionRequest{
		DestinationCIDRBlock: emulator.DemoVPCCIDR, PeerOwnerID: emulator.DemoAWSAccountID,
		PeerRegion: emulator.DemoAWSRegion, PeerVPCID: emulator.DemoVPCID,
	}); err == nil {
		t.Fatal("peering a creating VPG succeeded")
	}
	if n := len(e.c.AWS.Peerings()); n != 0 {
		t.Fatalf("AWS has %d peerings", n)
	}
	e.clk.Step(vpgDelay)
	vpg = must(e.sor.GetVirtualPrivateGateway(ctx, vpg.VPGID))(t)
	if vpg.Status != soracom.VPGStatusRunning {
		t.Fatalf("VPG %s", vpg.Status)
	}

	pcx := e.canal(t, ctx, vpg.VPGID)
	p := e.peering(t, ctx, pcx)
	if p.Status.Code != ec2types.VpcPeeringConnectionStateReasonCodePendingAcceptance {
		t.Fatalf("AWS side: %+v", p.Status)
	}
	if awssdk.ToString(p.RequesterVpcInfo.OwnerId) != emusoracom.SoracomAWSAccountID ||
		awssdk.ToString(p.RequesterVpcInfo.CidrBlock) != vpg.VPGSubnetCIDRRange ||
		awssdk.ToString(p.AccepterVpcInfo.VpcId) != emulator.DemoVPCID ||
		awssdk.ToString(p.AccepterVpcInfo.OwnerId) != emulator.DemoAWSAccountID {
		t.Fatalf("peering: requester %+v accepter %+v", p.RequesterVpcInfo, p.AccepterVpcInfo)
	}
	// Filters work as the operator uses them.
	pending := must(e.ec2.DescribeVpcPeeringConnections(ctx, &ec2.DescribeVpcPeeringConnectionsInput{Filters: []ec2types.Filter{
		{Name: awssdk.String("accepter-vpc-info.vpc-id"), Values: []string{emulator.DemoVPCID}},
		{Name: awssdk.String("status-code"), Values: []string{"pending-acceptance"}},
	}}))(t)
	if len(pending.VpcPeeringConnections) != 1 {
		t.Fatalf("pending by filter: %+v", pending.VpcPeeringConnections)
	}

	acc := must(e.ec2.AcceptVpcPeeringConnection(ctx, &ec2.AcceptVpcPeeringConnectionInput{VpcPeeringConnectionId: awssdk.String(pcx)}))(t)
	if acc.VpcPeeringConnection == nil || awssdk.ToString(acc.VpcPeeringConnection.VpcPeeringConnectionId) != pcx {
		t.Fatalf("accept: %+v", acc.VpcPeeringConnection)
	}
	// EC2 shows the accepter's CIDR once the peering is active.
	if p := e.peering(t, ctx, pcx); p.Status.Code != ec2types.VpcPeeringConnectionStateReasonCodeActive ||
		awssdk.ToString(p.AccepterVpcInfo.CidrBlock) != emulator.DemoVPCCIDR {
		t.Fatalf("after accept: %+v %+v", p.Status, p.AccepterVpcInfo)
	}
	_, err := e.ec2.AcceptVpcPeeringConnection(ctx, &ec2.AcceptVpcPeeringConnectionInput{VpcPeeringConnectionId: awssdk.String(pcx)})
	wantAWSCode(t, err, "InvalidStateTransition")

	// The VPG range is routed through the peering.
	must(e.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: awssdk.String(emulator.DemoRouteTableID),
		DestinationCidrBlock: awssdk.String(vpg.VPGSubnetCIDRRange), VpcPeeringConnectionId: awssdk.String(pcx)}))(t)
	if r := e.route(t, ctx, vpg.VPGSubnetCIDRRange); r == nil || r.State != ec2types.RouteStateActive || awssdk.ToString(r.VpcPeeringConnectionId) != pcx {
		t.Fatalf("route: %+v", r)
	}

	// SORACOM records it.
	vpg = must(e.sor.GetVirtualPrivateGateway(ctx, vpg.VPGID))(t)
	if ids := vpg.VPCPeeringConnectionIDs(); !slices.Equal(ids, []string{pcx}) {
		t.Fatalf("VPG peerings %v", ids)
	}

	// Deleting on SORACOM deletes on AWS; the route becomes a blackhole.
	check(t, e.sor.DeleteVPCPeeringConnection(ctx, vpg.VPGID, pcx))
	if p := e.peering(t, ctx, pcx); p.Status.Code != ec2types.VpcPeeringConnectionStateReasonCodeDeleted {
		t.Fatalf("after SORACOM delete: %+v", p.Status)
	}
	if r := e.route(t, ctx, vpg.VPGSubnetCIDRRange); r == nil || r.State != ec2types.RouteStateBlackhole {
		t.Fatalf("route after delete: %+v", r)
	}
	vpg = must(e.sor.GetVirtualPrivateGateway(ctx, vpg.VPGID))(t)
	if ids := vpg.VPCPeeringConnectionIDs(); len(ids) != 0 {
		t.Fatalf("VPG peerings after delete %v", ids)
	}
	_, err = e.ec2.AcceptVpcPeeringConnection(ctx, &ec2.AcceptVpcPeeringConnectionInput{VpcPeeringConnectionId: awssdk.String(pcx)})
	wantAWSCode(t, err, "InvalidStateTransition")

	// Terminating a VPG deletes its remaining peerings on AWS too.
	pcx2 := e.canal(t, ctx, vpg.VPGID)
	check(t, e.sor.TerminateVirtualPrivateGateway(ctx, vpg.VPGID))
	if p := e.peering(t, ctx, pcx2); p.Status.Code != ec2types.VpcPeeringConnectionStateReasonCodeDeleted {
		t.Fatalf("after terminate: %+v", p.Status)
	}

	// The shared call log saw every API.
	for _, c := range []struct {
		api, op string
		want    int
	}{
		{emulator.APISoracom, emusoracom.OpCreateVPG, 1},
		{emulator.APISoracom, emusoracom.OpCreateVPCPeering, 3}, // one refused while creating
		{emulator.APISoracom, emusoracom.OpDeleteVPCPeering, 1},
		{emulator.APIEC2, "AcceptVpcPeeringConnection", 3},
		{emulator.APIEC2, "CreateRoute", 1},
		{emulator.APIAppStream, fault.Any, 0},
	} {
		if got := e.c.Faults.Count(c.api, c.op); got != c.want {
			t.Errorf("calls %s/%s: %d, want %d", c.api, c.op, got, c.want)
		}
	}
	if n := e.c.Soracom.VPGsEverCreated(); n != 1 {
		t.Fatalf("VPGs ever created: %d", n)
	}
}

// TestPeeringDeletedOnAWSFirst: the customer deletes the peering on EC2
// (accepter side); SORACOM's delete afterwards still succeeds, as "already
// gone" is not an error for Canal.
func TestPeeringDeletedOnAWSFirst(t *testing.T) {
	e := start(t, emulator.Options{})
	ctx := t.Context()
	vpg := e.runningVPG(t, ctx)
	pcx := e.canal(t, ctx, vpg.VPGID)
	must(e.ec2.AcceptVpcPeeringConnection(ctx, &ec2.AcceptVpcPeeringConnectionInput{VpcPeeringConnectionId: awssdk.String(pcx)}))(t)
	must(e.ec2.DeleteVpcPeeringConnection(ctx, &ec2.DeleteVpcPeeringConnectionInput{VpcPeeringConnectionId: awssdk.String(pcx)}))(t)
	check(t, e.sor.DeleteVPCPeeringConnection(ctx, vpg.VPGID, pcx))
	vpg = must(e.sor.GetVirtualPrivateGateway(ctx, vpg.VPGID))(t)
	if ids := vpg.VPCPeeringConnectionIDs(); len(ids) != 0 {
		t.Fatalf("VPG peerings %v", ids)
	}
	// And once EC2 has forgotten it entirely.
	pcx2 := e.canal(t, ctx, vpg.VPGID)
	must(e.ec2.DeleteVpcPeeringConnection(ctx, &ec2.DeleteVpcPeeringConnectionInput{VpcPeeringConnectionId: awssdk.String(pcx2)}))(t)
	e.clk.Step(3 * time.Hour)
	out := must(e.ec2.DescribeVpcPeeringConnections(ctx, &ec2.DescribeVpcPeeringConnectionsInput{}))(t)
	if len(out.VpcPeeringConnections) != 0 {
		t.Fatalf("still visible: %+v", out.VpcPeeringConnections)
	}
	check(t, e.sor.DeleteVPCPeeringConnection(ctx, vpg.VPGID, pcx2))
}

// TestSharedFaults: one injector (and call log) for the three APIs.
func TestSharedFaults(t *testing.T) {
	e := start(t, emulator.Options{})
	ctx := t.Context()
	e.c.Faults.Add(fault.Rule{API: fault.Any, Op: fault.Any, Kind: fault.Throttle, Times: 3})

	// 1: SORACOM (the client's first request is /auth).
	if _, err := e.sor.ListSims(ctx, soracom.PageOptions{}); !soracom.IsThrottled(err) {
		t.Fatalf("SORACOM: %v", err)
	}
	// 2: EC2.
	_, err := e.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	wantAWSCode(t, err, "RequestLimitExceeded")
	// 3: AppStream.
	_, err = e.as.DescribeImages(ctx, &appstream.DescribeImagesInput{})
	wantAWSCode(t, err, "ThrottlingException")
	// The rule is used up: every API answers (SORACOM once the wait its 429
	// announced is over: the client holds the request until then).
	e.clk.Step(time.Minute)
	sims := must(e.sor.ListSims(ctx, soracom.PageOptions{}))(t)
	if len(sims) != len(e.seed.SIMs) {
		t.Fatalf("SIMs %d", len(sims))
	}
	must(e.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}))(t)
	must(e.as.DescribeImages(ctx, &appstream.DescribeImagesInput{}))(t)

	throttled := 0
	for _, c := range e.c.Faults.Calls(fault.Any, fault.Any) {
		if c.Fault == fault.Throttle {
			throttled++
		}
	}
	if throttled != 3 {
		t.Fatalf("throttled calls %d", throttled)
	}
	for _, api := range []string{emulator.APISoracom, emulator.APIEC2, emulator.APIAppStream} {
		if n := e.c.Faults.Count(api, fault.Any); n < 2 {
			t.Errorf("%s: %d calls logged", api, n)
		}
	}
	// auth (throttled), auth, listSims + 2 EC2 + 2 AppStream.
	if n := e.c.Faults.Count(fault.Any, fault.Any); n != 7 {
		t.Fatalf("calls logged %d: %+v", n, e.c.Faults.Calls(fault.Any, fault.Any))
	}

	// A lost response on SORACOM still creates the VPG (found by tag afterwards).
	e.c.Faults.Add(fault.Rule{API: emulator.APISoracom, Op: emusoracom.OpCreateVPG, Kind: fault.LoseResponse, Times: 1})
	if _, err := e.sor.CreateVirtualPrivateGateway(ctx, &soracom.CreateVirtualPrivateGatewayRequest{Type: soracom.VPGTypeF,
		Tags: map[string]string{"owner": "lost"}}); err == nil {
		t.Fatal("lost response: no error")
	}
	found := must(e.sor.ListVirtualPrivateGateways(ctx, soracom.ListOptions{TagName: "owner", TagValue: "lost"}))(t)
	if len(found) != 1 || e.c.Soracom.VPGsEverCreated() != 1 {
		t.Fatalf("lost create: %+v", found)
	}
}

// TestSeedIsDeterministic: the same seed injects the same faults.
func TestSeedIsDeterministic(t *testing.T) {
	run := func(seed uint64) []int {
		e := start(t, emulator.Options{Seed: seed})
		e.c.Faults.Add(fault.Rule{API: emulator.APIEC2, Op: fault.Any, Kind: fault.ServerError, Probability: 0.5})
		for range 40 {
			_, _ = e.ec2.DescribeVpcs(t.Context(), &ec2.DescribeVpcsInput{})
		}
		var statuses []int
		for _, c := range e.c.Faults.Calls(emulator.APIEC2, fault.Any) {
			statuses = append(statuses, c.Status)
		}
		if len(statuses) != 40 || !slices.Contains(statuses, 200) || !slices.Contains(statuses, 500) {
			t.Fatalf("seed %d: %v", seed, statuses)
		}
		return statuses
	}
	a := run(11)
	if b := run(11); !slices.Equal(a, b) {
		t.Fatalf("same seed:\n%v\n%v", a, b)
	}
	if c := run(12); slices.Equal(a, c) {
		t.Fatal("different seeds, same faults")
	}
}

func readSamples(t *testing.T) (*v1alpha1.RemoteAccessEnvironment, *v1alpha1.DeviceGroup, *v1alpha1.StreamingSession) {
	t.Helper()
	var rae v1alpha1.RemoteAccessEnvironment
	var dg v1alpha1.DeviceGroup
	var ss v1alpha1.StreamingSession
	for file, into := range map[string]any{
		"access_v1alpha1_remoteaccessenvironment.yaml": &rae,
		"access_v1alpha1_devicegroup.yaml":             &dg,
		"access_v1alpha1_streamingsession.yaml":        &ss,
	} {
		path, err := repo.Path("config", "samples", file)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(b, into); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	return &rae, &dg, &ss
}

// TestDemoWorldMatchesSamples: everything the samples name exists, through
// the real clients, and the sample environment can be built and streamed.
func TestDemoWorldMatchesSamples(t *testing.T) {
	e := start(t, emulator.Options{VPGCreateDelay: vpgDelay, FleetStartDelay: fleetDelay})
	ctx := t.Context()
	rae, dg, ss := readSamples(t)
	spec := rae.Spec
	s := e.seed

	if spec.AWS.AccountID != s.AWSAccountID || spec.AWS.Region != s.AWSRegion || spec.AWS.VPCID != s.VPCID ||
		!slices.Equal(spec.AWS.RouteTableIDs, []string{s.RouteTableID}) || spec.Soracom.Gateway.Region != s.AWSRegion {
		t.Fatalf("AWS ids: spec %+v seeded %+v", spec.AWS, s)
	}
	if spec.Soracom.CredentialsSecretRef.Name != emulator.SoracomSecretName {
		t.Fatalf("SORACOM secret %q", spec.Soracom.CredentialsSecretRef.Name)
	}
	if s.SoracomURL != e.c.SoracomURL || s.AppStreamURL != e.c.AppStreamURL || s.EC2URL != e.c.EC2URL {
		t.Fatalf("endpoints %+v", s)
	}
	if _, err := e.c.SeedDemo(); err == nil {
		t.Fatal("seeding twice succeeded")
	}

	// EC2: VPC, subnet, route table association, security group.
	vpcs := must(e.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{spec.AWS.VPCID}}))(t)
	if len(vpcs.Vpcs) != 1 || awssdk.ToString(vpcs.Vpcs[0].CidrBlock) != spec.Soracom.Canal.DestinationCIDRBlock {
		t.Fatalf("VPC %+v", vpcs.Vpcs)
	}
	subnets := must(e.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: spec.AppStream.Fleet.SubnetIDs}))(t)
	if len(subnets.Subnets) != 1 || awssdk.ToString(subnets.Subnets[0].VpcId) != spec.AWS.VPCID ||
		awssdk.ToString(subnets.Subnets[0].AvailabilityZone) != emulator.DemoAZ {
		t.Fatalf("subnets %+v", subnets.Subnets)
	}
	subnet := netip.MustParsePrefix(awssdk.ToString(subnets.Subnets[0].CidrBlock))
	for _, p := range spec.Soracom.Gateway.Gate.Peers {
		if !subnet.Contains(netip.MustParseAddr(p.OuterIPAddress)) {
			t.Fatalf("Gate peer %s outside the fleet subnet %s", p.OuterIPAddress, subnet)
		}
	}
	rts := must(e.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{
		{Name: awssdk.String("association.subnet-id"), Values: spec.AppStream.Fleet.SubnetIDs}}}))(t)
	if len(rts.RouteTables) != 1 || awssdk.ToString(rts.RouteTables[0].RouteTableId) != spec.AWS.RouteTableIDs[0] {
		t.Fatalf("route tables of the fleet subnet %+v", rts.RouteTables)
	}
	sgs := must(e.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: spec.AppStream.Fleet.SecurityGroupIDs}))(t)
	if len(sgs.SecurityGroups) != 1 || awssdk.ToString(sgs.SecurityGroups[0].VpcId) != spec.AWS.VPCID {
		t.Fatalf("security groups %+v", sgs.SecurityGroups)
	}
	allows := func(perms []ec2types.IpPermission, cidr string) bool {
		for _, p := range perms {
			for _, r := range p.IpRanges {
				if awssdk.ToString(p.IpProtocol) == "-1" && awssdk.ToString(r.CidrIp) == cidr {
					return true
				}
			}
		}
		return false
	}
	sg := sgs.SecurityGroups[0]
	if !allows(sg.IpPermissions, emulator.DemoVPGRange) || !allows(sg.IpPermissionsEgress, emulator.DemoVPGRange) ||
		!allows(sg.IpPermissionsEgress, "0.0.0.0/0") {
		t.Fatalf("security group rules: in %+v out %+v", sg.IpPermissions, sg.IpPermissionsEgress)
	}

	// AppStream: the image and its applications.
	imgs := must(e.as.DescribeImages(ctx, &appstream.DescribeImagesInput{Names: []string{spec.AppStream.Fleet.ImageName}}))(t)
	if len(imgs.Images) != 1 || imgs.Images[0].State != astypes.ImageStateAvailable {
		t.Fatalf("images %+v", imgs.Images)
	}
	var apps []string
	for _, a := range imgs.Images[0].Applications {
		apps = append(apps, awssdk.ToString(a.Name))
	}
	if !slices.Equal(apps, spec.AppStream.Applications) || !slices.Contains(apps, ss.Spec.Application) {
		t.Fatalf("applications %v, sample %v", apps, spec.AppStream.Applications)
	}

	// SORACOM: the device group's SIMs exist and are online; the LAN route's SIM is the router.
	for _, id := range dg.Spec.SIMs {
		sim := must(e.sor.GetSim(ctx, id))(t)
		if !sim.SessionStatus.Online {
			t.Fatalf("SIM %s offline: %+v", id, sim)
		}
	}
	if dg.Spec.LANRoutes[0].SIMID != emulator.DemoSIMRouter || dg.Spec.LANRoutes[0].CIDR != emulator.DemoRouterLAN {
		t.Fatalf("LAN route %+v", dg.Spec.LANRoutes)
	}
	router, _ := e.c.Soracom.SIM(emulator.DemoSIMRouter)
	if router.Tags["device"] != "cellular-router" {
		t.Fatalf("router SIM %+v", router)
	}
	all := must(e.sor.ListSims(ctx, soracom.PageOptions{}))(t)
	online := 0
	for _, sim := range all {
		if sim.SessionStatus.Online {
			online++
		}
	}
	if len(all) != len(s.SIMs) || len(all) < 4 || online != 2 {
		t.Fatalf("SIMs: %d, %d online", len(all), online)
	}

	// The sample's fleet starts without FleetErrors in this world, and a streaming URL opens on the AppStream server.
	f := spec.AppStream.Fleet
	must(e.as.CreateFleet(ctx, &appstream.CreateFleetInput{
		Name: awssdk.String("line-a-factory-floor"), ImageName: awssdk.String(f.ImageName), InstanceType: awssdk.String(f.InstanceType),
		FleetType:                astypes.FleetType(f.FleetType),
		ComputeCapacity:          &astypes.ComputeCapacity{DesiredInstances: awssdk.Int32(f.DesiredCapacity)},
		VpcConfig:                &astypes.VpcConfig{SubnetIds: f.SubnetIDs, SecurityGroupIds: f.SecurityGroupIDs},
		MaxUserDurationInSeconds: awssdk.Int32(f.MaxUserDurationSeconds), DisconnectTimeoutInSeconds: awssdk.Int32(f.DisconnectTimeoutSeconds),
		IdleDisconnectTimeoutInSeconds: awssdk.Int32(f.IdleDisconnectTimeoutSeconds),
		EnableDefaultInternetAccess:    f.EnableDefaultInternetAccess, StreamView: astypes.StreamView(f.StreamView),
	}))(t)
	must(e.as.CreateStack(ctx, &appstream.CreateStackInput{Name: awssdk.String("line-a-factory-floor"), DisplayName: awssdk.String(spec.AppStream.Stack.DisplayName)}))(t)
	must(e.as.AssociateFleet(ctx, &appstream.AssociateFleetInput{FleetName: awssdk.String("line-a-factory-floor"), StackName: awssdk.String("line-a-factory-floor")}))(t)
	must(e.as.StartFleet(ctx, &appstream.StartFleetInput{Name: awssdk.String("line-a-factory-floor")}))(t)
	fl := must(e.as.DescribeFleets(ctx, &appstream.DescribeFleetsInput{Names: []string{"line-a-factory-floor"}}))(t).Fleets[0]
	if fl.State != astypes.FleetStateStarting {
		t.Fatalf("fleet %s", fl.State)
	}
	e.clk.Step(fleetDelay)
	fl = must(e.as.DescribeFleets(ctx, &appstream.DescribeFleetsInput{Names: []string{"line-a-factory-floor"}}))(t).Fleets[0]
	if fl.State != astypes.FleetStateRunning || len(fl.FleetErrors) != 0 {
		t.Fatalf("fleet %s %+v", fl.State, fl.FleetErrors)
	}
	u := must(e.as.CreateStreamingURL(ctx, &appstream.CreateStreamingURLInput{
		StackName: awssdk.String("line-a-factory-floor"), FleetName: awssdk.String("line-a-factory-floor"),
		UserId: awssdk.String(ss.Spec.UserID), ApplicationId: awssdk.String(ss.Spec.Application), Validity: awssdk.Int64(300),
		SessionContext: awssdk.String(`{"device":"raspi-1","port":22}`),
	}))(t)
	url := awssdk.ToString(u.StreamingURL)
	if !strings.HasPrefix(url, e.c.AppStreamURL+"/") {
		t.Fatalf("streaming URL %q not on %s", url, e.c.AppStreamURL)
	}
	if code, page := get(t, url); code != http.StatusOK || !strings.Contains(page, ss.Spec.UserID) || !strings.Contains(page, "raspi-1") {
		t.Fatalf("open: %d %s", code, page)
	}
	if code, _ := get(t, url); code != http.StatusForbidden {
		t.Fatalf("reuse: %d", code)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestCredentialsManifestsAndPatch(t *testing.T) {
	e := start(t, emulator.Options{})
	docs := strings.Split(e.c.CredentialsManifests("line-a"), "---\n")
	if len(docs) != 2 {
		t.Fatalf("%d documents", len(docs))
	}
	want := map[string]map[string]string{
		emulator.SoracomSecretName: {clients.KeySoracomAuthKeyID: e.seed.SoracomAuthKeyID, clients.KeySoracomAuthKey: e.seed.SoracomAuthKey},
		emulator.AWSSecretName:     {clients.KeyAWSAccessKeyID: e.seed.AWSAccessKeyID, clients.KeyAWSSecretAccessKey: e.seed.AWSSecretAccessKey},
	}
	for _, d := range docs {
		var s corev1.Secret
		if err := yaml.UnmarshalStrict([]byte(d), &s); err != nil {
			t.Fatalf("%v\n%s", err, d)
		}
		if s.Kind != "Secret" || s.APIVersion != "v1" || s.Namespace != "line-a" || s.Type != corev1.SecretTypeOpaque {
			t.Fatalf("secret %+v", s)
		}
		w, ok := want[s.Name]
		if !ok || !maps(w, s.StringData) {
			t.Fatalf("secret %s: %v", s.Name, s.StringData)
		}
		delete(want, s.Name)
	}

	// The patch points the sample environment at the emulators and the AWS Secret.
	rae, _, _ := readSamples(t)
	if err := json.Unmarshal([]byte(e.c.EnvironmentPatch()), rae); err != nil {
		t.Fatal(err)
	}
	a := rae.Spec.AWS
	if rae.Spec.Soracom.Endpoint != e.c.SoracomURL || a.Endpoints == nil || a.Endpoints.AppStream != e.c.AppStreamURL ||
		a.Endpoints.EC2 != e.c.EC2URL || a.CredentialsSecretRef == nil || a.CredentialsSecretRef.Name != emulator.AWSSecretName ||
		a.VPCID != emulator.DemoVPCID {
		t.Fatalf("patched spec %+v", rae.Spec)
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func hostPort(t *testing.T, u string) string {
	t.Helper()
	hp := strings.TrimPrefix(u, "http://")
	host, port, err := net.SplitHostPort(hp)
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("endpoint %q", u)
	}
	return hp
}

// serverGoroutines counts goroutines of net/http servers in this process.
func serverGoroutines() int {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "net/http.(*Server).Serve(") || strings.Contains(g, "net/http.(*conn).serve(") {
			n++
		}
	}
	return n
}

func TestCloseReleasesEverything(t *testing.T) {
	c, err := emulator.Start(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{hostPort(t, c.SoracomURL), hostPort(t, c.AppStreamURL), hostPort(t, c.EC2URL)}
	if len(slices.Compact(slices.Sorted(slices.Values(addrs)))) != 3 {
		t.Fatalf("addresses %v", addrs)
	}
	// A connection that never sends a request (as a client transport leaves
	// behind when it dials more than it uses) must not hold up Close.
	for _, a := range addrs {
		conn, err := net.Dial("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close() }()
	}
	// Keep-alive connections open to each server (accepted after the idle ones).
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	for _, u := range []string{c.SoracomURL + "/v1/sims", c.AppStreamURL, c.EC2URL} {
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	begin := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Fatalf("Close took %v: it waited for connections without a request", d)
	}
	if err := c.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	for _, a := range addrs {
		if conn, err := net.DialTimeout("tcp", a, 5*time.Second); err == nil {
			_ = conn.Close()
			t.Fatalf("%s still accepts connections", a)
		}
	}
	// The server goroutines are gone (they exit right after their connection is closed).
	deadline := time.Now().Add(10 * time.Second)
	for serverGoroutines() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d server goroutines left", serverGoroutines())
		}
		runtime.Gosched()
	}

	// The same fixed ports can be served again at once.
	c2, err := emulator.Start(emulator.Options{SoracomAddr: addrs[0], AppStreamAddr: addrs[1], EC2Addr: addrs[2]})
	if err != nil {
		t.Fatal(err)
	}
	if c2.SoracomURL != c.SoracomURL || c2.AppStreamURL != c.AppStreamURL || c2.EC2URL != c.EC2URL {
		t.Fatalf("fixed ports not used: %s %s %s", c2.SoracomURL, c2.AppStreamURL, c2.EC2URL)
	}
	if code, _ := get(t, c2.SoracomURL+"/v1/sims"); code != http.StatusBadRequest && code != http.StatusUnauthorized && code != http.StatusForbidden {
		t.Fatalf("SORACOM without credentials: %d", code)
	}
	check(t, c2.Close())
}

func TestStartFailsOnBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	c, err := emulator.Start(emulator.Options{EC2Addr: ln.Addr().String()})
	if err == nil {
		_ = c.Close()
		t.Fatal("Start on a busy port succeeded")
	}
	if !strings.Contains(err.Error(), "EC2") {
		t.Fatalf("error %v", err)
	}
}

// TestConcurrentAcrossAPIs runs SORACOM, EC2 and AppStream calls at once
// (go test -race), including the cross-API Canal path, and checks that the
// world and the call log add up.
func TestConcurrentAcrossAPIs(t *testing.T) {
	e := start(t, emulator.Options{})
	ctx := t.Context()
	vpg := e.runningVPG(t, ctx)
	const n = 8

	var wg sync.WaitGroup
	errs := make(chan error, 3*n)
	pcxs := make([]string, n)
	for i := range n {
		// SORACOM + EC2: Canal peering requested on SORACOM, accepted and routed on EC2.
		wg.Go(func() {
			pc, err := e.sor.CreateVPCPeeringConnection(ctx, vpg.VPGID, &soracom.CreateVPCPeeringConnectionRequest{
				DestinationCIDRBlock: emulator.DemoVPCCIDR, PeerOwnerID: emulator.DemoAWSAccountID,
				PeerRegion: emulator.DemoAWSRegion, PeerVPCID: emulator.DemoVPCID,
			})
			if err != nil {
				errs <- fmt.Errorf("peering %d: %w", i, err)
				return
			}
			pcxs[i] = pc.ID
			if _, err := e.ec2.AcceptVpcPeeringConnection(ctx, &ec2.AcceptVpcPeeringConnectionInput{VpcPeeringConnectionId: awssdk.String(pc.ID)}); err != nil {
				errs <- fmt.Errorf("accept %d: %w", i, err)
				return
			}
			if _, err := e.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: awssdk.String(emulator.DemoRouteTableID),
				DestinationCidrBlock: awssdk.String(fmt.Sprintf("172.16.%d.0/24", i)), VpcPeeringConnectionId: awssdk.String(pc.ID)}); err != nil {
				errs <- fmt.Errorf("route %d: %w", i, err)
			}
		})
		// SORACOM: groups and SIMs.
		wg.Go(func() {
			g, err := e.sor.CreateGroup(ctx, &soracom.CreateGroupRequest{Tags: map[string]string{"name": fmt.Sprintf("g-%d", i)}})
			if err != nil {
				errs <- fmt.Errorf("group %d: %w", i, err)
				return
			}
			if _, err := e.sor.SetSimGroup(ctx, e.seed.SIMs[i%len(e.seed.SIMs)], g.GroupID); err != nil {
				errs <- fmt.Errorf("set group %d: %w", i, err)
				return
			}
			if _, err := e.sor.ListSims(ctx, soracom.PageOptions{Limit: 2}); err != nil {
				errs <- fmt.Errorf("sims %d: %w", i, err)
			}
		})
		// AppStream: fleets and stacks.
		wg.Go(func() {
			name := fmt.Sprintf("fleet-%d", i)
			if _, err := e.as.CreateFleet(ctx, &appstream.CreateFleetInput{Name: awssdk.String(name), ImageName: awssdk.String(emulator.DemoImageName),
				InstanceType: awssdk.String("stream.standard.medium"), ComputeCapacity: &astypes.ComputeCapacity{DesiredInstances: awssdk.Int32(1)},
				VpcConfig: &astypes.VpcConfig{SubnetIds: []string{emulator.DemoSubnetID}, SecurityGroupIds: []string{emulator.DemoSecurityGroupID}}}); err != nil {
				errs <- fmt.Errorf("fleet %d: %w", i, err)
				return
			}
			if _, err := e.as.CreateStack(ctx, &appstream.CreateStackInput{Name: awssdk.String(name)}); err != nil {
				errs <- fmt.Errorf("stack %d: %w", i, err)
				return
			}
			if _, err := e.as.AssociateFleet(ctx, &appstream.AssociateFleetInput{FleetName: awssdk.String(name), StackName: awssdk.String(name)}); err != nil {
				errs <- fmt.Errorf("associate %d: %w", i, err)
				return
			}
			if _, err := e.as.DescribeFleets(ctx, &appstream.DescribeFleetsInput{}); err != nil {
				errs <- fmt.Errorf("describe %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	// The world adds up.
	v, _ := e.c.Soracom.VPG(vpg.VPGID)
	if len(v.VPCPeeringConnections) != n {
		t.Fatalf("VPG peerings %d", len(v.VPCPeeringConnections))
	}
	active := 0
	for _, p := range e.c.AWS.Peerings() {
		if p.Status == "active" {
			active++
		}
	}
	if active != n {
		t.Fatalf("active peerings %d", active)
	}
	rt, _ := e.c.AWS.RouteTable(emulator.DemoRouteTableID)
	if len(rt.Routes) != n+1 { // + local
		t.Fatalf("routes %+v", rt.Routes)
	}
	if len(e.c.AWS.Fleets()) != n || len(e.c.AWS.Stacks()) != n || len(e.c.AWS.Associations()) != n || len(e.c.Soracom.Groups()) != n {
		t.Fatalf("fleets %d stacks %d associations %d groups %d", len(e.c.AWS.Fleets()), len(e.c.AWS.Stacks()),
			len(e.c.AWS.Associations()), len(e.c.Soracom.Groups()))
	}
	// And so does the call log.
	for _, c := range []struct {
		api, op string
		want    int
	}{
		{emulator.APISoracom, emusoracom.OpCreateVPCPeering, n},
		{emulator.APISoracom, emusoracom.OpCreateGroup, n},
		{emulator.APISoracom, emusoracom.OpAuth, 1}, // the client authenticates once for all goroutines
		{emulator.APIEC2, "AcceptVpcPeeringConnection", n},
		{emulator.APIEC2, "CreateRoute", n},
		{emulator.APIAppStream, "CreateFleet", n},
		{emulator.APIAppStream, "DescribeFleets", n},
	} {
		if got := e.c.Faults.Count(c.api, c.op); got != c.want {
			t.Errorf("calls %s/%s: %d, want %d", c.api, c.op, got, c.want)
		}
	}
}
