package aws

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// EC2 instances and their network interfaces, on protocol-neutral types:
// RunInstances (with ClientToken idempotency and resolve:ssm image IDs),
// the instance life cycle (pending, running, stopping, stopped,
// shutting-down, terminated), DescribeInstances/InstanceStatus/
// InstanceAttribute, source/destination check, and routes to network
// interfaces. Error codes follow the EC2 API error-code reference; choices not
// backed by it are commented "GUESS". One instance per request only: this
// world launches exactly one instance per RunInstances (MinCount = MaxCount = 1).

// Instance state names (InstanceState.Name).
const (
	InstancePending      = "pending"
	InstanceRunning      = "running"
	InstanceShuttingDown = "shutting-down"
	InstanceTerminated   = "terminated"
	InstanceStopping     = "stopping"
	InstanceStopped      = "stopped"
)

// instanceStateCodes are the documented InstanceState.Code values (low byte).
var instanceStateCodes = map[string]int{
	InstancePending: 0, InstanceRunning: 16, InstanceShuttingDown: 32,
	InstanceTerminated: 48, InstanceStopping: 64, InstanceStopped: 80,
}

// Status check values of DescribeInstanceStatus (InstanceStatus.Status, SystemStatus.Status).
const (
	StatusOK            = "ok"
	StatusImpaired      = "impaired"
	StatusInitializing  = "initializing"
	StatusNotApplicable = "not-applicable"
)

// The public SSM parameters every world has, and the AMIs they resolve to
// (the AMI IDs are this emulator's own).
const (
	SSMParamAL2023X8664 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
	SSMParamAL2023Arm64 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
	AMIAL2023X8664      = "ami-0c0ffee0000a02364"
	AMIAL2023Arm64      = "ami-0c0ffee0000a0a364"
)

const (
	// terminatedVisibleFor: terminated instances stay in DescribeInstances
	// for about an hour (EC2 user guide, "Terminate instances"). GUESS: exactly one hour.
	terminatedVisibleFor = time.Hour
	// clientTokenTTL: "The client token is valid for at least 24 hours after
	// the termination of the instance" (EC2 idempotency guide); this world forgets it after exactly 24h.
	clientTokenTTL = 24 * time.Hour
	// maxUserData: user data is limited to 16 KB before base64 encoding (EC2 user guide).
	maxUserData = 16 * 1024
)

var (
	instanceIDRe = regexp.MustCompile(`^i-[0-9a-f]{8}([0-9a-f]{9})?$`)
	eniIDRe      = regexp.MustCompile(`^eni-[0-9a-f]{8}([0-9a-f]{9})?$`)
	amiIDRe      = regexp.MustCompile(`^ami-[0-9a-f]{8}([0-9a-f]{9})?$`)
	// Graviton families (a1, t4g, m7g, c6gn, …) are arm64; the rest x86_64.
	armTypeRe      = regexp.MustCompile(`^(a1|[a-z]+[0-9]+g[a-z]*)\.`)
	instanceTypeRe = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
)

// AMI is a machine image RunInstances can launch.
type AMI struct {
	ID, Name     string
	Architecture string // x86_64 or arm64
}

// NetworkInterface is an elastic network interface (only instances' primary
// interfaces exist in this world: created by RunInstances, deleted when the
// instance terminates).
type NetworkInterface struct {
	ID, SubnetID, VPCID, AZ string
	PrivateIP, MAC          string
	Description             string
	SecurityGroupIDs        []string
	SourceDestCheck         bool
	Status                  string // in-use (attached) or available
	// Attachment; InstanceID is empty when detached.
	InstanceID, AttachmentID string
	AttachTime               time.Time
	DeleteOnTermination      bool
	Tags                     map[string]string
}

// Instance is an EC2 instance as this world's Go API reports it.
type Instance struct {
	ID, ReservationID, ImageID, InstanceType, Architecture string
	State                                                  string // Instance* constants
	StateCode                                              int
	// StateReason is the stateReason code of stopped and terminated instances
	// (e.g. "Client.UserInitiatedShutdown").
	StateReason string
	// Placement. The wire omits them for terminated instances (their
	// interface is gone); the Go API keeps them.
	SubnetID, VPCID, AZ, PrivateIP string
	// NetworkInterfaceID is the primary interface (deleted at termination; the ID is kept).
	NetworkInterfaceID string
	// NetworkInterfaces are the attached interfaces (the primary one; none once terminated).
	NetworkInterfaces []NetworkInterface
	SecurityGroupIDs  []string
	// SourceDestCheck is the primary interface's.
	SourceDestCheck bool
	// UserData is decoded; "" when none was given.
	UserData    string
	Tags        map[string]string
	ClientToken string
	LaunchTime  time.Time
	// Status checks as DescribeInstanceStatus reports them: ok, impaired,
	// initializing, or not-applicable when the instance is not running.
	InstanceStatus, SystemStatus string
}

type instanceRec struct {
	Instance
	userDataB64    string    // as sent on the wire
	transitionAt   time.Time // pending->running, stopping->stopped, shutting-down->terminated
	runningSince   time.Time
	terminatedAt   time.Time
	impaired       bool // instance status check fails
	systemImpaired bool // system status check fails
	launchSeq      uint64
}

type tokenRec struct {
	key        string // canonical request parameters
	instanceID string
	expires    time.Time // zero while the instance has not terminated
}

// ---- seeding ----

func (w *World) seedPublicAMIs() {
	w.amis[AMIAL2023X8664] = &AMI{ID: AMIAL2023X8664, Name: "al2023-ami-2023.9.20260901.0-kernel-6.1-x86_64", Architecture: "x86_64"}
	w.amis[AMIAL2023Arm64] = &AMI{ID: AMIAL2023Arm64, Name: "al2023-ami-2023.9.20260901.0-kernel-6.1-arm64", Architecture: "arm64"}
	w.ssmParams[SSMParamAL2023X8664] = AMIAL2023X8664
	w.ssmParams[SSMParamAL2023Arm64] = AMIAL2023Arm64
}

// AddAMI registers an image RunInstances can launch. Its architecture is
// arm64 when the name contains "arm64" or "aarch64", else x86_64.
func (w *World) AddAMI(id, name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	arch := "x86_64"
	if strings.Contains(name, "arm64") || strings.Contains(name, "aarch64") {
		arch = "arm64"
	}
	w.amis[id] = &AMI{ID: id, Name: name, Architecture: arch}
}

// AddSSMParameter makes `resolve:ssm:<name>` resolve to amiID (which need
// not exist: launching it then fails with InvalidAMIID.NotFound).
func (w *World) AddSSMParameter(name, amiID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ssmParams[name] = amiID
}

// ---- inspection and test controls ----

