// Package portal is gatestream's self-service access portal: people sign in
// (OpenID Connect with PKCE, or an authenticating proxy's headers), see the
// devices of the namespaces where Kubernetes RBAC lets them create
// StreamingSessions, and connect: the portal creates the StreamingSession as
// that person (impersonation), waits for its URL and sends the browser there.
// Authorization stays in Kubernetes; the portal decides nothing by itself.
package portal

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// contentSecurityPolicy allows nothing but the portal's own stylesheet: no
// scripts at all, no framing, forms only to the portal.
const contentSecurityPolicy = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"

// Timeouts of the page listener. The /open long-poll stays well under WriteTimeout.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 64 << 10
	defaultLongPoll   = 20 * time.Second
	defaultPoll       = 200 * time.Millisecond
)

// Options configure New.
type Options struct {
	Config Config
	// Log receives the audit lines and errors.
	Log logr.Logger
	// REST is the portal's own identity (its service account in a cluster).
	REST *rest.Config
	// Now is the portal's clock for sign-in expiry (tests move it); default time.Now.
	Now func() time.Time
	// HTTPClient talks to the identity provider; default a client with a 10 s timeout.
	HTTPClient *http.Client
	// LongPoll bounds one /open wait, PollInterval its reads (defaults 20 s and 200 ms).
	LongPoll, PollInterval time.Duration
}

// Server is the portal.
type Server struct {
	cfg      Config
	log      logr.Logger
	now      func() time.Time
	kube     *kube
	codec    *codec
	origins  *http.CrossOriginProtection // refuses cross-site state-changing requests (checkForm)
	oidc     *oidcAuth
	pages    map[string]*template.Template
	metrics  *metrics
	limiter  *userLimiter
	waits    *waitSlots
	pending  pendingConnects
	longPoll time.Duration
	poll     time.Duration
}

// Scheme is what the portal's clients decode: client-go's kinds and gatestream's.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(accessv1alpha1.AddToScheme(s))
	return s
}

// New builds the portal. The configuration's secrets must be loaded (Config.Load or SetSecrets).
func New(opts Options) (*Server, error) {
	cfg := opts.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.cookieKeys) == 0 {
		return nil, errors.New("no cookie keys loaded (Config.Load)")
	}
	k, err := newKube(opts.REST, Scheme(), float32(cfg.KubeAPIQPS), cfg.KubeAPIBurst)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      opts.Log,
		now:      opts.Now,
		kube:     k,
		origins:  http.NewCrossOriginProtection(),
		metrics:  newMetrics(),
		limiter:  newUserLimiter(cfg.ConnectPerMinute, cfg.ConnectBurst),
		waits:    &waitSlots{max: cfg.LongPollsPerPerson},
		longPoll: opts.LongPoll,
		poll:     opts.PollInterval,
	}
	if s.now == nil {
		s.now = time.Now
	}
	keys := newCookieKeys(cfg.cookieKeys, cfg.CookieKeysFile, cfg.CookieKeysReload, max(cfg.SessionTTL, loginTTL), s.now, s.log)
	s.codec = &codec{keys: keys, secure: !cfg.InsecureCookies}
	// Behind a proxy that rewrites Host, the public URL's origin is still same-origin.
	if err := s.origins.AddTrustedOrigin(cfg.origin()); err != nil {
		return nil, fmt.Errorf("--public-url: %w", err)
	}
	if s.longPoll <= 0 {
		s.longPoll = defaultLongPoll
	}
	if s.poll <= 0 {
		s.poll = defaultPoll
	}
	if cfg.AuthMode == AuthOIDC {
		hc := opts.HTTPClient
		if hc == nil {
			hc = &http.Client{Timeout: 10 * time.Second}
		}
		s.oidc = &oidcAuth{cfg: &s.cfg, httpClient: hc}
	}
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	return s, nil
}

func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, p := range []string{"devices", "sessions", "progress", "endpoint", "error", "signin"} {
		t, err := template.New(p).ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", p, err)
		}
		pages[p] = t
	}
	return pages, nil
}

