package leader_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/util/retry"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/gatestream/gatestream/internal/leader"
	"github.com/gatestream/gatestream/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

const ns = "default"

// Timings of the chaos leader-kill scenario (hack/chaos): 4s / 3s / 500ms.
const (
	leaseDuration = 4 * time.Second
	renewDeadline = 3 * time.Second
	retryPeriod   = 500 * time.Millisecond
)

// candidate is an Elector under test and what it did.
type candidate struct {
	*leader.Elector
	stop      context.CancelFunc
	done      chan error // Run's result
	finished  chan struct{}
	stoppedAt time.Time      // when Run returned (valid once done delivered)
	elected   chan time.Time // when Elected closed
	electedAt time.Time      // set by waitElected
	logs      *lines
}

// lines is a logger's output, one line per entry.
type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.l = append(l.l, prefix+" "+args)
	}, funcr.Options{Verbosity: 1})
}

func (l *lines) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.l {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.l, "\n")
}

func config(t *testing.T, name string) leader.Config {
	t.Helper()
	id, err := leader.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return leader.Config{
		Client:          kubernetes.NewForConfigOrDie(env.Config).CoordinationV1(),
		Namespace:       ns,
		Name:            name,
		Identity:        id,
		LeaseDuration:   leaseDuration,
		RenewDeadline:   renewDeadline,
		RetryPeriod:     retryPeriod,
		ReleaseOnCancel: true,
	}
}

// run starts an elector on cfg; the test's end stops it.
func run(t *testing.T, cfg leader.Config) *candidate {
	t.Helper()
	c := &candidate{done: make(chan error, 1), finished: make(chan struct{}), elected: make(chan time.Time, 1), logs: &lines{}}
	cfg.Log = c.logs.logger()
	e, err := leader.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Elector = e
	ctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	go func() {
		defer close(c.finished)
		err := e.Run(ctx)
		c.stoppedAt = time.Now()
		c.done <- err
	}()
	go func() {
		select {
		case <-e.Elected():
			c.elected <- time.Now()
		case <-ctx.Done():
		}
	}()
	t.Cleanup(func() {
		stop()
		<-c.finished
		if t.Failed() {
			t.Logf("logs of %s:\n%s", cfg.Identity, c.logs)
		}
	})
	return c
}

func isElected(c *candidate) bool {
	select {
	case <-c.Elected():
		return true
	default:
		return false
	}
}

// waitElected waits until c is elected and notes when.
func waitElected(t *testing.T, c *candidate, bound time.Duration) {
	t.Helper()
	select {
	case c.electedAt = <-c.elected:
	case <-time.After(bound):
		t.Fatalf("%s not elected within %s", c.Identity(), bound)
	}
}

// unique names a Lease for this run (tests may run several times on one API server).
func unique(base string) string { return base + "-" + utilrand.String(5) }

func getLease(t *testing.T, name string) *coordinationv1.Lease {
	t.Helper()
	var l coordinationv1.Lease
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &l); err != nil {
		t.Fatal(err)
	}
	return &l
}

func holder(l *coordinationv1.Lease) string { return ptr.Deref(l.Spec.HolderIdentity, "") }

