package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// identity is a signed-in person as Kubernetes will see them through impersonation.
type identity struct {
	User   string
	Groups []string
	Email  string
}

// maxGroups bounds the groups carried in the cookie and impersonated.
const maxGroups = 64

// appStreamUserID is AppStream's CreateStreamingURL UserId pattern; a person
// whose Kubernetes user name does not fit it cannot get a URL.
var appStreamUserID = regexp.MustCompile(`^[\w+=,.@-]{2,32}$`)

// checkName refuses a user or group name that could be read as someone
// else's: leading or trailing whitespace, any space other than U+0020 (a
// non-breaking space, say), control and invisible formatting characters, and
// invalid UTF-8. Names are never trimmed or normalised into another one.
func checkName(kind, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("the %s %q is not valid UTF-8; the portal does not act for it", kind, s)
	}
	if t := strings.TrimFunc(s, unicode.IsSpace); t != s {
		return fmt.Errorf("the %s %q begins or ends with whitespace; the portal does not trim names into other names and does not act for it", kind, s)
	}
	for _, r := range s {
		if (unicode.IsSpace(r) && r != ' ') || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return fmt.Errorf("the %s %q contains the character %U (a non-ASCII space, control or invisible character); the portal does not act for it", kind, s, r)
		}
	}
	return nil
}

// cleanIdentity refuses names the portal must never impersonate and drops
// groups it must never assert. Names in the system: namespace belong to
// Kubernetes itself (system:masters, system:serviceaccount:…, system:kube-*):
// an identity provider or proxy that sends one is refused or filtered, since
// the portal's right to impersonate groups is otherwise unbounded. Names with
// surrounding whitespace or unusual spaces are refused, never trimmed.
func cleanIdentity(id identity) (identity, error) {
	if id.User == "" {
		return id, errors.New("the identity has no user name")
	}
	if err := checkName("user name", id.User); err != nil {
		return id, err
	}
	if strings.HasPrefix(id.User, "system:") {
		return id, fmt.Errorf("the user name %q is in Kubernetes' reserved system: namespace; the portal never acts as such a user", id.User)
	}
	var groups []string
	for _, g := range id.Groups {
		if g == "" {
			continue
		}
		if err := checkName("group", g); err != nil {
			return id, err
		}
		if strings.HasPrefix(g, "system:") || slices.Contains(groups, g) {
			continue
		}
		groups = append(groups, g)
	}
	if len(groups) > maxGroups {
		return id, fmt.Errorf("the identity has %d groups; the portal carries at most %d", len(groups), maxGroups)
	}
	id.Groups = groups
	return id, nil
}

// ---- OIDC ----

type oidcAuth struct {
	cfg        *Config
	httpClient *http.Client

	mu       sync.Mutex
	provider *oidc.Provider
}

// discover returns the provider, discovering it on first use (and retrying
// on later calls while it fails), so that the portal starts even while the
// identity provider is briefly unreachable.
func (a *oidcAuth) discover(ctx context.Context) (*oidc.Provider, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.provider != nil {
		return a.provider, nil
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, a.httpClient), 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(ctx, a.cfg.OIDCIssuerURL)
	if err != nil {
		return nil, fmt.Errorf("OIDC discovery at %s: %w", a.cfg.OIDCIssuerURL, err)
	}
	a.provider = p
	return p, nil
}

func (a *oidcAuth) oauth2Config(p *oidc.Provider) *oauth2.Config {
	scopes := []string{oidc.ScopeOpenID}
	for _, s := range a.cfg.OIDCScopes {
		if s != oidc.ScopeOpenID {
			scopes = append(scopes, s)
		}
	}
	return &oauth2.Config{
		ClientID:     a.cfg.OIDCClientID,
		ClientSecret: a.cfg.oidcClientSecret,
		Endpoint:     p.Endpoint(),
		RedirectURL:  a.cfg.redirectURL(),
		Scopes:       scopes,
	}
}

// authCodeURL starts a sign-in: fresh state, nonce and PKCE verifier.
func (a *oidcAuth) authCodeURL(ctx context.Context, st *loginState) (string, error) {
	p, err := a.discover(ctx)
	if err != nil {
		return "", err
	}
	st.State, st.Nonce, st.Verifier = randomToken(), randomToken(), oauth2.GenerateVerifier()
	return a.oauth2Config(p).AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)), nil
}

