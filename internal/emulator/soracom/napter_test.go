package soracom_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/gatestream/gatestream/internal/emulator/soracom"
)

func napterEnv(t *testing.T, opts soracom.Options) *env {
	t.Helper()
	e := newEnv(t, opts)
	e.srv.AddSIM(soracom.SIM{ID: simID(1), IMSI: imsi(1), Online: true})
	e.srv.AddSIM(soracom.SIM{ID: simID(2), IMSI: imsi(2)})                  // offline
	e.srv.AddSIM(soracom.SIM{ID: simID(9), IMSI: imsi(9), OperatorID: opB}) // another operator's
	return e
}

func (e *env) createPM(body any) soracom.PortMapping {
	e.t.Helper()
	var m soracom.PortMapping
	e.must(201, "POST", "/v1/port_mappings", body).decode(e.t, &m)
	return m
}

// listPMs follows x-soracom-next-key through every page.
func (e *env) listPMs() []soracom.PortMapping {
	e.t.Helper()
	var all []soracom.PortMapping
	next := ""
	for pages := 0; ; pages++ {
		path := "/v1/port_mappings"
		if next != "" {
			path += "?last_evaluated_key=" + next
		}
		r := e.must(200, "GET", path, nil)
		var page []soracom.PortMapping
		r.decode(e.t, &page)
		if len(page) > 2 {
			e.t.Fatalf("page of %d", len(page))
		}
		all = append(all, page...)
		if next = r.header.Get("X-Soracom-Next-Key"); next == "" {
			return all
		}
		if pages > 10 {
			e.t.Fatal("pagination does not end")
		}
	}
}

