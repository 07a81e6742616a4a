package portal

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCookieCodecSignsAndRotates(t *testing.T) {
	old := []byte("old-key-old-key-old-key-old-key-old-key")
	cur := []byte("new-key-new-key-new-key-new-key-new-key")
	in := portalSession{User: "user-a", Groups: []string{"g"}, CSRF: "t", Expires: 42}

	signedByOld, err := testCodec(old).encode("__Host-gatestream-portal", &in)
	if err != nil {
		t.Fatal(err)
	}
	rotated := testCodec(cur, old)
	var out portalSession
	if err := rotated.decode("__Host-gatestream-portal", signedByOld, &out); err != nil || out.User != "user-a" {
		t.Fatalf("a cookie signed by the previous key is refused after rotation: %v", err)
	}
	signedByNew, _ := rotated.encode("__Host-gatestream-portal", &in)
	if err := testCodec(old).decode("__Host-gatestream-portal", signedByNew, &out); err == nil {
		t.Error("the first key does not sign")
	}
	if err := testCodec(cur).decode("__Host-gatestream-portal", signedByOld, &out); err == nil {
		t.Error("a cookie signed by a removed key is accepted")
	}
	if err := rotated.decode("__Host-gatestream-portal-login", signedByNew, &out); err == nil {
		t.Error("a value moved to another cookie is accepted")
	}
	if strings.Contains(signedByNew, "user-a") {
		t.Errorf("the cookie shows its content: %q", signedByNew)
	}
	for _, bad := range []string{"", "x", signedByNew[:len(signedByNew)/2], tamper(signedByNew), signedByNew + "A"} {
		if err := rotated.decode("__Host-gatestream-portal", bad, &out); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}

	rec := httptest.NewRecorder()
	secure := testCodec(cur)
	secure.secure = true
	if err := secure.set(rec, sessionCookie, &in, time.Hour); err != nil {
		t.Fatal(err)
	}
	c := rec.Result().Cookies()[0]
	if c.Name != "__Host-gatestream-portal" || !c.HttpOnly || !c.Secure || c.SameSite != 2 /* Lax */ || c.Path != "/" || c.MaxAge != 3600 {
		t.Errorf("cookie %+v", c)
	}
}

