package controllers_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/rest"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/controllers"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/emulator"
	awsemu "github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	soracomemu "github.com/gatestream/gatestream/internal/emulator/soracom"
	"github.com/gatestream/gatestream/internal/manager"
	"github.com/gatestream/gatestream/internal/metrics"
	"github.com/gatestream/gatestream/internal/soracom"
	"github.com/gatestream/gatestream/internal/testenv"
)

// raeHarness is one test's world: the emulators seeded like the demo, a
// namespace with the credential Secrets, and a manager running the
// RemoteAccessEnvironment controller.
type raeHarness struct {
	t      *testing.T
	ctx    context.Context
	cloud  *emulator.Cloud
	seed   *emulator.Seeded
	ns     string
	mgr    *manager.Manager
	poll   time.Duration
	passes atomic.Int64
}

var nsCounter atomic.Int64

func newRAEHarness(t *testing.T, poll time.Duration, opts emulator.Options) *raeHarness {
	t.Helper()
	if opts.VPGCreateDelay == 0 {
		opts.VPGCreateDelay = 300 * time.Millisecond
	}
	if opts.FleetStartDelay == 0 {
		opts.FleetStartDelay = 500 * time.Millisecond
	}
	if opts.FleetStopDelay == 0 {
		opts.FleetStopDelay = 200 * time.Millisecond
	}
	cloud, err := emulator.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cloud.Close() })
	seed, err := cloud.SeedDemo()
	if err != nil {
		t.Fatal(err)
	}
	h := &raeHarness{t: t, ctx: context.Background(), cloud: cloud, seed: seed, poll: poll,
		ns: fmt.Sprintf("rae-%d", nsCounter.Add(1))}
	h.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: h.ns}})
	h.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "soracom-auth"},
		StringData: map[string]string{clients.KeySoracomAuthKeyID: seed.SoracomAuthKeyID, clients.KeySoracomAuthKey: seed.SoracomAuthKey}})
	h.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "aws-credentials"},
		StringData: map[string]string{clients.KeyAWSAccessKeyID: seed.AWSAccessKeyID, clients.KeyAWSSecretAccessKey: seed.AWSSecretAccessKey}})
	return h
}

// start runs the manager with the RemoteAccessEnvironment controller.
func (h *raeHarness) start() {
	opts := manager.DefaultOptions()
	opts.WatchNamespaces = []string{h.ns}
	h.mgr = testenv.RunManager(h.t, env, opts, func(m *manager.Manager) error {
		return (&controllers.RemoteAccessEnvironmentReconciler{
			Client:                  m.GetClient(),
			Clients:                 raeClients(m),
			Recorder:                m.GetEventRecorder("gatestream-remoteaccessenvironment"),
			Clock:                   clock.RealClock{},
			PollInterval:            h.poll,
			TransitionWait:          100 * time.Millisecond,
			MaxConcurrentReconciles: 4,
		}).SetupWithManager(m)
	})
}

// raeClients are the harness's cloud clients: the emulators only, no
// outbound budget to speak of, short retries.
func raeClients(m *manager.Manager) *clients.Factory {
	return clients.New(m.GetAPIReader(), clients.Options{
		SoracomCallsPerSecond: 1000, AWSCallsPerSecond: 1000,
		SoracomMaxRetryWait: 50 * time.Millisecond, AWSRetryMaxBackoff: 50 * time.Millisecond,
		AllowedEndpoints: emulatorEndpoints,
	})
}

func (h *raeHarness) create(obj client.Object) {
	h.t.Helper()
	if err := env.Client.Create(h.ctx, obj); err != nil {
		h.t.Fatalf("create %s: %v", obj.GetName(), err)
	}
}

// sampleEnv is config/samples' environment pointed at the emulators.
func (h *raeHarness) sampleEnv(name string) *accessv1alpha1.RemoteAccessEnvironment {
	h.t.Helper()
	data, err := os.ReadFile(filepath.Join(env.Root, "config", "samples", "access_v1alpha1_remoteaccessenvironment.yaml"))
	if err != nil {
		h.t.Fatal(err)
	}
	var rae accessv1alpha1.RemoteAccessEnvironment
	if err := yaml.Unmarshal(data, &rae); err != nil {
		h.t.Fatal(err)
	}
	rae.Namespace, rae.Name = h.ns, name
	rae.Spec.Soracom.Endpoint = h.cloud.SoracomURL
	rae.Spec.AWS.Endpoints = &accessv1alpha1.AWSEndpoints{AppStream: h.cloud.AppStreamURL, EC2: h.cloud.EC2URL}
	rae.Spec.AWS.CredentialsSecretRef = &accessv1alpha1.SecretReference{Name: "aws-credentials"}
	return &rae
}

func (h *raeHarness) get(name string) *accessv1alpha1.RemoteAccessEnvironment {
	h.t.Helper()
	var rae accessv1alpha1.RemoteAccessEnvironment
	if err := env.Client.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: name}, &rae); err != nil {
		h.t.Fatal(err)
	}
	return &rae
}

