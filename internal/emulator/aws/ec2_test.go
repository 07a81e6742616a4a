package aws_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	emu "github.com/gatestream/gatestream/internal/emulator/aws"
)

func filter(name string, values ...string) ec2types.Filter {
	return ec2types.Filter{Name: awssdk.String(name), Values: values}
}

func TestDescribeNetwork(t *testing.T) {
	e := newEnv(t, emu.Options{})
	seed(e.w)
	e.w.AddVPC("vpc-0other", "172.16.0.0/16")

	vpcs := must(e.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{"vpc-0abc"}}))(t).Vpcs
	if len(vpcs) != 1 || awssdk.ToString(vpcs[0].CidrBlock) != "10.0.0.0/16" || vpcs[0].State != ec2types.VpcStateAvailable ||
		awssdk.ToString(vpcs[0].OwnerId) != "123456789012" || len(vpcs[0].CidrBlockAssociationSet) != 1 {
		t.Fatalf("vpcs %+v", vpcs)
	}
	if all := must(e.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}))(t).Vpcs; len(all) != 2 {
		t.Fatalf("all vpcs %d", len(all))
	}
	if f := must(e.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{filter("cidr", "172.16.*")}}))(t).Vpcs; len(f) != 1 ||
		*f[0].VpcId != "vpc-0other" {
		t.Fatalf("vpc wildcard filter %+v", f)
	}
	_, err := e.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{"vpc-0nope"}})
	wantCode(t, err, "InvalidVpcID.NotFound")
	_, err = e.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{filter("no-such-filter", "x")}})
	wantCode(t, err, "InvalidParameterValue")

	subnets := must(e.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{filter("vpc-id", "vpc-0abc")}}))(t).Subnets
	if len(subnets) != 2 || awssdk.ToString(subnets[0].AvailabilityZone) != "ap-northeast-1a" || awssdk.ToInt32(subnets[0].AvailableIpAddressCount) != 251 {
		t.Fatalf("subnets %+v", subnets)
	}
	_, err = e.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{"subnet-0nope"}})
	wantCode(t, err, "InvalidSubnetID.NotFound")

	sgs := must(e.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-0a"}}))(t).SecurityGroups
	if len(sgs) != 1 {
		t.Fatalf("sgs %+v", sgs)
	}
	sg := sgs[0]
	in, eg := sg.IpPermissions, sg.IpPermissionsEgress
	if awssdk.ToString(sg.VpcId) != "vpc-0abc" || awssdk.ToString(sg.GroupName) != "appstream" || len(in) != 1 || len(eg) != 1 ||
		awssdk.ToString(in[0].IpProtocol) != "tcp" || awssdk.ToInt32(in[0].FromPort) != 443 || awssdk.ToInt32(in[0].ToPort) != 443 ||
		awssdk.ToString(in[0].IpRanges[0].CidrIp) != "10.0.0.0/16" || awssdk.ToString(eg[0].IpProtocol) != "-1" || eg[0].FromPort != nil ||
		awssdk.ToString(eg[0].IpRanges[0].CidrIp) != "0.0.0.0/0" {
		t.Fatalf("sg %+v in=%+v eg=%+v", sg, in, eg)
	}
	if f := must(e.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{filter("vpc-id", "vpc-0other")}}))(t); len(f.SecurityGroups) != 0 {
		t.Fatalf("sg filter %+v", f.SecurityGroups)
	}
	_, err = e.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-0nope"}})
	wantCode(t, err, "InvalidGroup.NotFound")

	// Pagination with MaxResults/NextToken (the SDK paginator).
	for _, id := range []string{"subnet-0c", "subnet-0d", "subnet-0e", "subnet-0f"} {
		e.w.AddSubnet(id, "vpc-0abc", "10.0.9.0/24", "ap-northeast-1a")
	}
	var ids []string
	pg := ec2.NewDescribeSubnetsPaginator(e.ec2, &ec2.DescribeSubnetsInput{MaxResults: awssdk.Int32(5)})
	pages := 0
	for pg.HasMorePages() {
		out := must(pg.NextPage(ctx))(t)
		pages++
		for _, s := range out.Subnets {
			ids = append(ids, *s.SubnetId)
		}
	}
	if pages != 2 || len(ids) != 6 {
		t.Fatalf("subnet pages %d ids %v", pages, ids)
	}
	_, err = e.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{MaxResults: awssdk.Int32(5), SubnetIds: []string{"subnet-0a"}})
	wantCode(t, err, "InvalidParameterCombination")
	_, err = e.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{MaxResults: awssdk.Int32(2)})
	wantCode(t, err, "InvalidParameterValue")
}

