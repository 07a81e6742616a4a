package emulator_test

import (
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"sync"
	"testing"

	"github.com/gatestream/gatestream/internal/emulator"
	"github.com/gatestream/gatestream/internal/emulator/reach"
)

func startBare(t *testing.T) *emulator.Cloud {
	t.Helper()
	c, err := emulator.Start(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestSeedWorldNeedsTheDemoWorld(t *testing.T) {
	c := startBare(t)
	if _, err := c.SeedWorld(1, 1); err == nil {
		t.Fatal("SeedWorld before SeedDemo succeeded")
	}
	if w := c.SeededWorld(); len(w.VPCs) != 0 || len(w.SIMs) != 0 || len(c.Soracom.SIMs()) != 0 {
		t.Fatalf("seeded %+v", w)
	}
}

func TestSeedWorldIdentifiersAreDeterministicAndValid(t *testing.T) {
	c := startBare(t)
	if _, err := c.SeedDemo(); err != nil {
		t.Fatal(err)
	}
	w, err := c.SeedWorld(2, 2)
	if err != nil {
		t.Fatal(err)
	}
	first := emulator.WorldVPC{
		ID: "vpc-0e000000000000001", CIDR: "10.64.0.0/16", SecurityGroupID: "sg-0e000000000000001",
		Subnets: []emulator.WorldSubnet{
			{ID: "subnet-0e00000000000001a", CIDR: "10.64.1.0/24", AvailabilityZone: "ap-northeast-1a", RouteTableID: "rtb-0e00000000000001a"},
			{ID: "subnet-0e00000000000001c", CIDR: "10.64.2.0/24", AvailabilityZone: "ap-northeast-1c", RouteTableID: "rtb-0e00000000000001c"},
		},
		RouteTableIDs: []string{"rtb-0e00000000000001a", "rtb-0e00000000000001c"},
	}
	if !reflect.DeepEqual(w.VPCs[0], first) || w.VPCs[1].ID != "vpc-0e000000000000002" || w.VPCs[1].CIDR != "10.65.0.0/16" {
		t.Fatalf("VPCs: %+v", w.VPCs)
	}
	if w.SIMs[0].ID != "8981100000010000001" || w.SIMs[0].IMSI != "440103100000001" || w.SIMs[0].Name != "device-1" ||
		w.SIMs[1].ID != "8981100000010000002" || w.SIMs[0].IPAddress == "" || w.SIMs[0].IPAddress == w.SIMs[1].IPAddress {
		t.Fatalf("SIMs: %+v", w.SIMs)
	}

	// The identifiers pass the CRDs' validation patterns (api/v1alpha1).
	patterns := map[string]*regexp.Regexp{
		"vpc": regexp.MustCompile(`^vpc-[0-9a-f]{4,17}$`), "subnet": regexp.MustCompile(`^subnet-[0-9a-f]{4,17}$`),
		"rtb": regexp.MustCompile(`^rtb-[0-9a-f]{4,17}$`), "sg": regexp.MustCompile(`^sg-[0-9a-f]{4,17}$`),
		"sim": regexp.MustCompile(`^[0-9]{10,22}$`),
	}
	for _, v := range w.VPCs {
		ok := patterns["vpc"].MatchString(v.ID) && patterns["sg"].MatchString(v.SecurityGroupID)
		for _, s := range v.Subnets {
			ok = ok && patterns["subnet"].MatchString(s.ID) && patterns["rtb"].MatchString(s.RouteTableID)
		}
		if !ok {
			t.Fatalf("invalid identifier in %+v", v)
		}
	}
	for _, s := range w.SIMs {
		if !patterns["sim"].MatchString(s.ID) {
			t.Fatalf("invalid SIM id %s", s.ID)
		}
	}

	// The first route table is the VPC's main one; each is associated with its subnet.
	rt, ok := c.AWS.RouteTable(first.RouteTableIDs[0])
	if !ok || len(rt.Associations) != 2 || !rt.Associations[0].Main || rt.Associations[1].SubnetID != first.Subnets[0].ID {
		t.Fatalf("route table %+v", rt)
	}
	rt, ok = c.AWS.RouteTable(first.RouteTableIDs[1])
	if !ok || len(rt.Associations) != 1 || rt.Associations[0].SubnetID != first.Subnets[1].ID {
		t.Fatalf("route table %+v", rt)
	}
	// The SIMs are online, owned by the demo operator, and their devices are
	// known to the walker; their addresses outside a VPG are in no world VPC.
	worldRange := netip.MustParsePrefix("10.64.0.0/10")
	for _, s := range w.SIMs {
		if worldRange.Contains(netip.MustParseAddr(s.IPAddress)) {
			t.Fatalf("SIM %s has address %s, in the world VPCs' range", s.ID, s.IPAddress)
		}
		got, ok := c.Soracom.SIM(s.ID)
		if !ok || !got.Online || got.OperatorID != emulator.DemoSoracomOperatorID || got.UEIPAddress != s.IPAddress {
			t.Fatalf("SIM %s: %+v", s.ID, got)
		}
	}
	if !slices.ContainsFunc(c.Snapshot().Devices, func(d reach.Device) bool {
		return d.Name == "device-2" && slices.Contains(d.TCPPorts, emulator.WorldSIMPort)
	}) {
		t.Fatalf("device-2 not in the snapshot: %+v", c.Snapshot().Devices)
	}

	// A second call continues the numbering; SeededWorld lists both.
	more, err := c.SeedWorld(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if more.VPCs[0].ID != "vpc-0e000000000000003" || more.VPCs[0].CIDR != "10.66.0.0/16" || more.SIMs[0].ID != "8981100000010000003" {
		t.Fatalf("second call: %+v", more)
	}
	all := c.SeededWorld()
	if !reflect.DeepEqual(all.VPCs, slices.Concat(w.VPCs, more.VPCs)) ||
		!slices.Equal(all.SIMIDs(), slices.Concat(w.SIMIDs(), more.SIMIDs())) {
		t.Fatalf("SeededWorld: %+v", all)
	}

	// Past the last CIDR: an error, and nothing seeded.
	if _, err := c.SeedWorld(emulator.MaxWorldVPCs-2, 1); err == nil {
		t.Fatal("SeedWorld past MaxWorldVPCs succeeded")
	}
	if n := c.SeededWorld(); len(n.VPCs) != 3 || len(n.SIMs) != 3 {
		t.Fatalf("after the refused call: %d VPCs, %d SIMs", len(n.VPCs), len(n.SIMs))
	}
	if _, err := c.SeedWorld(emulator.MaxWorldVPCs-3, 0); err != nil {
		t.Fatalf("up to MaxWorldVPCs: %v", err)
	}
	if last := c.SeededWorld().VPCs[emulator.MaxWorldVPCs-1]; last.CIDR != "10.127.0.0/16" {
		t.Fatalf("last VPC %+v", last)
	}
}

func TestSeedWorldConcurrentCallsNumberOneAfterTheOther(t *testing.T) {
	c := startBare(t)
	if _, err := c.SeedDemo(); err != nil {
		t.Fatal(err)
	}
	const calls = 4
	worlds := make([]*emulator.World, calls)
	errs := make([]error, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() { worlds[i], errs[i] = c.SeedWorld(2, 5) })
	}
	wg.Wait()
	var vpcs, sims []string
	for i, w := range worlds {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		vpcs = append(vpcs, w.VPCIDs()...)
		sims = append(sims, w.SIMIDs()...)
	}
	slices.Sort(vpcs)
	slices.Sort(sims)
	all := c.SeededWorld()
	if !slices.Equal(vpcs, all.VPCIDs()) || !slices.Equal(sims, all.SIMIDs()) || len(vpcs) != 2*calls || len(sims) != 5*calls {
		t.Fatalf("concurrent calls seeded VPCs %v and SIMs %v; SeededWorld %v %v", vpcs, sims, all.VPCIDs(), all.SIMIDs())
	}
}
