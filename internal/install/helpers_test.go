package install

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/gatestream/gatestream/internal/manager"
)

// monitoringGroup is the only API group whose kinds may be missing from the
// test API server (the Prometheus Operator's CRDs are not installed).
const monitoringGroup = "monitoring.coreos.com"

var (
	toolMu    sync.Mutex
	toolBuilt = map[string]error{}
)

// tool returns bin/<name> (helm or kustomize), building it with `make <name>`
// from the repository root when it is missing (a few minutes cold).
func tool(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(env.Root, "bin", name)
	toolMu.Lock()
	defer toolMu.Unlock()
	err, done := toolBuilt[name]
	if !done {
		if _, statErr := os.Stat(path); statErr != nil {
			t.Logf("%s not found: running `make %s` (builds it from Go modules)", path, name)
			cmd := exec.CommandContext(t.Context(), "make", name)
			cmd.Dir = env.Root
			out, runErr := cmd.CombinedOutput()
			if runErr != nil {
				err = fmt.Errorf("make %s: %w\n%s", name, runErr, out)
			} else if _, statErr := os.Stat(path); statErr != nil {
				err = fmt.Errorf("make %s did not produce %s", name, path)
			}
		}
		toolBuilt[name] = err
	}
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// run runs a command in the repository root and returns its stdout; a failure
// is returned with stderr in the error.
func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = env.Root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// mustRun is run that fails the test on error.
func mustRun(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := run(t.Context(), name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// decodeObjects splits a multi-document YAML stream into objects, skipping empty documents.
func decodeObjects(t *testing.T, data []byte) rendered {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs rendered
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decoding rendered manifests: %v", err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetAPIVersion() == "" || u.GetName() == "" {
			t.Fatalf("rendered object without apiVersion, kind or name: %v", m)
		}
		objs = append(objs, u)
	}
	if len(objs) == 0 {
		t.Fatal("nothing rendered")
	}
	return objs
}

// rendered is a set of rendered objects with lookups by kind and name.
type rendered []*unstructured.Unstructured

func (r rendered) byKind(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func (r rendered) get(t *testing.T, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range r {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %q rendered; rendered: %s", kind, name, r)
	return nil
}

func (r rendered) String() string {
	var names []string
	for _, o := range r {
		names = append(names, o.GetKind()+"/"+o.GetName())
	}
	return strings.Join(names, ", ")
}

// kinds counts the rendered objects per kind.
func (r rendered) kinds() map[string]int {
	out := map[string]int{}
	for _, o := range r {
		out[o.GetKind()]++
	}
	return out
}

// convert turns an unstructured object into its typed form.
func convert[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
		t.Fatalf("%s %s does not decode strictly into %T: %v", u.GetKind(), u.GetName(), out, err)
	}
	return out
}

// ensureNamespace creates a namespace for real (dry-run objects in a missing
// namespace are rejected), with labels.
func ensureNamespace(t *testing.T, name string, nsLabels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: nsLabels}}
	if err := env.Client.Create(t.Context(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// dryRunApplyAll applies every object with a server-side dry-run, so the API
// server validates each one (schemas, CRD structural validation, RBAC rules,
// namespaces) without persisting it. Kinds of monitoring.coreos.com, whose CRDs
// are not installed, are skipped and returned; any other failure fails the test.
// Namespaced objects must name their namespace, and it must be wantNamespace.
func dryRunApplyAll(t *testing.T, objs rendered, wantNamespace string) (skipped rendered) {
	t.Helper()
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		mapping, err := env.Client.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) && gvk.Group == monitoringGroup {
			skipped = append(skipped, o)
			continue
		}
		if err != nil {
			t.Errorf("%s %s: the API server does not serve this kind: %v", gvk, o.GetName(), err)
			continue
		}
		namespaced := mapping.Scope.Name() == meta.RESTScopeNameNamespace
		switch {
		case namespaced && o.GetNamespace() != wantNamespace:
			t.Errorf("%s %s: namespace %q, want %q (every namespaced object names its namespace)", gvk.Kind, o.GetName(), o.GetNamespace(), wantNamespace)
		case !namespaced && o.GetNamespace() != "":
			t.Errorf("%s %s is cluster-scoped but names namespace %q", gvk.Kind, o.GetName(), o.GetNamespace())
		}
		obj := o.DeepCopy()
		if err := env.Client.Apply(t.Context(), client.ApplyConfigurationFromUnstructured(obj),
			client.DryRunAll, client.FieldOwner("test"), client.ForceOwnership); err != nil {
			t.Errorf("server-side dry-run apply of %s %s/%s: %v", gvk.Kind, o.GetNamespace(), o.GetName(), err)
		}
	}
	return skipped
}

// deploymentWant is what a rendered manager Deployment must have, besides the
// security settings every rendering shares.
type deploymentWant struct {
	name, namespace, serviceAccount string
	replicas                        int32
	image                           string
	// extra checks on the parsed flags
	check func(t *testing.T, opts manager.Options)
}

// checkDeployment asserts the manager Deployment's security, probes,
// resources and flags, and that the pod is admitted under the restricted Pod
// Security Standard.
func checkDeployment(t *testing.T, objs rendered, want deploymentWant) *appsv1.Deployment {
	t.Helper()
	d := convert[appsv1.Deployment](t, objs.get(t, "Deployment", want.name))
	if d.Namespace != want.namespace {
		t.Errorf("Deployment namespace %q, want %q", d.Namespace, want.namespace)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != want.replicas {
		t.Errorf("replicas %v, want %d", d.Spec.Replicas, want.replicas)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("selector %v does not select the pod labels %v (err %v)", d.Spec.Selector, d.Spec.Template.Labels, err)
	}
	pod := d.Spec.Template.Spec
	if pod.ServiceAccountName != want.serviceAccount {
		t.Errorf("serviceAccountName %q, want %q", pod.ServiceAccountName, want.serviceAccount)
	}
	objs.get(t, "ServiceAccount", want.serviceAccount)

	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("pod securityContext.runAsNonRoot is not true: %+v", psc)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod seccompProfile is not RuntimeDefault: %+v", psc)
	}
	if len(pod.Containers) != 1 || pod.Containers[0].Name != "manager" {
		t.Fatalf("want one container named manager, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.Image != want.image {
		t.Errorf("image %q, want %q", c.Image, want.image)
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Error("container has no securityContext")
	default:
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Error("readOnlyRootFilesystem is not true")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Error("allowPrivilegeEscalation is not false")
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
			t.Errorf("capabilities %+v, want drop [ALL] and nothing added", sc.Capabilities)
		}
	}
	for _, rr := range []struct {
		name string
		res  corev1.ResourceList
	}{{"requests", c.Resources.Requests}, {"limits", c.Resources.Limits}} {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := rr.res[r]; !ok || q.IsZero() {
				t.Errorf("resources.%s.%s not set", rr.name, r)
			}
		}
	}

	// Go's soft memory limit: set, and below the hard limit (a cache that
	// outgrows it must have room left before the OOM killer).
	var goMemLimit string
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			goMemLimit = e.Value
		}
	}
	if soft, err := parseGoMemLimit(goMemLimit); err != nil {
		t.Errorf("GOMEMLIMIT %q: %v", goMemLimit, err)
	} else if hard := c.Resources.Limits.Memory(); hard.IsZero() || soft >= hard.Value() {
		t.Errorf("GOMEMLIMIT %q is not below the memory limit %s", goMemLimit, hard)
	}

	// The arguments must be flags the manager really has, with valid values.
	if !slices.Contains(c.Args, "--leader-elect") {
		t.Errorf("args %q lack --leader-elect", c.Args)
	}
	opts := manager.DefaultOptions()
	parseArgs(t, "manager", &opts, c.Args)
	if !opts.LeaderElect {
		t.Error("leader election is off")
	}
	if opts.ProbeAddr != ":8081" {
		t.Errorf("--health-probe-bind-address %q, want :8081", opts.ProbeAddr)
	}
	if opts.MetricsAddr != ":8443" || !opts.MetricsSecure {
		t.Errorf("metrics on %q (secure %v), want :8443 over HTTPS", opts.MetricsAddr, opts.MetricsSecure)
	}
	if want.check != nil {
		want.check(t, opts)
	}

	// Probes: /healthz and /readyz on the port the manager binds.
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe is not an httpGet probe: %+v", p.name, p.probe)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s probe path %q, want %q", p.name, p.probe.HTTPGet.Path, p.path)
		}
		if port := containerPort(c, p.probe.HTTPGet.Port); port != 8081 {
			t.Errorf("%s probe port %s resolves to %d, want 8081", p.name, p.probe.HTTPGet.Port.String(), port)
		}
	}
	if port := containerPort(c, intstr.FromString("https")); port != 8443 {
		t.Errorf("container port https is %d, want 8443", port)
	}

	assertRestrictedPod(t, d.Spec.Template)
	return d
}

