// Command bench measures the operator against the bare API writes a
// StreamingSession needs, on a real control plane (`make bench`,
// docs/benchmark.md).
//
// It starts kube-apiserver and etcd from bin/k8s with an audit log of the
// manager's requests only, the SORACOM/AppStream/EC2 emulators in this
// process, builds bin/manager and runs it as a separate process under its own
// user, once per configuration (the shipped defaults, and tuned flags). For
// each it prints: the floor (the bare writes of N sessions by a pool of P
// writers, with the manager's informers up and the manager frozen), the time
// from creating N sessions to all Ready with the manager working, their
// ratio, the manager's API requests and cloud calls per session, and its peak
// RSS. --scale adds the 10,000-session figure against the 1,000-session one,
// the in-sync check (no write during a poll interval after all are Ready) and
// the environments' time to Ready.
//
//	go run ./hack/bench [--sessions 1000] [--parallelism 16] [--environments 1] [--namespaces 1]
//	                    [--runs 1] [--configs defaults,tuned] [--scale] [--keep]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gatestream/gatestream/hack/internal/controlplane"
)

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	ctx, cancel := controlplane.Interruptible("bench")
	err = run(ctx, o, os.Stdout)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "\nbench: %v\n", err)
		os.Exit(1)
	}
}

// config is one way to run the manager: a name and its flags.
type config struct {
	Name  string
	Flags []string
}

// options are the bench's flags.
type options struct {
	Sessions     int
	Parallelism  int
	Environments int
	Namespaces   int
	Runs         int
	Rounds       int
	Configs      []config
	// Scale adds the baseline batch, the in-sync check and a short poll interval.
	Scale bool
	// Baseline is the size of the batch measured before Sessions, for the
	// time-per-session comparison (0: none).
	Baseline int
	// PollInterval is passed to every configuration when set (scale mode: 20s).
	PollInterval time.Duration
	Keep         bool
	Workdir      string
	// ManagerBin is the manager binary; empty: build bin/manager from the repository.
	ManagerBin string
	// ReadyTimeout bounds one batch (0: 5 minutes plus 100 ms per session).
	ReadyTimeout time.Duration
}

