package plugin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/plugin"
	"github.com/gatestream/gatestream/internal/testenv"
)

const testURL = "https://appstream2.ap-northeast-1.aws.amazon.com/authenticate?parameters=eyJ0ZXN0Ijp0cnVlfQ&signature=abc"

// TestConnect runs `connect raspi-1 --open --for 30m` through the command
// line and plays the controller: the session is Pending (progress shows the
// reason), then Ready with a Secret; the URL is printed and opened.
func TestConnect(t *testing.T) {
	ns := newNamespace(t)
	makeEnv(t, ns, "factory-floor", true, "Available", "")
	makeGroup(t, ns, "line-a", "factory-floor")

	a, out, errb := newApp(ns)
	var opened string
	a.Open = func(url string) error { opened = url; return nil }
	now := time.Now().Truncate(time.Second)
	a.Now = func() time.Time { return now }

	cmd := plugin.NewCommand(out, errb, func() (*plugin.App, error) { return a, nil })
	cmd.SetArgs([]string{"connect", "raspi-1", "--open", "--for", "30m", "--url-validity", "2m"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(t.Context()) }()

	ss := waitForSession(t, ns)
	if !strings.HasPrefix(ss.Name, "admin-raspi-1-") {
		t.Errorf("session name %q does not start with admin-raspi-1-", ss.Name)
	}
	spec := ss.Spec
	if spec.UserID != "admin" || spec.Application != "teraterm" || spec.EnvironmentRef.Name != "factory-floor" ||
		spec.AccessWindow.Duration != 30*time.Minute || spec.URLValidity.Duration != 2*time.Minute {
		t.Errorf("unexpected spec %+v", spec)
	}
	if tg := spec.Target; tg == nil || tg.DeviceGroup != "line-a" || tg.Device != "raspi-1" || tg.Port == nil || tg.Port.String() != "ssh" {
		t.Errorf("unexpected target %+v", spec.Target)
	}

	setStatus(t, ss, accessv1alpha1.SessionPending, metav1.Condition{
		Status: metav1.ConditionFalse, Reason: "WaitingForFleet", Message: "no fleet instance is free yet",
	}, nil)
	eventually(t, "a progress line", func(context.Context) (bool, error) {
		return strings.Contains(errb.String(), "waiting: session Pending (WaitingForFleet: no fleet instance is free yet)"), nil
	})

	secret := &corev1.Secret{
		// The controller names it <session>-url; the plugin reads whatever status.secretName says.
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ss.Name + "-url"},
		Data:       map[string][]byte{"url": []byte(testURL), "expiresAt": []byte(now.Add(2 * time.Minute).Format(time.RFC3339))},
	}
	if err := env.Client.Create(t.Context(), secret); err != nil {
		t.Fatal(err)
	}
	setStatus(t, ss, accessv1alpha1.SessionReady, metav1.Condition{
		Status: metav1.ConditionTrue, Reason: "URLIssued", Message: "the URL is in the Secret",
	}, func(st *accessv1alpha1.StreamingSessionStatus) {
		st.SecretName = secret.Name
		st.URLExpiresAt = &metav1.Time{Time: now.Add(2 * time.Minute)}
		st.AccessEndsAt = &metav1.Time{Time: now.Add(30 * time.Minute)}
	})

	if err := result(t, done); err != nil {
		t.Fatalf("connect: %v\nstderr:\n%s", err, errb)
	}
	if out.String() != testURL+"\n" {
		t.Errorf("stdout = %q, want the URL alone", out.String())
	}
	if opened != testURL {
		t.Errorf("opened %q, want the URL", opened)
	}
	mustContain(t, "stderr", errb.String(),
		"streamingsession "+ss.Name+" created: teraterm on line-a/raspi-1 for user admin",
		"streamingsession "+ss.Name+" is Ready (Secret "+secret.Name+")",
		"URL can be opened until "+now.Add(2*time.Minute).UTC().Format(time.RFC3339)+" (in 2m)",
		"access ends at "+now.Add(30*time.Minute).UTC().Format(time.RFC3339)+" (in 30m)")
	if strings.Contains(errb.String(), testURL) {
		t.Error("the URL leaked to stderr")
	}
}

