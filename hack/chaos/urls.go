package main

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/hack/internal/harness"
)

// deliveries records every distinct URL value seen in each session's Secret:
// what was delivered to the session (the bar is exactly one). Sessions are
// keyed by phase/namespace/name (the phase tells apart the sessions of the
// control plane before and after a disaster recovery, which have the same
// names).
type deliveries struct {
	mu   sync.Mutex
	urls map[string]map[string]bool
	wg   sync.WaitGroup
}

func newDeliveries() *deliveries { return &deliveries{urls: map[string]map[string]bool{}} }

// follow watches the Secrets gatestream writes (label managed-by) in every
// namespace of c's cluster until ctx ends: every change is seen (a closed
// watch resumes from the last resourceVersion, harness.FollowEvents).
func (d *deliveries) follow(ctx context.Context, c client.WithWatch, phase string) {
	d.wg.Go(func() {
		_ = harness.FollowEvents(ctx, c, &corev1.SecretList{},
			[]client.ListOption{client.MatchingLabels{accessv1alpha1.LabelManagedBy: accessv1alpha1.LabelManagedByValue}},
			func(t watch.EventType, o client.Object) {
				if t == watch.Deleted {
					return
				}
				d.seen(phase, o.(*corev1.Secret))
			},
			func() error { return nil })
	})
}

// wait returns when every follow has ended (their contexts are done).
func (d *deliveries) wait() { d.wg.Wait() }

func (d *deliveries) seen(phase string, s *corev1.Secret) {
	url := string(s.Data[accessv1alpha1.SecretKeyURL])
	if url == "" {
		return
	}
	for _, ref := range s.OwnerReferences {
		if ref.Kind != "StreamingSession" || ref.Controller == nil || !*ref.Controller {
			continue
		}
		key := sessionKey(phase, s.Namespace, ref.Name)
		d.mu.Lock()
		if d.urls[key] == nil {
			d.urls[key] = map[string]bool{}
		}
		d.urls[key][url] = true
		d.mu.Unlock()
	}
}

// count is how many distinct URLs session key was delivered.
func (d *deliveries) count(key string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.urls[key])
}

// sessionKey names a session of a phase.
func sessionKey(phase, namespace, name string) string {
	return phase + "/" + namespace + "/" + name
}
