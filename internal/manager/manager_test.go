package manager_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/gatestream/gatestream/internal/manager"
	"github.com/gatestream/gatestream/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }

func TestManagerBecomesReadyLeadsAndServesMetrics(t *testing.T) {
	ctx := context.Background()
	const leaseNS = "gatestream-system"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: leaseNS}}); err != nil {
		t.Fatal(err)
	}

	opts := manager.DefaultOptions()
	opts.MetricsAddr = "127.0.0.1:0"
	opts.ProbeAddr = "127.0.0.1:0"
	opts.LeaderElect = true
	opts.LeaderElectionNS = leaseNS
	var logs testenv.SyncBuffer
	log, err := manager.NewLogger("json", "info", &logs)
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := manager.New(env.Config, opts, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := manager.RegisterControllers(mgr, opts); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(runCtx) }()
	stopped := false
	defer func() {
		if !stopped {
			stop()
			<-done
		}
	}()

	probe := func(path string) error {
		resp, err := http.Get("http://" + mgr.ProbeAddr() + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
		return nil
	}
	testenv.Eventually(t, 20*time.Second, "healthz", func() error { return probe("/healthz") })
	testenv.Eventually(t, 20*time.Second, "readyz", func() error { return probe("/readyz") })

	var lease coordinationv1.Lease
	testenv.Eventually(t, 30*time.Second, "leader lease taken", func() error {
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: leaseNS, Name: opts.LeaderElectionID}, &lease); err != nil {
			return err
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
			return errors.New("lease has no holder")
		}
		return nil
	})
	// The lease is written before the elector's callback closes Elected: a
	// bounded wait, not an instant check.
	select {
	case <-mgr.Elected():
	case <-time.After(10 * time.Second):
		t.Fatal("lease is held but the manager does not report itself elected within 10s")
	}

	testenv.Eventually(t, 10*time.Second, "metrics listening", func() error {
		if mgr.MetricsAddr() == "" {
			return errors.New("no address yet")
		}
		return nil
	})
	metricsURL := "https://" + mgr.MetricsAddr() + "/metrics"
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 10 * time.Second}

	// Without a token the secure endpoint refuses.
	resp, err := insecure.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		t.Fatalf("metrics without a token: status %d, want 401/403", resp.StatusCode)
	}

	// A service account allowed to get /metrics can scrape.
	token := scraperToken(t, ctx)
	req, _ := http.NewRequest(http.MethodGet, metricsURL, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = insecure.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics with an authorized token: %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(string(body), "leader_election_master_status") {
		t.Fatalf("metrics do not include leader_election_master_status:\n%.2000s", body)
	}

	// A clean stop releases the lease so the next replica takes over at once.
	stop()
	if err := <-done; err != nil {
		t.Fatalf("manager stopped with error: %v", err)
	}
	stopped = true
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: leaseNS, Name: opts.LeaderElectionID}, &lease); err != nil {
		t.Fatal(err)
	}
	if lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "" {
		t.Fatalf("lease still held by %q after a clean stop", *lease.Spec.HolderIdentity)
	}

	// Logs are JSON lines with structured keys.
	firstLine, _, _ := strings.Cut(logs.String(), "\n")
	var entry map[string]any
	if err := json.Unmarshal([]byte(firstLine), &entry); err != nil {
		t.Fatalf("log line is not JSON: %q", firstLine)
	}
	if entry["level"] == nil || entry["msg"] == nil {
		t.Fatalf("log line lacks level/msg: %v", entry)
	}
}

func scraperToken(t *testing.T, ctx context.Context) string {
	t.Helper()
	c := env.Client
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "scraper"}}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "scraper-metrics-reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: sa.Namespace, Name: sa.Name}}}
	if err := c.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(env.Config)
	tr, err := cs.CoreV1().ServiceAccounts(sa.Namespace).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	return tr.Status.Token
}

