// Command chaos runs the manager through crashes, cloud faults, a leader's
// death, an API server outage and a disaster recovery, on a real control
// plane and the in-process cloud emulators, and prints what it cost
// (`make chaos`, docs/chaos.md).
//
// For every scenario it starts fresh emulators and a fresh etcd and
// kube-apiserver, runs bin/manager as separate processes (killable) under
// their own user, applies E RemoteAccessEnvironments and E DeviceGroups
// (one each per namespace, two SIM devices per group) and creates N
// StreamingSessions (every other one targeting a device) while the chaos
// strikes; then waits until everything is Ready, deletes everything and
// waits until the cloud is empty. One row per scenario: external objects
// created per environment and per group, URLs minted and delivered per
// session, sessions stuck, seconds to converge and to delete, objects left,
// manager restarts and the leader takeover time. It exits non-zero when a bar
// is missed: more than one of any object, more than one URL delivered to a
// session, anything stuck, anything left.
//
//	go run ./hack/chaos [--runs 1] [--scenarios crash-loop,faults,leader-kill,apiserver-down,disaster-recovery]
//	                    [--environments 5] [--sessions 100] [--kills 20] [--fault-rate 0.2] [--short] [--keep]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
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
	ctx, cancel := controlplane.Interruptible("chaos suite")
	rep, err := run(ctx, o, os.Stdout)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "\nchaos: %v\n", err)
		os.Exit(1)
	}
	if n := rep.missed(); n > 0 {
		fmt.Fprintf(os.Stderr, "\nchaos: %d bar(s) missed (listed under the tables)\n", n)
		os.Exit(1)
	}
}

// options are the suite's flags.
type options struct {
	Runs         int
	Scenarios    []string
	Environments int
	Sessions     int
	Kills        int
	FaultRate    float64
	// ChaosDuration is the load window: the sessions are created over its
	// first 60 %, the chaos strikes within it.
	ChaosDuration     time.Duration
	APIServerDowntime time.Duration
	// ConvergeTimeout and DeleteTimeout are the bounds after which what is
	// not Ready is stuck and what is not gone is left.
	ConvergeTimeout, DeleteTimeout time.Duration
	Seed                           uint64
	// Parallel is how many scenarios run at a time, each on its own
	// emulators, control plane and managers.
	Parallel int
	Short    bool
	Keep     bool
	Workdir  string
	// ManagerBin is the manager binary; empty: build bin/manager.
	ManagerBin string
}

// shortPreset is --short: the suite that TestChaosShort runs in `make test`.
var shortPreset = map[string]string{
	"environments":       "2",
	"sessions":           "6",
	"kills":              "4",
	"fault-rate":         "0.08",
	"chaos-duration":     "12s",
	"apiserver-downtime": "12s",
	"converge-timeout":   "2m",
	"delete-timeout":     "2m",
	"parallel":           "3",
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{}
	var scenarios string
	fs.IntVar(&o.Runs, "runs", 1, "repeat the whole suite this many times (every run prints its table)")
	fs.StringVar(&scenarios, "scenarios", strings.Join(scenarioNames, ","), "scenarios to run, by name or number (1-5)")
	fs.IntVar(&o.Environments, "environments", 5, "RemoteAccessEnvironments, each in its own namespace with one DeviceGroup of two SIM devices")
	fs.IntVar(&o.Sessions, "sessions", 100, "StreamingSessions spread over the environments (every other one targets a device)")
	fs.IntVar(&o.Kills, "kills", 20, "crash-loop: how many times the manager is SIGKILLed during the load")
	fs.Float64Var(&o.FaultRate, "fault-rate", 0.2, "faults: the share of every cloud call that fails, spread evenly over throttle, server-error, unavailable and lose-response")
	fs.DurationVar(&o.ChaosDuration, "chaos-duration", 60*time.Second, "the load window: sessions are created over its first 60 %, the chaos strikes within it")
	fs.DurationVar(&o.APIServerDowntime, "apiserver-downtime", 20*time.Second, "apiserver-down: how long kube-apiserver is stopped")
	fs.DurationVar(&o.ConvergeTimeout, "converge-timeout", 5*time.Minute, "after the chaos, what is not Ready within this is stuck")
	fs.DurationVar(&o.DeleteTimeout, "delete-timeout", 3*time.Minute, "after the delete, what is not gone within this is left")
	fs.Uint64Var(&o.Seed, "seed", 1, "seeds the kill moments and the emulators' fault decisions (run r, scenario s use seed+100r+s)")
	fs.IntVar(&o.Parallel, "parallel", 1, "scenarios run at a time, each on its own emulators, control plane and managers (more than 1: shorter, but they share the CPU)")
	fs.BoolVar(&o.Short, "short", false, "the short suite (as TestChaosShort): "+formatPreset())
	fs.BoolVar(&o.Keep, "keep", false, "keep the logs (managers, kube-apiserver, etcd) in --workdir after a clean run")
	fs.StringVar(&o.Workdir, "workdir", "", "directory for the logs and kubeconfigs (default bin/chaos in the repository); kept after a failure")
	fs.StringVar(&o.ManagerBin, "manager", "", "the manager binary (default: go build -o bin/manager .)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./hack/chaos [flags]\n\nRuns the manager through chaos on a real control plane and the cloud emulators (docs/chaos.md).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []string
	if o.Short {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range shortPreset {
			if !set[name] {
				if err := fs.Set(name, v); err != nil {
					errs = append(errs, err.Error())
				}
			}
		}
	}
	if fs.NArg() != 0 {
		errs = append(errs, fmt.Sprintf("unexpected arguments: %v", fs.Args()))
	}
	for name, v := range map[string]int{"runs": o.Runs, "environments": o.Environments, "sessions": o.Sessions, "parallel": o.Parallel} {
		if v < 1 {
			errs = append(errs, fmt.Sprintf("--%s must be at least 1", name))
		}
	}
	if o.Kills < 0 {
		errs = append(errs, "--kills cannot be negative")
	}
	if o.FaultRate < 0 || o.FaultRate >= 1 {
		errs = append(errs, "--fault-rate must be in [0, 1)")
	}
	for name, d := range map[string]time.Duration{"chaos-duration": o.ChaosDuration, "apiserver-downtime": o.APIServerDowntime, "converge-timeout": o.ConvergeTimeout, "delete-timeout": o.DeleteTimeout} {
		if d <= 0 {
			errs = append(errs, fmt.Sprintf("--%s must be positive", name))
		}
	}
	for _, s := range strings.Split(scenarios, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= len(scenarioNames) {
			s = scenarioNames[n-1]
		}
		switch {
		case !slices.Contains(scenarioNames, s):
			errs = append(errs, fmt.Sprintf("--scenarios: unknown scenario %q (%s, or 1-%d)", s, strings.Join(scenarioNames, ", "), len(scenarioNames)))
		case !slices.Contains(o.Scenarios, s):
			o.Scenarios = append(o.Scenarios, s)
		}
	}
	if len(o.Scenarios) == 0 {
		errs = append(errs, "--scenarios names no scenario")
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

func formatPreset() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(shortPreset)) {
		parts = append(parts, "--"+k+" "+shortPreset[k])
	}
	return strings.Join(parts, " ")
}
