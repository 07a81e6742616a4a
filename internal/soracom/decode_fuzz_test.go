package soracom

// Native fuzz targets of the client's response decoders: the API error
// parser (status, headers, body), the JSON types with custom decoding
// (VirtualPrivateGateway.gateVxlanId, UnixMillis), the paging headers, and
// one whole call against arbitrary responses. Seeds come from the existing
// tests' fixtures and from the SORACOM emulator's real answers; the committed
// corpus is in testdata/fuzz/<target>. Run one with
//
//	go test ./internal/soracom -run '^$' -fuzz '^FuzzParseAPIError$' -fuzztime 60s -parallel 1

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/equality"
	clocktesting "k8s.io/utils/clock/testing"

	emu "github.com/gatestream/gatestream/internal/emulator/soracom"
)

// fuzzSecret stands for a credential the client must never show in an error.
const fuzzSecret = "tok-FUZZSECRET-0001"

// FuzzParseAPIError: parsing a non-2xx answer never panics and always gives
// an *APIError with the status and the operation; the message is bounded and
// scrubbed; RetryAfter is never negative and only set on a 429; Retryable
// follows the status.
func FuzzParseAPIError(f *testing.F) {
	for _, tc := range []struct {
		status      int
		rate, retry string
		body        string
	}{
		{400, "", "", `{"code":"SEM0016","message":"The specified subscriber is offline"}`},
		{404, "", "", `{"httpStatus":404,"errorMessage":{"code":"VPG0404","message":"No such VPG"}}`},
		{400, "", "", `{"code":"X2","message":"%s of %d, 100%% (%s)","messageArgs":["a",2]}`},
		{400, "", "", `{"code":"X3","message":"{1} before {0}, {x} and {9} kept","messageArgs":["b","a"]}`},
		{404, "", "", `{"code":"VPG0001","message":"VPG %s not found","messageArgs":"vpg-1"}`},
		{400, "", "", `{"errorMessage":{"code":"X5","message":"bad %s","messageArgs":"thing"}}`},
		{403, "", "", "Forbidden by SAM policy\n"},
		{500, "", "", `{"oops":true}`},
		{503, "", "", ""},
		{429, "12", "", `{"code":"COM0001","message":"Too many"}`},
		{429, "", "3", ``},
		{429, "1e10", "", ``},
		{429, "", "9223372037", ``},
		{429, "", "Wed, 21 Oct 2015 07:28:00 GMT", ``},
		{401, "", "", `{"code":"AUT0004","message":"token ` + fuzzSecret + ` expired"}`},
		{400, "", "", `{"code":"X","message":"` + strings.Repeat("é", 600) + `"}`},
	} {
		f.Add(tc.status, tc.rate, tc.retry, []byte(tc.body))
	}
	for _, b := range emulatorAnswers(f) {
		if b.status >= 400 {
			f.Add(b.status, b.header.Get("X-Soracom-Ratelimit-Seconds-Before-Refresh"), "", b.body)
		}
	}
	redact := func(s string) string { return strings.ReplaceAll(s, fuzzSecret, redactedString) }
	f.Fuzz(func(t *testing.T, status int, rateHeader, retryHeader string, body []byte) {
		h := http.Header{}
		if rateHeader != "" {
			h.Set("X-Soracom-Ratelimit-Seconds-Before-Refresh", rateHeader)
		}
		if retryHeader != "" {
			h.Set("Retry-After", retryHeader)
		}
		if d := retryAfter(h); d < 0 {
			t.Fatalf("retryAfter(%q, %q) = %v, negative", rateHeader, retryHeader, d)
		}
		e := parseAPIError("getVirtualPrivateGateway", status, h, body, redact)
		if e == nil {
			t.Fatal("nil *APIError")
		}
		var err error = e
		if e.HTTPStatus != status || StatusCode(err) != status || e.Operation != "getVirtualPrivateGateway" {
			t.Fatalf("status %d, operation %q; want %d", e.HTTPStatus, e.Operation, status)
		}
		if msg := e.Error(); !strings.Contains(msg, fmt.Sprintf("HTTP %d", status)) || !strings.HasPrefix(msg, "soracom getVirtualPrivateGateway: ") {
			t.Fatalf("Error() = %q", msg)
		}
		if strings.Contains(e.Message, fuzzSecret) || strings.Contains(e.Code, fuzzSecret) {
			t.Fatalf("the secret survived: code %q message %q", e.Code, e.Message)
		}
		if len(e.Message) > maxErrorMessage+len("…") {
			t.Fatalf("message of %d bytes", len(e.Message))
		}
		if len(e.Message) > maxErrorMessage && !utf8.ValidString(e.Message) {
			t.Fatalf("truncation split a character: %q", e.Message)
		}
		if e.Message == "" && http.StatusText(status) != "" {
			t.Fatalf("empty message for HTTP %d", status)
		}
		switch {
		case e.RetryAfter < 0:
			t.Fatalf("RetryAfter %v", e.RetryAfter)
		case status != http.StatusTooManyRequests && e.RetryAfter != 0:
			t.Fatalf("RetryAfter %v on HTTP %d", e.RetryAfter, status)
		}
		want := status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500
		if Retryable(err) != want || Retryable(fmt.Errorf("wrapped: %w", err)) != want {
			t.Fatalf("Retryable(HTTP %d) = %v", status, !want)
		}
		if IsSubscriberOffline(err) != strings.EqualFold(e.Code, CodeSubscriberOffline) {
			t.Fatalf("IsSubscriberOffline with code %q", e.Code)
		}
	})
}

