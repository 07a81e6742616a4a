package soracom

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"time"
)

// Group rules. Methods named *Locked run with s.mu held.

// Configuration namespaces (reference §6). GUESS: other names are rejected with 400.
var groupNamespaces = []string{
	"SoracomAir", "SoracomBeam", "SoracomEndorse", "SoracomFlux", "SoracomFunk", "SoracomFunnel",
	"SoracomHarvest", "SoracomHarvestFiles", "SoracomKrypton", "SoracomOrbit", "UnifiedEndpoint",
}

type createGroupRequest struct {
	Tags          map[string]string                     `json:"tags"`
	Configuration map[string]map[string]json.RawMessage `json:"configuration"`
}

type configUpdate struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

func groupNotFound(id string) *apiError {
	return errf(http.StatusNotFound, codeGroupNotFound, "Group %s not found", id)
}

func groupInvalid(format string, args ...any) *apiError {
	return errf(http.StatusBadRequest, codeGroupInvalid, format, args...)
}

func validNamespace(ns string) *apiError {
	if !slices.Contains(groupNamespaces, ns) {
		return groupInvalid("unknown configuration namespace %q", ns)
	}
	return nil
}

func (s *Server) createGroupLocked(now time.Time, opID string, req createGroupRequest) (Group, *apiError) {
	cfg := map[string]map[string]json.RawMessage{}
	for ns, kv := range req.Configuration {
		if err := validNamespace(ns); err != nil {
			return Group{}, err
		}
		c := map[string]json.RawMessage{}
		for k, v := range kv {
			c[k] = compactJSON(v)
		}
		cfg[ns] = c
	}
	ms := now.UnixMilli()
	r := &groupRec{g: Group{
		GroupID:          s.st.uuid(),
		OperatorID:       opID,
		Tags:             cloneStrMap(req.Tags),
		Configuration:    cfg,
		CreatedTime:      ms,
		LastModifiedTime: ms,
		CreatedAt:        ms,
		LastModifiedAt:   ms,
	}}
	s.st.groups[r.g.GroupID] = r
	s.st.groupsEver++
	return r.snapshot(), nil
}

func compactJSON(v json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return slices.Clone(v)
	}
	return b.Bytes()
}

func (s *Server) groupLocked(opID, id string) (*groupRec, *apiError) {
	r, ok := s.st.groups[id]
	if !ok || r.g.OperatorID != opID {
		return nil, groupNotFound(id)
	}
	return r, nil
}

func (r *groupRec) touch(now time.Time) {
	r.g.LastModifiedTime = now.UnixMilli()
	r.g.LastModifiedAt = r.g.LastModifiedTime
}

func (s *Server) listGroupsLocked(opID string, f tagFilter) []Group {
	var out []Group
	for _, r := range s.st.groups {
		if r.g.OperatorID == opID && f.match(r.g.Tags) {
			out = append(out, r.snapshot())
		}
	}
	slices.SortFunc(out, func(a, b Group) int { return cmp.Compare(a.GroupID, b.GroupID) })
	return out
}

// deleteGroupLocked deletes a group. GUESS: allowed while it has SIMs, which
// then lose their groupId (reference: UNCONFIRMED).
func (s *Server) deleteGroupLocked(now time.Time, opID, id string) *apiError {
	if _, err := s.groupLocked(opID, id); err != nil {
		return err
	}
	delete(s.st.groups, id)
	for _, sr := range s.st.sims {
		if sr.sim.GroupID == id {
			sr.sim.GroupID = ""
			sr.lastUpdatedAt = now.UnixMilli()
		}
	}
	return nil
}

func (s *Server) putGroupTagsLocked(now time.Time, opID, id string, upd []tagUpdate) (Group, *apiError) {
	r, err := s.groupLocked(opID, id)
	if err != nil {
		return Group{}, err
	}
	tags, err := applyTags(r.g.Tags, upd, 0)
	if err != nil {
		return Group{}, err
	}
	r.g.Tags = tags
	r.touch(now)
	return r.snapshot(), nil
}

