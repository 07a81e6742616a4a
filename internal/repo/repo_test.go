package repo

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRootIsTheModuleRoot(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(gomod), "module github.com/gatestream/gatestream\n") {
		t.Errorf("%s/go.mod is not gatestream's module", root)
	}
	if p, err := Path("config", "crd"); err != nil || p != filepath.Join(root, "config", "crd") {
		t.Errorf("Path(config, crd) = %q, %v", p, err)
	}
}

func TestRootFromBelowAndOutside(t *testing.T) {
	dir := t.TempDir()
	deep := filepath.Join(dir, "a", "b", "c")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := rootFrom(deep); !errors.Is(err, ErrNotFound) {
		t.Fatalf("outside a repository: err = %v, want ErrNotFound", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", Marker), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := rootFrom(deep); err != nil || got != filepath.Join(dir, "a") {
		t.Fatalf("rootFrom(%s) = %q, %v; want the directory holding %s", deep, got, err, Marker)
	}
}
