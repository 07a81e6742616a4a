// Command demo runs gatestream locally (`make demo`): a real kube-apiserver,
// etcd and kube-controller-manager from bin/k8s, the SORACOM, AppStream and
// EC2 emulators with the demo world seeded, the manager in-process, and
// config/samples/. It waits with visible progress until the environment and
// the device group are Ready, creates the sample StreamingSession as user-a,
// prints the streaming URL, the kubeconfigs and the commands to try next, and
// runs until interrupted. Then it stops everything it started.
//
//	go run ./hack/demo [--timeout 3m] [--workdir bin/demo] [--keep-dir] [--exit-after-ready]
//
// The first SIGINT/SIGTERM stops everything in order; a second one kills the
// child processes at once and exits.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gatestream/gatestream/hack/internal/controlplane"
)

func main() {
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}

	ctx, cancel := controlplane.Interruptible("demo")

	_, err = run(ctx, opts, os.Stdout)
	cancel()
	if errors.Is(err, errInterrupted) {
		fmt.Fprintln(os.Stderr, "demo: interrupted before it was ready; everything it started is stopped")
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo: %v\n", err)
		os.Exit(1)
	}
}

// options are the demo's flags.
type options struct {
	// Timeout bounds the whole start: from launch until the URL is printed.
	Timeout time.Duration
	// Workdir holds the kubeconfigs, demo-env.sh and the logs (default bin/demo in the repository).
	Workdir string
	// KeepDir keeps Workdir after a clean stop (it is always kept, logs only, after a failure).
	KeepDir bool
	// ExitAfterReady stops and cleans up once everything is printed, instead of waiting for a signal.
	ExitAfterReady bool

	// onReady, when set (tests), is called once everything is printed, before cleanup.
	onReady func(*result) error
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{}
	fs.DurationVar(&o.Timeout, "timeout", 3*time.Minute, "give up when the environment, device group and session are not Ready within this time")
	fs.StringVar(&o.Workdir, "workdir", "", "directory for the kubeconfigs, demo-env.sh and logs (default: bin/demo in the repository)")
	fs.BoolVar(&o.KeepDir, "keep-dir", false, "keep the work directory (kubeconfigs, logs) after stopping")
	fs.BoolVar(&o.ExitAfterReady, "exit-after-ready", false, "print everything, then stop, clean up and exit 0 (tests, CI)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: go run ./hack/demo [flags]\n\nRuns gatestream locally (control plane, cloud emulators, manager, samples) and prints a streaming URL.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %v\n", fs.Args())
		fs.Usage()
		return o, errors.New("unexpected arguments")
	}
	if o.Timeout <= 0 {
		fmt.Fprintln(stderr, "--timeout must be positive")
		return o, errors.New("bad --timeout")
	}
	return o, nil
}
