package environment

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
)

// Sessions is the first deletion step: every streaming session on the
// environment's stack and fleet is expired, so people are disconnected
// deliberately before the fleet goes. It has nothing to converge.
type Sessions struct{}

func (Sessions) Condition() string { return accessv1alpha1.ConditionFleetReady }

func (Sessions) Observe(context.Context, *Pass) (Observation, error) {
	return Observation{Exists: true, UpToDate: true, Ready: true}, nil
}
func (Sessions) Create(context.Context, *Pass) error { return nil }
func (Sessions) Update(context.Context, *Pass) error { return nil }

func (Sessions) Delete(ctx context.Context, p *Pass) (bool, error) {
	stack, fleet := StackName(p.Env), FleetName(p.Env)
	sessions, err := p.AWS.AppStream.DescribeUserSessions(ctx, stack, fleet, "")
	if aws.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("listing the streaming sessions of stack %s: %w", stack, err)
	}
	for _, s := range sessions {
		if s.Id == nil {
			continue
		}
		if err := p.AWS.AppStream.ExpireSession(ctx, *s.Id); err != nil && !aws.IsNotFound(err) {
			return false, fmt.Errorf("expiring streaming session %s: %w", *s.Id, err)
		}
	}
	if len(sessions) > 0 {
		p.Event(corev1.EventTypeNormal, "SessionsExpired", "Delete", fmt.Sprintf("expired %d streaming sessions on stack %s", len(sessions), stack))
	}
	return true, nil
}
