package soracom_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatestream/gatestream/internal/emulator/fault"
	emu "github.com/gatestream/gatestream/internal/emulator/soracom"
	"github.com/gatestream/gatestream/internal/soracom"
)

const (
	napterSIM   = "8981100000000000100"
	napterOther = "8981100000000000101"
)

func napterEnv(t *testing.T, opts emu.Options) *emuEnv {
	t.Helper()
	e := newEmuEnv(t, opts)
	e.srv.AddSIM(emu.SIM{ID: napterSIM, IMSI: "440100000000100", Online: true})
	e.srv.AddSIM(emu.SIM{ID: napterOther, IMSI: "440100000000101", Online: true})
	return e
}

func TestNapterCreateListDelete(t *testing.T) {
	e := napterEnv(t, emu.Options{})
	ctx := emuCtx(t)
	c := e.c

	none := get(c.ListPortMappingsForSIM(ctx, napterSIM)).must(t)
	if none == nil || len(none) != 0 {
		t.Fatalf("no mappings: %#v", none)
	}
	if n := e.count(emu.OpListPortMappingsForSim); n != 1 {
		t.Errorf("404 retried: %d calls", n)
	}

	m := get(c.CreatePortMappingForSIM(ctx, napterSIM, soracom.PortMappingRequest{
		Port: 22, Service: soracom.NapterServiceAir, Duration: 30 * time.Minute,
		SourceRanges: []string{"198.51.100.0/24"}, TLSRequired: true,
	})).must(t)
	if m.Endpoint != fmt.Sprintf("%s:%d", m.IPAddress, m.Port) || m.Hostname == "" {
		t.Errorf("endpoint %q host %q", m.Endpoint, m.Hostname)
	}
	if !m.CreatedTime.Equal(e.clk.Now()) || !m.ExpiredTime.Equal(e.clk.Now().Add(30*time.Minute)) || m.Duration != 1800 || m.Expired {
		t.Errorf("times %v %v %d %v", m.CreatedTime, m.ExpiredTime, m.Duration, m.Expired)
	}
	want := soracom.PortMappingDestination{SimID: napterSIM, Port: 22, Service: "air", DestinationChoosingStrategy: "AIR_PRIORITIZED"}
	if m.Destination != want {
		t.Errorf("destination %+v, want %+v", m.Destination, want)
	}
	if !slices.Equal(m.Source.IPRanges, []string{"198.51.100.0/24"}) || !m.TLSRequired || m.Placement == "" || m.OperatorID != emuOperator {
		t.Errorf("mapping %+v", m)
	}

	// Defaults: SORACOM's duration (1 h in the emulator), source omitted.
	m2 := get(c.CreatePortMappingForSIM(ctx, napterSIM, soracom.PortMappingRequest{Port: 80})).must(t)
	if m2.Duration != 3600 || m2.Destination.DestinationChoosingStrategy != "DYNAMIC" || m2.Destination.Service != "" {
		t.Errorf("defaults %+v", m2)
	}
	get(c.CreatePortMappingForSIM(ctx, napterOther, soracom.PortMappingRequest{Port: 22, SourceRanges: []string{"0.0.0.0/0"}})).must(t)

	forSIM := get(c.ListPortMappingsForSIM(ctx, napterSIM)).must(t)
	if len(forSIM) != 2 {
		t.Fatalf("for SIM: %d", len(forSIM))
	}
	if all := get(c.ListPortMappings(ctx)).must(t); len(all) != 3 {
		t.Fatalf("all: %d", len(all))
	}

	check(t, c.DeletePortMapping(ctx, m.IPAddress, m.Port))
	err := c.DeletePortMapping(ctx, m.IPAddress, m.Port)
	if !soracom.IsNotFound(err) {
		t.Fatalf("second delete: %v", err)
	}
	if forSIM = get(c.ListPortMappingsForSIM(ctx, napterSIM)).must(t); len(forSIM) != 1 || forSIM[0].Endpoint != m2.Endpoint {
		t.Errorf("after delete: %+v", forSIM)
	}
	if calls := e.srv.PortMappingCalls(); calls[emu.OpCreatePortMappingForSim] != 3 || calls[emu.OpDeletePortMapping] != 2 {
		t.Errorf("calls %v", calls)
	}
}

func TestNapterListPaginates(t *testing.T) {
	e := napterEnv(t, emu.Options{PageSize: 2})
	ctx := emuCtx(t)
	var made []string
	for i := range 5 {
		m := get(e.c.CreatePortMappingForSIM(ctx, napterSIM, soracom.PortMappingRequest{Port: 1000 + i, SourceRanges: []string{"192.0.2.0/24"}})).must(t)
		made = append(made, m.Endpoint)
	}
	all := get(e.c.ListPortMappings(ctx)).must(t)
	var got []string
	for _, m := range all {
		got = append(got, m.Endpoint)
	}
	slices.Sort(made)
	if !slices.Equal(got, made) {
		t.Errorf("listed %v, want %v", got, made)
	}
	if n := e.count(emu.OpListPortMappings); n != 3 {
		t.Errorf("%d pages, want 3", n)
	}
	// The per-SIM list is not paginated.
	if forSIM := get(e.c.ListPortMappingsForSIM(ctx, napterSIM)).must(t); len(forSIM) != 5 {
		t.Errorf("for SIM: %d", len(forSIM))
	}
}

