package soracom_test

import (
	"encoding/json"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatestream/gatestream/internal/emulator/soracom"
)

const vpgs = "/v1/virtual_private_gateways"

func TestVPGLifecycle(t *testing.T) {
	e := newEnv(t, soracom.Options{VPGCreateDelay: 5 * time.Minute, VPGTerminateDelay: 2 * time.Minute})

	r := e.must(201, "POST", vpgs, map[string]any{"type": 15, "useInternetGateway": false, "tags": map[string]string{"name": "factory"}})
	var raw map[string]any
	r.decode(t, &raw)
	for _, k := range []string{"vpgId", "operatorId", "type", "status", "deviceSubnetCidrRange", "vpgSubnetCidrRange",
		"useInternetGateway", "gateOpened", "gatePrivacySeparatorEnabled", "vpcPeeringConnections", "createdTime", "lastModifiedTime", "placement"} {
		if _, ok := raw[k]; !ok {
			t.Fatalf("create response lacks %q: %s", k, r.body)
		}
	}
	var v soracom.VPG
	r.decode(t, &v)
	if !regexp.MustCompile(`^vpg-[0-9a-f]{16}$`).MatchString(v.VPGID) {
		t.Fatalf("vpgId %q", v.VPGID)
	}
	want := soracom.VPG{
		VPGID: v.VPGID, OperatorID: opA, Type: 15, Status: "creating", Tags: map[string]string{"name": "factory"},
		Placement:   soracom.Placement{InfrastructureProvider: "aws", Region: "ap-northeast-1"},
		CreatedTime: t0.UnixMilli(), LastModifiedTime: t0.UnixMilli(),
		DeviceSubnetCidrRange: "10.128.0.0/9", UeSubnetCidrRange: "10.128.0.0/9", VPGSubnetCidrRange: "100.64.0.0/24",
		UseInternetGateway: false, SimBasedRoutingConfig: map[string]string{}, VPCPeeringConnections: map[string]string{},
	}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("created\n got %+v\nwant %+v", v, want)
	}

	// creating: Gate is refused; still creating just before the delay.
	e.clk.Step(5*time.Minute - time.Millisecond)
	if got := e.getVPG(v.VPGID).Status; got != "creating" {
		t.Fatalf("status %q", got)
	}
	e.fail(400, "VPG0003", "POST", vpgs+"/"+v.VPGID+"/gate/open", nil)
	e.clk.Step(time.Millisecond)
	if got := e.getVPG(v.VPGID).Status; got != "running" {
		t.Fatalf("status after delay %q", got)
	}

	// A second VPG gets the next /24 and the defaults.
	v2 := e.createVPG(map[string]any{"type": 14, "placement": map[string]string{"region": "eu-central-1"}, "deviceSubnetCidrRange": "10.0.0.0/16"})
	if v2.VPGSubnetCidrRange != "100.64.1.0/24" || !v2.UseInternetGateway || v2.Placement.Region != "eu-central-1" || v2.DeviceSubnetCidrRange != "10.0.0.0/16" {
		t.Fatalf("second VPG %+v", v2)
	}

	// terminate -> terminating -> gone.
	var term soracom.VPG
	e.must(200, "POST", vpgs+"/"+v.VPGID+"/terminate", nil).decode(t, &term)
	if term.Status != "terminating" {
		t.Fatalf("terminate response status %q", term.Status)
	}
	e.clk.Step(time.Minute)
	if got := e.getVPG(v.VPGID).Status; got != "terminating" {
		t.Fatalf("status %q", got)
	}
	e.fail(400, "VPG0003", "POST", vpgs+"/"+v.VPGID+"/gate/open", nil)
	e.must(200, "POST", vpgs+"/"+v.VPGID+"/terminate", nil) // again: idempotent
	e.clk.Step(time.Minute)
	e.fail(404, "VPG0001", "GET", vpgs+"/"+v.VPGID, nil)
	e.fail(404, "VPG0001", "POST", vpgs+"/"+v.VPGID+"/terminate", nil)
	var list []soracom.VPG
	e.must(200, "GET", vpgs, nil).decode(t, &list)
	if len(list) != 1 || list[0].VPGID != v2.VPGID {
		t.Fatalf("list after termination %+v", list)
	}
	if got := e.srv.VPGs(); len(got) != 1 || got[0].VPGID != v2.VPGID {
		t.Fatalf("VPGs() %+v", got)
	}
	if n := e.srv.VPGsEverCreated(); n != 2 {
		t.Fatalf("VPGsEverCreated %d", n)
	}
	if n := e.srv.Faults().Count(soracom.API, soracom.OpCreateVPG); n != 2 {
		t.Fatalf("create calls %d", n)
	}
}

