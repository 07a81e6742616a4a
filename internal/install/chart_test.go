package install

import (
	"bytes"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatestream/gatestream/internal/manager"
)

const (
	chartDir     = "charts/gatestream"
	fullValues   = "internal/install/testdata/values-full.yaml"
	chartRelease = "gatestream"
)

// helmTemplate renders the chart (CRDs included) as release "gatestream" in namespace.
func helmTemplate(t *testing.T, namespace string, extra ...string) rendered {
	t.Helper()
	helm := tool(t, "helm")
	args := append([]string{"template", chartRelease, chartDir, "--namespace", namespace, "--include-crds"}, extra...)
	return decodeObjects(t, mustRun(t, helm, args...))
}

// TestChartGeneratedFilesInSync checks that the chart's CRDs and manager rules
// are the copies hack/sync-chart.sh makes of controller-gen's output.
func TestChartGeneratedFilesInSync(t *testing.T) {
	bases := readYAMLDir(t, filepath.Join(env.Root, "config", "crd", "bases"))
	chartCRDs := readYAMLDir(t, filepath.Join(env.Root, chartDir, "crds"))
	if got, want := slices.Sorted(maps.Keys(chartCRDs)), slices.Sorted(maps.Keys(bases)); !slices.Equal(got, want) {
		t.Errorf("%s/crds holds %q, config/crd/bases %q: run `make chart-sync`", chartDir, got, want)
	}
	for name, want := range bases {
		if got, ok := chartCRDs[name]; ok && !bytes.Equal(got, want) {
			t.Errorf("%s/crds/%s differs from config/crd/bases/%s: run `make chart-sync`", chartDir, name, name)
		}
	}
	role := readYAMLDir(t, filepath.Join(env.Root, "config", "rbac"))["role.yaml"]
	files := readYAMLDir(t, filepath.Join(env.Root, chartDir, "files"))
	if !bytes.Equal(files["manager-role.yaml"], role) {
		t.Errorf("%s/files/manager-role.yaml differs from config/rbac/role.yaml: run `make chart-sync`", chartDir)
	}
	policy := readYAMLDir(t, filepath.Join(env.Root, "config", "admission"))["streamingsession_policy.yaml"]
	if !bytes.Equal(files["admission-policy.yaml"], policy) {
		t.Errorf("%s/files/admission-policy.yaml differs from config/admission/streamingsession_policy.yaml: run `make chart-sync`", chartDir)
	}
	finalizer := readYAMLDir(t, filepath.Join(env.Root, "config", "admission"))["streamingsession_finalizer.yaml"]
	if !bytes.Equal(files["finalizer-policy.yaml"], finalizer) {
		t.Errorf("%s/files/finalizer-policy.yaml differs from config/admission/streamingsession_finalizer.yaml: run `make chart-sync`", chartDir)
	}
}

func TestHelmLint(t *testing.T) {
	helm := tool(t, "helm")
	for _, args := range [][]string{
		{"lint", "--strict", chartDir},
		{"lint", "--strict", chartDir, "--values", fullValues},
	} {
		out := mustRun(t, helm, args...)
		if !strings.Contains(string(out), "0 chart(s) failed") {
			t.Errorf("helm %s:\n%s", strings.Join(args, " "), out)
		}
	}
}

