package portal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
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
	"github.com/gatestream/gatestream/controllers"
	"github.com/gatestream/gatestream/internal/clients"
	"github.com/gatestream/gatestream/internal/emulator"
	"github.com/gatestream/gatestream/internal/emulator/aws"
	"github.com/gatestream/gatestream/internal/manager"
	"github.com/gatestream/gatestream/internal/testenv"
)

// The world the portal tests share: two teams' namespaces with their
// environments and devices, RBAC for user-a (by user name) and user-b (by
// group), user-c with no RBAC, the in-repo AppStream emulator, the real
// StreamingSession controller minting the URLs there, an admission policy
// that binds spec.userId to the requester, and the portal's own identity with
// exactly the chart's ClusterRole.
const (
	nsA = "portal-team-a"
	nsB = "portal-team-b"
	// nsN has a Napter-enabled environment whose SORACOM is the emulator's:
	// the StreamingSession controller makes its sessions' port mappings.
	nsN        = "portal-team-n"
	portalNS   = "gatestream-system"
	portalSA   = "gatestream-portal"
	stackName  = "portal-stack"
	fleetName  = "portal-fleet"
	groupTeamB = "team-b"
	// sessionWait bounds the waits for the controller.
	sessionWait = 15 * time.Second
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
	mu         sync.Mutex
	idp        []idpRequest
	cloud      *emulator.Cloud
	oidc       *mockoidc.MockOIDC
	portalREST *rest.Config
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
		// Stays set if building the world stops the test that builds it.
		worldErr = errors.New("building the shared test world failed in an earlier test")
		theWorld, worldErr = buildWorld(t)
	})
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return theWorld
}

func buildWorld(t *testing.T) (*world, error) {
	ctx := context.Background()
	c := env.Client
	w := &world{}

	// AppStream emulator with a running fleet and a stack.
	// Napter endpoints listen on 127.0.0.1 for real: the browser test connects to one.
	cloud, err := emulator.Start(emulator.Options{NapterListen: true})
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

	// Namespaces with the AWS credentials the controller uses at the
	// emulator, environments and devices (from config/samples).
	for _, ns := range []string{nsA, nsB, nsN, portalNS} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, err
		}
	}
	for _, ns := range []string{nsA, nsB} {
		if err := c.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: emulator.AWSSecretName},
			StringData: map[string]string{clients.KeyAWSAccessKeyID: seed.AWSAccessKeyID, clients.KeyAWSSecretAccessKey: seed.AWSSecretAccessKey},
		}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, err
		}
	}
	// team A: factory-floor (Ready; teraterm, rdp and "notepad", which the
	// image lacks, so AppStream refuses its URLs) with line-a (raspi-1
	// online, plc-7 offline); lab (not Ready) with bench (bench-1 online).
	if err := w.addEnv(ctx, nsA, "factory-floor", true, "", []string{"teraterm", "rdp", "notepad"}); err != nil {
		return nil, err
	}
	if err := addGroup(ctx, nsA, "line-a", "factory-floor", map[string]bool{"raspi-1": true, "plc-7": false}); err != nil {
		return nil, err
	}
	// line-c: meter-3 is online, but a hop between the fleet and it is broken.
	if err := addGroup(ctx, nsA, "line-c", "factory-floor", map[string]bool{"meter-3": true}); err != nil {
		return nil, err
	}
	if err := breakPath(ctx, nsA, "line-c", "meter-3", meterBrokenHop); err != nil {
		return nil, err
	}
	if err := w.addEnv(ctx, nsA, "lab", false, "AppStream fleet lab-fleet is STARTING (1 of 2 instances)", []string{"teraterm"}); err != nil {
		return nil, err
	}
	if err := addGroup(ctx, nsA, "bench", "lab", map[string]bool{"bench-1": true}); err != nil {
		return nil, err
	}
	// team B: factory-floor with line-b (robot-9 online).
	if err := w.addEnv(ctx, nsB, "factory-floor", true, "", []string{"teraterm"}); err != nil {
		return nil, err
	}
	if err := addGroup(ctx, nsB, "line-b", "factory-floor", map[string]bool{"robot-9": true}); err != nil {
		return nil, err
	}

	if err := w.addNapterSite(ctx); err != nil {
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
		role(nsA), role(nsB), role(nsN),
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "team-n", Namespace: nsN},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "gatestream-session-user"},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "user-n"},
				{APIGroup: rbacv1.GroupName, Kind: "User", Name: "user-o"}}},
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
	if err := addRequesterPolicy(t); err != nil {
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

	if err := runSessionController(); err != nil {
		return nil, err
	}
	return w, nil
}

