package environment_test

import (
	"k8s.io/utils/ptr"

	"encoding/base64"
	"net/netip"
	"strings"
	"testing"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/emulator"
	awsemu "github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	"github.com/gatestream/gatestream/internal/emulator/reach"
	"github.com/gatestream/gatestream/internal/environment"
	"github.com/gatestream/gatestream/internal/pathcheck"
	"github.com/gatestream/gatestream/internal/soracom"
	"github.com/gatestream/gatestream/internal/unit"
)

// The data path, hop by hop: the environment's whole chain on the emulators,
// the demo's two devices (raspi-1 on its SIM, plc-7 on the LAN behind a
// cellular router) bound to the gateway, then one hop broken at a time. For
// each, the operator's path check (over what the units observe, before they
// repair anything) and the emulator's independent packet walker (over the
// world as it is, the router's behaviour taken from its user data) must name
// the same broken hop and object; then a pass of the units (drift
// correction), or the person's fix where only a person can fix it, must make
// the path reachable again in both.

// fleetSource is an address of the fleet subnet the walker connects from.
var fleetSource = netip.MustParseAddr("10.0.1.200")

type pathWorld struct {
	*world
	// network is the NetworkReady observation of the last observed pass.
	network environment.Observation
	vpgID   string
	// addrs are the devices' addresses as the sessions carried them (a SIM's
	// address is gone from SORACOM while it is offline; the URL still has it).
	addrs map[string]netip.Addr
}

func (w *pathWorld) chain() []environment.Unit {
	return append(environment.SoracomChain(w.env), environment.AppStreamChain()...)
}

// newPathWorld brings the whole environment to Ready with the demo's devices online on its gateway.
func newPathWorld(t *testing.T, edit func(env *accessv1alpha1.RemoteAccessEnvironment)) *pathWorld {
	t.Helper()
	w := &pathWorld{world: newWorld(t), addrs: map[string]netip.Addr{}}
	if edit != nil {
		edit(w.env)
	}
	w.ready(environment.Gateway{}, &environment.Gate{})
	w.vpgID = w.env.Status.Gateway.ID
	w.bindDevices()
	w.lanRoutes = []environment.LANRoute{{DeviceGroup: "line-a", SIMID: emulator.DemoSIMRouter, CIDR: netip.MustParsePrefix(emulator.DemoRouterLAN)}}
	w.targets = w.deviceTargets
	w.ready(w.chain()...)
	for _, d := range w.deviceTargets() {
		w.addrs[d.Target.Name] = d.Target.Address
	}
	w.wantReachable(t, "set up")
	return w
}

// bindDevices does what the DeviceGroup controller does: the SIMs in a group
// bound to the gateway, their sessions renewed on it, the LAN routed.
func (w *pathWorld) bindDevices() {
	ctx := w.ctx
	g, err := w.sor.CreateGroup(ctx, &soracom.CreateGroupRequest{Tags: map[string]string{"name": "line-a"}})
	w.must("creating the group", err)
	_, err = w.sor.PutGroupConfiguration(ctx, g.GroupID, "SoracomAir", []soracom.KeyValue{{Key: "useVpg", Value: true}, {Key: "vpgId", Value: w.vpgID}})
	w.must("binding the group", err)
	for _, sim := range []string{emulator.DemoSIMRaspberryPi, emulator.DemoSIMRouter} {
		_, err := w.sor.SetSimGroup(ctx, sim, g.GroupID)
		w.must("moving "+sim, err)
		w.must("reconnecting "+sim, w.cloud.Soracom.SetSIMOnline(sim, true, ""))
	}
	w.must("enabling SIM-based routing", w.sor.EnableSimBasedRouting(ctx, w.vpgID))
	w.putLAN()
}

func (w *pathWorld) putLAN() {
	w.must("routing the LAN", w.sor.PutSimBasedRoutingRoutes(w.ctx, w.vpgID, map[string]string{emulator.DemoSIMRouter: emulator.DemoRouterLAN}))
}