// TestConnectFailedExitsNonZero runs the plugin as a user would, through
// Main with --kubeconfig and -n (and without --open); the controller fails
// the session, so the exit code is 1 and stderr has the condition's message.
func TestConnectFailedExitsNonZero(t *testing.T) {
	ns := newNamespace(t)
	makeEnv(t, ns, "factory-floor", true, "Available", "")
	makeGroup(t, ns, "line-a", "factory-floor")
	kubeconfig := writeKubeconfig(t, ns)

	out, errb := &testenv.SyncBuffer{}, &testenv.SyncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- plugin.Main(t.Context(), []string{"--kubeconfig", kubeconfig, "--context", "envtest", "connect", "plc-7", "--app", "firefox", "--timeout", "30s"}, out, errb)
	}()

	ss := waitForSession(t, ns)
	if ss.Spec.Application != "firefox" || ss.Spec.Target.Port.String() != "http" {
		t.Errorf("unexpected spec %+v", ss.Spec)
	}
	setStatus(t, ss, accessv1alpha1.SessionFailed, metav1.Condition{
		Status: metav1.ConditionFalse, Reason: "ApplicationNotInImage", Message: "image TeraTerm-Image has no application firefox",
	}, nil)

	select {
	case code := <-done:
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the plugin did not exit")
	}
	mustContain(t, "stderr", errb.String(),
		"warning: device plc-7 is offline",
		"error: streamingsession "+ss.Name+" failed: ApplicationNotInImage: image TeraTerm-Image has no application firefox")
	if out.String() != "" {
		t.Errorf("stdout = %q, want nothing", out.String())
	}
}

func TestConnectUnknownDeviceListsDevices(t *testing.T) {
	ns := newNamespace(t)
	makeEnv(t, ns, "factory-floor", true, "Available", "")
	makeGroup(t, ns, "line-a", "factory-floor")
	a, _, _ := newApp(ns)

	err := a.Connect(t.Context(), plugin.ConnectOptions{Device: "raspi-9"})
	if err == nil {
		t.Fatal("connect to an unknown device succeeded")
	}
	mustContain(t, "error", err.Error(), `unknown device "raspi-9"`, "raspi-1 (group line-a)", "plc-7 (group line-a)")

	err = a.Connect(t.Context(), plugin.ConnectOptions{Device: "raspi-1", Group: "line-z"})
	if err == nil {
		t.Fatal("connect with an unknown group succeeded")
	}
	mustContain(t, "error", err.Error(), `DeviceGroup "line-z" not found`, "DeviceGroups there: line-a")

	err = a.Connect(t.Context(), plugin.ConnectOptions{Device: "raspi-1", App: "putty"})
	if err == nil {
		t.Fatal("connect with an application the environment does not offer succeeded")
	}
	mustContain(t, "error", err.Error(), `application "putty" is not offered by environment "factory-floor"; choose one of: teraterm, rdp, firefox`)

	other := newNamespace(t)
	a.Namespace = other
	err = a.Connect(t.Context(), plugin.ConnectOptions{Device: "raspi-1"})
	if err == nil {
		t.Fatal("connect in a namespace without groups succeeded")
	}
	mustContain(t, "error", err.Error(), "no DeviceGroups in namespace", "-n NAMESPACE")

	assertNoSessions(t, ns)
}

// TestConnectAmbiguousDeviceNeedsGroup: raspi-1 is in two groups, so
// connect asks for --group; with it, the session targets that group (and,
// with no controller answering, connect times out and says what is left).
func TestConnectAmbiguousDeviceNeedsGroup(t *testing.T) {
	ns := newNamespace(t)
	makeEnv(t, ns, "factory-floor", true, "Available", "")
	makeGroup(t, ns, "line-a", "factory-floor")
	makeGroup(t, ns, "line-b", "factory-floor")
	a, _, errb := newApp(ns)

	err := a.Connect(t.Context(), plugin.ConnectOptions{Device: "raspi-1"})
	if err == nil {
		t.Fatal("connect to an ambiguous device succeeded")
	}
	mustContain(t, "error", err.Error(), `device "raspi-1" is in 2 DeviceGroups (line-a, line-b): pass --group`)
	assertNoSessions(t, ns)

	err = a.Connect(t.Context(), plugin.ConnectOptions{Device: "raspi-1", Group: "line-b", Timeout: 300 * time.Millisecond, User: "user-b"})
	if err == nil {
		t.Fatal("connect without a controller succeeded")
	}
	ss := waitForSession(t, ns)
	if ss.Spec.Target.DeviceGroup != "line-b" || ss.Spec.UserID != "user-b" || !strings.HasPrefix(ss.Name, "user-b-raspi-1-") {
		t.Errorf("unexpected session %s %+v", ss.Name, ss.Spec)
	}
	mustContain(t, "error", err.Error(), "timed out after 300ms waiting for streamingsession "+ss.Name, "kubectl gatestream end "+ss.Name)
	mustContain(t, "stderr", errb.String(), "waiting: the controller has not picked up the session yet")
}

