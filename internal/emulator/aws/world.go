// Package aws emulates the parts of Amazon AppStream 2.0 (awsJson1_1,
// PhotonAdminProxyService.*) and Amazon EC2 (query protocol, XML) that
// gatestream uses, as in-process http.Handlers sharing one AWS world.
//
// Layout: world.go holds the shared state and its Go API (seeding and
// inspection); state_appstream.go (fleet capacity and usage in
// state_appstream_capacity.go), state_ec2.go and state_instances.go (EC2
// instances, network interfaces, security group rules and the
// NetworkSnapshot for packet walkers) implement the services' behaviour on
// protocol-neutral Go types; proto_json.go (awsJson1_1), proto_query.go and
// proto_query_instances.go (EC2 query/XML) are the wire layers; streaming.go serves the
// streaming URLs minted by CreateStreamingURL. AWS has announced a move of
// AppStream to Smithy RPC v2 CBOR: a CBOR wire layer only has to decode into
// the same input structs (keyed by model member names) and encode the same
// output types.
//
// Time never advances by itself: every state machine (fleet start/stop and instances,
// session and URL expiry, peering expiry, instance states) is computed lazily from
// Options.Clock on each request, so tests drive it with a fake clock.
package aws

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/gatestream/gatestream/internal/emulator/fault"
)

// Options configures a World.
type Options struct {
	// Clock drives every state machine; default clock.RealClock.
	Clock clock.PassiveClock
	// Faults is shared by both handlers; default fault.New(1).
	Faults *fault.Injector
	// AccountID owns every resource of the world; default "123456789012".
	AccountID string
	// Region of both services; requests signed for another region are refused. Default "ap-northeast-1".
	Region string
	// FleetStartDelay is the time a fleet spends in STARTING, FleetStopDelay in STOPPING. Default 0.
	FleetStartDelay, FleetStopDelay time.Duration
	// StreamingBaseURL is the base of minted streaming URLs (e.g. the AppStream
	// server's own URL). When empty, the Host of the CreateStreamingURL request is used.
	StreamingBaseURL string
	// PageSize is the AppStream page size of DescribeFleets, DescribeStacks,
	// ListAssociatedStacks and ListAssociatedFleets (the service's own size is
	// undocumented). Default 25.
	PageSize int
	// MaxFleets and MaxStacks are account quotas; creating more returns
	// LimitExceededException. 0 means unlimited.
	MaxFleets, MaxStacks int
	// InstanceStartDelay is the time an EC2 instance spends in pending (after
	// RunInstances or StartInstances), InstanceStopDelay in stopping and
	// InstanceTerminateDelay in shutting-down. Default 0: the next request
	// after the call sees the instance running, stopped or terminated.
	InstanceStartDelay, InstanceStopDelay, InstanceTerminateDelay time.Duration
	// InstanceStatusInitDelay is how long DescribeInstanceStatus reports a
	// running instance's checks as "initializing" before "ok". Default 0.
	InstanceStatusInitDelay time.Duration
	// FleetInstanceStartDelay is how long the instances added to a RUNNING
	// AppStream fleet (UpdateFleet raising its desired capacity) stay pending
	// before they run and can take sessions. A starting fleet comes up with its
	// desired instances running (after FleetStartDelay). Default 0: at once.
	// (Not InstanceStartDelay, which is the EC2 instances' delay.)
	FleetInstanceStartDelay time.Duration
}

// World is one AWS account in one region, shared by the AppStream and EC2
// emulators. It is safe for concurrent use.
type World struct {
	mu         sync.Mutex
	clock      clock.PassiveClock
	faults     *fault.Injector
	account    string
	region     string
	startDelay time.Duration
	stopDelay  time.Duration
	// fleetInstStart is Options.FleetInstanceStartDelay.
	fleetInstStart time.Duration
	pageSize       int
	maxFleets      int
	maxStacks      int
	streamingBase  string
	suspended      bool
	reachability   func(Session) string
	seq            uint64

	// AppStream
	fleets   map[string]*fleetRec
	stacks   map[string]*stackRec
	assoc    map[assocKey]bool
	images   map[string]*Image
	tags     map[string]map[string]string // by ARN
	urls     map[string]*urlRec           // by token
	sessions map[string]*Session

	// EC2
	vpcs        map[string]*VPC
	subnets     map[string]*Subnet
	routeTables map[string]*RouteTable
	sgs         map[string]*SecurityGroup
	peerings    map[string]*peeringRec
	broken      map[string]FleetError // subnet ID -> error fleets get

	// EC2 instances (state_instances.go)
	instances     map[string]*instanceRec
	enis          map[string]*NetworkInterface
	amis          map[string]*AMI
	ssmParams     map[string]string    // public SSM parameter name -> AMI ID
	clientTokens  map[string]*tokenRec // RunInstances ClientToken -> what it launched
	instStart     time.Duration
	instStop      time.Duration
	instTerminate time.Duration
	instInit      time.Duration
}

