package environment

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/soracom"
)

var gatewayTypes = map[accessv1alpha1.GatewayType]int{
	"E":  soracom.VPGTypeE,
	"F":  soracom.VPGTypeF,
	"F2": soracom.VPGTypeF2,
}

// Gateway is the SORACOM Virtual Private Gateway.
type Gateway struct{}

func (Gateway) Condition() string { return accessv1alpha1.ConditionGatewayReady }

// PendingMarker guards the create: a VPG is billed, so a lost create
// response must never lead to a second one (the runner keeps the marker).
func (Gateway) PendingMarker(p *Pass) **metav1.Time { return &gatewayStatus(p).CreatePendingSince }

func gatewayStatus(p *Pass) *accessv1alpha1.GatewayStatus {
	if p.Env.Status.Gateway == nil {
		p.Env.Status.Gateway = &accessv1alpha1.GatewayStatus{}
	}
	return p.Env.Status.Gateway
}

// Observe finds the VPG: the adopted ID, the recorded ID, or by owner tag.
func (Gateway) Observe(ctx context.Context, p *Pass) (Observation, error) {
	spec := p.Env.Spec.Soracom.Gateway
	st := gatewayStatus(p)
	id := st.ID
	if spec.ID != "" {
		id, st.Adopted = spec.ID, true
	}
	var vpg *soracom.VirtualPrivateGateway
	if id != "" {
		v, err := p.Soracom.GetVirtualPrivateGateway(ctx, id)
		switch {
		case soracom.IsNotFound(err) && st.Adopted:
			return Observation{Exists: true, UpToDate: true, Reason: accessv1alpha1.ReasonGatewayNotFound,
				Message: fmt.Sprintf("gateway %s (spec.soracom.gateway.id) does not exist", id), Wait: -1}, nil
		case soracom.IsNotFound(err):
			// Terminated outside gatestream: forget it and create a new one.
			p.Log.Info("recorded gateway is gone; a new one will be created", "vpgId", id)
			p.Event(corev1.EventTypeWarning, "GatewayGone", "Observe", fmt.Sprintf("gateway %s no longer exists; creating a new one", id))
			*st = accessv1alpha1.GatewayStatus{}
		case err != nil:
			return Observation{}, fmt.Errorf("reading gateway %s: %w", id, err)
		default:
			vpg = v
		}
	}
	if vpg == nil {
		found, err := findOwnedVPG(ctx, p)
		if err != nil {
			return Observation{}, err
		}
		if found == nil {
			return Observation{Exists: false}, nil
		}
		vpg = found
	}
	if !st.Adopted {
		if err := retagVPG(ctx, p, vpg); err != nil {
			return Observation{}, err
		}
	}
	p.vpg = vpg
	st.ID = vpg.VPGID
	st.Status = vpg.Status
	st.VPGSubnetCIDRRange = vpg.VPGSubnetCIDRRange
	st.GateOpened = vpg.GateOpened
	switch vpg.Status {
	case soracom.VPGStatusRunning:
		return Observation{Exists: true, UpToDate: true, Ready: true, Message: fmt.Sprintf("gateway %s is running", vpg.VPGID)}, nil
	case "failed":
		return Observation{Exists: true, UpToDate: true, Reason: accessv1alpha1.ReasonGatewayFailed,
			Message: fmt.Sprintf("gateway %s failed; delete it in the SORACOM console and remove status or recreate the environment", vpg.VPGID), Wait: -1}, nil
	default:
		return Observation{Exists: true, UpToDate: true, Reason: accessv1alpha1.ReasonCreating,
			Message: fmt.Sprintf("gateway %s is %s", vpg.VPGID, vpg.Status)}, nil
	}
}

// findOwnedVPG looks the VPG up by the owner's UID tag, then by its stable
// identity: a VPG this environment had before the cluster was rebuilt is
// adopted (tagged with the new UID), never created again.
func findOwnedVPG(ctx context.Context, p *Pass) (*soracom.VirtualPrivateGateway, error) {
	owner := p.Owner()
	vpg, err := findVPGByTag(ctx, p, accessv1alpha1.TagOwnerUID, owner.UID)
	if err != nil || vpg != nil || owner.Identity() == "" {
		return vpg, err
	}
	if vpg, err = findVPGByTag(ctx, p, accessv1alpha1.TagIdentity, owner.Identity()); err != nil || vpg == nil {
		return vpg, err
	}
	if err := retagVPG(ctx, p, vpg); err != nil {
		return nil, err
	}
	p.Log.Info("adopted the gateway by stable identity", "vpgId", vpg.VPGID, "identity", owner.Identity())
	p.Event(corev1.EventTypeNormal, "GatewayAdopted", "Observe",
		fmt.Sprintf("adopted gateway %s, tagged %s=%s (this environment before the cluster was rebuilt)", vpg.VPGID, accessv1alpha1.TagIdentity, owner.Identity()))
	return vpg, nil
}

