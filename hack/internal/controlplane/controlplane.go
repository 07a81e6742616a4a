// Package controlplane starts the local control plane that hack/demo and
// hack/bench run gatestream against: etcd and kube-apiserver from bin/k8s
// (through controller-runtime's envtest) with the CRDs installed, users with
// their own kubeconfigs, and optionally kube-controller-manager. It remembers
// every process it started so that a second interrupt can kill them at once
// (KillAll), and applies manifests (manifests.go).
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
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

// AssetsDir returns where the control plane binaries are: KUBEBUILDER_ASSETS
// if set (the Makefile sets it to bin/k8s), else bin/k8s below root. It fails
// naming the binaries that are missing there.
func AssetsDir(root string, binaries ...string) (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = filepath.Join(root, "bin", "k8s")
	}
	var missing []string
	for _, b := range binaries {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%s not found in %s: run `make k8s` (it builds them from Go modules)", strings.Join(missing, ", "), dir)
	}
	return dir, nil
}

// Process is a child process that was started here.
type Process struct {
	Name string
	PID  int
}

// registry remembers the started processes, so that a second interrupt can
// kill them before exiting at once.
type registry struct {
	mu    sync.Mutex
	procs []Process
	// dirs are envtest's temporary directories (etcd data, certificates),
	// removed after a kill (a clean stop removes them itself).
	dirs []string
}

var children registry

// Track remembers a process started elsewhere (the bench's manager) for KillAll.
func Track(p Process) { children.add(p) }

// Untrack forgets a process that has exited.
func Untrack(pid int) { children.remove(pid) }

func (r *registry) add(p Process) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.procs = append(r.procs, p)
}

func (r *registry) addDirs(dirs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range dirs {
		if d != "" {
			r.dirs = append(r.dirs, d)
		}
	}
}

func (r *registry) remove(pid int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.procs = slices.DeleteFunc(r.procs, func(p Process) bool { return p.PID == pid })
}

// KillAll sends SIGKILL to every remembered process and its process group
// (envtest and Start start them as group leaders), and removes envtest's
// temporary directories.
func KillAll() {
	r := &children
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

// Interruptible returns a context that the first SIGINT, SIGTERM or SIGHUP
// cancels, so that the caller stops what it started, in order; a second one
// kills every process started here (KillAll) and exits 130. SIGPIPE is
// ignored: a closed stdout (`make demo | head`, a closed terminal) must not
// kill the caller before it has stopped its children (writes just fail).
func Interruptible(what string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	signal.Ignore(syscall.SIGPIPE)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "\n%s: stopping the %s and cleaning up (press Ctrl-C again to exit at once)\n", s, what)
		cancel()
		s = <-sigs
		fmt.Fprintf(os.Stderr, "\n%s again: killing the control plane processes and exiting now\n", s)
		KillAll()
		os.Exit(130)
	}()
	return ctx, cancel
}

