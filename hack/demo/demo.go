package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/hack/internal/controlplane"
	"github.com/gatestream/gatestream/internal/emulator"
	"github.com/gatestream/gatestream/internal/manager"
	"github.com/gatestream/gatestream/internal/repo"
)

// The demo's objects (config/samples/).
const (
	demoNamespace   = "line-a"
	systemNamespace = controlplane.SystemNamespace
	demoUser        = "user-a"
	managerUser     = "gatestream-manager"
	environmentName = "factory-floor"
	deviceGroupName = "line-a"
	envSample       = controlplane.EnvironmentSample
	dgSample        = "config/samples/access_v1alpha1_devicegroup.yaml"
	sessionSample   = "config/samples/access_v1alpha1_streamingsession.yaml"
	napterSample    = "config/samples/access_v1alpha1_streamingsession_napter.yaml"
)

// Delays of the emulated clouds: short, but long enough to watch the
// conditions move (a real VPG takes minutes, a fleet ~15 minutes).
const (
	vpgCreateDelay  = 3 * time.Second
	fleetStartDelay = 5 * time.Second
	// instanceStartDelay is how long the router (an EC2 instance) is pending.
	instanceStartDelay = 3 * time.Second
	stopDelay          = 3 * time.Second
)

// result is what a run started and printed.
type result struct {
	Workdir        string
	Kubeconfig     string // demo-admin, system:masters
	UserKubeconfig string // user-a
	EnvScript      string // demo-env.sh
	ManagerLog     string
	APIServerURL   string
	Processes      []process
	SoracomURL     string
	AppStreamURL   string
	EC2URL         string
	// Controllers are the controllers the manager runs (controller-runtime names).
	Controllers []string
	// URL is the streaming URL from the session's Secret ("" when the
	// DeviceGroup or StreamingSession controller is not registered).
	URL       string
	TimeToURL time.Duration
	// Napter is the Napter session's endpoint (host:port) and NapterBanner
	// what a TCP connection to it from this machine answered.
	Napter, NapterBanner string
}

// errInterrupted is returned when a signal stopped the demo before it was ready.
var errInterrupted = errors.New("interrupted")

// cleanupStep is one thing to undo, run in reverse order.
type cleanupStep struct {
	what string
	fn   func() error
}

