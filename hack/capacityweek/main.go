// Command capacityweek simulates a working week of one environment's
// AppStream fleet on a fake clock, against the in-process AppStream
// emulator, under three capacity configurations (Fixed 2; Demand min 0,
// spare 1, stopAfterIdle 30m; Demand with a business-hours min 1), and
// prints what each costs in instance-hours and cloud calls, and how long
// sessions waited for an instance. See package week.
//
//	go run ./hack/capacityweek [--runs N] [--mode minute|reconciler|both] [--fleet-type ON_DEMAND|ALWAYS_ON] [--calls]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	accessv1alpha1 "github.com/gatestream/gatestream/api/v1alpha1"
	"github.com/gatestream/gatestream/hack/capacityweek/week"
)

func main() {
	runs := flag.Int("runs", 1, "print this many runs (the simulation is deterministic: every run prints the same figures)")
	mode := flag.String("mode", "minute", "when the operator's passes run: minute (every simulated minute), reconciler (session events and the requeue the reconciler would ask for), or both")
	fleetType := flag.String("fleet-type", "ON_DEMAND", "fleet type: ON_DEMAND (the sample's) or ALWAYS_ON")
	calls := flag.Bool("calls", false, "also print the calls per operation, the operator's and the users'")
	flag.Parse()
	modes := []week.Mode{week.Mode(*mode)}
	switch *mode {
	case "both":
		modes = []week.Mode{week.EveryMinute, week.Reconciler}
	case string(week.EveryMinute), string(week.Reconciler):
	default:
		fmt.Fprintf(os.Stderr, "unknown --mode %q\n", *mode)
		os.Exit(2)
	}
	ft := accessv1alpha1.FleetType(*fleetType)
	if ft != accessv1alpha1.FleetTypeOnDemand && ft != accessv1alpha1.FleetTypeAlwaysOn {
		fmt.Fprintf(os.Stderr, "unknown --fleet-type %q\n", *fleetType)
		os.Exit(2)
	}
	ctx := context.Background()
	reqs := week.Requests(week.Start)
	fmt.Printf("Simulated week %s – %s (fake clock), %s fleet; %d sessions of 20 min requested Mon–Fri 09:00–16:40 UTC, each ending 20 min after it started.\n",
		week.Start.Format("Mon 2006-01-02"), week.Start.AddDate(0, 0, 7).Format("Mon 2006-01-02"), ft, len(reqs))
	fmt.Println("Emulated AppStream: fleet start 10m, fleet stop 5m, instance added to a running fleet 5m. Reconciler: TransitionWait 10s, PollInterval 5m.")
	fmt.Println("The simulation is deterministic (fake clock, fixed request times): every run prints the same figures.")
	for run := 1; run <= *runs; run++ {
		for _, m := range modes {
			started := time.Now()
			var results []week.Result
			for _, c := range week.Configs() {
				r, err := week.Run(ctx, week.Options{Config: c, Mode: m, FleetType: ft})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				results = append(results, r)
			}
			fmt.Printf("\nRun %d of %d, passes: %s (%.1fs wall)\n", run, *runs, describe(m), time.Since(started).Seconds())
			print(results, ft, *calls)
		}
	}
}

func describe(m week.Mode) string {
	if m == week.Reconciler {
		return "as the reconciler runs them (1s after a session event under Demand, else at the requeue it asked for)"
	}
	return "every simulated minute"
}

func print(results []week.Result, ft accessv1alpha1.FleetType, calls bool) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "config\tinst-h provisioned\tinst-h running-rate\tinst-h stopped-rate\tstatus.usage running/stopped\tfleet starts/stops\tUpdateFleet\toperator AppStream calls\tpasses\tsessions waited\tmean wait\tmax wait\tfleet at end\t")
	for _, r := range results {
		n, mean, longest := r.Waits()
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.2f / %.2f\t%d / %d\t%d\t%d\t%d\t%d of %d\t%s\t%s\t%s\t\n",
			r.Config, r.ProvisionedHours(), r.RunningHours(ft), r.StoppedHours(ft),
			float64(r.OperatorRunningSeconds)/3600, float64(r.OperatorStoppedSeconds)/3600,
			r.Truth.Starts, r.Truth.Stops, week.Sum(r.OperatorCalls, "appstream", "UpdateFleet"),
			week.Sum(r.OperatorCalls, "appstream", ""), r.Passes, n, len(r.Sessions), mean.Round(time.Second), longest.Round(time.Second), r.FleetState)
	}
	_ = tw.Flush()
	for _, r := range results {
		var problems []string
		if len(r.PassErrors) > 0 {
			problems = append(problems, fmt.Sprintf("%d passes failed (first: %s)", len(r.PassErrors), r.PassErrors[0]))
		}
		for _, s := range r.Sessions {
			if s.StartedAt.IsZero() {
				problems = append(problems, s.User+" never got an instance")
			}
			if s.EndedEarly {
				problems = append(problems, s.User+"'s session was ended by AppStream before its 20 minutes")
			}
		}
		if len(problems) > 0 {
			fmt.Printf("%s: %s\n", r.Config, strings.Join(problems, "; "))
		}
	}
	if !calls {
		return
	}
	for _, r := range results {
		fmt.Printf("\n%s: calls by the operator's passes / by the users\n", r.Config)
		seen := map[string]bool{}
		for _, m := range []map[string]int{r.OperatorCalls, r.UserCalls} {
			for _, op := range week.Ops(m) {
				if !seen[op] {
					seen[op] = true
					fmt.Printf("  %-32s %6d / %d\n", op, r.OperatorCalls[op], r.UserCalls[op])
				}
			}
		}
		fmt.Printf("  live-session count changes seen by passes: %d; events: %v\n", r.LiveChanges, r.Events)
	}
}