func (h *raeHarness) waitReady(name string, bound time.Duration) *accessv1alpha1.RemoteAccessEnvironment {
	h.t.Helper()
	var rae *accessv1alpha1.RemoteAccessEnvironment
	testenv.Eventually(h.t, bound, name+" Ready", func() error {
		rae = h.get(name)
		if !conditions.IsCurrentAndTrue(rae.Status.Conditions, rae.Generation, accessv1alpha1.ConditionReady) {
			c := conditions.Get(rae.Status.Conditions, accessv1alpha1.ConditionReady)
			if c == nil {
				return fmt.Errorf("no Ready condition")
			}
			return fmt.Errorf("Ready=%s %s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})
	return rae
}

func (h *raeHarness) condition(name, typ string) *metav1.Condition {
	return conditions.Get(h.get(name).Status.Conditions, typ)
}

// writeCalls counts calls that change something in a cloud (not reads or auth).
func writeCalls(f *fault.Injector) int {
	n := 0
	for _, c := range f.Calls(fault.Any, fault.Any) {
		if !isRead(c.Op) {
			n++
		}
	}
	return n
}

func isRead(op string) bool {
	for _, p := range []string{"get", "list", "Describe", "List", "auth", "generateAuthToken"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

func TestEnvironmentBecomesReadyAndStaysQuiet(t *testing.T) {
	h := newRAEHarness(t, 2*time.Second, emulator.Options{FleetStartDelay: 2 * time.Second})
	h.start()
	start := time.Now()
	h.create(h.sampleEnv("factory-floor"))
	rae := h.waitReady("factory-floor", 60*time.Second)
	t.Logf("create to Ready with a 2s emulated fleet start: %s", time.Since(start).Round(10*time.Millisecond))

	for _, typ := range []string{accessv1alpha1.ConditionSynced, accessv1alpha1.ConditionGatewayReady, accessv1alpha1.ConditionGateReady,
		accessv1alpha1.ConditionPeeringReady, accessv1alpha1.ConditionRoutesReady, accessv1alpha1.ConditionNetworkReady,
		accessv1alpha1.ConditionFleetReady, accessv1alpha1.ConditionStackReady, accessv1alpha1.ConditionAssociationReady} {
		if !conditions.IsCurrentAndTrue(rae.Status.Conditions, rae.Generation, typ) {
			t.Errorf("%s is not True: %+v", typ, conditions.Get(rae.Status.Conditions, typ))
		}
	}
	if rae.Generation != 1 {
		t.Errorf("generation = %d: the controller wrote spec", rae.Generation)
	}
	st := rae.Status
	if st.Gateway == nil || !strings.HasPrefix(st.Gateway.ID, "vpg-") || st.Gateway.Status != "running" || st.Gateway.VPGSubnetCIDRRange == "" || !st.Gateway.GateOpened {
		t.Errorf("gateway status = %+v", st.Gateway)
	}
	if st.Peering == nil || !strings.HasPrefix(st.Peering.ID, "pcx-") || st.Peering.State != "active" {
		t.Errorf("peering status = %+v", st.Peering)
	}
	if st.Fleet == nil || st.Fleet.State != "RUNNING" || st.Fleet.Name != "gs-"+h.ns+"_factory-floor" || st.Fleet.Desired != 2 {
		t.Errorf("fleet status = %+v", st.Fleet)
	}
	if st.Stack == nil || !st.Stack.Associated {
		t.Errorf("stack status = %+v", st.Stack)
	}
	vpgs := h.cloud.Soracom.VPGs()
	if len(vpgs) != 1 || !vpgs[0].GateOpened || vpgs[0].GateVxlanID != 10 || !vpgs[0].GatePrivacySeparatorEnabled {
		t.Fatalf("SORACOM VPGs = %+v", vpgs)
	}
	rt, _ := h.cloud.AWS.RouteTable(h.seed.RouteTableID)
	found := false
	for _, r := range rt.Routes {
		if r.DestinationCidrBlock == st.Gateway.VPGSubnetCIDRRange && r.VpcPeeringConnectionID == st.Peering.ID {
			found = true
		}
	}
	if !found {
		t.Errorf("route table %s has no route %s via %s: %+v", h.seed.RouteTableID, st.Gateway.VPGSubnetCIDRRange, st.Peering.ID, rt.Routes)
	}

	// An in-sync pass (the poll interval) reads but writes nothing, in the clouds or in the API server.
	writes, rv := writeCalls(h.cloud.Faults), rae.ResourceVersion
	reads := h.cloud.Faults.Count("soracom", soracomemu.OpGetVPG)
	testenv.Eventually(t, 10*time.Second, "two more poll passes", func() error {
		if n := h.cloud.Faults.Count("soracom", soracomemu.OpGetVPG); n < reads+2 {
			return fmt.Errorf("%d passes so far", n-reads)
		}
		return nil
	})
	if w := writeCalls(h.cloud.Faults); w != writes {
		t.Errorf("in-sync passes made %d cloud write calls", w-writes)
	}
	if got := h.get("factory-floor").ResourceVersion; got != rv {
		t.Errorf("in-sync passes wrote the object (resourceVersion %s -> %s)", rv, got)
	}
	before := len(h.cloud.Faults.Calls(fault.Any, fault.Any))
	readsNow := h.cloud.Faults.Count("soracom", soracomemu.OpGetVPG)
	testenv.Eventually(t, 10*time.Second, "one more pass", func() error {
		if h.cloud.Faults.Count("soracom", soracomemu.OpGetVPG) <= readsNow {
			return fmt.Errorf("waiting")
		}
		return nil
	})
	// Let the pass finish: its last call is the association read.
	testenv.Eventually(t, 5*time.Second, "pass finished", func() error {
		calls := h.cloud.Faults.Calls(fault.Any, fault.Any)
		if calls[len(calls)-1].Op != "ListAssociatedFleets" {
			return fmt.Errorf("last call %s", calls[len(calls)-1].Op)
		}
		return nil
	})
	perPass := h.cloud.Faults.Calls(fault.Any, fault.Any)[before:]
	var ops []string
	for _, c := range perPass {
		ops = append(ops, c.API+"."+c.Op)
	}
	t.Logf("cloud calls per in-sync pass: %d (%s)", len(perPass), strings.Join(ops, ", "))
}

func TestEnvironmentCorrectsDrift(t *testing.T) {
	const pollInterval = 2 * time.Second
	// Each drift must be put back by the next poll: at most the interval plus
	// its 10 % jitter, and a margin for the pass itself on a loaded machine.
	const withinOnePoll = pollInterval + pollInterval/10 + 3*time.Second
	h := newRAEHarness(t, pollInterval, emulator.Options{})
	h.start()
	h.create(h.sampleEnv("drift"))
	rae := h.waitReady("drift", 60*time.Second)
	vpgID, fleet, pcx, dest := rae.Status.Gateway.ID, rae.Status.Fleet.Name, rae.Status.Peering.ID, rae.Status.Gateway.VPGSubnetCIDRRange

	// Someone edits the fleet's capacity in the console.
	if _, err := h.cloud.AWS.UpdateFleet(&awsemu.FleetInput{Name: ptr.To(fleet), ComputeCapacity: &awsemu.ComputeCapacity{DesiredInstances: ptr.To[int32](7)}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, withinOnePoll, "fleet capacity put back", func() error {
		for _, f := range h.cloud.AWS.Fleets() {
			if f.Name == fleet && f.ComputeCapacityStatus.Desired != 2 {
				return fmt.Errorf("desired = %d", f.ComputeCapacityStatus.Desired)
			}
		}
		return nil
	})

	// Someone closes Gate.
	if err := h.cloud.Soracom.CloseGate(vpgID); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, withinOnePoll, "Gate reopened", func() error {
		v, _ := h.cloud.Soracom.VPG(vpgID)
		if !v.GateOpened {
			return fmt.Errorf("Gate still closed")
		}
		return nil
	})

	// Someone deletes the route.
	if err := h.cloud.AWS.DeleteRoute(&awsemu.RouteInput{RouteTableID: h.seed.RouteTableID, DestinationCidrBlock: dest}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, withinOnePoll, "route put back", func() error {
		rt, _ := h.cloud.AWS.RouteTable(h.seed.RouteTableID)
		for _, r := range rt.Routes {
			if r.DestinationCidrBlock == dest && r.VpcPeeringConnectionID == pcx {
				return nil
			}
		}
		return fmt.Errorf("no route %s via %s", dest, pcx)
	})
	h.waitReady("drift", 15*time.Second)
}

func TestEnvironmentLostCreateResponseMakesOneGateway(t *testing.T) {
	h := newRAEHarness(t, time.Minute, emulator.Options{})
	h.cloud.Faults.Add(fault.Rule{API: "soracom", Op: soracomemu.OpCreateVPG, Kind: fault.LoseResponse, Times: 1})
	h.start()
	h.create(h.sampleEnv("lost"))
	h.waitReady("lost", 60*time.Second)
	if n := h.cloud.Soracom.VPGsEverCreated(); n != 1 {
		t.Fatalf("%d VPGs were created; want exactly 1", n)
	}
	if n := h.cloud.Faults.Count("soracom", soracomemu.OpCreateVPG); n != 1 {
		t.Fatalf("createVirtualPrivateGateway called %d times; want 1 (the lost one, then found by tag)", n)
	}
}

func TestEnvironmentRestartBetweenCreateAndStatusWrite(t *testing.T) {
	h := newRAEHarness(t, time.Minute, emulator.Options{})
	// A previous manager recorded the intent, created the VPG and died before
	// recording its ID: the object carries the marker, SORACOM the tagged VPG.
	rae := h.sampleEnv("restarted")
	h.create(rae)
	now := metav1.Now()
	rae.Status.Gateway = &accessv1alpha1.GatewayStatus{CreatePendingSince: &now}
	if err := env.Client.Status().Update(h.ctx, rae); err != nil {
		t.Fatal(err)
	}
	sc, err := soracom.New(soracom.Options{Endpoint: h.cloud.SoracomURL, Credentials: soracom.Credentials{AuthKeyID: h.seed.SoracomAuthKeyID, AuthKey: h.seed.SoracomAuthKey}})
	if err != nil {
		t.Fatal(err)
	}
	created, err := sc.CreateVirtualPrivateGateway(h.ctx, &soracom.CreateVirtualPrivateGatewayRequest{Type: soracom.VPGTypeF,
		Tags: map[string]string{accessv1alpha1.TagOwnerUID: string(rae.UID)}})
	if err != nil {
		t.Fatal(err)
	}
	h.start()
	got := h.waitReady("restarted", 60*time.Second)
	if got.Status.Gateway.ID != created.VPGID {
		t.Fatalf("gateway %s; want the one created before the restart, %s", got.Status.Gateway.ID, created.VPGID)
	}
	if n := h.cloud.Soracom.VPGsEverCreated(); n != 1 {
		t.Fatalf("%d VPGs were created; want exactly 1", n)
	}
	if got.Status.Gateway.CreatePendingSince != nil {
		t.Fatalf("create-pending marker not cleared")
	}
}

func TestEnvironmentNetworkMisconfigurations(t *testing.T) {
	cases := []struct {
		name      string
		setup     func(h *raeHarness, rae *accessv1alpha1.RemoteAccessEnvironment)
		condition string
		reason    string
		names     []string // objects the message must name
	}{
		{"someone else's route to the device subnet is in the way", func(h *raeHarness, rae *accessv1alpha1.RemoteAccessEnvironment) {
			h.cloud.AWS.AddSubnet("subnet-0b0b0b0b", h.seed.VPCID, "10.0.2.0/24", "ap-northeast-1c")
			h.cloud.AWS.AddRouteTable("rtb-0b0b0b0b", h.seed.VPCID, "subnet-0b0b0b0b")
			if err := h.cloud.AWS.PutRoute("rtb-0b0b0b0b", awsemu.Route{DestinationCidrBlock: "10.128.0.0/9", GatewayID: "igw-0e0e0e0e"}); err != nil {
				h.t.Fatal(err)
			}
			rae.Spec.AppStream.Fleet.SubnetIDs = []string{h.seed.SubnetID, "subnet-0b0b0b0b"}
		}, accessv1alpha1.ConditionDeviceRoutesReady, accessv1alpha1.ReasonRouteConflict, []string{"rtb-0b0b0b0b", "10.128.0.0/9", "igw-0e0e0e0e"}},
		{"subnet in another VPC", func(h *raeHarness, rae *accessv1alpha1.RemoteAccessEnvironment) {
			h.cloud.AWS.AddVPC("vpc-0c0c0c0c", "172.16.0.0/16")
			h.cloud.AWS.AddSubnet("subnet-0c0c0c0c", "vpc-0c0c0c0c", "172.16.1.0/24", "ap-northeast-1a")
			rae.Spec.AppStream.Fleet.SubnetIDs = []string{h.seed.SubnetID, "subnet-0c0c0c0c"}
		}, accessv1alpha1.ConditionNetworkReady, accessv1alpha1.ReasonUnreachable, []string{"FleetSubnet", "subnet-0c0c0c0c", "vpc-0c0c0c0c"}},
		{"security group closed", func(h *raeHarness, rae *accessv1alpha1.RemoteAccessEnvironment) {
			h.cloud.AWS.AddSecurityGroup(awsemu.SecurityGroup{ID: "sg-0d0d0d0d", VPCID: h.seed.VPCID, Name: "closed"})
			rae.Spec.AppStream.Fleet.SecurityGroupIDs = []string{"sg-0d0d0d0d"}
		}, accessv1alpha1.ConditionNetworkReady, accessv1alpha1.ReasonUnreachable, []string{"FleetSecurityGroup", "sg-0d0d0d0d"}},
		{"router subnet in another VPC", func(h *raeHarness, rae *accessv1alpha1.RemoteAccessEnvironment) {
			h.cloud.AWS.AddVPC("vpc-0c0c0c0c", "172.16.0.0/16")
			h.cloud.AWS.AddSubnet("subnet-0c0c0c0c", "vpc-0c0c0c0c", "172.16.1.0/24", "ap-northeast-1a")
			rae.Spec.Router = &accessv1alpha1.RouterSpec{Managed: &accessv1alpha1.ManagedRouterSpec{SubnetIDs: []string{"subnet-0c0c0c0c"}}}
		}, accessv1alpha1.ConditionRouterReady, accessv1alpha1.ReasonInvalidConfiguration, []string{"subnet-0c0c0c0c", "vpc-0c0c0c0c", "spec.router.managed.subnetIds"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newRAEHarness(t, time.Minute, emulator.Options{})
			h.start()
			rae := h.sampleEnv("net")
			tc.setup(h, rae)
			h.create(rae)
			testenv.Eventually(t, 60*time.Second, tc.condition+"=False", func() error {
				c := h.condition("net", tc.condition)
				if c == nil || c.Status != metav1.ConditionFalse || c.Reason != tc.reason {
					return fmt.Errorf("%s = %+v", tc.condition, c)
				}
				for _, n := range tc.names {
					if !strings.Contains(c.Message, n) {
						return fmt.Errorf("message %q does not name %s", c.Message, n)
					}
				}
				return nil
			})
			if c := h.condition("net", accessv1alpha1.ConditionReady); c.Status != metav1.ConditionFalse {
				t.Fatalf("Ready = %+v with a broken network", c)
			}
		})
	}
}

func TestEnvironmentDeletion(t *testing.T) {
	h := newRAEHarness(t, time.Minute, emulator.Options{})
	h.start()
	// Someone else's route in the same table: never touched.
	if err := h.cloud.AWS.PutRoute(h.seed.RouteTableID, awsemu.Route{DestinationCidrBlock: "172.31.0.0/16", GatewayID: "igw-0e0e0e0e"}); err != nil {
		t.Fatal(err)
	}
	h.create(h.sampleEnv("gone"))
	ready := h.waitReady("gone", 60*time.Second)
	if len(liveInstances(h)) != 1 || len(routesToInterfaces(h)) != 1 {
		t.Fatalf("before deletion: %d routers, %d device routes; want 1 and 1", len(liveInstances(h)), len(routesToInterfaces(h)))
	}
	// Someone is connected: deletion must disconnect them first.
	url, _, err := h.cloud.AWS.CreateStreamingURL(&awsemu.StreamingURLInput{StackName: ptr.To(ready.Status.Stack.Name),
		FleetName: ptr.To(ready.Status.Fleet.Name), UserId: ptr.To("user-a"), ApplicationId: ptr.To("teraterm"), Validity: ptr.To[int64](60)}, h.cloud.AppStreamURL)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(h.cloud.AWS.Sessions()) != 1 {
		t.Fatalf("opening the URL: %d, %d sessions", resp.StatusCode, len(h.cloud.AWS.Sessions()))
	}
	h.cloud.Faults.ClearLog()
	if err := env.Client.Delete(h.ctx, h.get("gone")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, "environment deleted", func() error {
		var rae accessv1alpha1.RemoteAccessEnvironment
		err := env.Client.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: "gone"}, &rae)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (err %v)", err)
	})
	if v := h.cloud.Soracom.VPGs(); len(v) != 0 {
		t.Errorf("VPGs left: %+v", v)
	}
	if f := h.cloud.AWS.Fleets(); len(f) != 0 {
		t.Errorf("fleets left: %+v", f)
	}
	if s := h.cloud.AWS.Stacks(); len(s) != 0 {
		t.Errorf("stacks left: %+v", s)
	}
	for _, p := range h.cloud.AWS.Peerings() {
		if p.Status != "deleted" {
			t.Errorf("peering left: %+v", p)
		}
	}
	rt, _ := h.cloud.AWS.RouteTable(h.seed.RouteTableID)
	theirs := false
	for _, r := range rt.Routes {
		if strings.HasPrefix(r.DestinationCidrBlock, "100.64.") || r.NetworkInterfaceID != "" {
			t.Errorf("route left: %+v", r)
		}
		theirs = theirs || r.DestinationCidrBlock == "172.31.0.0/16" && r.GatewayID == "igw-0e0e0e0e"
	}
	if !theirs {
		t.Errorf("someone else's route was removed: %+v", rt.Routes)
	}
	if live := liveInstances(h); len(live) != 0 {
		t.Errorf("routers left: %+v", live)
	}
	// The call log shows the reverse dependency order.
	var order []string
	for _, c := range h.cloud.Faults.Calls(fault.Any, fault.Any) {
		switch c.Op {
		case "ExpireSession", "DisassociateFleet", "StopFleet", "DeleteFleet", "DeleteStack", "DeleteRoute", "TerminateInstances",
			soracomemu.OpDeleteVPCPeering, soracomemu.OpCloseGate, soracomemu.OpTerminateVPG:
			if len(order) == 0 || order[len(order)-1] != c.Op {
				order = append(order, c.Op)
			}
		}
	}
	// Device routes before the router, the router before the tunnel's route.
	want := []string{"ExpireSession", "DisassociateFleet", "StopFleet", "DeleteFleet", "DeleteStack", "DeleteRoute", "TerminateInstances", "DeleteRoute",
		soracomemu.OpDeleteVPCPeering, soracomemu.OpCloseGate, soracomemu.OpTerminateVPG}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Errorf("deletion order %v; want %v", order, want)
	}
}

func TestEnvironmentOrphanLeavesEverything(t *testing.T) {
	h := newRAEHarness(t, time.Minute, emulator.Options{})
	h.start()
	rae := h.sampleEnv("orphan")
	rae.Spec.DeletionPolicy = accessv1alpha1.DeletionPolicyOrphan
	h.create(rae)
	h.waitReady("orphan", 60*time.Second)
	// Credentials gone: deletion must still not hang.
	if err := env.Client.Delete(h.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "soracom-auth"}}); err != nil {
		t.Fatal(err)
	}
	writes := writeCalls(h.cloud.Faults)
	if err := env.Client.Delete(h.ctx, h.get("orphan")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "environment deleted", func() error {
		var got accessv1alpha1.RemoteAccessEnvironment
		if err := env.Client.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: "orphan"}, &got); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there")
		}
		return nil
	})
	if w := writeCalls(h.cloud.Faults); w != writes {
		t.Errorf("Orphan deletion made %d cloud writes", w-writes)
	}
	if len(h.cloud.Soracom.VPGs()) != 1 || len(h.cloud.AWS.Fleets()) != 1 || len(h.cloud.AWS.Stacks()) != 1 {
		t.Errorf("Orphan deletion removed external objects: %d VPGs, %d fleets, %d stacks",
			len(h.cloud.Soracom.VPGs()), len(h.cloud.AWS.Fleets()), len(h.cloud.AWS.Stacks()))
	}
	if live := liveInstances(h); len(live) != 1 {
		t.Errorf("Orphan deletion left %d routers running; want the 1 it had", len(live))
	}
	if n := len(routesToInterfaces(h)); n != 1 {
		t.Errorf("Orphan deletion left %d device routes; want the 1 it had", n)
	}
}

