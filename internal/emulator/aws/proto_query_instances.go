package aws

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The EC2 query wire layer of instances, network interfaces and security
// group rules (state in state_instances.go). Element names are those the
// SDK's ec2 deserializers read.

func init() {
	for k, v := range instanceQueryOps {
		queryOps[k] = v
	}
}

// indices returns the sorted distinct N of form keys "prefix.N" and "prefix.N.…".
func indices(form url.Values, prefix string) []int {
	seen := map[int]bool{}
	for k := range form {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ".")
		if i, err := strconv.Atoi(n); err == nil {
			seen[i] = true
		}
	}
	out := make([]int, 0, len(seen))
	for i := range seen {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}

func formBool(form url.Values, key string) (*bool, *APIError) {
	v := form.Get(key)
	if v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, apiErr("InvalidParameterValue", "Value (%s) for parameter %s is invalid. Expected: 'true' or 'false'.", v, key)
	}
	return &b, nil
}

func formInt(form url.Values, key string) (*int, *APIError) {
	v := form.Get(key)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, apiErr("InvalidParameterValue", "Value (%s) for parameter %s is invalid. Expected an integer.", v, key)
	}
	return &n, nil
}

// unsupportedRunParams change the network model and are rejected rather than
// ignored. Other unmodelled parameters (KeyName, IamInstanceProfile,
// MetadataOptions, BlockDeviceMapping, …) are accepted and ignored.
var unsupportedRunParams = []string{"NetworkInterface", "SecurityGroup", "LaunchTemplate", "Ipv6AddressCount", "Ipv6Address",
	"SecondaryPrivateIpAddressCount", "PrivateIpAddresses", "Placement", "InstanceMarketOptions", "SecondaryInterface"}

