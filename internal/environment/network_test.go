package environment_test

import (
	"strings"
	"testing"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	awsemu "github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	"github.com/gatestream/gatestream/internal/environment"
)

// The network check is read-only: it reports what a person must fix (and
// waits for the poll interval), and is ready once the fleet's subnets route
// the VPG's range via the peering and the security groups let it through.
func TestNetworkChecksWhatPeopleGetWrong(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ready(environment.Gateway{}, environment.Peering{})
	u := environment.Network{}
	wantWait := func(what string, reason, says string) {
		t.Helper()
		obs := w.observe(u, w.pass())
		wantObservation(t, what, obs, true, true, false, reason)
		if obs.Wait >= 0 || !strings.Contains(obs.Message, says) {
			t.Fatalf("%s: wait %v, message %q; want the poll interval and a message saying %q", what, obs.Wait, obs.Message, says)
		}
	}

	wantWait("no route yet", accessv1alpha1.ReasonMissingRoute, "add "+w.seed.RouteTableID+" to spec.aws.routeTableIds")
	w.ready(environment.Gateway{}, environment.Peering{}, &environment.Routes{})
	wantObservation(t, "routed and allowed", w.observe(u, w.pass()), true, true, true, "")

	w.cloud.AWS.AddVPC("vpc-0other", "10.9.0.0/16")
	w.cloud.AWS.AddSubnet("subnet-0other", "vpc-0other", "10.9.1.0/24", w.seed.AWSRegion+"a")
	w.env.Spec.AppStream.Fleet.SubnetIDs = []string{"subnet-0other"}
	wantWait("a subnet of another VPC", accessv1alpha1.ReasonSubnetNotInVPC, "is in vpc-0other, not in spec.aws.vpcId "+w.seed.VPCID)
	w.env.Spec.AppStream.Fleet.SubnetIDs = []string{"subnet-0404040404"}
	wantWait("a missing subnet", accessv1alpha1.ReasonSubnetNotInVPC, "subnet-0404040404 (spec.appStream.fleet.subnetIds) does not exist")

	w.env = sampleEnv(t)
	w.ready(environment.Gateway{}, environment.Peering{}, &environment.Routes{})
	mark := w.calls(ec2API, fault.Any)
	w.cloud.AWS.AddSecurityGroup(awsemu.SecurityGroup{ID: "sg-0closed", VPCID: w.seed.VPCID, Name: "closed",
		Egress: []awsemu.Rule{{Protocol: "tcp", CIDRs: []string{"10.0.0.0/16"}}}})
	w.env.Spec.AppStream.Fleet.SecurityGroupIDs = []string{"sg-0closed"}
	wantWait("a closed security group", accessv1alpha1.ReasonSecurityGroupBlocks, "allows outbound traffic to "+w.env.Status.Gateway.VPGSubnetCIDRRange)
	w.env.Spec.AppStream.Fleet.SecurityGroupIDs = []string{"sg-0404040404"}
	wantWait("a missing security group", accessv1alpha1.ReasonSecurityGroupBlocks, "does not exist")

	// Nothing to create, update or delete.
	p := w.pass()
	w.must("Create", u.Create(w.ctx, p))
	w.must("Update", u.Update(w.ctx, p))
	w.deleteTwice(u)
	for _, c := range w.cloud.Faults.Calls(ec2API, fault.Any)[mark:] {
		if !strings.HasPrefix(c.Op, "Describe") {
			t.Errorf("the network check called %s", c.Op)
		}
	}
}

func TestNetworkErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ready(environment.Gateway{}, environment.Peering{}, &environment.Routes{})
	u := environment.Network{}
	w.fail(ec2API, "DescribeSecurityGroups", fault.ServerError)
	_, err := u.Observe(w.ctx, w.pass())
	wantVerdict(t, "a 500", err, accessv1alpha1.ReasonAPIError, false)
	// Last: a throttle slows the AWS client's adaptive rate for the calls after it.
	w.fail(ec2API, "DescribeSubnets", fault.Throttle)
	_, err = u.Observe(w.ctx, w.pass())
	wantVerdict(t, "throttled", err, accessv1alpha1.ReasonThrottled, false)
}
