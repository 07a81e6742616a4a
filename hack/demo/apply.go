package main

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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// fieldOwner is the demo's server-side apply field manager.
const fieldOwner = client.FieldOwner("gatestream-demo")

// decodeYAML splits multi-document YAML into objects (empty documents skipped).
func decodeYAML(data []byte) ([]*unstructured.Unstructured, error) {
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

// decodeFile reads one YAML file.
func decodeFile(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	objs, err := decodeYAML(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return objs, nil
}

// apply server-side applies every object (idempotent: a rerun against the
// same API server is fine).
func apply(ctx context.Context, c client.Client, objs ...*unstructured.Unstructured) error {
	for _, o := range objs {
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), fieldOwner, client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %s %s: %w", o.GetKind(), objectKey(o), err)
		}
	}
	return nil
}

func objectKey(o client.Object) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}

// admissionManifests are the YAML files of config/admission/ except the
// kustomization (the StreamingSession admission policy, its binding and
// parameters); nil when the directory does not exist.
func admissionManifests(root string) ([]*unstructured.Unstructured, error) {
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
		objs, err := decodeFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// mergePatch applies a JSON merge patch (RFC 7386) to an object.
func mergePatch(o *unstructured.Unstructured, patch string) error {
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
