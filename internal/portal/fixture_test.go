package portal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/oauth2-proxy/mockoidc"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/emulator"
	"github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/manager"
	"github.com/gatestream/gatestream/internal/testenv"
)

// The world the portal tests share: two teams' namespaces with their
// environments and devices, RBAC for user-a (by user name) and user-b (by
// group), user-c with no RBAC, an AppStream emulator that mints the URLs, a
// stand-in for the StreamingSession controller, an admission policy that
// binds spec.userId to the requester, and the portal's own identity with
// exactly the chart's ClusterRole.
const (
	nsA        = "portal-team-a"
	nsB        = "portal-team-b"
	portalNS   = "gatestream-system"
	portalSA   = "gatestream-portal"
	stackName  = "portal-stack"
	fleetName  = "portal-fleet"
	groupTeamB = "team-b"
)

// idpRequest is what the portal sent to an endpoint of the identity provider.
type idpRequest struct {
	Path string
	Form url.Values
}

func (w *world) recordIdP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err == nil {
			w.mu.Lock()
			w.idp = append(w.idp, idpRequest{Path: r.URL.Path, Form: r.Form})
			w.mu.Unlock()
		}
		next.ServeHTTP(rw, r)
	})
}

// idpRequests returns the recorded requests to path.
func (w *world) idpRequests(path string) []idpRequest {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []idpRequest
	for _, r := range w.idp {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

type world struct {
	idp        []idpRequest
	cloud      *emulator.Cloud
	oidc       *mockoidc.MockOIDC
	portalREST *rest.Config
	// minted counts the URLs the stand-in controller minted, per session.
	mu     sync.Mutex
	minted map[string]string
}

var (
	worldOnce sync.Once
	theWorld  *world
	worldErr  error
	// oidcMu serializes sign-ins: mockoidc hands out queued users in order.
	oidcMu sync.Mutex
)

func setup(t *testing.T) *world {
	t.Helper()
	worldOnce.Do(func() {
		theWorld, worldErr = buildWorld()
	})
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return theWorld
}

func buildWorld() (*world, error) {
	ctx := context.Background()
	c := env.Client
	w := &world{minted: map[string]string{}}

	// AppStream emulator with a running fleet and a stack.
	cloud, err := emulator.Start(emulator.Options{})
	if err != nil {
		return nil, err
	}
	w.cloud = cloud
	seed, err := cloud.SeedDemo()
	if err != nil {
		return nil, err
	}
	s := func(v string) *string { return &v }
	i32 := func(v int32) *int32 { return &v }
	if _, err := cloud.AWS.CreateFleet(&aws.FleetInput{
		Name: s(fleetName), ImageName: s(seed.ImageName), InstanceType: s("stream.standard.medium"), FleetType: s("ON_DEMAND"),
		ComputeCapacity: &aws.ComputeCapacity{DesiredInstances: i32(2)},
		VpcConfig:       &aws.VpcConfig{SubnetIds: []string{seed.SubnetID}, SecurityGroupIds: []string{seed.SecurityGroupID}},
		StreamView:      s("APP"),
	}); err != nil {
		return nil, fmt.Errorf("CreateFleet: %w", err)
	}
	if err := cloud.AWS.StartFleet(s(fleetName)); err != nil {
		return nil, err
	}
	if _, err := cloud.AWS.CreateStack(&aws.StackInput{Name: s(stackName)}); err != nil {
		return nil, err
	}
	if err := cloud.AWS.AssociateFleet(s(fleetName), s(stackName)); err != nil {
		return nil, err
	}

	// Namespaces, environments and devices (from config/samples).
	for _, ns := range []string{nsA, nsB, portalNS} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, err
		}
	}
	// team A: factory-floor (Ready; teraterm, rdp and "notepad", which the
	// image lacks, so a session for it fails) with line-a (raspi-1 online,
	// plc-7 offline); lab (not Ready) with bench (bench-1 online).
	if err := addEnv(ctx, nsA, "factory-floor", true, "", []string{"teraterm", "rdp", "notepad"}); err != nil {
		return nil, err
	}
	if err := addGroup(ctx, nsA, "line-a", "factory-floor", map[string]bool{"raspi-1": true, "plc-7": false}); err != nil {
		return nil, err
	}
	if err := addEnv(ctx, nsA, "lab", false, "AppStream fleet lab-fleet is STARTING (1 of 2 instances)", []string{"teraterm"}); err != nil {
		return nil, err
	}
	if err := addGroup(ctx, nsA, "bench", "lab", map[string]bool{"bench-1": true}); err != nil {
		return nil, err
	}
	// team B: factory-floor with line-b (robot-9 online).
	if err := addEnv(ctx, nsB, "factory-floor", true, "", []string{"teraterm"}); err != nil {
		return nil, err
	}
	if err := addGroup(ctx, nsB, "line-b", "factory-floor", map[string]bool{"robot-9": true}); err != nil {
		return nil, err
	}

	// RBAC of the people: the rights docs/portal.md tells platform teams to grant.
	role := func(ns string) *rbacv1.Role {
		return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "gatestream-session-user", Namespace: ns}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{accessv1alpha1.GroupVersion.Group}, Resources: []string{"streamingsessions"}, Verbs: []string{"create", "get", "list", "watch", "delete"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
		}}
	}
	for _, o := range []client.Object{
		role(nsA), role(nsB),
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "user-a", Namespace: nsA},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "gatestream-session-user"},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "user-a"}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "team-b", Namespace: nsB},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "gatestream-session-user"},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "Group", Name: groupTeamB}}},
	} {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, err
		}
	}

	// The admission rule of the StreamingSession issue, reduced to its core:
	// spec.userId must be the requester. A session the portal creates passes
	// only if the API server saw the person, not the portal, as the requester.
	if err := addRequesterPolicy(ctx); err != nil {
		return nil, err
	}

	// The portal's identity: the chart's ClusterRole and binding, applied for
	// real, and a client certificate for its ServiceAccount's user name.
	if err := applyChartRBAC(ctx); err != nil {
		return nil, err
	}
	au, err := env.Env.AddUser(envtest.User{
		Name:   "system:serviceaccount:" + portalNS + ":" + portalSA,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + portalNS},
	}, nil)
	if err != nil {
		return nil, err
	}
	w.portalREST = au.Config()

	// The identity provider: PKCE with S256 only, and a record of what the
	// portal sends to it.
	w.oidc, err = mockoidc.NewServer(nil)
	if err != nil {
		return nil, err
	}
	w.oidc.CodeChallengeMethodsSupported = []string{"S256"}
	if err := w.oidc.AddMiddleware(w.recordIdP); err != nil {
		return nil, err
	}
	idpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if err := w.oidc.Start(idpLn, nil); err != nil {
		return nil, err
	}

	go w.playController(ctx)
	return w, nil
}

