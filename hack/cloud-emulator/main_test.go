package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/gatestream/gatestream/internal/emulator"
	"github.com/gatestream/gatestream/internal/emulator/admin"
	"github.com/gatestream/gatestream/internal/emulator/fault"
)

// buildBinary compiles this command into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cloud-emulator")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a running cloud-emulator binary.
type proc struct {
	cmd    *exec.Cmd
	out    strings.Builder // stdout up to the ready line
	lines  chan string     // the rest of stdout; closed at EOF
	stderr strings.Builder
	exited bool
}

// startBinary runs bin with args and reads its stdout until the ready line
// (the endpoints file is written before anything is printed), bounded by a
// deadline. The process is killed at the end of the test if still running.
func startBinary(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.CommandContext(t.Context(), bin, args...), lines: make(chan string)}
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !p.exited {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("exited before ready:\n%s\nstderr:\n%s", p.out.String(), p.stderr.String())
			}
			p.out.WriteString(l + "\n")
			if l == ReadyLine {
				return p
			}
		case <-deadline.C:
			t.Fatalf("not ready after 60s:\n%s", p.out.String())
		}
	}
}

// stop sends SIGTERM and checks for a clean exit 0.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range p.lines { // drain stdout to EOF before Wait
	}
	err := p.cmd.Wait()
	p.exited = true
	if err != nil {
		t.Fatalf("exit: %v\nstderr:\n%s", err, p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), "cloud-emulator: stopped") {
		t.Fatalf("stderr:\n%s", p.stderr.String())
	}
}

func readEndpoints(t *testing.T, path string) Endpoints {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("endpoints file: %v", err)
	}
	var ep Endpoints
	if err := json.Unmarshal(b, &ep); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return ep
}

// loopbackHostPort checks that u is http://127.0.0.1:<port> with a real port and returns host:port.
func loopbackHostPort(t *testing.T, u string) string {
	t.Helper()
	hp := strings.TrimPrefix(u, "http://")
	host, port, err := net.SplitHostPort(hp)
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("endpoint %q", u)
	}
	return hp
}

func TestBinaryServesAndStopsCleanly(t *testing.T) {
	bin := buildBinary(t)
	endpointsFile := filepath.Join(t.TempDir(), "endpoints.json")

	p := startBinary(t, bin, "--endpoints-file", endpointsFile, "--seed", "3",
		"--print-secrets-namespace", "demo-ns", "--vpg-create-delay", "1s")
	out := &p.out

	ep := readEndpoints(t, endpointsFile)
	addrs := []string{}
	for _, u := range []string{ep.Soracom, ep.AppStream, ep.EC2, ep.Admin} {
		addrs = append(addrs, loopbackHostPort(t, u))
		if !strings.Contains(out.String(), u) {
			t.Fatalf("stdout lacks %s:\n%s", u, out.String())
		}
	}
	var patch map[string]any
	if err := json.Unmarshal(ep.EnvironmentPatch, &patch); err != nil || patch["spec"] == nil {
		t.Fatalf("environment patch %s", ep.EnvironmentPatch)
	}
	for _, want := range []string{"name: \"soracom-auth\"", "name: \"aws-credentials\"", "namespace: \"demo-ns\"",
		"authKeyId: \"" + emulator.DemoSoracomAuthKeyID + "\"", "accessKeyId: \"" + emulator.DemoAWSAccessKeyID + "\""} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("stdout lacks %q:\n%s", want, out.String())
		}
	}

	// SORACOM: the demo AuthKey authenticates.
	resp, err := http.Post(ep.Soracom+"/v1/auth", "application/json", strings.NewReader(
		`{"authKeyId":"`+emulator.DemoSoracomAuthKeyID+`","authKey":"`+emulator.DemoSoracomAuthKey+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	var auth struct{ APIKey, Token, OperatorID string }
	if err := json.Unmarshal(body, &auth); resp.StatusCode != 200 || err != nil || auth.Token == "" || auth.OperatorID != emulator.DemoSoracomOperatorID {
		t.Fatalf("auth: %d %s", resp.StatusCode, body)
	}
	// EC2 and AppStream through the SDK.
	cfg := awssdk.Config{Region: emulator.DemoAWSRegion,
		Credentials: credentials.NewStaticCredentialsProvider(emulator.DemoAWSAccessKeyID, emulator.DemoAWSSecretAccessKey, "")}
	ec2c := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = awssdk.String(ep.EC2) })
	vpcs, err := ec2c.DescribeVpcs(t.Context(), &ec2.DescribeVpcsInput{})
	if err != nil || len(vpcs.Vpcs) != 1 || awssdk.ToString(vpcs.Vpcs[0].VpcId) != emulator.DemoVPCID {
		t.Fatalf("DescribeVpcs: %v %+v", err, vpcs)
	}
	asc := appstream.NewFromConfig(cfg, func(o *appstream.Options) { o.BaseEndpoint = awssdk.String(ep.AppStream) })
	imgs, err := asc.DescribeImages(t.Context(), &appstream.DescribeImagesInput{})
	if err != nil || len(imgs.Images) != 1 || awssdk.ToString(imgs.Images[0].Name) != emulator.DemoImageName {
		t.Fatalf("DescribeImages: %v %+v", err, imgs)
	}

	// SIGTERM: clean exit 0, endpoints file removed, ports (the admin API's too) closed.
	p.stop(t)
	if _, err := os.Stat(endpointsFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("endpoints file left behind: %v", err)
	}
	for _, a := range addrs {
		if conn, err := net.DialTimeout("tcp", a, 5*time.Second); err == nil {
			_ = conn.Close()
			t.Fatalf("%s still accepts connections", a)
		}
	}
}

