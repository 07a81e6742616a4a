// Package aws holds gatestream's thin adapters over the aws-sdk-go-v2
// AppStream and EC2 clients: narrow interfaces (AppStreamAPI, EC2API) with
// only the calls the controllers make, client construction with credentials
// (static from a Secret, the default chain, optionally an assumed role), a
// tuned adaptive retryer per service (retries, and a client-side rate that
// follows AWS's throttling), an optional fixed outbound cap, a per-call
// observation hook for metrics, a client cache, and error classification.
//
// The package has no Kubernetes imports. Credentials never appear in errors,
// logs or String output: the types that hold them redact themselves, and API
// error messages are scrubbed of them before they are returned.
package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/time/rate"
)

// Service names passed to Config.Observe.
const (
	ServiceAppStream = "appstream"
	ServiceEC2       = "ec2"
	ServiceSTS       = "sts"
)

// RoleSessionName is the session name used when assuming Config.RoleARN.
const RoleSessionName = "gatestream"

// Retry defaults: the SDK's retryer with more attempts than its default of 3
// (reconcilers are not latency sensitive, but each failed pass costs a
// requeue) and its default maximum backoff.
const (
	DefaultRetryMaxAttempts = 5
	DefaultRetryMaxBackoff  = 20 * time.Second
)

// StaticCredentials are AWS keys read from a Secret. Their String, GoString,
// MarshalJSON and LogValue never reveal the values.
type StaticCredentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

const redacted = "[REDACTED]"

// String implements fmt.Stringer without revealing the keys.
func (StaticCredentials) String() string { return "StaticCredentials{" + redacted + "}" }

// GoString implements fmt.GoStringer (%#v) without revealing the keys.
func (c StaticCredentials) GoString() string { return c.String() }

// Format makes every fmt verb (%v, %+v, %s, %q, %#v) print the redacted form.
func (c StaticCredentials) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// MarshalJSON keeps the keys out of JSON (and of loggers that encode values as JSON).
func (StaticCredentials) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// HTTPClient is the transport the SDK clients use (*http.Client satisfies it).
type HTTPClient = awssdk.HTTPClient

// Config selects a region, endpoints and credentials, and the cross-cutting
// behaviour (retries, rate limit, observation) of the clients New builds.
type Config struct {
	// Region of both services. Empty: the default chain's region (AWS_REGION, shared config).
	Region string
	// AppStreamEndpoint and EC2Endpoint override the services' endpoints
	// (tests, emulators). STSEndpoint does the same for the STS client used to assume RoleARN.
	AppStreamEndpoint, EC2Endpoint, STSEndpoint string
	// Static credentials, typically from a Secret. Nil: the default
	// credential chain (environment, IRSA web identity, EKS Pod Identity,
	// shared config, instance profile).
	Static *StaticCredentials
	// RoleARN, when set, is assumed (session name "gatestream") with the
	// static or default credentials as the source.
	RoleARN string
	// HTTPClient overrides the SDK's default transport.
	HTTPClient HTTPClient
	// Retryers are the retry strategies, one per service, each with its
	// adaptive client-side rate (see NewRetryers). Share one Retryers between
	// every Config of a process so that all clients of a service draw on one
	// budget. Nil: New builds its own from RetryMaxAttempts and RetryMaxBackoff.
	Retryers *Retryers
	// Limiter is an optional fixed cap on top of the adaptive rate, shared
	// by every client of one cloud: it is waited on before each attempt
	// (retries included). Nil: no fixed cap.
	Limiter *rate.Limiter
	// Observe, when set, is called after every API call (once per
	// operation, after retries) with the service (ServiceAppStream,
	// ServiceEC2, ServiceSTS), the operation name (e.g. "CreateFleet"), the
	// final error (credentials scrubbed) and the duration.
	Observe func(service, op string, err error, d time.Duration)
	// RetryMaxAttempts overrides DefaultRetryMaxAttempts (1 disables
	// retries) when New builds the retryers (Retryers nil).
	RetryMaxAttempts int
	// RetryMaxBackoff overrides DefaultRetryMaxBackoff when New builds the
	// retryers; tests set it tiny.
	RetryMaxBackoff time.Duration
}

// String describes the configuration without revealing credentials.
func (c Config) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "aws.Config{Region:%q", c.Region)
	if c.AppStreamEndpoint != "" {
		fmt.Fprintf(&b, " AppStreamEndpoint:%q", c.AppStreamEndpoint)
	}
	if c.EC2Endpoint != "" {
		fmt.Fprintf(&b, " EC2Endpoint:%q", c.EC2Endpoint)
	}
	if c.STSEndpoint != "" {
		fmt.Fprintf(&b, " STSEndpoint:%q", c.STSEndpoint)
	}
	if c.Static != nil {
		b.WriteString(" Credentials:static")
	} else {
		b.WriteString(" Credentials:default-chain")
	}
	if c.RoleARN != "" {
		fmt.Fprintf(&b, " RoleARN:%q", c.RoleARN)
	}
	b.WriteString("}")
	return b.String()
}

// GoString implements fmt.GoStringer (%#v) without revealing credentials.
func (c Config) GoString() string { return c.String() }

// Format makes every fmt verb print the redacted form.
func (c Config) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// Clients are the adapters for one region and set of credentials.
type Clients struct {
	AppStream AppStreamAPI
	EC2       EC2API
}