func liveInstances(h *raeHarness) []awsemu.Instance {
	var out []awsemu.Instance
	for _, i := range h.cloud.AWS.Instances() {
		if i.State != awsemu.InstanceTerminated && i.State != awsemu.InstanceShuttingDown {
			out = append(out, i)
		}
	}
	return out
}

// routesToInterfaces are the routes of the demo's table that go to a network interface.
func routesToInterfaces(h *raeHarness) []awsemu.Route {
	rt, _ := h.cloud.AWS.RouteTable(h.seed.RouteTableID)
	var out []awsemu.Route
	for _, r := range rt.Routes {
		if r.NetworkInterfaceID != "" {
			out = append(out, r)
		}
	}
	return out
}

func TestEnvironmentsConvergeUnderFaults(t *testing.T) {
	h := newRAEHarness(t, time.Minute, emulator.Options{Seed: 7})
	for _, k := range []fault.Kind{fault.ServerError, fault.LoseResponse} {
		h.cloud.Faults.Add(fault.Rule{API: fault.Any, Op: fault.Any, Kind: k, Probability: 0.07})
	}
	// Throttling as AWS does it: a rate per operation (random throttles
	// would also teach the adaptive AWS rate that the cloud is slower than
	// it is). SORACOM's is a per-minute quota that, once out, refuses until
	// the minute ends: TestThrottleIsARequeueNotASleep and the chaos suite
	// cover it; here it would only add minutes of waiting.
	for _, api := range []string{emulator.APIAppStream, emulator.APIEC2} {
		h.cloud.Faults.Add(fault.Rule{API: api, Op: fault.Any, Kind: fault.Throttle, Rate: 5})
	}
	h.start()
	const n = 10
	for i := 0; i < n; i++ {
		rae := h.sampleEnv(fmt.Sprintf("env-%d", i))
		// They share the demo's VPC and route table: each device subnet can
		// be routed to one router only.
		rae.Spec.Soracom.Gateway.DeviceSubnetCIDRRange = fmt.Sprintf("10.%d.0.0/16", 128+i)
		rae.Spec.Soracom.Gateway.Gate.Peers = nil
		h.create(rae)
	}
	// A liveness bound, not a speed check: after a throttle the adaptive AWS
	// rate drops and grows back slowly, and 7% of calls fail besides.
	for i := 0; i < n; i++ {
		h.waitReady(fmt.Sprintf("env-%d", i), 300*time.Second)
	}
	if got := h.cloud.Soracom.VPGsEverCreated(); got != n {
		t.Errorf("%d VPGs created for %d environments", got, n)
	}
	if got := len(h.cloud.AWS.Fleets()); got != n {
		t.Errorf("%d fleets for %d environments", got, n)
	}
	if got := len(h.cloud.AWS.Instances()); got != n {
		t.Errorf("%d routers launched for %d environments (lost RunInstances responses must not launch twice)", got, n)
	}
	active := 0
	for _, p := range h.cloud.AWS.Peerings() {
		if p.Status == "active" {
			active++
		}
	}
	if active != n {
		t.Errorf("%d active peerings for %d environments", active, n)
	}
	injected := 0
	for _, c := range h.cloud.Faults.Calls(fault.Any, fault.Any) {
		if c.Fault != fault.None {
			injected++
		}
	}
	t.Logf("%d calls, %d with an injected fault", len(h.cloud.Faults.Calls(fault.Any, fault.Any)), injected)
	if injected == 0 {
		t.Fatal("no fault was injected")
	}
	throttled := 0
	for _, c := range h.cloud.Faults.Calls(fault.Any, fault.Any) {
		if c.Fault == fault.Throttle {
			throttled++
		}
	}
	if throttled == 0 {
		t.Fatal("no call was throttled: the rate rule did not bite")
	}
}

