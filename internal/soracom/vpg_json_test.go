package soracom

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestGateVXLANIDIsANumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		err  string
	}{
		{`10`, 10, ""},
		{`10.0`, 10, ""},
		{`1e1`, 10, ""},
		{`16777215`, 16777215, ""},
		{`null`, 0, ""},
		{`10.5`, 0, "gateVxlanId: soracom: 10.5 is not a whole number"},
		{`"10"`, 0, `gateVxlanId: soracom: "10" is not a JSON number`},
		{`true`, 0, "gateVxlanId: soracom: true is not a JSON number"},
		{`4294967296`, 0, "gateVxlanId: soracom: 4294967296 is out of the int32 range"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var v VirtualPrivateGateway
			err := json.Unmarshal([]byte(`{"vpgId":"vpg-1","type":15,"gateOpened":true,"gateVxlanId":`+tc.in+`}`), &v)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || v.GateVXLANID != tc.want || v.VPGID != "vpg-1" || v.Type != 15 || !v.GateOpened {
				t.Fatalf("got %+v, %v", v, err)
			}
		})
	}
	// Absent: 0, and the rest of the object still decodes.
	var v VirtualPrivateGateway
	v.GateVXLANID = 7
	if err := json.Unmarshal([]byte(`{"vpgId":"vpg-2"}`), &v); err != nil || v.GateVXLANID != 0 || v.VPGID != "vpg-2" {
		t.Fatalf("absent: %+v %v", v, err)
	}
	// Encoding is unchanged (a plain number).
	b, _ := json.Marshal(VirtualPrivateGateway{VPGID: "vpg-3", GateVXLANID: 12})
	if !strings.Contains(string(b), `"gateVxlanId":12`) {
		t.Fatalf("encoded %s", b)
	}
}

func TestVPGJSONShapes(t *testing.T) {
	const in = `{"vpgId":"vpg-1","enableSimBasedRouting":true,"simBasedRoutingConfig":{"sim-1":"192.168.1.0/24"},
		"vpcPeeringConnections":{"pcx-1":"10.0.0.0/16"},"junctionEnabled":true,
		"mirroring":{"peers":{"10.0.5.5":{"ipAddress":"10.0.5.5","protocol":"gre","enabled":true,"description":"tap"}}},
		"inspection":{"enabled":true},"redirection":{"gateway":"10.128.255.1","enabled":true,"description":"router"}}`
	var v VirtualPrivateGateway
	if err := json.Unmarshal([]byte(in), &v); err != nil {
		t.Fatal(err)
	}
	routes := v.SimBasedRoutes()
	routes["mutated"] = "x"
	if !v.EnableSimBasedRouting || len(v.SimBasedRoutingConfig) != 1 || v.SimBasedRoutingConfig["sim-1"] != "192.168.1.0/24" {
		t.Fatalf("routing %v %v", v.EnableSimBasedRouting, v.SimBasedRoutingConfig)
	}
	if ids := v.VPCPeeringConnectionIDs(); len(ids) != 1 || ids[0] != "pcx-1" || v.VPCPeeringConnections["pcx-1"] != "10.0.0.0/16" {
		t.Fatalf("peerings %v", v.VPCPeeringConnections)
	}
	if !v.JunctionEnabled || v.Mirroring.Peers["10.0.5.5"] != (JunctionMirroringPeer{IPAddress: "10.0.5.5", Protocol: "gre", Enabled: true, Description: "tap"}) ||
		!v.Inspection.Enabled || *v.Redirection != (JunctionRedirection{Gateway: "10.128.255.1", Enabled: true, Description: "router"}) {
		t.Fatalf("junction %+v %+v %+v", v.Mirroring, v.Inspection, v.Redirection)
	}
	if got := (&VirtualPrivateGateway{}).SimBasedRoutes(); got == nil || len(got) != 0 {
		t.Fatalf("empty routes %v", got)
	}
	// The definition's map of string to string: an object value is an error.
	if err := json.Unmarshal([]byte(`{"vpcPeeringConnections":{"pcx-1":{"id":"pcx-1"}}}`), &v); err == nil {
		t.Fatal("object value accepted")
	}
}

func TestCreateVPGRequestPlacement(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   CreateVirtualPrivateGatewayRequest
		want string
	}{
		{"nil", CreateVirtualPrivateGatewayRequest{Type: VPGTypeF}, `{"type":15,"useInternetGateway":false}`},
		{"empty region", CreateVirtualPrivateGatewayRequest{Type: VPGTypeF, Placement: &Placement{}}, `{"type":15,"useInternetGateway":false}`},
		{"provider only", CreateVirtualPrivateGatewayRequest{Type: VPGTypeF, Placement: &Placement{InfrastructureProvider: "aws"}}, `{"type":15,"useInternetGateway":false}`},
		{"region", CreateVirtualPrivateGatewayRequest{Type: VPGTypeF, Placement: &Placement{InfrastructureProvider: "aws", Region: "us-west-2"}},
			`{"type":15,"useInternetGateway":false,"placement":{"region":"us-west-2"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range []any{tc.in, &tc.in} {
				b, err := json.Marshal(v)
				if err != nil || string(b) != tc.want {
					t.Fatalf("%T: %s %v, want %s", v, b, err, tc.want)
				}
			}
		})
	}
}
