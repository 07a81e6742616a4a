package controllers_test

// Helpers of the StreamingSession tests: an AppStream emulator on a fake
// clock served over real HTTP, with a running fleet associated with a stack
// (created through the operator's own AWS adapter); a namespace with the AWS
// credentials Secret, a RemoteAccessEnvironment and a DeviceGroup whose status
// is set by hand (their controllers do not run here); RBAC for the people the
// tests impersonate; and the StreamingSessionReconciler in a manager against
// the real API server.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/appstream"
	astypes "github.com/aws/aws-sdk-go-v2/service/appstream/types"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/controllers"
	gsaws "github.com/gatestream/gatestream/internal/aws"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/conditions"
	awsemu "github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	"github.com/gatestream/gatestream/internal/manager"
	"github.com/gatestream/gatestream/internal/session"
	"github.com/gatestream/gatestream/internal/testenv"
)

const (
	ssEnvName     = "factory-floor"
	ssGroupName   = "line-a"
	ssFleet       = "factory-fleet"
	ssStack       = "factory-stack"
	ssImage       = "TeraTerm-Image"
	ssRegion      = "ap-northeast-1"
	ssAccessKey   = "AKIASTREAMSESSION001"
	ssSecretKey   = "streamingSession/Secret+Key/Example0123"
	ssCredentials = "aws-credentials"
	ssAdminGroup  = "gatestream:admins"
	ssTeamGroup   = "team-line-a"
	ssWait        = 15 * time.Second
	ssValidity    = 5 * time.Minute
	ssWindow      = time.Hour
)

// ssWorld is one test's world.
type ssWorld struct {
	t      testing.TB
	ctx    context.Context
	clk    *clocktesting.FakeClock
	world  *awsemu.World
	faults *fault.Injector
	asURL  string
	api    gsaws.AppStreamAPI
	ns     string
	mgr    *manager.Manager
	// requests, when set before start, counts the manager's API requests.
	requests *testenv.RequestCounter
}

func newSSWorld(t testing.TB) *ssWorld {
	t.Helper()
	w := &ssWorld{t: t, ctx: context.Background(), clk: clocktesting.NewFakeClock(time.Now().Truncate(time.Second)), faults: fault.New(1)}
	w.world = awsemu.New(awsemu.Options{Clock: w.clk, Faults: w.faults, Region: ssRegion})
	srv := httptest.NewServer(w.world.AppStreamHandler())
	t.Cleanup(srv.Close)
	w.asURL = srv.URL
	w.world.SetStreamingBaseURL(srv.URL)
	w.world.AddVPC("vpc-0abc1234", "10.0.0.0/16")
	w.world.AddSubnet("subnet-0a1b2c3d", "vpc-0abc1234", "10.0.1.0/24", "ap-northeast-1a")
	w.world.AddImage(ssImage, "AVAILABLE",
		awsemu.Application{Name: "teraterm"}, awsemu.Application{Name: "rdp"}, awsemu.Application{Name: "firefox"})

	// Fleet, stack and association, as the environment's controller would leave them.
	c, err := gsaws.New(w.ctx, gsaws.Config{Region: ssRegion, AppStreamEndpoint: srv.URL, RetryMaxAttempts: 1,
		Static: &gsaws.StaticCredentials{AccessKeyID: ssAccessKey, SecretAccessKey: ssSecretKey}})
	w.must(err)
	w.api = c.AppStream
	_, err = w.api.CreateFleet(w.ctx, &appstream.CreateFleetInput{
		Name: awssdk.String(ssFleet), ImageName: awssdk.String(ssImage), InstanceType: awssdk.String("stream.standard.medium"),
		FleetType: astypes.FleetTypeOnDemand, ComputeCapacity: &astypes.ComputeCapacity{DesiredInstances: awssdk.Int32(4)},
		MaxUserDurationInSeconds: awssdk.Int32(7200), DisconnectTimeoutInSeconds: awssdk.Int32(300),
		VpcConfig: &astypes.VpcConfig{SubnetIds: []string{"subnet-0a1b2c3d"}},
	})
	w.must(err)
	_, err = w.api.CreateStack(w.ctx, &appstream.CreateStackInput{Name: awssdk.String(ssStack)})
	w.must(err)
	w.must(w.api.AssociateFleet(w.ctx, ssStack, ssFleet))
	w.must(w.api.StartFleet(w.ctx, ssFleet))
	w.faults.ClearLog()

	k := env.Client
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ss-"}}
	w.must(k.Create(w.ctx, ns))
	w.ns = ns.Name
	w.must(k.Create(w.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: ssCredentials},
		StringData: map[string]string{clients.KeyAWSAccessKeyID: ssAccessKey, clients.KeyAWSSecretAccessKey: ssSecretKey},
	}))

	rae := &accessv1alpha1.RemoteAccessEnvironment{}
	w.readSample("access_v1alpha1_remoteaccessenvironment.yaml", rae)
	rae.Namespace, rae.Name = w.ns, ssEnvName
	rae.Spec.AWS.Endpoints = &accessv1alpha1.AWSEndpoints{AppStream: srv.URL, EC2: srv.URL}
	rae.Spec.AWS.CredentialsSecretRef = &accessv1alpha1.SecretReference{Name: ssCredentials}
	// The tests create many sessions for one user; TestStreamingSessionLimitPerUser sets the limit it tests.
	rae.Spec.SessionLimits = &accessv1alpha1.SessionLimits{PerUser: 100, Total: 1000}
	w.must(k.Create(w.ctx, rae))
	w.setEnvReady(true)

	dg := &accessv1alpha1.DeviceGroup{}
	w.readSample("access_v1alpha1_devicegroup.yaml", dg)
	dg.Namespace, dg.Name = w.ns, ssGroupName
	w.must(k.Create(w.ctx, dg))
	// Reachability is the environment's (setEnvReady), not the group's copy.
	dg.Status.Devices = []accessv1alpha1.DeviceStatus{
		{Name: "raspi-1", SIMID: "8981100000000000001", Online: true, Address: "10.128.3.7"},
		{Name: "plc-7", SIMID: "8981100000000000002", Online: false, Address: "192.168.1.20"},
	}
	w.must(k.Status().Update(w.ctx, dg))

	// Team RBAC (the API server enforces it for impersonated users): members
	// of the team group create, read and delete sessions and read their Secrets.
	w.must(k.Create(w.ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "streaming-session-requester"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{accessv1alpha1.GroupVersion.Group}, Resources: []string{"streamingsessions"},
				Verbs: []string{"create", "get", "list", "watch", "delete"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch"}},
		},
	}))
	w.must(k.Create(w.ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "streaming-session-requester"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "streaming-session-requester"},
		Subjects: []rbacv1.Subject{
			{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: ssTeamGroup},
			{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: ssAdminGroup},
		},
	}))
	return w
}