func TestNapterExpiry(t *testing.T) {
	e := napterEnv(t, emu.Options{})
	ctx := emuCtx(t)
	short := get(e.c.CreatePortMappingForSIM(ctx, napterSIM, soracom.PortMappingRequest{Port: 22, Duration: 10 * time.Minute, SourceRanges: []string{"192.0.2.0/24"}})).must(t)
	long := get(e.c.CreatePortMappingForSIM(ctx, napterSIM, soracom.PortMappingRequest{Port: 22, Duration: soracom.PortMappingMaxDuration, SourceRanges: []string{"192.0.2.0/24"}})).must(t)
	e.clk.Step(10 * time.Minute)
	live := get(e.c.ListPortMappingsForSIM(ctx, napterSIM)).must(t)
	if len(live) != 1 || live[0].Endpoint != long.Endpoint {
		t.Errorf("after 10 min: %+v", live)
	}
	if err := e.c.DeletePortMapping(ctx, short.IPAddress, short.Port); !soracom.IsNotFound(err) {
		t.Errorf("delete expired: %v", err)
	}
	kept := e.srv.PortMappings()
	if len(kept) != 2 || !kept[0].Expired || kept[1].Expired {
		t.Errorf("emulator keeps %+v", kept)
	}
	e.clk.Step(8 * time.Hour)
	if live = get(e.c.ListPortMappingsForSIM(ctx, napterSIM)).must(t); len(live) != 0 {
		t.Errorf("after 8 h: %+v", live)
	}
	if all := get(e.c.ListPortMappings(ctx)).must(t); all == nil || len(all) != 0 {
		t.Errorf("all after 8 h: %#v", all)
	}
}

func TestNapterErrors(t *testing.T) {
	e := napterEnv(t, emu.Options{})
	ctx := emuCtx(t)
	c := e.c
	_, err := c.CreatePortMappingForSIM(ctx, "8981100000000009999", soracom.PortMappingRequest{Port: 22})
	if !soracom.IsNotFound(err) {
		t.Errorf("unknown SIM: %v", err)
	}
	_, err = c.CreatePortMappingForSIM(ctx, napterSIM, soracom.PortMappingRequest{Port: 22, SourceRanges: []string{"192.0.2.1/24"}})
	if soracom.StatusCode(err) != 400 {
		t.Errorf("bad CIDR: %v", err)
	}
	for _, in := range []soracom.PortMappingRequest{{Port: 0}, {Port: 70000}, {Port: 22, Duration: 9 * time.Hour}} {
		if _, err := c.CreatePortMappingForSIM(ctx, napterSIM, in); err == nil || soracom.StatusCode(err) != 0 {
			t.Errorf("%+v: %v (want a local error)", in, err)
		}
	}
	// A create is never re-sent: a 500 reaches the caller after one call.
	e.faults.Add(fault.Rule{API: emu.API, Op: emu.OpCreatePortMappingForSim, Kind: fault.ServerError, Times: 1})
	before := e.count(emu.OpCreatePortMappingForSim)
	if _, err := c.CreatePortMappingForSIM(ctx, napterSIM, soracom.PortMappingRequest{Port: 22}); soracom.StatusCode(err) != 500 {
		t.Errorf("injected 500: %v", err)
	}
	if n := e.count(emu.OpCreatePortMappingForSim) - before; n != 1 {
		t.Errorf("create sent %d times", n)
	}
	if ms := e.srv.PortMappings(); len(ms) != 0 {
		t.Errorf("mappings after failures: %+v", ms)
	}
}

func TestPortMappingDecode(t *testing.T) {
	body := `{"hostname":"h","ipAddress":"203.0.113.9","port":40001.0,"endpoint":"203.0.113.9:40001",
		"createdTime":1700000000000,"duration":60,"expiredTime":1700000060000,"expired":true,
		"destination":{"port":22,"destinationChoosingStrategy":"IMSI_PRIORITIZED"},"imsi":"440100000000100",
		"source":{"ipRanges":["0.0.0.0/0"]},"tlsRequired":false,"placement":"default","operatorId":"OP1"}`
	var m soracom.PortMapping
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	if m.Port != 40001 || m.Destination.IMSI != "440100000000100" || m.Destination.Port != 22 || !m.Expired ||
		m.ExpiredTime.Sub(m.CreatedTime) != time.Minute || m.Duration != 60 {
		t.Errorf("%+v", m)
	}
	if err := json.Unmarshal([]byte(`{"port":22.5}`), &m); err == nil {
		t.Error("fractional port accepted")
	}
}