// FuzzDecodeTypes: a response body that decodes into the VPG, group, SIM,
// Gate peer or peering types (one object or a list page) re-encodes to JSON
// that decodes to the same value, and encodes the same again.
func FuzzDecodeTypes(f *testing.F) {
	for _, s := range []string{
		`{"vpgId":"vpg-1","type":15,"gateOpened":true,"gateVxlanId":10.0}`,
		`{"vpgId":"vpg-1","type":15,"gateOpened":true,"gateVxlanId":1e1}`,
		`{"vpgId":"vpg-1","gateVxlanId":10.5}`,
		`{"vpgId":"vpg-1","gateVxlanId":null,"createdTime":"1700000000000"}`,
		`{"vpgId":"vpg-1","enableSimBasedRouting":true,"simBasedRoutingConfig":{"sim-1":"192.168.1.0/24"},"vpcPeeringConnections":{"pcx-1":"10.0.0.0/16"},"junctionEnabled":true,"mirroring":{"peers":{"10.0.5.5":{"ipAddress":"10.0.5.5","protocol":"gre","enabled":true,"description":"tap"}}},"inspection":{"enabled":true},"redirection":{"gateway":"10.128.255.1","enabled":true,"description":"router"}}`,
		`[{"vpgId":"vpg-1","type":15,"status":"running"},{"vpgId":"vpg-2","type":15,"status":"creating"}]`,
		`{"groupId":"g-1","configuration":{"SoracomAir":{"useVpg":true,"vpgId":"vpg-1","dnsServers":["8.8.8.8"]}},"createdTime":1.7e12}`,
		`{"simId":"8981100000000000001","status":"active","sessionStatus":{"online":true,"ueIpAddress":"10.128.0.5","lastUpdatedAt":"2026-11-02T09:00:00Z"},"profiles":{"8981":{"primaryImsi":"4401"}}}`,
		`[{"outerIpAddress":"203.0.113.9","innerIpAddress":"10.128.255.1","ownedByCustomer":true}]`,
		`{"id":"pcx-0123","destinationCidrBlock":"10.0.0.0/16","peerOwnerId":"123456789012","peerRegion":"ap-northeast-1","peerVpcId":"vpc-0abc"}`,
	} {
		for k := range decodeKinds {
			f.Add(uint8(k), []byte(s))
		}
	}
	for _, b := range emulatorAnswers(f) {
		if b.status/100 == 2 {
			f.Add(b.kind, b.body)
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		decodeKinds[int(kind)%len(decodeKinds)](t, body)
	})
}

// decodeKinds are the response types FuzzDecodeTypes decodes into.
var decodeKinds = []func(*testing.T, []byte){
	roundTrip[VirtualPrivateGateway],
	roundTrip[[]VirtualPrivateGateway],
	roundTrip[Group],
	roundTrip[[]Group],
	roundTrip[SIM],
	roundTrip[[]SIM],
	roundTrip[[]GatePeer],
	roundTrip[VPCPeeringConnection],
}

