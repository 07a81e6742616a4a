package plugin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/plugin"
)

// napterReady plays the Napter controller: the session's Secret holds the
// endpoint, and the session is Ready with reason EndpointIssued.
func napterReady(t *testing.T, ss *accessv1alpha1.StreamingSession, host, ip, port string, tls bool, expires time.Time) {
	t.Helper()
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ss.Namespace, Name: ss.Name + "-url"},
		Data: map[string][]byte{
			"endpoint": []byte(ip + ":" + port), "host": []byte(host), "port": []byte(port),
			"tls": []byte(map[bool]string{true: "true", false: "false"}[tls]), "expiresAt": []byte(expires.UTC().Format(time.RFC3339)),
			"target": []byte("10.128.3.7:22"),
		},
	}
	if err := env.Client.Create(t.Context(), sec); err != nil {
		t.Fatal(err)
	}
	setStatus(t, ss, accessv1alpha1.SessionReady, metav1.Condition{
		Status: metav1.ConditionTrue, Reason: accessv1alpha1.SessionReasonEndpointIssued, Message: "Napter endpoint " + ip + ":" + port + " is open",
	}, func(st *accessv1alpha1.StreamingSessionStatus) {
		st.SecretName = sec.Name
		st.AccessEndsAt = &metav1.Time{Time: expires}
		st.Napter = &accessv1alpha1.NapterStatus{Endpoint: ip + ":" + port, Hostname: host, SIMID: "8981100000000000001", Port: 22, ExpiresAt: &metav1.Time{Time: expires}}
	})
}

// TestConnectViaNapter runs `connect raspi-1 --via napter --source-range …`
// through the command line and plays the controller: the session has via
// Napter, the source ranges, the ssh port and no application; once Ready,
// host:port is printed alone on stdout, and TLS, the expiry and the ssh
// command on stderr. The environment's readiness does not matter to Napter.
func TestConnectViaNapter(t *testing.T) {
	ns := newNamespace(t)
	makeEnv(t, ns, "factory-floor", false, "FleetNotRunning", "the fleet is stopped") // the sample allows Napter
	makeGroup(t, ns, "line-a", "factory-floor")

	a, out, errb := newApp(ns)
	now := time.Now().Truncate(time.Second)
	a.Now = func() time.Time { return now }
	cmd := plugin.NewCommand(out, errb, func() (*plugin.App, error) { return a, nil })
	cmd.SetArgs([]string{"connect", "raspi-1", "--via", "napter", "--source-range", "203.0.113.7/32", "--source-range", "198.51.100.0/24", "--for", "2h"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(t.Context()) }()

	ss := waitForSession(t, ns)
	sp := ss.Spec
	if sp.Via != accessv1alpha1.ViaNapter || sp.Napter == nil || strings.Join(sp.Napter.SourceRanges, ",") != "203.0.113.7/32,198.51.100.0/24" || sp.Napter.TLS ||
		sp.Application != "" || sp.Target == nil || sp.Target.Port.String() != "ssh" || sp.AccessWindow.Duration != 2*time.Hour || sp.UserID != "admin" {
		t.Errorf("unexpected spec %+v (napter %+v, target %+v)", sp, sp.Napter, sp.Target)
	}
	setStatus(t, ss, accessv1alpha1.SessionPending, metav1.Condition{Status: metav1.ConditionFalse, Reason: "DeviceOffline", Message: "waiting for raspi-1"}, nil)
	eventually(t, "a progress line", func(context.Context) (bool, error) {
		return strings.Contains(errb.String(), "waiting: session Pending (DeviceOffline: waiting for raspi-1)"), nil
	})
	napterReady(t, ss, "p-203-0-113-44.napter.example", "203.0.113.44", "41234", false, now.Add(2*time.Hour))
	if err := result(t, done); err != nil {
		t.Fatalf("connect: %v\nstderr:\n%s", err, errb)
	}
	if out.String() != "p-203-0-113-44.napter.example:41234\n" {
		t.Errorf("stdout = %q, want host:port alone", out.String())
	}
	mustContain(t, "stderr", errb.String(),
		"streamingsession "+ss.Name+" created: Napter to line-a/raspi-1 port ssh for user admin, open to 203.0.113.7/32, 198.51.100.0/24 for 2h0m0s",
		"is Ready: Napter endpoint",
		"host p-203-0-113-44.napter.example, port 41234, TLS no (plain TCP)",
		"until "+now.Add(2*time.Hour).UTC().Format(time.RFC3339)+" (in 2h)",
		"connect with: ssh -p 41234 <user>@p-203-0-113-44.napter.example")

	// open prints the same again; sessions shows the way in.
	a, out, errb = newApp(ns)
	a.Now = func() time.Time { return now }
	if err := a.OpenSession(t.Context(), ss.Name, false); err != nil {
		t.Fatal(err)
	}
	if out.String() != "p-203-0-113-44.napter.example:41234\n" || !strings.Contains(errb.String(), "ssh -p 41234") {
		t.Errorf("open: stdout %q stderr %q", out.String(), errb.String())
	}
	a, out, _ = newApp(ns)
	a.Now = func() time.Time { return now }
	if err := a.Sessions(t.Context(), plugin.SessionsOptions{}); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "sessions", out.String(), "VIA", ss.Name+"   raspi-1   Napter:ssh   -     Ready   in 2h")
}

