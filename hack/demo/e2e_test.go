package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/emulator"
	"github.com/gatestream/gatestream/internal/manager"
	"github.com/gatestream/gatestream/internal/plugin"
	"github.com/gatestream/gatestream/internal/repo"
	"github.com/gatestream/gatestream/internal/testenv"
)

// chromiumPath is Debian's chromium (hack/install-test-deps.sh installs it).
const chromiumPath = "/usr/bin/chromium"

// e2eScreenshotCopies is where the screenshots are copied as well, at fixed
// paths, so that they can be looked at after the test's temp dir is gone.
const e2eScreenshotCopies = "/tmp/gatestream-e2e"

// plcAddress is plc-7's LAN address (config/samples/access_v1alpha1_devicegroup.yaml).
const plcAddress = "192.168.1.20"

// TestE2EDemo runs the demo (as `make demo` does, in process) and, while it
// runs, drives headless Chromium through its streaming URL (opens once, then
// refused as used; a short-lived URL refused after expiry) and runs the kubectl
// plugin's connect, devices and sessions against it as user-a.
func TestE2EDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane and a browser: not in -short")
	}
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := assetsDir(root); err != nil {
		t.Skipf("the end-to-end test needs the control plane binaries, kube-controller-manager included (make k8s): %v", err)
	}

	workdir := filepath.Join(t.TempDir(), "demo")
	var out testenv.SyncBuffer
	ranChecks := false
	opts := options{
		Timeout:        75 * time.Second,
		Workdir:        workdir,
		ExitAfterReady: true,
		onReady: func(r *result) error {
			ranChecks = true
			if r.URL == "" {
				t.Errorf("the demo printed no streaming URL (controllers: %v)", r.Controllers)
				return nil
			}
			e := newE2E(t, r)
			t.Run("Browser", e.browser)
			t.Run("Plugin", e.plugin)
			return nil
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	start := time.Now()
	res, err := run(ctx, opts, &out)
	t.Logf("demo output (%s):\n%s", time.Since(start).Round(time.Second), out.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if !ranChecks {
		t.Fatal("the demo returned without reaching the ready point")
	}
	// The demo stopped what it started.
	assertProcessesGone(t, res)
	if left := childProcesses("chromium", "chrome"); len(left) > 0 {
		t.Errorf("browser processes left: %v", left)
	}
}

// e2e is the running demo as the checks see it.
type e2e struct {
	r     *result
	admin client.Client // demo-admin (system:masters)
	user  client.Client // user-a
	// raspiAddress is raspi-1's address from the DeviceGroup's status.
	raspiAddress string
}

func newE2E(t *testing.T, r *result) *e2e {
	t.Helper()
	e := &e2e{r: r, admin: e2eClient(t, r.Kubeconfig), user: e2eClient(t, r.UserKubeconfig)}
	var dg accessv1alpha1.DeviceGroup
	if err := e.admin.Get(context.Background(), types.NamespacedName{Namespace: demoNamespace, Name: deviceGroupName}, &dg); err != nil {
		t.Fatalf("reading DeviceGroup %s/%s: %v", demoNamespace, deviceGroupName, err)
	}
	for _, d := range dg.Status.Devices {
		if d.Name == "raspi-1" {
			e.raspiAddress = d.Address
		}
	}
	if e.raspiAddress == "" {
		t.Fatalf("DeviceGroup %s has no address for raspi-1 in its status: %+v", deviceGroupName, dg.Status.Devices)
	}
	// Each device's path, checked hop by hop (what kubectl get dg -o wide shows).
	testenv.Eventually(t, 20*time.Second, "both devices reachable in the DeviceGroup's status", func() error {
		if err := e.admin.Get(context.Background(), types.NamespacedName{Namespace: demoNamespace, Name: deviceGroupName}, &dg); err != nil {
			return err
		}
		if dg.Status.Reachability != "2/2 reachable" {
			return fmt.Errorf("reachability %q, devices %+v", dg.Status.Reachability, dg.Status.Devices)
		}
		for _, d := range dg.Status.Devices {
			if !d.Reachable || !strings.HasPrefix(d.Path, "reachable via i-") {
				return fmt.Errorf("device %s: reachable %v, path %q", d.Name, d.Reachable, d.Path)
			}
		}
		return nil
	})
	return e
}

func e2eClient(t *testing.T, kubeconfig string) client.Client {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("kubeconfig %s: %v", kubeconfig, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// browser opens the demo's URL in headless Chromium: the session page, then
// the same URL refused as used, then a fresh 2-second URL refused as expired.
func (e *e2e) browser(t *testing.T) {
	testenv.RequireChromium(t, chromiumPath)
	dir := os.Getenv("GATESTREAM_SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "screenshots")
	}
	for _, d := range []string{dir, e2eScreenshotCopies} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	actx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancel()
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()

	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(e2eScreenshotCopies, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (copy: %s)", path, filepath.Join(e2eScreenshotCopies, name))
	}
	// open loads url and returns the HTTP status and the page's visible text.
	open := func(what, url string) (int64, string) {
		t.Helper()
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
		if err != nil {
			t.Fatalf("opening %s (%s) in Chromium: %v", what, url, err)
		}
		body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		if err != nil {
			t.Fatalf("reading the page of %s: %v", what, err)
		}
		return resp.Status, body
	}
	text := func(id string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
		if err != nil {
			t.Fatalf("reading #%s: %v", id, err)
		}
		return v
	}

	// 1. The demo's URL: the emulator's session page for user-a, TeraTerm, raspi-1.
	status, body := open("the demo's streaming URL", e.r.URL)
	shot("demo-session.png")
	if status != http.StatusOK {
		t.Fatalf("the demo's URL answered %d in Chromium, want 200:\n%s", status, body)
	}
	user, app, sctx := text("user"), text("application"), text("session-context")
	wantCtx := e.raspiAddress + ":22"
	if user != demoUser || app != "teraterm" || sctx != wantCtx {
		t.Errorf("session page: user %q, application %q, session context %q; want %s, teraterm, %s (raspi-1's address from the DeviceGroup status, ssh port):\n%s",
			user, app, sctx, demoUser, wantCtx, body)
	}

	// The emulator's packet walker, from the session's instance to raspi-1:22.
	if reach := text("reachability"); !strings.HasPrefix(reach, "reachable via i-") {
		t.Errorf("raspi-1 from the session: %q; want reachable via the router", reach)
	}

	// 2. The same URL again: refused, as AppStream refuses a used URL.
	status, body = open("the demo's streaming URL a second time", e.r.URL)
	shot("demo-session-reused.png")
	if status != http.StatusForbidden || !strings.Contains(body, "already been used") {
		t.Errorf("the second visit answered %d, want 403 and \"already been used\":\n%s", status, body)
	}

	// 3. A fresh URL that is valid for 2 s, opened after it expired: refused.
	url, expires := e.shortLivedURL(ctx, t)
	for wait := time.Until(expires); wait > 0; wait = time.Until(expires) {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for the URL to expire at %s: %v", expires.Format(time.RFC3339), ctx.Err())
		case <-time.After(min(wait+50*time.Millisecond, 500*time.Millisecond)):
		}
	}
	status, body = open("an expired streaming URL", url)
	shot("demo-session-expired.png")
	if status != http.StatusForbidden || !strings.Contains(body, "expired") {
		t.Errorf("the expired URL answered %d, want 403 and \"expired\":\n%s", status, body)
	}

	// 4. plc-7, on the LAN behind the cellular router: reachable through the
	// router and the gateway's SIM-based route.
	plcURL, plcSession := e.sessionURL(ctx, t, plcPathSession, `{"spec":{"target":{"device":"plc-7","port":"http"}}}`)
	if status, body = open("plc-7's streaming URL", plcURL); status != http.StatusOK {
		t.Fatalf("plc-7's URL answered %d:\n%s", status, body)
	}
	shot("demo-plc-reachable.png")
	if reach := text("reachability"); !strings.HasPrefix(reach, "reachable via i-") || !strings.Contains(reach, plcAddress+":80") {
		t.Fatalf("plc-7 from the session: %q; want reachable via the router to %s:80", reach, plcAddress)
	}
	link, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("session-link"), "href"))
	sessionPage := link.Value
	if err != nil {
		t.Fatal(err)
	}

	// 5. Someone deletes the LAN's route in the fleet subnet's table by hand:
	// the session page says which hop broke, until the operator's drift
	// correction puts the route back (a pass requested as a person would).
	e.deleteRoute(ctx, t, demoRouteTable, demoLAN)
	if status, body = open("plc-7's session page", e.r.AppStreamURL+sessionPage); status != http.StatusOK {
		t.Fatalf("the session page answered %d:\n%s", status, body)
	}
	shot("demo-plc-route-deleted.png")
	if reach := text("reachability"); !strings.Contains(reach, "unreachable") || !strings.Contains(reach, demoRouteTable) {
		t.Fatalf("after the route was deleted: %q; want unreachable, naming %s", reach, demoRouteTable)
	}
	e.requestPass(ctx, t)
	testenv.Eventually(t, 30*time.Second, "drift correction restores plc-7's route", func() error {
		if _, body := open("plc-7's session page", e.r.AppStreamURL+sessionPage); !strings.Contains(body, "reachable via i-") {
			return fmt.Errorf("session page:\n%s", body)
		}
		return nil
	})
	shot("demo-plc-route-restored.png")

	// Hand the fleet's instance back (the Plugin test needs one): deleting
	// the session ends its access, as a person's kubectl delete would.
	if err := e.user.Delete(ctx, plcSession); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "plc-7's session deleted and its access ended", func() error {
		err := e.user.Get(ctx, client.ObjectKeyFromObject(plcSession), &accessv1alpha1.StreamingSession{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
}

// The demo's VPC route table and the LAN behind the cellular router; the
// Browser test's session to plc-7 (the Plugin test makes its own).
const (
	plcPathSession = "user-a-plc-7-path"
	demoRouteTable = emulator.DemoRouteTableID
	demoLAN        = emulator.DemoRouterLAN
)

// deleteRoute deletes a route through the EC2 API, as `aws ec2 delete-route` would.
func (e *e2e) deleteRoute(ctx context.Context, t *testing.T, rtb, cidr string) {
	t.Helper()
	c := ec2.New(ec2.Options{Region: emulator.DemoAWSRegion, BaseEndpoint: awssdk.String(e.r.EC2URL),
		Credentials: credentials.NewStaticCredentialsProvider(emulator.DemoAWSAccessKeyID, emulator.DemoAWSSecretAccessKey, "")})
	if _, err := c.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: awssdk.String(rtb), DestinationCidrBlock: awssdk.String(cidr)}); err != nil {
		t.Fatalf("deleting the route of %s from %s: %v", cidr, rtb, err)
	}
}

// requestPass asks for a pass of the environment now (the annotation the
// controller watches), instead of waiting for its poll interval.
func (e *e2e) requestPass(ctx context.Context, t *testing.T) {
	t.Helper()
	var env accessv1alpha1.RemoteAccessEnvironment
	key := types.NamespacedName{Namespace: demoNamespace, Name: environmentName}
	if err := e.admin.Get(ctx, key, &env); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(env.DeepCopy())
	if env.Annotations == nil {
		env.Annotations = map[string]string{}
	}
	env.Annotations[accessv1alpha1.AnnotationReconcileRequestedAt] = time.Now().UTC().Format(time.RFC3339Nano)
	if err := e.admin.Patch(ctx, &env, patch); err != nil {
		t.Fatalf("requesting a pass of %s: %v", key, err)
	}
}

// shortLivedURL creates a second StreamingSession as user-a (the sample with
// urlValidity 2s), waits until it has a URL, and reads the URL from its Secret
// as user-a. It returns the URL and status.urlExpiresAt.
func (e *e2e) shortLivedURL(ctx context.Context, t *testing.T) (string, time.Time) {
	t.Helper()
	url, s := e.sessionURL(ctx, t, "user-a-raspi-1-expiry", `{"spec":{"urlValidity":"2s"}}`)
	t.Logf("StreamingSession %s (phase %s): a 2s URL, expires at %s", s.Name, s.Status.Phase, s.Status.URLExpiresAt.UTC().Format(time.RFC3339))
	return url, s.Status.URLExpiresAt.Time
}

// sessionURL creates a StreamingSession as user-a from the sample with patch
// applied, waits until it has a URL, and reads the URL from its Secret as user-a.
func (e *e2e) sessionURL(ctx context.Context, t *testing.T, name, patch string) (string, *accessv1alpha1.StreamingSession) {
	t.Helper()
	objs, err := decodeFile(filepath.Join(mustRoot(t), sessionSample))
	if err != nil || len(objs) != 1 {
		t.Fatalf("%s: %v (%d objects)", sessionSample, err, len(objs))
	}
	ss := objs[0]
	ss.SetName(name)
	if err := mergePatch(ss, patch); err != nil {
		t.Fatal(err)
	}
	if err := e.user.Create(ctx, ss); err != nil {
		t.Fatalf("creating StreamingSession %s as %s: %v", objectKey(ss), demoUser, err)
	}
	key := client.ObjectKeyFromObject(ss)
	var s accessv1alpha1.StreamingSession
	testenv.Eventually(t, 20*time.Second, fmt.Sprintf("StreamingSession %s has a URL", key), func() error {
		err := e.user.Get(ctx, key, &s)
		if err == nil && s.Status.SecretName != "" && s.Status.URLExpiresAt != nil {
			return nil
		}
		return fmt.Errorf("err %v, phase %q, conditions %s", err, s.Status.Phase, conditionsLine(s.Status.Conditions))
	})
	var sec corev1.Secret
	if err := e.user.Get(ctx, types.NamespacedName{Namespace: demoNamespace, Name: s.Status.SecretName}, &sec); err != nil {
		t.Fatalf("reading Secret %s as %s: %v", s.Status.SecretName, demoUser, err)
	}
	url := string(sec.Data[accessv1alpha1.SecretKeyURL])
	if !strings.HasPrefix(url, e.r.AppStreamURL+"/streaming/") {
		t.Fatalf("Secret %s: url %q is not an emulator streaming URL", sec.Name, url)
	}
	return url, &s
}

// plugin runs kubectl-gatestream (its Main, as cmd/kubectl-gatestream does)
// with user-a's kubeconfig: connect plc-7, devices, sessions.
func (e *e2e) plugin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	kubectlGatestream := func(args ...string) (string, string) {
		t.Helper()
		args = append([]string{"--kubeconfig", e.r.UserKubeconfig, "-n", demoNamespace}, args...)
		var stdout, stderr bytes.Buffer
		start := time.Now()
		code := plugin.Main(ctx, args, &stdout, &stderr)
		t.Logf("kubectl gatestream %s (%s, exit %d)\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), time.Since(start).Round(time.Millisecond), code, stdout.String(), stderr.String())
		if code != 0 {
			t.Fatalf("kubectl gatestream %s: exit %d: %s", strings.Join(args, " "), code, stderr.String())
		}
		return stdout.String(), stderr.String()
	}

	// devices: both devices online, with their addresses.
	devices, _ := kubectlGatestream("devices")
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(devices), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 {
			rows[f[0]] = f
		}
	}
	// Columns: DEVICE GROUP ONLINE ADDRESS PORTS ENVIRONMENT READY.
	for name, addr := range map[string]string{"raspi-1": e.raspiAddress, "plc-7": plcAddress} {
		f, ok := rows[name]
		switch {
		case !ok:
			t.Errorf("devices does not list %s:\n%s", name, devices)
		case f[1] != deviceGroupName || f[2] != "true" || f[3] != addr:
			t.Errorf("devices row for %s: %v; want group %s, ONLINE true, ADDRESS %s", name, f, deviceGroupName, addr)
		}
	}

	// connect: a URL on stdout, within the bound.
	start := time.Now()
	stdout, stderr := kubectlGatestream("connect", "plc-7", "--app", "teraterm", "--timeout", "30s")
	took := time.Since(start)
	url := strings.TrimSpace(stdout)
	if strings.Contains(url, "\n") || !strings.HasPrefix(url, "http://") || !strings.HasPrefix(url, e.r.AppStreamURL+"/streaming/") {
		t.Fatalf("connect printed %q on stdout, want one streaming URL under %s", stdout, e.r.AppStreamURL)
	}
	t.Logf("connect printed the URL after %s", took.Round(time.Millisecond))

	// The session it created: user-a's, for plc-7, with that URL in its Secret.
	var list accessv1alpha1.StreamingSessionList
	if err := e.admin.List(ctx, &list, client.InNamespace(demoNamespace)); err != nil {
		t.Fatal(err)
	}
	var mine []accessv1alpha1.StreamingSession
	for _, s := range list.Items {
		if s.Spec.Target != nil && s.Spec.Target.Device == "plc-7" && s.Name != plcPathSession {
			mine = append(mine, s)
		}
	}
	if len(mine) != 1 {
		t.Fatalf("want 1 StreamingSession for plc-7, got %d", len(mine))
	}
	s := mine[0]
	if s.Spec.UserID != demoUser || s.Spec.Target.DeviceGroup != deviceGroupName || s.Spec.Application != "teraterm" {
		t.Errorf("session %s: userId %q, target %s/%s, application %q; want %s, %s/plc-7, teraterm",
			s.Name, s.Spec.UserID, s.Spec.Target.DeviceGroup, s.Spec.Target.Device, s.Spec.Application, demoUser, deviceGroupName)
	}
	if !strings.Contains(stderr, "streamingsession "+s.Name+" created") {
		t.Errorf("connect's progress does not name the session %s:\n%s", s.Name, stderr)
	}
	var sec corev1.Secret
	if err := e.admin.Get(ctx, types.NamespacedName{Namespace: demoNamespace, Name: s.Status.SecretName}, &sec); err != nil {
		t.Errorf("reading session %s's Secret %q: %v", s.Name, s.Status.SecretName, err)
	} else if got := string(sec.Data[accessv1alpha1.SecretKeyURL]); got != url {
		t.Errorf("session %s's Secret holds %q, connect printed %q", s.Name, got, url)
	}

	// The URL opens: the emulator's page names user-a, TeraTerm and plc-7's address.
	page, status := httpGet(ctx, t, url)
	if status != http.StatusOK || !strings.Contains(page, plcAddress+":80") || !strings.Contains(page, ">"+demoUser+"<") || !strings.Contains(page, ">teraterm<") {
		t.Errorf("GET %s: %d, want 200 and a page naming %s:80, %s and teraterm:\n%s", url, status, plcAddress, demoUser, page)
	}

	// sessions: user-a's, the demo's and the plugin's.
	sessions, _ := kubectlGatestream("sessions")
	for _, want := range []string{"user-a-raspi-1", s.Name, "plc-7"} {
		if !strings.Contains(sessions, want) {
			t.Errorf("sessions does not list %s:\n%s", want, sessions)
		}
	}
}

func httpGet(ctx context.Context, t *testing.T, url string) (string, int) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return string(body), resp.StatusCode
}

func mustRoot(t *testing.T) string {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(fmt.Errorf("repository root: %w", err))
	}
	return root
}
