package devicegroup

import (
	"fmt"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/conditions"
	"github.com/gatestream/gatestream/internal/session/target"
)

// ApplyReachability copies the environment's hop-by-hop check of each named
// device (the environment observes the VPC, the routers and the gateway; the
// group observes the SIMs, which the environment reads back from this
// status) into the devices' status, sums it up in status.reachability and
// sets DevicesReachable. A device the environment has not walked yet is
// reported not reachable, with the reason: nothing is claimed unchecked.
func ApplyReachability(p *Pass) {
	dg := p.DG
	byName := map[string]accessv1alpha1.DevicePath{}
	for _, d := range p.paths {
		if d.DeviceGroup == dg.Name {
			byName[d.Device] = d
		}
	}
	reachable, first := 0, ""
	for i := range dg.Status.Devices {
		ds := &dg.Status.Devices[i]
		path, ok := byName[ds.Name]
		switch {
		case !ok:
			ds.Reachable, ds.BrokenHop = false, nil
			ds.Path = target.NotChecked
		default:
			ds.Reachable, ds.Path = target.CheckedAt(path, ds.Address)
			ds.BrokenHop = nil
			if path.Address == ds.Address { // the hop named is of this address
				ds.BrokenHop = path.BrokenHop
			}
		}
		if ds.Reachable {
			reachable++
		} else if first == "" {
			first = fmt.Sprintf("%s: %s", ds.Name, ds.Path)
		}
	}
	total := len(dg.Status.Devices)
	conds, gen := &dg.Status.Conditions, dg.Generation
	switch {
	case total == 0:
		dg.Status.Reachability = ""
		conditions.True(conds, gen, accessv1alpha1.ConditionDevicesReachable, accessv1alpha1.ReasonAvailable, "no named devices")
	case reachable == total:
		dg.Status.Reachability = fmt.Sprintf("%d/%d reachable", reachable, total)
		conditions.True(conds, gen, accessv1alpha1.ConditionDevicesReachable, accessv1alpha1.ReasonAvailable, dg.Status.Reachability)
	default:
		dg.Status.Reachability = fmt.Sprintf("%d/%d reachable; %s", reachable, total, first)
		conditions.False(conds, gen, accessv1alpha1.ConditionDevicesReachable, accessv1alpha1.ReasonUnreachable, dg.Status.Reachability)
	}
}
