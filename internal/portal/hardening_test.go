package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/testenv"
)

// requestWith sends one request with value as the session cookie and
// returns the answer without following redirects.
func requestWith(t *testing.T, p *portalUnderTest, method, path, value string, form url.Values) page {
	t.Helper()
	req, err := http.NewRequest(method, p.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", p.URL)
	}
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: value})
	b := &browser{p: p, Client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	return b.do(t, req)
}

// TestSignOutEndsTheSignInOnEveryReplica: a copy of the session cookie taken
// before sign-out is refused afterwards, by the replica that signed out and
// by another one (the sign-out is recorded in the API server, not in memory),
// while a new sign-in works at once.
func TestSignOutEndsTheSignInOnEveryReplica(t *testing.T) {
	w := setup(t)
	p1 := startPortal(t, w, nil)
	p2 := startPortal(t, w, nil) // a second replica: same keys, same sign-out record
	b := newBrowser(t, w, p1)
	b.signIn(t, w, mockUser("user-a"))
	copied := sessionCookieOf(t, b)
	home := b.get(t, "/")
	wantStatus(t, home, http.StatusOK, "raspi-1")
	csrf := csrfOf(t, home.Body)
	for _, p := range []*portalUnderTest{p1, p2} {
		if !signedInWith(t, p, copied) {
			t.Fatalf("replica %s does not take the sign-in before sign-out", p.URL)
		}
	}

	out := b.post(t, "/signout", url.Values{"csrf": {csrf}})
	if out.Request.URL.Path != "/signin" || !strings.Contains(out.Body, "You are signed out") {
		t.Fatalf("sign-out ended at %s (%d):\n%s", out.Request.URL, out.StatusCode, out.Body)
	}
	for _, p := range []*portalUnderTest{p1, p2} {
		got := requestWith(t, p, http.MethodGet, "/", copied, nil)
		if got.StatusCode != http.StatusSeeOther || !strings.HasPrefix(got.Header.Get("Location"), "/signin?") || !strings.Contains(got.Header.Get("Location"), "reason=signedout") {
			t.Errorf("replica %s: the copied cookie after sign-out got %d to %q, want a redirect to sign-in", p.URL, got.StatusCode, got.Header.Get("Location"))
		}
		// A state-changing request with the copied cookie and its token: 401.
		wantStatus(t, requestWith(t, p, http.MethodPost, "/connect", copied, connectForm(csrf, nsA, "line-a", "plc-7", "teraterm", "")),
			http.StatusUnauthorized, "you signed out")
		// The sign-in page shows itself (no redirect loop back to /).
		wantStatus(t, requestWith(t, p, http.MethodGet, "/signin", copied, nil), http.StatusOK, "Sign in")
	}
	if !strings.Contains(p1.Logs.String(), `"action":"signout"`) {
		t.Error("no audit line for the sign-out")
	}

	// Signing in again works at once, on both replicas.
	b2 := newBrowser(t, w, p1)
	b2.signIn(t, w, mockUser("user-a"))
	fresh := sessionCookieOf(t, b2)
	for _, p := range []*portalUnderTest{p1, p2} {
		if !signedInWith(t, p, fresh) {
			t.Errorf("replica %s does not take a sign-in made after the sign-out", p.URL)
		}
		if signedInWith(t, p, copied) {
			t.Errorf("replica %s takes the copied cookie again after a new sign-in", p.URL)
		}
	}
	// Another person is not signed out by user-a's sign-out.
	c := newBrowser(t, w, p1)
	c.signIn(t, w, mockUser("user-b", groupTeamB))
	wantStatus(t, c.get(t, "/"), http.StatusOK, "robot-9")
}

