package portal

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/testenv"
)

func napterForm(csrf, ns, group, device, port string) url.Values {
	return url.Values{"csrf": {csrf}, "namespace": {ns}, "deviceGroup": {group}, "device": {device}, "port": {port}, "via": {"napter"}}
}

// oneSession waits for user's one session in ns.
func oneSession(t *testing.T, ns, user string) *accessv1alpha1.StreamingSession {
	t.Helper()
	var got *accessv1alpha1.StreamingSession
	testenv.Eventually(t, sessionWait, user+"'s session", func() error {
		l := sessionsOf(t, ns, user)
		if len(l) != 1 {
			return fmt.Errorf("%d sessions of %s", len(l), user)
		}
		got = &l[0]
		return nil
	})
	return got
}

// TestNapterDeviceList: "Connect via Napter" is offered only on a
// Napter-enabled environment: for a SIM's own host on its TCP ports, for a
// device behind a router only on the forwarded ports, and disabled with the
// reason when the router forwards none.
func TestNapterDeviceList(t *testing.T) {
	w := setup(t)
	p := startPortal(t, w, nil)
	n := newBrowser(t, w, p)
	n.signIn(t, w, mockUser("user-n"))
	list := n.get(t, "/")
	wantStatus(t, list, http.StatusOK, "pi-1", "plc-2", "cam-3",
		`<button type="submit" id="napter-portal-team-n-field-pi-1"`, `<label for="napter-port-portal-team-n-field-pi-1">Port</label>`,
		`<button type="submit" id="napter-portal-team-n-field-plc-2"`, "Not via Napter: modbus",
		`id="napter-portal-team-n-field-cam-3" class="secondary" disabled`, "names no router port forward (routerPort)")
	// pi-1: both ways in.
	if !strings.Contains(list.Body, `id="app-portal-team-n-field-pi-1"`) {
		t.Errorf("pi-1 has no AppStream Connect:\n%s", list.Body)
	}
	// plc-2's Napter ports: only http (forwarded).
	plc := list.Body[strings.Index(list.Body, `id="napter-port-portal-team-n-field-plc-2"`):]
	plc = plc[:strings.Index(plc, "</select>")]
	if !strings.Contains(plc, `value="http"`) || strings.Contains(plc, "modbus") {
		t.Errorf("plc-2's Napter ports: %s", plc)
	}

	a := newBrowser(t, w, p)
	a.signIn(t, w, mockUser("user-a"))
	if body := a.get(t, "/").Body; strings.Contains(body, "Connect via Napter") || strings.Contains(body, `id="napter-`) {
		t.Errorf("user-a's devices (no Napter-enabled environment) offer Napter:\n%s", body)
	}
}

