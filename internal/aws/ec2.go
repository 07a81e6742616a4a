package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// EC2API is what the controllers need from EC2: read the customer VPC,
// route the SORACOM ranges through the Canal peering, accept the peering.
// Describe* with an empty ID list return nothing (never "everything").
// Deletes do not hide not-found: callers treat IsNotFound as success.
type EC2API interface {
	// DescribeVPC returns the VPC, or an error with IsNotFound(err).
	DescribeVPC(ctx context.Context, id string) (*ec2types.Vpc, error)
	// DescribeSubnets returns the subnets; an unknown ID fails the call with IsNotFound(err).
	DescribeSubnets(ctx context.Context, ids []string) ([]ec2types.Subnet, error)
	// DescribeRouteTables returns the route tables; an unknown ID fails the call with IsNotFound(err).
	DescribeRouteTables(ctx context.Context, ids []string) ([]ec2types.RouteTable, error)
	// RouteTablesOfVPC returns every route table of the VPC in one listing,
	// so that the units of a pass read each table once (TablesForSubnets
	// finds a subnet's table in it).
	RouteTablesOfVPC(ctx context.Context, vpcID string) ([]ec2types.RouteTable, error)
	// CreateRoute adds destCIDR -> VPC peering pcxID (IsAlreadyExists if a route for destCIDR exists).
	CreateRoute(ctx context.Context, routeTableID, destCIDR, pcxID string) error
	// ReplaceRoute points the existing route for destCIDR at pcxID
	// (IsNotFound when there is no route for destCIDR: create it instead).
	ReplaceRoute(ctx context.Context, routeTableID, destCIDR, pcxID string) error
	// DeleteRoute deletes the route for destCIDR.
	DeleteRoute(ctx context.Context, routeTableID, destCIDR string) error
	// DescribeSecurityGroups returns the groups; an unknown ID fails the call with IsNotFound(err).
	DescribeSecurityGroups(ctx context.Context, ids []string) ([]ec2types.SecurityGroup, error)
	// DescribeVPCPeering returns the peering, or an error with IsNotFound(err).
	// Deleted/rejected/expired/failed peerings stay visible for a while: check Status.Code.
	DescribeVPCPeering(ctx context.Context, id string) (*ec2types.VpcPeeringConnection, error)
	// AcceptVPCPeering accepts a pending-acceptance peering.
	AcceptVPCPeering(ctx context.Context, id string) (*ec2types.VpcPeeringConnection, error)
	DeleteVPCPeering(ctx context.Context, id string) error

	// RunInstance launches one instance. A repeated ClientToken returns the
	// instance the first call launched (in its current state, terminated
	// included, for at least 24h after its termination); the same token with
	// other parameters fails with IdempotentParameterMismatch (IsTerminal).
	// Without a ClientToken the SDK makes one up per call (retries of that
	// call are still idempotent).
	RunInstance(ctx context.Context, in RunInstanceInput) (*ec2types.Instance, error)
	// DescribeInstances returns the instances with these IDs (missing ones are left out, not an error).
	// EC2 is eventually consistent: an instance just launched may be missing for a moment.
	DescribeInstances(ctx context.Context, ids []string) ([]ec2types.Instance, error)
	// InstancesByTag returns the instances (any state but terminated) that carry tag key=value.
	InstancesByTag(ctx context.Context, key, value string) ([]ec2types.Instance, error)
	// TerminateInstances terminates the instances; already gone is not an error.
	TerminateInstances(ctx context.Context, ids []string) error
	// CreateTags adds or overwrites tags on resources (instances, network interfaces).
	CreateTags(ctx context.Context, ids []string, tags map[string]string) error
	// InstanceImpaired reports whether EC2 reports the instance or system status impaired.
	InstanceImpaired(ctx context.Context, id string) (bool, error)
	// InstanceUserData returns the decoded user data ("" if none).
	InstanceUserData(ctx context.Context, id string) (string, error)
	// DescribeNetworkInterfaces returns the interfaces with these IDs (missing ones are left out).
	DescribeNetworkInterfaces(ctx context.Context, ids []string) ([]ec2types.NetworkInterface, error)
	// SetSourceDestCheck enables or disables the interface's source/destination check.
	SetSourceDestCheck(ctx context.Context, eniID string, enabled bool) error
	// CreateRouteTo adds destCIDR -> target (IsAlreadyExists if a route for destCIDR exists).
	// Route targets: exactly one of PeeringID, NetworkInterfaceID is set.
	CreateRouteTo(ctx context.Context, routeTableID, destCIDR string, target RouteTarget) error
	// ReplaceRouteTo points the existing route for destCIDR at target
	// (IsNotFound when there is no route for destCIDR: create it instead).
	ReplaceRouteTo(ctx context.Context, routeTableID, destCIDR string, target RouteTarget) error
}

// RunInstanceInput is one instance to launch; UserData is plain text (the client base64-encodes it).
type RunInstanceInput struct {
	ClientToken, ImageID, InstanceType, SubnetID, UserData string
	SecurityGroupIDs                                       []string
	Tags                                                   map[string]string // put on the instance and its network interface
}

