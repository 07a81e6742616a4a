package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gatestream/gatestream/hack/internal/controlplane"
	"github.com/gatestream/gatestream/internal/emulator/fault"
)

// The scenarios, in order.
const (
	scenarioCrashLoop  = "crash-loop"
	scenarioFaults     = "faults"
	scenarioLeaderKill = "leader-kill"
	scenarioAPIDown    = "apiserver-down"
	scenarioDisaster   = "disaster-recovery"
)

var scenarioNames = []string{scenarioCrashLoop, scenarioFaults, scenarioLeaderKill, scenarioAPIDown, scenarioDisaster}

// Leader election in leader-kill: short, so that a takeover after a SIGKILL
// (one lease duration after the last renewal the standby saw) fits in the load.
var shortLease = []string{"--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=500ms"}

// takeoverBar is the bound for a takeover after a SIGKILL: the lease
// duration plus the retry period of shortLease (the leader renews every retry
// period, so its last renewal is at most that long before the kill).
const takeoverBar = 4*time.Second + 500*time.Millisecond

// leaderElect are the flags of a manager that elects a leader (its Lease in gatestream-system).
func leaderElect(extra ...string) []string {
	return append([]string{"--leader-elect", "--leader-election-namespace=" + controlplane.SystemNamespace}, extra...)
}

// When, within the load window, sessions are created and the chaos strikes.
const (
	sessionSpread = 0.6  // sessions are created over the first 60 % of the window
	leaderKillAt  = 0.3  // leader-kill: the leader is SIGKILLed 30 % into the window
	apiDownAt     = 0.25 // apiserver-down: kube-apiserver stops 25 % into the window
)

// runScenario runs one scenario on a fresh world and returns its result; an
// error is a failure of the suite itself (the control plane did not start…).
func (s *suite) runScenario(ctx context.Context, run int, name string, seed uint64) (*result, error) {
	dir := filepath.Join(s.workdir, fmt.Sprintf("run-%d", run), name)
	w, err := s.newWorld(ctx, dir, name, seed)
	if err != nil {
		return nil, err
	}
	defer w.close()
	r := &result{Scenario: name, Owners: w.namespaces, TimeBars: !s.o.Short}
	var chaosEnd time.Time
	if name == scenarioDisaster {
		chaosEnd, err = w.disasterRecovery(ctx, r)
	} else {
		chaosEnd, err = w.underLoad(ctx, r)
	}
	if err != nil {
		r.Err = err
		s.p.Step("%s: %v", name, err)
	}
	if !chaosEnd.IsZero() {
		w.converge(ctx, r, chaosEnd, s.o.Sessions)
		s.p.Step("%s: deleting everything", name)
		r.Delete, r.Left, r.Deleted = w.deleteAll(ctx, s.o.DeleteTimeout)
		s.p.Step("%s: %s in %s s, %d object(s) left", name, map[bool]string{true: "deleted", false: "not deleted"}[r.Deleted], secs(r.Delete), len(r.Left))
	}
	for _, sup := range w.sups {
		sup.stop(30 * time.Second)
	}
	w.count(r)
	return r, nil
}