func TestPeeringAndRoutes(t *testing.T) {
	e := newEnv(t, emu.Options{})
	seed(e.w)

	// Canal (SORACOM) asks for a peering into the customer VPC.
	pcx, err := e.w.RequestPeering("950858143650", "vpc-0soracom", "100.64.10.0/24", "123456789012", "vpc-0abc", region)
	if err != nil || !strings.HasPrefix(pcx, "pcx-") {
		t.Fatalf("RequestPeering %q %v", pcx, err)
	}
	ps := must(e.ec2.DescribeVpcPeeringConnections(ctx, &ec2.DescribeVpcPeeringConnectionsInput{Filters: []ec2types.Filter{
		filter("status-code", "pending-acceptance"), filter("accepter-vpc-info.vpc-id", "vpc-0abc")}}))(t).VpcPeeringConnections
	if len(ps) != 1 {
		t.Fatalf("pending peerings %+v", ps)
	}
	p := ps[0]
	if *p.VpcPeeringConnectionId != pcx || p.Status.Code != ec2types.VpcPeeringConnectionStateReasonCodePendingAcceptance ||
		awssdk.ToString(p.RequesterVpcInfo.OwnerId) != "950858143650" || awssdk.ToString(p.RequesterVpcInfo.CidrBlock) != "100.64.10.0/24" ||
		awssdk.ToString(p.AccepterVpcInfo.VpcId) != "vpc-0abc" || p.ExpirationTime == nil || !p.ExpirationTime.Equal(t0.Add(7*24*time.Hour)) {
		t.Fatalf("peering %+v %+v %+v", p, p.RequesterVpcInfo, p.AccepterVpcInfo)
	}

	// A route through the pending peering is a blackhole until the peering is active.
	must(e.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: awssdk.String("rtb-0abc"),
		DestinationCidrBlock: awssdk.String("100.64.10.0/24"), VpcPeeringConnectionId: awssdk.String(pcx)}))(t)
	routeState := func() ec2types.RouteState {
		rts := must(e.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{
			filter("route.vpc-peering-connection-id", pcx)}}))(t).RouteTables
		if len(rts) != 1 || *rts[0].RouteTableId != "rtb-0abc" {
			t.Fatalf("route tables by peering: %+v", rts)
		}
		for _, r := range rts[0].Routes {
			if awssdk.ToString(r.VpcPeeringConnectionId) == pcx {
				return r.State
			}
		}
		t.Fatal("route missing")
		return ""
	}
	if s := routeState(); s != ec2types.RouteStateBlackhole {
		t.Fatalf("pending route: %s", s)
	}

	acc := must(e.ec2.AcceptVpcPeeringConnection(ctx, &ec2.AcceptVpcPeeringConnectionInput{VpcPeeringConnectionId: awssdk.String(pcx)}))(t)
	if acc.VpcPeeringConnection.Status.Code != ec2types.VpcPeeringConnectionStateReasonCodeActive ||
		awssdk.ToString(acc.VpcPeeringConnection.AccepterVpcInfo.CidrBlock) != "10.0.0.0/16" {
		t.Fatalf("accept %+v", acc.VpcPeeringConnection)
	}
	if s := routeState(); s != ec2types.RouteStateActive {
		t.Fatalf("active route: %s", s)
	}
	_, err = e.ec2.AcceptVpcPeeringConnection(ctx, &ec2.AcceptVpcPeeringConnectionInput{VpcPeeringConnectionId: awssdk.String(pcx)})
	wantCode(t, err, "InvalidStateTransition")
	_, err = e.ec2.AcceptVpcPeeringConnection(ctx, &ec2.AcceptVpcPeeringConnectionInput{VpcPeeringConnectionId: awssdk.String("pcx-0nope")})
	wantCode(t, err, "InvalidVpcPeeringConnectionID.NotFound")
	byID := must(e.ec2.DescribeVpcPeeringConnections(ctx, &ec2.DescribeVpcPeeringConnectionsInput{VpcPeeringConnectionIds: []string{pcx}}))(t)
	if len(byID.VpcPeeringConnections) != 1 || byID.VpcPeeringConnections[0].ExpirationTime != nil {
		t.Fatalf("by id %+v", byID.VpcPeeringConnections)
	}
	_, err = e.ec2.DescribeVpcPeeringConnections(ctx, &ec2.DescribeVpcPeeringConnectionsInput{VpcPeeringConnectionIds: []string{"pcx-0nope"}})
	wantCode(t, err, "InvalidVpcPeeringConnectionID.NotFound")

	// Route errors.
	_, err = e.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: awssdk.String("rtb-0abc"),
		DestinationCidrBlock: awssdk.String("100.64.10.0/24"), VpcPeeringConnectionId: awssdk.String(pcx)})
	wantCode(t, err, "RouteAlreadyExists")
	_, err = e.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: awssdk.String("rtb-0nope"),
		DestinationCidrBlock: awssdk.String("100.64.11.0/24"), VpcPeeringConnectionId: awssdk.String(pcx)})
	wantCode(t, err, "InvalidRouteTableID.NotFound")
	_, err = e.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: awssdk.String("rtb-0abc"),
		DestinationCidrBlock: awssdk.String("100.64.11.0/24"), VpcPeeringConnectionId: awssdk.String("pcx-0nope")})
	wantCode(t, err, "InvalidVpcPeeringConnectionID.NotFound")
	_, err = e.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: awssdk.String("rtb-0abc"), DestinationCidrBlock: awssdk.String("100.64.11.0/24")})
	wantCode(t, err, "MissingParameter")
	_, err = e.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: awssdk.String("rtb-0abc"),
		DestinationCidrBlock: awssdk.String("not-a-cidr"), GatewayId: awssdk.String("igw-0a")})
	wantCode(t, err, "InvalidParameterValue")
	_, err = e.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: awssdk.String("rtb-0abc"),
		DestinationCidrBlock: awssdk.String("10.0.0.0/16"), GatewayId: awssdk.String("igw-0a")})
	wantCode(t, err, "RouteAlreadyExists") // the local route

	// Gateway route, replaced by the peering, deleted.
	must(e.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: awssdk.String("rtb-0abc"),
		DestinationCidrBlock: awssdk.String("0.0.0.0/0"), GatewayId: awssdk.String("igw-0a")}))(t)
	must(e.ec2.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: awssdk.String("rtb-0abc"),
		DestinationCidrBlock: awssdk.String("0.0.0.0/0"), VpcPeeringConnectionId: awssdk.String(pcx)}))(t)
	rt, _ := e.w.RouteTable("rtb-0abc")
	if len(rt.Routes) != 3 || rt.Routes[2].VpcPeeringConnectionID != pcx || rt.Routes[2].GatewayID != "" {
		t.Fatalf("replaced: %+v", rt.Routes)
	}
	_, err = e.ec2.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: awssdk.String("rtb-0abc"),
		DestinationCidrBlock: awssdk.String("192.168.0.0/16"), GatewayId: awssdk.String("igw-0a")})
	wantCode(t, err, "InvalidParameterValue")
	must(e.ec2.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: awssdk.String("rtb-0abc"), DestinationCidrBlock: awssdk.String("0.0.0.0/0")}))(t)
	_, err = e.ec2.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: awssdk.String("rtb-0abc"), DestinationCidrBlock: awssdk.String("0.0.0.0/0")})
	wantCode(t, err, "InvalidRoute.NotFound")
	_, err = e.ec2.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: awssdk.String("rtb-0abc"), DestinationCidrBlock: awssdk.String("10.0.0.0/16")})
	wantCode(t, err, "InvalidParameterValue")

	// Route table filters.
	bySubnet := must(e.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{filter("association.subnet-id", "subnet-0b")}}))(t).RouteTables
	if len(bySubnet) != 1 || *bySubnet[0].RouteTableId != "rtb-0abc" || len(bySubnet[0].Associations) != 2 ||
		bySubnet[0].Associations[0].AssociationState.State != ec2types.RouteTableAssociationStateCodeAssociated {
		t.Fatalf("by subnet %+v", bySubnet)
	}
	main := must(e.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{filter("vpc-id", "vpc-0abc"), filter("association.main", "true")}}))(t).RouteTables
	if len(main) != 1 || *main[0].RouteTableId != "rtb-0main" || !awssdk.ToBool(main[0].Associations[0].Main) ||
		awssdk.ToString(main[0].Routes[0].GatewayId) != "local" || main[0].Routes[0].Origin != ec2types.RouteOriginCreateRouteTable {
		t.Fatalf("main %+v", main)
	}
	byID2 := must(e.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{filter("route-table-id", "rtb-0main", "rtb-0abc")}}))(t).RouteTables
	if len(byID2) != 2 {
		t.Fatalf("by route-table-id %+v", byID2)
	}
	_, err = e.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{"rtb-0nope"}})
	wantCode(t, err, "InvalidRouteTableID.NotFound")

	// Deleting the peering blackholes its routes; it stays visible as deleted for a while.
	must(e.ec2.DeleteVpcPeeringConnection(ctx, &ec2.DeleteVpcPeeringConnectionInput{VpcPeeringConnectionId: awssdk.String(pcx)}))(t)
	if s := routeState(); s != ec2types.RouteStateBlackhole {
		t.Fatalf("route after delete: %s", s)
	}
	del := must(e.ec2.DescribeVpcPeeringConnections(ctx, &ec2.DescribeVpcPeeringConnectionsInput{VpcPeeringConnectionIds: []string{pcx}}))(t).VpcPeeringConnections
	if len(del) != 1 || del[0].Status.Code != ec2types.VpcPeeringConnectionStateReasonCodeDeleted {
		t.Fatalf("deleted %+v", del)
	}
	_, err = e.ec2.DeleteVpcPeeringConnection(ctx, &ec2.DeleteVpcPeeringConnectionInput{VpcPeeringConnectionId: awssdk.String(pcx)})
	wantCode(t, err, "InvalidStateTransition")
	_, err = e.ec2.AcceptVpcPeeringConnection(ctx, &ec2.AcceptVpcPeeringConnectionInput{VpcPeeringConnectionId: awssdk.String(pcx)})
	wantCode(t, err, "InvalidStateTransition")
	e.clk.Step(2 * time.Hour)
	_, err = e.ec2.DescribeVpcPeeringConnections(ctx, &ec2.DescribeVpcPeeringConnectionsInput{VpcPeeringConnectionIds: []string{pcx}})
	wantCode(t, err, "InvalidVpcPeeringConnectionID.NotFound")

	// Failed requests: unknown VPC, wrong owner, wrong region, overlapping CIDR.
	for _, c := range [][3]string{{"vpc-0nope", "123456789012", region}, {"vpc-0abc", "999999999999", region},
		{"vpc-0abc", "123456789012", "us-east-1"}} {
		id, err := e.w.RequestPeering("950858143650", "vpc-0soracom", "100.64.20.0/24", c[1], c[0], c[2])
		if err != nil {
			t.Fatal(err)
		}
		got := must(e.ec2.DescribeVpcPeeringConnections(ctx, &ec2.DescribeVpcPeeringConnectionsInput{VpcPeeringConnectionIds: []string{id}}))(t).VpcPeeringConnections
		if got[0].Status.Code != ec2types.VpcPeeringConnectionStateReasonCodeFailed {
			t.Fatalf("%v: %+v", c, got[0].Status)
		}
	}
	id, _ := e.w.RequestPeering("950858143650", "vpc-0soracom", "10.0.128.0/20", "123456789012", "vpc-0abc", region)
	if got := peering(t, e, id); got.Status.Code != ec2types.VpcPeeringConnectionStateReasonCodeFailed {
		t.Fatalf("overlap: %+v", got.Status)
	}

	// Canal deletes its side; an unaccepted request expires after 7 days.
	id1, _ := e.w.RequestPeering("950858143650", "vpc-0soracom", "100.64.30.0/24", "", "vpc-0abc", "")
	if err := e.w.DeletePeering(id1); err != nil {
		t.Fatal(err)
	}
	if got := peering(t, e, id1); got.Status.Code != ec2types.VpcPeeringConnectionStateReasonCodeDeleted {
		t.Fatalf("canal delete: %+v", got.Status)
	}
	id2, _ := e.w.RequestPeering("950858143650", "vpc-0soracom", "100.64.40.0/24", "", "vpc-0abc", "")
	e.clk.Step(7 * 24 * time.Hour)
	if got := peering(t, e, id2); got.Status.Code != ec2types.VpcPeeringConnectionStateReasonCodeExpired {
		t.Fatalf("expiry: %+v", got.Status)
	}
	if ps := e.w.Peerings(); len(ps) != 7 {
		t.Fatalf("world peerings: %d", len(ps))
	}
}

