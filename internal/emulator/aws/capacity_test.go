package aws_test

import (
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"

	emu "github.com/gatestream/gatestream/internal/emulator/aws"
)

// capacity is Desired, Running, InUse, Available of a fleet.
type capacity struct{ desired, running, inUse, available int32 }

func (e *env) capacity(t *testing.T, name string) capacity {
	t.Helper()
	c := e.describeFleet(t, name).ComputeCapacityStatus
	if c == nil {
		t.Fatalf("fleet %s: no ComputeCapacityStatus", name)
	}
	return capacity{awssdk.ToInt32(c.Desired), awssdk.ToInt32(c.Running), awssdk.ToInt32(c.InUse), awssdk.ToInt32(c.Available)}
}

func (e *env) wantCapacity(t *testing.T, name string, want capacity) {
	t.Helper()
	if got := e.capacity(t, name); got != want {
		t.Fatalf("fleet %s capacity (desired, running, inUse, available): want %+v, got %+v", name, want, got)
	}
}

func (e *env) setDesired(t *testing.T, name string, n int32) {
	t.Helper()
	must(e.as.UpdateFleet(ctx, &appstream.UpdateFleetInput{Name: awssdk.String(name),
		ComputeCapacity: &astypes.ComputeCapacity{DesiredInstances: awssdk.Int32(n)}}))(t)
}

// openSession mints a URL for user on fleet/stack and opens it; it returns the session ID.
func (e *env) openSession(t *testing.T, user string) string {
	t.Helper()
	u := awssdk.ToString(must(e.as.CreateStreamingURL(ctx, urlInput(user)))(t).StreamingURL)
	if code, page := get(t, u); code != 200 {
		t.Fatalf("open for %s: %d %s", user, code, page)
	}
	for _, s := range e.w.Sessions() {
		if s.UserId == user && s.State == emu.SessionActive {
			return s.Id
		}
	}
	t.Fatalf("no active session of %s", user)
	return ""
}

func (e *env) expireSession(t *testing.T, id string) {
	t.Helper()
	must(e.as.ExpireSession(ctx, &appstream.ExpireSessionInput{SessionId: awssdk.String(id)}))(t)
}

func TestFleetScaleOutAfterInstanceStartDelay(t *testing.T) {
	e := newEnv(t, emu.Options{FleetInstanceStartDelay: 2 * time.Minute})
	seed(e.w)
	e.runningFleetWithStack(t, "fleet", "stack", 1)
	// A starting fleet comes up with its desired instances running.
	e.wantCapacity(t, "fleet", capacity{1, 1, 0, 1})

	e.setDesired(t, "fleet", 3)
	e.wantCapacity(t, "fleet", capacity{3, 1, 0, 1})
	e.clk.Step(2*time.Minute - time.Second)
	e.wantCapacity(t, "fleet", capacity{3, 1, 0, 1})
	e.clk.Step(time.Second)
	e.wantCapacity(t, "fleet", capacity{3, 3, 0, 3})

	// Two batches: +2 at 0s and +1 at 60s; lowering back to 5 cancels the newest pending one first.
	e.setDesired(t, "fleet", 5)
	e.clk.Step(time.Minute)
	e.setDesired(t, "fleet", 6)
	e.setDesired(t, "fleet", 5)
	e.clk.Step(time.Minute)
	e.wantCapacity(t, "fleet", capacity{5, 5, 0, 5})
	e.clk.Step(time.Hour)
	e.wantCapacity(t, "fleet", capacity{5, 5, 0, 5})
	// Cancelling pending instances beyond desired does not touch running ones.
	e.setDesired(t, "fleet", 7)
	e.setDesired(t, "fleet", 6)
	e.wantCapacity(t, "fleet", capacity{6, 5, 0, 5})
	e.setDesired(t, "fleet", 4)
	e.wantCapacity(t, "fleet", capacity{4, 4, 0, 4})
	e.clk.Step(time.Hour)
	e.wantCapacity(t, "fleet", capacity{4, 4, 0, 4})

	// The setter applies to capacity raised from now on.
	e.w.SetFleetInstanceStartDelay(0)
	e.setDesired(t, "fleet", 6)
	e.wantCapacity(t, "fleet", capacity{6, 6, 0, 6})

	if n := e.w.Faults().Count("appstream", "UpdateFleet"); n != 8 {
		t.Fatalf("UpdateFleet calls logged: %d", n)
	}
}

