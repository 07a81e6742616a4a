package environment

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/soracom"
)

// fakeUnit records what Converge and Remove asked of it.
type fakeUnit struct {
	cond             string
	obs              []Observation // successive observations
	observeErr       error
	creates, updates int
	deleteGone       bool
	deleted          int
	log              *[]string
}

func (f *fakeUnit) Condition() string { return f.cond }
func (f *fakeUnit) Observe(context.Context, *Pass) (Observation, error) {
	if f.observeErr != nil {
		return Observation{}, f.observeErr
	}
	o := f.obs[0]
	if len(f.obs) > 1 {
		f.obs = f.obs[1:]
	}
	return o, nil
}
func (f *fakeUnit) Create(context.Context, *Pass) error { f.creates++; return nil }
func (f *fakeUnit) Update(context.Context, *Pass) error { f.updates++; return nil }
func (f *fakeUnit) Delete(context.Context, *Pass) (bool, error) {
	f.deleted++
	*f.log = append(*f.log, f.cond)
	return f.deleteGone, nil
}

func newPass() *Pass {
	return &Pass{Env: &accessv1alpha1.RemoteAccessEnvironment{ObjectMeta: metav1.ObjectMeta{Generation: 3}}, TransitionWait: 7, PollInterval: 99}
}

var ready = Observation{Exists: true, UpToDate: true, Ready: true}

func TestConvergeCreatesUpdatesAndStopsAtTheFirstUnready(t *testing.T) {
	p := newPass()
	missing := &fakeUnit{cond: "A", obs: []Observation{{Exists: false}, {Exists: true, UpToDate: false}, ready}}
	drifted := &fakeUnit{cond: "B", obs: []Observation{{Exists: true, UpToDate: false, Ready: true}, ready}}
	starting := &fakeUnit{cond: "C", obs: []Observation{{Exists: true, UpToDate: true, Reason: "Starting", Message: "soon"}}}
	after := &fakeUnit{cond: "D", obs: []Observation{ready}}
	out := Converge(context.Background(), p, missing, drifted, starting, after)
	if out.Ready || out.Err != nil || out.Wait != 7 {
		t.Fatalf("outcome = %+v", out)
	}
	if missing.creates != 1 || missing.updates != 1 || drifted.updates != 1 || starting.creates+starting.updates != 0 {
		t.Fatalf("calls: missing %d/%d drifted %d starting %d/%d", missing.creates, missing.updates, drifted.updates, starting.creates, starting.updates)
	}
	conds := p.Env.Status.Conditions
	for typ, want := range map[string]string{"A": accessv1alpha1.ReasonAvailable, "B": accessv1alpha1.ReasonAvailable, "C": "Starting", "D": accessv1alpha1.ReasonWaitingForDependency} {
		c := conditions.Get(conds, typ)
		if c == nil || c.Reason != want || c.ObservedGeneration != 3 {
			t.Errorf("%s = %+v; want reason %s at generation 3", typ, c, want)
		}
	}
	if c := conditions.Get(conds, "D"); !strings.Contains(c.Message, "C") {
		t.Errorf("D's message %q does not name the blocker", c.Message)
	}
}

func TestConvergeReportsErrorsByKind(t *testing.T) {
	cases := map[string]struct {
		err    error
		reason string
	}{
		"terminal":  {Terminal(accessv1alpha1.ReasonRouteTableNotFound, errors.New("rtb-1 missing")), accessv1alpha1.ReasonRouteTableNotFound},
		"throttled": {&soracom.APIError{HTTPStatus: 429, Code: "COM0001"}, accessv1alpha1.ReasonThrottled},
		"4xx":       {&soracom.APIError{HTTPStatus: 400, Code: "VPG0001", Message: "bad"}, accessv1alpha1.ReasonInvalidConfiguration},
		"5xx":       {&soracom.APIError{HTTPStatus: 503}, accessv1alpha1.ReasonAPIError},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := newPass()
			u := &fakeUnit{cond: "A", observeErr: tc.err}
			out := Converge(context.Background(), p, u, &fakeUnit{cond: "B", obs: []Observation{ready}})
			if out.Err == nil || out.Ready {
				t.Fatalf("outcome = %+v", out)
			}
			if c := conditions.Get(p.Env.Status.Conditions, "A"); c.Reason != tc.reason {
				t.Fatalf("reason %s; want %s", c.Reason, tc.reason)
			}
			if c := conditions.Get(p.Env.Status.Conditions, "B"); c.Reason != accessv1alpha1.ReasonWaitingForDependency {
				t.Fatalf("B = %+v", c)
			}
		})
	}
}

