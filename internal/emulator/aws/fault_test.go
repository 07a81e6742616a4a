package aws_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	emu "github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/fault"
)

func httpStatus(t *testing.T, err error) int {
	t.Helper()
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("no HTTP response in %v", err)
	}
	return re.HTTPStatusCode()
}

func TestFaultsAppStream(t *testing.T) {
	e := newEnv(t, emu.Options{})
	seed(e.w)
	in := &appstream.DescribeFleetsInput{}
	faults := e.w.Faults()

	// Throttle: ThrottlingException, state untouched.
	faults.Add(fault.Rule{API: "appstream", Op: "CreateFleet", Kind: fault.Throttle, Times: 1})
	_, err := e.as.CreateFleet(ctx, fleetInput("f", 1))
	wantCode(t, err, "ThrottlingException")
	if httpStatus(t, err) != 400 || len(e.w.Fleets()) != 0 {
		t.Fatalf("throttle: status %d, fleets %d", httpStatus(t, err), len(e.w.Fleets()))
	}

	// With the SDK's default retryer a throttled call succeeds on retry.
	faults.Add(fault.Rule{API: "appstream", Op: "CreateFleet", Kind: fault.Throttle, Times: 1})
	faults.ClearLog()
	must(e.appstreamClient(nil).CreateFleet(ctx, fleetInput("f", 1)))(t)
	calls := faults.Calls("appstream", "CreateFleet")
	if len(calls) != 2 || calls[0].Fault != fault.Throttle || calls[1].Status != 200 {
		t.Fatalf("default retry: %+v", calls)
	}

	// 500 and 503: raw, then retried.
	for _, c := range []struct {
		kind   fault.Kind
		status int
		code   string
	}{{fault.ServerError, 500, "InternalFailure"}, {fault.Unavailable, 503, "ServiceUnavailable"}} {
		faults.Add(fault.Rule{API: "appstream", Op: "DescribeFleets", Kind: c.kind, Times: 1})
		_, err := e.as.DescribeFleets(ctx, in)
		wantCode(t, err, c.code)
		if s := httpStatus(t, err); s != c.status {
			t.Fatalf("%s: status %d", c.kind, s)
		}
		faults.Add(fault.Rule{API: "appstream", Op: "DescribeFleets", Kind: c.kind, Times: 2})
		if out := must(e.appstreamClient(fastRetryer()).DescribeFleets(ctx, in))(t); len(out.Fleets) != 1 {
			t.Fatalf("%s retried: %+v", c.kind, out.Fleets)
		}
	}

	// Latency is added before the call is served; a shorter deadline gives up.
	faults.Add(fault.Rule{API: "appstream", Op: "DescribeStacks", Latency: 80 * time.Millisecond})
	start := time.Now()
	must(e.as.DescribeStacks(ctx, &appstream.DescribeStacksInput{}))(t)
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Fatalf("latency: served in %v", d)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	_, err = e.as.DescribeStacks(short, &appstream.DescribeStacksInput{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("latency deadline: %v", err)
	}
	faults.Reset()

	// Lost response: the fleet is created, the client sees a transport error,
	// and the retried create finds it (the operator must adopt by name).
	faults.Add(fault.Rule{API: "appstream", Op: "CreateFleet", Kind: fault.LoseResponse, Times: 1})
	_, err = e.as.CreateFleet(ctx, fleetInput("lost", 1))
	if err == nil {
		t.Fatal("lost response: no error")
	}
	if s := httpStatus(t, err); s != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("lost response: want a transport error (EOF, no status), got %d: %v", s, err)
	}
	if len(e.w.Fleets()) != 2 {
		t.Fatalf("lost response: fleet not created: %+v", e.w.Fleets())
	}
	_, err = e.as.CreateFleet(ctx, fleetInput("lost", 1))
	wantType[*astypes.ResourceAlreadyExistsException](t, err)
	lc := faults.Calls("appstream", "CreateFleet")
	if last := lc[len(lc)-2]; last.Fault != fault.LoseResponse || last.Status != 0 {
		t.Fatalf("call log: %+v", last)
	}

	// Faults on the streaming page are HTML.
	faults.Add(fault.Rule{API: "appstream", Op: emu.OpOpenStreamingURL, Kind: fault.Throttle, Times: 1})
	resp, err := http.Get(e.asURL + "/streaming/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("streaming throttle: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestFaultsEC2(t *testing.T) {
	e := newEnv(t, emu.Options{})
	seed(e.w)
	faults := e.w.Faults()
	in := &ec2.DescribeRouteTablesInput{RouteTableIds: []string{"rtb-0abc"}}

	faults.Add(fault.Rule{API: "ec2", Op: "DescribeRouteTables", Kind: fault.Throttle, Times: 1})
	_, err := e.ec2.DescribeRouteTables(ctx, in)
	wantCode(t, err, "RequestLimitExceeded")
	if s := httpStatus(t, err); s != 503 {
		t.Fatalf("throttle status %d", s)
	}
	faults.Add(fault.Rule{API: "ec2", Op: "DescribeRouteTables", Kind: fault.Throttle, Times: 1})
	must(e.ec2Client(fastRetryer()).DescribeRouteTables(ctx, in))(t)

	for _, c := range []struct {
		kind   fault.Kind
		status int
		code   string
	}{{fault.ServerError, 500, "InternalError"}, {fault.Unavailable, 503, "Unavailable"}} {
		faults.Add(fault.Rule{API: "ec2", Op: "DescribeRouteTables", Kind: c.kind, Times: 1})
		_, err := e.ec2.DescribeRouteTables(ctx, in)
		wantCode(t, err, c.code)
		if s := httpStatus(t, err); s != c.status {
			t.Fatalf("%s status %d", c.kind, s)
		}
		faults.Add(fault.Rule{API: "ec2", Op: "DescribeRouteTables", Kind: c.kind, Times: 1})
		must(e.ec2Client(fastRetryer()).DescribeRouteTables(ctx, in))(t)
	}

	// Lost response on CreateRoute: the route exists, a retry finds RouteAlreadyExists.
	pcx, _ := e.w.RequestPeering("950858143650", "vpc-0soracom", "100.64.10.0/24", "123456789012", "vpc-0abc", region)
	faults.Add(fault.Rule{API: "ec2", Op: "CreateRoute", Kind: fault.LoseResponse, Times: 1})
	route := &ec2.CreateRouteInput{RouteTableId: awssdk.String("rtb-0abc"), DestinationCidrBlock: awssdk.String("100.64.10.0/24"), VpcPeeringConnectionId: awssdk.String(pcx)}
	if _, err := e.ec2.CreateRoute(ctx, route); err == nil {
		t.Fatal("lost response: no error")
	}
	_, err = e.ec2.CreateRoute(ctx, route)
	wantCode(t, err, "RouteAlreadyExists")

	// Latency.
	faults.Add(fault.Rule{API: "ec2", Op: fault.Any, Latency: 50 * time.Millisecond, Times: 1})
	start := time.Now()
	must(e.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}))(t)
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("latency: %v", d)
	}
	if n := faults.Count("ec2", "CreateRoute"); n != 2 {
		t.Fatalf("CreateRoute calls %d", n)
	}
}
