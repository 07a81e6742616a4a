// Command manager runs the gatestream controllers.
package main

import (
	"flag"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/gatestream/gatestream/internal/manager"
)

func main() {
	opts := manager.DefaultOptions()
	opts.BindFlags(flag.CommandLine)
	flag.Parse()

	log, err := opts.Logger(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "loading kubeconfig")
		os.Exit(1)
	}
	if err := manager.Run(ctrl.SetupSignalHandler(), cfg, opts, log); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}