func TestOptionsValidation(t *testing.T) {
	cases := map[string][]string{
		"poll interval too short":  {"--poll-interval=1s"},
		"no concurrent reconciles": {"--max-concurrent-reconciles=0"},
		"unknown log format":       {"--log-format=xml"},
		"unknown log level":        {"--log-level=verbose"},
		"no SORACOM budget":        {"--soracom-calls-per-second=0"},
		"negative AWS cap":         {"--aws-calls-per-second=-1"},
		"cluster name not a label": {"--cluster-name=Prod/EU"},
		"error backoff too short":  {"--max-error-backoff=100ms"},
		"lease not whole seconds":  {"--leader-elect-lease-duration=15500ms"},
		"renew not under lease":    {"--leader-elect-renew-deadline=15s"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			opts := manager.DefaultOptions()
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			opts.BindFlags(fs)
			if err := fs.Parse(args); err != nil {
				t.Fatal(err)
			}
			if err := opts.Validate(); err == nil {
				t.Fatalf("%v accepted", args)
			}
		})
	}
	opts := manager.DefaultOptions()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	opts.BindFlags(fs)
	if err := fs.Parse([]string{"--watch-namespaces= line-a, line-b ,", "--poll-interval=2m", "--log-format=console", "--cluster-name=prod-eu", "--max-error-backoff=30s"}); err != nil {
		t.Fatal(err)
	}
	if err := opts.Validate(); err != nil {
		t.Fatalf("valid flags rejected: %v", err)
	}
	if got := strings.Join(opts.WatchNamespaces, "|"); got != "line-a|line-b" {
		t.Fatalf("watch namespaces = %q", got)
	}
	if opts.PollInterval != 2*time.Minute || opts.ClusterName != "prod-eu" || opts.MaxErrorBackoff != 30*time.Second {
		t.Fatalf("poll interval = %s, cluster name %q, max error backoff %s", opts.PollInterval, opts.ClusterName, opts.MaxErrorBackoff)
	}
}

