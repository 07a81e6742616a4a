package soracom

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestMethodsWire checks each method's HTTP method, path, body and operation id.
func TestMethodsWire(t *testing.T) {
	type seen struct{ route, body string }
	var mu sync.Mutex
	var last seen
	var lastOp string
	record := func(status int, resp string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			last = seen{r.Method + " " + r.URL.EscapedPath(), string(b)}
			mu.Unlock()
			if resp == "" {
				w.WriteHeader(status)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, resp)
		}
	}
	f := newFakeAPI(t)
	c, _ := newTestClient(t, f, func(o *Options) {
		o.Observe = func(op string, status int, err error, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			lastOp = op
		}
	})
	ctx := testCtx(t)
	vpgJSON := `{"vpgId":"vpg-1","type":15,"status":"running","deviceSubnetCidrRange":"10.128.0.0/9","vpgSubnetCidrRange":"100.64.1.0/24","useInternetGateway":false,"placement":{"infrastructureProvider":"aws","region":"ap-northeast-1"},"gateOpened":true,"gatePrivacySeparatorEnabled":true,"gateVxlanId":10,"vpcPeeringConnections":{"pcx-1":"10.0.0.0/16"},"tags":{"name":"x"},"createdTime":1700000000000}`
	groupJSON := `{"groupId":"g-1","tags":{"name":"n"},"configuration":{"SoracomAir":{"useVpg":true,"vpgId":"vpg-1"}},"createdTime":"1700000000000"}`
	simJSON := `{"simId":"sim/1","status":"active","groupId":"g-1","sessionStatus":{"online":true,"ueIpAddress":"10.128.0.9","vpgId":"vpg-1","lastUpdatedAt":1700000000000}}`

	for _, tc := range []struct {
		op, route, body string
		status          int
		resp            string
		call            func() (any, error)
		check           func(t *testing.T, out any)
	}{
		{"createVirtualPrivateGateway", "POST /v1/virtual_private_gateways",
			`{"type":15,"deviceSubnetCidrRange":"10.128.0.0/9","useInternetGateway":false,"placement":{"region":"ap-northeast-1"},"tags":{"gatestream.io/uid":"u1"}}`,
			201, vpgJSON, func() (any, error) {
				return c.CreateVirtualPrivateGateway(ctx, &CreateVirtualPrivateGatewayRequest{Type: VPGTypeF, DeviceSubnetCIDRRange: "10.128.0.0/9",
					Placement: &Placement{Region: "ap-northeast-1"}, Tags: map[string]string{"gatestream.io/uid": "u1"}})
			}, func(t *testing.T, out any) {
				v := out.(*VirtualPrivateGateway)
				if v.VPGID != "vpg-1" || v.Type != 15 || !v.GateOpened || v.GateVXLANID != 10 || v.Placement.Region != "ap-northeast-1" ||
					v.VPGSubnetCIDRRange != "100.64.1.0/24" || v.CreatedTime.Time().IsZero() {
					t.Errorf("vpg = %+v", v)
				}
				if ids := v.VPCPeeringConnectionIDs(); len(ids) != 1 || ids[0] != "pcx-1" {
					t.Errorf("peering ids = %v", ids)
				}
			}},
		{"getVirtualPrivateGateway", "GET /v1/virtual_private_gateways/vpg-1", "", 200, vpgJSON,
			func() (any, error) { return c.GetVirtualPrivateGateway(ctx, "vpg-1") }, nil},
		{"terminateVirtualPrivateGateway", "POST /v1/virtual_private_gateways/vpg-1/terminate", "", 200, "",
			func() (any, error) { return nil, c.TerminateVirtualPrivateGateway(ctx, "vpg-1") }, nil},
		{"updateVirtualPrivateGatewayTags", "PUT /v1/virtual_private_gateways/vpg-1/tags", `[{"tagName":"a","tagValue":"1"},{"tagName":"b","tagValue":"2"}]`, 204, "",
			func() (any, error) {
				return nil, c.PutVirtualPrivateGatewayTags(ctx, "vpg-1", map[string]string{"b": "2", "a": "1"})
			}, nil},
		{"openGate", "POST /v1/virtual_private_gateways/vpg-1/gate/open", `{"vxlanId":10,"privacySeparatorEnabled":true}`, 200, "",
			func() (any, error) { return nil, c.OpenGate(ctx, "vpg-1", 10, true) }, nil},
		{"closeGate", "POST /v1/virtual_private_gateways/vpg-1/gate/close", "", 200, "",
			func() (any, error) { return nil, c.CloseGate(ctx, "vpg-1") }, nil},
		{"enableGatePrivacySeparator", "POST /v1/virtual_private_gateways/vpg-1/gate/enable_privacy_separator", "", 200, vpgJSON,
			func() (any, error) { return nil, c.EnableGatePrivacySeparator(ctx, "vpg-1") }, nil},
		{"disableGatePrivacySeparator", "POST /v1/virtual_private_gateways/vpg-1/gate/disable_privacy_separator", "", 200, vpgJSON,
			func() (any, error) { return nil, c.DisableGatePrivacySeparator(ctx, "vpg-1") }, nil},
		{"setVirtualPrivateGatewayVxLanId", "POST /v1/virtual_private_gateways/vpg-1/gate/set_vxlan_id", `{"vxlanId":42}`, 204, "",
			func() (any, error) { return nil, c.SetGateVXLANID(ctx, "vpg-1", 42) }, nil},
		{"listGatePeers", "GET /v1/virtual_private_gateways/vpg-1/gate/peers", "", 200,
			`[{"outerIpAddress":"10.0.1.10","innerIpAddress":"10.128.255.1","ownedByCustomer":true},{"outerIpAddress":"100.64.1.5","innerIpAddress":"10.128.0.1","ownedByCustomer":false}]`,
			func() (any, error) { return c.ListGatePeers(ctx, "vpg-1") }, func(t *testing.T, out any) {
				p := out.([]GatePeer)
				if len(p) != 2 || !p[0].OwnedByCustomer || p[1].OwnedByCustomer || p[0].InnerIPAddress != "10.128.255.1" {
					t.Errorf("peers = %+v", p)
				}
			}},
		{"registerGatePeer", "POST /v1/virtual_private_gateways/vpg-1/gate/peers", `{"outerIpAddress":"10.0.1.10","innerIpAddress":"10.128.255.1"}`, 200,
			`{"outerIpAddress":"10.0.1.10","innerIpAddress":"10.128.255.1","ownedByCustomer":true}`,
			func() (any, error) {
				return c.RegisterGatePeer(ctx, "vpg-1", &RegisterGatePeerRequest{OuterIPAddress: "10.0.1.10", InnerIPAddress: "10.128.255.1"})
			}, nil},
		{"unregisterGatePeer", "DELETE /v1/virtual_private_gateways/vpg-1/gate/peers/10.0.1.10", "", 204, "",
			func() (any, error) { return nil, c.UnregisterGatePeer(ctx, "vpg-1", "10.0.1.10") }, nil},
		{"enableSimBasedRouting", "POST /v1/virtual_private_gateways/vpg-1/gate/routing/static/sims/enable", "", 201, "",
			func() (any, error) { return nil, c.EnableSimBasedRouting(ctx, "vpg-1") }, nil},
		{"disableSimBasedRouting", "POST /v1/virtual_private_gateways/vpg-1/gate/routing/static/sims/disable", "", 204, "",
			func() (any, error) { return nil, c.DisableSimBasedRouting(ctx, "vpg-1") }, nil},
		{"putSimBasedRoutingRoutes", "PUT /v1/virtual_private_gateways/vpg-1/gate/routing/static/sims/routes", `{"sim2":"192.168.1.0/24"}`, 200, "",
			func() (any, error) {
				return nil, c.PutSimBasedRoutingRoutes(ctx, "vpg-1", map[string]string{"sim2": "192.168.1.0/24"})
			}, nil},
		{"createMirroringPeer", "POST /v1/virtual_private_gateways/vpg-1/junction/mirroring/peers", `{"ipAddress":"10.0.5.5","protocol":"gre","description":"tap","enabled":true}`, 201, "",
			func() (any, error) {
				return nil, c.PutMirroringPeer(ctx, "vpg-1", JunctionMirroringPeer{IPAddress: "10.0.5.5", Description: "tap", Enabled: true})
			}, nil},
		{"deleteMirroringPeer", "DELETE /v1/virtual_private_gateways/vpg-1/junction/mirroring/peers/10.0.5.5", "", 204, "",
			func() (any, error) { return nil, c.DeleteMirroringPeer(ctx, "vpg-1", "10.0.5.5") }, nil},
		{"setInspectionConfiguration", "POST /v1/virtual_private_gateways/vpg-1/junction/set_inspection", `{"enabled":true}`, 200, "",
			func() (any, error) { return nil, c.SetInspection(ctx, "vpg-1", true) }, nil},
		{"unsetInspectionConfiguration", "POST /v1/virtual_private_gateways/vpg-1/junction/unset_inspection", "", 200, "",
			func() (any, error) { return nil, c.UnsetInspection(ctx, "vpg-1") }, nil},
		{"setRedirectionConfiguration", "POST /v1/virtual_private_gateways/vpg-1/junction/set_redirection", `{"gateway":"10.128.255.1","description":"router","enabled":true}`, 200, "",
			func() (any, error) {
				return nil, c.SetRedirection(ctx, "vpg-1", JunctionRedirection{Gateway: "10.128.255.1", Description: "router", Enabled: true})
			}, nil},
		{"unsetRedirectionConfiguration", "POST /v1/virtual_private_gateways/vpg-1/junction/unset_redirection", "", 200, "",
			func() (any, error) { return nil, c.UnsetRedirection(ctx, "vpg-1") }, nil},
		{"createVpcPeeringConnection", "POST /v1/virtual_private_gateways/vpg-1/vpc_peering_connections",
			`{"destinationCidrBlock":"10.0.0.0/16","peerOwnerId":"123456789012","peerRegion":"ap-northeast-1","peerVpcId":"vpc-0abc"}`, 201,
			`{"id":"pcx-9","destinationCidrBlock":"10.0.0.0/16","peerOwnerId":"123456789012","peerRegion":"ap-northeast-1","peerVpcId":"vpc-0abc"}`,
			func() (any, error) {
				return c.CreateVPCPeeringConnection(ctx, "vpg-1", &CreateVPCPeeringConnectionRequest{DestinationCIDRBlock: "10.0.0.0/16", PeerOwnerID: "123456789012", PeerRegion: "ap-northeast-1", PeerVPCID: "vpc-0abc"})
			}, func(t *testing.T, out any) {
				if p := out.(*VPCPeeringConnection); p.ID != "pcx-9" {
					t.Errorf("peering = %+v", p)
				}
			}},
		{"deleteVpcPeeringConnection", "DELETE /v1/virtual_private_gateways/vpg-1/vpc_peering_connections/pcx-9", "", 204, "",
			func() (any, error) { return nil, c.DeleteVPCPeeringConnection(ctx, "vpg-1", "pcx-9") }, nil},
		{"createGroup", "POST /v1/groups", `{"tags":{"name":"n"},"configuration":{"SoracomAir":{"useVpg":true}}}`, 201, groupJSON,
			func() (any, error) {
				return c.CreateGroup(ctx, &CreateGroupRequest{Tags: map[string]string{"name": "n"}, Configuration: map[string]map[string]any{"SoracomAir": {"useVpg": true}}})
			}, func(t *testing.T, out any) {
				g := out.(*Group)
				if g.GroupID != "g-1" || g.Configuration[NamespaceSoracomAir][KeyVPGID] != "vpg-1" || g.CreatedTime != 1700000000000 {
					t.Errorf("group = %+v", g)
				}
			}},
		{"getGroup", "GET /v1/groups/g-1", "", 200, groupJSON, func() (any, error) { return c.GetGroup(ctx, "g-1") }, nil},
		{"deleteGroup", "DELETE /v1/groups/g-1", "", 204, "", func() (any, error) { return nil, c.DeleteGroup(ctx, "g-1") }, nil},
		{"putGroupTags", "PUT /v1/groups/g-1/tags", `[{"tagName":"name","tagValue":"n"}]`, 200, groupJSON,
			func() (any, error) { return c.PutGroupTags(ctx, "g-1", map[string]string{"name": "n"}) }, nil},
		{"putConfigurationParameters", "PUT /v1/groups/g-1/configuration/SoracomAir", `[{"key":"useVpg","value":true},{"key":"vpgId","value":"vpg-1"}]`, 200, groupJSON,
			func() (any, error) {
				return c.PutGroupConfiguration(ctx, "g-1", NamespaceSoracomAir, []KeyValue{{KeyUseVPG, true}, {KeyVPGID, "vpg-1"}})
			}, nil},
		{"deleteConfigurationNamespace", "DELETE /v1/groups/g-1/configuration/SoracomAir", "", 204, "",
			func() (any, error) { return nil, c.DeleteGroupConfigurationNamespace(ctx, "g-1", NamespaceSoracomAir) }, nil},
		{"deleteConfigurationParameter", "DELETE /v1/groups/g-1/configuration/SoracomAir/vpgId", "", 204, "",
			func() (any, error) {
				return nil, c.DeleteGroupConfigurationParameter(ctx, "g-1", NamespaceSoracomAir, KeyVPGID)
			}, nil},
		{"getSim", "GET /v1/sims/sim%2F1", "", 200, simJSON, func() (any, error) { return c.GetSim(ctx, "sim/1") }, func(t *testing.T, out any) {
			s := out.(*SIM)
			if s.SimID != "sim/1" || !s.SessionStatus.Online || s.SessionStatus.VPGID != "vpg-1" || s.SessionStatus.UEIPAddress != "10.128.0.9" {
				t.Errorf("sim = %+v", s)
			}
		}},
		{"setSimGroup", "POST /v1/sims/s1/set_group", `{"groupId":"g-1"}`, 200, simJSON,
			func() (any, error) { return c.SetSimGroup(ctx, "s1", "g-1") }, nil},
		{"unsetSimGroup", "POST /v1/sims/s1/unset_group", "", 204, "", func() (any, error) { return nil, c.UnsetSimGroup(ctx, "s1") }, nil},
		{"deleteSimSession", "POST /v1/sims/s1/delete_session", "", 200, simJSON,
			func() (any, error) { return nil, c.DeleteSimSession(ctx, "s1") }, nil},
	} {
		t.Run(tc.op, func(t *testing.T) {
			f.handle(tc.route, record(tc.status, tc.resp))
			out, err := tc.call()
			if err != nil {
				t.Fatalf("%s: %v", tc.op, err)
			}
			mu.Lock()
			got, op := last, lastOp
			mu.Unlock()
			if got.route != tc.route {
				t.Errorf("route = %q, want %q", got.route, tc.route)
			}
			if !jsonEqual(got.body, tc.body) {
				t.Errorf("body = %s, want %s", got.body, tc.body)
			}
			if op != tc.op {
				t.Errorf("op = %q, want %q", op, tc.op)
			}
			if tc.check != nil {
				tc.check(t, out)
			}
		})
	}
}

func jsonEqual(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}
