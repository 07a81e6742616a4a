package portal

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
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
	// Wait for the stand-in controller, then point the status elsewhere.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := c.Get(ctx, client.ObjectKeyFromObject(ss), ss); err != nil {
			t.Fatal(err)
		}
		if ss.Status.Phase == accessv1alpha1.SessionReady {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session not Ready: %+v", ss.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ss.Status.SecretName = foreign.Name
	if err := c.Status().Update(ctx, ss); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, w, p)
	b.signIn(t, w, mockUser("user-a"))
	b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	got := b.get(t, sessionPath(nsA, ss.Name)+"/open")
	if loc := got.Header.Get("Location"); strings.Contains(loc, "phish.example") {
		t.Fatalf("the portal sent the browser to the planted URL %s", loc)
	}
	wantStatus(t, got, http.StatusForbidden, "does not belong")
}
