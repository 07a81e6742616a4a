package aws_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	clocktesting "k8s.io/utils/clock/testing"

	emu "github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/fault"
)

const region = "ap-northeast-1"

var t0 = time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC)

type env struct {
	w      *emu.World
	clk    *clocktesting.FakeClock
	as     *appstream.Client // no retries: every fault and error is seen raw
	ec2    *ec2.Client       // no retries
	asURL  string
	ec2URL string
	cfg    awssdk.Config
}

// newEnv starts both emulators on 127.0.0.1 kernel ports and returns SDK clients for them.
func newEnv(t *testing.T, opts emu.Options) *env {
	t.Helper()
	clk := clocktesting.NewFakeClock(t0)
	if opts.Clock == nil {
		opts.Clock = clk
	}
	if opts.Faults == nil {
		opts.Faults = fault.New(1)
	}
	w := emu.New(opts)
	as := httptest.NewServer(w.AppStreamHandler())
	t.Cleanup(as.Close)
	e2 := httptest.NewServer(w.EC2Handler())
	t.Cleanup(e2.Close)
	w.SetStreamingBaseURL(as.URL)
	cfg := awssdk.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
	}
	e := &env{w: w, clk: clk, asURL: as.URL, ec2URL: e2.URL, cfg: cfg}
	e.as = e.appstreamClient(awssdk.NopRetryer{})
	e.ec2 = e.ec2Client(awssdk.NopRetryer{})
	return e
}

// appstreamClient returns a client with the given retryer (nil: the SDK default).
func (e *env) appstreamClient(r awssdk.Retryer) *appstream.Client {
	return appstream.NewFromConfig(e.cfg, func(o *appstream.Options) {
		o.BaseEndpoint = awssdk.String(e.asURL)
		o.HTTPClient = plainBodyClient{awshttp.NewBuildableClient()}
		if r != nil {
			o.Retryer = r
		}
	})
}

func (e *env) ec2Client(r awssdk.Retryer) *ec2.Client {
	return ec2.NewFromConfig(e.cfg, func(o *ec2.Options) {
		o.BaseEndpoint = awssdk.String(e.ec2URL)
		o.HTTPClient = plainBodyClient{awshttp.NewBuildableClient()}
		if r != nil {
			o.Retryer = r
		}
	})
}

// plainBodyClient hides io.WriterTo of request bodies. smithy-go closes the
// request body as soon as Do returns, and its body's WriteTo then returns
// io.EOF as an error; net/http's write loop still copies the (empty) rest of
// the body after the server has answered and, on that error, closes the
// connection under the response being read ("use of closed network
// connection"). Only a server as fast as a loopback emulator answers within
// that window, and only responses longer than one read (about 4 KB) are
// cut. Plain Read returns (0, io.EOF) after Close, which net/http takes as
// the end of the body.
type plainBodyClient struct {
	c interface {
		Do(*http.Request) (*http.Response, error)
	}
}

type plainBody struct{ io.ReadCloser }

func (p plainBodyClient) Do(r *http.Request) (*http.Response, error) {
	if _, ok := r.Body.(io.WriterTo); ok {
		r.Body = plainBody{r.Body}
	}
	return p.c.Do(r)
}

// fastRetryer is the SDK's standard retryer (default retryable errors and attempts) without the backoff wait.
func fastRetryer() awssdk.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
	})
}

var ctx = context.Background()

// must(f())(t) fails the test if f returned an error, else returns f's value.
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

// wantType asserts errors.As to the typed SDK error E.
func wantType[E error](t *testing.T, err error) E {
	t.Helper()
	var target E
	if !errors.As(err, &target) {
		t.Fatalf("want %T, got %T: %v", target, err, err)
	}
	return target
}

// wantCode asserts the smithy.APIError code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want API error %s, got %T: %v", code, err, err)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("want error code %s, got %s (%s)", code, ae.ErrorCode(), ae.ErrorMessage())
	}
}

// seed builds a VPC with two subnets, a security group, a route table and an image with three apps.
func seed(w *emu.World) {
	w.AddVPC("vpc-0abc", "10.0.0.0/16")
	w.AddSubnet("subnet-0a", "vpc-0abc", "10.0.1.0/24", "ap-northeast-1a")
	w.AddSubnet("subnet-0b", "vpc-0abc", "10.0.2.0/24", "ap-northeast-1c")
	w.AddRouteTable("rtb-0main", "vpc-0abc")
	w.AddRouteTable("rtb-0abc", "vpc-0abc", "subnet-0a", "subnet-0b")
	w.AddSecurityGroup(emu.SecurityGroup{ID: "sg-0a", VPCID: "vpc-0abc", Name: "appstream",
		Ingress: []emu.Rule{{Protocol: "tcp", FromPort: 443, ToPort: 443, CIDRs: []string{"10.0.0.0/16"}}},
		Egress:  []emu.Rule{{Protocol: "-1", CIDRs: []string{"0.0.0.0/0"}}}})
	w.AddImage("TeraTerm-Image", "AVAILABLE",
		emu.Application{Name: "teraterm", DisplayName: "Tera Term"},
		emu.Application{Name: "rdp", DisplayName: "Remote Desktop"},
		emu.Application{Name: "firefox", DisplayName: "Firefox"})
}

func fleetInput(name string, desired int32) *appstream.CreateFleetInput {
	return &appstream.CreateFleetInput{
		Name:            awssdk.String(name),
		InstanceType:    awssdk.String("stream.standard.medium"),
		ImageName:       awssdk.String("TeraTerm-Image"),
		FleetType:       astypes.FleetTypeOnDemand,
		ComputeCapacity: &astypes.ComputeCapacity{DesiredInstances: awssdk.Int32(desired)},
		VpcConfig:       &astypes.VpcConfig{SubnetIds: []string{"subnet-0a"}, SecurityGroupIds: []string{"sg-0a"}},
	}
}

func (e *env) describeFleet(t *testing.T, name string) astypes.Fleet {
	t.Helper()
	out := must(e.as.DescribeFleets(ctx, &appstream.DescribeFleetsInput{Names: []string{name}}))(t)
	if len(out.Fleets) != 1 {
		t.Fatalf("want 1 fleet, got %d", len(out.Fleets))
	}
	return out.Fleets[0]
}

// runningFleetWithStack creates fleet f and stack s, associates them and starts the fleet.
func (e *env) runningFleetWithStack(t *testing.T, f, s string, desired int32) {
	t.Helper()
	must(e.as.CreateFleet(ctx, fleetInput(f, desired)))(t)
	must(e.as.CreateStack(ctx, &appstream.CreateStackInput{Name: awssdk.String(s)}))(t)
	must(e.as.AssociateFleet(ctx, &appstream.AssociateFleetInput{FleetName: awssdk.String(f), StackName: awssdk.String(s)}))(t)
	must(e.as.StartFleet(ctx, &appstream.StartFleetInput{Name: awssdk.String(f)}))(t)
	if st := e.describeFleet(t, f).State; st != astypes.FleetStateRunning {
		t.Fatalf("fleet %s: want RUNNING (no start delay), got %s", f, st)
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}
