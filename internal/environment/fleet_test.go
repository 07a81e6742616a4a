package environment_test

import (
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	awsemu "github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	"github.com/gatestream/gatestream/internal/environment"
)

// A fleet is created (STOPPED, tagged), started, kept as the spec says (in
// place while RUNNING, stop-update-start for what needs STOPPED), and
// stopped then deleted.
func TestFleetCreateStartUpdateDelete(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	u := &environment.Fleet{}
	p := w.pass()
	wantObservation(t, "nothing yet", w.observe(u, p), false, false, false, "")
	if name := w.env.Status.Fleet.Name; name != "gs-line-a_factory-floor" {
		t.Fatalf("status.fleet.name %q; want the derived name", name)
	}
	w.must("Create", u.Create(w.ctx, p))
	fl, ok := w.fleet()
	if !ok || fl.State != awsemu.FleetStopped || fl.InstanceType != "stream.standard.medium" || fl.ImageName != w.seed.ImageName ||
		w.cloud.AWS.Tags(fl.Arn)[accessv1alpha1.TagOwnerUID] != string(w.env.UID) {
		t.Fatalf("created fleet %+v (tags %v); want STOPPED, as the spec says, tagged with the owner", fl, w.cloud.AWS.Tags(fl.Arn))
	}
	wantObservation(t, "stopped", w.observe(u, p), true, false, false, accessv1alpha1.ReasonFleetStarting)
	w.must("Update", u.Update(w.ctx, p))
	wantObservation(t, "starting", w.observe(u, w.pass()), true, true, false, accessv1alpha1.ReasonFleetStarting)
	w.step(fleetDelay)
	wantObservation(t, "running", w.observe(u, w.pass()), true, true, true, "")
	if st := w.env.Status.Fleet; st.State != awsemu.FleetRunning || st.Desired != 2 || st.Available != 2 || st.InUse != 0 {
		t.Fatalf("status.fleet = %+v; want RUNNING, 2 desired and available", st)
	}
	w.wantEvents(t, 0, "FleetCreated", "FleetStarting")

	// Capacity changed in the console: put back in place, without a stop.
	_, err := w.aws.AppStream.UpdateFleet(w.ctx, &appstream.UpdateFleetInput{Name: awssdk.String(fl.Name),
		ComputeCapacity: &astypes.ComputeCapacity{DesiredInstances: awssdk.Int32(1)}})
	w.must("drift", err)
	p = w.pass()
	wantObservation(t, "capacity drifted", w.observe(u, p), true, false, true, accessv1alpha1.ReasonUpdating)
	w.must("Update", u.Update(w.ctx, p))
	wantObservation(t, "capacity put back", w.observe(u, w.pass()), true, true, true, "")
	if fl, _ := w.fleet(); fl.State != awsemu.FleetRunning || fl.ComputeCapacityStatus.Desired != 2 {
		t.Fatalf("fleet %s with %d desired after the in-place update", fl.State, fl.ComputeCapacityStatus.Desired)
	}

	// A new instance type needs a STOPPED fleet: stop, update, start.
	w.env.Spec.AppStream.Fleet.InstanceType = "stream.standard.large"
	p = w.pass()
	wantObservation(t, "instance type changed", w.observe(u, p), true, false, true, accessv1alpha1.ReasonFleetStopping)
	w.must("Update", u.Update(w.ctx, p))
	wantObservation(t, "stopping", w.observe(u, w.pass()), true, true, false, accessv1alpha1.ReasonFleetStopping)
	w.step(fleetDelay)
	p = w.pass()
	wantObservation(t, "stopped for the update", w.observe(u, p), true, false, false, accessv1alpha1.ReasonFleetStarting)
	w.must("Update", u.Update(w.ctx, p))
	w.step(fleetDelay)
	wantObservation(t, "restarted", w.observe(u, w.pass()), true, true, true, "")
	if fl, _ := w.fleet(); fl.InstanceType != "stream.standard.large" {
		t.Fatalf("instance type %s after the update", fl.InstanceType)
	}

	// updatePolicy Never: reported, never stopped.
	w.env.Spec.AppStream.Fleet.UpdatePolicy = accessv1alpha1.FleetUpdateNever
	w.env.Spec.AppStream.Fleet.MaxUserDurationSeconds = 3600
	stops := w.calls(appStreamAPI, "StopFleet")
	p = w.pass()
	obs := w.observe(u, p)
	wantObservation(t, "updatePolicy Never", obs, true, true, true, accessv1alpha1.ReasonUpdateRequiresStop)
	if obs.Wait >= 0 {
		t.Fatalf("wait %v; want the poll interval", obs.Wait)
	}
	w.must("Update", u.Update(w.ctx, p))
	if n := w.calls(appStreamAPI, "StopFleet") - stops; n != 0 {
		t.Fatalf("%d StopFleet calls with updatePolicy Never", n)
	}

	mark := len(w.events)
	w.deleteTwice(u)
	if fl, ok := w.fleet(); ok {
		t.Fatalf("fleet still there: %+v", fl)
	}
	w.wantEvents(t, mark, "FleetDeleted")
}

