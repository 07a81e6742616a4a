package aws_test

import (
	"fmt"
	"sync"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	emu "github.com/gatestream/gatestream/internal/emulator/aws"
)

// TestConcurrentClients runs 20 goroutines creating and describing fleets,
// stacks and routes at once; run it with -race.
func TestConcurrentClients(t *testing.T) {
	e := newEnv(t, emu.Options{})
	seed(e.w)
	pcx, err := e.w.RequestPeering("950858143650", "vpc-0soracom", "100.64.0.0/16", "", "vpc-0abc", "")
	if err != nil {
		t.Fatal(err)
	}
	must(e.ec2.AcceptVpcPeeringConnection(ctx, &ec2.AcceptVpcPeeringConnectionInput{VpcPeeringConnectionId: awssdk.String(pcx)}))(t)
	const n = 20
	for i := range n {
		e.w.AddRouteTable(fmt.Sprintf("rtb-%02d", i), "vpc-0abc")
	}
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				name := fmt.Sprintf("fleet-%02d", i)
				if _, err := e.as.CreateFleet(ctx, fleetInput(name, 1)); err != nil {
					return err
				}
				if _, err := e.as.CreateStack(ctx, &appstream.CreateStackInput{Name: awssdk.String(fmt.Sprintf("stack-%02d", i))}); err != nil {
					return err
				}
				if _, err := e.as.StartFleet(ctx, &appstream.StartFleetInput{Name: awssdk.String(name)}); err != nil {
					return err
				}
				if _, err := e.as.DescribeFleets(ctx, &appstream.DescribeFleetsInput{}); err != nil {
					return err
				}
				if _, err := e.as.DescribeStacks(ctx, &appstream.DescribeStacksInput{}); err != nil {
					return err
				}
				// All goroutines also race for one route in a shared table: exactly one wins.
				_, _ = e.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: awssdk.String("rtb-0abc"),
					DestinationCidrBlock: awssdk.String("100.64.0.0/16"), VpcPeeringConnectionId: awssdk.String(pcx)})
				if _, err := e.ec2.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: awssdk.String(fmt.Sprintf("rtb-%02d", i)),
					DestinationCidrBlock: awssdk.String("100.64.0.0/16"), VpcPeeringConnectionId: awssdk.String(pcx)}); err != nil {
					return err
				}
				_, err := e.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{filter("route.vpc-peering-connection-id", pcx)}})
				return err
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := len(e.w.Fleets()); got != n {
		t.Fatalf("fleets %d", got)
	}
	if got := len(e.w.Stacks()); got != n {
		t.Fatalf("stacks %d", got)
	}
	rts := must(e.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{filter("route.vpc-peering-connection-id", pcx)}}))(t)
	if len(rts.RouteTables) != n+1 {
		t.Fatalf("route tables with the peering route: %d", len(rts.RouteTables))
	}
	shared, _ := e.w.RouteTable("rtb-0abc")
	if len(shared.Routes) != 2 {
		t.Fatalf("shared table routes: %+v", shared.Routes)
	}
	if got := e.w.Faults().Count("appstream", "CreateFleet"); got != n {
		t.Fatalf("call log CreateFleet %d", got)
	}
}