// Handler serves the pages.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(http.FileServerFS(static))))
	if s.cfg.AuthMode == AuthOIDC {
		mux.HandleFunc("GET /signin", s.signin)
		mux.HandleFunc("GET /auth/start", s.authStart)
		mux.HandleFunc("GET /auth/callback", s.authCallback)
	}
	mux.HandleFunc("POST /signout", s.signout)
	mux.HandleFunc("GET /{$}", s.devices)
	mux.HandleFunc("POST /connect", s.connect)
	mux.HandleFunc("GET /sessions", s.sessions)
	mux.HandleFunc("GET /sessions/{ns}/{name}", s.status)
	mux.HandleFunc("GET /sessions/{ns}/{name}/open", s.open)
	mux.HandleFunc("POST /sessions/{ns}/{name}/end", s.end)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, nil, http.StatusNotFound, errorView{Heading: "Page not found", Message: "There is no page at this address."})
	})
	return s.harden(mux)
}

func staticHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// harden adds the security headers, bounds the request body and turns a
// panic into an error page.
func (s *Server) harden(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		if !s.cfg.InsecureCookies {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBodyBytes)
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error(fmt.Errorf("%v", v), "panic serving a page", "path", r.URL.Path)
				s.fail(w, r, nil, http.StatusInternalServerError, errorView{Heading: "Something went wrong", Message: "The portal failed to serve this page."})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// OpsHandler serves /metrics, /healthz and /readyz (the separate listener).
func (s *Server) OpsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.ready(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

func (s *Server) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if s.oidc != nil {
		if _, err := s.oidc.discover(ctx); err != nil {
			return err
		}
	}
	var l accessv1alpha1.DeviceGroupList
	if err := s.kube.own.List(ctx, &l, client.Limit(1)); err != nil {
		return fmt.Errorf("listing DeviceGroups: %w", err)
	}
	return nil
}

// HTTPServer returns the page server with the portal's timeouts and limits.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// Run serves the pages and the ops endpoints until ctx ends.
func Run(ctx context.Context, cfg Config, log logr.Logger, rc *rest.Config) error {
	s, err := New(Options{Config: cfg, Log: log, REST: rc})
	if err != nil {
		return err
	}
	pages := s.HTTPServer()
	ops := &http.Server{Handler: s.OpsHandler(), ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout, WriteTimeout: writeTimeout}
	pl, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return err
	}
	ol, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		_ = pl.Close()
		return err
	}
	errc := make(chan error, 2)
	go func() {
		if cfg.TLSCertFile != "" {
			errc <- pages.ServeTLS(pl, cfg.TLSCertFile, cfg.TLSKeyFile)
		} else {
			errc <- pages.Serve(pl)
		}
	}()
	go func() { errc <- ops.Serve(ol) }()
	log.Info("portal serving", "pages", pl.Addr().String(), "ops", ol.Addr().String(), "authMode", cfg.AuthMode, "publicURL", cfg.PublicURL)
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGraceTimeout)
	defer cancel()
	_ = pages.Shutdown(sctx)
	_ = ops.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// ---- rendering ----

type pageData struct {
	Title       string
	Nav         string
	User        *identity
	CSRF        string
	ShowSignOut bool
	Refresh     string
	Data        any
}

type link struct{ Href, Text string }

type errorView struct {
	Heading, Message, Detail, Hint string
	Links                          []link
}

func (s *Server) render(w http.ResponseWriter, status int, page string, ps *portalSession, d pageData) {
	if ps != nil {
		id := ps.identity()
		d.User = &id
		d.CSRF = ps.CSRF
		d.ShowSignOut = s.cfg.AuthMode == AuthOIDC
	}
	var b strings.Builder
	if err := s.pages[page].ExecuteTemplate(&b, "layout", d); err != nil {
		s.log.Error(err, "rendering page", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// fail renders an error page.
func (s *Server) fail(w http.ResponseWriter, _ *http.Request, ps *portalSession, status int, ev errorView) {
	if ev.Links == nil {
		if ps != nil {
			ev.Links = []link{{"/", "Devices"}, {"/sessions", "My sessions"}}
		} else if s.cfg.AuthMode == AuthOIDC {
			ev.Links = []link{{"/signin", "Sign in"}}
		}
	}
	s.render(w, status, "error", ps, pageData{Title: ev.Heading, Data: ev})
}
