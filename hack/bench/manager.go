package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gatestream/gatestream/hack/internal/controlplane"
)

// managerProc is the manager binary running as a separate process, as it runs
// in a cluster: its own kubeconfig (its own user), its own memory.
type managerProc struct {
	cmd       *exec.Cmd
	done      chan struct{}
	err       error // set before done is closed
	probeAddr string
	logPath   string
}

// freePort returns a loopback address with a port that was free a moment ago.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// startManager runs bin with the kubeconfig and flags; its listeners go to
// free loopback ports (the shipped :8081 and :8443 may be taken on a shared
// machine: addresses are not tuning), its log to logPath.
func startManager(bin, kubeconfig string, flags []string, logPath string) (*managerProc, error) {
	probe, err := freePort()
	if err != nil {
		return nil, err
	}
	metrics, err := freePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	// The emulators listen on 127.0.0.1: the manager may send credentials there.
	args := append([]string{"--kubeconfig=" + kubeconfig, "--health-probe-bind-address=" + probe, "--metrics-bind-address=" + metrics,
		"--allowed-endpoints=http://127.0.0.1"}, flags...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: Ctrl-C reaches only the bench, which stops it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	controlplane.Track(controlplane.Process{Name: "manager", PID: cmd.Process.Pid})
	m := &managerProc{cmd: cmd, done: make(chan struct{}), probeAddr: probe, logPath: logPath}
	go func() {
		m.err = cmd.Wait()
		_ = logFile.Close()
		controlplane.Untrack(cmd.Process.Pid)
		close(m.done)
	}()
	return m, nil
}

func (m *managerProc) pid() int { return m.cmd.Process.Pid }

// exited returns an error once the process has ended.
func (m *managerProc) exited() error {
	select {
	case <-m.done:
		return fmt.Errorf("the manager (pid %d) exited: %v (see %s)", m.pid(), m.err, m.logPath)
	default:
		return nil
	}
}

// waitReady polls /readyz (informer caches synced) until it answers 200.
func (m *managerProc) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		if err := m.exited(); err != nil {
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
			return fmt.Errorf("the manager's /readyz did not answer 200 within %s (see %s)", timeout, m.logPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freeze stops the process (SIGSTOP): its connections and watches stay open,
// it reacts to nothing until thaw.
func (m *managerProc) freeze() error { return syscall.Kill(m.pid(), syscall.SIGSTOP) }

// thaw resumes it (SIGCONT).
func (m *managerProc) thaw() error { return syscall.Kill(m.pid(), syscall.SIGCONT) }

// peakRSS is VmHWM from /proc/<pid>/status, in bytes.
func (m *managerProc) peakRSS() (int64, error) { return procStatusBytes(m.pid(), "VmHWM") }

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

// stop sends SIGTERM (after SIGCONT, in case it is frozen) and waits for the
// graceful shutdown; SIGKILL after grace.
func (m *managerProc) stop(grace time.Duration) error {
	if m.exited() != nil {
		return nil
	}
	_ = m.thaw()
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
		return nil
	case <-time.After(grace):
		_ = syscall.Kill(-m.pid(), syscall.SIGKILL)
		<-m.done
		return errors.New("the manager did not stop within " + grace.String() + ": killed")
	}
}