func TestBinaryRejectsBadFlags(t *testing.T) {
	bin := buildBinary(t)
	cmd := exec.CommandContext(t.Context(), bin, "--no-such-flag")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "-endpoints-file") {
		t.Fatalf("bad flag: %v\n%s", err, out)
	}
	// A busy port is an error (exit 1), not a hang.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	out, err = exec.CommandContext(t.Context(), bin, "--ec2-addr", ln.Addr().String()).CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "EC2") {
		t.Fatalf("busy port: %v\n%s", err, out)
	}
	out, err = exec.CommandContext(t.Context(), bin, "--admin-addr", ln.Addr().String()).CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "admin API") {
		t.Fatalf("busy admin port: %v\n%s", err, out)
	}
	// Bad --fault and --world-* values are usage errors (exit 2) naming the problem.
	for _, tc := range []struct{ args []string }{
		{[]string{"--fault", "soracom:*:explode:0.2"}},
		{[]string{"--fault", "soracom:*:throttle:1.5"}},
		{[]string{"--fault", "sqs:*:throttle"}},
		{[]string{"--fault", "soracom:CreateVpg:throttle"}},
		{[]string{"--fault", "soracom:throttle"}},
		{[]string{"--world-vpcs", "-1"}},
		{[]string{"--world-vpcs", "1000"}},
		{[]string{"--world-sims", "many"}},
	} {
		out, err := exec.CommandContext(t.Context(), bin, tc.args...).CombinedOutput()
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), tc.args[0][1:]) {
			t.Errorf("%v: %v\n%s", tc.args, err, out)
		}
	}
}

