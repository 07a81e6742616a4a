// Package environment holds the external objects of a
// RemoteAccessEnvironment, each one small unit on the shared contract of
// internal/unit (Observe, Create, Update, Delete); the reconciler runs them
// in dependency order through unit.Converge and unit.Remove.
package environment

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/go-logr/logr"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/ownership"
	"github.com/gatestream/gatestream/internal/pathcheck"
	"github.com/gatestream/gatestream/internal/soracom"
	"github.com/gatestream/gatestream/internal/unit"
)

// Pass is what the units of one reconcile pass share. Units record what they
// observe in Env.Status (written once at the end of the pass by the reconciler).
type Pass struct {
	Env     *accessv1alpha1.RemoteAccessEnvironment
	Soracom *soracom.Client
	AWS     *aws.Clients
	Now     time.Time
	Log     logr.Logger
	// Event records a Kubernetes Event on the environment (never with secrets).
	Event func(eventType, reason, action, note string)
	// PersistStatus writes Env.Status immediately (optimistic concurrency). Used
	// only around creates of objects with server-generated IDs, so that the ID
	// (or the intent to create) is never lost.
	PersistStatus func(ctx context.Context) error
	// Orig is the status as fetched (status is written only when it differs).
	Orig *accessv1alpha1.RemoteAccessEnvironmentStatus
	// TransitionWait is how long to wait before looking again at an object
	// that is changing state (VPG creating, fleet starting…).
	TransitionWait time.Duration
	// PollInterval is how long to wait for a fix that only a person can make
	// (an Observation with a negative Wait).
	PollInterval time.Duration

	// LANRoutes are the lanRoutes of the DeviceGroups bound to the environment
	// (set by the reconciler from its cache): their CIDRs are routed to the router.
	LANRoutes []LANRoute
	// Devices are the named devices of those DeviceGroups with their SIMs'
	// observed state (from the DeviceGroups' status): each gets a path check.
	Devices []DeviceTarget
	// LiveSessions counts the environment's live StreamingSessions (Pending,
	// Ready or Active), for capacity Demand (set by the reconciler from its cache).
	LiveSessions int
	// SessionsIssued are the environment's cached sessions that were given
	// access, for status.usage (sessions served, Napter time).
	SessionsIssued []IssuedSession
	// Wake is when a ready environment wants its next pass by time alone
	// (capacity Demand: a schedule boundary, the idle time running out, a
	// fleet starting); 0: the poll interval. Set through WakeIn.
	Wake time.Duration
	// RouterConfigs remembers the parsed user data of existing routers across
	// passes (user data cannot change while an instance runs).
	RouterConfigs *RouterConfigCache
	// ClusterName is the manager's --cluster-name: the external objects carry
	// the stable identity it makes, and adopt what carries it ("": by UID only).
	ClusterName string

	// Shared observations, so that no object is read twice in a pass.
	vpg *soracom.VirtualPrivateGateway
	// gatePeers are the gateway's Gate peers (own and customer's), listed by the Gate unit.
	gatePeers []soracom.GatePeer
	vpc       *netip.Prefix
	subnets   map[string]ec2types.Subnet
	// routers are the routers observed in this pass, by slot (for the path check and the routes).
	routers   map[int]pathcheck.Router
	routerFix map[int]routerFix
	// vpcTables are the VPC's route tables, read once; a route write forgets them.
	vpcTables     []ec2types.RouteTable
	vpcTablesRead bool

	base *unit.Base
}

// Owner is the environment as the owner of its external objects.
func (p *Pass) Owner() ownership.Owner {
	return ownership.Owner{Cluster: p.ClusterName, Kind: "RemoteAccessEnvironment",
		Namespace: p.Env.Namespace, Name: p.Env.Name, UID: string(p.Env.UID)}
}

// IssuedSession is a session that was given access: when, and for a Napter
// session the duration of its port mapping (0 for AppStream).
type IssuedSession struct {
	At     time.Time
	Napter time.Duration
}

// WakeIn asks for a pass within d (d <= 0: nothing).
func (p *Pass) WakeIn(d time.Duration) { p.Wake = unit.MinWait(p.Wake, d) }

// Observation is what Observe found (the shared contract).
type Observation = unit.Observation

// Unit is one external object of an environment.
type Unit = unit.Unit[*Pass]

// UnitBase gives the shared runner the environment's conditions, generation,
// clock and waits (built once per pass).
func (p *Pass) UnitBase() *unit.Base {
	if p.base == nil {
		p.base = &unit.Base{
			Conditions:     &p.Env.Status.Conditions,
			Generation:     p.Env.Generation,
			Now:            p.Now,
			TransitionWait: p.TransitionWait,
			PollInterval:   p.PollInterval,
			Persist:        p.PersistStatus,
		}
	}
	return p.base
}

// routeTables returns the VPC's route tables, read once per pass (the units
// that check or write routes share them).
func (p *Pass) routeTables(ctx context.Context) ([]ec2types.RouteTable, error) {
	if !p.vpcTablesRead {
		tables, err := p.AWS.EC2.RouteTablesOfVPC(ctx, p.Env.Spec.AWS.VPCID)
		if err != nil {
			return nil, fmt.Errorf("reading the route tables of %s: %w", p.Env.Spec.AWS.VPCID, err)
		}
		p.vpcTables, p.vpcTablesRead = tables, true
	}
	return p.vpcTables, nil
}

// routesChanged forgets the route tables read so far: a unit wrote a route.
func (p *Pass) routesChanged() { p.vpcTables, p.vpcTablesRead = nil, false }