// TestConnectViaNapterRefusals: no source range (never guessed), malformed
// ranges, a router device without a port forward, an environment without
// Napter and a window over 8h are refused before any session is created.
func TestConnectViaNapterRefusals(t *testing.T) {
	ns := newNamespace(t)
	makeEnv(t, ns, "factory-floor", true, "Available", "")
	makeGroup(t, ns, "line-a", "factory-floor")
	a, _, _ := newApp(ns)
	for _, tc := range []struct {
		o    plugin.ConnectOptions
		want []string
	}{
		{plugin.ConnectOptions{Device: "raspi-1", Via: "napter"}, []string{"--via napter needs --source-range CIDR", "does not guess your public address"}},
		{plugin.ConnectOptions{Device: "raspi-1", Via: "napter", SourceRanges: []string{"203.0.113.7"}}, []string{"write 203.0.113.7/32"}},
		{plugin.ConnectOptions{Device: "raspi-1", Via: "napter", SourceRanges: []string{"203.0.113.7/24"}}, []string{"host bits", "203.0.113.0/24"}},
		{plugin.ConnectOptions{Device: "raspi-1", Via: "napter", SourceRanges: []string{"2001:db8::/64"}}, []string{"IPv4 source ranges only"}},
		{plugin.ConnectOptions{Device: "raspi-1", Via: "napter", SourceRanges: []string{"203.0.113.7/32"}, For: 9 * time.Hour}, []string{"too long for Napter"}},
		{plugin.ConnectOptions{Device: "raspi-1", Via: "ssh", SourceRanges: []string{"203.0.113.7/32"}}, []string{`--via "ssh"`}},
		{plugin.ConnectOptions{Device: "raspi-1", SourceRanges: []string{"203.0.113.7/32"}}, []string{"--source-range is for Napter sessions"}},
		{plugin.ConnectOptions{Device: "plc-7", Via: "napter", SourceRanges: []string{"203.0.113.7/32"}}, []string{"behind a cellular router", "routerPort"}},
		{plugin.ConnectOptions{Device: "raspi-1", Via: "napter", SourceRanges: []string{"203.0.113.7/32"}, Port: "vnc"}, []string{`no port "vnc"`}},
	} {
		err := a.Connect(t.Context(), tc.o)
		if err == nil {
			t.Errorf("%+v: no error", tc.o)
			continue
		}
		mustContain(t, "error", err.Error(), tc.want...)
	}
	// Napter not enabled.
	rae := &accessv1alpha1.RemoteAccessEnvironment{}
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "factory-floor"}, rae); err != nil {
		t.Fatal(err)
	}
	rae.Spec.Napter = nil
	if err := env.Client.Update(t.Context(), rae); err != nil {
		t.Fatal(err)
	}
	err := a.Connect(t.Context(), plugin.ConnectOptions{Device: "raspi-1", Via: "napter", SourceRanges: []string{"203.0.113.7/32"}})
	if err == nil {
		t.Fatal("Napter on an environment without it: no error")
	}
	mustContain(t, "error", err.Error(), "does not allow Napter sessions")
	assertNoSessions(t, ns)
}

// TestOpenNapterWebPortInBrowser: open --browser on a Napter session to a
// web port opens http(s)://host:port/; an unready session has nothing to open.
func TestOpenNapterWebPortInBrowser(t *testing.T) {
	ns := newNamespace(t)
	makeEnv(t, ns, "factory-floor", true, "Available", "")
	port := intstr.FromString("https")
	ss := &accessv1alpha1.StreamingSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "admin-cam-1"},
		Spec: accessv1alpha1.StreamingSessionSpec{
			EnvironmentRef: accessv1alpha1.LocalObjectReference{Name: "factory-floor"}, UserID: "admin", Via: accessv1alpha1.ViaNapter,
			Napter:      &accessv1alpha1.NapterAccess{SourceRanges: []string{"203.0.113.7/32"}, TLS: true},
			Target:      &accessv1alpha1.SessionTarget{DeviceGroup: "line-a", Device: "cam-1", Port: &port},
			URLValidity: metav1.Duration{Duration: time.Minute}, AccessWindow: metav1.Duration{Duration: time.Hour},
		},
	}
	if err := env.Client.Create(t.Context(), ss); err != nil {
		t.Fatal(err)
	}
	a, _, _ := newApp(ns)
	err := a.OpenSession(t.Context(), ss.Name, true)
	if err == nil || !strings.Contains(err.Error(), "nothing to open") {
		t.Errorf("open of an unready session: %v", err)
	}
	napterReady(t, ss, "p-1.napter.example", "203.0.113.9", "40001", true, time.Now().Add(time.Hour))
	a, out, errb := newApp(ns)
	var opened string
	a.Open = func(u string) error { opened = u; return nil }
	if err := a.OpenSession(t.Context(), ss.Name, true); err != nil {
		t.Fatal(err)
	}
	if opened != "https://p-1.napter.example:40001/" || out.String() != "p-1.napter.example:40001\n" {
		t.Errorf("opened %q, stdout %q", opened, out.String())
	}
	mustContain(t, "stderr", errb.String(), "TLS yes", "open: https://p-1.napter.example:40001/")
}