func TestHelmTemplateDefaults(t *testing.T) {
	const ns = "gatestream-system"
	objs := helmTemplate(t, ns)

	wantKinds := map[string]int{
		"CustomResourceDefinition": 3,
		"ServiceAccount":           1,
		"ClusterRole":              3, // manager, metrics auth, metrics reader
		"ClusterRoleBinding":       2,
		"Role":                     1,
		"RoleBinding":              1,
		"Deployment":               1,
		"Service":                  1,
		// The StreamingSession admission policy, its binding and its parameters.
		"ValidatingAdmissionPolicy":        1,
		"ValidatingAdmissionPolicyBinding": 1,
		"ConfigMap":                        1,
		// The policy that adds the StreamingSession finalizer at create, and its binding.
		"MutatingAdmissionPolicy":        1,
		"MutatingAdmissionPolicyBinding": 1,
		// Two replicas by default: one stays through voluntary disruptions.
		"PodDisruptionBudget": 1,
	}
	if got := objs.kinds(); !maps.Equal(got, wantKinds) {
		t.Errorf("rendered kinds %v, want %v (no Secret, no ServiceMonitor by default)", got, wantKinds)
	}
	checkCRDsRendered(t, objs)
	checkAdmissionPolicyRendered(t, objs, ns)

	const sa = "gatestream-controller-manager"
	d := checkDeployment(t, objs, deploymentWant{
		name: "gatestream-controller-manager", namespace: ns, serviceAccount: sa, replicas: 2,
		image: "ghcr.io/gatestream/gatestream:0.1.0",
		check: func(t *testing.T, opts manager.Options) {
			def := manager.DefaultOptions()
			if opts.LeaseDuration != def.LeaseDuration || opts.RenewDeadline != def.RenewDeadline || opts.RetryPeriod != def.RetryPeriod {
				t.Errorf("lease timings %s/%s/%s, want the manager's defaults", opts.LeaseDuration, opts.RenewDeadline, opts.RetryPeriod)
			}
			if opts.PollInterval != def.PollInterval || opts.MaxConcurrent != def.MaxConcurrent ||
				opts.LogFormat != "json" || opts.LogLevel != "info" || len(opts.WatchNamespaces) != 0 ||
				opts.SoracomCallsPerSec != def.SoracomCallsPerSec || opts.AWSCallsPerSec != def.AWSCallsPerSec {
				t.Errorf("default values do not give the manager's defaults: %+v", opts)
			}
		},
	})
	c := d.Spec.Template.Spec.Containers[0]
	if want := []corev1.EnvVar{{Name: "GOMEMLIMIT", Value: "230MiB"}}; !equality.Semantic.DeepEqual(c.Env, want) || len(c.EnvFrom) != 0 {
		t.Errorf("default values set env %v / envFrom %v, want only %v", c.Env, c.EnvFrom, want)
	}
	if sa := convert[corev1.ServiceAccount](t, objs.get(t, "ServiceAccount", sa)); len(sa.Annotations) != 0 {
		t.Errorf("ServiceAccount annotations %v by default", sa.Annotations)
	}
	checkManagerRBAC(t, objs, "gatestream-manager-role", "gatestream-manager-rolebinding", sa, ns)
	checkSupportRBAC(t, objs, "gatestream", sa, ns)
	checkMetricsService(t, objs, "gatestream-controller-manager-metrics-service", d)

	ensureNamespace(t, ns, nil)
	if skipped := dryRunApplyAll(t, objs, ns); len(skipped) != 0 {
		t.Errorf("skipped %s", skipped)
	}
}

