package environment_test

// The environment's units called directly, one at a time, against the
// in-process SORACOM, AppStream and EC2 emulators on 127.0.0.1 through the
// clients the operator uses (internal/soracom and internal/aws, retries off so
// that every injected fault is seen). No control plane and no reconciler: a
// test plays the runner's part (a fresh Pass per reconcile pass, on the same
// environment, whose status carries over), and a fake clock moves the
// emulators' state machines (a VPG creating, a fleet starting) without waiting.

import (
	"context"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/emulator"
	awsemu "github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	soracomemu "github.com/gatestream/gatestream/internal/emulator/soracom"
	"github.com/gatestream/gatestream/internal/environment"
	"github.com/gatestream/gatestream/internal/repo"
	"github.com/gatestream/gatestream/internal/soracom"
	"github.com/gatestream/gatestream/internal/unit"
)

// The emulators' API names, in fault rules and the call log.
const (
	soracomAPI   = soracomemu.API
	ec2API       = emulator.APIEC2
	appStreamAPI = emulator.APIAppStream
)

var t0 = time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC)

// How long the emulators' objects stay in a transition (on the fake clock).
const (
	vpgDelay   = 3 * time.Second
	fleetDelay = 5 * time.Second
)

// world is one test's cloud and environment.
type world struct {
	t     *testing.T
	ctx   context.Context
	cloud *emulator.Cloud
	seed  *emulator.Seeded
	clk   *clocktesting.FakeClock
	sor   *soracom.Client
	aws   *aws.Clients
	// env is config/samples' environment; every pass works on it.
	env *accessv1alpha1.RemoteAccessEnvironment
	// events are the reasons of the Events the units recorded, in order.
	events []string
	// lanRoutes and targets are what the DeviceGroups bound to the
	// environment would give its passes (none by default).
	lanRoutes []environment.LANRoute
	targets   func() []environment.DeviceTarget
}