// underLoad runs scenarios 1–4: the managers start, then at t0 the
// environments and device groups are applied and the sessions created over
// the first part of the window while the chaos strikes; it returns when the
// chaos is over.
func (w *world) underLoad(ctx context.Context, r *result) (time.Time, error) {
	o, p := w.s.o, w.s.p
	window := o.ChaosDuration
	var chaos func(ctx context.Context, t0 time.Time) error
	switch w.name {
	case scenarioCrashLoop:
		sup, err := w.startManager("manager")
		if err != nil {
			return time.Time{}, err
		}
		chaos = func(ctx context.Context, t0 time.Time) error { return w.crashLoop(ctx, t0, sup) }
	case scenarioFaults:
		if _, err := w.startManager("manager"); err != nil {
			return time.Time{}, err
		}
		chaos = func(ctx context.Context, t0 time.Time) error { return w.faults(ctx, t0, r) }
	case scenarioLeaderKill:
		for _, n := range []string{"manager-a", "manager-b"} {
			if _, err := w.startManager(n, leaderElect(shortLease...)...); err != nil {
				return time.Time{}, err
			}
		}
		chaos = func(ctx context.Context, t0 time.Time) error { return w.leaderKill(ctx, t0, r) }
	case scenarioAPIDown:
		if _, err := w.startManager("manager", leaderElect()...); err != nil {
			return time.Time{}, err
		}
		chaos = func(ctx context.Context, t0 time.Time) error { return w.apiServerDown(ctx, t0, r) }
	default:
		return time.Time{}, fmt.Errorf("unknown scenario %q", w.name)
	}
	for _, sup := range w.sups {
		if err := sup.waitReady(ctx, 2*time.Minute); err != nil {
			return time.Time{}, err
		}
	}
	if w.name == scenarioLeaderKill {
		if err := w.waitLeader(ctx, time.Minute); err != nil {
			return time.Time{}, err
		}
	}

	t0 := time.Now()
	p.Step("%s: load: %d environment(s), %d device group(s), %d session(s) over %s s; chaos for %s",
		w.name, len(w.namespaces), len(w.namespaces), o.Sessions, secs(time.Duration(float64(window)*sessionSpread)), window)
	// The load may wait for an API server that is down on purpose; it has to
	// be done soon after the window.
	loadCtx, cancel := context.WithTimeout(ctx, window+o.APIServerDowntime+2*time.Minute)
	defer cancel()
	loaded := make(chan error, 1)
	go func() {
		if err := w.applyBase(loadCtx); err != nil {
			loaded <- fmt.Errorf("applying the environments and device groups: %w", err)
			return
		}
		loaded <- w.createSessions(loadCtx, o.Sessions, time.Duration(float64(window)*sessionSpread))
	}()
	chaosErr := chaos(ctx, t0)
	if err := wait(ctx, time.Until(t0.Add(window))); err != nil {
		return time.Time{}, err
	}
	end := time.Now()
	if q := w.cloud.Soracom.ThrottledUntil(); q.After(end) {
		// The fault rules are disarmed, but SORACOM refuses an operation
		// whose quota an injected 429 ran out until that minute ends (and
		// told the manager so): the chaos is over only then.
		w.quotaTail = q.Sub(end)
		r.Notes = append(r.Notes, fmt.Sprintf("SORACOM quotas run out by injected 429s refused for %s s after the fault rules were disarmed: convergence is counted from then", secs(w.quotaTail)))
		end = q
	}
	p.Step("%s: the chaos is over", w.name)
	if err := <-loaded; err != nil {
		return end, fmt.Errorf("the load: %w", err)
	}
	return end, chaosErr
}

// wait sleeps d (nothing when d <= 0) unless ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// killTimes are n seeded moments in [0, window), sorted.
func killTimes(seed uint64, n int, window time.Duration) []time.Duration {
	rng := rand.New(rand.NewPCG(seed, seed^0x6a09e667f3bcc909))
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(rng.Int64N(int64(window)))
	}
	slices.Sort(out)
	return out
}

// crashLoop SIGKILLs the manager at --kills seeded moments of the window;
// the supervisor starts it again at once each time.
func (w *world) crashLoop(ctx context.Context, t0 time.Time, sup *supervisor) error {
	for i, at := range killTimes(w.seed, w.s.o.Kills, w.s.o.ChaosDuration) {
		if err := wait(ctx, time.Until(t0.Add(at))); err != nil {
			return err
		}
		pid := sup.kill()
		if (i+1)%5 == 0 || i+1 == w.s.o.Kills {
			w.s.p.Step("%s: SIGKILL %d of %d (pid %d) at %s s", w.name, i+1, w.s.o.Kills, pid, secs(at))
		}
	}
	return nil
}

