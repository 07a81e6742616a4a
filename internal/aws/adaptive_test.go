package aws

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"

	emu "github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/fault"
)

// attemptLog watches an adaptive retryer's attempts. Waits are counted
// exactly: the SDK's adaptive mode sleeps with sdk.SleepWithContext, which
// calls ctx.Done() once per sleep, and nothing else on its attempt-token path
// calls it, so the calls to Done of the context it is given are its sleeps.
// An attempt that got its token before the retryer saw any throttle was not
// limited (the adaptive rate limits only after the first throttle): it is of
// the first wave.
type attemptLog struct {
	awssdk.RetryerV2
	mu                 sync.Mutex
	throttleSeen       bool
	firstWave          int // attempts sent before any throttle was seen
	firstWaveThrottled int
	laterThrottled     int
	waited, sleeps     int // attempts that waited for a token; sleeps in all
}

func (l *attemptLog) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	var done atomic.Int64
	release, err := l.RetryerV2.GetAttemptToken(context.WithValue(ctx, doneCounterKey{}, &done))
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := int(done.Load()); n > 0 {
		l.waited++
		l.sleeps += n
	}
	if err != nil {
		return nil, err
	}
	early := !l.throttleSeen
	if early {
		l.firstWave++
	}
	return func(opErr error) error {
		if IsThrottled(opErr) {
			l.mu.Lock()
			if early {
				l.firstWaveThrottled++
			} else {
				l.laterThrottled++
			}
			l.throttleSeen = true
			l.mu.Unlock()
		}
		return release(opErr)
	}, nil
}

func (l *attemptLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("first wave (before any throttle) %d attempts, %d throttled; later %d throttled; %d attempts waited for a token (%d sleeps)",
		l.firstWave, l.firstWaveThrottled, l.laterThrottled, l.waited, l.sleeps)
}

// doneCounterKey carries an attempt's counter to watchWaits.
type doneCounterKey struct{}

// watchWaits makes r count the Done calls of the context it waits for a
// token with (after bounding it, so only the SDK's sleeps are counted).
func watchWaits(r awssdk.RetryerV2) {
	ar := r.(*adaptiveRetryer)
	bound := ar.waitContext
	ar.waitContext = func(ctx context.Context) (context.Context, context.CancelFunc) {
		wctx, cancel := bound(ctx)
		if n, ok := ctx.Value(doneCounterKey{}).(*atomic.Int64); ok {
			return doneCounter{Context: wctx, n: n}, cancel
		}
		return wctx, cancel
	}
}

type doneCounter struct {
	context.Context
	n *atomic.Int64
}

func (c doneCounter) Done() <-chan struct{} {
	c.n.Add(1)
	return c.Context.Done()
}

// burstResult is what the emulator's call log says about a burst of calls.
type burstResult struct {
	ok, throttled int
	okAt          []time.Time // when each success was served, in order
	elapsed       time.Duration
	requeues      int64 // calls the callers made again after a throttled answer
}

// rate is the rate of successes from the i-th to the last one.
func (r burstResult) rate(i int) float64 {
	if span := r.okAt[len(r.okAt)-1].Sub(r.okAt[i]); span > 0 {
		return float64(len(r.okAt)-1-i) / span.Seconds()
	}
	return 0
}

func (r burstResult) String() string {
	return fmt.Sprintf("%d successes, %d throttled answers (%.0f%% of successes), %.1f calls/s from the first success to the last, %.1f/s over the second half, %s in all, %d requeues",
		r.ok, r.throttled, 100*float64(r.throttled)/float64(max(r.ok, 1)), r.rate(0), r.rate(r.ok/2), r.elapsed.Round(time.Millisecond), r.requeues)
}

// burst runs callers goroutines, each calling call until it succeeds (a
// throttled answer is retried at once, as a requeue would; anything else
// fails the test), and reads the emulator's log of op.
func burst(t *testing.T, e *testEnv, op string, callers int, call func(ctx context.Context, i int) error) burstResult {
	t.Helper()
	e.faults.ClearLog()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var requeues atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	start := time.Now()
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				err := call(ctx, i)
				if err == nil {
					return
				}
				if !IsThrottled(err) || ctx.Err() != nil {
					errs <- fmt.Errorf("caller %d: %w", i, err)
					return
				}
				requeues.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	r := burstResult{elapsed: time.Since(start), requeues: requeues.Load()}
	for _, c := range e.faults.Calls("appstream", op) {
		switch {
		case c.Status == 200:
			r.ok++
			r.okAt = append(r.okAt, c.At)
		case c.Fault == fault.Throttle:
			r.throttled++
		default:
			t.Fatalf("%s answered %d (%v)", op, c.Status, c.Fault)
		}
	}
	return r
}

