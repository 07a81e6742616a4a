package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/testenv"
)

// rawClaimsUser is a provider user whose ID token carries extra claims
// verbatim (mockoidc's own user drops email_verified=false and cannot send
// it as a string).
type rawClaimsUser struct {
	*mockoidc.MockUser
	extra map[string]any
}

func (u rawClaimsUser) Claims(scope []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	c, err := u.MockUser.Claims(scope, base)
	if err != nil {
		return nil, err
	}
	return rawClaims{IDTokenClaims: base, inner: c, extra: u.extra}, nil
}

type rawClaims struct {
	*mockoidc.IDTokenClaims
	inner jwt.Claims
	extra map[string]any
}

func (c rawClaims) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(c.inner)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range c.extra {
		m[k] = v
	}
	return json.Marshal(m)
}

// signInAs runs the code flow for user and returns the page it ends on.
func signInAs(t *testing.T, w *world, b *browser, user mockoidc.User) page {
	t.Helper()
	oidcMu.Lock()
	defer oidcMu.Unlock()
	w.oidc.QueueUser(user)
	return b.get(t, "/auth/start")
}

// TestEmailVerifiedMustBeTrue: with usernameClaim email, an ID token whose
// email_verified is present but not the boolean true (a string "false", as
// some providers send, or null) is refused, as the API server refuses it.
func TestEmailVerifiedMustBeTrue(t *testing.T) {
	w := setup(t)
	p := startPortal(t, w, func(c *Config) { c.OIDCUsernameClaim = "email" })
	for _, v := range []any{"false", "true", nil, false} {
		b := newBrowser(t, w, p)
		u := rawClaimsUser{mockUser("user-a"), map[string]any{"email_verified": v}}
		got := signInAs(t, w, b, u)
		if got.StatusCode != http.StatusUnauthorized || strings.Contains(got.Body, `id="user"`) {
			t.Errorf("email_verified=%#v: sign-in ended with %d at %s, want 401\n%s", v, got.StatusCode, got.Request.URL, got.Body)
		}
	}
	b := newBrowser(t, w, p)
	got := signInAs(t, w, b, rawClaimsUser{mockUser("user-a"), map[string]any{"email_verified": true}})
	if !strings.Contains(got.Body, `id="user">user-a@example.com<`) || strings.Contains(got.Body, "Sign-in failed") {
		t.Errorf("email_verified=true: sign-in ended with %d at %s\n%s", got.StatusCode, got.Request.URL, got.Body)
	}
}

// TestUsernamePrefixDefaultsLikeAPIServer: like kube-apiserver's
// --oidc-username-prefix, an unset prefix with a claim other than email
// means "<issuer>#", and "-" means none, so the portal never impersonates a
// bare name (say "admin") that the API server would not give this person.
func TestUsernamePrefixDefaultsLikeAPIServer(t *testing.T) {
	w := setup(t)
	p := startPortal(t, w, func(c *Config) { c.OIDCUsernamePrefix = "" })
	b := newBrowser(t, w, p)
	got := signInAs(t, w, b, mockUser("user-a"))
	want := w.oidc.Issuer() + "#user-a"
	if !strings.Contains(got.Body, `id="user">`+want+`<`) {
		t.Fatalf("signed in as someone other than %q:\n%s", want, got.Body)
	}
	wantStatus(t, got, http.StatusForbidden, "No access to any devices")

	p = startPortal(t, w, func(c *Config) { c.OIDCUsernamePrefix = "-" })
	b = newBrowser(t, w, p)
	wantStatus(t, signInAs(t, w, b, mockUser("user-a")), http.StatusOK, `id="user">user-a<`, "raspi-1")
}

