package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// auditLine is one audit.k8s.io/v1 event as kube-apiserver writes it (JSON, one line).
func auditLine(stage, verb, user, uri, resource, subresource string, code int) string {
	ref := ""
	if resource != "" {
		ref = fmt.Sprintf(`,"objectRef":{"resource":%q,"namespace":"bench-000","name":"s-00001","apiGroup":"access.gatestream.io","apiVersion":"v1alpha1","subresource":%q}`, resource, subresource)
	}
	return fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"5b2c","stage":%q,"requestURI":%q,"verb":%q,`+
		`"user":{"username":%q,"groups":["system:authenticated"]},"sourceIPs":["127.0.0.1"],"userAgent":"manager/v0.0.0"%s,`+
		`"responseStatus":{"metadata":{},"code":%d},"requestReceivedTimestamp":"2026-01-01T00:00:00.000000Z","stageTimestamp":"2026-01-01T00:00:00.001000Z"}`,
		stage, uri, verb, user, ref, code)
}

func sampleLog() string {
	const m = managerUser
	return strings.Join([]string{
		auditLine("ResponseComplete", "create", m, "/api/v1/namespaces/bench-000/secrets", "secrets", "", 201),
		auditLine("ResponseComplete", "create", m, "/api/v1/namespaces/bench-000/secrets", "secrets", "", 201),
		auditLine("ResponseComplete", "update", m, "/apis/access.gatestream.io/v1alpha1/namespaces/bench-000/streamingsessions/s-00001/status", "streamingsessions", "status", 200),
		auditLine("ResponseComplete", "update", m, "/apis/access.gatestream.io/v1alpha1/namespaces/bench-000/streamingsessions/s-00001/status", "streamingsessions", "status", 409),
		auditLine("ResponseComplete", "patch", m, "/api/v1/namespaces/bench-000/secrets/s-00001", "secrets", "", 200),
		// A watch: counted once, when it opens.
		auditLine("ResponseStarted", "watch", m, "/apis/access.gatestream.io/v1alpha1/streamingsessions?watch=true", "streamingsessions", "", 200),
		auditLine("ResponseComplete", "watch", m, "/apis/access.gatestream.io/v1alpha1/streamingsessions?watch=true", "streamingsessions", "", 200),
		// A non-resource request: named by its path.
		auditLine("ResponseComplete", "get", m, "/apis?timeout=32s", "", "", 200),
		// Not counted: another user, the RequestReceived stage.
		auditLine("ResponseComplete", "create", "bench-admin", "/api/v1/namespaces/bench-000/secrets", "secrets", "", 201),
		auditLine("RequestReceived", "create", m, "/api/v1/namespaces/bench-000/secrets", "secrets", "", 0),
		"",
	}, "\n")
}

func TestCountAudit(t *testing.T) {
	c, bad, err := countAudit(strings.NewReader(sampleLog()+`{"kind":"Event","stage":"Respo`), managerUser)
	if err != nil {
		t.Fatal(err)
	}
	if bad != 1 {
		t.Errorf("bad lines: got %d, want 1 (the cut line)", bad)
	}
	want := Counts{
		"create secrets":                      2,
		"update streamingsessions/status":     1,
		"update streamingsessions/status 409": 1,
		"patch secrets":                       1,
		"watch streamingsessions":             1,
		"get /apis":                           1,
	}
	if got, w := formatCounts(c), formatCounts(want); got != w {
		t.Errorf("counts:\n got %s\nwant %s", got, w)
	}
	if got := formatCounts(c.Writes()); got != "create secrets=2, patch secrets=1, update streamingsessions/status=1, update streamingsessions/status 409=1" {
		t.Errorf("writes: %s", got)
	}
	if got := c.Verb("watch").Total(); got != 1 {
		t.Errorf("watches: %d", got)
	}
	if c.Total() != 7 {
		t.Errorf("total %d, want 7", c.Total())
	}
}

// The windows of the log file: Offset ends at a complete line, and two
// windows count every line once, also while a line is being written.
func TestAuditLogWindows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	a := &auditLog{path: path, user: managerUser}
	if a.Offset() != 0 {
		t.Fatal("a missing log is at offset 0")
	}
	lines := strings.SplitAfter(sampleLog(), "\n")
	first := strings.Join(lines[:3], "")
	if err := os.WriteFile(path, []byte(first+lines[3][:20]), 0o600); err != nil { // a line half written
		t.Fatal(err)
	}
	mid := a.Offset()
	if mid != int64(len(first)) {
		t.Fatalf("offset %d, want %d (the end of the last complete line)", mid, len(first))
	}
	if err := os.WriteFile(path, []byte(sampleLog()), 0o600); err != nil {
		t.Fatal(err)
	}
	end := a.Offset()
	before, err := a.Count(0, mid)
	if err != nil {
		t.Fatal(err)
	}
	after, err := a.Count(mid, end)
	if err != nil {
		t.Fatal(err)
	}
	if before.Total() != 3 || after.Total() != 4 {
		t.Errorf("windows count %d and %d requests, want 3 and 4", before.Total(), after.Total())
	}
	if n, _ := a.Count(end, end); n.Total() != 0 {
		t.Error("an empty window counts nothing")
	}
}