// exchange redeems the code with the PKCE verifier, verifies the ID token
// (signature, issuer, audience, expiry) and its nonce, and maps its claims to
// an identity the way the API server's OIDC authenticator would.
func (a *oidcAuth) exchange(ctx context.Context, st *loginState, code string) (identity, error) {
	p, err := a.discover(ctx)
	if err != nil {
		return identity{}, err
	}
	ctx = context.WithValue(oidc.ClientContext(ctx, a.httpClient), oauth2.HTTPClient, a.httpClient)
	tok, err := a.oauth2Config(p).Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return identity{}, fmt.Errorf("redeeming the authorization code: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return identity{}, errors.New("the provider returned no ID token")
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: a.cfg.OIDCClientID}).Verify(ctx, raw)
	if err != nil {
		return identity{}, fmt.Errorf("verifying the ID token: %w", err)
	}
	if !constantTimeEqual(idt.Nonce, st.Nonce) {
		return identity{}, errors.New("the ID token's nonce does not match this sign-in")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return identity{}, err
	}
	user, _ := claims[a.cfg.OIDCUsernameClaim].(string)
	if user == "" {
		return identity{}, fmt.Errorf("the ID token has no %q claim (--oidc-username-claim)", a.cfg.OIDCUsernameClaim)
	}
	// The claims as the provider sent them, before any prefix: a name with
	// surrounding whitespace is refused, not trimmed (nor hidden inside a prefix).
	if err := checkName("user name", user); err != nil {
		return identity{}, err
	}
	if a.cfg.OIDCUsernameClaim == "email" {
		// As the API server does: an email is a name only when verified;
		// email_verified, when present, must be the boolean true.
		if v, present := claims["email_verified"]; present {
			if b, ok := v.(bool); !ok || !b {
				return identity{}, errors.New("the provider does not say the email address is verified (email_verified is not true)")
			}
		}
	}
	id := identity{User: a.cfg.usernamePrefix() + user}
	id.Email, _ = claims["email"].(string)
	var rawGroups []string
	switch g := claims[a.cfg.OIDCGroupsClaim].(type) {
	case string:
		rawGroups = []string{g}
	case []any:
		for _, v := range g {
			if s, ok := v.(string); ok {
				rawGroups = append(rawGroups, s)
			}
		}
	}
	// Every provider group gets the groups prefix (default "oidc:"), so that
	// a provider group is never a Kubernetes group such as system:masters or
	// the admission policy's admin group unless configured so on purpose.
	prefix := a.cfg.groupsPrefix()
	for _, g := range rawGroups {
		if g == "" {
			continue
		}
		if err := checkName("group", g); err != nil {
			return identity{}, err
		}
		id.Groups = append(id.Groups, prefix+g)
	}
	return cleanIdentity(id)
}

// ---- authenticating proxy ----

// proxyIdentity reads the proxy's headers, but only when the request's direct
// peer is in a trusted CIDR (X-Forwarded-For is not consulted: it is as
// forgeable as the identity headers).
func proxyIdentity(cfg *Config, r *http.Request) (id identity, trusted bool, err error) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return identity{}, false, fmt.Errorf("unknown remote address %q", r.RemoteAddr)
	}
	addr := ap.Addr().Unmap()
	for _, p := range cfg.trusted {
		if p.Contains(addr) {
			trusted = true
			break
		}
	}
	if !trusted {
		return identity{}, false, fmt.Errorf("requests from %s do not come through the authenticating proxy", addr)
	}
	// An identity header given more than once is refused, not merged: the
	// proxy sends each once, so a second one was added by someone else.
	for _, h := range []string{cfg.ProxyUserHeader, cfg.ProxyGroupsHeader, cfg.ProxyEmailHeader} {
		if h != "" && len(r.Header.Values(h)) > 1 {
			return identity{}, true, &repeatedHeaderError{Header: http.CanonicalHeaderKey(h), N: len(r.Header.Values(h))}
		}
	}
	id = identity{User: r.Header.Get(cfg.ProxyUserHeader), Email: r.Header.Get(cfg.ProxyEmailHeader)}
	if cfg.ProxyGroupsHeader != "" {
		if h := r.Header.Get(cfg.ProxyGroupsHeader); h != "" {
			// Comma-separated, as oauth2-proxy sends them; no space is trimmed.
			id.Groups = strings.Split(h, ",")
		}
	}
	id, err = cleanIdentity(id)
	return id, true, err
}

// repeatedHeaderError is an identity header that came more than once.
type repeatedHeaderError struct {
	Header string
	N      int
}

func (e *repeatedHeaderError) Error() string {
	return fmt.Sprintf("the request carries the identity header %s %d times; the portal takes it only once and does not merge them", e.Header, e.N)
}

// safeNext keeps a post-sign-in destination on this site: a path, never a
// scheme-relative or absolute URL.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return u.RequestURI()
}