// sharedClients builds two client sets (two environments, two sets of
// credentials) on one Retryers, as clients.Factory does, with the AppStream
// retryer's attempts watched.
func sharedClients(t *testing.T, e *testEnv) ([]*Clients, *attemptLog) {
	t.Helper()
	rs := NewRetryers(0, 0) // the factory's: default attempts and backoff
	watchWaits(rs.AppStream)
	log := &attemptLog{RetryerV2: rs.AppStream}
	rs.AppStream = log
	var out []*Clients
	for _, key := range []string{testAccessKey, "AKIAGATESTREAMTEST02"} {
		cfg := e.config()
		cfg.Static.AccessKeyID = key
		cfg.Retryers = rs
		out = append(out, e.clients(t, cfg))
	}
	if out[0] == out[1] || out[0].AppStream == out[1].AppStream {
		t.Fatal("two environments share a client")
	}
	return out, log
}

const (
	serverRate = 20  // calls per second the emulator serves (a bucket of as many)
	callers    = 200 // concurrent callers, one successful call each
)

// TestAdaptiveRateFollowsServerRate: the emulator serves serverRate calls a
// second and throttles the rest, and 200 callers at once each want one
// streaming URL (CreateStreamingURL: one attempt per call, the caller
// retries a throttled one at once) or one fleet description (DescribeFleets:
// the SDK retries, then the caller). All of them get it, at about the
// server's rate, without a retry storm.
//
// The bounds come from the adaptive algorithm (aws/retry/adaptive_ratelimit.go).
// It does not limit before the first throttle, so the first wave (the
// attempts sent before any throttle came back) is limited by nobody: of it,
// all those beyond the server's bucket are throttled, at most
// callers-serverRate. After that every attempt, first or retry, takes a
// client-side token. Each throttle cuts the client's rate to 70% of what it
// measured, and the rate regrows along a cubic that takes
// cbrt(0.3·R/0.4) ≈ 2.5 s (R = 20/s) to pass the rate last throttled, so a
// cycle serves some 0.7·R·2.5 ≈ 35 calls per probe above the server's rate,
// and a probe is throttled only for the attempts already past the client's
// bucket when the server's runs dry (a couple). At most half the successes
// is generous for that part; a retry storm (every waiting caller hammering
// until served) would throttle many times per success.
func TestAdaptiveRateFollowsServerRate(t *testing.T) {
	for _, tc := range []struct {
		op   string
		call func(c *Clients) func(ctx context.Context, i int) error
	}{
		{"CreateStreamingURL", func(c *Clients) func(context.Context, int) error {
			return func(ctx context.Context, i int) error {
				_, _, err := c.AppStream.CreateStreamingURL(ctx, "s", "f", fmt.Sprintf("user-%d", i), "", "", time.Minute)
				return err
			}
		}},
		{"DescribeFleets", func(c *Clients) func(context.Context, int) error {
			return func(ctx context.Context, _ int) error {
				_, err := c.AppStream.DescribeFleet(ctx, "f")
				return err
			}
		}},
	} {
		t.Run(tc.op, func(t *testing.T) {
			e := newTestEnv(t, emu.Options{})
			runningFleet(t, e, e.clients(t, e.config()).AppStream, "f", "s", 2)
			cs, log := sharedClients(t, e)
			calls := []func(context.Context, int) error{tc.call(cs[0]), tc.call(cs[1])}
			e.faults.Add(fault.Rule{API: "appstream", Op: tc.op, Rate: serverRate})

			r := burst(t, e, tc.op, callers, func(ctx context.Context, i int) error { return calls[i%2](ctx, i) })
			t.Logf("server allows %d/s: %v; %v", serverRate, r, log)

			if r.ok != callers {
				t.Fatalf("%d successful calls for %d callers", r.ok, callers)
			}
			if got := log.firstWaveThrottled + log.laterThrottled; got != r.throttled {
				t.Fatalf("the retryer saw %d throttles, the server answered %d", got, r.throttled)
			}
			if log.firstWaveThrottled > callers-serverRate {
				t.Errorf("first wave: %d throttled, want at most %d", log.firstWaveThrottled, callers-serverRate)
			}
			if log.laterThrottled > r.ok/2 {
				t.Errorf("after the first wave: %d throttled answers for %d successes, want at most half", log.laterThrottled, r.ok)
			}
			if log.waited == 0 {
				t.Error("the adaptive rate never made an attempt wait")
			}
			// The server's bucket bounds the rate from above (over the second
			// half, at most (100-1)/((100-20)/20 s) ≈ 1.24×); the client must
			// not settle far below it. Generous bounds on the wall clock.
			if got := r.rate(r.ok / 2); got > serverRate*1.25 || got < serverRate/2 {
				t.Errorf("achieved %.1f calls/s over the second half, want about %d", got, serverRate)
			}
		})
	}
}

