package portal

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"
)

// Authentication modes. Exactly one is configured; they are never mixed.
const (
	// AuthOIDC signs people in with OpenID Connect (authorization code + PKCE).
	AuthOIDC = "oidc"
	// AuthProxy takes identity from an authenticating proxy's headers
	// (oauth2-proxy's X-Forwarded-User/-Groups/-Email), only from trusted addresses.
	AuthProxy = "proxy"
)

// Environment variables that may carry secrets instead of files (local runs).
const (
	EnvCookieKeys       = "GATESTREAM_PORTAL_COOKIE_KEYS"
	EnvOIDCClientSecret = "GATESTREAM_PORTAL_OIDC_CLIENT_SECRET"
)

// InsecureCookiesFlag is the loud name of the switch that drops the Secure
// attribute (and the __Host- prefix) of the portal's cookies. It is accepted
// only when the portal's public URL is http on a loopback address.
const InsecureCookiesFlag = "insecure-cookies-for-loopback-testing-only"

// Config is the portal's settings, one flag each.
type Config struct {
	ListenAddr  string
	MetricsAddr string
	PublicURL   string
	TLSCertFile string
	TLSKeyFile  string

	AuthMode string

	OIDCIssuerURL        string
	OIDCClientID         string
	OIDCClientSecretFile string
	OIDCRedirectURL      string
	OIDCScopes           []string
	OIDCUsernameClaim    string
	OIDCUsernamePrefix   string
	OIDCGroupsClaim      string
	OIDCGroupsPrefix     string

	ProxyTrustedCIDRs []string
	ProxyUserHeader   string
	ProxyGroupsHeader string
	ProxyEmailHeader  string

	// TrustedProxies are the CIDRs of the reverse proxies (ingress, load
	// balancer) in front of the portal: only from them is X-Forwarded-For
	// believed, to find the person's own address for a Napter session's
	// source range. Default none: the direct peer is the person.
	TrustedProxies []string

	CookieKeysFile   string
	CookieKeysReload time.Duration
	SessionTTL       time.Duration
	InsecureCookies  bool
	// SignoutConfigMap is "<namespace>/<name>" of the ConfigMap that records
	// sign-outs (OIDC mode), shared by every replica.
	SignoutConfigMap string

	URLValidity          time.Duration
	AccessWindow         time.Duration
	TTLAfterFinished     time.Duration
	ConnectTimeout       time.Duration
	ConnectPerMinute     float64
	ConnectBurst         int
	LongPollsPerPerson   int
	SecretReadFallback   bool
	MaxRequestBodyBytes  int64
	ShutdownGraceTimeout time.Duration

	KubeAPIQPS   float64
	KubeAPIBurst int

	LogFormat string
	LogLevel  string

	// Set by Load (not flags): secrets read from files or the environment.
	cookieKeys       [][]byte
	oidcClientSecret string
	trusted          []netip.Prefix
	trustedProxies   []netip.Prefix
}

// DefaultConfig holds the flag defaults.
func DefaultConfig() Config {
	return Config{
		ListenAddr:           ":8080",
		MetricsAddr:          ":9090",
		OIDCScopes:           []string{"openid", "profile", "email"},
		OIDCUsernameClaim:    "email",
		OIDCGroupsClaim:      "groups",
		OIDCGroupsPrefix:     "oidc:",
		ProxyUserHeader:      "X-Forwarded-User",
		ProxyGroupsHeader:    "X-Forwarded-Groups",
		ProxyEmailHeader:     "X-Forwarded-Email",
		SessionTTL:           8 * time.Hour,
		CookieKeysReload:     30 * time.Second,
		URLValidity:          5 * time.Minute,
		AccessWindow:         time.Hour,
		TTLAfterFinished:     time.Hour,
		ConnectTimeout:       2 * time.Minute,
		ConnectPerMinute:     6,
		ConnectBurst:         3,
		LongPollsPerPerson:   4,
		MaxRequestBodyBytes:  16 << 10,
		ShutdownGraceTimeout: 25 * time.Second,
		KubeAPIQPS:           50,
		KubeAPIBurst:         100,
		LogFormat:            "json",
		LogLevel:             "info",
	}
}

type listFlag struct{ p *[]string }

