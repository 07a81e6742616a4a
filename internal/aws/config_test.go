package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
	"golang.org/x/time/rate"

	emu "github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/fault"
)

func TestLimiterWaitedBeforeEachAttempt(t *testing.T) {
	e := newTestEnv(t, emu.Options{})
	// 10 tokens, refilled once an hour: each attempt visibly takes one.
	lim := rate.NewLimiter(rate.Every(time.Hour), 10)
	cfg := e.config()
	cfg.Limiter = lim
	c := e.clients(t, cfg)
	ctx := context.Background()

	must(c.AppStream.CreateFleet(ctx, fleetInput("f", 1)))(t)
	if got := int(lim.Tokens()); got != 9 {
		t.Fatalf("after one call: %d tokens left, want 9", got)
	}
	// One throttled attempt (returned at once: the caller requeues, the SDK
	// does not sleep on it) and the caller's next call: two waits.
	e.faults.Add(fault.Rule{API: "appstream", Op: "StartFleet", Kind: fault.Throttle, Times: 1})
	if err := c.AppStream.StartFleet(ctx, "f"); !IsThrottled(err) {
		t.Fatalf("throttled StartFleet: %v", err)
	}
	noErr(t, c.AppStream.StartFleet(ctx, "f"))
	if n := e.faults.Count("appstream", "StartFleet"); n != 2 {
		t.Fatalf("StartFleet attempts: %d, want 2", n)
	}
	if got := int(lim.Tokens()); got != 7 {
		t.Fatalf("after a retried call: %d tokens left, want 7", got)
	}
	// EC2 shares the same budget.
	must(c.EC2.DescribeVPC(ctx, "vpc-0abc"))(t)
	if got := int(lim.Tokens()); got != 6 {
		t.Fatalf("after an EC2 call: %d tokens left, want 6", got)
	}
}

func TestLimiterExhaustedSendsNothing(t *testing.T) {
	e := newTestEnv(t, emu.Options{})
	lim := rate.NewLimiter(rate.Every(time.Hour), 1)
	obs := &observations{}
	cfg := e.config()
	cfg.Limiter = lim
	cfg.Observe = obs.observe
	as := e.clients(t, cfg).AppStream

	if _, err := as.DescribeImage(context.Background(), "TeraTerm-Image"); err != nil {
		t.Fatal(err)
	}
	// The next token is an hour away: a wait bounded by a deadline fails at once.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := as.DescribeImage(ctx, "TeraTerm-Image")
	if !errors.Is(err, ErrRateLimited) || !IsThrottled(err) || !IsRetryable(err) || IsTerminal(err) {
		t.Fatalf("want ErrRateLimited (throttled, retryable), got %v", err)
	}
	if n := e.faults.Count("appstream", "DescribeImages"); n != 1 {
		t.Fatalf("requests sent: %d, want 1", n)
	}
	// A cancelled context fails the wait too.
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if _, err := as.DescribeImage(cctx, "TeraTerm-Image"); err == nil {
		t.Fatal("want an error with a cancelled context")
	}
	if n := e.faults.Count("appstream", "DescribeImages"); n != 1 {
		t.Fatalf("requests sent: %d, want 1", n)
	}
	calls := obs.get()
	if len(calls) != 3 || Result(calls[1].err) != "throttled" {
		t.Fatalf("observations: %+v", calls)
	}
}

