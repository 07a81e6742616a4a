package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// The binaries the demo runs from bin/k8s (hack/build-k8s.sh builds them).
var requiredBinaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kubectl"}

// assetsDir returns where the control plane binaries are: KUBEBUILDER_ASSETS
// if set (the Makefile sets it to bin/k8s), else bin/k8s.
func assetsDir(root string) (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = filepath.Join(root, "bin", "k8s")
	}
	var missing []string
	for _, b := range requiredBinaries {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%s not found in %s: run `make k8s` (it builds them from Go modules) or `make demo`", strings.Join(missing, ", "), dir)
	}
	return dir, nil
}

// process is a child process the demo started.
type process struct {
	Name string
	PID  int
}

// childRegistry remembers the processes the demo started, so that a second
// interrupt can kill them before exiting at once.
type childRegistry struct {
	mu    sync.Mutex
	procs []process
	// dirs are envtest's temporary directories (etcd data, certificates),
	// removed after a kill (a clean stop removes them itself).
	dirs []string
}

var children childRegistry

func (r *childRegistry) add(p process) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.procs = append(r.procs, p)
}

func (r *childRegistry) addDirs(dirs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range dirs {
		if d != "" {
			r.dirs = append(r.dirs, d)
		}
	}
}

func (r *childRegistry) remove(pid int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.procs = slices.DeleteFunc(r.procs, func(p process) bool { return p.PID == pid })
}

// killAll sends SIGKILL to every remembered process and its process group
// (envtest and the demo start them as group leaders).
func (r *childRegistry) killAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.procs {
		if pgid, err := syscall.Getpgid(p.PID); err == nil && pgid == p.PID {
			_ = syscall.Kill(-p.PID, syscall.SIGKILL)
		}
		_ = syscall.Kill(p.PID, syscall.SIGKILL)
	}
	r.procs = nil
	for _, d := range r.dirs {
		_ = os.RemoveAll(d)
	}
	r.dirs = nil
}

// childProcesses lists this process's children that run one of the named
// binaries (Linux /proc; empty elsewhere). envtest does not expose the PIDs of
// etcd and kube-apiserver, but they are our children.
func childProcesses(names ...string) []process {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may contain spaces, so cut after the last ')'.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 2 || fields[0] == "Z" {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid != self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		argv0, _, _ := strings.Cut(string(cmdline), "\x00")
		if name := filepath.Base(argv0); slices.Contains(names, name) {
			out = append(out, process{Name: name, PID: pid})
		}
	}
	slices.SortFunc(out, func(a, b process) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// alive reports whether pid is a running process (not gone, not a zombie).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return !errors.Is(err, syscall.ESRCH)
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true // no /proc: trust kill(0)
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || !strings.HasPrefix(strings.TrimSpace(string(stat[i+1:])), "Z")
}

// controlPlane is etcd + kube-apiserver (envtest) and kube-controller-manager.
type controlPlane struct {
	env    *envtest.Environment
	config *rest.Config // envtest's admin (system:masters)
	procs  []process
	kcm    *exec.Cmd
	kcmEnd chan error
	logs   []*os.File
}

// startAPIServer starts etcd and kube-apiserver with the CRDs installed; their
// output goes to etcd.log and kube-apiserver.log in logDir.
func startAPIServer(root, assets, logDir string) (*controlPlane, error) {
	apiLog, err := os.Create(filepath.Join(logDir, "kube-apiserver.log"))
	if err != nil {
		return nil, err
	}
	etcdLog, err := os.Create(filepath.Join(logDir, "etcd.log"))
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDDirectoryPaths:        []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 90 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
		ControlPlane: envtest.ControlPlane{
			APIServer: &envtest.APIServer{Out: apiLog, Err: apiLog},
			Etcd:      &envtest.Etcd{Out: etcdLog, Err: etcdLog},
		},
	}
	cfg, err := env.Start()
	// Register whatever started, even on error, so that a second interrupt can kill it.
	procs := childProcesses("etcd", "kube-apiserver")
	for _, p := range procs {
		children.add(p)
	}
	if api, etcd := env.ControlPlane.APIServer, env.ControlPlane.Etcd; api != nil && etcd != nil {
		children.addDirs(api.CertDir, etcd.DataDir)
	}
	if err != nil {
		_ = env.Stop()
		closeQuietly(apiLog)
		closeQuietly(etcdLog)
		return nil, fmt.Errorf("starting etcd and kube-apiserver from %s: %w (see %s)", assets, err, apiLog.Name())
	}
	return &controlPlane{env: env, config: cfg, procs: procs, logs: []*os.File{apiLog, etcdLog}}, nil
}