// run starts everything, prints the result, waits for ctx (unless
// ExitAfterReady) and stops everything it started, in reverse order.
func run(ctx context.Context, opts options, stdout io.Writer) (res *result, err error) {
	t0 := time.Now()
	p := &printer{w: stdout, t0: t0}
	deadline := t0.Add(opts.Timeout)

	root, err := repo.Root()
	if err != nil {
		return nil, err
	}
	assets, err := assetsDir(root)
	if err != nil {
		return nil, err
	}
	workdir := opts.Workdir
	if workdir == "" {
		workdir = filepath.Join(root, "bin", "demo")
	}
	if workdir, err = filepath.Abs(workdir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(workdir, 0o700); err != nil {
		return nil, err
	}
	unlock, err := lockWorkdir(workdir)
	if err != nil {
		return nil, err
	}

	res = &result{
		Workdir:        workdir,
		Kubeconfig:     filepath.Join(workdir, "kubeconfig"),
		UserKubeconfig: filepath.Join(workdir, demoUser+".kubeconfig"),
		EnvScript:      filepath.Join(workdir, "demo-env.sh"),
		ManagerLog:     filepath.Join(workdir, "manager.log"),
	}
	logFile, err := os.Create(res.ManagerLog)
	if err != nil {
		unlock()
		return nil, err
	}
	log, err := manager.NewLogger("console", "info", logFile)
	if err != nil {
		unlock()
		return nil, err
	}
	// Everything that logs (controller-runtime, client-go) goes to the file, not the terminal.
	ctrl.SetLogger(log)
	klog.SetLogger(log)

	var cleanups []cleanupStep
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			c := cleanups[i]
			start := time.Now()
			if cerr := c.fn(); cerr != nil {
				p.step("stopping %s: %v", c.what, cerr)
				err = errors.Join(err, fmt.Errorf("stopping %s: %w", c.what, cerr))
			} else {
				p.step("stopped %s (%s)", c.what, time.Since(start).Round(100*time.Millisecond))
			}
		}
		closeQuietly(logFile)
		interrupted := ctx.Err() != nil
		if interrupted && err != nil {
			err = errInterrupted
		}
		switch {
		case err != nil && !interrupted:
			// Keep the logs the failure message points at; drop what only works while running.
			for _, f := range []string{res.Kubeconfig, res.UserKubeconfig, res.EnvScript,
				filepath.Join(workdir, "kube-controller-manager.kubeconfig"), filepath.Join(workdir, managerUser+".kubeconfig")} {
				_ = os.Remove(f)
			}
			p.step("logs kept in %s", relPath(workdir))
		case opts.KeepDir:
			p.step("kept %s (--keep-dir)", relPath(workdir))
		default:
			_ = os.RemoveAll(workdir)
		}
		unlock()
	}()
	undo := func(what string, fn func() error) { cleanups = append(cleanups, cleanupStep{what, fn}) }
	interrupted := func(e error) error {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return e
	}

	// 1. The control plane.
	p.step("starting etcd and kube-apiserver from %s", relPath(assets))
	cp, err := controlplane.Start(controlplane.Options{Root: root, Assets: assets, LogDir: workdir, ClusterName: "gatestream-demo"})
	if err != nil {
		return res, err
	}
	undo("kube-apiserver and etcd", cp.Stop)
	res.APIServerURL = cp.URL()
	p.step("kube-apiserver is serving at %s (%s); CRDs installed from config/crd/bases", res.APIServerURL, pidList(cp.Processes()))

	adminCfg, err := cp.AddUser("demo-admin", []string{"system:masters"}, res.Kubeconfig, demoNamespace)
	if err != nil {
		return res, err
	}
	kcmKubeconfig := filepath.Join(workdir, "kube-controller-manager.kubeconfig")
	if _, err := cp.AddUser("system:kube-controller-manager", []string{"system:masters"}, kcmKubeconfig, ""); err != nil {
		return res, err
	}
	userCfg, err := cp.AddUser(demoUser, []string{demoNamespace + ":operators"}, res.UserKubeconfig, demoNamespace)
	if err != nil {
		return res, err
	}
	managerCfg, err := cp.AddUser(managerUser, nil, filepath.Join(workdir, managerUser+".kubeconfig"), "")
	if err != nil {
		return res, err
	}

	kcmLog := filepath.Join(workdir, "kube-controller-manager.log")
	if err := cp.StartControllerManager(assets, kcmKubeconfig, kcmLog); err != nil {
		return res, err
	}
	undo("kube-controller-manager", cp.StopControllerManager)

	scheme := manager.Scheme()
	admin, err := client.New(adminCfg, client.Options{Scheme: scheme})
	if err != nil {
		return res, err
	}
	userClient, err := client.New(userCfg, client.Options{Scheme: scheme})
	if err != nil {
		return res, err
	}

	// 2. The clouds.
	cloud, err := emulator.Start(emulator.Options{
		VPGCreateDelay: vpgCreateDelay, VPGTerminateDelay: stopDelay,
		FleetStartDelay: fleetStartDelay, FleetStopDelay: stopDelay, InstanceStartDelay: instanceStartDelay,
		// Napter endpoints listen on 127.0.0.1 for real: the demo connects to one.
		NapterListen: true,
	})
	if err != nil {
		return res, err
	}
	undo("the cloud emulators", cloud.Close)
	if _, err := cloud.SeedDemo(); err != nil {
		return res, err
	}
	res.SoracomURL, res.AppStreamURL, res.EC2URL = cloud.SoracomURL, cloud.AppStreamURL, cloud.EC2URL
	p.step("cloud emulators serving, demo world seeded: SORACOM %s, AppStream %s, EC2 %s", cloud.SoracomURL, cloud.AppStreamURL, cloud.EC2URL)

	// 3. What a platform team installs: namespaces, credentials, RBAC, admission policy.
	nAdmission, err := installBasics(ctx, root, admin, cloud)
	if err != nil {
		return res, interrupted(err)
	}
	admissionNote := fmt.Sprintf("the StreamingSession admission policy (%d objects from config/admission)", nAdmission)
	if nAdmission == 0 {
		admissionNote = "no admission policy (config/admission/ is missing)"
	}
	p.step("applied namespaces %s and %s, Secrets %s and %s, RBAC (manager-role for the manager, a Role for %s), %s",
		demoNamespace, systemNamespace, emulator.SoracomSecretName, emulator.AWSSecretName, demoUser, admissionNote)

	if err := cp.WaitControllerManager(ctx, admin, kcmLog); err != nil {
		return res, interrupted(err)
	}
	res.Processes = cp.Processes()
	p.step("kube-controller-manager is running (pid %d): garbage collection, namespace deletion, service accounts", cp.ControllerManagerPID())

	// 4. The manager, in-process, as gatestream-manager bound to config/rbac/role.yaml.
	mopts := manager.DefaultOptions()
	mopts.MetricsAddr = "0"
	mopts.ProbeAddr = "127.0.0.1:0"
	mopts.LeaderElect = false
	mopts.LogFormat = "console"
	mopts.GracefulShutdownTime = 5 * time.Second
	mopts.AllowedEndpoints = []string{"http://127.0.0.1"} // the emulators
	mopts.SkipControllerNameValidation = true
	mgr, err := manager.New(managerCfg, mopts, log)
	if err != nil {
		return res, err
	}
	if err := manager.RegisterControllers(mgr, mopts); err != nil {
		return res, err
	}
	mgrCtx, stopManager := context.WithCancel(context.Background())
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- mgr.Start(mgrCtx) }()
	undo("the manager", func() error {
		stopManager()
		select {
		case err := <-mgrDone:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("the manager did not stop within 30s")
		}
	})
	res.Controllers, err = waitControllers(ctx, mgrDone)
	if err != nil {
		return res, interrupted(fmt.Errorf("%w (see %s)", err, relPath(res.ManagerLog)))
	}
	p.step("manager running in-process as %s (controllers: %s; probes http://%s/readyz; log %s)",
		managerUser, strings.Join(res.Controllers, ", "), mgr.ProbeAddr(), relPath(res.ManagerLog))
	hasDG := slices.Contains(res.Controllers, "devicegroup")
	hasSS := slices.Contains(res.Controllers, "streamingsession")

	// 5. The samples (not the session yet).
	if err := applySamples(ctx, root, admin, cloud.EnvironmentPatch()); err != nil {
		return res, interrupted(err)
	}
	p.step("applied %s (pointed at the emulators) and %s", envSample, dgSample)

	// 6. Wait for the environment and the device group.
	envKey := types.NamespacedName{Namespace: demoNamespace, Name: environmentName}
	dgKey := types.NamespacedName{Namespace: demoNamespace, Name: deviceGroupName}
	if !hasDG {
		p.step("the DeviceGroup controller is not registered (internal/manager.RegisterControllers): waiting for the environment only; skipping the DeviceGroup and the StreamingSession")
	}
	err = waitUntil(ctx, p, deadline, opts.Timeout, relPath(res.ManagerLog), func(ctx context.Context) observation {
		line, envReady, envStuck := environmentState(ctx, admin, envKey)
		o := observation{line: line, done: envReady, stuck: envStuck, objects: []types.NamespacedName{envKey}}
		if hasDG {
			dgLine, dgReady, dgStuck := deviceGroupState(ctx, admin, dgKey)
			o.line += " | " + dgLine
			o.done = envReady && dgReady
			o.objects = append(o.objects, dgKey)
			if envReady {
				o.stuck = dgStuck
			}
		}
		return o
	})
	if err != nil {
		return res, interrupted(err)
	}
	if hasDG {
		p.step("RemoteAccessEnvironment %s and DeviceGroup %s are Ready", envKey, dgKey)
	} else {
		p.step("RemoteAccessEnvironment %s is Ready", envKey)
	}

	// 7. A session, created by user-a (the admission policy checks spec.userId against the requester).
	if hasDG && hasSS {
		ssKey, err := createSession(ctx, root, sessionSample, userClient, nil)
		if err != nil {
			return res, interrupted(err)
		}
		p.step("created StreamingSession %s as %s (from %s)", ssKey, demoUser, sessionSample)
		last, sec, err := readySecret(ctx, p, admin, userClient, ssKey, deadline, opts.Timeout, relPath(res.ManagerLog))
		if err != nil {
			return res, interrupted(err)
		}
		res.URL = string(sec.Data[accessv1alpha1.SecretKeyURL])
		if res.URL == "" {
			return res, fmt.Errorf("Secret %s/%s has no %q key", sec.Namespace, sec.Name, accessv1alpha1.SecretKeyURL)
		}
		res.TimeToURL = time.Since(t0)
		for _, line := range pathLines(ctx, admin, cloud, envKey, dgKey, last) {
			p.step("%s", line)
		}

		// 8. The second way in: a Napter session, as user-a, open to this machine only.
		if err := napterSession(ctx, p, root, admin, userClient, res, deadline, opts.Timeout); err != nil {
			return res, interrupted(err)
		}
	} else if hasDG {
		p.step("the StreamingSession controller is not registered (internal/manager.RegisterControllers): skipping the session")
	}

	if err := writeEnvScript(res, root); err != nil {
		return res, err
	}
	printSummary(p, res, root, time.Since(t0))

	if opts.onReady != nil {
		if err := opts.onReady(res); err != nil {
			return res, err
		}
	}
	if opts.ExitAfterReady {
		p.step("--exit-after-ready: stopping")
		return res, nil
	}
	p.raw("\nRunning. Press Ctrl-C to stop and clean up.\n")
	<-ctx.Done()
	return res, nil
}