// TestLogFlags: --log-format and --log-level set controller-runtime's zap
// options (the --zap-* flags win where given), lines carry ISO 8601 times
// and the caller, and no line is dropped by sampling.
func TestLogFlags(t *testing.T) {
	logWith := func(args ...string) (logr.Logger, *testenv.SyncBuffer) {
		t.Helper()
		opts := manager.DefaultOptions()
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		opts.BindFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if err := opts.Validate(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var out testenv.SyncBuffer
		log, err := opts.Logger(&out)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return log, &out
	}
	jsonLine := func(t *testing.T, line string) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		return m
	}

	log, out := logWith()
	log.Info("hello", "key", "value")
	log.V(1).Info("hidden at info")
	m := jsonLine(t, strings.TrimSpace(out.String()))
	if m["level"] != "info" || m["msg"] != "hello" || m["key"] != "value" || !strings.Contains(fmt.Sprint(m["caller"]), "manager_test.go") ||
		!regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z?[+-]?`).MatchString(fmt.Sprint(m["ts"])) {
		t.Errorf("default log line %v: want level, msg, key, caller and an ISO 8601 ts", m)
	}

	log, out = logWith("--log-format=console", "--log-level=debug")
	log.V(1).Info("debug line")
	if got := out.String(); !strings.Contains(got, "DEBUG") || !strings.Contains(got, "debug line") || strings.HasPrefix(got, "{") {
		t.Errorf("console at debug: %q", got)
	}

	log, out = logWith("--log-level=error")
	log.Info("info line")
	log.Error(errors.New("boom"), "error line")
	if got := out.String(); strings.Contains(got, "info line") || !strings.Contains(got, "error line") || strings.Contains(got, "stacktrace") {
		t.Errorf("at error (no stack traces below panic): %q", got)
	}

	// The --zap-* flags take precedence over --log-format and --log-level.
	log, out = logWith("--log-format=json", "--zap-encoder=console", "--zap-log-level=2")
	log.V(2).Info("verbose line")
	if got := out.String(); !strings.Contains(got, "verbose line") || strings.HasPrefix(got, "{") {
		t.Errorf("--zap-encoder=console --zap-log-level=2: %q", got)
	}

	// controller-runtime samples repeated lines in production mode; gatestream does not.
	log, out = logWith()
	for range 300 {
		log.Info("the same line")
	}
	if n := strings.Count(out.String(), "the same line"); n != 300 {
		t.Errorf("%d of 300 identical lines written", n)
	}
}

// A leader that stops (a rolling update) hands the lease over: the standby
// leads within about one retry period instead of a lease duration. The
// figure is logged (docs/remoteaccessenvironment.md quotes it); the bound is
// only a liveness check.
func TestLeaderHandsOverOnStop(t *testing.T) {
	ctx := context.Background()
	const leaseNS = "handover"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: leaseNS}}); err != nil {
		t.Fatal(err)
	}
	start := func() (*manager.Manager, context.CancelFunc, chan error) {
		opts := manager.DefaultOptions()
		opts.MetricsAddr, opts.ProbeAddr = "0", "127.0.0.1:0"
		opts.LeaderElect, opts.LeaderElectionNS, opts.LeaderElectionID = true, leaseNS, "handover"
		opts.LeaseDuration, opts.RenewDeadline, opts.RetryPeriod = 4*time.Second, 3*time.Second, 250*time.Millisecond
		log, err := manager.NewLogger("json", "error", &testenv.SyncBuffer{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := manager.New(env.Config, opts, log)
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- m.Start(runCtx) }()
		return m, stop, done
	}
	a, stopA, doneA := start()
	testenv.Eventually(t, 20*time.Second, "the first manager leads", func() error {
		select {
		case <-a.Elected():
			return nil
		default:
			return errors.New("not elected")
		}
	})
	b, stopB, doneB := start()
	defer func() { stopB(); <-doneB }()
	stopped := time.Now()
	stopA()
	if err := <-doneA; err != nil {
		t.Fatalf("the leader's stop: %v", err)
	}
	testenv.Eventually(t, 20*time.Second, "the standby leads", func() error {
		select {
		case <-b.Elected():
			return nil
		default:
			return errors.New("not elected")
		}
	})
	t.Logf("takeover after a clean stop: %s (lease duration 4s, retry period 250ms)", time.Since(stopped).Round(10*time.Millisecond))
}

// leaderElected starts a manager with leader election on the Lease ns/id
// (lease 4s, renew 3s, retry 500ms: the chaos leader-kill timings) against
// cfg, after setup registers its controllers. The test's end stops it.
func leaderElected(t *testing.T, cfg *rest.Config, ns, id string, setup func(*manager.Manager) error) (*manager.Manager, context.CancelFunc, chan error) {
	t.Helper()
	opts := manager.DefaultOptions()
	opts.MetricsAddr, opts.ProbeAddr = "0", "127.0.0.1:0"
	opts.LeaderElect, opts.LeaderElectionNS, opts.LeaderElectionID = true, ns, id
	opts.LeaseDuration, opts.RenewDeadline, opts.RetryPeriod = 4*time.Second, 3*time.Second, 500*time.Millisecond
	opts.SkipControllerNameValidation = true
	opts.GracefulShutdownTime = 5 * time.Second
	log, err := manager.NewLogger("json", "error", &testenv.SyncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := manager.New(cfg, opts, log)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		if err := setup(m); err != nil {
			t.Fatal(err)
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		done <- m.Start(ctx)
	}()
	t.Cleanup(func() {
		stop()
		<-finished
	})
	return m, stop, done
}

// electedAt returns a channel that receives the time m is elected.
func electedAt(m *manager.Manager) <-chan time.Time {
	at := make(chan time.Time, 1)
	go func() {
		<-m.Elected()
		at <- time.Now()
	}()
	return at
}

// cutTransport is a network that can be cut: every request then fails, as
// for a killed (or partitioned) process. It notes when the last successful
// renewal of a Lease was sent.
type cutTransport struct {
	rt          http.RoundTripper
	cut         *atomic.Bool
	lastRenewal *atomic.Int64 // UnixNano
}

func (c *cutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if c.cut.Load() {
		return nil, errors.New("test: the network is cut")
	}
	sent := time.Now()
	resp, err := c.rt.RoundTrip(req)
	if err == nil && req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/leases/") && resp.StatusCode == http.StatusOK {
		c.lastRenewal.Store(sent.UnixNano())
	}
	return resp, err
}

// A leader whose renewals stop without a release (killed: here its network
// is cut) is replaced within the lease duration after the last renewal the
// standby saw: at most lease + retry after the kill (the bar), never
// before a lease duration after the last renewal, and only after the old
// leader (alive but cut off) gave up leading at its renew deadline.
func TestKilledLeaderIsReplacedWithinTheLease(t *testing.T) {
	const leaseNS, id = "killover", "killover"
	const lease, retry = 4 * time.Second, 500 * time.Millisecond
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: leaseNS}}); err != nil {
		t.Fatal(err)
	}
	var cut atomic.Bool
	var lastRenewal atomic.Int64
	cfgA := rest.CopyConfig(env.Config)
	cfgA.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return &cutTransport{rt: rt, cut: &cut, lastRenewal: &lastRenewal}
	})
	a, _, doneA := leaderElected(t, cfgA, leaseNS, id, nil)
	select {
	case <-a.Elected():
	case <-time.After(20 * time.Second):
		t.Fatal("the first manager is not elected")
	}
	b, _, doneB := leaderElected(t, env.Config, leaseNS, id, nil)
	bElected := electedAt(b)
	// The standby runs (its caches synced) and has seen renewals.
	waitStandbyReady(t, b)
	seen := lastRenewal.Load()
	testenv.Eventually(t, 5*time.Second, "a renewal after the standby started", func() error {
		if lastRenewal.Load() == seen {
			return errors.New("no renewal yet")
		}
		return nil
	})

	cut.Store(true)
	killed := time.Now()
	var lostAt time.Time
	select {
	case err := <-doneA:
		lostAt = time.Now()
		if err == nil || !strings.Contains(err.Error(), "leader election lost") {
			t.Fatalf("the cut-off leader's Start: %v, want leader election lost", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cut-off leader did not give up leading")
	}
	var took time.Time
	select {
	case took = <-bElected:
	case err := <-doneB:
		t.Fatalf("the standby stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the standby did not take over")
	}
	renewed := time.Unix(0, lastRenewal.Load())
	fromKill, fromRenewal := took.Sub(killed), took.Sub(renewed)
	t.Logf("takeover after a kill: %s after the kill, %s after the last renewal; the old leader gave up %s after it (lease 4s, renew 3s, retry 500ms)",
		fromKill.Round(time.Millisecond), fromRenewal.Round(time.Millisecond), lostAt.Sub(renewed).Round(time.Millisecond))
	if bound := lease + retry; fromKill > bound {
		t.Errorf("takeover %s after the kill, want at most lease + retry = %s", fromKill, bound)
	}
	if fromRenewal < lease {
		t.Errorf("takeover %s after the last renewal: before the lease expired", fromRenewal)
	}
	if !lostAt.Before(took) {
		t.Errorf("the old leader gave up leading after the standby took over")
	}
	var l coordinationv1.Lease
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: leaseNS, Name: id}, &l); err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" || !strings.HasPrefix(*l.Spec.HolderIdentity, mustHostname(t)+"_") {
		t.Fatalf("lease holder %v after the takeover", l.Spec.HolderIdentity)
	}
}

func mustHostname(t *testing.T) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// reconciles counts the reconciles of each ConfigMap by one manager's controller.
type reconciles struct {
	mu    sync.Mutex
	first time.Time
	n     int
}

func (r *reconciles) Reconcile(_ context.Context, _ reconcile.Request) (reconcile.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		r.first = time.Now()
	}
	r.n++
	return reconcile.Result{}, nil
}

func (r *reconciles) count() (int, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n, r.first
}

// Controllers registered through ctrl.NewControllerManagedBy(mgr) run only
// on the elected replica: a standby (its caches and probes running) does not
// reconcile until it is elected.
func TestStandbyDoesNotReconcile(t *testing.T) {
	ctx := context.Background()
	const ns, id = "gating", "gating"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	controller := func(name string, r *reconciles) func(*manager.Manager) error {
		return func(m *manager.Manager) error {
			return ctrl.NewControllerManagedBy(m).Named(name).For(&corev1.ConfigMap{},
				builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetNamespace() == ns }))).
				Complete(r)
		}
	}
	var ra, rb reconciles
	a, stopA, doneA := leaderElected(t, env.Config, ns, id, controller("gating-a", &ra))
	select {
	case <-a.Elected():
	case <-time.After(20 * time.Second):
		t.Fatal("the first manager is not elected")
	}
	b, _, _ := leaderElected(t, env.Config, ns, id, controller("gating-b", &rb))
	bElected := electedAt(b)
	waitStandbyReady(t, b)
	if err := env.Client.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cm"}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the leader reconciles", func() error {
		if n, _ := ra.count(); n == 0 {
			return errors.New("no reconcile")
		}
		return nil
	})
	testenv.Consistently(t, time.Second, "the standby does not reconcile", func() error {
		if n, _ := rb.count(); n != 0 {
			return fmt.Errorf("the standby reconciled %d times", n)
		}
		select {
		case <-b.Elected():
			return errors.New("the standby is elected")
		default:
		}
		return nil
	})

	stopA()
	if err := <-doneA; err != nil {
		t.Fatalf("the leader's stop: %v", err)
	}
	var elected time.Time
	select {
	case elected = <-bElected:
	case <-time.After(10 * time.Second):
		t.Fatal("the standby was not elected after the leader stopped")
	}
	testenv.Eventually(t, 10*time.Second, "the new leader reconciles", func() error {
		if n, _ := rb.count(); n == 0 {
			return errors.New("no reconcile")
		}
		return nil
	})
	if _, first := rb.count(); first.Before(elected) {
		t.Fatalf("the standby reconciled at %s, before it was elected at %s", first, elected)
	}
}

// waitStandbyReady waits until m's /readyz answers 200 (its caches synced).
func waitStandbyReady(t *testing.T, m *manager.Manager) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, "the standby is ready", func() error {
		resp, err := http.Get("http://" + m.ProbeAddr() + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
}
