package devicegroup_test

import (
	"maps"
	"sync"
	"testing"
	"time"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/devicegroup"
	"github.com/gatestream/gatestream/internal/soracom"
)

func groupWithAir(air map[string]any) *soracom.Group {
	g := &soracom.Group{GroupID: "g-1"}
	if air != nil {
		g.Configuration = map[string]map[string]any{soracom.NamespaceSoracomAir: air}
	}
	return g
}

func keys(kv []soracom.KeyValue) map[string]any {
	out := map[string]any{}
	for _, p := range kv {
		out[p.Key] = p.Value
	}
	return out
}

func TestBindingDiff(t *testing.T) {
	cases := []struct {
		name string
		air  map[string]any
		want map[string]any
	}{
		{"no configuration", nil, map[string]any{"useVpg": true, "vpgId": "vpg-a"}},
		{"in sync", map[string]any{"useVpg": true, "vpgId": "vpg-a", "useCustomDns": true}, map[string]any{}},
		{"other VPG", map[string]any{"useVpg": true, "vpgId": "vpg-b"}, map[string]any{"vpgId": "vpg-a"}},
		{"turned off", map[string]any{"useVpg": false, "vpgId": "vpg-a"}, map[string]any{"useVpg": true}},
		{"string true is rewritten as a boolean", map[string]any{"useVpg": "true", "vpgId": "vpg-a"}, map[string]any{"useVpg": true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := keys(devicegroup.BindingDiff(groupWithAir(c.air), "vpg-a"))
			if !maps.Equal(got, c.want) {
				t.Fatalf("BindingDiff = %v, want %v", got, c.want)
			}
		})
	}
}

func TestUnbindDiff(t *testing.T) {
	if kv := devicegroup.UnbindDiff(groupWithAir(map[string]any{"useVpg": true, "vpgId": "vpg-a"}), "vpg-a"); len(kv) != 1 || kv[0].Key != "useVpg" || kv[0].Value != false {
		t.Fatalf("unbind from our VPG = %v", kv)
	}
	if kv := devicegroup.UnbindDiff(groupWithAir(map[string]any{"useVpg": true, "vpgId": "vpg-b"}), "vpg-a"); kv != nil {
		t.Fatalf("a group rebound elsewhere must be left alone, got %v", kv)
	}
	if kv := devicegroup.UnbindDiff(groupWithAir(map[string]any{"useVpg": false, "vpgId": "vpg-a"}), "vpg-a"); kv != nil {
		t.Fatalf("already unbound, got %v", kv)
	}
	if got := devicegroup.BoundVPG(groupWithAir(map[string]any{"useVpg": "true", "vpgId": "vpg-a"})); got != "vpg-a" {
		t.Fatalf("BoundVPG = %q", got)
	}
}

func TestMergeRoutes(t *testing.T) {
	current := map[string]string{"ours-1": "192.168.1.0/24", "ours-2": "192.168.2.0/24", "theirs": "10.10.0.0/24"}
	next, changed := devicegroup.MergeRoutes(current, []string{"ours-1", "ours-2", "ours-3"}, map[string]string{"ours-1": "192.168.9.0/24", "ours-3": "192.168.3.0/24"})
	want := map[string]string{"ours-1": "192.168.9.0/24", "ours-3": "192.168.3.0/24", "theirs": "10.10.0.0/24"}
	if !changed || !maps.Equal(next, want) {
		t.Fatalf("merge = %v (changed %v), want %v", next, changed, want)
	}
	if current["ours-2"] == "" {
		t.Fatal("MergeRoutes modified its input")
	}
	if _, changed := devicegroup.MergeRoutes(want, []string{"ours-1", "ours-3"}, map[string]string{"ours-1": "192.168.9.0/24", "ours-3": "192.168.3.0/24"}); changed {
		t.Fatal("in sync but reported changed")
	}
	if next, changed := devicegroup.MergeRoutes(nil, nil, nil); changed || len(next) != 0 {
		t.Fatalf("empty merge = %v %v", next, changed)
	}
}

func TestParseRouteConfig(t *testing.T) {
	cases := []struct {
		name string
		in   any
		want map[string]string
		ok   bool
	}{
		{"absent", nil, map[string]string{}, true},
		{"map", map[string]any{"111": "192.168.1.0/24"}, map[string]string{"111": "192.168.1.0/24"}, true},
		{"under routes", map[string]any{"routes": map[string]any{"111": "192.168.1.0/24"}}, map[string]string{"111": "192.168.1.0/24"}, true},
		{"list", []any{map[string]any{"simId": "111", "destinationCidr": "192.168.1.0/24"}}, map[string]string{"111": "192.168.1.0/24"}, true},
		{"unknown values", map[string]any{"111": 5}, nil, false},
		{"unknown type", "x", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := devicegroup.ParseRouteConfig(c.in)
			if ok != c.ok || !maps.Equal(got, c.want) {
				t.Fatalf("got %v %v, want %v %v", got, ok, c.want, c.ok)
			}
		})
	}
}