// installBasics applies namespaces, the credential Secrets, the manager's and
// user-a's RBAC, and the admission policy; it returns how many admission
// objects it applied.
func installBasics(ctx context.Context, root string, c client.Client, cloud *emulator.Cloud) (int, error) {
	var objs []*unstructured.Unstructured
	for _, ns := range []string{demoNamespace, systemNamespace} {
		o, err := toUnstructured(&corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: ns}})
		if err != nil {
			return 0, err
		}
		objs = append(objs, o)
	}
	secrets, err := decodeYAML([]byte(cloud.CredentialsManifests(demoNamespace)))
	if err != nil {
		return 0, err
	}
	objs = append(objs, secrets...)

	rbac, err := controlplane.ManagerRBAC(root, "gatestream-demo-manager", managerUser)
	if err != nil {
		return 0, err
	}
	objs = append(objs, rbac...)
	for _, obj := range rbacObjects() {
		o, err := toUnstructured(obj)
		if err != nil {
			return 0, err
		}
		objs = append(objs, o)
	}
	admission, err := admissionManifests(root)
	if err != nil {
		return 0, err
	}
	objs = append(objs, admission...)
	return len(admission), apply(ctx, c, objs...)
}

// rbacObjects let user-a ask for sessions in line-a and read their Secrets
// (the manager's binding is controlplane.ManagerRBAC).
func rbacObjects() []runtime.Object {
	const rbacGroup = "rbac.authorization.k8s.io"
	tm := func(kind string) metav1.TypeMeta { return metav1.TypeMeta{APIVersion: rbacGroup + "/v1", Kind: kind} }
	return []runtime.Object{
		&rbacv1.Role{
			TypeMeta:   tm("Role"),
			ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: "streamingsession-requester"},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{accessv1alpha1.GroupVersion.Group}, Resources: []string{"streamingsessions"},
					Verbs: []string{"create", "get", "list", "watch", "delete"}},
				{APIGroups: []string{accessv1alpha1.GroupVersion.Group}, Resources: []string{"remoteaccessenvironments", "devicegroups"},
					Verbs: []string{"get", "list", "watch"}},
				{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
				{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"get", "list", "watch"}},
			},
		},
		&rbacv1.RoleBinding{
			TypeMeta:   tm("RoleBinding"),
			ObjectMeta: metav1.ObjectMeta{Namespace: demoNamespace, Name: "streamingsession-requester-" + demoUser},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacGroup, Kind: "Role", Name: "streamingsession-requester"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacGroup, Kind: "User", Name: demoUser}},
		},
	}
}