func TestVPGDefaultDelaysAreZero(t *testing.T) {
	e := newEnv(t, soracom.Options{})
	v := e.createVPG(map[string]any{"type": 15})
	if v.Status != "creating" {
		t.Fatalf("create response %q", v.Status)
	}
	if got := e.getVPG(v.VPGID).Status; got != "running" {
		t.Fatalf("first read %q", got)
	}
	e.must(200, "POST", vpgs+"/"+v.VPGID+"/terminate", nil)
	e.fail(404, "VPG0001", "GET", vpgs+"/"+v.VPGID, nil)
}

func TestVPGValidation(t *testing.T) {
	e := newEnv(t, soracom.Options{})
	for name, body := range map[string]any{
		"bad type":             map[string]any{"type": 13},
		"missing type":         map[string]any{},
		"bad cidr":             map[string]any{"type": 15, "deviceSubnetCidrRange": "10.128.0.0/33"},
		"not network address":  map[string]any{"type": 15, "deviceSubnetCidrRange": "10.128.0.1/9"},
		"overlaps 100.64/10":   map[string]any{"type": 15, "deviceSubnetCidrRange": "100.0.0.0/8"},
		"overlaps 198.18/15":   map[string]any{"type": 15, "deviceSubnetCidrRange": "198.19.0.0/16"},
		"ipv6":                 map[string]any{"type": 15, "deviceSubnetCidrRange": "fd00::/64"},
		"bad region":           map[string]any{"type": 15, "placement": map[string]string{"region": "us-east-1"}},
		"type-E without IGW":   map[string]any{"type": 14, "useInternetGateway": false},
		"type as string":       map[string]any{"type": "15"},
		"more than twenty tag": map[string]any{"type": 15, "tags": manyTags(21)},
	} {
		t.Run(name, func(t *testing.T) {
			code := "VPG0002"
			if name == "type as string" {
				code = "COM0004"
			}
			e.fail(400, code, "POST", vpgs, body)
		})
	}
	e.fail(400, "COM0004", "POST", vpgs, "{not json")
	e.fail(400, "COM0004", "POST", vpgs, "")
	for _, typ := range []int{14, 15, 242} {
		if v := e.createVPG(map[string]any{"type": typ}); v.Type != typ {
			t.Fatalf("type %d -> %d", typ, v.Type)
		}
	}
	if n := e.srv.VPGsEverCreated(); n != 3 {
		t.Fatalf("VPGsEverCreated %d", n)
	}
}

func manyTags(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[string(rune('a'+i))] = "x"
	}
	return m
}

