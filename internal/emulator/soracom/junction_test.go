package soracom_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/gatestream/gatestream/internal/emulator/soracom"
)

func TestJunction(t *testing.T) {
	e := newEnv(t, soracom.Options{VPGCreateDelay: time.Minute})
	v := e.createVPG(map[string]any{"type": 15, "deviceSubnetCidrRange": "10.128.0.0/16"})
	p := vpgs + "/" + v.VPGID + "/junction"

	// Not running yet: refused (GUESS 400 VPG0003).
	e.fail(400, "VPG0003", "POST", p+"/set_inspection", map[string]bool{"enabled": true})
	e.clk.Step(time.Minute)

	// Nothing set: no Junction fields but junctionEnabled false.
	var raw map[string]json.RawMessage
	e.must(200, "GET", vpgs+"/"+v.VPGID, nil).decode(t, &raw)
	if string(raw["junctionEnabled"]) != "false" || raw["mirroring"] != nil || raw["inspection"] != nil || raw["redirection"] != nil {
		t.Fatalf("fresh VPG junction fields: %s %s %s %s", raw["junctionEnabled"], raw["mirroring"], raw["inspection"], raw["redirection"])
	}

	// Mirroring peers: POST adds (201), again updates; PUT applies attributes; DELETE removes (204).
	e.must(201, "POST", p+"/mirroring/peers", map[string]any{"ipAddress": "10.0.5.5", "description": "tap"})
	got := e.getVPG(v.VPGID)
	want := soracom.JunctionMirroringPeer{IPAddress: "10.0.5.5", Protocol: "gre", Enabled: false, Description: "tap"}
	if got.Mirroring == nil || !reflect.DeepEqual(got.Mirroring.Peers, map[string]soracom.JunctionMirroringPeer{"10.0.5.5": want}) || got.JunctionEnabled {
		t.Fatalf("after add: %+v junction %v", got.Mirroring, got.JunctionEnabled)
	}
	e.must(201, "POST", p+"/mirroring/peers", map[string]any{"ipAddress": "10.0.5.5", "protocol": "gre", "enabled": true, "description": "tap 2"})
	e.must(201, "POST", p+"/mirroring/peers", map[string]any{"ipAddress": "10.0.6.6", "protocol": "gre"})
	got = e.getVPG(v.VPGID)
	if len(got.Mirroring.Peers) != 2 || !got.Mirroring.Peers["10.0.5.5"].Enabled || got.Mirroring.Peers["10.0.5.5"].Description != "tap 2" || !got.JunctionEnabled {
		t.Fatalf("after update: %+v junction %v", got.Mirroring, got.JunctionEnabled)
	}
	e.must(200, "PUT", p+"/mirroring/peers/10.0.5.5", []map[string]string{{"key": "enabled", "value": "false"}, {"key": "description", "value": "off"}})
	got = e.getVPG(v.VPGID)
	if pe := got.Mirroring.Peers["10.0.5.5"]; pe.Enabled || pe.Description != "off" || got.JunctionEnabled {
		t.Fatalf("after PUT: %+v junction %v", pe, got.JunctionEnabled)
	}
	for name, c := range map[string]struct {
		status     int
		code, meth string
		path       string
		body       any
	}{
		"peer ipv6":          {400, "VPG0002", "POST", "/mirroring/peers", map[string]any{"ipAddress": "fd00::1"}},
		"peer no address":    {400, "VPG0002", "POST", "/mirroring/peers", map[string]any{"protocol": "gre"}},
		"peer protocol udp":  {400, "VPG0002", "POST", "/mirroring/peers", map[string]any{"ipAddress": "10.0.7.7", "protocol": "udp"}},
		"put unknown peer":   {404, "VPG0001", "PUT", "/mirroring/peers/10.9.9.9", []map[string]string{{"key": "enabled", "value": "true"}}},
		"put bad bool":       {400, "VPG0002", "PUT", "/mirroring/peers/10.0.5.5", []map[string]string{{"key": "enabled", "value": "yes please"}}},
		"put unknown key":    {400, "VPG0002", "PUT", "/mirroring/peers/10.0.5.5", []map[string]string{{"key": "ipAddress", "value": "10.1.1.1"}}},
		"put not a list":     {400, "COM0004", "PUT", "/mirroring/peers/10.0.5.5", map[string]string{"key": "enabled"}},
		"delete unknown":     {404, "VPG0001", "DELETE", "/mirroring/peers/10.9.9.9", nil},
		"redirect ipv6":      {400, "VPG0002", "POST", "/set_redirection", map[string]any{"gateway": "fd00::1", "enabled": true}},
		"redirect outside":   {400, "VPG0002", "POST", "/set_redirection", map[string]any{"gateway": "10.129.0.1", "enabled": true}},
		"redirect no gw":     {400, "VPG0002", "POST", "/set_redirection", map[string]any{"enabled": true}},
		"redirect no body":   {400, "COM0004", "POST", "/set_redirection", nil},
		"inspection no body": {400, "COM0004", "POST", "/set_inspection", nil},
	} {
		t.Run(name, func(t *testing.T) { e.fail(c.status, c.code, c.meth, p+c.path, c.body) })
	}
	e.must(204, "DELETE", p+"/mirroring/peers/10.0.6.6", nil)
	e.must(204, "DELETE", p+"/mirroring/peers/10.0.5.5", nil)
	e.must(200, "GET", vpgs+"/"+v.VPGID, nil).decode(t, &raw)
	if raw["mirroring"] != nil {
		t.Fatalf("mirroring after the last peer went: %s", raw["mirroring"])
	}

	// Inspection.
	e.must(200, "POST", p+"/set_inspection", map[string]bool{"enabled": true})
	if got = e.getVPG(v.VPGID); got.Inspection == nil || !got.Inspection.Enabled || !got.JunctionEnabled {
		t.Fatalf("inspection %+v junction %v", got.Inspection, got.JunctionEnabled)
	}
	e.must(200, "POST", p+"/unset_inspection", nil)
	e.must(200, "POST", p+"/unset_inspection", nil) // again: harmless
	if got = e.getVPG(v.VPGID); got.Inspection != nil || got.JunctionEnabled {
		t.Fatalf("after unset: %+v junction %v", got.Inspection, got.JunctionEnabled)
	}

	// Redirection: the wire shape is {gateway, enabled, description}.
	e.must(200, "POST", p+"/set_redirection", map[string]any{"gateway": "10.128.255.1", "enabled": true, "description": "router"})
	e.must(200, "GET", vpgs+"/"+v.VPGID, nil).decode(t, &raw)
	var red map[string]any
	if err := json.Unmarshal(raw["redirection"], &red); err != nil || !reflect.DeepEqual(red, map[string]any{"gateway": "10.128.255.1", "enabled": true, "description": "router"}) ||
		string(raw["junctionEnabled"]) != "true" {
		t.Fatalf("redirection %s junctionEnabled %s", raw["redirection"], raw["junctionEnabled"])
	}
	e.must(200, "POST", p+"/set_redirection", map[string]any{"gateway": "10.128.255.2"}) // replaces; enabled defaults to false
	if got = e.getVPG(v.VPGID); *got.Redirection != (soracom.JunctionRedirection{Gateway: "10.128.255.2"}) || got.JunctionEnabled {
		t.Fatalf("redirection %+v junction %v", got.Redirection, got.JunctionEnabled)
	}
	e.must(200, "POST", p+"/unset_redirection", nil)
	if got = e.getVPG(v.VPGID); got.Redirection != nil {
		t.Fatalf("after unset %+v", got.Redirection)
	}

	// Unknown VPG: 404 (documented) on every call; another operator's VPG too.
	for _, c := range []struct {
		meth, path string
		body       any
	}{
		{"POST", "/mirroring/peers", map[string]any{"ipAddress": "10.0.5.5"}},
		{"PUT", "/mirroring/peers/10.0.5.5", []map[string]string{}},
		{"DELETE", "/mirroring/peers/10.0.5.5", nil},
		{"POST", "/set_inspection", map[string]bool{"enabled": true}},
		{"POST", "/unset_inspection", nil},
		{"POST", "/set_redirection", map[string]any{"gateway": "10.128.0.9"}},
		{"POST", "/unset_redirection", nil},
	} {
		e.fail(404, "VPG0001", c.meth, vpgs+"/vpg-nope/junction"+c.path, c.body)
	}
	for _, op := range []string{soracom.OpCreateMirroringPeer, soracom.OpUpdateMirroringPeer, soracom.OpDeleteMirroringPeer,
		soracom.OpSetInspection, soracom.OpUnsetInspection, soracom.OpSetRedirection, soracom.OpUnsetRedirection} {
		if e.srv.Faults().Count(soracom.API, op) == 0 {
			t.Errorf("no call logged as %s", op)
		}
	}
}