func TestEnvironmentAnnotationForcesReconcileAndCountsCalls(t *testing.T) {
	h := newRAEHarness(t, time.Hour, emulator.Options{})
	h.start()
	h.create(h.sampleEnv("forced"))
	rae := h.waitReady("forced", 60*time.Second)
	before := testutil.ToFloat64(metrics.OutboundCalls.WithLabelValues("soracom", soracomemu.OpGetVPG, "ok"))
	if before == 0 {
		t.Fatal("no outbound call was counted in gatestream_outbound_calls_total")
	}

	// Gate closed in the console; the poll interval is an hour away, the annotation asks for a pass now.
	if err := h.cloud.Soracom.CloseGate(rae.Status.Gateway.ID); err != nil {
		t.Fatal(err)
	}
	if rae.Annotations == nil {
		rae.Annotations = map[string]string{}
	}
	rae.Annotations[accessv1alpha1.AnnotationReconcileRequestedAt] = time.Now().Format(time.RFC3339Nano)
	if err := env.Client.Update(h.ctx, rae); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 15*time.Second, "Gate reopened after the annotation", func() error {
		if v, _ := h.cloud.Soracom.VPG(rae.Status.Gateway.ID); !v.GateOpened {
			return fmt.Errorf("Gate still closed")
		}
		return nil
	})
	if after := testutil.ToFloat64(metrics.OutboundCalls.WithLabelValues("soracom", soracomemu.OpOpenGate, "ok")); after == 0 {
		t.Fatal("openGate was not counted")
	}
}

