package argocd

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite config/argocd/argocd-cm.yaml and the snippet in docs/argocd.md")

var (
	configMapFile = filepath.Join(configRoot, "argocd-cm.yaml")
	docFile       = "../../docs/argocd.md"
)

// TestConfigMapIsGenerated asserts config/argocd/argocd-cm.yaml and the
// snippet in docs/argocd.md are exactly what ConfigMap renders from the
// health.lua files (run hack/gen-argocd-cm.sh after editing a script).
func TestConfigMapIsGenerated(t *testing.T) {
	want, err := ConfigMap(configRoot)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(docFile)
	if err != nil {
		t.Fatal(err)
	}
	wantDoc, err := ReplaceDocSnippet(doc, want)
	if err != nil {
		t.Fatalf("%s: %v", docFile, err)
	}
	if *update {
		if err := os.WriteFile(configMapFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(docFile, wantDoc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(configMapFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run hack/gen-argocd-cm.sh", configMapFile)
	}
	if doc, _ = os.ReadFile(docFile); !bytes.Equal(doc, wantDoc) {
		t.Errorf("the argocd-cm snippet in %s is stale: run hack/gen-argocd-cm.sh", docFile)
	}
}

// TestConfigMapCarriesScriptsVerbatim parses the generated ConfigMap as
// Argo CD would and checks each key holds its health.lua byte for byte.
func TestConfigMapCarriesScriptsVerbatim(t *testing.T) {
	b, err := ConfigMap(configRoot)
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(b, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" || cm.Name != "argocd-cm" {
		t.Errorf("not the argocd-cm ConfigMap: %s %s %s", cm.APIVersion, cm.Kind, cm.Name)
	}
	scripts, err := HealthScripts(configRoot)
	if err != nil {
		t.Fatal(err)
	}
	if len(cm.Data) != len(scripts) {
		t.Errorf("data has %d keys, want %d", len(cm.Data), len(scripts))
	}
	for kind, script := range scripts {
		key := HealthKey(Group, kind)
		if cm.Data[key] != script {
			t.Errorf("%s does not hold %s/%s verbatim", key, kind, HealthScriptFile)
		}
	}
	for _, kind := range []string{"RemoteAccessEnvironment", "DeviceGroup", "StreamingSession"} {
		if _, ok := cm.Data["resource.customizations.health.access.gatestream.io_"+kind]; !ok {
			t.Errorf("no health check key for %s", kind)
		}
	}
}
