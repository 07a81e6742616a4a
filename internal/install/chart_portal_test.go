package install

// The chart's portal (portal.enabled): its objects, RBAC, flags and values
// checks. Moved here from internal/portal/chart_test.go so that every test of
// an installation artifact uses the same rendering and dry-run helpers.

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/gatestream/gatestream/internal/portal"
)

const portalValues = "internal/install/testdata/values-portal-oidc.yaml"

// portalObjects are the rendered objects of the portal (component=portal, or its cluster RBAC).
func portalObjects(objs rendered) rendered {
	var out rendered
	for _, o := range objs {
		if o.GetLabels()["app.kubernetes.io/component"] == "portal" {
			out = append(out, o)
		}
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
func portalArgs(t *testing.T, c corev1.Container) portal.Config {
	t.Helper()
	cfg := portal.DefaultConfig()
	parseArgs(t, "portal", &cfg, c.Args)
	return cfg
}

func TestChartPortalOffByDefault(t *testing.T) {
	objs := helmTemplate(t, "gatestream-system")
	if got := portalObjects(objs); len(got) != 0 {
		t.Errorf("the portal renders by default: %s", got)
	}
}

func TestChartPortalOIDC(t *testing.T) {
	const ns = "portal-chart-oidc"
	objs := helmTemplate(t, ns, "--values", portalValues)
	po := portalObjects(objs)
	if got, want := po.kinds(), map[string]int{"Deployment": 1, "Service": 1, "ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1, "Role": 1, "RoleBinding": 1}; !maps.Equal(got, want) {
		t.Errorf("portal objects %v, want %v (no cookie Secret: cookie.existingSecret is set; a Role for the sign-out ConfigMap)", got, want)
	}
	// Sign-outs are kept in one ConfigMap of the release namespace: the
	// portal may read and update that one only (create cannot be narrowed to a name).
	checked := 0
	for _, o := range objs {
		if o.GetKind() != "Role" || !strings.Contains(o.GetName(), "portal") {
			continue
		}
		checked++
		r := convert[rbacv1.Role](t, o)
		for _, rule := range r.Rules {
			if !slices.Equal(rule.Resources, []string{"configmaps"}) {
				t.Errorf("Role %s grants %v; want configmaps only", r.Name, rule.Resources)
			}
			if (slices.Contains(rule.Verbs, "get") || slices.Contains(rule.Verbs, "update")) && len(rule.ResourceNames) != 1 {
				t.Errorf("Role %s: get/update not limited to the sign-out ConfigMap: %+v", r.Name, rule)
			}
		}
	}
	if checked != 1 {
		t.Errorf("%d portal Roles; want the sign-out ConfigMap's", checked)
	}

	role := convert[rbacv1.ClusterRole](t, po.get(t, "ClusterRole", "gatestream-portal"))
	if !equality.Semantic.DeepEqual(role.Rules, wantPortalRules(nil, false)) {
		t.Errorf("ClusterRole rules:\n got %+v\nwant %+v", role.Rules, wantPortalRules(nil, false))
	}
	b := convert[rbacv1.ClusterRoleBinding](t, po.get(t, "ClusterRoleBinding", "gatestream-portal"))
	if b.RoleRef.Name != role.Name || len(b.Subjects) != 1 || b.Subjects[0].Kind != "ServiceAccount" || b.Subjects[0].Name != "gatestream-portal" || b.Subjects[0].Namespace != ns {
		t.Errorf("binding %+v %+v", b.RoleRef, b.Subjects)
	}
	if sa := convert[corev1.ServiceAccount](t, po.get(t, "ServiceAccount", "gatestream-portal")); sa.Annotations["example.com/owner"] != "platform" {
		t.Errorf("ServiceAccount annotations %v", sa.Annotations)
	}

	d := convert[appsv1.Deployment](t, po.get(t, "Deployment", "gatestream-portal"))
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
	if cfg.AuthMode != portal.AuthOIDC || cfg.PublicURL != "https://portal.example.com" || cfg.OIDCIssuerURL != "https://idp.example.com/realms/factory" ||
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

	svc := convert[corev1.Service](t, po.get(t, "Service", "gatestream-portal"))
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) || svc.Spec.Ports[0].Port != 8080 ||
		svc.Spec.Ports[0].TargetPort.StrVal != "http" || svc.Annotations["example.com/team"] != "platform" {
		t.Errorf("Service %+v %v", svc.Spec, svc.Annotations)
	}
	// The manager's Service and Deployment do not take the portal's pods, and vice versa.
	for _, o := range objs.byKind("Service") {
		if o.GetName() != svc.Name {
			other := convert[corev1.Service](t, o)
			if labels.SelectorFromSet(other.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("Service %s selects the portal's pods", other.Name)
			}
		}
	}
	for _, o := range objs.byKind("Deployment") {
		if o.GetName() != d.Name {
			m := convert[appsv1.Deployment](t, o)
			if sel.Matches(labels.Set(m.Spec.Template.Labels)) {
				t.Errorf("the portal selects the pods of %s", m.Name)
			}
		}
	}

	assertRestrictedPod(t, d.Spec.Template)
	ensureNamespace(t, ns, nil)
	if skipped := dryRunApplyAll(t, po, ns); len(skipped) != 0 {
		t.Errorf("skipped %s", skipped)
	}
}

func TestChartPortalProxyMode(t *testing.T) {
	const ns = "portal-chart-proxy"
	objs := helmTemplate(t, ns, "--set", "portal.enabled=true", "--set", "portal.publicURL=https://portal.example.com",
		"--set", "portal.authMode=proxy", "--set", "portal.proxy.trustedCIDRs={10.0.0.0/8,192.168.0.0/16}",
		"--set", "portal.secretReadFallback=true", "--set", "portal.rbac.impersonateGroups={team-a,team-b}")
	po := portalObjects(objs)
	role := convert[rbacv1.ClusterRole](t, po.get(t, "ClusterRole", "gatestream-portal"))
	if want := wantPortalRules([]string{"team-a", "team-b"}, true); !equality.Semantic.DeepEqual(role.Rules, want) {
		t.Errorf("ClusterRole rules:\n got %+v\nwant %+v", role.Rules, want)
	}
	d := convert[appsv1.Deployment](t, po.get(t, "Deployment", "gatestream-portal"))
	cfg := portalArgs(t, d.Spec.Template.Spec.Containers[0])
	if cfg.AuthMode != portal.AuthProxy || !slices.Equal(cfg.ProxyTrustedCIDRs, []string{"10.0.0.0/8", "192.168.0.0/16"}) || !cfg.SecretReadFallback ||
		cfg.OIDCIssuerURL != "" || cfg.ProxyUserHeader != "X-Forwarded-User" {
		t.Errorf("proxy flags %+v", cfg)
	}
	sec := convert[corev1.Secret](t, po.get(t, "Secret", "gatestream-portal-cookie"))
	if len(sec.Data["keys"]) < 32 {
		t.Errorf("generated cookie key is %d bytes", len(sec.Data["keys"]))
	}
	// The portal reads the generated key file as it reads the mounted Secret.
	cfg.CookieKeysFile = filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(cfg.CookieKeysFile, sec.Data["keys"], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Load(); err != nil {
		t.Errorf("the generated key file is not accepted by the portal: %v", err)
	}
	ensureNamespace(t, ns, nil)
	if skipped := dryRunApplyAll(t, po, ns); len(skipped) != 0 {
		t.Errorf("skipped %s", skipped)
	}
}

func TestChartPortalRefusesBadValues(t *testing.T) {
	helm := tool(t, "helm")
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
		args = append([]string{"template", chartRelease, chartDir, "--namespace", "gatestream-system"}, args...)
		if _, err := run(t.Context(), helm, args...); err == nil {
			t.Errorf("%s: helm template succeeded", name)
		}
	}
	if out := mustRun(t, helm, "lint", "--strict", chartDir, "--values", portalValues); !strings.Contains(string(out), "0 chart(s) failed") {
		t.Errorf("helm lint --strict with the portal:\n%s", out)
	}
}
