// Package soracom is an in-process emulator of the SORACOM REST API (/v1)
// as an http.Handler: authentication and tokens, Virtual Private Gateways
// with Gate (and SIM-based routing), Junction and Canal (VPC peering), SIM
// groups and their configuration, and SIMs with sessions. NetworkSnapshot
// hands the data plane to Go code (a packet walker, tests).
//
// It follows the official definition (soracom-cli's
// generators/assets/soracom-api.en.yaml) and
// /work/shared/reference/soracom-api.md. Where they leave a behaviour open
// (UNCONFIRMED), the choice made here is commented with "GUESS" next to the
// code that implements it.
//
// Timing is computed lazily from Options.Clock on each request (a VPG is
// "creating" until VPGCreateDelay has passed since its creation, and so on);
// there are no goroutines or timers, so tests can drive it with a fake clock.
//
// The code is split between protocol (http.go, http_*.go, errors.go: routing,
// headers, JSON) and state (state.go, auth.go, vpg.go, groups.go, sims.go:
// plain Go methods that hold the rules).
package soracom

import (
	"net/http"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/gatestream/gatestream/internal/emulator/fault"
)

// API is the name of this API in the fault injector and its call log.
const API = "soracom"

// Operation names (soracom-cli style operation ids) used in the fault
// injector's rules and call log.
const (
	OpAuth              = "auth"
	OpLogout            = "logout"
	OpGenerateAuthToken = "generateAuthToken"

	OpCreateVPG                   = "createVirtualPrivateGateway"
	OpListVPGs                    = "listVirtualPrivateGateways"
	OpGetVPG                      = "getVirtualPrivateGateway"
	OpTerminateVPG                = "terminateVirtualPrivateGateway"
	OpPutVPGTags                  = "updateVirtualPrivateGatewayTags"
	OpDeleteVPGTag                = "deleteVirtualPrivateGatewayTag"
	OpOpenGate                    = "openGate"
	OpCloseGate                   = "closeGate"
	OpEnableGatePrivacySeparator  = "enableGatePrivacySeparator"
	OpDisableGatePrivacySeparator = "disableGatePrivacySeparator"
	OpSetVxlanID                  = "setVirtualPrivateGatewayVxLanId"
	OpListGatePeers               = "listGatePeers"
	OpRegisterGatePeer            = "registerGatePeer"
	OpUnregisterGatePeer          = "unregisterGatePeer"
	OpEnableSimBasedRouting       = "enableSimBasedRouting"
	OpDisableSimBasedRouting      = "disableSimBasedRouting"
	OpPutSimBasedRoutes           = "putSimBasedRoutingRoutes"
	OpCreateVPCPeering            = "createVpcPeeringConnection"
	OpDeleteVPCPeering            = "deleteVpcPeeringConnection"
	OpCreateMirroringPeer         = "createMirroringPeer"
	OpUpdateMirroringPeer         = "updateMirroringPeer"
	OpDeleteMirroringPeer         = "deleteMirroringPeer"
	OpSetInspection               = "setInspectionConfiguration"
	OpUnsetInspection             = "unsetInspectionConfiguration"
	OpSetRedirection              = "setRedirectionConfiguration"
	OpUnsetRedirection            = "unsetRedirectionConfiguration"

	OpCreateGroup          = "createGroup"
	OpListGroups           = "listGroups"
	OpGetGroup             = "getGroup"
	OpDeleteGroup          = "deleteGroup"
	OpPutGroupTags         = "putGroupTags"
	OpDeleteGroupTag       = "deleteGroupTag"
	OpPutGroupConfig       = "putConfigurationParameters"
	OpDeleteGroupNamespace = "deleteConfigurationNamespace"
	OpDeleteGroupConfigKey = "deleteConfigurationParameter"
	OpListGroupSubscribers = "listSubscribersInGroup"

	OpListSims      = "listSims"
	OpGetSim        = "getSim"
	OpSetSimGroup   = "setSimGroup"
	OpUnsetSimGroup = "unsetSimGroup"
	OpDeleteSession = "deleteSimSession"

	// OpUnknown names requests that match no route (404/405).
	OpUnknown = "unknown"
)

// SoracomAWSAccountID is the fake AWS account that owns SORACOM's side of
// every Canal peering (the requester).
const SoracomAWSAccountID = "950858143650"