func runInstancesInput(form url.Values) (*RunInstancesInput, *APIError) {
	in := &RunInstancesInput{
		ImageID: form.Get("ImageId"), InstanceType: form.Get("InstanceType"), SubnetID: form.Get("SubnetId"),
		SecurityGroupIDs: flatList(form, "SecurityGroupId"), UserData: form.Get("UserData"),
		ClientToken: form.Get("ClientToken"), PrivateIPAddress: form.Get("PrivateIpAddress"),
	}
	var e *APIError
	if in.MinCount, e = formInt(form, "MinCount"); e != nil {
		return nil, e
	}
	if in.MaxCount, e = formInt(form, "MaxCount"); e != nil {
		return nil, e
	}
	for _, i := range indices(form, "TagSpecification") {
		p := "TagSpecification." + strconv.Itoa(i)
		ts := TagSpecification{ResourceType: form.Get(p + ".ResourceType")}
		for _, j := range indices(form, p+".Tag") {
			t := p + ".Tag." + strconv.Itoa(j)
			if ts.Tags == nil {
				ts.Tags = map[string]string{}
			}
			ts.Tags[form.Get(t+".Key")] = form.Get(t + ".Value")
		}
		in.TagSpecifications = append(in.TagSpecifications, ts)
	}
	for k := range form {
		name, _, _ := strings.Cut(k, ".")
		for _, u := range unsupportedRunParams {
			if name == u && !contains(in.Unsupported, u) {
				in.Unsupported = append(in.Unsupported, u)
			}
		}
	}
	sort.Strings(in.Unsupported)
	return in, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ipPermissions reads IpPermissions.N.{IpProtocol,FromPort,ToPort,IpRanges.M.CidrIp},
// or the legacy top-level IpProtocol/FromPort/ToPort/CidrIp. A missing port is -1.
func ipPermissions(form url.Values) ([]Rule, *APIError) {
	port := func(key string) (int, *APIError) {
		n, e := formInt(form, key)
		if e != nil || n == nil {
			return -1, e
		}
		return *n, nil
	}
	var out []Rule
	read := func(p string, cidrs []string) *APIError {
		r := Rule{Protocol: form.Get(p + "IpProtocol"), CIDRs: cidrs}
		var e *APIError
		if r.FromPort, e = port(p + "FromPort"); e != nil {
			return e
		}
		if r.ToPort, e = port(p + "ToPort"); e != nil {
			return e
		}
		out = append(out, r)
		return nil
	}
	for _, i := range indices(form, "IpPermissions") {
		p := "IpPermissions." + strconv.Itoa(i) + "."
		var cidrs []string
		for _, j := range indices(form, p+"IpRanges") {
			cidrs = append(cidrs, form.Get(p+"IpRanges."+strconv.Itoa(j)+".CidrIp"))
		}
		if len(indices(form, p+"Groups")) > 0 || len(indices(form, p+"PrefixListIds")) > 0 || len(indices(form, p+"Ipv6Ranges")) > 0 {
			return nil, apiErr("InvalidParameterValue", "This emulator supports only IpRanges (CidrIp) permissions")
		}
		if e := read(p, cidrs); e != nil {
			return nil, e
		}
	}
	if c := form.Get("CidrIp"); c != "" {
		if e := read("", []string{c}); e != nil {
			return nil, e
		}
	}
	if len(out) == 0 {
		return nil, apiErr("MissingParameter", "The request must contain the parameter ipPermissions")
	}
	return out, nil
}

func authorizeOrRevoke(egress, revoke bool) queryHandler {
	return func(w *World, form url.Values) (interface{ setHead(head) }, error) {
		perms, e := ipPermissions(form)
		if e != nil {
			return nil, e
		}
		if revoke {
			return &returnXML{Return: true}, w.RevokeSecurityGroup(form.Get("GroupId"), egress, perms)
		}
		return &returnXML{Return: true}, w.AuthorizeSecurityGroup(form.Get("GroupId"), egress, perms)
	}
}

func stateChangesHandler(f func(w *World, ids []string) ([]InstanceStateChange, error)) queryHandler {
	return func(w *World, form url.Values) (interface{ setHead(head) }, error) {
		cs, err := f(w, flatList(form, "InstanceId"))
		out := &stateChangesXML{}
		for _, c := range cs {
			out.Items = append(out.Items, stateChangeXML{InstanceID: c.InstanceID,
				Current: instanceStateXML{c.StateCode, c.State}, Previous: instanceStateXML{c.PreviousCode, c.PreviousState}})
		}
		return out, err
	}
}

var instanceQueryOps = map[string]queryHandler{
	"RunInstances": func(w *World, form url.Values) (interface{ setHead(head) }, error) {
		in, e := runInstancesInput(form)
		if e != nil {
			return nil, e
		}
		res, err := w.RunInstances(in)
		if err != nil {
			return nil, err
		}
		out := &runInstancesXML{ReservationID: res.ID, OwnerID: res.OwnerID}
		for _, i := range res.Instances {
			out.Instances = append(out.Instances, w.instanceXML(i))
		}
		return out, nil
	},
	"DescribeInstances": func(w *World, form url.Values) (interface{ setHead(head) }, error) {
		in, e := describeInput(form, "InstanceId")
		if e != nil {
			return nil, e
		}
		rs, next, err := w.DescribeInstances(in)
		out := &describeInstancesXML{NextToken: next}
		for _, r := range rs {
			x := reservationXML{ReservationID: r.ID, OwnerID: r.OwnerID}
			for _, i := range r.Instances {
				x.Instances = append(x.Instances, w.instanceXML(i))
			}
			out.Reservations = append(out.Reservations, x)
		}
		return out, err
	},
	"DescribeInstanceStatus": func(w *World, form url.Values) (interface{ setHead(head) }, error) {
		in, e := describeInput(form, "InstanceId")
		if e != nil {
			return nil, e
		}
		all, e := formBool(form, "IncludeAllInstances")
		if e != nil {
			return nil, e
		}
		is, next, err := w.DescribeInstanceStatus(in, all != nil && *all)
		out := &describeInstanceStatusXML{NextToken: next}
		for _, i := range is {
			out.Statuses = append(out.Statuses, instanceStatusXML{InstanceID: i.ID, AZ: i.AZ,
				State:  instanceStateXML{i.StateCode, i.State},
				System: statusSummary(i.SystemStatus), Instance: statusSummary(i.InstanceStatus)})
		}
		return out, err
	},
	"StopInstances":      stateChangesHandler((*World).StopInstances),
	"StartInstances":     stateChangesHandler((*World).StartInstances),
	"TerminateInstances": stateChangesHandler((*World).TerminateInstances),
	"DescribeInstanceAttribute": func(w *World, form url.Values) (interface{ setHead(head) }, error) {
		a, err := w.DescribeInstanceAttribute(form.Get("InstanceId"), form.Get("Attribute"))
		if err != nil {
			return nil, err
		}
		out := &describeInstanceAttributeXML{InstanceID: a.InstanceID}
		switch a.Attribute {
		case "userData":
			out.UserData = &optValueXML{Value: a.UserData}
		case "sourceDestCheck":
			out.SourceDestCheck = &boolValueXML{*a.SourceDestCheck}
		case "instanceType":
			out.InstanceType = &optValueXML{Value: &a.InstanceType}
		case "groupSet":
			out.Groups = w.groupsXML(a.SecurityGroupIDs)
		}
		return out, nil
	},
	"ModifyInstanceAttribute": func(w *World, form url.Values) (interface{ setHead(head) }, error) {
		sdc, e := formBool(form, "SourceDestCheck.Value")
		if e != nil {
			return nil, e
		}
		if sdc == nil && form.Get("Attribute") == "sourceDestCheck" {
			if sdc, e = formBool(form, "Value"); e != nil {
				return nil, e
			}
		}
		if sdc == nil && form.Get("InstanceId") != "" {
			var other []string
			for k := range form {
				name, _, _ := strings.Cut(k, ".")
				if !contains([]string{"Action", "Version", "InstanceId", "DryRun", "SourceDestCheck"}, name) && !contains(other, name) {
					other = append(other, name)
				}
			}
			sort.Strings(other)
			if len(other) > 0 {
				return nil, apiErr("InvalidParameterValue", "This emulator supports only the sourceDestCheck attribute of ModifyInstanceAttribute (got %s)", strings.Join(other, ", "))
			}
		}
		return &returnXML{Return: true}, w.ModifyInstanceAttribute(form.Get("InstanceId"), sdc)
	},
	"CreateTags": func(w *World, form url.Values) (interface{ setHead(head) }, error) {
		tags := map[string]string{}
		for _, j := range indices(form, "Tag") {
			t := "Tag." + strconv.Itoa(j)
			tags[form.Get(t+".Key")] = form.Get(t + ".Value")
		}
		return &returnXML{Return: true}, w.CreateTags(flatList(form, "ResourceId"), tags)
	},
	"ModifyNetworkInterfaceAttribute": func(w *World, form url.Values) (interface{ setHead(head) }, error) {
		in := &ModifyNetworkInterfaceInput{NetworkInterfaceID: form.Get("NetworkInterfaceId"), SecurityGroupIDs: flatList(form, "SecurityGroupId")}
		var e *APIError
		if in.SourceDestCheck, e = formBool(form, "SourceDestCheck.Value"); e != nil {
			return nil, e
		}
		if _, ok := form["Description.Value"]; ok {
			in.Description = ptr(form.Get("Description.Value"))
		}
		return &returnXML{Return: true}, w.ModifyNetworkInterfaceAttribute(in)
	},
	"DescribeNetworkInterfaces": func(w *World, form url.Values) (interface{ setHead(head) }, error) {
		in, e := describeInput(form, "NetworkInterfaceId")
		if e != nil {
			return nil, e
		}
		ns, next, err := w.DescribeNetworkInterfaces(in)
		out := &describeENIsXML{NextToken: next}
		for _, n := range ns {
			x := w.eniXML(n, true)
			out.Interfaces = append(out.Interfaces, x)
		}
		return out, err
	},
	"AuthorizeSecurityGroupIngress": authorizeOrRevoke(false, false),
	"AuthorizeSecurityGroupEgress":  authorizeOrRevoke(true, false),
	"RevokeSecurityGroupIngress":    authorizeOrRevoke(false, true),
	"RevokeSecurityGroupEgress":     authorizeOrRevoke(true, true),
}

// ---- response shapes ----

type instanceStateXML struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type groupXML struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName,omitempty"`
}