func TestVPGTagsListAndPagination(t *testing.T) {
	e := newEnv(t, soracom.Options{PageSize: 2})
	var ids []string
	for _, owner := range []string{"uid-1", "uid-2", "uid-10", "other", ""} {
		tags := map[string]string{}
		if owner != "" {
			tags["gatestream.io/owner"] = owner
		}
		ids = append(ids, e.createVPG(map[string]any{"type": 15, "tags": tags}).VPGID)
	}

	list := func(q string) []soracom.VPG {
		var out []soracom.VPG
		e.must(200, "GET", vpgs+q, nil).decode(t, &out)
		return out
	}
	exact := list("?tag_name=gatestream.io%2Fowner&tag_value=uid-1")
	if len(exact) != 1 || exact[0].VPGID != ids[0] {
		t.Fatalf("exact %+v", exact)
	}
	r := e.must(200, "GET", vpgs+"?tag_name=gatestream.io%2Fowner&tag_value=uid-&tag_value_match_mode=prefix", nil)
	var prefix []soracom.VPG
	r.decode(t, &prefix)
	if len(prefix) != 2 || r.header.Get("X-Soracom-Next-Key") == "" {
		t.Fatalf("prefix page 1: %d items, next %q", len(prefix), r.header.Get("X-Soracom-Next-Key"))
	}
	// Link keeps the filter.
	link := r.header.Get("Link")
	u := linkURL(t, link)
	if q := u.Query(); q.Get("tag_value_match_mode") != "prefix" || q.Get("limit") != "2" || q.Get("last_evaluated_key") != prefix[1].VPGID {
		t.Fatalf("link %q", link)
	}
	var rest []soracom.VPG
	r = e.must(200, "GET", u.RequestURI(), nil)
	r.decode(t, &rest)
	if len(rest) != 1 || r.header.Get("X-Soracom-Next-Key") != "" || r.header.Get("Link") != "" {
		t.Fatalf("prefix page 2: %+v %v", rest, r.header)
	}
	got := map[string]bool{prefix[0].VPGID: true, prefix[1].VPGID: true, rest[0].VPGID: true}
	if !got[ids[0]] || !got[ids[1]] || !got[ids[2]] {
		t.Fatalf("prefix matched %v, want %v", got, ids[:3])
	}
	e.fail(400, "COM0004", "GET", vpgs+"?tag_name=x", nil)
	e.fail(400, "COM0004", "GET", vpgs+"?tag_name=x&tag_value=y&tag_value_match_mode=suffix", nil)
	e.fail(400, "COM0004", "GET", vpgs+"?limit=0", nil)

	// All five, in stable order, in pages of 2 (limit=10 cannot raise it).
	var all []string
	q := "?limit=10"
	for pages := 1; ; pages++ {
		r := e.must(200, "GET", vpgs+q, nil)
		var page []soracom.VPG
		r.decode(t, &page)
		for _, v := range page {
			all = append(all, v.VPGID)
		}
		next := r.header.Get("X-Soracom-Next-Key")
		if next == "" {
			if pages != 3 {
				t.Fatalf("pages %d", pages)
			}
			break
		}
		q = "?limit=10&last_evaluated_key=" + url.QueryEscape(next)
	}
	if len(all) != 5 || !sortedStrings(all) {
		t.Fatalf("all %v", all)
	}

	// Tags: PUT merges (204), DELETE removes (204), absent tag 404.
	id := ids[4]
	e.must(204, "PUT", vpgs+"/"+id+"/tags", []map[string]string{{"tagName": "name", "tagValue": "line a"}, {"tagName": "env", "tagValue": "prod"}})
	e.must(204, "PUT", vpgs+"/"+id+"/tags", []map[string]string{{"tagName": "env", "tagValue": "dev"}})
	if tags := e.getVPG(id).Tags; !reflect.DeepEqual(tags, map[string]string{"name": "line a", "env": "dev"}) {
		t.Fatalf("tags %v", tags)
	}
	e.must(204, "DELETE", vpgs+"/"+id+"/tags/name", nil)
	e.fail(404, "VPG0001", "DELETE", vpgs+"/"+id+"/tags/name", nil)
	if tags := e.getVPG(id).Tags; !reflect.DeepEqual(tags, map[string]string{"env": "dev"}) {
		t.Fatalf("tags %v", tags)
	}
	e.fail(404, "VPG0001", "PUT", vpgs+"/vpg-0000/tags", []map[string]string{{"tagName": "a", "tagValue": "b"}})
	e.fail(400, "", "PUT", vpgs+"/"+id+"/tags", []map[string]string{{"tagName": "", "tagValue": "b"}})
	e.fail(400, "", "PUT", vpgs+"/"+id+"/tags", tagUpdates(manyTags(20)))
}

func tagUpdates(m map[string]string) []map[string]string {
	var out []map[string]string
	for k, v := range m {
		out = append(out, map[string]string{"tagName": k, "tagValue": v})
	}
	return out
}

func sortedStrings(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] >= s[i] {
			return false
		}
	}
	return true
}

func linkURL(t *testing.T, link string) *url.URL {
	t.Helper()
	m := regexp.MustCompile(`^<([^>]+)>; rel=next$`).FindStringSubmatch(link)
	if m == nil {
		t.Fatalf("link header %q", link)
	}
	u, err := url.Parse(m[1])
	if err != nil || !strings.HasPrefix(u.Path, "/v1/") {
		t.Fatalf("link %q: %v", link, err)
	}
	return u
}

