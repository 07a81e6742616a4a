package devicegroup_test

import (
	"maps"
	"testing"

	"github.com/gatestream/gatestream/internal/devicegroup"
	emu "github.com/gatestream/gatestream/internal/emulator/soracom"
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

func TestBindingUnitPutsOnlyWhatDiffers(t *testing.T) {
	w := newWorld(t, 0)
	g, _ := devicegroup.GroupUnit{API: w.c}.Create(w.ctx, me, "x")
	if _, err := w.c.PutGroupConfiguration(w.ctx, g.GroupID, soracom.NamespaceSoracomAir, []soracom.KeyValue{{Key: "useCustomDns", Value: true}}); err != nil {
		t.Fatal(err)
	}
	g, _ = w.c.GetGroup(w.ctx, g.GroupID)
	b := devicegroup.BindingUnit{API: w.c}
	if err := b.Apply(w.ctx, g, devicegroup.BindingDiff(g, "vpg-1")); err != nil {
		t.Fatal(err)
	}
	if devicegroup.BoundVPG(g) != "vpg-1" || g.Configuration[soracom.NamespaceSoracomAir]["useCustomDns"] != true {
		t.Fatalf("after bind: %v", g.Configuration)
	}
	n := w.count(emu.OpPutGroupConfig)
	if kv := devicegroup.BindingDiff(g, "vpg-1"); len(kv) != 0 {
		t.Fatalf("in sync but diff %v", kv)
	}
	if err := b.Apply(w.ctx, g, nil); err != nil || w.count(emu.OpPutGroupConfig) != n {
		t.Fatal("an empty diff must not PUT")
	}
	if err := b.Apply(w.ctx, g, devicegroup.UnbindDiff(g, "vpg-1")); err != nil || devicegroup.BoundVPG(g) != "" {
		t.Fatalf("unbind: %v %v", err, g.Configuration)
	}
}