// masterStatus reads leader_election_master_status{name} from controller-runtime's registry.
func masterStatus(t *testing.T, name string) float64 {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "leader_election_master_status" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "name" && l.GetValue() == name {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no leader_election_master_status{name=%q}", name)
	return 0
}

// Two candidates start together on a Lease that does not exist: exactly one
// creates it and leads, the other stays a standby while the leader renews.
func TestExactlyOneLeads(t *testing.T) {
	name := unique("one-leader")
	a, b := run(t, config(t, name)), run(t, config(t, name))
	testenv.Eventually(t, 10*time.Second, "a leader", func() error {
		if !isElected(a) && !isElected(b) {
			return errors.New("none elected")
		}
		return nil
	})
	lead, standby := a, b
	if isElected(b) {
		lead, standby = b, a
	}
	l := getLease(t, name)
	if holder(l) != lead.Identity() {
		t.Fatalf("lease held by %q, the elected candidate is %q", holder(l), lead.Identity())
	}
	if got := ptr.Deref(l.Spec.LeaseDurationSeconds, 0); got != 4 {
		t.Fatalf("leaseDurationSeconds %d, want 4", got)
	}
	first := l.Spec.RenewTime.Time
	// Several renewals later (retry period 500ms), still exactly one leads.
	testenv.Eventually(t, 5*time.Second, "three renewals", func() error {
		if l := getLease(t, name); !l.Spec.RenewTime.After(first.Add(3 * retryPeriod / 2)) {
			return fmt.Errorf("renewTime %s", l.Spec.RenewTime.Time)
		}
		return nil
	})
	if isElected(standby) {
		t.Fatal("both candidates are elected")
	}
	if l := getLease(t, name); holder(l) != lead.Identity() {
		t.Fatalf("lease now held by %q", holder(l))
	}
}

// A leader killed (its renewals stop, nothing released) is replaced within
// the lease duration after the last renewal the standby saw: never before
// (the standby counts from its own observation), and at most lease + retry
// after the kill (the bar).
func TestKilledLeaderIsReplacedWithinTheLease(t *testing.T) {
	name := unique("killed-leader")
	cfgA := config(t, name)
	cfgA.ReleaseOnCancel = false // a SIGKILL releases nothing
	a := run(t, cfgA)
	waitElected(t, a, 10*time.Second)
	b := run(t, config(t, name))
	waitObserved(t, b)
	first := getLease(t, name).Spec.RenewTime.Time
	testenv.Eventually(t, 5*time.Second, "two renewals", func() error {
		if l := getLease(t, name); !l.Spec.RenewTime.After(first.Add(retryPeriod)) {
			return fmt.Errorf("renewTime %s", l.Spec.RenewTime.Time)
		}
		return nil
	})

	killed := time.Now()
	a.stop()
	if err := <-a.done; err != nil {
		t.Fatalf("killed leader's Run: %v", err)
	}
	last := getLease(t, name)
	if holder(last) != a.Identity() {
		t.Fatalf("after the kill the lease names %q, want the killed leader (nothing released)", holder(last))
	}
	lastRenewal := last.Spec.RenewTime.Time

	waitElected(t, b, 2*leaseDuration)
	fromRenewal, fromKill := b.electedAt.Sub(lastRenewal), b.electedAt.Sub(killed)
	t.Logf("takeover after a kill: %s after the last renewal, %s after the kill (lease 4s, renew 3s, retry 500ms)",
		fromRenewal.Round(time.Millisecond), fromKill.Round(time.Millisecond))
	if fromRenewal < leaseDuration {
		t.Errorf("the standby took over %s after the last renewal: before the lease duration %s", fromRenewal, leaseDuration)
	}
	if bound := leaseDuration + retryPeriod; fromKill > bound {
		t.Errorf("takeover %s after the kill, want at most lease + retry = %s", fromKill, bound)
	}
	l := getLease(t, name)
	if holder(l) != b.Identity() || ptr.Deref(l.Spec.LeaseTransitions, 0) != ptr.Deref(last.Spec.LeaseTransitions, 0)+1 {
		t.Fatalf("lease holder %q transitions %d, want %q and %d", holder(l), ptr.Deref(l.Spec.LeaseTransitions, 0),
			b.Identity(), ptr.Deref(last.Spec.LeaseTransitions, 0)+1)
	}
}

// A leader that stops cleanly releases the Lease: the standby's watch sees it
// and takes over at once (the bar: within 2s).
func TestReleasedLeaseIsTakenAtOnce(t *testing.T) {
	name := unique("released")
	a := run(t, config(t, name))
	waitElected(t, a, 10*time.Second)
	b := run(t, config(t, name))
	waitObserved(t, b)
	stopped := time.Now()
	a.stop()
	if err := <-a.done; err != nil {
		t.Fatalf("leader's Run: %v", err)
	}
	if a.logs.count(`"released lease"`) != 1 {
		t.Errorf("the leader did not log the release:\n%s", a.logs)
	}
	waitElected(t, b, 5*time.Second)
	took := b.electedAt.Sub(stopped)
	t.Logf("takeover after a release: %s after the stop (release itself %s)", took.Round(time.Millisecond), a.stoppedAt.Sub(stopped).Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("takeover %s after a clean stop, want within 2s", took)
	}
	if l := getLease(t, name); holder(l) != b.Identity() {
		t.Fatalf("lease held by %q, want the standby", holder(l))
	}
}

// Another holder written into the Lease: the leader reports the loss.
func TestLeaderSeesAnotherHolder(t *testing.T) {
	name := unique("taken")
	a := run(t, config(t, name))
	waitElected(t, a, 10*time.Second)
	if v := masterStatus(t, name); v != 1 {
		t.Fatalf("leader_election_master_status = %v while leading, want 1", v)
	}
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		l := getLease(t, name)
		l.Spec.HolderIdentity = ptr.To("intruder")
		l.Spec.RenewTime = ptr.To(metav1.NowMicro())
		return env.Client.Update(context.Background(), l)
	}); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-a.done:
	case <-time.After(renewDeadline + 5*time.Second):
		t.Fatal("the leader did not notice another holder")
	}
	if !errors.Is(err, leader.ErrLost) || !strings.Contains(err.Error(), "intruder") {
		t.Fatalf("Run: %v, want leader election lost to intruder", err)
	}
	if v := masterStatus(t, name); v != 0 {
		t.Fatalf("leader_election_master_status = %v after the loss, want 0", v)
	}
	if a.logs.count("leader election lost") == 0 {
		t.Errorf("the loss is not logged:\n%s", a.logs)
	}
	if l := getLease(t, name); holder(l) != "intruder" {
		t.Fatalf("the losing leader changed the Lease: holder %q", holder(l))
	}
}