// Coverages (Options.Coverage).
const (
	CoverageJapan  = "jp"
	CoverageGlobal = "g"
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// Coverage is "jp" (Japan, the default) or "g" (Global). It picks the
	// region of a VPG created without placement.region: ap-northeast-1 on
	// Japan coverage, eu-central-1 on Global (definition:
	// CreateVirtualPrivateGatewayRequest.placement.region and Placement.region).
	Coverage string
	// Clock drives every state machine (default clock.RealClock{}).
	Clock clock.PassiveClock
	// Faults is the shared fault injector (default fault.New(1)).
	Faults *fault.Injector
	// VPGCreateDelay is how long a VPG stays "creating" (default 0: running at the first read).
	VPGCreateDelay time.Duration
	// VPGTerminateDelay is how long a VPG stays "terminating" before it is gone (404).
	VPGTerminateDelay time.Duration
	// TokenTTL is the default token lifetime (default 24h); tokenTimeoutSeconds overrides it.
	TokenTTL time.Duration
	// RateLimitPerMinute limits calls per operator (per source IP for /auth),
	// per path template, per minute; 0 means unlimited.
	RateLimitPerMinute int
	// PageSize is the largest page a list call returns (default 100); `limit` can only lower it.
	PageSize int
	// Peering is the AWS side of Canal; nil records peerings on the VPG only.
	Peering PeeringBackend
}

// PeeringBackend is the AWS side of Canal (implemented by the AWS emulator, glued in internal/emulator).
type PeeringBackend interface {
	// RequestPeering creates a VPC peering connection requested by SORACOM's
	// VPC (requesterCIDR is the VPG's vpgSubnetCidrRange) towards the
	// customer's VPC; it is pending-acceptance on the AWS side. Returns the pcx-… id.
	RequestPeering(requesterOwnerID, requesterVPCID, requesterCIDR, peerOwnerID, peerVPCID, peerRegion string) (string, error)
	// DeletePeering deletes a peering; already gone is not an error.
	DeletePeering(pcxID string) error
}

// Server is the emulator. It is safe for concurrent use.
type Server struct {
	opts    Options
	clock   clock.PassiveClock
	faults  *fault.Injector
	peering PeeringBackend

	mu sync.Mutex
	st *state
	// exhausted: operation -> when its quota refreshes, after an injected
	// throttle (errorWriter.WriteThrottle).
	exhausted map[string]time.Time

	mux     *http.ServeMux
	ops     map[string]string // mux pattern -> operation
	handler http.Handler
}

// New returns an emulator with no operators, SIMs or resources.
func New(opts Options) *Server {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Faults == nil {
		opts.Faults = fault.New(1)
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 24 * time.Hour
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 100
	}
	switch opts.Coverage {
	case "":
		opts.Coverage = CoverageJapan
	case CoverageJapan, CoverageGlobal:
	default:
		panic(`soracom emulator: Options.Coverage must be "jp" or "g", not ` + opts.Coverage)
	}
	s := &Server{
		opts:      opts,
		clock:     opts.Clock,
		faults:    opts.Faults,
		peering:   opts.Peering,
		st:        newState(),
		exhausted: map[string]time.Time{},
	}
	s.routes()
	s.handler = s.faults.Middleware(API, s.opOf, errorWriter{s: s}, http.HandlerFunc(s.serve))
	return s
}

// Handler serves /v1/... wrapped in the fault middleware.
func (s *Server) Handler() http.Handler { return s.handler }

// ThrottledUntil is when the last quota an injected throttle ran out
// refreshes: until then SORACOM still refuses that operation, so a chaos
// of throttles is over only then (zero if none ran out).
func (s *Server) ThrottledUntil() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var last time.Time
	for _, t := range s.exhausted {
		if t.After(last) {
			last = t
		}
	}
	return last
}

// RefreshQuotas ends every refusal an injected throttle started, as if
// each quota's minute had ended (the admin API's DELETE /faults).
func (s *Server) RefreshQuotas() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.exhausted)
}

// quotaRefusal reports whether op's quota, run out by an injected throttle,
// has not refreshed yet, and the whole seconds until it does.
func (s *Server) quotaRefusal(op string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	until, ok := s.exhausted[op] // kept after it passes: one entry per operation at most
	now := s.clock.Now()
	if !ok || !now.Before(until) {
		return 0, false
	}
	return int((until.Sub(now) + time.Second - 1) / time.Second), true
}

// Faults returns the fault injector (rules and call log).
func (s *Server) Faults() *fault.Injector { return s.faults }

// lock takes the state lock and returns the current time and an unlock function.
func (s *Server) lock() (time.Time, func()) {
	s.mu.Lock()
	now := s.clock.Now()
	s.st.sweep(now, s.opts.VPGTerminateDelay)
	// Expired Napter entries lose their real endpoints as soon as anything
	// observes the state (the clock may be a fake one that nobody ticks).
	closers := s.st.napter.expiredClosersLocked(now)
	if len(closers) == 0 {
		return now, s.mu.Unlock
	}
	return now, func() {
		s.mu.Unlock()
		for _, f := range closers {
			f()
		}
	}
}
