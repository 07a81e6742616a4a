package environment

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/pathcheck"
	"github.com/gatestream/gatestream/internal/routerconfig"
	"github.com/gatestream/gatestream/internal/soracom"
	"github.com/gatestream/gatestream/internal/unit"
)

// Tags on a managed router (besides the owner tags): which router of the
// environment it is, and the configuration it was launched with.
const (
	TagRouterSlot   = "gatestream.io/router-slot"
	TagRouterConfig = "gatestream.io/router-config"
)

// gateOff is the router's state while the spec switches Gate off.
const gateOff = "Gate is switched off (spec.soracom.gateway.gate.enabled: false): no router can tunnel to the gateway and no device can be reached until it is on"

// Router is one router of the environment: slot Slot of spec.router (a
// managed router per subnet, or an existing one as listed). A managed router
// is an EC2 instance gatestream launches with user data that makes it a Gate
// peer (internal/routerconfig); it is replaced when it is terminated, stopped,
// impaired or launched with another configuration, and its launch is guarded
// like the gateway's (a lost RunInstances response never leaves two routers).
// An existing router is only observed: gatestream never changes it.
type Router struct{ Slot int }

func (Router) Condition() string { return accessv1alpha1.ConditionRouterReady }

// PendingMarker makes the launch guarded (unit.Guarded).
func (r Router) PendingMarker(p *Pass) **metav1.Time {
	return &routerStatus(p, r.Slot).CreatePendingSince
}

// routerSlots is how many routers the spec asks for.
func routerSlots(env *accessv1alpha1.RemoteAccessEnvironment) int {
	rs := env.Spec.Router
	switch {
	case rs == nil || rs.Managed == nil && len(rs.Existing) == 0:
		return 1 // the CRD defaults to one managed router
	case rs.Managed != nil:
		return max(1, len(rs.Managed.SubnetIDs))
	}
	return len(rs.Existing)
}

func managedRouter(env *accessv1alpha1.RemoteAccessEnvironment) *accessv1alpha1.ManagedRouterSpec {
	if rs := env.Spec.Router; rs != nil && len(rs.Existing) > 0 {
		return nil
	} else if rs != nil && rs.Managed != nil {
		return rs.Managed
	}
	return &accessv1alpha1.ManagedRouterSpec{}
}

func returnPath(env *accessv1alpha1.RemoteAccessEnvironment) accessv1alpha1.ReturnPath {
	if rs := env.Spec.Router; rs != nil && rs.ReturnPath != "" {
		return rs.ReturnPath
	}
	return accessv1alpha1.ReturnPathMasquerade
}

// routerStatus returns status.routers[slot], growing the list as needed.
func routerStatus(p *Pass, slot int) *accessv1alpha1.RouterStatus {
	for len(p.Env.Status.Routers) <= slot {
		p.Env.Status.Routers = append(p.Env.Status.Routers, accessv1alpha1.RouterStatus{})
	}
	return &p.Env.Status.Routers[slot]
}

// routerSubnet is the subnet a managed router of slot is launched in.
func routerSubnet(env *accessv1alpha1.RemoteAccessEnvironment, slot int) string {
	if m := managedRouter(env); m != nil && slot < len(m.SubnetIDs) {
		return m.SubnetIDs[slot]
	}
	return env.Spec.AppStream.Fleet.SubnetIDs[0]
}