func TestConvergeWaitsForAPersonAtThePollInterval(t *testing.T) {
	p := newPass()
	out := Converge(context.Background(), p, &fakeUnit{cond: "N", obs: []Observation{{Exists: true, UpToDate: true, Reason: "MissingRoute", Wait: -1}}})
	if out.Wait != 99 {
		t.Fatalf("wait = %v; want the poll interval", out.Wait)
	}
}

func TestRemoveStopsAtTheFirstUnitNotGone(t *testing.T) {
	var log []string
	p := newPass()
	a := &fakeUnit{cond: "A", deleteGone: true, log: &log}
	b := &fakeUnit{cond: "B", deleteGone: false, log: &log}
	c := &fakeUnit{cond: "C", deleteGone: true, log: &log}
	gone, err := Remove(context.Background(), p, a, b, c)
	if gone || err != nil || strings.Join(log, "") != "AB" {
		t.Fatalf("gone=%v err=%v order=%v", gone, err, log)
	}
	b.deleteGone = true
	gone, _ = Remove(context.Background(), p, a, b, c)
	if !gone || strings.Join(log, "") != "ABABC" {
		t.Fatalf("gone=%v order=%v", gone, log)
	}
}

func fleetSpec() accessv1alpha1.FleetSpec {
	return accessv1alpha1.FleetSpec{ImageName: "img", InstanceType: "stream.standard.medium", DesiredCapacity: 2,
		SubnetIDs: []string{"subnet-1", "subnet-2"}, SecurityGroupIDs: []string{"sg-1"}, MaxUserDurationSeconds: 7200,
		DisconnectTimeoutSeconds: 300, IdleDisconnectTimeoutSeconds: 600, StreamView: "APP"}
}

func fleetOf(spec accessv1alpha1.FleetSpec) *astypes.Fleet {
	return &astypes.Fleet{ImageName: awssdk.String(spec.ImageName), InstanceType: awssdk.String(spec.InstanceType),
		ComputeCapacityStatus:          &astypes.ComputeCapacityStatus{Desired: awssdk.Int32(spec.DesiredCapacity)},
		VpcConfig:                      &astypes.VpcConfig{SubnetIds: []string{"subnet-2", "subnet-1"}, SecurityGroupIds: spec.SecurityGroupIDs},
		MaxUserDurationInSeconds:       awssdk.Int32(spec.MaxUserDurationSeconds),
		DisconnectTimeoutInSeconds:     awssdk.Int32(spec.DisconnectTimeoutSeconds),
		IdleDisconnectTimeoutInSeconds: awssdk.Int32(spec.IdleDisconnectTimeoutSeconds),
		EnableDefaultInternetAccess:    awssdk.Bool(false), StreamView: astypes.StreamViewApp}
}

func TestFleetDiffSortsChangesByWhatTheyNeed(t *testing.T) {
	spec := fleetSpec()
	if in, stop := fleetDiff(spec, fleetOf(spec)); len(in)+len(stop) != 0 {
		t.Fatalf("identical fleet differs: %v %v", in, stop)
	}
	fl := fleetOf(spec)
	fl.ComputeCapacityStatus.Desired = awssdk.Int32(7)
	fl.InstanceType = awssdk.String("stream.standard.large")
	fl.VpcConfig.SecurityGroupIds = []string{"sg-2"}
	in, stop := fleetDiff(spec, fl)
	if strings.Join(in, ",") != "desiredCapacity" || strings.Join(stop, ",") != "instanceType,subnetIds/securityGroupIds" {
		t.Fatalf("inPlace %v needsStop %v", in, stop)
	}
}