// groupsXML names the groups (a group deleted since is listed by ID only).
func (w *World) groupsXML(ids []string) []groupXML {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []groupXML
	for _, id := range ids {
		g := groupXML{GroupID: id}
		if sg, ok := w.sgs[id]; ok {
			g.GroupName = sg.Name
		}
		out = append(out, g)
	}
	return out
}

type placementXML struct {
	AZ        string `xml:"availabilityZone"`
	GroupName string `xml:"groupName"`
	Tenancy   string `xml:"tenancy"`
}

type eniAttachXML struct {
	AttachmentID        string `xml:"attachmentId"`
	InstanceID          string `xml:"instanceId,omitempty"`
	InstanceOwnerID     string `xml:"instanceOwnerId,omitempty"`
	DeviceIndex         int    `xml:"deviceIndex"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
	NetworkCardIndex    int    `xml:"networkCardIndex"`
}

type privateIPXML struct {
	PrivateIP  string `xml:"privateIpAddress"`
	PrivateDNS string `xml:"privateDnsName"`
	Primary    bool   `xml:"primary"`
}

type eniXML struct {
	NetworkInterfaceID string         `xml:"networkInterfaceId"`
	SubnetID           string         `xml:"subnetId"`
	VpcID              string         `xml:"vpcId"`
	AZ                 string         `xml:"availabilityZone,omitempty"`
	Description        string         `xml:"description"`
	OwnerID            string         `xml:"ownerId"`
	RequesterManaged   *bool          `xml:"requesterManaged,omitempty"`
	Status             string         `xml:"status"`
	MacAddress         string         `xml:"macAddress"`
	PrivateIP          string         `xml:"privateIpAddress"`
	PrivateDNS         string         `xml:"privateDnsName"`
	SourceDestCheck    bool           `xml:"sourceDestCheck"`
	Groups             []groupXML     `xml:"groupSet>item"`
	Attachment         *eniAttachXML  `xml:"attachment,omitempty"`
	PrivateIPs         []privateIPXML `xml:"privateIpAddressesSet>item"`
	Tags               []tagXML       `xml:"tagSet>item"`
	InterfaceType      string         `xml:"interfaceType"`
}

// eniXML renders an interface for DescribeNetworkInterfaces (full) or inside an instance.
func (w *World) eniXML(n NetworkInterface, full bool) eniXML {
	dns := w.privateDNSName(n.PrivateIP)
	x := eniXML{NetworkInterfaceID: n.ID, SubnetID: n.SubnetID, VpcID: n.VPCID, Description: n.Description,
		OwnerID: w.account, Status: n.Status, MacAddress: n.MAC, PrivateIP: n.PrivateIP, PrivateDNS: dns,
		SourceDestCheck: n.SourceDestCheck, Groups: w.groupsXML(n.SecurityGroupIDs),
		PrivateIPs: []privateIPXML{{n.PrivateIP, dns, true}}, InterfaceType: "interface"}
	if n.InstanceID != "" {
		x.Attachment = &eniAttachXML{AttachmentID: n.AttachmentID, Status: "attached", AttachTime: n.AttachTime.UTC().Format(time.RFC3339),
			DeleteOnTermination: n.DeleteOnTermination}
	}
	if full {
		x.AZ, x.RequesterManaged, x.Tags = n.AZ, ptr(false), tagsXML(n.Tags)
		if x.Attachment != nil {
			x.Attachment.InstanceID, x.Attachment.InstanceOwnerID = n.InstanceID, w.account
		}
	}
	return x
}

type stateReasonXML struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type instanceXML struct {
	InstanceID         string           `xml:"instanceId"`
	ImageID            string           `xml:"imageId"`
	State              instanceStateXML `xml:"instanceState"`
	PrivateDNS         string           `xml:"privateDnsName"`
	DNSName            string           `xml:"dnsName"`
	Reason             string           `xml:"reason"`
	AmiLaunchIndex     int              `xml:"amiLaunchIndex"`
	InstanceType       string           `xml:"instanceType"`
	LaunchTime         string           `xml:"launchTime"`
	Placement          placementXML     `xml:"placement"`
	Monitoring         stateXML         `xml:"monitoring"`
	SubnetID           string           `xml:"subnetId,omitempty"`
	VpcID              string           `xml:"vpcId,omitempty"`
	PrivateIP          string           `xml:"privateIpAddress,omitempty"`
	SourceDestCheck    *bool            `xml:"sourceDestCheck,omitempty"`
	Groups             []groupXML       `xml:"groupSet>item"`
	StateReason        *stateReasonXML  `xml:"stateReason,omitempty"`
	Architecture       string           `xml:"architecture"`
	RootDeviceType     string           `xml:"rootDeviceType"`
	RootDeviceName     string           `xml:"rootDeviceName"`
	VirtualizationType string           `xml:"virtualizationType"`
	ClientToken        string           `xml:"clientToken,omitempty"`
	Tags               []tagXML         `xml:"tagSet>item"`
	Hypervisor         string           `xml:"hypervisor"`
	ENIs               []eniXML         `xml:"networkInterfaceSet>item"`
	EbsOptimized       bool             `xml:"ebsOptimized"`
	EnaSupport         bool             `xml:"enaSupport"`
	PlatformDetails    string           `xml:"platformDetails"`
	UsageOperation     string           `xml:"usageOperation"`
}

func (w *World) instanceXML(i Instance) instanceXML {
	x := instanceXML{InstanceID: i.ID, ImageID: i.ImageID, State: instanceStateXML{i.StateCode, i.State},
		InstanceType: i.InstanceType, LaunchTime: i.LaunchTime.UTC().Format(time.RFC3339),
		Placement: placementXML{AZ: i.AZ, Tenancy: "default"}, Monitoring: stateXML{"disabled"},
		Groups: w.groupsXML(i.SecurityGroupIDs), Architecture: i.Architecture, RootDeviceType: "ebs",
		RootDeviceName: "/dev/xvda", VirtualizationType: "hvm", ClientToken: i.ClientToken, Tags: tagsXML(i.Tags),
		Hypervisor: "xen", EbsOptimized: false, EnaSupport: true, PlatformDetails: "Linux/UNIX", UsageOperation: "RunInstances"}
	if i.StateReason != "" {
		x.StateReason = &stateReasonXML{i.StateReason, i.StateReason + ": User initiated shutdown"}
		x.Reason = "User initiated"
	}
	// A terminated instance has lost its interface: EC2 no longer reports
	// its subnet, VPC, address or source/destination check.
	if i.State != InstanceTerminated {
		x.SubnetID, x.VpcID, x.PrivateIP, x.SourceDestCheck = i.SubnetID, i.VPCID, i.PrivateIP, ptr(i.SourceDestCheck)
		x.PrivateDNS = w.privateDNSName(i.PrivateIP)
	}
	for _, n := range i.NetworkInterfaces {
		x.ENIs = append(x.ENIs, w.eniXML(n, false))
	}
	return x
}

type runInstancesXML struct {
	head
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Groups        []groupXML    `xml:"groupSet>item"`
	Instances     []instanceXML `xml:"instancesSet>item"`
}

type reservationXML struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Groups        []groupXML    `xml:"groupSet>item"`
	Instances     []instanceXML `xml:"instancesSet>item"`
}

type describeInstancesXML struct {
	head
	Reservations []reservationXML `xml:"reservationSet>item"`
	NextToken    *string          `xml:"nextToken,omitempty"`
}

type statusDetailXML struct {
	Name   string `xml:"name"`
	Status string `xml:"status"`
}

type statusSummaryXML struct {
	Status  string            `xml:"status"`
	Details []statusDetailXML `xml:"details>item"`
}

func statusSummary(s string) statusSummaryXML {
	detail := map[string]string{StatusOK: "passed", StatusImpaired: "failed", StatusInitializing: "initializing"}[s]
	out := statusSummaryXML{Status: s}
	if detail != "" {
		out.Details = []statusDetailXML{{"reachability", detail}}
	}
	return out
}

type instanceStatusXML struct {
	InstanceID string           `xml:"instanceId"`
	AZ         string           `xml:"availabilityZone"`
	State      instanceStateXML `xml:"instanceState"`
	System     statusSummaryXML `xml:"systemStatus"`
	Instance   statusSummaryXML `xml:"instanceStatus"`
}

type describeInstanceStatusXML struct {
	head
	Statuses  []instanceStatusXML `xml:"instanceStatusSet>item"`
	NextToken *string             `xml:"nextToken,omitempty"`
}

type stateChangeXML struct {
	InstanceID string           `xml:"instanceId"`
	Current    instanceStateXML `xml:"currentState"`
	Previous   instanceStateXML `xml:"previousState"`
}

type stateChangesXML struct {
	head
	Items []stateChangeXML `xml:"instancesSet>item"`
}

type optValueXML struct {
	Value *string `xml:"value,omitempty"`
}

type boolValueXML struct {
	Value bool `xml:"value"`
}

type describeInstanceAttributeXML struct {
	head
	InstanceID      string        `xml:"instanceId"`
	UserData        *optValueXML  `xml:"userData,omitempty"`
	SourceDestCheck *boolValueXML `xml:"sourceDestCheck,omitempty"`
	InstanceType    *optValueXML  `xml:"instanceType,omitempty"`
	Groups          []groupXML    `xml:"groupSet>item"`
}

type describeENIsXML struct {
	head
	Interfaces []eniXML `xml:"networkInterfaceSet>item"`
	NextToken  *string  `xml:"nextToken,omitempty"`
}
