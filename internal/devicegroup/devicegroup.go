// Package devicegroup holds the external units of the DeviceGroup controller
// and its pure logic. Each unit talks to SORACOM through API (implemented by
// *soracom.Client) and is idempotent:
//
//   - Group: adopt spec.group.id, or find the group by its owner tag, or create
//     one tagged with the DeviceGroup's UID; delete it.
//   - Binding: the group's SoracomAir useVpg/vpgId (PUT only the keys that differ).
//   - Membership: set reconciliation of the group's SIMs (set_group /
//     unset_group / delete_session), never stealing a SIM from a group owned by
//     another DeviceGroup.
//   - Routes: Gate SIM-based static routes on the environment's VPG, merged
//     with the routes of other DeviceGroups that share the VPG.
//   - Devices: each named device's address, online state and last-seen time.
//
// The reconciler (controllers/devicegroup_controller.go) runs them in that
// order and keeps the Kubernetes side (status, conditions, finalizer).
package devicegroup

import (
	"context"
	"sort"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/ownership"
	"github.com/gatestream/gatestream/internal/soracom"
)

// Tags written on the groups gatestream creates.
const (
	// TagOwnerUID carries the owning DeviceGroup's UID; the group is looked up
	// by it before any create.
	TagOwnerUID = accessv1alpha1.TagOwnerUID
	// TagOwner carries "namespace/name" of the owning DeviceGroup (for people,
	// and to tell a live owner from an orphaned group).
	TagOwner = accessv1alpha1.TagOwner
	// TagName is the console's name of the group.
	TagName = "name"
)

// API is the part of the SORACOM client the units use. *soracom.Client implements it.
type API interface {
	GetGroup(ctx context.Context, groupID string) (*soracom.Group, error)
	ListGroups(ctx context.Context, opts soracom.ListOptions) ([]soracom.Group, error)
	CreateGroup(ctx context.Context, in *soracom.CreateGroupRequest) (*soracom.Group, error)
	DeleteGroup(ctx context.Context, groupID string) error
	PutGroupTags(ctx context.Context, groupID string, tags map[string]string) (*soracom.Group, error)
	PutGroupConfiguration(ctx context.Context, groupID, namespace string, params []soracom.KeyValue) (*soracom.Group, error)
	ListSubscribersInGroupPages(ctx context.Context, groupID string, opts soracom.PageOptions, fn func(page []soracom.SIM) bool) error
	ListSimsPages(ctx context.Context, opts soracom.PageOptions, fn func(page []soracom.SIM) bool) error
	GetSim(ctx context.Context, simID string) (*soracom.SIM, error)
	SetSimGroup(ctx context.Context, simID, groupID string) (*soracom.SIM, error)
	UnsetSimGroup(ctx context.Context, simID string) error
	DeleteSimSession(ctx context.Context, simID string) error
	GetVirtualPrivateGateway(ctx context.Context, vpgID string) (*soracom.VirtualPrivateGateway, error)
	EnableSimBasedRouting(ctx context.Context, vpgID string) error
	PutSimBasedRoutingRoutes(ctx context.Context, vpgID string, routes map[string]string) error
}

var _ API = (*soracom.Client)(nil)

// Owner identifies the DeviceGroup being reconciled.
type Owner struct {
	UID       string
	Namespace string
	Name      string
	// Cluster is the manager's --cluster-name ("": groups are found by UID only).
	Cluster string
}

// Key is "namespace/name".
func (o Owner) Key() string { return o.Namespace + "/" + o.Name }

// ownership is o as the owner of external objects (stable identity included).
func (o Owner) ownership() ownership.Owner {
	return ownership.Owner{Cluster: o.Cluster, Kind: "DeviceGroup", Namespace: o.Namespace, Name: o.Name, UID: o.UID}
}

// OwnerTags are the tags of a group created for o, named name.
func OwnerTags(o Owner, name string) map[string]string {
	tags := o.ownership().Tags()
	tags[TagName] = name
	return tags
}

// Owners answers who, in the cluster, owns a SORACOM group (owners.go
// implements it with the manager's cache).
type Owners interface {
	// ByGroupID returns "namespace/name" of a DeviceGroup other than self
	// whose status records groupID (created or adopted), "" when none.
	ByGroupID(ctx context.Context, groupID string, self Owner) (string, error)
	// Alive reports whether the DeviceGroup key ("namespace/name") exists with this UID.
	Alive(ctx context.Context, key, uid string) (bool, error)
}

// Cluster is Owners plus what the Group unit asks of an adopted group.
type Cluster interface {
	Owners
	// OtherManager returns another DeviceGroup that manages the adopted group
	// g ("" when none).
	OtherManager(ctx context.Context, g *soracom.Group, self *accessv1alpha1.DeviceGroup) (string, error)
}

// set is a small string set.
type set map[string]struct{}

func newSet(items ...string) set {
	s := make(set, len(items))
	for _, i := range items {
		s[i] = struct{}{}
	}
	return s
}

func (s set) has(k string) bool { _, ok := s[k]; return ok }
func (s set) add(k string)      { s[k] = struct{}{} }

func (s set) sorted() []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// MatchesTags reports whether tags carry every selector tag with its value.
func MatchesTags(tags, selector map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if got, ok := tags[k]; !ok || got != v {
			return false
		}
	}
	return true
}