func pmBody(sim string, port int, extra map[string]any) map[string]any {
	b := map[string]any{
		"destination": map[string]any{"simId": sim, "service": "air", "port": port},
		"source":      map[string]any{"ipRanges": []string{"198.51.100.0/24"}},
	}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func TestPortMappingCreate(t *testing.T) {
	e := napterEnv(t, soracom.Options{})
	m := e.createPM(pmBody(simID(1), 22, map[string]any{"duration": 1800, "tlsRequired": true}))
	ip, err := netip.ParseAddr(m.IPAddress)
	if err != nil || !netip.MustParsePrefix("203.0.113.0/24").Contains(ip) {
		t.Fatalf("ipAddress %q", m.IPAddress)
	}
	if m.Endpoint != fmt.Sprintf("%s:%d", m.IPAddress, m.Port) || m.Port < 1 || m.Port > 65535 {
		t.Errorf("endpoint %q port %d", m.Endpoint, m.Port)
	}
	if want := "p-203-0-113-1.napter.soracom.io"; m.Hostname != want {
		t.Errorf("hostname %q, want %q", m.Hostname, want)
	}
	if m.CreatedTime != t0.UnixMilli() || m.Duration != 1800 || m.ExpiredTime != t0.Add(30*time.Minute).UnixMilli() || m.Expired {
		t.Errorf("times: %+v", m)
	}
	if m.SimID != simID(1) || m.Destination.SimID != simID(1) || m.Destination.Port != 22 ||
		m.Destination.DestinationChoosingStrategy != soracom.StrategyAirPrioritized {
		t.Errorf("destination: %+v simId %q", m.Destination, m.SimID)
	}
	if !m.TLSRequired || m.OperatorID != opA || m.Placement != "aws:ap-northeast-1" ||
		len(m.Source.IPRanges) != 1 || m.Source.IPRanges[0] != "198.51.100.0/24" {
		t.Errorf("mapping %+v", m)
	}
	// service is not echoed (definition).
	r := e.must(201, "POST", "/v1/port_mappings", pmBody(simID(1), 80, nil))
	var raw struct{ Destination map[string]any }
	r.decode(t, &raw)
	if _, ok := raw.Destination["service"]; ok {
		t.Errorf("service echoed: %s", r.body)
	}
	// Every create gets a new address and port.
	m2 := e.createPM(pmBody(simID(1), 22, nil))
	if m2.IPAddress == m.IPAddress || m2.Port == m.Port {
		t.Errorf("reused %s for %s", m2.Endpoint, m.Endpoint)
	}
	if m2.Duration != 3600 {
		t.Errorf("default duration %d", m2.Duration)
	}
	// Per-SIM variant and IMSI destination.
	var m3 soracom.PortMapping
	e.must(201, "POST", "/v1/port_mappings/sims/"+simID(2), map[string]any{"destination": map[string]any{"port": 443}}).decode(t, &m3)
	if m3.SimID != simID(2) || m3.Destination.DestinationChoosingStrategy != soracom.StrategyDynamic {
		t.Errorf("for sim: %+v", m3)
	}
	// Without source: the caller's address only (GUESS).
	if len(m3.Source.IPRanges) != 1 || m3.Source.IPRanges[0] != "127.0.0.1/32" {
		t.Errorf("default source %v", m3.Source.IPRanges)
	}
	m4 := e.createPM(map[string]any{"destination": map[string]any{"imsi": imsi(1), "port": 22}})
	if m4.IMSI != imsi(1) || m4.SimID != "" || m4.Destination.DestinationChoosingStrategy != soracom.StrategyIMSIPrioritized {
		t.Errorf("imsi: %+v", m4)
	}
	var bySub []soracom.PortMapping
	e.must(200, "GET", "/v1/port_mappings/subscribers/"+imsi(1), nil).decode(t, &bySub)
	if len(bySub) != 1 || bySub[0].Endpoint != m4.Endpoint {
		t.Errorf("subscriber list %+v", bySub)
	}
	if calls := e.srv.PortMappingCalls(); calls[soracom.OpCreatePortMapping] != 4 || calls[soracom.OpCreatePortMappingForSim] != 1 {
		t.Errorf("calls %v", calls)
	}
}

func TestPortMappingValidation(t *testing.T) {
	e := napterEnv(t, soracom.Options{})
	const bad, missing = "PMP0002", "SEM0001"
	for _, tc := range []struct {
		name   string
		status int
		code   string
		body   any
	}{
		{"no destination", 400, bad, map[string]any{"duration": 60}},
		{"no port", 400, bad, map[string]any{"destination": map[string]any{"simId": simID(1)}}},
		{"port 0", 400, bad, pmBody(simID(1), 0, nil)},
		{"port 65536", 400, bad, pmBody(simID(1), 65536, nil)},
		{"fraction port", 400, bad, map[string]any{"destination": map[string]any{"simId": simID(1), "port": 22.5}}},
		{"bad service", 400, bad, map[string]any{"destination": map[string]any{"simId": simID(1), "service": "wifi", "port": 22}}},
		{"no sim nor imsi", 400, bad, map[string]any{"destination": map[string]any{"port": 22}}},
		{"duration 0", 400, bad, pmBody(simID(1), 22, map[string]any{"duration": 0})},
		{"duration over 8h", 400, bad, pmBody(simID(1), 22, map[string]any{"duration": 28801})},
		{"bad cidr", 400, bad, pmBody(simID(1), 22, map[string]any{"source": map[string]any{"ipRanges": []string{"198.51.100.0/33"}}})},
		{"host bits", 400, bad, pmBody(simID(1), 22, map[string]any{"source": map[string]any{"ipRanges": []string{"198.51.100.7/24"}}})},
		{"not cidr", 400, bad, pmBody(simID(1), 22, map[string]any{"source": map[string]any{"ipRanges": []string{"somewhere"}}})},
		{"unknown sim", 404, missing, pmBody(simID(7), 22, nil)},
		{"other operator's sim", 404, missing, pmBody(simID(9), 22, nil)},
		{"unknown imsi", 404, missing, map[string]any{"destination": map[string]any{"imsi": imsi(7), "port": 22}}},
		{"bad json", 400, "COM0004", "not json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			e.fail(tc.status, tc.code, "POST", "/v1/port_mappings", tc.body)
		})
	}
	e.t = t
	e.fail(404, missing, "POST", "/v1/port_mappings/sims/"+simID(7), map[string]any{"destination": map[string]any{"port": 22}})
	e.createPM(pmBody(simID(1), 22, map[string]any{"duration": 28800}))
	if n := len(e.srv.PortMappings()); n != 1 {
		t.Errorf("%d mappings after failed creates, want 1", n)
	}
}