// TestOpenFollowsOnlyTheSessionsOwnSecret: when a session's status names a
// Secret that the session does not control, /open refuses instead of sending
// the browser to whatever URL that Secret holds, also when the person may
// read Secrets themselves.
func TestOpenFollowsOnlyTheSessionsOwnSecret(t *testing.T) {
	w := setup(t)
	p := startPortal(t, w, nil)
	ctx := context.Background()
	c := env.Client

	foreign := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "planted-", Namespace: nsA},
		Data:       map[string][]byte{"url": []byte("https://phish.example/streaming/x")},
	}
	if err := c.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), foreign) })
	ss := testSession(nsA, "user-a")
	ss.Spec.Target = &accessv1alpha1.SessionTarget{DeviceGroup: "line-a", Device: "raspi-1"}
	asA := rest.CopyConfig(env.Env.Config)
	asA.Impersonate = rest.ImpersonationConfig{UserName: "user-a"}
	ca, err := client.New(asA, client.Options{Scheme: Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Create(ctx, ss); err != nil {
		t.Fatal(err)
	}
	// Wait for the controller's URL, then point the status elsewhere.
	testenv.Eventually(t, sessionWait, "the session Ready with its name on a foreign Secret", func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(ss), ss); err != nil {
			return err
		}
		if ss.Status.Phase != accessv1alpha1.SessionReady {
			return fmt.Errorf("session not Ready: %+v", ss.Status)
		}
		ss.Status.SecretName = foreign.Name
		return c.Status().Update(ctx, ss) // a conflict with the controller's write: again
	})

	b := newBrowser(t, w, p)
	b.signIn(t, w, mockUser("user-a"))
	b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	got := b.get(t, sessionPath(nsA, ss.Name)+"/open")
	if loc := got.Header.Get("Location"); strings.Contains(loc, "phish.example") {
		t.Fatalf("the portal sent the browser to the planted URL %s", loc)
	}
	wantStatus(t, got, http.StatusForbidden, "does not belong")
}

// TestCookieKeysRotateWithoutRestart: the portal reads its key file again
// while it runs. A sign-in made with the old key still works once a new key
// is put first, and new sign-ins use the new key; once the old key is
// removed, the old sign-in is refused. A key file that cannot be used keeps
// the keys in use.
func TestCookieKeysRotateWithoutRestart(t *testing.T) {
	w := setup(t)
	oldKey, newKey := testCookieKey, []byte("fedcba9876543210fedcba9876543210-rotated-key")
	file := filepath.Join(t.TempDir(), "cookie-keys")
	writeKeys := func(keys ...[]byte) {
		t.Helper()
		if err := os.WriteFile(file, append(bytes.Join(keys, []byte("\n")), '\n'), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeKeys(oldKey)
	p := startPortal(t, w, func(c *Config) { c.CookieKeysFile = file })
	reload := func() { p.Clock.advance(p.Server.cfg.CookieKeysReload) }
	before := newBrowser(t, w, p)
	before.signIn(t, w, mockUser("user-a"))
	old := sessionCookieOf(t, before)

	writeKeys(newKey, oldKey)
	reload()
	if !signedInWith(t, p, old) {
		t.Fatal("a sign-in made with the old key is refused after a new key was put first")
	}
	after := newBrowser(t, w, p)
	after.signIn(t, w, mockUser("user-a"))
	cur := sessionCookieOf(t, after)
	var ps portalSession
	if err := testCodec(newKey).decode(sessionCookie, cur, &ps); err != nil || ps.User != "user-a" {
		t.Errorf("a sign-in after the rotation is not made with the new key: %v", err)
	}
	if !strings.Contains(p.Logs.String(), "cookie keys reloaded") {
		t.Errorf("no log line for the reload:\n%s", p.Logs)
	}

	writeKeys(newKey)
	if !signedInWith(t, p, old) {
		t.Error("the key file was read again before --cookie-keys-reload-interval passed")
	}
	reload()
	if signedInWith(t, p, old) {
		t.Error("a sign-in made with a removed key is still taken")
	}
	if !signedInWith(t, p, cur) {
		t.Error("a sign-in made with the current key is refused")
	}

	if err := os.WriteFile(file, []byte("too-short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reload()
	if !signedInWith(t, p, cur) {
		t.Error("an unusable key file dropped the keys in use")
	}
	if !strings.Contains(p.Logs.String(), "keeping the current ones") {
		t.Errorf("no log line for the unusable key file:\n%s", p.Logs)
	}
}
