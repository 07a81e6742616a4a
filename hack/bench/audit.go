package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
)

// auditPolicy logs, at Metadata level, only the requests of user: the
// manager's own identity (its client certificate). Every other request
// (the bench's, the control plane's) is not logged, so the log is small and
// every line in it is the manager's. RequestReceived is omitted: one line per
// request (ResponseComplete), two for a watch (ResponseStarted when it opens,
// ResponseComplete when it ends).
func auditPolicy(user string) string {
	return fmt.Sprintf(`apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  users: [%q]
- level: None
`, user)
}

// auditEvent is the part of an audit.k8s.io/v1 Event that is counted.
type auditEvent struct {
	Stage      string `json:"stage"`
	Verb       string `json:"verb"`
	RequestURI string `json:"requestURI"`
	User       struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		APIGroup    string `json:"apiGroup"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

// Counts are API requests by "verb resource[/subresource]", with " <code>"
// appended for responses of 400 and above (a 409 conflict is its own key).
type Counts map[string]int

// Add adds other into c.
func (c Counts) Add(other Counts) {
	for k, v := range other {
		c[k] += v
	}
}

// Total is the number of requests.
func (c Counts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// writeVerbs are the verbs that change something.
var writeVerbs = []string{"create", "update", "patch", "delete", "deletecollection"}

// Writes keeps the keys whose verb writes.
func (c Counts) Writes() Counts {
	out := Counts{}
	for k, v := range c {
		verb, _, _ := strings.Cut(k, " ")
		if slices.Contains(writeVerbs, verb) {
			out[k] = v
		}
	}
	return out
}

// Verb keeps the keys of one verb.
func (c Counts) Verb(verb string) Counts {
	out := Counts{}
	for k, v := range c {
		if strings.HasPrefix(k, verb+" ") {
			out[k] = v
		}
	}
	return out
}

// Keys are the keys, sorted.
func (c Counts) Keys() []string { return slices.Sorted(maps.Keys(c)) }

// countKey names one request: verb and resource, or verb and path for a
// non-resource URL (/api, /apis, /version).
func countKey(e *auditEvent) string {
	what := e.RequestURI
	if e.ObjectRef != nil && e.ObjectRef.Resource != "" {
		what = e.ObjectRef.Resource
		if e.ObjectRef.Subresource != "" {
			what += "/" + e.ObjectRef.Subresource
		}
	} else if p, _, ok := strings.Cut(what, "?"); ok {
		what = p
	}
	key := e.Verb + " " + what
	if e.ResponseStatus != nil && e.ResponseStatus.Code >= 400 {
		key += fmt.Sprintf(" %d", e.ResponseStatus.Code)
	}
	return key
}

// countAudit counts the requests of user in an audit log (JSON lines): one
// per request, at ResponseComplete, and one per watch, when it opened
// (ResponseStarted). Lines that are not JSON (a line cut at the end of the
// read window) are counted in bad.
func countAudit(r io.Reader, user string) (c Counts, bad int, err error) {
	c = Counts{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e auditEvent
		if json.Unmarshal(line, &e) != nil {
			bad++
			continue
		}
		if e.User.Username != user {
			continue
		}
		counted := "ResponseComplete"
		if e.Verb == "watch" {
			counted = "ResponseStarted"
		}
		if e.Stage != counted {
			continue
		}
		c[countKey(&e)]++
	}
	return c, bad, sc.Err()
}

// auditLog reads windows of the kube-apiserver's audit log file.
type auditLog struct {
	path string
	user string
}

// Offset is where the next window starts: the end of the last complete line.
func (a *auditLog) Offset() int64 {
	f, err := os.Open(a.path)
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	size := fi.Size()
	for end := size; end > 0; {
		start := max(end-64*1024, 0)
		buf := make([]byte, end-start)
		if _, err := f.ReadAt(buf, start); err != nil && err != io.EOF {
			return 0
		}
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			return start + int64(i) + 1
		}
		end = start
	}
	return 0
}

// Count counts the requests logged between two offsets (from Offset).
func (a *auditLog) Count(from, to int64) (Counts, error) {
	if to <= from {
		return Counts{}, nil
	}
	f, err := os.Open(a.path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	buf := make([]byte, to-from)
	n, err := f.ReadAt(buf, from)
	if err != nil && err != io.EOF {
		return nil, err
	}
	c, _, err := countAudit(bytes.NewReader(buf[:n]), a.user)
	return c, err
}
