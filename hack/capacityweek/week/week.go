// Package week simulates a working week of one RemoteAccessEnvironment's
// AppStream fleet on a fake clock: the operator's AppStream units
// (environment.AppStreamChain, run by unit.Converge on a fresh Pass per
// reconcile pass, the status carried over as the reconciler does) against
// the in-process AppStream emulator over HTTP through the real
// aws-sdk-go-v2 clients, and simulated users who mint a streaming URL, open
// it (a session in use) and end it 20 minutes after it started.
//
// It measures what a capacity policy costs (instance time, from the
// emulator's ground truth and from the operator's own status.usage), how
// many cloud calls the operator makes, and how long sessions wait for an
// instance. Everything is deterministic: same options, same result.
//
// Used by go run ./hack/capacityweek and by internal/environment's
// TestWeek*.
package week

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/emulator"
	awsemu "github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	"github.com/gatestream/gatestream/internal/environment"
	"github.com/gatestream/gatestream/internal/repo"
	"github.com/gatestream/gatestream/internal/unit"
)

// Start is the simulated week's Monday 00:00 UTC.
var Start = time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)

// Mode is when the operator's passes run.
type Mode string

const (
	// EveryMinute runs a pass at every simulated minute.
	EveryMinute Mode = "minute"
	// Reconciler runs a pass when the real reconciler would: 1 s after a
	// session event (capacityDebounce, Demand only) and at the requeue the
	// previous pass asked for (the units' wait, Pass.Wake, the poll interval).
	Reconciler Mode = "reconciler"
)

// Config is one capacity configuration.
type Config struct {
	Name string
	// Capacity is spec.appStream.capacity (nil: Fixed).
	Capacity *accessv1alpha1.CapacitySpec
	// DesiredCapacity is spec.appStream.fleet.desiredCapacity.
	DesiredCapacity int32
}

// Configs are the three configurations compared: Fixed 2; Demand min 0,
// spare 1, stopAfterIdle 30m; the same with min 1 in business hours
// (Mon–Fri 08:30–17:30 UTC).
func Configs() []Config {
	demand := func(schedules ...accessv1alpha1.CapacitySchedule) *accessv1alpha1.CapacitySpec {
		return &accessv1alpha1.CapacitySpec{Policy: accessv1alpha1.CapacityDemand, Demand: &accessv1alpha1.DemandCapacity{
			Min: 0, Max: 10, Spare: 1, StopAfterIdle: metav1.Duration{Duration: 30 * time.Minute}, Schedules: schedules}}
	}
	return []Config{
		{Name: "Fixed (desired 2)", DesiredCapacity: 2,
			Capacity: &accessv1alpha1.CapacitySpec{Policy: accessv1alpha1.CapacityFixed}},
		{Name: "Demand (min 0, spare 1, idle 30m)", DesiredCapacity: 2, Capacity: demand()},
		{Name: "Demand + business hours min 1", DesiredCapacity: 2, Capacity: demand(accessv1alpha1.CapacitySchedule{
			Name: "business-hours", Days: []accessv1alpha1.Weekday{"Mon", "Tue", "Wed", "Thu", "Fri"},
			Start: "08:30", End: "17:30", TimeZone: "UTC", Min: 1})},
	}
}

// Requests are the week's 30 session requests: six a working day between
// 09:00 and 16:40 (so that a 20-minute session ends by 17:00), a few of
// them overlapping (up to three at once on Thursday morning).
func Requests(start time.Time) []time.Time {
	days := [5][6]string{
		{"09:05", "09:15", "11:00", "13:30", "15:00", "16:30"}, // Mon
		{"09:30", "10:45", "12:00", "12:10", "14:20", "16:40"}, // Tue
		{"09:00", "10:00", "11:30", "13:00", "13:05", "15:45"}, // Wed
		{"09:20", "09:25", "09:35", "12:30", "14:00", "16:00"}, // Thu
		{"10:00", "11:15", "13:45", "14:50", "15:00", "16:20"}, // Fri
	}
	var out []time.Time
	for d, times := range days {
		for _, hhmm := range times {
			var h, m int
			_, _ = fmt.Sscanf(hhmm, "%d:%d", &h, &m)
			out = append(out, start.AddDate(0, 0, d).Add(time.Duration(h)*time.Hour+time.Duration(m)*time.Minute))
		}
	}
	return out
}