// runSessionController runs the real StreamingSession controller, with the
// operator's AWS clients (internal/clients) against the emulator's endpoints
// that each environment names, for the rest of the test binary: the world
// and its sessions outlive each test. Its logs go to stderr when
// GATESTREAM_TEST_LOGS=1.
func runSessionController() error {
	opts := manager.DefaultOptions()
	opts.MetricsAddr, opts.ProbeAddr = "0", "0"
	opts.WatchNamespaces = []string{nsA, nsB, nsN}
	log := logr.Discard()
	if os.Getenv("GATESTREAM_TEST_LOGS") == "1" {
		var err error
		if log, err = manager.NewLogger("console", "debug", os.Stderr); err != nil {
			return err
		}
	}
	mgr, err := manager.New(env.Config, opts, log)
	if err != nil {
		return err
	}
	if err := (&controllers.StreamingSessionReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Clients:                 clients.New(mgr.GetAPIReader(), clients.Options{AWSCallsPerSecond: 1000, SoracomCallsPerSecond: 1000, AllowedEndpoints: []string{"http://127.0.0.1"}}),
		Recorder:                mgr.GetEventRecorder(controllers.StreamingSessionRecorderName),
		MaxConcurrentReconciles: 4,
	}).SetupWithManager(mgr); err != nil {
		return err
	}
	go func() {
		if err := mgr.Start(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "portal tests: the StreamingSession controller's manager stopped:", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return errors.New("the StreamingSession controller's caches did not sync")
	}
	return nil
}

