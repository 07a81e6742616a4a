package soracom_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatestream/gatestream/internal/emulator/soracom"
)

func TestGroups(t *testing.T) {
	e := newEnv(t, soracom.Options{})
	g := e.createGroup(map[string]any{
		"tags":          map[string]string{"name": "line-a", "gatestream.io/owner": "uid-1"},
		"configuration": map[string]any{"SoracomAir": map[string]any{"useCustomDns": false}},
	})
	if g.OperatorID != opA || g.Tags["name"] != "line-a" || string(g.Configuration["SoracomAir"]["useCustomDns"]) != "false" ||
		g.CreatedTime != t0.UnixMilli() || g.CreatedAt != g.CreatedTime {
		t.Fatalf("created %+v", g)
	}
	e2 := e.createGroup(nil) // body optional
	if len(e2.Tags) != 0 || len(e2.Configuration) != 0 {
		t.Fatalf("empty group %+v", e2)
	}
	e.fail(400, "GRP0002", "POST", "/v1/groups", map[string]any{"configuration": map[string]any{"SoracomNope": map[string]any{}}})
	if n := e.srv.GroupsEverCreated(); n != 2 {
		t.Fatalf("GroupsEverCreated %d", n)
	}

	p := "/v1/groups/" + g.GroupID
	var got soracom.Group
	e.must(200, "GET", p, nil).decode(t, &got)
	if !reflect.DeepEqual(got, g) {
		t.Fatalf("get %+v\nwant %+v", got, g)
	}
	var list []soracom.Group
	e.must(200, "GET", "/v1/groups?tag_name=name&tag_value=line&tag_value_match_mode=prefix", nil).decode(t, &list)
	if len(list) != 1 || list[0].GroupID != g.GroupID {
		t.Fatalf("list by tag %+v", list)
	}
	e.must(200, "GET", "/v1/groups", nil).decode(t, &list)
	if len(list) != 2 {
		t.Fatalf("list %+v", list)
	}

	// Tags: PUT returns the Group.
	e.clk.Step(time.Second)
	e.must(200, "PUT", p+"/tags", []map[string]string{{"tagName": "site", "tagValue": "osaka"}}).decode(t, &got)
	if got.Tags["site"] != "osaka" || got.Tags["name"] != "line-a" || got.LastModifiedTime != t0.Add(time.Second).UnixMilli() {
		t.Fatalf("tags %+v", got)
	}
	e.must(204, "DELETE", p+"/tags/gatestream.io%2Fowner", nil)
	e.fail(404, "GRP0001", "DELETE", p+"/tags/gatestream.io%2Fowner", nil)

	// Configuration merges per key.
	bind := []map[string]any{{"key": "useVpg", "value": true}, {"key": "vpgId", "value": "vpg-123"}}
	e.must(200, "PUT", p+"/configuration/SoracomAir", bind).decode(t, &got)
	wantAir := map[string]string{"useCustomDns": "false", "useVpg": "true", "vpgId": `"vpg-123"`}
	if air := rawStrings(got.Configuration["SoracomAir"]); !reflect.DeepEqual(air, wantAir) {
		t.Fatalf("SoracomAir %v", air)
	}
	e.must(200, "PUT", p+"/configuration/SoracomAir", []map[string]any{{"key": "dnsServers", "value": []string{"8.8.8.8"}}, {"key": "useVpg", "value": false}}).decode(t, &got)
	wantAir["useVpg"], wantAir["dnsServers"] = "false", `["8.8.8.8"]`
	if air := rawStrings(got.Configuration["SoracomAir"]); !reflect.DeepEqual(air, wantAir) {
		t.Fatalf("SoracomAir after merge %v", air)
	}
	e.fail(400, "GRP0002", "PUT", p+"/configuration/SoracomAir", []map[string]any{{"key": "x"}})
	e.fail(400, "GRP0002", "PUT", p+"/configuration/Bogus", bind)
	e.fail(404, "GRP0001", "PUT", "/v1/groups/nope/configuration/SoracomAir", bind)

	// Delete one key, then the namespace; an absent namespace is 400.
	e.must(204, "DELETE", p+"/configuration/SoracomAir/vpgId", nil)
	e.fail(404, "GRP0001", "DELETE", p+"/configuration/SoracomAir/vpgId", nil)
	e.must(200, "GET", p, nil).decode(t, &got)
	if _, ok := got.Configuration["SoracomAir"]["vpgId"]; ok {
		t.Fatal("vpgId not deleted")
	}
	e.must(204, "DELETE", p+"/configuration/SoracomAir", nil)
	e.fail(400, "GRP0003", "DELETE", p+"/configuration/SoracomAir", nil)
	e.fail(404, "GRP0001", "DELETE", "/v1/groups/nope/configuration/SoracomAir", nil)

	// Delete the group: 204, then 404 everywhere.
	e.must(204, "DELETE", p, nil)
	e.fail(404, "GRP0001", "DELETE", p, nil)
	e.fail(404, "GRP0001", "GET", p, nil)
	e.fail(404, "GRP0001", "GET", p+"/subscribers", nil)
	e.fail(404, "GRP0001", "PUT", p+"/tags", []map[string]string{{"tagName": "a", "tagValue": "b"}})
	if gs := e.srv.Groups(); len(gs) != 1 || gs[0].GroupID != e2.GroupID {
		t.Fatalf("Groups() %+v", gs)
	}
}