// applySamples applies the sample environment, merge-patched to use the
// emulators, and the sample device group.
func applySamples(ctx context.Context, root string, c client.Client, envPatch string) error {
	envs, err := decodeFile(filepath.Join(root, envSample))
	if err != nil {
		return err
	}
	for _, e := range envs {
		if err := mergePatch(e, envPatch); err != nil {
			return fmt.Errorf("pointing %s at the emulators: %w", envSample, err)
		}
	}
	dgs, err := decodeFile(filepath.Join(root, dgSample))
	if err != nil {
		return err
	}
	return apply(ctx, c, append(envs, dgs...)...)
}

// createSession creates the sample StreamingSession with user-a's client,
// from the YAML as it is (as `kubectl create -f` sends it: durations such as
// "5m" stay as written).
func createSession(ctx context.Context, root, file string, c client.Client, edit func(*unstructured.Unstructured) error) (client.ObjectKey, error) {
	objs, err := decodeFile(filepath.Join(root, file))
	if err != nil {
		return client.ObjectKey{}, err
	}
	if len(objs) != 1 || objs[0].GetKind() != "StreamingSession" {
		return client.ObjectKey{}, fmt.Errorf("%s: want one StreamingSession", file)
	}
	ss := objs[0]
	if edit != nil {
		if err := edit(ss); err != nil {
			return client.ObjectKey{}, err
		}
	}
	if err := c.Create(ctx, ss); err != nil {
		return client.ObjectKey{}, fmt.Errorf("creating StreamingSession %s as %s: %w", objectKey(ss), demoUser, err)
	}
	return client.ObjectKeyFromObject(ss), nil
}

