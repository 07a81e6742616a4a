package devicegroup

import (
	"context"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/soracom"
)

// GroupIDIndex indexes DeviceGroups by status.groupId (who owns a SORACOM
// group, created or adopted). The manager registers it (IndexFields).
const GroupIDIndex = ".status.groupId"

// EnvironmentIndex indexes DeviceGroups by spec.environmentRef.name (the
// environment watch enqueues the DeviceGroups that use it).
const EnvironmentIndex = ".spec.environmentRef.name"

// Indexes are the DeviceGroup field indexes the controller needs.
var Indexes = map[string]client.IndexerFunc{
	EnvironmentIndex: func(o client.Object) []string {
		dg, ok := o.(*accessv1alpha1.DeviceGroup)
		if !ok || dg.Spec.EnvironmentRef.Name == "" {
			return nil
		}
		return []string{dg.Spec.EnvironmentRef.Name}
	},
	GroupIDIndex: func(o client.Object) []string {
		dg, ok := o.(*accessv1alpha1.DeviceGroup)
		if !ok || dg.Status.GroupID == "" {
			return nil
		}
		return []string{dg.Status.GroupID}
	},
}

// CacheOwners answers Owners from the manager's cache (GroupIDIndex).
type CacheOwners struct{ Reader client.Reader }

var _ Cluster = CacheOwners{}

// ByGroupID returns the first (by key) other DeviceGroup recording groupID.
func (o CacheOwners) ByGroupID(ctx context.Context, groupID string, self Owner) (string, error) {
	list, err := o.recording(ctx, groupID)
	if err != nil {
		return "", err
	}
	var keys []string
	for _, d := range list {
		if string(d.UID) != self.UID {
			keys = append(keys, d.Namespace+"/"+d.Name)
		}
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return "", nil
	}
	return keys[0], nil
}

// Alive reports whether key exists with this UID.
func (o CacheOwners) Alive(ctx context.Context, key, uid string) (bool, error) {
	ns, name, ok := strings.Cut(key, "/")
	if !ok {
		return false, nil
	}
	var d accessv1alpha1.DeviceGroup
	if err := o.Reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &d); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	return string(d.UID) == uid, nil
}

// OtherManager returns another DeviceGroup that manages the adopted group: one
// that created it (owner tag, still alive), or an older DeviceGroup that
// adopted it first (should two record it at once, the older one keeps it:
// creation time, then namespace/name).
func (o CacheOwners) OtherManager(ctx context.Context, g *soracom.Group, self *accessv1alpha1.DeviceGroup) (string, error) {
	list, err := o.recording(ctx, g.GroupID)
	if err != nil {
		return "", err
	}
	var older []string
	selfKey := self.Namespace + "/" + self.Name
	for _, d := range list {
		if d.UID == self.UID {
			continue
		}
		ct, st := d.CreationTimestamp.Time, self.CreationTimestamp.Time
		if key := d.Namespace + "/" + d.Name; ct.Before(st) || (ct.Equal(st) && key < selfKey) {
			older = append(older, key)
		}
	}
	if len(older) > 0 {
		sort.Strings(older)
		return older[0], nil
	}
	uid := g.Tags[TagOwnerUID]
	if uid == "" || uid == string(self.UID) {
		return "", nil
	}
	key := g.Tags[TagOwner]
	if key == "" {
		return "with UID " + uid, nil
	}
	alive, err := o.Alive(ctx, key, uid)
	if err != nil || !alive {
		return "", err
	}
	return key, nil
}

// recording lists the DeviceGroups whose status records groupID.
func (o CacheOwners) recording(ctx context.Context, groupID string) ([]accessv1alpha1.DeviceGroup, error) {
	var list accessv1alpha1.DeviceGroupList
	if err := o.Reader.List(ctx, &list, client.MatchingFields{GroupIDIndex: groupID}); err != nil {
		return nil, fmt.Errorf("listing DeviceGroups of group %s: %w", groupID, err)
	}
	out := list.Items[:0]
	for _, d := range list.Items {
		if d.Status.GroupID == groupID {
			out = append(out, d)
		}
	}
	return out, nil
}

// IndexFields registers Indexes. An index that another controller registered
// already (same field, same meaning) is fine.
func IndexFields(ctx context.Context, idx client.FieldIndexer) error {
	for field, fn := range Indexes {
		if err := idx.IndexField(ctx, &accessv1alpha1.DeviceGroup{}, field, fn); err != nil && !strings.Contains(err.Error(), "conflict") {
			return fmt.Errorf("indexing DeviceGroup %s: %w", field, err)
		}
	}
	return nil
}

// UsersOfEnvironment maps an environment to the DeviceGroups that reference
// it (through EnvironmentIndex).
func UsersOfEnvironment(c client.Reader) handler.MapFunc {
	return func(ctx context.Context, env client.Object) []reconcile.Request {
		var list accessv1alpha1.DeviceGroupList
		if err := c.List(ctx, &list, client.InNamespace(env.GetNamespace()), client.MatchingFields{EnvironmentIndex: env.GetName()}); err != nil {
			log.FromContext(ctx).Error(err, "listing DeviceGroups of an environment", "environment", env.GetName())
			return nil
		}
		out := make([]reconcile.Request, 0, len(list.Items))
		for i := range list.Items {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
		return out
	}
}
