package soracom_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/gatestream/gatestream/internal/emulator/soracom"
)

func TestNetworkSnapshot(t *testing.T) {
	e := newEnv(t, soracom.Options{VPGTerminateDelay: time.Minute})
	v := e.createVPG(map[string]any{"type": 15, "deviceSubnetCidrRange": "10.128.0.0/16"})
	p := vpgs + "/" + v.VPGID
	closed := e.createVPG(map[string]any{"type": 15, "deviceSubnetCidrRange": "10.20.0.0/24"})

	e.must(200, "POST", p+"/gate/open", map[string]any{"vxlanId": 77, "privacySeparatorEnabled": true})
	e.must(200, "POST", p+"/gate/peers", map[string]string{"outerIpAddress": "10.0.1.10", "innerIpAddress": "10.128.255.1"})
	e.must(201, "POST", p+"/gate/routing/static/sims/enable", nil)
	e.must(200, "PUT", p+"/gate/routing/static/sims/routes", map[string]string{simID(1): "192.168.1.0/24"})
	e.must(200, "POST", p+"/junction/set_redirection", map[string]any{"gateway": "10.128.255.1", "enabled": true, "description": "router"})
	e.must(200, "POST", p+"/junction/set_inspection", map[string]bool{"enabled": false})
	e.must(201, "POST", p+"/junction/mirroring/peers", map[string]any{"ipAddress": "10.0.9.9", "enabled": true})
	var pc map[string]string
	e.must(201, "POST", p+"/vpc_peering_connections",
		map[string]string{"destinationCidrBlock": "10.0.0.0/16", "peerOwnerId": "123456789012", "peerRegion": "ap-northeast-1", "peerVpcId": "vpc-0abc"}).decode(t, &pc)
	g := e.createGroup(map[string]any{"configuration": map[string]any{"SoracomAir": map[string]any{"useVpg": true, "vpgId": v.VPGID}}})
	e.srv.AddSIM(soracom.SIM{ID: simID(1), IMSI: imsi(1), GroupID: g.GroupID, Online: true})
	e.srv.AddSIM(soracom.SIM{ID: simID(2), IMSI: imsi(2)})

	snap := e.srv.NetworkSnapshot()
	if len(snap.VPGs) != 2 || len(snap.SIMs) != 2 {
		t.Fatalf("snapshot has %d VPGs and %d SIMs", len(snap.VPGs), len(snap.SIMs))
	}
	var n, c soracom.VPGNetwork
	for _, x := range snap.VPGs {
		switch x.ID {
		case v.VPGID:
			n = x
		case closed.VPGID:
			c = x
		}
	}
	full, _ := e.srv.VPG(v.VPGID)
	want := soracom.VPGNetwork{
		ID: v.VPGID, OperatorID: opA, Type: 15, Status: "running",
		DeviceSubnetCidrRange: "10.128.0.0/16", VPGSubnetCidrRange: "100.64.0.0/24", UseInternetGateway: true,
		GateOpened: true, GatePrivacySeparatorEnabled: true, GateVxlanID: 77,
		OwnGatePeers:          []soracom.GatePeer{{OuterIPAddress: "100.64.0.10", InnerIPAddress: "10.128.255.254", Netmask: "255.255.0.0"}},
		CustomerGatePeers:     []soracom.GatePeer{{OuterIPAddress: "10.0.1.10", InnerIPAddress: "10.128.255.1", Netmask: "255.255.0.0", OwnedByCustomer: true}},
		EnableSimBasedRouting: true, SimBasedRoutingConfig: map[string]string{simID(1): "192.168.1.0/24"},
		JunctionEnabled:       true,
		MirroringPeers:        map[string]soracom.JunctionMirroringPeer{"10.0.9.9": {IPAddress: "10.0.9.9", Protocol: "gre", Enabled: true}},
		Inspection:            &soracom.JunctionInspection{Enabled: false},
		Redirection:           &soracom.JunctionRedirection{Gateway: "10.128.255.1", Enabled: true, Description: "router"},
		VPCPeeringConnections: map[string]string{pc["id"]: "10.0.0.0/16"},
		SoracomVPCID:          full.SoracomVPCID,
	}
	if !reflect.DeepEqual(n, want) {
		t.Fatalf("VPG\n got %+v\nwant %+v", n, want)
	}
	// Gate closed: no own peer; empty collections are not nil.
	if c.GateOpened || len(c.OwnGatePeers) != 0 || c.OwnGatePeers == nil || c.CustomerGatePeers == nil || c.MirroringPeers == nil ||
		c.SimBasedRoutingConfig == nil || c.VPCPeeringConnections == nil || c.Inspection != nil || c.Redirection != nil {
		t.Fatalf("closed VPG %+v", c)
	}
	s1 := snap.SIMs[0]
	if s1.ID != simID(1) || s1.IMSI != imsi(1) || !s1.Online || s1.SessionVPGID != v.VPGID || s1.IPAddress != "10.128.0.2" || s1.GroupID != g.GroupID || s1.OperatorID != opA || s1.Status != "active" {
		t.Fatalf("SIM 1 %+v", s1)
	}
	if s2 := snap.SIMs[1]; s2.ID != simID(2) || s2.Online || s2.IPAddress != "" || s2.SessionVPGID != "" {
		t.Fatalf("SIM 2 %+v", s2)
	}

	// Deep copies: changing the snapshot does not change the emulator.
	n.SimBasedRoutingConfig["x"] = "10.9.0.0/16"
	n.CustomerGatePeers[0].OuterIPAddress = "1.2.3.4"
	n.MirroringPeers["10.0.9.9"] = soracom.JunctionMirroringPeer{}
	n.Redirection.Gateway = "1.1.1.1"
	n.Inspection.Enabled = true
	n.VPCPeeringConnections["pcx-x"] = "y"
	n.OwnGatePeers[0].InnerIPAddress = "0.0.0.0"
	again := e.srv.NetworkSnapshot()
	if !reflect.DeepEqual(again.VPGs[indexOf(again, v.VPGID)], want) {
		t.Fatalf("the snapshot aliases the emulator: %+v", again.VPGs[indexOf(again, v.VPGID)])
	}

	// Go API helpers change what the next snapshot shows.
	if err := e.srv.SetSIMOnline(simID(1), false, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.UnregisterGatePeer(v.VPGID, "10.0.1.10"); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.UnregisterGatePeer(v.VPGID, "10.0.1.10"); err == nil {
		t.Fatal("UnregisterGatePeer of a gone peer")
	}
	if err := e.srv.UnregisterGatePeer("vpg-nope", "10.0.1.10"); err == nil {
		t.Fatal("UnregisterGatePeer on an unknown VPG")
	}
	if err := e.srv.SetGateVxlanID(v.VPGID, 5); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.SetGateVxlanID(v.VPGID, 0); err == nil {
		t.Fatal("SetGateVxlanID(0)")
	}
	if err := e.srv.SetGateVxlanID("vpg-nope", 5); err == nil {
		t.Fatal("SetGateVxlanID on an unknown VPG")
	}
	if err := e.srv.CloseGate(v.VPGID); err != nil {
		t.Fatal(err)
	}
	snap = e.srv.NetworkSnapshot()
	n = snap.VPGs[indexOf(snap, v.VPGID)]
	if n.GateVxlanID != 5 || len(n.CustomerGatePeers) != 0 || len(n.OwnGatePeers) != 0 || n.GateOpened {
		t.Fatalf("after drift %+v", n)
	}
	if s := snap.SIMs[0]; s.Online || s.IPAddress != "" || s.SessionVPGID != "" {
		t.Fatalf("offline SIM %+v", s)
	}
	// The wire agrees.
	if got := e.getVPG(v.VPGID); got.GateVxlanID != 5 || got.GateOpened {
		t.Fatalf("wire after drift %+v", got)
	}

	// A terminating VPG is listed with its status; a gone one is not.
	e.must(200, "POST", vpgs+"/"+closed.VPGID+"/terminate", nil)
	snap = e.srv.NetworkSnapshot()
	if snap.VPGs[indexOf(snap, closed.VPGID)].Status != "terminating" {
		t.Fatalf("terminating VPG %+v", snap.VPGs)
	}
	e.clk.Step(time.Minute)
	if snap = e.srv.NetworkSnapshot(); len(snap.VPGs) != 1 || snap.VPGs[0].ID != v.VPGID {
		t.Fatalf("after termination %+v", snap.VPGs)
	}
}

func indexOf(s soracom.NetworkSnapshot, id string) int {
	for i, v := range s.VPGs {
		if v.ID == id {
			return i
		}
	}
	return -1
}