func TestFleetScaleInKeepsSessions(t *testing.T) {
	e := newEnv(t, emu.Options{FleetStopDelay: time.Minute})
	seed(e.w)
	in := fleetInput("fleet", 3)
	in.MaxUserDurationInSeconds = awssdk.Int32(600)
	must(e.as.CreateFleet(ctx, in))(t)
	must(e.as.CreateStack(ctx, &appstream.CreateStackInput{Name: awssdk.String("stack")}))(t)
	must(e.as.AssociateFleet(ctx, &appstream.AssociateFleetInput{FleetName: awssdk.String("fleet"), StackName: awssdk.String("stack")}))(t)
	must(e.as.StartFleet(ctx, &appstream.StartFleetInput{Name: awssdk.String("fleet")}))(t)
	e.wantCapacity(t, "fleet", capacity{3, 3, 0, 3})

	a := e.openSession(t, "user-a")
	e.clk.Step(time.Minute)
	b := e.openSession(t, "user-b")
	e.wantCapacity(t, "fleet", capacity{3, 3, 2, 1})

	// Scale-in to 1: only the available instance goes.
	e.setDesired(t, "fleet", 1)
	e.wantCapacity(t, "fleet", capacity{1, 2, 2, 0})
	late := awssdk.ToString(must(e.as.CreateStreamingURL(ctx, urlInput("user-c")))(t).StreamingURL)
	if code, page := get(t, late); code != 503 || !strings.Contains(page, "No streaming resources") {
		t.Fatalf("open without available instances: %d %s", code, page)
	}
	// A session ending beyond desired takes its instance with it.
	e.expireSession(t, a)
	e.wantCapacity(t, "fleet", capacity{1, 1, 1, 0})
	// Within desired, the instance becomes available again (here: at b's maximum duration).
	e.clk.Step(10*time.Minute - time.Second)
	e.wantCapacity(t, "fleet", capacity{1, 1, 1, 0})
	e.clk.Step(time.Second)
	e.wantCapacity(t, "fleet", capacity{1, 1, 0, 1})
	e.expireSession(t, b) // already ended: no change
	e.wantCapacity(t, "fleet", capacity{1, 1, 0, 1})

	// Scale-out from 1 with a session in use counts the in-use instance.
	e.openSession(t, "user-d")
	e.setDesired(t, "fleet", 2)
	e.wantCapacity(t, "fleet", capacity{2, 2, 1, 1})

	// STOPPING and STOPPED fleets have no instances; StopFleet ends the session.
	must(e.as.StopFleet(ctx, &appstream.StopFleetInput{Name: awssdk.String("fleet")}))(t)
	e.wantCapacity(t, "fleet", capacity{2, 0, 0, 0})
	e.clk.Step(time.Minute)
	if st := e.describeFleet(t, "fleet").State; st != astypes.FleetStateStopped {
		t.Fatalf("want STOPPED, got %s", st)
	}
	e.wantCapacity(t, "fleet", capacity{2, 0, 0, 0})
	// Desired may change while STOPPED; the next start brings it up.
	e.setDesired(t, "fleet", 4)
	e.wantCapacity(t, "fleet", capacity{4, 0, 0, 0})
	must(e.as.StartFleet(ctx, &appstream.StartFleetInput{Name: awssdk.String("fleet")}))(t)
	e.wantCapacity(t, "fleet", capacity{4, 4, 0, 4})
}