func (l listFlag) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l listFlag) Set(s string) error {
	*l.p = nil
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l.p = append(*l.p, v)
		}
	}
	return nil
}

// BindFlags registers the settings on fs.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.ListenAddr, "listen-address", c.ListenAddr, "Address of the portal's pages.")
	fs.StringVar(&c.MetricsAddr, "metrics-bind-address", c.MetricsAddr, "Address of /metrics, /healthz and /readyz (a separate listener).")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "The portal's URL as browsers see it, e.g. https://portal.example.com (cross-origin POSTs are refused against its origin).")
	fs.StringVar(&c.TLSCertFile, "tls-cert-file", c.TLSCertFile, "Serve the pages over HTTPS with this certificate (else plain HTTP behind a TLS-terminating ingress).")
	fs.StringVar(&c.TLSKeyFile, "tls-key-file", c.TLSKeyFile, "Key of --tls-cert-file.")
	fs.StringVar(&c.AuthMode, "auth-mode", c.AuthMode, "How people are identified: oidc (sign-in with an OpenID Connect provider) or proxy (headers of an authenticating proxy).")

	fs.StringVar(&c.OIDCIssuerURL, "oidc-issuer-url", c.OIDCIssuerURL, "OIDC issuer URL (discovery at <issuer>/.well-known/openid-configuration).")
	fs.StringVar(&c.OIDCClientID, "oidc-client-id", c.OIDCClientID, "OIDC client ID.")
	fs.StringVar(&c.OIDCClientSecretFile, "oidc-client-secret-file", c.OIDCClientSecretFile, "File holding the OIDC client secret (else $"+EnvOIDCClientSecret+"; empty for a public client, PKCE is always used).")
	fs.StringVar(&c.OIDCRedirectURL, "oidc-redirect-url", c.OIDCRedirectURL, "OIDC redirect URL registered at the provider; default <public-url>/auth/callback.")
	fs.Var(listFlag{&c.OIDCScopes}, "oidc-scopes", "Comma-separated scopes to request (openid is always included).")
	fs.StringVar(&c.OIDCUsernameClaim, "oidc-username-claim", c.OIDCUsernameClaim, "ID token claim that is the Kubernetes user name; use the API server's --oidc-username-claim so that RBAC bindings match.")
	fs.StringVar(&c.OIDCUsernamePrefix, "oidc-username-prefix", c.OIDCUsernamePrefix, "Prefix added to the user name, as the API server's --oidc-username-prefix: unset with a claim other than email means <issuer>#, \"-\" means none.")
	fs.StringVar(&c.OIDCGroupsClaim, "oidc-groups-claim", c.OIDCGroupsClaim, "ID token claim with the person's groups (the API server's --oidc-groups-claim).")
	fs.StringVar(&c.OIDCGroupsPrefix, "oidc-groups-prefix", c.OIDCGroupsPrefix, "Prefix added to each group from the provider (the API server's --oidc-groups-prefix), so that no provider group can be a Kubernetes group such as an admin group of the admission policy; \"-\" means none (only on purpose).")

	fs.Var(listFlag{&c.ProxyTrustedCIDRs}, "proxy-trusted-cidrs", "Comma-separated CIDRs whose requests may carry identity headers (proxy mode); others get 403.")
	fs.StringVar(&c.ProxyUserHeader, "proxy-user-header", c.ProxyUserHeader, "Header with the user name (proxy mode).")
	fs.StringVar(&c.ProxyGroupsHeader, "proxy-groups-header", c.ProxyGroupsHeader, "Header with comma-separated groups (proxy mode).")
	fs.StringVar(&c.ProxyEmailHeader, "proxy-email-header", c.ProxyEmailHeader, "Header with the email address (proxy mode).")

	fs.Var(listFlag{&c.TrustedProxies}, "trusted-proxies", "Comma-separated CIDRs of the reverse proxies in front of the portal whose X-Forwarded-For is believed (the right-most address that is not a trusted proxy is the person's, the source range of their Napter sessions). Default none: the direct peer's address is used and X-Forwarded-For is ignored.")

	fs.StringVar(&c.CookieKeysFile, "cookie-keys-file", c.CookieKeysFile, "File with the cookie keys, one per line, at least 32 bytes each: the first signs, all verify (rotation). Re-read while running (see --cookie-keys-reload-interval). Else $"+EnvCookieKeys+" (comma-separated, read at start).")
	fs.DurationVar(&c.CookieKeysReload, "cookie-keys-reload-interval", c.CookieKeysReload, "How often --cookie-keys-file is read again, so that rotated keys (a mounted Secret updated in place) apply without a restart.")
	fs.DurationVar(&c.SessionTTL, "session-ttl", c.SessionTTL, "How long a portal sign-in lasts.")
	fs.StringVar(&c.SignoutConfigMap, "signout-configmap", c.SignoutConfigMap, "<namespace>/<name> of the ConfigMap where sign-outs are recorded (oidc mode; the portal needs get, update and create on it), so that a sign-out ends the sign-in on every replica.")
	fs.BoolVar(&c.InsecureCookies, InsecureCookiesFlag, c.InsecureCookies, "DANGEROUS: send cookies without Secure so that tests can use http://127.0.0.1. Refused unless --public-url is http on a loopback address.")

	fs.DurationVar(&c.URLValidity, "url-validity", c.URLValidity, "spec.urlValidity of the sessions the portal creates.")
	fs.DurationVar(&c.AccessWindow, "access-window", c.AccessWindow, "spec.accessWindow of the sessions the portal creates.")
	fs.DurationVar(&c.TTLAfterFinished, "ttl-after-finished", c.TTLAfterFinished, "spec.ttlAfterFinished of the sessions the portal creates (0 keeps them).")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", c.ConnectTimeout, "How long the progress page waits for a URL before it says so.")
	fs.Float64Var(&c.ConnectPerMinute, "connects-per-minute", c.ConnectPerMinute, "Sustained Connect rate per person (429 beyond it).")
	fs.IntVar(&c.ConnectBurst, "connect-burst", c.ConnectBurst, "Connects a person may make at once before the rate applies.")
	fs.IntVar(&c.LongPollsPerPerson, "long-polls-per-person", c.LongPollsPerPerson, "Progress pages (/open long-polls) a person may have waiting at once (429 beyond it).")
	fs.BoolVar(&c.SecretReadFallback, "secret-read-fallback", c.SecretReadFallback, "When a person may not read their session's Secret, read it with the portal's own identity (needs get on secrets) if the session's spec.userId is that person.")
	fs.Int64Var(&c.MaxRequestBodyBytes, "max-request-body-bytes", c.MaxRequestBodyBytes, "Largest request body accepted.")
	fs.DurationVar(&c.ShutdownGraceTimeout, "shutdown-grace-timeout", c.ShutdownGraceTimeout, "How long in-flight requests may finish on shutdown.")

	fs.Float64Var(&c.KubeAPIQPS, "kube-api-qps", c.KubeAPIQPS, "Client-side rate limit of the portal's own Kubernetes calls (reviews and catalog reads; each page view makes a few).")
	fs.IntVar(&c.KubeAPIBurst, "kube-api-burst", c.KubeAPIBurst, "Burst of --kube-api-qps.")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "Log format: json or console.")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "Log level: debug, info or error.")
}