// RouteTarget is where a route sends traffic: exactly one of PeeringID
// (pcx-…) and NetworkInterfaceID (eni-…) is set.
type RouteTarget struct{ PeeringID, NetworkInterfaceID string }

// ec2APIClient is the subset of *ec2.Client the adapter uses.
type ec2APIClient interface {
	ec2.DescribeVpcsAPIClient
	ec2.DescribeSubnetsAPIClient
	ec2.DescribeRouteTablesAPIClient
	ec2.DescribeSecurityGroupsAPIClient
	ec2.DescribeVpcPeeringConnectionsAPIClient
	CreateRoute(context.Context, *ec2.CreateRouteInput, ...func(*ec2.Options)) (*ec2.CreateRouteOutput, error)
	ReplaceRoute(context.Context, *ec2.ReplaceRouteInput, ...func(*ec2.Options)) (*ec2.ReplaceRouteOutput, error)
	DeleteRoute(context.Context, *ec2.DeleteRouteInput, ...func(*ec2.Options)) (*ec2.DeleteRouteOutput, error)
	AcceptVpcPeeringConnection(context.Context, *ec2.AcceptVpcPeeringConnectionInput, ...func(*ec2.Options)) (*ec2.AcceptVpcPeeringConnectionOutput, error)
	DeleteVpcPeeringConnection(context.Context, *ec2.DeleteVpcPeeringConnectionInput, ...func(*ec2.Options)) (*ec2.DeleteVpcPeeringConnectionOutput, error)
	ec2.DescribeInstancesAPIClient
	ec2.DescribeInstanceStatusAPIClient
	ec2.DescribeNetworkInterfacesAPIClient
	RunInstances(context.Context, *ec2.RunInstancesInput, ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error)
	CreateTags(context.Context, *ec2.CreateTagsInput, ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
	TerminateInstances(context.Context, *ec2.TerminateInstancesInput, ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	DescribeInstanceAttribute(context.Context, *ec2.DescribeInstanceAttributeInput, ...func(*ec2.Options)) (*ec2.DescribeInstanceAttributeOutput, error)
	ModifyNetworkInterfaceAttribute(context.Context, *ec2.ModifyNetworkInterfaceAttributeInput, ...func(*ec2.Options)) (*ec2.ModifyNetworkInterfaceAttributeOutput, error)
}

type ec2Client struct{ c ec2APIClient }

var _ EC2API = (*ec2Client)(nil)

func filter(name string, values ...string) ec2types.Filter {
	return ec2types.Filter{Name: awssdk.String(name), Values: values}
}

func (e *ec2Client) DescribeVPC(ctx context.Context, id string) (*ec2types.Vpc, error) {
	if id == "" {
		return nil, fmt.Errorf("ec2 vpc %q: %w", id, ErrNotFound)
	}
	p := ec2.NewDescribeVpcsPaginator(e.c, &ec2.DescribeVpcsInput{VpcIds: []string{id}})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx, plainRequestBody)
		if err != nil {
			return nil, asNotFound(err)
		}
		for i := range out.Vpcs {
			if awssdk.ToString(out.Vpcs[i].VpcId) == id {
				return &out.Vpcs[i], nil
			}
		}
	}
	return nil, fmt.Errorf("ec2 vpc %q: %w", id, ErrNotFound)
}

func (e *ec2Client) DescribeSubnets(ctx context.Context, ids []string) ([]ec2types.Subnet, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var all []ec2types.Subnet
	p := ec2.NewDescribeSubnetsPaginator(e.c, &ec2.DescribeSubnetsInput{SubnetIds: ids})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx, plainRequestBody)
		if err != nil {
			return nil, asNotFound(err)
		}
		all = append(all, out.Subnets...)
	}
	return all, nil
}

func (e *ec2Client) describeRouteTables(ctx context.Context, in *ec2.DescribeRouteTablesInput) ([]ec2types.RouteTable, error) {
	var all []ec2types.RouteTable
	p := ec2.NewDescribeRouteTablesPaginator(e.c, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx, plainRequestBody)
		if err != nil {
			return nil, asNotFound(err)
		}
		all = append(all, out.RouteTables...)
	}
	return all, nil
}

func (e *ec2Client) DescribeRouteTables(ctx context.Context, ids []string) ([]ec2types.RouteTable, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	return e.describeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: ids})
}

func (e *ec2Client) RouteTablesOfVPC(ctx context.Context, vpcID string) ([]ec2types.RouteTable, error) {
	return e.describeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{filter("vpc-id", vpcID)}})
}

// TablesForSubnets returns the route table each subnet uses, by subnet ID,
// from a VPC's tables: its explicitly associated table, else the VPC's main
// route table. Subnets with neither are absent from the map.
func TablesForSubnets(tables []ec2types.RouteTable, subnetIDs []string) map[string]ec2types.RouteTable {
	res := make(map[string]ec2types.RouteTable, len(subnetIDs))
	var main *ec2types.RouteTable
	for i, rt := range tables {
		for _, a := range rt.Associations {
			if awssdk.ToBool(a.Main) {
				main = &tables[i]
			}
			if s := awssdk.ToString(a.SubnetId); s != "" && slices.Contains(subnetIDs, s) {
				res[s] = rt
			}
		}
	}
	for _, s := range subnetIDs {
		if _, ok := res[s]; !ok && main != nil {
			res[s] = *main
		}
	}
	return res
}