func TestEnvironmentFleetChanges(t *testing.T) {
	h := newRAEHarness(t, time.Hour, emulator.Options{})
	h.start()
	h.create(h.sampleEnv("changes"))
	rae := h.waitReady("changes", 60*time.Second)
	fleetName := rae.Status.Fleet.Name
	fleet := func() awsemu.Fleet {
		for _, f := range h.cloud.AWS.Fleets() {
			if f.Name == fleetName {
				return f
			}
		}
		t.Fatalf("fleet %s is gone", fleetName)
		return awsemu.Fleet{}
	}

	// In place: capacity changes while RUNNING, without a stop.
	rae.Spec.AppStream.Fleet.DesiredCapacity = 3
	if err := env.Client.Update(h.ctx, rae); err != nil {
		t.Fatal(err)
	}
	rae = h.waitReady("changes", 30*time.Second)
	if f := fleet(); f.ComputeCapacityStatus.Desired != 3 {
		t.Fatalf("desired = %d", f.ComputeCapacityStatus.Desired)
	}
	if n := h.cloud.Faults.Count("appstream", "StopFleet"); n != 0 {
		t.Fatalf("an in-place change stopped the fleet %d times", n)
	}

	// Needs STOPPED, updatePolicy WhenIdle with nobody connected: stop, update, start.
	rae.Spec.AppStream.Fleet.InstanceType = "stream.standard.large"
	if err := env.Client.Update(h.ctx, rae); err != nil {
		t.Fatal(err)
	}
	rae = h.waitReady("changes", 60*time.Second)
	if f := fleet(); f.InstanceType != "stream.standard.large" || f.State != "RUNNING" {
		t.Fatalf("fleet = %s %s", f.InstanceType, f.State)
	}
	if n := h.cloud.Faults.Count("appstream", "StopFleet"); n != 1 {
		t.Fatalf("StopFleet called %d times; want 1", n)
	}

	// Needs STOPPED, updatePolicy Never: reported, not applied.
	rae.Spec.AppStream.Fleet.UpdatePolicy = accessv1alpha1.FleetUpdateNever
	rae.Spec.AppStream.Fleet.MaxUserDurationSeconds = 3600
	if err := env.Client.Update(h.ctx, rae); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "UpdateRequiresStop", func() error {
		if c := h.condition("changes", accessv1alpha1.ConditionFleetReady); c.Reason != accessv1alpha1.ReasonUpdateRequiresStop || !strings.Contains(c.Message, "maxUserDurationSeconds") {
			return fmt.Errorf("FleetReady = %+v", c)
		}
		return nil
	})
	if f := fleet(); f.MaxUserDurationInSeconds == 3600 || f.State != "RUNNING" {
		t.Fatalf("updatePolicy Never changed the fleet: %d %s", f.MaxUserDurationInSeconds, f.State)
	}
}

func TestEnvironmentSurfacesFleetErrors(t *testing.T) {
	h := newRAEHarness(t, time.Hour, emulator.Options{})
	h.cloud.AWS.SetSubnetBroken(h.seed.SubnetID, "SUBNET_HAS_INSUFFICIENT_IP_ADDRESSES", "subnet is full")
	h.start()
	h.create(h.sampleEnv("broken"))
	testenv.Eventually(t, 60*time.Second, "FleetErrors reported", func() error {
		c := h.condition("broken", accessv1alpha1.ConditionFleetReady)
		if c == nil || c.Reason != accessv1alpha1.ReasonFleetErrors || !strings.Contains(c.Message, "SUBNET_HAS_INSUFFICIENT_IP_ADDRESSES") {
			return fmt.Errorf("FleetReady = %+v", c)
		}
		return nil
	})
	if errs := h.get("broken").Status.Fleet.Errors; len(errs) == 0 || !strings.Contains(errs[0], "subnet is full") {
		t.Fatalf("status.fleet.errors = %v", errs)
	}
}