// Validate checks the flags without reading any file.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	pub, err := url.Parse(c.PublicURL)
	switch {
	case c.PublicURL == "":
		add("--public-url is required (the portal's URL as browsers see it)")
	case err != nil || (pub.Scheme != "https" && pub.Scheme != "http") || pub.Host == "" || (pub.Path != "" && pub.Path != "/"):
		add("--public-url %q must be an http(s) origin such as https://portal.example.com (no path)", c.PublicURL)
	}
	if c.InsecureCookies && (pub == nil || pub.Scheme != "http" || !isLoopbackHost(pub.Hostname())) {
		add("--%s is only for tests on http://127.0.0.1 (or localhost); --public-url is %q", InsecureCookiesFlag, c.PublicURL)
	}
	if !c.InsecureCookies && pub != nil && pub.Scheme == "http" {
		add("--public-url %q is plain http: browsers drop Secure cookies there; serve the portal over https", c.PublicURL)
	}

	oidcSet := c.OIDCIssuerURL != "" || c.OIDCClientID != "" || c.OIDCClientSecretFile != "" || c.OIDCRedirectURL != ""
	proxySet := len(c.ProxyTrustedCIDRs) != 0
	switch c.AuthMode {
	case AuthOIDC:
		if proxySet {
			add("--proxy-trusted-cidrs is set but --auth-mode is oidc: the modes are never mixed; drop one")
		}
		if c.OIDCIssuerURL == "" || c.OIDCClientID == "" {
			add("--auth-mode=oidc needs --oidc-issuer-url and --oidc-client-id")
		}
		if u, err := url.Parse(c.OIDCIssuerURL); c.OIDCIssuerURL != "" && (err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname())))) {
			add("--oidc-issuer-url %q must be an https URL (http only on a loopback address, for tests)", c.OIDCIssuerURL)
		}
		if c.OIDCRedirectURL != "" {
			if u, err := url.Parse(c.OIDCRedirectURL); err != nil || pub == nil || u.Scheme != pub.Scheme || u.Host != pub.Host {
				add("--oidc-redirect-url %q must be on the portal's own origin %q", c.OIDCRedirectURL, c.PublicURL)
			}
		}
		if c.OIDCUsernameClaim == "" {
			add("--oidc-username-claim must not be empty")
		}
		switch gp := c.OIDCGroupsPrefix; {
		case gp == "":
			add("--oidc-groups-prefix must not be empty: use a prefix such as \"oidc:\" (the default), or \"-\" for none, on purpose")
		case gp != "-" && strings.HasPrefix(gp, "system:"):
			add("--oidc-groups-prefix %q would make provider groups system: groups", gp)
		case gp != "-" && checkName("--oidc-groups-prefix", gp) != nil:
			add("%v", checkName("--oidc-groups-prefix", gp))
		}
		if up := c.OIDCUsernamePrefix; up != "" && up != "-" && checkName("--oidc-username-prefix", up) != nil {
			add("%v", checkName("--oidc-username-prefix", up))
		}
		if _, _, err := c.signoutObject(); err != nil {
			add("%v", err)
		}
	case AuthProxy:
		if oidcSet {
			add("--oidc-* flags are set but --auth-mode is proxy: the modes are never mixed; drop one")
		}
		if !proxySet {
			add("--auth-mode=proxy needs --proxy-trusted-cidrs (the proxy's source addresses)")
		}
		c.trusted = nil
		for _, s := range c.ProxyTrustedCIDRs {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				add("--proxy-trusted-cidrs: %q is not a CIDR: %v", s, err)
				continue
			}
			if p.Bits() == 0 {
				add("--proxy-trusted-cidrs: %q trusts every address, so anyone could send identity headers; name only the proxy's own addresses (e.g. 127.0.0.1/32 for a sidecar)", s)
				continue
			}
			c.trusted = append(c.trusted, p.Masked())
		}
		if c.ProxyUserHeader == "" {
			add("--proxy-user-header must not be empty")
		}
	case "":
		add("--auth-mode is required: oidc or proxy")
	default:
		add("--auth-mode must be oidc or proxy, got %q", c.AuthMode)
	}
	c.trustedProxies = nil
	for _, s := range c.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			add("--trusted-proxies: %q is not a CIDR: %v", s, err)
			continue
		}
		if p.Bits() == 0 {
			add("--trusted-proxies: %q trusts every address, so anyone could choose the source range of their Napter sessions; name only the proxies' own addresses", s)
			continue
		}
		c.trustedProxies = append(c.trustedProxies, p.Masked())
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		add("--tls-cert-file and --tls-key-file go together")
	}
	if c.CookieKeysReload < time.Second {
		add("--cookie-keys-reload-interval must be at least 1s, got %s", c.CookieKeysReload)
	}
	if c.SessionTTL < time.Minute || c.SessionTTL > 7*24*time.Hour {
		add("--session-ttl must be between 1m and 168h, got %s", c.SessionTTL)
	}
	if c.URLValidity < time.Second || c.URLValidity > 168*time.Hour {
		add("--url-validity must be between 1s and 168h, got %s", c.URLValidity)
	}
	if c.AccessWindow < time.Minute || c.AccessWindow > 120*time.Hour {
		add("--access-window must be between 1m and 120h, got %s", c.AccessWindow)
	}
	if c.TTLAfterFinished < 0 {
		add("--ttl-after-finished must not be negative")
	}
	if c.ConnectTimeout < time.Second {
		add("--connect-timeout must be at least 1s")
	}
	if c.ConnectPerMinute <= 0 || c.ConnectBurst < 1 {
		add("--connects-per-minute must be positive and --connect-burst at least 1")
	}
	if c.LongPollsPerPerson < 1 {
		add("--long-polls-per-person must be at least 1")
	}
	if c.MaxRequestBodyBytes < 1024 {
		add("--max-request-body-bytes must be at least 1024")
	}
	if c.KubeAPIQPS <= 0 || c.KubeAPIBurst < 1 {
		add("--kube-api-qps must be positive and --kube-api-burst at least 1")
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		add("--log-format must be json or console, got %q", c.LogFormat)
	}
	return errors.Join(errs...)
}