// flagValues are a program's flags (manager.Options, portal.Config).
type flagValues interface {
	BindFlags(fs *flag.FlagSet)
	Validate() error
}

// parseArgs parses a container's arguments with the program's own flags into
// v: each must be a flag the program has, nothing positional may be left, and
// the values must pass the program's validation.
func parseArgs(t *testing.T, program string, v flagValues, args []string) {
	t.Helper()
	fs := flag.NewFlagSet(program, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	v.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("the %s rejects args %q: %v", program, args, err)
	}
	if fs.NArg() != 0 {
		t.Errorf("args %q leave positional arguments %q", args, fs.Args())
	}
	if err := v.Validate(); err != nil {
		t.Errorf("args %q: %v", args, err)
	}
}

func containerPort(c corev1.Container, p intstr.IntOrString) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return 0
}

const restrictedNamespace = "psa-restricted"

var restrictedOnce sync.Once

// assertRestrictedPod creates a Deployment's pod with a dry-run in a
// namespace that enforces the restricted Pod Security Standard: the API
// server's PodSecurity admission rejects it if any setting falls short.
func assertRestrictedPod(t *testing.T, tmpl corev1.PodTemplateSpec) {
	t.Helper()
	restrictedOnce.Do(func() {
		ensureNamespace(t, restrictedNamespace, map[string]string{
			"pod-security.kubernetes.io/enforce":         "restricted",
			"pod-security.kubernetes.io/enforce-version": "latest",
		})
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "manager", Namespace: restrictedNamespace}}
		if err := env.Client.Create(t.Context(), sa); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	})
	pod := restrictedTestPod(tmpl)
	if err := env.Client.Create(t.Context(), pod, client.DryRunAll); err != nil {
		t.Errorf("the pod %v is not admitted under the restricted Pod Security Standard: %v", tmpl.Labels, err)
	}
}

