package install

import (
	"maps"
	"testing"
)

// TestKustomizeDefault renders config/default (what `make deploy` applies)
// and applies it with a server-side dry-run.
func TestKustomizeDefault(t *testing.T) {
	const ns = "gatestream-system"
	objs := decodeObjects(t, mustRun(t, tool(t, "kustomize"), "build", "config/default"))

	wantKinds := map[string]int{
		"Namespace":                1,
		"CustomResourceDefinition": 3,
		"ServiceAccount":           1,
		// manager, metrics auth, metrics reader, and an editor and a viewer role per kind
		"ClusterRole":        3 + 2*3,
		"ClusterRoleBinding": 2,
		"Role":               1,
		"RoleBinding":        1,
		"Deployment":         1,
		"Service":            1,
	}
	if got := objs.kinds(); !maps.Equal(got, wantKinds) {
		t.Errorf("rendered kinds %v, want %v", got, wantKinds)
	}
	nsObj := objs.get(t, "Namespace", ns)
	if got := nsObj.GetLabels()["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("namespace enforces Pod Security level %q, want restricted", got)
	}
	checkCRDsRendered(t, objs)

	const sa = "gatestream-controller-manager"
	d := checkDeployment(t, objs, deploymentWant{
		name: "gatestream-controller-manager", namespace: ns, serviceAccount: sa, replicas: 1,
		image: "ghcr.io/gatestream/gatestream:0.1.0",
	})
	checkManagerRBAC(t, objs, "gatestream-manager-role", "gatestream-manager-rolebinding", sa, ns)
	checkSupportRBAC(t, objs, "gatestream", sa, ns)
	checkMetricsService(t, objs, "gatestream-controller-manager-metrics-service", d)
	for _, kind := range []string{"remoteaccessenvironment", "devicegroup", "streamingsession"} {
		for _, role := range []string{"editor", "viewer"} {
			objs.get(t, "ClusterRole", "gatestream-"+kind+"-"+role+"-role")
		}
	}

	ensureNamespace(t, ns, nil)
	if skipped := dryRunApplyAll(t, objs, ns); len(skipped) != 0 {
		t.Errorf("skipped %s", skipped)
	}
}

// TestKustomizePrometheus renders the optional ServiceMonitor.
func TestKustomizePrometheus(t *testing.T) {
	objs := decodeObjects(t, mustRun(t, tool(t, "kustomize"), "build", "config/prometheus"))
	sm := objs.get(t, "ServiceMonitor", "controller-manager-metrics-monitor")
	if sm.GroupVersionKind().Group != monitoringGroup {
		t.Errorf("ServiceMonitor group %s", sm.GroupVersionKind().Group)
	}
}
