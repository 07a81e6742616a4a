package devicegroup_test

import (
	"testing"
	"time"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/devicegroup"
	"github.com/gatestream/gatestream/internal/soracom"
)

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