// newWorld starts the emulators (seeded like the demo, kernel-chosen ports)
// and builds the clients and the sample environment.
func newWorld(t *testing.T) *world {
	t.Helper()
	clk := clocktesting.NewFakeClock(t0)
	cloud, err := emulator.Start(emulator.Options{Clock: clk,
		VPGCreateDelay: vpgDelay, VPGTerminateDelay: vpgDelay, FleetStartDelay: fleetDelay, FleetStopDelay: fleetDelay})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cloud.Close(); err != nil {
			t.Errorf("closing the emulators: %v", err)
		}
	})
	seed, err := cloud.SeedDemo()
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: t.Context(), cloud: cloud, seed: seed, clk: clk}
	w.sor, err = soracom.New(soracom.Options{
		Endpoint:    cloud.SoracomURL,
		Credentials: soracom.Credentials{AuthKeyID: seed.SoracomAuthKeyID, AuthKey: seed.SoracomAuthKey},
		Now:         clk.Now,
		MaxRetries:  -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.aws, err = aws.New(w.ctx, aws.Config{
		Region:            seed.AWSRegion,
		AppStreamEndpoint: cloud.AppStreamURL,
		EC2Endpoint:       cloud.EC2URL,
		Static:            &aws.StaticCredentials{AccessKeyID: seed.AWSAccessKeyID, SecretAccessKey: seed.AWSSecretAccessKey},
		RetryMaxAttempts:  1,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.env = sampleEnv(t)
	return w
}

// sampleEnv is config/samples' RemoteAccessEnvironment as the API server
// would hand it to the controller (a UID, generation 1).
func sampleEnv(t *testing.T) *accessv1alpha1.RemoteAccessEnvironment {
	t.Helper()
	path, err := repo.Path("config", "samples", "access_v1alpha1_remoteaccessenvironment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var env accessv1alpha1.RemoteAccessEnvironment
	if err := yaml.UnmarshalStrict(data, &env); err != nil {
		t.Fatal(err)
	}
	env.UID = types.UID("3f1c2a9e-5b7d-4c1e-9a0f-6d2b8e4c7a10")
	env.Generation = 1
	return &env
}

// pass starts a reconcile pass on the world's environment.
func (w *world) pass() *environment.Pass {
	var devices []environment.DeviceTarget
	if w.targets != nil {
		devices = w.targets()
	}
	return &environment.Pass{
		LANRoutes: w.lanRoutes,
		Devices:   devices,
		Env:       w.env,
		Soracom:   w.sor,
		AWS:       w.aws,
		Now:       w.clk.Now(),
		Log:       logr.Discard(),
		Event: func(_, reason, _, _ string) {
			w.events = append(w.events, reason)
		},
		PersistStatus:  func(context.Context) error { return nil },
		TransitionWait: time.Second,
		PollInterval:   time.Hour,
	}
}

// step moves the emulators' clock on.
func (w *world) step(d time.Duration) { w.clk.Step(d) }

// observe is u.Observe that fails the test on an error.
func (w *world) observe(u environment.Unit, p *environment.Pass) environment.Observation {
	w.t.Helper()
	obs, err := u.Observe(w.ctx, p)
	if err != nil {
		w.t.Fatalf("%s: Observe: %v", u.Condition(), err)
	}
	return obs
}

// must fails the test on an error of a unit call.
func (w *world) must(what string, err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatalf("%s: %v", what, err)
	}
}

// deleteTwice calls u.Delete in a new pass until it reports gone (stepping
// the clock between calls, at most a few times), then once more: a unit
// that is gone stays gone, without an error.
func (w *world) deleteTwice(u environment.Unit) {
	w.t.Helper()
	for i := 0; ; i++ {
		gone, err := u.Delete(w.ctx, w.pass())
		w.must(u.Condition()+": Delete", err)
		if gone {
			break
		}
		if i == 5 {
			w.t.Fatalf("%s: not gone after %d Delete calls", u.Condition(), i+1)
		}
		w.step(max(vpgDelay, fleetDelay))
	}
	if gone, err := u.Delete(w.ctx, w.pass()); !gone || err != nil {
		w.t.Fatalf("%s: a second Delete of what is gone = %v, %v; want gone, no error", u.Condition(), gone, err)
	}
}

// ready brings units to Ready in order, as the runner would (create what is
// missing, update what drifted, look again after a transition), and returns
// the pass in which they all were: the setup of the units that depend on them.
func (w *world) ready(units ...environment.Unit) *environment.Pass {
	w.t.Helper()
	for range 10 {
		p := w.pass()
		all := true
		for _, u := range units {
			obs := w.observe(u, p)
			if !obs.Exists {
				w.must(u.Condition()+": Create", u.Create(w.ctx, p))
				obs = w.observe(u, p)
			}
			if obs.Exists && !obs.UpToDate {
				w.must(u.Condition()+": Update", u.Update(w.ctx, p))
				obs = w.observe(u, p)
			}
			if !obs.Ready {
				all = false
				break
			}
		}
		if all {
			return p
		}
		w.step(max(vpgDelay, fleetDelay))
	}
	w.t.Fatal("the units did not become ready")
	return nil
}

// fail arms one fault on the next matching call.
func (w *world) fail(api, op string, kind fault.Kind) {
	w.cloud.Faults.Add(fault.Rule{API: api, Op: op, Kind: kind, Times: 1})
}

// calls counts the calls an emulator served (or faulted) for api and op.
func (w *world) calls(api, op string) int { return w.cloud.Faults.Count(api, op) }

// wantVerdict asserts how the shared error policy classifies err: its
// condition reason, and whether only a person can fix it.
func wantVerdict(t *testing.T, what string, err error, reason string, terminal bool) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %s", what, reason)
	}
	if v := unit.Classify(err); v.Reason != reason || v.Terminal != terminal {
		t.Fatalf("%s: %v classified %s (terminal %v), want %s (terminal %v)", what, err, v.Reason, v.Terminal, reason, terminal)
	}
}

// wantObservation asserts the flags and reason of an observation.
func wantObservation(t *testing.T, what string, got environment.Observation, exists, upToDate, ready bool, reason string) {
	t.Helper()
	if got.Exists != exists || got.UpToDate != upToDate || got.Ready != ready || got.Reason != reason {
		t.Fatalf("%s: observed %+v; want exists %v, up to date %v, ready %v, reason %q", what, got, exists, upToDate, ready, reason)
	}
}

// wantEvents asserts the units recorded these Event reasons since mark.
func (w *world) wantEvents(t *testing.T, mark int, reasons ...string) {
	t.Helper()
	if got := w.events[mark:]; !slices.Equal(got, reasons) {
		t.Fatalf("events %v, want %v", got, reasons)
	}
}

// customerPeers are the outer addresses of the customer's Gate peers of a VPG.
func (w *world) customerPeers(vpgID string) []string {
	v, _ := w.cloud.Soracom.VPG(vpgID)
	var out []string
	for _, p := range v.GatePeers {
		if p.OwnedByCustomer {
			out = append(out, p.OuterIPAddress)
		}
	}
	slices.Sort(out)
	return out
}

// startSession mints a streaming URL for user on the environment's stack
// and fleet and opens it as a browser would, which starts a session.
func (w *world) startSession(user string) {
	w.t.Helper()
	url, _, err := w.aws.AppStream.CreateStreamingURL(w.ctx, environment.StackName(w.env), environment.FleetName(w.env), user, "teraterm", "", time.Minute)
	w.must("minting a streaming URL", err)
	req, err := http.NewRequestWithContext(w.ctx, http.MethodGet, url, nil)
	w.must("opening the streaming URL", err)
	resp, err := http.DefaultClient.Do(req)
	w.must("opening the streaming URL", err)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		w.t.Fatalf("opening the streaming URL: %s", resp.Status)
	}
}