// faultRules spread rate evenly over the four fault kinds, for every
// operation of every API: rules are consulted in order and the first that
// fires wins, so each one's probability is conditional on the earlier ones
// not firing (rate/4 each overall).
func faultRules(rate float64) []fault.Rule {
	kinds := []fault.Kind{fault.Throttle, fault.ServerError, fault.Unavailable, fault.LoseResponse}
	each := rate / float64(len(kinds))
	var out []fault.Rule
	for i, k := range kinds {
		out = append(out, fault.Rule{API: fault.Any, Op: fault.Any, Kind: k, Probability: each / (1 - each*float64(i))})
	}
	return out
}

// faults arms the fault rules for the window, then disarms them.
func (w *world) faults(ctx context.Context, t0 time.Time, r *result) error {
	before := len(w.cloud.Faults.Calls(fault.Any, fault.Any))
	for _, rule := range faultRules(w.s.o.FaultRate) {
		w.cloud.Faults.Add(rule)
	}
	err := wait(ctx, time.Until(t0.Add(w.s.o.ChaosDuration)))
	w.cloud.Faults.Reset()
	calls := w.cloud.Faults.Calls(fault.Any, fault.Any)[before:]
	by := map[fault.Kind]int{}
	for _, c := range calls {
		by[c.Fault]++
	}
	r.Notes = append(r.Notes, fmt.Sprintf("%d cloud calls during the window: throttle %d, server-error %d, unavailable %d, lose-response %d (%.1f %% faulted)",
		len(calls), by[fault.Throttle], by[fault.ServerError], by[fault.Unavailable], by[fault.LoseResponse],
		100*float64(len(calls)-by[fault.None])/float64(max(len(calls), 1))))
	return err
}