func findVPGByTag(ctx context.Context, p *Pass, name, value string) (*soracom.VirtualPrivateGateway, error) {
	vpgs, err := p.Soracom.ListVirtualPrivateGateways(ctx, soracom.ListOptions{TagName: name, TagValue: value, TagValueMatchMode: "exact"})
	if err != nil {
		return nil, fmt.Errorf("looking up the gateway by its %s tag: %w", name, err)
	}
	for i := range vpgs {
		if vpgs[i].Tags[name] == value && vpgs[i].Status != soracom.VPGStatusTerminating && vpgs[i].Status != "terminated" {
			return &vpgs[i], nil
		}
	}
	return nil, nil
}

// retagVPG writes the owner's tags on a VPG of ours whose tags differ (one
// being adopted, or created before the manager had a cluster name).
func retagVPG(ctx context.Context, p *Pass, vpg *soracom.VirtualPrivateGateway) error {
	diff := p.Owner().Retag(vpg.Tags)
	if diff == nil {
		return nil
	}
	if err := p.Soracom.PutVirtualPrivateGatewayTags(ctx, vpg.VPGID, diff); err != nil {
		return fmt.Errorf("tagging gateway %s: %w", vpg.VPGID, err)
	}
	if vpg.Tags == nil {
		vpg.Tags = map[string]string{}
	}
	for k, v := range diff {
		vpg.Tags[k] = v
	}
	return nil
}

// Create creates the VPG tagged with the owner's UID and records its ID (the
// runner has written the create-pending marker before, and writes the ID after).
func (Gateway) Create(ctx context.Context, p *Pass) error {
	spec := p.Env.Spec.Soracom.Gateway
	st := gatewayStatus(p)
	useIGW := spec.UseInternetGateway != nil && *spec.UseInternetGateway
	var placement *soracom.Placement
	if spec.Region != "" { // else SORACOM places it by coverage: ap-northeast-1 (jp), eu-central-1 (g)
		placement = &soracom.Placement{Region: spec.Region}
	}
	vpg, err := p.Soracom.CreateVirtualPrivateGateway(ctx, &soracom.CreateVirtualPrivateGatewayRequest{
		Type:                  gatewayTypes[spec.Type],
		DeviceSubnetCIDRRange: spec.DeviceSubnetCIDRRange,
		UseInternetGateway:    useIGW,
		Placement:             placement,
		Tags:                  ownerTags(p),
	})
	if err != nil {
		return fmt.Errorf("creating gateway: %w", err)
	}
	st.ID, st.Status = vpg.VPGID, vpg.Status
	st.VPGSubnetCIDRRange = vpg.VPGSubnetCIDRRange
	p.Event(corev1.EventTypeNormal, "GatewayCreated", "Create", fmt.Sprintf("created gateway %s", vpg.VPGID))
	return nil
}

// Update: a VPG's settings are immutable (enforced at admission); nothing to do.
func (Gateway) Update(context.Context, *Pass) error { return nil }

// Delete terminates the VPG (never an adopted one) and waits until it is gone.
func (Gateway) Delete(ctx context.Context, p *Pass) (bool, error) {
	st := p.Env.Status.Gateway
	if p.Env.Spec.Soracom.Gateway.ID != "" || (st != nil && st.Adopted) {
		return true, nil
	}
	id := ""
	if st != nil {
		id = st.ID
	}
	if id == "" {
		vpg, err := findOwnedVPG(ctx, p)
		if err != nil {
			return false, err
		}
		if vpg == nil {
			// (A create whose response was lost may not be listed yet: the
			// runner keeps this unit "not gone" while its marker is in grace.)
			return true, nil
		}
		id = vpg.VPGID
	}
	vpg, err := p.Soracom.GetVirtualPrivateGateway(ctx, id)
	if soracom.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if vpg.Status == soracom.VPGStatusTerminating {
		return false, nil
	}
	if err := p.Soracom.TerminateVirtualPrivateGateway(ctx, id); err != nil && !soracom.IsNotFound(err) {
		return false, fmt.Errorf("terminating gateway %s: %w", id, err)
	}
	p.Event(corev1.EventTypeNormal, "GatewayTerminating", "Delete", fmt.Sprintf("terminating gateway %s", id))
	return false, nil
}

func ownerTags(p *Pass) map[string]string {
	tags := p.Owner().Tags()
	tags["name"] = "gatestream-" + p.Env.Namespace + "-" + p.Env.Name
	return tags
}