func (w *ssWorld) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *ssWorld) readSample(file string, into any) {
	w.t.Helper()
	data, err := os.ReadFile(filepath.Join(env.Root, "config", "samples", file))
	w.must(err)
	w.must(yaml.Unmarshal(data, into))
}

func (w *ssWorld) setEnvReady(ready bool) {
	w.t.Helper()
	var rae accessv1alpha1.RemoteAccessEnvironment
	w.must(env.Client.Get(w.ctx, types.NamespacedName{Namespace: w.ns, Name: ssEnvName}, &rae))
	if ready {
		conditions.True(&rae.Status.Conditions, rae.Generation, accessv1alpha1.ConditionReady, "Available", "ready")
	} else {
		conditions.False(&rae.Status.Conditions, rae.Generation, accessv1alpha1.ConditionReady, "FleetStarting", "the fleet is starting")
	}
	rae.Status.Fleet = &accessv1alpha1.FleetStatus{Name: ssFleet, State: "RUNNING"}
	rae.Status.Stack = &accessv1alpha1.StackStatus{Name: ssStack, Associated: true}
	if rae.Status.Path == nil {
		// The environment's path check: raspi-1 reachable; plc-7 (offline) not.
		rae.Status.Path = &accessv1alpha1.PathStatus{Devices: []accessv1alpha1.DevicePath{
			{DeviceGroup: ssGroupName, Device: "raspi-1", Address: "10.128.3.7", Reachable: true, Path: "reachable via i-0abc (subnet-0a1b2c3d → rtb-0abc1234 → …)"},
			{DeviceGroup: ssGroupName, Device: "plc-7", Address: "192.168.1.20", Path: "FleetRoute: route table rtb-0abc1234 has no route to 192.168.1.0/24"},
		}}
	}
	w.must(env.Client.Status().Update(w.ctx, &rae))
}

