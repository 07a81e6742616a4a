package environment

import (
	"context"
	"fmt"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	corev1 "k8s.io/api/core/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/soracom"
	"github.com/gatestream/gatestream/internal/unit"
)

// Peering is the Canal VPC peering: requested on SORACOM (the VPG's
// vpcPeeringConnections is authoritative, so a lost create response is found
// there instead of creating a second peering), accepted and read on AWS.
type Peering struct{}

func (Peering) Condition() string { return accessv1alpha1.ConditionPeeringReady }

func peeringStatus(p *Pass) *accessv1alpha1.PeeringStatus {
	if p.Env.Status.Peering == nil {
		p.Env.Status.Peering = &accessv1alpha1.PeeringStatus{}
	}
	return p.Env.Status.Peering
}

// findPeering returns the VPG's peering into our VPC, read on AWS, or nil.
func findPeering(ctx context.Context, p *Pass) (*ec2types.VpcPeeringConnection, error) {
	for _, id := range p.vpg.VPCPeeringConnectionIDs() {
		pcx, err := p.AWS.EC2.DescribeVPCPeering(ctx, id)
		if aws.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading peering %s: %w", id, err)
		}
		if pcx.AccepterVpcInfo != nil && deref(pcx.AccepterVpcInfo.VpcId) == p.Env.Spec.AWS.VPCID && !peeringDead(pcx) {
			return pcx, nil
		}
	}
	return nil, nil
}

func peeringState(pcx *ec2types.VpcPeeringConnection) string {
	if pcx.Status == nil {
		return ""
	}
	return string(pcx.Status.Code)
}

func peeringDead(pcx *ec2types.VpcPeeringConnection) bool {
	switch ec2types.VpcPeeringConnectionStateReasonCode(peeringState(pcx)) {
	case ec2types.VpcPeeringConnectionStateReasonCodeDeleted, ec2types.VpcPeeringConnectionStateReasonCodeDeleting,
		ec2types.VpcPeeringConnectionStateReasonCodeRejected, ec2types.VpcPeeringConnectionStateReasonCodeExpired,
		ec2types.VpcPeeringConnectionStateReasonCodeFailed:
		return true
	}
	return false
}

func (Peering) Observe(ctx context.Context, p *Pass) (Observation, error) {
	st := peeringStatus(p)
	pcx, err := findPeering(ctx, p)
	if err != nil {
		return Observation{}, err
	}
	if pcx == nil {
		st.ID, st.State = "", ""
		return Observation{Exists: false}, nil
	}
	st.ID, st.State = deref(pcx.VpcPeeringConnectionId), peeringState(pcx)
	switch ec2types.VpcPeeringConnectionStateReasonCode(st.State) {
	case ec2types.VpcPeeringConnectionStateReasonCodeActive:
		return Observation{Exists: true, UpToDate: true, Ready: true, Message: fmt.Sprintf("peering %s is active", st.ID)}, nil
	case ec2types.VpcPeeringConnectionStateReasonCodePendingAcceptance:
		return Observation{Exists: true, UpToDate: false, Reason: accessv1alpha1.ReasonPeeringPending,
			Message: fmt.Sprintf("peering %s waits for acceptance", st.ID)}, nil
	default:
		return Observation{Exists: true, UpToDate: true, Reason: accessv1alpha1.ReasonPeeringPending,
			Message: fmt.Sprintf("peering %s is %s", st.ID, st.State)}, nil
	}
}

// Create requests the peering on SORACOM; acceptance follows in Update.
func (Peering) Create(ctx context.Context, p *Pass) error {
	spec := p.Env.Spec
	pcx, err := p.Soracom.CreateVPCPeeringConnection(ctx, p.vpg.VPGID, &soracom.CreateVPCPeeringConnectionRequest{
		DestinationCIDRBlock: spec.Soracom.Canal.DestinationCIDRBlock,
		PeerOwnerID:          spec.AWS.AccountID,
		PeerRegion:           spec.AWS.Region,
		PeerVPCID:            spec.AWS.VPCID,
	})
	if err != nil {
		if soracom.StatusCode(err) == 400 {
			return unit.Terminal(accessv1alpha1.ReasonInvalidConfiguration, fmt.Errorf("SORACOM refused the Canal peering: %w", err))
		}
		return fmt.Errorf("requesting the Canal peering: %w", err)
	}
	if p.vpg.VPCPeeringConnections == nil {
		p.vpg.VPCPeeringConnections = map[string]string{}
	}
	p.vpg.VPCPeeringConnections[pcx.ID] = pcx.DestinationCIDRBlock
	p.Event(corev1.EventTypeNormal, "PeeringRequested", "Create", fmt.Sprintf("requested Canal peering %s into %s", pcx.ID, spec.AWS.VPCID))
	return nil
}

// Update accepts a pending peering on AWS.
func (Peering) Update(ctx context.Context, p *Pass) error {
	id := peeringStatus(p).ID
	if _, err := p.AWS.EC2.AcceptVPCPeering(ctx, id); err != nil {
		return fmt.Errorf("accepting peering %s: %w", id, err)
	}
	p.Event(corev1.EventTypeNormal, "PeeringAccepted", "Update", "accepted peering "+id)
	return nil
}

// Delete removes the peering on SORACOM (which deletes it on AWS too).
func (Peering) Delete(ctx context.Context, p *Pass) (bool, error) {
	vpg, err := gatewayForDelete(ctx, p)
	if vpg == nil {
		return err == nil, err
	}
	id := vpg.VPGID
	p.vpg = vpg
	pcx, err := findPeering(ctx, p)
	if err != nil {
		return false, err
	}
	if pcx == nil {
		return true, nil
	}
	pcxID := deref(pcx.VpcPeeringConnectionId)
	if err := p.Soracom.DeleteVPCPeeringConnection(ctx, id, pcxID); err != nil && !soracom.IsNotFound(err) {
		return false, fmt.Errorf("deleting peering %s: %w", pcxID, err)
	}
	p.Event(corev1.EventTypeNormal, "PeeringDeleted", "Delete", "deleted peering "+pcxID)
	return true, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
