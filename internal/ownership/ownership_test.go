package ownership

import (
	"strings"
	"testing"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

func TestClaim(t *testing.T) {
	prod := Owner{Cluster: "prod", Kind: "DeviceGroup", Namespace: "line-a", Name: "devices", UID: "uid-new"}
	tags := func(uid, id string) map[string]string {
		m := map[string]string{accessv1alpha1.TagOwnerUID: uid, accessv1alpha1.TagOwner: "line-a/devices"}
		if id != "" {
			m[accessv1alpha1.TagIdentity] = id
		}
		return m
	}
	for name, tc := range map[string]struct {
		owner Owner
		tags  map[string]string
		want  Claim
		retag bool
	}{
		"ours":                          {prod, tags("uid-new", "prod/DeviceGroup/line-a/devices"), Ours, false},
		"ours, made without a name":     {prod, tags("uid-new", ""), Ours, true},
		"same identity, rebuilt":        {prod, tags("uid-old", "prod/DeviceGroup/line-a/devices"), Adoptable, true},
		"another cluster":               {prod, tags("uid-old", "staging/DeviceGroup/line-a/devices"), Foreign, false},
		"another kind, same name":       {prod, tags("uid-old", "prod/RemoteAccessEnvironment/line-a/devices"), Foreign, false},
		"no cluster name: UID only":     {Owner{Kind: "DeviceGroup", Namespace: "line-a", Name: "devices", UID: "uid-new"}, tags("uid-old", ""), Foreign, false},
		"untagged":                      {prod, map[string]string{}, Foreign, false},
		"no UID never matches an empty": {Owner{Cluster: "prod", Kind: "DeviceGroup", Namespace: "line-a", Name: "devices"}, map[string]string{}, Foreign, false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.owner.ClaimOn(tc.tags); got != tc.want {
				t.Fatalf("ClaimOn = %v, want %v", got, tc.want)
			}
			if tc.want != Foreign && (tc.owner.Retag(tc.tags) != nil) != tc.retag {
				t.Fatalf("Retag = %v, want a retag %v", tc.owner.Retag(tc.tags), tc.retag)
			}
		})
	}
}

func TestIdentityFitsATag(t *testing.T) {
	o := Owner{Cluster: strings.Repeat("c", 63), Kind: "RemoteAccessEnvironment", Namespace: strings.Repeat("n", 63), Name: strings.Repeat("x", 253)}
	id := o.Identity()
	if len(id) != maxIdentity || !strings.HasPrefix(id, o.Cluster+"/RemoteAccessEnvironment/") {
		t.Fatalf("identity %q (%d characters)", id, len(id))
	}
	other := o
	other.Name = strings.Repeat("x", 252) + "y"
	if other.Identity() == id {
		t.Fatal("two long names share an identity")
	}
	if (Owner{Kind: "DeviceGroup", Namespace: "a", Name: "b"}).Identity() != "" {
		t.Fatal("an identity without a cluster name")
	}
	if got := (Owner{Cluster: "prod", Kind: "DeviceGroup", Namespace: "a", Name: "b", UID: "u"}).Tags(); got[accessv1alpha1.TagIdentity] != "prod/DeviceGroup/a/b" || got[accessv1alpha1.TagOwnerUID] != "u" || got[accessv1alpha1.TagOwner] != "a/b" {
		t.Fatalf("tags %v", got)
	}
}