// readySecret waits with progress until the session is Ready and reads its
// Secret as user-a (the Role lets them get the Secrets of line-a).
func readySecret(ctx context.Context, p *printer, admin, user client.Client, key client.ObjectKey, deadline time.Time, timeout time.Duration, logPath string) (*accessv1alpha1.StreamingSession, *corev1.Secret, error) {
	var last *accessv1alpha1.StreamingSession
	if err := waitUntil(ctx, p, deadline, timeout, logPath, func(ctx context.Context) observation {
		o, s := sessionState(ctx, admin, key)
		if s != nil {
			last = s
		}
		return o
	}); err != nil {
		return nil, nil, err
	}
	var sec corev1.Secret
	if err := user.Get(ctx, types.NamespacedName{Namespace: demoNamespace, Name: last.Status.SecretName}, &sec); err != nil {
		return nil, nil, fmt.Errorf("reading the Secret of StreamingSession %s as %s: %w", key, demoUser, err)
	}
	return last, &sec, nil
}

// napterSession creates the sample Napter session as user-a, its source
// range narrowed to this machine (127.0.0.1/32: the emulator's Napter
// endpoints listen there), waits until it is Ready, and connects to the
// endpoint from its Secret.
func napterSession(ctx context.Context, p *printer, root string, admin, user client.Client, res *result, deadline time.Time, timeout time.Duration) error {
	key, err := createSession(ctx, root, napterSample, user, func(ss *unstructured.Unstructured) error {
		return unstructured.SetNestedStringSlice(ss.Object, []string{"127.0.0.1/32"}, "spec", "napter", "sourceRanges")
	})
	if err != nil {
		return err
	}
	p.step("created StreamingSession %s as %s (from %s, via Napter, open to 127.0.0.1/32)", key, demoUser, napterSample)
	_, sec, err := readySecret(ctx, p, admin, user, key, deadline, timeout, relPath(res.ManagerLog))
	if err != nil {
		return err
	}
	res.Napter = string(sec.Data[accessv1alpha1.SecretKeyEndpoint])
	if res.Napter == "" {
		return fmt.Errorf("Secret %s/%s has no %q key", sec.Namespace, sec.Name, accessv1alpha1.SecretKeyEndpoint)
	}
	banner, err := dialBanner(ctx, res.Napter)
	if err != nil {
		return fmt.Errorf("connecting to the Napter endpoint %s: %w", res.Napter, err)
	}
	res.NapterBanner = banner
	p.step("Napter endpoint %s (Secret %s) answered: %s", res.Napter, sec.Name, banner)
	return nil
}