func (r Router) Observe(ctx context.Context, p *Pass) (Observation, error) {
	if managedRouter(p.Env) == nil {
		return r.observeExisting(ctx, p)
	}
	st := routerStatus(p, r.Slot)
	st.Managed = true
	if p.routerFix == nil {
		p.routerFix = map[int]routerFix{}
	}
	delete(p.routerFix, r.Slot)
	inst, err := r.find(ctx, p, st)
	if err != nil {
		return Observation{}, err
	}
	if inst == nil {
		st.InstanceID, st.NetworkInterfaceID, st.PrivateIPAddress, st.State = "", "", "", ""
		return Observation{Exists: false}, nil
	}
	if err := retagRouter(ctx, p, inst); err != nil {
		return Observation{}, err
	}
	recordInstance(st, inst)
	cfg, msg, err := r.desiredConfig(ctx, p, st)
	if err != nil || msg != "" {
		obs := Observation{Exists: true, UpToDate: true, Ready: false, Reason: accessv1alpha1.ReasonWaitingForDependency, Message: msg}
		if msg == gateOff {
			obs.Reason, obs.Wait = accessv1alpha1.ReasonGateClosed, -1 // a choice in the spec: look again at the poll interval
		}
		return obs, err
	}
	p.setRouter(r.Slot, routerObservation(inst, &cfg))
	switch state := st.State; {
	case state == string(ec2types.InstanceStateNamePending):
		return Observation{Exists: true, UpToDate: true, Reason: accessv1alpha1.ReasonCreating, Message: fmt.Sprintf("router %s is starting", st.InstanceID)}, nil
	case state != string(ec2types.InstanceStateNameRunning):
		p.routerFix[r.Slot] |= fixReplace
		return Observation{Exists: true, UpToDate: false, Message: fmt.Sprintf("router %s is %s; replacing it", st.InstanceID, state)}, nil
	case tag(inst.Tags, TagRouterConfig) != routerconfig.Hash(cfg):
		p.routerFix[r.Slot] |= fixReplace
		return Observation{Exists: true, UpToDate: false, Message: fmt.Sprintf("router %s was launched for another configuration (VXLAN id, gateway peers or return path changed); replacing it", st.InstanceID)}, nil
	}
	impaired, err := p.AWS.EC2.InstanceImpaired(ctx, st.InstanceID)
	if err != nil {
		return Observation{}, fmt.Errorf("reading the status of router %s: %w", st.InstanceID, err)
	}
	if impaired {
		p.routerFix[r.Slot] |= fixReplace
		return Observation{Exists: true, UpToDate: false, Reason: accessv1alpha1.ReasonRouterImpaired, Message: fmt.Sprintf("EC2 reports router %s impaired; replacing it", st.InstanceID)}, nil
	}
	var repairs []string
	if eni := primaryInterface(inst); eni != nil && awssdk.ToBool(eni.SourceDestCheck) {
		p.routerFix[r.Slot] |= fixSourceDestCheck
		repairs = append(repairs, fmt.Sprintf("source/dest check is on for %s; turning it off", st.NetworkInterfaceID))
	}
	if !registered(p, st.PrivateIPAddress) {
		// The router registers itself (the Gate unit before it in the pass
		// only knows routers from the last pass), so a new router is a Gate
		// peer in the pass that sees it running.
		p.routerFix[r.Slot] |= fixGatePeer
		repairs = append(repairs, fmt.Sprintf("registering %s as a Gate peer", st.PrivateIPAddress))
	}
	if len(repairs) > 0 {
		return Observation{Exists: true, UpToDate: false, Ready: true, Message: strings.Join(repairs, "; ")}, nil
	}
	return Observation{Exists: true, UpToDate: true, Ready: true,
		Message: fmt.Sprintf("router %s (%s, inner %s) is running", st.InstanceID, st.PrivateIPAddress, st.InnerIPAddress)}, nil
}

// find looks the managed router up by its recorded ID, or by its owner and
// slot tags (a launch whose response was lost, or a status write that failed).
func (r Router) find(ctx context.Context, p *Pass, st *accessv1alpha1.RouterStatus) (*ec2types.Instance, error) {
	if st.InstanceID != "" {
		insts, err := p.AWS.EC2.DescribeInstances(ctx, []string{st.InstanceID})
		if err != nil {
			return nil, fmt.Errorf("reading router %s: %w", st.InstanceID, err)
		}
		if len(insts) == 1 && !gone(insts[0]) {
			return &insts[0], nil
		}
		if len(insts) == 1 {
			st.State = string(insts[0].State.Name)
		}
	}
	owner := p.Owner()
	inst, err := r.findByTag(ctx, p, accessv1alpha1.TagOwnerUID, owner.UID)
	if err != nil || inst != nil || owner.Identity() == "" {
		return inst, err
	}
	// This environment's router from before the cluster was rebuilt: adopt it.
	if inst, err = r.findByTag(ctx, p, accessv1alpha1.TagIdentity, owner.Identity()); err != nil || inst == nil {
		return inst, err
	}
	p.Event(corev1.EventTypeNormal, "RouterAdopted", "Observe",
		fmt.Sprintf("adopted router %s, tagged %s=%s (this environment before the cluster was rebuilt)", deref(inst.InstanceId), accessv1alpha1.TagIdentity, owner.Identity()))
	return inst, nil
}

