package v1alpha1_test

import (
	"context"
	"slices"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The CRDs as installed on the API server: status subresource, printer
// columns, short names, the gatestream category, and CEL rules.
func TestCRDsServeStatusColumnsAndRules(t *testing.T) {
	want := map[string]struct {
		short   string
		columns []string
	}{
		"remoteaccessenvironments.access.gatestream.io": {"rae", []string{"Ready", "Synced", "Gateway", "Fleet", "Age"}},
		"devicegroups.access.gatestream.io":             {"dg", []string{"Ready", "Synced", "Group", "SIMs", "Online", "Age"}},
		"streamingsessions.access.gatestream.io":        {"ss", []string{"User", "Device", "Phase", "URL-Expires", "Secret", "Age"}},
	}
	scheme := runtime.NewScheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := c.Get(context.Background(), types.NamespacedName{Name: name}, &crd); err != nil {
				t.Fatal(err)
			}
			if len(crd.Spec.Versions) != 1 {
				t.Fatalf("versions: %d", len(crd.Spec.Versions))
			}
			v := crd.Spec.Versions[0]
			if v.Subresources == nil || v.Subresources.Status == nil {
				t.Error("no status subresource")
			}
			var cols []string
			for _, c := range v.AdditionalPrinterColumns {
				cols = append(cols, c.Name)
			}
			for _, c := range w.columns {
				if !slices.Contains(cols, c) {
					t.Errorf("printer columns %v lack %s", cols, c)
				}
			}
			if !slices.Contains(crd.Spec.Names.ShortNames, w.short) || !slices.Contains(crd.Spec.Names.Categories, "gatestream") {
				t.Errorf("names: short %v categories %v", crd.Spec.Names.ShortNames, crd.Spec.Names.Categories)
			}
			if rules := countRules(v.Schema.OpenAPIV3Schema); rules == 0 {
				t.Error("no CEL rules")
			}
			status := v.Schema.OpenAPIV3Schema.Properties["status"]
			conds := status.Properties["conditions"]
			if conds.XListType == nil || *conds.XListType != "map" || !slices.Equal(conds.XListMapKeys, []string{"type"}) {
				t.Errorf("status.conditions is not a map list keyed by type")
			}
			if _, ok := status.Properties["observedGeneration"]; !ok {
				t.Error("no status.observedGeneration")
			}
		})
	}
}

func countRules(s *apiextensionsv1.JSONSchemaProps) int {
	if s == nil {
		return 0
	}
	n := len(s.XValidations)
	for _, p := range s.Properties {
		n += countRules(&p)
	}
	if s.Items != nil {
		n += countRules(s.Items.Schema)
	}
	return n
}