// TestConnectEnvironmentNotReady: no session is created and the error
// carries the environment's Ready reason and message.
func TestConnectEnvironmentNotReady(t *testing.T) {
	ns := newNamespace(t)
	makeEnv(t, ns, "factory-floor", false, "FleetStarting", "fleet gs-line-a_factory-floor is STARTING (0 of 2 instances available)")
	makeGroup(t, ns, "line-a", "factory-floor")
	a, _, _ := newApp(ns)

	err := a.Connect(t.Context(), plugin.ConnectOptions{Device: "raspi-1"})
	if err == nil {
		t.Fatal("connect through an environment that is not Ready succeeded")
	}
	mustContain(t, "error", err.Error(), `environment "factory-floor" is not Ready (Ready=False, reason FleetStarting): fleet gs-line-a_factory-floor is STARTING (0 of 2 instances available)`)

	err = a.Connect(t.Context(), plugin.ConnectOptions{Device: "raspi-1", Env: "other"})
	if err == nil {
		t.Fatal("connect with another --env succeeded")
	}
	mustContain(t, "error", err.Error(), `uses environment "factory-floor", not "other"`)
	assertNoSessions(t, ns)
}

func TestDevicesTable(t *testing.T) {
	ns := newNamespace(t)
	makeEnv(t, ns, "factory-floor", true, "Available", "")
	makeEnv(t, ns, "warehouse", false, "PeeringPending", "waiting for the peering to be accepted")
	makeGroup(t, ns, "line-a", "factory-floor", "camera-3")
	makeGroup(t, ns, "line-b", "warehouse")
	a, out, _ := newApp(ns)

	if err := a.Devices(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	want := `DEVICE     GROUP    ONLINE    ADDRESS        PORTS                ENVIRONMENT     READY
raspi-1    line-a   true      10.128.3.7     ssh:22               factory-floor   True
plc-7      line-a   false     192.168.1.20   http:80,modbus:502   factory-floor   True
camera-3   line-a   unknown   -              -                    factory-floor   True
raspi-1    line-b   true      10.128.3.7     ssh:22               warehouse       False(PeeringPending)
plc-7      line-b   false     192.168.1.20   http:80,modbus:502   warehouse       False(PeeringPending)
`
	if got := out.String(); got != want {
		t.Errorf("devices:\n%s\nwant:\n%s", got, want)
	}

	a, out, _ = newApp(ns)
	if err := a.Devices(t.Context(), "line-b"); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); strings.Contains(got, "line-a") || strings.Count(got, "\n") != 3 {
		t.Errorf("devices --group line-b:\n%s", got)
	}

	a, out, errb := newApp(newNamespace(t))
	if err := a.Devices(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	if out.String() != "" || !strings.Contains(errb.String(), "No devices found") {
		t.Errorf("empty namespace: stdout %q, stderr %q", out, errb)
	}
}

func TestSessionsTableAndEnd(t *testing.T) {
	ns := newNamespace(t)
	now := time.Now().Truncate(time.Second)
	mk := func(name, user, device string, phase accessv1alpha1.SessionPhase, expires, ends time.Duration) {
		ss := &accessv1alpha1.StreamingSession{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: accessv1alpha1.StreamingSessionSpec{
				EnvironmentRef: accessv1alpha1.LocalObjectReference{Name: "factory-floor"},
				UserID:         user, Application: "teraterm",
				Target:       &accessv1alpha1.SessionTarget{DeviceGroup: "line-a", Device: device},
				URLValidity:  metav1.Duration{Duration: 5 * time.Minute},
				AccessWindow: metav1.Duration{Duration: time.Hour},
			},
		}
		if err := env.Client.Create(t.Context(), ss); err != nil {
			t.Fatal(err)
		}
		if phase == "" {
			return
		}
		setStatus(t, ss, phase, metav1.Condition{Status: metav1.ConditionTrue, Reason: "URLIssued"}, func(st *accessv1alpha1.StreamingSessionStatus) {
			st.URLExpiresAt = &metav1.Time{Time: now.Add(expires)}
			st.AccessEndsAt = &metav1.Time{Time: now.Add(ends)}
		})
	}
	mk("a-admin-raspi-1", "admin", "raspi-1", accessv1alpha1.SessionReady, 4*time.Minute+30*time.Second, time.Hour)
	mk("b-admin-plc-7", "admin", "plc-7", accessv1alpha1.SessionActive, -3*time.Minute, 2*time.Hour+15*time.Minute)
	mk("c-user-b-raspi-1", "user-b", "raspi-1", accessv1alpha1.SessionEnded, -2*time.Hour, -5*time.Minute)
	mk("d-admin-new", "admin", "raspi-1", "", 0, 0)

	a, out, _ := newApp(ns)
	a.Now = func() time.Time { return now }
	if err := a.Sessions(t.Context(), plugin.SessionsOptions{}); err != nil {
		t.Fatal(err)
	}
	want := `NAME              DEVICE    VIA         APP        PHASE    EXPIRES    ACCESS-ENDS
a-admin-raspi-1   raspi-1   AppStream   teraterm   Ready    in 4m30s   in 1h
b-admin-plc-7     plc-7     AppStream   teraterm   Active   3m ago     in 2h15m
d-admin-new       raspi-1   AppStream   teraterm   -        -          -
`
	if got := out.String(); got != want {
		t.Errorf("sessions:\n%s\nwant:\n%s", got, want)
	}

	a, out, _ = newApp(ns)
	a.Now = func() time.Time { return now }
	if err := a.Sessions(t.Context(), plugin.SessionsOptions{AllUsers: true}); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "sessions --all-users", out.String(),
		"NAME               USER     DEVICE",
		"c-user-b-raspi-1   user-b   raspi-1   AppStream   teraterm   Ended    2h ago     5m ago")

	// The same through the command line: the kubeconfig's current context
	// points at another namespace, -n picks the test's.
	kubeconfig := writeKubeconfig(t, "default")
	stdout, stderr := &testenv.SyncBuffer{}, &testenv.SyncBuffer{}
	if code := plugin.Main(t.Context(), []string{"--kubeconfig", kubeconfig, "-n", ns, "sessions", "--appstream-user", "user-b"}, stdout, stderr); code != 0 {
		t.Fatalf("sessions --appstream-user user-b: exit %d: %s", code, stderr)
	}
	if got := stdout.String(); !strings.HasPrefix(got, "NAME               DEVICE    VIA         APP        PHASE   EXPIRES") || !strings.Contains(got, "c-user-b-raspi-1") || strings.Count(got, "\n") != 2 {
		t.Errorf("sessions --appstream-user user-b:\n%s", got)
	}
	// kubectl's --as (and --as-group) act as another user, whose sessions
	// sessions lists by default: the API server says who that is.
	stdout, stderr = &testenv.SyncBuffer{}, &testenv.SyncBuffer{}
	if code := plugin.Main(t.Context(), []string{"--kubeconfig", kubeconfig, "-n", ns, "--as", "user-b", "--as-group", "system:masters", "sessions"}, stdout, stderr); code != 0 {
		t.Fatalf("--as user-b sessions: exit %d: %s", code, stderr)
	}
	if got := stdout.String(); !strings.Contains(got, "c-user-b-raspi-1") || strings.Count(got, "\n") != 2 {
		t.Errorf("--as user-b sessions:\n%s", got)
	}

	a, out, _ = newApp(ns)
	if err := a.End(t.Context(), []string{"a-admin-raspi-1"}); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "end", out.String(), "streamingsession a-admin-raspi-1 deleted")
	err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "a-admin-raspi-1"}, &accessv1alpha1.StreamingSession{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("session still there after end: %v", err)
	}
	err = a.End(t.Context(), []string{"no-such-session"})
	if err == nil || !strings.Contains(err.Error(), `streamingsession "no-such-session" not found`) {
		t.Errorf("end of an unknown session: %v", err)
	}
}