// signInFails runs the code flow for user and wants a sign-in failure page
// that names the problem.
func signInFails(t *testing.T, w *world, p *portalUnderTest, name string, groups []string, why string) {
	t.Helper()
	b := newBrowser(t, w, p)
	u := mockUser("x", groups...)
	u.PreferredUsername = name
	got := signInAs(t, w, b, u)
	if got.StatusCode != http.StatusUnauthorized || !strings.Contains(got.Body, "Sign-in failed") || strings.Contains(got.Body, `id="user"`) {
		t.Errorf("user %q groups %q: sign-in ended with %d at %s, want 401 Sign-in failed\n%s", name, groups, got.StatusCode, got.Request.URL, got.Body)
		return
	}
	if !strings.Contains(got.Body, why) {
		t.Errorf("user %q groups %q: the page does not say %q\n%s", name, groups, why, got.Body)
	}
	for _, ck := range b.Jar.Cookies(mustURL(t, p.URL)) {
		if ck.Name == sessionCookie {
			t.Errorf("user %q groups %q: a session cookie was set", name, groups)
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestIdentitiesAreNotTrimmed: names from the identity provider with
// surrounding whitespace, a non-breaking space or another unusual space or
// invisible character are refused, never trimmed into another person's name.
func TestIdentitiesAreNotTrimmed(t *testing.T) {
	w := setup(t)
	p := startPortal(t, w, nil)
	for _, name := range []string{" user-a", "user-a ", "user-a\u00a0", "\u00a0user-a", "user-a\t", "user-a\u200b", "user\u00a0a", "user\u2003a", "user-a\u202e"} {
		why := "begins or ends with whitespace"
		if strings.TrimFunc(name, unicode.IsSpace) == name {
			why = "non-ASCII space, control or invisible character"
		}
		signInFails(t, w, p, name, nil, why)
	}
	for _, g := range []string{" team-b", "team-b ", "team-b\u00a0", "team\u00a0b", "team-b\n", "\ufeffteam-b"} {
		signInFails(t, w, p, "user-b", []string{"team-a", g}, "group")
	}
	// A plain name still signs in.
	b := newBrowser(t, w, p)
	b.signIn(t, w, mockUser("user-b", groupTeamB))
	wantStatus(t, b.get(t, "/"), http.StatusOK, "robot-9")
}

// TestOIDCGroupsGetAPrefixByDefault: by default every group from the
// provider is impersonated with the prefix "oidc:", so a provider group is
// never a Kubernetes group by accident (here: team-b's RoleBinding does not
// apply to the provider's "team-b"), and a sign-in made under another prefix
// setting is not taken.
func TestOIDCGroupsGetAPrefixByDefault(t *testing.T) {
	w := setup(t)
	if got := DefaultConfig().OIDCGroupsPrefix; got != "oidc:" {
		t.Fatalf("default --oidc-groups-prefix is %q, want oidc:", got)
	}
	unprefixed := startPortal(t, w, nil) // "-": groups as they are, on purpose
	ub := newBrowser(t, w, unprefixed)
	ub.signIn(t, w, mockUser("user-b", groupTeamB, "gatestream:admins"))
	wantStatus(t, ub.get(t, "/"), http.StatusOK, "robot-9")

	p := startPortal(t, w, func(c *Config) { c.OIDCGroupsPrefix = DefaultConfig().OIDCGroupsPrefix })
	// The unprefixed sign-in is not taken by a portal that prefixes groups.
	if signedInWith(t, p, sessionCookieOf(t, ub)) {
		t.Error("a sign-in with unprefixed groups is taken by a portal with --oidc-groups-prefix=oidc:")
	}
	b := newBrowser(t, w, p)
	got := signInAs(t, w, b, mockUser("user-b", groupTeamB, "gatestream:admins"))
	wantStatus(t, got, http.StatusForbidden, "No access to any devices", "oidc:team-b", "oidc:gatestream:admins")
	if strings.Contains(got.Body, "robot-9") {
		t.Error("the provider's team-b got the Kubernetes group team-b's devices")
	}
	// The impersonated create is refused as well: RBAC sees oidc:team-b.
	csrf := csrfOf(t, got.Body)
	wantStatus(t, b.post(t, "/connect", connectForm(csrf, nsB, "line-b", "robot-9", "teraterm", "")), http.StatusForbidden, "No access")
	if n := len(sessionsOf(t, nsB, "user-b")); n != 0 {
		t.Errorf("%d sessions created for user-b", n)
	}
}

func proxyConfig(cidrs ...string) func(*Config) {
	return func(c *Config) {
		c.AuthMode = AuthProxy
		c.OIDCIssuerURL, c.OIDCClientID = "", ""
		c.ProxyTrustedCIDRs = cidrs
	}
}

// TestProxyRefusesRepeatedAndUntrimmedIdentityHeaders: identity headers
// given more than once are refused with 400 (never merged), and names with
// surrounding or unusual whitespace with 401, never trimmed.
func TestProxyRefusesRepeatedAndUntrimmedIdentityHeaders(t *testing.T) {
	w := setup(t)
	p := startPortal(t, w, proxyConfig("127.0.0.1/32"))
	b := newBrowser(t, w, p)
	get := func(headers map[string][]string) page {
		req, _ := http.NewRequest(http.MethodGet, p.URL+"/", nil)
		for k, vs := range headers {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		return b.do(t, req)
	}
	wantStatus(t, get(map[string][]string{"X-Forwarded-User": {"user-b"}, "X-Forwarded-Groups": {groupTeamB}}), http.StatusOK, "robot-9")
	for name, h := range map[string]map[string][]string{
		"user twice":   {"X-Forwarded-User": {"user-c", "user-b"}, "X-Forwarded-Groups": {groupTeamB}},
		"user, lower":  {"X-Forwarded-User": {"user-c"}, "x-forwarded-user": {"user-b"}},
		"groups twice": {"X-Forwarded-User": {"user-c"}, "X-Forwarded-Groups": {"team-a", groupTeamB}},
		"email twice":  {"X-Forwarded-User": {"user-b"}, "X-Forwarded-Email": {"a@example.com", "b@example.com"}},
	} {
		got := get(h)
		if got.StatusCode != http.StatusBadRequest || !strings.Contains(got.Body, "Conflicting identity headers") || !strings.Contains(got.Body, "times") {
			t.Errorf("%s: status %d, want 400 Conflicting identity headers\n%s", name, got.StatusCode, got.Body)
		}
	}
	// (Spaces and tabs around a whole header value are not part of it in
	// HTTP: net/http removes them before the portal sees the value.)
	for _, h := range []map[string][]string{
		{"X-Forwarded-User": {"user-b\u00a0"}, "X-Forwarded-Groups": {groupTeamB}},
		{"X-Forwarded-User": {"user\u00a0b"}, "X-Forwarded-Groups": {groupTeamB}},
		{"X-Forwarded-User": {"user-c"}, "X-Forwarded-Groups": {"team-a ," + groupTeamB}},
		{"X-Forwarded-User": {"user-c"}, "X-Forwarded-Groups": {"team-a, " + groupTeamB}},
		{"X-Forwarded-User": {"user-c"}, "X-Forwarded-Groups": {"team-a,\u00a0" + groupTeamB}},
	} {
		got := get(h)
		if got.StatusCode != http.StatusUnauthorized || !strings.Contains(got.Body, "the portal does not") {
			t.Errorf("%q: status %d, want 401 naming the refused name\n%s", h, got.StatusCode, got.Body)
		}
	}
}

// TestProxyRefusesTrustingEveryAddress: a trusted range of length 0 is a
// startup error that says why.
func TestProxyRefusesTrustingEveryAddress(t *testing.T) {
	for _, cidr := range []string{"0.0.0.0/0", "::/0", "10.0.0.0/0", "::ffff:0.0.0.0/0"} {
		cfg := DefaultConfig()
		cfg.PublicURL, cfg.AuthMode, cfg.ProxyTrustedCIDRs = "https://portal.example.com", AuthProxy, []string{"10.1.0.0/16", cidr}
		cfg.SetSecrets([][]byte{testCookieKey}, "")
		_, err := New(Options{Config: cfg, REST: &rest.Config{Host: "https://127.0.0.1:1"}})
		if err == nil || !strings.Contains(err.Error(), "trusts every address") || !strings.Contains(err.Error(), cidr) {
			t.Errorf("%s: New gave %v, want a startup error that it trusts every address", cidr, err)
		}
	}
}

// TestConnectRateLimitFollowsThePortalClock: the per-person connect budget
// refills with the portal's clock, and the 429 says when to come back.
func TestConnectRateLimitFollowsThePortalClock(t *testing.T) {
	w := setup(t)
	p := startPortal(t, w, func(c *Config) { c.ConnectPerMinute, c.ConnectBurst = 1, 1 })
	b := newBrowser(t, w, p)
	b.signIn(t, w, mockUser("user-a"))
	offline := connectForm(csrfOf(t, b.get(t, "/").Body), nsA, "line-a", "plc-7", "teraterm", "")
	wantStatus(t, b.post(t, "/connect", offline), http.StatusConflict)
	limited := b.post(t, "/connect", offline)
	wantStatus(t, limited, http.StatusTooManyRequests, "Too many connections")
	if ra, err := strconv.Atoi(limited.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Errorf("Retry-After %q, want 1..60 seconds", limited.Header.Get("Retry-After"))
	}
	p.Clock.advance(30 * time.Second)
	wantStatus(t, b.post(t, "/connect", offline), http.StatusTooManyRequests)
	p.Clock.advance(31 * time.Second)
	wantStatus(t, b.post(t, "/connect", offline), http.StatusConflict)
}

// TestLongPollsPerPerson: a person may have --long-polls-per-person /open
// waits at once; one more is answered 429 with Retry-After and a page, at
// once, while other people are not affected; a finished wait frees its slot.
func TestLongPollsPerPerson(t *testing.T) {
	w := setup(t)
	p := startPortalLongPoll(t, w, func(c *Config) { c.LongPollsPerPerson = 2 }, time.Minute)
	b := newBrowser(t, w, p)
	b.signIn(t, w, mockUser("user-a"))

	// A session that stays Pending: its environment (lab) is not Ready.
	asA := rest.CopyConfig(env.Config)
	asA.Impersonate = rest.ImpersonationConfig{UserName: "user-a"}
	ca, err := client.New(asA, client.Options{Scheme: Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	ss := testSession(nsA, "user-a")
	ss.Spec.EnvironmentRef.Name = "lab"
	ss.Spec.Target = &accessv1alpha1.SessionTarget{DeviceGroup: "bench", Device: "bench-1"}
	if err := ca.Create(t.Context(), ss); err != nil {
		t.Fatal(err)
	}
	open := p.URL + sessionPath(nsA, ss.Name) + "/open"

	waits := func() (int, error) {
		body := b.get(t, p.Ops+"/metrics").Body
		for _, l := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(l, "gatestream_portal_open_waits "); ok {
				return strconv.Atoi(v)
			}
		}
		return 0, errors.New("no gatestream_portal_open_waits")
	}
	wantWaits := func(n int) {
		t.Helper()
		testenv.Eventually(t, 10*time.Second, fmt.Sprintf("%d waits", n), func() error {
			got, err := waits()
			if err == nil && got != n {
				err = fmt.Errorf("%d waits", got)
			}
			return err
		})
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	start := func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, open, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := b.Client.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	start()
	start()
	wantWaits(2)

	req, _ := http.NewRequestWithContext(stepContext(t, 10*time.Second), http.MethodGet, open, nil)
	limited := b.do(t, req)
	wantStatus(t, limited, http.StatusTooManyRequests, "Too many pages waiting")
	if limited.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	if !strings.Contains(b.get(t, p.Ops+"/metrics").Body, "gatestream_portal_open_limited_total 1") {
		t.Error("the refused wait is not counted")
	}
	// Another person is not limited by user-a's waits.
	c := newBrowser(t, w, p)
	c.signIn(t, w, mockUser("user-b", groupTeamB))
	wantStatus(t, c.get(t, sessionPath(nsB, "no-such-session")+"/open"), http.StatusNotFound)

	// The waits end (the browser went away): the slots are free again.
	cancel()
	wg.Wait()
	wantWaits(0)
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	start()
	wantWaits(1)
	cancel()
	wg.Wait()
}

func stepContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
