package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/gatestream/gatestream/hack/internal/controlplane"
	"github.com/gatestream/gatestream/hack/internal/harness"
	"github.com/gatestream/gatestream/internal/emulator"
	"github.com/gatestream/gatestream/internal/emulator/fault"
	"github.com/gatestream/gatestream/internal/manager"
	"github.com/gatestream/gatestream/internal/repo"
)

// Waiting for the manager to be idle: no API request and no cloud call for
// quietFor, for at most settleMax.
const (
	quietFor  = 2 * time.Second
	settleMax = 30 * time.Second
)

// bench is one invocation: the options, the cluster, the manager binary.
type bench struct {
	o       options
	p       *harness.Printer
	out     io.Writer
	cl      *cluster
	bin     string
	envDone bool
	// kept is the manager left running by --keep.
	kept *harness.Manager
}

func run(ctx context.Context, o options, stdout io.Writer) (err error) {
	t0 := time.Now()
	p := &harness.Printer{W: stdout, T0: t0}
	root, err := repo.Root()
	if err != nil {
		return err
	}
	assets, err := controlplane.AssetsDir(root, "etcd", "kube-apiserver")
	if err != nil {
		return err
	}
	workdir := o.Workdir
	if workdir == "" {
		workdir = filepath.Join(root, "bin", "bench")
	}
	if workdir, err = filepath.Abs(workdir); err != nil {
		return err
	}
	if err := os.MkdirAll(workdir, 0o700); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(workdir, "bench.log"))
	if err != nil {
		return err
	}
	defer func() {
		_ = logFile.Close()
		switch {
		case err != nil:
			fmt.Fprintf(stdout, "logs kept in %s\n", workdir)
		case !o.Keep:
			removeWorkdir(workdir)
		}
	}()
	log, err := manager.NewLogger("console", "info", logFile)
	if err != nil {
		return err
	}
	// client-go and controller-runtime log to the file, not the table.
	ctrl.SetLogger(log)
	klog.SetLogger(log)

	b := &bench{o: o, p: p, out: stdout, bin: o.ManagerBin}
	if b.bin == "" {
		b.bin = filepath.Join(root, "bin", "manager")
		p.Step("building %s (go build -o bin/manager .)", b.bin)
		if err := harness.BuildManager(ctx, root, b.bin, stdout); err != nil {
			return err
		}
	}

	p.Step("starting etcd and kube-apiserver from %s (audit log of %s's requests: %s)", assets, managerUser, filepath.Join(workdir, "audit.log"))
	b.cl, err = startCluster(ctx, o, root, assets, workdir)
	if err != nil {
		return err
	}
	defer func() {
		if b.kept != nil && err == nil {
			b.keep(ctx, workdir)
		}
		if b.kept != nil {
			_ = b.kept.Stop(40 * time.Second)
		}
		if serr := b.cl.stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("stopping the control plane: %w", serr))
		}
		p.Step("stopped the control plane and the emulators")
	}()
	p.Step("kube-apiserver %s; emulators SORACOM %s, AppStream %s, EC2 %s; %d namespace(s), credentials, manager-role bound to %s, admission policies",
		b.cl.cp.URL(), b.cl.cloud.SoracomURL, b.cl.cloud.AppStreamURL, b.cl.cloud.EC2URL, len(b.cl.namespaces), managerUser)
	fmt.Fprintf(stdout, "\nsessions %d, parallelism %d, %d environment(s) in %d namespace(s), %d run(s); sessions without target, created by an admin\n",
		o.Sessions, o.Parallelism, o.Environments, o.Namespaces, o.Runs)
	fmt.Fprintf(stdout, "  floor     per session: create the StreamingSession, create its Secret, update its status to Ready; %d writers; the manager's informers synced, the manager frozen\n", o.Parallelism)
	for _, c := range o.Configs {
		fmt.Fprintf(stdout, "  %-9s %s %s\n", c.Name, filepath.Base(b.bin), c)
	}
	fmt.Fprintln(stdout)

	var runs [][]result
	sizes := o.sizes()
	for run := 1; run <= o.Runs; run++ {
		var rs []result
		for ci, c := range o.Configs {
			for si, n := range sizes {
				last := run == o.Runs && ci == len(o.Configs)-1 && si == len(sizes)-1
				r, err := b.measure(ctx, run, c, n, last)
				if err != nil {
					return fmt.Errorf("run %d, %s, %d sessions: %w", run, c.Name, n, err)
				}
				rs = append(rs, r)
			}
		}
		runs = append(runs, rs)
		fmt.Fprintf(stdout, "\nRun %d of %d: %d sessions, parallelism %d, %d environment(s) in %d namespace(s)\n", run, o.Runs, o.Sessions, o.Parallelism, o.Environments, o.Namespaces)
		if err := writeTable(stdout, rs); err != nil {
			return err
		}
	}
	if o.Baseline > 0 || o.Scale {
		scaleSummary(stdout, runs, o.Baseline, o.Sessions)
	}
	fmt.Fprintf(stdout, "\nbench took %s\n", time.Since(t0).Round(time.Second))
	return nil
}

