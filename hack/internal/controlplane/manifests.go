package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Checked-in manifests the callers apply (paths below the repository root).
const (
	// ManagerRole is the manager's ClusterRole, generated from the RBAC markers.
	ManagerRole = "config/rbac/role.yaml"
	// EnvironmentSample is the sample RemoteAccessEnvironment.
	EnvironmentSample = "config/samples/access_v1alpha1_remoteaccessenvironment.yaml"
	// SystemNamespace holds the admission policy's parameters.
	SystemNamespace = "gatestream-system"
)

// DecodeYAML splits multi-document YAML into objects (empty documents skipped).
func DecodeYAML(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// DecodeFile reads one YAML file.
func DecodeFile(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	objs, err := DecodeYAML(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return objs, nil
}

// Apply server-side applies every object as owner (idempotent: a rerun
// against the same API server is fine).
func Apply(ctx context.Context, c client.Client, owner client.FieldOwner, objs ...*unstructured.Unstructured) error {
	for _, o := range objs {
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), owner, client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %s %s: %w", o.GetKind(), ObjectKey(o), err)
		}
	}
	return nil
}

// ObjectKey is namespace/name, or name for a cluster-scoped object.
func ObjectKey(o client.Object) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}

// ToUnstructured converts a typed object for Apply (no creationTimestamp, no status).
func ToUnstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	return u, nil
}

// AdmissionManifests are the YAML files of config/admission/ except the
// kustomization (the StreamingSession admission policies, their bindings and
// parameters); nil when the directory does not exist.
func AdmissionManifests(root string) ([]*unstructured.Unstructured, error) {
	dir := filepath.Join(root, "config", "admission")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || n == "kustomization.yaml" || !(strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
			continue
		}
		names = append(names, n)
	}
	slices.Sort(names)
	var out []*unstructured.Unstructured
	for _, n := range names {
		objs, err := DecodeFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// MergePatch applies a JSON merge patch (RFC 7386) to an object.
func MergePatch(o *unstructured.Unstructured, patch string) error {
	doc, err := json.Marshal(o.Object)
	if err != nil {
		return err
	}
	merged, err := jsonpatch.MergePatch(doc, []byte(patch))
	if err != nil {
		return err
	}
	m := map[string]any{}
	if err := json.Unmarshal(merged, &m); err != nil {
		return err
	}
	o.Object = m
	return nil
}

// ManagerRBAC is what the manager runs with: the generated ClusterRole
// (config/rbac/role.yaml, manager-role) and a ClusterRoleBinding named
// binding that grants it to the user managerUser.
func ManagerRBAC(root, binding, managerUser string) ([]*unstructured.Unstructured, error) {
	role, err := DecodeFile(filepath.Join(root, ManagerRole))
	if err != nil {
		return nil, err
	}
	const rbacGroup = "rbac.authorization.k8s.io"
	crb, err := ToUnstructured(&rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacGroup + "/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: binding},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacGroup, Kind: "ClusterRole", Name: "manager-role"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacGroup, Kind: "User", Name: managerUser}},
	})
	if err != nil {
		return nil, err
	}
	return append(role, crb), nil
}