func (e *ec2Client) CreateRoute(ctx context.Context, routeTableID, destCIDR, pcxID string) error {
	return e.CreateRouteTo(ctx, routeTableID, destCIDR, RouteTarget{PeeringID: pcxID})
}

func (e *ec2Client) ReplaceRoute(ctx context.Context, routeTableID, destCIDR, pcxID string) error {
	return e.ReplaceRouteTo(ctx, routeTableID, destCIDR, RouteTarget{PeeringID: pcxID})
}

// check rejects a target with none or both of its IDs, as a client-side
// validation error (IsTerminal: the caller's code must change).
func (t RouteTarget) check() error {
	if (t.PeeringID == "") == (t.NetworkInterfaceID == "") {
		e := smithy.InvalidParamsError{Context: "RouteTarget"}
		e.Add(smithy.NewErrParamRequired("exactly one of PeeringID and NetworkInterfaceID"))
		return e
	}
	return nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (e *ec2Client) CreateRouteTo(ctx context.Context, routeTableID, destCIDR string, target RouteTarget) error {
	if err := target.check(); err != nil {
		return err
	}
	_, err := e.c.CreateRoute(ctx, &ec2.CreateRouteInput{
		RouteTableId:           &routeTableID,
		DestinationCidrBlock:   &destCIDR,
		VpcPeeringConnectionId: optional(target.PeeringID),
		NetworkInterfaceId:     optional(target.NetworkInterfaceID),
	}, plainRequestBody)
	return err
}

func (e *ec2Client) ReplaceRouteTo(ctx context.Context, routeTableID, destCIDR string, target RouteTarget) error {
	if err := target.check(); err != nil {
		return err
	}
	_, err := e.c.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{
		RouteTableId:           &routeTableID,
		DestinationCidrBlock:   &destCIDR,
		VpcPeeringConnectionId: optional(target.PeeringID),
		NetworkInterfaceId:     optional(target.NetworkInterfaceID),
	}, plainRequestBody)
	// EC2 answers a replace of a missing route with InvalidParameterValue
	// "There is no route defined for '…' in the route table. Use CreateRoute
	// instead."; report it as not found so the caller creates the route.
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "InvalidParameterValue" && strings.Contains(ae.ErrorMessage(), "no route defined") {
		return &notFoundError{err: err}
	}
	return asNotFound(err)
}

func (e *ec2Client) DeleteRoute(ctx context.Context, routeTableID, destCIDR string) error {
	_, err := e.c.DeleteRoute(ctx, &ec2.DeleteRouteInput{
		RouteTableId:         &routeTableID,
		DestinationCidrBlock: &destCIDR,
	}, plainRequestBody)
	return asNotFound(err)
}

func (e *ec2Client) DescribeSecurityGroups(ctx context.Context, ids []string) ([]ec2types.SecurityGroup, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var all []ec2types.SecurityGroup
	p := ec2.NewDescribeSecurityGroupsPaginator(e.c, &ec2.DescribeSecurityGroupsInput{GroupIds: ids})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx, plainRequestBody)
		if err != nil {
			return nil, asNotFound(err)
		}
		all = append(all, out.SecurityGroups...)
	}
	return all, nil
}

func (e *ec2Client) DescribeVPCPeering(ctx context.Context, id string) (*ec2types.VpcPeeringConnection, error) {
	if id == "" {
		return nil, fmt.Errorf("ec2 vpc peering %q: %w", id, ErrNotFound)
	}
	p := ec2.NewDescribeVpcPeeringConnectionsPaginator(e.c, &ec2.DescribeVpcPeeringConnectionsInput{VpcPeeringConnectionIds: []string{id}})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx, plainRequestBody)
		if err != nil {
			return nil, asNotFound(err)
		}
		for i := range out.VpcPeeringConnections {
			if awssdk.ToString(out.VpcPeeringConnections[i].VpcPeeringConnectionId) == id {
				return &out.VpcPeeringConnections[i], nil
			}
		}
	}
	return nil, fmt.Errorf("ec2 vpc peering %q: %w", id, ErrNotFound)
}

func (e *ec2Client) AcceptVPCPeering(ctx context.Context, id string) (*ec2types.VpcPeeringConnection, error) {
	out, err := e.c.AcceptVpcPeeringConnection(ctx, &ec2.AcceptVpcPeeringConnectionInput{VpcPeeringConnectionId: &id}, plainRequestBody)
	if err != nil {
		return nil, asNotFound(err)
	}
	return out.VpcPeeringConnection, nil
}

func (e *ec2Client) DeleteVPCPeering(ctx context.Context, id string) error {
	_, err := e.c.DeleteVpcPeeringConnection(ctx, &ec2.DeleteVpcPeeringConnectionInput{VpcPeeringConnectionId: &id}, plainRequestBody)
	return asNotFound(err)
}