// addEnv creates an environment whose AWS endpoints are the emulator's, with
// the status its own controller (not running here) would report: Ready (or
// not, with message), and the fleet and stack that sessions mint URLs on.
func (w *world) addEnv(ctx context.Context, ns, name string, ready bool, message string, apps []string, mutate ...func(*accessv1alpha1.RemoteAccessEnvironment)) error {
	var env_ accessv1alpha1.RemoteAccessEnvironment
	if err := readSample("access_v1alpha1_remoteaccessenvironment.yaml", &env_); err != nil {
		return err
	}
	env_.ObjectMeta = metav1.ObjectMeta{Name: name, Namespace: ns}
	env_.Spec.AppStream.Applications = apps
	env_.Spec.AppStream.Fleet.Name = fleetName
	env_.Spec.AppStream.Stack.Name = stackName
	env_.Spec.AWS.Endpoints = &accessv1alpha1.AWSEndpoints{AppStream: w.cloud.AppStreamURL, EC2: w.cloud.EC2URL}
	env_.Spec.AWS.CredentialsSecretRef = &accessv1alpha1.SecretReference{Name: emulator.AWSSecretName}
	// TestConnectLatency connects 20 times in a row as one person.
	env_.Spec.SessionLimits = &accessv1alpha1.SessionLimits{PerUser: 100, Total: 1000}
	// The sample allows Napter; the portal tests' environments do not,
	// unless mutate says so (the Napter site, which no controller watches).
	env_.Spec.Napter = nil
	for _, m := range mutate {
		m(&env_)
	}
	if err := env.Client.Create(ctx, &env_); err != nil {
		return fmt.Errorf("creating RemoteAccessEnvironment %s/%s: %w", ns, name, err)
	}
	cond := metav1.Condition{Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Available", Message: "ready", ObservedGeneration: env_.Generation}
	if !ready {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "FleetNotRunning", message
	}
	meta.SetStatusCondition(&env_.Status.Conditions, cond)
	env_.Status.ObservedGeneration = env_.Generation
	env_.Status.Fleet = &accessv1alpha1.FleetStatus{Name: fleetName, State: "RUNNING"}
	env_.Status.Stack = &accessv1alpha1.StackStatus{Name: stackName, Associated: true}
	return env.Client.Status().Update(ctx, &env_)
}

func addGroup(ctx context.Context, ns, name, envName string, devices map[string]bool) error {
	g := accessv1alpha1.DeviceGroup{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	g.Spec.EnvironmentRef.Name = envName
	n := 0
	for _, d := range slices.Sorted(maps.Keys(devices)) {
		n++
		sim := fmt.Sprintf("89811000000000%05d", n)
		g.Spec.SIMs = append(g.Spec.SIMs, sim)
		g.Spec.Devices = append(g.Spec.Devices, accessv1alpha1.Device{Name: d, SIMID: sim,
			Ports: []accessv1alpha1.DevicePort{{Name: "ssh", Port: 22}, {Name: "http", Port: 80}}})
	}
	if err := env.Client.Create(ctx, &g); err != nil {
		return fmt.Errorf("creating DeviceGroup %s/%s: %w", ns, name, err)
	}
	for i, d := range slices.Sorted(maps.Keys(devices)) {
		g.Status.Devices = append(g.Status.Devices, accessv1alpha1.DeviceStatus{Name: d, SIMID: g.Spec.SIMs[i], Online: devices[d], Reachable: devices[d], Address: fmt.Sprintf("10.128.3.%d", i+7)})
	}
	meta.SetStatusCondition(&g.Status.Conditions, metav1.Condition{Type: accessv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Synced", Message: "ok"})
	if err := env.Client.Status().Update(ctx, &g); err != nil {
		return err
	}
	// The environment's path check (what sessions mint on), as its controller
	// would report it: the online devices reachable at their addresses.
	return updatePaths(ctx, ns, envName, func(e *accessv1alpha1.RemoteAccessEnvironment) {
		for _, d := range g.Status.Devices {
			p := accessv1alpha1.DevicePath{DeviceGroup: name, Device: d.Name, Address: d.Address, Reachable: d.Reachable, Path: "reachable via i-0abc"}
			if !d.Reachable {
				p.Path = "SIM: the SIM has no session"
			}
			e.Status.Path.Devices = append(e.Status.Path.Devices, p)
		}
	})
}

// updatePaths changes the environment's status.path (created when missing).
func updatePaths(ctx context.Context, ns, envName string, change func(*accessv1alpha1.RemoteAccessEnvironment)) error {
	var e accessv1alpha1.RemoteAccessEnvironment
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: envName}, &e); err != nil {
		return err
	}
	if e.Status.Path == nil {
		e.Status.Path = &accessv1alpha1.PathStatus{}
	}
	change(&e)
	return env.Client.Status().Update(ctx, &e)
}

// meterBrokenHop is meter-3's path as the environment reports it.
const meterBrokenHop = "route table rtb-0abc1234 of fleet subnet subnet-0a1b2c3d has no route to 10.128.3.7/32"

// breakPath marks a device unreachable, as the environment's path check would.
func breakPath(ctx context.Context, ns, group, device, why string) error {
	var g accessv1alpha1.DeviceGroup
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: group}, &g); err != nil {
		return err
	}
	for i := range g.Status.Devices {
		if g.Status.Devices[i].Name == device {
			g.Status.Devices[i].Reachable, g.Status.Devices[i].Path = false, why
		}
	}
	if err := env.Client.Status().Update(ctx, &g); err != nil {
		return err
	}
	return updatePaths(ctx, ns, g.Spec.EnvironmentRef.Name, func(e *accessv1alpha1.RemoteAccessEnvironment) {
		for i := range e.Status.Path.Devices {
			if d := &e.Status.Path.Devices[i]; d.DeviceGroup == group && d.Device == device {
				d.Reachable, d.Path = false, why
			}
		}
	})
}

func readSample(file string, into any) error {
	data, err := os.ReadFile(filepath.Join(env.Root, "config", "samples", file))
	if err != nil {
		return err
	}
	return yaml.Unmarshal(data, into)
}

func addRequesterPolicy(t *testing.T) error {
	ctx := context.Background()
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
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpIn, Values: []string{nsA, nsB, nsN}}},
			}},
		},
	}
	for _, o := range []client.Object{p, b} {
		if err := env.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	// Wait until the policy is in force: a session for someone else is refused.
	testenv.Eventually(t, 30*time.Second, "the requester policy in force", func() error {
		err := env.Client.Create(ctx, testSession(nsA, "someone-else"), client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), "spec.userId must be the requester") {
			return nil
		}
		return fmt.Errorf("a session for someone else got: %v", err)
	})
	return nil
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

