package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/gatestream/gatestream/hack/internal/controlplane"
	"github.com/gatestream/gatestream/hack/internal/harness"
	"github.com/gatestream/gatestream/internal/manager"
	"github.com/gatestream/gatestream/internal/repo"
)

// suite is one invocation: the options, the repository, the binaries.
type suite struct {
	o       options
	p       *harness.Printer
	root    string
	assets  string
	bin     string
	workdir string
	// managerFlags are passed to every manager (--cluster-name when it has the flag).
	managerFlags []string
}

// report is every run's results.
type report struct {
	Runs [][]*result
}

// missed counts the bars missed over every run.
func (r *report) missed() int {
	n := 0
	for _, rs := range r.Runs {
		for _, res := range rs {
			n += len(res.missed())
		}
	}
	return n
}

// run runs the suite --runs times and prints every run's table. An error is
// a failure of the suite itself; missed bars are in the report.
func run(ctx context.Context, o options, stdout io.Writer) (rep *report, err error) {
	t0 := time.Now()
	p := &harness.Printer{W: stdout, T0: t0}
	root, err := repo.Root()
	if err != nil {
		return nil, err
	}
	assets, err := controlplane.AssetsDir(root, "etcd", "kube-apiserver")
	if err != nil {
		return nil, err
	}
	workdir := o.Workdir
	if workdir == "" {
		workdir = filepath.Join(root, "bin", "chaos")
	}
	if workdir, err = filepath.Abs(workdir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(workdir, 0o700); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(workdir, "chaos.log"))
	if err != nil {
		return nil, err
	}
	rep = &report{}
	defer func() {
		_ = logFile.Close()
		switch {
		case err != nil || rep.missed() > 0:
			fmt.Fprintf(stdout, "logs kept in %s\n", workdir)
		case o.Keep:
			fmt.Fprintf(stdout, "logs in %s (--keep)\n", workdir)
		default:
			_ = os.RemoveAll(workdir)
		}
	}()
	log, err := manager.NewLogger("console", "info", logFile)
	if err != nil {
		return rep, err
	}
	// client-go and controller-runtime log to the file, not the table.
	ctrl.SetLogger(log)
	klog.SetLogger(log)

	s := &suite{o: o, p: p, root: root, assets: assets, bin: o.ManagerBin, workdir: workdir}
	if s.bin == "" {
		s.bin = filepath.Join(root, "bin", "manager")
		p.Step("building %s (go build -o bin/manager .)", s.bin)
		if err := harness.BuildManager(ctx, root, s.bin, stdout); err != nil {
			return rep, err
		}
	}
	has, err := harness.HasFlag(ctx, s.bin, "cluster-name")
	if err != nil {
		return rep, err
	}
	clusterNote := "every manager runs with --cluster-name=" + clusterName
	if has {
		s.managerFlags = append(s.managerFlags, "--cluster-name="+clusterName)
	} else {
		clusterNote = "the manager has no --cluster-name flag: not passed (a manager on a new control plane cannot know the objects of the old one)"
	}

	fmt.Fprintf(stdout, "\nchaos: %d environment(s) with one device group each (2 SIM devices), %d session(s) (every other one targets a device), %d run(s)\n",
		o.Environments, o.Sessions, o.Runs)
	fmt.Fprintf(stdout, "  each scenario on fresh emulators and a fresh control plane, %d at a time; load window %s (sessions created over its first 60 %%); bounds: converge %s, delete %s\n",
		o.Parallel, o.ChaosDuration, o.ConvergeTimeout, o.DeleteTimeout)
	fmt.Fprintf(stdout, "  %s; %s\n", clusterNote, filepath.Base(s.bin))
	fmt.Fprintf(stdout, "  scenarios: %s\n\n", describe(o))

	for r := 1; r <= o.Runs; r++ {
		rs := make([]*result, len(o.Scenarios))
		err := harness.Parallel(ctx, len(o.Scenarios), o.Parallel, func(ctx context.Context, i int) error {
			name := o.Scenarios[i]
			seed := o.Seed + uint64(100*r+i)
			p.Step("run %d, %s (seed %d)", r, name, seed)
			res, err := s.runScenario(ctx, r, name, seed)
			if err != nil {
				return fmt.Errorf("run %d, %s: %w", r, name, err)
			}
			rs[i] = res
			return nil
		})
		if err != nil {
			return rep, err
		}
		rep.Runs = append(rep.Runs, rs)
		fmt.Fprintf(stdout, "\nRun %d of %d: %d environment(s), %d device group(s), %d session(s)\n", r, o.Runs, o.Environments, o.Environments, o.Sessions)
		if r == 1 {
			fmt.Fprintln(stdout, legend)
		}
		if err := writeTable(stdout, rs); err != nil {
			return rep, err
		}
	}
	if n := rep.missed(); n > 0 {
		fmt.Fprintf(stdout, "\n%d bar(s) missed\n", n)
	} else {
		fmt.Fprintln(stdout, "\nevery bar met")
	}
	fmt.Fprintf(stdout, "chaos took %s\n", time.Since(t0).Round(time.Second))
	return rep, nil
}

// describe says what each selected scenario does, with the options' figures.
func describe(o options) string {
	var out string
	for i, name := range o.Scenarios {
		if i > 0 {
			out += "; "
		}
		switch name {
		case scenarioCrashLoop:
			out += fmt.Sprintf("%s: %d SIGKILLs of the manager at random moments, restarted at once", name, o.Kills)
		case scenarioFaults:
			out += fmt.Sprintf("%s: %.0f %% of every cloud call faulted (throttle, server-error, unavailable, lose-response evenly)", name, 100*o.FaultRate)
		case scenarioLeaderKill:
			out += fmt.Sprintf("%s: two managers electing a leader (lease 4s), the leader SIGKILLed", name)
		case scenarioAPIDown:
			out += fmt.Sprintf("%s: kube-apiserver stopped for %s, started again on the same etcd", name, o.APIServerDowntime)
		case scenarioDisaster:
			out += fmt.Sprintf("%s: all Ready, then a new control plane (fresh etcd), the same manifests, the same --cluster-name", name)
		}
	}
	return out
}