// dialBanner connects to addr and returns the first line it sends.
func dialBanner(ctx context.Context, addr string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("no answer: %w", err)
	}
	return strings.TrimSpace(line), nil
}

// demoControllers are the controllers the demo's manager registers.
var demoControllers = []string{"devicegroup", "remoteaccessenvironment", "streamingsession"}

// waitControllers waits until the manager has started every controller and
// returns their names (controller-runtime registers a
// controller_runtime_max_concurrent_reconciles gauge per started controller).
func waitControllers(ctx context.Context, mgrDone chan error) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		names := startedControllers()
		if !slices.ContainsFunc(demoControllers, func(c string) bool { return !slices.Contains(names, c) }) {
			return names, nil
		}
		select {
		case err := <-mgrDone:
			mgrDone <- err
			return nil, fmt.Errorf("the manager stopped: %v", err)
		case <-ctx.Done():
			return nil, fmt.Errorf("the manager started %v, not all of %v, within 30s", names, demoControllers)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func startedControllers() []string {
	mfs, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return nil
	}
	var names []string
	for _, mf := range mfs {
		if mf.GetName() != "controller_runtime_max_concurrent_reconciles" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && !slices.Contains(names, l.GetValue()) {
					names = append(names, l.GetValue())
				}
			}
		}
	}
	slices.Sort(names)
	return names
}

// writeEnvScript writes demo-env.sh: KUBECONFIG (the admin) and PATH (bin/k8s, bin).
func writeEnvScript(res *result, root string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by `make demo` (hack/demo); valid while it runs. Use: . %s\n", shellQuote(res.EnvScript))
	fmt.Fprintf(&b, "export KUBECONFIG=%s\n", shellQuote(res.Kubeconfig))
	fmt.Fprintf(&b, "export PATH=%s:%s:\"$PATH\"\n", shellQuote(filepath.Join(root, "bin", "k8s")), shellQuote(filepath.Join(root, "bin")))
	fmt.Fprintf(&b, "# As %s instead: export KUBECONFIG=%s\n", demoUser, shellQuote(res.UserKubeconfig))
	return os.WriteFile(res.EnvScript, []byte(b.String()), 0o600)
}

