package controlplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// StopAPIServer stops kube-apiserver and leaves etcd running with its data:
// clients get connection refused until StartAPIServer. It sends SIGTERM and,
// when the process has not exited after grace, SIGKILL (kube-apiserver's
// graceful shutdown can take 30 s and more while clients hold watches; a
// pod's termination grace period bounds it the same way). The control plane
// must have been started with Options.RestartableAPIServer.
func (cp *ControlPlane) StopAPIServer(grace time.Duration) error {
	if cp.certDir == "" {
		return errors.New("kube-apiserver was not started restartable (Options.RestartableAPIServer)")
	}
	pid := cp.APIServerPID()
	if pid != 0 {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(grace)
		for Alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if Alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		for Alive(pid) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	// envtest's own Stop finds the process gone (or signals a pid that no
	// longer exists, which is not an error here).
	err := cp.env.ControlPlane.GetAPIServer().Stop()
	if pid != 0 && !Alive(pid) {
		err = nil
	}
	cp.procs = slices.DeleteFunc(cp.procs, func(p Process) bool {
		if p.Name == "kube-apiserver" {
			children.remove(p.PID)
			return true
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	return nil
}

// StartAPIServer starts kube-apiserver again after StopAPIServer: the same
// port, etcd (so every object is still there), serving certificate and
// client CA, so that every kubeconfig written before still works. It returns
// when /healthz answers.
func (cp *ControlPlane) StartAPIServer() error {
	if cp.certDir == "" {
		return errors.New("kube-apiserver was not started restartable (Options.RestartableAPIServer)")
	}
	err := cp.env.ControlPlane.GetAPIServer().Start()
	// Register whatever started, even on error, so that a second interrupt can kill it.
	for _, p := range startedBy(cp.env, "kube-apiserver") {
		children.add(p)
		cp.procs = append(cp.procs, p)
	}
	if err != nil {
		return fmt.Errorf("starting kube-apiserver again: %w", err)
	}
	return nil
}

// APIServerPID is kube-apiserver's pid (0 while it is stopped).
func (cp *ControlPlane) APIServerPID() int {
	for _, p := range cp.procs {
		if p.Name == "kube-apiserver" {
			return p.PID
		}
	}
	return 0
}

// startedBy returns this process's children with one of the names that env
// started: not registered yet (by another control plane of this process),
// and, once the ports are known, with env's etcd URL (etcd) or secure port
// (kube-apiserver) on their command line. Several control planes may run in
// one process (hack/chaos runs scenarios side by side).
func startedBy(env *envtest.Environment, names ...string) []Process {
	marks := map[string]string{}
	if a := env.ControlPlane.APIServer; a != nil && a.SecureServing.Port != "" {
		marks["kube-apiserver"] = "--secure-port=" + a.SecureServing.Port
	}
	if e := env.ControlPlane.Etcd; e != nil && e.URL != nil {
		marks["etcd"] = "--listen-client-urls=" + e.URL.String()
	}
	var out []Process
	for _, p := range ChildProcesses(names...) {
		if children.has(p.PID) {
			continue
		}
		if mark := marks[p.Name]; mark != "" && !cmdlineHas(p.PID, mark) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// cmdlineHas reports whether one of pid's arguments is arg.
func cmdlineHas(pid int, arg string) bool {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return false
	}
	return slices.Contains(strings.Split(string(data), "\x00"), arg)
}

func (r *registry) has(pid int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.procs, func(p Process) bool { return p.PID == pid })
}

// removeDir removes a directory of ours ("" is none).
func removeDir(dir string) {
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}
