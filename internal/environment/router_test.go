package environment_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/conditions"
	awsemu "github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	"github.com/gatestream/gatestream/internal/environment"
	"github.com/gatestream/gatestream/internal/unit"
)

func (w *world) condition(typ string) *metav1.Condition {
	return conditions.Get(w.env.Status.Conditions, typ)
}

// liveRouters are the emulator's instances that are not terminated or on their way.
func (w *world) liveRouters() []awsemu.Instance {
	var out []awsemu.Instance
	for _, i := range w.cloud.AWS.Instances() {
		if i.State != awsemu.InstanceTerminated && i.State != awsemu.InstanceShuttingDown {
			out = append(out, i)
		}
	}
	return out
}

// converge runs the SORACOM chain through the shared runner, as the reconciler does, n times.
func (w *world) converge(n int) unit.Outcome {
	var out unit.Outcome
	for range n {
		out = unit.Converge(w.ctx, w.pass(), environment.SoracomChain(w.env)...)
		w.step(vpgDelay)
	}
	return out
}

// A RunInstances whose response is lost launched a router all the same: the
// next passes find it by its owner and slot tags instead of launching another.
func TestRouterLaunchWithALostResponseLeavesOneRouter(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.cloud.Faults.Add(fault.Rule{API: ec2API, Op: "RunInstances", Kind: fault.LoseResponse, Times: 1})
	w.converge(10)
	if c := w.condition(accessv1alpha1.ConditionNetworkReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("NetworkReady = %+v", c)
	}
	if n := w.calls(ec2API, "RunInstances"); n != 1 {
		t.Fatalf("%d RunInstances calls; want 1 (the lost one, found again by its tags)", n)
	}
	if live := w.liveRouters(); len(live) != 1 || live[0].ID != w.env.Status.Routers[0].InstanceID {
		t.Fatalf("routers %+v; want exactly the one recorded, %s", live, w.env.Status.Routers[0].InstanceID)
	}
}

// The manager stops between the launch and the status write: the status it
// finds on restart has only the create-pending marker (written before the
// launch). The router is found by its tags, not launched again.
func TestRouterRestartBetweenLaunchAndStatusWrite(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	before := w.env.DeepCopy()
	var persisted *accessv1alpha1.RemoteAccessEnvironmentStatus
	// Run passes until the router is launched, keeping the status written before the launch.
	for i := 0; i < 10 && len(w.liveRouters()) == 0; i++ {
		snapshot := w.env.Status.DeepCopy()
		unit.Converge(w.ctx, w.pass(), environment.SoracomChain(w.env)...)
		if len(w.liveRouters()) > 0 {
			persisted = snapshot
		}
		w.step(vpgDelay)
	}
	if persisted == nil {
		t.Fatal("no router was launched")
	}
	// The restart: the status as it was before the launch, plus the marker.
	w.env = before.DeepCopy()
	w.env.Status = *persisted
	now := metav1.NewTime(w.clk.Now())
	if len(w.env.Status.Routers) == 0 {
		w.env.Status.Routers = []accessv1alpha1.RouterStatus{{Managed: true}}
	}
	w.env.Status.Routers[0].InstanceID = ""
	w.env.Status.Routers[0].CreatePendingSince = &now
	w.converge(10)
	if live := w.liveRouters(); len(live) != 1 || live[0].ID != w.env.Status.Routers[0].InstanceID {
		t.Fatalf("routers %+v; want exactly one, recorded (%s)", live, w.env.Status.Routers[0].InstanceID)
	}
	if n := w.calls(ec2API, "RunInstances"); n != 1 {
		t.Fatalf("%d RunInstances calls; want 1", n)
	}
	if w.env.Status.Routers[0].CreatePendingSince != nil {
		t.Fatal("the create-pending marker was not cleared")
	}
}

// A router terminated outside is replaced, and the routes follow the new
// network interface.
func TestRouterTerminatedIsReplacedAndRoutesFollow(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.converge(10)
	old := w.env.Status.Routers[0]
	w.must("terminating", w.cloud.AWS.TerminateInstance(old.InstanceID))
	w.converge(10)
	now := w.env.Status.Routers[0]
	if now.InstanceID == old.InstanceID || now.NetworkInterfaceID == old.NetworkInterfaceID || len(w.liveRouters()) != 1 {
		t.Fatalf("router %+v after %+v was terminated; want one new router", now, old)
	}
	if got := w.routeVia(w.seed.RouteTableID, "10.128.0.0/9"); got != now.NetworkInterfaceID {
		t.Fatalf("the device subnet routes to %q; want the new router's %s", got, now.NetworkInterfaceID)
	}
	if c := w.condition(accessv1alpha1.ConditionNetworkReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("NetworkReady = %+v", c)
	}
	if now.Launches != 2 {
		t.Fatalf("launches %d; want 2", now.Launches)
	}
}

// EC2 reports the router impaired: it is replaced.
func TestRouterImpairedIsReplaced(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.converge(10)
	old := w.env.Status.Routers[0]
	w.must("impairing", w.cloud.AWS.SetInstanceImpaired(old.InstanceID, true))
	w.converge(10)
	if now := w.env.Status.Routers[0]; now.InstanceID == old.InstanceID || len(w.liveRouters()) != 1 {
		t.Fatalf("router %s still in use after it was impaired (live: %+v)", now.InstanceID, w.liveRouters())
	}
	if c := w.condition(accessv1alpha1.ConditionNetworkReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("NetworkReady = %+v", c)
	}
}

// Two routers in two availability zones: each fleet subnet routes to the
// router in its zone, and both paths check out (operator and walker).
func TestTwoRoutersInTwoZones(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const subnetC, rtbC = "subnet-0c0c0c0c", "rtb-0c0c0c0c"
	w.cloud.AWS.AddSubnet(subnetC, w.seed.VPCID, "10.0.2.0/24", "ap-northeast-1c")
	w.cloud.AWS.AddRouteTable(rtbC, w.seed.VPCID, subnetC)
	w.env.Spec.AppStream.Fleet.SubnetIDs = []string{w.seed.SubnetID, subnetC}
	w.env.Spec.Router = &accessv1alpha1.RouterSpec{Managed: &accessv1alpha1.ManagedRouterSpec{SubnetIDs: []string{w.seed.SubnetID, subnetC}}}
	w.converge(10)
	if c := w.condition(accessv1alpha1.ConditionNetworkReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("NetworkReady = %+v", c)
	}
	rs := w.env.Status.Routers
	if len(rs) != 2 || len(w.liveRouters()) != 2 || rs[0].AvailabilityZone == rs[1].AvailabilityZone {
		t.Fatalf("routers %+v; want two, one per zone", rs)
	}
	for i, rtb := range []string{w.seed.RouteTableID, rtbC} {
		if got := w.routeVia(rtb, "10.128.0.0/9"); got != rs[i].NetworkInterfaceID {
			t.Errorf("%s routes the device subnet to %q; want the router in its zone, %s", rtb, got, rs[i].NetworkInterfaceID)
		}
		// The tunnel's underlay is routed in each router's subnet.
		if got := w.routeVia(rtb, w.env.Status.Gateway.VPGSubnetCIDRRange); got != w.env.Status.Peering.ID {
			t.Errorf("%s routes %s via %q; want the peering", rtb, w.env.Status.Gateway.VPGSubnetCIDRRange, got)
		}
	}
}