// measure runs one configuration on one batch size: a fresh manager process,
// the floor with it frozen, then the operator, then cleanup.
func (b *bench) measure(ctx context.Context, run int, c config, n int, last bool) (res result, err error) {
	cl, p, o := b.cl, b.p, b.o
	res = result{Config: c.Name, Sessions: n}
	batch := fmt.Sprintf("r%d-%s-%d", run, c.Name, n)
	logPath := filepath.Join(cl.workdir, "manager-"+batch+".log")
	m, err := harness.StartManager(b.bin, cl.managerConfig, c.Flags, logPath)
	if err != nil {
		return res, err
	}
	keep := false
	defer func() {
		if keep {
			b.kept = m
			return
		}
		if serr := m.Stop(40 * time.Second); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	check := func() error {
		if err := cl.check(); err != nil {
			return fmt.Errorf("the control plane died: %w", err)
		}
		return m.Exited()
	}
	if err := m.WaitReady(ctx, 2*time.Minute); err != nil {
		return res, err
	}
	p.Step("%s: manager pid %d ready (informers synced), log %s", batch, m.PID(), logPath)
	if !b.envDone {
		if err := b.environments(ctx, check); err != nil {
			return res, err
		}
		b.envDone = true
	}
	cloudQuiet := o.PollInterval == 0 // with a short poll interval the environments are re-observed all the time
	if _, err := cl.settle(ctx, cloudQuiet, check); err != nil {
		return res, err
	}

	// Rounds of (floor, operator), interleaved, so that both see the same
	// machine: on a shared machine one batch of each can land in a busy
	// and a quiet moment, and the ratio would measure the neighbours.
	for k := 1; k <= o.Rounds; k++ {
		rb := batch
		if o.Rounds > 1 {
			rb = fmt.Sprintf("%s-k%d", batch, k)
		}
		rd, err := b.round(ctx, m, rb, n, cloudQuiet, check, &res)
		if err != nil {
			return res, err
		}
		res.Rounds = append(res.Rounds, rd)
		if k < o.Rounds {
			// The next floor runs on the same store as this one did.
			if err := cl.deleteBatch(ctx, rb, o.Parallelism); err != nil {
				return res, err
			}
			if _, err := cl.settle(ctx, cloudQuiet, check); err != nil {
				return res, err
			}
		} else {
			batch = rb
		}
	}
	res.Floor, res.Operator = res.medianRound()
	p.Step("%s: %d round(s); median floor %s s, operator %s s, ratio %s; %d manager requests, %d cloud calls", batch, len(res.Rounds),
		secs(res.Floor.Total), secs(res.Operator.Total), num(res.ratio()), res.Requests.Total(), res.Cloud.Total())

	if o.Scale && n == o.Sessions {
		if res.InSync, err = b.inSync(ctx, check); err != nil {
			return res, err
		}
	}
	// The in-sync check (scale mode) ran after the last round's peak was read.
	hwm, err := m.PeakRSS()
	if err != nil {
		return res, err
	}
	res.PeakRSS = max(res.PeakRSS, hwm)
	if res.PeakRSSWithFloor > res.PeakRSS {
		res.Notes = append(res.Notes, fmt.Sprintf("peak RSS %s MiB counting the thaw after the frozen floor (the backlog of the floor's watch events), %s MiB in the operator's batches",
			mib(res.PeakRSSWithFloor), mib(res.PeakRSS)))
	}
	if last && o.Keep {
		keep = true
		return res, nil
	}
	if err := m.Stop(40 * time.Second); err != nil {
		return res, err
	}
	if err := cl.deleteBatch(ctx, batch, o.Parallelism); err != nil {
		return res, err
	}
	return res, nil
}

// round measures the floor (the manager frozen) and then the operator on
// one batch of n sessions; the requests and cloud calls of the operator's
// part are added to res.
func (b *bench) round(ctx context.Context, m *harness.Manager, batch string, n int, cloudQuiet bool, check func() error, res *result) (round, error) {
	// The floor: the manager's informers are up and its watches open, but it
	// is frozen so that it does not act on the floor's sessions.
	cl, p, o := b.cl, b.p, b.o
	var rd round
	var err error
	floorBatch := batch + "-floor"
	if err := m.Freeze(); err != nil {
		return rd, err
	}
	frozenAt := cl.audit.Offset()
	rd.Floor, err = cl.timeToReady(ctx, floorBatch, n, o.readyTimeout(n), check, func(ctx context.Context) error {
		return harness.Parallel(ctx, n, o.Parallelism, func(ctx context.Context, i int) error {
			return cl.floorWrites(ctx, cl.newSession(floorBatch, i, o.Environments))
		})
	})
	if err != nil {
		_ = m.Thaw()
		return rd, fmt.Errorf("floor: %w", err)
	}
	if err := cl.deleteBatch(ctx, floorBatch, o.Parallelism); err != nil {
		_ = m.Thaw()
		return rd, err
	}
	thawedAt := cl.audit.Offset()
	if err := m.Thaw(); err != nil {
		return rd, err
	}
	p.Step("%s: floor %s s for %d sessions (%d writers, manager frozen); floor objects deleted, manager resumed", batch, secs(rd.Floor.Total), n, o.Parallelism)
	if _, err := cl.settle(ctx, cloudQuiet, check); err != nil {
		return rd, err
	}
	if during, err := cl.audit.Count(frozenAt, thawedAt); err == nil && during.Total() > 0 {
		res.Notes = append(res.Notes, "the manager made requests while frozen (logged late): "+formatCounts(during))
	}
	if after, err := cl.audit.Count(thawedAt, cl.audit.Offset()); err == nil && after.Total() > 0 {
		if rewatch := after.Verb("watch"); rewatch.Total() > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("when resumed the manager opened its watches again (%s): the API server had closed them while it was frozen, so part of the floor ran without their load", formatCounts(rewatch)))
		}
		if others := after.Total() - after.Verb("watch").Total(); others > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("when resumed the manager acted on floor sessions it had not yet seen deleted: %d requests, not counted above", others))
		}
	}
	// What it created for them meanwhile (Secrets of sessions that are gone) goes too.
	if err := cl.deleteBatch(ctx, floorBatch, o.Parallelism); err != nil {
		return rd, err
	}

	// The peak RSS belongs to the operator's batch: the thaw above makes
	// the manager decode the floor's backlog of watch events at once (and
	// list again), which no real cluster does to it. That peak is noted.
	if hwm, err := m.PeakRSS(); err == nil {
		res.PeakRSSWithFloor = max(res.PeakRSSWithFloor, hwm)
	}
	if err := m.ResetPeakRSS(); err != nil {
		return rd, fmt.Errorf("resetting the manager's peak RSS: %w", err)
	}

	// The operator: N sessions created by the pool, until all are Ready.
	auditFrom, cloudFrom := cl.audit.Offset(), cl.cloudCalls()
	rd.Operator, err = cl.timeToReady(ctx, batch, n, o.readyTimeout(n), check, func(ctx context.Context) error {
		return harness.Parallel(ctx, n, o.Parallelism, func(ctx context.Context, i int) error {
			return harness.CreateOrGet(ctx, cl.admin, cl.newSession(batch, i, o.Environments))
		})
	})
	if err != nil {
		return rd, fmt.Errorf("operator: %w", err)
	}
	// Until the manager is idle again: its last requests (Events, …) count too.
	quiet, err := cl.settle(ctx, cloudQuiet, check)
	if err != nil {
		return rd, err
	}
	if !quiet {
		res.Notes = append(res.Notes, fmt.Sprintf("the manager was not idle %s after the last Ready: the counts include what it did meanwhile", settleMax))
	}
	reqs, err := cl.audit.Count(auditFrom, cl.audit.Offset())
	if err != nil {
		return rd, err
	}
	if hwm, err := m.PeakRSS(); err == nil {
		res.PeakRSS = max(res.PeakRSS, hwm)
	}
	if res.Requests == nil {
		res.Requests, res.Cloud = Counts{}, Counts{}
	}
	res.Requests.Add(reqs)
	res.Cloud.Add(cl.cloudCallsSince(cloudFrom))
	res.Batches++
	res.Notes = append(res.Notes, fmt.Sprintf("%s: the pool's creates took %s s; the floor's writes %s s", batch, secs(rd.Operator.Creates), secs(rd.Floor.Creates)))
	p.Step("%s: floor %s s, operator %s s for %d sessions (ratio %s)", batch, secs(rd.Floor.Total), secs(rd.Operator.Total), n, num(rd.ratio()))
	return rd, nil
}

