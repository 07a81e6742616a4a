package devicegroup_test

import (
	"maps"
	"testing"

	"github.com/gatestream/gatestream/internal/devicegroup"
	emu "github.com/gatestream/gatestream/internal/emulator/soracom"
	"github.com/gatestream/gatestream/internal/soracom"
	"k8s.io/utils/keymutex"
)

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

func TestRoutesUnitMerges(t *testing.T) {
	w := newWorld(t, 0)
	v, err := w.c.CreateVirtualPrivateGateway(w.ctx, &soracom.CreateVirtualPrivateGatewayRequest{Type: soracom.VPGTypeF})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.c.PutSimBasedRoutingRoutes(w.ctx, v.VPGID, map[string]string{"theirs": "10.10.0.0/24", "ours-old": "192.168.0.0/24"}); err != nil {
		t.Fatal(err)
	}
	u := devicegroup.RoutesUnit{API: w.c, Locks: keymutex.NewHashed(0)}
	// The routes are read from the VPG's simBasedRoutingConfig.
	st, err := u.Observe(w.ctx, v.VPGID)
	if err != nil || st.Enabled || st.GateOpened || !maps.Equal(st.Routes, map[string]string{"theirs": "10.10.0.0/24", "ours-old": "192.168.0.0/24"}) {
		t.Fatalf("observe = %+v %v", st, err)
	}
	// SIM-based routing cannot be enabled while Gate is closed.
	if _, err := u.Apply(w.ctx, v.VPGID, []string{"ours"}, map[string]string{"ours": "192.168.1.0/24"}); soracom.StatusCode(err) != 400 {
		t.Fatalf("apply with Gate closed: %v", err)
	}
	if err := w.c.OpenGate(w.ctx, v.VPGID, 10, true); err != nil {
		t.Fatal(err)
	}
	res, err := u.Apply(w.ctx, v.VPGID, []string{"ours-old", "ours"}, map[string]string{"ours": "192.168.1.0/24"})
	if err != nil || !res.Written || !res.Enabled {
		t.Fatalf("apply = %+v %v", res, err)
	}
	got, _ := w.srv.VPG(v.VPGID)
	if len(got.SimBasedRoutingConfig) != 2 || got.SimBasedRoutingConfig["theirs"] != "10.10.0.0/24" || got.SimBasedRoutingConfig["ours"] != "192.168.1.0/24" || !got.EnableSimBasedRouting {
		t.Fatalf("routes = %v enabled %v", got.SimBasedRoutingConfig, got.EnableSimBasedRouting)
	}
	puts, enables := w.count(emu.OpPutSimBasedRoutes), w.count(emu.OpEnableSimBasedRouting)
	res, err = u.Apply(w.ctx, v.VPGID, []string{"ours"}, map[string]string{"ours": "192.168.1.0/24"})
	if err != nil || res.Written || res.Enabled || w.count(emu.OpPutSimBasedRoutes) != puts || w.count(emu.OpEnableSimBasedRouting) != enables {
		t.Fatalf("in sync but wrote: %+v %v", res, err)
	}
	// Removing ours keeps theirs; SIM-based routing stays on.
	if _, err := u.Apply(w.ctx, v.VPGID, []string{"ours"}, nil); err != nil {
		t.Fatal(err)
	}
	got, _ = w.srv.VPG(v.VPGID)
	if len(got.SimBasedRoutingConfig) != 1 || got.SimBasedRoutingConfig["theirs"] == "" || !got.EnableSimBasedRouting {
		t.Fatalf("after removal: %v", got.SimBasedRoutingConfig)
	}
}
