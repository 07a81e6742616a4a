package environment

import (
	"context"
	"fmt"
	"slices"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"
	corev1 "k8s.io/api/core/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/unit"
)

// Stack is the AppStream stack users connect to.
type Stack struct {
	drift []string
}

func (*Stack) Condition() string { return accessv1alpha1.ConditionStackReady }

func stackStatus(p *Pass) *accessv1alpha1.StackStatus {
	if p.Env.Status.Stack == nil {
		p.Env.Status.Stack = &accessv1alpha1.StackStatus{}
	}
	return p.Env.Status.Stack
}

// desiredUserSettings lists only the settings the spec sets; the others keep AppStream's default.
func desiredUserSettings(spec accessv1alpha1.StackSpec) []astypes.UserSetting {
	us := spec.UserSettings
	if us == nil {
		return nil
	}
	var out []astypes.UserSetting
	add := func(action astypes.Action, perm accessv1alpha1.Permission) {
		if perm == "" {
			return
		}
		p := astypes.PermissionEnabled
		if perm == "Disabled" {
			p = astypes.PermissionDisabled
		}
		out = append(out, astypes.UserSetting{Action: action, Permission: p})
	}
	add(astypes.ActionClipboardCopyFromLocalDevice, us.ClipboardCopyFromLocalDevice)
	add(astypes.ActionClipboardCopyToLocalDevice, us.ClipboardCopyToLocalDevice)
	add(astypes.ActionFileUpload, us.FileUpload)
	add(astypes.ActionFileDownload, us.FileDownload)
	add(astypes.ActionPrintingToLocalDevice, us.PrintingToLocalDevice)
	return out
}

func stackDrift(spec accessv1alpha1.StackSpec, st *astypes.Stack) []string {
	var drift []string
	if spec.DisplayName != "" && deref(st.DisplayName) != spec.DisplayName {
		drift = append(drift, "displayName")
	}
	if spec.Description != "" && deref(st.Description) != spec.Description {
		drift = append(drift, "description")
	}
	have := map[astypes.Action]astypes.Permission{}
	for _, s := range st.UserSettings {
		have[s.Action] = s.Permission
	}
	for _, want := range desiredUserSettings(spec) {
		if have[want.Action] != want.Permission {
			drift = append(drift, "userSettings."+string(want.Action))
		}
	}
	return drift
}

func (s *Stack) Observe(ctx context.Context, p *Pass) (Observation, error) {
	name := StackName(p.Env)
	st := stackStatus(p)
	stack, err := p.AWS.AppStream.DescribeStack(ctx, name)
	if aws.IsNotFound(err) {
		st.Name = ""
		return Observation{Exists: false}, nil
	}
	if err != nil {
		return Observation{}, fmt.Errorf("reading stack %s: %w", name, err)
	}
	if st.Name == "" || p.Env.Status.Identity != p.Owner().Identity() {
		if err := checkOwner(ctx, p, deref(stack.Arn), "stack", name); err != nil {
			return Observation{}, err
		}
	}
	st.Name = name
	s.drift = stackDrift(p.Env.Spec.AppStream.Stack, stack)
	if len(s.drift) > 0 {
		return Observation{Exists: true, Ready: true, Reason: accessv1alpha1.ReasonUpdating, Message: "updating " + strings.Join(s.drift, ", ")}, nil
	}
	return Observation{Exists: true, UpToDate: true, Ready: true, Message: "stack " + name + " matches the spec"}, nil
}

func (s *Stack) Create(ctx context.Context, p *Pass) error {
	spec := p.Env.Spec.AppStream.Stack
	name := StackName(p.Env)
	in := &appstream.CreateStackInput{
		Name:         awssdk.String(name),
		UserSettings: desiredUserSettings(spec),
		Tags:         ownerTags(p),
	}
	if spec.DisplayName != "" {
		in.DisplayName = awssdk.String(spec.DisplayName)
	}
	if spec.Description != "" {
		in.Description = awssdk.String(spec.Description)
	}
	if _, err := p.AWS.AppStream.CreateStack(ctx, in); err != nil {
		if aws.IsAlreadyExists(err) {
			return nil
		}
		if aws.IsTerminal(err) {
			return unit.Terminal(accessv1alpha1.ReasonInvalidConfiguration, fmt.Errorf("creating stack %s: %w", name, err))
		}
		return fmt.Errorf("creating stack %s: %w", name, err)
	}
	stackStatus(p).Name = name
	p.Event(corev1.EventTypeNormal, "StackCreated", "Create", "created stack "+name)
	return nil
}