// Options of one simulation.
type Options struct {
	Config Config
	Mode   Mode
	// Start and Horizon bound the simulated time (default Start, 7 days).
	Start   time.Time
	Horizon time.Duration
	// Requests are when sessions are asked for (default Requests(Start)).
	Requests []time.Time
	// SessionLength is how long a session is in use after it started (default 20m).
	SessionLength time.Duration
	// FleetType is ON_DEMAND (the sample's, default) or ALWAYS_ON.
	FleetType accessv1alpha1.FleetType
	// Delays of the emulated AppStream (defaults: fleet start 10m, fleet
	// stop 5m, an instance added to a running fleet 5m).
	FleetStartDelay, FleetStopDelay, InstanceStartDelay time.Duration
	// TransitionWait and PollInterval of the reconciler (defaults 10s, 5m:
	// the manager's).
	TransitionWait, PollInterval time.Duration
	// Trace, when set, is told of every pass: its time, the live sessions,
	// the fleet's status and the requeue asked for.
	Trace func(now time.Time, live int, fleet accessv1alpha1.FleetStatus, requeue time.Duration)
}

func (o *Options) defaults() {
	if o.Start.IsZero() {
		o.Start = Start
	}
	if o.Horizon == 0 {
		o.Horizon = 7 * 24 * time.Hour
	}
	if o.Requests == nil {
		o.Requests = Requests(o.Start)
	}
	if o.SessionLength == 0 {
		o.SessionLength = 20 * time.Minute
	}
	if o.FleetType == "" {
		o.FleetType = accessv1alpha1.FleetTypeOnDemand
	}
	if o.FleetStartDelay == 0 {
		o.FleetStartDelay = 10 * time.Minute
	}
	if o.FleetStopDelay == 0 {
		o.FleetStopDelay = 5 * time.Minute
	}
	if o.InstanceStartDelay == 0 {
		o.InstanceStartDelay = 5 * time.Minute
	}
	if o.TransitionWait == 0 {
		o.TransitionWait = 10 * time.Second
	}
	if o.PollInterval == 0 {
		o.PollInterval = 5 * time.Minute
	}
	if o.Mode == "" {
		o.Mode = EveryMinute
	}
}

// Session is one simulated user's session.
type Session struct {
	User        string
	RequestedAt time.Time
	// StartedAt is when its streaming URL was opened (zero: never).
	StartedAt time.Time
	// EndedAt is when the user ended it (ExpireSession), StartedAt + SessionLength.
	EndedAt time.Time
	// EndedEarly: the emulator had ended the session before the user did
	// (an in-use instance was taken away).
	EndedEarly bool
	id         string
}

// Wait is how long the session waited for an instance.
func (s Session) Wait() time.Duration { return s.StartedAt.Sub(s.RequestedAt) }

// Result of one simulation.
type Result struct {
	Config string
	Mode   Mode
	End    time.Time
	// Passes run, and the passes that returned an error (their messages).
	Passes     int
	PassErrors []string
	// Truth is the emulator's FleetUsage at End.
	Truth awsemu.FleetUsage
	// Operator is the environment's status.usage after the last pass;
	// OperatorRunning/StoppedSeconds are its totals brought up to End with
	// the last sample's counts (the operator counts up to its last sample).
	Operator                                       accessv1alpha1.UsageStatus
	OperatorRunningSeconds, OperatorStoppedSeconds int64
	// UsageTolerance is the most the operator's figures may lag the truth:
	// every change of the instances it observed may have happened up to one
	// pass interval before the pass that saw it (instance-seconds).
	UsageTolerance float64
	// OperatorCalls and UserCalls count the calls the emulators served, by
	// "api/operation": during the operator's passes, and for the users
	// (minting, opening and ending sessions).
	OperatorCalls, UserCalls map[string]int
	// LiveChanges counts the changes of Pass.LiveSessions between passes.
	LiveChanges int
	// Events are the operator's Kubernetes Event reasons, counted.
	Events map[string]int
	// FleetState is the fleet's state at End.
	FleetState string
	Sessions   []Session
}

// RunningHours are the instance-hours billed at the running rate
// (ALWAYS_ON: every running instance; ON_DEMAND: those streaming) and
// StoppedHours at the stopped rate (ON_DEMAND instances running but idle),
// from the emulator's ground truth.
func (r Result) RunningHours(ft accessv1alpha1.FleetType) float64 {
	if ft == accessv1alpha1.FleetTypeAlwaysOn {
		return r.Truth.RunningInstanceSeconds / 3600
	}
	return r.Truth.InUseInstanceSeconds / 3600
}

// StoppedHours: see RunningHours.
func (r Result) StoppedHours(ft accessv1alpha1.FleetType) float64 {
	if ft == accessv1alpha1.FleetTypeAlwaysOn {
		return 0
	}
	return (r.Truth.RunningInstanceSeconds - r.Truth.InUseInstanceSeconds) / 3600
}

