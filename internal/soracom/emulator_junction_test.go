package soracom_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	emu "github.com/gatestream/gatestream/internal/emulator/soracom"
	"github.com/gatestream/gatestream/internal/soracom"
)

// runningVPG creates a Type-F VPG and waits (on the fake clock) until it runs.
func (e *emuEnv) runningVPG(t *testing.T, req *soracom.CreateVirtualPrivateGatewayRequest) *soracom.VirtualPrivateGateway {
	t.Helper()
	ctx := emuCtx(t)
	v := get(e.c.CreateVirtualPrivateGateway(ctx, req)).must(t)
	e.clk.Step(time.Hour)
	return get(e.c.GetVirtualPrivateGateway(ctx, v.VPGID)).must(t)
}

func TestEmulatorSimBasedRoutingNeedsGate(t *testing.T) {
	e := newEmuEnv(t, emu.Options{})
	ctx := emuCtx(t)
	vpg := e.runningVPG(t, &soracom.CreateVirtualPrivateGatewayRequest{Type: soracom.VPGTypeF})

	err := e.c.EnableSimBasedRouting(ctx, vpg.VPGID)
	ae, ok := soracom.AsAPIError(err)
	if !ok || ae.HTTPStatus != 400 || soracom.Retryable(err) || ae.Message != "SORACOM Gate is not enabled on VPG "+vpg.VPGID+"." {
		t.Fatalf("enable with Gate closed: %#v", err)
	}
	check(t, e.c.OpenGate(ctx, vpg.VPGID, 0, false))
	check(t, e.c.EnableSimBasedRouting(ctx, vpg.VPGID))
	check(t, e.c.PutSimBasedRoutingRoutes(ctx, vpg.VPGID, map[string]string{"sim-1": "192.168.1.0/24"}))
	got := get(e.c.GetVirtualPrivateGateway(ctx, vpg.VPGID)).must(t)
	if !got.EnableSimBasedRouting || got.SimBasedRoutes()["sim-1"] != "192.168.1.0/24" || got.GateVXLANID != 10 {
		t.Fatalf("vpg %+v", got)
	}

	// The GET of the routes does not exist.
	res, err := http.Get(e.ts.URL + "/v1/virtual_private_gateways/" + vpg.VPGID + "/gate/routing/static/sims/routes")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed || e.count(emu.OpUnknown) != 1 {
		t.Fatalf("GET routes: %d (unknown calls %d)", res.StatusCode, e.count(emu.OpUnknown))
	}
}

func TestEmulatorErrorMessageArgs(t *testing.T) {
	e := newEmuEnv(t, emu.Options{})
	_, err := e.c.GetVirtualPrivateGateway(emuCtx(t), "vpg-nope")
	ae, ok := soracom.AsAPIError(err)
	if !ok || !soracom.IsNotFound(err) || ae.Code != "VPG0001" || ae.Message != "VPG vpg-nope not found" ||
		!strings.HasSuffix(err.Error(), "HTTP 404 VPG0001: VPG vpg-nope not found") {
		t.Fatalf("not found: %#v (%v)", err, err)
	}
}

func TestEmulatorDefaultPlacement(t *testing.T) {
	for _, tc := range []struct {
		coverage, want string
	}{{emu.CoverageJapan, "ap-northeast-1"}, {emu.CoverageGlobal, "eu-central-1"}} {
		t.Run(tc.coverage, func(t *testing.T) {
			e := newEmuEnv(t, emu.Options{Coverage: tc.coverage})
			ctx := emuCtx(t)
			for _, p := range []*soracom.Placement{nil, {}, {InfrastructureProvider: "aws"}} {
				v := get(e.c.CreateVirtualPrivateGateway(ctx, &soracom.CreateVirtualPrivateGatewayRequest{Type: soracom.VPGTypeF, Placement: p})).must(t)
				if v.Placement.Region != tc.want || v.Placement.InfrastructureProvider != "aws" {
					t.Fatalf("placement %+v -> %+v", p, v.Placement)
				}
			}
			v := get(e.c.CreateVirtualPrivateGateway(ctx, &soracom.CreateVirtualPrivateGatewayRequest{Type: soracom.VPGTypeF, Placement: &soracom.Placement{Region: "ap-southeast-2"}})).must(t)
			if v.Placement.Region != "ap-southeast-2" {
				t.Fatalf("explicit region -> %+v", v.Placement)
			}
		})
	}
}