// failingLeases fails Lease updates while fail is set, and notes when the
// last successful update was sent.
type failingLeases struct {
	coordinationv1client.LeasesGetter
	fail   atomic.Bool
	gets   atomic.Int64
	mu     sync.Mutex
	lastOK time.Time
}

func (f *failingLeases) Leases(namespace string) coordinationv1client.LeaseInterface {
	return &failingLease{LeaseInterface: f.LeasesGetter.Leases(namespace), f: f}
}

func (f *failingLeases) lastUpdate() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastOK
}

type failingLease struct {
	coordinationv1client.LeaseInterface
	f *failingLeases
}

func (l *failingLease) Update(ctx context.Context, lease *coordinationv1.Lease, opts metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	if l.f.fail.Load() {
		return nil, errors.New("injected: connection refused")
	}
	sent := time.Now()
	got, err := l.LeaseInterface.Update(ctx, lease, opts)
	if err == nil {
		l.f.mu.Lock()
		l.f.lastOK = sent
		l.f.mu.Unlock()
	}
	return got, err
}

func (l *failingLease) Get(ctx context.Context, name string, opts metav1.GetOptions) (*coordinationv1.Lease, error) {
	l.f.gets.Add(1)
	return l.LeaseInterface.Get(ctx, name, opts)
}

// A leader that cannot renew gives up leading the renew deadline after its
// last successful renewal (before any standby may take over) and releases
// nothing.
func TestLeaderGivesUpWhenItCannotRenew(t *testing.T) {
	name := unique("cannot-renew")
	cfg := config(t, name)
	client := &failingLeases{LeasesGetter: cfg.Client}
	cfg.Client = client
	a := run(t, cfg)
	waitElected(t, a, 10*time.Second)
	testenv.Eventually(t, 5*time.Second, "a renewal", func() error {
		if client.lastUpdate().IsZero() {
			return errors.New("no renewal yet")
		}
		return nil
	})
	client.fail.Store(true)
	var err error
	select {
	case err = <-a.done:
	case <-time.After(renewDeadline + 5*time.Second):
		t.Fatal("the leader did not give up")
	}
	if !errors.Is(err, leader.ErrLost) {
		t.Fatalf("Run: %v, want leader election lost", err)
	}
	gaveUp := a.stoppedAt.Sub(client.lastUpdate())
	t.Logf("gave up leading %s after the last successful renewal (renew deadline %s)", gaveUp.Round(time.Millisecond), renewDeadline)
	// (The elector's renewal starts a few µs before the client notes it.)
	if gaveUp < renewDeadline-50*time.Millisecond || gaveUp > renewDeadline+retryPeriod {
		t.Errorf("gave up %s after the last renewal, want within [%s, %s]", gaveUp, renewDeadline-50*time.Millisecond, renewDeadline+retryPeriod)
	}
	if gaveUp >= leaseDuration {
		t.Errorf("gave up %s after the last renewal: a standby may already lead (lease %s)", gaveUp, leaseDuration)
	}
	if l := getLease(t, name); holder(l) != a.Identity() {
		t.Fatalf("lease holder %q: a lost leader must not release", holder(l))
	}
}