// deviceTargets are the devices as a DeviceGroup reports them (SIM state from SORACOM).
func (w *pathWorld) deviceTargets() []environment.DeviceTarget {
	sim := func(id string) pathcheck.SIM {
		s, ok := w.cloud.Soracom.SIM(id)
		return pathcheck.SIM{ID: id, Known: ok, Online: s.Online, VPGID: s.VPGID}
	}
	raspi, _ := w.cloud.Soracom.SIM(emulator.DemoSIMRaspberryPi)
	addr, _ := netip.ParseAddr(raspi.UEIPAddress)
	return []environment.DeviceTarget{
		{DeviceGroup: "line-a", Ports: []int{22}, Target: pathcheck.Target{Name: "raspi-1", Address: addr, SIM: sim(emulator.DemoSIMRaspberryPi)}},
		{DeviceGroup: "line-a", Ports: []int{80}, Target: pathcheck.Target{Name: "plc-7", Address: netip.MustParseAddr(emulator.DemoPLCAddress), SIM: sim(emulator.DemoSIMRouter)}},
	}
}

var devicePorts = map[string]int{"raspi-1": 22, "plc-7": 80}

// observed runs Observe of every unit once, in order and without repairing
// anything, and returns the path check of each device.
func (w *pathWorld) observed() map[string]accessv1alpha1.DevicePath {
	w.t.Helper()
	p := w.pass()
	for _, u := range environment.SoracomChain(w.env) {
		obs, err := u.Observe(w.ctx, p)
		if err != nil {
			w.t.Fatalf("%s: Observe: %v", u.Condition(), err)
		}
		if u.Condition() == accessv1alpha1.ConditionNetworkReady {
			w.network = obs
		}
	}
	out := map[string]accessv1alpha1.DevicePath{}
	for _, d := range w.env.Status.Path.Devices {
		out[d.Device] = d
	}
	return out
}

// walked is the packet walker's verdict for each device.
func (w *pathWorld) walked() map[string]reach.Result {
	out := map[string]reach.Result{}
	for name, addr := range w.addrs {
		out[name] = w.cloud.Reach(environment.FleetName(w.env), w.seed.SubnetID, fleetSource, addr, devicePorts[name])
	}
	return out
}

func (w *pathWorld) wantReachable(t *testing.T, when string) {
	t.Helper()
	ctrl, walk := w.observed(), w.walked()
	for name := range devicePorts {
		if !ctrl[name].Reachable || !walk[name].Reachable {
			t.Fatalf("%s: %s: path check %+v; walker %s", when, name, ctrl[name], walk[name])
		}
		// Sessions trust the check only at the address it was walked to.
		if got := ctrl[name].Address; got != w.addrs[name].String() {
			t.Fatalf("%s: %s: path walked to %q, the device's address is %s", when, name, got, w.addrs[name])
		}
	}
	if st := w.env.Status.Path; st == nil || !st.Reachable || st.BrokenHop != nil {
		t.Fatalf("%s: the environment's path is not reachable: %+v", when, st)
	}
}

// router is the environment's (first) router as recorded.
func (w *pathWorld) router() accessv1alpha1.RouterStatus { return w.env.Status.Routers[0] }