// TestAdaptiveRateDoesNotCapWithoutThrottling: with no throttling the
// adaptive rate never limits (the fixed 10/s budget it replaces would have
// taken about 18 s for these 200 calls): no throttled answer, no client-side
// wait.
func TestAdaptiveRateDoesNotCapWithoutThrottling(t *testing.T) {
	e := newTestEnv(t, emu.Options{})
	runningFleet(t, e, e.clients(t, e.config()).AppStream, "f", "s", 2)
	cs, log := sharedClients(t, e)
	r := burst(t, e, "DescribeFleets", callers, func(ctx context.Context, i int) error {
		_, err := cs[i%2].AppStream.DescribeFleet(ctx, "f")
		return err
	})
	t.Logf("no server limit: %v; %v", r, log)
	if r.ok != callers || r.throttled != 0 || r.requeues != 0 || log.firstWave != callers || log.waited != 0 || log.sleeps != 0 {
		t.Fatalf("want %d attempts, all unlimited and served, no throttle, requeue or wait: %v; %v", callers, r, log)
	}
	if r.elapsed > 10*time.Second {
		t.Errorf("%d unthrottled calls took %v", callers, r.elapsed)
	}
}

// TestAdaptiveWaitCutShortIsErrRateLimited: once AWS has throttled, an
// attempt waits for the adaptive rate's token; a context that ends first
// fails the call with ErrRateLimited, and nothing is sent.
func TestAdaptiveWaitCutShortIsErrRateLimited(t *testing.T) {
	e := newTestEnv(t, emu.Options{})
	cfg := e.config()
	cfg.RetryMaxAttempts = 1
	as := e.clients(t, cfg).AppStream
	ctx := context.Background()

	e.faults.Add(fault.Rule{API: "appstream", Op: "DescribeImages", Kind: fault.Throttle, Times: 1})
	_, err := as.DescribeImage(ctx, "TeraTerm-Image")
	wantCode(t, err, "ThrottlingException")
	if errors.Is(err, ErrRateLimited) {
		t.Fatalf("a throttle AWS answered is not ErrRateLimited: %v", err)
	}
	// One throttle of a new client: the rate is at most 0.7 × 1.6/s and the
	// bucket empty, so the next token is more than 0.8 s away.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = as.DescribeImage(short, "TeraTerm-Image")
	if !errors.Is(err, ErrRateLimited) || !IsThrottled(err) || !IsRetryable(err) || IsTerminal(err) {
		t.Fatalf("want ErrRateLimited (throttled, retryable), got %v", err)
	}
	if n := e.faults.Count("appstream", "DescribeImages"); n != 1 {
		t.Fatalf("requests sent: %d, want 1", n)
	}
	// Without a deadline the call waits for its token and is served.
	must(as.DescribeImage(ctx, "TeraTerm-Image"))(t)
}

func TestRetryersAreAdaptiveAndKeepTheTunedRetries(t *testing.T) {
	rs := NewRetryers(0, 0)
	for name, r := range map[string]awssdk.RetryerV2{"AppStream": rs.AppStream, "EC2": rs.EC2, "STS": rs.STS} {
		if _, ok := r.(*adaptiveRetryer); !ok {
			t.Fatalf("%s retryer is a %T", name, r)
		}
		if r.MaxAttempts() != DefaultRetryMaxAttempts {
			t.Fatalf("%s MaxAttempts %d", name, r.MaxAttempts())
		}
	}
	if rs.AppStream == rs.EC2 {
		t.Fatal("AppStream and EC2 share a rate")
	}
}