func TestEmulatorJunction(t *testing.T) {
	e := newEmuEnv(t, emu.Options{})
	ctx := emuCtx(t)
	vpg := e.runningVPG(t, &soracom.CreateVirtualPrivateGatewayRequest{Type: soracom.VPGTypeF, DeviceSubnetCIDRRange: "10.128.0.0/16"})
	if vpg.JunctionEnabled || vpg.Mirroring != nil || vpg.Inspection != nil || vpg.Redirection != nil {
		t.Fatalf("fresh VPG %+v", vpg)
	}

	red := soracom.JunctionRedirection{Gateway: "10.128.255.1", Description: "router", Enabled: true}
	check(t, e.c.SetRedirection(ctx, vpg.VPGID, red))
	check(t, e.c.SetRedirection(ctx, vpg.VPGID, red)) // repeat: harmless
	check(t, e.c.SetInspection(ctx, vpg.VPGID, true))
	check(t, e.c.PutMirroringPeer(ctx, vpg.VPGID, soracom.JunctionMirroringPeer{IPAddress: "10.0.5.5", Description: "tap", Enabled: true}))
	got := get(e.c.GetVirtualPrivateGateway(ctx, vpg.VPGID)).must(t)
	if !got.JunctionEnabled || got.Redirection == nil || *got.Redirection != red || got.Inspection == nil || !got.Inspection.Enabled ||
		got.Mirroring == nil || got.Mirroring.Peers["10.0.5.5"] != (soracom.JunctionMirroringPeer{IPAddress: "10.0.5.5", Protocol: "gre", Description: "tap", Enabled: true}) {
		t.Fatalf("junction %v %+v %+v %+v", got.JunctionEnabled, got.Redirection, got.Inspection, got.Mirroring)
	}

	// A gateway outside the device subnet is a terminal 400.
	err := e.c.SetRedirection(ctx, vpg.VPGID, soracom.JunctionRedirection{Gateway: "192.168.0.1", Enabled: true})
	if soracom.StatusCode(err) != 400 || soracom.Retryable(err) {
		t.Fatalf("gateway outside: %v", err)
	}

	check(t, e.c.UnsetRedirection(ctx, vpg.VPGID))
	check(t, e.c.UnsetInspection(ctx, vpg.VPGID))
	check(t, e.c.DeleteMirroringPeer(ctx, vpg.VPGID, "10.0.5.5"))
	if err := e.c.DeleteMirroringPeer(ctx, vpg.VPGID, "10.0.5.5"); !soracom.IsNotFound(err) {
		t.Fatalf("second delete: %v", err)
	}
	got = get(e.c.GetVirtualPrivateGateway(ctx, vpg.VPGID)).must(t)
	if got.JunctionEnabled || got.Mirroring != nil || got.Inspection != nil || got.Redirection != nil {
		t.Fatalf("after unset %+v", got)
	}
	if err := e.c.SetInspection(ctx, "vpg-nope", true); !soracom.IsNotFound(err) {
		t.Fatalf("unknown VPG: %v", err)
	}
	for op, n := range map[string]int{emu.OpSetRedirection: 3, emu.OpSetInspection: 2, emu.OpCreateMirroringPeer: 1, emu.OpDeleteMirroringPeer: 2,
		emu.OpUnsetRedirection: 1, emu.OpUnsetInspection: 1} {
		if got := e.count(op); got != n {
			t.Errorf("%s calls %d, want %d", op, got, n)
		}
	}
}