func rawStrings(m map[string]json.RawMessage) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

func TestSIMs(t *testing.T) {
	e := newEnv(t, soracom.Options{VPGCreateDelay: time.Minute})
	e.srv.AddSIM(soracom.SIM{ID: simID(1), IMSI: imsi(1), Tags: map[string]string{"name": "raspi-1"}})
	e.srv.AddSIM(soracom.SIM{ID: simID(2), IMSI: imsi(2), Online: true, UEIPAddress: "10.1.2.3"})

	var s sim
	e.must(200, "GET", "/v1/sims/"+simID(1), nil).decode(t, &s)
	if s.SimID != simID(1) || s.IMSI != imsi(1) || s.Status != "active" || s.OperatorID != opA || s.Tags["name"] != "raspi-1" ||
		s.GroupID != "" || s.SessionStatus.Online {
		t.Fatalf("sim %+v", s)
	}
	e.fail(404, "SEM0001", "GET", "/v1/sims/nope", nil)

	// Offline SIM: delete_session is SEM0016 (documented).
	r := e.fail(400, "SEM0016", "POST", "/v1/sims/"+simID(1)+"/delete_session", nil)
	if !strings.Contains(string(r.body), "The specified subscriber is offline") {
		t.Fatalf("SEM0016 body %s", r.body)
	}

	// A group bound to a VPG that is still creating: the session does not use it.
	v := e.createVPG(map[string]any{"type": 15, "deviceSubnetCidrRange": "10.128.0.0/9"})
	g := e.createGroup(map[string]any{"configuration": map[string]any{"SoracomAir": map[string]any{"useVpg": true, "vpgId": v.VPGID}}})
	e.must(200, "POST", "/v1/sims/"+simID(2)+"/set_group", map[string]string{"groupId": g.GroupID}).decode(t, &s)
	if s.GroupID != g.GroupID || !s.SessionStatus.Online || s.SessionStatus.UEIPAddress != "10.1.2.3" {
		t.Fatalf("set_group %+v", s) // the live session is unchanged by a group change
	}
	first := s.SessionStatus.SessionID
	e.must(200, "POST", "/v1/sims/"+simID(2)+"/delete_session", nil).decode(t, &s)
	if s.SessionStatus.VPGID != "" || s.SessionStatus.SessionID == first || !s.SessionStatus.Online {
		t.Fatalf("session while VPG creating %+v", s)
	}

	// Running VPG: delete_session moves the SIM onto it.
	e.clk.Step(time.Minute)
	prev := s.SessionStatus.SessionID
	e.must(200, "POST", "/v1/sims/"+simID(2)+"/delete_session", nil).decode(t, &s)
	ip := netip.MustParseAddr(s.SessionStatus.UEIPAddress)
	if !netip.MustParsePrefix("10.128.0.0/9").Contains(ip) || s.SessionStatus.VPGID != v.VPGID || s.SessionStatus.SessionID == prev ||
		s.SessionStatus.IMSI != imsi(2) || s.SessionStatus.LastUpdatedAt != t0.Add(time.Minute).UnixMilli() {
		t.Fatalf("session on VPG %+v", s.SessionStatus)
	}
	if got, _ := e.srv.SIM(simID(2)); got.VPGID != v.VPGID || got.UEIPAddress != ip.String() || got.GroupID != g.GroupID {
		t.Fatalf("Go API SIM %+v", got)
	}
	// Another SIM coming online in the group gets another address of the subnet.
	e.must(200, "POST", "/v1/sims/"+simID(1)+"/set_group", map[string]string{"groupId": g.GroupID})
	if err := e.srv.SetSIMOnline(simID(1), true, ""); err != nil {
		t.Fatal(err)
	}
	s1, _ := e.srv.SIM(simID(1))
	if s1.VPGID != v.VPGID || s1.UEIPAddress == ip.String() || !netip.MustParsePrefix("10.128.0.0/9").Contains(netip.MustParseAddr(s1.UEIPAddress)) {
		t.Fatalf("second SIM %+v", s1)
	}
	if err := e.srv.SetSIMOnline(simID(1), false, ""); err != nil {
		t.Fatal(err)
	}
	e.fail(400, "SEM0016", "POST", "/v1/sims/"+simID(1)+"/delete_session", nil)
	if err := e.srv.SetSIMOnline("nope", true, ""); err == nil {
		t.Fatal("SetSIMOnline unknown SIM")
	}

	// Unbinding the group from the VPG takes effect at the next session.
	e.must(200, "PUT", "/v1/groups/"+g.GroupID+"/configuration/SoracomAir", []map[string]any{{"key": "useVpg", "value": false}})
	s = sim{}
	e.must(200, "POST", "/v1/sims/"+simID(2)+"/delete_session", nil).decode(t, &s)
	if s.SessionStatus.VPGID != "" || netip.MustParsePrefix("10.128.0.0/9").Contains(netip.MustParseAddr(s.SessionStatus.UEIPAddress)) {
		t.Fatalf("session after unbinding %+v", s.SessionStatus)
	}

	// set_group / unset_group errors and results.
	e.fail(404, "GRP0001", "POST", "/v1/sims/"+simID(2)+"/set_group", map[string]string{"groupId": "nope"})
	e.fail(404, "SEM0001", "POST", "/v1/sims/nope/set_group", map[string]string{"groupId": g.GroupID})
	e.fail(400, "SEM0002", "POST", "/v1/sims/"+simID(2)+"/set_group", map[string]string{})
	e.fail(404, "SEM0001", "POST", "/v1/sims/nope/unset_group", nil)
	e.fail(404, "SEM0001", "POST", "/v1/sims/nope/delete_session", nil)
	e.must(200, "POST", "/v1/sims/"+simID(2)+"/unset_group", nil).decode(t, &s)
	if s.GroupID != "" {
		t.Fatalf("unset_group %+v", s)
	}
	e.must(200, "POST", "/v1/sims/"+simID(2)+"/unset_group", nil) // not in a group: still 200

	// Deleting a group with SIMs: allowed, the SIMs lose their groupId.
	e.must(204, "DELETE", "/v1/groups/"+g.GroupID, nil)
	e.must(200, "GET", "/v1/sims/"+simID(1), nil).decode(t, &s)
	if s.GroupID != "" {
		t.Fatalf("SIM still in deleted group: %+v", s)
	}
}

