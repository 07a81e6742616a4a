// Package harness is what hack/bench and hack/chaos share to run the manager
// binary against a real control plane and the in-process cloud emulators:
// the manager as a separate process (its own kubeconfig, its own memory,
// killable), the base objects every run installs (namespaces, credentials,
// the manager's RBAC, the admission policies), environments from the sample
// pointed at the emulators, and list-then-watch followers that survive
// closed watches and a restarting API server.
package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gatestream/gatestream/hack/internal/controlplane"
)

// Manager is the manager binary running as a separate process, as it runs
// in a cluster: its own kubeconfig (its own user), its own memory.
type Manager struct {
	cmd       *exec.Cmd
	done      chan struct{}
	err       error // set before done is closed
	probeAddr string
	// LogPath receives the process's stdout and stderr.
	LogPath string
}

// FreePort returns a loopback address with a port that was free a moment ago.
func FreePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// StartManager runs bin with the kubeconfig and flags, in the environment
// the chart gives it (ChartEnv); its listeners go to
// free loopback ports (the shipped :8081 and :8443 may be taken on a shared
// machine: addresses are not tuning), its log to logPath.
func StartManager(bin, kubeconfig string, flags []string, logPath string) (*Manager, error) {
	probe, err := FreePort()
	if err != nil {
		return nil, err
	}
	metrics, err := FreePort()
	if err != nil {
		return nil, err
	}
	env, err := ChartEnv()
	if err != nil {
		return nil, fmt.Errorf("the chart's environment for the manager: %w", err)
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	// The emulators listen on 127.0.0.1: the manager may send credentials there.
	args := append([]string{"--kubeconfig=" + kubeconfig, "--health-probe-bind-address=" + probe, "--metrics-bind-address=" + metrics,
		"--allowed-endpoints=http://127.0.0.1"}, flags...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...) // the chart's values win, as in a pod
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: Ctrl-C reaches only the caller, which stops it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	controlplane.Track(controlplane.Process{Name: "manager", PID: cmd.Process.Pid})
	m := &Manager{cmd: cmd, done: make(chan struct{}), probeAddr: probe, LogPath: logPath}
	go func() {
		m.err = cmd.Wait()
		_ = logFile.Close()
		controlplane.Untrack(cmd.Process.Pid)
		close(m.done)
	}()
	return m, nil
}

// PID is the process id.
func (m *Manager) PID() int { return m.cmd.Process.Pid }

// Done is closed when the process has ended.
func (m *Manager) Done() <-chan struct{} { return m.done }

// ExitErr is how the process ended (nil: exit status 0); valid once Done is closed.
func (m *Manager) ExitErr() error { return m.err }

// Exited returns an error once the process has ended.
func (m *Manager) Exited() error {
	select {
	case <-m.done:
		return fmt.Errorf("the manager (pid %d) exited: %v (see %s)", m.PID(), m.err, m.LogPath)
	default:
		return nil
	}
}

// WaitReady polls /readyz (informer caches synced) until it answers 200.
func (m *Manager) WaitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		if err := m.Exited(); err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.probeAddr+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := hc.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the manager's /readyz did not answer 200 within %s (see %s)", timeout, m.LogPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Freeze stops the process (SIGSTOP): its connections and watches stay open,
// it reacts to nothing until Thaw.
func (m *Manager) Freeze() error { return syscall.Kill(m.PID(), syscall.SIGSTOP) }

// Thaw resumes it (SIGCONT).
func (m *Manager) Thaw() error { return syscall.Kill(m.PID(), syscall.SIGCONT) }

// PeakRSS is VmHWM from /proc/<pid>/status, in bytes.
func (m *Manager) PeakRSS() (int64, error) { return procStatusBytes(m.PID(), "VmHWM") }

// ResetPeakRSS starts PeakRSS over from the current RSS (Linux: 5 written to
// /proc/<pid>/clear_refs), so that a peak belongs to what ran after it.
func (m *Manager) ResetPeakRSS() error {
	return os.WriteFile("/proc/"+strconv.Itoa(m.PID())+"/clear_refs", []byte("5"), 0)
}

// procStatusBytes reads a "kB" field of /proc/<pid>/status.
func procStatusBytes(pid int, field string) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// Stop sends SIGTERM (after SIGCONT, in case it is frozen) and waits for the
// graceful shutdown; SIGKILL after grace.
func (m *Manager) Stop(grace time.Duration) error {
	if m.Exited() != nil {
		return nil
	}
	_ = m.Thaw()
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
		return nil
	case <-time.After(grace):
		_ = syscall.Kill(-m.PID(), syscall.SIGKILL)
		<-m.done
		return errors.New("the manager did not stop within " + grace.String() + ": killed")
	}
}

// Kill sends SIGKILL to the process (and its process group), as an OOM kill
// or a lost node would, and waits until it has ended.
func (m *Manager) Kill() {
	if m.Exited() != nil {
		return
	}
	_ = syscall.Kill(-m.PID(), syscall.SIGKILL)
	_ = m.cmd.Process.Kill()
	<-m.done
}

// BuildManager builds the manager binary from the repository at root into
// bin (go build -o bin .), its output to out.
func BuildManager(ctx context.Context, root, bin string, out io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building the manager (go build -o %s .): %w", bin, err)
	}
	return nil
}

// HasFlag reports whether the binary's --help lists flag (name without dashes).
func HasFlag(ctx context.Context, bin, flag string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// The flag package prints the usage to stderr and exits 0 for --help (2 for -h in some versions).
	out, err := exec.CommandContext(ctx, bin, "--help").CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return false, fmt.Errorf("%s --help: %w", filepath.Base(bin), err)
	}
	return strings.Contains(string(out), "-"+flag+" ") || strings.Contains(string(out), "-"+flag+"\n"), nil
}
