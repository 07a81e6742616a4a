package soracom_test

// FuzzHandler drives the emulator's real http.Handler (fault middleware,
// routing, authentication, JSON decoding, the state rules) with arbitrary
// requests. Run it with
//
//	go test ./internal/emulator/soracom -run '^$' -fuzz '^FuzzHandler$' -fuzztime 60s -parallel 1

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gatestream/gatestream/internal/emulator/fault"
	"github.com/gatestream/gatestream/internal/emulator/soracom"
)

// Credentials a fuzzed request carries (its auth byte picks them).
const (
	fuzzAuthA       = iota // operator A's live token
	fuzzAuthNone           // no headers
	fuzzAuthB              // operator B's live token
	fuzzAuthBogus          // an unknown key and token
	fuzzAuthKeyOnly        // A's API key without the token
	fuzzAuthModes
)

// fuzzFault in the auth byte arms a one-shot server error for every call.
const fuzzFault = 0x80

// fuzzWorld is a fresh emulator with a VPG of operator A (Gate open, a peer,
// SIM-based routing with a route, Junction, a Canal peering), a group bound
// to it with an online SIM, and a VPG of operator B. Paths and bodies of
// fuzzed requests may say {vpg}, {vpgB}, {group}, {sim}, {op}, {pcx} for
// their ids.
type fuzzWorld struct {
	srv         *soracom.Server
	h           http.Handler
	a, b        [2]string // API key, token
	ids         *strings.Replacer
	vpg, group  string
	vpgB, pcxID string
}

func newFuzzWorld(t testing.TB) *fuzzWorld {
	t.Helper()
	w := &fuzzWorld{srv: soracom.New(soracom.Options{Clock: clocktesting.NewFakeClock(t0), PageSize: 2, Peering: &fakePeering{}})}
	w.h = w.srv.Handler()
	w.srv.AddOperator(opA, keyIDA, keyA)
	w.srv.AddOperator(opB, keyIDB, keyB)
	w.a = w.login(t, keyIDA, keyA)
	w.b = w.login(t, keyIDB, keyB)
	w.vpg = w.mustID(t, w.a, "vpgId", "POST", "/v1/virtual_private_gateways", `{"type":15,"tags":{"name":"factory"}}`)
	w.vpgB = w.mustID(t, w.b, "vpgId", "POST", "/v1/virtual_private_gateways", `{"type":14}`)
	p := "/v1/virtual_private_gateways/" + w.vpg
	w.must(t, w.a, "POST", p+"/gate/open", `{"vxlanId":10}`)
	w.must(t, w.a, "POST", p+"/gate/peers", `{"outerIpAddress":"203.0.113.9","innerIpAddress":"10.128.255.1"}`)
	w.must(t, w.a, "POST", p+"/gate/routing/static/sims/enable", "")
	w.must(t, w.a, "PUT", p+"/gate/routing/static/sims/routes", `{"`+simID(1)+`":"192.168.1.0/24"}`)
	w.must(t, w.a, "POST", p+"/junction/mirroring/peers", `{"ipAddress":"10.0.5.5","protocol":"gre","enabled":true}`)
	w.pcxID = w.mustID(t, w.a, "id", "POST", p+"/vpc_peering_connections",
		`{"destinationCidrBlock":"10.0.0.0/16","peerOwnerId":"123456789012","peerRegion":"ap-northeast-1","peerVpcId":"vpc-0abc"}`)
	w.group = w.mustID(t, w.a, "groupId", "POST", "/v1/groups", `{"tags":{"name":"line-a"}}`)
	w.must(t, w.a, "PUT", "/v1/groups/"+w.group+"/configuration/SoracomAir", `[{"key":"useVpg","value":true},{"key":"vpgId","value":"`+w.vpg+`"}]`)
	w.srv.AddSIM(soracom.SIM{ID: simID(1), IMSI: imsi(1), GroupID: w.group, Online: true})
	w.srv.AddSIM(soracom.SIM{ID: simID(2), IMSI: imsi(2)})
	w.ids = strings.NewReplacer("{vpg}", w.vpg, "{vpgB}", w.vpgB, "{group}", w.group, "{sim}", simID(1), "{op}", opA, "{pcx}", w.pcxID)
	return w
}

func (w *fuzzWorld) login(t testing.TB, keyID, key string) [2]string {
	t.Helper()
	var a struct{ APIKey, Token string }
	rec := w.serve(t, [2]string{}, "POST", "/v1/auth", fmt.Sprintf(`{"authKeyId":%q,"authKey":%q}`, keyID, key))
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || rec.Code != 200 {
		t.Fatalf("auth: %d %s", rec.Code, rec.Body)
	}
	return [2]string{a.APIKey, a.Token}
}