// TestNapterConnectAndEndpoint: Connect via Napter creates a session as the
// person with via Napter, their own /32 and the port; the progress page
// waits, and once the session is Ready the open page shows the endpoint and
// the ssh command (no redirect). My sessions lists it with its way in.
// Another person's Napter session is not shown.
func TestNapterConnectAndEndpoint(t *testing.T) {
	w := setup(t)
	p := startPortal(t, w, nil)
	b := newBrowser(t, w, p)
	b.signIn(t, w, mockUser("user-n"))
	csrf := csrfOf(t, b.get(t, "/").Body)

	got := b.post(t, "/connect", napterForm(csrf, nsN, napterGroup, "pi-1", "ssh"))
	wantStatus(t, got, http.StatusOK, "Preparing your session", "a Napter endpoint", "Napter · port ssh")
	ss := oneSession(t, nsN, "user-n")
	sp := ss.Spec
	if sp.Via != accessv1alpha1.ViaNapter || sp.Napter == nil || len(sp.Napter.SourceRanges) != 1 || sp.Napter.SourceRanges[0] != "127.0.0.1/32" ||
		sp.Napter.TLS || sp.Application != "" || sp.Target == nil || sp.Target.Device != "pi-1" || sp.Target.Port == nil || sp.Target.Port.String() != "ssh" ||
		sp.AccessWindow.Duration > napterMaxWindow || sp.EnvironmentRef.Name != napterEnv {
		t.Errorf("the Napter session's spec: %+v (napter %+v, target %+v)", sp, sp.Napter, sp.Target)
	}
	if ss.Labels[LabelCreatedBy] != CreatedByValue {
		t.Errorf("labels %v", ss.Labels)
	}

	ep := napterReady(t, ss)
	b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	open := b.get(t, sessionPath(nsN, ss.Name)+"/open")
	port := strconv.Itoa(ep.Port)
	wantStatus(t, open, http.StatusOK, "Your Napter endpoint", ep.IP+":"+port, ep.Host,
		"ssh -p "+port+" &lt;user&gt;@"+ep.Host, "127.0.0.1/32", "plain TCP")
	if open.Header.Get("Location") != "" || open.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("the endpoint page: Location %q, Cache-Control %q", open.Header.Get("Location"), open.Header.Get("Cache-Control"))
	}
	if strings.Contains(open.Body, `id="open-endpoint"`) {
		t.Errorf("an Open link for an ssh port:\n%s", open.Body)
	}
	// The progress page of a Ready Napter session moves on to it.
	wantStatus(t, b.get(t, sessionPath(nsN, ss.Name)), http.StatusOK, "Opening your session", `url=/sessions/`+nsN+`/`+ss.Name+`/open`)
	wantStatus(t, b.get(t, "/sessions"), http.StatusOK, "pi-1", "Napter · port ssh", "endpoint open for", ">Endpoint<")
	// The endpoint is never logged.
	if logs := p.Logs.String(); strings.Contains(logs, net.JoinHostPort(ep.IP, strconv.Itoa(ep.Port))) {
		t.Errorf("the endpoint is in the portal's log:\n%s", logs)
	}
	if logs := p.Logs.String(); !strings.Contains(logs, `"via":"Napter"`) || !strings.Contains(logs, `"sourceRange":"127.0.0.1/32"`) {
		t.Errorf("the audit line lacks via and sourceRange:\n%s", logs)
	}

	// user-o's Napter session: user-n gets no endpoint of it.
	other := impersonatedClient(t, "user-o")
	ot := &accessv1alpha1.StreamingSession{}
	ot.Namespace, ot.GenerateName = nsN, "user-o-pi-1-"
	ot.Spec = accessv1alpha1.StreamingSessionSpec{
		EnvironmentRef: accessv1alpha1.LocalObjectReference{Name: napterEnv}, UserID: "user-o", Via: accessv1alpha1.ViaNapter,
		Napter: &accessv1alpha1.NapterAccess{SourceRanges: []string{"198.51.100.7/32"}},
		Target: &accessv1alpha1.SessionTarget{DeviceGroup: napterGroup, Device: "pi-1", Port: ss.Spec.Target.Port},
	}
	ot.Spec.URLValidity.Duration, ot.Spec.AccessWindow.Duration = time.Minute, time.Hour
	if err := other.Create(t.Context(), ot); err != nil {
		t.Fatal(err)
	}
	oep := napterReady(t, ot)
	theirs := b.get(t, sessionPath(nsN, ot.Name)+"/open")
	wantStatus(t, theirs, http.StatusNotFound, "Session not found")
	if strings.Contains(theirs.Body, oep.Host) || strings.Contains(theirs.Body, "198.51.100.7") {
		t.Errorf("user-o's endpoint shown to user-n:\n%s", theirs.Body)
	}
	if body := b.get(t, "/sessions").Body; strings.Contains(body, ot.Name) {
		t.Errorf("user-o's session on user-n's My sessions:\n%s", body)
	}

	// End: the session is deleted (revoked: the controller deletes its mapping).
	csrf = csrfOf(t, b.get(t, "/sessions").Body)
	end := b.post(t, sessionPath(nsN, ss.Name)+"/end", url.Values{"csrf": {csrf}})
	if end.StatusCode != http.StatusSeeOther {
		t.Fatalf("end: %d\n%s", end.StatusCode, end.Body)
	}
	testenv.Eventually(t, sessionWait, "user-n's session gone", func() error {
		if n := len(sessionsOf(t, nsN, "user-n")); n != 0 {
			return fmt.Errorf("%d left", n)
		}
		return nil
	})
}

