package argocd

import (
	"fmt"
	"os"
	"path/filepath"
)

// Dir is where the health checks live, relative to the repository root, in
// Argo CD's resource_customizations layout: Dir/<Group>/<Kind>/health.lua.
const Dir = "config/argocd"

// Group is the API group whose health checks live under Dir/<Group>/<Kind>/health.lua.
const Group = "access.gatestream.io"

// HealthScriptFile is the file name Argo CD uses for a health check.
const HealthScriptFile = "health.lua"

// HealthKey is the argocd-cm key of a kind's health check.
func HealthKey(group, kind string) string {
	return "resource.customizations.health." + group + "_" + kind
}

// HealthScripts reads <dir>/<Group>/<Kind>/health.lua for every kind, keyed
// by kind; dir is Dir below the repository root.
func HealthScripts(dir string) (map[string]string, error) {
	dirs, err := os.ReadDir(filepath.Join(dir, Group))
	if err != nil {
		return nil, err
	}
	scripts := map[string]string{}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, Group, d.Name(), HealthScriptFile))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		scripts[d.Name()] = string(b)
	}
	if len(scripts) == 0 {
		return nil, fmt.Errorf("no %s under %s", HealthScriptFile, filepath.Join(dir, Group))
	}
	return scripts, nil
}
