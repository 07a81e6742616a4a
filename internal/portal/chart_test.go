package portal

import (
	"context"
	"flag"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const portalValues = "internal/portal/testdata/values-portal-oidc.yaml"

func renderChart(t *testing.T, ns string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helmTemplateRaw(t.Context(), append([]string{"--namespace", ns}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(out)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// portalObjects are the rendered objects of the portal (component=portal, or its cluster RBAC).
func portalObjects(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	out := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		if o.GetLabels()["app.kubernetes.io/component"] == "portal" {
			out[o.GetKind()+"/"+o.GetName()] = o
		}
	}
	return out
}

func decode[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	if u == nil {
		t.Fatal("object not rendered")
	}
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
		t.Fatalf("%s %s does not decode strictly: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}

// wantPortalRules are the portal's rights, and nothing more.
func wantPortalRules(groups []string, secrets bool) []rbacv1.PolicyRule {
	r := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"users"}, Verbs: []string{"impersonate"}},
		{APIGroups: []string{""}, Resources: []string{"groups"}, Verbs: []string{"impersonate"}, ResourceNames: groups},
		{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
		{APIGroups: []string{"access.gatestream.io"}, Resources: []string{"devicegroups", "remoteaccessenvironments", "streamingsessions"}, Verbs: []string{"get", "list", "watch"}},
	}
	if secrets {
		r = append(r, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}})
	}
	return r
}

// portalArgs parses the container's arguments with the portal's own flags.
func portalArgs(t *testing.T, c corev1.Container) Config {
	t.Helper()
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("portal", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.BindFlags(fs)
	if err := fs.Parse(c.Args); err != nil {
		t.Fatalf("the portal rejects args %q: %v", c.Args, err)
	}
	if fs.NArg() != 0 {
		t.Errorf("positional arguments %q", fs.Args())
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("args %q: %v", c.Args, err)
	}
	return cfg
}

func TestChartPortalOffByDefault(t *testing.T) {
	objs := renderChart(t, portalNS)
	if got := portalObjects(objs); len(got) != 0 {
		t.Errorf("the portal renders by default: %v", slices.Collect(maps.Keys(got)))
	}
}

func TestChartPortalOIDC(t *testing.T) {
	const ns = "portal-chart-oidc"
	objs := renderChart(t, ns, "--values", portalValues)
	po := portalObjects(objs)
	kinds := map[string]int{}
	for _, o := range po {
		kinds[o.GetKind()]++
	}
	if want := map[string]int{"Deployment": 1, "Service": 1, "ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1}; !maps.Equal(kinds, want) {
		t.Errorf("portal objects %v, want %v (no cookie Secret: cookie.existingSecret is set)", kinds, want)
	}

	role := decode[rbacv1.ClusterRole](t, po["ClusterRole/gatestream-portal"])
	if !equality.Semantic.DeepEqual(role.Rules, wantPortalRules(nil, false)) {
		t.Errorf("ClusterRole rules:\n got %+v\nwant %+v", role.Rules, wantPortalRules(nil, false))
	}
	b := decode[rbacv1.ClusterRoleBinding](t, po["ClusterRoleBinding/gatestream-portal"])
	if b.RoleRef.Name != role.Name || len(b.Subjects) != 1 || b.Subjects[0].Kind != "ServiceAccount" || b.Subjects[0].Name != "gatestream-portal" || b.Subjects[0].Namespace != ns {
		t.Errorf("binding %+v %+v", b.RoleRef, b.Subjects)
	}
	if sa := decode[corev1.ServiceAccount](t, po["ServiceAccount/gatestream-portal"]); sa.Annotations["example.com/owner"] != "platform" {
		t.Errorf("ServiceAccount annotations %v", sa.Annotations)
	}

	d := decode[appsv1.Deployment](t, po["Deployment/gatestream-portal"])
	if *d.Spec.Replicas != 3 || d.Namespace != ns || d.Spec.Template.Spec.ServiceAccountName != "gatestream-portal" {
		t.Errorf("deployment replicas %d namespace %s sa %s", *d.Spec.Replicas, d.Namespace, d.Spec.Template.Spec.ServiceAccountName)
	}
	sel, _ := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if !sel.Matches(labels.Set(d.Spec.Template.Labels)) || d.Spec.Template.Labels["example.com/tier"] != "web" {
		t.Errorf("selector %v, pod labels %v", d.Spec.Selector, d.Spec.Template.Labels)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "registry.example.com/gatestream-portal:v9.9.9" || c.ImagePullPolicy != corev1.PullAlways || c.Command[0] != "/gatestream-portal" {
		t.Errorf("image %s %s command %v", c.Image, c.ImagePullPolicy, c.Command)
	}
	cfg := portalArgs(t, c)
	if cfg.AuthMode != AuthOIDC || cfg.PublicURL != "https://portal.example.com" || cfg.OIDCIssuerURL != "https://idp.example.com/realms/factory" ||
		cfg.OIDCClientID != "gatestream-portal" || cfg.OIDCUsernameClaim != "preferred_username" || cfg.OIDCGroupsPrefix != "oidc:" ||
		!slices.Equal(cfg.OIDCScopes, []string{"openid", "profile", "email", "groups"}) || cfg.SessionTTL != 4*time.Hour ||
		cfg.URLValidity != 2*time.Minute || cfg.AccessWindow != 30*time.Minute || cfg.TTLAfterFinished != 10*time.Minute ||
		cfg.ConnectPerMinute != 3 || cfg.ConnectBurst != 2 || cfg.ConnectTimeout != 3*time.Minute || cfg.LogFormat != "console" ||
		cfg.InsecureCookies || cfg.SecretReadFallback || cfg.ListenAddr != ":8080" || cfg.MetricsAddr != ":9090" {
		t.Errorf("flags do not follow the values: %+v", cfg)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	secretOf := map[string]string{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			secretOf[v.Name] = v.Secret.SecretName + ":" + v.Secret.Items[0].Key + ">" + v.Secret.Items[0].Path
		}
	}
	if cfg.CookieKeysFile != mounts["cookie-keys"]+"/keys" || secretOf["cookie-keys"] != "portal-cookie-keys:keys>keys" {
		t.Errorf("cookie keys file %s, mounts %v, volumes %v", cfg.CookieKeysFile, mounts, secretOf)
	}
	if cfg.OIDCClientSecretFile != mounts["oidc-client"]+"/client-secret" || secretOf["oidc-client"] != "portal-oidc:secret>client-secret" {
		t.Errorf("client secret file %s, mounts %v, volumes %v", cfg.OIDCClientSecretFile, mounts, secretOf)
	}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.StrVal != "metrics" {
			t.Errorf("probe %+v is not on the metrics port", p)
		}
	}
	sc := c.SecurityContext
	if sc == nil || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container securityContext %+v", sc)
	}

	svc := decode[corev1.Service](t, po["Service/gatestream-portal"])
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) || svc.Spec.Ports[0].Port != 8080 ||
		svc.Spec.Ports[0].TargetPort.StrVal != "http" || svc.Annotations["example.com/team"] != "platform" {
		t.Errorf("Service %+v %v", svc.Spec, svc.Annotations)
	}
	// The manager's Service and Deployment do not take the portal's pods, and vice versa.
	for _, o := range objs {
		if o.GetKind() == "Service" && o.GetName() != svc.Name {
			other := decode[corev1.Service](t, o)
			if labels.SelectorFromSet(other.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("Service %s selects the portal's pods", other.Name)
			}
		}
		if o.GetKind() == "Deployment" && o.GetName() != d.Name {
			m := decode[appsv1.Deployment](t, o)
			if sel.Matches(labels.Set(m.Spec.Template.Labels)) {
				t.Errorf("the portal selects the pods of %s", m.Name)
			}
		}
	}

	assertRestricted(t, d.Spec.Template)
	dryRun(t, ns, slices.Collect(maps.Values(po)))
}

