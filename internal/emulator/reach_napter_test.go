package emulator

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gatestream/gatestream/internal/emulator/reach"
	emusoracom "github.com/gatestream/gatestream/internal/emulator/soracom"
	"github.com/gatestream/gatestream/internal/soracom"
)

const (
	napterPiSIM     = "8981100000000000201" // a Raspberry Pi with the SIM, sshd on 22
	napterRouterSIM = "8981100000000000202" // a cellular router with a PLC behind it
	napterPLC       = "192.168.10.7"
)

var (
	napterAllowed = netip.MustParseAddr("198.51.100.7")
	napterOutside = netip.MustParseAddr("192.0.2.50")
)

type napterEnv struct {
	c   *Cloud
	clk *clocktesting.FakeClock
	sor *soracom.Client
	ctx context.Context
}

func newNapterEnv(t *testing.T) *napterEnv { return newNapterEnvWith(t, Options{}) }

// newNapterEnvWith starts a cloud with opts on a fake clock.
func newNapterEnvWith(t *testing.T, opts Options) *napterEnv {
	t.Helper()
	clk := clocktesting.NewFakeClock(time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC))
	opts.Clock = clk
	c, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	c.Soracom.AddOperator("OP0000000001", "keyId-napter", "secret-napter")
	c.Soracom.AddSIM(emusoracom.SIM{ID: napterPiSIM, IMSI: "440100000000201", Online: true})
	c.Soracom.AddSIM(emusoracom.SIM{ID: napterRouterSIM, IMSI: "440100000000202", Online: true})
	c.AddSIMDevice("raspi", napterPiSIM, 22)
	if err := c.AddLANDevice("plc", napterRouterSIM, napterPLC, 80, 502); err != nil {
		t.Fatal(err)
	}
	sor, err := soracom.New(soracom.Options{
		Endpoint:    c.SoracomURL,
		Credentials: soracom.Credentials{AuthKeyID: "keyId-napter", AuthKey: "secret-napter"},
		Now:         clk.Now,
		MaxRetries:  -1,
		Timeout:     30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return &napterEnv{c: c, clk: clk, sor: sor, ctx: ctx}
}

func (e *napterEnv) create(t *testing.T, simID string, port int, d time.Duration) *soracom.PortMapping {
	t.Helper()
	m, err := e.sor.CreatePortMappingForSIM(e.ctx, simID, soracom.PortMappingRequest{
		Port: port, Service: soracom.NapterServiceAir, Duration: d, SourceRanges: []string{"198.51.100.0/24", "203.0.113.200/32"}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func wantReachable(t *testing.T, r reach.Result) {
	t.Helper()
	if !r.Reachable {
		t.Fatalf("unreachable: %s (trail %v)", r, r.Hops)
	}
	t.Logf("%s", r)
}

func wantBroken(t *testing.T, r reach.Result, kind, reason string) {
	t.Helper()
	if r.Reachable || r.Broken == nil {
		t.Fatalf("reachable: %s", r)
	}
	if r.Broken.Kind != kind || !strings.Contains(r.Broken.Reason, reason) {
		t.Fatalf("broken %s %q, want %s containing %q", r.Broken.Kind, r.Broken.Reason, kind, reason)
	}
	if !slices.Contains(reach.NapterHopKinds(), r.Broken.Kind) {
		t.Errorf("kind %s not in NapterHopKinds", r.Broken.Kind)
	}
	t.Logf("%s", r)
}

func TestReachNapterAllowedAddressConnects(t *testing.T) {
	e := newNapterEnv(t)
	m := e.create(t, napterPiSIM, 22, time.Hour)
	r := e.c.ReachNapter(napterAllowed, m.IPAddress, m.Port)
	wantReachable(t, r)
	sim, _ := e.c.Soracom.SIM(napterPiSIM)
	if last := r.Hops[len(r.Hops)-1]; last != sim.UEIPAddress+":22" {
		t.Errorf("trail ends at %q, want the SIM's address :22 (%v)", last, r.Hops)
	}
	// By hostname too, from the /32 range.
	wantReachable(t, e.c.ReachNapter(netip.MustParseAddr("203.0.113.200"), m.Hostname, m.Port))
	// Wrong endpoint port.
	wantBroken(t, e.c.ReachNapter(napterAllowed, m.IPAddress, m.Port+1), reach.KindNapterMapping, "no Napter mapping")
	// The Pi does not listen on 80.
	m80 := e.create(t, napterPiSIM, 80, time.Hour)
	wantBroken(t, e.c.ReachNapter(napterAllowed, m80.IPAddress, m80.Port), reach.KindNapterDevice, "listens on TCP 22, not 80")
}

func TestReachNapterOutsideRangesRefused(t *testing.T) {
	e := newNapterEnv(t)
	m := e.create(t, napterPiSIM, 22, time.Hour)
	wantBroken(t, e.c.ReachNapter(napterOutside, m.IPAddress, m.Port), reach.KindNapterSource, "192.0.2.50 is not in the source ranges")
	wantBroken(t, e.c.ReachNapter(netip.Addr{}, m.IPAddress, m.Port), reach.KindNapterSource, "not in the source ranges")
}

func TestReachNapterExpiredRefused(t *testing.T) {
	e := newNapterEnv(t)
	m := e.create(t, napterPiSIM, 22, 15*time.Minute)
	e.clk.Step(14 * time.Minute)
	wantReachable(t, e.c.ReachNapter(napterAllowed, m.IPAddress, m.Port))
	e.clk.Step(time.Minute)
	wantBroken(t, e.c.ReachNapter(napterAllowed, m.IPAddress, m.Port), reach.KindNapterMapping, "expired at 2026-09-01T09:15:00Z")
}

func TestReachNapterDeletedRefused(t *testing.T) {
	e := newNapterEnv(t)
	m := e.create(t, napterPiSIM, 22, time.Hour)
	if err := e.sor.DeletePortMapping(e.ctx, m.IPAddress, m.Port); err != nil {
		t.Fatal(err)
	}
	wantBroken(t, e.c.ReachNapter(napterAllowed, m.IPAddress, m.Port), reach.KindNapterMapping, "no Napter mapping at "+m.Endpoint)
	wantBroken(t, e.c.ReachNapter(napterAllowed, m.Hostname, m.Port), reach.KindNapterMapping, "no Napter mapping")
}

func TestReachNapterSIMOfflineRefused(t *testing.T) {
	e := newNapterEnv(t)
	m := e.create(t, napterPiSIM, 22, time.Hour)
	if err := e.c.Soracom.SetSIMOnline(napterPiSIM, false, ""); err != nil {
		t.Fatal(err)
	}
	wantBroken(t, e.c.ReachNapter(napterAllowed, m.IPAddress, m.Port), reach.KindNapterSIM, "SIM "+napterPiSIM+" is offline")
	if err := e.c.Soracom.SetSIMOnline(napterPiSIM, true, ""); err != nil {
		t.Fatal(err)
	}
	wantReachable(t, e.c.ReachNapter(napterAllowed, m.IPAddress, m.Port))
}

func TestReachNapterRouterPortForward(t *testing.T) {
	e := newNapterEnv(t)
	m := e.create(t, napterRouterSIM, 8080, time.Hour)
	wantBroken(t, e.c.ReachNapter(napterAllowed, m.IPAddress, m.Port), reach.KindNapterPortForward, "has no port forward for port 8080")

	if err := e.c.AddPortForward(napterRouterSIM, 8080, napterPLC, 80); err != nil {
		t.Fatal(err)
	}
	r := e.c.ReachNapter(napterAllowed, m.IPAddress, m.Port)
	wantReachable(t, r)
	if last := r.Hops[len(r.Hops)-1]; last != napterPLC+":80" {
		t.Errorf("trail %v", r.Hops)
	}

	// A forward to a port the PLC does not listen on, and to no device.
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(e.c.AddPortForward(napterRouterSIM, 8080, napterPLC, 443))
	wantBroken(t, e.c.ReachNapter(napterAllowed, m.IPAddress, m.Port), reach.KindNapterDevice, "listens on TCP 80, 502, not 443")
	check(e.c.AddPortForward(napterRouterSIM, 8080, "192.168.10.99", 80))
	wantBroken(t, e.c.ReachNapter(napterAllowed, m.IPAddress, m.Port), reach.KindNapterDevice, "no device at 192.168.10.99 behind SIM")

	if !e.c.RemovePortForward(napterRouterSIM, 8080) {
		t.Fatal("forward not removed")
	}
	wantBroken(t, e.c.ReachNapter(napterAllowed, m.IPAddress, m.Port), reach.KindNapterPortForward, "no port forward for port 8080")

	// Bad forwards.
	for _, err := range []error{
		e.c.AddPortForward("8981100000000009999", 80, napterPLC, 80),
		e.c.AddPortForward(napterRouterSIM, 0, napterPLC, 80),
		e.c.AddPortForward(napterRouterSIM, 80, "not-an-ip", 80),
	} {
		if err == nil {
			t.Error("bad forward accepted")
		}
	}
}