func TestGate(t *testing.T) {
	e := newEnv(t, soracom.Options{})
	v := e.createVPG(map[string]any{"type": 15, "deviceSubnetCidrRange": "10.128.0.0/16"})
	p := vpgs + "/" + v.VPGID

	// Closed Gate: no VPG peer listed.
	if r := e.must(200, "GET", p+"/gate/peers", nil); string(r.body) != "[]" {
		t.Fatalf("peers before open: %s", r.body)
	}
	var got soracom.VPG
	e.must(200, "POST", p+"/gate/open", nil).decode(t, &got)
	if !got.GateOpened || got.GateVxlanID != 10 || got.GatePrivacySeparatorEnabled {
		t.Fatalf("open defaults %+v", got)
	}
	e.must(200, "POST", p+"/gate/open", map[string]any{"vxlanId": 42, "privacySeparatorEnabled": true}).decode(t, &got)
	if !got.GateOpened || got.GateVxlanID != 42 || !got.GatePrivacySeparatorEnabled {
		t.Fatalf("open with body %+v", got)
	}
	e.fail(400, "VPG0002", "POST", p+"/gate/open", map[string]any{"vxlanId": 0})

	var peers []soracom.GatePeer
	e.must(200, "GET", p+"/gate/peers", nil).decode(t, &peers)
	own := soracom.GatePeer{OuterIPAddress: "100.64.0.10", InnerIPAddress: "10.128.255.254", Netmask: "255.255.0.0", OwnedByCustomer: false}
	if len(peers) != 1 || peers[0] != own {
		t.Fatalf("peers %+v", peers)
	}

	var peer soracom.GatePeer
	e.must(200, "POST", p+"/gate/peers", map[string]string{"outerIpAddress": "10.0.1.10", "innerIpAddress": "10.128.255.1"}).decode(t, &peer)
	if peer != (soracom.GatePeer{OuterIPAddress: "10.0.1.10", InnerIPAddress: "10.128.255.1", Netmask: "255.255.0.0", OwnedByCustomer: true}) {
		t.Fatalf("registered %+v", peer)
	}
	e.must(200, "POST", p+"/gate/peers", map[string]string{"outerIpAddress": "10.0.2.10"})
	for name, body := range map[string]map[string]string{
		"duplicate outer":   {"outerIpAddress": "10.0.1.10"},
		"missing outer":     {"innerIpAddress": "10.128.255.2"},
		"ipv6 outer":        {"outerIpAddress": "fd00::1"},
		"inner outside":     {"outerIpAddress": "10.0.3.10", "innerIpAddress": "10.129.0.1"},
		"inner taken":       {"outerIpAddress": "10.0.3.10", "innerIpAddress": "10.128.255.1"},
		"inner is VPG peer": {"outerIpAddress": "10.0.3.10", "innerIpAddress": "10.128.255.254"},
	} {
		t.Run(name, func(t *testing.T) { e.fail(400, "VPG0002", "POST", p+"/gate/peers", body) })
	}
	e.must(200, "GET", p+"/gate/peers", nil).decode(t, &peers)
	if len(peers) != 3 || peers[1].OuterIPAddress != "10.0.1.10" || peers[2].OuterIPAddress != "10.0.2.10" || peers[2].InnerIPAddress != "" {
		t.Fatalf("peers %+v", peers)
	}
	e.must(204, "DELETE", p+"/gate/peers/10.0.2.10", nil)
	e.fail(404, "VPG0001", "DELETE", p+"/gate/peers/10.0.2.10", nil)
	if vp, _ := e.srv.VPG(v.VPGID); len(vp.GatePeers) != 1 || vp.GatePeers[0].OuterIPAddress != "10.0.1.10" {
		t.Fatalf("Go API peers %+v", vp.GatePeers)
	}

	// VXLAN id.
	e.must(204, "POST", p+"/gate/set_vxlan_id", map[string]int{"vxlanId": 16777215})
	if got := e.getVPG(v.VPGID).GateVxlanID; got != 16777215 {
		t.Fatalf("vxlan %d", got)
	}
	for _, bad := range []any{map[string]int{"vxlanId": 0}, map[string]int{"vxlanId": 16777216}, map[string]int{}} {
		e.fail(400, "VPG0002", "POST", p+"/gate/set_vxlan_id", bad)
	}

	// Privacy separator returns the VPG.
	e.must(200, "POST", p+"/gate/disable_privacy_separator", nil).decode(t, &got)
	if got.GatePrivacySeparatorEnabled {
		t.Fatal("disable_privacy_separator")
	}
	e.must(200, "POST", p+"/gate/enable_privacy_separator", nil).decode(t, &got)
	if !got.GatePrivacySeparatorEnabled {
		t.Fatal("enable_privacy_separator")
	}

	// Close, and drift through the Go API.
	e.must(200, "POST", p+"/gate/close", nil).decode(t, &got)
	if got.GateOpened {
		t.Fatal("close")
	}
	e.must(200, "POST", p+"/gate/open", nil)
	if err := e.srv.CloseGate(v.VPGID); err != nil {
		t.Fatal(err)
	}
	if e.getVPG(v.VPGID).GateOpened {
		t.Fatal("CloseGate drift not visible")
	}
	if err := e.srv.CloseGate("vpg-none"); err == nil {
		t.Fatal("CloseGate on unknown VPG")
	}

	// Type-E cannot use Gate; Type-F2 cannot close it; unknown VPG 404.
	ve := e.createVPG(map[string]any{"type": 14})
	e.getVPG(ve.VPGID)
	for _, op := range []string{"/gate/open", "/gate/close", "/gate/enable_privacy_separator", "/gate/peers"} {
		e.fail(400, "VPG0003", "POST", vpgs+"/"+ve.VPGID+op, map[string]string{"outerIpAddress": "10.0.0.1"})
	}
	vf2 := e.createVPG(map[string]any{"type": 242})
	e.getVPG(vf2.VPGID)
	e.must(200, "POST", vpgs+"/"+vf2.VPGID+"/gate/open", nil)
	e.fail(400, "VPG0003", "POST", vpgs+"/"+vf2.VPGID+"/gate/close", nil)
	e.fail(404, "VPG0001", "POST", vpgs+"/vpg-nope/gate/open", nil)
	e.fail(404, "VPG0001", "GET", vpgs+"/vpg-nope/gate/peers", nil)
	e.fail(404, "VPG0001", "POST", vpgs+"/vpg-nope/gate/set_vxlan_id", map[string]int{"vxlanId": 5})
}