func TestEnvironmentDeletionWaitsForDeviceGroups(t *testing.T) {
	h := newRAEHarness(t, time.Hour, emulator.Options{})
	h.start()
	h.create(h.sampleEnv("shared"))
	h.waitReady("shared", 60*time.Second)
	dg := &accessv1alpha1.DeviceGroup{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "line-a"},
		Spec: accessv1alpha1.DeviceGroupSpec{EnvironmentRef: accessv1alpha1.LocalObjectReference{Name: "shared"}, SIMs: []string{h.seed.SIMs[0]}}}
	h.create(dg)
	if err := env.Client.Delete(h.ctx, h.get("shared")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "deletion waits for the DeviceGroup", func() error {
		c := h.condition("shared", accessv1alpha1.ConditionReady)
		if c == nil || c.Reason != accessv1alpha1.ReasonDeleting || !strings.Contains(c.Message, "line-a") {
			return fmt.Errorf("Ready = %+v", c)
		}
		return nil
	})
	if len(h.cloud.Soracom.VPGs()) != 1 {
		t.Fatal("the gateway went while a DeviceGroup still used it")
	}
	if err := env.Client.Delete(h.ctx, dg); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, "environment deleted", func() error {
		var got accessv1alpha1.RemoteAccessEnvironment
		if err := env.Client.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: "shared"}, &got); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there")
		}
		return nil
	})
	if len(h.cloud.Soracom.VPGs()) != 0 {
		t.Fatal("gateway left after deletion")
	}
}

// Deleting a namespace deletes the credential Secrets together with the
// environment: the Secrets must outlive the clean-up they are needed for.
func TestEnvironmentCredentialsOutliveTheCleanUp(t *testing.T) {
	h := newRAEHarness(t, time.Hour, emulator.Options{})
	h.start()
	h.create(h.sampleEnv("ns-delete"))
	h.waitReady("ns-delete", 60*time.Second)
	for _, name := range []string{"soracom-auth", "aws-credentials"} {
		var s corev1.Secret
		if err := env.Client.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: name}, &s); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(s.Finalizers, controllers.CredentialsFinalizer) {
			t.Fatalf("Secret %s is not protected: finalizers %v", name, s.Finalizers)
		}
	}
	// Secrets first, as the namespace controller may do, then the environment.
	for _, name := range []string{"soracom-auth", "aws-credentials"} {
		if err := env.Client.Delete(h.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.Client.Delete(h.ctx, h.get("ns-delete")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, "environment and Secrets gone", func() error {
		var s corev1.Secret
		for _, name := range []string{"soracom-auth", "aws-credentials"} {
			if err := env.Client.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: name}, &s); !apierrors.IsNotFound(err) {
				return fmt.Errorf("Secret %s still there", name)
			}
		}
		var rae accessv1alpha1.RemoteAccessEnvironment
		if err := env.Client.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: "ns-delete"}, &rae); !apierrors.IsNotFound(err) {
			return fmt.Errorf("environment still there")
		}
		return nil
	})
	if n := len(h.cloud.Soracom.VPGs()); n != 0 {
		t.Fatalf("%d VPGs left: the clean-up lost its credentials", n)
	}
	if n := len(h.cloud.AWS.Fleets()); n != 0 {
		t.Fatalf("%d fleets left", n)
	}
}

// poke asks for a pass now (the reconcile-requested annotation).
func (h *raeHarness) poke(name string) {
	h.t.Helper()
	rae := h.get(name)
	if rae.Annotations == nil {
		rae.Annotations = map[string]string{}
	}
	rae.Annotations[accessv1alpha1.AnnotationReconcileRequestedAt] = time.Now().Format(time.RFC3339Nano)
	if err := env.Client.Update(h.ctx, rae); err != nil {
		h.t.Fatal(err)
	}
}

// A failed read of the AppStream tags during deletion is a retryable error,
// not proof that the fleet and stack belong to someone else.
func TestEnvironmentDeletionDoesNotSkipOnATagReadError(t *testing.T) {
	h := newRAEHarness(t, time.Hour, emulator.Options{})
	h.start()
	h.create(h.sampleEnv("tags"))
	rae := h.waitReady("tags", 60*time.Second)
	// The status write after the creates was lost: fleet and stack are not recorded.
	rae.Status.Fleet, rae.Status.Stack = nil, nil
	if err := env.Client.Status().Update(h.ctx, rae); err != nil {
		t.Fatal(err)
	}
	h.cloud.Faults.Add(fault.Rule{API: "appstream", Op: "ListTagsForResource", Kind: fault.ServerError, Times: 40})
	if err := env.Client.Delete(h.ctx, h.get("tags")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, "environment deleted", func() error {
		var got accessv1alpha1.RemoteAccessEnvironment
		if err := env.Client.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: "tags"}, &got); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there")
		}
		return nil
	})
	if f := h.cloud.AWS.Fleets(); len(f) != 0 {
		t.Errorf("fleet left behind after a failed tag read: %+v", f)
	}
	if s := h.cloud.AWS.Stacks(); len(s) != 0 {
		t.Errorf("stack left behind after a failed tag read: %+v", s)
	}
}

// A route table that held our route and has since been deleted (and dropped
// from the spec) must not block the environment forever.
func TestEnvironmentForgetsADeletedRouteTable(t *testing.T) {
	h := newRAEHarness(t, time.Hour, emulator.Options{})
	h.start()
	h.create(h.sampleEnv("rtb"))
	rae := h.waitReady("rtb", 60*time.Second)
	rae.Status.Peering.RouteTableIDs = []string{h.seed.RouteTableID, "rtb-0dead0dead"}
	if err := env.Client.Status().Update(h.ctx, rae); err != nil {
		t.Fatal(err)
	}
	h.poke("rtb")
	testenv.Eventually(t, 15*time.Second, "deleted route table forgotten", func() error {
		got := h.get("rtb")
		if ids := got.Status.Peering.RouteTableIDs; slices.Contains(ids, "rtb-0dead0dead") {
			c := conditions.Get(got.Status.Conditions, accessv1alpha1.ConditionRoutesReady)
			return fmt.Errorf("routeTableIds %v, RoutesReady %+v", ids, c)
		}
		return nil
	})
	h.waitReady("rtb", 15*time.Second)
}

