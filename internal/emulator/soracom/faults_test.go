package soracom_test

import (
	"testing"
	"time"

	"github.com/gatestream/gatestream/internal/emulator/fault"
	"github.com/gatestream/gatestream/internal/emulator/soracom"
)

func TestFaults(t *testing.T) {
	e := newEnv(t, soracom.Options{RateLimitPerMinute: 500})
	in := e.srv.Faults()

	t.Run("throttle", func(t *testing.T) {
		in.Add(fault.Rule{API: soracom.API, Op: soracom.OpListVPGs, Kind: fault.Throttle, Times: 1})
		r := e.fail(429, "COM0001", "GET", vpgs, nil)
		if r.header.Get("X-Soracom-Ratelimit-Limit") != "500" || r.header.Get("X-Soracom-Ratelimit-Remaining") != "0" ||
			r.header.Get("X-Soracom-Ratelimit-Seconds-Before-Refresh") != "60" {
			t.Fatalf("headers %v", r.header)
		}
		// The rule fired once (Times: 1), but the quota it ran out stays
		// out until the minute's end, as SORACOM's does; other operations
		// are served.
		e.clk.Step(15 * time.Second)
		r = e.fail(429, "COM0001", "GET", vpgs, nil)
		if got := r.header.Get("X-Soracom-Ratelimit-Seconds-Before-Refresh"); got != "45" {
			t.Fatalf("Seconds-Before-Refresh %q 15 s later, want 45", got)
		}
		if want := t0.Truncate(time.Minute).Add(time.Minute); !e.srv.ThrottledUntil().Equal(want) {
			t.Fatalf("ThrottledUntil %s, want %s", e.srv.ThrottledUntil(), want)
		}
		e.must(200, "GET", "/v1/groups", nil)
		e.clk.Step(45 * time.Second)
		e.must(200, "GET", vpgs, nil)
		calls := in.Calls(soracom.API, soracom.OpListVPGs)
		if len(calls) != 3 || calls[0].Fault != fault.Throttle || calls[0].Status != 429 ||
			calls[1].Fault != fault.None || calls[1].Status != 429 || calls[2].Status != 200 {
			t.Fatalf("calls %+v", calls)
		}
	})
	t.Run("server error", func(t *testing.T) {
		in.Add(fault.Rule{API: soracom.API, Op: soracom.OpCreateGroup, Kind: fault.ServerError, Times: 1})
		e.fail(500, "COM0002", "POST", "/v1/groups", map[string]any{})
		if n := e.srv.GroupsEverCreated(); n != 0 {
			t.Fatalf("state touched: %d groups", n)
		}
	})
	t.Run("unavailable", func(t *testing.T) {
		in.Add(fault.Rule{API: fault.Any, Op: soracom.OpGetSim, Kind: fault.Unavailable, Times: 1})
		e.fail(503, "COM0003", "GET", "/v1/sims/x", nil)
		e.fail(404, "SEM0001", "GET", "/v1/sims/x", nil)
	})
	t.Run("latency", func(t *testing.T) {
		in.Add(fault.Rule{API: soracom.API, Op: soracom.OpListGroups, Latency: 80 * time.Millisecond, Times: 1})
		start := time.Now()
		e.must(200, "GET", "/v1/groups", nil)
		if d := time.Since(start); d < 80*time.Millisecond {
			t.Fatalf("latency not applied: %v", d)
		}
	})
	t.Run("lose response", func(t *testing.T) {
		in.Add(fault.Rule{API: soracom.API, Op: soracom.OpCreateVPG, Kind: fault.LoseResponse, Times: 1})
		_, err := e.send("POST", vpgs, map[string]any{"type": 15, "tags": map[string]string{"owner": "uid-lost"}}, e.apiKey, e.token)
		if err == nil {
			t.Fatal("the client got a response")
		}
		// The VPG exists: a client that looks it up by tag finds it.
		var found []soracom.VPG
		e.must(200, "GET", vpgs+"?tag_name=owner&tag_value=uid-lost", nil).decode(t, &found)
		if len(found) != 1 || found[0].Type != 15 {
			t.Fatalf("lost create not applied: %+v", found)
		}
		if n := e.srv.VPGsEverCreated(); n != 1 {
			t.Fatalf("VPGsEverCreated %d", n)
		}
		calls := in.Calls(soracom.API, soracom.OpCreateVPG)
		if len(calls) != 1 || calls[0].Fault != fault.LoseResponse || calls[0].Status != 0 {
			t.Fatalf("call log %+v", calls)
		}
	})
	t.Run("probability and reset", func(t *testing.T) {
		in.Add(fault.Rule{API: soracom.API, Op: fault.Any, Kind: fault.ServerError})
		e.fail(500, "COM0002", "GET", "/v1/sims", nil)
		in.Reset()
		e.must(200, "GET", "/v1/sims", nil)
	})
}