// With sessions in use, a change that needs a stop waits for them
// (WhenIdle), unless updatePolicy is Restart.
func TestFleetWaitsForIdle(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	u := &environment.Fleet{}
	w.ready(u, &environment.Stack{}, environment.Association{})
	w.startSession("user-a")
	w.env.Spec.AppStream.Fleet.InstanceType = "stream.standard.large"
	p := w.pass()
	wantObservation(t, "in use", w.observe(u, p), true, true, true, accessv1alpha1.ReasonWaitingForIdle)
	w.must("Update", u.Update(w.ctx, p))
	if n := w.calls(appStreamAPI, "StopFleet"); n != 0 {
		t.Fatalf("stopped a fleet in use (%d StopFleet calls)", n)
	}
	w.env.Spec.AppStream.Fleet.UpdatePolicy = accessv1alpha1.FleetUpdateRestart
	p = w.pass()
	wantObservation(t, "Restart", w.observe(u, p), true, false, true, accessv1alpha1.ReasonFleetStopping)
	w.must("Update", u.Update(w.ctx, p))
	if fl, _ := w.fleet(); fl.State != awsemu.FleetStopping {
		t.Fatalf("fleet %s; want STOPPING with updatePolicy Restart", fl.State)
	}
}

// A fleet of the same name that another environment owns is a name
// conflict: never managed, never deleted.
func TestFleetOfAnotherOwner(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.wantNameConflict(&environment.Fleet{}, func() bool { _, ok := w.fleet(); return ok }, "StopFleet", "DeleteFleet")
}

func TestFleetErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	u := &environment.Fleet{}
	w.fail(appStreamAPI, "CreateFleet", fault.ServerError)
	wantVerdict(t, "Create on a 500", u.Create(w.ctx, w.pass()), accessv1alpha1.ReasonAPIError, false)

	w.env.Spec.AppStream.Fleet.FleetType = "ELASTIC" // Elastic fleets take no capacity: AWS refuses the spec
	wantVerdict(t, "Create refused", u.Create(w.ctx, w.pass()), accessv1alpha1.ReasonInvalidConfiguration, true)

	// A fleet that cannot start stays STARTING with errors: a person must look.
	w.env = sampleEnv(t)
	w.cloud.AWS.SetSubnetBroken(w.seed.SubnetID, "NETWORK_INTERFACE_LIMIT_EXCEEDED", "The network interface limit was exceeded.")
	p := w.pass()
	w.observe(u, p)
	w.must("Create", u.Create(w.ctx, p))
	w.observe(u, p)
	w.must("Update", u.Update(w.ctx, p))
	w.step(fleetDelay)
	obs := w.observe(u, w.pass())
	wantObservation(t, "broken subnet", obs, true, true, false, accessv1alpha1.ReasonFleetErrors)
	if obs.Wait >= 0 || len(w.env.Status.Fleet.Errors) != 1 {
		t.Fatalf("wait %v, status.fleet.errors %v; want the poll interval and the fleet's error", obs.Wait, w.env.Status.Fleet.Errors)
	}
	// Last: a throttle slows the AWS client's adaptive rate for the calls after it.
	w.fail(appStreamAPI, "DescribeFleets", fault.Throttle)
	_, err := u.Observe(w.ctx, w.pass())
	wantVerdict(t, "Observe throttled", err, accessv1alpha1.ReasonThrottled, false)
}

