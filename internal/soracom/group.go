package soracom

import (
	"context"
	"net/http"
)

// Group configuration namespaces and the SoracomAir keys that bind a group to a VPG.
const (
	NamespaceSoracomAir = "SoracomAir"
	KeyUseVPG           = "useVpg"
	KeyVPGID            = "vpgId"
)

// Group is a SIM group.
type Group struct {
	GroupID    string            `json:"groupId"`
	OperatorID string            `json:"operatorId,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	// Configuration is namespace -> key -> value (values are any JSON).
	Configuration    map[string]map[string]any `json:"configuration,omitempty"`
	CreatedTime      UnixMillis                `json:"createdTime,omitempty"`
	LastModifiedTime UnixMillis                `json:"lastModifiedTime,omitempty"`
}

// CreateGroupRequest is the body of createGroup.
type CreateGroupRequest struct {
	Tags          map[string]string         `json:"tags,omitempty"`
	Configuration map[string]map[string]any `json:"configuration,omitempty"`
}

// CreateGroup creates a group (201). Group names are not unique, so a repeat
// creates a duplicate: the client never re-sends it; tag the group with the
// owner and look it up by tag before calling again.
func (c *Client) CreateGroup(ctx context.Context, in *CreateGroupRequest) (*Group, error) {
	if in == nil {
		in = &CreateGroupRequest{}
	}
	var out Group
	_, err := c.do(ctx, &request{op: "createGroup", method: http.MethodPost, path: "/v1/groups", body: in, out: &out})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListGroups returns every group matching opts (all pages).
func (c *Client) ListGroups(ctx context.Context, opts ListOptions) ([]Group, error) {
	return listAll[Group](ctx, c, "listGroups", "/v1/groups", opts.query(), opts.LastEvaluatedKey)
}

// ListGroupsPages calls fn with each page of groups until fn returns false.
func (c *Client) ListGroupsPages(ctx context.Context, opts ListOptions, fn func(page []Group) bool) error {
	return listPages(ctx, c, "listGroups", "/v1/groups", opts.query(), opts.LastEvaluatedKey, fn)
}

// GetGroup returns one group (IsNotFound on 404).
func (c *Client) GetGroup(ctx context.Context, groupID string) (*Group, error) {
	var out Group
	_, err := c.do(ctx, &request{op: "getGroup", method: http.MethodGet, path: groupPath(groupID, ""), out: &out, idempotent: true})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteGroup deletes a group (404: gone).
func (c *Client) DeleteGroup(ctx context.Context, groupID string) error {
	_, err := c.do(ctx, &request{op: "deleteGroup", method: http.MethodDelete, path: groupPath(groupID, ""), idempotent: true})
	return err
}

// PutGroupTags adds or overwrites tags (other tags are kept).
func (c *Client) PutGroupTags(ctx context.Context, groupID string, tags map[string]string) (*Group, error) {
	var out Group
	_, err := c.do(ctx, &request{op: "putGroupTags", method: http.MethodPut, path: groupPath(groupID, "/tags"), body: tagList(tags), out: &out, idempotent: true})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// PutGroupConfiguration sets keys of one configuration namespace. The
// server merges per key (other keys are kept), so repeating it is harmless.
func (c *Client) PutGroupConfiguration(ctx context.Context, groupID, namespace string, params []KeyValue) (*Group, error) {
	if params == nil {
		params = []KeyValue{}
	}
	var out Group
	_, err := c.do(ctx, &request{op: "putConfigurationParameters", method: http.MethodPut, path: groupPath(groupID, "/configuration/"+escape(namespace)), body: params, out: &out, idempotent: true})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteGroupConfigurationNamespace deletes a whole namespace. The server
// answers 400 when the namespace does not exist (and 404 when the group does
// not): read the group first rather than treat every 400 as "already gone".
func (c *Client) DeleteGroupConfigurationNamespace(ctx context.Context, groupID, namespace string) error {
	_, err := c.do(ctx, &request{op: "deleteConfigurationNamespace", method: http.MethodDelete, path: groupPath(groupID, "/configuration/"+escape(namespace)), idempotent: true})
	return err
}

// DeleteGroupConfigurationParameter deletes one key of a namespace (404: gone).
func (c *Client) DeleteGroupConfigurationParameter(ctx context.Context, groupID, namespace, key string) error {
	_, err := c.do(ctx, &request{op: "deleteConfigurationParameter", method: http.MethodDelete, path: groupPath(groupID, "/configuration/"+escape(namespace)+"/"+escape(key)), idempotent: true})
	return err
}

// ListSubscribersInGroup returns every SIM in a group (all pages).
func (c *Client) ListSubscribersInGroup(ctx context.Context, groupID string, opts PageOptions) ([]SIM, error) {
	return listAll[SIM](ctx, c, "listSubscribersInGroup", groupPath(groupID, "/subscribers"), opts.query(), opts.LastEvaluatedKey)
}

// ListSubscribersInGroupPages calls fn with each page of a group's SIMs until fn returns false.
func (c *Client) ListSubscribersInGroupPages(ctx context.Context, groupID string, opts PageOptions, fn func(page []SIM) bool) error {
	return listPages(ctx, c, "listSubscribersInGroup", groupPath(groupID, "/subscribers"), opts.query(), opts.LastEvaluatedKey, fn)
}

func groupPath(groupID, suffix string) string {
	return "/v1/groups/" + escape(groupID) + suffix
}
