package session

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/aws/smithy-go"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
)

// MintRequest is one CreateStreamingURL call.
type MintRequest struct {
	Stack, Fleet, UserID, Application, SessionContext string
	Validity                                          time.Duration
}

// Minted is a URL and its expiry as AWS returned it.
type Minted struct {
	URL     string
	Expires time.Time
}

// Mint calls CreateStreamingURL once. The adapter must make a single attempt
// for this call (no SDK retry): a retried mint whose first response was lost
// would leave two valid URLs. Errors never contain the URL.
func Mint(ctx context.Context, api aws.AppStreamAPI, req MintRequest) (Minted, error) {
	u, exp, err := api.CreateStreamingURL(ctx, req.Stack, req.Fleet, req.UserID, req.Application, req.SessionContext, req.Validity)
	if err != nil {
		return Minted{}, err
	}
	if u == "" {
		return Minted{}, errors.New("CreateStreamingURL returned no URL")
	}
	if exp.IsZero() {
		// No expiry in the answer: assume the longest it can be.
		exp = time.Now().Add(req.Validity + Skew)
	}
	return Minted{URL: u, Expires: exp}, nil
}

// Issue carries out a Mint step: one CreateStreamingURL (bounded by
// MintCallTimeout), then the session's Secret created once with the URL
// (Secrets.Create, which adopts a URL an earlier pass left there), and
// returns the step to finish: the issued status and when to look again.
// Nothing is written before the call: a URL whose response was lost, or
// that the process held only in memory when it stopped, reached nobody, so
// the next pass mints again at once. Errors go through MintError and never
// contain the URL.
func Issue(ctx context.Context, api aws.AppStreamAPI, secrets Secrets, s *accessv1alpha1.StreamingSession, step Step, now time.Time) (Step, error) {
	log := logf.FromContext(ctx)
	req := step.Mint
	log.V(1).Info("minting a streaming URL", "user", req.UserID, "application", req.Application, "stack", req.Stack,
		"fleet", req.Fleet, "target", req.SessionContext, "validity", req.Validity.String())
	mctx, cancel := context.WithTimeout(ctx, MintCallTimeout)
	minted, err := Mint(mctx, api, req)
	cancel()
	if err != nil {
		if !NothingMinted(err) {
			log.Info("CreateStreamingURL got no answer; the URL it may have minted reached nobody, minting again", "error", err.Error())
		}
		return step, MintError(err)
	}
	expires, err := secrets.Create(ctx, s, minted.URL, CeilSecond(minted.Expires), TargetString(step.Status.Target))
	if err != nil {
		log.Info("the Secret could not be created; the minted URL reached nobody", "error", err.Error())
		return step, err
	}
	step.Status, step.At = Issued(s, step.Status, expires, now)
	step.Event = nil
	log.V(1).Info("streaming URL issued", "secret", step.Status.SecretName, "expiresAt", step.Status.URLExpiresAt.Time,
		"accessEndsAt", step.Status.AccessEndsAt.Time)
	return step, nil
}

// NothingMinted reports whether a failed CreateStreamingURL certainly did not
// mint a URL: AWS answered with an error (an error code), the SDK refused the
// input before sending it, or the outbound rate limit stopped it before it
// was sent. Anything else (a timeout, a connection closed before the answer,
// a cancelled context) may have minted a URL whose answer was lost.
func NothingMinted(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, aws.ErrRateLimited) {
		return true
	}
	var ipe smithy.InvalidParamsError
	if errors.As(err, &ipe) {
		return true
	}
	return aws.Code(err) != ""
}

// MintErrorIsFinal reports whether a definitive mint error can never succeed
// for this session: the request itself is invalid (ValidationException). Other
// errors (fleet not running or not associated, application missing from the
// image, permissions, quotas) depend on the environment, which its owners can
// fix; the session stays Pending and tries again.
func MintErrorIsFinal(err error) bool {
	var ipe smithy.InvalidParamsError
	if errors.As(err, &ipe) {
		return true
	}
	return aws.Code(err) == "ValidationException"
}

// Redact replaces every occurrence of each secret in s (and, for URLs, of
// their path and query, which hold the bearer token) with [REDACTED].
func Redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		for _, part := range secretParts(sec) {
			s = strings.ReplaceAll(s, part, "[REDACTED]")
		}
	}
	return s
}

func secretParts(sec string) []string {
	if sec == "" {
		return nil
	}
	parts := []string{sec}
	if u, err := url.Parse(sec); err == nil {
		for _, p := range []string{u.RawQuery, u.EscapedPath(), u.Path} {
			if len(p) >= 8 {
				parts = append(parts, p)
			}
		}
		for _, seg := range strings.Split(u.Path, "/") {
			if len(seg) >= 16 {
				parts = append(parts, seg)
			}
		}
		for _, vs := range u.Query() {
			for _, v := range vs {
				if len(v) >= 16 {
					parts = append(parts, v)
				}
			}
		}
	}
	return parts
}

// RedactError returns err with the secrets redacted from its message (nil stays nil).
func RedactError(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := Redact(msg, secrets...); red != msg {
		return errors.New(red)
	}
	return err
}
