package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/manager"
	"github.com/gatestream/gatestream/internal/repo"
	"github.com/gatestream/gatestream/internal/testenv"
)

// TestDemoEndToEnd runs the demo as `make demo --exit-after-ready` does, in
// process: real etcd, kube-apiserver and kube-controller-manager, the
// emulators, the manager and the samples. While it runs, the printed
// kubeconfigs work (and user-a's is limited by RBAC); afterwards nothing it
// started is left.
func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane: not in -short")
	}
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := assetsDir(root); err != nil {
		t.Skipf("the demo needs the control plane binaries, kube-controller-manager included: %v", err)
	}
	// The DeviceGroup and StreamingSession steps run when the manager registers
	// those controllers; then the URL is required.
	src, err := os.ReadFile(filepath.Join(root, "internal", "manager", "manager.go"))
	if err != nil {
		t.Fatal(err)
	}
	wantDG := bytes.Contains(src, []byte("DeviceGroupReconciler{"))
	wantURL := wantDG && bytes.Contains(src, []byte("StreamingSessionReconciler{"))

	workdir := filepath.Join(t.TempDir(), "demo")
	var out testenv.SyncBuffer
	onReadyRan := false
	opts := options{
		Timeout:        75 * time.Second,
		Workdir:        workdir,
		ExitAfterReady: true,
		onReady: func(r *result) error {
			onReadyRan = true
			checkWhileRunning(t, r, wantURL)
			return nil
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 85*time.Second)
	defer cancel()
	start := time.Now()
	res, err := run(ctx, opts, &out)
	t.Logf("demo output (%s):\n%s", time.Since(start).Round(time.Second), out.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if !onReadyRan {
		t.Fatal("the demo returned without reaching the ready point")
	}
	stdout := out.String()

	// Progress: time-stamped lines naming what converges, then Ready.
	progress := regexp.MustCompile(`(?m)^\[\s*\d+s\] RemoteAccessEnvironment line-a/factory-floor: `)
	if n := len(progress.FindAllString(stdout, -1)); n < 2 {
		t.Errorf("want at least 2 progress lines for the environment, got %d", n)
	}
	for _, want := range []string{
		"RemoteAccessEnvironment line-a/factory-floor: Ready=True",
		"kube-controller-manager is running",
		"gatestream demo is ready",
		res.Kubeconfig, res.UserKubeconfig, res.EnvScript,
		"Try next:", "get rae,dg,ss",
		"stopped kube-apiserver and etcd",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	if wantDG {
		if !slices.Contains(res.Controllers, "devicegroup") {
			t.Errorf("manager.go registers a DeviceGroupReconciler but the manager ran %v", res.Controllers)
		}
		if !strings.Contains(stdout, "DeviceGroup line-a/line-a: Ready=True") {
			t.Error("stdout lacks the DeviceGroup becoming Ready")
		}
	}
	if wantURL {
		if !strings.HasPrefix(res.URL, res.AppStreamURL+"/") || !strings.Contains(stdout, res.URL) {
			t.Errorf("want a streaming URL under %s printed, got %q", res.AppStreamURL, res.URL)
		}
		// The second way in: a Napter endpoint that answered as raspi-1's SSH.
		if !strings.HasPrefix(res.Napter, "127.0.0.1:") || !strings.Contains(stdout, res.Napter) ||
			res.NapterBanner != "SSH-2.0-gatestream-emulator raspi-1" {
			t.Errorf("want a Napter endpoint on 127.0.0.1 printed that answers as raspi-1's SSH, got %q answering %q", res.Napter, res.NapterBanner)
		}
	} else {
		t.Logf("DeviceGroup controller registered: %v, StreamingSession controller registered: %v: no URL expected", wantDG, wantURL)
	}

	// Nothing is left: the processes, the ports, the work directory.
	if len(res.Processes) != 3 {
		t.Errorf("want 3 child processes reported (etcd, kube-apiserver, kube-controller-manager), got %v", res.Processes)
	}
	assertProcessesGone(t, res)
	for _, u := range []string{res.APIServerURL, res.SoracomURL, res.AppStreamURL, res.EC2URL} {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := net.DialTimeout("tcp", pu.Host, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the demo ended", u)
		}
	}
	if _, err := os.Stat(workdir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the work directory %s is still there (err %v)", workdir, err)
	}
}

// checkWhileRunning uses the printed kubeconfigs against the running demo.
func checkWhileRunning(t *testing.T, r *result, wantURL bool) {
	t.Helper()
	ctx := context.Background()
	clientFor := func(path string) client.Client {
		t.Helper()
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			t.Fatalf("kubeconfig %s: %v", path, err)
		}
		c, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	admin := clientFor(r.Kubeconfig)
	var envs accessv1alpha1.RemoteAccessEnvironmentList
	if err := admin.List(ctx, &envs, client.InNamespace(demoNamespace)); err != nil {
		t.Errorf("listing environments with %s: %v", r.Kubeconfig, err)
	} else if len(envs.Items) != 1 {
		t.Errorf("want 1 environment in %s, got %d", demoNamespace, len(envs.Items))
	}

	// kube-controller-manager collects garbage: an object owned by a deleted
	// owner goes away (envtest alone never does this).
	owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "gc-owner"}}
	if err := admin.Create(ctx, owner); err != nil {
		t.Fatal(err)
	}
	dependent := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "gc-dependent",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID}}}}
	if err := admin.Create(ctx, dependent); err != nil {
		t.Fatal(err)
	}
	if err := admin.Delete(ctx, owner); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "the dependent ConfigMap is garbage collected", func() error {
		err := admin.Get(ctx, types.NamespacedName{Namespace: "default", Name: dependent.Name}, &corev1.ConfigMap{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (err %v)", err)
	})

	// user-a: may read sessions and get Secrets in line-a, may not list Secrets.
	user := clientFor(r.UserKubeconfig)
	var sessions accessv1alpha1.StreamingSessionList
	if err := user.List(ctx, &sessions, client.InNamespace(demoNamespace)); err != nil {
		t.Errorf("user-a listing sessions: %v", err)
	}
	if wantURL && len(sessions.Items) != 2 {
		t.Errorf("want user-a's two sessions (AppStream and Napter) in %s, got %d sessions", demoNamespace, len(sessions.Items))
	}
	if err := user.List(ctx, &corev1.SecretList{}, client.InNamespace(demoNamespace)); !apierrors.IsForbidden(err) {
		t.Errorf("user-a listing Secrets: want Forbidden, got %v", err)
	}

	script, err := os.ReadFile(r.EnvScript)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), "export KUBECONFIG='"+r.Kubeconfig+"'") {
		t.Errorf("demo-env.sh does not export the admin kubeconfig:\n%s", script)
	}
}