// Indexes into decodeKinds of the emulator's answers.
const (
	kindVPG uint8 = iota
	kindVPGs
	kindGroup
	kindGroups
	kindSIM
	kindSIMs
	kindPeers
	kindPeering
)

// roundTrip decodes body as T (without panicking) and, when it decodes,
// checks that encoding and decoding again gives the same value (nil and
// empty maps and slices are equal: omitempty drops empty ones) and the same
// encoding.
func roundTrip[T any](t *testing.T, body []byte) {
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		return
	}
	b1, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%T decoded from %q does not encode: %v", v, body, err)
	}
	var v2 T
	if err := json.Unmarshal(b1, &v2); err != nil {
		t.Fatalf("%T: its own encoding %s does not decode: %v", v, b1, err)
	}
	if !equality.Semantic.DeepEqual(v, v2) {
		t.Fatalf("%T changed through JSON:\n%#v\n%#v\nencoding %s", v, v, v2, b1)
	}
	b2, err := json.Marshal(v2)
	if err != nil || !bytes.Equal(b1, b2) {
		t.Fatalf("%T encodes differently the second time:\n%s\n%s (%v)", v, b1, b2, err)
	}
}

// FuzzGateVXLANID: gateVxlanId decodes exactly the JSON numbers that are
// whole and within int32 (10, 10.0, 1e1) to their value; fractions, values
// out of range, strings and other JSON types are errors that name the field.
func FuzzGateVXLANID(f *testing.F) {
	for _, s := range []string{"10", "10.0", "1e1", "16777215", "null", "10.5", `"10"`, "true", "4294967296",
		"-2147483648", "2147483647", "2147483648", "-0", "1E+2", "0.1e1", "[]", "{}", "1e400", " 7 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		doc := []byte(`{"vpgId":"vpg-1","gateVxlanId":` + raw + `}`)
		if !json.Valid(doc) {
			return // encoding/json refuses it before any field is decoded
		}
		var v VirtualPrivateGateway
		err := json.Unmarshal(doc, &v)
		text := strings.TrimSpace(raw)
		if text == "null" {
			if err != nil || v.GateVXLANID != 0 {
				t.Fatalf("null: %d, %v", v.GateVXLANID, err)
			}
			return
		}
		var num json.Number
		isNumber := json.Unmarshal([]byte(text), &num) == nil && !strings.HasPrefix(text, `"`)
		fl, ferr := strconv.ParseFloat(text, 64)
		whole := isNumber && ferr == nil && fl == math.Trunc(fl) && fl >= math.MinInt32 && fl <= math.MaxInt32
		switch {
		case whole && (err != nil || v.GateVXLANID != int(fl)):
			t.Fatalf("%s: got %d, %v; want %v", raw, v.GateVXLANID, err, fl)
		case !whole && err == nil:
			t.Fatalf("%s accepted as %d", raw, v.GateVXLANID)
		case !whole && !strings.HasPrefix(err.Error(), "gateVxlanId: "):
			t.Fatalf("%s: error %q does not name the field", raw, err)
		}
		if err == nil && v.VPGID != "vpg-1" {
			t.Fatalf("vpgId lost: %+v", v)
		}
	})
}

// FuzzUnixMillis: a timestamp decodes from a JSON number or numeric string
// to that many milliseconds (truncated), from RFC 3339 text, or fails; it is
// never a value the text did not say (a number beyond int64, NaN or Inf).
func FuzzUnixMillis(f *testing.F) {
	for _, s := range []string{"1700000000000", "1700000000000.9", `"1700000000000"`, "null", `""`, `"2026-11-02T09:00:00Z"`,
		`"2026-11-02T09:00:00.123456789+09:00"`, "-1", "1e19", "-1e19", "9223372036854775807", "9.3e18", `"NaN"`, `"Inf"`, `"-Infinity"`,
		"true", "{}", `"x"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		doc := []byte(`{"createdTime":` + raw + `}`)
		if !json.Valid(doc) {
			return
		}
		var g Group
		if err := json.Unmarshal(doc, &g); err != nil {
			return
		}
		got := int64(g.CreatedTime)
		text := strings.Trim(strings.TrimSpace(raw), `"`)
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			if got != n {
				t.Fatalf("%s decoded as %d", raw, got)
			}
			return
		}
		if fl, err := strconv.ParseFloat(text, 64); err == nil {
			if math.IsNaN(fl) || math.IsInf(fl, 0) || fl >= math.MaxInt64 || fl < math.MinInt64 {
				t.Fatalf("%s (%v) accepted as %d", raw, fl, got)
			}
			if got != int64(fl) {
				t.Fatalf("%s decoded as %d, want %d", raw, got, int64(fl))
			}
		}
		// The value survives the client's own encoding.
		b, _ := json.Marshal(g)
		var g2 Group
		if err := json.Unmarshal(b, &g2); err != nil || g2.CreatedTime != g.CreatedTime {
			t.Fatalf("%d through %s: %d, %v", got, b, g2.CreatedTime, err)
		}
	})
}