// Load validates the flags and reads the secrets (cookie keys, client secret)
// from their files or the environment.
func (c *Config) Load() error {
	if err := c.Validate(); err != nil {
		return err
	}
	var keys [][]byte
	var err error
	if c.CookieKeysFile != "" {
		keys, err = readKeyFile(c.CookieKeysFile)
	} else {
		keys, err = parseKeys(os.Getenv(EnvCookieKeys))
	}
	if err != nil {
		return err
	}
	c.cookieKeys = keys
	if c.AuthMode == AuthOIDC {
		c.oidcClientSecret = os.Getenv(EnvOIDCClientSecret)
		if c.OIDCClientSecretFile != "" {
			b, err := os.ReadFile(c.OIDCClientSecretFile)
			if err != nil {
				return fmt.Errorf("--oidc-client-secret-file: %w", err)
			}
			c.oidcClientSecret = strings.TrimSpace(string(b))
		}
	}
	return nil
}

// SetSecrets sets the cookie keys and the OIDC client secret directly (tests,
// and programs that embed the portal).
func (c *Config) SetSecrets(cookieKeys [][]byte, oidcClientSecret string) {
	c.cookieKeys = cookieKeys
	c.oidcClientSecret = oidcClientSecret
}

// readKeyFile reads the cookie keys from file.
func readKeyFile(file string) ([][]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--cookie-keys-file: %w", err)
	}
	return parseKeys(string(b))
}

