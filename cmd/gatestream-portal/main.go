// Command gatestream-portal is gatestream's self-service access portal: people
// sign in with their identity provider (or through an authenticating proxy),
// see the devices Kubernetes RBAC lets them reach, and connect in the browser.
// See docs/portal.md.
package main

import (
	"flag"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/gatestream/gatestream/internal/manager"
	"github.com/gatestream/gatestream/internal/portal"
)

func main() {
	cfg := portal.DefaultConfig()
	cfg.BindFlags(flag.CommandLine) // --kubeconfig comes from controller-runtime
	flag.Parse()
	log, err := manager.NewLogger(cfg.LogFormat, cfg.LogLevel, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := cfg.Load(); err != nil {
		log.Error(err, "invalid configuration")
		os.Exit(2)
	}
	rc, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "no Kubernetes configuration")
		os.Exit(1)
	}
	if err := portal.Run(ctrl.SetupSignalHandler(), cfg, log, rc); err != nil {
		log.Error(err, "portal stopped")
		os.Exit(1)
	}
}
