// Package testenv starts the real control plane for tests: kube-apiserver and
// etcd built from Go modules by hack/build-k8s.sh (bin/k8s), with gatestream's
// CRDs installed. Every test that involves the API server (validation, status,
// finalizers, owner references, RBAC) runs against it.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/gatestream/gatestream/internal/manager"
	"github.com/gatestream/gatestream/internal/repo"
)

// Env is a running control plane.
type Env struct {
	Env    *envtest.Environment
	Config *rest.Config
	Client client.Client
	Root   string
}

// AssetsDir returns where kube-apiserver, etcd and kubectl are: KUBEBUILDER_ASSETS if set, else bin/k8s.
func AssetsDir(root string) (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = filepath.Join(root, "bin", "k8s")
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("%s not found in %s: run `make k8s` (or `make test`) to build the control plane from Go modules", b, dir)
		}
	}
	return dir, nil
}

// Start starts kube-apiserver and etcd with the CRDs from config/crd/bases and
// stops them when the test (or TestMain, via the returned stop) ends.
func Start() (*Env, func() error, error) {
	root, err := repo.Root()
	if err != nil {
		return nil, nil, err
	}
	assets, err := AssetsDir(root)
	if err != nil {
		return nil, nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w", assets, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		_ = env.Stop()
		return nil, nil, err
	}
	return &Env{Env: env, Config: cfg, Client: c, Root: root}, env.Stop, nil
}

// Main runs m with a control plane in *out; use it from TestMain.
func Main(m *testing.M, out **Env) int {
	for _, a := range os.Args[1:] {
		// A fuzzing worker runs fuzz targets only, and Go stops it with
		// SIGINT then SIGKILL: a control plane started here would outlive it
		// (and hold its pipes, so that go test never returns).
		if strings.HasPrefix(a, "-test.fuzzworker") {
			return m.Run()
		}
	}
	e, stop, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*out = e
	code := m.Run()
	if err := stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping control plane:", err)
	}
	return code
}