func TestPortMappingListDeleteExpire(t *testing.T) {
	e := napterEnv(t, soracom.Options{PageSize: 2})
	var made []soracom.PortMapping
	for i := range 5 {
		made = append(made, e.createPM(pmBody(simID(1), 22, map[string]any{"duration": 600 * (i + 1)})))
	}
	// Paginated by endpoint.
	all := e.listPMs()
	if len(all) != 5 {
		t.Fatalf("listed %d, want 5", len(all))
	}
	var forSim []soracom.PortMapping
	e.must(200, "GET", "/v1/port_mappings/sims/"+simID(1), nil).decode(t, &forSim)
	if len(forSim) != 5 {
		t.Errorf("for sim: %d", len(forSim))
	}
	e.fail(404, "PMP0001", "GET", "/v1/port_mappings/sims/"+simID(2), nil)
	e.fail(404, "PMP0001", "GET", "/v1/port_mappings/subscribers/"+imsi(2), nil)

	// Delete.
	m := made[0]
	e.must(204, "DELETE", fmt.Sprintf("/v1/port_mappings/%s/%d", m.IPAddress, m.Port), nil)
	e.fail(404, "PMP0001", "DELETE", fmt.Sprintf("/v1/port_mappings/%s/%d", m.IPAddress, m.Port), nil)
	e.fail(404, "PMP0001", "DELETE", "/v1/port_mappings/192.0.2.99/1", nil)
	if n := len(e.srv.PortMappings()); n != 4 {
		t.Errorf("after delete: %d", n)
	}

	// Expiry on the clock: entry 1 lives 20 min, entry 2 30 min.
	e.clk.Step(20 * time.Minute)
	live := e.listPMs()
	for _, l := range live {
		if l.Endpoint == made[1].Endpoint || l.Expired {
			t.Errorf("expired entry listed: %+v", l)
		}
	}
	if len(live) != 3 {
		t.Errorf("live %d, want 3", len(live))
	}
	e.fail(404, "PMP0001", "DELETE", fmt.Sprintf("/v1/port_mappings/%s/%d", made[1].IPAddress, made[1].Port), nil)
	kept := e.srv.PortMappings()
	if len(kept) != 4 || !kept[0].Expired || kept[0].Endpoint != made[1].Endpoint || kept[1].Expired {
		t.Errorf("PortMappings: %+v", kept)
	}
	e.clk.Step(3 * time.Hour)
	e.fail(404, "PMP0001", "GET", "/v1/port_mappings/sims/"+simID(1), nil)
	if calls := e.srv.PortMappingCalls(); calls[soracom.OpDeletePortMapping] != 4 {
		t.Errorf("delete calls %v", calls)
	}
}

func TestPortMappingOperatorsAreSeparate(t *testing.T) {
	e := napterEnv(t, soracom.Options{})
	m := e.createPM(pmBody(simID(1), 22, nil))
	apiB, tokB := e.login(keyIDB, keyB)
	r, err := e.send("GET", "/v1/port_mappings", nil, apiB, tokB)
	if err != nil || r.status != 200 || string(r.body) != "[]" {
		t.Fatalf("B lists %d %s %v", r.status, r.body, err)
	}
	r, err = e.send("DELETE", fmt.Sprintf("/v1/port_mappings/%s/%d", m.IPAddress, m.Port), nil, apiB, tokB)
	if err != nil || r.status != 404 {
		t.Fatalf("B deletes A's: %d %s %v", r.status, r.body, err)
	}
}