// ProvisionedHours are all running instance-hours (in use or idle).
func (r Result) ProvisionedHours() float64 { return r.Truth.RunningInstanceSeconds / 3600 }

// Waits returns the number of sessions that waited for an instance, and
// their mean and longest wait.
func (r Result) Waits() (n int, mean, longest time.Duration) {
	var sum time.Duration
	for _, s := range r.Sessions {
		if s.StartedAt.IsZero() {
			continue
		}
		if w := s.Wait(); w > 0 {
			n++
			sum += w
			longest = max(longest, w)
		}
	}
	if n > 0 {
		mean = sum / time.Duration(n)
	}
	return n, mean, longest
}

// Sum adds up the calls of m whose api is api (and op, unless op is "").
func Sum(m map[string]int, api, op string) int {
	n := 0
	for k, v := range m {
		if k == api+"/"+op || (op == "" && len(k) > len(api) && k[:len(api)+1] == api+"/") {
			n += v
		}
	}
	return n
}

// sim is one simulation's world.
type sim struct {
	o      Options
	ctx    context.Context
	clk    *clocktesting.FakeClock
	cloud  *emulator.Cloud
	aws    *aws.Clients
	env    *accessv1alpha1.RemoteAccessEnvironment
	http   *http.Client
	res    *Result
	fleet  string
	stack  string
	last   time.Time // previous pass
	prevRI [2]int32  // running, in use observed by the previous pass
	live   int       // LiveSessions of the previous pass
}