// setDevicePath records the environment's path check of one device.
func (w *ssWorld) setDevicePath(device string, reachable bool, path string) {
	w.t.Helper()
	var rae accessv1alpha1.RemoteAccessEnvironment
	w.must(env.Client.Get(w.ctx, types.NamespacedName{Namespace: w.ns, Name: ssEnvName}, &rae))
	for i := range rae.Status.Path.Devices {
		if d := &rae.Status.Path.Devices[i]; d.Device == device {
			d.Reachable, d.Path = reachable, path
		}
	}
	w.must(env.Client.Status().Update(w.ctx, &rae))
}

// start runs the manager with the StreamingSession controller; with a
// logger, logs go there (else testenv's default).
func (w *ssWorld) start(log *logr.Logger) {
	w.t.Helper()
	opts := manager.DefaultOptions()
	opts.WatchNamespaces = []string{w.ns}
	setup := func(m *manager.Manager) error {
		// The manager's wiring: credential Secrets labelled in use come from
		// their own informer, others from the API server.
		factory, err := clients.ForManager(m, opts.WatchNamespaces, clients.Options{AWSCallsPerSecond: 1000, AWSRetryMaxBackoff: time.Millisecond, AllowedEndpoints: emulatorEndpoints})
		if err != nil {
			return err
		}
		return (&controllers.StreamingSessionReconciler{
			Client:                  m.GetClient(),
			APIReader:               m.GetAPIReader(),
			Clients:                 factory,
			Recorder:                m.GetEventRecorder(controllers.StreamingSessionRecorderName),
			Clock:                   w.clk,
			MaxConcurrentReconciles: 4,
			SkipNameValidation:      true,
		}).SetupWithManager(m)
	}
	e := env
	if w.requests != nil {
		e = testenv.Counting(env, w.requests)
	}
	if log == nil {
		w.mgr = testenv.RunManager(w.t, e, opts, setup)
		return
	}
	w.mgr = ssRunManager(w.t, e, opts, *log, setup)
}

// ssRunManager is testenv.RunManager with a chosen logger.
func ssRunManager(t testing.TB, e *testenv.Env, opts manager.Options, log logr.Logger, setup func(*manager.Manager) error) *manager.Manager {
	t.Helper()
	opts.MetricsAddr, opts.ProbeAddr, opts.LeaderElect = "0", "0", false
	mgr, err := manager.New(e.Config, opts, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := setup(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatal("manager caches did not sync")
	}
	return mgr
}

// user returns a client that acts as user (impersonation): the API server's
// RBAC and admission policies apply to it. Members of the team group unless
// other groups are given.
func (w *ssWorld) user(user string, groups ...string) client.Client {
	w.t.Helper()
	cfg := rest.CopyConfig(env.Config)
	if len(groups) == 0 {
		groups = []string{ssTeamGroup}
	}
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: append(groups, "system:authenticated")}
	c, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	w.must(err)
	return c
}

// newSession is a session for user to raspi-1's SSH port.
func (w *ssWorld) newSession(name, user string) *accessv1alpha1.StreamingSession {
	port := intstr.FromString("ssh")
	return &accessv1alpha1.StreamingSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: name},
		Spec: accessv1alpha1.StreamingSessionSpec{
			EnvironmentRef: accessv1alpha1.LocalObjectReference{Name: ssEnvName},
			UserID:         user,
			Application:    "teraterm",
			Target:         &accessv1alpha1.SessionTarget{DeviceGroup: ssGroupName, Device: "raspi-1", Port: &port},
			URLValidity:    metav1.Duration{Duration: ssValidity},
			AccessWindow:   metav1.Duration{Duration: ssWindow},
		},
	}
}

func (w *ssWorld) get(name string) *accessv1alpha1.StreamingSession {
	w.t.Helper()
	var s accessv1alpha1.StreamingSession
	w.must(env.Client.Get(w.ctx, types.NamespacedName{Namespace: w.ns, Name: name}, &s))
	return &s
}

func (w *ssWorld) secret(name string) (*corev1.Secret, error) {
	var sec corev1.Secret
	err := env.Client.Get(w.ctx, types.NamespacedName{Namespace: w.ns, Name: name}, &sec)
	return &sec, err
}

// urlSecret reads the URL Secret of the session named name (its name + "-url").
func (w *ssWorld) urlSecret(name string) (*corev1.Secret, error) {
	return w.secret(session.URLSecretName(name))
}

func ssDescribe(s *accessv1alpha1.StreamingSession) string {
	c := conditions.Get(s.Status.Conditions, accessv1alpha1.ConditionReady)
	if c == nil {
		return fmt.Sprintf("phase %q, no Ready condition", s.Status.Phase)
	}
	return fmt.Sprintf("phase %q, Ready=%s %s: %s", s.Status.Phase, c.Status, c.Reason, c.Message)
}

