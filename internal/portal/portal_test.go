package portal

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/testenv"
)

func wantStatus(t *testing.T, p page, status int, contains ...string) {
	t.Helper()
	if p.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d\n%s", p.Request.Method, p.Request.URL, p.StatusCode, status, p.Body)
	}
	for _, c := range contains {
		if !strings.Contains(p.Body, c) {
			t.Errorf("%s %s: page lacks %q\n%s", p.Request.Method, p.Request.URL, c, p.Body)
		}
	}
}

// wantSignedCookie checks that the browser's sign-in is the portal's signed
// and encrypted cookie: it does not show the user, and a copy with one
// character changed is no sign-in.
func wantSignedCookie(t *testing.T, b *browser, user string) {
	t.Helper()
	val := sessionCookieOf(t, b)
	if strings.Contains(val, user) {
		t.Errorf("the session cookie shows the user name: %q", val)
	}
	if !signedInWith(t, b.p, val) {
		t.Errorf("the portal does not take its own session cookie %q", val)
	}
	if signedInWith(t, b.p, tamper(val)) {
		t.Errorf("the portal takes a session cookie with one character changed")
	}
}

// waitNoSessions waits until user has no sessions in ns left (the controller
// removes its finalizer once their AppStream sessions are ended) and the
// browser's My sessions page says so.
func waitNoSessions(t *testing.T, b *browser, ns, user string) {
	t.Helper()
	testenv.Eventually(t, sessionWait, user+"'s sessions gone", func() error {
		if got := sessionsOf(t, ns, user); len(got) != 0 {
			return fmt.Errorf("%d sessions left, e.g. %s in phase %q", len(got), got[0].Name, got[0].Status.Phase)
		}
		if body := b.get(t, "/sessions").Body; !strings.Contains(body, "You have no sessions") {
			return fmt.Errorf("My sessions still lists sessions:\n%s", body)
		}
		return nil
	})
}

func connectForm(csrf, ns, group, device, app, port string) url.Values {
	f := url.Values{"namespace": {ns}, "deviceGroup": {group}, "device": {device}, "application": {app}}
	if csrf != "" {
		f.Set("csrf", csrf)
	}
	if port != "" {
		f.Set("port", port)
	}
	return f
}

var refreshRe = regexp.MustCompile(`<meta http-equiv="refresh" content="[0-9]+;url=([^"]+)">`)

// connectAndFollow posts Connect and follows the portal as a browser would
// (303 to the progress page, its meta refresh to /open) until the redirect
// to another host; it returns that Location and the time it took.
func connectAndFollow(t *testing.T, b *browser, form url.Values) (*url.URL, string, time.Duration) {
	t.Helper()
	start := time.Now()
	p := b.post(t, "/connect", form)
	for i := 0; ; i++ {
		if p.StatusCode == http.StatusSeeOther && p.Request.URL.Path != "" {
			loc, err := p.Location()
			if err != nil {
				t.Fatal(err)
			}
			if loc.Host != p.Request.URL.Host {
				if p.Header.Get("Cache-Control") != "no-store" || strings.TrimSpace(p.Body) != "" {
					t.Errorf("the redirect to the URL has Cache-Control %q and body %q; want no-store and no body", p.Header.Get("Cache-Control"), p.Body)
				}
				return loc, p.Request.URL.Path, time.Since(start)
			}
		}
		if p.StatusCode != http.StatusOK || i > 20 {
			t.Fatalf("connect: %s %s gave %d\n%s", p.Request.Method, p.Request.URL, p.StatusCode, p.Body)
		}
		m := refreshRe.FindStringSubmatch(p.Body)
		if m == nil {
			t.Fatalf("the progress page %s does not move on:\n%s", p.Request.URL, p.Body)
		}
		p = b.get(t, htmlUnescape(m[1]))
	}
}

