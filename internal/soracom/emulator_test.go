package soracom_test

// End-to-end tests of the client against the SORACOM emulator
// (internal/emulator/soracom) served over real HTTP, with a fake clock shared
// by the emulator (VPG creation, token expiry) and the client (token refresh).

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gatestream/gatestream/internal/emulator/fault"
	emu "github.com/gatestream/gatestream/internal/emulator/soracom"
	"github.com/gatestream/gatestream/internal/soracom"
)

const (
	emuOperator = "OP0099887766"
	emuKeyID    = "keyId-emulator"
	emuKey      = "secret-emulator-key"
	ownerTag    = "gatestream.io/owner-uid"
)

type emuEnv struct {
	srv    *emu.Server
	ts     *httptest.Server
	clk    *clocktesting.FakeClock
	faults *fault.Injector
	sleeps *recSleep
	c      *soracom.Client
}

type recSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (r *recSleep) Sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waits = append(r.waits, d)
	return ctx.Err()
}

func (r *recSleep) Waits() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.waits)
}

func newEmuEnv(t *testing.T, opts emu.Options) *emuEnv {
	t.Helper()
	e := &emuEnv{clk: clocktesting.NewFakeClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)), faults: fault.New(7), sleeps: &recSleep{}}
	opts.Clock, opts.Faults = e.clk, e.faults
	e.srv = emu.New(opts)
	e.srv.AddOperator(emuOperator, emuKeyID, emuKey)
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	e.c = e.newClient(t)
	return e
}