func restrictedTestPod(tmpl corev1.PodTemplateSpec) *corev1.Pod {
	spec := *tmpl.Spec.DeepCopy()
	spec.ServiceAccountName = "manager"
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "manager", Namespace: restrictedNamespace, Labels: tmpl.Labels},
		Spec:       spec,
	}
}

// generatedManagerRules reads the rules of config/rbac/role.yaml (generated by controller-gen).
func generatedManagerRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(env.Root, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(data, &role); err != nil {
		t.Fatalf("config/rbac/role.yaml: %v", err)
	}
	if role.Kind != "ClusterRole" || len(role.Rules) == 0 {
		t.Fatalf("config/rbac/role.yaml is not a ClusterRole with rules: %+v", role)
	}
	return role.Rules
}

// checkManagerRBAC asserts that the ClusterRole `role` carries exactly the
// generated rules and is bound to the manager's ServiceAccount.
func checkManagerRBAC(t *testing.T, objs rendered, role, binding, sa, namespace string) {
	t.Helper()
	got := convert[rbacv1.ClusterRole](t, objs.get(t, "ClusterRole", role))
	if want := generatedManagerRules(t); !equality.Semantic.DeepEqual(got.Rules, want) {
		t.Errorf("ClusterRole %s rules differ from config/rbac/role.yaml:\n got %+v\nwant %+v", role, got.Rules, want)
	}
	b := convert[rbacv1.ClusterRoleBinding](t, objs.get(t, "ClusterRoleBinding", binding))
	checkBinding(t, b.Name, b.RoleRef, b.Subjects, "ClusterRole", role, sa, namespace)
}

func checkBinding(t *testing.T, name string, ref rbacv1.RoleRef, subjects []rbacv1.Subject, kind, role, sa, namespace string) {
	t.Helper()
	if ref.Kind != kind || ref.Name != role || ref.APIGroup != rbacv1.GroupName {
		t.Errorf("%s roleRef %+v, want %s %s", name, ref, kind, role)
	}
	want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: namespace}}
	if !equality.Semantic.DeepEqual(subjects, want) {
		t.Errorf("%s subjects %+v, want %+v", name, subjects, want)
	}
}

