// Package clients turns a resource's cloud settings and credential Secrets into
// SORACOM and AWS API clients, shared by all controllers: one outbound budget
// per cloud (for AWS, one adaptive rate per service that follows AWS's
// throttling, with an optional fixed cap), one metrics hook, and clients cached until their Secret changes
// (so a SORACOM token is reused across reconciles instead of an /auth call per pass).
package clients

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/metrics"
	"github.com/gatestream/gatestream/internal/soracom"
	"sigs.k8s.io/controller-runtime/pkg/manager"
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

// CredentialsError says a credential Secret is missing, incomplete or (in
// another namespace) does not allow the referring namespace to use it; the
// controllers report it as a condition (reason CredentialsUnavailable) and
// wait for the Secret instead of retrying hot.
type CredentialsError struct {
	// Secret is the Secret's name, namespace/name when it is in another
	// namespace than the referring object.
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
	// SoracomCallsPerSecond is the SORACOM budget (default 5).
	SoracomCallsPerSecond float64
	// AWSCallsPerSecond is an optional fixed cap on AWS attempts, all
	// services together; 0 (the default) sets none: the adaptive rate of each
	// service (aws.NewRetryers), which follows AWS's throttling, is the budget.
	AWSCallsPerSecond float64
	// HTTPClient for both clouds (nil: defaults).
	HTTPClient *http.Client
	// SoracomMaxRetryWait caps waits between SORACOM retries (default: the client's 60 s).
	SoracomMaxRetryWait time.Duration
	// AWSRetryMaxBackoff caps the AWS SDK's retry backoff (default: the adapter's).
	AWSRetryMaxBackoff time.Duration
	// CredentialsCache, when set, is asked first for credential Secrets (an
	// informer over the Secrets labelled LabelCredentials, see ForManager);
	// a Secret it does not hold yet is read from the API server.
	CredentialsCache client.Reader
	// AllowedEndpoints are the endpoint overrides (spec.soracom.endpoint,
	// spec.aws.endpoints) the manager may send credentials to:
	// scheme://host[:port] (see ParseAllowedEndpoints). Empty: none.
	AllowedEndpoints []string
}

// LabelCredentials marks a credential Secret an environment uses (with
// FinalizerCredentials, so that namespace deletion cannot strand the cloud
// clean-up); labelled Secrets are read from the credentials cache.
const (
	LabelCredentials      = "access.gatestream.io/credentials"
	LabelCredentialsInUse = "in-use"
	FinalizerCredentials  = "access.gatestream.io/credentials-in-use"
)

// ForManager returns a factory whose credential reads come from an informer
// over the labelled credential Secrets only (unrelated Secrets cost nothing,
// an in-sync pass makes no API request), added to mgr as a runnable.
func ForManager(mgr manager.Manager, namespaces []string, opts Options) (*Factory, error) {
	copts := cache.Options{
		Scheme:           mgr.GetScheme(),
		Mapper:           mgr.GetRESTMapper(),
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Label: labels.SelectorFromSet(labels.Set{LabelCredentials: LabelCredentialsInUse})},
		},
	}
	if len(namespaces) > 0 {
		copts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			copts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	c, err := cache.New(mgr.GetConfig(), copts)
	if err != nil {
		return nil, fmt.Errorf("building the credentials cache: %w", err)
	}
	if err := mgr.Add(c); err != nil {
		return nil, fmt.Errorf("adding the credentials cache: %w", err)
	}
	opts.CredentialsCache = c
	f := New(mgr.GetAPIReader(), opts)
	if len(namespaces) > 0 {
		// The cache only knows these namespaces: a credentials namespace
		// outside them is read from the API server (add it to
		// --watch-namespaces to have it cached too).
		f.cachedNamespaces = map[string]bool{}
		for _, ns := range namespaces {
			f.cachedNamespaces[ns] = true
		}
	}
	return f, nil
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
	awsLimiter  *rate.Limiter // nil: no fixed cap
	awsRetryers *aws.Retryers // one adaptive rate per service for every AWS client
	awsCache    *aws.Cache
	allowed     []*url.URL // endpoint overrides that may be used
	// cachedNamespaces are those CredentialsCache covers (nil: all).
	cachedNamespaces map[string]bool
}