func TestChartPortalProxyMode(t *testing.T) {
	const ns = "portal-chart-proxy"
	objs := renderChart(t, ns, "--set", "portal.enabled=true", "--set", "portal.publicURL=https://portal.example.com",
		"--set", "portal.authMode=proxy", "--set", "portal.proxy.trustedCIDRs={10.0.0.0/8,192.168.0.0/16}",
		"--set", "portal.secretReadFallback=true", "--set", "portal.rbac.impersonateGroups={team-a,team-b}")
	po := portalObjects(objs)
	role := decode[rbacv1.ClusterRole](t, po["ClusterRole/gatestream-portal"])
	if want := wantPortalRules([]string{"team-a", "team-b"}, true); !equality.Semantic.DeepEqual(role.Rules, want) {
		t.Errorf("ClusterRole rules:\n got %+v\nwant %+v", role.Rules, want)
	}
	d := decode[appsv1.Deployment](t, po["Deployment/gatestream-portal"])
	cfg := portalArgs(t, d.Spec.Template.Spec.Containers[0])
	if cfg.AuthMode != AuthProxy || !slices.Equal(cfg.ProxyTrustedCIDRs, []string{"10.0.0.0/8", "192.168.0.0/16"}) || !cfg.SecretReadFallback ||
		cfg.OIDCIssuerURL != "" || cfg.ProxyUserHeader != "X-Forwarded-User" {
		t.Errorf("proxy flags %+v", cfg)
	}
	sec := decode[corev1.Secret](t, po["Secret/gatestream-portal-cookie"])
	if len(sec.Data["keys"]) < 32 {
		t.Errorf("generated cookie key is %d bytes", len(sec.Data["keys"]))
	}
	if _, err := parseKeys(string(sec.Data["keys"])); err != nil {
		t.Errorf("the generated key file is not accepted by the portal: %v", err)
	}
	dryRun(t, ns, slices.Collect(maps.Values(po)))
}