// tunedDefault are the tuned configuration's flags unless --tuned-flags says
// otherwise: as many session workers as the pool has writers, times two, and
// a SORACOM budget that lets many environments converge at once.
func tunedDefault(parallelism int) string {
	return fmt.Sprintf("--max-concurrent-reconciles=%d --soracom-calls-per-second=50", 2*parallelism)
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{}
	var configs, tuned string
	fs.IntVar(&o.Sessions, "sessions", 1000, "sessions per batch (N)")
	fs.IntVar(&o.Parallelism, "parallelism", 16, "writers in the pool that creates the sessions, and in the floor (P)")
	fs.IntVar(&o.Environments, "environments", 1, "RemoteAccessEnvironments the sessions are spread over (E)")
	fs.IntVar(&o.Namespaces, "namespaces", 1, "namespaces the environments are spread over")
	fs.IntVar(&o.Runs, "runs", 1, "how many times to measure every configuration (each run is printed)")
	fs.IntVar(&o.Rounds, "rounds", 3, "interleaved (floor, operator) batches per configuration in a run; the table shows the median round")
	fs.StringVar(&configs, "configs", "defaults,tuned", "configurations to measure: defaults (the manager with no tuning flags) and/or tuned (--tuned-flags)")
	fs.StringVar(&tuned, "tuned-flags", "", "the tuned configuration's manager flags, space-separated (default \""+tunedDefault(16)+"\" with 2×--parallelism workers)")
	fs.BoolVar(&o.Scale, "scale", false, "scale mode: --sessions 10000 --environments 100 --namespaces 100 unless given, a 1,000-session baseline batch, --poll-interval 20s, the in-sync check")
	fs.IntVar(&o.Baseline, "baseline", 0, "also measure a batch of this size first, for the time per session (scale mode: 1000)")
	fs.DurationVar(&o.PollInterval, "poll-interval", 0, "the manager's --poll-interval in every configuration (default: the manager's own; scale mode: 20s)")
	fs.BoolVar(&o.Keep, "keep", false, "leave the control plane, the emulators, the last manager and its sessions running for inspection (until Ctrl-C)")
	fs.StringVar(&o.Workdir, "workdir", "", "directory for the kubeconfigs, the audit log and the logs (default bin/bench in the repository)")
	fs.StringVar(&o.ManagerBin, "manager", "", "the manager binary (default: go build -o bin/manager .)")
	fs.DurationVar(&o.ReadyTimeout, "ready-timeout", 0, "give up when a batch is not Ready within this time (default 5m + 100ms per session)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./hack/bench [flags]\n\nMeasures the operator against the bare API writes of N StreamingSessions (docs/benchmark.md).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.Scale {
		preset := map[string]func(){
			"sessions":      func() { o.Sessions = 10000 },
			"environments":  func() { o.Environments = 100 },
			"namespaces":    func() { o.Namespaces = 100 },
			"baseline":      func() { o.Baseline = 1000 },
			"poll-interval": func() { o.PollInterval = 20 * time.Second },
		}
		for name, apply := range preset {
			if !set[name] {
				apply()
			}
		}
	}
	if tuned == "" {
		tuned = tunedDefault(o.Parallelism)
	}
	var errs []string
	if fs.NArg() != 0 {
		errs = append(errs, fmt.Sprintf("unexpected arguments: %v", fs.Args()))
	}
	for name, v := range map[string]int{"sessions": o.Sessions, "parallelism": o.Parallelism, "environments": o.Environments, "namespaces": o.Namespaces, "runs": o.Runs, "rounds": o.Rounds} {
		if v < 1 {
			errs = append(errs, fmt.Sprintf("--%s must be at least 1", name))
		}
	}
	if o.Namespaces > o.Environments {
		errs = append(errs, "--namespaces cannot exceed --environments (every namespace holds an environment)")
	}
	if o.Baseline < 0 || o.Baseline >= o.Sessions && o.Baseline != 0 {
		errs = append(errs, "--baseline must be smaller than --sessions")
	}
	for _, name := range strings.Split(configs, ",") {
		switch name = strings.TrimSpace(name); name {
		case "defaults":
			o.Configs = append(o.Configs, config{Name: name})
		case "tuned":
			o.Configs = append(o.Configs, config{Name: name, Flags: strings.Fields(tuned)})
		case "":
		default:
			errs = append(errs, fmt.Sprintf("--configs: unknown configuration %q (defaults, tuned)", name))
		}
	}
	if len(o.Configs) == 0 {
		errs = append(errs, "--configs names no configuration")
	}
	if o.PollInterval > 0 {
		for i := range o.Configs {
			o.Configs[i].Flags = append(o.Configs[i].Flags, "--poll-interval="+o.PollInterval.String())
		}
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		for _, e := range errs {
			fmt.Fprintln(stderr, e)
		}
		fs.Usage()
		return o, errors.New("bad flags")
	}
	return o, nil
}

// sizes are the batch sizes measured per configuration, in order.
func (o options) sizes() []int {
	if o.Baseline > 0 {
		return []int{o.Baseline, o.Sessions}
	}
	return []int{o.Sessions}
}

// readyTimeout bounds a batch of n sessions: generous, a bound for a
// failure, not a performance target.
func (o options) readyTimeout(n int) time.Duration {
	if o.ReadyTimeout > 0 {
		return o.ReadyTimeout
	}
	return 5*time.Minute + time.Duration(n)*100*time.Millisecond
}

// String is the flags as a command line, for the header.
func (c config) String() string {
	if len(c.Flags) == 0 {
		return "(no flags: the shipped defaults)"
	}
	return strings.Join(c.Flags, " ")
}