// apiServerURL is the secure endpoint, https://127.0.0.1:port.
func (cp *controlPlane) apiServerURL() string { return cp.config.Host }

// addUser provisions a client-certificate user and writes a kubeconfig for it
// (context namespace: namespace).
func (cp *controlPlane) addUser(name string, groups []string, path, namespace string) (*rest.Config, error) {
	u, err := cp.env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return nil, fmt.Errorf("provisioning user %s: %w", name, err)
	}
	cfg := u.Config()
	const cluster = "gatestream-demo"
	ctxName := name + "@" + cluster
	kc := clientcmdapi.NewConfig()
	kc.Clusters[cluster] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts[ctxName] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: name, Namespace: namespace}
	kc.CurrentContext = ctxName
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, err
	}
	return cfg, nil
}

// startControllerManager runs kube-controller-manager against the API server,
// so that the demo behaves like a cluster: garbage collection through owner
// references, namespace deletion, default service accounts and their tokens.
// It serves nothing (--secure-port=0), elects no leader, and logs to logPath.
func (cp *controlPlane) startControllerManager(assets, kubeconfig, logPath string) error {
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	certDir := cp.env.ControlPlane.GetAPIServer().CertDir
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--secure-port=0",
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		// envtest's service-account signing key: the tokens controller signs with it.
		"--service-account-private-key-file=" + filepath.Join(certDir, "sa-signer.key"),
		"--root-ca-file=" + filepath.Join(certDir, "apiserver.crt"),
		// No nodes, no cloud: only what a namespace-scoped operator needs to feel real.
		"--controllers=*,-node-ipam-controller,-node-lifecycle-controller,-persistentvolume-attach-detach-controller,-ttl-controller,-kube-apiserver-serving-clustertrustbundle-publisher-controller",
		"--v=1",
	}
	cmd := exec.Command(filepath.Join(assets, "kube-controller-manager"), args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Its own process group: a terminal's Ctrl-C reaches only the demo, which
	// then stops it after the manager (the same as envtest does for etcd and kube-apiserver).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	p := process{Name: "kube-controller-manager", PID: cmd.Process.Pid}
	children.add(p)
	cp.procs = append(cp.procs, p)
	cp.kcm = cmd
	cp.kcmEnd = make(chan error, 1)
	go func() {
		err := cmd.Wait()
		_ = logFile.Close()
		cp.kcmEnd <- err
	}()
	return nil
}

// waitControllerManager waits until kube-controller-manager has done visible
// work: the service account controller created default/default.
func (cp *controlPlane) waitControllerManager(ctx context.Context, c client.Client, logPath string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		var sa corev1.ServiceAccount
		if err := c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "default"}, &sa); err == nil {
			return nil
		}
		select {
		case err := <-cp.kcmEnd:
			cp.kcmEnd <- err
			return fmt.Errorf("kube-controller-manager exited: %v (see %s)", err, logPath)
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("kube-controller-manager created no default service account within 60s (see %s)", logPath)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// stopControllerManager sends SIGTERM, then SIGKILL after 10 s.
func (cp *controlPlane) stopControllerManager() error {
	if cp.kcm == nil {
		return nil
	}
	defer children.remove(cp.kcm.Process.Pid)
	_ = cp.kcm.Process.Signal(syscall.SIGTERM)
	select {
	case <-cp.kcmEnd:
		return nil
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cp.kcm.Process.Pid, syscall.SIGKILL)
		<-cp.kcmEnd
		return errors.New("kube-controller-manager did not stop within 10s: killed")
	}
}

// stop stops kube-apiserver and etcd (envtest removes their data and certificate dirs).
func (cp *controlPlane) stop() error {
	err := cp.env.Stop()
	for _, f := range cp.logs {
		closeQuietly(f)
	}
	for _, p := range cp.procs {
		if p.Name != "kube-controller-manager" {
			children.remove(p.PID)
		}
	}
	return err
}

// closeQuietly closes c, for log files.
func closeQuietly(c io.Closer) { _ = c.Close() }
