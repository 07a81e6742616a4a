package environment

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"
	corev1 "k8s.io/api/core/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/capacity"
	"github.com/gatestream/gatestream/internal/metrics"
	"github.com/gatestream/gatestream/internal/ownership"
	"github.com/gatestream/gatestream/internal/unit"
)

// Fleet is the AppStream fleet in the customer's VPC: created, started, kept
// matching the spec (in place where AWS allows, stop-update-start where it
// needs a STOPPED fleet, as spec.appStream.fleet.updatePolicy says).
type Fleet struct {
	observed  *astypes.Fleet
	inPlace   []string // fields that differ and can change while RUNNING
	needsStop []string // fields that differ and need STOPPED
	// plan is the capacity policy's decision for this pass (desired
	// instances, and whether the fleet should run at all).
	plan capacity.Plan
}

func (*Fleet) Condition() string { return accessv1alpha1.ConditionFleetReady }

func fleetStatus(p *Pass) *accessv1alpha1.FleetStatus {
	if p.Env.Status.Fleet == nil {
		p.Env.Status.Fleet = &accessv1alpha1.FleetStatus{}
	}
	return p.Env.Status.Fleet
}

func (f *Fleet) Observe(ctx context.Context, p *Pass) (Observation, error) {
	name := FleetName(p.Env)
	st := fleetStatus(p)
	fl, err := p.AWS.AppStream.DescribeFleet(ctx, name)
	if aws.IsNotFound(err) {
		*st = accessv1alpha1.FleetStatus{Name: name}
		return Observation{Exists: false}, nil
	}
	if err != nil {
		return Observation{}, fmt.Errorf("reading fleet %s: %w", name, err)
	}
	if st.State == "" || p.Env.Status.Identity != p.Owner().Identity() {
		// First sight (or after a lost create, or a new cluster name): make sure it is ours.
		if err := checkOwner(ctx, p, deref(fl.Arn), "fleet", name); err != nil {
			return Observation{}, err
		}
	}
	f.observed = fl
	if err := capacity.Validate(p.Env.Spec.AppStream.Capacity); err != nil {
		// Admission cannot check that a time zone exists here.
		return Observation{}, unit.Terminal(accessv1alpha1.ReasonInvalidConfiguration, err)
	}
	f.plan = planCapacity(p, string(fl.State))
	f.inPlace, f.needsStop = fleetDiff(p.Env.Spec.AppStream.Fleet, f.plan, fl)
	st.Name, st.State = name, string(fl.State)
	st.Errors = nil
	for _, e := range fl.FleetErrors {
		st.Errors = append(st.Errors, fmt.Sprintf("%s: %s", e.ErrorCode, deref(e.ErrorMessage)))
	}
	if c := fl.ComputeCapacityStatus; c != nil {
		st.Desired, st.Available, st.InUse = awssdk.ToInt32(c.Desired), awssdk.ToInt32(c.Available), awssdk.ToInt32(c.InUse)
		st.Running = awssdk.ToInt32(c.Running)
	}
	observeStart(p, st)
	accountUsage(p, st)
	if f.plan.Policy == accessv1alpha1.CapacityDemand {
		if o, ok := f.observeDemand(p, fl, st); ok {
			return o, nil
		}
	}

	if len(st.Errors) > 0 && fl.State != astypes.FleetStateRunning {
		// AWS keeps such a fleet STARTING for a long time; the errors need a person.
		return Observation{Exists: true, UpToDate: true, Reason: accessv1alpha1.ReasonFleetErrors,
			Message: fmt.Sprintf("fleet %s is %s with errors: %s", name, fl.State, strings.Join(st.Errors, "; ")), Wait: -1}, nil
	}
	switch fl.State {
	case astypes.FleetStateRunning:
		if len(f.inPlace) == 0 && len(f.needsStop) == 0 {
			return Observation{Exists: true, UpToDate: true, Ready: true,
				Message: fmt.Sprintf("fleet %s is running (%d available, %d in use)", name, st.Available, st.InUse)}, nil
		}
		if len(f.inPlace) > 0 {
			return Observation{Exists: true, Ready: true, Reason: accessv1alpha1.ReasonUpdating,
				Message: "updating " + strings.Join(f.inPlace, ", ")}, nil
		}
		switch p.Env.Spec.AppStream.Fleet.UpdatePolicy {
		case accessv1alpha1.FleetUpdateNever:
			return Observation{Exists: true, UpToDate: true, Ready: true, Reason: accessv1alpha1.ReasonUpdateRequiresStop,
				Message: fmt.Sprintf("%s change only on a STOPPED fleet and updatePolicy is Never: stop fleet %s or set updatePolicy", strings.Join(f.needsStop, ", "), name), Wait: -1}, nil
		case accessv1alpha1.FleetUpdateRestart:
		default: // WhenIdle
			if st.InUse > 0 {
				return Observation{Exists: true, UpToDate: true, Ready: true, Reason: accessv1alpha1.ReasonWaitingForIdle,
					Message: fmt.Sprintf("%s change on a STOPPED fleet; waiting until none of the %d sessions in use remains", strings.Join(f.needsStop, ", "), st.InUse)}, nil
			}
		}
		return Observation{Exists: true, Ready: true, Reason: accessv1alpha1.ReasonFleetStopping,
			Message: "stopping to change " + strings.Join(f.needsStop, ", ")}, nil
	case astypes.FleetStateStopped:
		return Observation{Exists: true, Reason: accessv1alpha1.ReasonFleetStarting, Message: fmt.Sprintf("fleet %s is stopped; starting", name)}, nil
	case astypes.FleetStateStopping:
		return Observation{Exists: true, UpToDate: true, Reason: accessv1alpha1.ReasonFleetStopping, Message: fmt.Sprintf("fleet %s is stopping", name)}, nil
	default:
		return Observation{Exists: true, UpToDate: true, Reason: accessv1alpha1.ReasonFleetStarting, Message: fmt.Sprintf("fleet %s is %s", name, fl.State)}, nil
	}
}