func TestRetryer(t *testing.T) {
	ctx := context.Background()
	t.Run("a throttle is returned at once", func(t *testing.T) {
		e := newTestEnv(t, emu.Options{})
		e.faults.Add(fault.Rule{API: "appstream", Op: "DescribeFleets", Kind: fault.Throttle})
		_, err := e.clients(t, e.config()).AppStream.DescribeFleet(ctx, "f")
		wantCode(t, err, "ThrottlingException")
		if !IsThrottled(err) || !IsRetryable(err) || IsNotFound(err) {
			t.Fatalf("classification of %v", err)
		}
		if n := e.faults.Count("appstream", "DescribeFleets"); n != 1 {
			t.Fatalf("attempts: %d, want 1 (the caller requeues a throttle)", n)
		}
	})
	t.Run("default attempts", func(t *testing.T) {
		e := newTestEnv(t, emu.Options{})
		e.faults.Add(fault.Rule{API: "appstream", Op: "DescribeFleets", Kind: fault.ServerError})
		obs := &observations{}
		cfg := e.config()
		cfg.Observe = obs.observe
		_, err := e.clients(t, cfg).AppStream.DescribeFleet(ctx, "f")
		wantCode(t, err, "InternalFailure")
		if !IsRetryable(err) || IsThrottled(err) || IsNotFound(err) {
			t.Fatalf("classification of %v", err)
		}
		if n := e.faults.Count("appstream", "DescribeFleets"); n != DefaultRetryMaxAttempts {
			t.Fatalf("attempts: %d, want %d", n, DefaultRetryMaxAttempts)
		}
		if n := obs.count(ServiceAppStream, "DescribeFleets"); n != 1 {
			t.Fatalf("observations: %d, want 1 per call", n)
		}
	})
	t.Run("injected attempts", func(t *testing.T) {
		e := newTestEnv(t, emu.Options{})
		e.faults.Add(fault.Rule{API: "ec2", Op: "DescribeVpcs", Kind: fault.ServerError})
		cfg := e.config()
		cfg.RetryMaxAttempts = 2
		_, err := e.clients(t, cfg).EC2.DescribeVPC(ctx, "vpc-0abc")
		wantCode(t, err, "InternalError")
		if !IsRetryable(err) || IsTerminal(err) {
			t.Fatalf("classification of %v", err)
		}
		if n := e.faults.Count("ec2", "DescribeVpcs"); n != 2 {
			t.Fatalf("attempts: %d, want 2", n)
		}
	})
	t.Run("ConcurrentModificationException retried", func(t *testing.T) {
		e := newTestEnv(t, emu.Options{})
		var mu sync.Mutex
		n := 0
		h := e.w.AppStreamHandler()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			n++
			first := n == 1
			mu.Unlock()
			if first {
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"__type":"ConcurrentModificationException","message":"try again"}`)
				return
			}
			h.ServeHTTP(w, r)
		}))
		defer srv.Close()
		cfg := e.config()
		cfg.AppStreamEndpoint = srv.URL
		must(e.clients(t, cfg).AppStream.CreateFleet(ctx, fleetInput("f", 1)))(t)
		if n != 2 {
			t.Fatalf("attempts: %d, want 2", n)
		}
	})
	t.Run("LimitExceededException is a quota, not retried", func(t *testing.T) {
		e := newTestEnv(t, emu.Options{MaxFleets: 1})
		as := e.clients(t, e.config()).AppStream
		must(as.CreateFleet(ctx, fleetInput("f1", 1)))(t)
		_, err := as.CreateFleet(ctx, fleetInput("f2", 1))
		wantCode(t, err, "LimitExceededException")
		if !IsTerminal(err) || IsRetryable(err) || IsThrottled(err) {
			t.Fatalf("classification of %v", err)
		}
		if n := e.faults.Count("appstream", "CreateFleet"); n != 2 {
			t.Fatalf("CreateFleet requests: %d, want 2 (no retry)", n)
		}
	})
	t.Run("lost response", func(t *testing.T) {
		e := newTestEnv(t, emu.Options{})
		e.faults.Add(fault.Rule{API: "appstream", Op: "CreateStack", Kind: fault.LoseResponse, Times: 1})
		as := e.clients(t, e.config()).AppStream
		// The first attempt created the stack; the retry reports it exists.
		_, err := as.CreateStack(ctx, stackInput("s"))
		if !IsAlreadyExists(err) {
			t.Fatalf("want already exists after a lost response, got %v", err)
		}
	})
}

func TestStaticCredentialsSignRequests(t *testing.T) {
	e := newTestEnv(t, emu.Options{})
	as := e.clients(t, e.config()).AppStream
	must(as.DescribeImage(context.Background(), "TeraTerm-Image"))(t)
	auths := e.asLog.all()
	if len(auths) != 1 {
		t.Fatalf("requests: %d", len(auths))
	}
	if want := "Credential=" + testAccessKey + "/"; !strings.Contains(auths[0], want) || !strings.Contains(auths[0], "/appstream/aws4_request") {
		t.Fatalf("Authorization %q lacks %q", auths[0], want)
	}
}

func TestAssumeRole(t *testing.T) {
	e := newTestEnv(t, emu.Options{})
	var mu sync.Mutex
	var stsForms []url.Values
	var stsAuth []string
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		stsForms = append(stsForms, r.PostForm)
		stsAuth = append(stsAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIAASSUMEDROLEKEY01</AccessKeyId>
      <SecretAccessKey>assumed-secret</SecretAccessKey>
      <SessionToken>assumed-session-token</SessionToken>
      <Expiration>%s</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/gatestream/gatestream</Arn>
      <AssumedRoleId>AROAEXAMPLE:gatestream</AssumedRoleId>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata>
</AssumeRoleResponse>`, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	}))
	defer sts.Close()
	obs := &observations{}
	cfg := e.config()
	cfg.RoleARN = "arn:aws:iam::123456789012:role/gatestream"
	cfg.STSEndpoint = sts.URL
	cfg.Observe = obs.observe
	c := e.clients(t, cfg)
	ctx := context.Background()
	must(c.AppStream.DescribeImage(ctx, "TeraTerm-Image"))(t)
	must(c.EC2.DescribeVPC(ctx, "vpc-0abc"))(t)

	mu.Lock()
	defer mu.Unlock()
	if len(stsForms) != 1 {
		t.Fatalf("AssumeRole calls: %d, want 1 (cached)", len(stsForms))
	}
	f := stsForms[0]
	if f.Get("Action") != "AssumeRole" || f.Get("RoleArn") != cfg.RoleARN || f.Get("RoleSessionName") != RoleSessionName {
		t.Fatalf("AssumeRole request: %v", f)
	}
	if !strings.Contains(stsAuth[0], "Credential="+testAccessKey+"/") {
		t.Fatalf("AssumeRole not signed with the static credentials: %q", stsAuth[0])
	}
	for _, a := range append(e.asLog.all(), e.ec2Log.all()...) {
		if !strings.Contains(a, "Credential=ASIAASSUMEDROLEKEY01/") {
			t.Fatalf("request not signed with the assumed role: %q", a)
		}
	}
	if obs.count(ServiceSTS, "AssumeRole") != 1 {
		t.Fatalf("AssumeRole not observed: %+v", obs.get())
	}
}