func TestChartPortalRefusesBadValues(t *testing.T) {
	for name, args := range map[string][]string{
		"no public URL":   {"--set", "portal.enabled=true", "--set", "portal.oidc.issuerURL=https://idp", "--set", "portal.oidc.clientID=x"},
		"no issuer":       {"--set", "portal.enabled=true", "--set", "portal.publicURL=https://p.example.com"},
		"modes mixed":     {"--values", portalValues, "--set", "portal.proxy.trustedCIDRs={10.0.0.0/8}"},
		"proxy, no CIDRs": {"--set", "portal.enabled=true", "--set", "portal.publicURL=https://p.example.com", "--set", "portal.authMode=proxy"},
		"unknown key":     {"--values", portalValues, "--set", "portal.oidcIssuer=x"},
		"bad mode":        {"--values", portalValues, "--set", "portal.authMode=ldap"},
		"public URL path": {"--values", portalValues, "--set", "portal.publicURL=https://p.example.com/portal"},
		"bad session TTL": {"--values", portalValues, "--set", "portal.cookie.sessionTTL=forever"},
	} {
		if _, err := helmTemplateRaw(t.Context(), args...); err == nil {
			t.Errorf("%s: helm template succeeded", name)
		}
	}
	helm, err := helmBin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out, err := runIn(t.Context(), helm, "lint", "--strict", "charts/gatestream", "--values", portalValues)
	if err != nil || !strings.Contains(out, "0 chart(s) failed") {
		t.Errorf("helm lint --strict with the portal: %v\n%s", err, out)
	}
}

func runIn(ctx context.Context, name string, args ...string) (string, error) {
	cmd := execCommand(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// assertRestricted creates the pod (dry run) in a namespace that enforces the
// restricted Pod Security Standard.
func assertRestricted(t *testing.T, tmpl corev1.PodTemplateSpec) {
	t.Helper()
	const ns = "portal-psa-restricted"
	ctx := t.Context()
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest",
	}}}
	if err := env.Client.Create(ctx, nsObj); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: tmpl.Spec.ServiceAccountName, Namespace: ns}}
	if err := env.Client.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "portal", Namespace: ns, Labels: tmpl.Labels}, Spec: *tmpl.Spec.DeepCopy()}
	if err := env.Client.Create(ctx, pod, client.DryRunAll); err != nil {
		t.Errorf("the portal's pod is not admitted under the restricted Pod Security Standard: %v", err)
	}
}

// dryRun applies the objects with a server-side dry run: the API server
// validates each (schemas, RBAC rules, references to the namespace).
func dryRun(t *testing.T, ns string, objs []*unstructured.Unstructured) {
	t.Helper()
	ctx := t.Context()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, o := range objs {
		if err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), client.DryRunAll, client.FieldOwner("portal-chart-test"), client.ForceOwnership); err != nil {
			t.Errorf("server-side dry run of %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
}