func TestDeviceStatuses(t *testing.T) {
	seen := time.Date(2026, 11, 2, 9, 0, 0, 123e6, time.UTC)
	inGroup := map[string]soracom.SIM{
		"111": {SimID: "111", SessionStatus: soracom.SessionStatus{Online: true, UEIPAddress: "10.128.0.7", LastUpdatedAt: soracom.UnixMillis(seen.UnixMilli())}},
		"222": {SimID: "222", SessionStatus: soracom.SessionStatus{Online: false}},
	}
	routes := []accessv1alpha1.LANRoute{{SIMID: "222", CIDR: "192.168.1.0/24"}}
	devices := []accessv1alpha1.Device{
		{Name: "pi", SIMID: "111"},
		{Name: "plc", SIMID: "222", Address: "192.168.1.20"},
		{Name: "stray", SIMID: "222", Address: "192.168.5.20"}, // not inside the router's LAN route
		{Name: "gone", SIMID: "333"},                           // SIM not in the group
	}
	got := devicegroup.DeviceStatuses(devices, routes, inGroup)
	if len(got) != 4 {
		t.Fatalf("got %d devices", len(got))
	}
	if d := got[0]; !d.Online || d.Address != "10.128.0.7" || d.LastSeen == nil || !d.LastSeen.Time.Equal(seen.Truncate(time.Second)) {
		t.Fatalf("pi = %+v", d)
	}
	if d := got[1]; d.Online || d.Address != "192.168.1.20" || d.LastSeen != nil {
		t.Fatalf("plc = %+v", d)
	}
	if d := got[2]; d.Address != "" {
		t.Fatalf("an address outside the router's LAN must not be reported: %+v", d)
	}
	if d := got[3]; d.Online || d.Address != "" || d.SIMID != "333" {
		t.Fatalf("gone = %+v", d)
	}
	if c := devicegroup.Counts(inGroup); c.Total != 2 || c.Online != 1 {
		t.Fatalf("counts = %+v", c)
	}
	if dr := devicegroup.DesiredRoutes(append(routes, accessv1alpha1.LANRoute{SIMID: "999", CIDR: "10.0.0.0/24"}), inGroup); len(dr) != 1 || dr["222"] == "" {
		t.Fatalf("desired routes = %v (a SIM outside the group gets no route)", dr)
	}
}

func TestOwnedRouteSIMs(t *testing.T) {
	res := &devicegroup.MembershipResult{
		Members: []string{"b"},
		Removed: []string{"c"},
		Wanted:  []string{"b", "d", "e"},
		InGroup: map[string]soracom.SIM{"b": {}, "d": {}},
	}
	got := devicegroup.OwnedRouteSIMs([]string{"a", "b", "c"}, res)
	// a left the group outside gatestream (it may be another DeviceGroup's now)
	// and e is wanted but not in the group (a conflict): neither is ours.
	want := []string{"b", "c", "d"}
	if len(got) != len(want) {
		t.Fatalf("owned = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("owned = %v, want %v", got, want)
		}
	}
}

func TestMatchesTags(t *testing.T) {
	tags := map[string]string{"site": "osaka", "line": "a"}
	if !devicegroup.MatchesTags(tags, map[string]string{"site": "osaka"}) {
		t.Fatal("subset should match")
	}
	if devicegroup.MatchesTags(tags, map[string]string{"site": "osaka", "line": "b"}) {
		t.Fatal("all tags must match")
	}
	if devicegroup.MatchesTags(tags, nil) {
		t.Fatal("an empty selector selects nothing")
	}
}

func TestKeyedMutex(t *testing.T) {
	var km devicegroup.KeyedMutex
	var mu sync.Mutex
	inside := 0
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock := km.Lock("vpg-a")
			mu.Lock()
			inside++
			if inside != 1 {
				t.Errorf("%d holders of one key", inside)
			}
			mu.Unlock()
			mu.Lock()
			inside--
			mu.Unlock()
			unlock()
		}()
	}
	wg.Wait()
	// Another key does not wait for the first.
	u1 := km.Lock("vpg-a")
	u2 := km.Lock("vpg-b")
	u2()
	u1()
}
