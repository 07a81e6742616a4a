package main

import (
	"io"

	"github.com/gatestream/gatestream/hack/internal/controlplane"
)

// The binaries the demo runs from bin/k8s (hack/build-k8s.sh builds them).
var requiredBinaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kubectl"}

// assetsDir returns where the control plane binaries are: KUBEBUILDER_ASSETS
// if set (the Makefile sets it to bin/k8s), else bin/k8s.
func assetsDir(root string) (string, error) {
	return controlplane.AssetsDir(root, requiredBinaries...)
}

// process is a child process the demo started.
type process = controlplane.Process

// childProcesses lists this process's children that run one of the named binaries.
func childProcesses(names ...string) []process { return controlplane.ChildProcesses(names...) }

// alive reports whether pid is a running process (not gone, not a zombie).
func alive(pid int) bool { return controlplane.Alive(pid) }

// closeQuietly closes c, for log files.
func closeQuietly(c io.Closer) { _ = c.Close() }