func TestDefaultRegionByCoverage(t *testing.T) {
	for _, c := range []struct {
		coverage, want string
	}{{"", "ap-northeast-1"}, {"jp", "ap-northeast-1"}, {"g", "eu-central-1"}} {
		t.Run("coverage="+c.coverage, func(t *testing.T) {
			e := newEnv(t, soracom.Options{Coverage: c.coverage})
			if got := e.createVPG(map[string]any{"type": 15}).Placement; got != (soracom.Placement{InfrastructureProvider: "aws", Region: c.want}) {
				t.Fatalf("no placement: %+v", got)
			}
			if got := e.createVPG(map[string]any{"type": 15, "placement": map[string]string{}}).Placement.Region; got != c.want {
				t.Fatalf("placement without region: %s", got)
			}
			if got := e.createVPG(map[string]any{"type": 15, "placement": map[string]string{"region": "us-west-2"}}).Placement.Region; got != "us-west-2" {
				t.Fatalf("explicit region: %s", got)
			}
		})
	}
	defer func() {
		if recover() == nil {
			t.Fatal("an unknown coverage did not panic")
		}
	}()
	soracom.New(soracom.Options{Coverage: "us"})
}

func TestErrorMessageArgs(t *testing.T) {
	e := newEnv(t, soracom.Options{})
	r := e.fail(404, "VPG0001", "GET", vpgs+"/vpg-nope", nil)
	var body map[string]any
	r.decode(t, &body)
	if !reflect.DeepEqual(body, map[string]any{"code": "VPG0001", "message": "VPG %s not found", "messageArgs": "vpg-nope"}) {
		t.Fatalf("templated error body %s", r.body)
	}
	// Errors without arguments carry no messageArgs.
	r = e.fail(400, "VPG0002", "POST", vpgs, map[string]any{})
	body = nil
	r.decode(t, &body)
	if _, ok := body["messageArgs"]; ok || body["message"] != "type is required" {
		t.Fatalf("plain error body %s", r.body)
	}
}