func TestSimBasedRouting(t *testing.T) {
	e := newEnv(t, soracom.Options{})
	v := e.createVPG(map[string]any{"type": 15})
	p := vpgs + "/" + v.VPGID + "/gate/routing/static/sims"

	// Enabling needs an open Gate (definition: 400 "SORACOM Gate is not enabled.").
	r := e.fail(400, "VPG0003", "POST", p+"/enable", nil)
	var body struct{ Code, Message, MessageArgs string }
	r.decode(t, &body)
	if body.Message != "SORACOM Gate is not enabled on VPG %s." || body.MessageArgs != v.VPGID {
		t.Fatalf("error body %s", r.body)
	}
	if e.getVPG(v.VPGID).EnableSimBasedRouting {
		t.Fatal("enabled although Gate is closed")
	}
	e.must(200, "POST", vpgs+"/"+v.VPGID+"/gate/open", nil)

	var got soracom.VPG
	e.must(201, "POST", p+"/enable", nil).decode(t, &got)
	if !got.EnableSimBasedRouting {
		t.Fatal("enable")
	}
	routes := map[string]string{simID(1): "192.168.1.0/24", simID(2): "192.168.2.0/24"}
	var back map[string]string
	e.must(200, "PUT", p+"/routes", routes).decode(t, &back)
	if !reflect.DeepEqual(back, routes) {
		t.Fatalf("put returned %v", back)
	}
	// PUT replaces the whole set; the routes are read from the VPG.
	e.must(200, "PUT", p+"/routes", map[string]string{simID(3): "172.16.0.0/16"})
	var raw map[string]json.RawMessage
	e.must(200, "GET", vpgs+"/"+v.VPGID, nil).decode(t, &raw)
	if string(raw["simBasedRoutingConfig"]) != `{"`+simID(3)+`":"172.16.0.0/16"}` || string(raw["enableSimBasedRouting"]) != "true" {
		t.Fatalf("simBasedRoutingConfig %s enableSimBasedRouting %s", raw["simBasedRoutingConfig"], raw["enableSimBasedRouting"])
	}
	// There is no GET of the routes: the path answers like a wrong method anywhere.
	e.fail(405, "COM0006", "GET", p+"/routes", nil)
	e.fail(404, "COM0005", "GET", p+"/routes/x", nil)
	if n := e.srv.Faults().Count(soracom.API, soracom.OpUnknown); n != 2 {
		t.Fatalf("unknown calls %d", n)
	}

	e.fail(400, "VPG0002", "PUT", p+"/routes", map[string]string{simID(1): "192.168.1.1/24"})
	e.fail(400, "VPG0002", "PUT", p+"/routes", map[string]string{simID(1): "not-a-cidr"})
	e.fail(400, "COM0004", "PUT", p+"/routes", `["a"]`)

	// Disabling documents only 204 and 404: it works with Gate closed.
	e.must(200, "POST", vpgs+"/"+v.VPGID+"/gate/close", nil)
	e.must(204, "POST", p+"/disable", nil)
	if e.getVPG(v.VPGID).EnableSimBasedRouting {
		t.Fatal("disable")
	}
	e.fail(404, "VPG0001", "POST", vpgs+"/vpg-nope/gate/routing/static/sims/disable", nil)
	e.must(200, "PUT", p+"/routes", map[string]string{})
	if cfg := e.getVPG(v.VPGID).SimBasedRoutingConfig; len(cfg) != 0 {
		t.Fatalf("emptied routes %v", cfg)
	}
}

