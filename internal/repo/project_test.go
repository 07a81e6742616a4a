package repo_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/internal/repo"
)

// project is kubebuilder's PROJECT file, config version 3
// (sigs.k8s.io/kubebuilder/v4/pkg/config/v3.Cfg and pkg/model/resource),
// which kubebuilder reads strictly: an unknown field breaks the CLI.
type project struct {
	Version     string         `json:"version"`
	Domain      string         `json:"domain,omitempty"`
	Repo        string         `json:"repo,omitempty"`
	ProjectName string         `json:"projectName,omitempty"`
	CLIVersion  string         `json:"cliVersion,omitempty"`
	Layout      []string       `json:"layout,omitempty"`
	MultiGroup  bool           `json:"multigroup,omitempty"`
	Resources   []resource     `json:"resources,omitempty"`
	Plugins     map[string]any `json:"plugins,omitempty"`
}

type resource struct {
	Group   string `json:"group,omitempty"`
	Domain  string `json:"domain,omitempty"`
	Version string `json:"version,omitempty"`
	Kind    string `json:"kind,omitempty"`
	Plural  string `json:"plural,omitempty"`
	Path    string `json:"path,omitempty"`
	API     *struct {
		CRDVersion string `json:"crdVersion,omitempty"`
		Namespaced bool   `json:"namespaced,omitempty"`
	} `json:"api,omitempty"`
	Controller bool           `json:"controller,omitempty"`
	Webhooks   map[string]any `json:"webhooks,omitempty"`
	External   bool           `json:"external,omitempty"`
	Core       bool           `json:"core,omitempty"`
	Module     string         `json:"module,omitempty"`
}

// TestProjectFileMatchesTheLayout checks PROJECT against the tree: kubebuilder
// can read it, it names the module, the single API group and version that
// api/v1alpha1 serves, every kind with its scope, and a reconciler for each
// kind it says has a controller, in controllers/ with the manager in main.go
// (the two places where gatestream's top level differs from go/v4's).
func TestProjectFileMatchesTheLayout(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	read := func(elem ...string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(append([]string{root}, elem...)...))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var p project
	if err := yaml.UnmarshalStrict(read(repo.Marker), &p); err != nil {
		t.Fatalf("PROJECT is not a kubebuilder project config: %v", err)
	}
	module := regexp.MustCompile(`(?m)^module (\S+)$`).FindSubmatch(read("go.mod"))
	if module == nil {
		t.Fatal("go.mod has no module line")
	}
	if p.Version != "3" || !slices.Equal(p.Layout, []string{"go.kubebuilder.io/v4"}) || p.Repo != string(module[1]) ||
		p.ProjectName != "gatestream" || p.MultiGroup {
		t.Errorf("PROJECT: version %q layout %v repo %q (go.mod: %s) projectName %q multigroup %v; want 3, [go.kubebuilder.io/v4], the module, gatestream, single group",
			p.Version, p.Layout, p.Repo, module[1], p.ProjectName, p.MultiGroup)
	}

	for dir, want := range map[string]bool{"controllers": true, "main.go": true, "internal/controller": false, "cmd/main.go": false} {
		if _, err := os.Stat(filepath.Join(root, dir)); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v (PROJECT's comment describes the layout)", dir, err == nil, want)
		}
	}

	scheme := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	gv := accessv1alpha1.GroupVersion
	var kinds []string
	for kind := range scheme.KnownTypes(gv) {
		if !strings.HasSuffix(kind, "List") && scheme.Recognizes(gv.WithKind(kind+"List")) {
			kinds = append(kinds, kind)
		}
	}
	var listed []string
	for _, r := range p.Resources {
		listed = append(listed, r.Kind)
		if r.Group+"."+r.Domain != gv.Group || r.Domain != p.Domain || r.Version != gv.Version {
			t.Errorf("%s: group %s.%s version %s; api/v1alpha1 serves %s", r.Kind, r.Group, r.Domain, r.Version, gv)
		}
		if want := p.Repo + "/api/" + r.Version; r.Path != want {
			t.Errorf("%s: path %q, want %q (single-group layout)", r.Kind, r.Path, want)
		}
		if r.External || r.Core || r.Module != "" || r.Webhooks != nil {
			t.Errorf("%s: external %v core %v module %q webhooks %v; gatestream has its own API and no webhooks", r.Kind, r.External, r.Core, r.Module, r.Webhooks)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		plural := r.Plural
		if plural == "" {
			plural = strings.ToLower(r.Kind) + "s"
		}
		if err := yaml.Unmarshal(read("config", "crd", "bases", gv.Group+"_"+plural+".yaml"), &crd); err != nil {
			t.Fatal(err)
		}
		if crd.Spec.Names.Kind != r.Kind || r.API == nil || r.API.CRDVersion != "v1" ||
			r.API.Namespaced != (crd.Spec.Scope == apiextensionsv1.NamespaceScoped) {
			t.Errorf("%s: api %+v; the CRD is %s %s", r.Kind, r.API, crd.Spec.Names.Kind, crd.Spec.Scope)
		}
		src, err := os.ReadFile(filepath.Join(root, "controllers", strings.ToLower(r.Kind)+"_controller.go"))
		hasReconciler := err == nil && strings.Contains(string(src), "type "+r.Kind+"Reconciler struct")
		if hasReconciler != r.Controller {
			t.Errorf("%s: controller %v, but controllers/%s_controller.go with %sReconciler: %v", r.Kind, r.Controller, strings.ToLower(r.Kind), r.Kind, hasReconciler)
		}
	}
	slices.Sort(kinds)
	slices.Sort(listed)
	if len(kinds) == 0 {
		t.Fatal("no kinds registered by api/v1alpha1")
	}
	if !slices.Equal(kinds, listed) {
		t.Errorf("PROJECT lists kinds %v; api/v1alpha1 has %v", listed, kinds)
	}
}
