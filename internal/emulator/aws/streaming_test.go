package aws_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"

	emu "github.com/gatestream/gatestream/internal/emulator/aws"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("content type %q", ct)
	}
	return resp.StatusCode, string(b)
}

func urlInput(user string) *appstream.CreateStreamingURLInput {
	return &appstream.CreateStreamingURLInput{
		StackName: awssdk.String("stack"), FleetName: awssdk.String("fleet"), UserId: awssdk.String(user),
		ApplicationId: awssdk.String("teraterm"), Validity: awssdk.Int64(300),
		SessionContext: awssdk.String(`{"device":"raspi-1","address":"10.128.3.7","port":22}`),
	}
}

func TestStreamingURL(t *testing.T) {
	e := newEnv(t, emu.Options{})
	seed(e.w)
	e.runningFleetWithStack(t, "fleet", "stack", 2)

	out := must(e.as.CreateStreamingURL(ctx, urlInput("user-a")))(t)
	u := awssdk.ToString(out.StreamingURL)
	if !strings.HasPrefix(u, e.asURL+"/streaming/") || len(u) < len(e.asURL)+len("/streaming/")+40 {
		t.Fatalf("url %q", u)
	}
	if !out.Expires.Equal(t0.Add(300 * time.Second)) {
		t.Fatalf("expires %v", out.Expires)
	}

	// First use: the session page, naming user, stack, fleet, app and the target context.
	code, page := get(t, u)
	if code != 200 {
		t.Fatalf("open: %d %s", code, page)
	}
	for _, want := range []string{"<title>AppStream 2.0 session</title>", `<dd id="user">user-a</dd>`, `<dd id="stack">stack</dd>`,
		`<dd id="fleet">fleet</dd>`, `<dd id="application">teraterm</dd>`, "raspi-1", "10.128.3.7", `<dd id="instance-address">10.0.1.`} {
		if !strings.Contains(page, want) {
			t.Fatalf("page lacks %q:\n%s", want, page)
		}
	}
	// Second use is refused.
	if code, page := get(t, u); code != 403 || !strings.Contains(page, "This streaming URL has already been used") {
		t.Fatalf("reuse: %d %s", code, page)
	}

	// The session is visible, and counted as in use.
	ds := must(e.as.DescribeSessions(ctx, &appstream.DescribeSessionsInput{StackName: awssdk.String("stack"), FleetName: awssdk.String("fleet"),
		UserId: awssdk.String("user-a"), AuthenticationType: astypes.AuthenticationTypeApi}))(t)
	if len(ds.Sessions) != 1 {
		t.Fatalf("sessions %+v", ds.Sessions)
	}
	s := ds.Sessions[0]
	if awssdk.ToString(s.UserId) != "user-a" || s.State != astypes.SessionStateActive || s.ConnectionState != astypes.SessionConnectionStateConnected ||
		s.AuthenticationType != astypes.AuthenticationTypeApi || !s.StartTime.Equal(t0) || awssdk.ToString(s.StackName) != "stack" ||
		s.NetworkAccessConfiguration == nil || !strings.HasPrefix(awssdk.ToString(s.NetworkAccessConfiguration.EniPrivateIpAddress), "10.0.1.") {
		t.Fatalf("session %+v", s)
	}
	if c := e.describeFleet(t, "fleet").ComputeCapacityStatus; awssdk.ToInt32(c.InUse) != 1 || awssdk.ToInt32(c.Available) != 1 {
		t.Fatalf("capacity %+v", c)
	}
	// UserId without AuthenticationType is an invalid combination.
	_, err := e.as.DescribeSessions(ctx, &appstream.DescribeSessionsInput{StackName: awssdk.String("stack"), FleetName: awssdk.String("fleet"), UserId: awssdk.String("user-a")})
	wantType[*astypes.InvalidParameterCombinationException](t, err)
	if other := must(e.as.DescribeSessions(ctx, &appstream.DescribeSessionsInput{StackName: awssdk.String("stack"), FleetName: awssdk.String("fleet"),
		UserId: awssdk.String("user-b"), AuthenticationType: astypes.AuthenticationTypeApi}))(t); len(other.Sessions) != 0 {
		t.Fatalf("user-b sessions %+v", other.Sessions)
	}

	// ExpireSession ends it; DescribeSessions stops returning it.
	must(e.as.ExpireSession(ctx, &appstream.ExpireSessionInput{SessionId: s.Id}))(t)
	if ds := must(e.as.DescribeSessions(ctx, &appstream.DescribeSessionsInput{StackName: awssdk.String("stack"), FleetName: awssdk.String("fleet")}))(t); len(ds.Sessions) != 0 {
		t.Fatalf("expired session still described: %+v", ds.Sessions)
	}
	if all := e.w.Sessions(); len(all) != 1 || all[0].State != emu.SessionExpired {
		t.Fatalf("world sessions %+v", all)
	}
	must(e.as.ExpireSession(ctx, &appstream.ExpireSessionInput{SessionId: awssdk.String("unknown")}))(t)

	// After expiry the URL is refused.
	late := awssdk.ToString(must(e.as.CreateStreamingURL(ctx, urlInput("user-b")))(t).StreamingURL)
	e.clk.Step(301 * time.Second)
	if code, page := get(t, late); code != 403 || !strings.Contains(page, "This streaming URL has expired") {
		t.Fatalf("expired: %d %s", code, page)
	}
	// ExpireURL does the same without a clock.
	early := awssdk.ToString(must(e.as.CreateStreamingURL(ctx, urlInput("user-c")))(t).StreamingURL)
	if !e.w.ExpireURL(early) {
		t.Fatal("ExpireURL: unknown")
	}
	if code, _ := get(t, early); code != 403 {
		t.Fatalf("ExpireURL: %d", code)
	}
	// Unknown token.
	if code, page := get(t, e.asURL+"/streaming/not-a-token"); code != 404 || !strings.Contains(page, "not valid") {
		t.Fatalf("unknown: %d %s", code, page)
	}

	// A session ends when its fleet stops, and when its stack is deleted.
	u2 := awssdk.ToString(must(e.as.CreateStreamingURL(ctx, urlInput("user-d")))(t).StreamingURL)
	if code, _ := get(t, u2); code != 200 {
		t.Fatalf("open u2: %d", code)
	}
	must(e.as.StopFleet(ctx, &appstream.StopFleetInput{Name: awssdk.String("fleet")}))(t)
	if ds := must(e.as.DescribeSessions(ctx, &appstream.DescribeSessionsInput{StackName: awssdk.String("stack"), FleetName: awssdk.String("fleet")}))(t); len(ds.Sessions) != 0 {
		t.Fatalf("session survived StopFleet: %+v", ds.Sessions)
	}
	must(e.as.StartFleet(ctx, &appstream.StartFleetInput{Name: awssdk.String("fleet")}))(t)
	u3 := awssdk.ToString(must(e.as.CreateStreamingURL(ctx, urlInput("user-e")))(t).StreamingURL)
	if code, _ := get(t, u3); code != 200 {
		t.Fatalf("open u3: %d", code)
	}
	must(e.as.DisassociateFleet(ctx, &appstream.DisassociateFleetInput{FleetName: awssdk.String("fleet"), StackName: awssdk.String("stack")}))(t)
	must(e.as.DeleteStack(ctx, &appstream.DeleteStackInput{Name: awssdk.String("stack")}))(t)
	for _, s := range e.w.Sessions() {
		if s.State != emu.SessionExpired {
			t.Fatalf("session survived DeleteStack: %+v", s)
		}
	}
}