func TestCanal(t *testing.T) {
	e := newEnv(t, soracom.Options{VPGCreateDelay: time.Minute})
	v := e.createVPG(map[string]any{"type": 15, "useInternetGateway": false})
	p := vpgs + "/" + v.VPGID + "/vpc_peering_connections"
	req := map[string]string{"destinationCidrBlock": "10.0.0.0/16", "peerOwnerId": "123456789012", "peerRegion": "ap-northeast-1", "peerVpcId": "vpc-0abc"}

	e.fail(400, "VPG0003", "POST", p, req) // still creating
	e.clk.Step(time.Minute)

	r := e.must(201, "POST", p, req)
	var pc map[string]string
	r.decode(t, &pc)
	if pc["id"] != "pcx-00000000000000001" || pc["destinationCidrBlock"] != "10.0.0.0/16" || pc["peerOwnerId"] != "123456789012" ||
		pc["peerRegion"] != "ap-northeast-1" || pc["peerVpcId"] != "vpc-0abc" {
		t.Fatalf("create response %v", pc)
	}
	reqs, _ := e.peer.snapshot()
	full, _ := e.srv.VPG(v.VPGID)
	want := peeringCall{soracom.SoracomAWSAccountID, full.SoracomVPCID, "100.64.0.0/24", "123456789012", "vpc-0abc", "ap-northeast-1"}
	if len(reqs) != 1 || reqs[0] != want || !strings.HasPrefix(full.SoracomVPCID, "vpc-soracom") {
		t.Fatalf("backend calls %+v, want %+v", reqs, want)
	}
	if got := e.getVPG(v.VPGID).VPCPeeringConnections; !reflect.DeepEqual(got, map[string]string{"pcx-00000000000000001": "10.0.0.0/16"}) {
		t.Fatalf("vpcPeeringConnections %v", got)
	}

	for name, body := range map[string]map[string]string{
		"public range":  {"destinationCidrBlock": "8.8.0.0/16", "peerOwnerId": "123456789012", "peerRegion": "ap-northeast-1", "peerVpcId": "vpc-0abc"},
		"shorter /16":   {"destinationCidrBlock": "10.0.0.0/8", "peerOwnerId": "123456789012", "peerRegion": "ap-northeast-1", "peerVpcId": "vpc-0abc"},
		"missing vpc":   {"destinationCidrBlock": "10.0.0.0/16", "peerOwnerId": "123456789012", "peerRegion": "ap-northeast-1"},
		"bad account":   {"destinationCidrBlock": "10.0.0.0/16", "peerOwnerId": "1234", "peerRegion": "ap-northeast-1", "peerVpcId": "vpc-0abc"},
		"bad cidr":      {"destinationCidrBlock": "10.0.0.0/40", "peerOwnerId": "123456789012", "peerRegion": "ap-northeast-1", "peerVpcId": "vpc-0abc"},
		"bad vpc id":    {"destinationCidrBlock": "10.0.0.0/16", "peerOwnerId": "123456789012", "peerRegion": "ap-northeast-1", "peerVpcId": "subnet-1"},
		"172.32 is not": {"destinationCidrBlock": "172.32.0.0/16", "peerOwnerId": "123456789012", "peerRegion": "ap-northeast-1", "peerVpcId": "vpc-0abc"},
	} {
		t.Run(name, func(t *testing.T) { e.fail(400, "VPG0002", "POST", p, body) })
	}
	e.must(201, "POST", p, map[string]string{"destinationCidrBlock": "192.168.10.0/24", "peerOwnerId": "123456789012", "peerRegion": "us-west-2", "peerVpcId": "vpc-0def"})

	// The AWS side refusing is a 400.
	e.peer.mu.Lock()
	e.peer.failNext = errAWS
	e.peer.mu.Unlock()
	r = e.fail(400, "VPG0004", "POST", p, req)
	if !strings.Contains(string(r.body), "InvalidVpcID.NotFound") {
		t.Fatalf("backend error body %s", r.body)
	}

	// Type-E is refused.
	ve := e.createVPG(map[string]any{"type": 14})
	e.clk.Step(time.Minute)
	e.fail(400, "VPG0003", "POST", vpgs+"/"+ve.VPGID+"/vpc_peering_connections", req)
	e.fail(404, "VPG0001", "POST", vpgs+"/vpg-nope/vpc_peering_connections", req)

	// Delete: 204, then 404; the AWS side is asked.
	e.must(204, "DELETE", p+"/pcx-00000000000000001", nil)
	e.fail(404, "VPG0001", "DELETE", p+"/pcx-00000000000000001", nil)
	if _, del := e.peer.snapshot(); !reflect.DeepEqual(del, []string{"pcx-00000000000000001"}) {
		t.Fatalf("deleted %v", del)
	}
	// A failing AWS side keeps the record.
	e.peer.mu.Lock()
	e.peer.deleteErr = errAWS
	e.peer.mu.Unlock()
	e.fail(500, "COM0002", "DELETE", p+"/pcx-00000000000000002", nil)
	e.peer.mu.Lock()
	e.peer.deleteErr = nil
	e.peer.mu.Unlock()
	if got := e.getVPG(v.VPGID).VPCPeeringConnections; len(got) != 1 {
		t.Fatalf("after failed delete %v", got)
	}

	// Terminating the VPG deletes its remaining peerings on the AWS side.
	e.must(200, "POST", vpgs+"/"+v.VPGID+"/terminate", nil)
	if _, del := e.peer.snapshot(); !reflect.DeepEqual(del, []string{"pcx-00000000000000001", "pcx-00000000000000002"}) {
		t.Fatalf("deleted after terminate %v", del)
	}
	if n := e.srv.Faults().Count(soracom.API, soracom.OpCreateVPCPeering); n != 13 {
		t.Fatalf("create peering calls %d", n)
	}
}