func TestPagination250SIMsInGroup(t *testing.T) {
	e := newEnv(t, soracom.Options{})
	g := e.createGroup(map[string]any{"tags": map[string]string{"name": "big"}})
	// Seed in reverse so the order has to come from the emulator.
	for i := 250; i >= 1; i-- {
		e.srv.AddSIM(soracom.SIM{ID: simID(i), IMSI: imsi(i), GroupID: g.GroupID})
	}
	e.srv.AddSIM(soracom.SIM{ID: simID(999), IMSI: imsi(999)}) // not in the group

	walk := func(start string) (pages []int, ids []string) {
		path := start
		for {
			r := e.must(200, "GET", path, nil)
			var page []sim
			r.decode(t, &page)
			pages = append(pages, len(page))
			for _, s := range page {
				ids = append(ids, s.SimID)
			}
			next, link := r.header.Get("X-Soracom-Next-Key"), r.header.Get("Link")
			if next == "" || link == "" {
				if next != "" || link != "" {
					t.Fatalf("only one pagination header: next %q link %q", next, link)
				}
				return pages, ids
			}
			if next != page[len(page)-1].SimID {
				t.Fatalf("next key %q, last item %q", next, page[len(page)-1].SimID)
			}
			u := linkURL(t, link)
			if u.Query().Get("last_evaluated_key") != next {
				t.Fatalf("link %q vs next %q", link, next)
			}
			path = u.RequestURI()
		}
	}
	check := func(name string, pages []int, ids []string, wantPages []int, wantN int) {
		t.Helper()
		if !reflect.DeepEqual(pages, wantPages) || len(ids) != wantN || !sortedStrings(ids) {
			t.Fatalf("%s: pages %v, %d ids (sorted %v)", name, pages, len(ids), sortedStrings(ids))
		}
	}
	pages, ids := walk("/v1/groups/" + g.GroupID + "/subscribers")
	check("default", pages, ids, []int{100, 100, 50}, 250)
	if ids[0] != simID(1) || ids[249] != simID(250) {
		t.Fatalf("order %s..%s", ids[0], ids[249])
	}
	pages, ids = walk("/v1/groups/" + g.GroupID + "/subscribers?limit=30")
	check("limit=30", pages, ids, []int{30, 30, 30, 30, 30, 30, 30, 30, 10}, 250)
	pages, ids = walk("/v1/groups/" + g.GroupID + "/subscribers?limit=1000")
	check("limit=1000", pages, ids, []int{100, 100, 50}, 250)
	pages, ids = walk("/v1/groups/" + g.GroupID + "/subscribers?limit=125")
	check("limit=125", pages, ids, []int{100, 100, 50}, 250)
	pages, ids = walk("/v1/sims?limit=251")
	check("sims", pages, ids, []int{100, 100, 51}, 251)

	// last_evaluated_key of a SIM that has since left still continues after it.
	r := e.must(200, "GET", "/v1/groups/"+g.GroupID+"/subscribers?limit=10", nil)
	next := r.header.Get("X-Soracom-Next-Key")
	e.must(200, "POST", "/v1/sims/"+next+"/unset_group", nil)
	var page []sim
	e.must(200, "GET", "/v1/groups/"+g.GroupID+"/subscribers?limit=10&last_evaluated_key="+next, nil).decode(t, &page)
	if page[0].SimID != simID(11) {
		t.Fatalf("continued at %s", page[0].SimID)
	}
	// Exactly one full page left (152..250 and 999): no next key.
	r = e.must(200, "GET", "/v1/sims?limit=100&last_evaluated_key="+simID(151), nil)
	page = nil
	r.decode(t, &page)
	if len(page) != 100 || page[99].SimID != simID(999) {
		t.Fatalf("last page %d items", len(page))
	}
	if r.header.Get("X-Soracom-Next-Key") != "" {
		t.Fatalf("next key on last full page: %q", r.header.Get("X-Soracom-Next-Key"))
	}
}