// Run simulates the options' week.
func Run(ctx context.Context, o Options) (res Result, err error) {
	o.defaults()
	s := &sim{o: o, ctx: ctx, clk: clocktesting.NewFakeClock(o.Start), http: &http.Client{}}
	s.res = &Result{Config: o.Config.Name, Mode: o.Mode, OperatorCalls: map[string]int{}, UserCalls: map[string]int{}, Events: map[string]int{}}
	s.cloud, err = emulator.Start(emulator.Options{Clock: s.clk, FleetStartDelay: o.FleetStartDelay, FleetStopDelay: o.FleetStopDelay})
	if err != nil {
		return res, err
	}
	defer func() {
		if cerr := s.cloud.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	s.cloud.AWS.SetFleetInstanceStartDelay(o.InstanceStartDelay)
	seed, err := s.cloud.SeedDemo()
	if err != nil {
		return res, err
	}
	if s.aws, err = aws.New(ctx, aws.Config{
		Region: seed.AWSRegion, AppStreamEndpoint: s.cloud.AppStreamURL, EC2Endpoint: s.cloud.EC2URL,
		Static:           &aws.StaticCredentials{AccessKeyID: seed.AWSAccessKeyID, SecretAccessKey: seed.AWSSecretAccessKey},
		RetryMaxAttempts: 1,
	}); err != nil {
		return res, err
	}
	if s.env, err = sampleEnv(o); err != nil {
		return res, err
	}
	s.fleet, s.stack = environment.FleetName(s.env), environment.StackName(s.env)
	s.cloud.Faults.ClearLog() // seeding
	reqs := slices.Clone(o.Requests)
	slices.SortFunc(reqs, time.Time.Compare)
	reqs = slices.DeleteFunc(reqs, func(at time.Time) bool { return !at.Before(o.Start.Add(o.Horizon)) })
	for i, at := range reqs {
		s.res.Sessions = append(s.res.Sessions, Session{User: fmt.Sprintf("user-%02d", i+1), RequestedAt: at})
	}
	if err := s.loop(); err != nil {
		return *s.res, err
	}
	return *s.res, nil
}

// sampleEnv is config/samples' environment as the API server hands it over,
// with the configuration's capacity, created at the start of the week.
func sampleEnv(o Options) (*accessv1alpha1.RemoteAccessEnvironment, error) {
	path, err := repo.Path("config", "samples", "access_v1alpha1_remoteaccessenvironment.yaml")
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var env accessv1alpha1.RemoteAccessEnvironment
	if err := yaml.UnmarshalStrict(data, &env); err != nil {
		return nil, err
	}
	env.UID = types.UID("3f1c2a9e-5b7d-4c1e-9a0f-6d2b8e4c7a10")
	env.Generation = 1
	env.CreationTimestamp = metav1.Time{Time: o.Start}
	env.Spec.AppStream.Capacity = o.Config.Capacity
	env.Spec.AppStream.Fleet.DesiredCapacity = o.Config.DesiredCapacity
	env.Spec.AppStream.Fleet.FleetType = o.FleetType
	return &env, nil
}

// loop advances the clock from Start to Start+Horizon. At each instant, in
// order: the users end the sessions that are due, the operator's pass runs
// (if one is due), the waiting users try to start their sessions.
func (s *sim) loop() error {
	o := s.o
	end := o.Start.Add(o.Horizon)
	demand := environment.SizedByDemand(s.env)
	nextPass := o.Start
	for now := o.Start; now.Before(end); {
		s.clk.SetTime(now)
		event := false
		ended, err := s.endDue(now)
		if err != nil {
			return err
		}
		event = event || ended
		if s.requestedAt(now) {
			event = true
		}
		if o.Mode == Reconciler && event && demand {
			// The session watch enqueues the environment after capacityDebounce.
			nextPass = earliest(nextPass, now.Add(time.Second))
		}
		if o.Mode == EveryMinute || !now.Before(nextPass) {
			nextPass = now.Add(s.pass(now))
		}
		started, err := s.tryStart(now)
		if err != nil {
			return err
		}
		if o.Mode == Reconciler && started && demand {
			nextPass = earliest(nextPass, now.Add(time.Second))
		}
		if o.Mode == EveryMinute {
			now = now.Add(time.Minute)
			continue
		}
		next := earliest(end, nextPass)
		for _, x := range s.res.Sessions {
			switch {
			case x.RequestedAt.After(now):
				next = earliest(next, x.RequestedAt)
			case x.StartedAt.IsZero():
				next = earliest(next, now.Add(time.Minute)) // a waiting user tries again each minute
			case x.EndedAt.IsZero():
				next = earliest(next, x.StartedAt.Add(o.SessionLength))
			}
		}
		now = next
	}
	// A last pass at the end of the week brings status up to date.
	s.clk.SetTime(end)
	s.pass(end)
	s.res.End = end
	u, _ := s.cloud.AWS.FleetUsage(s.fleet)
	s.res.Truth = u
	if st := s.env.Status.Usage; st != nil {
		s.res.Operator = *st.DeepCopy()
		run, stop := st.RunningInstanceSecondsTotal, st.StoppedInstanceSecondsTotal
		if st.SampledAt != nil {
			secs := int64(end.Sub(st.SampledAt.Time) / time.Second)
			r, i := int64(st.Running), int64(min(st.InUse, st.Running))
			if o.FleetType == accessv1alpha1.FleetTypeAlwaysOn {
				run += r * secs
			} else {
				run += i * secs
				stop += (r - i) * secs
			}
		}
		s.res.OperatorRunningSeconds, s.res.OperatorStoppedSeconds = run, stop
	}
	for _, f := range s.cloud.AWS.Fleets() {
		if f.Name == s.fleet {
			s.res.FleetState = f.State
		}
	}
	return nil
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// requestedAt reports whether a session is requested at now.
func (s *sim) requestedAt(now time.Time) bool {
	for _, x := range s.res.Sessions {
		if x.RequestedAt.Equal(now) {
			return true
		}
	}
	return false
}

// liveSessions counts the sessions requested and not ended by now (their
// StreamingSessions are Pending, Ready or Active).
func (s *sim) liveSessions(now time.Time) (live int, issued []environment.IssuedSession) {
	for _, x := range s.res.Sessions {
		if !x.RequestedAt.After(now) && x.EndedAt.IsZero() {
			live++
		}
		if !x.StartedAt.IsZero() {
			issued = append(issued, environment.IssuedSession{At: x.StartedAt})
		}
	}
	return live, issued
}

// pass runs the AppStream chain once, as the reconciler does, and returns
// the requeue it would ask for.
func (s *sim) pass(now time.Time) time.Duration {
	live, issued := s.liveSessions(now)
	if s.res.Passes > 0 && live != s.live {
		s.res.LiveChanges++
	}
	s.live = live
	p := &environment.Pass{
		Env: s.env, AWS: s.aws, Now: now, Log: logr.Discard(),
		Event:          func(_, reason, _, _ string) { s.res.Events[reason]++ },
		PersistStatus:  func(context.Context) error { return nil },
		TransitionWait: s.o.TransitionWait, PollInterval: s.o.PollInterval,
		Orig: s.env.Status.DeepCopy(), LiveSessions: live, SessionsIssued: issued,
	}
	out := unit.Converge(s.ctx, p, environment.AppStreamChain()...)
	if out.Ready && out.Err == nil {
		s.env.Status.Identity = p.Owner().Identity() // as the reconciler does
	}
	environment.SetReady(s.env, out)
	s.env.Status.ObservedGeneration = s.env.Generation
	if out.Err != nil {
		s.res.PassErrors = append(s.res.PassErrors, now.Format(time.RFC3339)+": "+out.Err.Error())
	}
	s.res.Passes++
	s.tally(s.res.OperatorCalls)
	// What the operator saw: changes of the instances it counts, each up to
	// one pass interval late.
	var ri [2]int32
	if fs := s.env.Status.Fleet; fs != nil && fs.State == "RUNNING" {
		ri = [2]int32{fs.Running, min(fs.InUse, fs.Running)}
	}
	if !s.last.IsZero() {
		d := absDiff(ri[0], s.prevRI[0]) + absDiff(ri[1], s.prevRI[1])
		s.res.UsageTolerance += float64(d) * now.Sub(s.last).Seconds()
	}
	s.prevRI, s.last = ri, now
	next := s.o.PollInterval
	if p.Wake > 0 && p.Wake < next {
		next = p.Wake
	}
	requeue := unit.MinWait(out.Wait, next)
	if s.o.Trace != nil && s.env.Status.Fleet != nil {
		s.o.Trace(now, live, *s.env.Status.Fleet, requeue)
	}
	return requeue
}

func absDiff(a, b int32) int64 {
	if a > b {
		return int64(a - b)
	}
	return int64(b - a)
}

// tally moves the emulators' call log into m.
func (s *sim) tally(m map[string]int) {
	for _, c := range s.cloud.Faults.Calls(fault.Any, fault.Any) {
		m[c.API+"/"+c.Op]++
	}
	s.cloud.Faults.ClearLog()
}

// endDue ends the sessions whose time is up, first checking that the
// emulator had not ended them already.
func (s *sim) endDue(now time.Time) (bool, error) {
	defer s.tally(s.res.UserCalls)
	any := false
	var states map[string]string
	for i := range s.res.Sessions {
		x := &s.res.Sessions[i]
		if x.StartedAt.IsZero() || !x.EndedAt.IsZero() || now.Before(x.StartedAt.Add(s.o.SessionLength)) {
			continue
		}
		if states == nil {
			states = map[string]string{}
			for _, e := range s.cloud.AWS.Sessions() {
				states[e.Id] = e.State
			}
		}
		x.EndedEarly = states[x.id] != awsemu.SessionActive
		if err := s.aws.AppStream.ExpireSession(s.ctx, x.id); err != nil {
			return any, fmt.Errorf("%s: ending session %s: %w", now.Format(time.RFC3339), x.id, err)
		}
		x.EndedAt = now
		any = true
	}
	return any, nil
}

// tryStart starts the waiting sessions, oldest request first, while the
// fleet is RUNNING with an available instance: mint a streaming URL, open it.
func (s *sim) tryStart(now time.Time) (bool, error) {
	defer s.tally(s.res.UserCalls)
	started := false
	for i := range s.res.Sessions {
		x := &s.res.Sessions[i]
		if x.RequestedAt.After(now) || !x.StartedAt.IsZero() {
			continue
		}
		if !s.available() {
			break
		}
		url, _, err := s.aws.AppStream.CreateStreamingURL(s.ctx, s.stack, s.fleet, x.User, "teraterm", "", time.Minute)
		if err != nil {
			return started, fmt.Errorf("%s: minting a streaming URL for %s: %w", now.Format(time.RFC3339), x.User, err)
		}
		req, err := http.NewRequestWithContext(s.ctx, http.MethodGet, url, nil)
		if err != nil {
			return started, err
		}
		resp, err := s.http.Do(req)
		if err != nil {
			return started, fmt.Errorf("opening the streaming URL of %s: %w", x.User, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return started, fmt.Errorf("%s: opening the streaming URL of %s with an instance available: %s", now.Format(time.RFC3339), x.User, resp.Status)
		}
		for _, e := range s.cloud.AWS.Sessions() {
			if e.UserId == x.User && e.State == awsemu.SessionActive {
				x.id = e.Id
			}
		}
		if x.id == "" {
			return started, fmt.Errorf("no active session of %s after opening its URL", x.User)
		}
		x.StartedAt = now
		started = true
	}
	return started, nil
}

// available reports whether the fleet is RUNNING with an instance free
// (read from the emulator's Go API, not a cloud call).
func (s *sim) available() bool {
	for _, f := range s.cloud.AWS.Fleets() {
		if f.Name == s.fleet {
			return f.State == "RUNNING" && f.ComputeCapacityStatus.Available > 0
		}
	}
	return false
}

// Ops lists the operations of m, sorted.
func Ops(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
