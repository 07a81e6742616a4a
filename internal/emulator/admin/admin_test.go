package admin_test

// The admin API over real HTTP (127.0.0.1, kernel-chosen ports), checked
// against the emulators with plain net/http (SORACOM faults, seen raw), the
// operator's own SORACOM client (internal/soracom) and aws-sdk-go-v2 (EC2).

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/gatestream/gatestream/internal/emulator"
	"github.com/gatestream/gatestream/internal/emulator/admin"
	"github.com/gatestream/gatestream/internal/soracom"
)

type env struct {
	cloud *emulator.Cloud
	admin string // base URL of the admin API
	sor   *soracom.Client
	ec2   *ec2.Client
}

// soracomGet sends an authenticated GET to the SORACOM API with plain
// net/http (unlike the client, it shows every status as it is, and holds
// nothing back after a 429) and returns the status.
func (e *env) soracomGet(t *testing.T, path string) int {
	t.Helper()
	resp, err := http.Post(e.cloud.SoracomURL+"/v1/auth", "application/json", strings.NewReader(
		`{"authKeyId":"`+emulator.DemoSoracomAuthKeyID+`","authKey":"`+emulator.DemoSoracomAuthKey+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var auth struct{ APIKey, Token string }
	err = json.NewDecoder(resp.Body).Decode(&auth)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("auth: %d %v", resp.StatusCode, err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.cloud.SoracomURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Soracom-API-Key", auth.APIKey)
	req.Header.Set("X-Soracom-Token", auth.Token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// start runs the three emulators with the demo world, the admin API in
// front of them, and clients without retries (every fault is seen raw).
func start(t *testing.T) *env {
	t.Helper()
	c, err := emulator.Start(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	seeded, err := c.SeedDemo()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(admin.New(c)) // 127.0.0.1, port chosen by the kernel
	t.Cleanup(srv.Close)

	sor, err := soracom.New(soracom.Options{
		Endpoint:    c.SoracomURL,
		Credentials: soracom.Credentials{AuthKeyID: seeded.SoracomAuthKeyID, AuthKey: seeded.SoracomAuthKey},
		MaxRetries:  -1,
		Timeout:     30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := awssdk.Config{
		Region:      seeded.AWSRegion,
		Credentials: credentials.NewStaticCredentialsProvider(seeded.AWSAccessKeyID, seeded.AWSSecretAccessKey, ""),
		Retryer:     func() awssdk.Retryer { return awssdk.NopRetryer{} },
	}
	ec2c := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = awssdk.String(c.EC2URL) })
	return &env{cloud: c, admin: srv.URL, sor: sor, ec2: ec2c}
}

// call sends a request to the admin API and returns the status and body.
func (e *env) call(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, e.admin+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusNoContent && resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s %s: Content-Type %q", method, path, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, b
}

// want calls the admin API, checks the status and decodes the body into out (when not nil).
func (e *env) want(t *testing.T, method, path, body string, status int, out any) {
	t.Helper()
	got, b := e.call(t, method, path, body)
	if got != status {
		t.Fatalf("%s %s %s: %d %s, want %d", method, path, body, got, b, status)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
}

func (e *env) rules(t *testing.T) []admin.Rule {
	t.Helper()
	var rs admin.Rules
	e.want(t, http.MethodGet, "/faults", "", http.StatusOK, &rs)
	if rs.Rules == nil {
		t.Fatal("GET /faults: rules is null, want a list")
	}
	return rs.Rules
}

func (e *env) calls(t *testing.T, query string) admin.Calls {
	t.Helper()
	var cs admin.Calls
	e.want(t, http.MethodGet, "/calls"+query, "", http.StatusOK, &cs)
	if cs.Count != len(cs.Calls) || cs.Calls == nil {
		t.Fatalf("GET /calls%s: count %d, %d calls", query, cs.Count, len(cs.Calls))
	}
	return cs
}

func TestHealthz(t *testing.T) {
	e := start(t)
	var out map[string]string
	e.want(t, http.MethodGet, "/healthz", "", http.StatusOK, &out)
	if out["status"] != "ok" {
		t.Fatalf("healthz: %v", out)
	}
}

func TestThrottleRuleAnswers429UntilDisarmed(t *testing.T) {
	e := start(t)
	ctx := t.Context()
	// Served normally first.
	if st := e.soracomGet(t, "/v1/sims"); st != http.StatusOK {
		t.Fatalf("GET /v1/sims: %d", st)
	}

	var armed admin.Rule
	e.want(t, http.MethodPost, "/faults", `{"api":"soracom","operation":"listSims","kind":"throttle"}`, http.StatusCreated, &armed)
	if want := (admin.Rule{API: "soracom", Operation: "listSims", Kind: "throttle"}); armed != want {
		t.Fatalf("armed %+v, want %+v", armed, want)
	}
	if rs := e.rules(t); len(rs) != 1 || rs[0] != armed {
		t.Fatalf("GET /faults: %+v", rs)
	}

	if st := e.soracomGet(t, "/v1/sims"); st != http.StatusTooManyRequests {
		t.Fatalf("GET /v1/sims with the rule armed: %d, want 429", st)
	}
	// Other operations are not affected.
	if st := e.soracomGet(t, "/v1/sims/"+emulator.DemoSIMRaspberryPi); st != http.StatusOK {
		t.Fatalf("GET /v1/sims/{id}: %d", st)
	}

	// The call log has both listSims calls, the second throttled.
	cs := e.calls(t, "?api=soracom&operation=listSims")
	if cs.Count != 2 || cs.Calls[0].Status != 200 || cs.Calls[0].Fault != "none" ||
		cs.Calls[1].Status != http.StatusTooManyRequests || cs.Calls[1].Fault != "throttle" || cs.Calls[1].API != "soracom" ||
		cs.Calls[1].Operation != "listSims" || cs.Calls[1].Time.IsZero() {
		t.Fatalf("listSims calls: %+v", cs)
	}
	if th := e.calls(t, "?fault=throttle"); th.Count != 1 || th.Calls[0] != cs.Calls[1] {
		t.Fatalf("throttled calls: %+v", th)
	}
	if all := e.calls(t, ""); all.Count != 6 { // (auth, listSims) ×2, auth, getSim
		t.Fatalf("whole log: %+v", all)
	}

	// DELETE /faults: normal service again; the log is kept.
	e.want(t, http.MethodDelete, "/faults", "", http.StatusNoContent, nil)
	if rs := e.rules(t); len(rs) != 0 {
		t.Fatalf("rules after DELETE: %+v", rs)
	}
	if st := e.soracomGet(t, "/v1/sims"); st != http.StatusOK {
		t.Fatalf("GET /v1/sims after DELETE /faults: %d", st)
	}
	if cs := e.calls(t, "?api=soracom&operation=listSims"); cs.Count != 3 || cs.Calls[2].Status != 200 {
		t.Fatalf("listSims calls after DELETE /faults: %+v", cs)
	}

	// DELETE /calls empties the log and keeps the rules.
	e.want(t, http.MethodPost, "/faults", `{"api":"ec2","operation":"DescribeVpcs","kind":"server-error","times":1}`, http.StatusCreated, nil)
	e.want(t, http.MethodDelete, "/calls", "", http.StatusNoContent, nil)
	if cs := e.calls(t, ""); cs.Count != 0 {
		t.Fatalf("log after DELETE /calls: %+v", cs)
	}
	if rs := e.rules(t); len(rs) != 1 || rs[0].API != "ec2" || rs[0].Times != 1 {
		t.Fatalf("rules after DELETE /calls: %+v", rs)
	}
	// That rule fails one DescribeVpcs with a 500, then lets them through.
	_, err := e.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusInternalServerError {
		t.Fatalf("DescribeVpcs with the rule armed: %v, want a 500", err)
	}
	if _, err := e.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}); err != nil {
		t.Fatalf("second DescribeVpcs: %v", err)
	}
	cs = e.calls(t, "?api=ec2")
	if cs.Count != 2 || cs.Calls[0].Fault != "server-error" || cs.Calls[0].Status != 500 || cs.Calls[1].Status != 200 {
		t.Fatalf("ec2 calls: %+v", cs)
	}
}

func TestBadRequestsNameTheFieldAndArmNothing(t *testing.T) {
	e := start(t)
	for _, tc := range []struct {
		method, path, body string
		field              string
	}{
		{"POST", "/faults", `{"api":"soracom","kind":"explode"}`, "kind"},
		{"POST", "/faults", `{"api":"soracom","kind":"throttle","probability":1.5}`, "probability"},
		{"POST", "/faults", `{"api":"sqs","kind":"throttle"}`, "api"},
		{"POST", "/faults", `{"kind":"throttle"}`, "api"},
		{"POST", "/faults", `{"api":"soracom","operation":"CreateVpg","kind":"throttle"}`, "operation"},
		{"POST", "/faults", `{"api":"ec2","operation":"describeVpcs","kind":"throttle"}`, "operation"},
		{"POST", "/faults", `{"api":"*","operation":"create vpg","kind":"throttle"}`, "operation"},
		{"POST", "/faults", `{"api":"soracom","kind":"throttle","probability":"high"}`, "probability"},
		{"POST", "/faults", `{"api":"soracom","kind":"throttle","prob":0.5}`, "prob"},
		{"POST", "/faults", `{"api":"soracom","kind":"throttle","times":-1}`, "times"},
		{"POST", "/faults", `{"api":"soracom","kind":"throttle","latencyMs":-5}`, "latencyMs"},
		{"POST", "/faults", `{"api":"soracom","kind":"throttle","burst":3}`, "burst"},
		{"POST", "/faults", `{"api":"soracom","kind":"throttle","rate":2,"probability":0.5}`, "probability"},
		{"POST", "/faults", `{"api":"soracom"}`, "kind"},
		{"POST", "/faults", ``, "body"},
		{"POST", "/faults", `{"api":"soracom","kind":"throttle"} {}`, "body"},
		{"POST", "/faults?api=soracom", `{"api":"soracom","kind":"throttle"}`, "api"},
		{"GET", "/calls?api=sqs", ``, "api"},
		{"GET", "/calls?op=listSims", ``, "op"},
		{"GET", "/calls?fault=explode", ``, "fault"},
		{"POST", "/world", `{"vpcs":-1}`, "vpcs"},
		{"POST", "/world", `{"vpcs":1000}`, "vpcs"},
		{"POST", "/world", `{"sims":"many"}`, "sims"},
		{"POST", "/world", `{"vpc":1}`, "vpc"},
	} {
		status, b := e.call(t, tc.method, tc.path, tc.body)
		var fe admin.FieldError
		if err := json.Unmarshal(b, &fe); err != nil || status != http.StatusBadRequest || fe.Field != tc.field ||
			!strings.HasPrefix(fe.Message, tc.field+": ") {
			t.Errorf("%s %s %s: %d %s, want 400 naming %s", tc.method, tc.path, tc.body, status, b, tc.field)
		}
	}
	if rs := e.rules(t); len(rs) != 0 {
		t.Fatalf("bad requests armed %+v", rs)
	}
	if w := e.cloud.SeededWorld(); len(w.VPCs)+len(w.SIMs) != 0 {
		t.Fatalf("bad requests seeded %+v", w)
	}

	// Wrong methods are 405 with Allow; unknown paths 404.
	status, b := e.call(t, http.MethodPut, "/faults", `{}`)
	if status != http.StatusMethodNotAllowed || !bytes.Contains(b, []byte("DELETE, GET, POST")) {
		t.Fatalf("PUT /faults: %d %s", status, b)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.admin+"/calls", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "DELETE, GET" {
		t.Fatalf("POST /calls: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if status, b := e.call(t, http.MethodGet, "/fault", ""); status != http.StatusNotFound || !bytes.Contains(b, []byte("/faults")) {
		t.Fatalf("GET /fault: %d %s", status, b)
	}

	// The accepted forms: defaults filled in, rate and latency rules.
	for body, want := range map[string]admin.Rule{
		`{"api":"*","kind":"unavailable","probability":0.25}`:                                          {API: "*", Operation: "*", Kind: "unavailable", Probability: 0.25},
		`{"api":"appstream","operation":"CreateFleet","latencyMs":1500}`:                               {API: "appstream", Operation: "CreateFleet", Kind: "none", LatencyMs: 1500},
		`{"api":"ec2","rate":2,"burst":4,"perApi":true}`:                                               {API: "ec2", Operation: "*", Kind: "none", Rate: 2, Burst: 4, PerAPI: true},
		`{"api":"soracom","operation":"createVirtualPrivateGateway","kind":"lose-response","times":1}`: {API: "soracom", Operation: "createVirtualPrivateGateway", Kind: "lose-response", Times: 1},
	} {
		var got admin.Rule
		e.want(t, http.MethodPost, "/faults", body, http.StatusCreated, &got)
		if got != want {
			t.Errorf("POST /faults %s: %+v, want %+v", body, got, want)
		}
	}
	if rs := e.rules(t); len(rs) != 4 {
		t.Fatalf("rules: %+v", rs)
	}
}

func TestSeedWorldCreatesVPCsAndSIMsThatExist(t *testing.T) {
	e := start(t)
	ctx := t.Context()
	var w admin.World
	e.want(t, http.MethodPost, "/world", `{"vpcs":3,"sims":4}`, http.StatusCreated, &w)
	if len(w.VPCs) != 3 || len(w.SIMs) != 4 || len(w.VPCIDs) != 3 || len(w.SubnetIDs) != 6 ||
		len(w.RouteTableIDs) != 6 || len(w.SecurityGroupIDs) != 3 || len(w.SIMIDs) != 4 {
		t.Fatalf("POST /world: %+v", w)
	}

	// The VPCs, their subnets (two zones each), route tables and security groups, through EC2.
	vpcs, err := e.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: w.VPCIDs})
	if err != nil || len(vpcs.Vpcs) != 3 {
		t.Fatalf("DescribeVpcs: %v %+v", err, vpcs)
	}
	all, err := e.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	if err != nil || len(all.Vpcs) != 4 { // and the demo VPC
		t.Fatalf("DescribeVpcs: %v %d", err, len(all.Vpcs))
	}
	for _, v := range w.VPCs {
		sns, err := e.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{
			Filters: []ec2types.Filter{{Name: awssdk.String("vpc-id"), Values: []string{v.ID}}}})
		if err != nil || len(sns.Subnets) != 2 {
			t.Fatalf("DescribeSubnets of %s: %v %+v", v.ID, err, sns)
		}
		zones := map[string]bool{}
		for _, sn := range sns.Subnets {
			zones[awssdk.ToString(sn.AvailabilityZone)] = true
			if !slices.Contains(w.SubnetIDs, awssdk.ToString(sn.SubnetId)) {
				t.Fatalf("subnet %s not in the answer", awssdk.ToString(sn.SubnetId))
			}
		}
		if len(zones) != 2 {
			t.Fatalf("%s: zones %v", v.ID, zones)
		}
		rts, err := e.ec2.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: v.RouteTableIDs})
		if err != nil || len(rts.RouteTables) != 2 {
			t.Fatalf("DescribeRouteTables %v: %v %+v", v.RouteTableIDs, err, rts)
		}
		for _, rt := range rts.RouteTables {
			if awssdk.ToString(rt.VpcId) != v.ID || len(rt.Routes) == 0 || awssdk.ToString(rt.Routes[0].GatewayId) != "local" {
				t.Fatalf("route table %+v", rt)
			}
		}
		sgs, err := e.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{v.SecurityGroupID}})
		if err != nil || len(sgs.SecurityGroups) != 1 || awssdk.ToString(sgs.SecurityGroups[0].VpcId) != v.ID {
			t.Fatalf("DescribeSecurityGroups %s: %v %+v", v.SecurityGroupID, err, sgs)
		}
	}

	// The SIMs, online, through SORACOM.
	for _, s := range w.SIMs {
		got, err := e.sor.GetSim(ctx, s.ID)
		if err != nil || !got.SessionStatus.Online || got.Tags["name"] != s.Name || s.IPAddress == "" {
			t.Fatalf("GetSim %s: %v %+v (answer %+v)", s.ID, err, got, s)
		}
	}
	sims, err := e.sor.ListSims(ctx, soracom.PageOptions{})
	if err != nil || len(sims) != 5+4 { // and the demo's five
		t.Fatalf("ListSims: %v %d", err, len(sims))
	}

	// A second request continues the numbering; GET /world lists both.
	var more admin.World
	e.want(t, http.MethodPost, "/world", `{"vpcs":1,"sims":1}`, http.StatusCreated, &more)
	if len(more.VPCs) != 1 || slices.Contains(w.VPCIDs, more.VPCIDs[0]) || len(more.SIMs) != 1 || slices.Contains(w.SIMIDs, more.SIMIDs[0]) {
		t.Fatalf("second POST /world: %+v", more)
	}
	var listed admin.World
	e.want(t, http.MethodGet, "/world", "", http.StatusOK, &listed)
	if !slices.Equal(listed.VPCIDs, append(slices.Clone(w.VPCIDs), more.VPCIDs...)) ||
		!slices.Equal(listed.SIMIDs, append(slices.Clone(w.SIMIDs), more.SIMIDs...)) {
		t.Fatalf("GET /world: %+v", listed)
	}
	// Seeding goes through the Go API: nothing in the call log comes from it.
	for _, c := range e.calls(t, "").Calls {
		if c.Operation != "listSims" && c.Operation != "getSim" && c.Operation != "auth" &&
			!strings.HasPrefix(c.Operation, "Describe") {
			t.Fatalf("unexpected call %+v", c)
		}
	}
}