// An adopted gateway is shared: its ID is recorded, and Gate peers that
// others registered on it are left alone.
func TestEnvironmentAdoptedGatewayLeavesOthersPeers(t *testing.T) {
	h := newRAEHarness(t, time.Hour, emulator.Options{})
	sc, err := soracom.New(soracom.Options{Endpoint: h.cloud.SoracomURL, Credentials: soracom.Credentials{AuthKeyID: h.seed.SoracomAuthKeyID, AuthKey: h.seed.SoracomAuthKey}})
	if err != nil {
		t.Fatal(err)
	}
	vpg, err := sc.CreateVirtualPrivateGateway(h.ctx, &soracom.CreateVirtualPrivateGatewayRequest{Type: soracom.VPGTypeF, DeviceSubnetCIDRRange: "10.128.0.0/9"})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "shared gateway running", func() error {
		if v, _ := h.cloud.Soracom.VPG(vpg.VPGID); v.Status != "running" {
			return fmt.Errorf("status %s", v.Status)
		}
		return nil
	})
	if err := sc.OpenGate(h.ctx, vpg.VPGID, 10, true); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.RegisterGatePeer(h.ctx, vpg.VPGID, &soracom.RegisterGatePeerRequest{OuterIPAddress: "10.0.1.99", InnerIPAddress: "10.128.255.99"}); err != nil {
		t.Fatal(err)
	}
	h.start()
	rae := h.sampleEnv("adopter")
	rae.Spec.Soracom.Gateway.ID = vpg.VPGID
	h.create(rae)
	got := h.waitReady("adopter", 60*time.Second)
	if got.Status.Gateway.ID != vpg.VPGID || !got.Status.Gateway.Adopted {
		t.Errorf("gateway status = %+v; want the adopted %s recorded", got.Status.Gateway, vpg.VPGID)
	}
	v, _ := h.cloud.Soracom.VPG(vpg.VPGID)
	var outers []string
	for _, p := range v.GatePeers {
		if p.OwnedByCustomer {
			outers = append(outers, p.OuterIPAddress)
		}
	}
	if !slices.Contains(outers, "10.0.1.99") || !slices.Contains(outers, "10.0.1.10") {
		t.Fatalf("Gate peers on the shared gateway = %v; want someone else's 10.0.1.99 kept and ours 10.0.1.10 added", outers)
	}
	if want := []string{"10.0.1.10", got.Status.Routers[0].PrivateIPAddress}; !slices.Equal(got.Status.Gateway.GatePeers, want) {
		t.Fatalf("status.gateway.gatePeers = %v; want the peers this environment registered, %v (its spec's and its router's)", got.Status.Gateway.GatePeers, want)
	}

	// Our peer dropped from the spec is unregistered; someone else's stays.
	got.Spec.Soracom.Gateway.Gate.Peers = nil
	if err := env.Client.Update(h.ctx, got); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "our peer unregistered", func() error {
		v, _ := h.cloud.Soracom.VPG(vpg.VPGID)
		var outers []string
		for _, p := range v.GatePeers {
			if p.OwnedByCustomer {
				outers = append(outers, p.OuterIPAddress)
			}
		}
		if want := []string{"10.0.1.99", got.Status.Routers[0].PrivateIPAddress}; !slices.Equal(outers, want) {
			return fmt.Errorf("customer peers %v; want only %v (someone else's and our router's)", outers, want)
		}
		return nil
	})
}

// A missing adopted gateway needs a person: it is looked at again at the poll
// interval, not every TransitionWait.
func TestEnvironmentMissingAdoptedGatewayIsNotAHotLoop(t *testing.T) {
	h := newRAEHarness(t, time.Hour, emulator.Options{})
	h.start()
	rae := h.sampleEnv("nogw")
	rae.Spec.Soracom.Gateway.ID = "vpg-doesnotexist"
	h.create(rae)
	testenv.Eventually(t, 30*time.Second, "GatewayNotFound", func() error {
		if c := h.condition("nogw", accessv1alpha1.ConditionGatewayReady); c == nil || c.Reason != accessv1alpha1.ReasonGatewayNotFound {
			return fmt.Errorf("GatewayReady = %+v", c)
		}
		// The AppStream side converges on its own; measure once it has.
		if c := h.condition("nogw", accessv1alpha1.ConditionAssociationReady); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("AssociationReady = %+v", c)
		}
		return nil
	})
	before := h.cloud.Faults.Count("soracom", soracomemu.OpGetVPG)
	// 2s is 20 TransitionWaits: a hot loop would read the gateway about 20 times.
	testenv.Consistently(t, 2*time.Second, "no hot loop on the missing gateway", func() error {
		if n := h.cloud.Faults.Count("soracom", soracomemu.OpGetVPG) - before; n > 2 {
			return fmt.Errorf("the missing gateway was read %d times within 2s (TransitionWait 100ms, poll 1h)", n)
		}
		return nil
	})
}

// Switching Gate off closes it, and status says so at once.
func TestEnvironmentSwitchingGateOff(t *testing.T) {
	h := newRAEHarness(t, time.Hour, emulator.Options{})
	h.start()
	h.create(h.sampleEnv("gateoff"))
	rae := h.waitReady("gateoff", 60*time.Second)
	rae.Spec.Soracom.Gateway.Gate.Enabled = ptr.To(false)
	if err := env.Client.Update(h.ctx, rae); err != nil {
		t.Fatal(err)
	}
	// No device can be reached through a closed Gate: Ready says so.
	testenv.Eventually(t, 30*time.Second, "Gate closed and Ready=False naming it", func() error {
		got := h.get("gateoff")
		if v, _ := h.cloud.Soracom.VPG(got.Status.Gateway.ID); v.GateOpened || got.Status.Gateway.GateOpened {
			return fmt.Errorf("Gate still open (status %v)", got.Status.Gateway.GateOpened)
		}
		c := conditions.Get(got.Status.Conditions, accessv1alpha1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "gate.enabled: false") {
			return fmt.Errorf("Ready = %+v", c)
		}
		return nil
	})
}

// A terminal error on the SORACOM side must not turn a transient error on the
// AppStream side into a wait for the poll interval.
func TestEnvironmentRetriesATransientErrorBesideATerminalOne(t *testing.T) {
	h := newRAEHarness(t, time.Hour, emulator.Options{})
	h.start()
	rae := h.sampleEnv("mixed")
	rae.Spec.AWS.RouteTableIDs = []string{h.seed.RouteTableID, "rtb-0404040404"}
	h.create(rae)
	testenv.Eventually(t, 60*time.Second, "route table terminal and fleet ready", func() error {
		got := h.get("mixed")
		rc := conditions.Get(got.Status.Conditions, accessv1alpha1.ConditionRoutesReady)
		fc := conditions.Get(got.Status.Conditions, accessv1alpha1.ConditionFleetReady)
		if rc == nil || rc.Reason != accessv1alpha1.ReasonRouteTableNotFound || fc == nil || fc.Status != metav1.ConditionTrue {
			return fmt.Errorf("RoutesReady %+v FleetReady %+v", rc, fc)
		}
		return nil
	})
	fleetName := h.get("mixed").Status.Fleet.Name
	if _, err := h.cloud.AWS.UpdateFleet(&awsemu.FleetInput{Name: ptr.To(fleetName), ComputeCapacity: &awsemu.ComputeCapacity{DesiredInstances: ptr.To[int32](7)}}); err != nil {
		t.Fatal(err)
	}
	h.cloud.Faults.Add(fault.Rule{API: "appstream", Op: "UpdateFleet", Kind: fault.ServerError, Times: 5})
	h.poke("mixed")
	testenv.Eventually(t, 20*time.Second, "fleet capacity put back despite the terminal route error", func() error {
		for _, f := range h.cloud.AWS.Fleets() {
			if f.Name == fleetName && f.ComputeCapacityStatus.Desired != 2 {
				return fmt.Errorf("desired = %d (UpdateFleet calls %d)", f.ComputeCapacityStatus.Desired, h.cloud.Faults.Count("appstream", "UpdateFleet"))
			}
		}
		return nil
	})
}

