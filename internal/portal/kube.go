package portal

import (
	"context"
	"fmt"
	"sort"
	"sync"

	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

// kube is the portal's access to the API server: its own client (its service
// account: read DeviceGroups, RemoteAccessEnvironments and StreamingSessions,
// create SubjectAccessReviews, impersonate users and groups) and clients that
// act as a person through impersonation.
type kube struct {
	base   *rest.Config
	scheme *runtime.Scheme
	mapper meta.RESTMapper
	own    client.Client
}

func newKube(cfg *rest.Config, scheme *runtime.Scheme, qps float32, burst int) (*kube, error) {
	cfg = rest.CopyConfig(cfg)
	// One token bucket for every call the portal makes, as itself or as a
	// person: impersonated clients copy this config and share the limiter, so
	// --kube-api-qps bounds the portal's whole load on the API server.
	cfg.QPS, cfg.Burst = qps, burst
	cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(qps, burst)
	if cfg.UserAgent == "" {
		cfg.UserAgent = "gatestream-portal"
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, hc)
	if err != nil {
		return nil, err
	}
	own, err := client.New(cfg, client.Options{Scheme: scheme, Mapper: mapper, HTTPClient: hc})
	if err != nil {
		return nil, err
	}
	return &kube{base: cfg, scheme: scheme, mapper: mapper, own: own}, nil
}

// as returns a client that acts as the person: the API server authorizes
// every call against the person's RBAC and runs admission (the
// StreamingSession policy included) with the person as the requester, exactly
// as for their own kubectl. The impersonation round tripper wraps the shared
// (cached) TLS transport, so a client per request is cheap.
func (k *kube) as(id identity) (client.Client, error) {
	cfg := rest.CopyConfig(k.base)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: id.User, Groups: id.Groups}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: k.scheme, Mapper: k.mapper, HTTPClient: hc})
}

// canCreateSessions asks the API server (SubjectAccessReview) whether the
// person may create StreamingSessions in namespace. The groups include
// system:authenticated, which the API server adds to an impersonated user.
func (k *kube) canCreateSessions(ctx context.Context, id identity, namespace string) (bool, error) {
	groups := append(append([]string(nil), id.Groups...), "system:authenticated")
	sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User:   id.User,
		Groups: groups,
		ResourceAttributes: &authzv1.ResourceAttributes{
			Namespace: namespace,
			Verb:      "create",
			Group:     accessv1alpha1.GroupVersion.Group,
			Resource:  "streamingsessions",
		},
	}}
	if err := k.own.Create(ctx, sar); err != nil {
		return false, fmt.Errorf("SubjectAccessReview for %s in %s: %w", id.User, namespace, err)
	}
	return sar.Status.Allowed && !sar.Status.Denied, nil
}

// allowedNamespaces returns, of the candidate namespaces, those where the
// person may create StreamingSessions (reviews run concurrently, at most 8 at once).
func (k *kube) allowedNamespaces(ctx context.Context, id identity, candidates []string) ([]string, error) {
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		allowed []string
		firstEr error
		sem     = make(chan struct{}, 8)
	)
	for _, ns := range candidates {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ok, err := k.canCreateSessions(ctx, id, ns)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstEr == nil {
				firstEr = err
			}
			if ok {
				allowed = append(allowed, ns)
			}
		}()
	}
	wg.Wait()
	sort.Strings(allowed)
	return allowed, firstEr
}

// deviceNamespaces lists every DeviceGroup (portal identity) and returns the
// groups and their namespaces.
func (k *kube) deviceGroups(ctx context.Context) ([]accessv1alpha1.DeviceGroup, []string, error) {
	var list accessv1alpha1.DeviceGroupList
	if err := k.own.List(ctx, &list); err != nil {
		return nil, nil, fmt.Errorf("listing DeviceGroups: %w", err)
	}
	nss := sets.New[string]()
	for _, g := range list.Items {
		nss.Insert(g.Namespace)
	}
	return list.Items, sets.List(nss), nil
}