func TestHelmTemplateAllOptions(t *testing.T) {
	const ns = "gatestream-full"
	objs := helmTemplate(t, ns, "--values", fullValues)

	const sa = "gatestream-controller-manager"
	d := checkDeployment(t, objs, deploymentWant{
		name: "gatestream-controller-manager", namespace: ns, serviceAccount: sa, replicas: 2,
		image: "registry.example.com/gatestream:v9.9.9",
		check: func(t *testing.T, opts manager.Options) {
			if !slices.Equal(opts.WatchNamespaces, []string{"team-a", "team-b"}) {
				t.Errorf("watch namespaces %q, want [team-a team-b]", opts.WatchNamespaces)
			}
			if opts.PollInterval != 150*time.Second || opts.MaxConcurrent != 8 || opts.LogFormat != "console" ||
				opts.LogLevel != "debug" || opts.SoracomCallsPerSec != 2.5 || opts.AWSCallsPerSec != 20 ||
				opts.GracefulShutdownTime != time.Minute {
				t.Errorf("flags do not follow the values: %+v", opts)
			}
		},
	})
	pod := d.Spec.Template
	c := pod.Spec.Containers[0]
	if c.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("pullPolicy %q", c.ImagePullPolicy)
	}
	if want := []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "aws-keys"}}}}; !equality.Semantic.DeepEqual(c.EnvFrom, want) {
		t.Errorf("envFrom %+v, want the aws-keys Secret", c.EnvFrom)
	}
	if want := []corev1.EnvVar{{Name: "GOMEMLIMIT", Value: "100MiB"}, {Name: "AWS_REGION", Value: "ap-northeast-1"}, {Name: "HTTPS_PROXY", Value: "http://proxy.example.com:3128"}}; !equality.Semantic.DeepEqual(c.Env, want) {
		t.Errorf("env %+v, want %+v", c.Env, want)
	}
	if pod.Annotations["example.com/team"] != "platform" || pod.Annotations["kubectl.kubernetes.io/default-container"] != "manager" {
		t.Errorf("pod annotations %v", pod.Annotations)
	}
	if pod.Labels["example.com/tier"] != "control" {
		t.Errorf("pod labels %v", pod.Labels)
	}
	if pod.Spec.NodeSelector["kubernetes.io/os"] != "linux" || len(pod.Spec.Tolerations) != 1 || pod.Spec.Tolerations[0].Key != "dedicated" {
		t.Errorf("nodeSelector %v tolerations %v", pod.Spec.NodeSelector, pod.Spec.Tolerations)
	}
	if got := convert[corev1.ServiceAccount](t, objs.get(t, "ServiceAccount", sa)).Annotations["eks.amazonaws.com/role-arn"]; got != "arn:aws:iam::123456789012:role/gatestream" {
		t.Errorf("IRSA annotation %q", got)
	}

	secret := convert[corev1.Secret](t, objs.get(t, "Secret", "soracom-auth"))
	if secret.Namespace != ns || secret.StringData["authKeyId"] != "keyId-test" || secret.StringData["authKey"] != "secret-test" || len(secret.StringData) != 2 {
		t.Errorf("SORACOM Secret %s/%s with keys %v", secret.Namespace, secret.Name, slices.Sorted(maps.Keys(secret.StringData)))
	}

	checkManagerRBAC(t, objs, "gatestream-manager-role", "gatestream-manager-rolebinding", sa, ns)
	checkSupportRBAC(t, objs, "gatestream", sa, ns)
	checkMetricsService(t, objs, "gatestream-controller-manager-metrics-service", d)

	sm := objs.get(t, "ServiceMonitor", "gatestream-controller-manager-metrics-monitor")
	if sm.GroupVersionKind().Group != monitoringGroup || sm.GetNamespace() != ns || sm.GetLabels()["release"] != "kube-prometheus-stack" {
		t.Errorf("ServiceMonitor %s in %s labels %v", sm.GroupVersionKind(), sm.GetNamespace(), sm.GetLabels())
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints %v", endpoints)
	}
	if ep, _ := endpoints[0].(map[string]any); ep["port"] != "https" || ep["scheme"] != "https" || ep["path"] != "/metrics" || ep["interval"] != "30s" {
		t.Errorf("ServiceMonitor endpoint %v", ep)
	}

	ensureNamespace(t, ns, nil)
	skipped := dryRunApplyAll(t, objs, ns)
	if len(skipped) != 1 || skipped[0].GetKind() != "ServiceMonitor" {
		t.Errorf("skipped %s, want only the ServiceMonitor (its CRD is not installed)", skipped)
	}
}

// TestHelmTemplateMetricsOff checks that metrics can be switched off: no
// Service, no metrics RBAC, and the manager binds no metrics port.
func TestHelmTemplateMetricsOff(t *testing.T) {
	objs := helmTemplate(t, "gatestream-system", "--set", "metrics.enabled=false", "--set", "metrics.serviceMonitor.enabled=true")
	for _, kind := range []string{"Service", "ServiceMonitor"} {
		if got := objs.byKind(kind); len(got) != 0 {
			t.Errorf("%d %s rendered with metrics off", len(got), kind)
		}
	}
	if got := objs.kinds()["ClusterRole"]; got != 1 {
		t.Errorf("%d ClusterRoles with metrics off, want only the manager's", got)
	}
	d := convert[appsv1.Deployment](t, objs.get(t, "Deployment", "gatestream-controller-manager"))
	c := d.Spec.Template.Spec.Containers[0]
	if !slices.Contains(c.Args, "--metrics-bind-address=0") || len(c.Ports) != 1 {
		t.Errorf("args %q ports %+v", c.Args, c.Ports)
	}
}

