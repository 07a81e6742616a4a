// Package repo locates the gatestream repository on disk: the generators in
// hack/, the demo and the tests that read checked-in files (CRDs, samples,
// the chart, docs) find it here, in one way.
package repo

import (
	"errors"
	"os"
	"path/filepath"
)

// Marker is the file that marks the repository root: kubebuilder's PROJECT.
const Marker = "PROJECT"

// ErrNotFound is returned by Root outside the repository.
var ErrNotFound = errors.New("no " + Marker + " file at or above the working directory: run this inside the gatestream repository")

// Root returns the nearest directory at or above the working directory that
// holds the PROJECT file. Tests run in their package's directory and
// `go run ./hack/...` in the caller's, so both find the repository this way.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return rootFrom(dir)
}

func rootFrom(dir string) (string, error) {
	for {
		if _, err := os.Stat(filepath.Join(dir, Marker)); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNotFound
		}
		dir = parent
	}
}

// Path returns the path of elem below the repository root.
func Path(elem ...string) (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(append([]string{root}, elem...)...), nil
}
