package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatestream/gatestream/hack/internal/controlplane"
	"github.com/gatestream/gatestream/hack/internal/harness"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	"github.com/gatestream/gatestream/internal/repo"
	"github.com/gatestream/gatestream/internal/testenv"
)

// TestChaosShort runs the short suite (go run ./hack/chaos --short): every
// scenario with 2 environments, 6 sessions, 4 kills, 8 % cloud faults, three
// scenarios at a time, against a manager binary built from this tree, and
// asserts the bars: at most one of every external object per environment
// and group, exactly one URL delivered per session, nothing stuck, nothing
// left. The time bounds are only timeouts; no figure is asserted on timing.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts control planes and manager processes: not in -short")
	}
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := controlplane.AssetsDir(root, "etcd", "kube-apiserver"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the chaos suite needs the control plane binaries (make k8s): %v", err)
		}
		t.Skipf("the chaos suite needs the control plane binaries (make k8s): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "manager")
	var build bytes.Buffer
	if err := harness.BuildManager(ctx, root, bin, &build); err != nil {
		t.Fatalf("%v\n%s", err, build.String())
	}
	// Kept after a failure (the run says where), removed after a clean run.
	workdir, err := os.MkdirTemp("", "gatestream-chaos-short-")
	if err != nil {
		t.Fatal(err)
	}
	o, err := parseFlags([]string{"--short", "--manager", bin, "--workdir", workdir}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var out testenv.SyncBuffer
	start := time.Now()
	rep, err := run(ctx, o, &out)
	t.Logf("go run ./hack/chaos --short (%s):\n%s", time.Since(start).Round(time.Second), out.String())
	if err != nil {
		t.Fatalf("the suite failed: %v (logs in %s)", err, workdir)
	}
	if len(rep.Runs) != 1 || len(rep.Runs[0]) != len(scenarioNames) {
		t.Fatalf("want one run of %d scenarios, got %+v", len(scenarioNames), rep.Runs)
	}
	for _, r := range rep.Runs[0] {
		t.Run(r.Scenario, func(t *testing.T) {
			for _, m := range r.missed() {
				t.Errorf("bar missed: %s", m)
			}
			if got := len(r.Sessions); got != o.Sessions*len(r.phases()) {
				t.Errorf("%d sessions counted, want %d", got, o.Sessions*len(r.phases()))
			}
			if r.Scenario == scenarioCrashLoop && r.Restarts < o.Kills {
				t.Errorf("%d restarts after %d kills", r.Restarts, o.Kills)
			}
		})
	}
	if t.Failed() {
		t.Logf("logs kept in %s", workdir)
	}
}

// phases are the session phases a result counted.
func (r *result) phases() []string {
	var out []string
	for _, s := range r.Sessions {
		p, _, _ := strings.Cut(s.Key, "/")
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// Each fault kind fires for rate/4 of the calls: the rules are consulted in
// order, so each one's probability is conditional on the earlier ones.
func TestFaultRules(t *testing.T) {
	for _, rate := range []float64{0.2, 0.08, 0.6} {
		rules := faultRules(rate)
		if len(rules) != 4 {
			t.Fatalf("%d rules", len(rules))
		}
		notYet := 1.0
		kinds := map[fault.Kind]bool{}
		for _, r := range rules {
			if r.API != fault.Any || r.Op != fault.Any {
				t.Errorf("rule %+v is not for every operation of every API", r)
			}
			kinds[r.Kind] = true
			if got := notYet * r.Probability; math.Abs(got-rate/4) > 1e-12 {
				t.Errorf("rate %v: %s fires for %v of the calls, want %v", rate, r.Kind, got, rate/4)
			}
			notYet *= 1 - r.Probability
		}
		if math.Abs(1-notYet-rate) > 1e-12 || len(kinds) != 4 {
			t.Errorf("rate %v: %v of the calls faulted, kinds %v", rate, 1-notYet, kinds)
		}
	}
	// The injector draws them as computed (seeded, so exact for this seed within a margin).
	in := fault.New(7)
	for _, r := range faultRules(0.2) {
		in.Add(r)
	}
	by := map[fault.Kind]int{}
	const n = 200000
	for range n {
		k, _ := in.Decide("ec2", "RunInstances")
		by[k]++
	}
	for _, k := range []fault.Kind{fault.Throttle, fault.ServerError, fault.Unavailable, fault.LoseResponse} {
		if share := float64(by[k]) / n; math.Abs(share-0.05) > 0.005 {
			t.Errorf("%s: %.4f of the calls, want 0.05", k, share)
		}
	}
}

func TestKillTimes(t *testing.T) {
	a, b := killTimes(3, 20, time.Minute), killTimes(3, 20, time.Minute)
	if !slices.Equal(a, b) {
		t.Error("the same seed gives other moments")
	}
	if !slices.IsSorted(a) || len(a) != 20 || a[0] < 0 || a[19] >= time.Minute {
		t.Errorf("moments: %v", a)
	}
	if slices.Equal(a, killTimes(4, 20, time.Minute)) {
		t.Error("another seed gives the same moments")
	}
}

func TestOwnerOf(t *testing.T) {
	for _, c := range []struct {
		tags map[string]string
		name string
		want string
	}{
		{map[string]string{"gatestream.io/owner": "chaos-003/env"}, "", "chaos-003"},
		{nil, "gs-chaos-001_env", "chaos-001"},
		{map[string]string{"gatestream.io/owner": "chaos-002/env"}, "gs-chaos-001_env", "chaos-002"},
		{map[string]string{"name": "x"}, "fleet", unattributed},
	} {
		if got := ownerOf(c.tags, c.name); got != c.want {
			t.Errorf("ownerOf(%v, %q) = %q, want %q", c.tags, c.name, got, c.want)
		}
	}
}

// exact is a result that meets every bar.
func exact() *result {
	owners := []string{"chaos-000", "chaos-001"}
	r := &result{Scenario: scenarioCrashLoop, Owners: owners, Created: map[string]map[string]int{}, Converged: true, Deleted: true,
		Converge: 2 * time.Second, Delete: 30 * time.Second, Restarts: 4}
	for _, k := range allKinds {
		r.Created[k] = map[string]int{"chaos-000": 1, "chaos-001": 1}
	}
	for _, key := range []string{"load/chaos-000/s-000", "load/chaos-001/s-001"} {
		r.Sessions = append(r.Sessions, sessionCount{Key: key, Minted: 1, Delivered: 1})
	}
	return r
}

func TestMissed(t *testing.T) {
	if m := exact().missed(); len(m) != 0 {
		t.Fatalf("an exact result misses %v", m)
	}
	for name, c := range map[string]struct {
		change func(r *result)
		want   string
	}{
		"a second VPG": {func(r *result) {
			r.Created[kindVPG]["chaos-001"] = 2
			r.IDs = map[string][]string{"VPG/chaos-001": {"vpg-a", "vpg-b"}}
		}, "chaos-001: 2 VPGs created (vpg-a, vpg-b)"},
		"an object of no known owner": {func(r *result) { r.Created[kindRouter][unattributed] = 1 }, "1 router(s) of no known owner"},
		"two URLs":                    {func(r *result) { r.Sessions[1].Delivered = 2 }, "1 session(s) delivered more than one URL: load/chaos-001/s-001 (2)"},
		"Ready without a URL":         {func(r *result) { r.Sessions[0].Delivered = 0 }, "1 session(s) with no URL seen in their Secret: load/chaos-000/s-000"},
		"stuck": {func(r *result) {
			r.Sessions[0].Delivered, r.Sessions[0].Stuck = 0, true
			r.NotReady, r.Converged = []string{"StreamingSession chaos-000/s-000: phase Pending"}, false
		}, "1 object(s) not Ready 2.0 s after the chaos ended: StreamingSession chaos-000/s-000: phase Pending"},
		"left":             {func(r *result) { r.Left, r.Deleted = []string{"VPG vpg-a (running)"}, false }, "1 object(s) left 30.0 s after the delete: VPG vpg-a (running)"},
		"new after the DR": {func(r *result) { r.New = map[string]int{kindFleet: 1} }, "1 new fleet(s) after the recovery (want 0)"},
		"no takeover":      {func(r *result) { r.HasTakeover = true }, "no standby took the lease over"},
		"slow takeover": {func(r *result) {
			r.TimeBars, r.HasTakeover, r.TookOver, r.Takeover = true, true, true, 4600*time.Millisecond
		},
			"a standby took the lease over 4.6 s after the leader was killed, more than 4.5s"},
		"a count not exact": {func(r *result) { r.Exactness = []string{"x"} }, "count not exact: x"},
	} {
		r := exact()
		c.change(r)
		m := r.missed()
		if len(m) != 1 || !strings.HasPrefix(m[0], c.want) {
			t.Errorf("%s: missed %q, want one starting %q", name, m, c.want)
		}
	}
	// Stuck sessions are counted once, as stuck, not also as without a URL.
	r := exact()
	r.Sessions[0].Delivered, r.Sessions[0].Stuck = 0, true
	if r.stuck() != 1 {
		t.Errorf("stuck %d", r.stuck())
	}
}

func TestWriteTable(t *testing.T) {
	good, bad := exact(), exact()
	bad.Scenario = scenarioLeaderKill
	bad.HasTakeover, bad.TookOver, bad.Takeover = true, true, 3500*time.Millisecond
	bad.Created[kindVPG]["chaos-000"] = 3
	bad.Sessions[1].Minted = 3
	bad.Notes = []string{"a note"}
	var b bytes.Buffer
	if err := writeTable(&b, []*result{good, bad}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("want a header, two rows, a note and a missed bar:\n%s", b.String())
	}
	if got := strings.Join(strings.Fields(lines[1]), " "); got != "crash-loop 1 1 1 1 1 1 1 1 0 2.0 30.0 0 4 - ok" {
		t.Errorf("row: %q", got)
	}
	if got := strings.Join(strings.Fields(lines[2]), " "); got != "leader-kill 2.00 (max 3) 1 1 1 1 1 2.00 (1–3) 1 0 2.0 30.0 0 4 3.5 1 MISSED" {
		t.Errorf("row: %q", got)
	}
	col := strings.Index(lines[0], "converge s")
	if !strings.HasPrefix(lines[1][col:], "2.0") {
		t.Errorf("columns do not line up:\n%s", b.String())
	}
	if lines[3] != "  leader-kill: a note" || !strings.HasPrefix(lines[4], "  leader-kill: BAR MISSED: chaos-000: 3 VPGs created") {
		t.Errorf("notes:\n%s", strings.Join(lines[3:], "\n"))
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Environments != 5 || o.Sessions != 100 || o.Kills != 20 || o.FaultRate != 0.2 || o.Runs != 1 || o.Parallel != 1 ||
		o.APIServerDowntime != 20*time.Second || !slices.Equal(o.Scenarios, scenarioNames) {
		t.Errorf("defaults: %+v", o)
	}
	o, err = parseFlags([]string{"--short", "--sessions", "10", "--scenarios", "1,leader-kill,5"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.Environments != 2 || o.Sessions != 10 || o.Kills != 4 || o.FaultRate != 0.08 || o.Parallel != 3 ||
		!slices.Equal(o.Scenarios, []string{scenarioCrashLoop, scenarioLeaderKill, scenarioDisaster}) {
		t.Errorf("short: %+v", o)
	}
	for _, bad := range [][]string{{"--scenarios", "6"}, {"--scenarios", "chaos"}, {"--fault-rate", "1"}, {"--sessions", "0"}, {"--parallel", "0"}, {"extra"}} {
		if _, err := parseFlags(bad, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: want an error", bad)
		}
	}
}

// TestTimeBars: the full suite holds convergence to 30 s and deletion to 60 s; the short suite (make test) asserts no time.
func TestTimeBars(t *testing.T) {
	for _, tc := range []struct {
		scenario         string
		converge, delete time.Duration
		timeBars         bool
		want             int
	}{
		{scenarioCrashLoop, 29 * time.Second, 59 * time.Second, true, 0},
		{scenarioCrashLoop, 31 * time.Second, 59 * time.Second, true, 1},
		{scenarioFaults, 29 * time.Second, 61 * time.Second, true, 1},
		{scenarioFaults, 31 * time.Second, 61 * time.Second, true, 2},
		{scenarioFaults, 90 * time.Second, 90 * time.Second, false, 0},
	} {
		r := &result{Scenario: tc.scenario, Converge: tc.converge, Converged: true, Delete: tc.delete, Deleted: true, TimeBars: tc.timeBars}
		if got := r.missed(); len(got) != tc.want {
			t.Errorf("%s converged in %s, deleted in %s (time bars %v): missed %q, want %d", tc.scenario, tc.converge, tc.delete, tc.timeBars, got, tc.want)
		}
	}
}
