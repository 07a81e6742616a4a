package aws

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	emu "github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/fault"
)

const (
	testRegion    = "ap-northeast-1"
	testAccessKey = "AKIAGATESTREAMTEST01"
	testSecretKey = "gatestream/Secret+Key/ExampleValue0123456789"
)

var t0 = time.Date(2026, 9, 1, 9, 0, 0, 0, time.UTC)

// TestMain isolates the SDK's default config loading from the machine: no
// shared config files, no IMDS, no endpoint or retry overrides from the environment.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatestream-aws-test")
	if err != nil {
		panic(err)
	}
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE":             filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		_ = os.Setenv(k, v)
	}
	for _, k := range []string{"AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_APPSTREAM", "AWS_ENDPOINT_URL_EC2",
		"AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"} {
		_ = os.Unsetenv(k)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// headerLog records the Authorization header of every request a server receives.
type headerLog struct {
	mu    sync.Mutex
	auths []string
}

func (l *headerLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("Authorization"); a != "" {
			l.mu.Lock()
			l.auths = append(l.auths, a)
			l.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (l *headerLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.auths...)
}

type testEnv struct {
	w      *emu.World
	clk    *clocktesting.FakeClock
	faults *fault.Injector
	asURL  string
	ec2URL string
	asLog  *headerLog
	ec2Log *headerLog
}

// newTestEnv starts the AppStream and EC2 emulators on 127.0.0.1 kernel ports, seeded.
func newTestEnv(t *testing.T, opts emu.Options) *testEnv {
	t.Helper()
	e := &testEnv{clk: clocktesting.NewFakeClock(t0), faults: fault.New(1), asLog: &headerLog{}, ec2Log: &headerLog{}}
	opts.Clock, opts.Faults = e.clk, e.faults
	if opts.Region == "" {
		opts.Region = testRegion
	}
	e.w = emu.New(opts)
	as := httptest.NewServer(e.asLog.wrap(e.w.AppStreamHandler()))
	t.Cleanup(as.Close)
	ec := httptest.NewServer(e.ec2Log.wrap(e.w.EC2Handler()))
	t.Cleanup(ec.Close)
	e.asURL, e.ec2URL = as.URL, ec.URL
	e.w.SetStreamingBaseURL(as.URL)

	w := e.w
	w.AddVPC("vpc-0abc", "10.0.0.0/16")
	w.AddSubnet("subnet-0a", "vpc-0abc", "10.0.1.0/24", "ap-northeast-1a")
	w.AddSubnet("subnet-0b", "vpc-0abc", "10.0.2.0/24", "ap-northeast-1c")
	w.AddSubnet("subnet-0c", "vpc-0abc", "10.0.3.0/24", "ap-northeast-1d") // no explicit association: main table
	w.AddRouteTable("rtb-0main", "vpc-0abc")
	w.AddRouteTable("rtb-0abc", "vpc-0abc", "subnet-0a", "subnet-0b")
	w.AddSecurityGroup(emu.SecurityGroup{ID: "sg-0a", VPCID: "vpc-0abc", Name: "appstream",
		Ingress: []emu.Rule{{Protocol: "tcp", FromPort: 443, ToPort: 443, CIDRs: []string{"10.0.0.0/16"}}},
		Egress:  []emu.Rule{{Protocol: "-1", CIDRs: []string{"0.0.0.0/0"}}}})
	w.AddImage("TeraTerm-Image", "AVAILABLE",
		emu.Application{Name: "teraterm", DisplayName: "Tera Term"},
		emu.Application{Name: "rdp", DisplayName: "Remote Desktop"})
	return e
}

// config returns a Config for the emulators with static credentials and fast retries.
func (e *testEnv) config() Config {
	return Config{
		Region:            testRegion,
		AppStreamEndpoint: e.asURL,
		EC2Endpoint:       e.ec2URL,
		Static:            &StaticCredentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey},
		RetryMaxBackoff:   time.Millisecond,
	}
}

func (e *testEnv) clients(t *testing.T, cfg Config) *Clients {
	t.Helper()
	c, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// observations records Config.Observe calls.
type observations struct {
	mu    sync.Mutex
	calls []observation
}

type observation struct {
	service, op string
	err         error
	d           time.Duration
}

func (o *observations) observe(service, op string, err error, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, observation{service, op, err, d})
}

func (o *observations) get() []observation {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]observation(nil), o.calls...)
}

func (o *observations) count(service, op string) int {
	n := 0
	for _, c := range o.get() {
		if c.service == service && c.op == op {
			n++
		}
	}
	return n
}

// must(call())(t) returns call's value, failing t on its error.
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := Code(err); got != code {
		t.Fatalf("want error code %q, got %q (%v)", code, got, err)
	}
}

func containsAny(s string, subs ...string) string {
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			return sub
		}
	}
	return ""
}