func TestStreamingURLErrors(t *testing.T) {
	e := newEnv(t, emu.Options{FleetStartDelay: time.Minute})
	seed(e.w)
	must(e.as.CreateFleet(ctx, fleetInput("fleet", 1)))(t)
	must(e.as.CreateStack(ctx, &appstream.CreateStackInput{Name: awssdk.String("stack")}))(t)
	must(e.as.CreateStack(ctx, &appstream.CreateStackInput{Name: awssdk.String("other")}))(t)

	try := func(mod func(*appstream.CreateStreamingURLInput)) error {
		in := urlInput("user-a")
		mod(in)
		_, err := e.as.CreateStreamingURL(ctx, in)
		return err
	}
	// Not associated.
	wantType[*astypes.InvalidParameterCombinationException](t, try(func(*appstream.CreateStreamingURLInput) {}))
	must(e.as.AssociateFleet(ctx, &appstream.AssociateFleetInput{FleetName: awssdk.String("fleet"), StackName: awssdk.String("stack")}))(t)
	// Not running (STOPPED, then STARTING).
	wantType[*astypes.ResourceNotAvailableException](t, try(func(*appstream.CreateStreamingURLInput) {}))
	must(e.as.StartFleet(ctx, &appstream.StartFleetInput{Name: awssdk.String("fleet")}))(t)
	wantType[*astypes.ResourceNotAvailableException](t, try(func(*appstream.CreateStreamingURLInput) {}))
	e.clk.Step(time.Minute)

	wantType[*astypes.ResourceNotFoundException](t, try(func(in *appstream.CreateStreamingURLInput) { in.StackName = awssdk.String("nope") }))
	wantType[*astypes.ResourceNotFoundException](t, try(func(in *appstream.CreateStreamingURLInput) { in.FleetName = awssdk.String("nope") }))
	wantType[*astypes.InvalidParameterCombinationException](t, try(func(in *appstream.CreateStreamingURLInput) { in.StackName = awssdk.String("other") }))
	wantType[*astypes.InvalidParameterCombinationException](t, try(func(in *appstream.CreateStreamingURLInput) { in.Validity = awssdk.Int64(0) }))
	wantType[*astypes.InvalidParameterCombinationException](t, try(func(in *appstream.CreateStreamingURLInput) { in.Validity = awssdk.Int64(604801) }))
	wantType[*astypes.InvalidParameterCombinationException](t, try(func(in *appstream.CreateStreamingURLInput) { in.ApplicationId = awssdk.String("notepad") }))
	wantCode(t, try(func(in *appstream.CreateStreamingURLInput) { in.UserId = awssdk.String("u") }), "ValidationException")
	wantCode(t, try(func(in *appstream.CreateStreamingURLInput) { in.UserId = awssdk.String(strings.Repeat("u", 33)) }), "ValidationException")
	wantCode(t, try(func(in *appstream.CreateStreamingURLInput) { in.UserId = awssdk.String("user a") }), "ValidationException")

	// Boundaries are accepted; default validity is 60 s.
	for _, v := range []int64{1, 604800} {
		if err := try(func(in *appstream.CreateStreamingURLInput) { in.Validity = awssdk.Int64(v) }); err != nil {
			t.Fatalf("validity %d: %v", v, err)
		}
	}
	in := urlInput(strings.Repeat("u", 32))
	in.Validity, in.ApplicationId = nil, nil
	out := must(e.as.CreateStreamingURL(ctx, in))(t)
	if !out.Expires.Equal(e.clk.Now().Add(60 * time.Second)) {
		t.Fatalf("default validity: %v", out.Expires)
	}
	// Capacity: a fleet of one instance serves one session.
	if code, _ := get(t, *out.StreamingURL); code != 200 {
		t.Fatalf("open: %d", code)
	}
	full := must(e.as.CreateStreamingURL(ctx, urlInput("user-b")))(t)
	if code, page := get(t, *full.StreamingURL); code != 503 || !strings.Contains(page, "No streaming resources") {
		t.Fatalf("full fleet: %d %s", code, page)
	}
	for _, su := range e.w.StreamingURLs() {
		if su.UserId == "user-b" && su.Used {
			t.Fatal("a refused open consumed the URL")
		}
	}
	// The session ends at MaxUserDurationInSeconds (default 57600 s).
	e.clk.Step(57600 * time.Second)
	if ds := must(e.as.DescribeSessions(ctx, &appstream.DescribeSessionsInput{StackName: awssdk.String("stack"), FleetName: awssdk.String("fleet")}))(t); len(ds.Sessions) != 0 {
		t.Fatalf("session outlived its max duration: %+v", ds.Sessions)
	}
	// Directory-joined fleets cannot use streaming URLs.
	must(e.as.StopFleet(ctx, &appstream.StopFleetInput{Name: awssdk.String("fleet")}))(t)
	must(e.as.UpdateFleet(ctx, &appstream.UpdateFleetInput{Name: awssdk.String("fleet"), DomainJoinInfo: &astypes.DomainJoinInfo{DirectoryName: awssdk.String("corp.example.com")}}))(t)
	must(e.as.StartFleet(ctx, &appstream.StartFleetInput{Name: awssdk.String("fleet")}))(t)
	e.clk.Step(time.Minute)
	wantType[*astypes.OperationNotPermittedException](t, try(func(*appstream.CreateStreamingURLInput) {}))
}

func TestDescribeSessionsPagination(t *testing.T) {
	e := newEnv(t, emu.Options{})
	seed(e.w)
	e.runningFleetWithStack(t, "fleet", "stack", 5)
	for _, u := range []string{"u1", "u2", "u3"} {
		out := must(e.as.CreateStreamingURL(ctx, urlInput(u)))(t)
		if code, _ := get(t, *out.StreamingURL); code != 200 {
			t.Fatalf("open %s: %d", u, code)
		}
		e.clk.Step(time.Second)
	}
	var users []string
	var token *string
	for {
		out := must(e.as.DescribeSessions(ctx, &appstream.DescribeSessionsInput{StackName: awssdk.String("stack"), FleetName: awssdk.String("fleet"),
			Limit: awssdk.Int32(2), NextToken: token}))(t)
		for _, s := range out.Sessions {
			users = append(users, *s.UserId)
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	if strings.Join(users, ",") != "u1,u2,u3" {
		t.Fatalf("sessions %v", users)
	}
}