// waitPhase waits until the session is in phase with that Ready reason ("" any).
func (w *ssWorld) waitPhase(name string, phase accessv1alpha1.SessionPhase, reason string) *accessv1alpha1.StreamingSession {
	w.t.Helper()
	var s *accessv1alpha1.StreamingSession
	testenv.Eventually(w.t, ssWait, name+" "+string(phase)+" "+reason, func() error {
		s = w.get(name)
		c := conditions.Get(s.Status.Conditions, accessv1alpha1.ConditionReady)
		if s.Status.Phase != phase || (reason != "" && (c == nil || c.Reason != reason)) {
			return errors.New(ssDescribe(s))
		}
		return nil
	})
	return s
}

// deliveredURLs watches the URL Secret of the session named name from now
// on and returns a function that reports every URL the Secret has held, in order (each once), as far as
// the watch has delivered them. The one-URL invariant is that it never holds
// a second URL while its session lives.
func (w *ssWorld) deliveredURLs(name string) func() []string {
	w.t.Helper()
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: manager.Scheme()})
	w.must(err)
	watcher, err := wc.Watch(w.ctx, &corev1.SecretList{}, client.InNamespace(w.ns), client.MatchingFields{"metadata.name": session.URLSecretName(name)})
	w.must(err)
	w.t.Cleanup(watcher.Stop)
	var mu sync.Mutex
	var urls []string
	go func() {
		for ev := range watcher.ResultChan() {
			if sec, ok := ev.Object.(*corev1.Secret); ok {
				mu.Lock()
				if u := string(sec.Data["url"]); u != "" && (len(urls) == 0 || urls[len(urls)-1] != u) {
					urls = append(urls, u)
				}
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), urls...)
	}
}

// oneDeliveredURL waits until the watch has seen the current URL of the
// session's Secret and checks that it is the only URL the Secret ever held.
func (w *ssWorld) oneDeliveredURL(name string, delivered func() []string) string {
	w.t.Helper()
	sec, err := w.urlSecret(name)
	w.must(err)
	url := string(sec.Data["url"])
	testenv.Eventually(w.t, ssWait, "the watch sees the URL of Secret "+name, func() error {
		if got := delivered(); len(got) == 0 || got[len(got)-1] != url {
			return fmt.Errorf("%d URLs seen, not the current one", len(got))
		}
		return nil
	})
	if got := delivered(); len(got) != 1 || got[0] == "" {
		w.t.Fatalf("Secret %s held %d different URLs; at most one may ever be delivered", name, len(got))
	}
	return url
}

// labelCredentialsInUse labels the AWS credentials Secret as the
// environment's controller does, so that it comes from the credentials informer.
func (w *ssWorld) labelCredentialsInUse() {
	w.t.Helper()
	sec, err := w.secret(ssCredentials)
	w.must(err)
	orig := sec.DeepCopy()
	sec.Labels = map[string]string{clients.LabelCredentials: clients.LabelCredentialsInUse}
	w.must(env.Client.Patch(w.ctx, sec, client.MergeFrom(orig)))
}

// installFinalizerPolicy installs config/admission's MutatingAdmissionPolicy
// that adds the StreamingSession finalizer at create, bound to this test's
// namespace only, and waits until the API server applies it.
func (w *ssWorld) installFinalizerPolicy() {
	w.t.Helper()
	data, err := os.ReadFile(filepath.Join(env.Root, "config", "admission", "streamingsession_finalizer.yaml"))
	w.must(err)
	var policy string
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var u unstructured.Unstructured
		w.must(yaml.Unmarshal([]byte(doc), &u.Object))
		if u.GetKind() != "MutatingAdmissionPolicy" {
			continue // its cluster-wide binding is replaced by one for this namespace
		}
		policy = u.GetName()
		if err := env.Client.Create(w.ctx, &u); err != nil && !apierrors.IsAlreadyExists(err) {
			w.t.Fatal(err)
		}
	}
	binding := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicyBinding",
		"metadata": map[string]any{"name": policy + "-" + w.ns},
		"spec": map[string]any{"policyName": policy, "matchResources": map[string]any{
			"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": w.ns}}}},
	}}
	w.must(env.Client.Create(w.ctx, binding))
	w.t.Cleanup(func() { _ = env.Client.Delete(context.Background(), binding) })
	testenv.Eventually(w.t, 30*time.Second, "finalizer added at create", func() error {
		probe := w.newSession("finalizer-probe", "user-a")
		if err := env.Client.Create(w.ctx, probe, client.DryRunAll); err != nil {
			return err
		}
		if !slices.Contains(probe.Finalizers, accessv1alpha1.StreamingSessionFinalizer) {
			return fmt.Errorf("finalizers %v", probe.Finalizers)
		}
		return nil
	})
}