func TestGatePeerDiff(t *testing.T) {
	g := &Gate{peers: []soracom.GatePeer{{OuterIPAddress: "10.0.1.10", InnerIPAddress: "10.128.255.1"}, {OuterIPAddress: "10.0.1.11"}, {OuterIPAddress: "10.0.1.12", InnerIPAddress: "10.128.255.3"}}}
	want := gateWant{peers: map[string]string{"10.0.1.10": "10.128.255.1", "10.0.1.12": "10.128.255.9", "10.0.1.13": ""}}
	add, remove := g.peerDiff(want)
	if strings.Join(add, ",") != "10.0.1.12,10.0.1.13" || strings.Join(remove, ",") != "10.0.1.11,10.0.1.12" {
		t.Fatalf("add %v remove %v", add, remove)
	}
}

func TestSecurityGroupRulesAllow(t *testing.T) {
	vpg := netip.MustParsePrefix("100.64.3.0/24")
	perm := func(proto, cidr string) ec2types.IpPermission {
		return ec2types.IpPermission{IpProtocol: awssdk.String(proto), IpRanges: []ec2types.IpRange{{CidrIp: awssdk.String(cidr)}}}
	}
	cases := []struct {
		perms []ec2types.IpPermission
		want  bool
	}{
		{[]ec2types.IpPermission{perm("-1", "0.0.0.0/0")}, true},
		{[]ec2types.IpPermission{perm("tcp", "100.64.0.0/10")}, true},
		{[]ec2types.IpPermission{perm("tcp", "100.64.3.0/25")}, false}, // half the range
		{[]ec2types.IpPermission{perm("udp", "100.64.0.0/10")}, false},
		{nil, false},
	}
	for i, tc := range cases {
		if got := allows(tc.perms, vpg); got != tc.want {
			t.Errorf("case %d: allows = %v; want %v", i, got, tc.want)
		}
	}
}

func TestDerivedNamesFitAppStream(t *testing.T) {
	env := &accessv1alpha1.RemoteAccessEnvironment{ObjectMeta: metav1.ObjectMeta{Namespace: "line-a", Name: "factory-floor"}}
	if got := FleetName(env); got != "gs-line-a_factory-floor" {
		t.Fatalf("fleet name %q", got)
	}
	other := &accessv1alpha1.RemoteAccessEnvironment{ObjectMeta: metav1.ObjectMeta{Namespace: "line", Name: "a-factory-floor"}}
	if FleetName(other) == FleetName(env) {
		t.Fatalf("line-a/factory-floor and line/a-factory-floor derive the same name %q", FleetName(env))
	}
	env.Name = strings.Repeat("x", 200)
	long := StackName(env)
	if len(long) != maxAppStreamName || long != StackName(env) {
		t.Fatalf("long name %q (%d chars) is not stable or does not fit", long, len(long))
	}
	env.Spec.AppStream.Fleet.Name = "given"
	if FleetName(env) != "given" {
		t.Fatal("spec name ignored")
	}
}

func TestGatePeerDiffOnASharedGatewayKeepsOthers(t *testing.T) {
	g := &Gate{peers: []soracom.GatePeer{{OuterIPAddress: "10.0.1.10", InnerIPAddress: "10.128.255.1"}, {OuterIPAddress: "10.0.1.99"}}}
	want := gateWant{peers: map[string]string{"10.0.1.10": "10.128.255.2"}, ours: map[string]bool{}}
	add, remove := g.peerDiff(want)
	if strings.Join(add, ",") != "10.0.1.10" || strings.Join(remove, ",") != "10.0.1.10" {
		t.Fatalf("add %v remove %v; want only our own peer re-registered", add, remove)
	}
	// A peer we registered and then dropped from the spec goes; others' stay.
	g = &Gate{peers: []soracom.GatePeer{{OuterIPAddress: "10.0.1.20"}, {OuterIPAddress: "10.0.1.99"}}}
	_, remove = g.peerDiff(gateWant{peers: map[string]string{}, ours: map[string]bool{"10.0.1.20": true}})
	if strings.Join(remove, ",") != "10.0.1.20" {
		t.Fatalf("remove %v; want only the peer we registered", remove)
	}
}