func TestPathCheckAndWalkerNameTheSameBrokenHop(t *testing.T) {
	rtb := "rtb-0abc1234"
	both := func(kind string, object func(w *pathWorld) string) func(w *pathWorld) map[string]accessv1alpha1.Hop {
		return func(w *pathWorld) map[string]accessv1alpha1.Hop {
			return map[string]accessv1alpha1.Hop{"raspi-1": {Kind: kind, Object: object(w)}, "plc-7": {Kind: kind, Object: object(w)}}
		}
	}
	fixed := func(s string) func(*pathWorld) string { return func(*pathWorld) string { return s } }
	sg := emulator.DemoSecurityGroupID
	cases := []struct {
		name   string
		break_ func(w *pathWorld) (fix func())
		want   func(w *pathWorld) map[string]accessv1alpha1.Hop
	}{
		{"device route deleted by hand", func(w *pathWorld) func() {
			if !w.cloud.AWS.RemoveRoute(rtb, "10.128.0.0/9") {
				t.Fatal("no device route to delete")
			}
			return nil
		}, func(w *pathWorld) map[string]accessv1alpha1.Hop {
			return map[string]accessv1alpha1.Hop{"raspi-1": {Kind: pathcheck.KindFleetRoute, Object: rtb}}
		}},
		{"device route to the wrong interface", func(w *pathWorld) func() {
			res, err := w.cloud.AWS.RunInstances(&awsemu.RunInstancesInput{ImageID: awsemu.AMIAL2023X8664, InstanceType: "t3.nano", MinCount: ptr.To(1), MaxCount: ptr.To(1),
				SubnetID: w.seed.SubnetID, SecurityGroupIDs: []string{sg}})
			w.must("launching another instance", err)
			w.must("re-pointing the route", w.cloud.AWS.PutRoute(rtb, awsemu.Route{DestinationCidrBlock: emulator.DemoRouterLAN,
				NetworkInterfaceID: res.Instances[0].NetworkInterfaceID}))
			return nil
		}, func(w *pathWorld) map[string]accessv1alpha1.Hop {
			return map[string]accessv1alpha1.Hop{"plc-7": {Kind: pathcheck.KindFleetRoute, Object: rtb}}
		}},
		{"source/dest check on", func(w *pathWorld) func() {
			w.must("source/dest check", w.cloud.AWS.SetSourceDestCheck(w.router().NetworkInterfaceID, true))
			return nil
		}, both(pathcheck.KindRouterSourceDestCheck, func(w *pathWorld) string { return w.router().NetworkInterfaceID })},
		{"router stopped", func(w *pathWorld) func() {
			w.must("stopping the router", w.cloud.AWS.StopInstance(w.router().InstanceID))
			return nil
		}, both(pathcheck.KindFleetRoute, fixed(rtb))},
		{"router terminated", func(w *pathWorld) func() {
			w.must("terminating the router", w.cloud.AWS.TerminateInstance(w.router().InstanceID))
			return nil
		}, both(pathcheck.KindFleetRoute, fixed(rtb))},
		{"fleet security group closed", func(w *pathWorld) func() {
			g := w.securityGroup(sg)
			w.cloud.AWS.SetSecurityGroupRules(sg, g.Ingress, []awsemu.Rule{{Protocol: "udp", FromPort: 4789, ToPort: 4789, CIDRs: []string{emulator.DemoVPGRange}}})
			return func() { w.cloud.AWS.SetSecurityGroupRules(sg, g.Ingress, g.Egress) }
		}, both(pathcheck.KindFleetSecurityGroup, fixed(sg))},
		{"router security group closed", func(w *pathWorld) func() {
			g := w.securityGroup(sg)
			w.cloud.AWS.SetSecurityGroupRules(sg, []awsemu.Rule{{Protocol: "-1", CIDRs: []string{emulator.DemoVPGRange}}}, g.Egress)
			return func() { w.cloud.AWS.SetSecurityGroupRules(sg, g.Ingress, g.Egress) }
		}, both(pathcheck.KindRouterSecurityGroup, fixed(sg))},
		{"UDP 4789 closed", func(w *pathWorld) func() {
			g := w.securityGroup(sg)
			w.cloud.AWS.SetSecurityGroupRules(sg, []awsemu.Rule{{Protocol: "-1", CIDRs: []string{emulator.DemoVPCCIDR}}}, g.Egress)
			return func() { w.cloud.AWS.SetSecurityGroupRules(sg, g.Ingress, g.Egress) }
		}, both(pathcheck.KindTunnelPort, fixed(sg))},
		{"Gate peer unregistered", func(w *pathWorld) func() {
			w.must("unregistering", w.cloud.Soracom.UnregisterGatePeer(w.vpgID, w.router().PrivateIPAddress))
			return nil
		}, both(pathcheck.KindGatePeer, func(w *pathWorld) string { return w.vpgID })},
		{"VXLAN id of the gateway changed by hand", func(w *pathWorld) func() {
			w.must("setting the VXLAN id", w.cloud.Soracom.SetGateVxlanID(w.vpgID, 11))
			return nil
		}, both(pathcheck.KindVXLANID, func(w *pathWorld) string { return w.router().InstanceID })},
		{"SIM offline", func(w *pathWorld) func() {
			w.must("SIM offline", w.cloud.Soracom.SetSIMOnline(emulator.DemoSIMRaspberryPi, false, ""))
			return func() {
				w.must("SIM online", w.cloud.Soracom.SetSIMOnline(emulator.DemoSIMRaspberryPi, true, w.addrs["raspi-1"].String()))
			}
		}, func(w *pathWorld) map[string]accessv1alpha1.Hop {
			return map[string]accessv1alpha1.Hop{"raspi-1": {Kind: pathcheck.KindSIM}}
		}},
		{"LAN route missing at the gateway", func(w *pathWorld) func() {
			w.must("removing the LAN route", w.sor.PutSimBasedRoutingRoutes(w.ctx, w.vpgID, map[string]string{}))
			return w.putLAN
		}, func(w *pathWorld) map[string]accessv1alpha1.Hop {
			return map[string]accessv1alpha1.Hop{"plc-7": {Kind: pathcheck.KindLANRoute, Object: w.vpgID}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newPathWorld(t, nil)
			w.t = t
			fix := tc.break_(w)
			w.compare(t, tc.want(w))
			if fix != nil {
				fix()
			}
			w.ready(w.chain()...)
			w.wantReachable(t, "after the fix")
		})
	}
}

// Junction redirection as the return path: the router does not masquerade,
// the gateway redirects device traffic to the router's inner address; a
// redirection pointed elsewhere by hand breaks the return path, and the
// Junction unit puts it back.
func TestPathWithJunctionRedirection(t *testing.T) {
	t.Parallel()
	w := newPathWorld(t, func(env *accessv1alpha1.RemoteAccessEnvironment) {
		env.Spec.Router = &accessv1alpha1.RouterSpec{Managed: &accessv1alpha1.ManagedRouterSpec{}, ReturnPath: accessv1alpha1.ReturnPathJunctionRedirection}
	})
	inst, _ := w.cloud.AWS.Instance(w.router().InstanceID)
	if strings.Contains(inst.UserData, "masquerade") {
		t.Fatalf("the router masquerades although the return path is Junction redirection:\n%s", inst.UserData)
	}
	if v, _ := w.cloud.Soracom.VPG(w.vpgID); v.Redirection == nil || v.Redirection.Gateway != w.router().InnerIPAddress {
		t.Fatalf("redirection %+v; want the router's inner address %s", v.Redirection, w.router().InnerIPAddress)
	}
	w.must("redirecting elsewhere", w.sor.SetRedirection(w.ctx, w.vpgID, soracom.JunctionRedirection{Gateway: "10.128.0.200", Enabled: true}))
	w.compare(t, map[string]accessv1alpha1.Hop{
		"raspi-1": {Kind: pathcheck.KindReturnPath, Object: w.vpgID}, "plc-7": {Kind: pathcheck.KindReturnPath, Object: w.vpgID}})
	w.ready(w.chain()...)
	w.wantReachable(t, "after drift correction")
}

// A router the customer runs is only checked: launched by hand with a VXLAN
// id other than the gateway's, both checkers name the router; nothing is
// changed on it.
func TestPathExistingRouterWithTheWrongVXLANID(t *testing.T) {
	t.Parallel()
	w := newPathWorld(t, nil)
	managed, _ := w.cloud.AWS.Instance(w.router().InstanceID)
	inner := "10.255.255.250" // its own address in the device subnet
	script := strings.Replace(managed.UserData, "type vxlan id 10 ", "type vxlan id 11 ", 1)
	script = strings.Replace(script, w.router().InnerIPAddress+"/", inner+"/", 1)
	res, err := w.cloud.AWS.RunInstances(&awsemu.RunInstancesInput{ImageID: awsemu.AMIAL2023X8664, InstanceType: "t3.nano", MinCount: ptr.To(1), MaxCount: ptr.To(1),
		SubnetID: w.seed.SubnetID, SecurityGroupIDs: []string{emulator.DemoSecurityGroupID},
		UserData: base64.StdEncoding.EncodeToString([]byte(script))})
	w.must("launching the customer's router", err)
	mine := res.Instances[0]
	w.must("source/dest check off", w.cloud.AWS.SetSourceDestCheck(mine.NetworkInterfaceID, false))
	w.env.Spec.Router = &accessv1alpha1.RouterSpec{Existing: []accessv1alpha1.ExistingRouter{{InstanceID: mine.ID, InnerIPAddress: inner}}}
	w.ready(environment.SoracomChain(w.env)[:6]...) // up to the router: the rest is not ready while the VXLAN id is wrong
	for range 3 {                                   // routes follow the new router, Gate registers it
		p := w.pass()
		for _, u := range w.chain() {
			obs := w.observe(u, p)
			if obs.Exists && !obs.UpToDate {
				w.must(u.Condition(), u.Update(w.ctx, p))
			}
		}
	}
	if got, _ := w.cloud.AWS.Instance(managed.ID); got.State != awsemu.InstanceTerminated && got.State != "shutting-down" {
		t.Fatalf("the managed router is %s after the spec switched to an existing one", got.State)
	}
	w.compare(t, map[string]accessv1alpha1.Hop{
		"raspi-1": {Kind: pathcheck.KindVXLANID, Object: mine.ID}, "plc-7": {Kind: pathcheck.KindVXLANID, Object: mine.ID}})
	if got, _ := w.cloud.AWS.Instance(mine.ID); got.State != "running" || got.SourceDestCheck {
		t.Fatalf("the customer's router was changed: %+v", got)
	}
	p := w.pass()
	for _, u := range environment.SoracomChain(w.env)[:len(environment.SoracomChain(w.env))-1] {
		w.observe(u, p)
	}
	obs := w.observe(environment.Network{}, p)
	if obs.Ready || obs.Reason != accessv1alpha1.ReasonUnreachable || !strings.Contains(obs.Message, mine.ID) {
		t.Fatalf("NetworkReady observed %+v; want Unreachable naming %s", obs, mine.ID)
	}
	// The fix: the customer relaunches the router with the gateway's VXLAN id.
	res, err = w.cloud.AWS.RunInstances(&awsemu.RunInstancesInput{ImageID: awsemu.AMIAL2023X8664, InstanceType: "t3.nano", MinCount: ptr.To(1), MaxCount: ptr.To(1),
		SubnetID: w.seed.SubnetID, SecurityGroupIDs: []string{emulator.DemoSecurityGroupID},
		UserData: base64.StdEncoding.EncodeToString([]byte(strings.NewReplacer("type vxlan id 11 ", "type vxlan id 10 ", inner+"/", "10.255.255.249/").Replace(script)))})
	w.must("relaunching the customer's router", err)
	fixed := res.Instances[0]
	w.must("source/dest check off", w.cloud.AWS.SetSourceDestCheck(fixed.NetworkInterfaceID, false))
	w.must("terminating the wrong one", w.cloud.AWS.TerminateInstance(mine.ID))
	w.env.Spec.Router.Existing[0] = accessv1alpha1.ExistingRouter{InstanceID: fixed.ID, InnerIPAddress: "10.255.255.249"}
	w.ready(w.chain()...)
	w.wantReachable(t, "after the customer's fix")
}

func (w *pathWorld) securityGroup(id string) awsemu.SecurityGroup {
	for _, g := range w.cloud.AWS.NetworkSnapshot().SecurityGroups {
		if g.ID == id {
			return g
		}
	}
	w.t.Fatalf("no security group %s", id)
	return awsemu.SecurityGroup{}
}

// compare asserts that the path check and the walker agree with want for
// every device (a device not in want is reachable in both).
func (w *pathWorld) compare(t *testing.T, want map[string]accessv1alpha1.Hop) {
	t.Helper()
	ctrl, walk := w.observed(), w.walked()
	for name := range devicePorts {
		c, k := ctrl[name], walk[name]
		h, broken := want[name]
		if !broken {
			if !c.Reachable || !k.Reachable {
				t.Errorf("%s: want reachable; path check %+v; walker %s", name, c, k)
			}
			continue
		}
		if c.Reachable || c.BrokenHop == nil || k.Reachable || k.Broken == nil {
			t.Errorf("%s: want %s broken; path check %+v; walker %s", name, h.Kind, c, k)
			continue
		}
		if c.BrokenHop.Kind != h.Kind || k.Broken.Kind != h.Kind {
			t.Errorf("%s: broken hop: path check %s (%s), walker %s (%s); want %s", name, c.BrokenHop.Kind, c.BrokenHop.Reason, k.Broken.Kind, k.Broken.Reason, h.Kind)
		}
		if h.Object != "" && (c.BrokenHop.Object != h.Object || k.Broken.Object != h.Object) {
			t.Errorf("%s: object: path check %q, walker %q; want %q", name, c.BrokenHop.Object, k.Broken.Object, h.Object)
		}
		if h.Object == "" && (c.BrokenHop.Object == "" || k.Broken.Object == "") {
			t.Errorf("%s: an object to fix is missing: path check %q, walker %q", name, c.BrokenHop.Object, k.Broken.Object)
		}
		if h.Object != "" && !strings.Contains(c.Path, h.Object) {
			t.Errorf("%s: the path check's message %q does not name %s", name, c.Path, h.Object)
		}
		// A hop every device shares is the environment's NetworkReady too,
		// False with the hop and the object named (the device-level hops,
		// LAN route and SIM, are the DeviceGroup's).
		if len(want) == len(devicePorts) && h.Kind != pathcheck.KindLANRoute && h.Kind != pathcheck.KindSIM && h.Object != "" {
			if n := w.network; n.Ready || n.Reason != accessv1alpha1.ReasonUnreachable || !strings.Contains(n.Message, h.Kind) || !strings.Contains(n.Message, h.Object) {
				t.Errorf("%s: NetworkReady observed %+v; want Unreachable naming %s and %s", name, n, h.Kind, h.Object)
			}
		}
	}
}

// An in-sync pass over the whole environment (router, device routes and
// Junction included) only reads, each object once; the figure is in the
// closing note of the data-path work and in docs/remoteaccessenvironment.md.
func TestInSyncPassOnlyReads(t *testing.T) {
	t.Parallel()
	w := newPathWorld(t, func(env *accessv1alpha1.RemoteAccessEnvironment) {
		env.Spec.Soracom.Junction = &accessv1alpha1.JunctionSpec{Inspection: ptr.To(true),
			MirroringPeers: []accessv1alpha1.JunctionMirroringPeer{{IPAddress: "10.0.1.50"}}}
	})
	mark := len(w.cloud.Faults.Calls(fault.Any, fault.Any))
	out := unit.Join(unit.Converge(w.ctx, w.pass(), environment.SoracomChain(w.env)...), unit.Converge(w.ctx, w.pass(), environment.AppStreamChain()...))
	if !out.Ready || out.Changed || out.Err != nil {
		t.Fatalf("in-sync pass: %+v", out)
	}
	counts := map[string]int{}
	var ops []string
	for _, c := range w.cloud.Faults.Calls(fault.Any, fault.Any)[mark:] {
		key := c.API + " " + c.Op
		if counts[key] == 0 {
			ops = append(ops, key)
		}
		counts[key]++
		if !isRead(c.Op) {
			t.Errorf("an in-sync pass wrote: %s", key)
		}
	}
	total := 0
	for _, op := range ops {
		t.Logf("%-45s %d", op, counts[op])
		total += counts[op]
		if counts[op] > 1 {
			t.Errorf("%s called %d times in one pass; want each object read once", op, counts[op])
		}
	}
	t.Logf("total %d cloud calls in an in-sync pass", total)
	// 2 SORACOM (gateway, Gate peers), 7 EC2 (peering, route tables, router,
	// its status checks, VPC, subnets, security groups), 3 AppStream.
	if total != 12 {
		t.Errorf("%d calls in an in-sync pass; want 12", total)
	}
}

func isRead(op string) bool {
	for _, p := range []string{"Describe", "List", "Get", "get", "list"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

// Junction from the spec is converged and drift-corrected like every unit.
func TestJunctionFromSpecIsDriftCorrected(t *testing.T) {
	t.Parallel()
	w := newPathWorld(t, func(env *accessv1alpha1.RemoteAccessEnvironment) {
		env.Spec.Soracom.Junction = &accessv1alpha1.JunctionSpec{Inspection: ptr.To(true),
			MirroringPeers: []accessv1alpha1.JunctionMirroringPeer{{IPAddress: "10.0.1.50", Description: "capture"}}}
	})
	check := func(when string) {
		t.Helper()
		v, _ := w.cloud.Soracom.VPG(w.vpgID)
		if v.Inspection == nil || !v.Inspection.Enabled || v.Mirroring == nil || v.Mirroring.Peers["10.0.1.50"].Description != "capture" {
			t.Fatalf("%s: inspection %+v, mirroring %+v", when, v.Inspection, v.Mirroring)
		}
		if st := w.env.Status.Junction; st == nil || st.Inspection == nil || !*st.Inspection || len(st.MirroringPeers) != 1 {
			t.Fatalf("%s: status.junction %+v", when, st)
		}
	}
	check("converged")
	w.must("inspection off by hand", w.sor.UnsetInspection(w.ctx, w.vpgID))
	w.must("mirroring peer removed by hand", w.sor.DeleteMirroringPeer(w.ctx, w.vpgID, "10.0.1.50"))
	w.ready(w.chain()...)
	check("after drift correction")
}

// Overlaps admission cannot see (they span objects): a LAN inside the device
// subnet, or two DeviceGroups' LANs over each other, are not routed, and the
// condition names both objects.
func TestOverlappingLANsAreReportedNotRouted(t *testing.T) {
	t.Parallel()
	w := newPathWorld(t, nil)
	w.lanRoutes = append(w.lanRoutes,
		environment.LANRoute{DeviceGroup: "line-b", SIMID: "8981100000000000003", CIDR: netip.MustParsePrefix("192.168.0.0/16")},
		environment.LANRoute{DeviceGroup: "line-c", SIMID: "8981100000000000004", CIDR: netip.MustParsePrefix("10.200.0.0/16")})
	p := w.pass()
	var obs environment.Observation
	for _, u := range environment.SoracomChain(w.env) {
		if obs = w.observe(u, p); u.Condition() == accessv1alpha1.ConditionDeviceRoutesReady {
			break
		}
	}
	for _, want := range []string{"CIDROverlap", "line-a", "line-b", "10.200.0.0/16", "line-c", "device subnet"} {
		if !strings.Contains(obs.Reason+" "+obs.Message, want) {
			t.Fatalf("DeviceRoutes observed %+v; want it to name %s", obs, want)
		}
	}
	for _, cidr := range []string{"192.168.0.0/16", "10.200.0.0/16"} {
		if got := w.routeVia(w.seed.RouteTableID, cidr); got != "" {
			t.Errorf("%s is routed to %s; an overlapping LAN must not be routed", cidr, got)
		}
	}
}