func TestCleanIdentity(t *testing.T) {
	id, err := cleanIdentity(identity{User: "user-a", Groups: []string{"a", "system:masters", "a", "b", "", "system:authenticated"}})
	if err != nil || id.User != "user-a" || strings.Join(id.Groups, ",") != "a,b" {
		t.Errorf("got %+v %v", id, err)
	}
	// Names are refused, never trimmed into another name.
	for _, u := range []string{" user-a", "user-a ", "user-a\u00a0", "user\u00a0a", "user-a\u200b", "user-a\x00", "user-a\xff", "\u3000user-a"} {
		if got, err := cleanIdentity(identity{User: u}); err == nil {
			t.Errorf("user %q accepted as %q", u, got.User)
		}
		if got, err := cleanIdentity(identity{User: "user-a", Groups: []string{"a", u}}); err == nil {
			t.Errorf("group %q accepted as %q", u, got.Groups)
		}
	}
	if _, err := cleanIdentity(identity{User: "Jane Doe", Groups: []string{"Team A"}}); err != nil {
		t.Errorf("a name with an inner ASCII space is refused: %v", err)
	}
	for _, u := range []string{"", "system:admin", "system:serviceaccount:kube-system:default"} {
		if _, err := cleanIdentity(identity{User: u}); err == nil {
			t.Errorf("user %q accepted", u)
		}
	}
	many := make([]string, maxGroups+1)
	for i := range many {
		many[i] = strings.Repeat("g", i+1)
	}
	if _, err := cleanIdentity(identity{User: "u", Groups: many}); err == nil {
		t.Error("too many groups accepted")
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"": "/", "/sessions": "/sessions", "/sessions?x=1": "/sessions?x=1",
		"//evil.example/": "/", "https://evil.example/": "/", "/\\evil.example": "/", "javascript:alert(1)": "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAppStreamUserID(t *testing.T) {
	for u, ok := range map[string]bool{
		"user-a": true, "jane.doe@example.com": true, "a": false, "oidc:user-a": false,
		strings.Repeat("x", 32): true, strings.Repeat("x", 33): false, "user a": false,
	} {
		if appStreamUserID.MatchString(u) != ok {
			t.Errorf("%q: want %v", u, ok)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	oidc := func() Config {
		c := DefaultConfig()
		c.PublicURL, c.AuthMode = "https://portal.example.com", AuthOIDC
		c.OIDCIssuerURL, c.OIDCClientID = "https://idp.example.com", "gatestream"
		c.SignoutConfigMap = "gatestream-system/gatestream-portal-signouts"
		return c
	}
	if c := oidc(); c.Validate() != nil {
		t.Fatalf("a valid OIDC configuration is refused: %v", c.Validate())
	}
	if c := oidc(); c.redirectURL() != "https://portal.example.com/auth/callback" || c.origin() != "https://portal.example.com" {
		t.Errorf("redirect %q origin %q", c.redirectURL(), c.origin())
	}
	for name, tc := range map[string]struct {
		mutate func(*Config)
		want   string
	}{
		"no mode":            {func(c *Config) { c.AuthMode = "" }, "--auth-mode is required"},
		"modes mixed":        {func(c *Config) { c.ProxyTrustedCIDRs = []string{"10.0.0.0/8"} }, "never mixed"},
		"proxy with oidc":    {func(c *Config) { c.AuthMode, c.ProxyTrustedCIDRs = AuthProxy, []string{"10.0.0.0/8"} }, "never mixed"},
		"proxy without cidr": {func(c *Config) { c.AuthMode, c.OIDCIssuerURL, c.OIDCClientID = AuthProxy, "", "" }, "needs --proxy-trusted-cidrs"},
		"bad cidr": {func(c *Config) {
			c.AuthMode, c.OIDCIssuerURL, c.OIDCClientID, c.ProxyTrustedCIDRs = AuthProxy, "", "", []string{"10.0.0.300/8"}
		}, "not a CIDR"},
		"insecure cookies off loopback": {func(c *Config) { c.InsecureCookies = true }, InsecureCookiesFlag},
		"plain http":                    {func(c *Config) { c.PublicURL = "http://portal.example.com" }, "plain http"},
		"http issuer":                   {func(c *Config) { c.OIDCIssuerURL = "http://idp.example.com" }, "must be an https URL"},
		"foreign redirect":              {func(c *Config) { c.OIDCRedirectURL = "https://evil.example/cb" }, "own origin"},
		"public url with path":          {func(c *Config) { c.PublicURL = "https://portal.example.com/x" }, "no path"},
		"trust every IPv4 address": {func(c *Config) {
			c.AuthMode, c.OIDCIssuerURL, c.OIDCClientID, c.SignoutConfigMap, c.ProxyTrustedCIDRs = AuthProxy, "", "", "", []string{"0.0.0.0/0"}
		}, "trusts every address"},
		"trust every IPv6 address": {func(c *Config) {
			c.AuthMode, c.OIDCIssuerURL, c.OIDCClientID, c.SignoutConfigMap, c.ProxyTrustedCIDRs = AuthProxy, "", "", "", []string{"10.0.0.0/8", "::/0"}
		}, "trusts every address"},
		"empty groups prefix":   {func(c *Config) { c.OIDCGroupsPrefix = "" }, "--oidc-groups-prefix must not be empty"},
		"system groups prefix":  {func(c *Config) { c.OIDCGroupsPrefix = "system:" }, "system: groups"},
		"spacy groups prefix":   {func(c *Config) { c.OIDCGroupsPrefix = "oidc:\u00a0" }, "--oidc-groups-prefix"},
		"no signout configmap":  {func(c *Config) { c.SignoutConfigMap = "" }, "--signout-configmap"},
		"bad signout configmap": {func(c *Config) { c.SignoutConfigMap = "just-a-name" }, "<namespace>/<name>"},
		"no long polls":         {func(c *Config) { c.LongPollsPerPerson = 0 }, "--long-polls-per-person"},
	} {
		c := oidc()
		tc.mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, tc.want)
		}
	}
	c := oidc()
	c.PublicURL, c.InsecureCookies = "http://127.0.0.1:8080", true
	if err := c.Validate(); err != nil {
		t.Errorf("loopback test configuration refused: %v", err)
	}
	if _, err := parseKeys("short"); err == nil {
		t.Error("a short cookie key is accepted")
	}
	if keys, err := parseKeys("# comment\n" + strings.Repeat("a", 32) + "\n" + strings.Repeat("b", 40) + "\n"); err != nil || len(keys) != 2 {
		t.Errorf("keys %d, %v", len(keys), err)
	}
}
