package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/gatestream/gatestream/internal/argocd"
	"github.com/gatestream/gatestream/internal/repo"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestConfigMapIsGenerated asserts config/argocd/argocd-cm.yaml and the
// snippet in docs/argocd.md are exactly what the generator renders from the
// health.lua files (run hack/gen-argocd-cm.sh after editing a script).
func TestConfigMapIsGenerated(t *testing.T) {
	root := repoRoot(t)
	want, wantDoc, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, configMapFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run hack/gen-argocd-cm.sh", configMapFile)
	}
	if doc, _ := os.ReadFile(filepath.Join(root, docFile)); !bytes.Equal(doc, wantDoc) {
		t.Errorf("the argocd-cm snippet in %s is stale: run hack/gen-argocd-cm.sh", docFile)
	}
}

// TestConfigMapCarriesScriptsVerbatim parses the generated ConfigMap as
// Argo CD would and checks each key holds its health.lua byte for byte.
func TestConfigMapCarriesScriptsVerbatim(t *testing.T) {
	dir := filepath.Join(repoRoot(t), filepath.FromSlash(argocd.Dir))
	b, err := ConfigMap(dir)
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
	scripts, err := argocd.HealthScripts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cm.Data) != len(scripts) {
		t.Errorf("data has %d keys, want %d", len(cm.Data), len(scripts))
	}
	for kind, script := range scripts {
		key := argocd.HealthKey(argocd.Group, kind)
		if cm.Data[key] != script {
			t.Errorf("%s does not hold %s/%s verbatim", key, kind, argocd.HealthScriptFile)
		}
	}
	for _, kind := range []string{"RemoteAccessEnvironment", "DeviceGroup", "StreamingSession"} {
		if _, ok := cm.Data["resource.customizations.health.access.gatestream.io_"+kind]; !ok {
			t.Errorf("no health check key for %s", kind)
		}
	}
}

// TestRunWritesWhatGenerateRenders runs the command on a copy of the inputs
// and checks it writes both files, and that it refuses a doc without markers.
func TestRunWritesWhatGenerateRenders(t *testing.T) {
	src := repoRoot(t)
	root := t.TempDir()
	scripts, err := argocd.HealthScripts(filepath.Join(src, filepath.FromSlash(argocd.Dir)))
	if err != nil {
		t.Fatal(err)
	}
	for kind, script := range scripts {
		write(t, filepath.Join(root, filepath.FromSlash(argocd.Dir), argocd.Group, kind, argocd.HealthScriptFile), script)
	}
	write(t, filepath.Join(root, docFile), "# Argo CD\n\n"+DocBegin+"\nold\n"+DocEnd+"\n\nafter\n")
	if err := run(root); err != nil {
		t.Fatal(err)
	}
	want, err := ConfigMap(filepath.Join(src, filepath.FromSlash(argocd.Dir)))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, configMapFile)); !bytes.Equal(got, want) {
		t.Errorf("wrote a %s that differs from the repository's", configMapFile)
	}
	doc, _ := os.ReadFile(filepath.Join(root, docFile))
	if !bytes.Contains(doc, want) || bytes.Contains(doc, []byte("old")) || !bytes.HasSuffix(doc, []byte(DocEnd+"\n\nafter\n")) {
		t.Errorf("%s: snippet not replaced between the markers:\n%s", docFile, doc)
	}
	write(t, filepath.Join(root, docFile), "no markers\n")
	if err := run(root); err == nil {
		t.Error("a doc without markers was accepted")
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