func addEnv(ctx context.Context, ns, name string, ready bool, message string, apps []string) error {
	var env_ accessv1alpha1.RemoteAccessEnvironment
	if err := readSample("access_v1alpha1_remoteaccessenvironment.yaml", &env_); err != nil {
		return err
	}
	env_.ObjectMeta = metav1.ObjectMeta{Name: name, Namespace: ns}
	env_.Spec.AppStream.Applications = apps
	env_.Spec.AppStream.Fleet.Name = fleetName
	env_.Spec.AppStream.Stack.Name = stackName
	if err := env.Client.Create(ctx, &env_); err != nil {
		return fmt.Errorf("creating RemoteAccessEnvironment %s/%s: %w", ns, name, err)
	}
	cond := metav1.Condition{Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Available", Message: "ready", ObservedGeneration: env_.Generation}
	if !ready {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "FleetNotRunning", message
	}
	meta.SetStatusCondition(&env_.Status.Conditions, cond)
	env_.Status.ObservedGeneration = env_.Generation
	return env.Client.Status().Update(ctx, &env_)
}

func addGroup(ctx context.Context, ns, name, envName string, devices map[string]bool) error {
	g := accessv1alpha1.DeviceGroup{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	g.Spec.EnvironmentRef.Name = envName
	n := 0
	for _, d := range sortedKeys(devices) {
		n++
		sim := fmt.Sprintf("89811000000000%05d", n)
		g.Spec.SIMs = append(g.Spec.SIMs, sim)
		g.Spec.Devices = append(g.Spec.Devices, accessv1alpha1.Device{Name: d, SIMID: sim,
			Ports: []accessv1alpha1.DevicePort{{Name: "ssh", Port: 22}, {Name: "http", Port: 80}}})
	}
	if err := env.Client.Create(ctx, &g); err != nil {
		return fmt.Errorf("creating DeviceGroup %s/%s: %w", ns, name, err)
	}
	for i, d := range sortedKeys(devices) {
		g.Status.Devices = append(g.Status.Devices, accessv1alpha1.DeviceStatus{Name: d, SIMID: g.Spec.SIMs[i], Online: devices[d], Address: fmt.Sprintf("10.128.3.%d", i+7)})
	}
	meta.SetStatusCondition(&g.Status.Conditions, metav1.Condition{Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Synced", Message: "ok"})
	return env.Client.Status().Update(ctx, &g)
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func readSample(file string, into any) error {
	data, err := os.ReadFile(filepath.Join(env.Root, "config", "samples", file))
	if err != nil {
		return err
	}
	return yaml.Unmarshal(data, into)
}

func addRequesterPolicy(ctx context.Context) error {
	fail := admissionv1.Fail
	p := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "portal-test-requester"},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create},
					Rule: admissionv1.Rule{APIGroups: []string{accessv1alpha1.GroupVersion.Group}, APIVersions: []string{"*"},
						Resources: []string{"streamingsessions"}},
				},
			}}},
			Validations: []admissionv1.Validation{{
				Expression:        "object.spec.userId == request.userInfo.username",
				MessageExpression: "'spec.userId must be the requester ' + request.userInfo.username",
			}},
		},
	}
	b := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "portal-test-requester"},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        p.Name,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: []string{nsA, nsB}}},
			}},
		},
	}
	for _, o := range []client.Object{p, b} {
		if err := env.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	// Wait until the policy is in force: a session for someone else is refused.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ss := testSession(nsA, "someone-else")
		err := env.Client.Create(ctx, ss, client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "spec.userId must be the requester") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the requester policy is not in force after 30s (last: %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func testSession(ns, user string) *accessv1alpha1.StreamingSession {
	return &accessv1alpha1.StreamingSession{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: ns},
		Spec: accessv1alpha1.StreamingSessionSpec{
			EnvironmentRef: accessv1alpha1.LocalObjectReference{Name: "factory-floor"},
			UserID:         user, Application: "teraterm",
			URLValidity: metav1.Duration{Duration: time.Minute}, AccessWindow: metav1.Duration{Duration: time.Hour},
		},
	}
}

// chartRBAC renders the chart's portal ClusterRole and ClusterRoleBinding.
func chartRBAC() ([]*unstructured.Unstructured, error) {
	out, err := helmTemplateRaw(context.Background(), "--set", "portal.enabled=true",
		"--set", "portal.publicURL=https://portal.example.com", "--set", "portal.oidc.issuerURL=https://idp.example.com",
		"--set", "portal.oidc.clientID=gatestream", "--set", "portal.serviceAccount.name="+portalSA)
	if err != nil {
		return nil, err
	}
	objs, err := decodeAll(out)
	if err != nil {
		return nil, err
	}
	var rbac []*unstructured.Unstructured
	for _, o := range objs {
		if (o.GetKind() == "ClusterRole" || o.GetKind() == "ClusterRoleBinding") && strings.HasSuffix(o.GetName(), "-portal") {
			rbac = append(rbac, o)
		}
	}
	if len(rbac) != 2 {
		return nil, fmt.Errorf("the chart rendered %d portal ClusterRoles/Bindings, want 2", len(rbac))
	}
	return rbac, nil
}

func applyChartRBAC(ctx context.Context) error {
	objs, err := chartRBAC()
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner("portal-test"), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	return nil
}

var (
	helmMu   sync.Mutex
	helmPath string
	helmErr  error
)

// helmBin returns bin/helm. When it is missing, it builds the pinned helm
// with `make helm` into a private directory, so that it never races another
// package's tests building bin/helm at the same time.
func helmBin(ctx context.Context) (string, error) {
	helmMu.Lock()
	defer helmMu.Unlock()
	if helmPath != "" || helmErr != nil {
		return helmPath, helmErr
	}
	path := filepath.Join(env.Root, "bin", "helm")
	if _, err := os.Stat(path); err == nil {
		helmPath = path
		return path, nil
	}
	dir, err := os.MkdirTemp("", "gatestream-portal-helm-")
	if err != nil {
		helmErr = err
		return "", err
	}
	cmd := exec.CommandContext(ctx, "make", "helm", "LOCALBIN="+dir)
	cmd.Dir = env.Root
	if out, err := cmd.CombinedOutput(); err != nil {
		helmErr = fmt.Errorf("make helm: %w\n%s", err, out)
		return "", helmErr
	}
	helmPath = filepath.Join(dir, "helm")
	return helmPath, nil
}

// helmTemplateRaw renders the chart as release "gatestream" in gatestream-system.
func helmTemplateRaw(ctx context.Context, extra ...string) ([]byte, error) {
	helm, err := helmBin(ctx)
	if err != nil {
		return nil, err
	}
	args := append([]string{"template", "gatestream", "charts/gatestream"}, extra...)
	if !slices.Contains(extra, "--namespace") {
		args = append(args, "--namespace", portalNS)
	}
	cmd := exec.CommandContext(ctx, helm, args...)
	cmd.Dir = env.Root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

func execCommand(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = env.Root
	return cmd
}

func decodeAll(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(m) != 0 {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
}

// playController stands in for the StreamingSession controller: each new
// session gets a URL minted by the AppStream emulator (its session context
// names the device) in a Secret owned by the session, and phase Ready; a mint
// the emulator refuses makes the session Failed with the emulator's message.
func (w *world) playController(ctx context.Context) {
	for {
		var l accessv1alpha1.StreamingSessionList
		if err := env.Client.List(ctx, &l); err == nil {
			for i := range l.Items {
				if ss := &l.Items[i]; ss.Status.Phase == "" && ss.DeletionTimestamp == nil {
					w.mint(ctx, ss)
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *world) mint(ctx context.Context, ss *accessv1alpha1.StreamingSession) {
	s := func(v string) *string { return &v }
	validity := int64(ss.Spec.URLValidity.Seconds())
	if validity == 0 {
		validity = 300
	}
	target := ""
	if t := ss.Spec.Target; t != nil {
		target = "deviceGroup=" + t.DeviceGroup + ",device=" + t.Device
	}
	u, exp, err := w.cloud.AWS.CreateStreamingURL(&aws.StreamingURLInput{
		StackName: s(stackName), FleetName: s(fleetName), UserId: s(ss.Spec.UserID),
		ApplicationId: s(ss.Spec.Application), Validity: &validity, SessionContext: s(target),
	}, w.cloud.AppStreamURL)
	now := metav1.Now()
	if err != nil {
		ss.Status.Phase = accessv1alpha1.SessionFailed
		ss.Status.FinishedAt = &now
		meta.SetStatusCondition(&ss.Status.Conditions, metav1.Condition{Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: "MintFailed", Message: err.Error()})
		_ = env.Client.Status().Update(ctx, ss)
		return
	}
	isController := true
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: ss.Name + "-url", Namespace: ss.Namespace,
			Labels: map[string]string{accessv1alpha1.LabelManagedBy: accessv1alpha1.LabelManagedByValue, accessv1alpha1.LabelStreamingSession: ss.Name},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "StreamingSession",
				Name: ss.Name, UID: ss.UID, Controller: &isController}}},
		Data: map[string][]byte{"url": []byte(u), "expiresAt": []byte(exp.UTC().Format(time.RFC3339)), "target": []byte(target)},
	}
	if err := env.Client.Create(ctx, sec); err != nil && !apierrors.IsAlreadyExists(err) {
		return
	}
	ends := metav1.NewTime(now.Add(ss.Spec.AccessWindow.Duration))
	expires := metav1.NewTime(exp)
	ss.Status.Phase = accessv1alpha1.SessionReady
	ss.Status.SecretName = sec.Name
	ss.Status.URLExpiresAt = &expires
	ss.Status.AccessEndsAt = &ends
	meta.SetStatusCondition(&ss.Status.Conditions, metav1.Condition{Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "URLIssued", Message: "the URL is in Secret " + sec.Name})
	if err := env.Client.Status().Update(ctx, ss); err == nil {
		w.mu.Lock()
		w.minted[ss.Namespace+"/"+ss.Name] = u
		w.mu.Unlock()
	}
}

// ---- the portal under test ----

// fakeClock is the portal's clock, moved forward by tests.
type fakeClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

type portalUnderTest struct {
	URL    string
	Server *Server
	Clock  *fakeClock
	Ops    string
	Logs   *testenv.SyncBuffer
}

var testCookieKey = []byte("0123456789abcdef0123456789abcdef-portal-test")

// startPortal runs a portal on 127.0.0.1 with the portal's identity, in OIDC
// mode against the mock provider unless mutate changes it.
func startPortal(t *testing.T, w *world, mutate func(*Config)) *portalUnderTest {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	cfg := DefaultConfig()
	cfg.PublicURL = base
	cfg.InsecureCookies = true
	cfg.AuthMode = AuthOIDC
	oc := w.oidc.Config()
	cfg.OIDCIssuerURL = oc.Issuer
	cfg.OIDCClientID = oc.ClientID
	cfg.OIDCScopes = []string{"openid", "profile", "email", "groups"}
	cfg.OIDCUsernameClaim = "preferred_username"
	cfg.OIDCUsernamePrefix = "-" // as kube-apiserver: no prefix
	cfg.ConnectPerMinute, cfg.ConnectBurst = 600, 100
	cfg.ConnectTimeout = 30 * time.Second
	cfg.SetSecrets([][]byte{testCookieKey}, oc.ClientSecret)
	if mutate != nil {
		mutate(&cfg)
	}
	// Every test starts without sessions.
	for _, ns := range []string{nsA, nsB} {
		if err := env.Client.DeleteAllOf(t.Context(), &accessv1alpha1.StreamingSession{}, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
	}
	clock := &fakeClock{}
	logs := &testenv.SyncBuffer{}
	log, err := manager.NewLogger("json", "info", logs)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("GATESTREAM_TEST_LOGS") == "1" {
		log = logr.New(teeSink{log.GetSink(), t})
	}
	s, err := New(Options{Config: cfg, Log: log, REST: w.portalREST, Now: clock.now, LongPoll: 5 * time.Second, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := s.HTTPServer()
	go func() { _ = srv.Serve(ln) }()
	opsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ops := &http.Server{Handler: s.OpsHandler(), ReadHeaderTimeout: time.Second}
	go func() { _ = ops.Serve(opsLn) }()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = ops.Close()
	})
	return &portalUnderTest{URL: base, Server: s, Clock: clock, Ops: "http://" + opsLn.Addr().String(), Logs: logs}
}

// teeSink is a logr sink that also writes to the test log.
type teeSink struct {
	logr.LogSink
	t *testing.T
}

func (s teeSink) Info(level int, msg string, kv ...any) {
	s.t.Logf("portal: %s %v", msg, kv)
	s.LogSink.Info(level, msg, kv...)
}

// browser is an HTTP client with a cookie jar that follows redirects within
// the portal and the identity provider, but stops at any other host (the
// streaming URL), so the test sees the portal's redirect to it.
type browser struct {
	*http.Client
	p *portalUnderTest
}

func newBrowser(t *testing.T, w *world, p *portalUnderTest) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	pu, _ := url.Parse(p.URL)
	iu, _ := url.Parse(w.oidc.Issuer())
	return &browser{p: p, Client: &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != pu.Host && req.URL.Host != iu.Host {
			return http.ErrUseLastResponse
		}
		if len(via) > 10 {
			return errors.New("too many redirects")
		}
		return nil
	}}}
}

// signIn runs the authorization code flow with PKCE as user.
func (b *browser) signIn(t *testing.T, w *world, user *mockoidc.MockUser) {
	t.Helper()
	oidcMu.Lock()
	defer oidcMu.Unlock()
	w.oidc.QueueUser(user)
	resp := b.get(t, "/")
	if resp.Request.URL.Path != "/signin" {
		t.Fatalf("GET / without a sign-in ended at %s, want the sign-in page", resp.Request.URL)
	}
	start := regexp.MustCompile(`href="(/auth/start\?[^"]+)"`).FindStringSubmatch(resp.Body)
	if start == nil {
		t.Fatalf("no sign-in link on the sign-in page:\n%s", resp.Body)
	}
	resp = b.get(t, htmlUnescape(start[1]))
	if resp.Request.URL.Path != "/" {
		t.Fatalf("sign-in ended at %s (status %d):\n%s", resp.Request.URL, resp.StatusCode, resp.Body)
	}
}

type page struct {
	*http.Response
	Body string
}

func (b *browser) do(t *testing.T, req *http.Request) page {
	t.Helper()
	resp, err := b.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page{resp, string(body)}
}

func (b *browser) get(t *testing.T, path string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.abs(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b.do(t, req)
}

func (b *browser) abs(path string) string {
	if strings.HasPrefix(path, "http") {
		return path
	}
	return b.p.URL + path
}

func (b *browser) post(t *testing.T, path string, form url.Values, headers ...string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.abs(path), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(t, req)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%s", body)
	}
	return htmlUnescape(m[1])
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

func mockUser(name string, groups ...string) *mockoidc.MockUser {
	return &mockoidc.MockUser{Subject: "sub-" + name, Email: name + "@example.com", EmailVerified: true, PreferredUsername: name, Groups: groups}
}

// sessionsOf lists the sessions for user in namespace.
func sessionsOf(t *testing.T, ns, user string) []accessv1alpha1.StreamingSession {
	t.Helper()
	var l accessv1alpha1.StreamingSessionList
	if err := env.Client.List(context.Background(), &l, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []accessv1alpha1.StreamingSession
	for _, s := range l.Items {
		if s.Spec.UserID == user {
			out = append(out, s)
		}
	}
	return out
}