// chartRBAC renders the chart's portal ClusterRole and ClusterRoleBinding,
// and the Role and RoleBinding of its sign-out ConfigMap.
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
		switch o.GetKind() {
		case "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			if strings.HasSuffix(o.GetName(), "-portal") {
				rbac = append(rbac, o)
			}
		}
	}
	// The cluster rights, and the rights on the sign-out ConfigMap in the portal's namespace.
	if len(rbac) != 4 {
		return nil, fmt.Errorf("the chart rendered %d portal (Cluster)Roles/Bindings, want 4", len(rbac))
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

// signoutConfigMap is the sign-out record of the test portals, as the chart
// names it for release gatestream (the chart's Role grants it).
const signoutConfigMap = "gatestream-portal-signouts"

// startPortal runs a portal on 127.0.0.1 with the portal's identity, in OIDC
// mode against the mock provider unless mutate changes it.
func startPortal(t *testing.T, w *world, mutate func(*Config)) *portalUnderTest {
	t.Helper()
	return startPortalLongPoll(t, w, mutate, 5*time.Second)
}

// startPortalLongPoll is startPortal with the bound of one /open wait.
func startPortalLongPoll(t *testing.T, w *world, mutate func(*Config), longPoll time.Duration) *portalUnderTest {
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
	cfg.OIDCGroupsPrefix = "-"   // the RoleBindings name the groups as they are
	cfg.SignoutConfigMap = portalNS + "/" + signoutConfigMap
	cfg.ConnectPerMinute, cfg.ConnectBurst = 600, 100
	cfg.ConnectTimeout = 30 * time.Second
	cfg.SetSecrets([][]byte{testCookieKey}, oc.ClientSecret)
	if mutate != nil {
		mutate(&cfg)
	}
	// Every test starts without sessions (gone once the controller has
	// ended their AppStream sessions and removed its finalizer).
	for _, ns := range []string{nsA, nsB, nsN} {
		if err := env.Client.DeleteAllOf(t.Context(), &accessv1alpha1.StreamingSession{}, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, sessionWait, "the previous tests' sessions gone", func() error {
		var l accessv1alpha1.StreamingSessionList
		if err := env.Client.List(t.Context(), &l); err != nil {
			return err
		}
		if n := len(l.Items); n > 0 {
			return fmt.Errorf("%d sessions left, e.g. %s/%s", n, l.Items[0].Namespace, l.Items[0].Name)
		}
		return nil
	})
	clock := &fakeClock{}
	logs := &testenv.SyncBuffer{}
	log, err := manager.NewLogger("json", "info", logs)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("GATESTREAM_TEST_LOGS") == "1" {
		log = logr.New(teeSink{log.GetSink(), t})
	}
	s, err := New(Options{Config: cfg, Log: log, REST: w.portalREST, Now: clock.now, LongPoll: longPoll, PollInterval: 20 * time.Millisecond})
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

// testCodec is a cookie codec with fixed keys, newest first.
func testCodec(keys ...[]byte) *codec {
	return &codec{keys: newCookieKeys(keys, "", time.Minute, time.Hour, time.Now, logr.Discard())}
}

// sessionCookieOf is the value of the browser's session cookie.
func sessionCookieOf(t *testing.T, b *browser) string {
	t.Helper()
	u, err := url.Parse(b.p.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	t.Fatal("the browser has no session cookie")
	return ""
}

// signedInWith reports whether the portal takes value as a sign-in: GET /
// with it as the session cookie is answered, not sent to /signin.
func signedInWith(t *testing.T, p *portalUnderTest, value string) bool {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: value})
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin?")
}

// tamper changes one character in the middle of a cookie value.
func tamper(value string) string {
	i := len(value) / 2
	c := byte('A')
	if value[i] == c {
		c = 'B'
	}
	return value[:i] + string(c) + value[i+1:]
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

// sessionURL is the streaming URL in the Secret the controller wrote for ss.
func sessionURL(t *testing.T, ss *accessv1alpha1.StreamingSession) string {
	t.Helper()
	var sec corev1.Secret
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: ss.Namespace, Name: ss.Status.SecretName}, &sec); err != nil {
		t.Fatalf("reading the Secret of session %s (status %+v): %v", ss.Name, ss.Status, err)
	}
	return string(sec.Data["url"])
}

// sessionContext is the session context the controller passes for a device
// (and port name, if any): the address its DeviceGroup reports, and the port.
func sessionContext(t *testing.T, ns, group, device, port string) string {
	t.Helper()
	var g accessv1alpha1.DeviceGroup
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: group}, &g); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(g.Status.Devices, func(d accessv1alpha1.DeviceStatus) bool { return d.Name == device })
	j := slices.IndexFunc(g.Spec.Devices, func(d accessv1alpha1.Device) bool { return d.Name == device })
	if i < 0 || j < 0 {
		t.Fatalf("DeviceGroup %s/%s has no device %s", ns, group, device)
	}
	addr := g.Status.Devices[i].Address
	for _, p := range g.Spec.Devices[j].Ports {
		if p.Name == port {
			return net.JoinHostPort(addr, fmt.Sprint(p.Port))
		}
	}
	return addr
}