func TestAuditPolicyNamesTheManager(t *testing.T) {
	var p struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		OmitStages []string `json:"omitStages"`
		Rules      []struct {
			Level string   `json:"level"`
			Users []string `json:"users"`
		} `json:"rules"`
	}
	if err := yaml.UnmarshalStrict([]byte(auditPolicy(managerUser)), &p); err != nil {
		t.Fatal(err)
	}
	if p.APIVersion != "audit.k8s.io/v1" || p.Kind != "Policy" || len(p.Rules) != 2 || p.Rules[0].Level != "Metadata" || len(p.Rules[0].Users) != 1 ||
		p.Rules[0].Users[0] != managerUser || p.Rules[1].Level != "None" || len(p.Rules[1].Users) != 0 {
		t.Errorf("policy: %+v", p)
	}
}

func TestPerSession(t *testing.T) {
	c := Counts{"create secrets": 1000, "update streamingsessions/status": 2004, "get secrets": 3}
	cell, other := perSession(c, 1000)
	if want := "3.01 (create secrets=1, update streamingsessions/status=2, other=0)"; cell != want {
		t.Errorf("got %q, want %q", cell, want)
	}
	if formatCounts(other) != "get secrets=3" {
		t.Errorf("other: %v", other)
	}
	if cell, _ := perSession(Counts{}, 10); cell != "0" {
		t.Errorf("no requests: %q", cell)
	}
	if num(0.5) != "0.5" || num(2) != "2" {
		t.Errorf("num: %s %s", num(0.5), num(2))
	}
}

func TestWriteTable(t *testing.T) {
	rs := []result{{
		Config: "defaults", Sessions: 200,
		Floor: timed{Total: 2 * time.Second}, Operator: timed{Total: 5 * time.Second},
		Requests: Counts{"create secrets": 200, "update streamingsessions/status": 400},
		Cloud:    Counts{"appstream CreateStreamingURL": 200, "appstream DescribeFleets": 2},
		PeakRSS:  100 << 20,
		Notes:    []string{"a note"},
	}, {
		Config: "tuned", Sessions: 200,
		Floor: timed{Total: 2 * time.Second}, Operator: timed{Total: 3 * time.Second},
		Requests: Counts{"create secrets": 200},
		Cloud:    Counts{"appstream CreateStreamingURL": 200},
		PeakRSS:  120 << 20,
	}}
	var b bytes.Buffer
	if err := writeTable(&b, rs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("want a header, two rows and two notes, got:\n%s", b.String())
	}
	fields := strings.Fields(lines[1])
	want := []string{"defaults", "200", "2.00", "5.00", "2.5", "3", "(create", "secrets=1,", "update", "streamingsessions/status=2)", "1.01", "(appstream", "CreateStreamingURL=1,", "other=0.01)", "100"}
	if strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Errorf("row:\n got %q\nwant %q", fields, want)
	}
	// Columns line up: every row's "ratio" column starts where the header's does.
	col := strings.Index(lines[0], "ratio")
	if !strings.HasPrefix(lines[1][col:], "2.5") || !strings.HasPrefix(lines[2][col:], "1.5") {
		t.Errorf("columns do not line up:\n%s", b.String())
	}
	if lines[3] != "  defaults/200: a note" || lines[4] != "  defaults/200: other cloud calls (total): appstream DescribeFleets=2" {
		t.Errorf("notes:\n%s", strings.Join(lines[3:], "\n"))
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"--scale", "--sessions", "2000"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Sessions != 2000 || o.Environments != 100 || o.Namespaces != 100 || o.Baseline != 1000 || o.PollInterval != 20*time.Second {
		t.Errorf("scale preset: %+v", o)
	}
	if len(o.Configs) != 2 || o.Configs[0].Name != "defaults" || strings.Join(o.Configs[0].Flags, " ") != "--poll-interval=20s" ||
		strings.Join(o.Configs[1].Flags, " ") != "--max-concurrent-reconciles=32 --soracom-calls-per-second=50 --poll-interval=20s" {
		t.Errorf("configs: %+v", o.Configs)
	}
	o, err = parseFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Sessions != 1000 || o.Parallelism != 16 || o.Environments != 1 || o.Namespaces != 1 || o.Runs != 1 || o.Baseline != 0 ||
		len(o.Configs[0].Flags) != 0 || len(o.sizes()) != 1 {
		t.Errorf("defaults: %+v", o)
	}
	for _, bad := range [][]string{{"--configs", "fast"}, {"--namespaces", "2"}, {"--sessions", "0"}, {"--baseline", "1000"}} {
		if _, err := parseFlags(bad, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: want an error", bad)
		}
	}
}