// waitLeader waits until one manager holds the Lease and says so in its log.
func (w *world) waitLeader(ctx context.Context, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for {
		if w.leaseHolder(ctx) != "" && w.leader() != nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no manager acquired the lease within %s (holder %q)", bound, w.leaseHolder(ctx))
		}
		if err := wait(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// leaderKill SIGKILLs the leader 30 % into the window and measures how long
// until the Lease names another holder (the killed one is started again at
// once, as a new standby).
func (w *world) leaderKill(ctx context.Context, t0 time.Time, r *result) error {
	r.HasTakeover = true
	if err := wait(ctx, time.Until(t0.Add(time.Duration(float64(w.s.o.ChaosDuration)*leaderKillAt)))); err != nil {
		return err
	}
	leader := w.leader()
	if leader == nil {
		return fmt.Errorf("no single manager says it leads (lease holder %q)", w.leaseHolder(ctx))
	}
	holder := w.leaseHolder(ctx)
	killed := time.Now()
	pid := leader.kill()
	w.s.p.Step("%s: SIGKILL the leader %s (pid %d, lease holder %s)", w.name, leader.name, pid, holder)
	bound := 30 * time.Second
	for {
		if h := w.leaseHolder(ctx); h != "" && h != holder {
			r.Takeover, r.TookOver = time.Since(killed), true
			who := "?"
			if l := w.leader(); l != nil {
				who = l.name
			}
			w.s.p.Step("%s: %s took the lease over after %s s (holder %s)", w.name, who, secs(r.Takeover), h)
			r.Notes = append(r.Notes, fmt.Sprintf("leader %s (pid %d) SIGKILLed; %s took over after %s s (lease 4s, renew 3s, retry 500ms)", leader.name, pid, who, secs(r.Takeover)))
			return nil
		}
		if time.Since(killed) > bound {
			return fmt.Errorf("the lease still names %s %s after the leader was killed", holder, bound)
		}
		if err := wait(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// apiServerDown stops kube-apiserver 25 % into the window for
// --apiserver-downtime, then starts it again on the same etcd.
func (w *world) apiServerDown(ctx context.Context, t0 time.Time, r *result) error {
	if err := wait(ctx, time.Until(t0.Add(time.Duration(float64(w.s.o.ChaosDuration)*apiDownAt)))); err != nil {
		return err
	}
	stopped := time.Now()
	if err := w.cp.StopAPIServer(5 * time.Second); err != nil {
		return err
	}
	w.s.p.Step("%s: kube-apiserver stopped (etcd keeps running)", w.name)
	if err := wait(ctx, time.Until(stopped.Add(w.s.o.APIServerDowntime))); err != nil {
		return err
	}
	if err := w.cp.StartAPIServer(); err != nil {
		return err
	}
	down := time.Since(stopped)
	w.s.p.Step("%s: kube-apiserver started again; it answers %s s after it was stopped", w.name, secs(down))
	r.Notes = append(r.Notes, fmt.Sprintf("kube-apiserver stopped %s s into the window (SIGTERM, SIGKILL after 5 s), started again %s later; it answered %s s after it was stopped. "+
		"The manager elects a leader with the shipped lease timings (15s/10s/2s)", secs(stopped.Sub(t0)), w.s.o.APIServerDowntime, secs(down)))
	return nil
}

// disasterRecovery builds everything until all is Ready, throws the control
// plane away (the manager SIGKILLed, etcd's data gone), starts a new one,
// applies the same manifests and starts a manager with the same
// --cluster-name. It returns when the new manager is ready and the
// manifests are applied: the convergence is measured from there.
func (w *world) disasterRecovery(ctx context.Context, r *result) (time.Time, error) {
	o, p := w.s.o, w.s.p
	sup, err := w.startManager("manager-before")
	if err != nil {
		return time.Time{}, err
	}
	if err := sup.waitReady(ctx, 2*time.Minute); err != nil {
		return time.Time{}, err
	}
	t0 := time.Now()
	p.Step("%s: building %d environment(s), %d device group(s), %d session(s)", w.name, len(w.namespaces), len(w.namespaces), o.Sessions)
	if err := w.applyBase(ctx); err != nil {
		return time.Time{}, err
	}
	if err := w.createSessions(ctx, o.Sessions, 0); err != nil {
		return time.Time{}, err
	}
	took, st, ok := w.waitConverged(ctx, t0, o.ConvergeTimeout, o.Sessions)
	if !ok {
		r.Notes = append(r.Notes, fmt.Sprintf("before the disaster, not all was Ready after %s s: %s", secs(took), strings.Join(clip(st.NotReady, 5), "; ")))
	} else {
		r.Notes = append(r.Notes, fmt.Sprintf("before the disaster all was Ready after %s s", secs(took)))
	}
	p.Step("%s: built (%d of %d sessions Ready after %s s); the disaster: SIGKILL the manager, stop the control plane, drop etcd's data", w.name, st.SessionsReady, o.Sessions, secs(took))
	w.cut = time.Now()
	w.mintedBefore = map[string]bool{}
	for _, u := range w.cloud.AWS.StreamingURLs() {
		w.mintedBefore[u.URL] = true
	}
	sup.abandon()
	if err := w.stopControlPlane(); err != nil {
		return time.Time{}, err
	}

	w.phase = phaseAfter
	if err := w.startControlPlane(ctx, "cp-after"); err != nil {
		return time.Time{}, err
	}
	sup, err = w.startManager("manager-after")
	if err != nil {
		return time.Time{}, err
	}
	if err := sup.waitReady(ctx, 2*time.Minute); err != nil {
		return time.Time{}, err
	}
	end := time.Now()
	p.Step("%s: a new control plane; the same manifests applied again, a manager with --cluster-name=%s", w.name, clusterName)
	if err := w.applyBase(ctx); err != nil {
		return end, err
	}
	if err := w.createSessions(ctx, o.Sessions, 0); err != nil {
		return end, err
	}
	return end, nil
}

// converge waits until all is Ready after the chaos ended.
func (w *world) converge(ctx context.Context, r *result, from time.Time, sessions int) {
	took, st, ok := w.waitConverged(ctx, from, w.s.o.ConvergeTimeout, sessions)
	r.Converge, r.Converged = took, ok
	w.final = st
	if w.quotaTail > 0 && ok {
		r.Notes = append(r.Notes, fmt.Sprintf("converged %s s after the fault rules were disarmed", secs(took+w.quotaTail)))
	}
	if ok && took > 5*time.Second && len(st.LastWaiting) > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("converged %s s after the chaos; the last to be Ready: %s", secs(took), strings.Join(clip(st.LastWaiting, 3), "; ")))
	}
	if !ok {
		r.NotReady = st.NotReady
		if !st.listed {
			r.NotReady = []string{"nothing could be listed"}
		}
		path := filepath.Join(w.dir, "not-ready.txt")
		if err := os.WriteFile(path, []byte(strings.Join(r.NotReady, "\n")+"\n"), 0o600); err == nil {
			r.Notes = append(r.Notes, fmt.Sprintf("%d object(s) not Ready at the bound, listed in %s", len(r.NotReady), path))
		}
	}
	w.s.p.Step("%s: %d/%d environments, %d/%d device groups, %d/%d sessions Ready %s s after the chaos",
		w.name, st.EnvironmentsReady, len(w.namespaces), st.GroupsReady, len(w.namespaces), st.SessionsReady, sessions, secs(took))
}

// count fills in the external objects, the sessions' figures and the restarts.
func (w *world) count(r *result) {
	w.track.stop()
	r.Created = w.track.created(time.Time{}, time.Time{})
	r.IDs = map[string][]string{}
	for kind, per := range r.Created {
		for owner, n := range per {
			if n > 1 || owner == unattributed {
				r.IDs[kind+"/"+owner] = w.track.ids(kind, owner)
			}
		}
	}
	if !w.cut.IsZero() {
		r.New = map[string]int{}
		for kind, per := range w.track.created(w.cut, time.Time{}) {
			for _, n := range per {
				r.New[kind] += n
			}
		}
		r.Notes = append(r.Notes, fmt.Sprintf("created after the recovery: %s", formatKinds(r.New)))
	}
	r.Exactness = w.track.exactness()

	minted := map[string]int{} // phase/user
	for _, u := range w.cloud.AWS.StreamingURLs() {
		phase := w.phases[len(w.phases)-1]
		if w.mintedBefore[u.URL] {
			phase = phaseBefore
		}
		minted[phase+"/"+u.UserId]++
	}
	stuck := map[string]bool{}
	for _, nr := range w.final.NotReady {
		if key, ok := strings.CutPrefix(nr, "StreamingSession "); ok {
			key, _, _ = strings.Cut(key, ":")
			stuck[key] = true
		}
	}
	for pi, phase := range w.phases {
		last := pi == len(w.phases)-1
		for i := range w.s.o.Sessions {
			s := w.session(i)
			nsName := s.Namespace + "/" + s.Name
			key := sessionKey(phase, s.Namespace, s.Name)
			r.Sessions = append(r.Sessions, sessionCount{
				Key:       key,
				Minted:    minted[phase+"/"+sessionUser(i)],
				Delivered: w.urls.count(key),
				Stuck:     last && (stuck[nsName] || !w.final.listed),
			})
		}
	}
	if err := w.writeCalls(); err != nil {
		r.Notes = append(r.Notes, "writing the cloud call log: "+err.Error())
	}
	var exits []string
	r.Restarts, exits = w.restarts()
	for _, e := range exits {
		r.Notes = append(r.Notes, e)
	}
}

// formatKinds is "VPG 0, peering 0, …" in the table's order.
func formatKinds(m map[string]int) string {
	var parts []string
	for _, k := range allKinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// writeCalls writes the emulators' call log to cloud-calls.log in the
// scenario's directory (time, API, operation, HTTP status, fault), for
// reading next to the managers' logs.
func (w *world) writeCalls() error {
	var b strings.Builder
	for _, c := range w.cloud.Faults.Calls(fault.Any, fault.Any) {
		fmt.Fprintf(&b, "%s %s %s %d %s\n", c.At.UTC().Format("15:04:05.000"), c.API, c.Op, c.Status, c.Fault)
	}
	return os.WriteFile(filepath.Join(w.dir, "cloud-calls.log"), []byte(b.String()), 0o600)
}