func TestParseFlags(t *testing.T) {
	var stderr bytes.Buffer
	o, err := parseFlags([]string{"--timeout", "90s", "--keep-dir", "--exit-after-ready", "--workdir", "/tmp/x"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if o.Timeout != 90*time.Second || !o.KeepDir || !o.ExitAfterReady || o.Workdir != "/tmp/x" {
		t.Fatalf("parsed %+v", o)
	}
	if _, err := parseFlags([]string{"extra"}, &stderr); err == nil {
		t.Fatal("want an error for a positional argument")
	}
	if _, err := parseFlags([]string{"--timeout", "0s"}, &stderr); err == nil {
		t.Fatal("want an error for --timeout 0")
	}
}

func TestConditionsLineAndStuck(t *testing.T) {
	conds := []metav1.Condition{
		{Type: "GatewayReady", Status: metav1.ConditionTrue, Reason: "Available"},
		{Type: "PeeringReady", Status: metav1.ConditionFalse, Reason: "PeeringPending", Message: "waiting for acceptance"},
		{Type: "Synced", Status: metav1.ConditionTrue, Reason: "ReconcileSuccess"},
		{Type: "Ready", Status: metav1.ConditionFalse, Reason: "NotReady"},
	}
	if got, want := conditionsLine(conds), "Ready=False(NotReady) GatewayReady=True PeeringReady=False(PeeringPending) Synced=True"; got != want {
		t.Errorf("conditionsLine:\n got %s\nwant %s", got, want)
	}
	if got := stuckCondition("RemoteAccessEnvironment", "line-a/factory-floor", conds); !strings.Contains(got, "PeeringReady=False (PeeringPending): waiting for acceptance") {
		t.Errorf("stuckCondition: %s", got)
	}
	conds[2] = metav1.Condition{Type: "Synced", Status: metav1.ConditionFalse, Reason: "APIError", Message: "503"}
	if got := stuckCondition("RemoteAccessEnvironment", "line-a/factory-floor", conds); !strings.Contains(got, "Synced=False (APIError): 503") {
		t.Errorf("stuckCondition prefers Synced=False: %s", got)
	}
	if got := stuckCondition("DeviceGroup", "line-a/line-a", nil); !strings.Contains(got, "no status") {
		t.Errorf("stuckCondition without status: %s", got)
	}
	if readyNow(conds, 1, 1) {
		t.Error("readyNow with Ready=False")
	}
	ready := []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, ObservedGeneration: 1}}
	if !readyNow(ready, 1, 1) || readyNow(ready, 2, 1) {
		t.Error("readyNow must require the current generation")
	}
}

func TestLastLoggedError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "manager.log")
	log := strings.Join([]string{
		`2026-01-01T00:00:00.000Z	INFO	starting`,
		`2026-01-01T00:00:01.000Z	ERROR	controller/controller.go:497	Reconciler error	{"controller": "streamingsession", "name": "s1", "namespace": "line-a", "error": "first"}`,
		`2026-01-01T00:00:02.000Z	ERROR	controller/controller.go:497	Reconciler error	{"controller": "streamingsession", "name": "other", "namespace": "line-a", "error": "not this"}`,
		`2026-01-01T00:00:03.000Z	ERROR	controller/controller.go:497	Reconciler error	{"controller": "streamingsession", "name": "s1", "namespace": "line-a", "error": "spec is immutable"}`,
		`2026-01-01T00:00:04.000Z	INFO	later`,
	}, "\n")
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	got := lastLoggedError(path, []types.NamespacedName{{Namespace: "line-a", Name: "s1"}})
	if !strings.Contains(got, "line-a/s1: spec is immutable") {
		t.Errorf("lastLoggedError: %q", got)
	}
	if got := lastLoggedError(path, []types.NamespacedName{{Namespace: "line-a", Name: "none"}}); got != "" {
		t.Errorf("lastLoggedError for an object never logged: %q", got)
	}
}

// assertProcessesGone checks that every process the demo started has exited.
func assertProcessesGone(t *testing.T, res *result) {
	t.Helper()
	for _, p := range res.Processes {
		testenv.Eventually(t, 5*time.Second, fmt.Sprintf("%s (pid %d) exits after the demo ended", p.Name, p.PID), func() error {
			if alive(p.PID) {
				return errors.New("still running")
			}
			return nil
		})
	}
}
