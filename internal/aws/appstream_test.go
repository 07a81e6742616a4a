package aws

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"

	emu "github.com/gatestream/gatestream/internal/emulator/aws"
)

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

// openURL opens a streaming URL as a browser would, which starts a session in the emulator.
func openURL(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET streaming URL: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET streaming URL: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// runningFleet creates fleet f and stack s through the adapter, associates and starts them.
func runningFleet(t *testing.T, e *testEnv, as AppStreamAPI, f, s string, desired int32) {
	t.Helper()
	ctx := context.Background()
	must(as.CreateFleet(ctx, fleetInput(f, desired)))(t)
	must(as.CreateStack(ctx, &appstream.CreateStackInput{Name: awssdk.String(s)}))(t)
	noErr(t, as.AssociateFleet(ctx, s, f))
	noErr(t, as.StartFleet(ctx, f))
	e.clk.Step(10 * time.Minute)
	if st := must(as.DescribeFleet(ctx, f))(t).State; st != astypes.FleetStateRunning {
		t.Fatalf("fleet %s: want RUNNING, got %s", f, st)
	}
}

func TestAppStreamLifecycle(t *testing.T) {
	e := newTestEnv(t, emu.Options{FleetStartDelay: 10 * time.Minute, FleetStopDelay: 5 * time.Minute})
	obs := &observations{}
	cfg := e.config()
	cfg.Observe = obs.observe
	as := e.clients(t, cfg).AppStream
	ctx := context.Background()

	// Absent things are not-found, both as codes and as ErrNotFound.
	_, err := as.DescribeFleet(ctx, "factory")
	if !IsNotFound(err) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("DescribeFleet(absent): want not found, got %v", err)
	}
	_, err = as.DescribeStack(ctx, "factory")
	if !IsNotFound(err) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("DescribeStack(absent): want not found, got %v", err)
	}

	img := must(as.DescribeImage(ctx, "TeraTerm-Image"))(t)
	if awssdk.ToString(img.Name) != "TeraTerm-Image" || len(img.Applications) != 2 {
		t.Fatalf("DescribeImage: %+v", img)
	}
	if _, err := as.DescribeImage(ctx, "No-Such-Image"); !IsNotFound(err) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("DescribeImage(absent): want not found, got %v", err)
	}

	// Fleet: created STOPPED, StartFleet -> STARTING -> (clock) RUNNING.
	f := must(as.CreateFleet(ctx, fleetInput("factory", 2)))(t)
	if f.State != astypes.FleetStateStopped || awssdk.ToString(f.Arn) == "" {
		t.Fatalf("CreateFleet: %+v", f)
	}
	_, err = as.CreateFleet(ctx, fleetInput("factory", 2))
	if !IsAlreadyExists(err) || IsTerminal(err) || IsRetryable(err) {
		t.Fatalf("CreateFleet twice: want already exists, got %v", err)
	}
	noErr(t, as.StartFleet(ctx, "factory"))
	if st := must(as.DescribeFleet(ctx, "factory"))(t).State; st != astypes.FleetStateStarting {
		t.Fatalf("after StartFleet: want STARTING, got %s", st)
	}
	e.clk.Step(10 * time.Minute)
	got := must(as.DescribeFleet(ctx, "factory"))(t)
	if got.State != astypes.FleetStateRunning || awssdk.ToInt32(got.ComputeCapacityStatus.Running) != 2 {
		t.Fatalf("after start delay: want RUNNING with 2 instances, got %s %+v", got.State, got.ComputeCapacityStatus)
	}
	upd := must(as.UpdateFleet(ctx, &appstream.UpdateFleetInput{Name: awssdk.String("factory"), DisplayName: awssdk.String("Factory")}))(t)
	if awssdk.ToString(upd.DisplayName) != "Factory" {
		t.Fatalf("UpdateFleet: %+v", upd)
	}

	// Tags.
	noErr(t, as.TagResource(ctx, awssdk.ToString(f.Arn), map[string]string{"gatestream.io/owner": "uid-1"}))
	tags := must(as.ListTagsForResource(ctx, awssdk.ToString(f.Arn)))(t)
	if tags["gatestream.io/owner"] != "uid-1" {
		t.Fatalf("ListTagsForResource: %v", tags)
	}
	noErr(t, as.UntagResource(ctx, awssdk.ToString(f.Arn), []string{"gatestream.io/owner"}))
	if tags := must(as.ListTagsForResource(ctx, awssdk.ToString(f.Arn)))(t); len(tags) != 0 {
		t.Fatalf("after UntagResource: %v", tags)
	}

	// Stack and association.
	st := must(as.CreateStack(ctx, &appstream.CreateStackInput{Name: awssdk.String("factory"), DisplayName: awssdk.String("Device access")}))(t)
	if awssdk.ToString(st.Name) != "factory" {
		t.Fatalf("CreateStack: %+v", st)
	}
	st = must(as.UpdateStack(ctx, &appstream.UpdateStackInput{Name: awssdk.String("factory"), DisplayName: awssdk.String("Devices")}))(t)
	if awssdk.ToString(must(as.DescribeStack(ctx, "factory"))(t).DisplayName) != "Devices" {
		t.Fatalf("UpdateStack not visible: %+v", st)
	}
	noErr(t, as.AssociateFleet(ctx, "factory", "factory"))
	if names := must(as.ListAssociatedFleets(ctx, "factory"))(t); !slices.Equal(names, []string{"factory"}) {
		t.Fatalf("ListAssociatedFleets: %v", names)
	}
	if names := must(as.ListAssociatedStacks(ctx, "factory"))(t); !slices.Equal(names, []string{"factory"}) {
		t.Fatalf("ListAssociatedStacks: %v", names)
	}

	// Streaming URL, session, expiry.
	url, expires, err := as.CreateStreamingURL(ctx, "factory", "factory", "user-a", "teraterm", "10.128.3.7:22", 5*time.Minute)
	noErr(t, err)
	if want := e.clk.Now().Add(5 * time.Minute); url == "" || !expires.Equal(want) {
		t.Fatalf("CreateStreamingURL: url %q expires %v, want expiry %v", url, expires, want)
	}
	if u := e.w.StreamingURLs(); len(u) != 1 || u[0].ApplicationId != "teraterm" || u[0].SessionContext != "10.128.3.7:22" || u[0].UserId != "user-a" {
		t.Fatalf("minted URL: %+v", u)
	}
	if page := openURL(t, url); !strings.Contains(page, "user-a") {
		t.Fatalf("streaming page does not name the user: %s", page)
	}
	if _, _, err := as.CreateStreamingURL(ctx, "factory", "factory", "user-a", "no-such-app", "", time.Minute); !IsTerminal(err) {
		t.Fatalf("CreateStreamingURL(unknown app): want terminal error, got %v", err)
	}
	sessions := must(as.DescribeUserSessions(ctx, "factory", "factory", "user-a"))(t)
	if len(sessions) != 1 || awssdk.ToString(sessions[0].UserId) != "user-a" || sessions[0].State != astypes.SessionStateActive {
		t.Fatalf("DescribeUserSessions(user-a): %+v", sessions)
	}
	if s := must(as.DescribeUserSessions(ctx, "factory", "factory", "user-b"))(t); len(s) != 0 {
		t.Fatalf("DescribeUserSessions(user-b): %+v", s)
	}
	if s := must(as.DescribeUserSessions(ctx, "factory", "factory", ""))(t); len(s) != 1 {
		t.Fatalf("DescribeUserSessions(all users): %+v", s)
	}
	noErr(t, as.ExpireSession(ctx, awssdk.ToString(sessions[0].Id)))
	if s := must(as.DescribeUserSessions(ctx, "factory", "factory", "user-a"))(t); len(s) != 0 {
		t.Fatalf("after ExpireSession: %+v", s)
	}

	// Teardown in dependency order; deletes of absent things are not-found.
	if err := as.DeleteFleet(ctx, "factory"); err == nil || IsNotFound(err) {
		t.Fatalf("DeleteFleet(running, associated): want an error that is not not-found, got %v", err)
	}
	noErr(t, as.DisassociateFleet(ctx, "factory", "factory"))
	noErr(t, as.StopFleet(ctx, "factory"))
	e.clk.Step(5 * time.Minute)
	if st := must(as.DescribeFleet(ctx, "factory"))(t).State; st != astypes.FleetStateStopped {
		t.Fatalf("after stop delay: want STOPPED, got %s", st)
	}
	noErr(t, as.DeleteFleet(ctx, "factory"))
	noErr(t, as.DeleteStack(ctx, "factory"))
	if err := as.DeleteFleet(ctx, "factory"); !IsNotFound(err) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("DeleteFleet(absent): want not found, got %v", err)
	}
	if err := as.DeleteStack(ctx, "factory"); !IsNotFound(err) {
		t.Fatalf("DeleteStack(absent): want not found, got %v", err)
	}
	if _, err := as.DescribeFleet(ctx, "factory"); !IsNotFound(err) {
		t.Fatalf("DescribeFleet(deleted): want not found, got %v", err)
	}

	// Every call was observed, with its operation name and outcome.
	calls := obs.get()
	if len(calls) == 0 {
		t.Fatal("Observe was never called")
	}
	for _, c := range calls {
		if c.service != ServiceAppStream || c.op == "" || c.d < 0 {
			t.Fatalf("bad observation %+v", c)
		}
	}
	if n := obs.count(ServiceAppStream, "CreateStreamingURL"); n != 2 {
		t.Fatalf("CreateStreamingURL observed %d times, want 2", n)
	}
	if calls[0].op != "DescribeFleets" || Result(calls[0].err) != "not_found" {
		t.Fatalf("first observation: %+v (%s)", calls[0], Result(calls[0].err))
	}
	var sawSuccess bool
	for _, c := range calls {
		if c.op == "StartFleet" && c.err == nil {
			sawSuccess = true
		}
	}
	if !sawSuccess {
		t.Fatal("no successful StartFleet observed")
	}
}

