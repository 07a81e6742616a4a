package controllers_test

// The StreamingSession load run. It is a benchmark, so plain `go test ./...`
// never runs it. Run it alone (it wants the API server to itself):
//
//	go test ./controllers/ -run '^$' -bench StreamingSessionLoad -benchtime 1x -timeout 30m
//
// Sizes: GATESTREAM_LOAD_SESSIONS (default 1000), GATESTREAM_LOAD_SECRETS
// (unrelated Secrets, default 10000), GATESTREAM_LOAD_WORKERS (client
// parallelism and the controller's MaxConcurrentReconciles, default 16).
//
// It prints (1) the time the test's client needs for the bare API writes of
// N sessions (create the StreamingSession, create its Secret, update its
// status: what the operator must write at least) on the same API server, and
// (2) the time from creating N sessions until all are Ready with the
// operator doing the work (resolve, finalizer, CreateStreamingURL against
// the in-process emulator, the Secret created with the URL, status), and
// their ratio; and the peak RSS of the test process
// (VmHWM from /proc/self/status: the manager, but also the test's client and
// the emulator, so an upper bound for the manager) while N sessions and the
// unrelated Secrets exist. The AWS budget is lifted (1e6 calls/s) so that the
// run measures the operator, not the default 10 calls/s outbound budget
// (which alone would need N/10 s).

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/controllers"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/manager"
	"github.com/gatestream/gatestream/internal/session"
	"github.com/gatestream/gatestream/internal/testenv"
)

func ssLoadSize(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// ssParallel runs fn(i) for i in [0, n) on workers goroutines; the first error wins.
func ssParallel(n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// ssProcStatus returns a field of /proc/self/status in kB (0 if unknown).
func ssProcStatus(field string) int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			v, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return v
		}
	}
	return 0
}