// TestBinaryAdminAPIAndFlags: --world-vpcs, --world-sims and --fault act at
// start, and the admin API (its URL in the endpoints file and the banner)
// serves the rules, the call log and the world.
func TestBinaryAdminAPIAndFlags(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	endpointsFile := filepath.Join(dir, "endpoints.json")
	p := startBinary(t, bin, "--endpoints-file", endpointsFile, "--world-vpcs", "2", "--world-sims", "3",
		"--fault", "soracom:auth:throttle", "--fault", "ec2:DescribeSubnets:server-error:0.5:2")
	ep := readEndpoints(t, endpointsFile)
	adminAddr := loopbackHostPort(t, ep.Admin)
	for _, want := range []string{"#   Admin API:     " + ep.Admin, "# Seeded 2 more VPCs and 3 more online SIMs",
		"# Fault armed: soracom:auth:throttle:0\n", "# Fault armed: ec2:DescribeSubnets:server-error:0.5:2\n"} {
		if !strings.Contains(p.out.String(), want) {
			t.Fatalf("stdout lacks %q:\n%s", want, p.out.String())
		}
	}

	get := func(path string, out any) {
		t.Helper()
		resp, err := http.Get(ep.Admin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, b)
		}
	}
	var health map[string]string
	get("/healthz", &health)
	var rules admin.Rules
	get("/faults", &rules)
	if want := []admin.Rule{{API: "soracom", Operation: "auth", Kind: "throttle"},
		{API: "ec2", Operation: "DescribeSubnets", Kind: "server-error", Probability: 0.5, Times: 2}}; health["status"] != "ok" || !slices.Equal(rules.Rules, want) {
		t.Fatalf("healthz %v, rules %+v", health, rules.Rules)
	}

	// The world is there, through EC2, and listed by the admin API.
	var world admin.World
	get("/world", &world)
	if len(world.VPCIDs) != 2 || len(world.SIMIDs) != 3 || len(world.SubnetIDs) != 4 {
		t.Fatalf("GET /world: %+v", world)
	}
	cfg := awssdk.Config{Region: emulator.DemoAWSRegion,
		Credentials: credentials.NewStaticCredentialsProvider(emulator.DemoAWSAccessKeyID, emulator.DemoAWSSecretAccessKey, "")}
	ec2c := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = awssdk.String(ep.EC2) })
	vpcs, err := ec2c.DescribeVpcs(t.Context(), &ec2.DescribeVpcsInput{})
	if err != nil || len(vpcs.Vpcs) != 3 {
		t.Fatalf("DescribeVpcs: %v %+v", err, vpcs)
	}

	// The --fault rule throttles SORACOM's auth; the call log shows it.
	resp, err := http.Post(ep.Soracom+"/v1/auth", "application/json", strings.NewReader(
		`{"authKeyId":"`+emulator.DemoSoracomAuthKeyID+`","authKey":"`+emulator.DemoSoracomAuthKey+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("auth with --fault soracom:auth:throttle: %d", resp.StatusCode)
	}
	var calls admin.Calls
	get("/calls?api=soracom", &calls)
	if calls.Count != 1 || calls.Calls[0].Operation != "auth" || calls.Calls[0].Status != 429 || calls.Calls[0].Fault != "throttle" {
		t.Fatalf("GET /calls: %+v", calls)
	}

	// The env form of the endpoints file carries the admin URL too.
	envFile := filepath.Join(dir, "emulator.env")
	p2 := startBinary(t, bin, "--endpoints-file", envFile)
	b, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^GATESTREAM_EMULATOR_ADMIN=http://127\.0\.0\.1:[1-9][0-9]*$`).Match(b) {
		t.Fatalf("env file:\n%s", b)
	}
	p2.stop(t)

	p.stop(t)
	if conn, err := net.DialTimeout("tcp", adminAddr, 5*time.Second); err == nil {
		_ = conn.Close()
		t.Fatalf("the admin API (%s) still accepts connections", adminAddr)
	}
}

func TestWriteEndpointsEnv(t *testing.T) {
	c, err := emulator.Start(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	path := filepath.Join(t.TempDir(), "emulator.env")
	const adminURL = "http://127.0.0.1:12345"
	if err := writeEndpoints(path, c, adminURL); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "SORACOM_ENDPOINT=" + c.SoracomURL + "\nAPPSTREAM_ENDPOINT=" + c.AppStreamURL + "\nEC2_ENDPOINT=" + c.EC2URL +
		"\nENVIRONMENT_PATCH='" + c.EnvironmentPatch() + "'\nGATESTREAM_EMULATOR_ADMIN=" + adminURL + "\n"
	if string(b) != want {
		t.Fatalf("env file:\n%s\nwant:\n%s", b, want)
	}
	// Only the file itself is left in the directory (no temporary files).
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory: %v", entries)
	}
	// The banner is YAML whose documents are the Secrets.
	if s := banner(c, adminURL, "x", nil, nil); !strings.HasSuffix(s, ReadyLine+"\n") || strings.Count(s, "kind: Secret") != 2 ||
		!strings.Contains(s, "#   Admin API:     "+adminURL) {
		t.Fatalf("banner:\n%s", s)
	}
	// With a world and faults, what precedes the Secrets is still comments only.
	if _, err := c.SeedDemo(); err != nil {
		t.Fatal(err)
	}
	world, err := c.SeedWorld(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	rule, err := admin.ParseRule("ec2:*:unavailable:0.1:3")
	if err != nil {
		t.Fatal(err)
	}
	s := banner(c, adminURL, "x", world, []fault.Rule{rule})
	head, _, ok := strings.Cut(s, "\n---\n")
	if !ok || !strings.Contains(head, "# Fault armed: ec2:*:unavailable:0.1:3") || !strings.Contains(head, "# Seeded 1 more VPCs and 1 more online SIMs") {
		t.Fatalf("banner:\n%s", s)
	}
	for _, l := range strings.Split(head, "\n") {
		if !strings.HasPrefix(l, "#") {
			t.Fatalf("banner line %q is not a comment:\n%s", l, s)
		}
	}
}