func assertNoSessions(t *testing.T, ns string) {
	t.Helper()
	var list accessv1alpha1.StreamingSessionList
	if err := env.Client.List(t.Context(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Errorf("%d StreamingSessions created, want none", len(list.Items))
	}
}

// TestKubectlFlags: the connection flags are kubectl's own: --user picks the
// kubeconfig user and --context the context, and the help lists them with
// --appstream-user for the AppStream user.
func TestKubectlFlags(t *testing.T) {
	ns := newNamespace(t)
	kubeconfig := writeKubeconfig(t, ns)
	run := func(args ...string) (int, string, string) {
		t.Helper()
		stdout, stderr := &testenv.SyncBuffer{}, &testenv.SyncBuffer{}
		code := plugin.Main(t.Context(), append([]string{"--kubeconfig", kubeconfig}, args...), stdout, stderr)
		return code, stdout.String(), stderr.String()
	}
	if code, _, stderr := run("--context", "envtest", "--user", "nobody", "sessions"); code != 1 || !strings.Contains(stderr, `"nobody"`) {
		t.Errorf("--user nobody (no such kubeconfig user): exit %d, stderr %q", code, stderr)
	}
	// The context's namespace is ns; --user names the kubeconfig user it already has.
	if code, _, stderr := run("--context", "envtest", "--user", "envtest-admin", "sessions"); code != 0 || !strings.Contains(stderr, "No sessions of user admin found in namespace "+ns) {
		t.Errorf("--context envtest --user envtest-admin: exit %d, stderr %q", code, stderr)
	}
	code, help, _ := run("--help")
	if code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	mustContain(t, "help", help, "--user string", "--context string", "-n, --namespace string", "--as string", "--as-group stringArray", "--kubeconfig string")
	_, help, _ = run("connect", "--help")
	mustContain(t, "connect --help", help, "--appstream-user string")
}