// New returns a factory reading Secrets through reader (use the manager's APIReader).
func New(reader client.Reader, opts Options) *Factory {
	if opts.SoracomCallsPerSecond <= 0 {
		opts.SoracomCallsPerSecond = 5
	}
	f := &Factory{reader: reader, opts: opts, awsCache: aws.NewCache(),
		awsRetryers: aws.NewRetryers(0, opts.AWSRetryMaxBackoff)}
	// Entries that do not parse allow nothing (the manager validates its flag first).
	f.allowed, _ = ParseAllowedEndpoints(opts.AllowedEndpoints)
	f.soracom.limiter = rate.NewLimiter(rate.Limit(opts.SoracomCallsPerSecond), burst(opts.SoracomCallsPerSecond))
	f.soracom.byKey = map[string]*soracom.Client{}
	if opts.AWSCallsPerSecond > 0 {
		f.awsLimiter = rate.NewLimiter(rate.Limit(opts.AWSCallsPerSecond), burst(opts.AWSCallsPerSecond))
	}
	return f
}

func burst(perSecond float64) int {
	if b := int(perSecond * 2); b > 1 {
		return b
	}
	return 1
}

// Secret reads a credential Secret: from the credentials cache when it holds
// it, else from the API server (a Secret no environment has labelled yet).
func (f *Factory) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	var s corev1.Secret
	if f.opts.CredentialsCache != nil && (f.cachedNamespaces == nil || f.cachedNamespaces[namespace]) {
		err := f.opts.CredentialsCache.Get(ctx, key, &s)
		if err == nil {
			return &s, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	if err := f.reader.Get(ctx, key, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// CredentialsSecret reads the Secret ref names for an object in namespace
// referrer, and refuses one in another namespace unless the Secret allows
// referrer (AnnotationAllowedNamespaces): a *CredentialsError then, as for a
// missing Secret. The grant is checked on every call, before any client is
// built or taken from the factory's caches, so removing it takes effect on
// the next pass.
func (f *Factory) CredentialsSecret(ctx context.Context, referrer string, ref accessv1alpha1.SecretReference) (*corev1.Secret, error) {
	key := SecretKey(referrer, ref)
	s, err := f.Secret(ctx, key.Namespace, key.Name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &CredentialsError{Secret: displayName(referrer, key), Reason: "not found in namespace " + key.Namespace}
		}
		return nil, fmt.Errorf("reading credentials Secret %q: %w", displayName(referrer, key), err)
	}
	if err := CheckGrant(s, referrer); err != nil {
		return nil, err
	}
	return s, nil
}

func (f *Factory) secret(ctx context.Context, referrer string, ref accessv1alpha1.SecretReference, keys ...string) (map[string][]byte, error) {
	s, err := f.CredentialsSecret(ctx, referrer, ref)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if len(s.Data[k]) == 0 {
			return nil, &CredentialsError{Secret: displayName(referrer, SecretKey(referrer, ref)), Reason: "has no key " + k}
		}
	}
	return s.Data, nil
}

// Soracom returns a SORACOM client for the environment's settings.
func (f *Factory) Soracom(ctx context.Context, namespace string, spec accessv1alpha1.SoracomSpec) (*soracom.Client, error) {
	if err := f.checkEndpoint("spec.soracom.endpoint", spec.Endpoint); err != nil {
		return nil, err
	}
	data, err := f.secret(ctx, namespace, spec.CredentialsSecretRef, KeySoracomAuthKeyID, KeySoracomAuthKey)
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
	if e := spec.Endpoints; e != nil {
		if err := f.checkEndpoint("spec.aws.endpoints.appStream", e.AppStream); err != nil {
			return nil, err
		}
		if err := f.checkEndpoint("spec.aws.endpoints.ec2", e.EC2); err != nil {
			return nil, err
		}
	}
	cfg := aws.Config{
		Region:   spec.Region,
		RoleARN:  spec.RoleARN,
		Retryers: f.awsRetryers,
		Limiter:  f.awsLimiter,
		Observe:  observeAWS,
	}
	if f.opts.HTTPClient != nil {
		cfg.HTTPClient = f.opts.HTTPClient
	}
	if spec.Endpoints != nil {
		cfg.AppStreamEndpoint = spec.Endpoints.AppStream
		cfg.EC2Endpoint = spec.Endpoints.EC2
	}
	if spec.CredentialsSecretRef != nil {
		data, err := f.secret(ctx, namespace, *spec.CredentialsSecretRef, KeyAWSAccessKeyID, KeyAWSSecretAccessKey)
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