func (s *Stack) Update(ctx context.Context, p *Pass) error {
	spec := p.Env.Spec.AppStream.Stack
	name := StackName(p.Env)
	in := &appstream.UpdateStackInput{Name: awssdk.String(name), UserSettings: desiredUserSettings(spec)}
	if spec.DisplayName != "" {
		in.DisplayName = awssdk.String(spec.DisplayName)
	}
	if spec.Description != "" {
		in.Description = awssdk.String(spec.Description)
	}
	if _, err := p.AWS.AppStream.UpdateStack(ctx, in); err != nil {
		return fmt.Errorf("updating stack %s: %w", name, err)
	}
	p.Event(corev1.EventTypeNormal, "StackUpdated", "Update", fmt.Sprintf("updated stack %s: %s", name, strings.Join(s.drift, ", ")))
	return nil
}

func (s *Stack) Delete(ctx context.Context, p *Pass) (bool, error) {
	name := StackName(p.Env)
	recorded := p.Env.Status.Stack != nil && p.Env.Status.Stack.Name != ""
	if ours, err := deletable(ctx, p, "stack", name, recorded, func() (*string, error) {
		stack, err := p.AWS.AppStream.DescribeStack(ctx, name)
		if err != nil {
			return nil, err
		}
		return stack.Arn, nil
	}); !ours {
		return err == nil, err
	}
	if err := p.AWS.AppStream.DeleteStack(ctx, name); err != nil && !aws.IsNotFound(err) {
		return false, fmt.Errorf("deleting stack %s: %w", name, err)
	}
	p.Event(corev1.EventTypeNormal, "StackDeleted", "Delete", "deleted stack "+name)
	return true, nil
}

// Association associates the fleet with the stack.
type Association struct{}

func (Association) Condition() string { return accessv1alpha1.ConditionAssociationReady }

func (Association) Observe(ctx context.Context, p *Pass) (Observation, error) {
	stack, fleet := StackName(p.Env), FleetName(p.Env)
	fleets, err := p.AWS.AppStream.ListAssociatedFleets(ctx, stack)
	if err != nil {
		return Observation{}, fmt.Errorf("listing fleets of stack %s: %w", stack, err)
	}
	associated := slices.Contains(fleets, fleet)
	stackStatus(p).Associated = associated
	if !associated {
		return Observation{Exists: false}, nil
	}
	return Observation{Exists: true, UpToDate: true, Ready: true, Message: fmt.Sprintf("fleet %s is associated with stack %s", fleet, stack)}, nil
}

func (Association) Create(ctx context.Context, p *Pass) error {
	stack, fleet := StackName(p.Env), FleetName(p.Env)
	if err := p.AWS.AppStream.AssociateFleet(ctx, stack, fleet); err != nil {
		if aws.IsTerminal(err) {
			return unit.Terminal(accessv1alpha1.ReasonInvalidConfiguration, fmt.Errorf("associating fleet %s with stack %s: %w", fleet, stack, err))
		}
		return fmt.Errorf("associating fleet %s with stack %s: %w", fleet, stack, err)
	}
	p.Event(corev1.EventTypeNormal, "FleetAssociated", "Create", fmt.Sprintf("associated fleet %s with stack %s", fleet, stack))
	return nil
}

func (Association) Update(context.Context, *Pass) error { return nil }

func (Association) Delete(ctx context.Context, p *Pass) (bool, error) {
	stack, fleet := StackName(p.Env), FleetName(p.Env)
	fleets, err := p.AWS.AppStream.ListAssociatedFleets(ctx, stack)
	if err != nil && !aws.IsNotFound(err) {
		return false, err
	}
	if !slices.Contains(fleets, fleet) {
		return true, nil
	}
	if err := p.AWS.AppStream.DisassociateFleet(ctx, stack, fleet); err != nil && !aws.IsNotFound(err) {
		return false, fmt.Errorf("disassociating fleet %s from stack %s: %w", fleet, stack, err)
	}
	return true, nil
}
