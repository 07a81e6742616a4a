package aws

import (
	"context"
	"fmt"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// Outbound budget. The clients do not send at a rate we choose: each service
// has one retryer in the SDK's adaptive mode (retry.NewAdaptiveMode), shared
// by every client built with the same Retryers, whose client-side token
// bucket follows what AWS allows. It does not limit at all until AWS answers
// with a throttle; then each throttle cuts the rate to 70% of the rate
// measured, and while no throttle comes the rate grows back along a cubic
// curve (past the last rate that was throttled after a few seconds), so the
// clients settle just under the account's limit instead of a fixed number.
//
// Per-operation ceilings: AWS documents none for AppStream. Its Service
// Quotas page (https://docs.aws.amazon.com/appstream2/latest/developerguide/limits.html)
// lists resource quotas only (stacks, fleets, images, instances, users), and
// the API reference mentions rate only as the ThrottlingException and
// RequestLimitExceededException answers, so none is configured here. EC2
// documents per-action token buckets
// (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html),
// but as defaults that vary by account and that AWS raises on request: the
// adaptive rate follows the account's actual buckets instead. A fixed cap
// can still be set on top (Config.Limiter).

// Retryers are the retry strategies of the three services, one adaptive
// retryer (and so one client-side rate) each. Safe for concurrent use.
type Retryers struct {
	AppStream, EC2, STS awssdk.RetryerV2
}

// NewRetryers returns one adaptive retryer per service, each making up to
// maxAttempts attempts (0: DefaultRetryMaxAttempts) with backoffs of at most
// maxBackoff (0: DefaultRetryMaxBackoff).
func NewRetryers(maxAttempts int, maxBackoff time.Duration) *Retryers {
	cfg := Config{RetryMaxAttempts: maxAttempts, RetryMaxBackoff: maxBackoff}
	return &Retryers{AppStream: newRetryer(cfg), EC2: newRetryer(cfg), STS: newRetryer(cfg)}
}

// newRetryer is the SDK's adaptive retry mode over its standard retryer with:
// cfg.RetryMaxAttempts (default DefaultRetryMaxAttempts) attempts,
// cfg.RetryMaxBackoff (default DefaultRetryMaxBackoff), AppStream's
// RequestLimitExceededException (a throttle) and
// ConcurrentModificationException retried (reference §1.5), and
// LimitExceededException NOT retried and NOT a throttle: it is an account
// quota for AppStream (the SDK treats it as a throttle by default). The
// adaptive options:
//   - FailOnNoAttemptTokens false: an attempt waits for its token (bounded by
//     the context) rather than failing at once. The bucket refills at the rate
//     AWS accepts, so waiting is what spreads the calls; failing would send
//     every caller back to its requeue to try again (a retry storm one level
//     up) and would make a throttled call's own retries fail too. A wait the
//     context cuts short is ErrRateLimited: nothing was sent.
//   - RequestCost 1 (the default): AWS charges one token per request, retries
//     included, and so does the client-side bucket.
//   - Throttles: the same as the standard retryer's, so LimitExceededException
//     does not slow the clients and RequestLimitExceededException does.
//   - A throttle is not retried inside the call: the SDK's backoff would sleep
//     in the reconcile worker. It still cuts the adaptive rate (the retryer
//     sees every answer), and the caller requeues after ThrottleRequeue.
//   - The wait for an attempt token is bounded by MaxTokenWait: beyond it the
//     call fails with ErrRateLimited (nothing sent) and the caller requeues,
//     so a low adaptive rate never holds a worker for long either.
//
// The standard retryer's retry quota (its defaults: 500 tokens, 5 per retry
// of a throttle, 14 per other retry) stays: it stops retries when most
// attempts fail, and a call refused by it fails with the throttle (a requeue).
func newRetryer(cfg Config) awssdk.RetryerV2 {
	attempts := cfg.RetryMaxAttempts
	if attempts <= 0 {
		attempts = DefaultRetryMaxAttempts
	}
	maxBackoff := cfg.RetryMaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = DefaultRetryMaxBackoff
	}
	throttle := retry.IsErrorThrottleFunc(func(err error) awssdk.Ternary {
		switch Code(err) {
		case "LimitExceededException":
			return awssdk.FalseTernary
		case "RequestLimitExceededException":
			return awssdk.TrueTernary
		}
		return awssdk.UnknownTernary
	})
	return &adaptiveRetryer{waitContext: boundTokenWait, AdaptiveMode: retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.FailOnNoAttemptTokens = false
		o.RequestCost = retry.DefaultRequestCost
		o.Throttles = append([]retry.IsErrorThrottle{throttle}, o.Throttles...)
		o.StandardOptions = append(o.StandardOptions, func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.MaxBackoff = maxBackoff
			o.Retryables = append([]retry.IsErrorRetryable{
				retry.IsErrorRetryableFunc(func(err error) awssdk.Ternary {
					switch {
					case Code(err) == "LimitExceededException", IsThrottled(err):
						return awssdk.FalseTernary
					case Code(err) == "ConcurrentModificationException":
						return awssdk.TrueTernary
					}
					return awssdk.UnknownTernary
				}),
			}, o.Retryables...)
			o.Throttles = append([]retry.IsErrorThrottle{throttle}, o.Throttles...)
		})
	})}
}

// MaxTokenWait bounds how long an attempt waits for the adaptive rate's
// token. The bucket refills at the rate AWS accepts, so short waits are what
// spread the calls; a longer one would hold a reconcile worker that other
// objects need, so the call fails with ErrRateLimited and is requeued.
const MaxTokenWait = 2 * time.Second

// ThrottleRequeue is how soon a call AWS throttled (or that waited
// MaxTokenWait for a token) is tried again. The adaptive rate, not this
// delay, decides when requests are sent: a requeued call takes a token like
// any other.
const ThrottleRequeue = time.Second

// adaptiveRetryer is the SDK's adaptive mode whose wait for an attempt token,
// when it passes MaxTokenWait or the context ends first, fails with
// ErrRateLimited: that attempt was not sent.
type adaptiveRetryer struct {
	*retry.AdaptiveMode
	// waitContext bounds one wait for a token (tests wrap it to watch the waits).
	waitContext func(context.Context) (context.Context, context.CancelFunc)
}

func boundTokenWait(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, MaxTokenWait)
}

// GetAttemptToken waits for the adaptive rate's token before each attempt.
func (r *adaptiveRetryer) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	wctx, cancel := r.waitContext(ctx)
	defer cancel()
	release, err := r.AdaptiveMode.GetAttemptToken(wctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRateLimited, err)
	}
	return release, nil
}