// New builds the AppStream and EC2 clients for cfg. It does not call AWS:
// credentials are resolved lazily on the first request.
func New(ctx context.Context, cfg Config) (*Clients, error) {
	if cfg.Static != nil && (cfg.Static.AccessKeyID == "" || cfg.Static.SecretAccessKey == "") {
		return nil, errors.New("aws: static credentials need an access key ID and a secret access key")
	}
	opts := []func(*config.LoadOptions) error{}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(cfg.HTTPClient))
	}
	if cfg.Static != nil {
		opts = append(opts, config.WithCredentialsProvider(awssdk.NewCredentialsCache(
			credentials.NewStaticCredentialsProvider(cfg.Static.AccessKeyID, cfg.Static.SecretAccessKey, cfg.Static.SessionToken))))
	}
	base, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		// LoadDefaultConfig errors name files and profiles, never key material;
		// scrub anyway in case a shared config file echoes one.
		return nil, fmt.Errorf("aws: load config: %w", newRedactor(cfg.Static).scrub(err))
	}
	if base.Region == "" {
		return nil, errors.New("aws: no region configured")
	}
	red := newRedactor(cfg.Static)
	retryers := cfg.Retryers
	if retryers == nil {
		retryers = NewRetryers(cfg.RetryMaxAttempts, cfg.RetryMaxBackoff)
	}
	if cfg.RoleARN != "" {
		stsClient := sts.NewFromConfig(base, func(o *sts.Options) {
			if cfg.STSEndpoint != "" {
				o.BaseEndpoint = awssdk.String(cfg.STSEndpoint)
			}
			o.Retryer = retryers.STS
			o.RetryMaxAttempts = 0
			o.APIOptions = append(o.APIOptions, stackOptions(ServiceSTS, cfg, red)...)
		})
		base.Credentials = awssdk.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, cfg.RoleARN,
			func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = RoleSessionName }))
	}
	as := appstream.NewFromConfig(base, func(o *appstream.Options) {
		if cfg.AppStreamEndpoint != "" {
			o.BaseEndpoint = awssdk.String(cfg.AppStreamEndpoint)
		}
		o.Retryer = retryers.AppStream
		o.RetryMaxAttempts = 0 // keep AWS_MAX_ATTEMPTS from wrapping our retryer
		if o.HTTPClient != nil {
			o.HTTPClient = plainBodyClient{o.HTTPClient} // see httpbody.go
		}
		o.APIOptions = append(o.APIOptions, stackOptions(ServiceAppStream, cfg, red)...)
	})
	e2 := ec2.NewFromConfig(base, func(o *ec2.Options) {
		if cfg.EC2Endpoint != "" {
			o.BaseEndpoint = awssdk.String(cfg.EC2Endpoint)
		}
		o.Retryer = retryers.EC2
		o.RetryMaxAttempts = 0
		if o.HTTPClient != nil {
			o.HTTPClient = plainBodyClient{o.HTTPClient} // see httpbody.go
		}
		o.APIOptions = append(o.APIOptions, stackOptions(ServiceEC2, cfg, red)...)
	})
	return &Clients{
		AppStream: &appStreamClient{c: as, sessionsPageSize: 50},
		EC2:       &ec2Client{c: e2},
	}, nil
}

// stackOptions installs the observation/redaction middleware (outermost, once
// per operation) and the rate-limit middleware (once per attempt, right after
// the retry middleware).
func stackOptions(service string, cfg Config, red *redactor) []func(*middleware.Stack) error {
	fns := []func(*middleware.Stack) error{
		func(s *middleware.Stack) error {
			return s.Initialize.Add(&observeMiddleware{service: service, observe: cfg.Observe, red: red}, middleware.Before)
		},
	}
	if cfg.Limiter != nil {
		fns = append(fns, func(s *middleware.Stack) error {
			m := &limitMiddleware{limiter: cfg.Limiter}
			if err := s.Finalize.Insert(m, "Retry", middleware.After); err != nil {
				return s.Finalize.Add(m, middleware.Before)
			}
			return nil
		})
	}
	return fns
}

type observeMiddleware struct {
	service string
	observe func(service, op string, err error, d time.Duration)
	red     *redactor
}

func (*observeMiddleware) ID() string { return "gatestream/Observe" }

func (m *observeMiddleware) HandleInitialize(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (
	middleware.InitializeOutput, middleware.Metadata, error,
) {
	start := time.Now()
	out, md, err := next.HandleInitialize(ctx, in)
	if err != nil {
		err = m.red.scrub(err)
	}
	if m.observe != nil {
		m.observe(m.service, middleware.GetOperationName(ctx), err, time.Since(start))
	}
	return out, md, err
}

// ErrRateLimited wraps the error of a wait for the client-side budget (the
// adaptive rate of Retryers, or Config.Limiter) that ended before a token came:
// the context ended, or its deadline is too close. That attempt was not sent.
var ErrRateLimited = errors.New("aws: outbound rate limit")

type limitMiddleware struct{ limiter *rate.Limiter }

func (*limitMiddleware) ID() string { return "gatestream/RateLimit" }

func (m *limitMiddleware) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
	middleware.FinalizeOutput, middleware.Metadata, error,
) {
	if err := m.limiter.Wait(ctx); err != nil {
		return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("%w: %w", ErrRateLimited, err)
	}
	return next.HandleFinalize(ctx, in)
}
