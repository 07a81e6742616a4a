package main

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// result is one configuration's measurement of one batch.
type result struct {
	Config   string
	Sessions int
	// Floor and Operator are the round with the median ratio.
	Floor    timed
	Operator timed
	// Rounds are the interleaved (floor, operator) measurements, in order.
	Rounds []round
	// Batches is how many operator batches Requests and Cloud cover.
	Batches int
	// Requests are the manager's API requests from the first create until it
	// was idle again after the last Ready, summed over the batches.
	Requests Counts
	// Cloud are the calls that reached the emulators in the same window, by "api Operation".
	Cloud Counts
	// PeakRSS is the manager process's VmHWM, in bytes, during the
	// operator's batches (and the in-sync check): reset before each.
	PeakRSS int64
	// PeakRSSWithFloor is the VmHWM before those resets: it includes the
	// manager decoding the floor's backlog of watch events after the thaw.
	PeakRSSWithFloor int64
	// Notes are printed under the table.
	Notes []string
	// InSync is the scale mode's check after all sessions are Ready.
	InSync *inSyncResult
}

// inSyncResult is what the manager did during one poll interval with
// everything in sync.
type inSyncResult struct {
	Window   time.Duration
	Requests Counts
	Cloud    Counts
	// EnvironmentPasses counts AppStream DescribeFleets calls: one per environment pass.
	EnvironmentPasses int
	Environments      int
}

// round is one floor batch and the operator batch after it.
type round struct{ Floor, Operator timed }

func (r round) ratio() float64 {
	if r.Floor.Total <= 0 {
		return math.NaN()
	}
	return r.Operator.Total.Seconds() / r.Floor.Total.Seconds()
}

// ratio is the operator's time over the floor's in the median round.
func (r result) ratio() float64 { return round{r.Floor, r.Operator}.ratio() }

// medianRound is the round whose ratio is the median (the lower middle one
// of an even number): robust to one round that met a busy machine.
func (r result) medianRound() (floor, operator timed) {
	if len(r.Rounds) == 0 {
		return timed{}, timed{}
	}
	rs := slices.Clone(r.Rounds)
	slices.SortStableFunc(rs, func(a, b round) int { return cmp.Compare(a.ratio(), b.ratio()) })
	m := rs[(len(rs)-1)/2]
	return m.Floor, m.Operator
}

// sessionsCounted is how many sessions Requests and Cloud cover.
func (r result) sessionsCounted() int { return r.Sessions * max(r.Batches, 1) }

// num prints a per-session figure with at most two decimals ("1", "0.5", "0.01").
func num(f float64) string {
	return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64)
}

// shownPerSession is the smallest per-session figure the table shows by
// name; smaller ones (a poll of an environment now and then) are summed as
// "other" and listed under the table.
const shownPerSession = 0.05

// perSession is "total (key=n, key=n, …)" with every count divided by n, and
// the counts it summed as "other".
func perSession(c Counts, n int) (cell string, other Counts) {
	if n <= 0 {
		return "-", nil
	}
	other = Counts{}
	var parts []string
	for _, k := range c.Keys() {
		if v := float64(c[k]) / float64(n); v >= shownPerSession {
			parts = append(parts, k+"="+num(v))
		} else {
			other[k] = c[k]
		}
	}
	if len(other) > 0 {
		parts = append(parts, "other="+num(float64(other.Total())/float64(n)))
	}
	cell = num(float64(c.Total()) / float64(n))
	if len(parts) > 0 {
		cell += " (" + strings.Join(parts, ", ") + ")"
	}
	return cell, other
}

// mib prints bytes as MiB.
func mib(b int64) string { return strconv.FormatInt((b+512*1024)>>20, 10) }

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) }