func (e *emuEnv) newClient(t *testing.T) *soracom.Client {
	t.Helper()
	c, err := soracom.New(soracom.Options{
		Coverage:    soracom.CoverageJapan,
		Endpoint:    e.ts.URL,
		Credentials: soracom.Credentials{AuthKeyID: emuKeyID, AuthKey: emuKey},
		Sleep:       e.sleeps.Sleep,
		Now:         e.clk.Now,
		Timeout:     10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *emuEnv) count(op string) int { return e.faults.Count(emu.API, op) }

// ctx has room for the capped 60 s throttle wait check (the fake sleep returns at once).
func emuCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// res lets a (value, error) call be checked inline: get(c.GetSim(ctx, id)).must(t).
type res[T any] struct {
	v   T
	err error
}

func get[T any](v T, err error) res[T] { return res[T]{v, err} }

func (r res[T]) must(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestEmulatorEndToEnd(t *testing.T) {
	e := newEmuEnv(t, emu.Options{VPGCreateDelay: 3 * time.Minute, PageSize: 2})
	ctx := emuCtx(t)
	c := e.c
	for i := range 5 {
		e.srv.AddSIM(emu.SIM{ID: fmt.Sprintf("89811000000000000%02d", i), IMSI: fmt.Sprintf("4401000000000%02d", i), Online: i != 4})
	}

	// --- VPG: look up by owner tag, create, wait for running ---
	tags := map[string]string{ownerTag: "uid-1", "name": "factory-floor"}
	found := get(c.ListVirtualPrivateGateways(ctx, soracom.ListOptions{TagName: ownerTag, TagValue: "uid-1"})).must(t)
	if len(found) != 0 {
		t.Fatalf("found %d VPGs before create", len(found))
	}
	vpg := get(c.CreateVirtualPrivateGateway(ctx, &soracom.CreateVirtualPrivateGatewayRequest{
		Type: soracom.VPGTypeF, DeviceSubnetCIDRRange: "10.128.0.0/9", Placement: &soracom.Placement{Region: "ap-northeast-1"}, Tags: tags,
	})).must(t)
	if vpg.VPGID == "" || vpg.Status != soracom.VPGStatusCreating || vpg.Type != soracom.VPGTypeF || vpg.UseInternetGateway {
		t.Fatalf("created %+v", vpg)
	}
	found = get(c.ListVirtualPrivateGateways(ctx, soracom.ListOptions{TagName: ownerTag, TagValue: "uid-1"})).must(t)
	if len(found) != 1 || found[0].VPGID != vpg.VPGID {
		t.Fatalf("lookup by tag = %+v", found)
	}
	// Gate needs a running VPG: a terminal 400, not retried.
	err := c.OpenGate(ctx, vpg.VPGID, 10, true)
	if soracom.StatusCode(err) != 400 || soracom.Retryable(err) || e.count("openGate") != 1 {
		t.Fatalf("OpenGate while creating: %v (calls %d)", err, e.count("openGate"))
	}
	e.clk.Step(3 * time.Minute)
	vpg = get(c.GetVirtualPrivateGateway(ctx, vpg.VPGID)).must(t)
	if vpg.Status != soracom.VPGStatusRunning || vpg.VPGSubnetCIDRRange == "" || vpg.Placement.Region != "ap-northeast-1" || vpg.Tags["name"] != "factory-floor" {
		t.Fatalf("vpg = %+v", vpg)
	}
	check(t, c.PutVirtualPrivateGatewayTags(ctx, vpg.VPGID, map[string]string{"env": "test"}))

	// --- Gate ---
	check(t, c.OpenGate(ctx, vpg.VPGID, 10, true))
	vpg = get(c.GetVirtualPrivateGateway(ctx, vpg.VPGID)).must(t)
	if !vpg.GateOpened || vpg.GateVXLANID != 10 || !vpg.GatePrivacySeparatorEnabled || vpg.Tags["env"] != "test" {
		t.Fatalf("after open: %+v", vpg)
	}
	peer := get(c.RegisterGatePeer(ctx, vpg.VPGID, &soracom.RegisterGatePeerRequest{OuterIPAddress: "10.0.1.10", InnerIPAddress: "10.128.255.1"})).must(t)
	if !peer.OwnedByCustomer || peer.InnerIPAddress != "10.128.255.1" {
		t.Fatalf("peer = %+v", peer)
	}
	_, err = c.RegisterGatePeer(ctx, vpg.VPGID, &soracom.RegisterGatePeerRequest{OuterIPAddress: "10.0.1.10"})
	if soracom.StatusCode(err) != 400 {
		t.Fatalf("duplicate peer: %v", err)
	}
	peers := get(c.ListGatePeers(ctx, vpg.VPGID)).must(t)
	var customer []string
	for _, p := range peers {
		if p.OwnedByCustomer {
			customer = append(customer, p.OuterIPAddress)
		}
	}
	if len(peers) < 2 || !slices.Equal(customer, []string{"10.0.1.10"}) {
		t.Fatalf("peers = %+v", peers)
	}
	check(t, c.SetGateVXLANID(ctx, vpg.VPGID, 20))
	check(t, c.DisableGatePrivacySeparator(ctx, vpg.VPGID))
	vpg = get(c.GetVirtualPrivateGateway(ctx, vpg.VPGID)).must(t)
	if vpg.GateVXLANID != 20 || vpg.GatePrivacySeparatorEnabled {
		t.Fatalf("after vxlan/privacy: %+v", vpg)
	}
	check(t, c.EnableGatePrivacySeparator(ctx, vpg.VPGID))

	// --- SIM-based routing ---
	check(t, c.EnableSimBasedRouting(ctx, vpg.VPGID))
	routes := map[string]string{"8981100000000000001": "192.168.1.0/24"}
	check(t, c.PutSimBasedRoutingRoutes(ctx, vpg.VPGID, routes))
	// The routes are read back from the VPG (the API has no GET of them).
	vpg = get(c.GetVirtualPrivateGateway(ctx, vpg.VPGID)).must(t)
	if got := vpg.SimBasedRoutes(); !vpg.EnableSimBasedRouting || !mapsEqual(got, routes) || !mapsEqual(vpg.SimBasedRoutingConfig, routes) {
		t.Fatalf("routes = %v (enabled %v)", got, vpg.EnableSimBasedRouting)
	}

	// --- Canal ---
	pcx := get(c.CreateVPCPeeringConnection(ctx, vpg.VPGID, &soracom.CreateVPCPeeringConnectionRequest{
		DestinationCIDRBlock: "10.0.0.0/16", PeerOwnerID: "123456789012", PeerRegion: "ap-northeast-1", PeerVPCID: "vpc-0abc",
	})).must(t)
	vpg = get(c.GetVirtualPrivateGateway(ctx, vpg.VPGID)).must(t)
	if pcx.ID == "" || !slices.Equal(vpg.VPCPeeringConnectionIDs(), []string{pcx.ID}) {
		t.Fatalf("pcx %+v, vpg peerings %v", pcx, vpg.VPCPeeringConnections)
	}

	// --- Group bound to the VPG ---
	g := get(c.CreateGroup(ctx, &soracom.CreateGroupRequest{Tags: map[string]string{ownerTag: "uid-2", "name": "line-a"}})).must(t)
	g = get(c.PutGroupConfiguration(ctx, g.GroupID, soracom.NamespaceSoracomAir, []soracom.KeyValue{
		{Key: soracom.KeyUseVPG, Value: true}, {Key: soracom.KeyVPGID, Value: vpg.VPGID}, {Key: "useCustomDns", Value: false},
	})).must(t)
	if air := g.Configuration[soracom.NamespaceSoracomAir]; air[soracom.KeyUseVPG] != true || air[soracom.KeyVPGID] != vpg.VPGID {
		t.Fatalf("group config = %+v", g.Configuration)
	}
	g = get(c.PutGroupTags(ctx, g.GroupID, map[string]string{"site": "osaka"})).must(t)
	if g.Tags["site"] != "osaka" || g.Tags["name"] != "line-a" {
		t.Fatalf("group tags = %v", g.Tags)
	}
	groups := get(c.ListGroups(ctx, soracom.ListOptions{TagName: ownerTag, TagValue: "uid-2"})).must(t)
	if len(groups) != 1 || groups[0].GroupID != g.GroupID {
		t.Fatalf("groups by tag = %+v", groups)
	}
	check(t, c.DeleteGroupConfigurationParameter(ctx, g.GroupID, soracom.NamespaceSoracomAir, "useCustomDns"))
	g = get(c.GetGroup(ctx, g.GroupID)).must(t)
	if _, ok := g.Configuration[soracom.NamespaceSoracomAir]["useCustomDns"]; ok {
		t.Fatalf("key not deleted: %+v", g.Configuration)
	}

	// --- SIMs: membership, paged listing, sessions ---
	sims := get(c.ListSims(ctx, soracom.PageOptions{})).must(t)
	if len(sims) != 5 || e.count("listSims") != 3 {
		t.Fatalf("sims = %d in %d calls", len(sims), e.count("listSims"))
	}
	for _, s := range sims {
		got := get(c.SetSimGroup(ctx, s.SimID, g.GroupID)).must(t)
		if got.GroupID != g.GroupID {
			t.Fatalf("set_group: %+v", got)
		}
	}
	var pageSizes []int
	check(t, c.ListSubscribersInGroupPages(ctx, g.GroupID, soracom.PageOptions{}, func(p []soracom.SIM) bool {
		pageSizes = append(pageSizes, len(p))
		return true
	}))
	if !slices.Equal(pageSizes, []int{2, 2, 1}) || e.count("listSubscribersInGroup") != 3 {
		t.Fatalf("pages %v in %d calls", pageSizes, e.count("listSubscribersInGroup"))
	}
	subs := get(c.ListSubscribersInGroup(ctx, g.GroupID, soracom.PageOptions{Limit: 1})).must(t)
	if len(subs) != 5 || e.count("listSubscribersInGroup") != 8 {
		t.Fatalf("subs %d, calls %d", len(subs), e.count("listSubscribersInGroup"))
	}

	// The group change reaches the sessions only after delete_session.
	online, offline := sims[0].SimID, sims[4].SimID
	if s := get(c.GetSim(ctx, online)).must(t); s.SessionStatus.VPGID != "" {
		t.Fatalf("session already on the VPG: %+v", s.SessionStatus)
	}
	check(t, c.DeleteSimSession(ctx, online))
	s := get(c.GetSim(ctx, online)).must(t)
	if !s.SessionStatus.Online || s.SessionStatus.VPGID != vpg.VPGID || s.SessionStatus.UEIPAddress == "" || s.GroupID != g.GroupID {
		t.Fatalf("after delete_session: %+v", s)
	}
	err = c.DeleteSimSession(ctx, offline)
	if !soracom.IsSubscriberOffline(err) || !soracom.IsCode(err, "SEM0016") || soracom.Retryable(err) || e.count("deleteSimSession") != 2 {
		t.Fatalf("offline delete_session: %v (calls %d)", err, e.count("deleteSimSession"))
	}
	if _, err := c.GetSim(ctx, "no-such-sim"); !soracom.IsNotFound(err) {
		t.Fatalf("GetSim missing: %v", err)
	}

	// --- teardown, with "already gone" as success ---
	check(t, c.UnsetSimGroup(ctx, online))
	check(t, c.DeleteGroupConfigurationNamespace(ctx, g.GroupID, soracom.NamespaceSoracomAir))
	check(t, c.DeleteGroup(ctx, g.GroupID))
	if err := c.DeleteGroup(ctx, g.GroupID); !soracom.IsNotFound(err) || soracom.IgnoreNotFound(err) != nil {
		t.Fatalf("second DeleteGroup: %v", err)
	}
	check(t, c.UnregisterGatePeer(ctx, vpg.VPGID, "10.0.1.10"))
	if err := c.UnregisterGatePeer(ctx, vpg.VPGID, "10.0.1.10"); !soracom.IsNotFound(err) {
		t.Fatalf("second UnregisterGatePeer: %v", err)
	}
	check(t, c.DisableSimBasedRouting(ctx, vpg.VPGID))
	check(t, c.DeleteVPCPeeringConnection(ctx, vpg.VPGID, pcx.ID))
	if err := c.DeleteVPCPeeringConnection(ctx, vpg.VPGID, pcx.ID); !soracom.IsNotFound(err) {
		t.Fatalf("second DeleteVPCPeeringConnection: %v", err)
	}
	check(t, c.CloseGate(ctx, vpg.VPGID))
	check(t, c.TerminateVirtualPrivateGateway(ctx, vpg.VPGID))

	// One authentication for the whole run; nothing was retried.
	if n := e.count("auth"); n != 1 {
		t.Fatalf("auth calls = %d, want 1", n)
	}
	if e.srv.VPGsEverCreated() != 1 || len(e.sleeps.Waits()) != 0 {
		t.Fatalf("VPGs created %d, waits %v", e.srv.VPGsEverCreated(), e.sleeps.Waits())
	}
}

func TestEmulatorConcurrentCallsAuthenticateOnce(t *testing.T) {
	e := newEmuEnv(t, emu.Options{})
	ctx := emuCtx(t)
	for i := range 8 {
		e.srv.AddSIM(emu.SIM{ID: fmt.Sprintf("sim-%d", i), Online: true})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			_, err := e.c.GetSim(ctx, fmt.Sprintf("sim-%d", i%8))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		check(t, err)
	}
	if n := e.count("auth"); n != 1 {
		t.Fatalf("auth calls = %d", n)
	}
	if n := e.count("getSim"); n != 32 {
		t.Fatalf("getSim calls = %d", n)
	}
}

func TestEmulatorTokenRefreshAndReauth(t *testing.T) {
	e := newEmuEnv(t, emu.Options{})
	ctx := emuCtx(t)
	e.srv.AddSIM(emu.SIM{ID: "sim-1", Online: true})
	get(e.c.GetSim(ctx, "sim-1")).must(t)

	// 22 h into a 24 h token: refreshed, not re-authenticated.
	e.clk.Step(22 * time.Hour)
	get(e.c.GetSim(ctx, "sim-1")).must(t)
	if a, r := e.count("auth"), e.count("generateAuthToken"); a != 1 || r != 1 {
		t.Fatalf("auth=%d refresh=%d", a, r)
	}
	// The new token is good past the old one's expiry.
	e.clk.Step(3 * time.Hour)
	get(e.c.GetSim(ctx, "sim-1")).must(t)
	if a, r := e.count("auth"), e.count("generateAuthToken"); a != 1 || r != 1 {
		t.Fatalf("auth=%d refresh=%d", a, r)
	}

	// The server invalidates the tokens: the GET gets 401, re-authenticates once and is repeated.
	e.srv.ExpireTokens()
	get(e.c.GetSim(ctx, "sim-1")).must(t)
	if a := e.count("auth"); a != 2 {
		t.Fatalf("auth=%d, want 2", a)
	}
	if n := e.count("getSim"); n != 5 { // 3 earlier, the 401 and its repeat
		t.Fatalf("getSim calls = %d, want 5", n)
	}
}

func TestEmulatorFaults(t *testing.T) {
	e := newEmuEnv(t, emu.Options{})
	ctx := emuCtx(t)
	c := e.c
	tags := map[string]string{ownerTag: "uid-9"}

	// A throttled GET returns at once with the server's Seconds-Before-Refresh
	// (the rest of the emulator's rate-limit minute) for the caller's requeue.
	e.faults.Add(fault.Rule{API: emu.API, Op: "listVirtualPrivateGateways", Kind: fault.Throttle, Times: 1})
	_, err := c.ListVirtualPrivateGateways(ctx, soracom.ListOptions{TagName: ownerTag, TagValue: "uid-9"})
	ae, _ := soracom.AsAPIError(err)
	left := time.Minute - e.clk.Now().Sub(e.clk.Now().Truncate(time.Minute))
	wantWait := (left + time.Second - 1).Truncate(time.Second)
	if !soracom.IsThrottled(err) || ae.RetryAfter != wantWait {
		t.Fatalf("throttled list: %v (%+v), want RetryAfter %v", err, ae, wantWait)
	}
	if w := e.sleeps.Waits(); len(w) != 0 || e.count("listVirtualPrivateGateways") != 1 {
		t.Fatalf("waits %v, calls %d", w, e.count("listVirtualPrivateGateways"))
	}

	// A throttled or failed create is returned, never repeated.
	for _, k := range []fault.Kind{fault.ServerError, fault.Unavailable, fault.Throttle} {
		e.faults.Add(fault.Rule{API: emu.API, Op: "createVirtualPrivateGateway", Kind: k, Times: 1})
		_, err := c.CreateVirtualPrivateGateway(ctx, &soracom.CreateVirtualPrivateGatewayRequest{Type: soracom.VPGTypeF, Tags: tags})
		if !soracom.Retryable(err) {
			t.Fatalf("%v: err = %v", k, err)
		}
	}
	if n, ever := e.count("createVirtualPrivateGateway"), e.srv.VPGsEverCreated(); n != 3 || ever != 0 {
		t.Fatalf("create calls %d, VPGs %d", n, ever)
	}
	// Within the wait the 429 announced, the same request is not sent again.
	e.clk.Step(10 * time.Second)
	_, err = c.CreateVirtualPrivateGateway(ctx, &soracom.CreateVirtualPrivateGatewayRequest{Type: soracom.VPGTypeF, Tags: tags})
	if ae, _ := soracom.AsAPIError(err); !soracom.IsThrottled(err) || !ae.Held || ae.RetryAfter != wantWait-10*time.Second {
		t.Fatalf("create during the wait: %v (%+v), want held with %v left", err, ae, wantWait-10*time.Second)
	}
	if n := e.count("createVirtualPrivateGateway"); n != 3 {
		t.Fatalf("create calls %d: a held request was sent", n)
	}
	e.clk.Step(time.Minute)
	// Lost response: the VPG exists although the call failed; the owner tag finds it.
	e.faults.Add(fault.Rule{API: emu.API, Op: "createVirtualPrivateGateway", Kind: fault.LoseResponse, Times: 1})
	_, err = c.CreateVirtualPrivateGateway(ctx, &soracom.CreateVirtualPrivateGatewayRequest{Type: soracom.VPGTypeF, Tags: tags})
	var te *soracom.TransportError
	if !errors.As(err, &te) || !soracom.Retryable(err) {
		t.Fatalf("lost response: %v", err)
	}
	if n, ever := e.count("createVirtualPrivateGateway"), e.srv.VPGsEverCreated(); n != 4 || ever != 1 {
		t.Fatalf("create calls %d, VPGs %d", n, ever)
	}
	if vs := get(c.ListVirtualPrivateGateways(ctx, soracom.ListOptions{TagName: ownerTag, TagValue: "uid-9"})).must(t); len(vs) != 1 {
		t.Fatalf("lookup after lost response: %d VPGs", len(vs))
	}

	// 5xx on an idempotent call: retried with backoff.
	e.faults.Add(fault.Rule{API: emu.API, Op: "listGroups", Kind: fault.ServerError, Times: 2})
	get(c.ListGroups(ctx, soracom.ListOptions{})).must(t)
	if n := e.count("listGroups"); n != 3 {
		t.Fatalf("listGroups calls = %d", n)
	}
	// Lost response on an idempotent call: retried too.
	e.faults.Add(fault.Rule{API: emu.API, Op: "listGroups", Kind: fault.LoseResponse, Times: 1})
	get(c.ListGroups(ctx, soracom.ListOptions{})).must(t)
	if n := e.count("listGroups"); n != 5 {
		t.Fatalf("listGroups calls = %d", n)
	}
	if e.count("auth") != 1 {
		t.Fatalf("auth calls = %d", e.count("auth"))
	}
}

func TestEmulatorRateLimit(t *testing.T) {
	e := newEmuEnv(t, emu.Options{RateLimitPerMinute: 2})
	ctx := emuCtx(t)
	e.srv.AddSIM(emu.SIM{ID: "sim-1"})
	get(e.c.GetSim(ctx, "sim-1")).must(t)
	get(e.c.GetSim(ctx, "sim-1")).must(t)
	// The third call in the window is throttled; the client returns the 429
	// at once with the announced wait (the caller requeues after it).
	_, err := e.c.GetSim(ctx, "sim-1")
	if !soracom.IsThrottled(err) {
		t.Fatalf("err = %v", err)
	}
	ae, _ := soracom.AsAPIError(err)
	if ae.RetryAfter != time.Minute {
		t.Fatalf("RetryAfter = %v", ae.RetryAfter)
	}
	if n := e.count("getSim"); n != 3 {
		t.Fatalf("getSim calls = %d", n)
	}
	// Once the window has passed the call goes through.
	e.clk.Step(time.Minute)
	get(e.c.GetSim(ctx, "sim-1")).must(t)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