func (r Router) findByTag(ctx context.Context, p *Pass, name, value string) (*ec2types.Instance, error) {
	insts, err := p.AWS.EC2.InstancesByTag(ctx, name, value)
	if err != nil {
		return nil, fmt.Errorf("looking up the router by its %s tag: %w", name, err)
	}
	for i := range insts {
		if tag(insts[i].Tags, TagRouterSlot) == strconv.Itoa(r.Slot) && !gone(insts[i]) {
			return &insts[i], nil
		}
	}
	return nil, nil
}

// retagRouter writes the owner's tags on a router of ours whose tags differ
// (adopted by stable identity, or launched before the manager had a cluster name).
func retagRouter(ctx context.Context, p *Pass, inst *ec2types.Instance) error {
	tags := map[string]string{}
	for _, t := range inst.Tags {
		tags[deref(t.Key)] = deref(t.Value)
	}
	diff := p.Owner().Retag(tags)
	if diff == nil {
		return nil
	}
	if err := p.AWS.EC2.CreateTags(ctx, []string{deref(inst.InstanceId)}, diff); err != nil {
		return fmt.Errorf("tagging router %s: %w", deref(inst.InstanceId), err)
	}
	for k, v := range diff {
		inst.Tags = append(inst.Tags, ec2types.Tag{Key: &k, Value: &v})
	}
	return nil
}

// gone: terminated or on its way there; a router in that state is replaced.
func gone(i ec2types.Instance) bool {
	if i.State == nil {
		return false
	}
	return i.State.Name == ec2types.InstanceStateNameTerminated || i.State.Name == ec2types.InstanceStateNameShuttingDown
}

func recordInstance(st *accessv1alpha1.RouterStatus, inst *ec2types.Instance) {
	st.InstanceID = deref(inst.InstanceId)
	st.PrivateIPAddress = deref(inst.PrivateIpAddress)
	st.SubnetID = deref(inst.SubnetId)
	if inst.Placement != nil {
		st.AvailabilityZone = deref(inst.Placement.AvailabilityZone)
	}
	if inst.State != nil {
		st.State = string(inst.State.Name)
	}
	if eni := primaryInterface(inst); eni != nil {
		st.NetworkInterfaceID = deref(eni.NetworkInterfaceId)
	}
	if h := tag(inst.Tags, TagRouterConfig); h != "" {
		st.ConfigHash = h
	}
}

func primaryInterface(inst *ec2types.Instance) *ec2types.InstanceNetworkInterface {
	for i := range inst.NetworkInterfaces {
		if a := inst.NetworkInterfaces[i].Attachment; a != nil && awssdk.ToInt32(a.DeviceIndex) == 0 {
			return &inst.NetworkInterfaces[i]
		}
	}
	if len(inst.NetworkInterfaces) > 0 {
		return &inst.NetworkInterfaces[0]
	}
	return nil
}

// routerObservation is what the path check needs of a router.
func routerObservation(inst *ec2types.Instance, cfg *routerconfig.Config) pathcheck.Router {
	r := pathcheck.Router{InstanceID: deref(inst.InstanceId), Config: cfg}
	if inst.State != nil {
		r.State = string(inst.State.Name)
	}
	if eni := primaryInterface(inst); eni != nil {
		r.ENI = &ec2types.NetworkInterface{
			NetworkInterfaceId: eni.NetworkInterfaceId, SubnetId: eni.SubnetId, VpcId: eni.VpcId,
			PrivateIpAddress: eni.PrivateIpAddress, SourceDestCheck: eni.SourceDestCheck, Groups: eni.Groups,
			Attachment: &ec2types.NetworkInterfaceAttachment{InstanceId: inst.InstanceId},
		}
		if inst.Placement != nil {
			r.ENI.AvailabilityZone = inst.Placement.AvailabilityZone
		}
	}
	return r
}