// gatewayPass is a pass that has observed the gateway first, as the units
// after it in a pass (Gate, Peering) find it.
func (w *world) gatewayPass() *environment.Pass {
	w.t.Helper()
	p := w.pass()
	if obs := w.observe(environment.Gateway{}, p); !obs.Ready {
		w.t.Fatalf("the gateway is not ready: %+v", obs)
	}
	return p
}

// named returns the item of items whose name is want.
func named[T any](items []T, name func(T) string, want string) (T, bool) {
	for _, it := range items {
		if name(it) == want {
			return it, true
		}
	}
	var zero T
	return zero, false
}

// peering returns the AWS side of a peering (false when EC2 no longer shows it).
func (w *world) peering(id string) (awsemu.Peering, bool) {
	return named(w.cloud.AWS.Peerings(), func(p awsemu.Peering) string { return p.ID }, id)
}

// routeVia returns the target of rtb's route to dest ("" when there is none).
func (w *world) routeVia(rtb, dest string) string {
	w.t.Helper()
	rt, ok := w.cloud.AWS.RouteTable(rtb)
	if !ok {
		w.t.Fatalf("no route table %s", rtb)
	}
	for _, r := range rt.Routes {
		if r.DestinationCidrBlock == dest {
			return r.VpcPeeringConnectionID + r.GatewayID + r.NetworkInterfaceID
		}
	}
	return ""
}

// fleet returns the emulator's fleet of the environment.
func (w *world) fleet() (awsemu.Fleet, bool) {
	return named(w.cloud.AWS.Fleets(), func(f awsemu.Fleet) string { return f.Name }, environment.FleetName(w.env))
}

// stack returns the emulator's stack of the environment.
func (w *world) stack() (awsemu.Stack, bool) {
	return named(w.cloud.AWS.Stacks(), func(s awsemu.Stack) string { return s.Name }, environment.StackName(w.env))
}

// wantDeleteFails arms a fault on api/op and asserts that u.Delete reports
// the object not gone, with the error classified as reason.
func (w *world) wantDeleteFails(u environment.Unit, api, op string, kind fault.Kind, reason string) {
	w.t.Helper()
	w.fail(api, op, kind)
	gone, err := u.Delete(w.ctx, w.pass())
	if gone {
		w.t.Fatalf("%s: gone although %s failed (%s)", u.Condition(), op, kind)
	}
	wantVerdict(w.t, u.Condition()+": Delete when "+op+" fails", err, reason, false)
}

// wantNameConflict creates u's AppStream object as another environment
// would (same name, another owner tag) and asserts that u refuses to manage
// it (a terminal NameConflict) and that Delete reports it gone without
// touching it: none of the calls in writes is made, and exists stays true.
func (w *world) wantNameConflict(u environment.Unit, exists func() bool, writes ...string) {
	w.t.Helper()
	theirs := w.pass()
	theirs.Env = sampleEnv(w.t)
	theirs.Env.UID = "0d7e5a1c-2b3f-4e6a-8c9d-1f2e3a4b5c6d"
	w.must("their Create", u.Create(w.ctx, theirs))
	_, err := u.Observe(w.ctx, w.pass())
	wantVerdict(w.t, u.Condition()+": Observe", err, accessv1alpha1.ReasonNameConflict, true)
	w.deleteTwice(u)
	for _, op := range writes {
		if n := w.calls(appStreamAPI, op); n != 0 || !exists() {
			w.t.Fatalf("%s: Delete touched an object this environment does not own (%d %s calls, still there: %v)", u.Condition(), n, op, exists())
		}
	}
}