func TestFleetUsage(t *testing.T) {
	e := newEnv(t, emu.Options{FleetStartDelay: time.Minute, FleetStopDelay: 30 * time.Second, FleetInstanceStartDelay: 2 * time.Minute})
	seed(e.w)
	at := func(sec int) { e.clk.SetTime(t0.Add(time.Duration(sec) * time.Second)) }
	wantUsage := func(want emu.FleetUsage) {
		t.Helper()
		got, ok := e.w.FleetUsage("fleet")
		if !ok || got != want {
			t.Fatalf("usage at %v: want %+v, got %+v (ok %v)", e.clk.Now().Sub(t0), want, got, ok)
		}
	}
	in := fleetInput("fleet", 2)
	in.MaxUserDurationInSeconds = awssdk.Int32(600)
	must(e.as.CreateFleet(ctx, in))(t)
	must(e.as.CreateStack(ctx, &appstream.CreateStackInput{Name: awssdk.String("stack")}))(t)
	must(e.as.AssociateFleet(ctx, &appstream.AssociateFleetInput{FleetName: awssdk.String("fleet"), StackName: awssdk.String("stack")}))(t)

	// Timeline (seconds after t0):
	//   0 StartFleet; 60 RUNNING with 2 instances (seen only at 90)
	//  90 session A (max duration 600: ends at 690)
	// 150 desired 4: 2 more running at 270 (seen only at 400)
	// 400 session B
	// 500 desired 1: running stays 2 (both in use)
	// 690 A reaches its max duration: running 1 (seen only at 800)
	// 800 ExpireSession B: running stays 1 (desired)
	// 850 UpdateFleet with the same desired (not a capacity change)
	// 900 StopFleet: running 0
	must(e.as.StartFleet(ctx, &appstream.StartFleetInput{Name: awssdk.String("fleet")}))(t)
	at(90)
	e.wantCapacity(t, "fleet", capacity{2, 2, 0, 2})
	a := e.openSession(t, "user-a")
	at(150)
	wantUsage(emu.FleetUsage{RunningInstanceSeconds: 2 * 90, InUseInstanceSeconds: 60, Starts: 1})
	e.setDesired(t, "fleet", 4)
	at(400)
	e.wantCapacity(t, "fleet", capacity{4, 4, 1, 3})
	e.openSession(t, "user-b")
	at(500)
	e.setDesired(t, "fleet", 1)
	e.wantCapacity(t, "fleet", capacity{1, 2, 2, 0})
	at(800)
	e.wantCapacity(t, "fleet", capacity{1, 1, 1, 0})
	for _, s := range e.w.Sessions() {
		if s.Id == a && s.State != emu.SessionExpired {
			t.Fatalf("session A not ended at its max duration: %+v", s)
		}
		if s.Id != a {
			e.expireSession(t, s.Id)
		}
	}
	at(850)
	e.setDesired(t, "fleet", 1)
	must(e.as.UpdateFleet(ctx, &appstream.UpdateFleetInput{Name: awssdk.String("fleet"), DisplayName: awssdk.String("x")}))(t)
	at(900)
	must(e.as.StopFleet(ctx, &appstream.StopFleetInput{Name: awssdk.String("fleet")}))(t)
	at(1000)

	// running: 2×(270−60) + 4×(500−270) + 2×(690−500) + 1×(900−690) = 420+920+380+210
	// in use:  A 90..690 (600) + B 400..800 (400)
	want := emu.FleetUsage{RunningInstanceSeconds: 1930, InUseInstanceSeconds: 1000, Starts: 1, Stops: 1, CapacityChanges: 2}
	wantUsage(want)
	at(5000)
	wantUsage(want)
	if _, ok := e.w.FleetUsage("nope"); ok {
		t.Fatal("FleetUsage of an unknown fleet")
	}
	for op, n := range map[string]int{"StartFleet": 1, "StopFleet": 1, "UpdateFleet": 4} {
		if got := e.w.Faults().Count("appstream", op); got != n {
			t.Fatalf("%s calls logged: %d, want %d", op, got, n)
		}
	}
}

func TestElasticFleetSessionCap(t *testing.T) {
	e := newEnv(t, emu.Options{})
	seed(e.w)
	must(e.as.CreateFleet(ctx, &appstream.CreateFleetInput{
		Name: awssdk.String("fleet"), InstanceType: awssdk.String("stream.standard.medium"), ImageName: awssdk.String("TeraTerm-Image"),
		FleetType: astypes.FleetTypeElastic, MaxConcurrentSessions: awssdk.Int32(2), Platform: astypes.PlatformTypeWindowsServer2022,
		VpcConfig: &astypes.VpcConfig{SubnetIds: []string{"subnet-0a", "subnet-0b"}, SecurityGroupIds: []string{"sg-0a"}},
	}))(t)
	must(e.as.CreateStack(ctx, &appstream.CreateStackInput{Name: awssdk.String("stack")}))(t)
	must(e.as.AssociateFleet(ctx, &appstream.AssociateFleetInput{FleetName: awssdk.String("fleet"), StackName: awssdk.String("stack")}))(t)
	must(e.as.StartFleet(ctx, &appstream.StartFleetInput{Name: awssdk.String("fleet")}))(t)
	f := e.describeFleet(t, "fleet")
	if f.State != astypes.FleetStateRunning || awssdk.ToInt32(f.MaxConcurrentSessions) != 2 {
		t.Fatalf("elastic fleet %s, MaxConcurrentSessions %v", f.State, f.MaxConcurrentSessions)
	}
	e.wantCapacity(t, "fleet", capacity{})

	a := e.openSession(t, "user-a")
	e.openSession(t, "user-b")
	e.wantCapacity(t, "fleet", capacity{})
	u := awssdk.ToString(must(e.as.CreateStreamingURL(ctx, urlInput("user-c")))(t).StreamingURL)
	if code, page := get(t, u); code != 503 || !strings.Contains(page, "No streaming resources") {
		t.Fatalf("open beyond MaxConcurrentSessions: %d %s", code, page)
	}
	e.expireSession(t, a)
	e.openSession(t, "user-d")

	// Usage of an Elastic fleet counts its sessions (one instance each).
	e.clk.Step(10 * time.Second)
	if got, _ := e.w.FleetUsage("fleet"); got.RunningInstanceSeconds != 20 || got.InUseInstanceSeconds != 20 {
		t.Fatalf("elastic usage %+v", got)
	}
}