// ownedForDelete reports whether an AppStream object seen for the first time
// during deletion is ours. Someone else's is left alone (gone, as far as we
// are concerned); tags that cannot be read are an error to retry, never a
// reason to skip deleting a billed object.
// deletable describes an AppStream object before deleting it: false when it
// is gone, or when it is another owner's (never deleted; its tags are read
// only when status never recorded the object as ours).
func deletable(ctx context.Context, p *Pass, kind, name string, recorded bool, describe func() (*string, error)) (bool, error) {
	arn, err := describe()
	if aws.IsNotFound(err) || (err == nil && recorded) {
		return err == nil, nil
	}
	if err != nil {
		return false, err
	}
	err = checkOwner(ctx, p, deref(arn), kind, name)
	if r := unit.Reason(err); err != nil && (r == accessv1alpha1.ReasonNameConflict || r == accessv1alpha1.ReasonOwnedElsewhere) {
		return false, nil
	}
	return err == nil, err
}

// checkOwner refuses to manage an AppStream object that another owner
// tagged; one of ours whose ownership tags differ (adopted by stable identity
// after the cluster was rebuilt, or made before the manager had a cluster
// name) is tagged again.
func checkOwner(ctx context.Context, p *Pass, arn, kind, name string) error {
	tags, err := p.AWS.AppStream.ListTagsForResource(ctx, arn)
	if err != nil {
		return fmt.Errorf("reading the tags of %s %s: %w", kind, name, err)
	}
	owner := p.Owner()
	switch owner.ClaimOn(tags) {
	case ownership.Foreign:
		reason, hint := accessv1alpha1.ReasonNameConflict, "choose another spec.appStream."+kind+".name"
		if id := tags[accessv1alpha1.TagIdentity]; id != "" && owner.Cluster != "" && tags[accessv1alpha1.TagOwner] == owner.Key() {
			reason, hint = accessv1alpha1.ReasonOwnedElsewhere, "another cluster manages it; left untouched"
		}
		return unit.Terminal(reason, fmt.Errorf("%s %s exists and is not this environment's (owner: %s): %s",
			kind, name, ownership.DescribeOwner(tags), hint))
	case ownership.Adoptable:
		p.Event(corev1.EventTypeNormal, "Adopted", "Observe",
			fmt.Sprintf("adopted %s %s, tagged %s=%s (this environment before the cluster was rebuilt)", kind, name, accessv1alpha1.TagIdentity, owner.Identity()))
	}
	if diff := owner.Retag(tags); diff != nil {
		if err := p.AWS.AppStream.TagResource(ctx, arn, diff); err != nil {
			return fmt.Errorf("tagging %s %s: %w", kind, name, err)
		}
	}
	return nil
}