// writeTable prints one run's results as an aligned table, then their notes.
func writeTable(w io.Writer, rs []result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "config\tsessions\tfloor s\toperator s\tratio\treqs/session (verb resource=n, …)\tcloud calls/session\tpeak RSS MiB")
	notes := make([][]string, len(rs))
	for i, r := range rs {
		reqs, otherReqs := perSession(r.Requests, r.sessionsCounted())
		cloud, otherCloud := perSession(r.Cloud, r.sessionsCounted())
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Config, r.Sessions, secs(r.Floor.Total), secs(r.Operator.Total),
			num(r.ratio()), reqs, cloud, mib(r.PeakRSS))
		notes[i] = r.Notes
		if len(r.Rounds) > 1 {
			var parts []string
			for _, rd := range r.Rounds {
				parts = append(parts, fmt.Sprintf("%s/%s (%s)", secs(rd.Floor.Total), secs(rd.Operator.Total), num(rd.ratio())))
			}
			notes[i] = append(notes[i], "rounds, floor/operator s (ratio): "+strings.Join(parts, ", ")+"; the table shows the median round")
		}
		if len(otherReqs) > 0 {
			notes[i] = append(notes[i], "other API requests (total): "+formatCounts(otherReqs))
		}
		if len(otherCloud) > 0 {
			notes[i] = append(notes[i], "other cloud calls (total): "+formatCounts(otherCloud))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for i, r := range rs {
		for _, n := range notes[i] {
			if _, err := fmt.Fprintf(w, "  %s/%d: %s\n", r.Config, r.Sessions, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// scaleSummary compares the time per session of the big batch with the
// baseline's, per configuration, and reports the in-sync checks.
func scaleSummary(w io.Writer, runs [][]result, baseline, sessions int) {
	type pair struct{ base, big []time.Duration }
	by := map[string]*pair{}
	var order []string
	for _, rs := range runs {
		for _, r := range rs {
			p := by[r.Config]
			if p == nil {
				p = &pair{}
				by[r.Config] = p
				order = append(order, r.Config)
			}
			per := r.Operator.Total / time.Duration(r.Sessions)
			switch r.Sessions {
			case baseline:
				p.base = append(p.base, per)
			case sessions:
				p.big = append(p.big, per)
			}
		}
	}
	fmt.Fprintf(w, "\nTime per session, operator (create to Ready), %d vs %d sessions:\n", sessions, baseline)
	for _, name := range order {
		p := by[name]
		if len(p.base) == 0 || len(p.big) == 0 {
			continue
		}
		b, s := median(p.base), median(p.big)
		fmt.Fprintf(w, "  %-9s %d: %s ms/session   %d: %s ms/session   (×%s)\n", name, baseline, ms(b), sessions, ms(s), num(float64(s)/float64(b)))
	}
	for _, rs := range runs {
		for _, r := range rs {
			if r.InSync != nil {
				writeInSync(w, r)
			}
		}
	}
}

func writeInSync(w io.Writer, r result) {
	in := r.InSync
	writes := in.Requests.Writes()
	verdict := "OK: an in-sync pass writes nothing"
	if writes.Total() > 0 {
		verdict = "NOT IN SYNC: " + formatCounts(writes)
	}
	fmt.Fprintf(w, "\nIn-sync check, %s (%d sessions Ready, %d environments): for %s (one poll interval + jitter) the manager made %d API writes (%s)\n",
		r.Config, r.Sessions, in.Environments, in.Window.Round(time.Second), writes.Total(), verdict)
	fmt.Fprintf(w, "  its API requests: %s\n", orNone(formatCounts(in.Requests)))
	fmt.Fprintf(w, "  cloud calls: %d (%s); environment passes seen (DescribeFleets): %d of %d\n",
		in.Cloud.Total(), orNone(formatCounts(in.Cloud)), in.EnvironmentPasses, in.Environments)
}

// formatCounts is "key=n, key=n" sorted by key.
func formatCounts(c Counts) string {
	parts := make([]string, 0, len(c))
	for _, k := range c.Keys() {
		parts = append(parts, fmt.Sprintf("%s=%d", k, c[k]))
	}
	return strings.Join(parts, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// writeEnvironments reports the time from each emulated fleet's start
// (RUNNING) to its environment's Ready: the first environment after the
// manager started, and the later ones.
func writeEnvironments(w io.Writer, first, later []envTiming) {
	line := func(t envTiming) string {
		f := "fleet start not seen"
		if t.FleetRunningToReady >= 0 {
			f = "fleet RUNNING → Ready " + secs(t.FleetRunningToReady) + " s"
		}
		return fmt.Sprintf("%s: applied → Ready %s s, %s", t.Key, secs(t.CreatedToReady), f)
	}
	fmt.Fprintf(w, "Environments (goal: fleet RUNNING → Ready ≤ 2 s for the first and the later ones):\n")
	for _, t := range first {
		fmt.Fprintf(w, "  first after the manager started, %s\n", line(t))
	}
	if len(later) == 0 {
		fmt.Fprintf(w, "  later: none (one environment)\n")
		return
	}
	var fl, cr []time.Duration
	for _, t := range later {
		cr = append(cr, t.CreatedToReady)
		if t.FleetRunningToReady >= 0 {
			fl = append(fl, t.FleetRunningToReady)
		}
	}
	fmt.Fprintf(w, "  later %d, applied together: applied → Ready median %s s, max %s s", len(later), secs(median(cr)), secs(slices.Max(cr)))
	if len(fl) > 0 {
		fmt.Fprintf(w, "; fleet RUNNING → Ready median %s s, max %s s", secs(median(fl)), secs(slices.Max(fl)))
	}
	fmt.Fprintln(w)
}
