// Package ownership decides, from its tags, whose an external object is: this
// object's (same UID), this object's after the cluster was rebuilt (same
// stable identity, new UID: adopt it), or someone else's (leave it alone).
//
// Every object gatestream creates outside the cluster carries the owner's UID
// and "namespace/name", and, when the manager has a cluster name, a stable
// identity "<cluster>/<Kind>/<namespace>/<name>". UIDs are new when a platform
// team re-applies its manifests from Git into a new cluster (disaster
// recovery); the identity is not, so the new objects find the old external
// ones instead of creating a second VPG, group, fleet, stack or router. A
// manager with another cluster name never matches them.
//
// No Kubernetes imports beyond the API's tag names.
package ownership

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

// maxIdentity keeps the tag value within every cloud's limit (EC2 and
// AppStream allow 256 characters).
const maxIdentity = 256

// Owner is the gatestream object that owns external objects.
type Owner struct {
	// Cluster is the manager's --cluster-name; empty: matched by UID only.
	Cluster   string
	Kind      string
	Namespace string
	Name      string
	UID       string
}

// Key is "namespace/name".
func (o Owner) Key() string { return o.Namespace + "/" + o.Name }

// Identity is the stable identity tag value, "" without a cluster name.
// Names too long for a tag keep their start and end with a hash of the whole.
func (o Owner) Identity() string {
	if o.Cluster == "" {
		return ""
	}
	id := o.Cluster + "/" + o.Kind + "/" + o.Namespace + "/" + o.Name
	if len(id) <= maxIdentity {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	suffix := "~" + hex.EncodeToString(sum[:])[:16]
	return id[:maxIdentity-len(suffix)] + suffix
}

// Tags are the ownership tags of a new external object.
func (o Owner) Tags() map[string]string {
	t := map[string]string{accessv1alpha1.TagOwnerUID: o.UID, accessv1alpha1.TagOwner: o.Key()}
	if id := o.Identity(); id != "" {
		t[accessv1alpha1.TagIdentity] = id
	}
	return t
}

// Claim is how an owner stands to an external object.
type Claim int

const (
	// Foreign: someone else's (another object, another cluster, a person).
	Foreign Claim = iota
	// Ours: tagged with the owner's UID.
	Ours
	// Adoptable: tagged with the owner's stable identity but another UID:
	// created for the same namespace/name by a cluster of the same name
	// before it was rebuilt.
	Adoptable
)

// ClaimOn tells how o stands to an object with these tags.
func (o Owner) ClaimOn(tags map[string]string) Claim {
	switch {
	case o.UID != "" && tags[accessv1alpha1.TagOwnerUID] == o.UID:
		return Ours
	case o.Identity() != "" && tags[accessv1alpha1.TagIdentity] == o.Identity():
		return Adoptable
	}
	return Foreign
}

// Retag lists the tags to write on an object of ours (or one being adopted)
// so that its ownership tags are o's; nil when they already are. An object
// created before the manager had a cluster name gets its identity this way.
func (o Owner) Retag(tags map[string]string) map[string]string {
	var diff map[string]string
	for k, v := range o.Tags() {
		if tags[k] != v {
			if diff == nil {
				diff = map[string]string{}
			}
			diff[k] = v
		}
	}
	return diff
}

// DescribeOwner names the owner an object's tags claim, for conflict messages.
func DescribeOwner(tags map[string]string) string {
	switch id, key, uid := tags[accessv1alpha1.TagIdentity], tags[accessv1alpha1.TagOwner], tags[accessv1alpha1.TagOwnerUID]; {
	case id != "":
		return fmt.Sprintf("%s (uid %s)", id, uid)
	case key != "" || uid != "":
		return fmt.Sprintf("%s (uid %s, no cluster name)", key, uid)
	}
	return "no gatestream owner"
}