func (w *fuzzWorld) serve(t testing.TB, cred [2]string, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if cred[0] != "" {
		req.Header.Set("X-Soracom-API-Key", cred[0])
		req.Header.Set("X-Soracom-Token", cred[1])
	}
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, req)
	return rec
}

func (w *fuzzWorld) must(t testing.TB, cred [2]string, method, path, body string) []byte {
	t.Helper()
	rec := w.serve(t, cred, method, path, body)
	if rec.Code/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}

func (w *fuzzWorld) mustID(t testing.TB, cred [2]string, field, method, path, body string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.must(t, cred, method, path, body), &m); err != nil {
		t.Fatal(err)
	}
	id, _ := m[field].(string)
	if id == "" {
		t.Fatalf("%s %s: no %s", method, path, field)
	}
	return id
}

// FuzzHandler: whatever the method, path, body and credentials, the handler
// never panics and never answers 5xx unless a fault rule is armed; every
// 4xx (and injected 5xx) carries a JSON error body with a code and a message;
// every 2xx body is JSON.
func FuzzHandler(f *testing.F) {
	vpgP := "/v1/virtual_private_gateways/{vpg}"
	for _, s := range []struct {
		method, path, body string
		auth               uint8
	}{
		{"POST", "/v1/auth", `{"authKeyId":"keyId-aaaa","authKey":"secret-aaaa","tokenTimeoutSeconds":180}`, fuzzAuthNone},
		{"POST", "/v1/auth", `{"authKeyId":"keyId-aaaa","authKey":"wrong"}`, fuzzAuthNone},
		{"POST", "/v1/auth", `{"tokenTimeoutSeconds":-1}`, fuzzAuthNone},
		{"POST", "/v1/operators/{op}/token", `{"tokenTimeoutSeconds":9223372036854775807}`, fuzzAuthA},
		{"POST", "/v1/auth/logout", ``, fuzzAuthA},
		{"POST", "/v1/virtual_private_gateways", `{"type":15,"useInternetGateway":false,"tags":{"name":"factory"}}`, fuzzAuthA},
		{"POST", "/v1/virtual_private_gateways", `{"type":14,"placement":{"region":"eu-central-1"},"deviceSubnetCidrRange":"10.0.0.0/16"}`, fuzzAuthA},
		{"POST", "/v1/virtual_private_gateways", `{"type":242,"deviceSubnetCidrRange":"100.64.0.0/10"}`, fuzzAuthA},
		{"GET", "/v1/virtual_private_gateways?tag_name=name&tag_value=fac&tag_value_match_mode=prefix&limit=1", ``, fuzzAuthA},
		{"GET", "/v1/virtual_private_gateways?limit=0&last_evaluated_key=vpg-", ``, fuzzAuthA},
		{"GET", vpgP, ``, fuzzAuthA},
		{"GET", "/v1/virtual_private_gateways/{vpgB}", ``, fuzzAuthA},
		{"PUT", vpgP + "/tags", `[{"tagName":"owner","tagValue":"u-1"}]`, fuzzAuthA},
		{"DELETE", vpgP + "/tags/name", ``, fuzzAuthA},
		{"POST", vpgP + "/gate/set_vxlan_id", `{"vxlanId":16777215}`, fuzzAuthA},
		{"POST", vpgP + "/gate/peers", `{"outerIpAddress":"198.51.100.7","innerIpAddress":"10.128.255.2"}`, fuzzAuthA},
		{"DELETE", vpgP + "/gate/peers/203.0.113.9", ``, fuzzAuthA},
		{"PUT", vpgP + "/gate/routing/static/sims/routes", `{"{sim}":"192.168.2.0/24","x":"::1/128"}`, fuzzAuthA},
		{"POST", vpgP + "/vpc_peering_connections", `{"destinationCidrBlock":"10.1.0.0/16","peerOwnerId":"123456789012","peerRegion":"us-west-2","peerVpcId":"vpc-1"}`, fuzzAuthA},
		{"DELETE", vpgP + "/vpc_peering_connections/{pcx}", ``, fuzzAuthA},
		{"PUT", vpgP + "/junction/mirroring/peers/10.0.5.5", `{"enabled":false,"description":"off"}`, fuzzAuthA},
		{"POST", vpgP + "/junction/set_redirection", `{"gateway":"10.128.255.1","enabled":true}`, fuzzAuthA},
		{"POST", vpgP + "/junction/set_inspection", `{"enabled":true}`, fuzzAuthA},
		{"POST", vpgP + "/gate/close", ``, fuzzAuthA},
		{"POST", vpgP + "/terminate", ``, fuzzAuthA},
		{"PUT", "/v1/groups/{group}/configuration/SoracomAir", `[{"key":"dnsServers","value":["8.8.8.8"]},{"key":"useVpg","value":false}]`, fuzzAuthA},
		{"DELETE", "/v1/groups/{group}/configuration/SoracomAir/vpgId", ``, fuzzAuthA},
		{"DELETE", "/v1/groups/{group}/configuration/Nope", ``, fuzzAuthA},
		{"GET", "/v1/groups/{group}/subscribers?limit=1", ``, fuzzAuthA},
		{"DELETE", "/v1/groups/{group}", ``, fuzzAuthA},
		{"POST", "/v1/sims/{sim}/set_group", `{"groupId":"{group}"}`, fuzzAuthA},
		{"POST", "/v1/sims/{sim}/unset_group", ``, fuzzAuthA},
		{"POST", "/v1/sims/{sim}/delete_session", ``, fuzzAuthA},
		{"GET", "/v1/sims?limit=1&last_evaluated_key=8981", ``, fuzzAuthB},
		{"GET", "/v1/sims/{sim}", ``, fuzzAuthBogus},
		{"GET", "/v1/sims/{sim}", ``, fuzzAuthKeyOnly},
		{"PATCH", "/v1/groups", ``, fuzzAuthA},
		{"GET", "/v1/nope", ``, fuzzAuthA},
		{"GET", "/v1//sims/../groups", ``, fuzzAuthA},
		{"POST", "/v1/groups", `{"tags":{"a":"b"},"configuration":{"SoracomAir":{"useVpg":1e400}}}`, fuzzAuthA},
		{"POST", "/v1/groups", `{`, fuzzAuthA | fuzzFault},
	} {
		f.Add(s.method, s.path, []byte(s.body), s.auth)
	}
	f.Fuzz(func(t *testing.T, method, path string, body []byte, auth uint8) {
		w := newFuzzWorld(t)
		path, body = w.ids.Replace(path), []byte(w.ids.Replace(string(body)))
		var head strings.Builder
		fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: api.soracom.io\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", method, path, len(body))
		switch int(auth&^fuzzFault) % fuzzAuthModes {
		case fuzzAuthA:
			fmt.Fprintf(&head, "X-Soracom-API-Key: %s\r\nX-Soracom-Token: %s\r\n", w.a[0], w.a[1])
		case fuzzAuthB:
			fmt.Fprintf(&head, "X-Soracom-API-Key: %s\r\nX-Soracom-Token: %s\r\n", w.b[0], w.b[1])
		case fuzzAuthBogus:
			head.WriteString("X-Soracom-API-Key: api-bogus\r\nX-Soracom-Token: tok-bogus\r\n")
		case fuzzAuthKeyOnly:
			fmt.Fprintf(&head, "X-Soracom-API-Key: %s\r\n", w.a[0])
		}
		head.WriteString("\r\n")
		// What net/http's server would hand over (a request it cannot parse
		// never reaches the handler).
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head.String() + string(body))))
		if err != nil {
			return
		}
		req.RemoteAddr = "192.0.2.1:1234"
		faulted := auth&fuzzFault != 0
		if faulted {
			w.srv.Faults().Add(fault.Rule{API: soracom.API, Op: fault.Any, Kind: fault.ServerError, Times: 1})
		}
		rec := httptest.NewRecorder()
		w.h.ServeHTTP(rec, req)
		res := rec.Result()
		code := res.StatusCode
		if faulted && code != http.StatusInternalServerError {
			t.Fatalf("%s %s with a server error armed: %d", method, path, code)
		}
		if code >= 500 && !faulted {
			t.Fatalf("%s %s %q: %d %s", method, path, body, code, rec.Body)
		}
		if code >= 400 {
			var e struct{ Code, Message string }
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("%s %s: %d with Content-Type %q: %s", method, path, code, ct, rec.Body)
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" {
				t.Fatalf("%s %s: %d with error body %q (%v)", method, path, code, rec.Body, err)
			}
		}
		if code/100 == 2 && rec.Body.Len() > 0 && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s: %d with a body that is not JSON: %q", method, path, code, rec.Body)
		}
	})
}