// routerFix is what a router's Update must do (bits).
type routerFix int

const (
	fixReplace routerFix = 1 << iota
	fixSourceDestCheck
	fixGatePeer
)

// registered reports whether ip is a registered customer Gate peer (as the Gate unit listed them this pass).
func registered(p *Pass, ip string) bool {
	for _, g := range p.gatePeers {
		if g.OwnedByCustomer && g.OuterIPAddress == ip {
			return true
		}
	}
	return false
}

// registerRouter registers the router as a customer Gate peer (outer: its
// private address; inner: its address in the device subnet).
func registerRouter(ctx context.Context, p *Pass, st *accessv1alpha1.RouterStatus) error {
	_, err := p.Soracom.RegisterGatePeer(ctx, p.vpg.VPGID, &soracom.RegisterGatePeerRequest{OuterIPAddress: st.PrivateIPAddress, InnerIPAddress: st.InnerIPAddress})
	if err != nil {
		return fmt.Errorf("registering router %s as a Gate peer: %w", st.InstanceID, err)
	}
	p.gatePeers = append(p.gatePeers, soracom.GatePeer{OuterIPAddress: st.PrivateIPAddress, InnerIPAddress: st.InnerIPAddress, OwnedByCustomer: true})
	// Ours to take back (as the Gate unit records the peers it registers).
	gs := gatewayStatus(p)
	if !slices.Contains(gs.GatePeers, st.PrivateIPAddress) {
		gs.GatePeers = sortedCopy(append(gs.GatePeers, st.PrivateIPAddress))
	}
	return nil
}

func tag(tags []ec2types.Tag, key string) string {
	for _, t := range tags {
		if deref(t.Key) == key {
			return deref(t.Value)
		}
	}
	return ""
}

// desiredConfig is the configuration the router of slot must run: it needs
// the gateway's own Gate peers (listed once Gate is open), the VPC's range and
// the router subnet's. msg says what it still waits for.
func (r Router) desiredConfig(ctx context.Context, p *Pass, st *accessv1alpha1.RouterStatus) (routerconfig.Config, string, error) {
	own := p.ownGatePeers()
	if !desiredGate(p.Env).open {
		return routerconfig.Config{}, gateOff, nil
	}
	if p.vpg == nil || !p.vpg.GateOpened || len(own) == 0 {
		return routerconfig.Config{}, "waiting for Gate to be open and to list the gateway's own Gate peers", nil
	}
	dev, err := netip.ParsePrefix(p.vpg.DeviceSubnetCIDRRange)
	if err != nil {
		return routerconfig.Config{}, "", unit.Terminal(accessv1alpha1.ReasonInvalidConfiguration, fmt.Errorf("the gateway's device subnet %q is not a CIDR", p.vpg.DeviceSubnetCIDRRange))
	}
	vpc, err := p.vpcCIDR(ctx)
	if err != nil {
		return routerconfig.Config{}, "", err
	}
	subnetID := routerSubnet(p.Env, r.Slot)
	if st.SubnetID != "" {
		subnetID = st.SubnetID
	}
	subnet, err := p.subnet(ctx, subnetID)
	if err != nil {
		return routerconfig.Config{}, "", err
	}
	if vpc := deref(p.subnets[subnetID].VpcId); vpc != p.Env.Spec.AWS.VPCID {
		return routerconfig.Config{}, "", unit.Terminal(accessv1alpha1.ReasonInvalidConfiguration,
			fmt.Errorf("router subnet %s (spec.router.managed.subnetIds, default the first fleet subnet) is in %s, not in spec.aws.vpcId %s", subnetID, vpc, p.Env.Spec.AWS.VPCID))
	}
	inner, err := r.innerAddress(p, st, dev, own)
	if err != nil {
		return routerconfig.Config{}, "", err
	}
	cfg := routerconfig.Config{
		Owner: p.Env.Namespace + "/" + p.Env.Name, VXLANID: desiredGate(p.Env).vxlanID,
		Inner: netip.PrefixFrom(inner, dev.Bits()), VPCCIDR: vpc,
		SubnetGateway: routerconfig.SubnetGateway(subnet), VPGInner: own[0].Inner,
		Masquerade: returnPath(p.Env) == accessv1alpha1.ReturnPathMasquerade,
		IPForward:  true, HasPolicyRule: true,
	}
	for _, peer := range own {
		cfg.Remotes = append(cfg.Remotes, peer.Outer)
	}
	slices.SortFunc(cfg.Remotes, func(a, b netip.Addr) int { return a.Compare(b) })
	return cfg, "", nil
}