// An ELASTIC fleet is created with its own required fields (platform, the
// most concurrent sessions, two subnets) and no capacity, and started; the
// capacity policy has nothing to size and no instance time is counted.
func TestElasticFleet(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.cloud.AWS.AddSubnet("subnet-0e1a571c", w.seed.VPCID, "10.0.2.0/24", "ap-northeast-1c")
	f := &w.env.Spec.AppStream.Fleet
	f.FleetType, f.MaxConcurrentSessions, f.Platform = accessv1alpha1.FleetTypeElastic, 3, "AMAZON_LINUX2"
	f.SubnetIDs = append(f.SubnetIDs, "subnet-0e1a571c")
	u := &environment.Fleet{}
	p := w.pass()
	w.observe(u, p)
	w.must("Create", u.Create(w.ctx, p))
	fl, ok := w.fleet()
	if !ok || fl.FleetType != "ELASTIC" || fl.MaxConcurrentSessions == nil || *fl.MaxConcurrentSessions != 3 || fl.Platform != "AMAZON_LINUX2" {
		t.Fatalf("created fleet %+v; want ELASTIC, 3 concurrent sessions, AMAZON_LINUX2", fl)
	}
	p = w.pass()
	wantObservation(t, "stopped", w.observe(u, p), true, false, false, accessv1alpha1.ReasonFleetStarting)
	w.must("Update", u.Update(w.ctx, p))
	w.step(fleetDelay)
	wantObservation(t, "running", w.observe(u, w.pass()), true, true, true, "")
	if w.env.Status.Capacity != nil {
		t.Errorf("status.capacity %+v for an ELASTIC fleet: AWS sizes it", w.env.Status.Capacity)
	}
	if u := w.env.Status.Usage; u == nil || u.RunningInstanceSecondsTotal != 0 || u.Running != 0 {
		t.Errorf("usage %+v: an ELASTIC fleet bills per session, no instance time", u)
	}
	// A change of the most concurrent sessions is made in place.
	f.MaxConcurrentSessions = 5
	p = w.pass()
	wantObservation(t, "maxConcurrentSessions changed", w.observe(u, p), true, false, true, accessv1alpha1.ReasonUpdating)
	w.must("Update", u.Update(w.ctx, p))
	if fl, _ := w.fleet(); fl.State != awsemu.FleetRunning || *fl.MaxConcurrentSessions != 5 {
		t.Fatalf("fleet %s with %v concurrent sessions after the update", fl.State, fl.MaxConcurrentSessions)
	}
	// Its image changes only STOPPED (unlike ALWAYS_ON and ON_DEMAND fleets').
	w.cloud.AWS.AddImage("TeraTerm-Image-2", "AVAILABLE", awsemu.Application{Name: "teraterm"})
	f.ImageName = "TeraTerm-Image-2"
	wantObservation(t, "image changed", w.observe(u, w.pass()), true, false, true, accessv1alpha1.ReasonFleetStopping)
}

// Capacity Demand never ends a person's session: an idle fleet (no live
// StreamingSession, stopAfterIdle long past) with an instance in use stays
// RUNNING, and stops once that session has ended.
func TestDemandIdleFleetWaitsForTheSessionInUse(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	u := &environment.Fleet{}
	w.ready(u, &environment.Stack{}, environment.Association{})
	w.startSession("user-a")
	w.env.Spec.AppStream.Capacity = &accessv1alpha1.CapacitySpec{Policy: accessv1alpha1.CapacityDemand,
		Demand: &accessv1alpha1.DemandCapacity{Min: 0, Max: 10, Spare: 1, StopAfterIdle: metav1.Duration{Duration: time.Minute}}}
	pass := func() environment.Observation {
		p := w.pass() // no live session
		o := w.observe(u, p)
		if !o.UpToDate {
			w.must("Update", u.Update(w.ctx, p))
		}
		return o
	}
	pass() // idle from now: keeps a spare until stopAfterIdle
	w.step(2 * time.Minute)
	o := pass()
	if n := w.calls(appStreamAPI, "StopFleet"); n != 0 {
		t.Fatalf("an idle fleet with a session in use was stopped (%d StopFleet calls)", n)
	}
	if c := w.env.Status.Capacity; c == nil || c.Desired != 0 || !o.Ready || !strings.Contains(o.Message, "in use end") {
		t.Fatalf("capacity %+v, observation %+v: want the fleet to wait for the session in use", c, o)
	}
	sessions, err := w.aws.AppStream.DescribeUserSessions(w.ctx, environment.StackName(w.env), environment.FleetName(w.env), "user-a")
	w.must("DescribeSessions", err)
	for _, s := range sessions {
		w.must("ExpireSession", w.aws.AppStream.ExpireSession(w.ctx, *s.Id))
	}
	pass()
	if n := w.calls(appStreamAPI, "StopFleet"); n != 1 {
		t.Fatalf("%d StopFleet calls once the session ended; want 1", n)
	}
}