func TestSignInConnectAndEnd(t *testing.T) {
	w := setup(t)
	p := startPortal(t, w, nil)
	b := newBrowser(t, w, p)
	b.signIn(t, w, mockUser("user-a"))

	devices := b.get(t, "/")
	wantStatus(t, devices, http.StatusOK, "raspi-1", "plc-7", "bench-1", `id="user">user-a<`, "Offline", "Not ready")
	for _, other := range []string{"robot-9", nsB} {
		if strings.Contains(devices.Body, other) {
			t.Errorf("user-a sees %q of team B", other)
		}
	}
	h := devices.Header
	for k, v := range map[string]string{
		"Content-Security-Policy": contentSecurityPolicy, "Referrer-Policy": "no-referrer",
		"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "X-Frame-Options": "DENY",
	} {
		if h.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), v)
		}
	}
	wantSignedCookie(t, b, "user-a")

	loc, via, took := connectAndFollow(t, b, connectForm(csrfOf(t, devices.Body), nsA, "line-a", "raspi-1", "teraterm", "ssh"))
	t.Logf("connect latency (click to redirect, StreamingSession controller + AppStream emulator): %s", took.Round(time.Millisecond))
	if !strings.HasPrefix(loc.String(), w.cloud.AppStreamURL+"/streaming/") {
		t.Fatalf("redirected to %s, want a streaming URL of the emulator", loc)
	}
	mine := sessionsOf(t, nsA, "user-a")
	if len(mine) != 1 {
		t.Fatalf("%d sessions for user-a, want 1", len(mine))
	}
	ss := mine[0]
	if via != sessionPath(nsA, ss.Name)+"/open" {
		t.Errorf("the URL came from %s", via)
	}
	if ss.Spec.UserID != "user-a" || ss.Spec.Application != "teraterm" || ss.Spec.Target == nil ||
		ss.Spec.Target.Device != "raspi-1" || ss.Spec.Target.Port == nil || ss.Spec.Target.Port.StrVal != "ssh" ||
		ss.Labels[LabelCreatedBy] != CreatedByValue {
		t.Errorf("created session %+v %+v", ss.ObjectMeta.Labels, ss.Spec)
	}
	if loc.String() != sessionURL(t, &ss) {
		t.Errorf("redirected to a URL other than the one in the session's Secret")
	}
	// The session passed the requester policy (spec.userId == the requester),
	// so the API server saw user-a create it; and the portal's own identity
	// could not have created it at all:
	sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: "system:serviceaccount:" + portalNS + ":" + portalSA, Groups: []string{"system:serviceaccounts", "system:authenticated"},
		ResourceAttributes: &authzv1.ResourceAttributes{Namespace: nsA, Verb: "create", Group: accessv1alpha1.GroupVersion.Group, Resource: "streamingsessions"},
	}}
	if err := env.Client.Create(context.Background(), sar); err != nil || sar.Status.Allowed {
		t.Errorf("the portal's service account may create sessions itself (allowed %v, err %v)", sar.Status.Allowed, err)
	}

	// The browser lands on the emulator's session page for the right device.
	resp, err := http.Get(loc.String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	raspi := sessionContext(t, nsA, "line-a", "raspi-1", "ssh")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `<dd id="user">user-a</dd>`) ||
		!strings.Contains(string(body), `<dd id="session-context">`+raspi+`</dd>`) || !strings.Contains(string(body), `<dd id="application">teraterm</dd>`) {
		t.Errorf("the streaming page (%d) does not name user-a, teraterm and raspi-1's SSH port %s:\n%s", resp.StatusCode, raspi, body)
	}

	// The audit line: who, where, what; never the URL.
	logs := p.Logs.String()
	if !strings.Contains(logs, `"msg":"portal connect"`) || !strings.Contains(logs, `"user":"user-a"`) ||
		!strings.Contains(logs, `"device":"raspi-1"`) || !strings.Contains(logs, `"application":"teraterm"`) ||
		!strings.Contains(logs, `"session":"`+ss.Name+`"`) {
		t.Errorf("no audit line for the connect:\n%s", logs)
	}
	if strings.Contains(logs, "/streaming/") {
		t.Errorf("the streaming URL is in the log:\n%s", logs)
	}

	// My sessions lists it; End deletes it as user-a.
	list := b.get(t, "/sessions")
	wantStatus(t, list, http.StatusOK, "raspi-1", "teraterm", "Ready", "URL valid for")
	if strings.Contains(list.Body, "/streaming/") {
		t.Error("the URL is on the sessions page")
	}
	end := b.post(t, sessionPath(nsA, ss.Name)+"/end", url.Values{"csrf": {csrfOf(t, list.Body)}})
	wantStatus(t, end, http.StatusOK, "My sessions")
	waitNoSessions(t, b, nsA, "user-a")
	if !strings.Contains(p.Logs.String(), `"msg":"portal end"`) {
		t.Error("no audit line for the end")
	}

	metrics := b.get(t, p.Ops+"/metrics").Body
	for _, want := range []string{
		`gatestream_portal_connects_total{result="ok"} 1`,
		`gatestream_portal_ends_total 1`,
		`gatestream_portal_connect_seconds_count 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if m := regexp.MustCompile(`gatestream_portal_connect_seconds_sum ([0-9.e+-]+)`).FindStringSubmatch(metrics); m != nil {
		t.Logf("gatestream_portal_connect_seconds_sum (one connect) = %s s", m[1])
	}
}

func TestUserBSeesOnlyTeamBAndCannotCraftConnects(t *testing.T) {
	w := setup(t)
	p := startPortal(t, w, nil)
	a := newBrowser(t, w, p)
	a.signIn(t, w, mockUser("user-a"))
	loc, _, _ := connectAndFollow(t, a, connectForm(csrfOf(t, a.get(t, "/").Body), nsA, "line-a", "raspi-1", "rdp", ""))
	if loc == nil {
		t.Fatal("user-a could not connect")
	}
	aSession := sessionsOf(t, nsA, "user-a")[0]

	b := newBrowser(t, w, p)
	b.signIn(t, w, mockUser("user-b", groupTeamB))
	devices := b.get(t, "/")
	wantStatus(t, devices, http.StatusOK, "robot-9")
	for _, other := range []string{"raspi-1", "plc-7", "bench-1", nsA} {
		if strings.Contains(devices.Body, other) {
			t.Errorf("user-b sees %q of team A", other)
		}
	}
	csrf := csrfOf(t, devices.Body)
	// A valid form of user-b's own, aimed at team A's device: refused by RBAC.
	crafted := b.post(t, "/connect", connectForm(csrf, nsA, "line-a", "raspi-1", "teraterm", ""))
	wantStatus(t, crafted, http.StatusForbidden, "No access", "user-b")
	if strings.Contains(crafted.Body, "Offline") || strings.Contains(crafted.Body, "factory-floor") {
		t.Error("the refusal tells user-b about team A's devices")
	}
	if got := sessionsOf(t, nsA, "user-b"); len(got) != 0 {
		t.Errorf("user-b created %d sessions in team A", len(got))
	}
	// user-a's session is invisible to user-b, and cannot be ended by them.
	wantStatus(t, b.get(t, sessionPath(nsA, aSession.Name)), http.StatusForbidden)
	wantStatus(t, b.get(t, sessionPath(nsA, aSession.Name)+"/open"), http.StatusForbidden)
	wantStatus(t, b.post(t, sessionPath(nsA, aSession.Name)+"/end", url.Values{"csrf": {csrf}}), http.StatusForbidden)
	if got := sessionsOf(t, nsA, "user-a"); len(got) != 1 || got[0].DeletionTimestamp != nil {
		t.Error("user-b ended user-a's session")
	}
	if strings.Contains(b.get(t, "/sessions").Body, aSession.Name) {
		t.Error("user-b's sessions page lists user-a's session")
	}
	// user-b's own connect works, as user-b, in team B.
	loc, _, _ = connectAndFollow(t, b, connectForm(csrf, nsB, "line-b", "robot-9", "teraterm", ""))
	if !strings.HasPrefix(loc.String(), w.cloud.AppStreamURL) || len(sessionsOf(t, nsB, "user-b")) != 1 {
		t.Errorf("user-b's connect went to %s", loc)
	}
	wantStatus(t, a.post(t, sessionPath(nsA, aSession.Name)+"/end", url.Values{"csrf": {csrfOf(t, a.get(t, "/sessions").Body)}}), http.StatusOK)
	wantStatus(t, b.post(t, sessionPath(nsB, sessionsOf(t, nsB, "user-b")[0].Name)+"/end", url.Values{"csrf": {csrf}}), http.StatusOK)
}

func TestCSRFAndCrossOriginPostsAreRefused(t *testing.T) {
	w := setup(t)
	p := startPortal(t, w, nil)
	b := newBrowser(t, w, p)
	b.signIn(t, w, mockUser("user-a"))
	csrf := csrfOf(t, b.get(t, "/").Body)
	form := func(token string) url.Values { return connectForm(token, nsA, "line-a", "raspi-1", "teraterm", "") }

	wantStatus(t, b.post(t, "/connect", form("")), http.StatusForbidden, "Form expired")
	wantStatus(t, b.post(t, "/connect", form(csrf[:len(csrf)-2]+"xx")), http.StatusForbidden, "Form expired")
	wantStatus(t, b.post(t, "/connect", form(csrf), "Origin", "https://evil.example"), http.StatusForbidden, "another origin")
	wantStatus(t, b.post(t, "/connect", form(csrf), "Sec-Fetch-Site", "cross-site"), http.StatusForbidden, "another site")
	wantStatus(t, b.post(t, "/connect", form(csrf), "Sec-Fetch-Site", "same-site", "Origin", "null"), http.StatusForbidden, "another site")
	wantStatus(t, b.post(t, "/connect", form(csrf), "Origin", "http://127.0.0.1:1"), http.StatusForbidden, "another origin")
	// What Chromium sends for the portal's own form under Referrer-Policy: no-referrer.
	offline := connectForm(csrf, nsA, "line-a", "plc-7", "teraterm", "")
	wantStatus(t, b.post(t, "/connect", offline, "Sec-Fetch-Site", "same-origin", "Origin", "null"), http.StatusConflict, "Device offline")
	// What older browsers without Sec-Fetch-Site send for it: left to the token.
	wantStatus(t, b.post(t, "/connect", offline, "Origin", "null"), http.StatusConflict, "Device offline")
	wantStatus(t, b.post(t, "/connect", offline, "Origin", p.URL), http.StatusConflict, "Device offline")
	// Another sign-in's token is no good either.
	other := newBrowser(t, w, p)
	other.signIn(t, w, mockUser("user-a"))
	wantStatus(t, other.post(t, "/connect", form(csrf)), http.StatusForbidden, "Form expired")
	wantStatus(t, b.post(t, "/signout", url.Values{}), http.StatusForbidden)
	if got := sessionsOf(t, nsA, "user-a"); len(got) != 0 {
		t.Errorf("%d sessions created by refused requests", len(got))
	}
	// An oversized body is refused.
	big := url.Values{"csrf": {csrf}, "pad": {strings.Repeat("x", 32<<10)}}
	wantStatus(t, b.post(t, "/connect", big), http.StatusRequestEntityTooLarge)
	// Sign-out needs the token and ends the sign-in.
	out := b.post(t, "/signout", url.Values{"csrf": {csrf}})
	wantStatus(t, out, http.StatusOK, "You are signed out")
	wantStatus(t, b.post(t, "/connect", form(csrf)), http.StatusUnauthorized, "Not signed in")
}

func TestExpiredSignInGoesBackToSignIn(t *testing.T) {
	w := setup(t)
	p := startPortal(t, w, func(c *Config) { c.SessionTTL = 8 * time.Hour })
	b := newBrowser(t, w, p)
	b.signIn(t, w, mockUser("user-a"))
	csrf := csrfOf(t, b.get(t, "/").Body)

	p.Clock.advance(8*time.Hour + time.Second)
	b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp := b.get(t, "/sessions")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("an expired sign-in got %d, want 303 to sign-in", resp.StatusCode)
	}
	loc, _ := resp.Location()
	if loc.Path != "/signin" || loc.Query().Get("reason") != "expired" || loc.Query().Get("next") != "/sessions" {
		t.Errorf("redirected to %s, want /signin?reason=expired&next=/sessions", loc)
	}
	wantStatus(t, b.get(t, loc.String()), http.StatusOK, "expired")
	wantStatus(t, b.post(t, "/connect", connectForm(csrf, nsA, "line-a", "raspi-1", "teraterm", "")), http.StatusUnauthorized, "expired")
	// A forged cookie (wrong key) is no sign-in either.
	forged := testCodec([]byte("another-key-another-key-another-key!!"))
	val, err := forged.encode(sessionCookie, &portalSession{User: "user-a", CSRF: "x", Expires: p.Clock.now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if signedInWith(t, p, val) {
		t.Error("a cookie made with another key is taken as a sign-in")
	}
}

func TestPersonWithoutRBACSeesAnExplanation(t *testing.T) {
	w := setup(t)
	p := startPortal(t, w, nil)
	b := newBrowser(t, w, p)
	b.signIn(t, w, mockUser("user-c", "visitors"))
	page := b.get(t, "/")
	wantStatus(t, page, http.StatusForbidden, "No access to any devices", "user-c", "visitors", "RoleBinding", "streamingsessions.access.gatestream.io")
	for _, d := range []string{"raspi-1", "robot-9"} {
		if strings.Contains(page.Body, d) {
			t.Errorf("user-c sees %s", d)
		}
	}
}

func TestErrorPages(t *testing.T) {
	w := setup(t)
	p := startPortal(t, w, nil)
	b := newBrowser(t, w, p)
	b.signIn(t, w, mockUser("user-a"))
	csrf := csrfOf(t, b.get(t, "/").Body)

	wantStatus(t, b.post(t, "/connect", connectForm(csrf, nsA, "bench", "bench-1", "teraterm", "")), http.StatusConflict,
		"Environment not ready", "STARTING")
	wantStatus(t, b.post(t, "/connect", connectForm(csrf, nsA, "line-a", "plc-7", "teraterm", "")), http.StatusConflict, "Device offline", "plc-7")
	wantStatus(t, b.post(t, "/connect", connectForm(csrf, nsA, "line-c", "meter-3", "teraterm", "")), http.StatusConflict, "Device unreachable", "meter-3", "rtb-0abc1234")
	wantStatus(t, b.get(t, "/"), http.StatusOK, "Unreachable from the streaming fleet", "rtb-0abc1234")
	wantStatus(t, b.post(t, "/connect", connectForm(csrf, nsA, "line-a", "nope", "teraterm", "")), http.StatusNotFound, "Device not found")
	wantStatus(t, b.post(t, "/connect", connectForm(csrf, nsA, "line-a", "raspi-1", "solitaire", "")), http.StatusBadRequest, "Unknown application")
	wantStatus(t, b.post(t, "/connect", connectForm(csrf, nsA, "line-a", "raspi-1", "teraterm", "telnet")), http.StatusBadRequest, "Unknown port")

	// The environment offers "notepad", which the image lacks: AppStream
	// refuses its URLs, so the controller keeps the session Pending and tries
	// again, and the progress page says why (the emulator's message).
	created := b.post(t, "/connect", connectForm(csrf, nsA, "line-a", "raspi-1", "notepad", ""))
	wantStatus(t, created, http.StatusOK, "Preparing your session")
	var pending page
	testenv.Eventually(t, sessionWait, "the progress page showing AppStream's refusal", func() error {
		if pending = b.get(t, created.Request.URL.Path); !strings.Contains(pending.Body, "is not available in image") {
			return fmt.Errorf("%d:\n%s", pending.StatusCode, pending.Body)
		}
		return nil
	})
	wantStatus(t, pending, http.StatusOK, "Preparing your session", "notepad", "is not available in image")

	// A session the controller fails: ghost-1 is online but its group has
	// not reported its address, so the controller waits; then ghost-1 is
	// removed from the group and the controller fails the session. The page
	// shows the controller's message.
	ghost := ghostGroup(t)
	created = b.post(t, "/connect", connectForm(csrf, nsA, ghost.Name, "ghost-1", "teraterm", ""))
	wantStatus(t, created, http.StatusOK, "Preparing your session")
	key := client.ObjectKey{Namespace: nsA, Name: path.Base(created.Request.URL.Path)}
	var ss accessv1alpha1.StreamingSession
	testenv.Eventually(t, sessionWait, "the controller waiting for ghost-1's address", func() error {
		if err := env.Client.Get(t.Context(), key, &ss); err != nil {
			return err
		}
		c := meta.FindStatusCondition(ss.Status.Conditions, accessv1alpha1.ConditionReady)
		if c == nil || c.Reason != accessv1alpha1.SessionReasonDeviceAddressUnknown {
			return fmt.Errorf("phase %q, Ready %+v", ss.Status.Phase, c)
		}
		return nil
	})
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := env.Client.Get(t.Context(), client.ObjectKeyFromObject(ghost), ghost); err != nil {
			return err
		}
		ghost.Spec.Devices = slices.DeleteFunc(ghost.Spec.Devices, func(d accessv1alpha1.Device) bool { return d.Name == "ghost-1" })
		return env.Client.Update(t.Context(), ghost)
	}); err != nil {
		t.Fatal(err)
	}
	var failed page
	testenv.Eventually(t, sessionWait, "the session failed", func() error {
		if failed = b.get(t, created.Request.URL.Path); failed.StatusCode == http.StatusOK {
			return fmt.Errorf("still in progress:\n%s", failed.Body)
		}
		return nil
	})
	if err := env.Client.Get(t.Context(), key, &ss); err != nil {
		t.Fatal(err)
	}
	why := meta.FindStatusCondition(ss.Status.Conditions, accessv1alpha1.ConditionReady)
	if ss.Status.Phase != accessv1alpha1.SessionFailed || why == nil || !strings.Contains(why.Message, "ghost-1") {
		t.Fatalf("session %s: phase %q, Ready %+v; want Failed for ghost-1", ss.Name, ss.Status.Phase, why)
	}
	wantStatus(t, failed, http.StatusBadGateway, "The session failed", "ghost-1", "teraterm", template.HTMLEscapeString(why.Message))
	for _, s := range sessionsOf(t, nsA, "user-a") {
		wantStatus(t, b.post(t, sessionPath(nsA, s.Name)+"/end", url.Values{"csrf": {csrf}}), http.StatusOK)
	}

	// A user name AppStream cannot take.
	long := newBrowser(t, w, p)
	long.signIn(t, w, mockUser("a-person-with-a-very-long-user-name-x"))
	wantStatus(t, long.post(t, "/connect", connectForm(csrfOf(t, long.get(t, "/sessions").Body), nsA, "line-a", "raspi-1", "teraterm", "")),
		http.StatusBadRequest, "cannot be used with AppStream")

	wantStatus(t, b.get(t, "/no/such/page"), http.StatusNotFound, "Page not found")
	wantStatus(t, b.get(t, sessionPath(nsA, "no-such-session")), http.StatusNotFound, "Session not found")
}

// ghostGroup is a DeviceGroup of factory-floor in team A whose devices,
// ghost-1 and ghost-2, are online but have no address yet; it is deleted
// when the test ends.
func ghostGroup(t *testing.T) *accessv1alpha1.DeviceGroup {
	t.Helper()
	g := &accessv1alpha1.DeviceGroup{}
	if err := addGroup(t.Context(), nsA, "line-ghost", "factory-floor", map[string]bool{"ghost-1": true, "ghost-2": true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), g) })
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: nsA, Name: "line-ghost"}, g); err != nil {
		t.Fatal(err)
	}
	for i := range g.Status.Devices {
		g.Status.Devices[i].Address = ""
	}
	if err := env.Client.Status().Update(t.Context(), g); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestConnectRateLimitPerPerson(t *testing.T) {
	w := setup(t)
	p := startPortal(t, w, func(c *Config) { c.ConnectPerMinute, c.ConnectBurst = 1, 2 })
	b := newBrowser(t, w, p)
	b.signIn(t, w, mockUser("user-a"))
	csrf := csrfOf(t, b.get(t, "/").Body)
	offline := connectForm(csrf, nsA, "line-a", "plc-7", "teraterm", "")
	wantStatus(t, b.post(t, "/connect", offline), http.StatusConflict)
	wantStatus(t, b.post(t, "/connect", offline), http.StatusConflict)
	limited := b.post(t, "/connect", offline)
	wantStatus(t, limited, http.StatusTooManyRequests, "Too many connections")
	if limited.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	// Another person has their own budget.
	c := newBrowser(t, w, p)
	c.signIn(t, w, mockUser("user-b", groupTeamB))
	wantStatus(t, c.post(t, "/connect", connectForm(csrfOf(t, c.get(t, "/").Body), nsA, "line-a", "plc-7", "teraterm", "")), http.StatusForbidden)
	if !strings.Contains(b.get(t, p.Ops+"/metrics").Body, `gatestream_portal_connects_total{result="rate_limited"} 1`) {
		t.Error("rate_limited not counted")
	}
}

func TestProxyMode(t *testing.T) {
	w := setup(t)
	proxyCfg := func(cidrs ...string) func(*Config) {
		return func(c *Config) {
			c.AuthMode = AuthProxy
			c.OIDCIssuerURL, c.OIDCClientID = "", ""
			c.ProxyTrustedCIDRs = cidrs
		}
	}
	as := func(b *browser, t *testing.T, method, path string, form url.Values, user, groups string) page {
		req, _ := http.NewRequest(method, b.abs(path), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-User", user)
		req.Header.Set("X-Forwarded-Groups", groups)
		req.Header.Set("X-Forwarded-Email", user+"@example.com")
		return b.do(t, req)
	}

	// Identity headers from an address that is not the proxy's: 403.
	untrusted := startPortal(t, w, proxyCfg("10.0.0.0/8"))
	ub := newBrowser(t, w, untrusted)
	wantStatus(t, as(ub, t, http.MethodGet, "/", nil, "user-a", ""), http.StatusForbidden, "sign-in proxy")
	if strings.Contains(untrusted.Logs.String(), "raspi-1") {
		t.Error("untrusted request reached the devices")
	}

	trusted := startPortal(t, w, proxyCfg("127.0.0.1/32"))
	tb := newBrowser(t, w, trusted)
	devices := as(tb, t, http.MethodGet, "/", nil, "user-b", "team-b,system:masters")
	wantStatus(t, devices, http.StatusOK, "robot-9")
	if strings.Contains(devices.Body, "raspi-1") || strings.Contains(devices.Body, "/signout") {
		t.Error("proxy mode shows team A's devices or a sign-out form")
	}
	csrf := csrfOf(t, devices.Body)
	wantStatus(t, as(tb, t, http.MethodPost, "/connect", connectForm("", nsB, "line-b", "robot-9", "teraterm", ""), "user-b", "team-b"), http.StatusForbidden, "Form expired")
	// The token is bound to the identity: another user behind the same cookie jar cannot use it.
	wantStatus(t, as(tb, t, http.MethodPost, "/connect", connectForm(csrf, nsB, "line-b", "robot-9", "teraterm", ""), "user-a", ""), http.StatusForbidden, "Form expired")
	// (That request re-bound the cookie to user-a: user-b gets a fresh token.)
	csrf = csrfOf(t, as(tb, t, http.MethodGet, "/", nil, "user-b", "team-b,system:masters").Body)
	ok := as(tb, t, http.MethodPost, "/connect", connectForm(csrf, nsB, "line-b", "robot-9", "teraterm", ""), "user-b", "team-b,system:masters")
	wantStatus(t, ok, http.StatusOK, "Preparing your session")
	mine := sessionsOf(t, nsB, "user-b")
	if len(mine) != 1 {
		t.Fatalf("%d sessions for user-b", len(mine))
	}
	wantStatus(t, as(tb, t, http.MethodPost, sessionPath(nsB, mine[0].Name)+"/end", url.Values{"csrf": {csrf}}, "user-b", "team-b,system:masters"), http.StatusOK)
	// No identity from the proxy: not signed in.
	wantStatus(t, as(tb, t, http.MethodGet, "/", nil, "", ""), http.StatusUnauthorized)
	wantStatus(t, as(tb, t, http.MethodGet, "/", nil, "system:admin", ""), http.StatusUnauthorized, "system:")
}

// TestConnectLatency connects 20 times in a row and logs the distribution of
// click-to-redirect times (POST /connect to the 303 to the streaming URL),
// with the StreamingSession controller minting at the AppStream emulator.
func TestConnectLatency(t *testing.T) {
	w := setup(t)
	p := startPortal(t, w, nil)
	b := newBrowser(t, w, p)
	b.signIn(t, w, mockUser("user-a"))
	csrf := csrfOf(t, b.get(t, "/").Body)
	var took []time.Duration
	for range 20 {
		_, _, d := connectAndFollow(t, b, connectForm(csrf, nsA, "line-a", "raspi-1", "teraterm", "ssh"))
		took = append(took, d)
	}
	slices.Sort(took)
	t.Logf("connect latency over %d connects: min %s, p50 %s, p95 %s, max %s", len(took),
		took[0].Round(time.Millisecond), took[len(took)/2].Round(time.Millisecond),
		took[len(took)*95/100].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	metrics := b.get(t, p.Ops+"/metrics").Body
	if !strings.Contains(metrics, `gatestream_portal_connect_seconds_count 20`) {
		t.Error("the histogram did not observe 20 connects")
	}
}
