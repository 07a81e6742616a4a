package devicegroup

import (
	"context"
	"fmt"
	"strings"

	"github.com/gatestream/gatestream/internal/soracom"
)

// BindingUnit keeps the group's SoracomAir configuration pointed at the VPG.
type BindingUnit struct{ API API }

// airConfig returns the group's SoracomAir namespace (nil when absent).
func airConfig(g *soracom.Group) map[string]any {
	if g == nil || g.Configuration == nil {
		return nil
	}
	return g.Configuration[soracom.NamespaceSoracomAir]
}

// truthy reads a JSON boolean leniently (true, or the string "true").
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(x, "true")
	default:
		return false
	}
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

// BoundVPG returns the VPG the group sends its sessions to ("" when useVpg is
// not true or vpgId is unset).
func BoundVPG(g *soracom.Group) string {
	air := airConfig(g)
	if !truthy(air[soracom.KeyUseVPG]) {
		return ""
	}
	return str(air[soracom.KeyVPGID])
}

// BindingDiff returns the SoracomAir keys to PUT so that the group uses
// vpgID: only the keys whose value differs (the server merges per key, so
// other SoracomAir settings such as custom DNS are kept). Nil when in sync.
func BindingDiff(g *soracom.Group, vpgID string) []soracom.KeyValue {
	air := airConfig(g)
	var kv []soracom.KeyValue
	if v, ok := air[soracom.KeyUseVPG].(bool); !ok || !v {
		kv = append(kv, soracom.KeyValue{Key: soracom.KeyUseVPG, Value: true})
	}
	if v, ok := air[soracom.KeyVPGID].(string); !ok || v != vpgID {
		kv = append(kv, soracom.KeyValue{Key: soracom.KeyVPGID, Value: vpgID})
	}
	return kv
}

// UnbindDiff returns the keys that unbind the group from vpgID: useVpg=false,
// only when the group is bound to that VPG (a group someone rebound to another
// VPG is left alone). vpgId is left in place: deleting the key is UNCONFIRMED
// in practice, and with useVpg false it has no effect.
func UnbindDiff(g *soracom.Group, vpgID string) []soracom.KeyValue {
	if vpgID == "" || BoundVPG(g) != vpgID {
		return nil
	}
	return []soracom.KeyValue{{Key: soracom.KeyUseVPG, Value: false}}
}

// Apply PUTs kv into the group's SoracomAir namespace and updates g from the answer.
func (u BindingUnit) Apply(ctx context.Context, g *soracom.Group, kv []soracom.KeyValue) error {
	if len(kv) == 0 {
		return nil
	}
	ng, err := u.API.PutGroupConfiguration(ctx, g.GroupID, soracom.NamespaceSoracomAir, kv)
	if err != nil {
		return err
	}
	if ng != nil && ng.GroupID != "" {
		*g = *ng
		return nil
	}
	if g.Configuration == nil {
		g.Configuration = map[string]map[string]any{}
	}
	if g.Configuration[soracom.NamespaceSoracomAir] == nil {
		g.Configuration[soracom.NamespaceSoracomAir] = map[string]any{}
	}
	for _, p := range kv {
		g.Configuration[soracom.NamespaceSoracomAir][p.Key] = p.Value
	}
	return nil
}
