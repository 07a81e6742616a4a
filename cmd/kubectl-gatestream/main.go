// Command kubectl-gatestream is the gatestream kubectl plugin: on PATH it is
// run as `kubectl gatestream connect DEVICE`, `devices`, `sessions` and `end`.
// The logic lives in internal/plugin.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatestream/gatestream/internal/plugin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := plugin.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