// environments creates the environments with the first manager running: the
// first alone, the others together once it is Ready, and prints how long
// each took from its fleet's start to Ready.
func (b *bench) environments(ctx context.Context, check func() error) error {
	cl, o := b.cl, b.o
	timeout := 5*time.Minute + time.Duration(o.Environments)*3*time.Second
	created := time.Now()
	if err := cl.createEnvironments(ctx, 0, 1); err != nil {
		return err
	}
	first, err := cl.waitEnvironments(ctx, 0, 1, created, timeout, check)
	if err != nil {
		return err
	}
	var later []envTiming
	if o.Environments > 1 {
		created = time.Now()
		if err := cl.createEnvironments(ctx, 1, o.Environments); err != nil {
			return err
		}
		if later, err = cl.waitEnvironments(ctx, 1, o.Environments, created, timeout, check); err != nil {
			return err
		}
	}
	cl.fleets.stop()
	b.p.Step("%d environment(s) Ready", o.Environments)
	writeEnvironments(b.out, first, later)
	return nil
}

// inSync waits until all is idle, then records the manager's requests and
// cloud calls for one poll interval plus its jitter (10 %) and a margin.
func (b *bench) inSync(ctx context.Context, check func() error) (*inSyncResult, error) {
	cl := b.cl
	window := b.o.PollInterval + b.o.PollInterval/10 + 5*time.Second
	b.p.Step("in-sync check: recording the manager's requests for %s", window)
	auditFrom, cloudFrom := cl.audit.Offset(), cl.cloudCalls()
	end := time.Now().Add(window)
	for time.Now().Before(end) {
		if err := check(); err != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	reqs, err := cl.audit.Count(auditFrom, cl.audit.Offset())
	if err != nil {
		return nil, err
	}
	cloud := cl.cloudCallsSince(cloudFrom)
	return &inSyncResult{Window: window, Requests: reqs, Cloud: cloud, Environments: b.o.Environments,
		EnvironmentPasses: cloud[emulator.APIAppStream+" DescribeFleets"]}, nil
}

// keep leaves everything running until interrupted (--keep).
func (b *bench) keep(ctx context.Context, workdir string) {
	fmt.Fprintf(b.out, "\n--keep: the control plane, the emulators and the manager (pid %d) keep running with the last batch's sessions.\n", b.kept.PID())
	fmt.Fprintf(b.out, "  export KUBECONFIG=%s   (admin)\n  audit log %s, logs in %s\n  Press Ctrl-C to stop.\n",
		filepath.Join(workdir, "kubeconfig"), filepath.Join(workdir, "audit.log"), workdir)
	<-ctx.Done()
}

// cloudCalls is the length of the emulators' call log.
func (c *cluster) cloudCalls() int { return c.cloud.Faults.Count(fault.Any, fault.Any) }

// cloudCallsSince counts the calls logged after the first from, by "api Operation".
func (c *cluster) cloudCallsSince(from int) Counts {
	out := Counts{}
	calls := c.cloud.Faults.Calls(fault.Any, fault.Any)
	for _, call := range calls[min(from, len(calls)):] {
		out[call.API+" "+call.Op]++
	}
	return out
}

// settle waits until the manager is idle: no new line in the audit log (its
// requests) and, when cloudQuiet, no new cloud call for quietFor. It gives up
// after settleMax and reports whether it was idle.
func (c *cluster) settle(ctx context.Context, cloudQuiet bool, check func() error) (bool, error) {
	start := time.Now()
	lastAudit, lastCloud := c.audit.Offset(), c.cloudCalls()
	changed := start
	for {
		if err := check(); err != nil {
			return false, err
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		a, cc := c.audit.Offset(), c.cloudCalls()
		if a != lastAudit || (cloudQuiet && cc != lastCloud) {
			lastAudit, lastCloud, changed = a, cc, time.Now()
		}
		if time.Since(changed) >= quietFor {
			return true, nil
		}
		if time.Since(start) >= settleMax {
			return false, nil
		}
	}
}

// removeWorkdir removes what the bench wrote into dir, then dir if it is empty
// (a --workdir given by hand may hold other files).
func removeWorkdir(dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "manager-*.log"))
	for _, f := range []string{"audit.log", "audit-policy.yaml", "bench.log", "etcd.log", "kube-apiserver.log", "kubeconfig", managerUser + ".kubeconfig"} {
		files = append(files, filepath.Join(dir, f))
	}
	for _, f := range files {
		_ = os.Remove(f)
	}
	_ = os.Remove(dir)
}