// printSummary prints the URL, kubeconfigs, endpoints and what to try next.
func printSummary(p *printer, res *result, root string, took time.Duration) {
	kubectl := relPath(filepath.Join(root, "bin", "k8s", "kubectl"))
	admin := kubectl + " --kubeconfig " + relPath(res.Kubeconfig) + " -n " + demoNamespace
	user := kubectl + " --kubeconfig " + relPath(res.UserKubeconfig) + " -n " + demoNamespace
	sample := relPath(filepath.Join(root, sessionSample))

	var b strings.Builder
	fmt.Fprintf(&b, "\ngatestream demo is ready (%s).\n\n", took.Round(time.Second))
	if res.URL != "" {
		fmt.Fprintf(&b, "Streaming URL for %s (TeraTerm to raspi-1:22; opens once, within 5 minutes):\n  %s\n\n", demoUser, res.URL)
	}
	if res.Napter != "" {
		host, port, _ := net.SplitHostPort(res.Napter)
		fmt.Fprintf(&b, "Napter endpoint for %s (raspi-1:22, open to 127.0.0.1/32 for an hour):\n  %s   (try: nc %s %s, or ssh -p %s %s)\n\n", demoUser, res.Napter, host, port, port, host)
	}
	if res.URL != "" {
	} else {
		missing := "StreamingSession"
		if !slices.Contains(res.Controllers, "devicegroup") {
			missing = "DeviceGroup"
		}
		fmt.Fprintf(&b, "No streaming URL: the %s controller is not registered in this build (internal/manager.RegisterControllers).\n\n", missing)
	}
	fmt.Fprintf(&b, "Kubeconfigs:\n")
	fmt.Fprintf(&b, "  admin   %s   (demo-admin, system:masters)\n", relPath(res.Kubeconfig))
	fmt.Fprintf(&b, "  %s  %s   (may create StreamingSessions for itself in %s and read their Secrets)\n", demoUser, relPath(res.UserKubeconfig), demoNamespace)
	fmt.Fprintf(&b, "  shell   . %s   (exports KUBECONFIG=admin, puts bin/k8s and bin on PATH)\n\n", relPath(res.EnvScript))
	fmt.Fprintf(&b, "Endpoints:\n  kube-apiserver  %s\n  SORACOM API     %s\n  AppStream API   %s\n  EC2 API         %s\n",
		res.APIServerURL, res.SoracomURL, res.AppStreamURL, res.EC2URL)
	fmt.Fprintf(&b, "Processes: %s\n", pidList(res.Processes))
	fmt.Fprintf(&b, "Logs: %s (manager), kube-controller-manager.log, kube-apiserver.log, etcd.log\n\n", relPath(res.ManagerLog))

	fmt.Fprintf(&b, "Try next:\n")
	fmt.Fprintf(&b, "  %s get rae,dg,ss\n", admin)
	fmt.Fprintf(&b, "  %s describe rae %s\n", admin, environmentName)
	fmt.Fprintf(&b, "  %s get dg %s -o jsonpath='{.status.devices}'\n", admin, deviceGroupName)
	fmt.Fprintf(&b, "  # another session, as %s; its URL lands in the Secret named in status.secretName (<session>-url)\n", demoUser)
	fmt.Fprintf(&b, "  sed 's/name: user-a-raspi-1/name: user-a-raspi-1-b/' %s | %s create -f -\n", sample, user)
	fmt.Fprintf(&b, "  %s get ss user-a-raspi-1-b -w\n", user)
	fmt.Fprintf(&b, "  %s get secret user-a-raspi-1-b-url -o jsonpath='{.data.url}' | base64 -d; echo\n", user)
	fmt.Fprintf(&b, "  # a session for someone else, as %s: refused by the admission policy\n", demoUser)
	fmt.Fprintf(&b, "  sed -e 's/name: user-a-raspi-1/name: for-user-b/' -e 's/userId: user-a/userId: user-b/' %s | %s create -f -\n", sample, user)
	if _, err := os.Stat(filepath.Join(root, "cmd", "kubectl-gatestream")); err == nil {
		plugin := "go run ./cmd/kubectl-gatestream"
		if _, err := os.Stat(filepath.Join(root, "bin", "kubectl-gatestream")); err == nil {
			plugin = relPath(filepath.Join(root, "bin", "kubectl-gatestream"))
		}
		fmt.Fprintf(&b, "  # the kubectl plugin, as %s (after `. %s`: kubectl gatestream …)\n", demoUser, relPath(res.EnvScript))
		fmt.Fprintf(&b, "  %s --kubeconfig %s -n %s devices\n", plugin, relPath(res.UserKubeconfig), demoNamespace)
		fmt.Fprintf(&b, "  %s --kubeconfig %s -n %s connect plc-7\n", plugin, relPath(res.UserKubeconfig), demoNamespace)
	}
	fmt.Fprintf(&b, "  # end a session: its AppStream sessions are expired and its Secret goes with it\n")
	fmt.Fprintf(&b, "  %s delete ss user-a-raspi-1 && %s get secrets\n", admin, admin)
	p.raw("%s", b.String())
}

func pidList(procs []process) string {
	parts := make([]string, 0, len(procs))
	for _, pr := range procs {
		parts = append(parts, fmt.Sprintf("%s pid %d", pr.Name, pr.PID))
	}
	if len(parts) == 0 {
		return "pids unknown"
	}
	return strings.Join(parts, ", ")
}

// relPath shortens path relative to the working directory when it is below it.
func relPath(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	rel, err := filepath.Rel(wd, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return path
	}
	return rel
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// lockWorkdir refuses a work directory that another running demo uses.
func lockWorkdir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, "demo.pid")
	if data, err := os.ReadFile(path); err == nil {
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(data))); pid > 0 && pid != os.Getpid() && syscall.Kill(pid, 0) == nil {
			return nil, fmt.Errorf("another demo (pid %d) is running with %s: stop it (Ctrl-C there) or pass --workdir", pid, dir)
		}
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return nil, err
	}
	return func() { _ = os.Remove(path) }, nil
}