func TestCredentialsNeverInErrors(t *testing.T) {
	e := newTestEnv(t, emu.Options{})
	const token = "FwoGZXIvYXdzEBSessionTokenValue"
	// A server that echoes the request's signature and the keys into its error message.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg := "denied for " + r.Header.Get("Authorization") + " secret " + testSecretKey + " token " + token + " key " + testAccessKey
		b, _ := json.Marshal(map[string]string{"__type": "UnrecognizedClientException", "message": msg})
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(b)
	}))
	defer srv.Close()
	obs := &observations{}
	cfg := e.config()
	cfg.AppStreamEndpoint = srv.URL
	cfg.Static.SessionToken = token
	cfg.Observe = obs.observe
	as := e.clients(t, cfg).AppStream
	_, err := as.DescribeFleet(context.Background(), "f")
	if err == nil {
		t.Fatal("want an error")
	}
	wantCode(t, err, "UnrecognizedClientException")
	if !IsTerminal(err) {
		t.Fatalf("want terminal: %v", err)
	}
	var ae smithy.APIError
	errors.As(err, &ae)
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), ae.ErrorMessage(), obs.get()[0].err.Error()} {
		if leak := containsAny(s, testAccessKey, testSecretKey, token, "Signature="+"0", "Signature=1"); leak != "" {
			t.Fatalf("credential %q leaked in %q", leak, s)
		}
		if !strings.Contains(s, redacted) {
			t.Fatalf("message not redacted: %q", s)
		}
	}
	// The signature itself is scrubbed too.
	if strings.Contains(err.Error(), "Signature=") && !strings.Contains(err.Error(), "Signature="+redacted) {
		t.Fatalf("signature leaked: %v", err)
	}

	// Errors from New do not carry keys either.
	_, err = New(context.Background(), Config{Region: testRegion, Static: &StaticCredentials{AccessKeyID: testAccessKey}})
	if err == nil || strings.Contains(err.Error(), testAccessKey) {
		t.Fatalf("New with a half-set key: %v", err)
	}
}

