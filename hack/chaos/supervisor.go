package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gatestream/gatestream/hack/internal/harness"
)

// Restart backoff after an exit of the manager's own (a crash, a lost
// leader election): like the kubelet's CrashLoopBackOff, doubling from 1 s,
// but capped at 8 s (the kubelet's 5 minutes would outlast every bound
// here) and reset after a process ran for 30 s. A process the suite killed
// is started again at once.
const (
	backoffFirst = time.Second
	backoffMax   = 8 * time.Second
	backoffReset = 30 * time.Second
)

// supervisor keeps one manager process running, as the kubelet keeps a pod's
// container: when it exits it is started again (its log in a new file), and
// every restart is counted.
type supervisor struct {
	name       string // manager, manager-a, …
	bin        string
	kubeconfig string
	flags      []string
	logDir     string
	p          *harness.Printer

	mu          sync.Mutex
	cur         *harness.Manager
	started     time.Time
	incarnation int
	restarts    int
	killed      int
	exits       []string // exits of the manager's own
	planned     bool     // the current process is being killed by the suite
	stopping    bool
	stopCh      chan struct{}
	done        chan struct{}
}

// startSupervisor starts the first process and the loop that restarts it.
func startSupervisor(name, bin, kubeconfig string, flags []string, logDir string, p *harness.Printer) (*supervisor, error) {
	s := &supervisor{name: name, bin: bin, kubeconfig: kubeconfig, flags: flags, logDir: logDir, p: p,
		stopCh: make(chan struct{}), done: make(chan struct{})}
	m, err := s.spawn()
	if err != nil {
		return nil, err
	}
	s.cur, s.started = m, time.Now()
	go s.loop()
	return s, nil
}

// spawn starts one incarnation; its log is <name>-<incarnation>.log.
func (s *supervisor) spawn() (*harness.Manager, error) {
	s.incarnation++
	log := filepath.Join(s.logDir, fmt.Sprintf("%s-%02d.log", s.name, s.incarnation))
	return harness.StartManager(s.bin, s.kubeconfig, s.flags, log)
}

func (s *supervisor) loop() {
	defer close(s.done)
	backoff := backoffFirst
	for {
		s.mu.Lock()
		m := s.cur
		s.mu.Unlock()
		<-m.Done()
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			return
		}
		planned := s.planned
		s.planned = false
		lived := time.Since(s.started)
		if !planned {
			s.exits = append(s.exits, fmt.Sprintf("%s pid %d exited on its own after %.1f s: %v (log %s)", s.name, m.PID(), lived.Seconds(), m.ExitErr(), m.LogPath))
		}
		s.mu.Unlock()
		if !planned {
			if lived > backoffReset {
				backoff = backoffFirst
			}
			s.p.Step("%s (pid %d) exited on its own: %v; restarting in %s", s.name, m.PID(), m.ExitErr(), backoff)
			select {
			case <-s.stopCh:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, backoffMax)
		}
		for {
			s.mu.Lock()
			next, err := s.spawn()
			if err == nil {
				s.cur, s.started = next, time.Now()
				s.restarts++
			}
			s.mu.Unlock()
			if err == nil {
				break
			}
			s.p.Step("%s: could not start: %v; trying again in 1s", s.name, err)
			select {
			case <-s.stopCh:
				return
			case <-time.After(time.Second):
			}
		}
		// A stop that came while the new process was starting stops it too.
		s.mu.Lock()
		if s.stopping {
			next := s.cur
			s.mu.Unlock()
			_ = next.Stop(30 * time.Second)
			return
		}
		s.mu.Unlock()
	}
}

// current is the running (or last) process.
func (s *supervisor) current() *harness.Manager {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// kill SIGKILLs the current process and returns once it has ended; the loop
// starts the next one at once.
func (s *supervisor) kill() (pid int) {
	s.mu.Lock()
	m := s.cur
	s.planned = true
	s.killed++
	s.mu.Unlock()
	m.Kill()
	return m.PID()
}

// waitReady waits until the current process answers /readyz.
func (s *supervisor) waitReady(ctx context.Context, timeout time.Duration) error {
	return s.current().WaitReady(ctx, timeout)
}

// stop ends the supervision and stops the current process (SIGTERM, SIGKILL
// after grace).
func (s *supervisor) stop(grace time.Duration) {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		<-s.done
		return
	}
	s.stopping = true
	close(s.stopCh)
	m := s.cur
	s.mu.Unlock()
	_ = m.Stop(grace)
	<-s.done
}

// abandon SIGKILLs the current process and starts no other: the node is gone.
func (s *supervisor) abandon() {
	s.mu.Lock()
	if !s.stopping {
		s.stopping = true
		close(s.stopCh)
	}
	m := s.cur
	s.mu.Unlock()
	m.Kill()
	<-s.done
}

// counts are the restarts so far, how many of them followed a kill by the
// suite, and the exits of the manager's own.
func (s *supervisor) counts() (restarts, killed int, exits []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts, s.killed, append([]string(nil), s.exits...)
}

// logContains reports whether the current process's log has text (any case).
func (s *supervisor) logContains(text string) bool {
	data, err := os.ReadFile(s.current().LogPath)
	return err == nil && strings.Contains(strings.ToLower(string(data)), strings.ToLower(text))
}