// FuzzNextKey: reading the next page's key never panics; x-soracom-next-key
// wins (trimmed); a key written into a Link rel=next URL the way the API (and
// the emulator) writes it comes back exactly, even after a rel=prev link.
func FuzzNextKey(f *testing.F) {
	for _, tc := range [][4]string{
		{"", "", "", "sim04"},
		{"abc", "", "", "abc"},
		{"", `</v1/sims?last_evaluated_key=k%2F1>; rel=next`, "", "k/1"},
		{"", `</v1/sims?limit=2&last_evaluated_key=k2>; rel="next"`, "", "k2"},
		{"", `</v1/sims?last_evaluated_key=p>; rel=prev, </v1/sims?last_evaluated_key=n>; rel=next`, "", "n"},
		{"", `<https://api.soracom.io/v1/sims?last_evaluated_key=full>;rel=next`, "", "full"},
		{"", `</v1/sims?last_evaluated_key=p>; rel=prev`, `</v1/sims?last_evaluated_key=q>; rel="prev next"`, "a,b <c>; rel=next"},
		{" hdr ", `</v1/sims?last_evaluated_key=lnk>; rel=next`, "", "key with spaces"},
		{"", `<%zz>; rel=next`, `<>; rel=next`, "%"},
	} {
		f.Add(tc[0], tc[1], tc[2], tc[3])
	}
	f.Fuzz(func(t *testing.T, nextHeader, link1, link2, key string) {
		h := http.Header{}
		if nextHeader != "" {
			h.Set("X-Soracom-Next-Key", nextHeader)
		}
		for _, l := range []string{link1, link2} {
			if l != "" {
				h.Add("Link", l)
			}
		}
		got := NextKey(h)
		if k := strings.TrimSpace(nextHeader); k != "" && got != k {
			t.Fatalf("x-soracom-next-key %q gave %q", nextHeader, got)
		}
		if strings.TrimSpace(nextHeader) == "" && link1 == "" && link2 == "" && got != "" {
			t.Fatalf("no paging headers gave %q", got)
		}
		if key == "" {
			return
		}
		q := url.Values{"limit": {"2"}}
		q.Set("last_evaluated_key", key)
		link := "</v1/sims?" + q.Encode() + ">; rel=next"
		prev := "</v1/sims?last_evaluated_key=" + url.QueryEscape(key+"-prev") + ">; rel=prev"
		for _, hdr := range []http.Header{
			{"Link": {link}},
			{"Link": {prev + ", " + link}},
			{"Link": {prev, link}},
		} {
			if got := NextKey(hdr); got != key {
				t.Fatalf("key %q through %q came back as %q", key, hdr.Values("Link"), got)
			}
		}
		if strings.TrimSpace(key) == key {
			if got := NextKey(http.Header{"X-Soracom-Next-Key": {key}}); got != key {
				t.Fatalf("x-soracom-next-key %q came back as %q", key, got)
			}
		}
	})
}