func parseKeys(raw string) ([][]byte, error) {
	var keys [][]byte
	for _, line := range strings.FieldsFunc(raw, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(line) < 32 {
			return nil, fmt.Errorf("a cookie key is %d bytes long; each must be at least 32 (e.g. `openssl rand -base64 48`)", len(line))
		}
		keys = append(keys, []byte(line))
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no cookie keys: set --cookie-keys-file or $%s (one key of at least 32 bytes per line; the first signs)", EnvCookieKeys)
	}
	return keys, nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// origin is the scheme://host of the public URL.
func (c *Config) origin() string {
	u, err := url.Parse(c.PublicURL)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// usernamePrefix is the prefix of OIDC user names as kube-apiserver's
// --oidc-username-prefix applies it: unset with a claim other than email
// means "<issuer>#", and "-" means none.
func (c *Config) usernamePrefix() string {
	switch {
	case c.OIDCUsernamePrefix == "-":
		return ""
	case c.OIDCUsernamePrefix == "" && c.OIDCUsernameClaim != "email":
		return c.OIDCIssuerURL + "#"
	}
	return c.OIDCUsernamePrefix
}

// groupsPrefix is the prefix of OIDC groups; "-" means none.
func (c *Config) groupsPrefix() string {
	if c.OIDCGroupsPrefix == "-" {
		return ""
	}
	return c.OIDCGroupsPrefix
}

// signoutObject splits --signout-configmap into namespace and name.
func (c *Config) signoutObject() (string, string, error) {
	ns, name, ok := strings.Cut(c.SignoutConfigMap, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("--signout-configmap %q must be <namespace>/<name> of the ConfigMap where sign-outs are recorded (oidc mode)", c.SignoutConfigMap)
	}
	return ns, name, nil
}

func (c *Config) redirectURL() string {
	if c.OIDCRedirectURL != "" {
		return c.OIDCRedirectURL
	}
	return c.origin() + "/auth/callback"
}
