package soracom_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatestream/gatestream/internal/emulator/soracom"
)

func TestAuth(t *testing.T) {
	e := newEnv(t, soracom.Options{TokenTTL: time.Hour})

	r, err := e.send("POST", "/v1/auth", map[string]string{"authKeyId": keyIDA, "authKey": keyA}, "", "")
	if err != nil || r.status != 200 {
		t.Fatalf("auth: %v %d %s", err, r.status, r.body)
	}
	var a map[string]string
	r.decode(t, &a)
	if a["operatorId"] != opA || !strings.HasPrefix(a["apiKey"], "api-") || a["token"] == "" {
		t.Fatalf("auth response %v", a)
	}

	t.Run("bad key", func(t *testing.T) {
		r, _ := e.send("POST", "/v1/auth", map[string]string{"authKeyId": keyIDA, "authKey": "wrong"}, "", "")
		if r.status != 401 || r.errCode(t) != "AUT0001" {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		r, _ = e.send("POST", "/v1/auth", map[string]string{"authKeyId": "keyId-nobody", "authKey": keyA}, "", "")
		if r.status != 401 {
			t.Fatalf("unknown key id: %d", r.status)
		}
	})
	t.Run("no token", func(t *testing.T) {
		r, _ := e.send("GET", "/v1/virtual_private_gateways", nil, "", "")
		if r.status != 401 || r.errCode(t) != "AUT0002" {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		r, _ = e.send("GET", "/v1/sims", nil, a["apiKey"], "")
		if r.status != 401 {
			t.Fatalf("api key only: %d", r.status)
		}
	})
	t.Run("invalid token", func(t *testing.T) {
		r, _ := e.send("GET", "/v1/sims", nil, a["apiKey"], "tok-forged")
		if r.status != 401 || r.errCode(t) != "AUT0003" {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		// A valid token with another session's API key is refused too.
		r, _ = e.send("GET", "/v1/sims", nil, e.apiKey, a["token"])
		if r.status != 401 {
			t.Fatalf("mismatched key: %d", r.status)
		}
	})
	t.Run("expired token and refresh", func(t *testing.T) {
		apiKey, token := e.login(keyIDA, keyA)
		e.clk.Step(59 * time.Minute)
		if r, _ := e.send("GET", "/v1/sims", nil, apiKey, token); r.status != 200 {
			t.Fatalf("before expiry: %d", r.status)
		}
		// Refresh: same API key, new token.
		r, _ := e.send("POST", "/v1/operators/"+opA+"/token", map[string]int{"tokenTimeoutSeconds": 7200}, apiKey, token)
		if r.status != 200 {
			t.Fatalf("refresh: %d %s", r.status, r.body)
		}
		var tok map[string]string
		r.decode(t, &tok)
		if tok["token"] == "" || tok["token"] == token {
			t.Fatalf("refresh returned %v", tok)
		}
		e.clk.Step(2 * time.Minute) // old token (1h) expired, new one (2h) not
		if r, _ := e.send("GET", "/v1/sims", nil, apiKey, token); r.status != 401 || r.errCode(t) != "AUT0004" {
			t.Fatalf("expired token: %d %s", r.status, r.body)
		}
		if r, _ := e.send("GET", "/v1/sims", nil, apiKey, tok["token"]); r.status != 200 {
			t.Fatalf("refreshed token: %d", r.status)
		}
		// Refreshing with the expired token is 400 (documented).
		r, _ = e.send("POST", "/v1/operators/"+opA+"/token", nil, apiKey, token)
		if r.status != 400 || r.errCode(t) != "AUT0006" {
			t.Fatalf("refresh expired: %d %s", r.status, r.body)
		}
		// Another operator's path is 403.
		r, _ = e.send("POST", "/v1/operators/"+opB+"/token", nil, apiKey, tok["token"])
		if r.status != 403 || r.errCode(t) != "AUT0005" {
			t.Fatalf("foreign operator: %d %s", r.status, r.body)
		}
	})
	t.Run("tokenTimeoutSeconds", func(t *testing.T) {
		r, _ := e.send("POST", "/v1/auth", map[string]any{"authKeyId": keyIDA, "authKey": keyA, "tokenTimeoutSeconds": 180}, "", "")
		var s map[string]string
		r.decode(t, &s)
		e.clk.Step(179 * time.Second)
		if r, _ := e.send("GET", "/v1/sims", nil, s["apiKey"], s["token"]); r.status != 200 {
			t.Fatalf("at 179s: %d", r.status)
		}
		e.clk.Step(time.Second)
		if r, _ := e.send("GET", "/v1/sims", nil, s["apiKey"], s["token"]); r.status != 401 {
			t.Fatalf("at 180s: %d", r.status)
		}
		for _, secs := range []int{179, 172801} {
			r, _ := e.send("POST", "/v1/auth", map[string]any{"authKeyId": keyIDA, "authKey": keyA, "tokenTimeoutSeconds": secs}, "", "")
			if r.status != 400 {
				t.Fatalf("tokenTimeoutSeconds %d: %d", secs, r.status)
			}
		}
	})
	t.Run("logout", func(t *testing.T) {
		apiKey, token := e.login(keyIDA, keyA)
		if r, _ := e.send("POST", "/v1/auth/logout", nil, apiKey, token); r.status != 204 || len(r.body) != 0 {
			t.Fatalf("logout: %d %s", r.status, r.body)
		}
		if r, _ := e.send("GET", "/v1/sims", nil, apiKey, token); r.status != 401 {
			t.Fatalf("after logout: %d", r.status)
		}
	})
	t.Run("ExpireTokens", func(t *testing.T) {
		apiKey, token := e.login(keyIDA, keyA)
		e.srv.ExpireTokens()
		if r, _ := e.send("GET", "/v1/sims", nil, apiKey, token); r.status != 401 {
			t.Fatalf("after ExpireTokens: %d", r.status)
		}
	})
	if n := e.srv.Faults().Count(soracom.API, soracom.OpAuth); n < 8 {
		t.Fatalf("auth calls logged: %d", n)
	}
}

func TestOperatorsSeeOnlyTheirOwnResources(t *testing.T) {
	e := newEnv(t, soracom.Options{})
	e.srv.AddSIM(soracom.SIM{ID: simID(1), IMSI: imsi(1)}) // first operator (A) by default
	e.srv.AddSIM(soracom.SIM{ID: simID(2), IMSI: imsi(2), OperatorID: opB})
	v := e.createVPG(map[string]any{"type": 15})
	g := e.createGroup(map[string]any{})

	keyB, tokB := e.login(keyIDB, keyB)
	for _, p := range []string{"/v1/virtual_private_gateways/" + v.VPGID, "/v1/groups/" + g.GroupID, "/v1/sims/" + simID(1)} {
		if r, _ := e.send("GET", p, nil, keyB, tokB); r.status != 404 {
			t.Fatalf("B GET %s: %d", p, r.status)
		}
	}
	r, _ := e.send("GET", "/v1/virtual_private_gateways", nil, keyB, tokB)
	if string(r.body) != "[]" {
		t.Fatalf("B's VPG list: %s", r.body)
	}
	r, _ = e.send("GET", "/v1/sims", nil, keyB, tokB)
	var sims []sim
	r.decode(t, &sims)
	if len(sims) != 1 || sims[0].SimID != simID(2) || sims[0].OperatorID != opB {
		t.Fatalf("B's SIMs: %s", r.body)
	}
	// A cannot use B's group.
	r, _ = e.send("POST", "/v1/groups", map[string]any{}, keyB, tokB)
	var gB soracom.Group
	r.decode(t, &gB)
	e.fail(404, "GRP0001", "POST", "/v1/sims/"+simID(1)+"/set_group", map[string]string{"groupId": gB.GroupID})
	if s, _ := e.srv.SIM(simID(1)); s.OperatorID != opA {
		t.Fatalf("SIM owner %q", s.OperatorID)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, soracom.Options{RateLimitPerMinute: 3})
	for i := range 3 {
		r := e.must(200, "GET", "/v1/virtual_private_gateways", nil)
		if got := r.header.Get("X-Soracom-Ratelimit-Remaining"); got != strconv.Itoa(2-i) {
			t.Fatalf("call %d remaining %q", i, got)
		}
		if r.header.Get("X-Soracom-Ratelimit-Limit") != "3" || r.header.Get("X-Soracom-Ratelimit-Seconds-Before-Refresh") != "60" {
			t.Fatalf("headers %v", r.header)
		}
	}
	e.clk.Step(20 * time.Second)
	r := e.fail(429, "COM0001", "GET", "/v1/virtual_private_gateways?tag_name=a&tag_value=b", nil)
	if r.header.Get("X-Soracom-Ratelimit-Remaining") != "0" || r.header.Get("X-Soracom-Ratelimit-Seconds-Before-Refresh") != "40" ||
		r.header.Get("X-Soracom-Ratelimit-Limit") != "3" {
		t.Fatalf("429 headers %v", r.header)
	}
	// Another path template has its own budget, and so has another operator.
	e.must(200, "GET", "/v1/groups", nil)
	kb, tb := e.login(keyIDB, keyB)
	if r, _ := e.send("GET", "/v1/virtual_private_gateways", nil, kb, tb); r.status != 200 {
		t.Fatalf("operator B: %d", r.status)
	}
	// GET /v1/virtual_private_gateways/{id} is another template than the list.
	e.fail(404, "VPG0001", "GET", "/v1/virtual_private_gateways/vpg-nope", nil)
	e.clk.Step(40 * time.Second)
	if r := e.must(200, "GET", "/v1/virtual_private_gateways", nil); r.header.Get("X-Soracom-Ratelimit-Remaining") != "2" {
		t.Fatalf("after refresh: %v", r.header)
	}
	// The 429 is logged as a normal call (not an injected fault).
	var n429 int
	for _, c := range e.srv.Faults().Calls(soracom.API, soracom.OpListVPGs) {
		if c.Status == 429 {
			n429++
		}
	}
	if n429 != 1 {
		t.Fatalf("429s logged: %d", n429)
	}
}

func TestUnknownPathAndMethod(t *testing.T) {
	e := newEnv(t, soracom.Options{})
	r := e.fail(404, "COM0005", "GET", "/v1/no_such_api", nil)
	if r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("content type %q", r.header.Get("Content-Type"))
	}
	r = e.fail(405, "COM0006", "DELETE", "/v1/virtual_private_gateways", nil)
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Fatalf("Allow %q", allow)
	}
	if c := e.srv.Faults().Calls(soracom.API, soracom.OpUnknown); len(c) != 2 || c[0].Status != 404 || c[1].Status != 405 {
		t.Fatalf("unknown calls logged %+v", c)
	}
}