func impersonatedClient(t *testing.T, user string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(env.Env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNapterWebPortEndpoint: a Napter session to a web port shows an Open
// link to http://host:port/ (https when the endpoint speaks TLS).
func TestNapterWebPortEndpoint(t *testing.T) {
	w := setup(t)
	p := startPortal(t, w, nil)
	b := newBrowser(t, w, p)
	b.signIn(t, w, mockUser("user-n"))
	csrf := csrfOf(t, b.get(t, "/").Body)
	wantStatus(t, b.post(t, "/connect", napterForm(csrf, nsN, napterGroup, "plc-2", "http")), http.StatusOK, "Preparing your session")
	ss := oneSession(t, nsN, "user-n")
	if ss.Spec.Target.Port.String() != "http" || ss.Spec.Napter.TLS {
		t.Errorf("spec %+v napter %+v", ss.Spec.Target, ss.Spec.Napter)
	}
	ep := napterReady(t, ss)
	open := b.get(t, sessionPath(nsN, ss.Name)+"/open")
	wantStatus(t, open, http.StatusOK, `id="open-endpoint" href="http://`+ep.Host+`:`+strconv.Itoa(ep.Port)+`/"`)
	if strings.Contains(open.Body, "ssh -p") {
		t.Errorf("an ssh command for a web port:\n%s", open.Body)
	}
}

// TestNapterRefusals: Napter on an environment that does not allow it, a
// port the router does not forward, and an IPv6 address are refused with a
// page that says why, and no session is created.
func TestNapterRefusals(t *testing.T) {
	w := setup(t)
	p := startPortal(t, w, func(c *Config) { c.TrustedProxies = []string{"127.0.0.1/32"} })
	a := newBrowser(t, w, p)
	a.signIn(t, w, mockUser("user-a"))
	csrfA := csrfOf(t, a.get(t, "/").Body)
	wantStatus(t, a.post(t, "/connect", napterForm(csrfA, nsA, "line-a", "raspi-1", "ssh")), http.StatusBadRequest, "Napter is not enabled")

	n := newBrowser(t, w, p)
	n.signIn(t, w, mockUser("user-n"))
	csrf := csrfOf(t, n.get(t, "/").Body)
	wantStatus(t, n.post(t, "/connect", napterForm(csrf, nsN, napterGroup, "plc-2", "modbus")), http.StatusBadRequest, "Not reachable via Napter")
	wantStatus(t, n.post(t, "/connect", napterForm(csrf, nsN, napterGroup, "cam-3", "http")), http.StatusBadRequest, "router port forward")
	wantStatus(t, n.post(t, "/connect", napterForm(csrf, nsN, napterGroup, "pi-1", "")), http.StatusBadRequest, "Pick a device and a port")
	// Through a trusted proxy from an IPv6 address.
	wantStatus(t, n.post(t, "/connect", napterForm(csrf, nsN, napterGroup, "pi-1", "ssh"), "X-Forwarded-For", "2001:db8::7"),
		http.StatusBadRequest, "Napter needs an IPv4 address", "2001:db8::7")
	for _, ns := range []string{nsA, nsN} {
		for _, u := range []string{"user-a", "user-n"} {
			if l := sessionsOf(t, ns, u); len(l) != 0 {
				t.Errorf("%d sessions of %s in %s after refusals", len(l), u, ns)
			}
		}
	}
}

// TestNapterForwardedFor: X-Forwarded-For from a peer that is not a trusted
// proxy is ignored (a spoofed header does not choose the source range);
// from a trusted proxy, the right-most address that is not a trusted proxy is
// the person's.
func TestNapterForwardedFor(t *testing.T) {
	w := setup(t)
	for _, tc := range []struct {
		name    string
		trusted []string
		xff     string
		want    string
	}{
		{"no trusted proxies: spoofed header ignored", nil, "198.51.100.7", "127.0.0.1/32"},
		{"untrusted peer: spoofed header ignored", []string{"10.0.0.0/8"}, "198.51.100.7", "127.0.0.1/32"},
		{"trusted peer: right-most untrusted entry", []string{"127.0.0.1/32", "10.0.0.0/8"}, "192.0.2.1, 198.51.100.7, 10.1.2.3", "198.51.100.7/32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPortal(t, w, func(c *Config) { c.TrustedProxies = tc.trusted })
			b := newBrowser(t, w, p)
			b.signIn(t, w, mockUser("user-n"))
			csrf := csrfOf(t, b.get(t, "/").Body)
			wantStatus(t, b.post(t, "/connect", napterForm(csrf, nsN, napterGroup, "pi-1", "ssh"), "X-Forwarded-For", tc.xff), http.StatusOK, "Preparing your session")
			ss := oneSession(t, nsN, "user-n")
			if got := ss.Spec.Napter.SourceRanges; len(got) != 1 || got[0] != tc.want {
				t.Errorf("source ranges %v, want [%s]", got, tc.want)
			}
			_ = env.Client.Delete(context.Background(), ss)
		})
	}
}