func desiredVPC(spec accessv1alpha1.FleetSpec) *astypes.VpcConfig {
	return &astypes.VpcConfig{SubnetIds: slices.Clone(spec.SubnetIDs), SecurityGroupIds: slices.Clone(spec.SecurityGroupIDs)}
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	sort.Strings(x)
	sort.Strings(y)
	return slices.Equal(x, y)
}

// fleetDiff returns the differing fields that can change while RUNNING and
// those that need a STOPPED fleet (appstream-api.md §2.2).
func fleetDiff(spec accessv1alpha1.FleetSpec, plan capacity.Plan, fl *astypes.Fleet) (inPlace, needsStop []string) {
	if spec.FleetType == accessv1alpha1.FleetTypeElastic {
		if awssdk.ToInt32(fl.MaxConcurrentSessions) != spec.MaxConcurrentSessions {
			inPlace = append(inPlace, "maxConcurrentSessions")
		}
	} else if c := fl.ComputeCapacityStatus; plan.Run && (c == nil || awssdk.ToInt32(c.Desired) != plan.Desired) {
		inPlace = append(inPlace, "desiredCapacity")
	}
	if deref(fl.ImageName) != spec.ImageName {
		if spec.FleetType == accessv1alpha1.FleetTypeElastic {
			needsStop = append(needsStop, "imageName") // appstream-api.md §2.2: an ELASTIC fleet's image changes only STOPPED
		} else {
			inPlace = append(inPlace, "imageName")
		}
	}
	if awssdk.ToInt32(fl.DisconnectTimeoutInSeconds) != spec.DisconnectTimeoutSeconds {
		inPlace = append(inPlace, "disconnectTimeoutSeconds")
	}
	if awssdk.ToInt32(fl.IdleDisconnectTimeoutInSeconds) != spec.IdleDisconnectTimeoutSeconds {
		inPlace = append(inPlace, "idleDisconnectTimeoutSeconds")
	}
	if deref(fl.InstanceType) != spec.InstanceType {
		needsStop = append(needsStop, "instanceType")
	}
	if fl.VpcConfig == nil || !sameSet(fl.VpcConfig.SubnetIds, spec.SubnetIDs) || !sameSet(fl.VpcConfig.SecurityGroupIds, spec.SecurityGroupIDs) {
		needsStop = append(needsStop, "subnetIds/securityGroupIds")
	}
	if awssdk.ToInt32(fl.MaxUserDurationInSeconds) != spec.MaxUserDurationSeconds {
		needsStop = append(needsStop, "maxUserDurationSeconds")
	}
	if awssdk.ToBool(fl.EnableDefaultInternetAccess) != boolOr(spec.EnableDefaultInternetAccess, false) {
		needsStop = append(needsStop, "enableDefaultInternetAccess")
	}
	if string(fl.StreamView) != string(spec.StreamView) && !(fl.StreamView == "" && spec.StreamView == "APP") {
		needsStop = append(needsStop, "streamView")
	}
	if deref(fl.IamRoleArn) != spec.IAMRoleARN {
		needsStop = append(needsStop, "iamRoleArn")
	}
	return inPlace, needsStop
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

func (f *Fleet) Create(ctx context.Context, p *Pass) error {
	spec := p.Env.Spec.AppStream.Fleet
	name := FleetName(p.Env)
	plan := planCapacity(p, "")
	in := &appstream.CreateFleetInput{
		Name:                           awssdk.String(name),
		InstanceType:                   awssdk.String(spec.InstanceType),
		FleetType:                      astypes.FleetType(spec.FleetType),
		ImageName:                      awssdk.String(spec.ImageName),
		ComputeCapacity:                computeCapacity(spec, plan),
		VpcConfig:                      desiredVPC(spec),
		MaxUserDurationInSeconds:       awssdk.Int32(spec.MaxUserDurationSeconds),
		DisconnectTimeoutInSeconds:     awssdk.Int32(spec.DisconnectTimeoutSeconds),
		IdleDisconnectTimeoutInSeconds: awssdk.Int32(spec.IdleDisconnectTimeoutSeconds),
		EnableDefaultInternetAccess:    awssdk.Bool(boolOr(spec.EnableDefaultInternetAccess, false)),
		StreamView:                     astypes.StreamView(spec.StreamView),
		DisplayName:                    awssdk.String(truncate(p.Env.Namespace+"/"+p.Env.Name, 100)),
		Tags:                           ownerTags(p),
	}
	if spec.IAMRoleARN != "" {
		in.IamRoleArn = awssdk.String(spec.IAMRoleARN)
	}
	if spec.FleetType == accessv1alpha1.FleetTypeElastic {
		in.MaxConcurrentSessions = awssdk.Int32(spec.MaxConcurrentSessions)
		in.Platform = astypes.PlatformType(spec.Platform)
	}
	if _, err := p.AWS.AppStream.CreateFleet(ctx, in); err != nil {
		if aws.IsAlreadyExists(err) { // a retried create after a lost response: Observe adopts it
			return nil
		}
		if aws.IsTerminal(err) {
			return unit.Terminal(accessv1alpha1.ReasonInvalidConfiguration, fmt.Errorf("creating fleet %s: %w", name, err))
		}
		return fmt.Errorf("creating fleet %s: %w", name, err)
	}
	fleetStatus(p).State = string(astypes.FleetStateStopped) // created by us: no owner check needed
	p.Event(corev1.EventTypeNormal, "FleetCreated", "Create", "created fleet "+name)
	return nil
}

func (f *Fleet) Update(ctx context.Context, p *Pass) error {
	fl := f.observed
	name := FleetName(p.Env)
	spec := p.Env.Spec.AppStream.Fleet
	switch fl.State {
	case astypes.FleetStateStopped:
		if len(f.inPlace)+len(f.needsStop) > 0 {
			if err := f.updateFleet(ctx, p, true); err != nil {
				return err
			}
		}
		if !f.plan.Run {
			return nil // capacity Demand: idle, stays stopped
		}
		if err := p.AWS.AppStream.StartFleet(ctx, name); err != nil {
			return fmt.Errorf("starting fleet %s: %w", name, err)
		}
		metrics.FleetCapacityChanges.WithLabelValues(p.Env.Namespace, p.Env.Name, "start").Inc()
		capacityRequested(p)
		p.Event(corev1.EventTypeNormal, "FleetStarting", "Update", "starting fleet "+name+": "+f.plan.Why)
	case astypes.FleetStateRunning:
		if !f.plan.Run {
			return f.stopIdle(ctx, p)
		}
		if len(f.inPlace) > 0 {
			return f.updateFleet(ctx, p, false)
		}
		if len(f.needsStop) == 0 || spec.UpdatePolicy == accessv1alpha1.FleetUpdateNever {
			return nil
		}
		if spec.UpdatePolicy != accessv1alpha1.FleetUpdateRestart && fleetStatus(p).InUse > 0 {
			return nil
		}
		if err := p.AWS.AppStream.StopFleet(ctx, name); err != nil {
			return fmt.Errorf("stopping fleet %s: %w", name, err)
		}
		p.Event(corev1.EventTypeNormal, "FleetStopping", "Update", fmt.Sprintf("stopping fleet %s to change %s", name, strings.Join(f.needsStop, ", ")))
	}
	return nil
}

// computeCapacity is the ComputeCapacity to send: none for ELASTIC fleets,
// else the plan's desired instances (at least 1: a fleet created or
// updated while idle keeps one instance for its next start).
func computeCapacity(spec accessv1alpha1.FleetSpec, plan capacity.Plan) *astypes.ComputeCapacity {
	if spec.FleetType == accessv1alpha1.FleetTypeElastic {
		return nil
	}
	return &astypes.ComputeCapacity{DesiredInstances: awssdk.Int32(max(plan.Desired, 1))}
}

// observeDemand is the fleet's state under capacity Demand, where a
// stopped, starting or growing fleet is the policy at work, not a fault: the
// fleet is reported ready (its condition's message says what it is doing),
// so the environment stays Ready and its sessions wait for capacity and say
// so. The pass asks to be run again when the fleet's state or the plan will
// change (p.Wake). ok is false for the states the ordinary rules handle
// (errors, spec updates).
func (f *Fleet) observeDemand(p *Pass, fl *astypes.Fleet, st *accessv1alpha1.FleetStatus) (Observation, bool) {
	name, plan := FleetName(p.Env), f.plan
	if len(st.Errors) > 0 && fl.State != astypes.FleetStateRunning {
		return Observation{}, false
	}
	ready := func(upToDate bool, wake time.Duration, format string, args ...any) (Observation, bool) {
		p.WakeIn(wake)
		return Observation{Exists: true, UpToDate: upToDate, Ready: true, Message: fmt.Sprintf(format, args...)}, true
	}
	if fl.State == astypes.FleetStateStarting || (fl.State == astypes.FleetStateRunning && st.Running < st.Desired) {
		// The pass that asked for the instances may not have recorded it
		// (its status write lost): time the start from now.
		capacityRequested(p)
	}
	changing := p.UnitBase().Settling(startedAt(p))
	switch fl.State {
	case astypes.FleetStateStopped:
		if !plan.Run {
			return ready(true, untilNext(p, plan), "fleet %s is stopped: %s", name, plan.Why)
		}
		return ready(false, 0, "starting fleet %s: %s", name, plan.Why)
	case astypes.FleetStateStarting:
		return ready(true, changing, "fleet %s is starting: %s", name, plan.Why)
	case astypes.FleetStateStopping:
		// Nothing waits on a stop: look again at the transition wait, not at
		// the pace of a start someone is waiting for.
		return ready(true, p.TransitionWait, "fleet %s is stopping: %s", name, plan.Why)
	case astypes.FleetStateRunning:
		if !plan.Run {
			if st.InUse > 0 {
				// Never end a person's session: stop once the last one is over.
				return ready(true, p.TransitionWait, "fleet %s stops when its %d session(s) in use end: %s", name, st.InUse, plan.Why)
			}
			return ready(false, 0, "stopping fleet %s: %s", name, plan.Why)
		}
		if len(f.needsStop) > 0 {
			return Observation{}, false
		}
		if len(f.inPlace) > 0 {
			return ready(false, 0, "changing fleet %s (%s): %s", name, strings.Join(f.inPlace, ", "), plan.Why)
		}
		if st.Running < st.Desired {
			return ready(true, changing, "fleet %s is growing to %d instances (%d running, %d in use): %s", name, st.Desired, st.Running, st.InUse, plan.Why)
		}
		return ready(true, untilNext(p, plan), "fleet %s is running (%d running, %d available, %d in use): %s", name, st.Running, st.Available, st.InUse, plan.Why)
	}
	return Observation{}, false
}

// startedAt is when instances were last asked for (zero when none are awaited).
func startedAt(p *Pass) time.Time {
	if st := p.Env.Status.Capacity; st != nil && st.StartRequestedAt != nil {
		return st.StartRequestedAt.Time
	}
	return time.Time{}
}

// untilNext is the wait until the plan changes by time alone (a schedule
// boundary, the idle time running out); 0 when none is due.
func untilNext(p *Pass, plan capacity.Plan) time.Duration {
	if plan.Next.IsZero() {
		return 0
	}
	return max(plan.Next.Sub(p.Now), time.Second)
}

// stopIdle stops an idle fleet under capacity Demand, unless a session is
// still in use on it.
func (f *Fleet) stopIdle(ctx context.Context, p *Pass) error {
	name := FleetName(p.Env)
	if fleetStatus(p).InUse > 0 {
		return nil
	}
	if err := p.AWS.AppStream.StopFleet(ctx, name); err != nil {
		return fmt.Errorf("stopping idle fleet %s: %w", name, err)
	}
	metrics.FleetCapacityChanges.WithLabelValues(p.Env.Namespace, p.Env.Name, "stop").Inc()
	p.Event(corev1.EventTypeNormal, "FleetStopping", "Update", "stopping fleet "+name+": "+f.plan.Why)
	return nil
}

// updateFleet sends the in-place fields, and the stop-only ones when stopped.
func (f *Fleet) updateFleet(ctx context.Context, p *Pass, stopped bool) error {
	spec := p.Env.Spec.AppStream.Fleet
	name := FleetName(p.Env)
	in := &appstream.UpdateFleetInput{
		Name:                           awssdk.String(name),
		ComputeCapacity:                computeCapacity(spec, f.plan),
		DisconnectTimeoutInSeconds:     awssdk.Int32(spec.DisconnectTimeoutSeconds),
		IdleDisconnectTimeoutInSeconds: awssdk.Int32(spec.IdleDisconnectTimeoutSeconds),
	}
	if spec.FleetType == accessv1alpha1.FleetTypeElastic {
		in.MaxConcurrentSessions = awssdk.Int32(spec.MaxConcurrentSessions)
	}
	if stopped || spec.FleetType != accessv1alpha1.FleetTypeElastic {
		in.ImageName = awssdk.String(spec.ImageName)
	}
	if stopped {
		in.InstanceType = awssdk.String(spec.InstanceType)
		in.VpcConfig = desiredVPC(spec)
		in.MaxUserDurationInSeconds = awssdk.Int32(spec.MaxUserDurationSeconds)
		in.EnableDefaultInternetAccess = awssdk.Bool(boolOr(spec.EnableDefaultInternetAccess, false))
		in.StreamView = astypes.StreamView(spec.StreamView)
		if spec.IAMRoleARN != "" {
			in.IamRoleArn = awssdk.String(spec.IAMRoleARN)
		} else if deref(f.observed.IamRoleArn) != "" {
			in.AttributesToDelete = append(in.AttributesToDelete, astypes.FleetAttributeIamRoleArn)
		}
	}
	if _, err := p.AWS.AppStream.UpdateFleet(ctx, in); err != nil {
		if aws.IsTerminal(err) {
			return unit.Terminal(accessv1alpha1.ReasonInvalidConfiguration, fmt.Errorf("updating fleet %s: %w", name, err))
		}
		return fmt.Errorf("updating fleet %s: %w", name, err)
	}
	if slices.Contains(f.inPlace, "desiredCapacity") {
		metrics.FleetCapacityChanges.WithLabelValues(p.Env.Namespace, p.Env.Name, "update").Inc()
		if st := fleetStatus(p); !stopped && f.plan.Desired > st.Running {
			capacityRequested(p)
		}
	}
	changed := slices.Clone(f.inPlace)
	if stopped {
		changed = append(changed, f.needsStop...)
	}
	p.Event(corev1.EventTypeNormal, "FleetUpdated", "Update", fmt.Sprintf("updated fleet %s: %s", name, strings.Join(changed, ", ")))
	return nil
}

// Delete stops the fleet and deletes it once STOPPED (association goes first).
func (f *Fleet) Delete(ctx context.Context, p *Pass) (bool, error) {
	name := FleetName(p.Env)
	var fl *astypes.Fleet
	recorded := p.Env.Status.Fleet != nil && p.Env.Status.Fleet.State != ""
	if ours, err := deletable(ctx, p, "fleet", name, recorded, func() (arn *string, err error) {
		if fl, err = p.AWS.AppStream.DescribeFleet(ctx, name); err != nil {
			return nil, err
		}
		return fl.Arn, nil
	}); !ours {
		return err == nil, err
	}
	switch fl.State {
	case astypes.FleetStateRunning, astypes.FleetStateStarting:
		if err := p.AWS.AppStream.StopFleet(ctx, name); err != nil && !aws.IsNotFound(err) {
			return false, fmt.Errorf("stopping fleet %s: %w", name, err)
		}
		return false, nil
	case astypes.FleetStateStopping:
		return false, nil
	}
	if err := p.AWS.AppStream.DeleteFleet(ctx, name); err != nil && !aws.IsNotFound(err) {
		return false, fmt.Errorf("deleting fleet %s: %w", name, err)
	}
	p.Event(corev1.EventTypeNormal, "FleetDeleted", "Delete", "deleted fleet "+name)
	return true, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