func BenchmarkStreamingSessionLoad(b *testing.B) {
	nSessions := ssLoadSize("GATESTREAM_LOAD_SESSIONS", 1000)
	nSecrets := ssLoadSize("GATESTREAM_LOAD_SECRETS", 10000)
	workers := ssLoadSize("GATESTREAM_LOAD_WORKERS", 16)
	ctx := context.Background()
	k := env.Client
	w := newSSWorld(b)

	// Unrelated Secrets (no gatestream label), in the sessions' namespace.
	start := time.Now()
	noise := make([]byte, 1024)
	if err := ssParallel(nSecrets, 64, func(i int) error {
		return k.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: fmt.Sprintf("unrelated-%05d", i)},
			Data:       map[string][]byte{"blob": noise},
		})
	}); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("created %d unrelated Secrets in %s\n", nSecrets, time.Since(start).Round(time.Millisecond))

	// Bare writes, before the manager runs, in a namespace of their own.
	bareNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ss-bare-"}}
	w.must(k.Create(ctx, bareNS))
	expires := w.clk.Now().Add(ssValidity)
	start = time.Now()
	if err := ssParallel(nSessions, workers, func(i int) error {
		s := w.newSession(fmt.Sprintf("s-%04d", i), "user-a")
		s.Namespace = bareNS.Name
		if err := k.Create(ctx, s); err != nil {
			return err
		}
		if err := k.Create(ctx, session.NewSecret(s, "https://example.invalid/streaming/bare", expires, "10.128.3.7:22")); err != nil {
			return err
		}
		s.Status.Phase = accessv1alpha1.SessionReady
		s.Status.SecretName = s.Name
		s.Status.URLExpiresAt = &metav1.Time{Time: expires}
		s.Status.AccessEndsAt = &metav1.Time{Time: w.clk.Now().Add(ssWindow)}
		s.Status.Target = &accessv1alpha1.ResolvedTarget{Address: "10.128.3.7", Port: 22}
		return k.Status().Update(ctx, s)
	}); err != nil {
		b.Fatal(err)
	}
	bare := time.Since(start)
	w.must(k.DeleteAllOf(ctx, &accessv1alpha1.StreamingSession{}, client.InNamespace(bareNS.Name)))
	w.must(k.DeleteAllOf(ctx, &corev1.Secret{}, client.InNamespace(bareNS.Name)))

	// The operator: a manager watching every namespace (its Secret cache
	// holds only gatestream's Secrets), then N sessions at once.
	opts := manager.DefaultOptions()
	opts.MaxConcurrent = workers
	hwmBefore := ssProcStatus("VmHWM")
	reqs := &testenv.RequestCounter{}
	testenv.RunManager(b, testenv.Counting(env, reqs), opts, func(m *manager.Manager) error {
		return (&controllers.StreamingSessionReconciler{
			Client:                  m.GetClient(),
			Clients:                 clients.New(m.GetAPIReader(), clients.Options{AWSCallsPerSecond: 1e6, AWSRetryMaxBackoff: time.Millisecond}),
			Clock:                   w.clk,
			MaxConcurrentReconciles: workers,
			SkipNameValidation:      true,
		}).SetupWithManager(m)
	})
	// Readiness is followed with a watch (a List every few ms would load the
	// API server the operator shares).
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: manager.Scheme()})
	w.must(err)
	watcher, err := wc.Watch(ctx, &accessv1alpha1.StreamingSessionList{}, client.InNamespace(w.ns))
	w.must(err)
	defer watcher.Stop()
	b.ResetTimer()
	start = time.Now()
	createErr := make(chan error, 1)
	go func() {
		createErr <- ssParallel(nSessions, workers, func(i int) error {
			return k.Create(ctx, w.newSession(fmt.Sprintf("s-%04d", i), "user-a"))
		})
	}()
	var created time.Duration
	ready := map[string]bool{}
	timeout := time.After(10 * time.Minute)
	for len(ready) < nSessions {
		select {
		case err := <-createErr:
			if err != nil {
				b.Fatal(err)
			}
			created = time.Since(start)
		case ev, ok := <-watcher.ResultChan():
			if !ok {
				b.Fatal("watch ended")
			}
			if s, ok := ev.Object.(*accessv1alpha1.StreamingSession); ok && s.Status.Phase == accessv1alpha1.SessionReady {
				ready[s.Name] = true
			}
		case <-timeout:
			b.Fatalf("only %d of %d sessions Ready after 10 minutes", len(ready), nSessions)
		}
	}
	operator := time.Since(start)
	if created == 0 {
		if err := <-createErr; err != nil {
			b.Fatal(err)
		}
		created = operator
	}
	b.StopTimer()

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	hwm, rss := ssProcStatus("VmHWM"), ssProcStatus("VmRSS")
	if n := w.mints(); n != nSessions {
		b.Fatalf("CreateStreamingURL called %d times for %d sessions", n, nSessions)
	}
	fmt.Printf("sessions=%d workers=%d unrelated-secrets=%d\n", nSessions, workers, nSecrets)
	fmt.Printf("bare API writes (create session + create Secret + update status): %s\n", bare.Round(time.Millisecond))
	fmt.Printf("operator, creating the sessions until all are Ready: %s (the creates alone took %s)\n",
		operator.Round(time.Millisecond), created.Round(time.Millisecond))
	fmt.Printf("ratio operator/bare: %.2f\n", operator.Seconds()/bare.Seconds())
	fmt.Printf("peak RSS of the test process (VmHWM): %d MiB (before the manager started: %d MiB; VmRSS now %d MiB; Go heap in use %d MiB)\n",
		hwm/1024, hwmBefore/1024, rss/1024, ms.HeapInuse>>20)
	fmt.Printf("manager API requests: %s\n", testenv.Format(reqs.Snapshot()))
	b.ReportMetric(bare.Seconds(), "bare-s")
	b.ReportMetric(operator.Seconds(), "ready-s")
	b.ReportMetric(operator.Seconds()/bare.Seconds(), "ratio")
	b.ReportMetric(float64(hwm)/1024, "peak-rss-MiB")
}