// FuzzClientResponse: one whole call (GetVirtualPrivateGateway or
// ListVirtualPrivateGateways) against an arbitrary answer: no panic; a 2xx
// either decodes or is a decoding error; any other status is an *APIError
// with that status; no error text carries the client's key or token.
func FuzzClientResponse(f *testing.F) {
	f.Add(uint16(200), false, "", []byte(`{"vpgId":"vpg-1","type":15,"status":"running","gateVxlanId":10}`))
	f.Add(uint16(200), true, "X-Soracom-Next-Key: vpg-1", []byte(`[{"vpgId":"vpg-1"}]`))
	f.Add(uint16(200), true, "Link: </v1/virtual_private_gateways?last_evaluated_key=vpg-2>; rel=next", []byte(`[]`))
	f.Add(uint16(200), false, "", []byte(`{"vpgId":"vpg-1","gateVxlanId":"`+fuzzSecret+`"}`))
	f.Add(uint16(200), false, "", []byte(`{"vpgId":"vpg-1","createdTime":"`+fuzzSecret+`"}`))
	f.Add(uint16(200), false, "", []byte(`{"vpgId":`))
	f.Add(uint16(204), false, "", []byte(``))
	f.Add(uint16(404), false, "Content-Type: application/json", []byte(`{"code":"VPG0001","message":"VPG %s not found","messageArgs":"vpg-1"}`))
	f.Add(uint16(401), false, "", []byte(`{"code":"AUT0004","message":"`+fuzzSecret+` expired"}`))
	f.Add(uint16(429), true, "X-Soracom-Ratelimit-Seconds-Before-Refresh: 1e300", []byte(``))
	f.Add(uint16(503), false, "Retry-After: 2", []byte("<html>busy</html>"))
	for _, b := range emulatorAnswers(f) {
		var hdr strings.Builder
		for _, k := range []string{"X-Soracom-Next-Key", "Link", "X-Soracom-Ratelimit-Seconds-Before-Refresh"} {
			if v := b.header.Get(k); v != "" {
				fmt.Fprintf(&hdr, "%s: %s\n", k, v)
			}
		}
		f.Add(uint16(b.status), b.kind == kindVPGs, hdr.String(), b.body)
	}
	f.Fuzz(func(t *testing.T, status uint16, list bool, headers string, body []byte) {
		code := int(status) // 200..599: what net/http hands over
		if code < 200 || code > 599 {
			code = 200 + code%400
		}
		respHeader := http.Header{}
		for _, line := range strings.Split(headers, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && k != "" {
				respHeader.Add(k, strings.TrimSpace(v))
			}
		}
		calls := 0
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Path == "/v1/auth" {
				return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
					Body: io.NopCloser(strings.NewReader(`{"apiKey":"api-FUZZ","token":"` + fuzzSecret + `","operatorId":"OP0012345678"}`))}, nil
			}
			calls++
			if calls > 10 {
				return nil, errors.New("the client keeps calling")
			}
			return &http.Response{StatusCode: code, Header: respHeader.Clone(), Body: io.NopCloser(bytes.NewReader(body))}, nil
		})
		c, err := New(Options{
			Endpoint:    "https://api.soracom.example",
			Credentials: Credentials{AuthKeyID: "keyId-FUZZ", AuthKey: "secret-FUZZKEY"},
			HTTPClient:  &http.Client{Transport: rt},
			MaxRetries:  -1,
			Sleep:       func(context.Context, time.Duration) error { return nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if list {
			_, err = c.ListVirtualPrivateGateways(ctx, ListOptions{})
		} else {
			_, err = c.GetVirtualPrivateGateway(ctx, "vpg-1")
		}
		if err == nil {
			if code/100 != 2 {
				t.Fatalf("HTTP %d: no error", code)
			}
			return
		}
		for _, secret := range []string{fuzzSecret, "secret-FUZZKEY", "api-FUZZ"} {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("HTTP %d: the error shows a credential: %v", code, err)
			}
		}
		ae, isAPI := AsAPIError(err)
		var te *TransportError
		switch {
		case errors.As(err, &te):
			if code/100 != 3 {
				t.Fatalf("HTTP %d gave a transport error %v", code, err)
			}
		case code/100 == 2 && isAPI:
			t.Fatalf("HTTP %d gave an API error %v", code, err)
		case code/100 != 2 && !isAPI && code/100 != 3:
			t.Fatalf("HTTP %d gave %T %v", code, err, err)
		case isAPI && (ae.HTTPStatus != code || ae.RetryAfter < 0 || ae.RetryAfter > DefaultMaxRetryWait):
			t.Fatalf("HTTP %d: %+v", code, ae)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// emulatorAnswer is one answer of the SORACOM emulator.
type emulatorAnswer struct {
	status int
	header http.Header
	body   []byte
	kind   uint8 // index into decodeKinds of the body's type (2xx)
}

// emulatorAnswers drives the SORACOM emulator through a VPG with Gate, a
// peer, SIM-based routing, Junction and a peering, a group bound to it and a
// SIM, and returns its answers (successes and errors) as seeds.
func emulatorAnswers(tb testing.TB) []emulatorAnswer {
	tb.Helper()
	srv := emu.New(emu.Options{Clock: clocktesting.NewFakeClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)), PageSize: 1})
	srv.AddOperator("OP0012345678", "keyId-a", "secret-a")
	var out []emulatorAnswer
	var apiKey, token string
	call := func(kind uint8, method, path, body string) []byte {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if apiKey != "" {
			req.Header.Set("X-Soracom-API-Key", apiKey)
			req.Header.Set("X-Soracom-Token", token)
		}
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		out = append(out, emulatorAnswer{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes(), kind: kind})
		return rec.Body.Bytes()
	}
	var auth struct{ APIKey, Token string }
	if err := json.Unmarshal(call(0, "POST", "/v1/auth", `{"authKeyId":"keyId-a","authKey":"secret-a"}`), &auth); err != nil {
		tb.Fatalf("emulator auth: %v", err)
	}
	apiKey, token = auth.APIKey, auth.Token
	var vpg struct {
		VPGID string `json:"vpgId"`
	}
	if err := json.Unmarshal(call(kindVPG, "POST", "/v1/virtual_private_gateways", `{"type":15,"tags":{"owner":"u-1"}}`), &vpg); err != nil || vpg.VPGID == "" {
		tb.Fatalf("emulator VPG: %v", err)
	}
	call(kindVPG, "POST", "/v1/virtual_private_gateways", `{"type":14,"placement":{"region":"eu-central-1"}}`)
	p := "/v1/virtual_private_gateways/" + vpg.VPGID
	call(kindVPG, "POST", p+"/gate/open", `{"vxlanId":10,"privacySeparatorEnabled":false}`)
	call(kindPeers, "POST", p+"/gate/peers", `{"outerIpAddress":"203.0.113.9","innerIpAddress":"10.128.255.1"}`)
	call(kindPeers, "GET", p+"/gate/peers", "")
	call(kindVPG, "POST", p+"/gate/routing/static/sims/enable", "")
	call(kindVPG, "PUT", p+"/gate/routing/static/sims/routes", `{"8981100000000000001":"192.168.1.0/24"}`)
	call(kindVPG, "POST", p+"/junction/set_redirection", `{"gateway":"10.128.255.1","description":"router","enabled":true}`)
	call(kindVPG, "POST", p+"/junction/mirroring/peers", `{"ipAddress":"10.0.5.5","protocol":"gre","enabled":true}`)
	call(kindPeering, "POST", p+"/vpc_peering_connections", `{"destinationCidrBlock":"10.0.0.0/16","peerOwnerId":"123456789012","peerRegion":"ap-northeast-1","peerVpcId":"vpc-0abc"}`)
	call(kindVPG, "GET", p, "")
	call(kindVPGs, "GET", "/v1/virtual_private_gateways", "")
	call(kindVPGs, "GET", "/v1/virtual_private_gateways?tag_name=owner&tag_value=u-1", "")
	var group struct {
		GroupID string `json:"groupId"`
	}
	if err := json.Unmarshal(call(kindGroup, "POST", "/v1/groups", `{"tags":{"name":"line-a"}}`), &group); err != nil {
		tb.Fatalf("emulator group: %v", err)
	}
	call(kindGroup, "PUT", "/v1/groups/"+group.GroupID+"/configuration/SoracomAir",
		`[{"key":"useVpg","value":true},{"key":"vpgId","value":"`+vpg.VPGID+`"},{"key":"dnsServers","value":["8.8.8.8"]}]`)
	call(kindGroups, "GET", "/v1/groups", "")
	srv.AddSIM(emu.SIM{ID: "8981100000000000001", IMSI: "440100000000001", Online: true})
	srv.AddSIM(emu.SIM{ID: "8981100000000000002", IMSI: "440100000000002"})
	call(kindSIM, "POST", "/v1/sims/8981100000000000001/set_group", `{"groupId":"`+group.GroupID+`"}`)
	call(kindSIM, "GET", "/v1/sims/8981100000000000001", "")
	call(kindSIMs, "GET", "/v1/sims", "")
	call(kindSIMs, "GET", "/v1/groups/"+group.GroupID+"/subscribers", "")
	// Errors.
	call(0, "GET", "/v1/virtual_private_gateways/vpg-0000000000000000", "")
	call(0, "POST", "/v1/sims/8981100000000000002/delete_session", "")
	call(0, "POST", "/v1/virtual_private_gateways", `{"type":1}`)
	call(0, "POST", "/v1/groups", `{not json`)
	call(0, "PATCH", "/v1/groups", "")
	call(0, "GET", "/v1/nope", "")
	return out
}

// Regressions found by the fuzz targets above.

// TestRetryAfterNeverNegative: a wait beyond what a Duration holds
// ("1E10" seconds, found by FuzzParseAPIError; Inf; a huge Retry-After)
// saturates instead of overflowing into a negative wait, and the client
// caps it at MaxRetryWait.
func TestRetryAfterNeverNegative(t *testing.T) {
	longest := time.Duration(math.MaxInt64)
	for _, tc := range []struct {
		header, value string
		want          time.Duration
	}{
		{"X-Soracom-Ratelimit-Seconds-Before-Refresh", "1E10", longest},
		{"X-Soracom-Ratelimit-Seconds-Before-Refresh", "Inf", longest},
		{"X-Soracom-Ratelimit-Seconds-Before-Refresh", "9223372036.854776", longest},
		{"X-Soracom-Ratelimit-Seconds-Before-Refresh", "9223372036", 9223372036 * time.Second},
		{"X-Soracom-Ratelimit-Seconds-Before-Refresh", "NaN", 0},
		{"X-Soracom-Ratelimit-Seconds-Before-Refresh", "1.5", 1500 * time.Millisecond},
		{"Retry-After", "9223372037", longest},
		{"Retry-After", "9223372036854775807", longest},
		{"Retry-After", "3", 3 * time.Second},
	} {
		if got := retryAfter(http.Header{tc.header: {tc.value}}); got != tc.want {
			t.Errorf("%s: %s gave %v, want %v", tc.header, tc.value, got, tc.want)
		}
	}
	e := parseAPIError("listSims", http.StatusTooManyRequests, http.Header{"X-Soracom-Ratelimit-Seconds-Before-Refresh": {"1E10"}}, nil, nil)
	c := &Client{maxWait: DefaultMaxRetryWait}
	if err := c.capRetryAfter(e); StatusCode(err) != 429 || e.RetryAfter != DefaultMaxRetryWait {
		t.Fatalf("capped RetryAfter %v", e.RetryAfter)
	}
}

// TestUnixMillisRefusesNumbersBeyondInt64: "9227000000000000000" (found by
// FuzzUnixMillis), NaN and Inf are errors, not -9223372036854775808.
func TestUnixMillisRefusesNumbersBeyondInt64(t *testing.T) {
	for _, in := range []string{"9227000000000000000", "1e19", "-1e19", "9.3e18", `"NaN"`, `"Inf"`, `"-Infinity"`} {
		var m UnixMillis
		if err := json.Unmarshal([]byte(in), &m); err == nil {
			t.Errorf("%s accepted as %d", in, m)
		}
	}
	for in, want := range map[string]UnixMillis{"9223372036854775807": math.MaxInt64, "-9.2e18": -9200000000000000000, "1700000000000.9": 1700000000000} {
		var m UnixMillis
		if err := json.Unmarshal([]byte(in), &m); err != nil || m != want {
			t.Errorf("%s: %d, %v; want %d", in, m, err, want)
		}
	}
}

// TestDecodeErrorsAreScrubbed: a decoder names the value it refused; when
// the server sent the client's token back in a field, the error does not
// show it (FuzzClientResponse's seed).
func TestDecodeErrorsAreScrubbed(t *testing.T) {
	f := newFakeAPI(t)
	f.handle("GET /v1/virtual_private_gateways/vpg-1", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"vpgId": "vpg-1", "gateVxlanId": r.Header.Get("X-Soracom-Token")})
	})
	c, _ := newTestClient(t, f, nil)
	_, err := c.GetVirtualPrivateGateway(testCtx(t), "vpg-1")
	if err == nil || strings.Contains(err.Error(), tokenPrefix) || !strings.Contains(err.Error(), redactedString) {
		t.Fatalf("err = %v", err)
	}
}