func TestConfigAndCredentialsRedactThemselves(t *testing.T) {
	creds := &StaticCredentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey, SessionToken: "tok-123456"}
	cfg := Config{Region: testRegion, Static: creds, RoleARN: "arn:aws:iam::123456789012:role/x"}
	type wrapper struct {
		Cfg   Config
		Creds *StaticCredentials
		Val   StaticCredentials
	}
	w := wrapper{cfg, creds, *creds}
	var outs []string
	for _, v := range []any{cfg, &cfg, creds, *creds, w, &w} {
		for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			outs = append(outs, fmt.Sprintf(f, v))
		}
	}
	b, err := json.Marshal(struct{ C *StaticCredentials }{creds})
	noErr(t, err)
	outs = append(outs, string(b), cfg.String())
	for _, s := range outs {
		if leak := containsAny(s, testAccessKey, testSecretKey, "tok-123456"); leak != "" {
			t.Fatalf("credential %q leaked in %q", leak, s)
		}
	}
	if s := cfg.String(); !strings.Contains(s, "static") || !strings.Contains(s, testRegion) || !strings.Contains(s, cfg.RoleARN) {
		t.Fatalf("Config.String lost useful information: %s", s)
	}
}

func TestNewDefaultChain(t *testing.T) {
	// No static credentials: the default chain is resolved lazily, New does not call out.
	c, err := New(context.Background(), Config{Region: testRegion, AppStreamEndpoint: "http://127.0.0.1:1", EC2Endpoint: "http://127.0.0.1:1"})
	if err != nil || c.AppStream == nil || c.EC2 == nil {
		t.Fatalf("New(default chain): %v", err)
	}
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	if _, err := New(context.Background(), Config{}); err == nil {
		t.Fatal("New without any region must fail")
	}
}

func TestRetryerConfig(t *testing.T) {
	r := newRetryer(Config{})
	if r.MaxAttempts() != DefaultRetryMaxAttempts {
		t.Fatalf("MaxAttempts %d", r.MaxAttempts())
	}
	if r := newRetryer(Config{RetryMaxAttempts: 2}); r.MaxAttempts() != 2 {
		t.Fatalf("MaxAttempts %d", r.MaxAttempts())
	}
	for code, want := range map[string]bool{
		// Throttles are the caller's requeue, never a sleep inside the call.
		"ThrottlingException": false, "RequestLimitExceeded": false, "RequestLimitExceededException": false,
		"ConcurrentModificationException": true, "LimitExceededException": false, "ResourceNotFoundException": false,
		"InvalidParameterCombinationException": false,
	} {
		if got := r.IsErrorRetryable(&smithy.GenericAPIError{Code: code}); got != want {
			t.Errorf("retryer.IsErrorRetryable(%s) = %v, want %v", code, got, want)
		}
	}
	var _ awssdk.Retryer = r
	// Backoff is bounded by the configured maximum.
	fast := newRetryer(Config{RetryMaxBackoff: time.Millisecond})
	for attempt := 1; attempt < 10; attempt++ {
		d, err := fast.RetryDelay(attempt, &smithy.GenericAPIError{Code: "ThrottlingException"})
		if err != nil || d > time.Millisecond {
			t.Fatalf("RetryDelay(%d) = %v, %v", attempt, d, err)
		}
	}
}
