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