func (w *ssWorld) waitGone(name string) {
	w.t.Helper()
	testenv.Eventually(w.t, ssWait, name+" deleted", func() error {
		var s accessv1alpha1.StreamingSession
		err := env.Client.Get(w.ctx, types.NamespacedName{Namespace: w.ns, Name: name}, &s)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("still there: %s, finalizers %v", ssDescribe(&s), s.Finalizers)
	})
}

// mints counts CreateStreamingURL calls that reached the emulator (answered or lost).
func (w *ssWorld) mints() int { return w.faults.Count("appstream", "CreateStreamingURL") }

// opens counts streaming URL GETs that started a session.
func (w *ssWorld) opens() int {
	n := 0
	for _, c := range w.faults.Calls("appstream", awsemu.OpOpenStreamingURL) {
		if c.Status == http.StatusOK {
			n++
		}
	}
	return n
}

// open GETs a streaming URL as a browser would and returns the status and page.
func (w *ssWorld) open(url string) (int, string) {
	w.t.Helper()
	resp, err := http.Get(url)
	w.must(err)
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	w.must(err)
	return resp.StatusCode, string(body)
}

// liveSessions are the user's AppStream sessions that are not expired.
func (w *ssWorld) liveSessions(user string) []awsemu.Session {
	var out []awsemu.Session
	for _, s := range w.world.Sessions() {
		if s.UserId == user && s.State != awsemu.SessionExpired {
			out = append(out, s)
		}
	}
	return out
}

// singleValidURL checks the rule: at no time were two URLs of this world
// valid at once. A URL is valid from its mint (expiry - validity) to its expiry.
func (w *ssWorld) singleValidURL(validity time.Duration) {
	w.t.Helper()
	urls := w.world.StreamingURLs() // sorted by expiry
	for i := 1; i < len(urls); i++ {
		prev, cur := urls[i-1], urls[i]
		if minted := cur.Expires.Add(-validity); minted.Before(prev.Expires) {
			w.t.Fatalf("two valid URLs at once: one expiring %s, the next minted %s (before the first expired); "+
				"if the mints came from one CreateStreamingURL call, the AWS adapter retried a lost mint "+
				"(internal/aws must make a single attempt for CreateStreamingURL)", prev.Expires, minted)
		}
	}
}

// poke makes the controller look at the session now (an annotation change).
func (w *ssWorld) poke(name string) {
	w.t.Helper()
	s := w.get(name)
	orig := s.DeepCopy()
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[accessv1alpha1.AnnotationReconcileRequestedAt] = time.Now().Format(time.RFC3339Nano)
	w.must(env.Client.Patch(w.ctx, s, client.MergeFrom(orig)))
}

// step advances the fake clock (the emulator's and the controller's).
func (w *ssWorld) step(d time.Duration) { w.clk.Step(d) }

// stepTo advances the fake clock to just after t.
func (w *ssWorld) stepTo(t time.Time) {
	if d := t.Sub(w.clk.Now()); d > 0 {
		w.clk.Step(d + time.Second)
	}
}

// events returns the events.k8s.io Events about the session, as "reason: note".
func (w *ssWorld) events(name string) []string {
	w.t.Helper()
	var list eventsv1.EventList
	w.must(env.Client.List(w.ctx, &list, client.InNamespace(w.ns)))
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Regarding.Kind == "StreamingSession" {
			out = append(out, e.Reason+": "+e.Note)
		}
	}
	return out
}

func (w *ssWorld) waitEvent(name, reason string) {
	w.t.Helper()
	testenv.Eventually(w.t, ssWait, "event "+reason+" for "+name, func() error {
		evs := w.events(name)
		for _, e := range evs {
			if strings.HasPrefix(e, reason+":") {
				return nil
			}
		}
		return fmt.Errorf("events: %v", evs)
	})
}

// ssSyncBuffer is a bytes.Buffer safe for concurrent writes (a log sink).
type ssSyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *ssSyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *ssSyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tokenOf is the bearer part of an emulator streaming URL.
func tokenOf(url string) string {
	if i := strings.LastIndex(url, "/streaming/"); i >= 0 {
		return url[i+len("/streaming/"):]
	}
	return url
}
