package soracom_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gatestream/gatestream/internal/emulator/soracom"
)

const (
	opA    = "OP0012345678"
	keyIDA = "keyId-aaaa"
	keyA   = "secret-aaaa"
	opB    = "OP0087654321"
	keyIDB = "keyId-bbbb"
	keyB   = "secret-bbbb"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// env is one emulator behind a real HTTP server, with a fake clock and a
// client authenticated as operator A.
type env struct {
	t      *testing.T
	srv    *soracom.Server
	ts     *httptest.Server
	clk    *clocktesting.FakeClock
	peer   *fakePeering
	apiKey string
	token  string
}

func newEnv(t *testing.T, opts soracom.Options) *env {
	t.Helper()
	return setup(t, opts, true)
}

// setup builds an env; withFake installs a fake PeeringBackend when opts has none.
func setup(t *testing.T, opts soracom.Options, withFake bool) *env {
	t.Helper()
	clk := clocktesting.NewFakeClock(t0)
	if opts.Clock == nil {
		opts.Clock = clk
	}
	e := &env{t: t, clk: clk}
	if opts.Peering == nil && withFake {
		e.peer = &fakePeering{}
		opts.Peering = e.peer
	}
	e.srv = soracom.New(opts)
	e.srv.AddOperator(opA, keyIDA, keyA)
	e.srv.AddOperator(opB, keyIDB, keyB)
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	e.apiKey, e.token = e.login(keyIDA, keyA)
	return e
}

// resp is one HTTP response, body read.
type resp struct {
	status int
	header http.Header
	body   []byte
}

// decode unmarshals the body into v, zeroing v first (so omitted fields do not keep old values).
func (r resp) decode(t *testing.T, v any) {
	t.Helper()
	reflect.ValueOf(v).Elem().SetZero()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %q: %v", r.body, err)
	}
}

// errBody decodes a SORACOM error body.
func (r resp) errCode(t *testing.T) string {
	t.Helper()
	var e struct{ Code, Message string }
	r.decode(t, &e)
	if e.Message == "" {
		t.Fatalf("error body without message: %s", r.body)
	}
	return e.Code
}

// send performs a request with explicit credentials ("" = no header).
func (e *env) send(method, path string, body any, apiKey, token string) (resp, error) {
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = bytes.NewBufferString(b)
		default:
			data, err := json.Marshal(b)
			if err != nil {
				return resp{}, err
			}
			rd = bytes.NewReader(data)
		}
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		return resp{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if apiKey != "" {
		req.Header.Set("X-Soracom-API-Key", apiKey)
	}
	if token != "" {
		req.Header.Set("X-Soracom-Token", token)
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, err
	}
	return resp{status: res.StatusCode, header: res.Header, body: data}, nil
}

// do performs a request as operator A and fails the test on transport errors.
func (e *env) do(method, path string, body any) resp {
	e.t.Helper()
	r, err := e.send(method, path, body, e.apiKey, e.token)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// must performs a request and checks the status.
func (e *env) must(status int, method, path string, body any) resp {
	e.t.Helper()
	r := e.do(method, path, body)
	if r.status != status {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, status, r.body)
	}
	return r
}

// fail performs a request expecting an error status and code.
func (e *env) fail(status int, code, method, path string, body any) resp {
	e.t.Helper()
	r := e.must(status, method, path, body)
	if got := r.errCode(e.t); code != "" && got != code {
		e.t.Fatalf("%s %s: code %q, want %q; body %s", method, path, got, code, r.body)
	}
	return r
}

func (e *env) login(keyID, key string) (string, string) {
	e.t.Helper()
	r, err := e.send("POST", "/v1/auth", map[string]string{"authKeyId": keyID, "authKey": key}, "", "")
	if err != nil || r.status != 200 {
		e.t.Fatalf("auth: %v %d %s", err, r.status, r.body)
	}
	var a struct{ APIKey, Token, OperatorID string }
	r.decode(e.t, &a)
	return a.APIKey, a.Token
}

func (e *env) createVPG(body map[string]any) soracom.VPG {
	e.t.Helper()
	var v soracom.VPG
	e.must(201, "POST", "/v1/virtual_private_gateways", body).decode(e.t, &v)
	return v
}

func (e *env) getVPG(id string) soracom.VPG {
	e.t.Helper()
	var v soracom.VPG
	e.must(200, "GET", "/v1/virtual_private_gateways/"+id, nil).decode(e.t, &v)
	return v
}

func (e *env) createGroup(body any) soracom.Group {
	e.t.Helper()
	var g soracom.Group
	e.must(201, "POST", "/v1/groups", body).decode(e.t, &g)
	return g
}

// sim is the wire shape of a Sim as a client sees it.
type sim struct {
	SimID         string            `json:"simId"`
	OperatorID    string            `json:"operatorId"`
	IMSI          string            `json:"imsi"`
	Status        string            `json:"status"`
	GroupID       string            `json:"groupId"`
	Tags          map[string]string `json:"tags"`
	SessionStatus struct {
		Online        bool   `json:"online"`
		UEIPAddress   string `json:"ueIpAddress"`
		VPGID         string `json:"vpgId"`
		IMSI          string `json:"imsi"`
		SessionID     string `json:"sessionId"`
		LastUpdatedAt int64  `json:"lastUpdatedAt"`
	} `json:"sessionStatus"`
}

func simID(i int) string { return fmt.Sprintf("89811000000000%05d", i) }
func imsi(i int) string  { return fmt.Sprintf("44010%010d", i) }

// fakePeering is the AWS side of Canal for tests.
type fakePeering struct {
	mu        sync.Mutex
	requests  []peeringCall
	deleted   []string
	n         int
	failNext  error
	deleteErr error
}

type peeringCall struct {
	RequesterOwner, RequesterVPC, RequesterCIDR, PeerOwner, PeerVPC, PeerRegion string
}

func (f *fakePeering) RequestPeering(requesterOwnerID, requesterVPCID, requesterCIDR, peerOwnerID, peerVPCID, peerRegion string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failNext; err != nil {
		f.failNext = nil
		return "", err
	}
	f.n++
	f.requests = append(f.requests, peeringCall{requesterOwnerID, requesterVPCID, requesterCIDR, peerOwnerID, peerVPCID, peerRegion})
	return fmt.Sprintf("pcx-%017d", f.n), nil
}

func (f *fakePeering) DeletePeering(pcxID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.deleteErr != nil {
		return f.deleteErr
	}
	f.deleted = append(f.deleted, pcxID)
	return nil
}

func (f *fakePeering) snapshot() ([]peeringCall, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]peeringCall(nil), f.requests...), append([]string(nil), f.deleted...)
}

var errAWS = errors.New("InvalidVpcID.NotFound: The vpc ID 'vpc-0bad' does not exist")
