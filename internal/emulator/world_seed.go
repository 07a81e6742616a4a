package emulator

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/soracom"
)

// A larger world for end-to-end tests, on top of the demo world: more VPCs
// (each like the demo VPC, with subnets in two zones) and more online SIMs.
// Identifiers are deterministic: the n-th world VPC (n from 1, counted over
// every SeedWorld call of a cloud) is
//
//	VPC             vpc-0e<n, 15 hex digits>          10.<63+n>.0.0/16
//	subnet (zone a) subnet-0e<n, 14 hex digits>a      10.<63+n>.1.0/24  <region>a
//	subnet (zone c) subnet-0e<n, 14 hex digits>c      10.<63+n>.2.0/24  <region>c
//	route tables    rtb-0e<n, 14 hex digits>a (main, subnet a) and …c (subnet c)
//	security group  sg-0e<n, 15 hex digits>
//
// and the n-th world SIM is 898110000001<n, 7 digits> (IMSI 4401031<n, 8
// digits>), online, owned by the demo operator, tagged name=device-<n>
// and world=seeded, with a device (the SIM's own host) listening on port 22.
const (
	// MaxWorldVPCs is how many world VPCs a cloud can have: their CIDRs are
	// 10.64.0.0/16 … 10.127.0.0/16, clear of the demo VPC (10.0.0.0/16), of
	// the samples' device subnet (10.128.0.0/9) and of the addresses the
	// SORACOM emulator gives sessions outside a VPG (from 10.1.0.0 up).
	MaxWorldVPCs = 64
	// MaxWorldSIMs is how many world SIMs a cloud can have (their sessions'
	// addresses outside a VPG stay below 10.64.0.0).
	MaxWorldSIMs = 1_000_000
	// WorldSIMPort is the TCP port the world SIMs' devices listen on (ssh).
	WorldSIMPort = 22
)

// World is what SeedWorld created (or, from SeededWorld, everything it has
// created so far).
type World struct {
	VPCs []WorldVPC `json:"vpcs"`
	SIMs []WorldSIM `json:"sims"`
}

// WorldVPC is one world VPC: the fields of a RemoteAccessEnvironment's
// spec.aws (vpcId, routeTableIds) and spec.appStream.fleet (subnetIds,
// securityGroupIds).
type WorldVPC struct {
	ID   string `json:"id"`
	CIDR string `json:"cidr"`
	// Subnets are in two availability zones (a and c), each with its own route table.
	Subnets []WorldSubnet `json:"subnets"`
	// RouteTableIDs are the subnets' route tables (the first is also the VPC's main one).
	RouteTableIDs []string `json:"routeTableIds"`
	// SecurityGroupID admits the VPC's own traffic and the SORACOM VPG range, and lets anything out.
	SecurityGroupID string `json:"securityGroupId"`
}

// WorldSubnet is a subnet of a world VPC.
type WorldSubnet struct {
	ID               string `json:"id"`
	CIDR             string `json:"cidr"`
	AvailabilityZone string `json:"availabilityZone"`
	RouteTableID     string `json:"routeTableId"`
}

// WorldSIM is one world SIM.
type WorldSIM struct {
	ID   string `json:"id"`
	IMSI string `json:"imsi"`
	// Name is the SIM's name tag and its device's name.
	Name string `json:"name"`
	// IPAddress is the session's address when the SIM was seeded (it changes
	// when the SIM joins a group bound to a VPG).
	IPAddress string `json:"ipAddress"`
}

// VPCIDs returns the VPCs' ids.
func (w *World) VPCIDs() []string {
	out := make([]string, len(w.VPCs))
	for i, v := range w.VPCs {
		out[i] = v.ID
	}
	return out
}

// SIMIDs returns the SIMs' ids.
func (w *World) SIMIDs() []string {
	out := make([]string, len(w.SIMs))
	for i, s := range w.SIMs {
		out[i] = s.ID
	}
	return out
}

func worldVPCID(n int) string   { return fmt.Sprintf("vpc-0e%015x", n) }
func worldSGID(n int) string    { return fmt.Sprintf("sg-0e%015x", n) }
func worldSIMID(n int) string   { return fmt.Sprintf("898110000001%07d", n) }
func worldIMSI(n int) string    { return fmt.Sprintf("4401031%08d", n) }
func worldSIMName(n int) string { return fmt.Sprintf("device-%d", n) }

// worldVPCOctet is the second octet of the n-th world VPC's CIDR.
func worldVPCOctet(n int) int { return 63 + n }

// worldZones are the zone suffixes of a world VPC's subnets (a and c, as
// in ap-northeast-1, whose zone b new accounts do not get).
var worldZones = [...]byte{'a', 'c'}

func worldZoned(prefix string, n int, zone byte) string {
	return fmt.Sprintf("%s-0e%014x%c", prefix, n, zone)
}

func (c *Cloud) worldVPC(n int) WorldVPC {
	v := WorldVPC{ID: worldVPCID(n), CIDR: fmt.Sprintf("10.%d.0.0/16", worldVPCOctet(n)), SecurityGroupID: worldSGID(n)}
	for i, z := range worldZones {
		sn := WorldSubnet{
			ID:               worldZoned("subnet", n, z),
			CIDR:             fmt.Sprintf("10.%d.%d.0/24", worldVPCOctet(n), i+1),
			AvailabilityZone: c.AWS.Region() + string(z),
			RouteTableID:     worldZoned("rtb", n, z),
		}
		v.Subnets = append(v.Subnets, sn)
		v.RouteTableIDs = append(v.RouteTableIDs, sn.RouteTableID)
	}
	return v
}

