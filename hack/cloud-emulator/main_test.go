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
	"strings"
	"syscall"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/gatestream/gatestream/internal/emulator"
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

func TestBinaryServesAndStopsCleanly(t *testing.T) {
	bin := buildBinary(t)
	endpointsFile := filepath.Join(t.TempDir(), "endpoints.json")

	cmd := exec.CommandContext(t.Context(), bin, "--endpoints-file", endpointsFile, "--seed", "3",
		"--print-secrets-namespace", "demo-ns", "--vpg-create-delay", "1s")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	t.Cleanup(func() {
		if !exited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	// Read stdout until the ready line (the endpoints file is written before
	// anything is printed), bounded by a deadline.
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var out strings.Builder
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("exited before ready:\n%s\nstderr:\n%s", out.String(), stderr.String())
			}
			out.WriteString(l + "\n")
			if l == ReadyLine {
				break wait
			}
		case <-deadline.C:
			t.Fatalf("not ready after 60s:\n%s", out.String())
		}
	}

	b, err := os.ReadFile(endpointsFile)
	if err != nil {
		t.Fatalf("endpoints file: %v", err)
	}
	var ep Endpoints
	if err := json.Unmarshal(b, &ep); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	addrs := []string{}
	for _, u := range []string{ep.Soracom, ep.AppStream, ep.EC2} {
		hp := strings.TrimPrefix(u, "http://")
		host, port, err := net.SplitHostPort(hp)
		if err != nil || host != "127.0.0.1" || port == "0" {
			t.Fatalf("endpoint %q", u)
		}
		addrs = append(addrs, hp)
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

	// SIGTERM: clean exit 0, endpoints file removed, ports closed.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range lines { // drain stdout to EOF before Wait
	}
	err = cmd.Wait()
	exited = true
	if err != nil {
		t.Fatalf("exit: %v\nstderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "cloud-emulator: stopped") {
		t.Fatalf("stderr:\n%s", stderr.String())
	}
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
}

func TestWriteEndpointsEnv(t *testing.T) {
	c, err := emulator.Start(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	path := filepath.Join(t.TempDir(), "emulator.env")
	if err := writeEndpoints(path, c); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "SORACOM_ENDPOINT=" + c.SoracomURL + "\nAPPSTREAM_ENDPOINT=" + c.AppStreamURL + "\nEC2_ENDPOINT=" + c.EC2URL +
		"\nENVIRONMENT_PATCH='" + c.EnvironmentPatch() + "'\n"
	if string(b) != want {
		t.Fatalf("env file:\n%s\nwant:\n%s", b, want)
	}
	// Only the file itself is left in the directory (no temporary files).
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory: %v", entries)
	}
	// The banner is YAML whose documents are the Secrets.
	if s := banner(c, "x"); !strings.HasSuffix(s, ReadyLine+"\n") || strings.Count(s, "kind: Secret") != 2 {
		t.Fatalf("banner:\n%s", s)
	}
}