func TestCanalWithoutBackend(t *testing.T) {
	e := setup(t, soracom.Options{}, false)
	v := e.createVPG(map[string]any{"type": 15})
	var pc map[string]string
	e.must(201, "POST", vpgs+"/"+v.VPGID+"/vpc_peering_connections",
		map[string]string{"destinationCidrBlock": "10.1.0.0/16", "peerOwnerId": "123456789012", "peerRegion": "ap-northeast-1", "peerVpcId": "vpc-1"}).decode(t, &pc)
	if !regexp.MustCompile(`^pcx-[0-9a-f]{17}$`).MatchString(pc["id"]) {
		t.Fatalf("pcx id %q", pc["id"])
	}
	e.must(204, "DELETE", vpgs+"/"+v.VPGID+"/vpc_peering_connections/"+pc["id"], nil)
	var raw map[string]json.RawMessage
	e.must(200, "GET", vpgs+"/"+v.VPGID, nil).decode(t, &raw)
	if string(raw["vpcPeeringConnections"]) != "{}" {
		t.Fatalf("vpcPeeringConnections %s", raw["vpcPeeringConnections"])
	}
}

func TestDriftHelpers(t *testing.T) {
	e := newEnv(t, soracom.Options{VPGTerminateDelay: time.Minute})
	v := e.createVPG(map[string]any{"type": 15, "deviceSubnetCidrRange": "10.200.0.0/29"})
	p := vpgs + "/" + v.VPGID
	e.must(200, "POST", p+"/gate/open", map[string]any{"privacySeparatorEnabled": true})
	e.must(200, "POST", p+"/gate/peers", map[string]string{"outerIpAddress": "10.0.1.10"})
	var pc map[string]string
	e.must(201, "POST", p+"/vpc_peering_connections",
		map[string]string{"destinationCidrBlock": "10.0.0.0/16", "peerOwnerId": "123456789012", "peerRegion": "ap-northeast-1", "peerVpcId": "vpc-0abc"}).decode(t, &pc)

	if err := e.srv.SetPrivacySeparator(v.VPGID, false); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.RemoveGatePeers(v.VPGID); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.ForgetPeering(v.VPGID, pc["id"]); err != nil {
		t.Fatal(err)
	}
	got := e.getVPG(v.VPGID)
	if got.GatePrivacySeparatorEnabled || len(got.VPCPeeringConnections) != 0 {
		t.Fatalf("drift not visible %+v", got)
	}
	var peers []soracom.GatePeer
	e.must(200, "GET", p+"/gate/peers", nil).decode(t, &peers)
	if len(peers) != 1 || peers[0].OwnedByCustomer {
		t.Fatalf("peers %+v", peers)
	}
	// ForgetPeering leaves the AWS side alone.
	if _, del := e.peer.snapshot(); len(del) != 0 {
		t.Fatalf("deleted %v", del)
	}

	// A /29 device subnet has four addresses for SIMs (the VPG's own Gate
	// peer takes the last usable one); the fifth session stays off the VPG.
	g := e.createGroup(map[string]any{"configuration": map[string]any{"SoracomAir": map[string]any{"useVpg": true, "vpgId": v.VPGID}}})
	if got, ok := e.srv.Group(g.GroupID); !ok || string(got.Configuration["SoracomAir"]["vpgId"]) != `"`+v.VPGID+`"` {
		t.Fatalf("Group() %+v", got)
	}
	for i := 1; i <= 5; i++ {
		e.srv.AddSIM(soracom.SIM{ID: simID(i), IMSI: imsi(i), GroupID: g.GroupID, Online: true})
	}
	var addrs []string
	for i := 1; i <= 5; i++ {
		s, _ := e.srv.SIM(simID(i))
		if i <= 4 && s.VPGID != v.VPGID || i == 5 && s.VPGID != "" {
			t.Fatalf("SIM %d %+v", i, s)
		}
		addrs = append(addrs, s.UEIPAddress)
	}
	if !reflect.DeepEqual(addrs[:4], []string{"10.200.0.2", "10.200.0.3", "10.200.0.4", "10.200.0.5"}) {
		t.Fatalf("addresses %v", addrs)
	}

	// Someone terminates the VPG in the console.
	if err := e.srv.TerminateVPG(v.VPGID); err != nil {
		t.Fatal(err)
	}
	if got := e.getVPG(v.VPGID).Status; got != "terminating" {
		t.Fatalf("status %q", got)
	}
	e.clk.Step(time.Minute)
	e.fail(404, "VPG0001", "GET", p, nil)
	if err := e.srv.TerminateVPG(v.VPGID); err == nil {
		t.Fatal("TerminateVPG on a gone VPG")
	}
	if _, ok := e.srv.VPG(v.VPGID); ok {
		t.Fatal("VPG() still returns a gone VPG")
	}
	// Sessions that reconnect now stay off the gone VPG.
	if err := e.srv.SetSIMOnline(simID(1), true, ""); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.srv.SIM(simID(1)); s.VPGID != "" {
		t.Fatalf("SIM on a gone VPG: %+v", s)
	}
}
