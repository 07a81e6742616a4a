// Package clients turns a resource's cloud settings and credential Secrets into
// SORACOM and AWS API clients, shared by all controllers: one outbound budget
// per cloud, one metrics hook, and clients cached until their Secret changes
// (so a SORACOM token is reused across reconciles instead of an /auth call per pass).
package clients

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/metrics"
	"github.com/gatestream/gatestream/internal/soracom"
)

// Secret keys.
const (
	KeySoracomAuthKeyID    = "authKeyId"
	KeySoracomAuthKey      = "authKey"
	KeyAWSAccessKeyID      = "accessKeyId"
	KeyAWSSecretAccessKey  = "secretAccessKey"
	KeyAWSSessionToken     = "sessionToken"
	soracomServiceLabel    = "soracom"
	maxSoracomClientsCache = 256
)

// CredentialsError says a credential Secret is missing or incomplete; the
// controllers report it as a condition (reason CredentialsUnavailable) and
// wait for the Secret instead of retrying hot.
type CredentialsError struct {
	Secret string
	Reason string
}

func (e *CredentialsError) Error() string {
	return fmt.Sprintf("credentials Secret %q: %s", e.Secret, e.Reason)
}

// IsCredentialsError reports whether err is a CredentialsError.
func IsCredentialsError(err error) bool {
	var ce *CredentialsError
	return errors.As(err, &ce)
}

// Options tune the factory.
type Options struct {
	SoracomCallsPerSecond float64
	AWSCallsPerSecond     float64
	// HTTPClient for both clouds (nil: defaults).
	HTTPClient *http.Client
	// SoracomMaxRetryWait caps waits between SORACOM retries (default: the client's 60 s).
	SoracomMaxRetryWait time.Duration
	// AWSRetryMaxBackoff caps the AWS SDK's retry backoff (default: the adapter's).
	AWSRetryMaxBackoff time.Duration
}

// Factory builds and caches clients. Safe for concurrent use.
type Factory struct {
	reader  client.Reader // uncached: credential Secrets carry no gatestream label
	opts    Options
	soracom struct {
		sync.Mutex
		limiter *rate.Limiter
		byKey   map[string]*soracom.Client
	}
	awsLimiter *rate.Limiter
	awsCache   *aws.Cache
}

// New returns a factory reading Secrets through reader (use the manager's APIReader).
func New(reader client.Reader, opts Options) *Factory {
	if opts.SoracomCallsPerSecond <= 0 {
		opts.SoracomCallsPerSecond = 5
	}
	if opts.AWSCallsPerSecond <= 0 {
		opts.AWSCallsPerSecond = 10
	}
	f := &Factory{reader: reader, opts: opts, awsCache: aws.NewCache()}
	f.soracom.limiter = rate.NewLimiter(rate.Limit(opts.SoracomCallsPerSecond), burst(opts.SoracomCallsPerSecond))
	f.soracom.byKey = map[string]*soracom.Client{}
	f.awsLimiter = rate.NewLimiter(rate.Limit(opts.AWSCallsPerSecond), burst(opts.AWSCallsPerSecond))
	return f
}

func burst(perSecond float64) int {
	if b := int(perSecond * 2); b > 1 {
		return b
	}
	return 1
}

func (f *Factory) secret(ctx context.Context, namespace, name string, keys ...string) (map[string][]byte, error) {
	var s corev1.Secret
	if err := f.reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &CredentialsError{Secret: name, Reason: "not found in namespace " + namespace}
		}
		return nil, fmt.Errorf("reading credentials Secret %q: %w", name, err)
	}
	for _, k := range keys {
		if len(s.Data[k]) == 0 {
			return nil, &CredentialsError{Secret: name, Reason: "has no key " + k}
		}
	}
	return s.Data, nil
}

// Soracom returns a SORACOM client for the environment's settings.
func (f *Factory) Soracom(ctx context.Context, namespace string, spec accessv1alpha1.SoracomSpec) (*soracom.Client, error) {
	data, err := f.secret(ctx, namespace, spec.CredentialsSecretRef.Name, KeySoracomAuthKeyID, KeySoracomAuthKey)
	if err != nil {
		return nil, err
	}
	creds := soracom.Credentials{AuthKeyID: string(data[KeySoracomAuthKeyID]), AuthKey: string(data[KeySoracomAuthKey])}
	coverage := soracom.Coverage(spec.Coverage)
	if coverage == "" {
		coverage = soracom.CoverageJapan
	}
	key := hashOf(string(coverage), spec.Endpoint, creds.AuthKeyID, creds.AuthKey)

	f.soracom.Lock()
	defer f.soracom.Unlock()
	if c, ok := f.soracom.byKey[key]; ok {
		return c, nil
	}
	c, err := soracom.New(soracom.Options{
		Coverage:     coverage,
		Endpoint:     spec.Endpoint,
		Credentials:  creds,
		HTTPClient:   f.opts.HTTPClient,
		MaxRetryWait: f.opts.SoracomMaxRetryWait,
		Limiter:      f.soracom.limiter,
		Observe: func(op string, status int, err error, d time.Duration) {
			metrics.Observe(soracomServiceLabel, op, metrics.Result(status, err), d)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("building SORACOM client: %w", err)
	}
	if len(f.soracom.byKey) >= maxSoracomClientsCache {
		// Rotated credentials leave stale entries; start over rather than grow without bound.
		f.soracom.byKey = map[string]*soracom.Client{}
	}
	f.soracom.byKey[key] = c
	return c, nil
}

// AWS returns AppStream and EC2 clients for the environment's settings.
func (f *Factory) AWS(ctx context.Context, namespace string, spec accessv1alpha1.AWSSpec) (*aws.Clients, error) {
	cfg := aws.Config{
		Region:          spec.Region,
		RoleARN:         spec.RoleARN,
		Limiter:         f.awsLimiter,
		RetryMaxBackoff: f.opts.AWSRetryMaxBackoff,
		Observe:         observeAWS,
	}
	if f.opts.HTTPClient != nil {
		cfg.HTTPClient = f.opts.HTTPClient
	}
	if spec.Endpoints != nil {
		cfg.AppStreamEndpoint = spec.Endpoints.AppStream
		cfg.EC2Endpoint = spec.Endpoints.EC2
	}
	if spec.CredentialsSecretRef != nil {
		data, err := f.secret(ctx, namespace, spec.CredentialsSecretRef.Name, KeyAWSAccessKeyID, KeyAWSSecretAccessKey)
		if err != nil {
			return nil, err
		}
		cfg.Static = &aws.StaticCredentials{
			AccessKeyID:     string(data[KeyAWSAccessKeyID]),
			SecretAccessKey: string(data[KeyAWSSecretAccessKey]),
			SessionToken:    string(data[KeyAWSSessionToken]),
		}
	}
	c, err := f.awsCache.Get(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("building AWS clients: %w", err)
	}
	return c, nil
}

func observeAWS(service, op string, err error, d time.Duration) {
	result := "ok"
	switch {
	case err == nil:
	case aws.IsThrottled(err):
		result = "throttled"
	case aws.IsRetryable(err):
		result = "server_error"
	default:
		result = "client_error"
	}
	metrics.Observe(service, op, result, d)
}

func hashOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