// TestConcurrent creates groups and moves SIMs from 20 goroutines; run with -race.
func TestConcurrent(t *testing.T) {
	e := newEnv(t, soracom.Options{})
	const workers, simsEach = 20, 5
	for i := range workers * simsEach {
		e.srv.AddSIM(soracom.SIM{ID: simID(i), IMSI: imsi(i), Online: true})
	}
	v := e.createVPG(map[string]any{"type": 15})
	e.getVPG(v.VPGID)

	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			if err := worker(e, w, simsEach, v.VPGID); err != nil {
				errs <- fmt.Errorf("worker %d: %w", w, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.srv.GroupsEverCreated(); n != workers {
		t.Fatalf("GroupsEverCreated %d", n)
	}
	ips := map[string]string{}
	for _, s := range e.srv.SIMs() {
		if s.GroupID == "" || s.VPGID != v.VPGID {
			t.Fatalf("SIM %+v", s)
		}
		if other, dup := ips[s.UEIPAddress]; dup {
			t.Fatalf("address %s given to %s and %s", s.UEIPAddress, other, s.ID)
		}
		ips[s.UEIPAddress] = s.ID
	}
	if n := e.srv.Faults().Count(soracom.API, soracom.OpSetSimGroup); n != workers*simsEach {
		t.Fatalf("set_group calls %d", n)
	}
}

func worker(e *env, w, n int, vpgID string) error {
	apiKey, token := e.apiKey, e.token
	call := func(want int, method, path string, body any, out any) error {
		r, err := e.send(method, path, body, apiKey, token)
		if err != nil {
			return err
		}
		if r.status != want {
			return fmt.Errorf("%s %s: %d %s", method, path, r.status, r.body)
		}
		if out != nil {
			return json.Unmarshal(r.body, out)
		}
		return nil
	}
	var g soracom.Group
	if err := call(201, "POST", "/v1/groups", map[string]any{"tags": map[string]string{"worker": fmt.Sprint(w)}}, &g); err != nil {
		return err
	}
	if err := call(200, "PUT", "/v1/groups/"+g.GroupID+"/configuration/SoracomAir",
		[]map[string]any{{"key": "useVpg", "value": true}, {"key": "vpgId", "value": vpgID}}, nil); err != nil {
		return err
	}
	for i := range n {
		id := simID(w*n + i)
		var s sim
		if err := call(200, "POST", "/v1/sims/"+id+"/set_group", map[string]string{"groupId": g.GroupID}, &s); err != nil {
			return err
		}
		if err := call(200, "POST", "/v1/sims/"+id+"/delete_session", nil, &s); err != nil {
			return err
		}
		if s.GroupID != g.GroupID || s.SessionStatus.VPGID != vpgID {
			return fmt.Errorf("sim %s: %+v", id, s)
		}
	}
	var list []sim
	if err := call(200, "GET", "/v1/groups/"+g.GroupID+"/subscribers", nil, &list); err != nil {
		return err
	}
	if len(list) != n {
		return fmt.Errorf("group has %d SIMs", len(list))
	}
	return call(200, "GET", "/v1/groups?tag_name=worker&tag_value="+fmt.Sprint(w), nil, nil)
}
