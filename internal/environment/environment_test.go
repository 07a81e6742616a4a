package environment

import (
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/capacity"
	"github.com/gatestream/gatestream/internal/soracom"
)

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

// fixed is the plan of capacity Fixed for spec.
func fixed(spec accessv1alpha1.FleetSpec) capacity.Plan {
	return capacity.Decide(capacity.Input{Spec: accessv1alpha1.AppStreamSpec{Fleet: spec}})
}

func TestFleetDiffSortsChangesByWhatTheyNeed(t *testing.T) {
	spec := fleetSpec()
	if in, stop := fleetDiff(spec, fixed(spec), fleetOf(spec)); len(in)+len(stop) != 0 {
		t.Fatalf("identical fleet differs: %v %v", in, stop)
	}
	fl := fleetOf(spec)
	fl.ComputeCapacityStatus.Desired = awssdk.Int32(7)
	fl.InstanceType = awssdk.String("stream.standard.large")
	fl.VpcConfig.SecurityGroupIds = []string{"sg-2"}
	in, stop := fleetDiff(spec, fixed(spec), fl)
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