// Instance returns an instance still visible in DescribeInstances.
func (w *World) Instance(id string) (Instance, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	r, ok := w.visibleInstance(id, now)
	if !ok {
		return Instance{}, false
	}
	return w.instanceView(r, now), true
}

// Instances returns every instance still visible in DescribeInstances, in launch order.
func (w *World) Instances() []Instance {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	return w.instanceList(now)
}

func (w *World) instanceList(now time.Time) []Instance {
	var out []Instance
	for _, id := range w.sortedInstanceIDs() {
		if r, ok := w.visibleInstance(id, now); ok {
			out = append(out, w.instanceView(r, now))
		}
	}
	return out
}

// NetworkInterface returns an existing network interface.
func (w *World) NetworkInterface(id string) (NetworkInterface, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	n, ok := w.enis[id]
	if !ok {
		return NetworkInterface{}, false
	}
	return copyENI(n), true
}

// NetworkInterfaces returns every network interface, sorted by ID.
func (w *World) NetworkInterfaces() []NetworkInterface {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	var out []NetworkInterface
	for _, id := range sortedKeys(w.enis) {
		out = append(out, copyENI(w.enis[id]))
	}
	return out
}

// StopInstance stops an instance as StopInstances does.
func (w *World) StopInstance(id string) error {
	_, err := w.StopInstances([]string{id})
	return err
}

// StartInstance starts a stopped instance as StartInstances does.
func (w *World) StartInstance(id string) error {
	_, err := w.StartInstances([]string{id})
	return err
}

// TerminateInstance terminates an instance as TerminateInstances does.
func (w *World) TerminateInstance(id string) error {
	_, err := w.TerminateInstances([]string{id})
	return err
}

// SetInstanceImpaired makes the instance status check fail (impaired) or pass again.
func (w *World) SetInstanceImpaired(id string, impaired bool) error {
	return w.setImpaired(id, impaired, false)
}

// SetSystemImpaired makes the system status check fail (impaired) or pass again.
func (w *World) SetSystemImpaired(id string, impaired bool) error {
	return w.setImpaired(id, impaired, true)
}

func (w *World) setImpaired(id string, impaired, system bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	r, e := w.instancesByID([]string{id}, now)
	if e != nil {
		return e
	}
	if system {
		r[0].systemImpaired = impaired
	} else {
		r[0].impaired = impaired
	}
	return nil
}

// SetSourceDestCheck sets a network interface's source/destination check (as ModifyNetworkInterfaceAttribute).
func (w *World) SetSourceDestCheck(eniID string, enabled bool) error {
	return w.ModifyNetworkInterfaceAttribute(&ModifyNetworkInterfaceInput{NetworkInterfaceID: eniID, SourceDestCheck: &enabled})
}

// SetSecurityGroupRules replaces a security group's rules; false if the group does not exist.
func (w *World) SetSecurityGroupRules(id string, ingress, egress []Rule) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	g, ok := w.sgs[id]
	if !ok {
		return false
	}
	g.Ingress, g.Egress = cloneRules(ingress), cloneRules(egress)
	return true
}

// PutRoute adds or replaces (by destination) a route without validating its
// target, e.g. to build broken states in tests. Origin defaults to CreateRoute.
func (w *World) PutRoute(rtbID string, r Route) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	rt, ok := w.routeTables[rtbID]
	if !ok {
		return apiErr("InvalidRouteTableID.NotFound", "The routeTable ID '%s' does not exist", rtbID)
	}
	dest, err := netip.ParsePrefix(r.DestinationCidrBlock)
	if err != nil {
		return apiErr("InvalidParameterValue", "Value (%s) for parameter destinationCidrBlock is invalid.", r.DestinationCidrBlock)
	}
	r.DestinationCidrBlock = dest.Masked().String()
	if r.Origin == "" {
		r.Origin = "CreateRoute"
	}
	r.State = ""
	if i := findRoute(rt, dest.Masked()); i >= 0 {
		rt.Routes[i] = r
	} else {
		rt.Routes = append(rt.Routes, r)
	}
	return nil
}

// RemoveRoute removes the route for cidr (the local route included); false if there is none.
func (w *World) RemoveRoute(rtbID, cidr string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	rt, ok := w.routeTables[rtbID]
	dest, err := netip.ParsePrefix(cidr)
	if !ok || err != nil {
		return false
	}
	i := findRoute(rt, dest.Masked())
	if i < 0 {
		return false
	}
	rt.Routes = slices.Delete(rt.Routes, i, i+1)
	return true
}

// ---- life cycle ----

func (r *instanceRec) setState(s string) {
	r.State, r.StateCode = s, instanceStateCodes[s]
}

// tickInstances advances every instance to time now and forgets what has aged out.
func (w *World) tickInstances(now time.Time) {
	for id, r := range w.instances {
		w.tickInstance(r, now)
		if r.State == InstanceTerminated && !now.Before(r.terminatedAt.Add(clientTokenTTL)) {
			delete(w.instances, id)
		}
	}
	for tok, t := range w.clientTokens {
		if !t.expires.IsZero() && !now.Before(t.expires) {
			delete(w.clientTokens, tok)
		}
	}
}

func (w *World) tickInstance(r *instanceRec, now time.Time) {
	if now.Before(r.transitionAt) {
		return
	}
	switch r.State {
	case InstancePending:
		r.setState(InstanceRunning)
		r.runningSince = r.transitionAt
		r.StateReason = ""
	case InstanceStopping:
		r.setState(InstanceStopped)
		r.StateReason = "Client.UserInitiatedShutdown"
	case InstanceShuttingDown:
		r.setState(InstanceTerminated)
		r.StateReason = "Client.UserInitiatedShutdown"
		r.terminatedAt = r.transitionAt
		// The primary interface has DeleteOnTermination.
		if n, ok := w.enis[r.NetworkInterfaceID]; ok {
			r.SourceDestCheck = n.SourceDestCheck
			if n.DeleteOnTermination {
				delete(w.enis, n.ID)
			} else {
				n.InstanceID, n.AttachmentID, n.Status = "", "", "available"
			}
		}
		if t, ok := w.clientTokens[r.ClientToken]; ok && t.instanceID == r.ID {
			t.expires = r.terminatedAt.Add(clientTokenTTL)
		}
	}
}

// visibleInstance finds an instance DescribeInstances still shows.
func (w *World) visibleInstance(id string, now time.Time) (*instanceRec, bool) {
	r, ok := w.instances[id]
	if !ok || (r.State == InstanceTerminated && !now.Before(r.terminatedAt.Add(terminatedVisibleFor))) {
		return nil, false
	}
	return r, true
}

func (w *World) sortedInstanceIDs() []string {
	ids := sortedKeys(w.instances)
	sort.Slice(ids, func(i, j int) bool { return w.instances[ids[i]].launchSeq < w.instances[ids[j]].launchSeq })
	return ids
}