// ChildProcesses lists this process's children that run one of the named
// binaries (Linux /proc; empty elsewhere). envtest does not expose the PIDs of
// etcd and kube-apiserver, but they are our children.
func ChildProcesses(names ...string) []Process {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []Process
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
			out = append(out, Process{Name: name, PID: pid})
		}
	}
	slices.SortFunc(out, func(a, b Process) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Alive reports whether pid is a running process (not gone, not a zombie).
func Alive(pid int) bool {
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

// Options configure Start.
type Options struct {
	// Root is the repository (the CRDs come from config/crd/bases below it).
	Root string
	// Assets holds etcd and kube-apiserver (AssetsDir).
	Assets string
	// LogDir receives kube-apiserver.log and etcd.log.
	LogDir string
	// ClusterName names the cluster in the kubeconfigs AddUser writes.
	ClusterName string
	// APIServerArgs are extra kube-apiserver flags (name without dashes: value).
	APIServerArgs map[string]string
	// RestartableAPIServer keeps kube-apiserver's certificates in a directory
	// of our own (removed by Stop), so that StopAPIServer and StartAPIServer
	// can stop it and start it again on the same port, etcd and certificates:
	// the kubeconfigs written so far stay valid (restart.go).
	RestartableAPIServer bool
}

// ControlPlane is etcd + kube-apiserver (envtest) and, once started,
// kube-controller-manager.
type ControlPlane struct {
	env *envtest.Environment
	// Admin is envtest's admin (system:masters).
	Admin       *rest.Config
	clusterName string
	procs       []Process
	kcm         *exec.Cmd
	kcmEnd      chan error
	logs        []*os.File
	// certDir is kube-apiserver's certificate directory when it is ours
	// (Options.RestartableAPIServer), removed by Stop.
	certDir string
}

// Start starts etcd and kube-apiserver with the CRDs installed; their output
// goes to etcd.log and kube-apiserver.log in opts.LogDir.
func Start(opts Options) (*ControlPlane, error) {
	apiLog, err := os.Create(filepath.Join(opts.LogDir, "kube-apiserver.log"))
	if err != nil {
		return nil, err
	}
	etcdLog, err := os.Create(filepath.Join(opts.LogDir, "etcd.log"))
	if err != nil {
		closeQuietly(apiLog)
		return nil, err
	}
	api := &envtest.APIServer{Out: apiLog, Err: apiLog}
	certDir := ""
	if opts.RestartableAPIServer {
		if certDir, err = os.MkdirTemp("", "gatestream-apiserver-"); err != nil {
			closeQuietly(apiLog)
			closeQuietly(etcdLog)
			return nil, err
		}
		api.CertDir = certDir
		children.addDirs(certDir)
	}
	for k, v := range opts.APIServerArgs {
		api.Configure().Set(k, v)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    opts.Assets,
		CRDDirectoryPaths:        []string{filepath.Join(opts.Root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 90 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
		ControlPlane: envtest.ControlPlane{
			APIServer: api,
			Etcd:      &envtest.Etcd{Out: etcdLog, Err: etcdLog},
		},
	}
	cfg, err := env.Start()
	// Register whatever started, even on error, so that a second interrupt can kill it.
	procs := startedBy(env, "etcd", "kube-apiserver")
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
		removeDir(certDir)
		return nil, fmt.Errorf("starting etcd and kube-apiserver from %s: %w (see %s)", opts.Assets, err, apiLog.Name())
	}
	name := opts.ClusterName
	if name == "" {
		name = "gatestream"
	}
	return &ControlPlane{env: env, Admin: cfg, clusterName: name, procs: procs, logs: []*os.File{apiLog, etcdLog}, certDir: certDir}, nil
}

// URL is the secure endpoint, https://127.0.0.1:port.
func (cp *ControlPlane) URL() string { return cp.Admin.Host }

// Processes are the processes started so far (etcd, kube-apiserver,
// kube-controller-manager).
func (cp *ControlPlane) Processes() []Process { return slices.Clone(cp.procs) }

// CheckAlive fails when etcd or kube-apiserver has exited.
func (cp *ControlPlane) CheckAlive() error {
	for _, p := range cp.procs {
		if p.Name != "kube-controller-manager" && !Alive(p.PID) {
			return fmt.Errorf("%s (pid %d) has exited", p.Name, p.PID)
		}
	}
	return nil
}

// AddUser provisions a client-certificate user and writes a kubeconfig for it
// (context namespace: namespace).
func (cp *ControlPlane) AddUser(name string, groups []string, path, namespace string) (*rest.Config, error) {
	u, err := cp.env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return nil, fmt.Errorf("provisioning user %s: %w", name, err)
	}
	cfg := u.Config()
	cluster := cp.clusterName
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

// StartControllerManager runs kube-controller-manager against the API server,
// so that the cluster behaves like one: garbage collection through owner
// references, namespace deletion, default service accounts and their tokens.
// It serves nothing (--secure-port=0), elects no leader, and logs to logPath.
func (cp *ControlPlane) StartControllerManager(assets, kubeconfig, logPath string) error {
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
	// Its own process group: a terminal's Ctrl-C reaches only our process,
	// which then stops it in order (the same as envtest does for etcd and kube-apiserver).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	p := Process{Name: "kube-controller-manager", PID: cmd.Process.Pid}
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

// ControllerManagerPID is kube-controller-manager's pid (0 when not started).
func (cp *ControlPlane) ControllerManagerPID() int {
	if cp.kcm == nil {
		return 0
	}
	return cp.kcm.Process.Pid
}

// WaitControllerManager waits until kube-controller-manager has done visible
// work: the service account controller created default/default.
func (cp *ControlPlane) WaitControllerManager(ctx context.Context, c client.Client, logPath string) error {
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

// StopControllerManager sends SIGTERM, then SIGKILL after 10 s.
func (cp *ControlPlane) StopControllerManager() error {
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

// Stop stops kube-apiserver and etcd (envtest removes their data and certificate dirs).
func (cp *ControlPlane) Stop() error {
	err := cp.env.Stop()
	for _, f := range cp.logs {
		closeQuietly(f)
	}
	for _, p := range cp.procs {
		if p.Name != "kube-controller-manager" {
			children.remove(p.PID)
		}
	}
	removeDir(cp.certDir)
	return err
}

// closeQuietly closes c, for log files.
func closeQuietly(c io.Closer) { _ = c.Close() }