// TestHelmValuesSchema checks that values.schema.json (and the templates'
// required checks) reject what cannot work.
func TestHelmValuesSchema(t *testing.T) {
	helm := tool(t, "helm")
	for _, tc := range []struct {
		name string
		set  []string
		want string
	}{
		{"unknown key", []string{"replicaCount=2"}, "replicaCount"},
		{"log format", []string{"logFormat=xml"}, "logFormat"},
		{"log level", []string{"logLevel=warn"}, "logLevel"},
		{"poll interval", []string{"pollInterval=5 minutes"}, "pollInterval"},
		{"concurrency", []string{"maxConcurrentReconciles=0"}, "maxConcurrentReconciles"},
		{"memory limit unit", []string{"goMemLimit=128Mi"}, "goMemLimit"},
		{"watch namespace", []string{"watchNamespaces={Team_A}"}, "watchNamespaces"},
		{"soracom secret without keys", []string{"soracom.createSecret=true"}, "soracom.authKeyId is required"},
		{"existing service account unnamed", []string{"serviceAccount.create=false"}, "serviceAccount.name is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"template", chartRelease, chartDir}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			_, err := run(t.Context(), helm, args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("helm template --set %q: error %v, want one mentioning %q", tc.set, err, tc.want)
			}
		})
	}
}

// TestRestrictedPodSecurityIsEnforced makes sure the restricted-pod check in
// checkDeployment can fail: the API server rejects a pod that runs as root.
func TestRestrictedPodSecurityIsEnforced(t *testing.T) {
	objs := helmTemplate(t, "gatestream-system")
	d := convert[appsv1.Deployment](t, objs.get(t, "Deployment", "gatestream-controller-manager"))
	assertRestrictedPod(t, d.Spec.Template) // creates the namespace
	tmpl := *d.Spec.Template.DeepCopy()
	tmpl.Spec.SecurityContext = nil
	tmpl.Spec.Containers[0].SecurityContext = nil
	if err := env.Client.Create(t.Context(), restrictedTestPod(tmpl), client.DryRunAll); err == nil ||
		!strings.Contains(err.Error(), "violates PodSecurity") {
		t.Errorf("a pod without a security context was not rejected by PodSecurity admission: %v", err)
	}
}

// checkAdmissionPolicyRendered checks that the binding points at the policy
// and at the parameters ConfigMap in the release namespace, with the default
// admin groups.
func checkAdmissionPolicyRendered(t *testing.T, objs rendered, ns string) {
	t.Helper()
	var policy, binding, params *unstructured.Unstructured
	for _, o := range objs {
		switch o.GetKind() {
		case "ValidatingAdmissionPolicy":
			policy = o
		case "ValidatingAdmissionPolicyBinding":
			binding = o
		case "ConfigMap":
			params = o
		}
	}
	if policy == nil || binding == nil || params == nil {
		t.Fatal("admission policy, binding or parameters not rendered")
	}
	policyName, _, _ := unstructured.NestedString(binding.Object, "spec", "policyName")
	paramName, _, _ := unstructured.NestedString(binding.Object, "spec", "paramRef", "name")
	paramNS, _, _ := unstructured.NestedString(binding.Object, "spec", "paramRef", "namespace")
	if policyName != policy.GetName() || paramName != params.GetName() || paramNS != ns || params.GetNamespace() != ns {
		t.Errorf("binding policy %q params %s/%s; want %q and %s/%s", policyName, paramNS, paramName, policy.GetName(), ns, params.GetName())
	}
	groups, _, _ := unstructured.NestedString(params.Object, "data", "adminGroups")
	if groups != "gatestream:admins,system:masters" {
		t.Errorf("adminGroups = %q", groups)
	}
}
