// Package install holds the tests of gatestream's installation artifacts: the
// Helm chart (charts/gatestream: the manager, and the portal when
// portal.enabled) and the kustomize configuration (config/). They render the
// manifests with the real helm and kustomize binaries and apply every object
// with a server-side dry-run to a real kube-apiserver, through one set of
// rendering and checking helpers (helpers_test.go).
package install