func TestDescribeUserSessionsFollowsNextToken(t *testing.T) {
	e := newTestEnv(t, emu.Options{})
	obs := &observations{}
	cfg := e.config()
	cfg.Observe = obs.observe
	as := e.clients(t, cfg).AppStream
	as.(*appStreamClient).sessionsPageSize = 2
	ctx := context.Background()
	runningFleet(t, e, as, "f", "s", 5)
	for range 5 {
		url, _, err := as.CreateStreamingURL(ctx, "s", "f", "user-a", "", "", time.Minute)
		noErr(t, err)
		openURL(t, url)
	}
	before := obs.count(ServiceAppStream, "DescribeSessions")
	sessions := must(as.DescribeUserSessions(ctx, "s", "f", "user-a"))(t)
	if len(sessions) != 5 {
		t.Fatalf("want 5 sessions over pages, got %d", len(sessions))
	}
	if n := obs.count(ServiceAppStream, "DescribeSessions") - before; n != 3 {
		t.Fatalf("want 3 DescribeSessions pages, got %d", n)
	}
	ids := map[string]bool{}
	for _, s := range sessions {
		ids[awssdk.ToString(s.Id)] = true
	}
	if len(ids) != 5 {
		t.Fatalf("duplicate sessions across pages: %v", ids)
	}
}

func TestValiditySeconds(t *testing.T) {
	for d, want := range map[time.Duration]int64{time.Second: 1, 1500 * time.Millisecond: 2, 5 * time.Minute: 300, time.Nanosecond: 1} {
		if got := awssdk.ToInt64(validitySeconds(d)); got != want {
			t.Errorf("validitySeconds(%v) = %d, want %d", d, got, want)
		}
	}
	if validitySeconds(0) != nil {
		t.Error("validitySeconds(0) should be nil (service default)")
	}
}

func stackInput(name string) *appstream.CreateStackInput {
	return &appstream.CreateStackInput{Name: awssdk.String(name)}
}