// instancesByID looks up visible instances; unknown or malformed IDs fail the whole call, as EC2 does.
func (w *World) instancesByID(ids []string, now time.Time) ([]*instanceRec, *APIError) {
	var out []*instanceRec
	var missing []string
	for _, id := range ids {
		r, ok := w.visibleInstance(id, now)
		if !ok {
			if !instanceIDRe.MatchString(id) {
				return nil, apiErr("InvalidInstanceID.Malformed", "Invalid id: \"%s\" (expecting \"i-...\")", id)
			}
			missing = append(missing, id)
			continue
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if len(missing) == 1 {
		return nil, apiErr("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", missing[0])
	}
	if len(missing) > 1 {
		// GUESS: the plural form of the message.
		return nil, apiErr("InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(missing, ", "))
	}
	return out, nil
}

func copyENI(n *NetworkInterface) NetworkInterface {
	c := *n
	c.SecurityGroupIDs = slices.Clone(n.SecurityGroupIDs)
	c.Tags = copyMap(n.Tags)
	return c
}

func (w *World) instanceView(r *instanceRec, now time.Time) Instance {
	c := r.Instance
	c.SecurityGroupIDs = slices.Clone(r.SecurityGroupIDs)
	c.Tags = copyMap(r.Tags)
	c.NetworkInterfaces = nil
	if n, ok := w.enis[r.NetworkInterfaceID]; ok && n.InstanceID == r.ID {
		c.NetworkInterfaces = []NetworkInterface{copyENI(n)}
		c.SourceDestCheck = n.SourceDestCheck
		c.SecurityGroupIDs = slices.Clone(n.SecurityGroupIDs)
	}
	c.InstanceStatus, c.SystemStatus = StatusNotApplicable, StatusNotApplicable
	if r.State == InstanceRunning {
		c.InstanceStatus, c.SystemStatus = StatusOK, StatusOK
		if now.Before(r.runningSince.Add(w.instInit)) {
			c.InstanceStatus, c.SystemStatus = StatusInitializing, StatusInitializing
		}
		if r.impaired {
			c.InstanceStatus = StatusImpaired
		}
		if r.systemImpaired {
			c.SystemStatus = StatusImpaired
		}
	}
	return c
}

// ---- addresses ----

// subnetSpan returns a subnet's base address and size (IPv4 only).
func subnetSpan(cidr string) (base uint32, size uint32, ok bool) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
		return 0, 0, false
	}
	a := p.Masked().Addr().As4()
	return binary.BigEndian.Uint32(a[:]), 1 << (32 - p.Bits()), true
}

func u32Addr(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// usedIPs are the addresses taken in a subnet: network interfaces and live AppStream sessions.
func (w *World) usedIPs(subnetID string) map[string]bool {
	used := map[string]bool{}
	for _, n := range w.enis {
		if n.SubnetID == subnetID {
			used[n.PrivateIP] = true
		}
	}
	for _, s := range w.sessions {
		if s.SubnetId == subnetID && s.State != SessionExpired {
			used[s.EniPrivateIpAddress] = true
		}
	}
	return used
}

// allocIP returns the first free address of the subnet at or after offset
// from its base, wrapping around. AWS reserves the first four addresses and
// the last one of every subnet.
func (w *World) allocIP(sn *Subnet, offset uint32) (string, bool) {
	base, size, ok := subnetSpan(sn.CIDR)
	if !ok || size < 8 {
		return "", false
	}
	first, last := uint32(4), size-2
	if offset < first || offset > last {
		offset = first
	}
	used := w.usedIPs(sn.ID)
	for i := uint32(0); i <= last-first; i++ {
		o := first + (offset-first+i)%(last-first+1)
		if a := u32Addr(base + o).String(); !used[a] {
			return a, true
		}
	}
	return "", false
}

// checkRequestedIP validates a PrivateIpAddress for a subnet.
func (w *World) checkRequestedIP(sn *Subnet, ip string) *APIError {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is4() {
		return apiErr("InvalidParameterValue", "Value (%s) for parameter privateIpAddress is invalid. Must be a valid IPv4 address.", ip) // GUESS
	}
	base, size, ok := subnetSpan(sn.CIDR)
	b := a.As4()
	v := binary.BigEndian.Uint32(b[:])
	if !ok || v < base || v >= base+size {
		return apiErr("InvalidParameterValue", "Address %s does not fall within the subnet's address range", ip)
	}
	if o := v - base; o < 4 || o == size-1 {
		return apiErr("InvalidParameterValue", "Address %s is in subnet's reserved address range", ip) // GUESS (message)
	}
	if w.usedIPs(sn.ID)[a.String()] {
		return apiErr("InvalidIPAddress.InUse", "Address %s is in use.", ip)
	}
	return nil
}

func (w *World) newMAC() string {
	w.seq++
	x := w.seq * 0x9e3779b97f4a7c15
	return fmt.Sprintf("06:%02x:%02x:%02x:%02x:%02x", byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40))
}

func (w *World) privateDNSName(ip string) string {
	return "ip-" + strings.ReplaceAll(ip, ".", "-") + "." + w.region + ".compute.internal"
}

// ---- RunInstances ----

// TagSpecification tags a resource type created by RunInstances.
type TagSpecification struct {
	ResourceType string // instance, network-interface (volume is accepted and ignored: no volumes here)
	Tags         map[string]string
}

// RunInstancesInput is the body of RunInstances (the members this world supports).
type RunInstancesInput struct {
	ImageID, InstanceType string
	MinCount, MaxCount    *int
	SubnetID              string
	SecurityGroupIDs      []string
	UserData              string // base64, as on the wire
	ClientToken           string
	PrivateIPAddress      string
	TagSpecifications     []TagSpecification
	// Unsupported members that were set, to reject them clearly.
	Unsupported []string
}

// Reservation is what RunInstances returns and DescribeInstances lists.
type Reservation struct {
	ID, OwnerID string
	Instances   []Instance
}

// resolveImage turns ImageId (an AMI ID or resolve:ssm:<parameter>) into an AMI.
func (w *World) resolveImage(imageID string) (*AMI, *APIError) {
	if imageID == "" {
		return nil, apiErr("MissingParameter", "The request must contain the parameter ImageId")
	}
	id := imageID
	if name, ok := strings.CutPrefix(imageID, "resolve:ssm:"); ok {
		// Versions and labels (name:3) are not modelled. GUESS: the message.
		v, ok := w.ssmParams[name]
		if !ok {
			return nil, apiErr("InvalidParameterValue", "Invalid value for parameter ImageId: the SSM parameter %s does not exist or cannot be resolved to an image ID", name)
		}
		id = v
	}
	if a, ok := w.amis[id]; ok {
		return a, nil
	}
	if !amiIDRe.MatchString(id) {
		return nil, apiErr("InvalidAMIID.Malformed", "Invalid id: \"%s\" (expecting \"ami-...\")", id)
	}
	return nil, apiErr("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
}

// RunInstances launches one instance into a subnet. A repeated ClientToken
// with the same parameters returns the first reservation again; with other
// parameters it is IdempotentParameterMismatch.
func (w *World) RunInstances(in *RunInstancesInput) (Reservation, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	if len(in.ClientToken) > 64 {
		return Reservation{}, apiErr("InvalidParameterValue", "Value (%s) for parameter clientToken is invalid. Client token must be at most 64 characters.", in.ClientToken) // GUESS (message)
	}
	key := runKey(in)
	if in.ClientToken != "" {
		if t, ok := w.clientTokens[in.ClientToken]; ok {
			if t.key != key {
				return Reservation{}, apiErr("IdempotentParameterMismatch", "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).")
			}
			if r, ok := w.instances[t.instanceID]; ok {
				return Reservation{ID: r.ReservationID, OwnerID: w.account, Instances: []Instance{w.instanceView(r, now)}}, nil
			}
		}
	}
	if len(in.Unsupported) > 0 {
		return Reservation{}, apiErr("InvalidParameterValue", "This emulator does not support the RunInstances parameters %s", strings.Join(in.Unsupported, ", "))
	}
	if in.MinCount == nil || in.MaxCount == nil {
		return Reservation{}, apiErr("MissingParameter", "The request must contain the parameters MinCount and MaxCount")
	}
	if *in.MinCount != 1 || *in.MaxCount != 1 {
		return Reservation{}, apiErr("InvalidParameterValue", "This emulator launches exactly one instance per request: MinCount and MaxCount must be 1")
	}
	ami, e := w.resolveImage(in.ImageID)
	if e != nil {
		return Reservation{}, e
	}
	itype := in.InstanceType
	if itype == "" {
		itype = "m1.small" // EC2's default instance type
	}
	if !instanceTypeRe.MatchString(itype) {
		return Reservation{}, apiErr("InvalidParameterValue", "Invalid value '%s' for InstanceType.", itype) // GUESS (message)
	}
	arch := "x86_64"
	if armTypeRe.MatchString(itype) {
		arch = "arm64"
	}
	if arch != ami.Architecture {
		return Reservation{}, apiErr("InvalidParameterValue", "The architecture '%s' of the specified instance type does not match the architecture '%s' of the specified AMI. Specify an instance type and an AMI that have matching architectures, and try again.", arch, ami.Architecture)
	}
	if in.SubnetID == "" {
		// GUESS: EC2 would launch into the default VPC; this world has none.
		return Reservation{}, apiErr("MissingParameter", "The request must contain the parameter SubnetId (this emulator has no default VPC)")
	}
	sn, ok := w.subnets[in.SubnetID]
	if !ok {
		return Reservation{}, apiErr("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", in.SubnetID)
	}
	var groups []string
	for _, g := range in.SecurityGroupIDs {
		sg, ok := w.sgs[g]
		if !ok {
			return Reservation{}, apiErr("InvalidGroup.NotFound", "The security group '%s' does not exist in VPC '%s'", g, sn.VPCID)
		}
		if sg.VPCID != sn.VPCID {
			return Reservation{}, apiErr("InvalidParameter", "Security group %s and subnet %s belong to different networks.", g, sn.ID)
		}
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	userData := ""
	if in.UserData != "" {
		// EC2 error-code reference: InvalidUserData.Malformed, "for example, the
		// data is too large or not properly base64-encoded". GUESS: the messages.
		b, err := base64.StdEncoding.DecodeString(in.UserData)
		if err != nil {
			return Reservation{}, apiErr("InvalidUserData.Malformed", "Invalid BASE64 encoding of user data.")
		}
		if len(b) > maxUserData {
			return Reservation{}, apiErr("InvalidUserData.Malformed", "User data is limited to %d bytes.", maxUserData)
		}
		userData = string(b)
	}
	var instTags, eniTags map[string]string
	for _, ts := range in.TagSpecifications {
		switch ts.ResourceType {
		case "instance":
			instTags = mergeTags(instTags, ts.Tags)
		case "network-interface":
			eniTags = mergeTags(eniTags, ts.Tags)
		case "volume", "spot-instances-request", "elastic-gpu":
			// Accepted by EC2 for RunInstances; not modelled here.
		case "":
			return Reservation{}, apiErr("InvalidParameterValue", "Tag specification resource type must have a value")
		default:
			return Reservation{}, apiErr("InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", ts.ResourceType)
		}
	}
	for k := range mergeTags(copyMap(instTags), eniTags) {
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return Reservation{}, apiErr("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	ip := in.PrivateIPAddress
	if ip != "" {
		if e := w.checkRequestedIP(sn, ip); e != nil {
			return Reservation{}, e
		}
	} else if ip, ok = w.allocIP(sn, 4); !ok {
		return Reservation{}, apiErr("InsufficientFreeAddressesInSubnet", "There are not enough free addresses in subnet '%s' to satisfy the requested number of instances.", sn.ID)
	}

	id := w.newID("i")
	launchSeq := w.seq // orders DescribeInstances: the fake clock gives many launches the same time
	r := &instanceRec{Instance: Instance{
		ID: id, ReservationID: w.newID("r"), ImageID: ami.ID, InstanceType: itype, Architecture: arch,
		SubnetID: sn.ID, VPCID: sn.VPCID, AZ: sn.AZ, PrivateIP: ip, SecurityGroupIDs: groups,
		SourceDestCheck: true, UserData: userData, Tags: instTags, ClientToken: in.ClientToken, LaunchTime: now,
	}, userDataB64: in.UserData, transitionAt: now.Add(w.instStart), launchSeq: launchSeq}
	r.setState(InstancePending)
	n := &NetworkInterface{
		ID: w.newID("eni"), SubnetID: sn.ID, VPCID: sn.VPCID, AZ: sn.AZ, PrivateIP: ip, MAC: w.newMAC(),
		SecurityGroupIDs: slices.Clone(groups), SourceDestCheck: true, Status: "in-use",
		InstanceID: r.ID, AttachmentID: w.newID("eni-attach"), AttachTime: now, DeleteOnTermination: true, Tags: eniTags,
	}
	r.NetworkInterfaceID = n.ID
	w.enis[n.ID] = n
	w.instances[r.ID] = r
	if in.ClientToken != "" {
		w.clientTokens[in.ClientToken] = &tokenRec{key: key, instanceID: r.ID}
	}
	// RunInstances always answers with the instance pending, whatever the delay.
	return Reservation{ID: r.ReservationID, OwnerID: w.account, Instances: []Instance{w.instanceView(r, now)}}, nil
}

func mergeTags(dst, src map[string]string) map[string]string {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = map[string]string{}
	}
	for k, v := range src {
		dst[k] = v
	}
	return dst
}

// runKey is the canonical form of a request's parameters, ClientToken aside.
func runKey(in *RunInstancesInput) string {
	c := *in
	c.ClientToken = ""
	b, _ := json.Marshal(c)
	return string(b)
}

// ---- state changes ----

// InstanceStateChange is one item of Start/Stop/TerminateInstances.
type InstanceStateChange struct {
	InstanceID              string
	PreviousState, State    string
	PreviousCode, StateCode int
}

func stateChange(r *instanceRec, prev string) InstanceStateChange {
	return InstanceStateChange{InstanceID: r.ID, PreviousState: prev, PreviousCode: instanceStateCodes[prev], State: r.State, StateCode: r.StateCode}
}

func (w *World) changeStates(ids []string, apply func(r *instanceRec, now time.Time) *APIError) ([]InstanceStateChange, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	if len(ids) == 0 {
		return nil, apiErr("MissingParameter", "The request must contain the parameter InstanceId")
	}
	rs, e := w.instancesByID(ids, now)
	if e != nil {
		return nil, e
	}
	for _, r := range rs { // validate all before changing any
		if e := apply(r, time.Time{}); e != nil {
			return nil, e
		}
	}
	var out []InstanceStateChange
	for _, r := range rs {
		prev := r.State
		_ = apply(r, now)
		out = append(out, stateChange(r, prev))
	}
	return out, nil
}

// StopInstances stops running instances (stopping, then stopped after
// InstanceStopDelay). Stopped or stopping instances are left as they are.
func (w *World) StopInstances(ids []string) ([]InstanceStateChange, error) {
	return w.changeStates(ids, func(r *instanceRec, now time.Time) *APIError {
		switch r.State {
		case InstanceStopped, InstanceStopping:
			return nil
		case InstanceRunning:
		default:
			return apiErr("IncorrectInstanceState", "This instance '%s' is not in a state from which it can be stopped.", r.ID)
		}
		if !now.IsZero() {
			r.setState(InstanceStopping)
			r.transitionAt = now.Add(w.instStop)
		}
		return nil
	})
}

// StartInstances starts stopped instances (pending, then running after
// InstanceStartDelay). Running or pending instances are left as they are.
func (w *World) StartInstances(ids []string) ([]InstanceStateChange, error) {
	return w.changeStates(ids, func(r *instanceRec, now time.Time) *APIError {
		switch r.State {
		case InstanceRunning, InstancePending:
			return nil
		case InstanceStopped:
		default:
			return apiErr("IncorrectInstanceState", "The instance '%s' is not in a state from which it can be started.", r.ID)
		}
		if !now.IsZero() {
			r.setState(InstancePending)
			r.StateReason = ""
			r.transitionAt = now.Add(w.instStart)
		}
		return nil
	})
}

// TerminateInstances terminates instances (shutting-down, then terminated
// after InstanceTerminateDelay, when the primary interface is deleted).
// Terminating a terminated or shutting-down instance changes nothing.
func (w *World) TerminateInstances(ids []string) ([]InstanceStateChange, error) {
	return w.changeStates(ids, func(r *instanceRec, now time.Time) *APIError {
		if now.IsZero() || r.State == InstanceTerminated || r.State == InstanceShuttingDown {
			return nil
		}
		// The answer says shutting-down even with a zero delay (the next
		// request sees the instance terminated), as EC2 answers.
		r.setState(InstanceShuttingDown)
		r.transitionAt = now.Add(w.instTerminate)
		return nil
	})
}

// ---- Describe ----

func (w *World) instanceAttrs(r *instanceRec, v Instance) attrFunc {
	return func(n string) ([]string, bool) {
		switch n {
		case "instance-id":
			return []string{v.ID}, true
		case "instance-state-name":
			return []string{v.State}, true
		case "instance-state-code":
			return []string{fmt.Sprint(v.StateCode)}, true
		case "subnet-id":
			return nonEmpty(v.SubnetID), true
		case "vpc-id":
			return nonEmpty(v.VPCID), true
		case "availability-zone":
			return []string{v.AZ}, true
		case "client-token":
			return nonEmpty(v.ClientToken), true
		case "image-id":
			return []string{v.ImageID}, true
		case "instance-type":
			return []string{v.InstanceType}, true
		case "architecture":
			return []string{v.Architecture}, true
		case "reservation-id":
			return []string{v.ReservationID}, true
		case "owner-id":
			return []string{w.account}, true
		case "private-ip-address", "network-interface.addresses.private-ip-address":
			return nonEmpty(v.PrivateIP), true
		case "source-dest-check":
			return []string{fmt.Sprint(v.SourceDestCheck)}, true
		case "instance.group-id", "group-id", "network-interface.group-id":
			return v.SecurityGroupIDs, true
		case "network-interface.network-interface-id":
			var vs []string
			for _, n := range v.NetworkInterfaces {
				vs = append(vs, n.ID)
			}
			return vs, true
		}
		return tagAttrs(r.Tags, n)
	}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// describedInstances are the instances asked for by ID, or every visible one.
// Called with w.mu held.
func (w *World) describedInstances(ids []string, now time.Time) ([]*instanceRec, *APIError) {
	if len(ids) > 0 {
		return w.instancesByID(ids, now)
	}
	var rs []*instanceRec
	for _, id := range w.sortedInstanceIDs() {
		if r, ok := w.visibleInstance(id, now); ok {
			rs = append(rs, r)
		}
	}
	return rs, nil
}

// DescribeInstances lists visible instances, one per reservation.
func (w *World) DescribeInstances(in *DescribeInput) ([]Reservation, *string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	rs, e := w.describedInstances(in.IDs, now)
	if e != nil {
		return nil, nil, e
	}
	var out []Reservation
	for _, r := range rs {
		v := w.instanceView(r, now)
		ok, e := matchFilters(in.Filters, w.instanceAttrs(r, v))
		if e != nil {
			return nil, nil, e
		}
		if ok {
			out = append(out, Reservation{ID: r.ReservationID, OwnerID: w.account, Instances: []Instance{v}})
		}
	}
	pg, next, e := ec2Page(out, "instances", in, "instanceIds", 5, 1000)
	if e != nil {
		return nil, nil, e
	}
	return pg, next, nil
}

// DescribeInstanceStatus lists the status checks of running instances (all
// visible instances with includeAll).
func (w *World) DescribeInstanceStatus(in *DescribeInput, includeAll bool) ([]Instance, *string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	rs, e := w.describedInstances(in.IDs, now)
	if e != nil {
		return nil, nil, e
	}
	var out []Instance
	for _, r := range rs {
		if !includeAll && r.State != InstanceRunning {
			continue
		}
		v := w.instanceView(r, now)
		ok, e := matchFilters(in.Filters, func(n string) ([]string, bool) {
			switch n {
			case "instance-status.status":
				return []string{v.InstanceStatus}, true
			case "system-status.status":
				return []string{v.SystemStatus}, true
			case "instance-state-name", "instance-state-code", "availability-zone":
				return w.instanceAttrs(r, v)(n)
			}
			return nil, false
		})
		if e != nil {
			return nil, nil, e
		}
		if ok {
			out = append(out, v)
		}
	}
	pg, next, e := ec2Page(out, "instancestatus", in, "instanceIds", 5, 1000)
	if e != nil {
		return nil, nil, e
	}
	return pg, next, nil
}

// InstanceAttribute is the answer of DescribeInstanceAttribute: exactly one member is meaningful.
type InstanceAttribute struct {
	InstanceID       string
	Attribute        string
	UserData         *string // base64 as EC2 returns it; nil when the instance has none
	SourceDestCheck  *bool
	InstanceType     string
	SecurityGroupIDs []string
}

// DescribeInstanceAttribute returns userData, sourceDestCheck, instanceType or groupSet.
func (w *World) DescribeInstanceAttribute(id, attribute string) (InstanceAttribute, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	if id == "" {
		return InstanceAttribute{}, apiErr("MissingParameter", "The request must contain the parameter InstanceId")
	}
	if attribute == "" {
		return InstanceAttribute{}, apiErr("MissingParameter", "The request must contain the parameter Attribute")
	}
	rs, e := w.instancesByID([]string{id}, now)
	if e != nil {
		return InstanceAttribute{}, e
	}
	v := w.instanceView(rs[0], now)
	out := InstanceAttribute{InstanceID: id, Attribute: attribute}
	switch attribute {
	case "userData":
		if rs[0].userDataB64 != "" {
			out.UserData = ptr(rs[0].userDataB64)
		}
	case "sourceDestCheck":
		out.SourceDestCheck = ptr(v.SourceDestCheck)
	case "instanceType":
		out.InstanceType = v.InstanceType
	case "groupSet":
		out.SecurityGroupIDs = v.SecurityGroupIDs
	case "kernel", "ramdisk", "disableApiTermination", "instanceInitiatedShutdownBehavior", "rootDeviceName",
		"blockDeviceMapping", "productCodes", "ebsOptimized", "sriovNetSupport", "enaSupport", "enclaveOptions", "disableApiStop":
		return InstanceAttribute{}, apiErr("InvalidParameterValue", "This emulator does not model the instance attribute %s", attribute)
	default:
		return InstanceAttribute{}, apiErr("InvalidParameterValue", "Value (%s) for parameter attribute is invalid. Unknown attribute.", attribute)
	}
	return out, nil
}

// ModifyInstanceAttribute sets the source/destination check of an instance
// (its primary interface's); other attributes are not modelled.
func (w *World) ModifyInstanceAttribute(id string, sourceDestCheck *bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	if id == "" {
		return apiErr("MissingParameter", "The request must contain the parameter InstanceId")
	}
	rs, e := w.instancesByID([]string{id}, now)
	if e != nil {
		return e
	}
	if sourceDestCheck == nil {
		return apiErr("InvalidParameterCombination", "This emulator supports only the sourceDestCheck attribute of ModifyInstanceAttribute")
	}
	r := rs[0]
	n, ok := w.enis[r.NetworkInterfaceID]
	if !ok {
		return apiErr("IncorrectInstanceState", "The instance '%s' is not in a valid state for this operation.", r.ID) // GUESS
	}
	n.SourceDestCheck, r.SourceDestCheck = *sourceDestCheck, *sourceDestCheck
	return nil
}

// CreateTags adds or overwrites tags on instances and network interfaces
// (the resources gatestream tags after launch). Unknown IDs fail the whole
// call, as EC2 does, and change nothing.
func (w *World) CreateTags(ids []string, tags map[string]string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(ids) == 0 {
		return apiErr("MissingParameter", "The request must contain the parameter resourceIdSet")
	}
	if len(tags) == 0 {
		return apiErr("MissingParameter", "The request must contain the parameter tagSet")
	}
	for k := range tags {
		if k == "" || strings.HasPrefix(k, "aws:") {
			return apiErr("InvalidParameterValue", "Tag key %q is not allowed", k)
		}
	}
	now := w.now()
	var apply []func()
	for _, id := range ids {
		switch {
		case strings.HasPrefix(id, "i-"):
			rs, e := w.instancesByID([]string{id}, now)
			if e != nil {
				return e
			}
			r := rs[0]
			apply = append(apply, func() { r.Tags = mergeTags(r.Tags, tags) })
		case strings.HasPrefix(id, "eni-"):
			n, ok := w.enis[id]
			if !ok {
				return apiErr("InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist", id)
			}
			apply = append(apply, func() { n.Tags = mergeTags(n.Tags, tags) })
		default:
			return apiErr("InvalidID", "The ID '%s' is not valid for this emulator's CreateTags (instances and network interfaces)", id)
		}
	}
	for _, f := range apply {
		f()
	}
	return nil
}

// ---- network interfaces ----

// ModifyNetworkInterfaceInput is the body of ModifyNetworkInterfaceAttribute.
type ModifyNetworkInterfaceInput struct {
	NetworkInterfaceID string
	SourceDestCheck    *bool
	Description        *string
	SecurityGroupIDs   []string
}

func (w *World) eniByID(id string) (*NetworkInterface, *APIError) {
	n, ok := w.enis[id]
	if ok {
		return n, nil
	}
	if !eniIDRe.MatchString(id) {
		return nil, apiErr("InvalidNetworkInterfaceID.Malformed", "Invalid id: \"%s\" (expecting \"eni-...\")", id)
	}
	return nil, apiErr("InvalidNetworkInterfaceID.NotFound", "The networkInterface ID '%s' does not exist", id)
}

// ModifyNetworkInterfaceAttribute sets one attribute of an interface.
func (w *World) ModifyNetworkInterfaceAttribute(in *ModifyNetworkInterfaceInput) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	if in.NetworkInterfaceID == "" {
		return apiErr("MissingParameter", "The request must contain the parameter networkInterfaceId")
	}
	n, e := w.eniByID(in.NetworkInterfaceID)
	if e != nil {
		return e
	}
	set := 0
	for _, b := range []bool{in.SourceDestCheck != nil, in.Description != nil, len(in.SecurityGroupIDs) > 0} {
		if b {
			set++
		}
	}
	if set != 1 {
		// GUESS (message): EC2 takes one attribute per call.
		return apiErr("InvalidParameterCombination", "Exactly one attribute must be specified")
	}
	switch {
	case in.SourceDestCheck != nil:
		n.SourceDestCheck = *in.SourceDestCheck
		if r, ok := w.instances[n.InstanceID]; ok && r.NetworkInterfaceID == n.ID {
			r.SourceDestCheck = n.SourceDestCheck
		}
	case in.Description != nil:
		n.Description = *in.Description
	default:
		var groups []string
		for _, g := range in.SecurityGroupIDs {
			sg, ok := w.sgs[g]
			if !ok {
				return apiErr("InvalidGroup.NotFound", "The security group '%s' does not exist", g)
			}
			if sg.VPCID != n.VPCID {
				return apiErr("InvalidParameter", "Security group %s and interface %s belong to different networks.", g, n.ID) // GUESS
			}
			if !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
		n.SecurityGroupIDs = groups
		if r, ok := w.instances[n.InstanceID]; ok && r.NetworkInterfaceID == n.ID {
			r.SecurityGroupIDs = slices.Clone(groups)
		}
	}
	return nil
}

// DescribeNetworkInterfaces lists interfaces.
func (w *World) DescribeNetworkInterfaces(in *DescribeInput) ([]NetworkInterface, *string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now()
	for _, id := range in.IDs {
		if _, e := w.eniByID(id); e != nil {
			return nil, nil, e
		}
	}
	ids, e := selectIDs(w.enis, in.IDs, "InvalidNetworkInterfaceID.NotFound", "networkInterface")
	if e != nil {
		return nil, nil, e
	}
	var out []NetworkInterface
	for _, id := range ids {
		n := w.enis[id]
		ok, e := matchFilters(in.Filters, func(name string) ([]string, bool) {
			switch name {
			case "network-interface-id":
				return []string{n.ID}, true
			case "attachment.instance-id":
				return nonEmpty(n.InstanceID), true
			case "attachment.attachment-id":
				return nonEmpty(n.AttachmentID), true
			case "attachment.status":
				if n.InstanceID == "" {
					return nil, true
				}
				return []string{"attached"}, true
			case "attachment.delete-on-termination":
				return []string{fmt.Sprint(n.DeleteOnTermination)}, true
			case "attachment.instance-owner-id", "owner-id":
				return []string{w.account}, true
			case "subnet-id":
				return []string{n.SubnetID}, true
			case "vpc-id":
				return []string{n.VPCID}, true
			case "availability-zone":
				return []string{n.AZ}, true
			case "status":
				return []string{n.Status}, true
			case "private-ip-address", "addresses.private-ip-address":
				return []string{n.PrivateIP}, true
			case "mac-address":
				return []string{n.MAC}, true
			case "description":
				return []string{n.Description}, true
			case "source-dest-check":
				return []string{fmt.Sprint(n.SourceDestCheck)}, true
			case "group-id":
				return n.SecurityGroupIDs, true
			case "interface-type":
				return []string{"interface"}, true
			case "requester-managed":
				return []string{"false"}, true
			}
			return tagAttrs(n.Tags, name)
		})
		if e != nil {
			return nil, nil, e
		}
		if ok {
			out = append(out, copyENI(n))
		}
	}
	pg, next, e := ec2Page(out, "enis", in, "networkInterfaceIds", 5, 1000)
	if e != nil {
		return nil, nil, e
	}
	return pg, next, nil
}

// ---- routes to interfaces and instances ----

// eniRouteTarget resolves an InstanceId or NetworkInterfaceId route target.
func (w *World) eniRouteTarget(rt *RouteTable, in *RouteInput, r Route) (Route, *APIError) {
	now := w.clock.Now()
	eniID := in.NetworkInterfaceID
	if in.InstanceID != "" {
		rs, e := w.instancesByID([]string{in.InstanceID}, now)
		if e != nil {
			return Route{}, e
		}
		if _, ok := w.enis[rs[0].NetworkInterfaceID]; !ok {
			return Route{}, apiErr("IncorrectInstanceState", "The instance '%s' is not in a valid state for this operation.", in.InstanceID) // GUESS
		}
		eniID = rs[0].NetworkInterfaceID
	}
	n, e := w.eniByID(eniID)
	if e != nil {
		return Route{}, e
	}
	if n.VPCID != rt.VPCID {
		return Route{}, apiErr("InvalidParameterValue", "route table %s and interface %s belong to different networks", rt.ID, n.ID) // GUESS
	}
	// EC2 shows the instance of an attached interface on the route, whichever ID was given.
	r.NetworkInterfaceID, r.InstanceID = n.ID, n.InstanceID
	return r, nil
}

// eniRouteState: a route through an interface is active while the interface
// exists and is attached to a running instance. GUESS: pending and stopping
// instances (which cannot forward yet or any more) also make it a blackhole.
func (w *World) eniRouteState(eniID string) string {
	n, ok := w.enis[eniID]
	if !ok || n.InstanceID == "" {
		return "blackhole"
	}
	if r, ok := w.instances[n.InstanceID]; !ok || r.State != InstanceRunning {
		return "blackhole"
	}
	return "active"
}

// moreSpecificAllowed: a route more specific than the VPC CIDR must target an
// interface and match a subnet's CIDR exactly (VPC guide, "Routing for a
// middlebox appliance" / more specific routes).
func (w *World) moreSpecificAllowed(rt *RouteTable, dest netip.Prefix, in *RouteInput) bool {
	if in.NetworkInterfaceID == "" && in.InstanceID == "" {
		return false
	}
	for _, s := range w.subnets {
		if p, err := netip.ParsePrefix(s.CIDR); err == nil && s.VPCID == rt.VPCID && p.Masked() == dest {
			return true
		}
	}
	return false
}

// ---- security group rules ----

// normalizeRule checks a permission and spells its protocol as EC2 returns it.
func normalizeRule(r Rule) (Rule, *APIError) {
	p := strings.ToLower(r.Protocol)
	switch p {
	case "-1", "all":
		p = "-1"
	case "6", "tcp":
		p = "tcp"
	case "17", "udp":
		p = "udp"
	case "1", "icmp":
		p = "icmp"
	case "":
		return Rule{}, apiErr("MissingParameter", "The request must contain the parameter ipProtocol")
	default:
		return Rule{}, apiErr("InvalidParameterValue", "Invalid value '%s' for IP protocol. Unknown protocol.", r.Protocol) // GUESS: numbered protocols other than 1/6/17
	}
	out := Rule{Protocol: p, CIDRs: slices.Clone(r.CIDRs)}
	switch p {
	case "-1":
		// Ports do not apply.
	case "icmp":
		out.FromPort, out.ToPort = r.FromPort, r.ToPort // type and code; -1 = all
	default:
		if r.FromPort < 0 || r.ToPort > 65535 || r.FromPort > r.ToPort {
			return Rule{}, apiErr("InvalidParameterValue", "Invalid TCP/UDP port range %d-%d", r.FromPort, r.ToPort) // GUESS (message)
		}
		out.FromPort, out.ToPort = r.FromPort, r.ToPort
	}
	if len(out.CIDRs) == 0 {
		return Rule{}, apiErr("InvalidParameterValue", "This emulator supports only IpRanges (CidrIp) permissions")
	}
	for i, c := range out.CIDRs {
		pr, err := netip.ParsePrefix(c)
		if err != nil || !pr.Addr().Is4() {
			return Rule{}, apiErr("InvalidParameterValue", "CIDR block %s is malformed", c)
		}
		out.CIDRs[i] = pr.Masked().String()
	}
	return out, nil
}

func sameRule(a, b Rule) bool {
	return a.Protocol == b.Protocol && (a.Protocol == "-1" || (a.FromPort == b.FromPort && a.ToPort == b.ToPort))
}

func ruleText(r Rule, cidr string) string {
	return fmt.Sprintf("peer: %s, %s, from port: %d, to port: %d, ALLOW", cidr, strings.ToUpper(r.Protocol), r.FromPort, r.ToPort)
}

// AuthorizeSecurityGroup adds permissions (egress selects the outbound rules).
func (w *World) AuthorizeSecurityGroup(groupID string, egress bool, perms []Rule) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	rules, e := w.sgRules(groupID, egress)
	if e != nil {
		return e
	}
	next := cloneRules(*rules)
	for _, p := range perms {
		n, e := normalizeRule(p)
		if e != nil {
			return e
		}
		for _, c := range n.CIDRs {
			i := slices.IndexFunc(next, func(r Rule) bool { return sameRule(r, n) })
			if i < 0 {
				next = append(next, Rule{Protocol: n.Protocol, FromPort: n.FromPort, ToPort: n.ToPort, CIDRs: []string{c}})
				continue
			}
			if slices.Contains(next[i].CIDRs, c) {
				return apiErr("InvalidPermission.Duplicate", "the specified rule \"%s\" already exists", ruleText(n, c))
			}
			next[i].CIDRs = append(next[i].CIDRs, c)
		}
	}
	*rules = next
	return nil
}

// RevokeSecurityGroup removes permissions. GUESS: a permission that is not
// there is InvalidPermission.NotFound (EC2 may instead answer success with
// unknownIpPermissionSet).
func (w *World) RevokeSecurityGroup(groupID string, egress bool, perms []Rule) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	rules, e := w.sgRules(groupID, egress)
	if e != nil {
		return e
	}
	next := cloneRules(*rules)
	for _, p := range perms {
		n, e := normalizeRule(p)
		if e != nil {
			return e
		}
		for _, c := range n.CIDRs {
			i := slices.IndexFunc(next, func(r Rule) bool { return sameRule(r, n) })
			j := -1
			if i >= 0 {
				j = slices.Index(next[i].CIDRs, c)
			}
			if j < 0 {
				return apiErr("InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
			}
			next[i].CIDRs = slices.Delete(next[i].CIDRs, j, j+1)
			if len(next[i].CIDRs) == 0 {
				next = slices.Delete(next, i, i+1)
			}
		}
	}
	*rules = next
	return nil
}

func (w *World) sgRules(groupID string, egress bool) (*[]Rule, *APIError) {
	if groupID == "" {
		return nil, apiErr("MissingParameter", "The request must contain the parameter groupId (group names of a default VPC are not supported here)")
	}
	g, ok := w.sgs[groupID]
	if !ok {
		return nil, apiErr("InvalidGroup.NotFound", "The security group '%s' does not exist", groupID)
	}
	if egress {
		return &g.Egress, nil
	}
	return &g.Ingress, nil
}

// ---- the snapshot for the packet walker ----

// SnapshotFleet is the network side of an AppStream fleet.
type SnapshotFleet struct {
	Name, State                 string
	SubnetIDs, SecurityGroupIDs []string
}

// NetworkSnapshot is a consistent copy of the world's network, taken at one
// instant (Time) with every state machine brought up to it.
type NetworkSnapshot struct {
	Time              time.Time
	AccountID, Region string
	VPCs              []VPC
	Subnets           []Subnet
	RouteTables       []RouteTable // route states computed, main associations included
	SecurityGroups    []SecurityGroup
	Peerings          []Peering // terminal ones included while visible
	Instances         []Instance
	NetworkInterfaces []NetworkInterface
	Fleets            []SnapshotFleet
	// Sessions are every session, expired ones included (check State);
	// SubnetId is the subnet of the session's instance address.
	Sessions []Session
}

// NetworkSnapshot returns deep copies of everything that decides where a packet goes, sorted by ID (fleets by name).
func (w *World) NetworkSnapshot() NetworkSnapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	s := NetworkSnapshot{Time: now, AccountID: w.account, Region: w.region}
	for _, id := range sortedKeys(w.vpcs) {
		v := *w.vpcs[id]
		v.Tags = copyMap(v.Tags)
		s.VPCs = append(s.VPCs, v)
	}
	for _, id := range sortedKeys(w.subnets) {
		v := *w.subnets[id]
		v.Tags = copyMap(v.Tags)
		s.Subnets = append(s.Subnets, v)
	}
	for _, id := range sortedKeys(w.routeTables) {
		s.RouteTables = append(s.RouteTables, w.routeTableView(w.routeTables[id]))
	}
	for _, id := range sortedKeys(w.sgs) {
		g := *w.sgs[id]
		g.Ingress, g.Egress, g.Tags = cloneRules(g.Ingress), cloneRules(g.Egress), copyMap(g.Tags)
		s.SecurityGroups = append(s.SecurityGroups, g)
	}
	for _, id := range sortedKeys(w.peerings) {
		if p, ok := w.visiblePeering(id); ok {
			c := p.Peering
			c.Tags = copyMap(c.Tags)
			s.Peerings = append(s.Peerings, c)
		}
	}
	s.Instances = w.instanceList(now)
	for _, id := range sortedKeys(w.enis) {
		s.NetworkInterfaces = append(s.NetworkInterfaces, copyENI(w.enis[id]))
	}
	for _, name := range sortedKeys(w.fleets) {
		f := w.fleets[name]
		sf := SnapshotFleet{Name: f.Name, State: f.State}
		if f.VpcConfig != nil {
			sf.SubnetIDs, sf.SecurityGroupIDs = slices.Clone(f.VpcConfig.SubnetIds), slices.Clone(f.VpcConfig.SecurityGroupIds)
		}
		s.Fleets = append(s.Fleets, sf)
	}
	s.Sessions = w.sortedSessions(func(*Session) bool { return true })
	return s
}
