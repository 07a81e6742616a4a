package aws

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// EC2 instances and network interfaces (the router instance). Lookups by ID
// go through an ID *filter*, not InstanceIds/NetworkInterfaceIds: EC2 fails
// the whole call when one listed ID does not exist, a filter just leaves it
// out, which is what the callers want.

// filterValuesMax keeps each filter's value list short. GUESS: EC2 documents
// no limit on filter values; 200 keeps requests small.
const filterValuesMax = 200

func chunks(ids []string) [][]string {
	var out [][]string
	for len(ids) > 0 {
		n := min(len(ids), filterValuesMax)
		out = append(out, ids[:n])
		ids = ids[n:]
	}
	return out
}

func (e *ec2Client) RunInstance(ctx context.Context, in RunInstanceInput) (*ec2types.Instance, error) {
	req := &ec2.RunInstancesInput{
		ImageId:          awssdk.String(in.ImageID),
		MinCount:         awssdk.Int32(1),
		MaxCount:         awssdk.Int32(1),
		SubnetId:         optional(in.SubnetID),
		SecurityGroupIds: in.SecurityGroupIDs,
		ClientToken:      optional(in.ClientToken),
		InstanceType:     ec2types.InstanceType(in.InstanceType),
	}
	if in.UserData != "" {
		// RunInstances takes user data base64-encoded (the SDK does not encode it).
		req.UserData = awssdk.String(base64.StdEncoding.EncodeToString([]byte(in.UserData)))
	}
	if len(in.Tags) > 0 {
		keys := make([]string, 0, len(in.Tags))
		for k := range in.Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys) // the same tags give the same request: ClientToken retries must not mismatch
		var tags []ec2types.Tag
		for _, k := range keys {
			tags = append(tags, ec2types.Tag{Key: awssdk.String(k), Value: awssdk.String(in.Tags[k])})
		}
		req.TagSpecifications = []ec2types.TagSpecification{
			{ResourceType: ec2types.ResourceTypeInstance, Tags: tags},
			{ResourceType: ec2types.ResourceTypeNetworkInterface, Tags: tags},
		}
	}
	out, err := e.c.RunInstances(ctx, req, plainRequestBody)
	if err != nil {
		return nil, err
	}
	if len(out.Instances) == 0 {
		return nil, errors.New("ec2 RunInstances: the answer holds no instance")
	}
	return &out.Instances[0], nil
}

func (e *ec2Client) describeInstances(ctx context.Context, filters []ec2types.Filter) ([]ec2types.Instance, error) {
	var all []ec2types.Instance
	p := ec2.NewDescribeInstancesPaginator(e.c, &ec2.DescribeInstancesInput{Filters: filters, MaxResults: awssdk.Int32(1000)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx, plainRequestBody)
		if err != nil {
			return nil, asNotFound(err)
		}
		for _, r := range out.Reservations {
			all = append(all, r.Instances...)
		}
	}
	return all, nil
}

func (e *ec2Client) DescribeInstances(ctx context.Context, ids []string) ([]ec2types.Instance, error) {
	var all []ec2types.Instance
	for _, c := range chunks(ids) {
		is, err := e.describeInstances(ctx, []ec2types.Filter{filter("instance-id", c...)})
		if err != nil {
			return nil, err
		}
		all = append(all, is...)
	}
	return all, nil
}

func (e *ec2Client) InstancesByTag(ctx context.Context, key, value string) ([]ec2types.Instance, error) {
	return e.describeInstances(ctx, []ec2types.Filter{
		filter("tag:"+key, value),
		filter("instance-state-name", "pending", "running", "shutting-down", "stopping", "stopped"),
	})
}

func (e *ec2Client) CreateTags(ctx context.Context, ids []string, tags map[string]string) error {
	in := &ec2.CreateTagsInput{Resources: ids}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		in.Tags = append(in.Tags, ec2types.Tag{Key: awssdk.String(k), Value: awssdk.String(tags[k])})
	}
	_, err := e.c.CreateTags(ctx, in, plainRequestBody)
	return err
}

func (e *ec2Client) TerminateInstances(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := e.c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids}, plainRequestBody)
	if err == nil || !IsNotFound(err) {
		return err
	}
	// EC2 fails the whole call when one instance is unknown: terminate the
	// ones that are still there (terminating a terminated one is a no-op).
	live, derr := e.DescribeInstances(ctx, ids)
	if derr != nil {
		return derr
	}
	var rest []string
	for _, i := range live {
		if i.State == nil || i.State.Name != ec2types.InstanceStateNameTerminated {
			rest = append(rest, awssdk.ToString(i.InstanceId))
		}
	}
	if len(rest) == 0 {
		return nil
	}
	_, err = e.c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: rest}, plainRequestBody)
	if IsNotFound(err) {
		return nil // gone in between
	}
	return err
}

func (e *ec2Client) InstanceImpaired(ctx context.Context, id string) (bool, error) {
	if id == "" {
		return false, fmt.Errorf("ec2 instance %q: %w", id, ErrNotFound)
	}
	out, err := e.c.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{
		InstanceIds: []string{id}, IncludeAllInstances: awssdk.Bool(true),
	}, plainRequestBody)
	if err != nil {
		return false, asNotFound(err)
	}
	for _, s := range out.InstanceStatuses {
		if awssdk.ToString(s.InstanceId) != id {
			continue
		}
		if (s.InstanceStatus != nil && s.InstanceStatus.Status == ec2types.SummaryStatusImpaired) ||
			(s.SystemStatus != nil && s.SystemStatus.Status == ec2types.SummaryStatusImpaired) {
			return true, nil
		}
	}
	return false, nil
}

func (e *ec2Client) InstanceUserData(ctx context.Context, id string) (string, error) {
	if id == "" {
		return "", fmt.Errorf("ec2 instance %q: %w", id, ErrNotFound)
	}
	out, err := e.c.DescribeInstanceAttribute(ctx, &ec2.DescribeInstanceAttributeInput{
		InstanceId: &id, Attribute: ec2types.InstanceAttributeNameUserData,
	}, plainRequestBody)
	if err != nil {
		return "", asNotFound(err)
	}
	if out.UserData == nil || awssdk.ToString(out.UserData.Value) == "" {
		return "", nil
	}
	b, err := base64.StdEncoding.DecodeString(awssdk.ToString(out.UserData.Value))
	if err != nil {
		return "", fmt.Errorf("ec2 instance %s: user data is not base64: %w", id, err)
	}
	return string(b), nil
}

func (e *ec2Client) DescribeNetworkInterfaces(ctx context.Context, ids []string) ([]ec2types.NetworkInterface, error) {
	var all []ec2types.NetworkInterface
	for _, c := range chunks(ids) {
		p := ec2.NewDescribeNetworkInterfacesPaginator(e.c, &ec2.DescribeNetworkInterfacesInput{
			Filters: []ec2types.Filter{filter("network-interface-id", c...)}, MaxResults: awssdk.Int32(1000),
		})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx, plainRequestBody)
			if err != nil {
				return nil, asNotFound(err)
			}
			all = append(all, out.NetworkInterfaces...)
		}
	}
	return all, nil
}

func (e *ec2Client) SetSourceDestCheck(ctx context.Context, eniID string, enabled bool) error {
	_, err := e.c.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: &eniID,
		SourceDestCheck:    &ec2types.AttributeBooleanValue{Value: awssdk.Bool(enabled)},
	}, plainRequestBody)
	return asNotFound(err)
}