// With a fake clock: the standby counts the lease from the moment it sees
// each change of the record, not from the holder's renewTime (here an hour
// in the past, as from a skewed clock), and a poll reading the same record
// does not extend it.
func TestStandbyCountsFromItsOwnObservation(t *testing.T) {
	name := unique("fake-clock")
	ctx := context.Background()
	cs := kubernetes.NewForConfigOrDie(env.Config).CoordinationV1()
	ghost := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: coordinationv1.LeaseSpec{
		HolderIdentity: ptr.To("ghost"), LeaseDurationSeconds: ptr.To[int32](10),
		RenewTime: ptr.To(metav1.NewMicroTime(time.Now().Add(-time.Hour))), LeaseTransitions: ptr.To[int32](7),
	}}
	if _, err := cs.Leases(ns).Create(ctx, ghost, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fc := clocktesting.NewFakeClock(time.Now())
	cfg := config(t, name)
	cfg.Clock = fc
	cfg.LeaseDuration, cfg.RenewDeadline, cfg.RetryPeriod = 10*time.Second, 5*time.Second, time.Second
	client := &failingLeases{LeasesGetter: cfg.Client}
	cfg.Client = client
	s := run(t, cfg)

	// Observed at fake t0: the poll ticker and the expiry timer (t0+10s) wait.
	testenv.Eventually(t, 10*time.Second, "the standby arms its expiry timer", func() error {
		if n := fc.Waiters(); n != 2 {
			return fmt.Errorf("%d waiters on the clock", n)
		}
		return nil
	})
	poll := func(step time.Duration) {
		t.Helper()
		before := client.gets.Load()
		fc.Step(step)
		testenv.Eventually(t, 5*time.Second, "a poll", func() error {
			if client.gets.Load() == before {
				return errors.New("no Get yet")
			}
			return nil
		})
	}
	notElected := func(when string) {
		t.Helper()
		if isElected(s) {
			t.Fatalf("%s: the standby took the lease", when)
		}
		if l := getLease(t, name); holder(l) != "ghost" {
			t.Fatalf("%s: lease held by %q", when, holder(l))
		}
	}
	poll(9 * time.Second) // t0+9s: the same record, polled
	notElected("9s after the observation (the renewTime is an hour old)")

	// The ghost renews at t0+9s: the standby counts again from there.
	seen := s.logs.count("observed lease change")
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		l := getLease(t, name)
		l.Spec.RenewTime = ptr.To(metav1.NewMicroTime(time.Now().Add(-time.Hour + 9*time.Second)))
		return env.Client.Update(ctx, l)
	}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the standby observes the renewal", func() error {
		if s.logs.count("observed lease change") == seen {
			return errors.New("not yet")
		}
		return nil
	})
	poll(time.Second) // t0+10s: the first expiry, had the renewal been missed
	notElected("1s after the observed renewal")
	poll(8 * time.Second) // t0+18s
	notElected("9s after the observed renewal")
	fc.Step(time.Second) // t0+19s: a lease duration after the observed renewal
	waitElected(t, s, 5*time.Second)
	l := getLease(t, name)
	if holder(l) != s.Identity() || ptr.Deref(l.Spec.LeaseTransitions, 0) != 8 {
		t.Fatalf("lease holder %q transitions %d, want the standby and 8", holder(l), ptr.Deref(l.Spec.LeaseTransitions, 0))
	}
	if !l.Spec.RenewTime.Time.Equal(fc.Now().Truncate(time.Microsecond)) {
		t.Errorf("renewTime %s, want the standby's (fake) now %s", l.Spec.RenewTime.Time, fc.Now())
	}
}

func TestNewIdentity(t *testing.T) {
	host, _ := os.Hostname()
	a, err := leader.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := leader.NewIdentity()
	if !strings.HasPrefix(a, host+"_") || len(a) != len(host)+1+36 || a == b {
		t.Fatalf("identities %q, %q: want %s_<uuid>, unique", a, b, host)
	}
}

func TestConfigValidation(t *testing.T) {
	for name, mutate := range map[string]func(*leader.Config){
		"renew deadline not below the whole seconds of the lease": func(c *leader.Config) { c.LeaseDuration = 3500 * time.Millisecond },
		"retry period not below the renew deadline":               func(c *leader.Config) { c.RetryPeriod = c.RenewDeadline },
		"no identity": func(c *leader.Config) { c.Identity = "" },
		"no name":     func(c *leader.Config) { c.Name = "" },
	} {
		cfg := config(t, "validation")
		mutate(&cfg)
		if _, err := leader.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// waitObserved waits until the standby c has seen the lease change (the
// leader's renewals), so that its count runs from an observation.
func waitObserved(t *testing.T, c *candidate) {
	t.Helper()
	testenv.Eventually(t, 5*time.Second, "the standby observes the lease", func() error {
		if c.logs.count("observed lease change") == 0 {
			return errors.New("nothing observed yet")
		}
		return nil
	})
}