// innerAddress is the router's address in the device subnet: from the spec,
// else the one recorded, else the highest address of the device subnet that
// no Gate peer uses (recorded, so it stays the same across replacements).
func (r Router) innerAddress(p *Pass, st *accessv1alpha1.RouterStatus, dev netip.Prefix, own []pathcheck.Peer) (netip.Addr, error) {
	if m := managedRouter(p.Env); m != nil && r.Slot < len(m.InnerIPAddresses) {
		st.InnerIPAddress = m.InnerIPAddresses[r.Slot]
	}
	if st.InnerIPAddress != "" {
		a, err := netip.ParseAddr(st.InnerIPAddress)
		if err != nil || !dev.Contains(a) {
			return netip.Addr{}, unit.Terminal(accessv1alpha1.ReasonInvalidConfiguration,
				fmt.Errorf("router inner address %q is not inside the device subnet %s (spec.router.managed.innerIpAddresses)", st.InnerIPAddress, dev))
		}
		return a, nil
	}
	used := map[netip.Addr]bool{}
	for _, peer := range own {
		used[peer.Inner] = true
	}
	for _, peer := range p.customerGatePeers() {
		used[peer.Inner] = true
	}
	for i, other := range p.Env.Status.Routers {
		if a, err := netip.ParseAddr(other.InnerIPAddress); err == nil && i != r.Slot {
			used[a] = true
		}
	}
	a := lastAddress(dev).Prev() // the last address is the subnet's broadcast
	for ; dev.Contains(a) && used[a]; a = a.Prev() {
	}
	st.InnerIPAddress = a.String()
	return a, nil
}