// New returns an empty world.
func New(opts Options) *World {
	w := &World{
		clock:          opts.Clock,
		faults:         opts.Faults,
		account:        opts.AccountID,
		region:         opts.Region,
		startDelay:     opts.FleetStartDelay,
		stopDelay:      opts.FleetStopDelay,
		fleetInstStart: opts.FleetInstanceStartDelay,
		pageSize:       opts.PageSize,
		maxFleets:      opts.MaxFleets,
		maxStacks:      opts.MaxStacks,
		streamingBase:  opts.StreamingBaseURL,
		fleets:         map[string]*fleetRec{},
		stacks:         map[string]*stackRec{},
		assoc:          map[assocKey]bool{},
		images:         map[string]*Image{},
		tags:           map[string]map[string]string{},
		urls:           map[string]*urlRec{},
		sessions:       map[string]*Session{},
		vpcs:           map[string]*VPC{},
		subnets:        map[string]*Subnet{},
		routeTables:    map[string]*RouteTable{},
		sgs:            map[string]*SecurityGroup{},
		peerings:       map[string]*peeringRec{},
		broken:         map[string]FleetError{},
		instances:      map[string]*instanceRec{},
		enis:           map[string]*NetworkInterface{},
		amis:           map[string]*AMI{},
		ssmParams:      map[string]string{},
		clientTokens:   map[string]*tokenRec{},
		instStart:      opts.InstanceStartDelay,
		instStop:       opts.InstanceStopDelay,
		instTerminate:  opts.InstanceTerminateDelay,
		instInit:       opts.InstanceStatusInitDelay,
	}
	if w.clock == nil {
		w.clock = clock.RealClock{}
	}
	if w.faults == nil {
		w.faults = fault.New(1)
	}
	if w.account == "" {
		w.account = "123456789012"
	}
	if w.region == "" {
		w.region = "ap-northeast-1"
	}
	if w.pageSize <= 0 {
		w.pageSize = 25
	}
	w.seedPublicAMIs()
	return w
}

// Faults returns the fault injector shared by both handlers.
func (w *World) Faults() *fault.Injector { return w.faults }

// AccountID returns the world's account.
func (w *World) AccountID() string { return w.account }

// Region returns the world's region.
func (w *World) Region() string { return w.region }

// SetStreamingBaseURL sets the base of streaming URLs minted from now on.
func (w *World) SetStreamingBaseURL(u string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.streamingBase = u
}

// SetAccountSuspended makes mutating AppStream calls fail with InvalidAccountStatusException.
func (w *World) SetAccountSuspended(suspended bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.suspended = suspended
}

// AppStreamHandler serves the AppStream API (POST / with X-Amz-Target) and
// the streaming pages (GET /streaming/<token>), behind the fault injector.
func (w *World) AppStreamHandler() http.Handler {
	api := w.faults.Middleware("appstream", appStreamOpOf, jsonFaultErrors{}, http.HandlerFunc(w.serveJSON))
	streaming := w.faults.Middleware("appstream", func(*http.Request) string { return OpOpenStreamingURL },
		htmlFaultErrors{}, http.HandlerFunc(w.serveStreaming))
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if len(r.URL.Path) > len(streamingPath) && r.URL.Path[:len(streamingPath)] == streamingPath {
			streaming.ServeHTTP(rw, r)
			return
		}
		api.ServeHTTP(rw, r)
	})
}

// EC2Handler serves the EC2 query API (POST / form-encoded Action=…&Version=2016-11-15), behind the fault injector.
func (w *World) EC2Handler() http.Handler {
	return w.faults.Middleware("ec2", ec2OpOf, xmlFaultErrors{}, http.HandlerFunc(w.serveQuery))
}

// now reads the clock and brings every lazily computed state machine up to
// date. It must be called with w.mu held.
func (w *World) now() time.Time {
	t := w.clock.Now()
	for _, f := range w.fleets {
		w.advanceFleet(f, t) // its sessions' expiry included, in time order
	}
	for _, s := range w.sessions { // sessions of no fleet
		if s.State != SessionExpired && !s.MaxExpirationTime.IsZero() && !t.Before(s.MaxExpirationTime) {
			w.endSession(s)
		}
	}
	for _, p := range w.peerings {
		w.tickPeering(p, t)
	}
	w.tickInstances(t)
	return t
}

// newID returns a deterministic EC2-style ID: prefix-0 followed by 16 hex digits.
func (w *World) newID(prefix string) string {
	w.seq++
	x := w.seq * 0x9e3779b97f4a7c15
	x ^= x >> 29
	return fmt.Sprintf("%s-0%016x", prefix, x)
}

// randomToken returns n random bytes, URL-safe base64 encoded (unguessable).
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newUUID returns a random RFC 4122 version 4 UUID.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// APIError is an error of an emulated service, independent of the wire
// protocol: Code is the AWS error code (AppStream `__type`, EC2 `<Code>`).
type APIError struct {
	Code    string
	Message string
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

func apiErr(code, format string, args ...any) *APIError {
	return &APIError{Code: code, Message: fmt.Sprintf(format, args...)}
}