func TestEnvironmentDeletionWithoutCredentialsSaysWhatToDo(t *testing.T) {
	h := newRAEHarness(t, time.Hour, emulator.Options{})
	h.start()
	rae := h.sampleEnv("stuck")
	rae.Spec.Soracom.CredentialsSecretRef.Name = "missing"
	h.create(rae)
	testenv.Eventually(t, 30*time.Second, "CredentialsUnavailable", func() error {
		if c := h.condition("stuck", accessv1alpha1.ConditionSynced); c == nil || c.Reason != accessv1alpha1.ReasonCredentialsUnavailable {
			return fmt.Errorf("Synced = %+v", c)
		}
		return nil
	})
	if err := env.Client.Delete(h.ctx, h.get("stuck")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "Ready explains the blocked deletion", func() error {
		c := h.condition("stuck", accessv1alpha1.ConditionReady)
		if c == nil || c.Reason != accessv1alpha1.ReasonDeleting || !strings.Contains(c.Message, "deletionPolicy: Orphan") || !strings.Contains(c.Message, "missing") {
			return fmt.Errorf("Ready = %+v", c)
		}
		return nil
	})
	// Switching to Orphan releases it.
	got := h.get("stuck")
	got.Spec.DeletionPolicy = accessv1alpha1.DeletionPolicyOrphan
	if err := env.Client.Update(h.ctx, got); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "deleted after switching to Orphan", func() error {
		var x accessv1alpha1.RemoteAccessEnvironment
		if err := env.Client.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: "stuck"}, &x); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there")
		}
		return nil
	})
}

// On an adopted (shared) gateway, deletion undoes only what this environment
// set: its router's Gate peer and its Junction settings; someone else's
// mirroring peer stays, and so does the gateway.
func TestEnvironmentAdoptedGatewayDeletionUndoesOnlyOurs(t *testing.T) {
	h := newRAEHarness(t, time.Minute, emulator.Options{})
	sc, err := soracom.New(soracom.Options{Endpoint: h.cloud.SoracomURL, Credentials: soracom.Credentials{AuthKeyID: h.seed.SoracomAuthKeyID, AuthKey: h.seed.SoracomAuthKey}})
	if err != nil {
		t.Fatal(err)
	}
	vpg, err := sc.CreateVirtualPrivateGateway(h.ctx, &soracom.CreateVirtualPrivateGatewayRequest{Type: soracom.VPGTypeF, DeviceSubnetCIDRRange: "10.128.0.0/9"})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "shared gateway running", func() error {
		if v, _ := h.cloud.Soracom.VPG(vpg.VPGID); v.Status != "running" {
			return fmt.Errorf("status %s", v.Status)
		}
		return nil
	})
	if err := sc.OpenGate(h.ctx, vpg.VPGID, 10, true); err != nil {
		t.Fatal(err)
	}
	if err := sc.PutMirroringPeer(h.ctx, vpg.VPGID, soracom.JunctionMirroringPeer{IPAddress: "10.0.9.9", Enabled: true, Description: "someone else's"}); err != nil {
		t.Fatal(err)
	}
	h.start()
	rae := h.sampleEnv("shared")
	rae.Spec.Soracom.Gateway.ID = vpg.VPGID
	rae.Spec.Soracom.Gateway.Gate.Peers = nil
	rae.Spec.Soracom.Junction = &accessv1alpha1.JunctionSpec{Inspection: ptr.To(true),
		MirroringPeers: []accessv1alpha1.JunctionMirroringPeer{{IPAddress: "10.0.1.50", Description: "ours"}}}
	h.create(rae)
	got := h.waitReady("shared", 60*time.Second)
	routerIP := got.Status.Routers[0].PrivateIPAddress
	v, _ := h.cloud.Soracom.VPG(vpg.VPGID)
	if v.Inspection == nil || !v.Inspection.Enabled || v.Mirroring == nil || len(v.Mirroring.Peers) != 2 {
		t.Fatalf("Junction on the shared gateway: inspection %+v, mirroring %+v; want inspection on and both peers", v.Inspection, v.Mirroring)
	}
	if err := env.Client.Delete(h.ctx, got); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, "environment deleted", func() error {
		if err := env.Client.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: "shared"}, &accessv1alpha1.RemoteAccessEnvironment{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there (%v)", err)
		}
		return nil
	})
	v, ok := h.cloud.Soracom.VPG(vpg.VPGID)
	if !ok || v.Status != "running" {
		t.Fatalf("the adopted gateway is gone or %s", v.Status)
	}
	for _, p := range v.GatePeers {
		if p.OuterIPAddress == routerIP {
			t.Errorf("the router's Gate peer %s is still registered", routerIP)
		}
	}
	if v.Inspection != nil && v.Inspection.Enabled {
		t.Errorf("inspection is still on")
	}
	if v.Mirroring == nil || len(v.Mirroring.Peers) != 1 || v.Mirroring.Peers["10.0.9.9"].IPAddress == "" {
		t.Errorf("mirroring peers %+v; want only someone else's 10.0.9.9", v.Mirroring)
	}
	if live := liveInstances(h); len(live) != 0 {
		t.Errorf("routers left: %+v", live)
	}
}

// An endpoint override the manager does not allow: nothing is sent there,
// and the environment says why.
func TestEnvironmentEndpointOverrideNotAllowed(t *testing.T) {
	h := newRAEHarness(t, time.Hour, emulator.Options{})
	h.start()
	// Mallory may edit environments in the namespace but not read its Secrets.
	h.create(&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "env-editor"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{accessv1alpha1.GroupVersion.Group}, Resources: []string{"remoteaccessenvironments"},
			Verbs: []string{"create", "get", "update", "patch"}}}})
	h.create(&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "env-editor"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "env-editor"},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "mallory"}}})
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "mallory", Groups: []string{"system:authenticated"}}
	mallory, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := mallory.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: "soracom-auth"}, &corev1.Secret{}); !apierrors.IsForbidden(err) {
		t.Fatalf("mallory reading the credentials: %v; want Forbidden", err)
	}
	rae := h.sampleEnv("exfil")
	rae.Spec.Soracom.Endpoint = "https://collector.example.com"
	if err := mallory.Create(h.ctx, rae); err != nil {
		t.Fatalf("mallory creating the environment: %v", err)
	}
	testenv.Eventually(t, 30*time.Second, "Synced=False EndpointNotAllowed", func() error {
		c := h.condition("exfil", accessv1alpha1.ConditionSynced)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != accessv1alpha1.ReasonEndpointNotAllowed ||
			!strings.Contains(c.Message, "spec.soracom.endpoint") || !strings.Contains(c.Message, "--allowed-endpoints") {
			return fmt.Errorf("Synced = %+v", c)
		}
		return nil
	})
	if n := h.cloud.Soracom.VPGsEverCreated(); n != 0 {
		t.Fatalf("%d VPGs created", n)
	}
}