func lastAddress(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Create launches the router. The client token makes a retried RunInstances
// (a response lost on the wire) return the same instance; the runner's
// create-pending marker and the lookup by tag cover a crash between launch
// and status write.
func (r Router) Create(ctx context.Context, p *Pass) error {
	st := routerStatus(p, r.Slot)
	cfg, msg, err := r.desiredConfig(ctx, p, st)
	if err != nil {
		return err
	}
	if msg != "" {
		return unit.RetryAfter(accessv1alpha1.ReasonWaitingForDependency, p.TransitionWait, fmt.Errorf("%s", msg))
	}
	m := managedRouter(p.Env)
	groups := m.SecurityGroupIDs
	if len(groups) == 0 {
		groups = p.Env.Spec.AppStream.Fleet.SecurityGroupIDs
	}
	tags := ownerTags(p)
	tags["name"] = fmt.Sprintf("gatestream-router-%s-%s-%d", p.Env.Namespace, p.Env.Name, r.Slot)
	tags[TagRouterSlot] = strconv.Itoa(r.Slot)
	tags[TagRouterConfig] = routerconfig.Hash(cfg)
	st.Launches++
	inst, err := p.AWS.EC2.RunInstance(ctx, aws.RunInstanceInput{
		ClientToken:  fmt.Sprintf("%s-%d-%d", p.Env.UID, r.Slot, st.Launches),
		ImageID:      orDefault(m.ImageID, accessv1alpha1.DefaultRouterImage),
		InstanceType: orDefault(m.InstanceType, "t3.nano"),
		SubnetID:     routerSubnet(p.Env, r.Slot), SecurityGroupIDs: groups,
		UserData: routerconfig.Render(cfg), Tags: tags,
	})
	if err != nil {
		return fmt.Errorf("launching router %d: %w", r.Slot, err)
	}
	recordInstance(st, inst)
	p.Event(corev1.EventTypeNormal, "RouterLaunched", "Create",
		fmt.Sprintf("launched router %s in %s (inner %s)", st.InstanceID, st.SubnetID, st.InnerIPAddress))
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Update turns source/dest check off, or terminates a router that cannot be
// repaired in place (the next pass launches its replacement).
func (r Router) Update(ctx context.Context, p *Pass) error {
	st := routerStatus(p, r.Slot)
	fix := p.routerFix[r.Slot]
	if fix&fixReplace == 0 {
		if fix&fixSourceDestCheck != 0 {
			if err := p.AWS.EC2.SetSourceDestCheck(ctx, st.NetworkInterfaceID, false); err != nil {
				return fmt.Errorf("turning source/dest check off on %s: %w", st.NetworkInterfaceID, err)
			}
		}
		if fix&fixGatePeer != 0 {
			return registerRouter(ctx, p, st)
		}
		return nil
	}
	if err := p.AWS.EC2.TerminateInstances(ctx, []string{st.InstanceID}); err != nil {
		return fmt.Errorf("terminating router %s for replacement: %w", st.InstanceID, err)
	}
	p.Event(corev1.EventTypeWarning, "RouterReplaced", "Update", fmt.Sprintf("terminated router %s (%s); launching a replacement", st.InstanceID, st.State))
	return nil
}

// Delete terminates a managed router (deletionPolicy Orphan never gets here).
func (r Router) Delete(ctx context.Context, p *Pass) (bool, error) {
	if r.Slot >= len(p.Env.Status.Routers) || !p.Env.Status.Routers[r.Slot].Managed {
		return true, nil // never launched, or a router the customer runs
	}
	st := routerStatus(p, r.Slot)
	inst, err := r.find(ctx, p, st)
	if err != nil || inst == nil {
		return err == nil, err
	}
	if err := p.AWS.EC2.TerminateInstances(ctx, []string{deref(inst.InstanceId)}); err != nil {
		return false, fmt.Errorf("terminating router %s: %w", deref(inst.InstanceId), err)
	}
	return false, nil // gone once EC2 reports it terminated
}

// observeExisting checks a router the customer runs (never changed).
func (r Router) observeExisting(ctx context.Context, p *Pass) (Observation, error) {
	spec := p.Env.Spec.Router.Existing[r.Slot]
	st := routerStatus(p, r.Slot)
	st.Managed, st.InnerIPAddress = false, spec.InnerIPAddress
	id := spec.InstanceID
	if spec.NetworkInterfaceID != "" {
		enis, err := p.AWS.EC2.DescribeNetworkInterfaces(ctx, []string{spec.NetworkInterfaceID})
		if err != nil {
			return Observation{}, fmt.Errorf("reading router interface %s: %w", spec.NetworkInterfaceID, err)
		}
		if len(enis) == 0 || enis[0].Attachment == nil || deref(enis[0].Attachment.InstanceId) == "" {
			return notFound(st, fmt.Sprintf("network interface %s (spec.router.existing[%d]) does not exist or is not attached to an instance", spec.NetworkInterfaceID, r.Slot)), nil
		}
		id = deref(enis[0].Attachment.InstanceId)
	}
	insts, err := p.AWS.EC2.DescribeInstances(ctx, []string{id})
	if err != nil {
		return Observation{}, fmt.Errorf("reading router %s: %w", id, err)
	}
	if len(insts) == 0 || gone(insts[0]) {
		return notFound(st, fmt.Sprintf("instance %s (spec.router.existing[%d]) does not exist or is terminated", id, r.Slot)), nil
	}
	inst := &insts[0]
	recordInstance(st, inst)
	obs := routerObservation(inst, nil)
	if cfg, err := p.existingRouterConfig(ctx, st.InstanceID); err != nil {
		return Observation{}, err
	} else if cfg.err != "" {
		obs.ConfigError = cfg.err
	} else {
		obs.Config = cfg.config
	}
	p.setRouter(r.Slot, obs)
	if st.State != string(ec2types.InstanceStateNameRunning) {
		return Observation{Exists: true, UpToDate: true, Reason: accessv1alpha1.ReasonRouterStopped, Wait: -1,
			Message: fmt.Sprintf("router %s (spec.router.existing[%d]) is %s; start it", st.InstanceID, r.Slot, st.State)}, nil
	}
	if p.vpg != nil && p.vpg.GateOpened && !registered(p, st.PrivateIPAddress) {
		if p.routerFix == nil {
			p.routerFix = map[int]routerFix{}
		}
		p.routerFix[r.Slot] = fixGatePeer // the one thing gatestream does for a router it does not own
		return Observation{Exists: true, UpToDate: false, Ready: true, Message: fmt.Sprintf("registering %s as a Gate peer", st.PrivateIPAddress)}, nil
	}
	return Observation{Exists: true, UpToDate: true, Ready: true,
		Message: fmt.Sprintf("existing router %s (%s, inner %s) is running", st.InstanceID, st.PrivateIPAddress, st.InnerIPAddress)}, nil
}

func notFound(st *accessv1alpha1.RouterStatus, msg string) Observation {
	st.InstanceID, st.NetworkInterfaceID, st.PrivateIPAddress, st.State = "", "", "", ""
	return Observation{Exists: true, UpToDate: true, Reason: accessv1alpha1.ReasonRouterNotFound, Message: msg, Wait: -1}
}

// RetiredRouters terminates the managed routers of slots the spec no longer
// asks for (two routers down to one, or managed replaced by existing).
type RetiredRouters struct{}

func (RetiredRouters) Condition() string { return accessv1alpha1.ConditionRouterReady }

func (RetiredRouters) retired(p *Pass) []accessv1alpha1.RouterStatus {
	keep := routerSlots(p.Env)
	if managedRouter(p.Env) == nil {
		keep = 0
	}
	var out []accessv1alpha1.RouterStatus
	for i, st := range p.Env.Status.Routers {
		if i >= keep && st.Managed {
			out = append(out, st)
		}
	}
	return out
}

func (u RetiredRouters) Observe(ctx context.Context, p *Pass) (Observation, error) {
	if len(u.retired(p)) == 0 {
		if n := routerSlots(p.Env); len(p.Env.Status.Routers) > n {
			p.Env.Status.Routers = p.Env.Status.Routers[:n]
		}
		return Observation{Exists: true, UpToDate: true, Ready: true}, nil
	}
	return Observation{Exists: true, UpToDate: false, Ready: true, Message: "terminating routers the spec no longer asks for"}, nil
}

func (RetiredRouters) Create(context.Context, *Pass) error { return nil }

func (u RetiredRouters) Update(ctx context.Context, p *Pass) error {
	var ids []string
	for _, st := range u.retired(p) {
		if st.InstanceID != "" {
			ids = append(ids, st.InstanceID)
		}
	}
	if len(ids) > 0 {
		if err := p.AWS.EC2.TerminateInstances(ctx, ids); err != nil {
			return fmt.Errorf("terminating retired routers: %w", err)
		}
	}
	keep := routerSlots(p.Env)
	if managedRouter(p.Env) == nil {
		// Existing routers replace managed ones: keep only the existing entries.
		p.Env.Status.Routers = slices.DeleteFunc(p.Env.Status.Routers, func(st accessv1alpha1.RouterStatus) bool { return st.Managed })
	} else if len(p.Env.Status.Routers) > keep {
		p.Env.Status.Routers = p.Env.Status.Routers[:keep]
	}
	return nil
}

func (RetiredRouters) Delete(context.Context, *Pass) (bool, error) { return true, nil }