// deleteTag removes a tag; GUESS: 404 when the tag is absent.
func deleteTag(tags map[string]string, name, code string) *apiError {
	if _, ok := tags[name]; !ok {
		return errf(http.StatusNotFound, code, "tag %q not found", name)
	}
	delete(tags, name)
	return nil
}

// putConfigLocked merges keys into a namespace (documented: per-key merge).
func (s *Server) putConfigLocked(now time.Time, opID, id, ns string, upd []configUpdate) (Group, *apiError) {
	r, err := s.groupLocked(opID, id)
	if err != nil {
		return Group{}, err
	}
	if err := validNamespace(ns); err != nil {
		return Group{}, err
	}
	for _, u := range upd {
		if u.Key == "" || len(u.Value) == 0 {
			return Group{}, groupInvalid("key and value are required")
		}
	}
	c := r.g.Configuration[ns]
	if c == nil {
		c = map[string]json.RawMessage{}
		r.g.Configuration[ns] = c
	}
	for _, u := range upd {
		c[u.Key] = compactJSON(u.Value)
	}
	r.touch(now)
	return r.snapshot(), nil
}

func (s *Server) deleteNamespaceLocked(now time.Time, opID, id, ns string) *apiError {
	r, err := s.groupLocked(opID, id)
	if err != nil {
		return err
	}
	if _, ok := r.g.Configuration[ns]; !ok {
		// Documented: 400 when the namespace does not exist.
		return errf(http.StatusBadRequest, codeNamespaceAbsent, "configuration namespace %s does not exist", ns)
	}
	delete(r.g.Configuration, ns)
	r.touch(now)
	return nil
}

// deleteConfigKeyLocked removes one key. GUESS: 404 when the namespace or
// key is absent; an emptied namespace stays as {}.
func (s *Server) deleteConfigKeyLocked(now time.Time, opID, id, ns, name string) *apiError {
	r, err := s.groupLocked(opID, id)
	if err != nil {
		return err
	}
	c, ok := r.g.Configuration[ns]
	if _, has := c[name]; !ok || !has {
		return errf(http.StatusNotFound, codeGroupNotFound, "configuration %s/%s not found", ns, name)
	}
	delete(c, name)
	r.touch(now)
	return nil
}

// groupVPGLocked is the running VPG a group's SoracomAir configuration
// points sessions at (useVpg true and vpgId set), or nil.
func (s *Server) groupVPGLocked(now time.Time, opID, groupID string) *vpgRec {
	r, ok := s.st.groups[groupID]
	if !ok || r.g.OperatorID != opID {
		return nil
	}
	air := r.g.Configuration["SoracomAir"]
	var use bool
	var vpgID string
	if json.Unmarshal(air["useVpg"], &use) != nil || !use || json.Unmarshal(air["vpgId"], &vpgID) != nil {
		return nil
	}
	v, ok := s.st.vpgs[vpgID]
	if !ok || v.v.OperatorID != opID || v.status(now, s.opts.VPGCreateDelay) != VPGRunning {
		return nil
	}
	return v
}

// ---- Go API ----

// Groups returns every group of every operator, ordered by id.
func (s *Server) Groups() []Group {
	_, unlock := s.lock()
	defer unlock()
	out := make([]Group, 0, len(s.st.groups))
	for _, r := range s.st.groups {
		out = append(out, r.snapshot())
	}
	slices.SortFunc(out, func(a, b Group) int { return cmp.Compare(a.GroupID, b.GroupID) })
	return out
}

// Group returns one group.
func (s *Server) Group(groupID string) (Group, bool) {
	_, unlock := s.lock()
	defer unlock()
	r, ok := s.st.groups[groupID]
	if !ok {
		return Group{}, false
	}
	return r.snapshot(), true
}

// GroupsEverCreated counts successful group creations.
func (s *Server) GroupsEverCreated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.groupsEver
}