// SeedWorld adds vpcs VPCs and sims online SIMs to the world (see World for
// what each is made of and how its identifiers are chosen) and returns them.
// The demo world must be seeded first (SeedDemo): the SIMs belong to its
// operator and the security groups admit its VPG range. It can be called
// more than once; each call continues the numbering.
func (c *Cloud) SeedWorld(vpcs, sims int) (*World, error) {
	if vpcs < 0 || sims < 0 {
		return nil, errors.New("emulator: SeedWorld needs counts of zero or more")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seeded == nil {
		return nil, errors.New("emulator: SeedWorld needs the demo world (call SeedDemo first)")
	}
	firstVPC, firstSIM := c.worldCountsLocked()
	firstVPC++
	firstSIM++
	if last := firstVPC + vpcs - 1; last > MaxWorldVPCs {
		return nil, fmt.Errorf("emulator: a world has at most %d VPCs (10.64.0.0/16 … 10.127.0.0/16); %d exist, %d more asked",
			MaxWorldVPCs, firstVPC-1, vpcs)
	}
	if last := firstSIM + sims - 1; last > MaxWorldSIMs {
		return nil, fmt.Errorf("emulator: a world has at most %d SIMs; %d exist, %d more asked", MaxWorldSIMs, firstSIM-1, sims)
	}

	out := &World{VPCs: []WorldVPC{}, SIMs: []WorldSIM{}}
	w := c.AWS
	for n := firstVPC; n < firstVPC+vpcs; n++ {
		v := c.worldVPC(n)
		w.AddVPC(v.ID, v.CIDR)
		for _, sn := range v.Subnets {
			w.AddSubnet(sn.ID, v.ID, sn.CIDR, sn.AvailabilityZone)
			// The first table added for a VPC is also its main one.
			w.AddRouteTable(sn.RouteTableID, v.ID, sn.ID)
		}
		w.AddSecurityGroup(aws.SecurityGroup{
			ID: v.SecurityGroupID, VPCID: v.ID, Name: "appstream-device-access",
			Description: "AppStream fleet and router: the VPC's own traffic in, the SORACOM VPG range (VXLAN) both ways, anything out",
			Ingress:     []aws.Rule{{Protocol: "-1", CIDRs: []string{v.CIDR, DemoVPGRange}}},
			Egress:      []aws.Rule{{Protocol: "-1", CIDRs: []string{DemoVPGRange, "0.0.0.0/0"}}},
		})
		out.VPCs = append(out.VPCs, v)
	}
	for n := firstSIM; n < firstSIM+sims; n++ {
		s := WorldSIM{ID: worldSIMID(n), IMSI: worldIMSI(n), Name: worldSIMName(n)}
		c.Soracom.AddSIM(soracom.SIM{ID: s.ID, IMSI: s.IMSI, Online: true, OperatorID: c.seeded.SoracomOperatorID,
			Tags: map[string]string{"name": s.Name, "world": "seeded"}})
		c.AddSIMDevice(s.Name, s.ID, WorldSIMPort)
		if got, ok := c.Soracom.SIM(s.ID); ok {
			s.IPAddress = got.UEIPAddress
		}
		out.SIMs = append(out.SIMs, s)
	}
	return out, nil
}

// SeededWorld returns every VPC and SIM SeedWorld has added so far, in
// order (the SIMs with their current addresses).
func (c *Cloud) SeededWorld() *World {
	c.mu.Lock()
	defer c.mu.Unlock()
	vpcs, sims := c.worldCountsLocked()
	out := &World{VPCs: make([]WorldVPC, 0, vpcs), SIMs: make([]WorldSIM, 0, sims)}
	for n := 1; n <= vpcs; n++ {
		out.VPCs = append(out.VPCs, c.worldVPC(n))
	}
	for n := 1; n <= sims; n++ {
		s := WorldSIM{ID: worldSIMID(n), IMSI: worldIMSI(n), Name: worldSIMName(n)}
		if got, ok := c.Soracom.SIM(s.ID); ok {
			s.IPAddress = got.UEIPAddress
		}
		out.SIMs = append(out.SIMs, s)
	}
	return out
}

// worldCountsLocked counts the world VPCs and SIMs seeded so far (they are
// never deleted: EC2 and SORACOM emulate no call that removes a VPC or a
// SIM). It runs with c.mu held, so that concurrent SeedWorld calls number
// their resources one after the other.
func (c *Cloud) worldCountsLocked() (vpcs, sims int) {
	all, _, err := c.AWS.DescribeVpcs(&aws.DescribeInput{})
	if err == nil {
		for _, v := range all {
			if strings.HasPrefix(v.ID, "vpc-0e") && len(v.ID) == len(worldVPCID(1)) {
				vpcs++
			}
		}
	}
	for _, s := range c.Soracom.SIMs() {
		if strings.HasPrefix(s.ID, "898110000001") && len(s.ID) == len(worldSIMID(1)) {
			sims++
		}
	}
	return vpcs, sims
}