func peering(t *testing.T, e *env, id string) ec2types.VpcPeeringConnection {
	t.Helper()
	out := must(e.ec2.DescribeVpcPeeringConnections(ctx, &ec2.DescribeVpcPeeringConnectionsInput{VpcPeeringConnectionIds: []string{id}}))(t)
	if len(out.VpcPeeringConnections) != 1 {
		t.Fatalf("peering %s: %+v", id, out.VpcPeeringConnections)
	}
	return out.VpcPeeringConnections[0]
}

func TestEC2WireProtocol(t *testing.T) {
	e := newEnv(t, emu.Options{})
	seed(e.w)
	post := func(auth string, form url.Values) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, e.ec2URL+"/", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	form := url.Values{"Action": {"DescribeRouteTables"}, "Version": {"2016-11-15"}, "RouteTableId.1": {"rtb-0abc"}}
	if code, body := post("", form); code != 401 || !strings.Contains(body, "<Code>AuthFailure</Code>") {
		t.Fatalf("unsigned: %d %s", code, body)
	}
	sig := "AWS4-HMAC-SHA256 Credential=AKID/20260901/ap-northeast-1/ec2/aws4_request, SignedHeaders=host, Signature=00"
	code, body := post(sig, form)
	if code != 200 || !strings.Contains(body, `<DescribeRouteTablesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">`) ||
		!strings.Contains(body, "<requestId>") || !strings.Contains(body, "<routeTableId>rtb-0abc</routeTableId>") {
		t.Fatalf("describe: %d %s", code, body)
	}
	if code, body := post(sig, url.Values{"Action": {"CreateNatGateway"}, "Version": {"2016-11-15"}}); code != 400 || !strings.Contains(body, "<Code>InvalidAction</Code>") ||
		!strings.Contains(body, "<RequestID>") {
		t.Fatalf("unknown action: %d %s", code, body)
	}
	// The SDK's DryRun surfaces as DryRunOperation.
	_, err := e.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{DryRun: awssdk.Bool(true)})
	wantCode(t, err, "DryRunOperation")
}
