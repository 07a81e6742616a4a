package devicegroup

import (
	"strings"
	"testing"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/conditions"
)

// The group copies the environment's path check of each device, but only
// for the address the check was walked to: a device whose address changed
// since is not reported reachable until the environment walks it again.
func TestApplyReachabilityTrustsTheCheckOnlyAtItsAddress(t *testing.T) {
	dg := &accessv1alpha1.DeviceGroup{}
	dg.Name = "line-a"
	dg.Status.Devices = []accessv1alpha1.DeviceStatus{
		{Name: "pi", Online: true, Address: "10.128.0.7"},
		{Name: "plc", Online: true, Address: "10.128.0.9"},
		{Name: "meter", Online: true, Address: "10.128.0.11"},
		{Name: "cam", Online: true, Address: "10.128.0.12"},
	}
	p := &Pass{DG: dg, paths: []accessv1alpha1.DevicePath{
		{DeviceGroup: "line-a", Device: "pi", Address: "10.128.0.7", Reachable: true, Path: "reachable via i-1"},
		{DeviceGroup: "line-a", Device: "plc", Address: "10.128.0.8", Reachable: true, Path: "reachable via i-1"},
		{DeviceGroup: "line-b", Device: "meter", Address: "10.128.0.11", Reachable: true},
		{DeviceGroup: "line-a", Device: "cam", Path: "SIM: offline"},
	}}
	ApplyReachability(p)
	got := map[string]accessv1alpha1.DeviceStatus{}
	for _, d := range dg.Status.Devices {
		got[d.Name] = d
	}
	if d := got["pi"]; !d.Reachable || d.Path != "reachable via i-1" {
		t.Errorf("pi: %+v; want reachable at the address walked", d)
	}
	if d := got["plc"]; d.Reachable || !strings.Contains(d.Path, "not checked yet at 10.128.0.9: the environment walked the path to 10.128.0.8") {
		t.Errorf("plc: %+v; want not reachable: walked to its old address", d)
	}
	if d := got["meter"]; d.Reachable || !strings.Contains(d.Path, "not checked yet") {
		t.Errorf("meter: %+v; want not reachable: only another group's device of that name was walked", d)
	}
	if d := got["cam"]; d.Reachable || !strings.Contains(d.Path, "not checked yet at 10.128.0.12: the environment checked the device before its address was known") {
		t.Errorf("cam: %+v; want not reachable: checked before it had an address", d)
	}
	if conditions.IsTrue(dg.Status.Conditions, accessv1alpha1.ConditionDevicesReachable) || !strings.HasPrefix(dg.Status.Reachability, "1/4 reachable") {
		t.Errorf("DevicesReachable %v, reachability %q", dg.Status.Conditions, dg.Status.Reachability)
	}
}