// checkSupportRBAC asserts the leader-election Role and the metrics auth
// ClusterRole, and that each is bound to the manager.
func checkSupportRBAC(t *testing.T, objs rendered, prefix, sa, namespace string) {
	t.Helper()
	le := convert[rbacv1.Role](t, objs.get(t, "Role", prefix+"-leader-election-role"))
	if le.Namespace != namespace || !grants(le.Rules, "coordination.k8s.io", "leases", "create", "get", "update") ||
		!grants(le.Rules, "", "events", "create", "patch") {
		t.Errorf("leader election Role %s/%s rules %+v", le.Namespace, le.Name, le.Rules)
	}
	leb := convert[rbacv1.RoleBinding](t, objs.get(t, "RoleBinding", prefix+"-leader-election-rolebinding"))
	checkBinding(t, leb.Name, leb.RoleRef, leb.Subjects, "Role", le.Name, sa, namespace)

	ma := convert[rbacv1.ClusterRole](t, objs.get(t, "ClusterRole", prefix+"-metrics-auth-role"))
	if !grants(ma.Rules, "authentication.k8s.io", "tokenreviews", "create") ||
		!grants(ma.Rules, "authorization.k8s.io", "subjectaccessreviews", "create") {
		t.Errorf("metrics auth ClusterRole rules %+v", ma.Rules)
	}
	mab := convert[rbacv1.ClusterRoleBinding](t, objs.get(t, "ClusterRoleBinding", prefix+"-metrics-auth-rolebinding"))
	checkBinding(t, mab.Name, mab.RoleRef, mab.Subjects, "ClusterRole", ma.Name, sa, namespace)

	mr := convert[rbacv1.ClusterRole](t, objs.get(t, "ClusterRole", prefix+"-metrics-reader"))
	if len(mr.Rules) != 1 || !slices.Equal(mr.Rules[0].NonResourceURLs, []string{"/metrics"}) || !slices.Equal(mr.Rules[0].Verbs, []string{"get"}) {
		t.Errorf("metrics reader rules %+v, want get /metrics", mr.Rules)
	}
}

// grants reports whether some rule allows every verb on group/resource.
func grants(rules []rbacv1.PolicyRule, group, resource string, verbs ...string) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && containsAll(r.Verbs, verbs) {
			return true
		}
	}
	return false
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// checkMetricsService asserts the metrics Service: port 8443 named https,
// selecting the manager's pods.
func checkMetricsService(t *testing.T, objs rendered, name string, d *appsv1.Deployment) {
	t.Helper()
	svc := convert[corev1.Service](t, objs.get(t, "Service", name))
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8443 || svc.Spec.Ports[0].Name != "https" ||
		svc.Spec.Ports[0].TargetPort != intstr.FromString("https") {
		t.Errorf("metrics Service ports %+v, want https 8443 -> https", svc.Spec.Ports)
	}
	if len(svc.Spec.Selector) == 0 {
		t.Fatal("metrics Service has no selector")
	}
	for k, v := range svc.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("metrics Service selector %v does not select the manager's pods %v", svc.Spec.Selector, d.Spec.Template.Labels)
			break
		}
	}
}

// readYAMLDir reads the YAML files of dir: file name -> content.
func readYAMLDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = data
	}
	if len(out) == 0 {
		t.Fatalf("no YAML files in %s", dir)
	}
	return out
}

// checkCRDsRendered asserts that the rendered CRDs are those of
// config/crd/bases, object for object.
func checkCRDsRendered(t *testing.T, objs rendered) {
	t.Helper()
	want := map[string]*unstructured.Unstructured{}
	for _, data := range readYAMLDir(t, filepath.Join(env.Root, "config", "crd", "bases")) {
		for _, o := range decodeObjects(t, data) {
			want[o.GetName()] = o
		}
	}
	got := objs.byKind("CustomResourceDefinition")
	if len(got) != len(want) {
		t.Errorf("%d CRDs rendered, want %d", len(got), len(want))
	}
	for _, o := range got {
		w, ok := want[o.GetName()]
		if !ok {
			t.Errorf("rendered CRD %s is not in config/crd/bases", o.GetName())
			continue
		}
		if !equality.Semantic.DeepEqual(o.Object, w.Object) {
			t.Errorf("rendered CRD %s differs from config/crd/bases", o.GetName())
		}
	}
}

// parseGoMemLimit reads a GOMEMLIMIT value as the Go runtime does: a number
// of bytes with an optional B, KiB, MiB, GiB or TiB suffix.
func parseGoMemLimit(v string) (int64, error) {
	units := []struct {
		suffix string
		factor int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	factor := int64(1)
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			v, factor = strings.TrimSuffix(v, u.suffix), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("not a positive number of bytes with a B, KiB, MiB, GiB or TiB suffix")
	}
	return n * factor, nil
}
